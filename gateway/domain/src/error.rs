//! The boundary error: one type carrying origin, retry class and a stable reason (engineering.md §3),
//! mapped once to gRPC status and to problem+json by the server.

use std::time::Duration;

use crate::validate::FieldViolation;

/// Where an error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Client,
    Policy,
    MsSante,
    Dmp,
    Store,
    Internal,
}

/// Whether trying again can help, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    Never,
    Backoff,
    /// Only if the failure happened on a reused (pooled) connection.
    ReusedConnectionOnly,
    After(Duration),
}

/// Stable reasons, equal to the proto `ErrorReason` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    InvalidRequest,
    PolicyDenied,
    IdempotencyConflict,
    QueueFull,
    NotFound,
    TenantForbidden,
    Unauthenticated,
    StoreUnavailable,
    InvalidState,
    InternalError,
    AuditUnavailable,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::InvalidRequest => "INVALID_REQUEST",
            Reason::PolicyDenied => "POLICY_DENIED",
            Reason::IdempotencyConflict => "IDEMPOTENCY_CONFLICT",
            Reason::QueueFull => "QUEUE_FULL",
            Reason::NotFound => "NOT_FOUND",
            Reason::TenantForbidden => "TENANT_FORBIDDEN",
            Reason::Unauthenticated => "UNAUTHENTICATED",
            Reason::StoreUnavailable => "STORE_UNAVAILABLE",
            Reason::InvalidState => "INVALID_STATE",
            Reason::InternalError => "INTERNAL_ERROR",
            Reason::AuditUnavailable => "AUDIT_UNAVAILABLE",
        }
    }
}

/// The gateway's one error type at the API boundary.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub origin: Origin,
    pub retry: Retry,
    pub reason: Reason,
    /// Human text; names fields, never personal data.
    pub message: String,
    pub violations: Vec<FieldViolation>,
    /// Opaque JSON detail (e.g. the policy decision of a refusal).
    pub detail: Option<String>,
}

impl Error {
    pub fn new(origin: Origin, reason: Reason, message: impl Into<String>) -> Self {
        Self {
            origin,
            retry: Retry::Never,
            reason,
            message: message.into(),
            violations: Vec::new(),
            detail: None,
        }
    }

    pub fn invalid(violations: Vec<FieldViolation>) -> Self {
        let n = violations.len();
        let mut e = Self::new(
            Origin::Client,
            Reason::InvalidRequest,
            format!("the request has {n} invalid field(s)"),
        );
        e.violations = violations;
        e
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            Origin::Client,
            Reason::NotFound,
            format!("{what} not found"),
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Origin::Internal, Reason::InternalError, message)
    }

    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    pub fn with_detail(mut self, detail: String) -> Self {
        self.detail = Some(detail);
        self
    }

    /// HTTP status for problem+json.
    pub fn http_status(&self) -> u16 {
        match self.reason {
            Reason::InvalidRequest => 400,
            Reason::PolicyDenied | Reason::TenantForbidden => 403,
            Reason::IdempotencyConflict | Reason::InvalidState => 409,
            Reason::QueueFull => 429,
            Reason::NotFound => 404,
            Reason::Unauthenticated => 401,
            Reason::StoreUnavailable | Reason::AuditUnavailable => 503,
            Reason::InternalError => 500,
        }
    }
}
