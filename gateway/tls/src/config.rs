//! rustls configurations: TLS 1.2/1.3, ring provider, configured CAs only, CRLs.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, ServerConfig,
    SignatureScheme,
};
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};

use crate::{Identity, TlsError, TrustAnchors};

/// The one crypto provider of the gateway (ring), never the process-wide default.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS ≥ 1.2 (MSSanté ECO.1.1.1); rustls has nothing older anyway.
const VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// What to do when revocation cannot be established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RevocationPolicy {
    /// No valid CRL for a certificate of the chain, or an expired CRL: refuse (production).
    #[default]
    Strict,
    /// Unknown status and expired CRLs are tolerated; listed serials are still refused (sandbox).
    SoftFail,
}

/// CRL checking of the peer's chain.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Revocation {
    /// Empty = no revocation checking (allowed only with [`RevocationPolicy::SoftFail`]).
    pub crls: Vec<CertificateRevocationListDer<'static>>,
    pub policy: RevocationPolicy,
    /// Check only the end-entity certificate (CAs' own CRLs then not needed).
    pub end_entity_only: bool,
}

impl Revocation {
    /// No CRL checking at all.
    pub fn disabled() -> Self {
        Revocation {
            crls: Vec::new(),
            policy: RevocationPolicy::SoftFail,
            end_entity_only: false,
        }
    }

    pub fn strict(crls: Vec<CertificateRevocationListDer<'static>>) -> Self {
        Revocation {
            crls,
            policy: RevocationPolicy::Strict,
            end_entity_only: false,
        }
    }

    pub fn soft_fail(crls: Vec<CertificateRevocationListDer<'static>>) -> Self {
        Revocation {
            crls,
            policy: RevocationPolicy::SoftFail,
            end_entity_only: false,
        }
    }

    fn check(&self) -> Result<(), TlsError> {
        // rustls silently skips revocation when given no CRL: strict must not degrade to that.
        if self.crls.is_empty() && self.policy == RevocationPolicy::Strict {
            return Err(TlsError::invalid(
                "revocation",
                "strict revocation needs at least one CRL (use soft-fail or disabled otherwise)",
            ));
        }
        Ok(())
    }
}

/// A client configuration that trusts only `trust` and presents `identity` when the server asks.
/// The caller may still set ALPN or resumption before wrapping it in an `Arc`.
pub fn client_config(
    identity: Option<&Identity>,
    trust: &TrustAnchors,
    revocation: &Revocation,
) -> Result<ClientConfig, TlsError> {
    revocation.check()?;
    let provider = provider();
    let mut vb = WebPkiServerVerifier::builder_with_provider(trust.root_store()?, provider.clone());
    if !revocation.crls.is_empty() {
        vb = vb.with_crls(revocation.crls.iter().cloned());
        if revocation.end_entity_only {
            vb = vb.only_check_end_entity_revocation();
        }
        match revocation.policy {
            RevocationPolicy::Strict => vb = vb.enforce_revocation_expiration(),
            RevocationPolicy::SoftFail => vb = vb.allow_unknown_revocation_status(),
        }
    }
    let verifier = vb.build().map_err(|source| TlsError::Verifier {
        what: "server certificate verifier",
        source,
    })?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(VERSIONS)
        .map_err(|source| TlsError::Rustls {
            what: "client protocol versions",
            source,
        })?
        .with_webpki_verifier(verifier);
    match identity {
        Some(id) => builder
            .with_client_auth_cert(id.chain().to_vec(), id.key().clone_key())
            .map_err(|source| TlsError::Rustls {
                what: "client certificate and key",
                source,
            }),
        None => Ok(builder.with_no_client_auth()),
    }
}

/// Client certificate policy of a server.
#[derive(Debug, Clone, Copy)]
pub enum ClientAuth<'a> {
    /// No certificate requested.
    Disabled,
    /// Requested; when present it must chain to these CAs and carry the clientAuth EKU.
    Optional(&'a TrustAnchors),
    /// Required, chained to these CAs, with the clientAuth EKU.
    Required(&'a TrustAnchors),
}

/// A server configuration presenting `identity`.
pub fn server_config(
    identity: &Identity,
    client_auth: ClientAuth<'_>,
    revocation: &Revocation,
) -> Result<ServerConfig, TlsError> {
    let provider = provider();
    let verifier: Arc<dyn ClientCertVerifier> = match client_auth {
        ClientAuth::Disabled => WebPkiClientVerifier::no_client_auth(),
        ClientAuth::Optional(trust) | ClientAuth::Required(trust) => {
            revocation.check()?;
            let mut vb =
                WebPkiClientVerifier::builder_with_provider(trust.root_store()?, provider.clone());
            if matches!(client_auth, ClientAuth::Optional(_)) {
                vb = vb.allow_unauthenticated();
            }
            if !revocation.crls.is_empty() {
                vb = vb.with_crls(revocation.crls.iter().cloned());
                if revocation.end_entity_only {
                    vb = vb.only_check_end_entity_revocation();
                }
                match revocation.policy {
                    RevocationPolicy::Strict => vb = vb.enforce_revocation_expiration(),
                    RevocationPolicy::SoftFail => vb = vb.allow_unknown_revocation_status(),
                }
            }
            let inner = vb.build().map_err(|source| TlsError::Verifier {
                what: "client certificate verifier",
                source,
            })?;
            Arc::new(RequireClientAuthEku { inner })
        }
    };
    ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(VERSIONS)
        .map_err(|source| TlsError::Rustls {
            what: "server protocol versions",
            source,
        })?
        .with_client_cert_verifier(verifier)
        .with_single_cert(identity.chain().to_vec(), identity.key().clone_key())
        .map_err(|source| TlsError::Rustls {
            what: "server certificate and key",
            source,
        })
}

/// webpki accepts a client certificate without any EKU; an ORG_SIGN ("cachet", no EKU) must not
/// authenticate a TLS client, so the clientAuth EKU is required to be present.
#[derive(Debug)]
struct RequireClientAuthEku {
    inner: Arc<dyn ClientCertVerifier>,
}

pub(crate) fn has_client_auth_eku(der: &[u8]) -> bool {
    x509_parser::parse_x509_certificate(der)
        .is_ok_and(|(_, x)| matches!(x.extended_key_usage(), Ok(Some(e)) if e.value.client_auth))
}

impl ClientCertVerifier for RequireClientAuthEku {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        if !has_client_auth_eku(end_entity) {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::InvalidPurpose,
            ));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
