use std::path::PathBuf;

/// Errors of TLS material loading and configuration building.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("I/O on {path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: invalid PEM: {reason}")]
    Pem { what: String, reason: String },
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("{what}: PKCS#12 could not be read (wrong password or unsupported format): {reason}")]
    Pkcs12 { what: String, reason: String },
    #[error("{what}: certificate cannot be parsed: {reason}")]
    Certificate { what: String, reason: String },
    #[error("{what}: {source}")]
    Rustls {
        what: &'static str,
        #[source]
        source: rustls::Error,
    },
    #[error("{what}: {source}")]
    Verifier {
        what: &'static str,
        #[source]
        source: rustls::server::VerifierBuilderError,
    },
}

impl TlsError {
    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        TlsError::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }
}
