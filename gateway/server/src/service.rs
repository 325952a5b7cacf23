//! The one implementation behind both front ends (gRPC and HTTP/JSON): validation, policy, durable
//! acceptance, status, admin. Blocking store calls run on the blocking pool.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::Stream;
use passerelle_api::v1 as pb;
use passerelle_domain::error::{Error, Origin, Reason, Retry};
use passerelle_domain::validate::{FieldViolation, Limits, validate_submission};
use passerelle_outbox as ob;
use passerelle_policy::PolicyEngine;
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::auth::Caller;
use crate::config::{Config, TenantConfig};
use crate::convert;
use crate::metrics::{ChannelLabels, Metrics, ReasonLabels};
use crate::plan;

/// Time source (a fake one in tests).
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A decision older than this is evaluated again at dispatch (policy.md §7).
pub const DECISION_MAX_AGE: time::Duration = time::Duration::minutes(15);

pub type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchEvent, Error>> + Send + 'static>>;

pub struct Service {
    pub cfg: Arc<Config>,
    tenants: HashMap<String, TenantConfig>,
    pub store: Arc<dyn ob::Store>,
    policy: Arc<dyn PolicyEngine>,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    /// Woken on every local state change, so Watch answers without waiting for its poll.
    pub changed: Arc<Notify>,
    limits: Limits,
    /// Certificate facts per tenant for WhoAmI (usage, subject, issuer, serial, not_after).
    pub certificates: HashMap<String, Vec<pb::CertificateInfo>>,
}

fn store_err(e: ob::Error) -> Error {
    let msg = e.to_string();
    match e.kind() {
        ob::ErrorKind::QueueFull => {
            let retry = match &e {
                ob::Error::QueueFull { retry_after, .. } => *retry_after,
                _ => Duration::from_secs(5),
            };
            Error::new(Origin::Store, Reason::QueueFull, msg).with_retry(Retry::After(retry))
        }
        ob::ErrorKind::Conflict => Error::new(Origin::Client, Reason::IdempotencyConflict, msg),
        ob::ErrorKind::NotFound => Error::new(Origin::Client, Reason::NotFound, msg),
        ob::ErrorKind::InvalidState | ob::ErrorKind::LeaseLost => {
            Error::new(Origin::Client, Reason::InvalidState, msg)
        }
        ob::ErrorKind::Invalid => Error::invalid(vec![FieldViolation::new("request", msg)]),
        ob::ErrorKind::Unavailable => {
            Error::new(Origin::Store, Reason::StoreUnavailable, msg).with_retry(Retry::Backoff)
        }
        ob::ErrorKind::Internal => Error::new(Origin::Store, Reason::InternalError, msg),
    }
}

async fn blocking<T, F>(f: F) -> Result<T, Error>
where
    F: FnOnce() -> Result<T, ob::Error> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("store task: {e}")))?
        .map_err(store_err)
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

impl Service {
    pub fn new(
        cfg: Config,
        store: Arc<dyn ob::Store>,
        policy: Arc<dyn PolicyEngine>,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let tenants = cfg
            .tenants
            .iter()
            .map(|t| (t.id.clone(), t.clone()))
            .collect();
        let limits = cfg.limits;
        let certificates = crate::setup::certificates(&cfg);
        Self {
            cfg: Arc::new(cfg),
            tenants,
            store,
            policy,
            metrics,
            clock,
            changed: Arc::new(Notify::new()),
            limits,
            certificates,
        }
    }

    fn tenant(&self, id: &str) -> Result<&TenantConfig, Error> {
        self.tenants
            .get(id)
            .ok_or_else(|| Error::new(Origin::Client, Reason::TenantForbidden, "unknown tenant"))
    }

    /// The caller acts for its own tenant only; an empty tenant means the caller's.
    fn bind_tenant(&self, caller: &Caller, tenant: &mut String) -> Result<(), Error> {
        if tenant.is_empty() {
            tenant.clone_from(&caller.tenant);
        }
        if *tenant != caller.tenant {
            return Err(Error::new(
                Origin::Client,
                Reason::TenantForbidden,
                "the caller may not act for another tenant",
            ));
        }
        self.tenant(tenant).map(|_| ())
    }

    /// Validation shared by Submit and Explain: structure, then the sender's structure must be the
    /// tenant's.
    fn validate(&self, req: &pb::SubmitRequest, now: OffsetDateTime) -> Result<(), Error> {
        let mut v = validate_submission(req, &self.limits, now.date());
        if let (Ok(t), Some(s)) = (
            self.tenant(&req.tenant),
            req.sender
                .as_ref()
                .and_then(|s| s.actor.as_ref())
                .and_then(|a| a.structure.as_ref()),
        ) {
            let same = (!s.finess_et.is_empty() && s.finess_et == t.finess_et)
                || (!s.finess_ej.is_empty() && s.finess_ej == t.finess_ej)
                || (!s.siret.is_empty() && s.siret == t.siret);
            if !same {
                v.push(FieldViolation::new(
                    "sender.actor.structure",
                    "is not the calling tenant's structure (FINESS or SIRET differ)",
                ));
            }
        }
        if v.is_empty() {
            Ok(())
        } else {
            Err(Error::invalid(v))
        }
    }

