//! The storage interface. Blocking methods (call them from `spawn_blocking`); every method that
//! depends on time takes `now` so that the store never reads the clock. A PostgreSQL
//! implementation must keep the same semantics (docs/specs/outbox.md).

use std::time::Duration;

use time::OffsetDateTime;

use crate::error::Result;
use crate::types::*;

pub trait Store: Send + Sync {
    // ---- payloads ----
    /// Writes a payload durably (fsync of the file and its directory); call before `submit`.
    fn put_blob(&self, bytes: &[u8]) -> Result<BlobRef>;
    fn read_blob(&self, sha256: &Sha256) -> Result<Vec<u8>>;
    /// Largest payload that may be carried inline (committed with its rows instead of a file).
    fn inline_payload_max(&self) -> usize;

    // ---- submission ----
    /// Commits the transmission, its deliveries (state `queued`; with no payloads when they are
    /// rendered after the acknowledgement, see `attach_payloads`) and its audit entries in one
    /// transaction and returns once it is durable. `now` is `t.created_at`. Same tenant + key +
    /// `request_sha256` → `Replayed`; same key, other hash → `IdempotencyConflict`; full queue →
    /// `QueueFull` with nothing stored.
    fn submit(&self, t: NewTransmission) -> Result<SubmitOutcome>;
    /// Audit-only write (refused submission, Explain), durable on return.
    fn record_audit(
        &self,
        tenant: &str,
        drafts: Vec<AuditDraft>,
        now: OffsetDateTime,
    ) -> Result<Vec<AuditEntry>>;

    // ---- workers ----
    /// Leases up to `limit` due deliveries (queued with `next_attempt_at <= now`, or in flight
    /// under an expired lease, which come back with `reclaimed` and `outcome_unknown`). Each
    /// claim counts as an attempt. Paused destinations give nothing.
    fn claim(
        &self,
        scope: ClaimScope,
        now: OffsetDateTime,
        limit: u32,
        owner: &str,
        lease_for: Duration,
    ) -> Result<Vec<Claimed>>;
    /// Attaches the payloads rendered after the acknowledgement to a delivery that has none yet,
    /// under its live lease (`LeaseLost` otherwise). The first render wins: a delivery that
    /// already has payloads returns them unchanged.
    /// `inline`: small payloads committed with the references, as in `NewTransmission::inline`.
    fn attach_payloads(
        &self,
        delivery_id: &str,
        lease_token: u64,
        payloads: Vec<PayloadRef>,
        inline: Vec<Vec<u8>>,
    ) -> Result<DeliveryRecord>;
    /// Extends a live lease (long sends). `LeaseLost` if expired or taken again.
    fn renew_lease(
        &self,
        delivery_id: &str,
        lease_token: u64,
        now: OffsetDateTime,
        lease_for: Duration,
    ) -> Result<OffsetDateTime>;
    /// Records the outcome of the attempt made under `lease_token`; `LeaseLost` if the token is
    /// not the current one.
    fn complete_attempt(
        &self,
        delivery_id: &str,
        lease_token: u64,
        result: AttemptResult,
        now: OffsetDateTime,
    ) -> Result<DeliveryRecord>;
    /// Applies a DSN/MDN/integration report; a delivery already final records it as late. A
    /// state-changing notice for a delivery whose attempt is still in flight is held and applied
    /// when that attempt ends (whatever ends it), so a fast DSN is never lost.
    fn apply_notice(
        &self,
        delivery_id: &str,
        notice: DeliveryNotice,
        now: OffsetDateTime,
    ) -> Result<NoticeOutcome>;
    /// Expires deliveries whose retry window or notification timeout is over (up to `limit`
    /// of each kind per call).
    fn sweep(&self, now: OffsetDateTime, limit: u32) -> Result<SweepReport>;

