//! The XAdES signature document of the submission set (dmp.md §4.6), verified by xmlsec1 and by
//! our verifier, with tampering checks and a golden file.
#![allow(clippy::unwrap_used)]

mod common;

use common::{rng, signer, trust_ca, xmlsec1_verify_xades};
use passerelle_xmlsig::{
    ManifestEntry, SignatureDocumentInput, XmlSigError, build_signature_document,
    verify_signature_document,
};
use time::macros::datetime;

const CDA: &[u8] = b"<ClinicalDocument xmlns=\"urn:hl7-org:v3\">...</ClinicalDocument>\n";

fn input() -> SignatureDocumentInput {
    SignatureDocumentInput {
        signature_id: "Sig01".to_string(),
        signing_time: datetime!(2026-03-02 08:14:05.120 UTC),
        submission_set_unique_id: "1.2.250.1.999.1.2.2.17".to_string(),
        documents: vec![ManifestEntry::from_bytes("1.2.250.1.999.1.2.1.17", CDA)],
    }
}

fn built() -> String {
    String::from_utf8(build_signature_document(&input(), &signer(), &rng()).unwrap()).unwrap()
}

#[test]
fn xmlsec1_verifies_the_signature_document() {
    let xml = built();
    let r = xmlsec1_verify_xades(xml.as_bytes());
    assert!(r.ok, "xmlsec1: {}", r.output);
}

#[test]
fn our_verifier_returns_the_manifest_and_checks_documents() {
    let xml = built();
    let v = verify_signature_document(xml.as_bytes(), &trust_ca()).unwrap();
    assert_eq!(v.signature_id, "Sig01");
    assert_eq!(v.signing_time, "2026-03-02T08:14:05.120Z");
    assert_eq!(v.submission_set_unique_id, "1.2.250.1.999.1.2.2.17");
    assert_eq!(v.documents.len(), 1);
    assert_eq!(v.documents[0].unique_id, "1.2.250.1.999.1.2.1.17");
    v.check_document("1.2.250.1.999.1.2.1.17", CDA).unwrap();
    assert!(matches!(
        v.check_document("1.2.250.1.999.1.2.1.17", b"other bytes"),
        Err(XmlSigError::DigestMismatch { .. })
    ));
    assert!(v.check_document("1.2.3", CDA).is_err());
    assert_eq!(v.certificate_der, common::read("org_sign.cert.der"));
}

#[test]
fn structure_follows_dmp_4_6() {
    let xml = built();
    for needle in [
        "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" Id=\"Sig01\">",
        "Type=\"http://www.w3.org/2000/09/xmldsig#Manifest\" URI=\"#IHEManifest\"",
        "Type=\"http://uri.etsi.org/01903/v1.1.1#SignedProperties\" URI=\"#S0-SignedProperties\"",
        "<ds:SignatureProperty Id=\"purposeOfSignature\" Target=\"#Sig01\">1.2.840.10065.1.12.1.14</ds:SignatureProperty>",
        "<ds:Reference URI=\"urn:oid:1.2.250.1.999.1.2.2.17\"><ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"></ds:DigestMethod><ds:DigestValue>AA==</ds:DigestValue>",
        "<ds:Reference URI=\"urn:oid:1.2.250.1.999.1.2.1.17\">",
        "<xades:SigningTime>2026-03-02T08:14:05.120Z</xades:SigningTime>",
        "<ds:X509IssuerName>CN=Passerelle TEST Root CA, OU=TEST ONLY, O=Passerelle TEST, C=FR</ds:X509IssuerName><ds:X509SerialNumber>4660</ds:X509SerialNumber>",
        "<xades:SignaturePolicyImplied></xades:SignaturePolicyImplied>",
    ] {
        assert!(xml.contains(needle), "missing {needle}");
    }
    assert!(!xml.to_lowercase().contains("sha1"));
}

#[test]
fn tampering_is_caught_by_both() {
    let xml = built();
    let cases = [
        ("2026-03-02T08:14:05.120Z", "2026-03-02T08:14:06.120Z"),
        ("urn:oid:1.2.250.1.999.1.2.1.17", "urn:oid:1.2.250.1.999.1.2.1.18"),
        ("<ds:DigestValue>AA==</ds:DigestValue>", "<ds:DigestValue>AQ==</ds:DigestValue>"),
        ("<ds:X509SerialNumber>4660", "<ds:X509SerialNumber>4661"),
    ];
    for (from, to) in cases {
        assert!(xml.contains(from), "{from}");
        let t = xml.replacen(from, to, 1);
        let x = xmlsec1_verify_xades(t.as_bytes());
        assert!(!x.ok, "xmlsec1 accepted a change of {from}");
        let e = verify_signature_document(t.as_bytes(), &trust_ca()).unwrap_err();
        assert!(matches!(e, XmlSigError::DigestMismatch { .. }), "{from}: {e}");
    }
}

#[test]
fn untrusted_signer_is_refused() {
    let xml = build_signature_document(&input(), &common::foreign_signer(), &rng()).unwrap();
    assert!(!xmlsec1_verify_xades(&xml).ok);
    assert!(matches!(
        verify_signature_document(&xml, &trust_ca()),
        Err(XmlSigError::Untrusted(_))
    ));
}

#[test]
fn refuses_bad_inputs() {
    let mut v = input();
    v.documents.clear();
    assert!(build_signature_document(&v, &signer(), &rng()).is_err());
    let mut v = input();
    v.submission_set_unique_id = "urn:oid:1.2.3".to_string();
    let e = build_signature_document(&v, &signer(), &rng()).unwrap_err();
    assert!(e.to_string().contains("submission_set_unique_id"), "{e}");
    let mut v = input();
    v.signature_id = "1.2.3".to_string();
    assert!(build_signature_document(&v, &signer(), &rng()).is_err());
}

#[test]
fn golden_signature_document() {
    insta::assert_snapshot!("xades_signed", built().replace("><", ">\n<"));
}
