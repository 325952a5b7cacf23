//! The crate's single error type: load-time errors (matrix, overlays, configuration) and
//! evaluation errors (invalid input, internal). Policy denials are never errors.
use std::fmt;

/// One invalid field of the request, with its JSON (camelCase) path as in the HTTP body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub reason: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

struct List<'a>(&'a [FieldViolation]);
impl fmt::Display for List<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Malformed or inconsistent request: one entry per bad field (HTTP 400 / INVALID_ARGUMENT).
    #[error("invalid request: {}", List(.0))]
    InvalidInput(Vec<FieldViolation>),
    /// A bug or an impossible state inside the engine.
    #[error("internal policy error: {0}")]
    Internal(String),
    /// The habilitation matrix file is invalid (raised at start, never at the first request).
    #[error("habilitation matrix: {field}: {reason}")]
    Matrix { field: String, reason: String },
    /// A restriction overlay is invalid.
    #[error("overlay {overlay}: {field}: {reason}")]
    Overlay {
        overlay: String,
        field: String,
        reason: String,
    },
    /// The operator's policy configuration is invalid.
    #[error("policy configuration: {field}: {reason}")]
    Config { field: String, reason: String },
}

/// Errors of `Engine::new` / `with_defaults` (same enum: one error type per crate).
pub type LoadError = PolicyError;

impl PolicyError {
    pub fn violations(&self) -> &[FieldViolation] {
        match self {
            PolicyError::InvalidInput(v) => v,
            _ => &[],
        }
    }
    pub(crate) fn matrix(field: impl Into<String>, reason: impl Into<String>) -> Self {
        PolicyError::Matrix {
            field: field.into(),
            reason: reason.into(),
        }
    }
    pub(crate) fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        PolicyError::Config {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
