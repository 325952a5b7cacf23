//! XML-DSig pieces shared by the VIHF and the XAdES document: algorithm URIs, strict parsing of a
//! `ds:Signature`, and core validation over this crate's exclusive c14n.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use roxmltree::{Document, Node};

use crate::c14n::{C14nAlgorithm, Canonicalizer};
use crate::cert::{CertInfo, TrustAnchors, verify_rsa};
use crate::error::{XmlSigError, structure};

pub(crate) const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub(crate) const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub(crate) const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub(crate) const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
pub(crate) const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const EXC_C14N_WC: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";
const C14N10: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
const C14N10_WC: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments";
pub(crate) const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";

/// Which algorithms a verifier accepts. Our own documents use only the strict set; the legacy set
/// (C14N 1.0, SHA-1, RSA-SHA1) exists because observed DMP clients write XAdES that way
/// (dmp.md §4.6: the simulator accepts both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    /// exc-c14n, SHA-256, RSA-SHA256 only (the VIHF: "No SHA-1").
    Strict,
    /// also C14N 1.0 (with or without comments), SHA-1 digests and RSA-SHA1 signatures.
    AcceptLegacy,
}

/// A digest algorithm of a Reference or of xades:CertDigest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgorithm {
    /// `http://www.w3.org/2001/04/xmlenc#sha256`
    Sha256,
    /// `http://www.w3.org/2000/09/xmldsig#sha1`, accepted only in legacy XAdES documents
    Sha1,
}

impl DigestAlgorithm {
    pub(crate) fn from_uri(uri: &str, policy: Policy) -> Option<Self> {
        match (uri, policy) {
            (SHA256, _) => Some(DigestAlgorithm::Sha256),
            (SHA1, Policy::AcceptLegacy) => Some(DigestAlgorithm::Sha1),
            _ => None,
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            DigestAlgorithm::Sha256 => &ring::digest::SHA256,
            DigestAlgorithm::Sha1 => &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        };
        ring::digest::digest(alg, data).as_ref().to_vec()
    }
}

/// (algorithm, with comments) of a canonicalization URI allowed by `policy`.
fn c14n_uri(uri: &str, policy: Policy) -> Option<(C14nAlgorithm, bool)> {
    match (uri, policy) {
        (EXC_C14N, _) => Some((C14nAlgorithm::Exclusive, false)),
        (EXC_C14N_WC, Policy::AcceptLegacy) => Some((C14nAlgorithm::Exclusive, true)),
        (C14N10, Policy::AcceptLegacy) => Some((C14nAlgorithm::Inclusive10, false)),
        (C14N10_WC, Policy::AcceptLegacy) => Some((C14nAlgorithm::Inclusive10, true)),
        _ => None,
    }
}

/// One `ds:Reference` of SignedInfo, as accepted by this crate.
pub(crate) struct ParsedReference<'a> {
    pub uri: &'a str,
    pub ref_type: Option<&'a str>,
    pub enveloped: bool,
    pub c14n: C14nAlgorithm,
    pub prefixes: Vec<&'a str>,
    pub digest_algorithm: DigestAlgorithm,
    pub digest_value: Vec<u8>,
}

/// A `ds:Signature` after structural checks (algorithms restricted to exc-c14n, RSA-SHA256,
/// SHA-256: anything else is refused, never downgraded).
pub(crate) struct ParsedSignature<'a, 'i> {
    pub signed_info: Node<'a, 'i>,
    pub signed_info_c14n: (C14nAlgorithm, bool),
    pub signed_info_prefixes: Vec<&'a str>,
    pub rsa_sha1: bool,
    pub references: Vec<ParsedReference<'a>>,
    pub signature_value: Vec<u8>,
    pub cert: CertInfo,
    /// Element children of ds:Signature after KeyInfo (the ds:Object elements).
    pub objects: Vec<Node<'a, 'i>>,
}

pub(crate) fn is(node: Node<'_, '_>, ns: &str, name: &str) -> bool {
    node.is_element() && node.tag_name().namespace() == Some(ns) && node.tag_name().name() == name
}

/// Element children; refuses non-whitespace text between them (mixed content is not DSig).
pub(crate) fn element_children<'a, 'i>(
    node: Node<'a, 'i>,
    element: &'static str,
) -> Result<Vec<Node<'a, 'i>>, XmlSigError> {
    let mut v = Vec::new();
    for c in node.children() {
        if c.is_element() {
            v.push(c);
        } else if c.is_text() && !c.text().unwrap_or("").trim().is_empty() {
            return Err(structure(element, "unexpected text content"));
        }
    }
    Ok(v)
}

