//! XML-DSig pieces shared by the VIHF and the XAdES document: algorithm URIs, strict parsing of a
//! `ds:Signature`, and core validation over this crate's exclusive c14n.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use roxmltree::{Document, Node};

use crate::c14n::Canonicalizer;
use crate::cert::{CertInfo, TrustAnchors, verify_rsa_sha256};
use crate::error::{XmlSigError, structure};

pub(crate) const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub(crate) const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub(crate) const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub(crate) const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
pub(crate) const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

/// One `ds:Reference` of SignedInfo, as accepted by this crate.
pub(crate) struct ParsedReference<'a> {
    pub uri: &'a str,
    pub ref_type: Option<&'a str>,
    pub enveloped: bool,
    pub prefixes: Vec<&'a str>,
    pub digest_value: Vec<u8>,
}

/// A `ds:Signature` after structural checks (algorithms restricted to exc-c14n, RSA-SHA256,
/// SHA-256: anything else is refused, never downgraded).
pub(crate) struct ParsedSignature<'a, 'i> {
    pub signed_info: Node<'a, 'i>,
    pub signed_info_prefixes: Vec<&'a str>,
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

pub(crate) fn decode_b64(node: Node<'_, '_>, element: &'static str) -> Result<Vec<u8>, XmlSigError> {
    let mut compact = String::new();
    for c in node.children() {
        if c.is_element() {
            return Err(structure(element, "unexpected child element"));
        }
        if c.is_text() {
            compact.extend(c.text().unwrap_or("").chars().filter(|ch| !ch.is_ascii_whitespace()));
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

fn parse_reference<'a>(node: Node<'a, '_>) -> Result<ParsedReference<'a>, XmlSigError> {
    const E: &str = "ds:Reference";
    let uri = node.attribute("URI").ok_or(structure(E, "missing URI"))?;
    let kids = element_children(node, E)?;
    let (transforms, rest) = match kids.split_first() {
        Some((t, rest)) if is(*t, DS_NS, "Transforms") => (Some(*t), rest),
        _ => (None, kids.as_slice()),
    };
    let mut enveloped = false;
    let mut prefixes = Vec::new();
    let mut exc_seen = false;
    if let Some(t) = transforms {
        for tr in element_children(t, "ds:Transforms")? {
            if !is(tr, DS_NS, "Transform") {
                return Err(structure("ds:Transforms", "unexpected child element"));
            }
            match algorithm(tr, "ds:Transform")? {
                // Enveloped must come before the c14n that serialises the node-set.
                ENVELOPED if !exc_seen && !enveloped => enveloped = true,
                EXC_C14N if !exc_seen => {
                    exc_seen = true;
                    prefixes = inclusive_prefixes(tr, "ds:Transform")?;
                }
                _ => return Err(structure("ds:Transform", "unsupported algorithm or order")),
            }
        }
    }
    if !exc_seen {
        // Without an explicit exc-c14n the default would be inclusive C14N 1.0: not supported.
        return Err(structure("ds:Transforms", "exclusive c14n transform required"));
    }
    let [dm, dv] = rest else {
        return Err(structure(E, "expected DigestMethod and DigestValue"));
    };
    if !is(*dm, DS_NS, "DigestMethod") || !is(*dv, DS_NS, "DigestValue") {
        return Err(structure(E, "expected DigestMethod and DigestValue"));
    }
    if algorithm(*dm, "ds:DigestMethod")? != SHA256 {
        return Err(structure("ds:DigestMethod", "only SHA-256 is accepted"));
    }
    Ok(ParsedReference {
        uri,
        ref_type: node.attribute("Type"),
        enveloped,
        prefixes,
        digest_value: decode_b64(*dv, "ds:DigestValue")?,
    })
}

pub(crate) fn parse_signature<'a, 'i>(
    sig: Node<'a, 'i>,
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
    if !is(*cm, DS_NS, "CanonicalizationMethod")
        || algorithm(*cm, "ds:CanonicalizationMethod")? != EXC_C14N
    {
        return Err(structure("ds:CanonicalizationMethod", "only exclusive c14n is accepted"));
    }
    if !is(*sm, DS_NS, "SignatureMethod") || algorithm(*sm, "ds:SignatureMethod")? != RSA_SHA256 {
        return Err(structure("ds:SignatureMethod", "only RSA-SHA256 is accepted"));
    }
    if refs.is_empty() {
        return Err(structure("ds:SignedInfo", "no Reference"));
    }
    let mut references = Vec::with_capacity(refs.len());
    for r in refs {
        if !is(*r, DS_NS, "Reference") {
            return Err(structure("ds:SignedInfo", "unexpected child element"));
        }
        references.push(parse_reference(*r)?);
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
        signed_info_prefixes: inclusive_prefixes(*cm, "ds:CanonicalizationMethod")?,
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

/// Digest of a same-document reference's target: exc-c14n (minus the signature if enveloped).
pub(crate) fn reference_digest(
    target: Node<'_, '_>,
    reference: &ParsedReference<'_>,
    signature: Node<'_, '_>,
) -> Result<[u8; 32], XmlSigError> {
    let exclude = reference.enveloped.then(|| signature.id());
    let c = Canonicalizer::new(false, &reference.prefixes, exclude);
    let mut out = Vec::with_capacity(4096);
    c.subtree(target, &mut out)?;
    Ok(sha256(&out))
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
    let c = Canonicalizer::new(false, &sig.signed_info_prefixes, None);
    let mut si = Vec::with_capacity(1024);
    c.subtree(sig.signed_info, &mut si)?;
    verify_rsa_sha256(&sig.cert, &si, &sig.signature_value)?;
    trust.check(&sig.cert.der)
}

/// A short digest comparison helper (digests are public values, no constant time needed).
pub(crate) fn digest_matches(expected: &[u8], actual: &[u8; 32]) -> bool {
    expected == actual.as_slice()
}
