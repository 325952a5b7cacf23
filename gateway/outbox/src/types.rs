//! Values passed to and returned by the store.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use passerelle_domain::delivery::{Channel, DeliveryState};
use passerelle_domain::error::Origin;
use time::OffsetDateTime;

use crate::error::Error;

/// A SHA-256 digest (payload address, request hash, audit hash).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256(pub [u8; 32]);

impl Sha256 {
    pub fn digest(bytes: &[u8]) -> Sha256 {
        let d = ring::digest::digest(&ring::digest::SHA256, bytes);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        Sha256(out)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Result<Sha256, Error> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|e| Error::Invalid {
            field: "sha256",
            reason: format!("not 64 hex digits: {e}"),
        })?;
        Ok(Sha256(out))
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({})", self.to_hex())
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for Sha256 {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Sha256::from_hex(s)
    }
}

/// A payload in the blob store, as referenced by a delivery (ordered, named by the caller, e.g.
/// "message.eml" or "iti41.xml").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadRef {
    pub name: String,
    pub sha256: Sha256,
    pub size: u64,
}

/// What `BlobStore::put` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobRef {
    pub sha256: Sha256,
    pub size: u64,
}

impl BlobRef {
    pub fn named(self, name: impl Into<String>) -> PayloadRef {
        PayloadRef {
            name: name.into(),
            sha256: self.sha256,
            size: self.size,
        }
    }
}

/// An audit entry to append (the store adds tenant, sequence, time and hashes). Never document
/// content or INS: ids, kinds, decision summary, hashes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditDraft {
    /// e.g. "transmission.submitted", "transmission.refused", "explain".
    pub kind: String,
    pub actor: String,
    pub transmission_id: Option<String>,
    pub delivery_id: Option<String>,
    /// Short decision summary (rule ids, reason codes, outcome counts).
    pub summary: String,
    /// Hash of the evaluated input or of a detail kept elsewhere.
    pub data_sha256: Option<Sha256>,
}

/// One stored audit entry of a tenant's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub tenant: String,
    pub seq: u64,
    pub at: OffsetDateTime,
    pub kind: String,
    pub actor: String,
    pub transmission_id: Option<String>,
    pub delivery_id: Option<String>,
    pub summary: String,
    pub data_sha256: Option<Sha256>,
    pub prev_hash: Sha256,
    pub hash: Sha256,
}

/// A delivery to create with its transmission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub id: String,
    pub target_id: String,
    pub channel: Channel,
    /// MSSanté address, or a DMP label; never the INS.
    pub recipient: String,
    /// Isolation key: "mssante:<domain>" or "dmp".
    pub destination: String,
    pub document_ids: Vec<String>,
    /// Rendered bytes to send, already written to the blob store.
    pub payloads: Vec<PayloadRef>,
    /// End of the retry window; `None` = `created_at` + the configured window.
    pub expires_at: Option<OffsetDateTime>,
    /// An MDN was requested: `delivered` is not final until it arrives or its window passes.
    pub read_receipt_expected: bool,
}

/// A transmission to commit: rows, deliveries and audit entries in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTransmission {
    pub id: String,
    pub tenant: String,
    pub idempotency_key: String,
    /// SHA-256 of the request (idempotency key excluded), computed by the caller.
    pub request_sha256: Sha256,
    pub created_at: OffsetDateTime,
    /// The DUI's local child id (never the INS).
    pub child_ref: String,
    pub document_ids: Vec<String>,
    /// Document kind names (opaque to the store).
    pub kinds: Vec<String>,
    pub replaces_transmission_id: Option<String>,
    /// The policy decision, opaque bytes (JSON) kept for Get.
    pub decision_json: Vec<u8>,
    pub deliveries: Vec<NewDelivery>,
    /// Appended to the tenant's audit chain in the same transaction.
    pub audit: Vec<AuditDraft>,
    /// Extra payloads kept with the transmission (e.g. the rendered PDFs), reference-counted like
    /// the deliveries' payloads.
    pub blobs: Vec<PayloadRef>,
    /// Small payloads committed inside the transaction instead of as files (at most
    /// `StoreConfig::inline_payload_max` bytes each); their references, by hash, are among
    /// `blobs` or the deliveries' payloads.
    pub inline: Vec<Vec<u8>>,
}

/// Result of `submit`.
#[derive(Debug, Clone, PartialEq)]
pub enum SubmitOutcome {
    Created(TransmissionRecord),
    /// Same tenant, key and body: the stored transmission, nothing new created.
    Replayed(TransmissionRecord),
}

