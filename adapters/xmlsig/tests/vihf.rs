//! VIHF: built and signed by us, verified by xmlsec1 (independent implementation) and by our own
//! verifier; the must-fail and must-pass lists of dmp.md §2.5; golden files.
#![allow(clippy::unwrap_used)]

mod common;

use common::{input, rng, signer, trust_ca, xmlsec1_verify_vihf};
use passerelle_xmlsig::vihf::names;
use passerelle_xmlsig::{
    C14nOptions, Code, TrustAnchors, XmlSigError, build_and_sign, build_unsigned, canonicalize,
    verify,
};

fn signed() -> String {
    String::from_utf8(build_and_sign(&input(), &signer(), &rng()).unwrap()).unwrap()
}

fn assert_both_reject(xml: &str, what: &str) -> XmlSigError {
    let x = xmlsec1_verify_vihf(xml.as_bytes());
    assert!(!x.ok, "{what}: xmlsec1 accepted it: {}", x.output);
    match verify(xml.as_bytes(), &trust_ca()) {
        Ok(_) => panic!("{what}: verify accepted it"),
        Err(e) => e,
    }
}

fn is_digest_mismatch(e: &XmlSigError) -> bool {
    matches!(e, XmlSigError::DigestMismatch { .. })
}

fn assert_both_accept(xml: &str, what: &str) {
    let x = xmlsec1_verify_vihf(xml.as_bytes());
    assert!(x.ok, "{what}: xmlsec1 refused it: {}", x.output);
    verify(xml.as_bytes(), &trust_ca()).unwrap_or_else(|e| panic!("{what}: verify refused: {e}"));
}

#[test]
fn xmlsec1_verifies_the_signed_vihf() {
    let xml = signed();
    let r = xmlsec1_verify_vihf(xml.as_bytes());
    assert!(r.ok, "xmlsec1: {}", r.output);
    assert!(r.output.contains("OK"), "{}", r.output);
}

#[test]
fn xmlsec1_verifies_vihf_with_confidentiality_code_and_several_roles() {
    let mut v = input();
    v.confidentiality_code = Some(Code::invisible_representants_legaux());
    v.roles.push(Code::new(
        "326",
        "1.2.250.1.213.1.6.1.107",
        "Éducateur spécialisé & <co>",
    ));
    v.lps_id = None;
    v.subject_id = "Passerelle, \"quoted\" & <angle>, tab\there".to_string();
    let xml = build_and_sign(&v, &signer(), &rng()).unwrap();
    let r = xmlsec1_verify_vihf(&xml);
    assert!(r.ok, "xmlsec1: {}", r.output);
    let a = verify(&xml, &trust_ca()).unwrap();
    assert_eq!(a.codes(names::ROLE).len(), 2);
    assert_eq!(
        a.codes(names::CONFIDENTIALITY_CODE)[0].code,
        "INVISIBLE_REPRESENTANTS_LEGAUX"
    );
    assert_eq!(a.text(names::SUBJECT_ID), Some(v.subject_id.as_str()));
    assert_eq!(a.text(names::LPS_ID), None);
}