    fn evaluate(
        &self,
        req: &pb::SubmitRequest,
        now: OffsetDateTime,
        dry_run: bool,
        input_sha256: Option<&str>,
    ) -> Result<pb::Decision, Error> {
        let t0 = Instant::now();
        let id = new_id("dec");
        let d = match input_sha256 {
            Some(h) => self.policy.evaluate_hashed(req, now, dry_run, &id, h),
            None => self.policy.evaluate(req, now, dry_run, &id),
        }
        .map_err(|e| match e {
            passerelle_policy::PolicyError::InvalidInput(v) => Error::invalid(
                v.into_iter()
                    .map(|f| FieldViolation::new(f.field, f.reason))
                    .collect(),
            ),
            other => Error::internal(format!("policy: {other}")),
        })?;
        self.metrics
            .observe_stage("policy", t0.elapsed().as_secs_f64());
        let outcome = pb::Outcome::try_from(d.outcome)
            .unwrap_or_default()
            .as_str_name()
            .trim_start_matches("OUTCOME_")
            .to_ascii_lowercase();
        self.metrics
            .decided
            .get_or_create(&ReasonLabels { reason: outcome })
            .inc();
        Ok(d)
    }

    fn audit_draft(
        kind: &str,
        caller: &Caller,
        d: &pb::Decision,
        tid: Option<String>,
    ) -> ob::AuditDraft {
        let codes: Vec<String> = d
            .targets
            .iter()
            .map(|t| {
                let rules: Vec<&str> = t.denials.iter().map(|x| x.code.as_str()).collect();
                format!(
                    "{}:{}:{}:{}",
                    t.target_id,
                    t.document_id,
                    pb::Outcome::try_from(t.outcome)
                        .unwrap_or_default()
                        .as_str_name(),
                    rules.join("+")
                )
            })
            .collect();
        ob::AuditDraft {
            kind: kind.to_string(),
            actor: caller.authenticated_by.clone(),
            transmission_id: tid,
            delivery_id: None,
            summary: format!(
                "decision={} outcome={} matrix={} targets=[{}]",
                d.decision_id,
                pb::Outcome::try_from(d.outcome)
                    .unwrap_or_default()
                    .as_str_name(),
                d.policy
                    .as_ref()
                    .map(|p| p.matrix_version.as_str())
                    .unwrap_or(""),
                codes.join(" ")
            ),
            data_sha256: ob::Sha256::from_hex(&d.input_sha256).ok(),
        }
    }

    pub async fn submit(
        &self,
        caller: &Caller,
        mut req: pb::SubmitRequest,
    ) -> Result<pb::SubmitResponse, Error> {
        let t0 = Instant::now();
        self.bind_tenant(caller, &mut req.tenant)?;
        let now = self.clock.now();
        self.metrics.received.inc_by(req.documents.len() as u64);
        if let Err(e) = self.validate(&req, now) {
            self.metrics
                .rejected
                .get_or_create(&ReasonLabels {
                    reason: "invalid".into(),
                })
                .inc();
            return Err(e);
        }
        self.metrics
            .observe_stage("validating", t0.elapsed().as_secs_f64());
        // Encoded and hashed once: these bytes are the stored request and their hash the one
        // idempotent replays compare.
        let canonical = plan::canonical_request(&mut req);
        let sha = ob::Sha256::digest(&canonical);

        // The policy's input hash leaves out the correlation fields too; without them it is the
        // hash of the canonical bytes (plan::tests checks the equality).
        let input_sha = (req.request_id.is_empty() && req.expected_input_sha256.is_empty())
            .then(|| sha.to_hex());
        let decision = self.evaluate(&req, now, false, input_sha.as_deref())?;
        if !decision.accepted {
            // An idempotent replay answers from the store, whatever the policy says today.
            if let Some(r) = self.replay(&req, sha).await? {
                return Ok(r);
            }
            let draft = Self::audit_draft("transmission.refused", caller, &decision, None);
            let store = self.store.clone();
            let tenant = req.tenant.clone();
            blocking(move || store.record_audit(&tenant, vec![draft], now))
                .await
                .map_err(|e| {
                    // LOG-4: no audit, no answer but a refusal.
                    Error::new(Origin::Store, Reason::AuditUnavailable, e.message)
                })?;
            self.metrics
                .rejected
                .get_or_create(&ReasonLabels {
                    reason: "policy".into(),
                })
                .inc();
            let detail = serde_json::to_string(&decision).unwrap_or_default();
            return Err(Error::new(
                Origin::Policy,
                Reason::PolicyDenied,
                refusal_summary(
                    &decision,
                    req.legal.as_ref().is_some_and(|l| l.allow_partial),
                ),
            )
            .with_detail(detail));
        }

        // One trip off the runtime: the request written once (content-addressed) before the rows
        // that reference it, the transaction (where an idempotent replay is recognised by its
        // key), and the events for the answer. Rendering happens after the acknowledgement, once
        // per delivery (`render_delivery`).
        let t1 = Instant::now();
        let tid = new_id("tx");
        let planned = plan::plan(&req, &decision);
        let draft = Self::audit_draft(
            "transmission.accepted",
            caller,
            &decision,
            Some(tid.clone()),
        );
        let decision_json = serde_json::to_vec(&decision).unwrap_or_default();
        let (record, events, replayed, decided) = {
            let cfg = self.cfg.clone();
            let store = self.store.clone();
            tokio::task::spawn_blocking(move || -> Result<_, Error> {
                // A replay skips the admission checks (the store would also recognise it).
                if let Some(t) =
                    find_replay(store.as_ref(), &req.tenant, &req.idempotency_key, sha)?
                {
                    let events = store.events_since(&t.id, 0, 10_000).map_err(store_err)?;
                    return Ok((t, events, true, None));
                }
                let Admitted {
                    deliveries,
                    blobs,
                    inline,
                } = admit(
                    &cfg,
                    store.as_ref(),
                    &req,
                    &planned,
                    &decision,
                    now,
                    &canonical,
                )?;
                let new = new_transmission(tid, &req, sha, now, decision_json, deliveries, draft);
                let outcome = store
                    .submit(ob::NewTransmission {
                        blobs,
                        inline,
                        ..new
                    })
                    .map_err(store_err)?;
                let replayed = outcome.replayed();
                let record = outcome.into_record();
                let events = store
                    .events_since(&record.id, 0, 10_000)
                    .map_err(store_err)?;
                // The answer shows this decision unless the store recognised a replay.
                let decision = (!replayed).then_some(decision);
                Ok((record, events, replayed, decision))
            })
            .await
            .map_err(|e| Error::internal(format!("admission task: {e}")))??
        };
        self.metrics
            .observe_stage("queuing", t1.elapsed().as_secs_f64());
        if !replayed {
            for d in &record.deliveries {
                self.metrics
                    .queued
                    .get_or_create(&ChannelLabels {
                        channel: d.channel.as_str().to_string(),
                        destination: d.destination.clone(),
                    })
                    .inc();
            }
            self.changed.notify_waiters();
        }
        self.metrics
            .observe_stage("receiving", t0.elapsed().as_secs_f64());
        Ok(pb::SubmitResponse {
            transmission: Some(match decided {
                Some(d) => convert::transmission_with(&record, &events, Some(d)),
                None => convert::transmission(&record, &events),
            }),
            replayed,
        })
    }

