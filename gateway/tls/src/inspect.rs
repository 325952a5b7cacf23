//! Certificate inspection for WhoAmI and `check-config`.

use std::fmt::Write as _;
use std::net::IpAddr;

use time::OffsetDateTime;
use x509_parser::prelude::{
    DistributionPointName, FromDer, GeneralName, ParsedExtension, X509Certificate, X509Name,
};

use crate::TlsError;

/// keyUsage bits (RFC 5280 §4.2.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyUsage {
    DigitalSignature,
    NonRepudiation,
    KeyEncipherment,
    DataEncipherment,
    KeyAgreement,
    KeyCertSign,
    CrlSign,
    EncipherOnly,
    DecipherOnly,
}

impl KeyUsage {
    pub fn name(self) -> &'static str {
        match self {
            KeyUsage::DigitalSignature => "digitalSignature",
            KeyUsage::NonRepudiation => "nonRepudiation",
            KeyUsage::KeyEncipherment => "keyEncipherment",
            KeyUsage::DataEncipherment => "dataEncipherment",
            KeyUsage::KeyAgreement => "keyAgreement",
            KeyUsage::KeyCertSign => "keyCertSign",
            KeyUsage::CrlSign => "cRLSign",
            KeyUsage::EncipherOnly => "encipherOnly",
            KeyUsage::DecipherOnly => "decipherOnly",
        }
    }
}

/// What WhoAmI and `check-config` show about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject DN in certificate RDN order, e.g. `C=FR, O=MECS Les Tilleuls, OU=1930004130, CN=…`.
    pub subject: String,
    pub issuer: String,
    /// Upper-case hex, no separators.
    pub serial_hex: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// Empty when the extension is absent.
    pub key_usage: Vec<KeyUsage>,
    /// `None` when the extension is absent (any usage); names like `clientAuth`, else dotted OIDs.
    pub extended_key_usage: Option<Vec<String>>,
    pub san_emails: Vec<String>,
    pub san_dns: Vec<String>,
    pub san_ips: Vec<IpAddr>,
    pub is_ca: bool,
    /// URIs of the CRL distribution points (where the CRL refresher fetches).
    pub crl_distribution_points: Vec<String>,
    /// Subject attribute values by short name, first occurrence (e.g. `CN`, `O`, `OU`).
    pub subject_cn: Option<String>,
    pub subject_o: Option<String>,
    pub subject_ou: Option<String>,
    /// SHA-256 of the DER, lower-case hex with `:` (Postfix `relay_clientcerts` style).
    pub sha256_fingerprint: String,
    /// e.g. `RSA 2048`, `EC`.
    pub public_key: String,
}

fn attr_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.6" => "C",
        "2.5.4.8" => "ST",
        "2.5.4.7" => "L",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.42" => "GN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.12" => "title",
        "2.5.4.97" => "organizationIdentifier",
        "1.2.840.113549.1.9.1" => "emailAddress",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// RFC 4514 escaping of one value, so that `,` or `+` in a structure name stays unambiguous.
fn escape(v: &str, out: &mut String) {
    let n = v.chars().count();
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i + 1 == n && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
}

/// A DN in certificate RDN order joined by `", "` (multi-valued RDNs by `"+"`), known attributes
/// by short name, others by dotted OID, non-string values as `#hex`.
pub fn format_dn(name: &X509Name<'_>) -> String {
    let mut out = String::new();
    for (i, rdn) in name.iter_rdn().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        for (j, atv) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let oid = atv.attr_type().to_id_string();
            out.push_str(attr_name(&oid).unwrap_or(&oid));
            out.push('=');
            match atv.as_str() {
                Ok(s) => escape(s, &mut out),
                Err(_) => {
                    out.push('#');
                    for b in atv.attr_value().data.iter() {
                        let _ = write!(out, "{b:02x}");
                    }
                }
            }
        }
    }
    out
}

fn first_attr(name: &X509Name<'_>, oid: &str) -> Option<String> {
    name.iter_attributes()
        .find(|a| a.attr_type().to_id_string() == oid)
        .and_then(|a| a.as_str().ok().map(str::to_owned))
}

fn eku_name(oid: &str) -> String {
    match oid {
        "1.3.6.1.5.5.7.3.1" => "serverAuth",
        "1.3.6.1.5.5.7.3.2" => "clientAuth",
        "1.3.6.1.5.5.7.3.3" => "codeSigning",
        "1.3.6.1.5.5.7.3.4" => "emailProtection",
        "1.3.6.1.5.5.7.3.8" => "timeStamping",
        "1.3.6.1.5.5.7.3.9" => "OCSPSigning",
        "2.5.29.37.0" => "anyExtendedKeyUsage",
        other => return other.to_owned(),
    }
    .to_owned()
}

pub(crate) fn parse(der: &[u8]) -> Result<X509Certificate<'_>, TlsError> {
    X509Certificate::from_der(der)
        .map(|(_, x)| x)
        .map_err(|e| TlsError::Certificate {
            what: "certificate".into(),
            reason: e.to_string(),
        })
}

