//! SQLite implementation: one writer thread that group-commits (many callers' commands in one
//! `synchronous=FULL` transaction, replies after the commit), and a small pool of WAL readers.

mod inbox;
mod read;
mod schema;
mod write;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use time::OffsetDateTime;

use crate::audit::{self, AuditKey, ChainVerifier};
use crate::blob::BlobStore;
use crate::config::StoreConfig;
use crate::error::{Error, Result};
use crate::store::Store;
use crate::types::*;
pub use write::SYSTEM_TENANT;

/// File names inside the data directory.
pub const DB_FILE: &str = "outbox.sqlite3";
pub const KEY_FILE: &str = "audit.key";
pub const BLOB_DIR: &str = "blobs";

type Reply = Box<dyn FnOnce(Option<&Error>) + Send>;
type Job = Box<dyn FnOnce(&mut write::Ctx<'_>) -> Reply + Send>;

enum Cmd {
    Job(Job),
    Checkpoint(OffsetDateTime, SyncSender<Result<CheckpointInfo>>),
}

struct Shared {
    dir: PathBuf,
    key: AuditKey,
    store_id: String,
    /// Pending deliveries per destination as of the last committed batch (the workers' hint of
    /// where to claim); None until the writer has counted.
    pending: std::sync::Mutex<Option<HashMap<String, u64>>>,
}

pub struct SqliteStore {
    shared: Arc<Shared>,
    blobs: Arc<BlobStore>,
    sender: Option<Sender<Cmd>>,
    writer: Option<JoinHandle<()>>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    inline_payload_max: usize,
}

fn open_conn(path: &Path, read_only: bool) -> Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let c = Connection::open_with_flags(path, flags).map_err(Error::db("open database"))?;
    c.busy_timeout(Duration::from_secs(10))
        .map_err(Error::db("busy timeout"))?;
    if !read_only {
        c.pragma_update(None, "journal_mode", "WAL")
            .map_err(Error::db("journal_mode=WAL"))?;
    }
    // FULL: a commit that returned survives power loss (the ack is durable).
    c.pragma_update(None, "synchronous", "FULL")
        .map_err(Error::db("synchronous=FULL"))?;
    c.pragma_update(None, "foreign_keys", "ON")
        .map_err(Error::db("foreign_keys"))?;
    // Each group-committed command runs under a savepoint; its statement journal only serves a
    // rollback inside the open transaction, so it needs no file (a temp file cost a write per
    // page). Durability is the WAL's business.
    c.pragma_update(None, "temp_store", "MEMORY")
        .map_err(Error::db("temp_store=MEMORY"))?;
    if !read_only {
        // The writer walks the queue's indexes on every insert: keep them cached (16 MiB).
        c.pragma_update(None, "cache_size", -16384)
            .map_err(Error::db("cache_size"))?;
    }
    c.set_prepared_statement_cache_capacity(64);
    Ok(c)
}

