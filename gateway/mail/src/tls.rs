//! rustls client configuration for a mailbox: client certificate + configured CAs only.
//!
//! `passerelle-tls` builds the production configuration (PKCS#12, CRLs); this module is the
//! small PEM path used by tests and by callers that already hold PEM bytes. Both produce an
//! `Arc<rustls::ClientConfig>`, which is all the SMTP and IMAP clients take.

use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::MailError;

/// Builds a client config trusting only `ca_pem` (never system roots), presenting
/// `cert_chain_pem` (leaf first, then intermediates) with `key_pem`. TLS 1.2 and 1.3 only
/// (rustls supports nothing older).
pub fn client_config_from_pem(
    ca_pem: &[u8],
    cert_chain_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<ClientConfig>, MailError> {
    let roots = roots_from_pem(ca_pem)?;
    let chain = certs_from_pem(cert_chain_pem, "client certificate chain")?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| MailError::Tls {
        field: "client key",
        reason: e.to_string(),
    })?;
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| MailError::Tls {
                field: "protocol versions",
                reason: e.to_string(),
            })?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| MailError::Tls {
                field: "client certificate",
                reason: e.to_string(),
            })?;
    Ok(Arc::new(config))
}

/// Same trust, no client certificate: only for negative tests (an operator must refuse it).
pub fn client_config_without_cert(ca_pem: &[u8]) -> Result<Arc<ClientConfig>, MailError> {
    let roots = roots_from_pem(ca_pem)?;
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| MailError::Tls {
                field: "protocol versions",
                reason: e.to_string(),
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Parses every certificate of a PEM bundle into a root store.
pub fn roots_from_pem(ca_pem: &[u8]) -> Result<RootCertStore, MailError> {
    let mut roots = RootCertStore::empty();
    for cert in certs_from_pem(ca_pem, "trusted CA bundle")? {
        roots.add(cert).map_err(|e| MailError::Tls {
            field: "trusted CA bundle",
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

/// Parses a PEM bundle of certificates (at least one).
pub fn certs_from_pem(
    pem: &[u8],
    field: &'static str,
) -> Result<Vec<CertificateDer<'static>>, MailError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| MailError::Tls {
            field,
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(MailError::Tls {
            field,
            reason: "no certificate in PEM".into(),
        });
    }
    Ok(certs)
}

/// The name checked against the server certificate (DNS name or IP address).
pub fn server_name(host: &str) -> Result<ServerName<'static>, MailError> {
    ServerName::try_from(host.to_owned()).map_err(|e| MailError::Config {
        field: "host",
        reason: e.to_string(),
    })
}