/// Parses a DER certificate into [`CertInfo`].
pub fn inspect(der: &[u8]) -> Result<CertInfo, TlsError> {
    let x = parse(der)?;
    let bad_ext = |ext: &str, e: x509_parser::error::X509Error| TlsError::Certificate {
        what: format!("certificate {ext} extension"),
        reason: e.to_string(),
    };
    let mut key_usage = Vec::new();
    if let Some(ku) = x.key_usage().map_err(|e| bad_ext("keyUsage", e))? {
        let k = ku.value;
        for (on, u) in [
            (k.digital_signature(), KeyUsage::DigitalSignature),
            (k.non_repudiation(), KeyUsage::NonRepudiation),
            (k.key_encipherment(), KeyUsage::KeyEncipherment),
            (k.data_encipherment(), KeyUsage::DataEncipherment),
            (k.key_agreement(), KeyUsage::KeyAgreement),
            (k.key_cert_sign(), KeyUsage::KeyCertSign),
            (k.crl_sign(), KeyUsage::CrlSign),
            (k.encipher_only(), KeyUsage::EncipherOnly),
            (k.decipher_only(), KeyUsage::DecipherOnly),
        ] {
            if on {
                key_usage.push(u);
            }
        }
    }
    let extended_key_usage = x
        .extended_key_usage()
        .map_err(|e| bad_ext("extendedKeyUsage", e))?
        .map(|e| {
            let e = e.value;
            let mut v = Vec::new();
            for (on, oid) in [
                (e.any, "2.5.29.37.0"),
                (e.server_auth, "1.3.6.1.5.5.7.3.1"),
                (e.client_auth, "1.3.6.1.5.5.7.3.2"),
                (e.code_signing, "1.3.6.1.5.5.7.3.3"),
                (e.email_protection, "1.3.6.1.5.5.7.3.4"),
                (e.time_stamping, "1.3.6.1.5.5.7.3.8"),
                (e.ocsp_signing, "1.3.6.1.5.5.7.3.9"),
            ] {
                if on {
                    v.push(eku_name(oid));
                }
            }
            v.extend(e.other.iter().map(|o| eku_name(&o.to_id_string())));
            v
        });
    let (mut san_emails, mut san_dns, mut san_ips) = (Vec::new(), Vec::new(), Vec::new());
    if let Some(san) = x
        .subject_alternative_name()
        .map_err(|e| bad_ext("subjectAltName", e))?
    {
        for g in &san.value.general_names {
            match g {
                GeneralName::RFC822Name(e) => san_emails.push((*e).to_owned()),
                GeneralName::DNSName(d) => san_dns.push((*d).to_owned()),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => {
                        let a: [u8; 4] = [b[0], b[1], b[2], b[3]];
                        san_ips.push(IpAddr::from(a));
                    }
                    16 => {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(b);
                        san_ips.push(IpAddr::from(a));
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }
    let mut crl_distribution_points = Vec::new();
    for ext in x.extensions() {
        if let ParsedExtension::CRLDistributionPoints(points) = ext.parsed_extension() {
            for p in points.iter() {
                if let Some(DistributionPointName::FullName(names)) = &p.distribution_point {
                    for n in names {
                        if let GeneralName::URI(u) = n {
                            crl_distribution_points.push((*u).to_owned());
                        }
                    }
                }
            }
        }
    }
    let public_key = match x.public_key().parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(r)) => format!("RSA {}", r.key_size()),
        Ok(x509_parser::public_key::PublicKey::EC(p)) => format!("EC {}", p.key_size()),
        Ok(_) | Err(_) => x.public_key().algorithm.algorithm.to_id_string(),
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let sha256_fingerprint = digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    let subject = x.subject();
    Ok(CertInfo {
        subject: format_dn(subject),
        issuer: format_dn(x.issuer()),
        serial_hex: x.raw_serial().iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02X}");
            s
        }),
        not_before: x.validity().not_before.to_datetime(),
        not_after: x.validity().not_after.to_datetime(),
        key_usage,
        extended_key_usage,
        san_emails,
        san_dns,
        san_ips,
        is_ca: x.is_ca(),
        crl_distribution_points,
        subject_cn: first_attr(subject, "2.5.4.3"),
        subject_o: first_attr(subject, "2.5.4.10"),
        subject_ou: first_attr(subject, "2.5.4.11"),
        sha256_fingerprint,
        public_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_rfc4514_specials() {
        let mut s = String::new();
        escape(" a,b+c ", &mut s);
        assert_eq!(s, "\\ a\\,b\\+c\\ ");
        let mut s = String::new();
        escape("MECS Les Tilleuls", &mut s);
        assert_eq!(s, "MECS Les Tilleuls");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(inspect(b"not a certificate").is_err());
        assert!(inspect(&[]).is_err());
    }
}
