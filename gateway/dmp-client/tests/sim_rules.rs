//! The simulator refuses each broken rule (dmp.md §8), with requests built past the adapter.

use passerelle_api::v1::DocumentKind;
use passerelle_dmp::{FailureSource, HttpRequest, Retry, parse_registry_response};
use passerelle_dmp_client::{DmpClient, Timeouts};
use passerelle_sim_dmp::testkit;
use passerelle_xmlsig::Code;
use time::OffsetDateTime;

use crate::common::*;

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

async fn refused(c: &DmpClient, req: &HttpRequest) -> passerelle_dmp::DmpFailure {
    let reply = c.send_raw(req).await.expect("a reply");
    assert!(!reply.body.is_empty(), "never an empty body");
    parse_registry_response(&reply.view()).expect_err("refused")
}

fn replace_once(body: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let at = body
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern present");
    body[at..at + to.len()].copy_from_slice(to);
}

#[tokio::test]
async fn a_vihf_with_a_changed_character_fails_authentication() {
    let e = env().await;
    let c = client(&e.sim);
    let p = e.patient("child9");
    let mut req = c
        .iti41_request(
            &input(&p, DocumentKind::Pai, flags(false, false, false), 1),
            now(),
        )
        .expect("req");
    replace_once(
        &mut req.body,
        b"<saml:AttributeValue>Passerelle</saml:AttributeValue>",
        b"<saml:AttributeValue>Passerellf</saml:AttributeValue>",
    );
    let f = refused(&c, &req).await;
    assert_eq!(f.code, "FailedAuthentication");
    assert_eq!(f.source, FailureSource::SoapFault);
    assert_eq!(f.retry, Retry::Never);
    assert_eq!(f.http_status, Some(500));
    assert!(f.message.contains("SIM-3"));
}

#[tokio::test]
async fn expired_and_not_yet_valid_assertions_are_refused() {
    let e = env().await;
    let c = client(&e.sim);
    let p = e.patient("child9");
    for (i, shift) in [time::Duration::minutes(-10), time::Duration::minutes(5)]
        .into_iter()
        .enumerate()
    {
        let req = c
            .iti41_request(
                &input(
                    &p,
                    DocumentKind::Pai,
                    flags(false, false, false),
                    10 + i as u32,
                ),
                now() + shift,
            )
            .expect("req");
        let f = refused(&c, &req).await;
        assert_eq!(f.code, "MessageExpired", "shift {shift}");
        assert!(!f.retry.retryable());
    }
    // Inside the window it passes.
    let req = c
        .iti41_request(
            &input(&p, DocumentKind::Pai, flags(false, false, false), 12),
            now() - time::Duration::minutes(2),
        )
        .expect("req");
    let reply = c.send_raw(&req).await.expect("reply");
    parse_registry_response(&reply.view()).expect("accepted");
}

#[tokio::test]
async fn vihf_attributes_are_checked() {
    let e = env().await;
    let p = e.patient("child9");
    let base = || facts(testkit::TENANT, testkit::STRUCT_IDNAT);
    let cases = [
        ("Secteur_Activite", {
            let mut f = base();
            f.secteur_activite = "XX99".into();
            f
        }),
        ("JDV_J65", {
            let mut f = base();
            f.roles = vec![Code::new(
                "LOGICIEL_DUI",
                "1.2.250.1.213.1.1.4.6",
                "Logiciel DUI",
            )];
            f
        }),
        ("Identifiant_Structure", {
            let mut f = base();
            f.struct_idnat = "1930005210".into();
            f
        }),
    ];
    for (what, facts) in cases {
        let c = client_with(&e.sim, testkit::TENANT, facts, Timeouts::default());
        let err = c
            .submit(
                input(&p, DocumentKind::Pai, flags(false, false, false), 20),
                now(),
            )
            .await
            .expect_err(what);
        assert_eq!(err.code, "FailedAuthentication", "{what}");
        assert!(err.message.contains(what), "{what}: {}", err.message);
        assert!(!err.retryable);
    }
}

#[tokio::test]
async fn a_hash_mismatch_is_refused() {
    let e = env().await;
    let c = client(&e.sim);
    let p = e.patient("child9");
    let mut req = c
        .iti41_request(
            &input(&p, DocumentKind::Pai, flags(false, false, false), 30),
            now(),
        )
        .expect("req");
    let part = req
        .body
        .windows(21)
        .position(|w| w == b"Content-ID: <0.2>\r\n\r\n")
        .expect("cda part");
    let title = part
        + req.body[part..]
            .windows(7)
            .position(|w| w == b"<title>")
            .expect("title");
    req.body[title + 7] ^= 0x01;
    let f = refused(&c, &req).await;
    assert_eq!(f.code, "XDSNonIdenticalHash");
    assert_eq!(f.source, FailureSource::Registry);
    assert_eq!(f.retry, Retry::Never);
}

