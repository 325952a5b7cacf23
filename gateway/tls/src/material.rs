//! Loading identities, trust anchors and CRLs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

use crate::TlsError;

/// Where an identity lives, as written in the configuration.
#[derive(Clone, PartialEq, Eq)]
pub enum IdentitySource {
    /// PEM certificate chain (leaf first) and PEM private key (PKCS#8, PKCS#1 or SEC1); the two
    /// paths may name the same file.
    Pem { cert: PathBuf, key: PathBuf },
    /// PKCS#12 (PBES2/AES or legacy 3DES/RC2) with its password (read from a secret file by the
    /// caller).
    Pkcs12 { path: PathBuf, password: String },
}

impl std::fmt::Debug for IdentitySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdentitySource::Pem { cert, key } => f
                .debug_struct("Pem")
                .field("cert", cert)
                .field("key", key)
                .finish(),
            IdentitySource::Pkcs12 { path, .. } => f
                .debug_struct("Pkcs12")
                .field("path", path)
                .field("password", &"***")
                .finish(),
        }
    }
}

/// A certificate chain (leaf first) and its private key, loaded once.
pub struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Identity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn certs_from_pem(what: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what: what.to_owned(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::invalid(what, "no CERTIFICATE block found"));
    }
    Ok(certs)
}

fn is_self_signed(der: &[u8]) -> bool {
    x509_parser::parse_x509_certificate(der)
        .is_ok_and(|(_, x)| x.tbs_certificate.subject.as_raw() == x.tbs_certificate.issuer.as_raw())
}

impl Identity {
    /// From PEM text: every certificate of `chain_pem` (leaf first) and the first private key of
    /// `key_pem`. Both may be the same bytes (key and chain in one file).
    pub fn from_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        Self::from_pem_named("certificate chain", "private key", chain_pem, key_pem)
    }

    fn from_pem_named(
        cert_what: &str,
        key_what: &str,
        chain_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<Self, TlsError> {
        let chain = certs_from_pem(cert_what, chain_pem)?;
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| {
            let encrypted = String::from_utf8_lossy(key_pem).contains("ENCRYPTED PRIVATE KEY");
            TlsError::Pem {
                what: key_what.to_owned(),
                reason: if encrypted {
                    "encrypted PEM keys are not supported: use PKCS#12 with a password file".into()
                } else {
                    format!("no usable private key: {e}")
                },
            }
        })?;
        Ok(Identity { chain, key })
    }

    /// From PKCS#12 bytes. The first key with its certificate chain is taken; self-signed roots
    /// bundled in the file are left out of the chain sent to peers.
    pub fn from_pkcs12(der: &[u8], password: &str) -> Result<Self, TlsError> {
        Self::from_pkcs12_named("PKCS#12", der, password)
    }

    fn from_pkcs12_named(what: &str, der: &[u8], password: &str) -> Result<Self, TlsError> {
        let store =
            KeyStore::from_pkcs12(der, password, Pkcs12ImportPolicy::Strict).map_err(|e| {
                TlsError::Pkcs12 {
                    what: what.to_owned(),
                    reason: e.to_string(),
                }
            })?;
        let (_, kc) = store
            .private_key_chain()
            .ok_or_else(|| TlsError::invalid(what, "no private key with a certificate inside"))?;
        let mut chain: Vec<CertificateDer<'static>> = Vec::new();
        for (i, c) in kc.certs().iter().enumerate() {
            if i > 0 && is_self_signed(c.as_der()) {
                continue;
            }
            chain.push(CertificateDer::from(c.as_der().to_vec()));
        }
        if chain.is_empty() {
            return Err(TlsError::invalid(
                what,
                "no certificate for the private key",
            ));
        }
        let key = PrivateKeyDer::try_from(kc.key().as_der().to_vec())
            .map_err(|e| TlsError::invalid(what, format!("private key: {e}")))?;
        Ok(Identity { chain, key })
    }

    /// Reads the files named by `source`; errors name the file.
    pub fn load(source: &IdentitySource) -> Result<Self, TlsError> {
        match source {
            IdentitySource::Pem { cert, key } => Self::from_pem_named(
                &cert.display().to_string(),
                &key.display().to_string(),
                &read(cert)?,
                &read(key)?,
            ),
            IdentitySource::Pkcs12 { path, password } => {
                Self::from_pkcs12_named(&path.display().to_string(), &read(path)?, password)
            }
        }
    }

    /// Leaf first, then intermediates.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    pub fn leaf(&self) -> &CertificateDer<'static> {
        // The constructors refuse an empty chain.
        &self.chain[0]
    }

    pub fn key(&self) -> &PrivateKeyDer<'static> {
        &self.key
    }
}

