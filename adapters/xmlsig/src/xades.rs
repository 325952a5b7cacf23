//! The submission-set signature document of TD2.1 (dmp.md §4.6): an enveloping XAdES-BES
//! `ds:Signature` (IHE DSG form) signing an `IHEManifest` of the documents' digests and the XAdES
//! SignedProperties, with the ORG_SIGN key.
//!
//! Unlike the VIHF, this document is written in ordinary form, parsed back, and its two references
//! are digested with this crate's exc-c14n over the parsed tree.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::rand::SecureRandom;
use time::OffsetDateTime;

use crate::c14n::{C14nAlgorithm, Canonicalizer, as_text, parse};
use crate::cert::TrustAnchors;
use crate::dsig::{
    DS_NS, DigestAlgorithm, EXC_C14N, Policy, RSA_SHA256, SHA256, check_signature_value,
    decode_b64, digest_matches, element_children, find_by_id, is, parse_signature,
    reference_digest, sha256,
};
use crate::error::{XmlSigError, input, structure};
use crate::signer::Signer;
use crate::write::{attr, ncname, raw, required, text, utc_millis};

/// XAdES namespace used by the DMP clients observed (v1.1.1, dmp.md §4.6).
pub const XADES_NS: &str = "http://uri.etsi.org/01903/v1.1.1#";
/// Reference Type of the manifest.
pub const MANIFEST_TYPE: &str = "http://www.w3.org/2000/09/xmldsig#Manifest";
/// Reference Type of the SignedProperties.
pub const SIGNED_PROPERTIES_TYPE: &str = "http://uri.etsi.org/01903/v1.1.1#SignedProperties";
/// `Id` of the manifest.
pub const MANIFEST_ID: &str = "IHEManifest";
/// `Id` of the SignedProperties.
pub const SIGNED_PROPERTIES_ID: &str = "S0-SignedProperties";
/// purposeOfSignature: "Source" (ASTM E1762).
pub const PURPOSE_SOURCE: &str = "1.2.840.10065.1.12.1.14";
/// Placeholder digest of the SubmissionSet reference (as DRIM, dmp.md §4.6; undefined publicly).
pub const SUBMISSION_SET_DIGEST_PLACEHOLDER: &str = "AA==";

/// One document named by the manifest: its XDS uniqueId and the SHA-256 of its exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// XDS uniqueId (plain OID); written `urn:oid:{unique_id}`.
    pub unique_id: String,
    /// SHA-256 of the attachment bytes (hash once, keep with the blob).
    pub sha256: [u8; 32],
}

impl ManifestEntry {
    /// Hashes the document bytes.
    pub fn from_bytes(unique_id: &str, bytes: &[u8]) -> Self {
        ManifestEntry {
            unique_id: unique_id.to_string(),
            sha256: sha256(bytes),
        }
    }
}

/// Inputs of [`build_signature_document`].
#[derive(Debug, Clone)]
pub struct SignatureDocumentInput {
    /// `ds:Signature/@Id`, also the `Target` of purposeOfSignature and QualifyingProperties
    /// (an NCName: use the signature DocumentEntry's symbolic id or a `_`-prefixed id).
    pub signature_id: String,
    /// SigningTime (= IssueInstant = document times, dmp.md §1.4).
    pub signing_time: OffsetDateTime,
    /// The SubmissionSet uniqueId (plain OID).
    pub submission_set_unique_id: String,
    /// The documents of the submission (at least one).
    pub documents: Vec<ManifestEntry>,
}

fn oid(field: &'static str, s: &str) -> Result<(), XmlSigError> {
    required(field, s)?;
    if !s
        .split('.')
        .all(|arc| !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(input(field, "is not a plain dotted OID"));
    }
    Ok(())
}

