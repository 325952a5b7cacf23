//! MSSanté I/O for the delivery workers: the SMTP submission client (pooled, mutual TLS, DSN
//! parameters, AUTH EXTERNAL) and the IMAP client (mutual TLS, AUTHENTICATE EXTERNAL, folders,
//! UID FETCH, UID MOVE, IDLE). It only moves bytes: messages are built and DSN/MDN parsed by
//! `passerelle-mssante`. See `docs/mail.md`.
#![forbid(unsafe_code)]

pub mod imap;
pub mod smtp;
pub mod srv;
pub mod tls;

use std::fmt;

pub use imap::{
    FOLDER_PROCESSED, FOLDER_QUARANTINE, FetchedMessage, IdleOutcome, ImapAuth, ImapClientConfig,
    ImapSession, InboxState, MessageSummary, MoveMethod,
};
pub use smtp::{
    DsnNotify, DsnRequest, DsnRet, Envelope, PoolStats, RcptResult, Reply, RetryNote, SendReport,
    SmtpAuth, SmtpCapabilities, SmtpClientConfig, SmtpConnection, SmtpPool, SmtpTimeouts,
};

/// Implicit TLS (RFC 8314, ports 465/993) or STARTTLS (RFC 3207 / RFC 3501, ports 587/143).
/// There is no plaintext mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    StartTls,
    Implicit,
}

/// Protocol step where an error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Connect,
    Tls,
    Greeting,
    Ehlo,
    StartTls,
    Auth,
    Rset,
    Mail,
    Rcpt,
    Data,
    DataEnd,
    Quit,
    ImapCapability,
    ImapAuthenticate,
    ImapList,
    ImapCreate,
    ImapSelect,
    ImapFetch,
    ImapMove,
    ImapIdle,
    ImapNoop,
    ImapLogout,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// What the caller should do after an error or a reply (mssante.md §1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryClass {
    /// Network, timeout, TLS abort, 4xx: back off and retry.
    Temporary,
    /// Untrusted server certificate, 530/535, 5.7.0/5.7.8, STARTTLS missing: hold and alert.
    Configuration,
    /// 555 on DSN parameters: resend without them.
    DsnUnsupported,
    /// 550/553 with 5.1.x.
    RecipientRejected,
    /// 552 / 5.3.4, or larger than the advertised SIZE.
    MessageTooLarge,
    /// 554, 5.7.1, 5.6.x: likely our format bug.
    RejectedByOperator,
    /// 500–504 and other 5xx.
    ProtocolError,
    /// A pooled connection failed before MAIL: retried at once on a fresh connection.
    ReusedConnection,
}

/// Errors of the mail clients; each names the step or field and the reason, never message content.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("configuration {field}: {reason}")]
    Config { field: &'static str, reason: String },
    #[error("TLS {field}: {reason}")]
    Tls { field: &'static str, reason: String },
    #[error("TLS handshake failed at {step}: {reason}")]
    TlsHandshake {
        step: Step,
        reason: String,
        /// The server certificate was refused (untrusted, expired, wrong name).
        certificate: bool,
    },
    #[error("I/O error at {step}: {reason}")]
    Io { step: Step, reason: String },
    #[error("timeout at {step}")]
    Timeout { step: Step },
    #[error("server does not offer STARTTLS (no plaintext fallback)")]
    StartTlsNotOffered,
    #[error("server refused at {step}: {reply}")]
    Rejected { step: Step, reply: Reply },
    #[error("protocol error at {step}: {reason}")]
    Protocol { step: Step, reason: String },
    #[error("message of {size} bytes exceeds the server SIZE limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("IMAP {step}: {reason}")]
    Imap { step: Step, reason: String },
}

impl MailError {
    /// Retry class per mssante.md §1.5.
    pub fn retry_class(&self) -> RetryClass {
        match self {
            MailError::Config { .. } | MailError::Tls { .. } | MailError::StartTlsNotOffered => {
                RetryClass::Configuration
            }
            MailError::TlsHandshake { certificate, .. } => {
                if *certificate {
                    RetryClass::Configuration
                } else {
                    RetryClass::Temporary
                }
            }
            MailError::Io { .. } | MailError::Timeout { .. } | MailError::Imap { .. } => {
                RetryClass::Temporary
            }
            MailError::Rejected { reply, .. } => reply.retry_class(),
            MailError::Protocol { .. } => RetryClass::ProtocolError,
            MailError::TooLarge { .. } => RetryClass::MessageTooLarge,
        }
    }

    /// The server's reply when the error is a refusal.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            MailError::Rejected { reply, .. } => Some(reply),
            _ => None,
        }
    }

    fn from_tls_io(step: Step, e: std::io::Error) -> Self {
        let certificate = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .is_some_and(|re| {
                matches!(
                    re,
                    rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
                )
            });
        MailError::TlsHandshake {
            step,
            reason: e.to_string(),
            certificate,
        }
    }
}