#[tokio::test]
async fn a_social_document_is_refused_by_adapter_and_simulator() {
    let e = env().await;
    let c = client(&e.sim);
    let p = e.patient("child9");
    let mut inp = input(&p, DocumentKind::CrMedical, flags(false, false, false), 40);
    inp.documents[0].entry.type_code = passerelle_documents::XdsCode {
        code: "28653-4".into(),
        display: "Document du secteur social / médico-social".into(),
        scheme: "2.16.840.1.113883.6.1".into(),
    };
    inp.documents[0].entry.class_code.code = "10".into();
    let err = c.submit(inp.clone(), now()).await.expect_err("adapter");
    assert_eq!(err.code, "DMP-TYPE-02");
    let f = refused(&c, &c.iti41_request(&inp, now()).expect("req")).await;
    assert_eq!(f.code, "DMP_TYPECODE_REFUSED");
}

#[tokio::test]
async fn masque_ps_with_invisible_patient_is_refused() {
    let e = env().await;
    let c = client(&e.sim);
    let p = e.patient("child9");
    let inp = input(&p, DocumentKind::Pai, flags(true, true, false), 50);
    let f = refused(&c, &c.iti41_request(&inp, now()).expect("req")).await;
    assert_eq!(f.code, "DMP_CONFIDENTIALITY");
    assert!(f.message.contains("MASQUE_PS with INVISIBLE_PATIENT"));
}

#[tokio::test]
async fn iti41_without_mtom_gets_a_precise_fault() {
    let e = env().await;
    let c = client(&e.sim);
    let p = e.patient("child9");
    let req = c
        .iti41_request(
            &input(&p, DocumentKind::Pai, flags(false, false, false), 60),
            now(),
        )
        .expect("req");
    let mp = passerelle_dmp::mtom::parse(&req.content_type, &req.body).expect("mtom");
    let root = mp.root().expect("root").body.to_vec();
    let plain = HttpRequest {
        content_type: passerelle_dmp::envelope::soap_content_type(
            passerelle_dmp::Transaction::Iti41,
        ),
        body: root,
        ..req
    };
    let f = refused(&c, &plain).await;
    assert_eq!(f.source, FailureSource::SoapFault);
    assert_eq!(f.http_status, Some(415));
    assert!(f.message.contains("MTOM/XOP"), "{}", f.message);
    assert_eq!(f.retry, Retry::Never);
}

#[tokio::test]
async fn an_unknown_patient_is_refused() {
    let e = env().await;
    let c = client(&e.sim);
    let mut p = e.patient("child9");
    p.ins = passerelle_sim_dmp::ins_with_key("2120693066001");
    p.name = "unknown";
    let f = refused(
        &c,
        &c.iti41_request(
            &input(&p, DocumentKind::Pai, flags(false, false, false), 70),
            now(),
        )
        .expect("req"),
    )
    .await;
    assert_eq!(f.code, "XDSUnknownPatientId");
}