    /// The stored transmission of an idempotent replay (same key, same body), a conflict (same
    /// key, other body), or None.
    async fn replay(
        &self,
        req: &pb::SubmitRequest,
        sha: ob::Sha256,
    ) -> Result<Option<pb::SubmitResponse>, Error> {
        if req.idempotency_key.is_empty() {
            return Ok(None);
        }
        let store = self.store.clone();
        let (tenant, key) = (req.tenant.clone(), req.idempotency_key.clone());
        let found = tokio::task::spawn_blocking(move || -> Result<_, Error> {
            let Some(t) = find_replay(store.as_ref(), &tenant, &key, sha)? else {
                return Ok(None);
            };
            let events = store.events_since(&t.id, 0, 10_000).map_err(store_err)?;
            Ok(Some((t, events)))
        })
        .await
        .map_err(|e| Error::internal(format!("store task: {e}")))??;
        let Some((existing, events)) = found else {
            return Ok(None);
        };
        Ok(Some(pb::SubmitResponse {
            transmission: Some(convert::transmission(&existing, &events)),
            replayed: true,
        }))
    }

    pub async fn explain(
        &self,
        caller: &Caller,
        mut req: pb::SubmitRequest,
    ) -> Result<pb::ExplainResponse, Error> {
        self.bind_tenant(caller, &mut req.tenant)?;
        let now = self.clock.now();
        self.validate(&req, now)?;
        let decision = self.evaluate(&req, now, true, None)?;
        let draft = Self::audit_draft("explain", caller, &decision, None);
        let store = self.store.clone();
        let tenant = req.tenant.clone();
        blocking(move || store.record_audit(&tenant, vec![draft], now))
            .await
            .map_err(|e| Error::new(Origin::Store, Reason::AuditUnavailable, e.message))?;
        let planned = plan::plan(&req, &decision)
            .into_iter()
            .map(|p| {
                let artefacts: Vec<String> = match p.channel {
                    pb::Channel::Dmp => vec![
                        "PDF/A-1b".into(),
                        "CDA R2 N1 (DMP profile)".into(),
                        "XDS metadata".into(),
                        "ITI-41 MTOM + signed VIHF".into(),
                        "XAdES signature document".into(),
                    ],
                    _ => vec![
                        "PDF/A-1b".into(),
                        "CDA R2 N1 (MSSanté profile)".into(),
                        "IHE_XDM.zip".into(),
                        "RFC 5322 message".into(),
                    ],
                };
                let size: u64 = req
                    .documents
                    .iter()
                    .filter(|d| p.document_ids.contains(&d.id))
                    .map(|d| match &d.content {
                        Some(pb::document::Content::Pdf(pdf)) => pdf.data.len() as u64,
                        _ => 64 * 1024,
                    })
                    .sum();
                // ~3.1 × the PDF for MSSanté (specs README §3); MTOM keeps the DMP near 1.4 ×.
                let estimated_bytes = if p.channel == pb::Channel::Dmp {
                    size * 14 / 10
                } else {
                    size * 31 / 10
                };
                pb::PlannedDelivery {
                    target_id: p.target_id,
                    channel: p.channel as i32,
                    recipient: p.recipient,
                    document_ids: p.document_ids,
                    artefacts,
                    estimated_bytes,
                }
            })
            .collect();
        let warnings = decision.warnings.clone();
        Ok(pb::ExplainResponse {
            decision: Some(decision),
            planned,
            warnings,
        })
    }

    async fn view(&self, t: ob::TransmissionRecord) -> Result<pb::Transmission, Error> {
        let store = self.store.clone();
        let id = t.id.clone();
        let events = blocking(move || store.events_since(&id, 0, 10_000)).await?;
        Ok(convert::transmission(&t, &events))
    }

    async fn load(&self, caller: &Caller, id: &str) -> Result<ob::TransmissionRecord, Error> {
        let store = self.store.clone();
        let id2 = id.to_string();
        let t = blocking(move || store.get_transmission(&id2)).await?;
        // Another tenant's transmission does not exist for this caller.
        if t.tenant != caller.tenant {
            return Err(Error::not_found("transmission"));
        }
        Ok(t)
    }

    pub async fn get(&self, caller: &Caller, id: &str) -> Result<pb::Transmission, Error> {
        let t = self.load(caller, id).await?;
        self.view(t).await
    }

