//! The outbox's one error type. Messages name the field or object at fault, never personal data.

use std::time::Duration;

use passerelle_domain::delivery::DeliveryState;

/// Broad class of an error, for the gateway's status mapping (QueueFull → 429, Conflict → 409,
/// NotFound → 404, InvalidState → 409, Unavailable → 503, Invalid → 400, Internal → 500).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    QueueFull,
    Conflict,
    NotFound,
    InvalidState,
    LeaseLost,
    Invalid,
    Unavailable,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Backpressure: the bounded queue is full; nothing was stored.
    #[error(
        "queue full ({scope}: {pending} pending, capacity {capacity}); retry after {retry_after:?}"
    )]
    QueueFull {
        scope: String,
        pending: u64,
        capacity: u64,
        retry_after: Duration,
    },
    /// Same tenant and idempotency key, different request body.
    #[error(
        "idempotency key already used with a different request body (transmission {existing_id})"
    )]
    IdempotencyConflict { existing_id: String },
    /// An id given twice (transmission or delivery id already stored under another key).
    #[error("{what} id already exists: {id}")]
    DuplicateId { what: &'static str, id: String },
    #[error("{what} not found: {id}")]
    NotFound { what: &'static str, id: String },
    #[error("delivery {delivery_id} is {state}: cannot {action}")]
    InvalidState {
        delivery_id: String,
        state: DeliveryState,
        action: &'static str,
    },
    /// The caller's lease token is not the current one (lease expired and was taken again, or the
    /// delivery left `in_flight`).
    #[error("delivery {delivery_id}: lease token {token} is not current")]
    LeaseLost { delivery_id: String, token: u64 },
    /// A payload referenced by a submission is not in the blob store (write it first, again).
    #[error("payload {sha256} is missing from the blob store")]
    BlobMissing { sha256: String },
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("database error during {context}: {source}")]
    Database {
        context: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("i/o error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Stored data that cannot be decoded (schema drift or manual edit).
    #[error("corrupt stored value in {field}: {reason}")]
    Corrupt { field: &'static str, reason: String },
    #[error("audit key or checkpoint: {0}")]
    Crypto(String),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::QueueFull { .. } => ErrorKind::QueueFull,
            Error::IdempotencyConflict { .. } | Error::DuplicateId { .. } => ErrorKind::Conflict,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::InvalidState { .. } => ErrorKind::InvalidState,
            Error::LeaseLost { .. } => ErrorKind::LeaseLost,
            Error::Invalid { .. } => ErrorKind::Invalid,
            Error::BlobMissing { .. } | Error::Unavailable(_) | Error::Io { .. } => {
                ErrorKind::Unavailable
            }
            Error::Database { source, .. } => {
                if is_busy(source) {
                    ErrorKind::Unavailable
                } else {
                    ErrorKind::Internal
                }
            }
            Error::Corrupt { .. } | Error::Crypto(_) => ErrorKind::Internal,
        }
    }

    /// Whether the same call may succeed later (QueueFull after `retry_after`).
    pub fn retryable(&self) -> bool {
        matches!(self.kind(), ErrorKind::QueueFull | ErrorKind::Unavailable)
    }

    /// Suggested delay for a retryable error.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::QueueFull { retry_after, .. } => Some(*retry_after),
            _ if self.retryable() => Some(Duration::from_secs(1)),
            _ => None,
        }
    }

    pub(crate) fn db(context: &'static str) -> impl FnOnce(rusqlite::Error) -> Error {
        move |source| Error::Database { context, source }
    }

    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |source| Error::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