impl SubmitOutcome {
    pub fn record(&self) -> &TransmissionRecord {
        match self {
            SubmitOutcome::Created(r) | SubmitOutcome::Replayed(r) => r,
        }
    }
    pub fn into_record(self) -> TransmissionRecord {
        match self {
            SubmitOutcome::Created(r) | SubmitOutcome::Replayed(r) => r,
        }
    }
    pub fn replayed(&self) -> bool {
        matches!(self, SubmitOutcome::Replayed(_))
    }
}

/// Why a delivery failed (proto `DeliveryError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryError {
    pub origin: Origin,
    /// Stable code, e.g. "smtp_5.1.1", "DMP-CONF-02", "lease_expired".
    pub reason: String,
    /// Human text (server reply kept), never personal data.
    pub message: String,
    pub retryable: bool,
    pub remote_code: String,
}

impl DeliveryError {
    pub fn new(origin: Origin, reason: impl Into<String>, message: impl Into<String>) -> Self {
        DeliveryError {
            origin,
            reason: reason.into(),
            message: message.into(),
            retryable: false,
            remote_code: String::new(),
        }
    }
}

/// The current holder of an `in_flight` delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub token: u64,
    pub until: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: String,
    pub transmission_id: String,
    pub tenant: String,
    pub target_id: String,
    pub channel: Channel,
    pub recipient: String,
    pub destination: String,
    pub document_ids: Vec<String>,
    pub payloads: Vec<PayloadRef>,
    pub state: DeliveryState,
    /// Send attempts since creation or the last operator retry.
    pub attempts: u32,
    pub next_attempt_at: Option<OffsetDateTime>,
    pub expires_at: OffsetDateTime,
    pub last_error: Option<DeliveryError>,
    /// MSSanté Message-ID or DMP submission set uniqueId.
    pub message_id: Option<String>,
    /// A previous attempt's outcome is unknown (worker lost mid-send): the recipient may get a
    /// duplicate with the same Message-ID.
    pub outcome_unknown: bool,
    pub read_receipt_expected: bool,
    /// Deadline for a DSN after `sent` (notification timeout).
    pub notify_by: Option<OffsetDateTime>,
    /// Deadline for an MDN after `delivered`.
    pub mdn_by: Option<OffsetDateTime>,
    /// Last MDN disposition recorded.
    pub disposition: Option<String>,
    pub lease: Option<Lease>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// When the delivery became final (terminal, or `delivered` with nothing more expected).
    pub final_at: Option<OffsetDateTime>,
}

impl DeliveryRecord {
    /// Whether Watch may stop following it at `now`.
    pub fn is_final_for_watch(&self, now: OffsetDateTime) -> bool {
        let window_passed = self.mdn_by.is_some_and(|d| d <= now);
        self.state
            .is_final_for_watch(self.read_receipt_expected, window_passed)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TransmissionRecord {
    pub id: String,
    pub tenant: String,
    pub idempotency_key: String,
    pub request_sha256: Sha256,
    pub created_at: OffsetDateTime,
    pub child_ref: String,
    pub document_ids: Vec<String>,
    pub kinds: Vec<String>,
    pub replaces_transmission_id: Option<String>,
    pub decision_json: Vec<u8>,
    pub blobs: Vec<PayloadRef>,
    pub deliveries: Vec<DeliveryRecord>,
    /// Payloads were removed by `prune` (metadata and audit kept); retry is no longer possible.
    pub payloads_pruned: bool,
}

impl TransmissionRecord {
    pub fn all_final(&self, now: OffsetDateTime) -> bool {
        self.deliveries.iter().all(|d| d.is_final_for_watch(now))
    }
}

/// One state change (or recorded notification) of a delivery, for Watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryEvent {
    /// Store-wide increasing sequence; resume Watch after it.
    pub seq: i64,
    pub transmission_id: String,
    pub delivery_id: String,
    pub at: OffsetDateTime,
    /// `None` for the creation event.
    pub from: Option<DeliveryState>,
    pub to: DeliveryState,
    pub detail: String,
    /// Recorded after a final state and not applied.
    pub late: bool,
}

/// Which deliveries a worker claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimScope {
    /// One destination (nothing if it is paused).
    Destination(String),
    /// Every unpaused destination, shared fairly between them.
    AnyUnpaused,
}

