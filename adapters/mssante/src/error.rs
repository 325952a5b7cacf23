//! The crate's single error type. Messages name the field and the reason, never personal data.

/// Errors of the MSSanté protocol layer. `reason()` gives the stable machine code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An input field is unusable (building side).
    #[error("{field}: {reason}")]
    InvalidField {
        field: &'static str,
        reason: &'static str,
    },
    /// The final message is over the operator / patient-domain limit.
    #[error("message_too_large: {size} bytes, limit {limit} bytes")]
    MessageTooLarge { size: u64, limit: u64 },
    /// A packed CDA could not be read for the X-MSS headers.
    #[error("cda[{index}]: {reason}")]
    Cda { index: usize, reason: &'static str },
    /// An incoming message is over the configured maximum size (quarantine).
    #[error("inbound message of {size} bytes exceeds the limit of {limit} bytes")]
    InboundTooLarge { size: u64, limit: u64 },
    /// An incoming message's MIME structure is unusable (quarantine).
    #[error("mime: {reason}")]
    Mime { reason: &'static str },
    /// A report part (delivery-status / disposition-notification) is unusable (quarantine).
    #[error("{part}: {reason}")]
    MalformedReport {
        part: &'static str,
        reason: &'static str,
    },
}

impl Error {
    /// Stable machine-readable reason (delivery error reason or quarantine reason).
    pub fn reason(&self) -> &'static str {
        match self {
            Error::InvalidField { .. } => "invalid_field",
            Error::MessageTooLarge { .. } => "message_too_large",
            Error::Cda { .. } => "cda_unreadable",
            Error::InboundTooLarge { .. } => "inbound_too_large",
            Error::Mime { .. } => "mime_malformed",
            Error::MalformedReport { .. } => "report_malformed",
        }
    }
}