fn manifest_reference(out: &mut Vec<u8>, uri: &str, digest_b64: &str) -> Result<(), XmlSigError> {
    raw(out, "<ds:Reference");
    attr(out, "URI", "unique_id", uri)?;
    raw(out, "><ds:DigestMethod Algorithm=\"");
    raw(out, SHA256);
    raw(out, "\"></ds:DigestMethod><ds:DigestValue>");
    raw(out, digest_b64);
    raw(out, "</ds:DigestValue></ds:Reference>");
    Ok(())
}

fn signed_info_reference(out: &mut Vec<u8>, ref_type: &str, id: &str, digest: &[u8; 32]) {
    raw(out, "<ds:Reference Type=\"");
    raw(out, ref_type);
    raw(out, "\" URI=\"#");
    raw(out, id);
    raw(out, "\"><ds:Transforms><ds:Transform Algorithm=\"");
    raw(out, EXC_C14N);
    raw(
        out,
        "\"></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm=\"",
    );
    raw(out, SHA256);
    raw(out, "\"></ds:DigestMethod><ds:DigestValue>");
    raw(out, &B64.encode(digest));
    raw(out, "</ds:DigestValue></ds:Reference>");
}

/// Builds and signs the signature document; returns its bytes (UTF-8, no XML declaration).
pub fn build_signature_document(
    v: &SignatureDocumentInput,
    signer: &Signer,
    rng: &dyn SecureRandom,
) -> Result<Vec<u8>, XmlSigError> {
    ncname("signature_id", &v.signature_id)?;
    oid("submission_set_unique_id", &v.submission_set_unique_id)?;
    if v.documents.is_empty() {
        return Err(input("documents", "at least one document is required"));
    }
    for d in &v.documents {
        oid("documents.unique_id", &d.unique_id)?;
    }
    let time = utc_millis("signing_time", v.signing_time)?;
    let cert = signer.cert();

    // Everything after KeyInfo: the three ds:Object elements.
    let mut objects = Vec::with_capacity(2048);
    raw(
        &mut objects,
        "<ds:Object><ds:SignatureProperties><ds:SignatureProperty Id=\"purposeOfSignature\"",
    );
    attr(
        &mut objects,
        "Target",
        "signature_id",
        &format!("#{}", v.signature_id),
    )?;
    raw(&mut objects, ">");
    raw(&mut objects, PURPOSE_SOURCE);
    raw(
        &mut objects,
        "</ds:SignatureProperty></ds:SignatureProperties></ds:Object><ds:Object><ds:Manifest Id=\"",
    );
    raw(&mut objects, MANIFEST_ID);
    raw(&mut objects, "\">");
    manifest_reference(
        &mut objects,
        &format!("urn:oid:{}", v.submission_set_unique_id),
        SUBMISSION_SET_DIGEST_PLACEHOLDER,
    )?;
    for d in &v.documents {
        manifest_reference(
            &mut objects,
            &format!("urn:oid:{}", d.unique_id),
            &B64.encode(d.sha256),
        )?;
    }
    raw(
        &mut objects,
        "</ds:Manifest></ds:Object><ds:Object><xades:QualifyingProperties xmlns:xades=\"",
    );
    raw(&mut objects, XADES_NS);
    raw(&mut objects, "\"");
    attr(
        &mut objects,
        "Target",
        "signature_id",
        &format!("#{}", v.signature_id),
    )?;
    raw(&mut objects, "><xades:SignedProperties Id=\"");
    raw(&mut objects, SIGNED_PROPERTIES_ID);
    raw(
        &mut objects,
        "\"><xades:SignedSignatureProperties><xades:SigningTime>",
    );
    raw(&mut objects, &time);
    raw(
        &mut objects,
        "</xades:SigningTime><xades:SigningCertificate><xades:Cert><xades:CertDigest><xades:DigestMethod Algorithm=\"",
    );
    raw(&mut objects, SHA256);
    raw(&mut objects, "\"></xades:DigestMethod><xades:DigestValue>");
    raw(&mut objects, &B64.encode(sha256(&cert.der)));
    raw(
        &mut objects,
        "</xades:DigestValue></xades:CertDigest><xades:IssuerSerial><ds:X509IssuerName>",
    );
    text(&mut objects, "certificate issuer", &cert.issuer_rfc4514)?;
    raw(&mut objects, "</ds:X509IssuerName><ds:X509SerialNumber>");
    raw(&mut objects, &cert.serial_decimal);
    raw(
        &mut objects,
        "</ds:X509SerialNumber></xades:IssuerSerial></xades:Cert></xades:SigningCertificate>\
         <xades:SignaturePolicyIdentifier><xades:SignaturePolicyImplied></xades:SignaturePolicyImplied>\
         </xades:SignaturePolicyIdentifier></xades:SignedSignatureProperties>\
         <xades:SignedDataObjectProperties></xades:SignedDataObjectProperties></xades:SignedProperties>\
         </xades:QualifyingProperties></ds:Object></ds:Signature>",
    );

    let mut start = Vec::with_capacity(128);
    raw(&mut start, "<ds:Signature xmlns:ds=\"");
    raw(&mut start, DS_NS);
    raw(&mut start, "\"");
    attr(&mut start, "Id", "signature_id", &v.signature_id)?;
    raw(&mut start, ">");
    let mut key_info = Vec::with_capacity(cert.b64.len() + 128);
    raw(
        &mut key_info,
        "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>",
    );
    raw(&mut key_info, &cert.b64);
    raw(
        &mut key_info,
        "</ds:X509Certificate></ds:X509Data></ds:KeyInfo>",
    );

    // Digest the two targets in their final context (the SignedInfo/SignatureValue content does
    // not influence the exc-c14n of the Objects).
    let mut draft = start.clone();
    raw(
        &mut draft,
        "<ds:SignedInfo></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue>",
    );
    draft.extend_from_slice(&key_info);
    draft.extend_from_slice(&objects);
    let draft_text = std::str::from_utf8(&draft).map_err(|_| XmlSigError::NotUtf8)?;
    let doc = parse(draft_text, false)?;
    let c = Canonicalizer::new(C14nAlgorithm::Exclusive, false, &[], None);
    let digest_of = |id: &str| -> Result<[u8; 32], XmlSigError> {
        let node = find_by_id(&doc, "Id", id)?;
        let mut buf = Vec::with_capacity(2048);
        c.subtree(node, &mut buf)?;
        Ok(sha256(&buf))
    };
    let manifest_digest = digest_of(MANIFEST_ID)?;
    let props_digest = digest_of(SIGNED_PROPERTIES_ID)?;

    let mut body = Vec::with_capacity(1024);
    raw(&mut body, "<ds:CanonicalizationMethod Algorithm=\"");
    raw(&mut body, EXC_C14N);
    raw(
        &mut body,
        "\"></ds:CanonicalizationMethod><ds:SignatureMethod Algorithm=\"",
    );
    raw(&mut body, RSA_SHA256);
    raw(&mut body, "\"></ds:SignatureMethod>");
    signed_info_reference(&mut body, MANIFEST_TYPE, MANIFEST_ID, &manifest_digest);
    signed_info_reference(
        &mut body,
        SIGNED_PROPERTIES_TYPE,
        SIGNED_PROPERTIES_ID,
        &props_digest,
    );
    raw(&mut body, "</ds:SignedInfo>");
    let mut canonical_si = Vec::with_capacity(body.len() + 64);
    raw(&mut canonical_si, "<ds:SignedInfo xmlns:ds=\"");
    raw(&mut canonical_si, DS_NS);
    raw(&mut canonical_si, "\">");
    canonical_si.extend_from_slice(&body);
    let sig = signer.sign(rng, &canonical_si)?;

    let mut out = start;
    raw(&mut out, "<ds:SignedInfo>");
    out.extend_from_slice(&body);
    raw(&mut out, "<ds:SignatureValue>");
    raw(&mut out, &B64.encode(sig));
    raw(&mut out, "</ds:SignatureValue>");
    out.extend_from_slice(&key_info);
    out.extend_from_slice(&objects);
    Ok(out)
}

