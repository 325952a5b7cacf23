//! Shared test helpers: fixture keys (TEST ONLY), a fixed VIHF input, xmlsec1/xmllint runners.
#![allow(dead_code, clippy::disallowed_methods, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use passerelle_xmlsig::{Code, Signer, TrustAnchors, VihfInput};
use time::macros::datetime;

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

pub fn signer() -> Signer {
    Signer::from_pkcs8_der(&read("org_sign.key.pk8.der"), &read("org_sign.cert.der")).unwrap()
}

pub fn foreign_signer() -> Signer {
    Signer::from_pkcs8_der(&read("foreign.key.pk8.der"), &read("foreign.cert.der")).unwrap()
}

pub fn trust_ca() -> TrustAnchors {
    TrustAnchors::new()
        .add_issuing_ca(read("ca.cert.der"))
        .unwrap()
}

pub fn rng() -> ring::rand::SystemRandom {
    ring::rand::SystemRandom::new()
}

/// The sandbox world: MECS Les Tilleuls feeding Léa DUPONT's DMP (test INS OID).
pub fn input() -> VihfInput {
    VihfInput {
        id: "_6f1c2d3e-4a5b-4c6d-8e7f-901234567890".to_string(),
        issue_instant: datetime!(2026-03-02 08:14:05.120 UTC),
        subject_name_id: "810000001072".to_string(),
        structure_id: "1930004130".to_string(),
        secteur_activite: "SA20".to_string(),
        subject_id: "Passerelle, passerelle-gateway, MECS Les Tilleuls".to_string(),
        roles: vec![Code::role_automate()],
        ins: "212069306600157".to_string(),
        ins_oid: "1.2.250.1.213.1.4.10".to_string(),
        purpose: Code::purpose_normal(),
        confidentiality_code: None,
        lps_id: Some("1.2.250.1.999.1.1".to_string()),
        lps_nom: "Passerelle".to_string(),
        lps_version: "0.1.0".to_string(),
        lps_homologation: "TEST-CNDA-0000".to_string(),
        vihf_version: "3.0".to_string(),
        authentification_mode: "INDIRECTE".to_string(),
    }
}

pub struct Run {
    pub ok: bool,
    pub output: String,
}

fn run(cmd: &mut Command) -> Run {
    // A missing tool must fail the test (the test script installs it), never skip it.
    let out = cmd.output().unwrap_or_else(|e| {
        panic!(
            "cannot run {:?} (Debian package needed): {e}",
            cmd.get_program()
        )
    });
    Run {
        ok: out.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

pub fn write_temp(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// `xmlsec1 --verify` of a VIHF (alone or in an envelope) against the test CA.
pub fn xmlsec1_verify_vihf(xml: &[u8]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let f = write_temp(&dir, "vihf.xml", xml);
    run(Command::new("xmlsec1")
        .arg("--verify")
        .arg("--id-attr:ID")
        .arg("urn:oasis:names:tc:SAML:2.0:assertion:Assertion")
        .arg("--trusted-pem")
        .arg(fixture("ca.cert.pem"))
        .arg(&f))
}

/// `xmlsec1 --verify` of a XAdES signature document against the test CA.
pub fn xmlsec1_verify_xades(xml: &[u8]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let f = write_temp(&dir, "sig.xml", xml);
    // Manifest references are not part of core validation (XML-DSig §5.1) and the SubmissionSet
    // one carries a placeholder digest (dmp.md §4.6): xmlsec1 checks SignedInfo's two references
    // and the signature value; our verifier and `check_document` check the document digests.
    run(Command::new("xmlsec1")
        .arg("--verify")
        .arg("--ignore-manifests")
        .arg("--id-attr:Id")
        .arg("http://www.w3.org/2000/09/xmldsig#:Manifest")
        .arg("--id-attr:Id")
        .arg("http://uri.etsi.org/01903/v1.1.1#:SignedProperties")
        .arg("--trusted-pem")
        .arg(fixture("ca.cert.pem"))
        .arg(&f))
}

/// `xmlsec1 --sign` of a template (empty DigestValue/SignatureValue/X509Certificate) with the
/// test ORG_SIGN key: an independent signer for our verifier.
pub fn xmlsec1_sign(template: &[u8], id_attr: &str, node: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let f = write_temp(&dir, "tpl.xml", template);
    let out = dir.path().join("signed.xml");
    let key = format!(
        "{},{}",
        fixture("org_sign.key.pem").display(),
        fixture("org_sign.cert.pem").display()
    );
    let r = run(Command::new("xmlsec1")
        .arg("--sign")
        .arg(format!("--id-attr:{id_attr}"))
        .arg(node)
        .arg("--privkey-pem")
        .arg(key)
        .arg("--output")
        .arg(&out)
        .arg(&f));
    assert!(r.ok, "xmlsec1 --sign failed: {}", r.output);
    std::fs::read(out).unwrap()
}

/// `xmlsec1 --sign` of a XAdES template (Manifest and SignedProperties ids registered).
pub fn xmlsec1_sign_xades(template: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let f = write_temp(&dir, "tpl.xml", template);
    let out = dir.path().join("signed.xml");
    let key = format!(
        "{},{}",
        fixture("org_sign.key.pem").display(),
        fixture("org_sign.cert.pem").display()
    );
    let r = run(Command::new("xmlsec1")
        .arg("--sign")
        .arg("--ignore-manifests")
        .arg("--id-attr:Id")
        .arg("http://www.w3.org/2000/09/xmldsig#:Manifest")
        .arg("--id-attr:Id")
        .arg("http://uri.etsi.org/01903/v1.1.1#:SignedProperties")
        .arg("--privkey-pem")
        .arg(key)
        .arg("--output")
        .arg(&out)
        .arg(&f));
    assert!(r.ok, "xmlsec1 --sign failed: {}", r.output);
    std::fs::read(out).unwrap()
}

/// `xmllint --exc-c14n` (with comments) of a document.
pub fn xmllint_exc_c14n(xml: &[u8]) -> Vec<u8> {
    xmllint(xml, "--exc-c14n")
}

/// `xmllint --c14n` (inclusive 1.0, with comments) of a document.
pub fn xmllint_c14n(xml: &[u8]) -> Vec<u8> {
    xmllint(xml, "--c14n")
}

fn xmllint(xml: &[u8], mode: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let f = write_temp(&dir, "in.xml", xml);
    let out = Command::new("xmllint")
        .arg(mode)
        .arg(&f)
        .output()
        .unwrap_or_else(|e| panic!("cannot run xmllint (Debian package libxml2-utils): {e}"));
    assert!(
        out.status.success(),
        "xmllint failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
