//! The MSSanté channel: the delivery worker that submits stored messages over SMTP with the tenant's
//! client certificate, and the IMAP poller that ingests the tenant's mailboxes (DSN and MDN applied
//! to deliveries, documents and plain mail into the inbox, malformed mail quarantined; never lost).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use passerelle_domain::error::Origin;
use passerelle_mail as mail;
use passerelle_mssante as mss;
use passerelle_outbox as ob;
use tokio::sync::watch;

use crate::config::{Config, TenantConfig};
use crate::service::{Clock, Service};
use crate::workers::Sender;

/// Where the operator's servers are (host names are checked against their certificates).
#[derive(Debug, Clone)]
pub struct Operator {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_tls: mail::TlsMode,
    pub imap_host: String,
    pub imap_port: u16,
    pub imap_tls: mail::TlsMode,
    /// Connect here instead of resolving the host (sandbox, fixed routing).
    pub smtp_addr: Option<SocketAddr>,
    pub imap_addr: Option<SocketAddr>,
}

/// One of the operator's servers.
struct Server {
    host: String,
    port: u16,
    tls: mail::TlsMode,
    addr: Option<SocketAddr>,
}

impl Server {
    fn given(e: &crate::config::Endpoint) -> Server {
        Server {
            host: e.host.clone(),
            port: e.port,
            tls: tls_mode(&e.tls),
            addr: e.addr,
        }
    }
}

/// The configured endpoint, else the one `domain`'s SRV records name.
async fn server(
    r: &mail::srv::Resolver,
    given: Option<&crate::config::Endpoint>,
    domain: &str,
    service: mail::srv::Service,
) -> anyhow::Result<Server> {
    if let Some(e) = given {
        return Ok(Server::given(e));
    }
    let what = match service {
        mail::srv::Service::Submission => "smtp",
        mail::srv::Service::Imap => "imap",
    };
    let d = mail::srv::discover(r, domain, service)
        .await?
        .with_context(|| {
            format!("mssante.discover: no {what} SRV record under {domain}; give [mssante.{what}]")
        })?;
    tracing::info!(host = %d.host, port = d.port, tls = ?d.tls, addr = %d.addr, "MSSanté {what} server discovered");
    Ok(Server {
        host: d.host,
        port: d.port,
        tls: d.tls,
        addr: Some(d.addr),
    })
}

fn tls_mode(s: &str) -> mail::TlsMode {
    if s == "implicit" {
        mail::TlsMode::Implicit
    } else {
        mail::TlsMode::StartTls
    }
}

impl Operator {
    /// The operator of a configuration: `[mssante.smtp]` and `[mssante.imap]`, or, for what is
    /// not given, DNS SRV discovery under `mssante.discover` (RFC 6186). None when neither says.
    pub async fn resolve(cfg: &Config) -> anyhow::Result<Option<Operator>> {
        let m = &cfg.mssante;
        let Some(domain) = m
            .discover
            .as_deref()
            .filter(|_| m.smtp.is_none() || m.imap.is_none())
        else {
            return Ok(Self::from_config(cfg));
        };
        let r = mail::srv::resolver(&m.dns_servers)?;
        let smtp = server(&r, m.smtp.as_ref(), domain, mail::srv::Service::Submission).await?;
        let imap = server(&r, m.imap.as_ref(), domain, mail::srv::Service::Imap).await?;
        Ok(Some(Self::of(smtp, imap)))
    }

    pub fn from_config(cfg: &Config) -> Option<Operator> {
        let (s, i) = (cfg.mssante.smtp.as_ref()?, cfg.mssante.imap.as_ref()?);
        Some(Self::of(Server::given(s), Server::given(i)))
    }

    fn of(smtp: Server, imap: Server) -> Operator {
        Operator {
            smtp_host: smtp.host,
            smtp_port: smtp.port,
            smtp_tls: smtp.tls,
            imap_host: imap.host,
            imap_port: imap.port,
            imap_tls: imap.tls,
            smtp_addr: smtp.addr,
            imap_addr: imap.addr,
        }
    }
}

/// One rustls client config per tenant mailbox: its ORG_AUTH_CLI, trusting only the configured CAs
/// (and checking the operator's chain against `mssante.crl` when given).
pub fn client_configs(cfg: &Config) -> anyhow::Result<HashMap<String, Arc<rustls::ClientConfig>>> {
    let ca = cfg
        .mssante
        .trust_ca
        .as_ref()
        .context("mssante.trust_ca is required to reach the operator")?;
    let trust = passerelle_tls::TrustAnchors::load(std::slice::from_ref(ca))?;
    let revocation = crate::setup::revocation(&cfg.mssante.crl).context("mssante.crl")?;
    let mut out = HashMap::new();
    for t in &cfg.tenants {
        let id = passerelle_tls::Identity::load(&crate::setup::identity_source(&t.tls_client)?)
            .with_context(|| format!("tenant {}: tls_client identity", t.id))?;
        let c = passerelle_tls::client_config(Some(&id), &trust, &revocation)?;
        out.insert(t.id.clone(), Arc::new(c));
    }
    Ok(out)
}

pub struct MssanteSender {
    pub cfg: Arc<Config>,
    pub store: Arc<dyn ob::Store>,
    pub clock: Arc<dyn Clock>,
    pub operator: Operator,
    pub tls: HashMap<String, Arc<rustls::ClientConfig>>,
    pub pool: mail::SmtpPool,
    /// Set when the operator refused DSN parameters (555): later sends go without them.
    pub dsn_off: AtomicBool,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub breaker: std::sync::Mutex<Breaker>,
}

/// The operator's circuit breaker (mssante.md §1.4): an SMTP 421 or 4.7.x says the operator
/// refuses work for now, for everyone; rather than every queued delivery spending an attempt on
/// the same refusal, nothing is sent for a while, longer each time it refuses again.
#[derive(Debug, Default)]
pub struct Breaker {
    open_until: Option<time::OffsetDateTime>,
    /// Consecutive trips (reset by a successful send).
    trips: usize,
}

