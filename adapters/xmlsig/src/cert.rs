//! Certificate facts the signatures need (DN strings, serial, digest, public key) and the trust check
//! of a KeyInfo certificate.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

use crate::error::XmlSigError;

/// What the builders and verifiers read from a certificate, extracted once.
#[derive(Debug, Clone)]
pub(crate) struct CertInfo {
    pub der: Vec<u8>,
    pub b64: String,
    /// Subject DN, RDNs in certificate order joined by ", " (the VIHF Issuer, dmp.md §2.4).
    pub subject_cert_order: String,
    /// Issuer DN in RFC 4514 order (most specific first), for ds:X509IssuerName.
    pub issuer_rfc4514: String,
    /// Serial number in decimal, for ds:X509SerialNumber.
    pub serial_decimal: String,
    /// PKCS#1 RSAPublicKey DER (the subjectPublicKey bits).
    pub rsa_public_key: Vec<u8>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

fn parse_cert(der: &[u8]) -> Result<X509Certificate<'_>, XmlSigError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(XmlSigError::Certificate(
            "trailing bytes after the DER certificate",
        )),
        Err(_) => Err(XmlSigError::Certificate("not a DER X.509 certificate")),
    }
}

const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";

/// (tag, whole element, content, rest)
type Tlv<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

/// One DER TLV at the start of `b`. Single-byte tags, definite lengths.
fn tlv(b: &[u8]) -> Option<Tlv<'_>> {
    let (&tag, rest) = b.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &x| (acc << 8) | usize::from(x));
        (len, 2 + n)
    };
    let total = header.checked_add(len)?;
    if b.len() < total {
        return None;
    }
    Some((tag, &b[..total], &b[header..total], &b[total..]))
}

/// RFC 5280 §4.1.1.2: the outer signatureAlgorithm must equal the TBS `signature` field. The
/// parser is lenient about the outer, unsigned fields; this keeps a KeyInfo certificate from being
/// re-encoded without detection.
fn check_outer_structure(der: &[u8]) -> Option<()> {
    let (0x30, _, cert, []) = tlv(der)? else {
        return None;
    };
    let (0x30, _, tbs, rest) = tlv(cert)? else {
        return None;
    };
    let (0x30, outer_alg, _, rest) = tlv(rest)? else {
        return None;
    };
    // The signature BIT STRING has no unused bits (they are not covered by anything).
    let (0x03, _, [0, ..], []) = tlv(rest)? else {
        return None;
    };
    let (tag, _, _, after) = tlv(tbs)?;
    // Optional [0] version, then the serial number, then the signature algorithm.
    let rest = if tag == 0xa0 { after } else { tbs };
    let (0x02, _, _, rest) = tlv(rest)? else {
        return None;
    };
    let (0x30, tbs_alg, _, _) = tlv(rest)? else {
        return None;
    };
    (tbs_alg == outer_alg).then_some(())
}

impl CertInfo {
    pub(crate) fn from_der(der: &[u8]) -> Result<Self, XmlSigError> {
        let cert = parse_cert(der)?;
        check_outer_structure(der).ok_or(XmlSigError::Certificate(
            "outer structure is not strict DER (signatureAlgorithm differs from the TBS one)",
        ))?;
        let spki = cert.public_key();
        if spki.algorithm.algorithm.to_id_string() != RSA_ENCRYPTION {
            return Err(XmlSigError::Certificate("public key is not RSA"));
        }
        Ok(CertInfo {
            der: der.to_vec(),
            b64: B64.encode(der),
            subject_cert_order: dn_string(cert.subject(), false)?,
            issuer_rfc4514: dn_string(cert.issuer(), true)?,
            serial_decimal: cert.tbs_certificate.serial.to_string(),
            rsa_public_key: spki.subject_public_key.data.to_vec(),
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
        })
    }
}

fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.6" => "C",
        "2.5.4.8" => "ST",
        "2.5.4.7" => "L",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.3" => "CN",
        "2.5.4.5" => "SERIALNUMBER",
        "2.5.4.9" => "STREET",
        "2.5.4.12" => "T",
        "2.5.4.4" => "SURNAME",
        "2.5.4.42" => "GIVENNAME",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        "1.2.840.113549.1.9.1" => "EMAILADDRESS",
        _ => return None,
    })
}

/// `KEY=value` pairs joined by ", " (multi-valued RDNs by "+"), values escaped per RFC 4514.
fn dn_string(name: &X509Name<'_>, reverse: bool) -> Result<String, XmlSigError> {
    let mut rdns: Vec<String> = Vec::new();
    for rdn in name.iter_rdn() {
        let mut parts: Vec<String> = Vec::new();
        for atv in rdn.iter() {
            let oid = atv.attr_type().to_id_string();
            let key = match short_name(&oid) {
                Some(k) => k.to_string(),
                None => format!("OID.{oid}"),
            };
            let value = atv
                .as_str()
                .map_err(|_| XmlSigError::Certificate("DN attribute value is not a string"))?;
            parts.push(format!("{key}={}", escape_dn_value(value)));
        }
        rdns.push(parts.join("+"));
    }
    if reverse {
        rdns.reverse();
    }
    Ok(rdns.join(", "))
}

fn escape_dn_value(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

/// Which KeyInfo certificates a verifier accepts.
///
/// A certificate is trusted when it is byte-identical to a pinned one, or when it is directly
/// issued (name match + valid signature) by one of the issuing CAs. Pass intermediates as issuing
/// CAs when the signer is below one. Validity dates are returned to the caller, who owns the clock.
#[derive(Debug, Clone, Default)]
pub struct TrustAnchors {
    pinned: Vec<Vec<u8>>,
    issuers: Vec<Vec<u8>>,
}

impl TrustAnchors {
    /// No anchors: every certificate is refused.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts this exact certificate (DER).
    pub fn pin_certificate(mut self, der: Vec<u8>) -> Result<Self, XmlSigError> {
        parse_cert(&der)?;
        self.pinned.push(der);
        Ok(self)
    }

    /// Trusts certificates issued by this CA certificate (DER).
    pub fn add_issuing_ca(mut self, der: Vec<u8>) -> Result<Self, XmlSigError> {
        parse_cert(&der)?;
        self.issuers.push(der);
        Ok(self)
    }

    pub(crate) fn check(&self, leaf_der: &[u8]) -> Result<(), XmlSigError> {
        if self.pinned.iter().any(|p| p.as_slice() == leaf_der) {
            return Ok(());
        }
        let leaf = parse_cert(leaf_der)?;
        for ca_der in &self.issuers {
            let ca = parse_cert(ca_der)?;
            if leaf.issuer().as_raw() == ca.subject().as_raw()
                && leaf.verify_signature(Some(ca.public_key())).is_ok()
            {
                return Ok(());
            }
        }
        Err(XmlSigError::Untrusted(
            "KeyInfo certificate is neither pinned nor issued by a trusted CA",
        ))
    }
}

/// Verifies an RSA PKCS#1 v1.5 signature (SHA-256, or SHA-1 for legacy XAdES) with the
/// certificate's key.
pub(crate) fn verify_rsa(
    cert: &CertInfo,
    message: &[u8],
    signature: &[u8],
    sha1: bool,
) -> Result<(), XmlSigError> {
    let alg = if sha1 {
        &ring::signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY
    } else {
        &ring::signature::RSA_PKCS1_2048_8192_SHA256
    };
    let key = ring::signature::UnparsedPublicKey::new(alg, &cert.rsa_public_key);
    key.verify(message, signature)
        .map_err(|_| XmlSigError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::escape_dn_value;

    #[test]
    fn dn_escaping() {
        assert_eq!(escape_dn_value("A, B"), "A\\, B");
        assert_eq!(escape_dn_value("#x "), "\\#x\\ ");
        assert_eq!(escape_dn_value("plain"), "plain");
    }
}