    // ---- callers and operators ----
    /// Cancels one delivery (`InvalidState` unless queued or in flight under an expired lease),
    /// or every cancellable delivery of the transmission.
    fn cancel(
        &self,
        transmission_id: &str,
        delivery_id: Option<&str>,
        reason: &str,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<TransmissionRecord>;
    /// failed/expired → queued, attempts reset, new retry window from `now`.
    fn retry(&self, delivery_id: &str, actor: &str, now: OffsetDateTime) -> Result<DeliveryRecord>;
    /// Retries every failed/expired delivery matching the filter (until the queue is full);
    /// returns how many were requeued.
    fn retry_all(&self, filter: DeliveryFilter, actor: &str, now: OffsetDateTime) -> Result<u64>;
    fn pause(&self, destination: &str, actor: &str, now: OffsetDateTime) -> Result<()>;
    fn resume(&self, destination: &str, actor: &str, now: OffsetDateTime) -> Result<()>;
    fn is_paused(&self, destination: &str) -> Result<bool>;
    fn paused_destinations(&self) -> Result<Vec<String>>;

    // ---- reads ----
    fn get_transmission(&self, id: &str) -> Result<TransmissionRecord>;
    fn find_transmission(
        &self,
        tenant: &str,
        idempotency_key: &str,
    ) -> Result<Option<TransmissionRecord>>;
    fn get_delivery(&self, id: &str) -> Result<DeliveryRecord>;
    /// Newest first.
    fn list_transmissions(
        &self,
        filter: TransmissionFilter,
        page: PageRequest,
    ) -> Result<Page<TransmissionRecord>>;
    /// Newest first.
    fn list_deliveries(
        &self,
        filter: DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<DeliveryRecord>>;
    /// Events of a transmission with `seq > after_seq`, oldest first (Watch).
    fn events_since(
        &self,
        transmission_id: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<DeliveryEvent>>;
    /// Destinations that have pending (queued or in-flight) deliveries and are not paused: where
    /// workers should try to claim. Cheap (no scan of the queue once the writer has counted).
    fn pending_destinations(&self) -> Result<Vec<String>>;
    /// Queue gauges per destination (metrics).
    fn destination_stats(&self, now: OffsetDateTime) -> Result<Vec<DestinationStats>>;

    // ---- inbox (received MSSanté messages) ----
    /// Records a fetched message (raw bytes and documents already in the blob store) with an audit
    /// entry; idempotent on (mailbox, UIDVALIDITY, UID) and (mailbox, Message-ID, SHA-256).
    fn inbox_insert(&self, item: crate::inbox::NewInboxItem) -> Result<crate::inbox::InboxInsert>;
    fn inbox_get(&self, id: &str) -> Result<crate::inbox::InboxRecord>;
    /// Newest first.
    fn inbox_list(
        &self,
        tenant: &str,
        state: Option<crate::inbox::InboxItemState>,
        page: PageRequest,
    ) -> Result<Page<crate::inbox::InboxRecord>>;
    /// new → acked (the DUI took it); audited.
    fn inbox_ack(
        &self,
        id: &str,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<crate::inbox::InboxRecord>;
    fn inbox_cursor(&self, mailbox: &str) -> Result<Option<crate::inbox::InboxCursor>>;
    fn set_inbox_cursor(&self, mailbox: &str, cursor: crate::inbox::InboxCursor) -> Result<()>;
    /// Queues a read receipt to send again at `next_at` (a failed send counts one attempt);
    /// replaces an earlier entry of the same item.
    fn mdn_retry(&self, mdn: crate::inbox::PendingMdn, next_at: OffsetDateTime) -> Result<()>;
    /// Receipts of `mailbox` due at `now`, oldest first.
    fn mdn_due(
        &self,
        mailbox: &str,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<crate::inbox::PendingMdn>>;
    /// Forgets a queued receipt (sent, or given up).
    fn mdn_done(&self, inbox_id: &str) -> Result<()>;
    /// The delivery that was sent with this Message-ID (MDN correlation).
    fn delivery_by_message_id(&self, message_id: &str) -> Result<Option<DeliveryRecord>>;

    // ---- audit and retention ----
    /// Entries of a tenant's chain after `after_seq` (export).
    fn audit_entries(&self, tenant: &str, after_seq: u64, limit: u32) -> Result<Vec<AuditEntry>>;
    /// Checks every chain and the signed checkpoint.
    fn audit_verify(&self) -> Result<AuditReport>;
    /// Writes a signed checkpoint of every chain head now.
    fn checkpoint(&self, now: OffsetDateTime) -> Result<CheckpointInfo>;
    /// Removes the payloads of transmissions whose deliveries have all been final for longer
    /// than `retention` (up to `limit` transmissions); metadata, events and audit are kept.
    fn prune(&self, now: OffsetDateTime, retention: Duration, limit: u32) -> Result<PruneReport>;
}