    pub async fn watch(
        &self,
        caller: &Caller,
        id: &str,
        after_seq: i64,
    ) -> Result<WatchStream, Error> {
        self.load(caller, id).await?;
        let store = self.store.clone();
        let clock = self.clock.clone();
        let changed = self.changed.clone();
        let id = id.to_string();
        let s = async_stream::stream! {
            let mut after = after_seq;
            loop {
                let notified = changed.notified();
                let st = store.clone();
                let id2 = id.clone();
                let r = tokio::task::spawn_blocking(move || {
                    // State first, events second: an event committed between the two reads is
                    // then sent now, and "all final" is never announced before its final event.
                    let t = st.get_transmission(&id2)?;
                    let evs = st.events_since(&id2, after, 1000)?;
                    Ok::<_, ob::Error>((evs, t))
                }).await;
                let (evs, t) = match r {
                    Ok(Ok((evs, t))) => (evs, t),
                    Ok(Err(e)) => { yield Err(store_err(e)); return; }
                    Err(e) => { yield Err(Error::internal(e.to_string())); return; }
                };
                let now = clock.now();
                let n = evs.len();
                // A full page means more events wait: never end on it.
                let all_final = t.all_final(now) && n < 1000;
                for (i, e) in evs.iter().enumerate() {
                    after = after.max(e.seq);
                    let d = t.deliveries.iter().find(|d| d.id == e.delivery_id).map(|d| convert::delivery(d, Vec::new()));
                    yield Ok(pb::WatchEvent { event: Some(convert::event(e)), delivery: d, all_final: all_final && i + 1 == n });
                }
                if all_final {
                    if n == 0 {
                        yield Ok(pb::WatchEvent { event: None, delivery: None, all_final: true });
                    }
                    return;
                }
                // Other nodes change state too: poll as well as listen.
                let _ = tokio::time::timeout(Duration::from_millis(500), notified).await;
            }
        };
        Ok(Box::pin(s))
    }

    pub async fn list(
        &self,
        caller: &Caller,
        mut req: pb::ListTransmissionsRequest,
    ) -> Result<pb::ListTransmissionsResponse, Error> {
        self.bind_tenant(caller, &mut req.tenant)?;
        let filter = ob::TransmissionFilter {
            tenant: Some(req.tenant.clone()),
            child_ref: Some(req.child_ref.clone()).filter(|s| !s.is_empty()),
            state: convert::state(pb::DeliveryStatus::try_from(req.status).unwrap_or_default()),
            since: req.since.as_ref().and_then(convert::from_ts),
            until: req.until.as_ref().and_then(convert::from_ts),
        };
        let page = page(req.page_size, &req.page_token);
        let store = self.store.clone();
        let p = blocking(move || store.list_transmissions(filter, page)).await?;
        let mut out = Vec::with_capacity(p.items.len());
        for t in p.items {
            out.push(convert::transmission(&t, &[]));
        }
        Ok(pb::ListTransmissionsResponse {
            transmissions: out,
            next_page_token: p.next_token.unwrap_or_default(),
        })
    }

    pub async fn cancel(
        &self,
        caller: &Caller,
        req: pb::CancelRequest,
    ) -> Result<pb::CancelResponse, Error> {
        let t = self.load(caller, &req.id).await?;
        let now = self.clock.now();
        let reason = if req.reason.is_empty() {
            "cancelled by the caller".to_string()
        } else {
            req.reason.clone()
        };
        if !req.delivery_id.is_empty() && !t.deliveries.iter().any(|d| d.id == req.delivery_id) {
            return Err(Error::not_found("delivery"));
        }
        let actor = caller.authenticated_by.clone();
        let store = self.store.clone();
        let delivery = Some(req.delivery_id.clone()).filter(|s| !s.is_empty());
        let tid = t.id.clone();
        let t =
            blocking(move || store.cancel(&tid, delivery.as_deref(), &reason, &actor, now)).await?;
        self.changed.notify_waiters();
        Ok(pb::CancelResponse {
            transmission: Some(self.view(t).await?),
        })
    }

    pub async fn who_am_i(&self, caller: &Caller) -> Result<pb::WhoAmIResponse, Error> {
        let t = self.tenant(&caller.tenant)?;
        Ok(pb::WhoAmIResponse {
            tenant: t.id.clone(),
            name: t.name.clone(),
            finess_ej: t.finess_ej.clone(),
            finess_et: t.finess_et.clone(),
            siret: t.siret.clone(),
            mssante_mailbox: t.app_mailbox.clone(),
            certificates: self.certificates.get(&t.id).cloned().unwrap_or_default(),
            dmp_structure_id: t.struct_idnat(),
            authenticated_by: caller.authenticated_by.clone(),
        })
    }

    pub async fn list_deliveries(
        &self,
        caller: &Caller,
        mut req: pb::ListDeliveriesRequest,
    ) -> Result<pb::ListDeliveriesResponse, Error> {
        self.bind_tenant(caller, &mut req.tenant)?;
        let filter = delivery_filter(&req.tenant, req.status, req.channel, &req.destination);
        let page = page(req.page_size, &req.page_token);
        let store = self.store.clone();
        let p = blocking(move || store.list_deliveries(filter, page)).await?;
        Ok(pb::ListDeliveriesResponse {
            deliveries: p
                .items
                .iter()
                .map(|d| convert::delivery(d, Vec::new()))
                .collect(),
            next_page_token: p.next_token.unwrap_or_default(),
        })
    }

    pub async fn set_paused(
        &self,
        caller: &Caller,
        destination: &str,
        paused: bool,
    ) -> Result<pb::DestinationResponse, Error> {
        self.require_admin(caller)?;
        if destination.is_empty() {
            return Err(Error::invalid(vec![FieldViolation::new(
                "destination",
                "required",
            )]));
        }
        let store = self.store.clone();
        let d = destination.to_string();
        let actor = caller.authenticated_by.clone();
        let now = self.clock.now();
        blocking(move || {
            if paused {
                store.pause(&d, &actor, now)
            } else {
                store.resume(&d, &actor, now)
            }
        })
        .await?;
        self.changed.notify_waiters();
        Ok(pb::DestinationResponse {
            destination: destination.to_string(),
            paused,
        })
    }