pub(crate) fn decode_b64(
    node: Node<'_, '_>,
    element: &'static str,
) -> Result<Vec<u8>, XmlSigError> {
    let mut compact = String::new();
    for c in node.children() {
        if c.is_element() {
            return Err(structure(element, "unexpected child element"));
        }
        if c.is_text() {
            compact.extend(
                c.text()
                    .unwrap_or("")
                    .chars()
                    .filter(|ch| !ch.is_ascii_whitespace()),
            );
        }
    }
    B64.decode(compact.as_bytes())
        .map_err(|_| structure(element, "not base64"))
}

fn algorithm<'a>(node: Node<'a, '_>, element: &'static str) -> Result<&'a str, XmlSigError> {
    node.attribute("Algorithm")
        .ok_or(structure(element, "missing Algorithm"))
}

/// InclusiveNamespaces PrefixList of an exc-c14n method/transform element (none if absent).
fn inclusive_prefixes<'a>(
    node: Node<'a, '_>,
    element: &'static str,
) -> Result<Vec<&'a str>, XmlSigError> {
    let kids = element_children(node, element)?;
    match kids.as_slice() {
        [] => Ok(Vec::new()),
        [inc] if is(*inc, EXC_C14N, "InclusiveNamespaces") => Ok(inc
            .attribute("PrefixList")
            .unwrap_or("")
            .split_ascii_whitespace()
            .collect()),
        _ => Err(structure(element, "unexpected child element")),
    }
}

fn parse_reference<'a>(
    node: Node<'a, '_>,
    policy: Policy,
) -> Result<ParsedReference<'a>, XmlSigError> {
    const E: &str = "ds:Reference";
    let uri = node.attribute("URI").ok_or(structure(E, "missing URI"))?;
    let kids = element_children(node, E)?;
    let (transforms, rest) = match kids.split_first() {
        Some((t, rest)) if is(*t, DS_NS, "Transforms") => (Some(*t), rest),
        _ => (None, kids.as_slice()),
    };
    let mut enveloped = false;
    let mut prefixes = Vec::new();
    let mut c14n = None;
    if let Some(t) = transforms {
        for tr in element_children(t, "ds:Transforms")? {
            if !is(tr, DS_NS, "Transform") {
                return Err(structure("ds:Transforms", "unexpected child element"));
            }
            let alg = algorithm(tr, "ds:Transform")?;
            if alg == ENVELOPED && c14n.is_none() && !enveloped {
                // Enveloped must come before the c14n that serialises the node-set.
                enveloped = true;
            } else if let (Some((a, _)), None) = (c14n_uri(alg, policy), c14n) {
                // With or without comments is moot: a `#id` node-set has no comments.
                c14n = Some(a);
                if a == C14nAlgorithm::Exclusive {
                    prefixes = inclusive_prefixes(tr, "ds:Transform")?;
                }
            } else {
                return Err(structure("ds:Transform", "unsupported algorithm or order"));
            }
        }
    }
    let c14n = match (c14n, policy) {
        (Some(a), _) => a,
        // The default node-set serialisation is inclusive C14N 1.0 (legacy only).
        (None, Policy::AcceptLegacy) => C14nAlgorithm::Inclusive10,
        (None, Policy::Strict) => {
            return Err(structure(
                "ds:Transforms",
                "exclusive c14n transform required",
            ));
        }
    };
    let [dm, dv] = rest else {
        return Err(structure(E, "expected DigestMethod and DigestValue"));
    };
    if !is(*dm, DS_NS, "DigestMethod") || !is(*dv, DS_NS, "DigestValue") {
        return Err(structure(E, "expected DigestMethod and DigestValue"));
    }
    let digest_algorithm = DigestAlgorithm::from_uri(algorithm(*dm, "ds:DigestMethod")?, policy)
        .ok_or(structure("ds:DigestMethod", "unsupported digest algorithm"))?;
    Ok(ParsedReference {
        uri,
        ref_type: node.attribute("Type"),
        enveloped,
        c14n,
        prefixes,
        digest_algorithm,
        digest_value: decode_b64(*dv, "ds:DigestValue")?,
    })
}