/// A VIHF without `LPS_Nom`, validly signed by the tenant's ORG_SIGN through xmlsec1 (our signer
/// refuses to build one), spliced into an otherwise valid request.
#[tokio::test]
async fn a_vihf_missing_an_attribute_is_refused() {
    use passerelle_sim_dmp::testkit::TENANT_OID;
    let e = env().await;
    let c = client(&e.sim);
    let p = e.patient("child9");
    let at = now();
    let signer = testkit::signer(testkit::TENANT).expect("signer");
    let input = passerelle_xmlsig::VihfInput {
        id: "_b1d2c3e4-0000-4000-8000-000000000001".into(),
        issue_instant: at,
        subject_name_id: "810000001072".into(),
        structure_id: testkit::STRUCT_IDNAT.into(),
        secteur_activite: "SA20".into(),
        subject_id: "Passerelle, tests, DMP".into(),
        roles: vec![Code::role_automate()],
        ins: p.ins.clone(),
        ins_oid: p.ins_oid.clone(),
        purpose: Code::purpose_normal(),
        confidentiality_code: None,
        lps_id: Some(format!("{TENANT_OID}.9")),
        lps_nom: "Passerelle".into(),
        lps_version: "0.1.0".into(),
        lps_homologation: "TEST-CNDA-0000".into(),
        vihf_version: "3.0".into(),
        authentification_mode: "INDIRECTE".into(),
    };
    let unsigned =
        String::from_utf8(passerelle_xmlsig::build_unsigned(&input, &signer).expect("unsigned"))
            .expect("utf8");
    let start = unsigned
        .find("<saml:Attribute Name=\"LPS_Nom\">")
        .expect("LPS_Nom");
    let end = start
        + unsigned[start..].find("</saml:Attribute>").expect("end")
        + "</saml:Attribute>".len();
    let mut tpl = format!("{}{}", &unsigned[..start], &unsigned[end..]);
    let issuer_end = tpl.find("</saml:Issuer>").expect("issuer") + "</saml:Issuer>".len();
    tpl.insert_str(
        issuer_end,
        &format!("<ds:Signature><ds:SignedInfo><ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/><ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/><ds:Reference URI=\"#{}\"><ds:Transforms><ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/><ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"><ec:InclusiveNamespaces xmlns:ec=\"http://www.w3.org/2001/10/xml-exc-c14n#\" PrefixList=\"ds saml #default xsi\"/></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo></ds:Signature>", input.id),
    );
    let dir = tempfile::tempdir().expect("tmp");
    let ck = testkit::pki()
        .expect("pki")
        .get(testkit::TENANT, passerelle_certs::Usage::Signing)
        .expect("signing");
    let key = dir.path().join("key.pem");
    let cert = dir.path().join("cert.pem");
    let tplf = dir.path().join("tpl.xml");
    let out = dir.path().join("signed.xml");
    std::fs::write(&key, &ck.key_pem).expect("key");
    std::fs::write(&cert, &ck.cert_pem).expect("cert");
    std::fs::write(&tplf, &tpl).expect("tpl");
    let st = std::process::Command::new("xmlsec1")
        .arg("--sign")
        .arg("--id-attr:ID")
        .arg("urn:oasis:names:tc:SAML:2.0:assertion:Assertion")
        .arg("--privkey-pem")
        .arg(format!("{},{}", key.display(), cert.display()))
        .arg("--output")
        .arg(&out)
        .arg(&tplf)
        .status()
        .expect("xmlsec1 must be installed");
    assert!(st.success());
    let signed = String::from_utf8(std::fs::read(&out).expect("signed")).expect("utf8");
    let a = signed.find("<saml:Assertion").expect("assertion");
    let b = signed.rfind("</saml:Assertion>").expect("end") + "</saml:Assertion>".len();
    let vihf = &signed[a..b];
    // Our verifier accepts the signature itself.
    passerelle_xmlsig::verify(
        vihf.as_bytes(),
        &passerelle_xmlsig::TrustAnchors::new()
            .add_issuing_ca(testkit::pki().expect("pki").org_ca.cert_der.clone())
            .expect("ca"),
    )
    .expect("validly signed");
    let mut req = c.iti41_request(&input_for(&p), at).expect("req");
    let s = req
        .body
        .windows(15)
        .position(|w| w == b"<saml:Assertion")
        .expect("s");
    let end_tag = b"</saml:Assertion>";
    let t = req
        .body
        .windows(end_tag.len())
        .position(|w| w == end_tag)
        .expect("t")
        + end_tag.len();
    req.body.splice(s..t, vihf.bytes());
    let f = refused(&c, &req).await;
    assert_eq!(f.code, "FailedAuthentication");
    assert!(f.message.contains("LPS_Nom missing"), "{}", f.message);
}

fn input_for(p: &passerelle_sim_dmp::Patient) -> passerelle_dmp_client::SubmissionInput {
    input(p, DocumentKind::Pai, flags(false, false, false), 80)
}

#[tokio::test]
async fn rplc_of_a_deprecated_or_unknown_entry_is_refused() {
    let e = env().await;
    let c = client(&e.sim);
    let p = e.patient("child9");
    let f = flags(false, false, false);
    let v1 = c
        .submit(input(&p, DocumentKind::Pai, f.clone(), 90), now())
        .await
        .expect("v1");
    let v2 = input_full(
        &p,
        p.birth_date,
        DocumentKind::Pai,
        f.clone(),
        91,
        2000,
        Some(&v1.unique_id),
    );
    c.replace(v2, &v1.unique_id, now()).await.expect("v2");
    let old = e
        .sim
        .entries()
        .into_iter()
        .find(|x| x.unique_id == v1.unique_id)
        .expect("old");
    // Straight to ITI-41 with an RPLC to the now Deprecated entry, then to an unknown one.
    for (n, target, why) in [
        (92, old.entry_uuid.clone(), "not Approved"),
        (
            93,
            "urn:uuid:00000000-0000-4000-8000-00000000abcd".to_owned(),
            "unknown",
        ),
    ] {
        let mut inp = input_full(
            &p,
            p.birth_date,
            DocumentKind::Pai,
            f.clone(),
            n,
            2000,
            Some(&v1.unique_id),
        );
        inp.documents[0].entry.replaces_entry_uuid = Some(target);
        let fail = refused(&c, &c.iti41_request(&inp, now()).expect("req")).await;
        assert_eq!(fail.code, "XDSRegistryMetadataError");
        assert!(
            fail.message.contains("SIM-9") && fail.message.contains(why),
            "{}",
            fail.message
        );
    }
}
