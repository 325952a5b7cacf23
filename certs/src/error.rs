use std::path::PathBuf;

/// Errors of the test PKI generator.
#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    #[error("invalid PKI spec: {field}: {reason}")]
    InvalidSpec { field: String, reason: String },
    #[error("OpenSSL failed while {what}: {source}")]
    OpenSsl {
        what: &'static str,
        #[source]
        source: openssl::error::ErrorStack,
    },
    #[error("certificate building failed for {name}: {source}")]
    Rcgen {
        name: String,
        #[source]
        source: rcgen::Error,
    },
    #[error("I/O on {path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot parse {path}: {reason}", path = path.display())]
    Parse { path: PathBuf, reason: String },
}

impl CertsError {
    pub(crate) fn ssl(what: &'static str) -> impl FnOnce(openssl::error::ErrorStack) -> Self {
        move |source| CertsError::OpenSsl { what, source }
    }

    pub(crate) fn rcgen(name: &str) -> impl FnOnce(rcgen::Error) -> Self + '_ {
        move |source| CertsError::Rcgen {
            name: name.to_owned(),
            source,
        }
    }
}