    pub async fn retry(
        &self,
        caller: &Caller,
        delivery_id: &str,
    ) -> Result<pb::RetryResponse, Error> {
        let store = self.store.clone();
        let id = delivery_id.to_string();
        let d = blocking(move || store.get_delivery(&id)).await?;
        if d.tenant != caller.tenant {
            return Err(Error::not_found("delivery"));
        }
        let store = self.store.clone();
        let actor = caller.authenticated_by.clone();
        let now = self.clock.now();
        let d = blocking(move || store.retry(&d.id, &actor, now)).await?;
        self.changed.notify_waiters();
        Ok(pb::RetryResponse {
            delivery: Some(convert::delivery(&d, Vec::new())),
        })
    }

    /// Renders a claimed delivery that was acknowledged without payloads and attaches them under
    /// its lease; the first render is kept (render once: retries resend the stored bytes).
    pub async fn render_claimed(
        &self,
        c: &ob::Claimed,
    ) -> Result<(ob::DeliveryRecord, Fresh), Error> {
        let t0 = Instant::now();
        let cfg = self.cfg.clone();
        let store = self.store.clone();
        let d = c.delivery.clone();
        let token = c.lease_token;
        let r = tokio::task::spawn_blocking(move || {
            let t = store
                .get_transmission(&d.transmission_id)
                .map_err(store_err)?;
            let Rendered {
                payloads,
                inline,
                fresh,
            } = render_delivery(&cfg, store.as_ref(), &t, &d)?;
            let d = store
                .attach_payloads(&d.id, token, payloads, inline)
                .map_err(store_err)?;
            // A concurrent first render may have won: only what is attached is fresh.
            let fresh = fresh
                .into_iter()
                .filter(|(sha, _)| d.payloads.iter().any(|p| p.sha256 == *sha))
                .collect();
            Ok((d, fresh))
        })
        .await
        .map_err(|e| Error::internal(format!("render task: {e}")))?;
        self.metrics
            .observe_stage("rendering", t0.elapsed().as_secs_f64());
        r
    }

    /// Re-evaluates the decision of a delivery about to be sent when it is older than
    /// `DECISION_MAX_AGE`; returns the cancellation reason when the policy no longer allows every
    /// document of it. Errors keep the send going (the decision it holds was valid).
    pub async fn stale_reason(&self, d: &ob::DeliveryRecord) -> Option<String> {
        let now = self.clock.now();
        if now - d.created_at < DECISION_MAX_AGE {
            return None;
        }
        let store = self.store.clone();
        let tid = d.transmission_id.clone();
        let t = blocking(move || {
            let t = store.get_transmission(&tid)?;
            let bytes = match t.blobs.iter().find(|b| b.name == "request.pb") {
                Some(b) => Some(store.read_blob(&b.sha256)?),
                None => None,
            };
            Ok(bytes)
        })
        .await
        .ok()??;
        let req: pb::SubmitRequest = prost::Message::decode(t.as_slice()).ok()?;
        let decision = self
            .policy
            .evaluate(&req, now, true, "dispatch-check")
            .ok()?;
        let denied: Vec<String> = decision
            .targets
            .iter()
            .filter(|x| x.target_id == d.target_id && d.document_ids.contains(&x.document_id))
            .filter(|x| x.outcome != pb::Outcome::Allowed as i32)
            .flat_map(|x| x.denials.iter().map(|den| den.code.clone()))
            .collect();
        if denied.is_empty() {
            None
        } else {
            Some(format!("DECISION_STALE: {}", denied.join(", ")))
        }
    }

    /// Destinations are shared by every tenant: only the operators' tenants may pause them.
    fn require_admin(&self, caller: &Caller) -> Result<(), Error> {
        if self.cfg.server.admin_tenants.contains(&caller.tenant) {
            Ok(())
        } else {
            Err(Error::new(
                Origin::Client,
                Reason::TenantForbidden,
                "pausing or resuming a destination is reserved to server.admin_tenants",
            ))
        }
    }

    pub async fn retry_all(
        &self,
        caller: &Caller,
        mut req: pb::RetryAllRequest,
    ) -> Result<pb::RetryAllResponse, Error> {
        self.bind_tenant(caller, &mut req.tenant)?;
        let filter = delivery_filter(&req.tenant, req.status, req.channel, &req.destination);
        let store = self.store.clone();
        let actor = caller.authenticated_by.clone();
        let now = self.clock.now();
        let n = blocking(move || store.retry_all(filter, &actor, now)).await?;
        self.changed.notify_waiters();
        Ok(pb::RetryAllResponse {
            retried: u32::try_from(n).unwrap_or(u32::MAX),
        })
    }

    pub async fn inbox_list(
        &self,
        caller: &Caller,
        mut req: pb::ListInboxRequest,
    ) -> Result<pb::ListInboxResponse, Error> {
        self.bind_tenant(caller, &mut req.tenant)?;
        let state = match pb::InboxState::try_from(req.state).unwrap_or_default() {
            pb::InboxState::Unspecified => None,
            pb::InboxState::New => Some(ob::InboxItemState::New),
            pb::InboxState::Acked => Some(ob::InboxItemState::Acked),
            pb::InboxState::Quarantined => Some(ob::InboxItemState::Quarantined),
            pb::InboxState::PendingHuman => Some(ob::InboxItemState::PendingHuman),
        };
        let page = page(req.page_size, &req.page_token);
        let store = self.store.clone();
        let tenant = req.tenant.clone();
        let p = blocking(move || store.inbox_list(&tenant, state, page)).await?;
        Ok(pb::ListInboxResponse {
            // Notifications already applied to deliveries are not the DUI's business.
            items: p
                .items
                .iter()
                .filter(|r| r.item.state != ob::InboxItemState::Processed || state.is_some())
                .map(|r| convert::inbox_item(r, false))
                .collect(),
            next_page_token: p.next_token.unwrap_or_default(),
        })
    }