/// A delivery handed to a worker under a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub delivery: DeliveryRecord,
    /// Present with `complete_attempt`; stale once the lease was taken again.
    pub lease_token: u64,
    pub lease_until: OffsetDateTime,
    /// Taken again after a lease expired mid-send: the previous outcome is unknown.
    pub reclaimed: bool,
}

/// A worker's report on one send attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// Handed to the MSSanté operator; `notify_by` = DSN deadline (None: wait for none).
    Sent {
        message_id: String,
        notify_by: Option<OffsetDateTime>,
    },
    /// The DMP accepted the submission (final success).
    Stored {
        message_id: String,
    },
    /// Try again later: after `retry_after` if given, else after the backoff.
    TemporaryFailure {
        error: DeliveryError,
        retry_after: Option<Duration>,
    },
    PermanentFailure {
        error: DeliveryError,
    },
    /// Not sent and will not be (e.g. DECISION_STALE at dispatch).
    Cancelled {
        reason: String,
    },
    /// Not attempted (e.g. shutdown); back to the queue, the attempt not counted.
    Released,
}

/// A notification about a sent delivery (DSN, MDN, integration report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryNotice {
    /// DSN success.
    Delivered { detail: String },
    /// MDN with disposition `displayed`.
    Read { detail: String },
    /// Any other MDN disposition: recorded, state unchanged.
    Disposition { disposition: String, detail: String },
    /// Recipient system refused integration (ANS 900–906), code kept in `error.remote_code`.
    Rejected { error: DeliveryError },
    /// DSN failure.
    Failed { error: DeliveryError },
    /// Informational (e.g. DSN `delayed`): recorded, state unchanged.
    Info { detail: String },
}

/// What `apply_notice` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeOutcome {
    Applied(DeliveryRecord),
    /// Recorded only (informational notice, or not applicable in the current state).
    Recorded(DeliveryRecord),
    /// The delivery was already final: recorded with `late = true`, not applied.
    Late(DeliveryRecord),
    /// The delivery's attempt is still in flight (the notice overtook the worker's record of the
    /// send): kept durably and applied, in arrival order, as soon as the attempt ends.
    Held(DeliveryRecord),
}

/// Filter of `list_transmissions`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransmissionFilter {
    pub tenant: Option<String>,
    pub child_ref: Option<String>,
    /// Transmissions having a delivery in this state.
    pub state: Option<DeliveryState>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

/// Filter of `list_deliveries` and `retry_all`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub tenant: Option<String>,
    pub state: Option<DeliveryState>,
    pub channel: Option<Channel>,
    pub destination: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// 1..=1000; 0 means the default (100).
    pub size: u32,
    /// Opaque token from the previous page.
    pub token: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}

/// Per-destination gauges (metrics `passerelle_outbox_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationStats {
    pub destination: String,
    pub queued: u64,
    pub in_flight: u64,
    pub failed: u64,
    pub oldest_pending_age: Option<Duration>,
    pub paused: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Queued (or abandoned in-flight) deliveries whose retry window ended.
    pub expired_unsent: u64,
    /// Sent deliveries whose DSN did not come in time.
    pub expired_unnotified: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub transmissions: u64,
    pub blobs_deleted: u64,
    pub bytes_freed: u64,
}

/// Result of `audit_verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    pub entries_checked: u64,
    pub tenants: u64,
    /// The first problem found; `None` = the chains and the checkpoint agree.
    pub first_bad: Option<AuditFault>,
}

impl AuditReport {
    pub fn ok(&self) -> bool {
        self.first_bad.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFault {
    pub tenant: String,
    /// Sequence of the first bad entry (or the checkpointed head that is missing).
    pub seq: u64,
    pub problem: AuditProblem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditProblem {
    /// The entry's stored hash is not the hash of its fields (edited).
    HashMismatch,
    /// The entry's `prev_hash` is not the previous entry's hash (inserted, deleted or reordered).
    BrokenLink,
    /// Sequence numbers are not 1, 2, 3… (entry deleted or inserted).
    SequenceGap { expected: u64 },
    /// The chain ends before the checkpointed head (tail truncated).
    Truncated { checkpoint_seq: u64 },
    /// The entry at the checkpointed sequence has another hash (chain rewritten).
    HeadMismatch,
    /// The checkpoint file is missing, unreadable, not signed by the store key, or of another store.
    Checkpoint(String),
    /// An entry's stored fields cannot be read.
    Unreadable(String),
}

/// Signed anchor of every tenant's chain head, written outside the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointInfo {
    pub at: OffsetDateTime,
    pub heads: Vec<(String, u64, Sha256)>,
}