#[test]
fn our_verify_returns_every_attribute() {
    let xml = signed();
    let a = verify(xml.as_bytes(), &trust_ca()).unwrap();
    let v = input();
    assert_eq!(a.id, v.id);
    assert_eq!(a.issue_instant, "2026-03-02T08:14:05.120Z");
    assert_eq!(a.authn_instant.as_deref(), Some("2026-03-02T08:14:05.120Z"));
    assert_eq!(
        a.issuer,
        "C=FR, ST=Seine-Saint-Denis (93), O=MECS LES TILLEULS, OU=1930004130, CN=MECS LES TILLEULS TEST ORG_SIGN"
    );
    assert!(a.issuer_matches_certificate);
    assert_eq!(a.subject_name_id, "810000001072");
    assert_eq!(a.text(names::VIHF_VERSION), Some("3.0"));
    assert_eq!(a.text(names::AUTHENTIFICATION_MODE), Some("INDIRECTE"));
    assert_eq!(a.text(names::IDENTIFIANT_STRUCTURE), Some("1930004130"));
    assert_eq!(
        a.text(names::SECTEUR_ACTIVITE),
        Some("SA20^1.2.250.1.71.4.2.4")
    );
    assert_eq!(a.text(names::SUBJECT_ID), Some(v.subject_id.as_str()));
    assert_eq!(a.codes(names::ROLE), vec![&Code::role_automate()]);
    assert_eq!(
        a.text(names::RESOURCE_ID),
        Some("212069306600157^^^&1.2.250.1.213.1.4.10&ISO^NH")
    );
    assert_eq!(a.ins(), Some(("212069306600157", "1.2.250.1.213.1.4.10")));
    assert_eq!(a.text(names::RESSOURCE_URN), Some("urn:dmp"));
    assert_eq!(
        a.codes(names::PURPOSE_OF_USE),
        vec![&Code::purpose_normal()]
    );
    assert!(a.values(names::CONFIDENTIALITY_CODE).is_empty());
    assert_eq!(a.text(names::LPS_ID), Some("1.2.250.1.999.1.1"));
    assert_eq!(a.text(names::LPS_NOM), Some("Passerelle"));
    assert_eq!(a.text(names::LPS_VERSION), Some("0.1.0"));
    assert_eq!(a.text(names::LPS_HOMOLOGATION), Some("TEST-CNDA-0000"));
    assert_eq!(a.certificate_der, common::read("org_sign.cert.der"));
    assert_eq!(a.issue_instant_time().unwrap(), v.issue_instant);
    assert!(a.certificate_valid_at(time::macros::datetime!(2030-01-01 0:00 UTC)));
    assert!(!a.certificate_valid_at(time::macros::datetime!(2026-01-01 0:00 UTC)));
}

#[test]
fn skeleton_order_and_form() {
    let xml = signed();
    let pos = |s: &str| xml.find(s).unwrap_or_else(|| panic!("missing {s}"));
    // Issuer, Signature, Subject, AuthnStatement, AttributeStatement (SAML schema order).
    assert!(pos("<saml:Issuer") < pos("<ds:Signature>"));
    assert!(pos("</ds:Signature>") < pos("<saml:Subject>"));
    assert!(pos("</saml:Subject>") < pos("<saml:AuthnStatement"));
    assert!(pos("</saml:AuthnStatement>") < pos("<saml:AttributeStatement>"));
    assert!(!xml.starts_with("<?xml"));
    assert!(!xml.contains("/>"), "no self-closing tags");
    assert!(!xml.contains('\n'), "no whitespace between elements");
    assert!(!xml.contains("<saml:Conditions"));
    assert!(xml.contains("PrefixList=\"ds saml #default xsi\""));
    assert!(!xml.to_lowercase().contains("sha1"));
}

#[test]
fn built_forms_are_already_exclusive_canonical() {
    // Canonical under the reference's own transform (the PrefixList keeps ds and xsi at the apex).
    let opts = C14nOptions {
        inclusive_prefixes: vec!["ds".into(), "saml".into(), "#default".into(), "xsi".into()],
        ..C14nOptions::default()
    };
    let unsigned = build_unsigned(&input(), &signer()).unwrap();
    assert_eq!(canonicalize(&unsigned, &opts).unwrap(), unsigned);
    let signed = build_and_sign(&input(), &signer(), &rng()).unwrap();
    assert_eq!(canonicalize(&signed, &opts).unwrap(), signed);
}

#[test]
fn signing_is_deterministic() {
    let a = build_and_sign(&input(), &signer(), &rng()).unwrap();
    let b = build_and_sign(&input(), &signer(), &rng()).unwrap();
    assert_eq!(a, b);
}

#[test]
fn must_fail_changed_attribute_character() {
    let xml = signed();
    for (from, to) in [
        ("MECS Les Tilleuls", "MECS Les Tilleulz"),
        ("code=\"AUTOMATE\"", "code=\"AUTOMATF\""),
        ("212069306600157", "212069306600158"),
        (
            "IssueInstant=\"2026-03-02T08:14:05.120Z\"",
            "IssueInstant=\"2026-03-02T08:14:05.121Z\"",
        ),
    ] {
        assert!(xml.contains(from));
        let e = assert_both_reject(&xml.replacen(from, to, 1), &format!("changed {from}"));
        assert!(is_digest_mismatch(&e), "{e}");
    }
}