    async fn inbox_load(&self, caller: &Caller, id: &str) -> Result<ob::InboxRecord, Error> {
        let store = self.store.clone();
        let id = id.to_string();
        let r = blocking(move || store.inbox_get(&id)).await?;
        if r.item.tenant != caller.tenant {
            return Err(Error::not_found("inbox item"));
        }
        Ok(r)
    }

    pub async fn inbox_get(&self, caller: &Caller, id: &str) -> Result<pb::InboxItem, Error> {
        let r = self.inbox_load(caller, id).await?;
        let mut item = convert::inbox_item(&r, true);
        let store = self.store.clone();
        let raw = r.item.raw.sha256;
        let docs: Vec<ob::Sha256> = r.item.documents.iter().map(|d| d.payload.sha256).collect();
        let (raw, docs) = blocking(move || {
            let raw = store.read_blob(&raw)?;
            let docs = docs
                .iter()
                .map(|s| store.read_blob(s))
                .collect::<ob::Result<Vec<_>>>()?;
            Ok((raw, docs))
        })
        .await?;
        item.raw = raw.into();
        for (d, bytes) in item.documents.iter_mut().zip(docs) {
            d.data = bytes.into();
        }
        Ok(item)
    }

    pub async fn inbox_ack(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<pb::AckInboxResponse, Error> {
        self.inbox_load(caller, id).await?;
        let store = self.store.clone();
        let id = id.to_string();
        let actor = caller.authenticated_by.clone();
        let now = self.clock.now();
        let r = blocking(move || store.inbox_ack(&id, &actor, now)).await?;
        Ok(pb::AckInboxResponse {
            item: Some(convert::inbox_item(&r, false)),
        })
    }

    pub async fn ready(&self) -> bool {
        let store = self.store.clone();
        blocking(move || store.paused_destinations()).await.is_ok()
    }

    /// Refreshes the per-destination outbox gauges from the store (on scrape).
    pub async fn refresh_gauges(&self) {
        let store = self.store.clone();
        let now = self.clock.now();
        if let Ok(stats) = blocking(move || store.destination_stats(now)).await {
            for s in stats {
                let l = crate::metrics::DestinationLabels {
                    destination: s.destination.clone(),
                };
                self.metrics
                    .outbox_pending
                    .get_or_create(&l)
                    .set(i64::try_from(s.queued).unwrap_or(i64::MAX));
                self.metrics
                    .outbox_in_flight
                    .get_or_create(&l)
                    .set(i64::try_from(s.in_flight).unwrap_or(i64::MAX));
                self.metrics
                    .outbox_oldest_pending_age
                    .get_or_create(&l)
                    .set(s.oldest_pending_age.map(|d| d.as_secs_f64()).unwrap_or(0.0));
            }
        }
    }
}

fn delivery_filter(
    tenant: &str,
    status: i32,
    channel: i32,
    destination: &str,
) -> ob::DeliveryFilter {
    ob::DeliveryFilter {
        tenant: Some(tenant.to_string()),
        state: convert::state(pb::DeliveryStatus::try_from(status).unwrap_or_default()),
        channel: convert::channel_in(pb::Channel::try_from(channel).unwrap_or_default()),
        destination: Some(destination.to_string()).filter(|s| !s.is_empty()),
    }
}

fn page(size: u32, token: &str) -> ob::PageRequest {
    ob::PageRequest {
        size,
        token: Some(token.to_string()).filter(|s| !s.is_empty()),
    }
}

/// Admission (blocking: run off the runtime): the checks that need the request's bytes or the
/// store (supplied PDFs, the replaced DMP document), then the request written once, content-
/// addressed and fsync'd. Deliveries are acknowledged without payloads: each is rendered by the
/// worker that first claims it (`render_delivery`), before its first send.
fn admit(
    cfg: &Config,
    store: &dyn ob::Store,
    req: &pb::SubmitRequest,
    planned: &[plan::Planned],
    decision: &pb::Decision,
    now: OffsetDateTime,
    canonical: &[u8],
) -> Result<Admitted, Error> {
    crate::pipeline::check_supplied(req, cfg.limits.max_pdf_bytes)?;
    let replaced = if planned.iter().any(|p| p.channel == pb::Channel::Dmp) {
        crate::dmp::resolve_replaced(store, req)?
    } else {
        None
    };
    precheck(cfg, req, planned, decision, replaced, now)?;
    let mut staged = Staged::new(store);
    let request = staged.put(canonical, REQUEST_PAYLOAD)?;
    let mut deliveries = Vec::with_capacity(planned.len());
    for p in planned {
        let Some(channel) = convert::channel_in(p.channel) else {
            continue;
        };
        let read_receipt_expected = matches!(p.channel, pb::Channel::Mssante | pb::Channel::Mes)
            && crate::pipeline::wants_read_receipt(
                &req.documents
                    .iter()
                    .filter(|d| p.document_ids.contains(&d.id))
                    .map(|d| passerelle_domain::kinds::from_i32(d.kind))
                    .collect::<Vec<_>>(),
            );
        deliveries.push(ob::NewDelivery {
            id: new_id("dl"),
            target_id: p.target_id.clone(),
            channel,
            recipient: p.recipient.clone(),
            destination: p.destination.clone(),
            document_ids: p.document_ids.clone(),
            payloads: Vec::new(),
            expires_at: None,
            read_receipt_expected,
        });
    }
    Ok(Admitted {
        deliveries,
        blobs: vec![request],
        inline: staged.inline,
    })
}

/// Renders every planned delivery with a placeholder in place of each PDF, so that what the
/// document layers refuse in the input (CDA header, author, INS, DMP flags) is refused at Submit,
/// synchronously and naming the field, rather than failing the delivery after the
/// acknowledgement. Cheap: no MiBs to encode; the real render repeats the same checks.
fn precheck(
    cfg: &Config,
    req: &pb::SubmitRequest,
    planned: &[plan::Planned],
    decision: &pb::Decision,
    replaced: Option<(String, String)>,
    now: OffsetDateTime,
) -> Result<(), Error> {
    const PLACEHOLDER_PDF: &[u8] = b"%PDF-1.4\n%%EOF\n";
    let tenant = cfg
        .tenant(&req.tenant)
        .ok_or_else(|| Error::new(Origin::Client, Reason::TenantForbidden, "unknown tenant"))?;
    let placeholders: crate::pipeline::Pdfs = req
        .documents
        .iter()
        .map(|d| (d.id.clone(), PLACEHOLDER_PDF.to_vec()))
        .collect();
    let renderer = crate::pipeline::Renderer { cfg, tenant, now };
    let mut ids = crate::pipeline::Ids::random();
    let delete = req
        .replaces
        .as_ref()
        .is_some_and(|r| r.operation == pb::ReplaceOperation::Delete as i32);
    for p in planned {
        match p.channel {
            pb::Channel::Mssante | pb::Channel::Mes => {
                renderer.mssante_documents(req, p, &placeholders, &mut ids)?;
                // Each PDF travels twice in base64 (readable copy, and inside the CDA in the
                // zipped XDM): at least 3 × its size. Only what is over for sure is refused here;
                // the exact check runs when the message is built.
                let supplied: u64 = req
                    .documents
                    .iter()
                    .filter(|d| p.document_ids.contains(&d.id))
                    .filter_map(|d| match &d.content {
                        Some(pb::document::Content::Pdf(x)) => Some(x.data.len() as u64),
                        _ => None,
                    })
                    .sum();
                if supplied.saturating_mul(3)
                    > passerelle_mssante::outgoing::DEFAULT_MAX_MESSAGE_BYTES
                {
                    return Err(Error::invalid(vec![FieldViolation::new(
                        "documents",
                        format!(
                            "the message to {} would exceed the MSSanté size limit of {} bytes \
                             (it weighs about 3.1 × the PDFs)",
                            p.recipient,
                            passerelle_mssante::outgoing::DEFAULT_MAX_MESSAGE_BYTES
                        ),
                    )]));
                }
            }
            pb::Channel::Dmp => {
                crate::dmp::prepare(
                    cfg,
                    tenant,
                    req,
                    decision,
                    p,
                    &placeholders,
                    replaced.clone(),
                    delete,
                    &mut ids,
                    now,
                )?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// An admitted submission's deliveries (not yet rendered) and payloads.
struct Admitted {
    deliveries: Vec<ob::NewDelivery>,
    blobs: Vec<ob::PayloadRef>,
    inline: Vec<Vec<u8>>,
}

/// One delivery's rendered payloads: their references, the small ones to commit inline, and
/// everything still in memory for the attempt that rendered them.
pub struct Rendered {
    pub payloads: Vec<ob::PayloadRef>,
    pub inline: Vec<Vec<u8>>,
    pub fresh: Fresh,
}

/// Payloads being prepared for one commit: small ones travel inline with the rows (no file to
/// create and fsync), larger ones are written to the blob store first.
struct Staged<'a> {
    store: &'a dyn ob::Store,
    inline: Vec<Vec<u8>>,
    /// What `put_owned` wrote, kept in memory for the attempt that rendered it.
    fresh: Fresh,
}

/// Payloads an attempt has just rendered and written, by address: its send need not read back
/// (and re-hash) MiBs it still holds. Later attempts read the store.
pub type Fresh = HashMap<ob::Sha256, Vec<u8>>;

impl<'a> Staged<'a> {
    fn new(store: &'a dyn ob::Store) -> Self {
        Self {
            store,
            inline: Vec::new(),
            fresh: Fresh::new(),
        }
    }

    fn put(&mut self, bytes: &[u8], name: &str) -> Result<ob::PayloadRef, Error> {
        if bytes.len() <= self.store.inline_payload_max() {
            self.inline.push(bytes.to_vec());
            return Ok(ob::BlobRef {
                sha256: ob::Sha256::digest(bytes),
                size: bytes.len() as u64,
            }
            .named(name));
        }
        self.store
            .put_blob(bytes)
            .map(|b| b.named(name))
            .map_err(store_err)
    }

    /// As `put`, keeping the bytes in `fresh`.
    fn put_owned(&mut self, bytes: Vec<u8>, name: &str) -> Result<ob::PayloadRef, Error> {
        let r = self.put(&bytes, name)?;
        self.fresh.insert(r.sha256, bytes);
        Ok(r)
    }
}

/// The transmission stored under the request's idempotency key with the same body, or
/// `IdempotencyConflict` if the body differs, or None (blocking).
fn find_replay(
    store: &dyn ob::Store,
    tenant: &str,
    key: &str,
    sha: ob::Sha256,
) -> Result<Option<ob::TransmissionRecord>, Error> {
    if key.is_empty() {
        return Ok(None);
    }
    let Some(t) = store.find_transmission(tenant, key).map_err(store_err)? else {
        return Ok(None);
    };
    if t.request_sha256 != sha {
        return Err(Error::new(
            Origin::Client,
            Reason::IdempotencyConflict,
            format!(
                "idempotency key already used with a different request body (transmission {})",
                t.id
            ),
        ));
    }
    Ok(Some(t))
}

/// The rows of an accepted submission (payloads are added by the caller).
fn new_transmission(
    id: String,
    req: &pb::SubmitRequest,
    sha: ob::Sha256,
    now: OffsetDateTime,
    decision_json: Vec<u8>,
    deliveries: Vec<ob::NewDelivery>,
    draft: ob::AuditDraft,
) -> ob::NewTransmission {
    ob::NewTransmission {
        id,
        tenant: req.tenant.clone(),
        idempotency_key: req.idempotency_key.clone(),
        request_sha256: sha,
        created_at: now,
        child_ref: req
            .child
            .as_ref()
            .map(|c| c.local_id.clone())
            .unwrap_or_default(),
        document_ids: req.documents.iter().map(|d| d.id.clone()).collect(),
        kinds: req
            .documents
            .iter()
            .map(|d| {
                passerelle_domain::kinds::code(passerelle_domain::kinds::from_i32(d.kind))
                    .to_string()
            })
            .collect(),
        replaces_transmission_id: req
            .replaces
            .as_ref()
            .map(|r| r.transmission_id.clone())
            .filter(|s| !s.is_empty()),
        decision_json,
        deliveries,
        audit: vec![draft],
        blobs: Vec::new(),
        inline: Vec::new(),
    }
}

/// Name of the stored request among a transmission's payloads.
pub const REQUEST_PAYLOAD: &str = "request.pb";

/// Renders one delivery's payloads from the stored request and decision (blocking: run off the
/// runtime) and writes them, content-addressed and fsync'd. The clock is the transmission's
/// acceptance instant, so documents rendered from structured content come out byte-identical for
/// every delivery of a transmission (stored once) and the message dates the acceptance.
pub fn render_delivery(
    cfg: &Config,
    store: &dyn ob::Store,
    t: &ob::TransmissionRecord,
    d: &ob::DeliveryRecord,
) -> Result<Rendered, Error> {
    let request_ref = t
        .blobs
        .iter()
        .find(|b| b.name == REQUEST_PAYLOAD)
        .cloned()
        .ok_or_else(|| Error::internal("the transmission has no stored request"))?;
    let request_bytes = store.read_blob(&request_ref.sha256).map_err(store_err)?;
    let req: pb::SubmitRequest = prost::Message::decode(request_bytes.as_slice())
        .map_err(|e| Error::internal(format!("stored request unreadable: {e}")))?;
    let decision: pb::Decision = serde_json::from_slice(&t.decision_json)
        .map_err(|e| Error::internal(format!("stored decision unreadable: {e}")))?;
    let p = plan::plan(&req, &decision)
        .into_iter()
        .find(|p| p.target_id == d.target_id && p.document_ids == d.document_ids)
        .ok_or_else(|| Error::internal("the delivery is not in the transmission's plan"))?;
    let tenant = cfg
        .tenant(&t.tenant)
        .ok_or_else(|| Error::new(Origin::Client, Reason::TenantForbidden, "unknown tenant"))?;
    let now = t.created_at;
    let (pdfs, _warnings) = crate::pipeline::pdfs(tenant, &req, now, cfg.limits.max_pdf_bytes)?;
    let mut staged = Staged::new(store);
    staged.fresh.insert(request_ref.sha256, request_bytes);
    let mut put = |bytes: Vec<u8>, name: &str| staged.put_owned(bytes, name);
    let renderer = crate::pipeline::Renderer { cfg, tenant, now };
    let mut ids = crate::pipeline::Ids::random();
    let mut payloads = match p.channel {
        pb::Channel::Mssante | pb::Channel::Mes => {
            let m = renderer.mssante(&req, &p, &pdfs, &mut ids)?;
            vec![put(m.message.bytes, "message.eml")?]
        }
        pb::Channel::Dmp => {
            let replaced = crate::dmp::resolve_replaced(store, &req)?;
            let delete = req
                .replaces
                .as_ref()
                .is_some_and(|r| r.operation == pb::ReplaceOperation::Delete as i32);
            let (plan, cdas) = crate::dmp::prepare(
                cfg, tenant, &req, &decision, &p, &pdfs, replaced, delete, &mut ids, now,
            )?;
            let mut v = vec![request_ref.clone(), put(plan, "dmp.json")?];
            for (name, cda) in cdas {
                v.push(put(cda, &name)?);
            }
            // The PDFs are re-derived from the request at send time.
            v
        }
        _ => vec![request_ref.clone()],
    };
    // PDFs rendered from structured content are kept with the delivery (a supplied PDF is
    // already inside the request, byte for byte).
    for doc in req
        .documents
        .iter()
        .filter(|x| p.document_ids.contains(&x.id))
    {
        if matches!(doc.content, Some(pb::document::Content::Pdf(_))) {
            continue;
        }
        if let Some(pdf) = pdfs.get(&doc.id) {
            payloads.push(put(
                pdf.clone(),
                &format!("{}.pdf", crate::pipeline::safe_name(&doc.id)),
            )?);
        }
    }
    Ok(Rendered {
        payloads,
        inline: staged.inline,
        fresh: staged.fresh,
    })
}

/// One line for the caller: how many targets were denied and the first reasons.
fn refusal_summary(d: &pb::Decision, allow_partial: bool) -> String {
    let denied: Vec<&pb::TargetDecision> = d
        .targets
        .iter()
        .filter(|t| t.outcome == pb::Outcome::Denied as i32)
        .collect();
    let codes: Vec<&str> = denied
        .iter()
        .flat_map(|t| t.denials.iter().map(|x| x.code.as_str()))
        .take(5)
        .collect();
    let all = denied.len() == d.targets.len();
    format!(
        "refused by the policy: {} of {} target(s) denied{} ({})",
        denied.len(),
        d.targets.len(),
        if all || allow_partial {
            ""
        } else {
            " and allow_partial is false"
        },
        codes.join(", ")
    )
}
