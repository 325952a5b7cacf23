//! A small IGC-Santé-shaped test PKI (ECDSA P-256): root, intermediate, server and mailbox
//! client certificates (CN = mailbox address, SAN rfc822 = same). `passerelle-certs` is the
//! project's full generator; this one keeps the simulator self-contained.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::SimError;

/// A leaf certificate with its key, PEM.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Leaf only.
    pub cert_pem: String,
    /// Leaf then intermediate.
    pub chain_pem: String,
    pub key_pem: String,
    /// DER of the leaf (fingerprints).
    pub cert_der: Vec<u8>,
}

/// Root + intermediate CA able to issue server and client certificates.
pub struct TestPki {
    root: CertifiedIssuer<'static, KeyPair>,
    intermediate: CertifiedIssuer<'static, KeyPair>,
}

impl std::fmt::Debug for TestPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestPki")
    }
}

fn pki_err(field: &'static str, e: impl std::fmt::Display) -> SimError {
    SimError::Pki {
        field,
        reason: e.to_string(),
    }
}

fn dn(cn: &str, org: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "FR");
    dn.push(DnType::OrganizationName, org);
    dn.push(DnType::CommonName, cn);
    dn
}

impl TestPki {
    /// Generates a fresh root "Test IGC-Santé" and an intermediate.
    pub fn new(label: &str) -> Result<Self, SimError> {
        let mut root_params = CertificateParams::default();
        root_params.distinguished_name = dn(&format!("Test IGC-Santé Racine {label}"), "ANS TEST");
        root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let root_key = KeyPair::generate().map_err(|e| pki_err("root key", e))?;
        let root =
            CertifiedIssuer::self_signed(root_params, root_key).map_err(|e| pki_err("root", e))?;

        let mut int_params = CertificateParams::default();
        int_params.distinguished_name = dn(&format!("Test IGC-Santé ORG {label}"), "ANS TEST");
        int_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        int_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let int_key = KeyPair::generate().map_err(|e| pki_err("intermediate key", e))?;
        let intermediate = CertifiedIssuer::signed_by(int_params, int_key, &root)
            .map_err(|e| pki_err("intermediate", e))?;
        Ok(Self { root, intermediate })
    }

    pub fn root_pem(&self) -> String {
        self.root.pem()
    }

    /// Root then intermediate: what clients and servers trust.
    pub fn ca_bundle_pem(&self) -> String {
        format!("{}{}", self.root.pem(), self.intermediate.pem())
    }

    fn issue(
        &self,
        cn: &str,
        sans: Vec<SanType>,
        eku: ExtendedKeyUsagePurpose,
    ) -> Result<Identity, SimError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(cn, "Passerelle TEST");
        params.subject_alt_names = sans;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![eku];
        let key = KeyPair::generate().map_err(|e| pki_err("leaf key", e))?;
        let cert = params
            .signed_by(&key, &self.intermediate)
            .map_err(|e| pki_err("leaf", e))?;
        Ok(Identity {
            cert_pem: cert.pem(),
            chain_pem: format!("{}{}", cert.pem(), self.intermediate.pem()),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
        })
    }

    /// Server certificate for DNS names and IP literals (`127.0.0.1`).
    pub fn server(&self, names: &[&str]) -> Result<Identity, SimError> {
        let mut sans = Vec::new();
        for n in names {
            if let Ok(ip) = n.parse::<std::net::IpAddr>() {
                sans.push(SanType::IpAddress(ip));
            } else {
                sans.push(SanType::DnsName(
                    (*n).try_into().map_err(|e| pki_err("server name", e))?,
                ));
            }
        }
        let cn = names.first().copied().unwrap_or("localhost");
        self.issue(cn, sans, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// ORG_AUTH_CLI-like client certificate: CN and SAN rfc822 = the mailbox.
    pub fn mailbox_client(&self, mailbox: &str) -> Result<Identity, SimError> {
        let san = SanType::Rfc822Name(mailbox.try_into().map_err(|e| pki_err("mailbox", e))?);
        self.issue(mailbox, vec![san], ExtendedKeyUsagePurpose::ClientAuth)
    }

    /// A server config for the operator: presents `server`, requires a client certificate
    /// chaining to this PKI.
    pub fn operator_tls(&self, server: &Identity) -> Result<Arc<ServerConfig>, SimError> {
        server_tls_config(
            self.ca_bundle_pem().as_bytes(),
            server.chain_pem.as_bytes(),
            server.key_pem.as_bytes(),
        )
    }
}

/// rustls server config requiring a client certificate chaining to `client_ca_pem`; TLS 1.2/1.3.
pub fn server_tls_config(
    client_ca_pem: &[u8],
    chain_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<ServerConfig>, SimError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(client_ca_pem) {
        let c = c.map_err(|e| pki_err("client CA", e))?;
        roots.add(c).map_err(|e| pki_err("client CA", e))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| pki_err("client verifier", e))?;
    let chain = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pki_err("server chain", e))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| pki_err("server key", e))?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| pki_err("protocol versions", e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| pki_err("server certificate", e))?;
    Ok(Arc::new(config))
}

/// The mailbox a client certificate is bound to: SAN rfc822Name, else the subject CN; lower case.
pub fn mailbox_of_certificate(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::RFC822Name(m) = name {
                return Some(m.to_ascii_lowercase());
            }
        }
    }
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .filter(|cn| cn.contains('@'))
        .map(str::to_ascii_lowercase)
}
