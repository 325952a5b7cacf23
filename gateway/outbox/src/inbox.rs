//! Received MSSanté messages (the inbox): one row per fetched message whatever its class, its raw
//! bytes and extracted documents as reference-counted payloads, the per-mailbox IMAP cursor.
//! Ingestion is idempotent on (mailbox, UIDVALIDITY, UID) and on (mailbox, Message-ID, SHA-256).

use time::OffsetDateTime;

use crate::types::PayloadRef;

/// What a received message is (mssante.md §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboxClass {
    Document,
    Dsn,
    Mdn,
    AnsError,
    NonDelivery,
    Plain,
    Malformed,
}

impl InboxClass {
    pub fn as_str(self) -> &'static str {
        match self {
            InboxClass::Document => "document",
            InboxClass::Dsn => "dsn",
            InboxClass::Mdn => "mdn",
            InboxClass::AnsError => "ans_error",
            InboxClass::NonDelivery => "non_delivery",
            InboxClass::Plain => "plain",
            InboxClass::Malformed => "malformed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "document" => InboxClass::Document,
            "dsn" => InboxClass::Dsn,
            "mdn" => InboxClass::Mdn,
            "ans_error" => InboxClass::AnsError,
            "non_delivery" => InboxClass::NonDelivery,
            "plain" => InboxClass::Plain,
            "malformed" => InboxClass::Malformed,
            _ => return None,
        })
    }
}

/// Where an inbox item stands for the tenant's humans and the DUI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboxItemState {
    /// To be read by the DUI (documents, plain mail).
    New,
    /// Taken by the DUI.
    Acked,
    /// Malformed or hostile: kept with its reason, never dropped.
    Quarantined,
    /// Integration needs a human (unknown patient, INS mismatch…).
    PendingHuman,
    /// A notification (DSN/MDN/ANS error) applied to a delivery.
    Processed,
}

impl InboxItemState {
    pub fn as_str(self) -> &'static str {
        match self {
            InboxItemState::New => "new",
            InboxItemState::Acked => "acked",
            InboxItemState::Quarantined => "quarantined",
            InboxItemState::PendingHuman => "pending_human",
            InboxItemState::Processed => "processed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "new" => InboxItemState::New,
            "acked" => InboxItemState::Acked,
            "quarantined" => InboxItemState::Quarantined,
            "pending_human" => InboxItemState::PendingHuman,
            "processed" => InboxItemState::Processed,
            _ => return None,
        })
    }
}

/// A document extracted from a received XDM package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundDocument {
    pub title: String,
    pub type_code: String,
    pub mime_type: String,
    pub unique_id: String,
    /// The readable document (PDF), content-addressed.
    pub payload: PayloadRef,
    /// The CDA it came in, if any.
    pub cda: Option<PayloadRef>,
}

/// A fetched message to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInboxItem {
    pub id: String,
    pub tenant: String,
    pub mailbox: String,
    pub uidvalidity: u32,
    pub uid: u32,
    pub message_id: Option<String>,
    /// The raw message as fetched, written to the blob store first.
    pub raw: PayloadRef,
    pub received_at: OffsetDateTime,
    pub class: InboxClass,
    pub state: InboxItemState,
    pub from: String,
    pub subject: String,
    pub date: Option<OffsetDateTime>,
    /// Patient id as in METADATA.XML (CX); never logged.
    pub patient_id: String,
    pub reason: Option<String>,
    pub documents: Vec<InboundDocument>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxRecord {
    pub item: NewInboxItem,
    pub acked_at: Option<OffsetDateTime>,
    /// Same Message-ID as another item with different bytes (kept, flagged).
    pub duplicate_message_id: bool,
}

/// What `inbox_insert` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxInsert {
    Inserted(InboxRecord),
    /// Already recorded (same mailbox + UIDVALIDITY + UID, or same Message-ID and bytes).
    Known(InboxRecord),
}

impl InboxInsert {
    pub fn record(&self) -> &InboxRecord {
        match self {
            InboxInsert::Inserted(r) | InboxInsert::Known(r) => r,
        }
    }
}

/// A read receipt that could not be sent yet (the operator was unreachable or refused for now):
/// rebuilt from the inbox item's raw message and sent again on a later pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMdn {
    pub inbox_id: String,
    pub mailbox: String,
    /// The ANS error the receipt reports (`processed/Error: code^label`), if any.
    pub error: Option<(u16, String)>,
    /// Failed sends so far.
    pub attempts: u32,
    pub created_at: OffsetDateTime,
}

/// The IMAP position of a polled mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxCursor {
    pub uidvalidity: u32,
    pub last_uid: u32,
}