impl Breaker {
    /// Opens for the next delay of `steps` unless already open (sends that were in flight when
    /// it opened report the same refusal: one trip). Returns the window when it opened.
    pub fn trip(&mut self, steps: &[u64], now: time::OffsetDateTime) -> Option<Duration> {
        if steps.is_empty() || self.open_until.is_some_and(|t| t > now) {
            return None;
        }
        let secs = steps[self.trips.min(steps.len() - 1)];
        self.trips += 1;
        let window = Duration::from_secs(secs);
        self.open_until = Some(now + window);
        Some(window)
    }

    pub fn close(&mut self) {
        self.trips = 0;
        self.open_until = None;
    }

    pub fn open_until(&self) -> Option<time::OffsetDateTime> {
        self.open_until
    }
}

/// 421 (service closing) or an enhanced 4.7.x: the operator, not this message.
fn trips_breaker(e: &mail::MailError) -> bool {
    e.reply()
        .is_some_and(|r| r.code == 421 || r.enhanced.is_some_and(|x| x[0] == 4 && x[1] == 7))
}

fn temporary(reason: &str, message: String, retry_after: Option<Duration>) -> ob::AttemptResult {
    let mut e = ob::DeliveryError::new(Origin::MsSante, reason, message);
    e.retryable = true;
    ob::AttemptResult::TemporaryFailure {
        error: e,
        retry_after,
    }
}

/// The Message-ID header value of a stored message (without angle brackets).
fn message_id(raw: &[u8]) -> Option<String> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = std::str::from_utf8(&raw[..head_end]).ok()?;
    head.split("\r\n")
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("message-id")
                .then(|| v.trim().to_string())
        })
        .map(|v| mss::outgoing::normalize_message_id(&v))
}

impl MssanteSender {
    fn tenant(&self, id: &str) -> Option<&TenantConfig> {
        self.cfg.tenant(id)
    }

    fn permanent(&self, reason: &str, message: String, remote: String) -> ob::AttemptResult {
        let mut e = ob::DeliveryError::new(Origin::MsSante, reason, message);
        e.remote_code = remote;
        ob::AttemptResult::PermanentFailure { error: e }
    }

    fn classify(&self, e: &mail::MailError) -> ob::AttemptResult {
        let remote = e
            .reply()
            .map(|r| {
                format!(
                    "{} {}",
                    r.code,
                    r.enhanced
                        .map(|x| format!("{}.{}.{}", x[0], x[1], x[2]))
                        .unwrap_or_default()
                )
            })
            .unwrap_or_default();
        let text = e.to_string();
        match e.retry_class() {
            mail::RetryClass::Temporary | mail::RetryClass::ReusedConnection => {
                let mut r = temporary("temporary", text, None);
                if let ob::AttemptResult::TemporaryFailure { error, .. } = &mut r {
                    error.remote_code = remote;
                }
                r
            }
            // A refused certificate or AUTH is ours to fix: the caller holds the operator's
            // queue (`hold_operator`); the delivery waits there, its window still running.
            mail::RetryClass::Configuration => {
                let mut r = temporary("configuration", text, None);
                if let ob::AttemptResult::TemporaryFailure { error, .. } = &mut r {
                    error.remote_code = remote;
                }
                r
            }
            mail::RetryClass::DsnUnsupported => {
                self.dsn_off.store(true, Ordering::Relaxed);
                temporary("dsn_unsupported", text, Some(Duration::from_secs(1)))
            }
            mail::RetryClass::RecipientRejected => {
                self.permanent("recipient_rejected", text, remote)
            }
            mail::RetryClass::MessageTooLarge => self.permanent("message_too_large", text, remote),
            mail::RetryClass::RejectedByOperator => {
                self.permanent("rejected_by_operator", text, remote)
            }
            mail::RetryClass::ProtocolError => self.permanent("protocol_error", text, remote),
        }
    }
}

#[tonic::async_trait]
impl Sender for MssanteSender {
    fn handles(&self, destination: &str) -> bool {
        destination.starts_with("mssante:")
    }

    fn paused_until(&self) -> Option<time::OffsetDateTime> {
        self.breaker
            .lock()
            .map(|b| b.open_until())
            .unwrap_or_else(|p| p.into_inner().open_until())
    }

    async fn send(&self, claimed: &ob::Claimed) -> ob::AttemptResult {
        self.send_fresh(claimed, &crate::service::Fresh::new())
            .await
    }