impl SqliteStore {
    /// Opens (or creates) the store in `dir`: `outbox.sqlite3`, `blobs/`, `audit.key` (created on
    /// first open) and `audit.checkpoint`.
    pub fn open(dir: impl AsRef<Path>, config: StoreConfig) -> Result<SqliteStore> {
        config.validate()?;
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        let blobs = Arc::new(BlobStore::open(dir.join(BLOB_DIR))?);
        let key = AuditKey::load_or_create(&dir.join(KEY_FILE))?;
        let db = dir.join(DB_FILE);
        let conn = open_conn(&db, false)?;
        conn.execute_batch(schema::SCHEMA)
            .map_err(Error::db("create schema"))?;
        // Inbox tables are additive (CREATE IF NOT EXISTS): older stores gain them on open.
        conn.execute_batch(inbox::SCHEMA)
            .map_err(Error::db("create inbox schema"))?;
        let version: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(Error::db("read schema version"))?;
        match version {
            None => {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                    params![schema::VERSION.to_string()],
                )
                .map_err(Error::db("write schema version"))?;
            }
            Some(v) if v == schema::VERSION.to_string() => {}
            Some(v) => {
                return Err(Error::Corrupt {
                    field: "meta.schema_version",
                    reason: format!(
                        "database has version {v}, this build knows {}",
                        schema::VERSION
                    ),
                });
            }
        }
        let store_id: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'store_id'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(Error::db("read store id"))?;
        let store_id = match store_id {
            Some(s) => s,
            None => {
                let mut b = [0u8; 16];
                SystemRandom::new()
                    .fill(&mut b)
                    .map_err(|_| Error::Crypto("no randomness for the store id".into()))?;
                let s = hex::encode(b);
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('store_id', ?1)",
                    params![s],
                )
                .map_err(Error::db("write store id"))?;
                s
            }
        };
        let shared = Arc::new(Shared {
            dir: dir.clone(),
            key,
            store_id,
            pending: Mutex::new(None),
        });
        // A new store anchors its empty chains at once, so a missing checkpoint file is
        // always a fault.
        if !audit::checkpoint_path(&dir).exists() {
            let heads = read::audit_heads(&conn)?;
            if heads.is_empty() {
                audit::write_checkpoint(
                    &dir,
                    &shared.key,
                    &shared.store_id,
                    &CheckpointInfo {
                        at: OffsetDateTime::UNIX_EPOCH,
                        heads,
                    },
                )?;
            }
        }
        let mut readers = Vec::with_capacity(config.read_connections);
        for _ in 0..config.read_connections {
            let r = open_conn(&db, true)?;
            readers.push(Mutex::new(r));
        }
        let inline_payload_max = config.inline_payload_max;
        let (tx, rx) = mpsc::channel();
        let w_shared = shared.clone();
        let w_blobs = blobs.clone();
        let writer = std::thread::Builder::new()
            .name("outbox-writer".into())
            .spawn(move || writer_loop(conn, rx, config, w_shared, w_blobs))
            .map_err(|e| Error::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore {
            shared,
            blobs,
            sender: Some(tx),
            writer: Some(writer),
            readers,
            next_reader: AtomicUsize::new(0),
            inline_payload_max,
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Hex Ed25519 public key that signs the audit checkpoints.
    pub fn audit_public_key(&self) -> String {
        self.shared.key.public_key_hex()
    }

    /// Path of a payload file (for streaming large payloads without reading them whole).
    pub fn blob_path(&self, sha256: &Sha256) -> PathBuf {
        self.blobs.path(sha256)
    }

    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut write::Ctx<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = mpsc::sync_channel::<Result<T>>(1);
        let job: Job = Box::new(move |ctx| {
            let r = ctx.savepoint(f);
            Box::new(move |commit_error: Option<&Error>| {
                let out = match commit_error {
                    Some(e) => Err(Error::Unavailable(format!("commit failed: {e}"))),
                    None => r,
                };
                let _ = tx.send(out);
            })
        });
        let stopped = || Error::Unavailable("the outbox writer has stopped".into());
        self.sender
            .as_ref()
            .ok_or_else(stopped)?
            .send(Cmd::Job(job))
            .map_err(|_| stopped())?;
        rx.recv().map_err(|_| stopped())?
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let n = self.readers.len();
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            if let Ok(c) = self.readers[(start + i) % n].try_lock() {
                return f(&c);
            }
        }
        let c = self.readers[start % n]
            .lock()
            .map_err(|_| Error::Unavailable("read connection poisoned".into()))?;
        f(&c)
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Closing the channel ends the writer loop after the commands already sent.
        self.sender.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

/// `at`: the caller's time for an explicit checkpoint, else the newest audit entry's time (the
/// store reads no clock).
fn write_checkpoint_now(
    conn: &Connection,
    shared: &Shared,
    at: Option<OffsetDateTime>,
) -> Result<CheckpointInfo> {
    let at = match at {
        Some(a) => a,
        None => conn
            .query_row("SELECT MAX(at) FROM audit", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .map_err(Error::db("newest audit time"))?
            .map(read::from_ts)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH),
    };
    let info = CheckpointInfo {
        at,
        heads: read::audit_heads(conn)?,
    };
    audit::write_checkpoint(&shared.dir, &shared.key, &shared.store_id, &info)?;
    Ok(info)
}

fn writer_loop(
    conn: Connection,
    rx: Receiver<Cmd>,
    cfg: StoreConfig,
    shared: Arc<Shared>,
    blobs: Arc<BlobStore>,
) {
    let mut since_checkpoint: u64 = 0;
    let mut pending: Option<write::Pending> = None;
    while let Ok(first) = rx.recv() {
        let mut jobs = Vec::new();
        let mut checkpoints = Vec::new();
        let mut next = Some(first);
        while let Some(c) = next.take() {
            match c {
                Cmd::Job(j) => jobs.push(j),
                Cmd::Checkpoint(at, reply) => checkpoints.push((at, reply)),
            }
            if jobs.len() < cfg.group_commit_max {
                next = rx.try_recv().ok();
            }
        }
        let mut replies: Vec<Reply> = Vec::with_capacity(jobs.len());
        let mut deletes = Vec::new();
        let mut commit_error = None;
        if !jobs.is_empty() {
            match conn.execute_batch("BEGIN IMMEDIATE") {
                Err(e) => commit_error = Some(Error::db("begin")(e)),
                Ok(()) => {
                    let had_counts = pending.is_some();
                    let mut ctx = write::Ctx::new(&conn, &cfg, pending.take());
                    for j in jobs {
                        replies.push(j(&mut ctx));
                    }
                    since_checkpoint += ctx.audit_appended;
                    deletes = std::mem::take(&mut ctx.deletes);
                    let counted = ctx.take_pending(had_counts);
                    if let Err(e) = conn.execute_batch("COMMIT") {
                        let _ = conn.execute_batch("ROLLBACK");
                        commit_error = Some(Error::db("commit")(e));
                        deletes.clear();
                        if let Ok(mut snap) = shared.pending.lock() {
                            *snap = None;
                        }
                    } else {
                        // Kept only when the batch committed: a rolled-back batch recounts.
                        // Counts dropped during the batch (a failed command undoes its writes)
                        // no longer follow the transitions: the snapshot goes too, and readers
                        // scan until the next count.
                        if let Ok(mut snap) = shared.pending.lock() {
                            *snap = counted.as_ref().map(|p| p.per_destination.clone());
                        }
                        pending = counted;
                    }
                }
            }
        }
        // Unlink pruned payloads only once the commit that dropped their last reference is
        // durable, and only if no later command in the batch referenced them again.
        for sha in deletes {
            let still: bool = conn
                .query_row(
                    "SELECT 1 FROM blobs WHERE sha256 = ?1",
                    params![sha.to_hex()],
                    |_| Ok(()),
                )
                .optional()
                .map(|r| r.is_some())
                .unwrap_or(true);
            if !still {
                let _ = blobs.remove(&sha);
            }
        }
        let due = since_checkpoint >= cfg.checkpoint_every;
        if due || !checkpoints.is_empty() {
            let at = checkpoints.iter().map(|(a, _)| *a).max();
            let r = write_checkpoint_now(&conn, &shared, at);
            if r.is_ok() {
                since_checkpoint = 0;
            }
            for (_, reply) in checkpoints {
                let _ = reply.send(match &r {
                    Ok(i) => Ok(i.clone()),
                    Err(e) => Err(Error::Unavailable(format!("checkpoint: {e}"))),
                });
            }
        }
        for r in replies {
            r(commit_error.as_ref());
        }
    }
    // Clean shutdown: anchor what was written since the last checkpoint.
    if since_checkpoint > 0 {
        let _ = write_checkpoint_now(&conn, &shared, None);
    }
}

impl Store for SqliteStore {
    fn inbox_insert(&self, item: crate::inbox::NewInboxItem) -> Result<crate::inbox::InboxInsert> {
        self.call(move |ctx| inbox::insert(ctx, &item))
    }

    fn inbox_get(&self, id: &str) -> Result<crate::inbox::InboxRecord> {
        self.read(|c| inbox::get(c, id))
    }

    fn inbox_list(
        &self,
        tenant: &str,
        state: Option<crate::inbox::InboxItemState>,
        page: PageRequest,
    ) -> Result<Page<crate::inbox::InboxRecord>> {
        self.read(|c| inbox::list(c, tenant, state, &page))
    }

    fn inbox_ack(
        &self,
        id: &str,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<crate::inbox::InboxRecord> {
        let (id, actor) = (id.to_owned(), actor.to_owned());
        self.call(move |ctx| inbox::ack(ctx, &id, &actor, now))
    }

    fn inbox_cursor(&self, mailbox: &str) -> Result<Option<crate::inbox::InboxCursor>> {
        self.read(|c| inbox::cursor(c, mailbox))
    }

    fn set_inbox_cursor(&self, mailbox: &str, cursor: crate::inbox::InboxCursor) -> Result<()> {
        let mailbox = mailbox.to_owned();
        self.call(move |ctx| inbox::set_cursor(ctx, &mailbox, cursor))
    }

    fn mdn_retry(&self, mdn: crate::inbox::PendingMdn, next_at: OffsetDateTime) -> Result<()> {
        self.call(move |ctx| inbox::mdn_retry(ctx, &mdn, next_at))
    }

    fn mdn_due(
        &self,
        mailbox: &str,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<crate::inbox::PendingMdn>> {
        self.read(|c| inbox::mdn_due(c, mailbox, now, limit))
    }

    fn mdn_done(&self, inbox_id: &str) -> Result<()> {
        let id = inbox_id.to_owned();
        self.call(move |ctx| inbox::mdn_done(ctx, &id))
    }

    fn delivery_by_message_id(&self, message_id: &str) -> Result<Option<DeliveryRecord>> {
        self.read(|c| match inbox::delivery_id_by_message_id(c, message_id)? {
            Some(id) => read::delivery(c, &id),
            None => Ok(None),
        })
    }

    fn put_blob(&self, bytes: &[u8]) -> Result<BlobRef> {
        self.blobs.put(bytes)
    }

    fn read_blob(&self, sha256: &Sha256) -> Result<Vec<u8>> {
        match self.blobs.get(sha256) {
            Err(Error::BlobMissing { .. }) => {
                let bytes: Option<Vec<u8>> = self.read(|c| {
                    c.prepare_cached("SELECT bytes FROM blob_data WHERE sha256 = ?1")
                        .map_err(Error::db("prepare inline read"))?
                        .query_row(params![sha256.to_hex()], |r| r.get(0))
                        .optional()
                        .map_err(Error::db("inline read"))
                })?;
                let bytes = bytes.ok_or_else(|| Error::BlobMissing {
                    sha256: sha256.to_hex(),
                })?;
                if Sha256::digest(&bytes) != *sha256 {
                    return Err(Error::Corrupt {
                        field: "blob_data",
                        reason: format!(
                            "content of {} does not match its address",
                            sha256.to_hex()
                        ),
                    });
                }
                Ok(bytes)
            }
            other => other,
        }
    }

    fn submit(&self, t: NewTransmission) -> Result<SubmitOutcome> {
        validate_new(&t)?;
        let blobs = self.blobs.clone();
        self.call(move |ctx| ctx.submit(&t, &|sha| blobs.contains(sha)))
    }

    fn record_audit(
        &self,
        tenant: &str,
        drafts: Vec<AuditDraft>,
        now: OffsetDateTime,
    ) -> Result<Vec<AuditEntry>> {
        if tenant.is_empty() {
            return Err(Error::Invalid {
                field: "tenant",
                reason: "empty".into(),
            });
        }
        let tenant = tenant.to_owned();
        self.call(move |ctx| ctx.record_audit(&tenant, &drafts, now))
    }

    fn claim(
        &self,
        scope: ClaimScope,
        now: OffsetDateTime,
        limit: u32,
        owner: &str,
        lease_for: Duration,
    ) -> Result<Vec<Claimed>> {
        if lease_for.is_zero() {
            return Err(Error::Invalid {
                field: "lease_for",
                reason: "must be positive".into(),
            });
        }
        let owner = owner.to_owned();
        self.call(move |ctx| ctx.claim(&scope, now, limit, &owner, lease_for))
    }

    fn attach_payloads(
        &self,
        delivery_id: &str,
        lease_token: u64,
        payloads: Vec<PayloadRef>,
        inline: Vec<Vec<u8>>,
    ) -> Result<DeliveryRecord> {
        let id = delivery_id.to_owned();
        let blobs = self.blobs.clone();
        self.call(move |ctx| {
            ctx.attach_payloads(&id, lease_token, &payloads, &inline, &|sha| {
                blobs.contains(sha)
            })
        })
    }

    fn inline_payload_max(&self) -> usize {
        self.inline_payload_max
    }

    fn renew_lease(
        &self,
        delivery_id: &str,
        lease_token: u64,
        now: OffsetDateTime,
        lease_for: Duration,
    ) -> Result<OffsetDateTime> {
        let id = delivery_id.to_owned();
        self.call(move |ctx| ctx.renew_lease(&id, lease_token, now, lease_for))
    }

    fn complete_attempt(
        &self,
        delivery_id: &str,
        lease_token: u64,
        result: AttemptResult,
        now: OffsetDateTime,
    ) -> Result<DeliveryRecord> {
        let id = delivery_id.to_owned();
        self.call(move |ctx| ctx.complete_attempt(&id, lease_token, &result, now))
    }

    fn apply_notice(
        &self,
        delivery_id: &str,
        notice: DeliveryNotice,
        now: OffsetDateTime,
    ) -> Result<NoticeOutcome> {
        let id = delivery_id.to_owned();
        self.call(move |ctx| ctx.apply_notice(&id, &notice, now))
    }

    fn sweep(&self, now: OffsetDateTime, limit: u32) -> Result<SweepReport> {
        self.call(move |ctx| ctx.sweep(now, limit))
    }

    fn cancel(
        &self,
        transmission_id: &str,
        delivery_id: Option<&str>,
        reason: &str,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<TransmissionRecord> {
        let (t, d, r, a) = (
            transmission_id.to_owned(),
            delivery_id.map(str::to_owned),
            reason.to_owned(),
            actor.to_owned(),
        );
        self.call(move |ctx| ctx.cancel(&t, d.as_deref(), &r, &a, now))
    }

    fn retry(&self, delivery_id: &str, actor: &str, now: OffsetDateTime) -> Result<DeliveryRecord> {
        let (id, a) = (delivery_id.to_owned(), actor.to_owned());
        self.call(move |ctx| ctx.retry(&id, &a, now))
    }

    fn retry_all(&self, filter: DeliveryFilter, actor: &str, now: OffsetDateTime) -> Result<u64> {
        let a = actor.to_owned();
        self.call(move |ctx| ctx.retry_all(&filter, &a, now))
    }

    fn pause(&self, destination: &str, actor: &str, now: OffsetDateTime) -> Result<()> {
        let (d, a) = (destination.to_owned(), actor.to_owned());
        self.call(move |ctx| ctx.set_paused(&d, true, &a, now))
    }

    fn resume(&self, destination: &str, actor: &str, now: OffsetDateTime) -> Result<()> {
        let (d, a) = (destination.to_owned(), actor.to_owned());
        self.call(move |ctx| ctx.set_paused(&d, false, &a, now))
    }

    fn is_paused(&self, destination: &str) -> Result<bool> {
        self.read(|c| read::is_paused(c, destination))
    }

    fn paused_destinations(&self) -> Result<Vec<String>> {
        self.read(read::paused_destinations)
    }

    fn get_transmission(&self, id: &str) -> Result<TransmissionRecord> {
        self.read(|c| read::require_transmission(c, id))
    }

    fn find_transmission(
        &self,
        tenant: &str,
        idempotency_key: &str,
    ) -> Result<Option<TransmissionRecord>> {
        self.read(
            |c| match read::by_idempotency(c, tenant, idempotency_key)? {
                Some((id, _)) => read::transmission(c, &id),
                None => Ok(None),
            },
        )
    }

    fn get_delivery(&self, id: &str) -> Result<DeliveryRecord> {
        self.read(|c| read::require_delivery(c, id))
    }

    fn list_transmissions(
        &self,
        filter: TransmissionFilter,
        page: PageRequest,
    ) -> Result<Page<TransmissionRecord>> {
        self.read(|c| read::list_transmissions(c, &filter, &page))
    }

    fn list_deliveries(
        &self,
        filter: DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<DeliveryRecord>> {
        self.read(|c| read::list_deliveries(c, &filter, &page))
    }

    fn events_since(
        &self,
        transmission_id: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<DeliveryEvent>> {
        self.read(|c| read::events_since(c, transmission_id, after_seq, limit))
    }

    fn pending_destinations(&self) -> Result<Vec<String>> {
        let snapshot = self
            .shared
            .pending
            .lock()
            .map_err(|_| Error::Unavailable("pending counts poisoned".into()))?
            .clone();
        let paused = self.paused_destinations()?;
        let mut out: Vec<String> = match snapshot {
            Some(m) => m
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(|(d, _)| d)
                .collect(),
            // Nothing written since the store opened: one scan.
            None => self.read(|c| {
                c.prepare_cached(
                    "SELECT DISTINCT destination FROM deliveries \
                     WHERE state IN ('queued', 'in_flight')",
                )
                .map_err(Error::db("prepare pending destinations"))?
                .query_map([], |r| r.get(0))
                .map_err(Error::db("pending destinations"))?
                .collect::<std::result::Result<_, _>>()
                .map_err(Error::db("pending destinations"))
            })?,
        };
        out.retain(|d| !paused.contains(d));
        out.sort();
        Ok(out)
    }

    fn destination_stats(&self, now: OffsetDateTime) -> Result<Vec<DestinationStats>> {
        self.read(|c| read::destination_stats(c, now))
    }

    fn audit_entries(&self, tenant: &str, after_seq: u64, limit: u32) -> Result<Vec<AuditEntry>> {
        self.read(|c| read::audit_entries(c, tenant, after_seq, limit))
    }

    fn audit_verify(&self) -> Result<AuditReport> {
        // The checkpoint is read before the database snapshot, so every checkpointed head
        // must be in the snapshot.
        let cp = audit::read_checkpoint(&self.shared.dir, &self.shared.key, &self.shared.store_id);
        self.read(|c| {
            let mut v = ChainVerifier::new(cp.as_ref().ok());
            let mut first_bad = None;
            read::audit_walk(c, |item| {
                let r = match item {
                    Ok(e) => v.push(&e),
                    Err((tenant, seq, why)) => Err(AuditFault {
                        tenant,
                        seq,
                        problem: AuditProblem::Unreadable(why),
                    }),
                };
                match r {
                    Ok(()) => true,
                    Err(f) => {
                        first_bad = Some(f);
                        false
                    }
                }
            })?;
            if first_bad.is_none() {
                first_bad = match &cp {
                    Ok(cp) => v.finish(cp).err(),
                    Err(why) => Some(AuditFault {
                        tenant: String::new(),
                        seq: 0,
                        problem: AuditProblem::Checkpoint(why.clone()),
                    }),
                };
            }
            Ok(AuditReport {
                entries_checked: v.checked,
                tenants: v.tenants,
                first_bad,
            })
        })
    }

    fn checkpoint(&self, now: OffsetDateTime) -> Result<CheckpointInfo> {
        let (tx, rx) = mpsc::sync_channel(1);
        let stopped = || Error::Unavailable("the outbox writer has stopped".into());
        self.sender
            .as_ref()
            .ok_or_else(stopped)?
            .send(Cmd::Checkpoint(now, tx))
            .map_err(|_| stopped())?;
        rx.recv().map_err(|_| stopped())?
    }

    fn prune(&self, now: OffsetDateTime, retention: Duration, limit: u32) -> Result<PruneReport> {
        self.call(move |ctx| ctx.prune(now, retention, limit))
    }
}

fn validate_new(t: &NewTransmission) -> Result<()> {
    let empty = |field: &'static str, v: &str| {
        if v.is_empty() {
            Err(Error::Invalid {
                field,
                reason: "empty".into(),
            })
        } else {
            Ok(())
        }
    };
    empty("id", &t.id)?;
    empty("tenant", &t.tenant)?;
    empty("idempotency_key", &t.idempotency_key)?;
    if t.tenant == SYSTEM_TENANT {
        return Err(Error::Invalid {
            field: "tenant",
            reason: "reserved name".into(),
        });
    }
    if t.deliveries.is_empty() {
        return Err(Error::Invalid {
            field: "deliveries",
            reason: "a stored transmission has at least one delivery (refusals are audit-only)"
                .into(),
        });
    }
    let mut ids = std::collections::HashSet::new();
    for d in &t.deliveries {
        empty("deliveries.id", &d.id)?;
        empty("deliveries.destination", &d.destination)?;
        if !ids.insert(d.id.as_str()) {
            return Err(Error::Invalid {
                field: "deliveries.id",
                reason: format!("{} appears twice", d.id),
            });
        }
        if let Some(e) = d.expires_at
            && e <= t.created_at
        {
            return Err(Error::Invalid {
                field: "deliveries.expires_at",
                reason: format!("delivery {} expires before it is created", d.id),
            });
        }
    }
    Ok(())
}
