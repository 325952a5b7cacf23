//! xmlsec1 (libxmlsec1) verifies every VIHF and XAdES signature the client produces, taken from
//! the MTOM body exactly as sent.

use std::path::Path;
use std::process::Command;

use passerelle_api::v1::DocumentKind;
use passerelle_dmp::mtom;
use passerelle_sim_dmp::testkit;
use time::OffsetDateTime;

use crate::common::*;

fn xmlsec1(args: &[&str], file: &Path) -> (bool, String) {
    let out = Command::new("xmlsec1")
        .args(args)
        .arg(file)
        .output()
        .expect("xmlsec1 must be installed (Debian package xmlsec1)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// xmlsec1 reads one certificate per `--trusted-pem` file: the root and the organisations CA
/// (issuer of ORG_SIGN) are given separately.
fn cas(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let pki = testkit::pki().expect("pki");
    let root = dir.join("root.pem");
    let org = dir.join("org-ca.pem");
    std::fs::write(&root, &pki.root.cert_pem).expect("root");
    std::fs::write(&org, &pki.org_ca.cert_pem).expect("org");
    (root, org)
}

fn verify_vihf(dir: &Path, name: &str, xml: &[u8]) -> (bool, String) {
    let f = dir.join(name);
    std::fs::write(&f, xml).expect("write");
    let (root, org) = cas(dir);
    xmlsec1(
        &[
            "--verify",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            "--trusted-pem",
            root.to_str().expect("utf8"),
            "--trusted-pem",
            org.to_str().expect("utf8"),
        ],
        &f,
    )
}

#[tokio::test]
async fn xmlsec1_verifies_the_vihf_in_the_sent_root_part_and_the_xades_part() {
    let e = env().await;
    let c = client(&e.sim);
    let dir = tempfile::tempdir().expect("tmp");
    let (root_ca, org_ca) = cas(dir.path());
    let p = e.patient("child9");
    let req = c
        .iti41_request(
            &input(&p, DocumentKind::AutorisSoins, flags(false, false, true), 1),
            OffsetDateTime::now_utc(),
        )
        .expect("req");
    let mp = mtom::parse(&req.content_type, &req.body).expect("mtom");
    assert_eq!(mp.parts.len(), 3);
    let root = mp.root().expect("root").body;
    let (ok, log) = verify_vihf(dir.path(), "root.xml", root);
    assert!(ok, "xmlsec1 must verify the SOAP root part: {log}");
    // Tampering with the envelope's VIHF must fail.
    let mut bad = root.to_vec();
    let at = bad
        .windows(9)
        .position(|w| w == b"INDIRECTE")
        .map_or(0, |i| i + 1);
    assert!(at > 0);
    bad[at] = b'i';
    let (ok, _) = verify_vihf(dir.path(), "bad.xml", &bad);
    assert!(!ok, "a changed VIHF character must not verify");
    // The XAdES signature document, part 0.3.
    let xades = mp.part_by_cid("0.3").expect("xades").body;
    let f = dir.path().join("xades.xml");
    std::fs::write(&f, xades).expect("write");
    let (ok, log) = xmlsec1(
        &[
            "--verify",
            "--ignore-manifests",
            "--id-attr:Id",
            "http://www.w3.org/2000/09/xmldsig#:Manifest",
            "--id-attr:Id",
            "http://uri.etsi.org/01903/v1.1.1#:SignedProperties",
            "--trusted-pem",
            root_ca.to_str().expect("utf8"),
            "--trusted-pem",
            org_ca.to_str().expect("utf8"),
        ],
        &f,
    );
    assert!(ok, "xmlsec1 must verify the XAdES part: {log}");
    // The VIHF alone, and the TD0.2 / ITI-18 envelopes, with a secret connection code too.
    let vihf = c
        .vihf(&p.ins, &p.ins_oid, true, OffsetDateTime::now_utc())
        .expect("vihf");
    let (ok, log) = verify_vihf(dir.path(), "vihf.xml", &vihf);
    assert!(ok, "{log}");
    let ep = passerelle_dmp::Endpoint::parse(&e.sim.base_url()).expect("ep");
    let q = passerelle_dmp::build_iti18_request(
        &ep,
        "0b6d1f0e-3c43-4a4f-9a55-3f8d5a0c2b11",
        &vihf,
        "1.2.3.4",
    )
    .expect("iti18");
    let (ok, log) = verify_vihf(dir.path(), "iti18.xml", &q.body);
    assert!(ok, "{log}");
    let td02 = passerelle_dmp::build_td02_request(&passerelle_dmp::Td02Input {
        endpoint: &ep,
        message_id: "0b6d1f0e-3c43-4a4f-9a55-3f8d5a0c2b12",
        vihf: &vihf,
        installation_oid: "1.2.3",
        request_id: "r1",
        creation_time: OffsetDateTime::now_utc(),
        ins: &p.ins,
        ins_oid: &p.ins_oid,
        processing_code: "D",
    })
    .expect("td02");
    let (ok, log) = verify_vihf(dir.path(), "td02.xml", &td02.body);
    assert!(ok, "{log}");
    let del = passerelle_dmp::build_iti57_delete_request(&passerelle_dmp::DeletionInput {
        endpoint: &ep,
        message_id: "0b6d1f0e-3c43-4a4f-9a55-3f8d5a0c2b13",
        vihf: &vihf,
        submission_set_unique_id: "1.2.3.2.1",
        source_id: "1.2.3",
        patient_id: &passerelle_dmp::ins::ins_cx(&p.ins, &p.ins_oid),
        submission_time: "20260302081405",
        author_institution: "X^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1930004130",
        author_person: "810000001023^LEROY^Sophie^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS",
        content_type: passerelle_dmp::iti57::Coded {
            code: "SA20",
            display: "x",
            scheme: "1.2.250.1.71.4.2.4",
        },
        entry_uuid: "urn:uuid:3f1e2d4c-5b6a-4789-8abc-def012345678",
    })
    .expect("iti57");
    let (ok, log) = verify_vihf(dir.path(), "iti57.xml", &del.body);
    assert!(ok, "{log}");
}

/// Every VIHF the client sent in a submit → replace → delete flow (TD0.2, ITI-18, ITI-41, ITI-57),
/// as the simulator received it, and every XAdES it stored, verified by xmlsec1.
#[tokio::test]
async fn xmlsec1_verifies_every_signature_of_a_full_flow() {
    let e = env().await;
    let c = client(&e.sim);
    let dir = tempfile::tempdir().expect("tmp");
    let (root_ca, org_ca) = cas(dir.path());
    let p = e.patient("child9");
    let f = flags(false, false, true);
    let v1 = c
        .submit(
            input(&p, DocumentKind::AutorisSoins, f.clone(), 301),
            OffsetDateTime::now_utc(),
        )
        .await
        .expect("v1");
    let v2 = input_full(
        &p,
        p.birth_date,
        DocumentKind::AutorisSoins,
        f,
        302,
        3000,
        Some(&v1.unique_id),
    );
    let v2 = c
        .replace(v2, &v1.unique_id, OffsetDateTime::now_utc())
        .await
        .expect("v2");
    let mut d = crate::e2e::delete_input(&p, &v2.unique_id, 303);
    d.secret_connection = false;
    c.delete(d, OffsetDateTime::now_utc())
        .await
        .expect("deleted");
    let exchanges = e.sim.exchanges();
    assert!(exchanges.len() >= 5, "{} exchanges", exchanges.len());
    for (i, x) in exchanges.iter().enumerate() {
        assert!(!x.envelope.is_empty(), "exchange {i} recorded");
        let (ok, log) = verify_vihf(dir.path(), &format!("env{i}.xml"), &x.envelope);
        assert!(ok, "exchange {i} ({:?}): {log}", x.transaction);
    }
    let sigs: Vec<_> = e
        .sim
        .entries()
        .into_iter()
        .filter(|x| x.is_signature)
        .collect();
    assert_eq!(sigs.len(), 2);
    for (i, s) in sigs.iter().enumerate() {
        let file = dir.path().join(format!("xades{i}.xml"));
        std::fs::write(&file, &s.bytes).expect("write");
        let (ok, log) = xmlsec1(
            &[
                "--verify",
                "--ignore-manifests",
                "--id-attr:Id",
                "http://www.w3.org/2000/09/xmldsig#:Manifest",
                "--id-attr:Id",
                "http://uri.etsi.org/01903/v1.1.1#:SignedProperties",
                "--trusted-pem",
                root_ca.to_str().expect("utf8"),
                "--trusted-pem",
                org_ca.to_str().expect("utf8"),
            ],
            &file,
        );
        assert!(ok, "xades {i}: {log}");
    }
}