/// One manifest reference of a verified signature document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestReference {
    /// the URI with `urn:oid:` removed
    pub unique_id: String,
    /// the DigestMethod (SHA-256; SHA-1 in legacy documents)
    pub digest_algorithm: DigestAlgorithm,
    /// the DigestValue
    pub digest: Vec<u8>,
}

/// What a verified signature document signs.
#[derive(Debug, Clone)]
pub struct VerifiedSignatureDocument {
    /// `ds:Signature/@Id`
    pub signature_id: String,
    /// `xades:SigningTime` as written
    pub signing_time: String,
    /// the first manifest reference (the SubmissionSet, placeholder digest)
    pub submission_set_unique_id: String,
    /// the other manifest references: the documents
    pub documents: Vec<ManifestReference>,
    /// KeyInfo certificate (DER), bound by xades:SigningCertificate
    pub certificate_der: Vec<u8>,
    /// its validity window, for the caller's clock
    pub certificate_not_before: OffsetDateTime,
    /// its validity window, for the caller's clock
    pub certificate_not_after: OffsetDateTime,
}

impl VerifiedSignatureDocument {
    /// Checks a received document against its manifest digest (core validation does not check
    /// manifest references: the verifier must).
    pub fn check_document(&self, unique_id: &str, bytes: &[u8]) -> Result<(), XmlSigError> {
        let entry = self
            .documents
            .iter()
            .find(|d| d.unique_id == unique_id)
            .ok_or(structure(
                "ds:Manifest",
                "document not named by the manifest",
            ))?;
        if !digest_matches(&entry.digest, &entry.digest_algorithm.digest(bytes)) {
            return Err(XmlSigError::DigestMismatch {
                reference: "manifest document",
            });
        }
        Ok(())
    }
}

