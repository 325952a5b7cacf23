//! The crate's one error type. Messages name the field or part and the reason, never values
//! (requests carry an INS, names and health documents).

/// Everything the pure DMP protocol code can refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DmpProtocolError {
    /// A builder input is missing or malformed.
    #[error("input {field}: {reason}")]
    Input {
        /// the input field
        field: &'static str,
        /// why it was refused
        reason: &'static str,
    },
    /// A multipart/related body (MTOM) is malformed.
    #[error("mtom: {0}")]
    Mtom(&'static str),
    /// A reply or request is not the expected XML.
    #[error("xml {element}: {reason}")]
    Xml {
        /// the element (qualified name as in the specs)
        element: &'static str,
        /// what is wrong with it
        reason: String,
    },
    /// The endpoint URL is unusable.
    #[error("endpoint: {0}")]
    Endpoint(&'static str),
}

pub(crate) fn input(field: &'static str, reason: &'static str) -> DmpProtocolError {
    DmpProtocolError::Input { field, reason }
}

pub(crate) fn xml(element: &'static str, reason: impl Into<String>) -> DmpProtocolError {
    DmpProtocolError::Xml {
        element,
        reason: reason.into(),
    }
}