/// The CA certificates a peer must chain to. Nothing else is ever trusted: no system store, no
/// Mozilla/webpki roots (IGC-Santé is in neither).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustAnchors {
    certs: Vec<CertificateDer<'static>>,
}

impl TrustAnchors {
    /// Every certificate of `pem`; each must be a CA certificate.
    pub fn from_pem(pem: &[u8]) -> Result<Self, TlsError> {
        Self::from_pem_named("trust anchors", pem)
    }

    fn from_pem_named(what: &str, pem: &[u8]) -> Result<Self, TlsError> {
        Self::from_der(what, certs_from_pem(what, pem)?)
    }

    /// From DER certificates; `what` names the source in errors.
    pub fn from_der(what: &str, certs: Vec<CertificateDer<'static>>) -> Result<Self, TlsError> {
        if certs.is_empty() {
            return Err(TlsError::invalid(what, "no CA certificate"));
        }
        for (i, c) in certs.iter().enumerate() {
            let (_, x) =
                x509_parser::parse_x509_certificate(c).map_err(|e| TlsError::Certificate {
                    what: format!("{what}[{i}]"),
                    reason: e.to_string(),
                })?;
            // A leaf in a trust store is a configuration mistake that would silently pin it.
            if !x.is_ca() {
                return Err(TlsError::invalid(
                    format!("{what}[{i}]"),
                    "is not a CA certificate (basicConstraints cA=false or missing)",
                ));
            }
            webpki::anchor_from_trusted_cert(c).map_err(|e| {
                TlsError::invalid(
                    format!("{what}[{i}]"),
                    format!("unusable trust anchor: {e}"),
                )
            })?;
        }
        Ok(TrustAnchors { certs })
    }

    /// Concatenation of every file's certificates.
    pub fn load(paths: &[PathBuf]) -> Result<Self, TlsError> {
        let mut certs = Vec::new();
        for p in paths {
            let what = p.display().to_string();
            certs.extend(Self::from_pem_named(&what, &read(p)?)?.certs);
        }
        Self::from_der("trust anchors", certs)
    }

    pub fn certs(&self) -> &[CertificateDer<'static>] {
        &self.certs
    }

    pub(crate) fn root_store(&self) -> Result<Arc<RootCertStore>, TlsError> {
        let mut store = RootCertStore::empty();
        for c in &self.certs {
            store.add(c.clone()).map_err(|source| TlsError::Rustls {
                what: "adding a trust anchor",
                source,
            })?;
        }
        Ok(Arc::new(store))
    }
}

/// Every CRL in `pem` ("BEGIN X509 CRL"); `what` names the source in errors.
pub fn crls_from_pem(
    what: &str,
    pem: &[u8],
) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let crls = CertificateRevocationListDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what: what.to_owned(),
            reason: e.to_string(),
        })?;
    if crls.is_empty() {
        return Err(TlsError::invalid(what, "no X509 CRL block found"));
    }
    for (i, c) in crls.iter().enumerate() {
        webpki::OwnedCertRevocationList::from_der(c)
            .map_err(|e| TlsError::invalid(format!("{what}[{i}]"), format!("bad CRL: {e}")))?;
    }
    Ok(crls)
}

/// CRL files in PEM or DER (one CRL per DER file).
pub fn load_crls(
    paths: &[PathBuf],
) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let mut out = Vec::new();
    for p in paths {
        let bytes = read(p)?;
        let what = p.display().to_string();
        if bytes.starts_with(b"-----") || String::from_utf8_lossy(&bytes).contains("-----BEGIN") {
            out.extend(crls_from_pem(&what, &bytes)?);
        } else {
            webpki::OwnedCertRevocationList::from_der(&bytes)
                .map_err(|e| TlsError::invalid(&what, format!("bad CRL: {e}")))?;
            out.push(CertificateRevocationListDer::from(bytes));
        }
    }
    Ok(out)
}
