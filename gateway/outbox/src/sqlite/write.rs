//! Write operations, run by the single writer thread inside a group-commit transaction, each
//! under its own savepoint.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use passerelle_domain::delivery::{DeliveryState, TransitionKind};
use passerelle_domain::error::Origin;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

use super::read::{self, add, origin_str, to_json_list, ts};
use crate::audit::{GENESIS, entry_hash};
use crate::config::StoreConfig;
use crate::error::{Error, Result};
use crate::types::*;

/// Chain of operator actions that belong to no tenant (pause, resume).
pub const SYSTEM_TENANT: &str = "_system";

/// Pending (queued + in flight) deliveries per destination, counted once and then kept by the
/// writer across batches: the one writer sees every change, so the counts need no scan per batch.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pending {
    pub total: u64,
    pub per_destination: HashMap<String, u64>,
}

pub(crate) struct Ctx<'c> {
    pub conn: &'c Connection,
    pub cfg: &'c StoreConfig,
    pending: Option<Pending>,
    /// Blobs whose last reference went away; unlinked after the commit.
    pub deletes: Vec<Sha256>,
    pub audit_appended: u64,
}

impl<'c> Ctx<'c> {
    /// `pending`: the counts kept from the previous batch (None: count on first use).
    pub fn new(conn: &'c Connection, cfg: &'c StoreConfig, pending: Option<Pending>) -> Ctx<'c> {
        Ctx {
            conn,
            cfg,
            pending,
            deletes: Vec::new(),
            audit_appended: 0,
        }
    }

    /// Runs `f` under a savepoint: its writes are undone if it fails, the batch goes on.
    pub fn savepoint<T>(&mut self, f: impl FnOnce(&mut Ctx<'c>) -> Result<T>) -> Result<T> {
        self.conn
            .execute_batch("SAVEPOINT job")
            .map_err(Error::db("savepoint"))?;
        let deletes = self.deletes.len();
        match f(self) {
            Ok(v) => {
                self.conn
                    .execute_batch("RELEASE job")
                    .map_err(Error::db("release savepoint"))?;
                Ok(v)
            }
            Err(e) => {
                self.deletes.truncate(deletes);
                // Counts may have moved with the undone writes: recount on next use.
                self.pending = None;
                self.conn
                    .execute_batch("ROLLBACK TO job; RELEASE job")
                    .map_err(Error::db("rollback savepoint"))?;
                Err(e)
            }
        }
    }

    /// The counts to keep for the next batch once this one has committed. `recount`: count again
    /// (inside the transaction) if a failed command dropped them during the batch.
    pub fn take_pending(&mut self, recount: bool) -> Option<Pending> {
        if recount && self.pending.is_none() {
            // A failed count leaves None: the next batch counts again.
            let _ = self.pending();
        }
        self.pending.take()
    }

    fn pending(&mut self) -> Result<&mut Pending> {
        if self.pending.is_none() {
            let mut st = self
                .conn
                .prepare_cached(
                    "SELECT destination, COUNT(*) FROM deliveries \
                     WHERE state IN ('queued', 'in_flight') GROUP BY destination",
                )
                .map_err(Error::db("prepare pending count"))?;
            let rows: Vec<(String, i64)> = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(Error::db("pending count"))?
                .collect::<Result<_, _>>()
                .map_err(Error::db("pending count"))?;
            let mut p = Pending {
                total: 0,
                per_destination: HashMap::new(),
            };
            for (d, n) in rows {
                p.total += n as u64;
                p.per_destination.insert(d, n as u64);
            }
            self.pending = Some(p);
        }
        self.pending
            .as_mut()
            .ok_or_else(|| Error::Unavailable("pending counts".into()))
    }

    /// QueueFull unless `adding` more pending deliveries fit (per destination and in total).
    fn check_capacity(&mut self, adding: &BTreeMap<String, u64>) -> Result<()> {
        let (cap, cap_dest, retry_after) = (
            self.cfg.capacity,
            self.cfg.capacity_per_destination,
            self.cfg.queue_full_retry_after,
        );
        let p = self.pending()?;
        let n: u64 = adding.values().sum();
        if p.total + n > cap {
            return Err(Error::QueueFull {
                scope: "store".into(),
                pending: p.total,
                capacity: cap,
                retry_after,
            });
        }
        for (d, k) in adding {
            let cur = p.per_destination.get(d).copied().unwrap_or(0);
            if cur + k > cap_dest {
                return Err(Error::QueueFull {
                    scope: format!("destination {d}"),
                    pending: cur,
                    capacity: cap_dest,
                    retry_after,
                });
            }
        }
        Ok(())
    }

    fn count_pending(&mut self, destination: &str, delta: i64) {
        if let Some(p) = self.pending.as_mut() {
            p.total = p.total.saturating_add_signed(delta);
            let e = p.per_destination.entry(destination.to_owned()).or_default();
            *e = e.saturating_add_signed(delta);
        }
    }

    pub fn append_audit(
        &mut self,
        tenant: &str,
        now: OffsetDateTime,
        d: &AuditDraft,
    ) -> Result<AuditEntry> {
        let head: Option<(i64, String)> = self
            .conn
            .prepare_cached(
                "SELECT seq, hash FROM audit WHERE tenant = ?1 ORDER BY seq DESC LIMIT 1",
            )
            .map_err(Error::db("prepare audit head"))?
            .query_row(params![tenant], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(Error::db("audit head"))?;
        let (seq, prev) = match head {
            Some((s, h)) => (s as u64 + 1, Sha256::from_hex(&h)?),
            None => (1, GENESIS),
        };
        let mut e = AuditEntry {
            tenant: tenant.to_owned(),
            seq,
            at: now,
            kind: d.kind.clone(),
            actor: d.actor.clone(),
            transmission_id: d.transmission_id.clone(),
            delivery_id: d.delivery_id.clone(),
            summary: d.summary.clone(),
            data_sha256: d.data_sha256,
            prev_hash: prev,
            hash: GENESIS,
        };
        e.hash = entry_hash(&e);
        self.conn
            .prepare_cached(
                "INSERT INTO audit (tenant, seq, at, kind, actor, transmission_id, delivery_id, \
                 summary, data_sha256, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )
            .map_err(Error::db("prepare audit insert"))?
            .execute(params![
                e.tenant,
                e.seq as i64,
                ts(e.at)?,
                e.kind,
                e.actor,
                e.transmission_id,
                e.delivery_id,
                e.summary,
                e.data_sha256.map(|h| h.to_hex()),
                e.prev_hash.to_hex(),
                e.hash.to_hex(),
            ])
            .map_err(Error::db("audit insert"))?;
        self.audit_appended += 1;
        Ok(e)
    }

    /// Writes the Watch event and the audit entry of a state change (or of a recorded notice).
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        d: &DeliveryRecord,
        from: Option<DeliveryState>,
        to: DeliveryState,
        now: OffsetDateTime,
        actor: &str,
        detail: &str,
        audit_summary: &str,
        late: bool,
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO events (transmission_id, delivery_id, at, from_state, to_state, detail, late) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(Error::db("prepare event"))?
            .execute(params![
                d.transmission_id,
                d.id,
                ts(now)?,
                from.map(DeliveryState::as_str),
                to.as_str(),
                detail,
                i64::from(late)
            ])
            .map_err(Error::db("insert event"))?;
        let from_s = from.map(DeliveryState::as_str).unwrap_or("none");
        let kind = if late {
            "delivery.late_notice"
        } else if from == Some(to) {
            "delivery.notice"
        } else {
            "delivery.transition"
        };
        let draft = AuditDraft {
            kind: kind.into(),
            actor: actor.into(),
            transmission_id: Some(d.transmission_id.clone()),
            delivery_id: Some(d.id.clone()),
            summary: format!("{from_s}->{to} {audit_summary}")
                .trim_end()
                .to_owned(),
            data_sha256: None,
        };
        self.append_audit(&d.tenant, now, &draft)?;
        Ok(())
    }

    /// Moves a delivery to `to`, checking the state machine, and records it.
    #[allow(clippy::too_many_arguments)]
    fn transition(
        &mut self,
        d: &DeliveryRecord,
        to: DeliveryState,
        kind: TransitionKind,
        now: OffsetDateTime,
        actor: &str,
        detail: &str,
        audit_summary: &str,
        mut sets: Vec<(&'static str, Value)>,
    ) -> Result<()> {
        if !DeliveryState::can_transition_by(kind, d.state, to) {
            return Err(Error::InvalidState {
                delivery_id: d.id.clone(),
                state: d.state,
                action: "change state",
            });
        }
        sets.push(("state", Value::Text(to.as_str().into())));
        sets.push(("updated_at", Value::Integer(ts(now)?)));
        if to.is_terminal() && !sets.iter().any(|(c, _)| *c == "final_at") {
            sets.push(("final_at", Value::Integer(ts(now)?)));
        }
        if to != DeliveryState::InFlight {
            sets.push(("lease_owner", Value::Null));
            sets.push(("lease_until", Value::Null));
        }
        let mut sql = String::from("UPDATE deliveries SET ");
        let mut args = Vec::with_capacity(sets.len() + 1);
        for (i, (c, v)) in sets.into_iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("{c} = ?{}", i + 1));
            args.push(v);
        }
        args.push(Value::Text(d.id.clone()));
        sql.push_str(&format!(" WHERE id = ?{}", args.len()));
        self.conn
            .prepare_cached(&sql)
            .map_err(Error::db("prepare delivery update"))?
            .execute(rusqlite::params_from_iter(args.iter()))
            .map_err(Error::db("delivery update"))?;
        match (d.state.is_pending(), to.is_pending()) {
            (true, false) => self.count_pending(&d.destination, -1),
            (false, true) => self.count_pending(&d.destination, 1),
            _ => {}
        }
        self.record(
            d,
            Some(d.state),
            to,
            now,
            actor,
            detail,
            audit_summary,
            false,
        )?;
        if d.state == DeliveryState::InFlight && to != DeliveryState::InFlight {
            self.release_held(&d.id, now)?;
        }
        Ok(())
    }

    /// Keeps a notice that overtook the record of its delivery's attempt (see `held_notices`).
    fn hold_notice(
        &mut self,
        d: &DeliveryRecord,
        notice: &DeliveryNotice,
        detail: &str,
        summary: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        let (kind, detail_col, error) = match notice {
            DeliveryNotice::Delivered { detail } => ("delivered", detail.as_str(), None),
            DeliveryNotice::Read { detail } => ("read", detail.as_str(), None),
            DeliveryNotice::Rejected { error } => ("rejected", "", Some(error)),
            DeliveryNotice::Failed { error } => ("failed", "", Some(error)),
            DeliveryNotice::Disposition { .. } | DeliveryNotice::Info { .. } => {
                return Err(Error::Invalid {
                    field: "notice",
                    reason: "only a state-changing notice is held".into(),
                });
            }
        };
        self.conn
            .prepare_cached(
                "INSERT INTO held_notices (delivery_id, received_at, kind, detail, err_origin, \
                 err_reason, err_message, err_retryable, err_remote_code) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .map_err(Error::db("prepare hold notice"))?
            .execute(params![
                d.id,
                ts(now)?,
                kind,
                detail_col,
                error.map(|e| origin_str(e.origin)),
                error.map(|e| e.reason.as_str()),
                error.map(|e| e.message.as_str()),
                error.map(|e| i64::from(e.retryable)),
                error.map(|e| e.remote_code.as_str()),
            ])
            .map_err(Error::db("hold notice"))?;
        self.record(
            d,
            Some(d.state),
            d.state,
            now,
            "notifier",
            &format!("held until the attempt in flight ends: {detail}"),
            &format!("held {summary}"),
            false,
        )
    }

    /// Applies, in arrival order, the notices held while the delivery's attempt was in flight.
    fn release_held(&mut self, delivery_id: &str, now: OffsetDateTime) -> Result<()> {
        type Row = (
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<String>,
        );
        let rows: Vec<Row> = {
            let mut st = self
                .conn
                .prepare_cached(
                    "SELECT kind, detail, err_origin, err_reason, err_message, err_retryable, \
                     err_remote_code FROM held_notices WHERE delivery_id = ?1 ORDER BY seq",
                )
                .map_err(Error::db("prepare held notices"))?;
            st.query_map(params![delivery_id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })
            .map_err(Error::db("held notices"))?
            .collect::<Result<_, _>>()
            .map_err(Error::db("held notices"))?
        };
        if rows.is_empty() {
            return Ok(());
        }
        self.conn
            .prepare_cached("DELETE FROM held_notices WHERE delivery_id = ?1")
            .map_err(Error::db("prepare release held notices"))?
            .execute(params![delivery_id])
            .map_err(Error::db("release held notices"))?;
        for (kind, detail, origin, reason, message, retryable, remote_code) in rows {
            let error = || -> Result<DeliveryError> {
                Ok(DeliveryError {
                    origin: read::origin_parse(origin.as_deref().unwrap_or_default())?,
                    reason: reason.clone().unwrap_or_default(),
                    message: message.clone().unwrap_or_default(),
                    retryable: retryable.unwrap_or(0) != 0,
                    remote_code: remote_code.clone().unwrap_or_default(),
                })
            };
            let notice = match kind.as_str() {
                "delivered" => DeliveryNotice::Delivered { detail },
                "read" => DeliveryNotice::Read { detail },
                "rejected" => DeliveryNotice::Rejected { error: error()? },
                "failed" => DeliveryNotice::Failed { error: error()? },
                other => {
                    return Err(Error::Corrupt {
                        field: "held_notices.kind",
                        reason: format!("unknown kind {other:?}"),
                    });
                }
            };
            self.apply_notice(delivery_id, &notice, now)?;
        }
        Ok(())
    }

    pub(crate) fn add_ref(
        &mut self,
        kind: &str,
        owner: &str,
        ord: usize,
        p: &PayloadRef,
    ) -> Result<()> {
        let sha = p.sha256.to_hex();
        self.conn
            .prepare_cached(
                "INSERT INTO payload_refs (owner_kind, owner_id, ord, name, sha256, size) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(Error::db("prepare payload ref"))?
            .execute(params![kind, owner, ord as i64, p.name, sha, p.size as i64])
            .map_err(Error::db("insert payload ref"))?;
        self.conn
            .prepare_cached(
                "INSERT INTO blobs (sha256, size, refcount) VALUES (?1, ?2, 1) \
                 ON CONFLICT (sha256) DO UPDATE SET refcount = blobs.refcount + 1",
            )
            .map_err(Error::db("prepare blob ref"))?
            .execute(params![sha, p.size as i64])
            .map_err(Error::db("blob refcount"))?;
        Ok(())
    }

    // ---- operations ----
    /// Stores small payloads in the transaction (content-addressed: a repeat is a no-op). Each
    /// must end up referenced in the same command, or prune would never see it.
    fn insert_inline(&mut self, inline: &[Vec<u8>]) -> Result<()> {
        for bytes in inline {
            if bytes.len() > self.cfg.inline_payload_max {
                return Err(Error::Invalid {
                    field: "inline",
                    reason: format!(
                        "{} bytes is over the inline limit of {}",
                        bytes.len(),
                        self.cfg.inline_payload_max
                    ),
                });
            }
            self.conn
                .prepare_cached(
                    "INSERT INTO blob_data (sha256, bytes) VALUES (?1, ?2) \
                     ON CONFLICT (sha256) DO NOTHING",
                )
                .map_err(Error::db("prepare inline payload"))?
                .execute(params![Sha256::digest(bytes).to_hex(), bytes])
                .map_err(Error::db("inline payload"))?;
        }
        Ok(())
    }

    fn has_inline(&self, sha: &Sha256) -> Result<bool> {
        self.conn
            .prepare_cached("SELECT 1 FROM blob_data WHERE sha256 = ?1")
            .map_err(Error::db("prepare inline lookup"))?
            .query_row(params![sha.to_hex()], |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
            .map_err(Error::db("inline lookup"))
    }

    pub fn submit(
        &mut self,
        t: &NewTransmission,
        blobs_present: &dyn Fn(&Sha256) -> bool,
    ) -> Result<SubmitOutcome> {
        let now = t.created_at;
        if let Some((id, sha)) = read::by_idempotency(self.conn, &t.tenant, &t.idempotency_key)? {
            if sha == t.request_sha256 {
                return Ok(SubmitOutcome::Replayed(read::require_transmission(
                    self.conn, &id,
                )?));
            }
            return Err(Error::IdempotencyConflict { existing_id: id });
        }
        if read::transmission(self.conn, &t.id)?.is_some() {
            return Err(Error::DuplicateId {
                what: "transmission",
                id: t.id.clone(),
            });
        }
        let mut adding: BTreeMap<String, u64> = BTreeMap::new();
        for d in &t.deliveries {
            *adding.entry(d.destination.clone()).or_default() += 1;
        }
        self.check_capacity(&adding)?;
        self.insert_inline(&t.inline)?;
        // A prune committed earlier may have unlinked content this submission re-uses.
        for p in t
            .blobs
            .iter()
            .chain(t.deliveries.iter().flat_map(|d| d.payloads.iter()))
        {
            if !blobs_present(&p.sha256) && !self.has_inline(&p.sha256)? {
                return Err(Error::BlobMissing {
                    sha256: p.sha256.to_hex(),
                });
            }
        }
        let created = ts(now)?;
        self.conn
            .prepare_cached(
                "INSERT INTO transmissions (id, tenant, idempotency_key, request_sha256, created_at, \
                 child_ref, document_ids, kinds, replaces_id, decision_json) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .map_err(Error::db("prepare transmission insert"))?
            .execute(params![
                t.id,
                t.tenant,
                t.idempotency_key,
                t.request_sha256.to_hex(),
                created,
                t.child_ref,
                to_json_list(&t.document_ids),
                to_json_list(&t.kinds),
                t.replaces_transmission_id,
                t.decision_json,
            ])
            .map_err(Error::db("transmission insert"))?;
        for (i, p) in t.blobs.iter().enumerate() {
            self.add_ref("t", &t.id, i, p)?;
        }
        let mut records = Vec::with_capacity(t.deliveries.len());
        for (ord, d) in t.deliveries.iter().enumerate() {
            let expires_at = d
                .expires_at
                .unwrap_or_else(|| add(now, self.cfg.retry_window));
            let ins = self
                .conn
                .prepare_cached(
                    "INSERT INTO deliveries (id, transmission_id, ord, tenant, target_id, channel, \
                     recipient, destination, document_ids, state, attempts, next_attempt_at, \
                     expires_at, lease_epoch, outcome_unknown, read_receipt_expected, created_at, \
                     updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'queued', 0, ?10, ?11, \
                     0, 0, ?12, ?10, ?10)",
                )
                .map_err(Error::db("prepare delivery insert"))?
                .execute(params![
                    d.id,
                    t.id,
                    ord as i64,
                    t.tenant,
                    d.target_id,
                    d.channel.as_str(),
                    d.recipient,
                    d.destination,
                    to_json_list(&d.document_ids),
                    created,
                    ts(expires_at)?,
                    i64::from(d.read_receipt_expected),
                ]);
            match ins {
                Ok(_) => {}
                Err(e)
                    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) =>
                {
                    return Err(Error::DuplicateId {
                        what: "delivery",
                        id: d.id.clone(),
                    });
                }
                Err(e) => return Err(Error::db("delivery insert")(e)),
            }
            for (i, p) in d.payloads.iter().enumerate() {
                self.add_ref("d", &d.id, i, p)?;
            }
            let rec = DeliveryRecord {
                id: d.id.clone(),
                transmission_id: t.id.clone(),
                tenant: t.tenant.clone(),
                target_id: d.target_id.clone(),
                channel: d.channel,
                recipient: d.recipient.clone(),
                destination: d.destination.clone(),
                document_ids: d.document_ids.clone(),
                payloads: d.payloads.clone(),
                state: DeliveryState::Queued,
                attempts: 0,
                next_attempt_at: Some(now),
                expires_at,
                last_error: None,
                message_id: None,
                outcome_unknown: false,
                read_receipt_expected: d.read_receipt_expected,
                notify_by: None,
                mdn_by: None,
                disposition: None,
                lease: None,
                created_at: now,
                updated_at: now,
                final_at: None,
            };
            let summary = format!("channel={} destination={}", d.channel, d.destination);
            self.record(
                &rec,
                None,
                DeliveryState::Queued,
                now,
                "gateway",
                "created",
                &summary,
                false,
            )?;
            self.count_pending(&d.destination, 1);
            records.push(rec);
        }
        for a in &t.audit {
            self.append_audit(&t.tenant, now, a)?;
        }
        Ok(SubmitOutcome::Created(TransmissionRecord {
            id: t.id.clone(),
            tenant: t.tenant.clone(),
            idempotency_key: t.idempotency_key.clone(),
            request_sha256: t.request_sha256,
            created_at: now,
            child_ref: t.child_ref.clone(),
            document_ids: t.document_ids.clone(),
            kinds: t.kinds.clone(),
            replaces_transmission_id: t.replaces_transmission_id.clone(),
            decision_json: t.decision_json.clone(),
            blobs: t.blobs.clone(),
            deliveries: records,
            payloads_pruned: false,
        }))
    }

    pub fn record_audit(
        &mut self,
        tenant: &str,
        drafts: &[AuditDraft],
        now: OffsetDateTime,
    ) -> Result<Vec<AuditEntry>> {
        drafts
            .iter()
            .map(|d| self.append_audit(tenant, now, d))
            .collect()
    }

    fn due_ids(&self, sql: &str, destination: &str, now: i64, limit: u32) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare_cached(sql)
            .map_err(Error::db("prepare claim"))?;
        st.query_map(params![destination, now, i64::from(limit)], |r| r.get(0))
            .map_err(Error::db("claim"))?
            .collect::<Result<_, _>>()
            .map_err(Error::db("claim"))
    }

    pub fn claim(
        &mut self,
        scope: &ClaimScope,
        now: OffsetDateTime,
        limit: u32,
        owner: &str,
        lease_for: Duration,
    ) -> Result<Vec<Claimed>> {
        let n = ts(now)?;
        let destinations: Vec<String> = match scope {
            ClaimScope::Destination(d) => {
                if read::is_paused(self.conn, d)? {
                    return Ok(Vec::new());
                }
                vec![d.clone()]
            }
            ClaimScope::AnyUnpaused => {
                let mut st = self
                    .conn
                    .prepare_cached(
                        "SELECT DISTINCT destination FROM deliveries WHERE \
                         ((state = 'queued' AND next_attempt_at <= ?1) OR \
                          (state = 'in_flight' AND lease_until <= ?1)) \
                         AND destination NOT IN (SELECT destination FROM destinations WHERE paused = 1) \
                         ORDER BY destination",
                    )
                    .map_err(Error::db("prepare due destinations"))?;
                st.query_map(params![n], |r| r.get(0))
                    .map_err(Error::db("due destinations"))?
                    .collect::<Result<_, _>>()
                    .map_err(Error::db("due destinations"))?
            }
        };
        if destinations.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        // Share the limit so that a destination with a deep queue cannot starve the others.
        let share = limit.div_ceil(destinations.len() as u32).max(1);
        let until = add(now, lease_for);
        let mut out = Vec::new();
        for dest in &destinations {
            let room = (limit as usize - out.len()).min(share as usize) as u32;
            if room == 0 {
                break;
            }
            let mut ids = self.due_ids(
                "SELECT id FROM deliveries WHERE destination = ?1 AND state = 'in_flight' \
                 AND lease_until <= ?2 ORDER BY lease_until LIMIT ?3",
                dest,
                n,
                room,
            )?;
            if (ids.len() as u32) < room {
                ids.extend(self.due_ids(
                    "SELECT id FROM deliveries WHERE destination = ?1 AND state = 'queued' \
                     AND next_attempt_at <= ?2 ORDER BY next_attempt_at, id LIMIT ?3",
                    dest,
                    n,
                    room - ids.len() as u32,
                )?);
            }
            for id in ids {
                let d = read::require_delivery(self.conn, &id)?;
                let reclaimed = d.state == DeliveryState::InFlight;
                let unknown = || Value::Integer(i64::from(reclaimed || d.outcome_unknown));
                if d.expires_at <= now {
                    self.transition(
                        &d,
                        DeliveryState::Expired,
                        TransitionKind::Normal,
                        now,
                        "scheduler",
                        "retry window exhausted",
                        "reason=retry_window",
                        vec![("outcome_unknown", unknown())],
                    )?;
                    continue;
                }
                if d.attempts >= self.cfg.max_attempts {
                    self.transition(
                        &d,
                        DeliveryState::Expired,
                        TransitionKind::Normal,
                        now,
                        "scheduler",
                        "attempts exhausted",
                        "reason=max_attempts",
                        vec![("outcome_unknown", unknown())],
                    )?;
                    continue;
                }
                let epoch: i64 = self
                    .conn
                    .prepare_cached("SELECT lease_epoch FROM deliveries WHERE id = ?1")
                    .map_err(Error::db("prepare epoch"))?
                    .query_row(params![id], |r| r.get(0))
                    .map_err(Error::db("epoch"))?;
                let token = epoch + 1;
                let attempts = d.attempts + 1;
                let detail = if reclaimed {
                    format!("lease expired; taken again by {owner}, previous outcome unknown")
                } else {
                    format!("claimed by {owner}")
                };
                self.transition(
                    &d,
                    DeliveryState::InFlight,
                    TransitionKind::Normal,
                    now,
                    owner,
                    &detail,
                    &format!("attempt={attempts} reclaimed={reclaimed}"),
                    vec![
                        ("attempts", Value::Integer(i64::from(attempts))),
                        ("lease_epoch", Value::Integer(token)),
                        ("lease_owner", Value::Text(owner.to_owned())),
                        ("lease_until", Value::Integer(ts(until)?)),
                        ("next_attempt_at", Value::Null),
                        ("outcome_unknown", unknown()),
                    ],
                )?;
                out.push(Claimed {
                    delivery: read::require_delivery(self.conn, &id)?,
                    lease_token: token as u64,
                    lease_until: until,
                    reclaimed,
                });
            }
        }
        Ok(out)
    }

    fn leased(&self, delivery_id: &str, token: u64) -> Result<DeliveryRecord> {
        let d = read::require_delivery(self.conn, delivery_id)?;
        match &d.lease {
            Some(l) if d.state == DeliveryState::InFlight && l.token == token => Ok(d),
            _ => Err(Error::LeaseLost {
                delivery_id: delivery_id.to_owned(),
                token,
            }),
        }
    }

    /// Attaches the payloads rendered for a delivery after the acknowledgement, under its live
    /// lease. The first render wins: a delivery that already has payloads keeps them (and they are
    /// returned), so retries always resend the same bytes.
    pub fn attach_payloads(
        &mut self,
        delivery_id: &str,
        token: u64,
        payloads: &[PayloadRef],
        inline: &[Vec<u8>],
        blobs_present: &dyn Fn(&Sha256) -> bool,
    ) -> Result<DeliveryRecord> {
        let d = self.leased(delivery_id, token)?;
        if !d.payloads.is_empty() {
            return Ok(d);
        }
        if payloads.is_empty() {
            return Err(Error::Invalid {
                field: "payloads",
                reason: "a rendered delivery has at least one payload".into(),
            });
        }
        self.insert_inline(inline)?;
        for p in payloads {
            if !blobs_present(&p.sha256) && !self.has_inline(&p.sha256)? {
                return Err(Error::BlobMissing {
                    sha256: p.sha256.to_hex(),
                });
            }
        }
        for (i, p) in payloads.iter().enumerate() {
            self.add_ref("d", delivery_id, i, p)?;
        }
        Ok(DeliveryRecord {
            payloads: payloads.to_vec(),
            ..d
        })
    }

    pub fn renew_lease(
        &mut self,
        delivery_id: &str,
        token: u64,
        now: OffsetDateTime,
        lease_for: Duration,
    ) -> Result<OffsetDateTime> {
        let d = self.leased(delivery_id, token)?;
        // Renewing an expired lease is refused: another worker may be about to take it.
        if d.lease.as_ref().is_some_and(|l| l.until <= now) {
            return Err(Error::LeaseLost {
                delivery_id: delivery_id.to_owned(),
                token,
            });
        }
        let until = add(now, lease_for);
        self.conn
            .prepare_cached("UPDATE deliveries SET lease_until = ?1 WHERE id = ?2")
            .map_err(Error::db("prepare renew"))?
            .execute(params![ts(until)?, delivery_id])
            .map_err(Error::db("renew"))?;
        Ok(until)
    }

    pub fn complete_attempt(
        &mut self,
        delivery_id: &str,
        token: u64,
        result: &AttemptResult,
        now: OffsetDateTime,
    ) -> Result<DeliveryRecord> {
        let d = self.leased(delivery_id, token)?;
        let actor = d
            .lease
            .as_ref()
            .map(|l| l.owner.clone())
            .unwrap_or_default();
        use DeliveryState::*;
        match result {
            AttemptResult::Sent {
                message_id,
                notify_by,
            } => {
                let nb = match notify_by {
                    Some(t) => Value::Integer(ts(*t)?),
                    None => Value::Null,
                };
                self.transition(
                    &d,
                    Sent,
                    TransitionKind::Normal,
                    now,
                    &actor,
                    &format!("sent, message id {message_id}"),
                    &format!("attempt={}", d.attempts),
                    vec![
                        ("message_id", Value::Text(message_id.clone())),
                        ("notify_by", nb),
                    ],
                )?;
            }
            AttemptResult::Stored { message_id } => {
                self.transition(
                    &d,
                    Stored,
                    TransitionKind::Normal,
                    now,
                    &actor,
                    &format!("stored, unique id {message_id}"),
                    &format!("attempt={}", d.attempts),
                    vec![("message_id", Value::Text(message_id.clone()))],
                )?;
            }
            AttemptResult::TemporaryFailure { error, retry_after } => {
                let delay =
                    retry_after.unwrap_or_else(|| self.cfg.backoff.delay(&d.id, d.attempts));
                let next = add(now, delay);
                let mut sets = error_sets(error);
                let summary = format!("attempt={} reason={}", d.attempts, error.reason);
                if d.attempts >= self.cfg.max_attempts || next > d.expires_at {
                    let why = if d.attempts >= self.cfg.max_attempts {
                        "attempts exhausted"
                    } else {
                        "retry window exhausted"
                    };
                    self.transition(
                        &d,
                        Expired,
                        TransitionKind::Normal,
                        now,
                        &actor,
                        &format!(
                            "{why} after temporary failure {}: {}",
                            error.reason, error.message
                        ),
                        &summary,
                        sets,
                    )?;
                } else {
                    sets.push(("next_attempt_at", Value::Integer(ts(next)?)));
                    self.transition(
                        &d,
                        Queued,
                        TransitionKind::Normal,
                        now,
                        &actor,
                        &format!("temporary failure {}: {}", error.reason, error.message),
                        &summary,
                        sets,
                    )?;
                }
            }
            AttemptResult::PermanentFailure { error } => {
                self.transition(
                    &d,
                    Failed,
                    TransitionKind::Normal,
                    now,
                    &actor,
                    &format!("permanent failure {}: {}", error.reason, error.message),
                    &format!("attempt={} reason={}", d.attempts, error.reason),
                    error_sets(error),
                )?;
            }
            AttemptResult::Cancelled { reason } => {
                self.transition(
                    &d,
                    Cancelled,
                    TransitionKind::Normal,
                    now,
                    &actor,
                    &format!("cancelled at dispatch: {reason}"),
                    &format!("reason={reason}"),
                    vec![],
                )?;
            }
            AttemptResult::Released => {
                self.transition(
                    &d,
                    Queued,
                    TransitionKind::Normal,
                    now,
                    &actor,
                    "released without attempt",
                    "released",
                    vec![
                        (
                            "attempts",
                            Value::Integer(i64::from(d.attempts.saturating_sub(1))),
                        ),
                        ("next_attempt_at", Value::Integer(ts(now)?)),
                    ],
                )?;
            }
        }
        read::require_delivery(self.conn, delivery_id)
    }

    pub fn apply_notice(
        &mut self,
        delivery_id: &str,
        notice: &DeliveryNotice,
        now: OffsetDateTime,
    ) -> Result<NoticeOutcome> {
        use DeliveryState::*;
        let d = read::require_delivery(self.conn, delivery_id)?;
        let watch_final = d.is_final_for_watch(now);
        let (target, detail, summary, mut sets): (Option<DeliveryState>, String, String, Vec<_>) =
            match notice {
                DeliveryNotice::Delivered { detail } => (
                    (d.state == Sent).then_some(Delivered),
                    format!("delivered: {detail}"),
                    "dsn=delivered".into(),
                    vec![],
                ),
                DeliveryNotice::Read { detail } => (
                    matches!(d.state, Sent | Delivered).then_some(Read),
                    format!("read: {detail}"),
                    "mdn=displayed".into(),
                    vec![("disposition", Value::Text("displayed".into()))],
                ),
                DeliveryNotice::Rejected { error } => (
                    matches!(d.state, Sent | Delivered).then_some(Rejected),
                    format!("integration refused {}: {}", error.reason, error.message),
                    format!("reason={} code={}", error.reason, error.remote_code),
                    error_sets(error),
                ),
                DeliveryNotice::Failed { error } => (
                    (d.state == Sent).then_some(Failed),
                    format!("delivery failed {}: {}", error.reason, error.message),
                    format!("reason={}", error.reason),
                    error_sets(error),
                ),
                DeliveryNotice::Disposition {
                    disposition,
                    detail,
                } => (
                    None,
                    format!("disposition {disposition}: {detail}"),
                    format!("mdn={disposition}"),
                    vec![("disposition", Value::Text(disposition.clone()))],
                ),
                DeliveryNotice::Info { detail } => (None, detail.clone(), "info".into(), vec![]),
            };
        if watch_final {
            // Final is final: record what came, change nothing.
            let to = target.unwrap_or(d.state);
            self.record(
                &d,
                Some(d.state),
                to,
                now,
                "notifier",
                &detail,
                &summary,
                true,
            )?;
            return Ok(NoticeOutcome::Late(d));
        }
        if d.state == InFlight
            && !matches!(
                notice,
                DeliveryNotice::Disposition { .. } | DeliveryNotice::Info { .. }
            )
        {
            self.hold_notice(&d, notice, &detail, &summary, now)?;
            return Ok(NoticeOutcome::Held(d));
        }
        let Some(to) = target else {
            let keep: Vec<_> = sets
                .drain(..)
                .filter(|(c, _)| *c == "disposition")
                .collect();
            if !keep.is_empty() {
                let mut args: Vec<Value> = keep.into_iter().map(|(_, v)| v).collect();
                args.push(Value::Integer(ts(now)?));
                args.push(Value::Text(d.id.clone()));
                self.conn
                    .prepare_cached(
                        "UPDATE deliveries SET disposition = ?1, updated_at = ?2 WHERE id = ?3",
                    )
                    .map_err(Error::db("prepare disposition"))?
                    .execute(rusqlite::params_from_iter(args.iter()))
                    .map_err(Error::db("disposition"))?;
            }
            let detail = if matches!(
                notice,
                DeliveryNotice::Disposition { .. } | DeliveryNotice::Info { .. }
            ) {
                detail
            } else {
                format!("not applicable in state {}: {detail}", d.state)
            };
            self.record(
                &d,
                Some(d.state),
                d.state,
                now,
                "notifier",
                &detail,
                &summary,
                false,
            )?;
            return Ok(NoticeOutcome::Recorded(read::require_delivery(
                self.conn,
                delivery_id,
            )?));
        };
        if to == Delivered {
            if d.read_receipt_expected {
                let by = add(now, self.cfg.mdn_window);
                sets.push(("mdn_by", Value::Integer(ts(by)?)));
                sets.push(("final_at", Value::Integer(ts(by)?)));
            } else {
                sets.push(("final_at", Value::Integer(ts(now)?)));
            }
        }
        sets.push(("notify_by", Value::Null));
        self.transition(
            &d,
            to,
            TransitionKind::Normal,
            now,
            "notifier",
            &detail,
            &summary,
            sets,
        )?;
        Ok(NoticeOutcome::Applied(read::require_delivery(
            self.conn,
            delivery_id,
        )?))
    }

    pub fn sweep(&mut self, now: OffsetDateTime, limit: u32) -> Result<SweepReport> {
        let n = ts(now)?;
        let mut report = SweepReport::default();
        let ids: Vec<String> = {
            let mut st = self
                .conn
                .prepare_cached(
                    "SELECT id FROM deliveries WHERE expires_at <= ?1 AND (state = 'queued' OR \
                     (state = 'in_flight' AND lease_until <= ?1)) ORDER BY expires_at LIMIT ?2",
                )
                .map_err(Error::db("prepare sweep"))?;
            st.query_map(params![n, i64::from(limit)], |r| r.get(0))
                .map_err(Error::db("sweep"))?
                .collect::<Result<_, _>>()
                .map_err(Error::db("sweep"))?
        };
        for id in ids {
            let d = read::require_delivery(self.conn, &id)?;
            let unknown = d.outcome_unknown || d.state == DeliveryState::InFlight;
            self.transition(
                &d,
                DeliveryState::Expired,
                TransitionKind::Normal,
                now,
                "scheduler",
                "retry window exhausted",
                "reason=retry_window",
                vec![
                    ("outcome_unknown", Value::Integer(i64::from(unknown))),
                    ("next_attempt_at", Value::Null),
                ],
            )?;
            report.expired_unsent += 1;
        }
        let ids: Vec<String> = {
            let mut st = self
                .conn
                .prepare_cached(
                    "SELECT id FROM deliveries INDEXED BY deliveries_awaiting_dsn \
                     WHERE state = 'sent' AND notify_by <= ?1 ORDER BY notify_by LIMIT ?2",
                )
                .map_err(Error::db("prepare sweep"))?;
            st.query_map(params![n, i64::from(limit)], |r| r.get(0))
                .map_err(Error::db("sweep"))?
                .collect::<Result<_, _>>()
                .map_err(Error::db("sweep"))?
        };
        for id in ids {
            let d = read::require_delivery(self.conn, &id)?;
            self.transition(
                &d,
                DeliveryState::Expired,
                TransitionKind::Normal,
                now,
                "scheduler",
                "no delivery notification within the timeout",
                "reason=notification_timeout",
                error_sets(&DeliveryError::new(
                    Origin::MsSante,
                    "notification_timeout",
                    "no DSN within the notification timeout",
                )),
            )?;
            report.expired_unnotified += 1;
        }
        Ok(report)
    }

    fn cancellable(d: &DeliveryRecord, now: OffsetDateTime) -> bool {
        match d.state {
            DeliveryState::Queued => true,
            DeliveryState::InFlight => d.lease.as_ref().is_none_or(|l| l.until <= now),
            _ => false,
        }
    }

    pub fn cancel(
        &mut self,
        transmission_id: &str,
        delivery_id: Option<&str>,
        reason: &str,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<TransmissionRecord> {
        let t = read::require_transmission(self.conn, transmission_id)?;
        let targets: Vec<&DeliveryRecord> =
            match delivery_id {
                Some(id) => {
                    let d = t.deliveries.iter().find(|d| d.id == id).ok_or_else(|| {
                        Error::NotFound {
                            what: "delivery",
                            id: id.to_owned(),
                        }
                    })?;
                    if !Self::cancellable(d, now) {
                        return Err(Error::InvalidState {
                            delivery_id: d.id.clone(),
                            state: d.state,
                            action: "cancel",
                        });
                    }
                    vec![d]
                }
                None => t
                    .deliveries
                    .iter()
                    .filter(|d| Self::cancellable(d, now))
                    .collect(),
            };
        for d in targets {
            let unknown = d.outcome_unknown || d.state == DeliveryState::InFlight;
            self.transition(
                d,
                DeliveryState::Cancelled,
                TransitionKind::Normal,
                now,
                actor,
                &format!("cancelled: {reason}"),
                "by=caller",
                vec![
                    ("outcome_unknown", Value::Integer(i64::from(unknown))),
                    ("next_attempt_at", Value::Null),
                ],
            )?;
        }
        read::require_transmission(self.conn, transmission_id)
    }

    fn payloads_pruned(&self, transmission_id: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT payloads_pruned_at FROM transmissions WHERE id = ?1")
            .map_err(Error::db("prepare pruned"))?
            .query_row(params![transmission_id], |r| r.get::<_, Option<i64>>(0))
            .map_err(Error::db("pruned"))?
            .is_some())
    }

    fn requeue(&mut self, d: &DeliveryRecord, actor: &str, now: OffsetDateTime) -> Result<()> {
        if !d.state.is_retryable() {
            return Err(Error::InvalidState {
                delivery_id: d.id.clone(),
                state: d.state,
                action: "retry",
            });
        }
        if self.payloads_pruned(&d.transmission_id)? {
            return Err(Error::InvalidState {
                delivery_id: d.id.clone(),
                state: d.state,
                action: "retry (payloads pruned)",
            });
        }
        self.check_capacity(&BTreeMap::from([(d.destination.clone(), 1)]))?;
        self.transition(
            d,
            DeliveryState::Queued,
            TransitionKind::Retry,
            now,
            actor,
            "operator retry",
            "by=operator",
            vec![
                ("attempts", Value::Integer(0)),
                ("next_attempt_at", Value::Integer(ts(now)?)),
                (
                    "expires_at",
                    Value::Integer(ts(add(now, self.cfg.retry_window))?),
                ),
                ("final_at", Value::Null),
                ("notify_by", Value::Null),
                ("mdn_by", Value::Null),
            ],
        )
    }

    pub fn retry(
        &mut self,
        delivery_id: &str,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<DeliveryRecord> {
        let d = read::require_delivery(self.conn, delivery_id)?;
        self.requeue(&d, actor, now)?;
        read::require_delivery(self.conn, delivery_id)
    }

    pub fn retry_all(
        &mut self,
        f: &DeliveryFilter,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<u64> {
        if let Some(s) = f.state
            && !s.is_retryable()
        {
            return Err(Error::Invalid {
                field: "state",
                reason: format!("{s} deliveries cannot be retried (failed or expired only)"),
            });
        }
        let mut sql =
            String::from("SELECT id FROM deliveries WHERE state IN ('failed', 'expired')");
        let mut args = Vec::new();
        read::delivery_filter_sql(f, &mut sql, &mut args);
        sql.push_str(" ORDER BY created_at, id");
        let ids: Vec<String> = {
            let mut st = self
                .conn
                .prepare(&sql)
                .map_err(Error::db("prepare retry all"))?;
            st.query_map(rusqlite::params_from_iter(args.iter()), |r| r.get(0))
                .map_err(Error::db("retry all"))?
                .collect::<Result<_, _>>()
                .map_err(Error::db("retry all"))?
        };
        let mut n = 0;
        for id in ids {
            let d = read::require_delivery(self.conn, &id)?;
            match self.requeue(&d, actor, now) {
                Ok(()) => n += 1,
                // Pruned payloads: skipped (reported by the count); full queue: stop here.
                Err(Error::InvalidState { .. }) => {}
                Err(Error::QueueFull { .. }) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    pub fn set_paused(
        &mut self,
        destination: &str,
        paused: bool,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO destinations (destination, paused, updated_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (destination) DO UPDATE SET paused = ?2, updated_at = ?3",
            )
            .map_err(Error::db("prepare pause"))?
            .execute(params![destination, i64::from(paused), ts(now)?])
            .map_err(Error::db("pause"))?;
        let kind = if paused {
            "destination.paused"
        } else {
            "destination.resumed"
        };
        self.append_audit(
            SYSTEM_TENANT,
            now,
            &AuditDraft {
                kind: kind.into(),
                actor: actor.into(),
                summary: format!("destination={destination}"),
                ..AuditDraft::default()
            },
        )?;
        Ok(())
    }

    pub fn prune(
        &mut self,
        now: OffsetDateTime,
        retention: Duration,
        limit: u32,
    ) -> Result<PruneReport> {
        let cutoff =
            ts(now)?.saturating_sub(i64::try_from(retention.as_nanos()).unwrap_or(i64::MAX));
        let rows: Vec<(String, String)> = {
            let mut st = self
                .conn
                .prepare_cached(
                    "SELECT t.id, t.tenant FROM transmissions t WHERE t.payloads_pruned_at IS NULL \
                     AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.transmission_id = t.id AND \
                       (d.final_at IS NULL OR d.final_at > ?1 OR d.state IN ('queued', 'in_flight', 'sent'))) \
                     ORDER BY t.created_at LIMIT ?2",
                )
                .map_err(Error::db("prepare prune"))?;
            st.query_map(params![cutoff, i64::from(limit)], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(Error::db("prune"))?
            .collect::<Result<_, _>>()
            .map_err(Error::db("prune"))?
        };
        let mut report = PruneReport::default();
        for (tid, tenant) in rows {
            let shas: Vec<String> = {
                let mut st = self
                    .conn
                    .prepare_cached(
                        "SELECT sha256 FROM payload_refs WHERE (owner_kind = 't' AND owner_id = ?1) \
                         OR (owner_kind = 'd' AND owner_id IN (SELECT id FROM deliveries WHERE transmission_id = ?1))",
                    )
                    .map_err(Error::db("prepare prune refs"))?;
                st.query_map(params![tid], |r| r.get(0))
                    .map_err(Error::db("prune refs"))?
                    .collect::<Result<_, _>>()
                    .map_err(Error::db("prune refs"))?
            };
            let mut gone = HashSet::new();
            for sha in &shas {
                self.conn
                    .prepare_cached("UPDATE blobs SET refcount = refcount - 1 WHERE sha256 = ?1")
                    .map_err(Error::db("prepare unref"))?
                    .execute(params![sha])
                    .map_err(Error::db("unref"))?;
                let left: Option<(i64, i64)> = self
                    .conn
                    .prepare_cached("SELECT refcount, size FROM blobs WHERE sha256 = ?1")
                    .map_err(Error::db("prepare refcount"))?
                    .query_row(params![sha], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
                    .map_err(Error::db("refcount"))?;
                if let Some((left, size)) = left
                    && left <= 0
                    && gone.insert(sha.clone())
                {
                    self.conn
                        .prepare_cached("DELETE FROM blobs WHERE sha256 = ?1")
                        .map_err(Error::db("prepare blob delete"))?
                        .execute(params![sha])
                        .map_err(Error::db("blob delete"))?;
                    self.conn
                        .prepare_cached("DELETE FROM blob_data WHERE sha256 = ?1")
                        .map_err(Error::db("prepare inline delete"))?
                        .execute(params![sha])
                        .map_err(Error::db("inline delete"))?;
                    self.deletes.push(Sha256::from_hex(sha)?);
                    report.blobs_deleted += 1;
                    report.bytes_freed += size as u64;
                }
            }
            self.conn
                .prepare_cached("UPDATE transmissions SET payloads_pruned_at = ?1 WHERE id = ?2")
                .map_err(Error::db("prepare mark pruned"))?
                .execute(params![ts(now)?, tid])
                .map_err(Error::db("mark pruned"))?;
            self.append_audit(
                &tenant,
                now,
                &AuditDraft {
                    kind: "transmission.payloads_pruned".into(),
                    actor: "retention".into(),
                    transmission_id: Some(tid.clone()),
                    summary: format!("payload_refs={}", shas.len()),
                    ..AuditDraft::default()
                },
            )?;
            report.transmissions += 1;
        }
        Ok(report)
    }
}

fn error_sets(e: &DeliveryError) -> Vec<(&'static str, Value)> {
    vec![
        ("err_origin", Value::Text(origin_str(e.origin).into())),
        ("err_reason", Value::Text(e.reason.clone())),
        ("err_message", Value::Text(e.message.clone())),
        ("err_retryable", Value::Integer(i64::from(e.retryable))),
        ("err_remote_code", Value::Text(e.remote_code.clone())),
    ]
}