    async fn send_fresh(
        &self,
        claimed: &ob::Claimed,
        fresh: &crate::service::Fresh,
    ) -> ob::AttemptResult {
        let d = &claimed.delivery;
        let Some(tenant) = self.tenant(&d.tenant) else {
            return self.permanent(
                "unknown_tenant",
                "the delivery's tenant is not configured".into(),
                String::new(),
            );
        };
        let Some(tls) = self.tls.get(&tenant.id).cloned() else {
            return temporary(
                "configuration",
                "no TLS client identity for the tenant".into(),
                Some(Duration::from_secs(300)),
            );
        };
        let Some(payload) = d.payloads.iter().find(|p| p.name == "message.eml") else {
            return self.permanent(
                "payload_missing",
                "no stored message for this delivery".into(),
                String::new(),
            );
        };
        let store = self.store.clone();
        let sha = payload.sha256;
        let read;
        let bytes: &[u8] = match fresh.get(&sha) {
            Some(b) => b,
            None => {
                read = match tokio::task::spawn_blocking(move || store.read_blob(&sha)).await {
                    Ok(Ok(b)) => b,
                    Ok(Err(e)) => return temporary("store", e.to_string(), None),
                    Err(e) => return temporary("store", e.to_string(), None),
                };
                &read
            }
        };
        let Some(mid) = message_id(bytes) else {
            return self.permanent(
                "payload_corrupt",
                "the stored message has no Message-ID".into(),
                String::new(),
            );
        };
        let mut c = mail::SmtpClientConfig::new(
            tenant.app_mailbox.clone(),
            self.operator.smtp_host.clone(),
            self.operator.smtp_port,
            self.operator.smtp_tls,
            tls,
        );
        c.connect_addr = self.operator.smtp_addr;
        c.request_dsn = !self.dsn_off.load(Ordering::Relaxed);
        let env = mail::Envelope {
            mail_from: tenant.app_mailbox.clone(),
            recipients: vec![d.recipient.clone()],
            dsn: Some(mail::DsnRequest {
                envid: Some(d.id.clone()),
                ..mail::DsnRequest::default()
            }),
        };
        match self.pool.send(&c, &env, bytes).await {
            Ok(report) => {
                if let Some(r) = report.recipients.iter().find(|r| !r.reply.is_positive()) {
                    let e = mail::MailError::Rejected {
                        step: mail::Step::Rcpt,
                        reply: r.reply.clone(),
                    };
                    return self.failed(&d.destination, &e).await;
                }
                self.breaker
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .close();
                let now = self.clock.now();
                let timeout = Duration::from_secs(self.cfg.outbox.notification_timeout_secs);
                ob::AttemptResult::Sent {
                    message_id: mid,
                    // Without a DSN nothing will confirm delivery: stay "sent" (unconfirmed).
                    notify_by: report.dsn_requested.then(|| now + timeout),
                }
            }
            Err(e) => self.failed(&d.destination, &e).await,
        }
    }
}

impl MssanteSender {
    async fn failed(&self, destination: &str, e: &mail::MailError) -> ob::AttemptResult {
        if e.retry_class() == mail::RetryClass::Configuration {
            self.hold_operator(destination, e).await;
        }
        let mut result = self.classify(e);
        if trips_breaker(e) {
            let now = self.clock.now();
            let mut b = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(window) = b.trip(&self.cfg.mssante.breaker_secs, now) {
                self.metrics.operator_breaker_trips.inc();
                tracing::warn!(
                    window_secs = window.as_secs(),
                    error = %e,
                    "the MSSanté operator refuses work for now: nothing is sent to it until the window ends"
                );
            }
            // This delivery waits for the window too, not for its own shorter backoff.
            if let (Some(until), ob::AttemptResult::TemporaryFailure { retry_after, .. }) =
                (b.open_until(), &mut result)
            {
                let left = (until - now).max(time::Duration::ZERO);
                *retry_after = Some(left.try_into().unwrap_or_default());
            }
        }
        result
    }

