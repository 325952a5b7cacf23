//! Delivery workers: claim due deliveries per destination (isolated: one slow or dead destination
//! never holds another's queue), hand them to the channel's sender, record the outcome. Deliveries of
//! a channel with no sender wired stay `queued` (never pretend "sent"). Also the housekeeping loop:
//! expiry sweep, audit checkpoints, payload pruning.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use passerelle_outbox as ob;
use tokio::sync::{Semaphore, watch};

use passerelle_domain::error::Origin;

use crate::service::{Fresh, Service};

/// Sends one claimed delivery and says what happened. Implemented by the MSSanté and DMP channels.
#[tonic::async_trait]
pub trait Sender: Send + Sync {
    /// Destination prefix handled, e.g. "mssante:" or "dmp".
    fn handles(&self, destination: &str) -> bool;
    async fn send(&self, claimed: &ob::Claimed) -> ob::AttemptResult;
    /// As `send`, with the payloads this attempt has just rendered still in memory.
    async fn send_fresh(&self, claimed: &ob::Claimed, fresh: &Fresh) -> ob::AttemptResult {
        let _ = fresh;
        self.send(claimed).await
    }
    /// While this is in the future, nothing is claimed for the sender's destinations (an open
    /// circuit breaker): their deliveries wait, their attempts unspent.
    fn paused_until(&self) -> Option<time::OffsetDateTime> {
        None
    }
}

pub struct Workers {
    pub senders: Vec<Arc<dyn Sender>>,
    /// Concurrent sends per destination.
    pub per_destination: usize,
    pub lease: Duration,
    pub owner: String,
    pub retention: Duration,
}

impl Workers {
    fn sender_for(&self, destination: &str) -> Option<Arc<dyn Sender>> {
        self.senders
            .iter()
            .find(|s| s.handles(destination))
            .cloned()
    }

    /// Runs until `shutdown` flips.
    pub async fn run(self: Arc<Self>, svc: Arc<Service>, mut shutdown: watch::Receiver<bool>) {
        let mut limits: HashMap<String, Arc<Semaphore>> = HashMap::new();
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = svc.changed.notified() => {}
                _ = shutdown.changed() => return,
            }
            if self.senders.is_empty() {
                continue;
            }
            let store = svc.store.clone();
            let now = svc.clock.now();
            let Ok(Ok(destinations)) =
                tokio::task::spawn_blocking(move || store.pending_destinations()).await
            else {
                continue;
            };
            for destination in destinations {
                let Some(sender) = self.sender_for(&destination) else {
                    continue;
                };
                if sender.paused_until().is_some_and(|t| t > now) {
                    continue;
                }
                let sem = limits
                    .entry(destination.clone())
                    .or_insert_with(|| Arc::new(Semaphore::new(self.per_destination)))
                    .clone();
                let free = sem.available_permits();
                if free == 0 {
                    continue;
                }
                let store = svc.store.clone();
                let dest = destination.clone();
                let owner = self.owner.clone();
                let lease = self.lease;
                let limit = u32::try_from(free).unwrap_or(1);
                let claimed = tokio::task::spawn_blocking(move || {
                    store.claim(ob::ClaimScope::Destination(dest), now, limit, &owner, lease)
                })
                .await;
                let claimed = match claimed {
                    Ok(Ok(c)) => c,
                    Ok(Err(e)) => {
                        tracing::warn!(destination = %destination, error = %e, "claim failed");
                        continue;
                    }
                    Err(_) => continue,
                };
                for c in claimed {
                    let Ok(permit) = sem.clone().acquire_owned().await else {
                        continue;
                    };
                    let svc = svc.clone();
                    let sender = sender.clone();
                    tokio::spawn(async move {
                        let _permit = permit;
                        let span = tracing::info_span!("send", delivery_id = %c.delivery.id, destination = %c.delivery.destination, attempt = c.delivery.attempts);
                        let _g = span.enter();
                        // A decision older than 15 minutes is taken again before sending
                        // (policy.md §7): a changed outcome cancels the send (DECISION_STALE).
                        let mut c = c;
                        let result = match svc.stale_reason(&c.delivery).await {
                            Some(reason) => ob::AttemptResult::Cancelled { reason },
                            None => match render_if_needed(&svc, &mut c).await {
                                Ok(fresh) => sender.send_fresh(&c, &fresh).await,
                                Err(failed) => failed,
                            },
                        };
                        let store = svc.store.clone();
                        let now = svc.clock.now();
                        let id = c.delivery.id.clone();
                        let token = c.lease_token;
                        let label = attempt_label(&result);
                        match tokio::task::spawn_blocking(move || {
                            store.complete_attempt(&id, token, result, now)
                        })
                        .await
                        {
                            Ok(Ok(d)) => {
                                svc.metrics
                                    .transitions
                                    .get_or_create(&crate::metrics::StatusLabels {
                                        channel: d.channel.as_str().to_string(),
                                        destination: d.destination.clone(),
                                        status: d.state.as_str().to_string(),
                                    })
                                    .inc();
                                tracing::info!(
                                    result = label,
                                    state = d.state.as_str(),
                                    "attempt recorded"
                                );
                            }
                            Ok(Err(e)) => tracing::warn!(error = %e, "attempt not recorded"),
                            Err(e) => tracing::warn!(error = %e, "attempt task failed"),
                        }
                        svc.changed.notify_waiters();
                    });
                }
            }
        }
    }

    /// Housekeeping: expiry sweep every second, checkpoint every minute, prune every hour.
    pub async fn housekeeping(
        self: Arc<Self>,
        svc: Arc<Service>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut n: u64 = 0;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => break,
            }
            n += 1;
            let store = svc.store.clone();
            let now = svc.clock.now();
            let retention = self.retention;
            let r = tokio::task::spawn_blocking(move || {
                let sweep = store.sweep(now, 1000)?;
                if n.is_multiple_of(60) {
                    store.checkpoint(now)?;
                }
                let pruned = if n.is_multiple_of(3600) {
                    Some(store.prune(now, retention, 1000)?)
                } else {
                    None
                };
                Ok::<_, ob::Error>((sweep, pruned))
            })
            .await;
            match r {
                Ok(Ok((sweep, pruned))) => {
                    if sweep.expired_unnotified > 0 {
                        svc.metrics
                            .notification_timeouts
                            .inc_by(sweep.expired_unnotified);
                    }
                    if sweep.expired_unnotified + sweep.expired_unsent > 0 {
                        svc.changed.notify_waiters();
                    }
                    if let Some(p) = pruned {
                        svc.metrics.pruned_payloads.inc_by(p.blobs_deleted);
                    }
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "housekeeping failed"),
                Err(_) => {}
            }
        }
        let store = svc.store.clone();
        let now = svc.clock.now();
        let _ = tokio::task::spawn_blocking(move || store.checkpoint(now)).await;
    }
}