/// Verifies a submission-set signature document (root `ds:Signature`, references to a
/// `ds:Manifest` and to `xades:SignedProperties`) and returns its manifest and signing time.
///
/// Accepts what [`build_signature_document`] writes (exc-c14n, RSA-SHA256, SHA-256) and the
/// legacy form of observed DMP clients (C14N 1.0 with or without comments, SHA-1, RSA-SHA1).
pub fn verify_signature_document(
    xml: &[u8],
    trust: &TrustAnchors,
) -> Result<VerifiedSignatureDocument, XmlSigError> {
    const S: &str = "ds:Signature";
    let doc = parse(as_text(xml)?, false)?;
    let root = doc.root_element();
    if !is(root, DS_NS, "Signature") {
        return Err(structure(S, "not the document element"));
    }
    let signature_id = root.attribute("Id").ok_or(structure(S, "missing Id"))?;
    let sig = parse_signature(root, Policy::AcceptLegacy)?;
    let mut manifest = None;
    let mut props = None;
    for r in &sig.references {
        let id = r
            .uri
            .strip_prefix('#')
            .ok_or(structure("ds:Reference", "not a same-document reference"))?;
        let target = find_by_id(&doc, "Id", id)?;
        let digest = reference_digest(target, r, root)?;
        let (slot, expected_type, ns, name, label) = if is(target, DS_NS, "Manifest") {
            (&mut manifest, MANIFEST_TYPE, DS_NS, "Manifest", "manifest")
        } else {
            (
                &mut props,
                SIGNED_PROPERTIES_TYPE,
                XADES_NS,
                "SignedProperties",
                "signed properties",
            )
        };
        if !is(target, ns, name) || r.ref_type != Some(expected_type) || slot.is_some() {
            return Err(structure("ds:Reference", "unexpected target or Type"));
        }
        if !digest_matches(&r.digest_value, &digest) {
            return Err(XmlSigError::DigestMismatch { reference: label });
        }
        *slot = Some(target);
    }
    let (Some(manifest), Some(props)) = (manifest, props) else {
        return Err(structure(
            "ds:SignedInfo",
            "must reference the manifest and the SignedProperties",
        ));
    };
    // Both targets must belong to this signature's Objects (no foreign content signed).
    for t in [manifest, props] {
        if !t
            .ancestors()
            .any(|a| sig.objects.iter().any(|o| o.id() == a.id()))
        {
            return Err(structure(
                "ds:Reference",
                "target outside the signature's Objects",
            ));
        }
    }
    check_signature_value(&sig, trust)?;

    // SignedProperties: SigningTime and the certificate binding.
    let ssp = props
        .children()
        .find(|c| is(*c, XADES_NS, "SignedSignatureProperties"))
        .ok_or(structure(
            "xades:SignedProperties",
            "no SignedSignatureProperties",
        ))?;
    let signing_time = ssp
        .children()
        .find(|c| is(*c, XADES_NS, "SigningTime"))
        .and_then(|n| n.text())
        .ok_or(structure(
            "xades:SignedSignatureProperties",
            "no SigningTime",
        ))?
        .trim()
        .to_string();
    let cert_el = ssp
        .children()
        .find(|c| is(*c, XADES_NS, "SigningCertificate"))
        .and_then(|n| n.children().find(|c| is(*c, XADES_NS, "Cert")))
        .ok_or(structure("xades:SigningCertificate", "no Cert"))?;
    let cert_digest = cert_el
        .children()
        .find(|c| is(*c, XADES_NS, "CertDigest"))
        .ok_or(structure("xades:Cert", "no CertDigest"))?;
    let cd = element_children(cert_digest, "xades:CertDigest")?;
    let [dm, dv] = cd.as_slice() else {
        return Err(structure(
            "xades:CertDigest",
            "expected DigestMethod and DigestValue",
        ));
    };
    let cert_alg = dm
        .attribute("Algorithm")
        .and_then(|a| DigestAlgorithm::from_uri(a, Policy::AcceptLegacy))
        .ok_or(structure(
            "xades:DigestMethod",
            "unsupported digest algorithm",
        ))?;
    if !digest_matches(
        &decode_b64(*dv, "xades:DigestValue")?,
        &cert_alg.digest(&sig.cert.der),
    ) {
        return Err(XmlSigError::DigestMismatch {
            reference: "signing certificate",
        });
    }

    let mut refs = Vec::new();
    for r in element_children(manifest, "ds:Manifest")? {
        if !is(r, DS_NS, "Reference") {
            return Err(structure("ds:Manifest", "unexpected child element"));
        }
        let uri = r
            .attribute("URI")
            .ok_or(structure("ds:Reference", "missing URI"))?;
        let unique_id = uri
            .strip_prefix("urn:oid:")
            .ok_or(structure("ds:Reference", "manifest URI is not urn:oid"))?;
        let kids = element_children(r, "ds:Reference")?;
        let [dm, dv] = kids.as_slice() else {
            return Err(structure(
                "ds:Reference",
                "expected DigestMethod and DigestValue",
            ));
        };
        let digest_algorithm = dm
            .attribute("Algorithm")
            .filter(|_| is(*dm, DS_NS, "DigestMethod"))
            .and_then(|a| DigestAlgorithm::from_uri(a, Policy::AcceptLegacy))
            .ok_or(structure("ds:DigestMethod", "unsupported digest algorithm"))?;
        refs.push(ManifestReference {
            unique_id: unique_id.to_string(),
            digest_algorithm,
            digest: decode_b64(*dv, "ds:DigestValue")?,
        });
    }
    if refs.len() < 2 {
        return Err(structure(
            "ds:Manifest",
            "expected the SubmissionSet and a document",
        ));
    }
    let submission_set = refs.remove(0);
    Ok(VerifiedSignatureDocument {
        signature_id: signature_id.to_string(),
        signing_time,
        submission_set_unique_id: submission_set.unique_id,
        documents: refs,
        certificate_der: sig.cert.der.clone(),
        certificate_not_before: sig.cert.not_before,
        certificate_not_after: sig.cert.not_after,
    })
}