    /// A configuration fault towards the operator (530/535, 5.7.0/5.7.8, a refused certificate)
    /// fails every message the same way until someone fixes it (mssante.md §1.5): rather than
    /// spending each delivery's attempts until its window ends, pause every MSSanté destination
    /// with work (they all go through this operator), this one included. The deliveries stay
    /// queued; an administrator resumes the destinations (Admin `Resume`) once it is fixed.
    async fn hold_operator(&self, destination: &str, e: &mail::MailError) {
        let why = match e.reply() {
            Some(r) => format!(
                "smtp {}{}",
                r.code,
                r.enhanced
                    .map(|x| format!(" {}.{}.{}", x[0], x[1], x[2]))
                    .unwrap_or_default()
            ),
            None => "tls certificate".to_string(),
        };
        let store = self.store.clone();
        let now = self.clock.now();
        let dest = destination.to_string();
        let actor = format!("system: operator configuration fault ({why})");
        let held = tokio::task::spawn_blocking(move || -> ob::Result<Vec<String>> {
            let mut targets: Vec<String> = store
                .destination_stats(now)?
                .into_iter()
                .filter(|s| {
                    s.destination.starts_with("mssante:") && !s.paused && s.queued + s.in_flight > 0
                })
                .map(|s| s.destination)
                .collect();
            if !targets.contains(&dest) {
                targets.push(dest);
            }
            let mut held = Vec::new();
            for t in targets {
                // Concurrent failures would otherwise pause (and audit) it twice.
                if !store.is_paused(&t)? {
                    store.pause(&t, &actor, now)?;
                    held.push(t);
                }
            }
            Ok(held)
        })
        .await;
        match held {
            Ok(Ok(held)) => {
                for d in &held {
                    self.metrics
                        .operator_holds
                        .get_or_create(&crate::metrics::DestinationLabels {
                            destination: d.clone(),
                        })
                        .inc();
                }
                if !held.is_empty() {
                    tracing::error!(
                        reason = %why,
                        destinations = ?held,
                        "MSSanté operator refused our configuration: destinations paused, resume them once fixed"
                    );
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "could not pause the operator's destinations"),
            Err(e) => tracing::warn!(error = %e, "could not pause the operator's destinations"),
        }
    }
}

// ---- receiving ----

/// One polled mailbox of a tenant.
#[derive(Clone)]
pub struct PolledMailbox {
    pub tenant: String,
    pub mailbox: String,
    /// The tenant's APP mailbox, the identity of `tls`: read receipts for what `mailbox` received
    /// are sent from it (the operator accepts only the certificate's own address as sender; an
    /// ORG mailbox such as a CRIP's is read with a login), `Final-Recipient` naming `mailbox`.
    pub app_mailbox: String,
    pub auth: mail::ImapAuth,
    pub tls: Arc<rustls::ClientConfig>,
}

const DONE: &str = "Passerelle/Traites";
const QUARANTINE: &str = "Passerelle/Quarantaine";
/// The marks of `mssante.after_ingest = "flag"` (messages stay in INBOX).
const KW_DONE: &str = "$PasserelleTraite";
const KW_QUARANTINE: &str = "$PasserelleQuarantaine";

/// The folders a session needs: none when processed messages stay in INBOX.
async fn session_folders(svc: &Service, s: &mut mail::ImapSession) -> anyhow::Result<Vec<String>> {
    Ok(match svc.cfg.mssante.after_ingest {
        crate::config::AfterIngest::Move => s.ensure_folders(&[DONE, QUARANTINE]).await?,
        crate::config::AfterIngest::Flag => Vec::new(),
    })
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// Applies the notifications of a DSN/MDN/ANS error mail to the matching deliveries.
fn apply_notifications(
    store: &dyn ob::Store,
    kind: &mss::inbound::InboundKind,
    now: time::OffsetDateTime,
) -> (bool, String) {
    use mss::correlation::{Event, Key};
    let correlated: Vec<mss::correlation::Correlated> = match kind {
        mss::inbound::InboundKind::Dsn(d) => mss::correlation::from_dsn(d),
        mss::inbound::InboundKind::Mdn(m) => vec![mss::correlation::from_mdn(m)],
        mss::inbound::InboundKind::AnsError(a) => vec![mss::correlation::from_ans_error(a)],
        mss::inbound::InboundKind::NonDelivery(n) => vec![mss::correlation::from_non_delivery(n)],
        _ => return (false, String::new()),
    };
    let mut matched = false;
    let mut notes = Vec::new();
    for c in correlated {
        let delivery = c.keys.iter().find_map(|k| match k {
            Key::Envelope { envelope_id, .. } => store.get_delivery(envelope_id).ok(),
            Key::MessageId { message_id, .. } => {
                store.delivery_by_message_id(message_id).ok().flatten()
            }
        });
        let Some(d) = delivery else { continue };
        matched = true;
        let notice = match &c.event {
            Event::Dsn { action, status, .. } => match action {
                mss::report::DsnAction::Delivered
                | mss::report::DsnAction::Relayed
                | mss::report::DsnAction::Expanded => ob::DeliveryNotice::Delivered {
                    detail: format!("DSN {action:?}"),
                },
                mss::report::DsnAction::Failed => {
                    let mut e = ob::DeliveryError::new(
                        Origin::MsSante,
                        "dsn_failed",
                        "the recipient's server reported a delivery failure",
                    );
                    e.remote_code = status.map(|s| format!("{s:?}")).unwrap_or_default();
                    ob::DeliveryNotice::Failed { error: e }
                }
                other => ob::DeliveryNotice::Info {
                    detail: format!("DSN {other:?}"),
                },
            },
            Event::Mdn {
                disposition,
                error,
                ans_error,
            } => {
                if let Some(a) = ans_error.as_ref().filter(|_| *error) {
                    let mut e = ob::DeliveryError::new(
                        Origin::MsSante,
                        format!("ans_{}", a.code),
                        a.label.clone(),
                    );
                    e.remote_code = a.code.to_string();
                    ob::DeliveryNotice::Rejected { error: e }
                } else {
                    match disposition {
                        mss::report::DispositionType::Displayed => ob::DeliveryNotice::Read {
                            detail: "MDN displayed".into(),
                        },
                        other => ob::DeliveryNotice::Disposition {
                            disposition: format!("{other:?}").to_ascii_lowercase(),
                            detail: format!(
                                "MDN {other:?}{}",
                                if *error { " (error)" } else { "" }
                            ),
                        },
                    }
                }
            }
            Event::AnsErrorMail { ans_error } => {
                let code = ans_error.as_ref().map(|a| a.code).unwrap_or(906);
                let mut e = ob::DeliveryError::new(
                    Origin::MsSante,
                    format!("ans_{code}"),
                    "the recipient's system refused the integration",
                );
                e.remote_code = code.to_string();
                ob::DeliveryNotice::Rejected { error: e }
            }
            _ => ob::DeliveryNotice::Info {
                detail: "non-standard bounce".into(),
            },
        };
        match store.apply_notice(&d.id, notice, now) {
            Ok(o) => notes.push(format!(
                "{}:{}",
                d.id,
                match o {
                    ob::NoticeOutcome::Applied(_) => "applied",
                    ob::NoticeOutcome::Recorded(_) => "recorded",
                    ob::NoticeOutcome::Late(_) => "late",
                    ob::NoticeOutcome::Held(_) => {
                        tracing::debug!(delivery_id = %d.id, "notice overtook the record of the send: held");
                        "held"
                    }
                }
            )),
            Err(e) => notes.push(format!("{}:error {e}", d.id)),
        }
    }
    (matched, notes.join(" "))
}

/// An automatic read receipt to send for a received document (mssante.md §5.2).
pub struct OutgoingMdn {
    pub to: String,
    pub bytes: Vec<u8>,
    /// The inbox item it answers and the error it reports (to rebuild it for a retry).
    pub inbox_id: String,
    pub error: Option<(u16, String)>,
}

/// Builds the ANS-form MDN for a received document mail: `processed`, or `processed/Error: 90x`
/// when it was quarantined. Only when asked (Disposition-Notification-To equal to the
/// Return-Path, not auto-submitted); never for a notification.
fn mdn_for(
    mb: &PolledMailbox,
    nil: &str,
    raw: &[u8],
    headers: &mss::inbound::Headers,
    doc: &mss::inbound::DocumentMail,
    error: Option<(u16, String)>,
    now: time::OffsetDateTime,
) -> Option<OutgoingMdn> {
    let mss::mdn_out::MdnDecision::Send { to } = mss::mdn_out::mdn_decision(headers) else {
        return None;
    };
    let from = mss::Address::parse("mailbox", &mb.app_mailbox).ok()?;
    let from = mss::Mailbox::new(Some("Passerelle"), from);
    let final_recipient = mss::Address::parse("mailbox", &mb.mailbox).ok()?;
    let m = mss::mdn_out::MdnMessage {
        message_uuid: uuid::Uuid::now_v7(),
        date: now,
        from: &from,
        to: to.clone(),
        reporting_ua: format!("Passerelle {}", env!("CARGO_PKG_VERSION")),
        nil,
        final_recipient,
        original_recipient: headers.original_recipient.clone(),
        original_message_id: headers.message_id.clone()?,
        original_subject: headers.subject.clone().unwrap_or_default(),
        error: error
            .clone()
            .map(|(code, label)| mss::ans::AnsError { code, label }),
        original_raw: raw,
        // IG-MDN: the original's IHE_XDM.zip and PDF are returned as attachments of the MDN.
        attachments: doc
            .xdm
            .iter()
            .map(|x| mss::mdn_out::ReturnedAttachment {
                name: "IHE_XDM.zip".into(),
                content_type: "application/zip".into(),
                data: &x.data,
            })
            .chain(
                doc.other_attachments
                    .iter()
                    .map(|a| mss::mdn_out::ReturnedAttachment {
                        name: a.name.clone().unwrap_or_else(|| "attachment".into()),
                        content_type: a.content_type.clone(),
                        data: &a.data,
                    }),
            )
            .collect(),
    };
    let bytes = mss::mdn_out::build(&m).ok()?;
    Some(OutgoingMdn {
        to: to.to_string(),
        bytes,
        inbox_id: String::new(),
        error,
    })
}

/// The read receipt of a recorded message, built again from its raw bytes (a retry).
fn mdn_again(
    mb: &PolledMailbox,
    nil: &str,
    raw: &[u8],
    error: Option<(u16, String)>,
    now: time::OffsetDateTime,
) -> Option<OutgoingMdn> {
    let m = mss::inbound::parse(raw, &mss::inbound::Limits::default()).ok()?;
    let mss::inbound::InboundKind::Document(doc) = &m.kind else {
        return None;
    };
    mdn_for(mb, nil, raw, &m.headers, doc, error, now)
}

/// An inbox item, quarantined until classified.
fn quarantined_item(
    mb: &PolledMailbox,
    uidvalidity: u32,
    uid: u32,
    raw: ob::PayloadRef,
    now: time::OffsetDateTime,
) -> ob::NewInboxItem {
    ob::NewInboxItem {
        id: new_id("in"),
        tenant: mb.tenant.clone(),
        mailbox: mb.mailbox.clone(),
        uidvalidity,
        uid,
        message_id: None,
        raw,
        received_at: now,
        class: ob::InboxClass::Malformed,
        state: ob::InboxItemState::Quarantined,
        from: String::new(),
        subject: String::new(),
        date: None,
        patient_id: String::new(),
        reason: None,
        documents: Vec::new(),
    }
}

/// Records a message over the size limit (`inbound::Limits::max_bytes`) from its header block
/// alone, quarantined unread (mssante.md §6.1): its body is never fetched into memory and stays
/// on the server, moved to the quarantine folder; the inbox item says who sent what and why.
pub fn ingest_oversized(
    store: &dyn ob::Store,
    mb: &PolledMailbox,
    uidvalidity: u32,
    uid: u32,
    header: &[u8],
    size: u64,
    now: time::OffsetDateTime,
) -> ob::Result<&'static str> {
    let raw = store.put_blob(header)?.named("header.eml");
    let mut item = quarantined_item(mb, uidvalidity, uid, raw, now);
    let max = mss::inbound::Limits::default().max_bytes;
    item.reason = Some(format!(
        "message of {size} bytes over the {max}-byte limit: quarantined unread (header kept)"
    ));
    // The header block alone parses as a message without a body.
    let mut head = header.to_vec();
    if !head.ends_with(b"\r\n\r\n") {
        head.extend_from_slice(b"\r\n");
    }
    if let Ok(m) = mss::inbound::parse(&head, &mss::inbound::Limits::default()) {
        item.message_id = m.headers.message_id;
        item.from = m.headers.from.unwrap_or_default();
        item.subject = m.headers.subject.unwrap_or_default();
        item.date = m.headers.date;
    }
    store.inbox_insert(item)?;
    Ok(QUARANTINE)
}

/// Classifies and records one fetched message (blocking). Returns the folder to move it to and
/// the read receipt to send, if any.
pub fn ingest(
    store: &dyn ob::Store,
    mb: &PolledMailbox,
    nil: &str,
    uidvalidity: u32,
    uid: u32,
    raw: &[u8],
    now: time::OffsetDateTime,
) -> ob::Result<(&'static str, Option<OutgoingMdn>)> {
    let mut mdn = None;
    let raw_ref = store.put_blob(raw)?.named("raw.eml");
    let mut item = quarantined_item(mb, uidvalidity, uid, raw_ref, now);
    let mut folder = QUARANTINE;
    match mss::inbound::parse(raw, &mss::inbound::Limits::default()) {
        Err(e) => item.reason = Some(format!("mime: {e}")),
        Ok(m) => {
            item.message_id = m.headers.message_id.clone();
            item.from = m.headers.from.clone().unwrap_or_default();
            item.subject = m.headers.subject.clone().unwrap_or_default();
            item.date = m.headers.date;
            folder = DONE;
            match &m.kind {
                mss::inbound::InboundKind::Dsn(_)
                | mss::inbound::InboundKind::Mdn(_)
                | mss::inbound::InboundKind::AnsError(_)
                | mss::inbound::InboundKind::NonDelivery(_) => {
                    item.class = match &m.kind {
                        mss::inbound::InboundKind::Dsn(_) => ob::InboxClass::Dsn,
                        mss::inbound::InboundKind::Mdn(_) => ob::InboxClass::Mdn,
                        mss::inbound::InboundKind::AnsError(_) => ob::InboxClass::AnsError,
                        _ => ob::InboxClass::NonDelivery,
                    };
                    let (matched, notes) = apply_notifications(store, &m.kind, now);
                    item.state = if matched {
                        ob::InboxItemState::Processed
                    } else {
                        ob::InboxItemState::PendingHuman
                    };
                    item.reason = Some(if matched {
                        notes
                    } else {
                        "unmatched notification".into()
                    });
                }
                mss::inbound::InboundKind::Document(doc) => {
                    item.class = ob::InboxClass::Document;
                    match doc
                        .xdm
                        .as_ref()
                        .map(|a| passerelle_documents::read_xdm(&a.data))
                    {
                        None => {
                            item.state = ob::InboxItemState::Quarantined;
                            item.reason = Some("906: XDM subject without an IHE_XDM.zip".into());
                            folder = QUARANTINE;
                            mdn = mdn_for(
                                mb,
                                nil,
                                raw,
                                &m.headers,
                                doc,
                                Some((906, "Archive IHE_XDM absente".into())),
                                now,
                            );
                        }
                        Some(Err(e)) => {
                            item.state = ob::InboxItemState::Quarantined;
                            item.reason = Some(format!("{}: {e}", e.ans_code().code()));
                            folder = QUARANTINE;
                            mdn = mdn_for(
                                mb,
                                nil,
                                raw,
                                &m.headers,
                                doc,
                                Some((e.ans_code().code(), "Archive IHE_XDM invalide".into())),
                                now,
                            );
                        }
                        Some(Ok(pkg)) => {
                            item.patient_id = pkg.patient_id.clone();
                            item.state = ob::InboxItemState::New;
                            mdn = mdn_for(mb, nil, raw, &m.headers, doc, None, now);
                            for s in &pkg.subsets {
                                for d in &s.documents {
                                    let readable = d.pdf.as_deref().unwrap_or(&d.content);
                                    let payload = store.put_blob(readable)?.named("document");
                                    let cda = if d.cda.is_some() {
                                        Some(store.put_blob(&d.content)?.named("cda"))
                                    } else {
                                        None
                                    };
                                    item.documents.push(ob::InboundDocument {
                                        title: d.title.clone().unwrap_or_default(),
                                        type_code: d
                                            .type_code
                                            .as_ref()
                                            .map(|c| c.code.clone())
                                            .unwrap_or_default(),
                                        mime_type: if d.pdf.is_some() {
                                            "application/pdf".into()
                                        } else {
                                            d.mime_type.clone()
                                        },
                                        unique_id: d.unique_id.clone(),
                                        payload,
                                        cda,
                                    });
                                }
                            }
                        }
                    }
                }
                mss::inbound::InboundKind::Plain(_) => {
                    item.class = ob::InboxClass::Plain;
                    item.state = ob::InboxItemState::New;
                }
            }
        }
    }
    // Only a newly recorded message is answered: a re-read one already was.
    let id = item.id.clone();
    let fresh = matches!(store.inbox_insert(item)?, ob::InboxInsert::Inserted(_));
    Ok((
        folder,
        mdn.filter(|_| fresh)
            .map(|m| OutgoingMdn { inbox_id: id, ..m }),
    ))
}

/// Follows every configured mailbox until shutdown, one task and one long-lived IMAP session per
/// mailbox: new messages are fetched, ingested, moved; then IDLE (RFC 2177) where the server
/// offers it, else a pause. Either way the mailbox is read again at least every `every`: the IDLE
/// is ended and re-issued then (also well under RFC 2177's 29 minutes), a safety poll so that a
/// change the server failed to announce waits at most `every`. A failed session is reopened after
/// a pause; nothing is lost (the cursor and the store make ingestion idempotent).
pub async fn poll_loop(
    svc: Arc<Service>,
    operator: Operator,
    mailboxes: Vec<PolledMailbox>,
    every: Duration,
    shutdown: watch::Receiver<bool>,
) {
    let mut tasks = Vec::new();
    for mb in mailboxes {
        let svc = svc.clone();
        let op = operator.clone();
        let mut shutdown = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let r = tokio::select! {
                    r = follow_mailbox(&svc, &op, &mb, every) => r,
                    _ = shutdown.changed() => return,
                };
                if let Err(e) = r {
                    tracing::warn!(mailbox_tenant = %mb.tenant, error = %e, "IMAP session ended; reopening");
                }
                tokio::select! {
                    _ = tokio::time::sleep(every.max(Duration::from_millis(200))) => {}
                    _ = shutdown.changed() => return,
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// One session: ingest, then IDLE (`mssante.imap_idle`) or wait, forever (returns only on error).
async fn follow_mailbox(
    svc: &Service,
    operator: &Operator,
    mb: &PolledMailbox,
    every: Duration,
) -> anyhow::Result<()> {
    let mut s = open_session(operator, mb).await?;
    let folders = session_folders(svc, &mut s).await?;
    loop {
        let t0 = std::time::Instant::now();
        let n = ingest_new(svc, &mut s, mb, &folders, Some(operator)).await?;
        tracing::debug!(mailbox_tenant = %mb.tenant, n, ms = t0.elapsed().as_millis() as u64, "IMAP pass");
        if svc.cfg.mssante.imap_idle && s.has_capability("IDLE") {
            // Returns at once when new mail was announced during the pass (see `ImapSession::idle`).
            // A whole cycle (IDLE, wait, DONE) that outlives its wait by IDLE_GRACE is stuck (a
            // server that stopped answering): the session is dropped and reopened rather than
            // waiting for the command timeout.
            let wait = idle_wait(every);
            let t0 = std::time::Instant::now();
            let (back, outcome) = tokio::time::timeout(wait + IDLE_GRACE, s.idle(wait))
                .await
                .map_err(|_| {
                    anyhow::anyhow!("IDLE cycle not over {IDLE_GRACE:?} after its wait; reopening")
                })??;
            tracing::debug!(mailbox_tenant = %mb.tenant, ?outcome, ms = t0.elapsed().as_millis() as u64, "IDLE cycle");
            s = back;
        } else {
            tokio::time::sleep(every).await;
        }
    }
}

/// How long an IDLE cycle may run past its wait (sending IDLE and DONE, reading their answers).
const IDLE_GRACE: Duration = Duration::from_secs(10);

/// How long one IDLE lasts: the poll period (the safety poll), never RFC 2177's 29 minutes.
fn idle_wait(every: Duration) -> Duration {
    every.min(Duration::from_secs(28 * 60))
}

async fn open_session(
    operator: &Operator,
    mb: &PolledMailbox,
) -> anyhow::Result<mail::ImapSession> {
    let mut c = mail::ImapClientConfig::new(
        mb.mailbox.clone(),
        operator.imap_host.clone(),
        operator.imap_port,
        operator.imap_tls,
        mb.tls.clone(),
    );
    c.connect_addr = operator.imap_addr;
    c.auth = mb.auth.clone();
    Ok(mail::ImapSession::connect(&c).await?)
}

/// One pass over a mailbox with a fresh session (tests, `conformance`).
pub async fn poll_once(
    svc: &Service,
    operator: &Operator,
    mb: &PolledMailbox,
) -> anyhow::Result<usize> {
    let mut s = open_session(operator, mb).await?;
    let folders = session_folders(svc, &mut s).await?;
    let n = ingest_new(svc, &mut s, mb, &folders, Some(operator)).await?;
    let _ = s.logout().await;
    Ok(n)
}

/// How long a read receipt is tried again before it is given up (the sender's own read window
/// is days; a receipt a day late says little).
const MDN_GIVE_UP: Duration = Duration::from_secs(24 * 3600);

/// Sends a read receipt under the tenant's APP identity. A failure the operator may get over
/// (unreachable, 4xx, a configuration fault being fixed) queues it to be built and sent again on
/// a later pass, after the outbox's backoff delays, for up to a day; a refusal of the receipt
/// itself (5xx) is logged and dropped: a lost receipt is not a lost document.
async fn send_mdn(
    svc: &Service,
    op: &Operator,
    mb: &PolledMailbox,
    mdn: OutgoingMdn,
    queued: Option<ob::PendingMdn>,
) {
    let mut c = mail::SmtpClientConfig::new(
        mb.app_mailbox.clone(),
        op.smtp_host.clone(),
        op.smtp_port,
        op.smtp_tls,
        mb.tls.clone(),
    );
    c.connect_addr = op.smtp_addr;
    let env = mail::Envelope {
        mail_from: mb.app_mailbox.clone(),
        recipients: vec![mdn.to.clone()],
        dsn: None,
    };
    let pool = mail::SmtpPool::new();
    let now = svc.clock.now();
    let store = svc.store.clone();
    let update = match pool.send(&c, &env, &mdn.bytes).await {
        Ok(_) => queued.map(|q| (q, None)),
        Err(e) => {
            let again = matches!(
                e.retry_class(),
                mail::RetryClass::Temporary
                    | mail::RetryClass::ReusedConnection
                    | mail::RetryClass::Configuration
            );
            let mut q = queued.unwrap_or_else(|| ob::PendingMdn {
                inbox_id: mdn.inbox_id.clone(),
                mailbox: mb.mailbox.clone(),
                error: mdn.error.clone(),
                attempts: 0,
                created_at: now,
            });
            q.attempts += 1;
            let steps = &svc.cfg.outbox.backoff_secs;
            let delay = steps
                .get((q.attempts as usize).saturating_sub(1))
                .or(steps.last())
                .copied()
                .unwrap_or(60);
            let next = now + Duration::from_secs(delay);
            let give_up = !again || next - q.created_at > MDN_GIVE_UP;
            tracing::warn!(
                class = ?e.retry_class(),
                error = %e,
                attempts = q.attempts,
                will_retry = !give_up,
                "read receipt not sent"
            );
            Some((q, (!give_up).then_some(next)))
        }
    };
    let Some((q, next)) = update else { return };
    let r = tokio::task::spawn_blocking(move || match next {
        Some(at) => store.mdn_retry(q, at),
        None => store.mdn_done(&q.inbox_id),
    })
    .await;
    if !matches!(r, Ok(Ok(()))) {
        tracing::warn!("could not record the read receipt's retry");
    }
}

/// Sends again the read receipts of `mb` that are due (built afresh from the recorded message).
async fn retry_mdns(svc: &Service, op: &Operator, mb: &PolledMailbox) -> anyhow::Result<()> {
    let store = svc.store.clone();
    let mailbox = mb.mailbox.clone();
    let now = svc.clock.now();
    let due = tokio::task::spawn_blocking(move || store.mdn_due(&mailbox, now, 20)).await??;
    for q in due {
        let store = svc.store.clone();
        let id = q.inbox_id.clone();
        let raw = tokio::task::spawn_blocking(move || -> ob::Result<Vec<u8>> {
            let item = store.inbox_get(&id)?;
            store.read_blob(&item.item.raw.sha256)
        })
        .await?;
        let mdn = raw
            .ok()
            .and_then(|raw| mdn_again(mb, &svc.cfg.mssante.nil, &raw, q.error.clone(), now));
        match mdn {
            Some(m) => {
                let m = OutgoingMdn {
                    inbox_id: q.inbox_id.clone(),
                    ..m
                };
                send_mdn(svc, op, mb, m, Some(q)).await;
            }
            None => {
                // The message is gone (pruned) or no longer asks for a receipt: nothing to send.
                let store = svc.store.clone();
                tokio::task::spawn_blocking(move || store.mdn_done(&q.inbox_id)).await??;
            }
        }
    }
    Ok(())
}

/// Fetches the messages after the cursor, ingests each durably, then moves it out of INBOX and
/// advances the cursor.
async fn ingest_new(
    svc: &Service,
    s: &mut mail::ImapSession,
    mb: &PolledMailbox,
    folders: &[String],
    operator: Option<&Operator>,
) -> anyhow::Result<usize> {
    if let Some(op) = operator
        && let Err(e) = retry_mdns(svc, op, mb).await
    {
        tracing::warn!(error = %e, "read receipts to retry could not be read");
    }
    let state = s.select_inbox().await?;
    let flag_mode = svc.cfg.mssante.after_ingest == crate::config::AfterIngest::Flag;
    if flag_mode && !(state.keeps_keyword(KW_DONE) && state.keeps_keyword(KW_QUARANTINE)) {
        anyhow::bail!(
            "mssante.after_ingest = \"flag\": the server does not keep keywords in INBOX \
             (PERMANENTFLAGS {:?}); use \"move\"",
            state.permanent_flags
        );
    }
    let store = svc.store.clone();
    let mailbox = mb.mailbox.clone();
    let cursor = tokio::task::spawn_blocking(move || store.inbox_cursor(&mailbox)).await??;
    // Everything still in INBOX is read again: an ingested message is moved out of it once it is
    // durable, so INBOX holds only what is new (or whose move failed, which the store recognises
    // by UIDVALIDITY+UID or Message-ID+SHA-256 and does not ingest twice). Reading from the cursor
    // alone would miss a message that became visible after a higher UID.
    // Listed first (UID, size, header), then fetched one at a time: memory holds one message,
    // and one over the size limit is never fetched.
    let listed = if flag_mode {
        // Processed messages stay, marked: list only the unmarked ones.
        let todo = s.uids_without(&[KW_DONE, KW_QUARANTINE]).await?;
        match todo.first() {
            None => Vec::new(),
            Some(first) => s
                .list_from(*first)
                .await?
                .into_iter()
                .filter(|l| todo.binary_search(&l.uid).is_ok())
                .collect(),
        }
    } else {
        s.list_from(1).await?
    };
    let max = mss::inbound::Limits::default().max_bytes;
    let mut n = 0;
    let mut last = cursor
        .filter(|c| c.uidvalidity == state.uid_validity)
        .map(|c| c.last_uid)
        .unwrap_or(0);
    for l in listed {
        let store = svc.store.clone();
        let mbc = mb.clone();
        let now = svc.clock.now();
        let uv = state.uid_validity;
        let uid = l.uid;
        let (folder, mdn) = match l.size.map(u64::from).filter(|n| *n > max) {
            Some(size) => {
                tracing::warn!(mailbox_tenant = %mb.tenant, size, "message over the size limit quarantined unread");
                let folder = tokio::task::spawn_blocking(move || {
                    ingest_oversized(store.as_ref(), &mbc, uv, uid, &l.header, size, now)
                })
                .await??;
                (folder, None)
            }
            None => {
                // Gone since the listing (moved by another client): nothing to do.
                let Some(m) = s.fetch_uid(uid).await? else {
                    continue;
                };
                let nil = svc.cfg.mssante.nil.clone();
                tokio::task::spawn_blocking(move || {
                    ingest(store.as_ref(), &mbc, &nil, uv, uid, &m.body, now)
                })
                .await??
            }
        };
        if let (Some(mdn), Some(op)) = (mdn, operator) {
            send_mdn(svc, op, mb, mdn, None).await;
        }
        svc.metrics
            .inbox_messages
            .get_or_create(&crate::metrics::OutcomeLabels {
                outcome: if folder == QUARANTINE {
                    "quarantined"
                } else {
                    "processed"
                }
                .into(),
            })
            .inc();
        // Recorded durably first; only then marked or moved out of INBOX (never expunged before).
        if flag_mode {
            let kw = if folder == QUARANTINE {
                KW_QUARANTINE
            } else {
                KW_DONE
            };
            if let Err(e) = s.add_keyword(uid, kw).await {
                tracing::warn!(error = %e, "could not mark an ingested message");
            }
            last = last.max(uid);
            n += 1;
            continue;
        }
        let leaf = folder.rsplit('/').next().unwrap_or(folder);
        let target = folders
            .iter()
            .find(|f| f.ends_with(leaf))
            .cloned()
            .unwrap_or_else(|| folder.to_string());
        if let Err(e) = s.move_message(uid, &target).await {
            tracing::warn!(error = %e, "could not move an ingested message");
        }
        last = last.max(uid);
        n += 1;
    }
    if n > 0 {
        let store = svc.store.clone();
        let mailbox = mb.mailbox.clone();
        let cur = ob::InboxCursor {
            uidvalidity: state.uid_validity,
            last_uid: last,
        };
        tokio::task::spawn_blocking(move || store.set_inbox_cursor(&mailbox, cur)).await??;
        svc.changed.notify_waiters();
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_lengthens_while_refused_and_closes_on_success() {
        let steps = [60, 120, 900];
        let t0 = time::macros::datetime!(2026-11-26 08:00 UTC);
        let s = |n: u64| Duration::from_secs(n);
        let mut b = Breaker::default();
        assert_eq!(b.trip(&steps, t0), Some(s(60)));
        // Sends in flight when it opened report the same refusal: still one trip.
        assert_eq!(b.trip(&steps, t0 + s(30)), None);
        assert_eq!(b.open_until(), Some(t0 + s(60)));
        assert_eq!(b.trip(&steps, t0 + s(61)), Some(s(120)));
        assert_eq!(b.trip(&steps, t0 + s(200)), Some(s(900)));
        assert_eq!(
            b.trip(&steps, t0 + s(2000)),
            Some(s(900)),
            "the last repeats"
        );
        b.close();
        assert_eq!(b.open_until(), None);
        assert_eq!(b.trip(&steps, t0 + s(3000)), Some(s(60)));
        assert_eq!(Breaker::default().trip(&[], t0), None, "disabled");
    }

    #[test]
    fn only_421_and_4_7_x_trip_the_breaker() {
        let e = |code: u16, enhanced: Option<[u16; 3]>| mail::MailError::Rejected {
            step: mail::Step::Mail,
            reply: mail::Reply {
                code,
                enhanced,
                text: String::new(),
            },
        };
        assert!(trips_breaker(&e(421, None)));
        assert!(trips_breaker(&e(451, Some([4, 7, 1]))));
        assert!(trips_breaker(&e(454, Some([4, 7, 0]))));
        assert!(!trips_breaker(&e(451, Some([4, 3, 0]))));
        assert!(!trips_breaker(&e(550, Some([5, 7, 1]))));
        assert!(!trips_breaker(&mail::MailError::Timeout {
            step: mail::Step::Data
        }));
    }
}