pub(crate) fn parse_signature<'a, 'i>(
    sig: Node<'a, 'i>,
    policy: Policy,
) -> Result<ParsedSignature<'a, 'i>, XmlSigError> {
    const E: &str = "ds:Signature";
    let kids = element_children(sig, E)?;
    let (si, sv, ki, objects) = match kids.as_slice() {
        [si, sv, ki, objects @ ..] => (*si, *sv, *ki, objects.to_vec()),
        _ => return Err(structure(E, "expected SignedInfo, SignatureValue, KeyInfo")),
    };
    if !is(si, DS_NS, "SignedInfo") || !is(sv, DS_NS, "SignatureValue") || !is(ki, DS_NS, "KeyInfo")
    {
        return Err(structure(E, "expected SignedInfo, SignatureValue, KeyInfo"));
    }
    if objects.iter().any(|o| !is(*o, DS_NS, "Object")) {
        return Err(structure(E, "unexpected element after KeyInfo"));
    }
    let si_kids = element_children(si, "ds:SignedInfo")?;
    let [cm, sm, refs @ ..] = si_kids.as_slice() else {
        return Err(structure("ds:SignedInfo", "missing methods"));
    };
    if !is(*cm, DS_NS, "CanonicalizationMethod") {
        return Err(structure("ds:SignedInfo", "missing CanonicalizationMethod"));
    }
    let signed_info_c14n = c14n_uri(algorithm(*cm, "ds:CanonicalizationMethod")?, policy).ok_or(
        structure("ds:CanonicalizationMethod", "unsupported algorithm"),
    )?;
    if !is(*sm, DS_NS, "SignatureMethod") {
        return Err(structure("ds:SignedInfo", "missing SignatureMethod"));
    }
    let rsa_sha1 = match (algorithm(*sm, "ds:SignatureMethod")?, policy) {
        (RSA_SHA256, _) => false,
        (RSA_SHA1, Policy::AcceptLegacy) => true,
        _ => {
            return Err(structure("ds:SignatureMethod", "unsupported algorithm"));
        }
    };
    if refs.is_empty() {
        return Err(structure("ds:SignedInfo", "no Reference"));
    }
    let mut references = Vec::with_capacity(refs.len());
    for r in refs {
        if !is(*r, DS_NS, "Reference") {
            return Err(structure("ds:SignedInfo", "unexpected child element"));
        }
        references.push(parse_reference(*r, policy)?);
    }
    // KeyInfo: exactly one X509Data carrying the signing certificate first.
    let ki_kids = element_children(ki, "ds:KeyInfo")?;
    let x509data = ki_kids
        .iter()
        .find(|n| is(**n, DS_NS, "X509Data"))
        .ok_or(structure("ds:KeyInfo", "no X509Data"))?;
    let cert_node = element_children(*x509data, "ds:X509Data")?
        .into_iter()
        .find(|n| is(*n, DS_NS, "X509Certificate"))
        .ok_or(structure("ds:X509Data", "no X509Certificate"))?;
    let cert = CertInfo::from_der(&decode_b64(cert_node, "ds:X509Certificate")?)?;
    Ok(ParsedSignature {
        signed_info: si,
        signed_info_c14n,
        signed_info_prefixes: if signed_info_c14n.0 == C14nAlgorithm::Exclusive {
            inclusive_prefixes(*cm, "ds:CanonicalizationMethod")?
        } else {
            Vec::new()
        },
        rsa_sha1,
        references,
        signature_value: decode_b64(sv, "ds:SignatureValue")?,
        cert,
        objects,
    })
}

/// The single element whose attribute `attr` (no namespace) equals `value`; a duplicate is an
/// error, since two candidates are how signature-wrapping attacks work.
pub(crate) fn find_by_id<'a, 'i>(
    doc: &'a Document<'i>,
    attr: &str,
    value: &str,
) -> Result<Node<'a, 'i>, XmlSigError> {
    let mut found = None;
    for n in doc.descendants().filter(|n| n.is_element()) {
        if n.attribute(attr) == Some(value) {
            if found.is_some() {
                return Err(structure("reference target", "identifier is not unique"));
            }
            found = Some(n);
        }
    }
    found.ok_or(structure("reference target", "identifier not found"))
}

/// Digest of a same-document reference's target: c14n (minus the signature if enveloped).
pub(crate) fn reference_digest(
    target: Node<'_, '_>,
    reference: &ParsedReference<'_>,
    signature: Node<'_, '_>,
) -> Result<Vec<u8>, XmlSigError> {
    let exclude = reference.enveloped.then(|| signature.id());
    let c = Canonicalizer::new(reference.c14n, false, &reference.prefixes, exclude);
    let mut out = Vec::with_capacity(4096);
    c.subtree(target, &mut out)?;
    Ok(reference.digest_algorithm.digest(&out))
}

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    let mut a = [0u8; 32];
    a.copy_from_slice(d.as_ref());
    a
}

/// SignatureValue over the canonical SignedInfo, then the certificate's trust.
pub(crate) fn check_signature_value(
    sig: &ParsedSignature<'_, '_>,
    trust: &TrustAnchors,
) -> Result<(), XmlSigError> {
    let (alg, with_comments) = sig.signed_info_c14n;
    let c = Canonicalizer::new(alg, with_comments, &sig.signed_info_prefixes, None);
    let mut si = Vec::with_capacity(1024);
    c.subtree(sig.signed_info, &mut si)?;
    verify_rsa(&sig.cert, &si, &sig.signature_value, sig.rsa_sha1)?;
    trust.check(&sig.cert.der)
}

/// A short digest comparison helper (digests are public values, no constant time needed).
pub(crate) fn digest_matches(expected: &[u8], actual: &[u8]) -> bool {
    expected == actual
}
