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
        (
            "urn:oid:1.2.250.1.999.1.2.1.17",
            "urn:oid:1.2.250.1.999.1.2.1.18",
        ),
        (
            "<ds:DigestValue>AA==</ds:DigestValue>",
            "<ds:DigestValue>AQ==</ds:DigestValue>",
        ),
        ("<ds:X509SerialNumber>4660", "<ds:X509SerialNumber>4661"),
    ];
    for (from, to) in cases {
        assert!(xml.contains(from), "{from}");
        let t = xml.replacen(from, to, 1);
        let x = xmlsec1_verify_xades(t.as_bytes());
        assert!(!x.ok, "xmlsec1 accepted a change of {from}");
        let e = verify_signature_document(t.as_bytes(), &trust_ca()).unwrap_err();
        assert!(
            matches!(e, XmlSigError::DigestMismatch { .. }),
            "{from}: {e}"
        );
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

/// A signature document in the legacy form written by an observed DMP client (DRIM: XAdES
/// v1.1.1, C14N 1.0 with comments, RSA-SHA1, SHA-1 digests), signed by xmlsec1.
fn legacy_signed_by_xmlsec1() -> String {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let sha1 =
        |b: &[u8]| b64(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, b).as_ref());
    let cert = common::read("org_sign.cert.der");
    let c14n = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments";
    let template = format!(
        r##"<Signature xmlns="http://www.w3.org/2000/09/xmldsig#" Id="urn:uuid:0f0e">
  <SignedInfo>
    <CanonicalizationMethod Algorithm="{c14n}"/>
    <SignatureMethod Algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1"/>
    <Reference Type="http://www.w3.org/2000/09/xmldsig#Manifest" URI="#IHEManifest">
      <Transforms><Transform Algorithm="{c14n}"/></Transforms>
      <DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/><DigestValue/>
    </Reference>
    <Reference Type="http://uri.etsi.org/01903/v1.1.1#SignedProperties" URI="#S0-SignedProperties">
      <Transforms><Transform Algorithm="{c14n}"/></Transforms>
      <DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/><DigestValue/>
    </Reference>
  </SignedInfo>
  <SignatureValue/>
  <KeyInfo><X509Data><X509Certificate/></X509Data></KeyInfo>
  <Object><SignatureProperties><SignatureProperty Id="purposeOfSignature" Target="#urn:uuid:0f0e">1.2.840.10065.1.12.1.14</SignatureProperty></SignatureProperties></Object>
  <Object>
    <Manifest xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" Id="IHEManifest" xsi:schemaLocation="http://www.w3.org/2000/09/xmldsig# x.xsd">
      <!-- the SubmissionSet -->
      <Reference URI="urn:oid:1.2.250.1.999.1.2.2.17"><DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/><DigestValue>AA==</DigestValue></Reference>
      <Reference URI="urn:oid:1.2.250.1.999.1.2.1.17"><DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/><DigestValue>{doc}</DigestValue></Reference>
    </Manifest>
  </Object>
  <Object><xades:QualifyingProperties xmlns:xades="http://uri.etsi.org/01903/v1.1.1#" Target="#urn:uuid:0f0e" xml:lang="fr"><xades:SignedProperties Id="S0-SignedProperties">
    <xades:SignedSignatureProperties><xades:SigningTime>2026-03-02T09:14:05.120+01:00</xades:SigningTime>
    <xades:SigningCertificate><xades:Cert><xades:CertDigest><xades:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/><xades:DigestValue>{cert}</xades:DigestValue></xades:CertDigest>
    <xades:IssuerSerial><X509IssuerName>CN=Passerelle TEST Root CA,OU=TEST ONLY,O=Passerelle TEST,C=FR</X509IssuerName><X509SerialNumber>4660</X509SerialNumber></xades:IssuerSerial></xades:Cert></xades:SigningCertificate>
    <xades:SignaturePolicyIdentifier><xades:SignaturePolicyImplied/></xades:SignaturePolicyIdentifier></xades:SignedSignatureProperties>
    <xades:SignedDataObjectProperties/></xades:SignedProperties></xades:QualifyingProperties></Object>
</Signature>"##,
        doc = sha1(CDA),
        cert = sha1(&cert),
    );
    let signed = common::xmlsec1_sign_xades(template.as_bytes());
    String::from_utf8(signed).unwrap()
}

#[test]
fn legacy_client_form_is_accepted_by_our_verifier() {
    let xml = legacy_signed_by_xmlsec1();
    assert!(xmlsec1_verify_xades(xml.as_bytes()).ok);
    let v = verify_signature_document(xml.as_bytes(), &trust_ca()).unwrap();
    assert_eq!(v.signature_id, "urn:uuid:0f0e");
    assert_eq!(v.signing_time, "2026-03-02T09:14:05.120+01:00");
    assert_eq!(v.submission_set_unique_id, "1.2.250.1.999.1.2.2.17");
    assert_eq!(
        v.documents[0].digest_algorithm,
        passerelle_xmlsig::DigestAlgorithm::Sha1
    );
    v.check_document("1.2.250.1.999.1.2.1.17", CDA).unwrap();
    assert!(v.check_document("1.2.250.1.999.1.2.1.17", b"x").is_err());
    // Tampering inside the manifest (even its whitespace, part of the inclusive node-set), and
    // the xml:lang that C14N 1.0 inherits from the parent into the SignedProperties.
    for (from, to) in [
        (
            "urn:oid:1.2.250.1.999.1.2.1.17",
            "urn:oid:1.2.250.1.999.1.2.1.18",
        ),
        (
            "<!-- the SubmissionSet -->\n      ",
            "<!-- the SubmissionSet -->\n     ",
        ),
        ("xml:lang=\"fr\"", "xml:lang=\"en\""),
    ] {
        assert!(xml.contains(from), "{from}");
        let t = xml.replacen(from, to, 1);
        assert!(
            !xmlsec1_verify_xades(t.as_bytes()).ok,
            "xmlsec1 accepted {from}"
        );
        assert!(
            matches!(
                verify_signature_document(t.as_bytes(), &trust_ca()),
                Err(XmlSigError::DigestMismatch { .. })
            ),
            "{from}"
        );
    }
}