/// Deliveries are acknowledged before they are rendered: the first claim renders and stores the
/// payloads (render once), later attempts find them. A render that fails for a reason the input
/// carries (an invalid document) fails the delivery; anything else is retried with the backoff.
async fn render_if_needed(svc: &Service, c: &mut ob::Claimed) -> Result<Fresh, ob::AttemptResult> {
    if !c.delivery.payloads.is_empty() {
        return Ok(Fresh::new());
    }
    match svc.render_claimed(c).await {
        Ok((d, fresh)) => {
            c.delivery = d;
            Ok(fresh)
        }
        // The lease was lost while rendering (it ran out and another worker took the delivery):
        // that worker renders or finds the payloads; nothing to record here.
        Err(e) if e.reason == passerelle_domain::error::Reason::InvalidState => {
            tracing::debug!(error = %e.message, "lease lost while rendering");
            Err(ob::AttemptResult::Released)
        }
        Err(e) => {
            svc.metrics.error(
                "rendering",
                crate::grpc::origin_str(e.origin),
                "render_failed",
            );
            tracing::warn!(error = %crate::pipeline::describe(&e), "render failed");
            let permanent = matches!(e.origin, Origin::Client | Origin::Policy);
            let mut error =
                ob::DeliveryError::new(e.origin, "render_failed", crate::pipeline::describe(&e));
            error.retryable = !permanent;
            Err(if permanent {
                ob::AttemptResult::PermanentFailure { error }
            } else {
                ob::AttemptResult::TemporaryFailure {
                    error,
                    retry_after: None,
                }
            })
        }
    }
}

fn attempt_label(r: &ob::AttemptResult) -> &'static str {
    match r {
        ob::AttemptResult::Sent { .. } => "sent",
        ob::AttemptResult::Stored { .. } => "stored",
        ob::AttemptResult::TemporaryFailure { .. } => "temporary_failure",
        ob::AttemptResult::PermanentFailure { .. } => "permanent_failure",
        ob::AttemptResult::Cancelled { .. } => "cancelled",
        ob::AttemptResult::Released => "released",
    }
}

/// Sandbox-only test channel: appends each delivery id to a file (fsync'd) and reports it stored.
/// The crash test counts how often each delivery reached the channel.
pub struct FileSink {
    pub path: std::path::PathBuf,
    pub lock: tokio::sync::Mutex<()>,
}

#[tonic::async_trait]
impl Sender for FileSink {
    fn handles(&self, _destination: &str) -> bool {
        true
    }

    async fn send(&self, claimed: &ob::Claimed) -> ob::AttemptResult {
        let _g = self.lock.lock().await;
        let path = self.path.clone();
        let line = format!("{}\n", claimed.delivery.id);
        let r = tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            f.write_all(line.as_bytes())?;
            f.sync_all()
        })
        .await;
        match r {
            Ok(Ok(())) => ob::AttemptResult::Stored {
                message_id: format!("sink-{}", claimed.delivery.id),
            },
            _ => ob::AttemptResult::TemporaryFailure {
                error: ob::DeliveryError::new(
                    passerelle_domain::error::Origin::Internal,
                    "sink_io",
                    "cannot write the sink file",
                ),
                retry_after: Some(Duration::from_millis(100)),
            },
        }
    }
}