#[test]
fn must_fail_reindentation() {
    let xml = signed();
    let indented = xml
        .replace("<saml:Subject>", "\n  <saml:Subject>")
        .replace("<saml:Attribute ", "\n    <saml:Attribute ");
    let e = assert_both_reject(&indented, "re-indented");
    assert!(is_digest_mismatch(&e), "{e}");
}

#[test]
fn must_fail_ancestor_rebinding_ds() {
    let xml = signed();
    // The assertion's own ds declaration removed, an ancestor binds ds elsewhere.
    let stripped = xml.replacen(" xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"", "", 1);
    let wrapped =
        format!(r#"<w:Wrap xmlns:w="urn:w" xmlns:ds="urn:not-xmldsig">{stripped}</w:Wrap>"#);
    assert_both_reject(&wrapped, "ancestor rebinding ds");
    // An ancestor default namespace is pulled in by #default of the PrefixList.
    let default = format!(r#"<w:Wrap xmlns:w="urn:w" xmlns="urn:default">{xml}</w:Wrap>"#);
    let e = assert_both_reject(&default, "ancestor default namespace");
    assert!(is_digest_mismatch(&e), "{e}");
}

#[test]
fn must_fail_foreign_keyinfo_certificate() {
    let xml = signed();
    let ours = base64_of("org_sign.cert.der");
    let foreign = base64_of("foreign.cert.der");
    assert!(xml.contains(&ours));
    // Certificate swapped: the signature no longer verifies with the KeyInfo key.
    let e = assert_both_reject(
        &xml.replace(&ours, &foreign),
        "foreign certificate swapped in",
    );
    assert!(matches!(e, XmlSigError::BadSignature), "{e}");
    // Correctly signed by a foreign, untrusted key.
    let by_foreign =
        String::from_utf8(build_and_sign(&input(), &common::foreign_signer(), &rng()).unwrap())
            .unwrap();
    assert_both_reject(&by_foreign, "signed by an untrusted key");
    assert!(matches!(
        verify(by_foreign.as_bytes(), &trust_ca()),
        Err(XmlSigError::Untrusted(_))
    ));
    // Pinning that foreign certificate makes our verifier accept it (trust is the only issue).
    let pinned = TrustAnchors::new()
        .pin_certificate(common::read("foreign.cert.der"))
        .unwrap();
    verify(by_foreign.as_bytes(), &pinned).unwrap();
}

fn base64_of(name: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(common::read(name))
}

#[test]
fn must_pass_reordered_attributes_and_declarations() {
    let xml = signed();
    let v = input();
    let head_from = format!(
        "<saml:Assertion xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" ID=\"{}\" IssueInstant=\"2026-03-02T08:14:05.120Z\" Version=\"2.0\">",
        v.id
    );
    let head_to = format!(
        "<saml:Assertion Version='2.0' xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" IssueInstant=\"2026-03-02T08:14:05.120Z\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{}\" xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" >",
        v.id
    );
    assert!(xml.contains(&head_from));
    let role_from = "<Role xmlns=\"urn:hl7-org:v3\" code=\"AUTOMATE\" codeSystem=\"1.2.250.1.213.1.1.4.6\" displayName=\"Automate\" xsi:type=\"CE\"></Role>";
    let role_to = "<Role xsi:type=\"CE\" displayName=\"Automate\" code=\"AUTOMATE\" xmlns=\"urn:hl7-org:v3\" codeSystem=\"1.2.250.1.213.1.1.4.6\"/>";
    assert!(xml.contains(role_from));
    let reordered = xml
        .replacen(&head_from, &head_to, 1)
        .replacen(role_from, role_to, 1);
    assert_ne!(reordered, xml);
    assert_both_accept(&reordered, "reordered attributes");
}

#[test]
fn verifies_inside_a_soap_envelope() {
    let vihf = signed();
    let envelope = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing">
 <soap:Header>
  <wsa:Action soap:mustUnderstand="true">urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b</wsa:Action>
  <wsa:MessageID>urn:uuid:0b7c1b7e-1f5e-4c1c-9d1e-5a2f2f1c0a01</wsa:MessageID>
  <wsa:To>https://dv1.lps2.dmp.gouv.fr/si-dmp-server/v2/services/repository</wsa:To>
  <wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">{vihf}</wsse:Security>
 </soap:Header>
 <soap:Body><xdsb:ProvideAndRegisterDocumentSetRequest xmlns:xdsb="urn:ihe:iti:xds-b:2007"/></soap:Body>
</soap:Envelope>"#
    );
    assert_both_accept(&envelope, "inside the SOAP envelope");
    let a = verify(envelope.as_bytes(), &trust_ca()).unwrap();
    assert_eq!(a.id, input().id);
    // Two assertions in one envelope are refused by our verifier (wrapping).
    let twice = envelope.replace("</wsse:Security>", &format!("{vihf}</wsse:Security>"));
    assert!(verify(twice.as_bytes(), &trust_ca()).is_err());
}

#[test]
fn our_verifier_accepts_what_xmlsec1_signs_with_varied_prefix_lists_and_ancestors() {
    // Independent signer (xmlsec1) + our verifier: exercises our c14n on documents we did not
    // write, with InclusiveNamespaces lists, ancestor declarations, comments and whitespace.
    let unsigned = String::from_utf8(build_unsigned(&input(), &signer()).unwrap()).unwrap();
    let v = input();
    let cases: &[(&str, &str, &str)] = &[
        ("ds saml #default xsi", "", ""),
        ("", "", ""),
        ("wsse", " xmlns:wsse=\"urn:wsse\"", ""),
        ("#default", " xmlns=\"urn:outer-default\"", ""),
        (
            "saml",
            " xmlns:wsu=\"urn:wsu\"",
            "<!-- a comment --><saml:Audit wsu:Id=\"x\">  text </saml:Audit>\n",
        ),
    ];
    for (prefixes, ancestor_ns, extra) in cases {
        let template_sig = format!(
            "<ds:Signature><ds:SignedInfo><ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/><ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/><ds:Reference URI=\"#{}\"><ds:Transforms><ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/><ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"><ec:InclusiveNamespaces xmlns:ec=\"http://www.w3.org/2001/10/xml-exc-c14n#\" PrefixList=\"{prefixes}\"/></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo></ds:Signature>",
            v.id
        );
        let assertion = unsigned
            .replacen(
                "</saml:Issuer>",
                &format!("</saml:Issuer>{template_sig}"),
                1,
            )
            .replacen(
                "<saml:AttributeStatement>",
                &format!("{extra}<saml:AttributeStatement>"),
                1,
            );
        let doc = format!(
            "<env:Outer xmlns:env=\"urn:env\"{ancestor_ns}><env:In>{assertion}</env:In></env:Outer>"
        );
        let signed = common::xmlsec1_sign(
            doc.as_bytes(),
            "ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
        );
        let r = verify(&signed, &trust_ca());
        assert!(
            r.is_ok(),
            "PrefixList {prefixes:?} ancestors {ancestor_ns:?}: {r:?}"
        );
        // And tampering after xmlsec1 signed is still caught by our verifier.
        let s = String::from_utf8(signed).unwrap();
        let tampered = s.replacen("MECS Les Tilleuls", "MECS Les Tilleulz", 1);
        assert!(verify(tampered.as_bytes(), &trust_ca()).is_err());
    }
}

#[test]
fn refuses_bad_inputs_naming_the_field() {
    let mut v = input();
    v.id = "6f1c-not-an-ncname".to_string();
    let e = build_and_sign(&v, &signer(), &rng()).unwrap_err();
    assert!(e.to_string().contains("input id"), "{e}");
    let mut v = input();
    v.roles.clear();
    assert!(
        build_and_sign(&v, &signer(), &rng())
            .unwrap_err()
            .to_string()
            .contains("roles")
    );
    let mut v = input();
    v.ins = "2120^69306600157".to_string();
    assert!(
        build_and_sign(&v, &signer(), &rng())
            .unwrap_err()
            .to_string()
            .contains("ins")
    );
    let mut v = input();
    v.lps_nom = "bad\u{1}char".to_string();
    let e = build_and_sign(&v, &signer(), &rng()).unwrap_err();
    assert!(
        e.to_string().contains("lps_nom") && !e.to_string().contains("bad"),
        "{e}"
    );
}

#[test]
fn signer_refuses_a_key_of_another_certificate() {
    let r = passerelle_xmlsig::Signer::from_pkcs8_der(
        &common::read("foreign.key.pk8.der"),
        &common::read("org_sign.cert.der"),
    );
    assert!(matches!(r, Err(XmlSigError::Key(_))));
}

#[test]
fn golden_unsigned_vihf() {
    let xml = String::from_utf8(build_unsigned(&input(), &signer()).unwrap()).unwrap();
    insta::assert_snapshot!("vihf_unsigned", xml.replace("><", ">\n<"));
}

#[test]
fn golden_signed_vihf() {
    // Line breaks added for review only; the exact bytes are checked by the tests above.
    insta::assert_snapshot!("vihf_signed", signed().replace("><", ">\n<"));
}

#[test]
fn comment_inside_signed_text_is_neutral_and_not_truncating() {
    // Comments are outside the node-set of a `#id` reference: the signature stays valid, and the
    // verifier must read the whole text, not the part before the comment.
    let xml = signed().replacen(
        "<saml:NameID>810000001072</saml:NameID>",
        "<saml:NameID>8100<!-- x -->00001072</saml:NameID>",
        1,
    );
    assert_both_accept(&xml, "comment inside NameID");
    let a = verify(xml.as_bytes(), &trust_ca()).unwrap();
    assert_eq!(a.subject_name_id, "810000001072");
}

#[test]
fn tampered_signed_info_fails_the_signature_value() {
    let xml = signed();
    let tampered = xml.replacen(
        "Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"></ds:DigestMethod>",
        "Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\" ></ds:DigestMethod>",
        1,
    );
    // Whitespace inside a tag is not significant: still valid for both.
    assert_both_accept(&tampered, "insignificant whitespace in SignedInfo tag");
    let e = assert_both_reject(
        &xml.replacen("<ds:DigestValue>", "<ds:DigestValue> ", 1),
        "whitespace in DigestValue text",
    );
    // Base64 whitespace is tolerated by the digest check, but SignedInfo's bytes changed.
    assert!(matches!(e, XmlSigError::BadSignature), "{e}");
}

#[test]
fn every_single_byte_flip_is_refused() {
    // Exhaustive over positions (the fuzz harness samples replacement bytes): the VIHF has no
    // whitespace, so any flipped bit changes signed content, the certificate, or well-formedness.
    let xml = build_and_sign(&input(), &signer(), &rng()).unwrap();
    let trust = trust_ca();
    for i in 0..xml.len() {
        let mut m = xml.clone();
        m[i] ^= 0x01;
        assert!(
            verify(&m, &trust).is_err(),
            "flip at byte {i} still verified"
        );
    }
}

#[test]
fn vihf_with_sha1_or_inclusive_c14n_is_refused_even_if_valid() {
    let unsigned = String::from_utf8(build_unsigned(&input(), &signer()).unwrap()).unwrap();
    let id = input().id;
    for (c14n, sig_alg, digest) in [
        (
            "http://www.w3.org/2001/10/xml-exc-c14n#",
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            "http://www.w3.org/2001/04/xmlenc#sha256",
        ),
        (
            "http://www.w3.org/2001/10/xml-exc-c14n#",
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "http://www.w3.org/2000/09/xmldsig#sha1",
        ),
        (
            "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "http://www.w3.org/2001/04/xmlenc#sha256",
        ),
    ] {
        let sig = format!(
            "<ds:Signature><ds:SignedInfo><ds:CanonicalizationMethod Algorithm=\"{c14n}\"/><ds:SignatureMethod Algorithm=\"{sig_alg}\"/><ds:Reference URI=\"#{id}\"><ds:Transforms><ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/><ds:Transform Algorithm=\"{c14n}\"/></ds:Transforms><ds:DigestMethod Algorithm=\"{digest}\"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo></ds:Signature>"
        );
        let tpl = unsigned.replacen("</saml:Issuer>", &format!("</saml:Issuer>{sig}"), 1);
        let signed = common::xmlsec1_sign(
            tpl.as_bytes(),
            "ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
        );
        assert!(
            xmlsec1_verify_vihf(&signed).ok,
            "template {c14n} {sig_alg} {digest}"
        );
        let e = verify(&signed, &trust_ca()).unwrap_err();
        assert!(matches!(e, XmlSigError::Structure { .. }), "{e}");
    }
}
