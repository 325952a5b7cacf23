//! Embedded MSSanté operator: strict SMTP submission + IMAP server with fault injection, used
//! by the tests and by `passerelle demo` / `serve --sandbox`. A test double: state lives in
//! memory. See `docs/mail.md`.
#![forbid(unsafe_code)]

pub mod bench;
pub mod dns;
mod imap_server;
pub mod pki;
pub mod reports;
pub mod rules;
mod smtp_server;
mod store;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

pub use rules::Refusal;
pub use store::StoredMessage;

/// Pluggable message validator run after the built-in rules (full MSSanté/XDM checks).
pub type Validator = Arc<dyn Fn(&[u8]) -> Result<(), Refusal> + Send + Sync>;

/// Errors of the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("test PKI {field}: {reason}")]
    Pki { field: &'static str, reason: String },
    #[error("listener {field}: {reason}")]
    Bind { field: &'static str, reason: String },
    #[error("configuration {field}: {reason}")]
    Config { field: &'static str, reason: String },
    #[error("benchmark {field}: {reason}")]
    Bench { field: &'static str, reason: String },
}

/// How a simulated recipient mailbox answers read-receipt requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxKind {
    /// No MDN.
    Plain,
    /// Automatic integration: `automatic-action/MDN-sent-automatically; processed`, or
    /// `processed/Error: <code>^<label>` when `error` is set (ANS form).
    Integrator { error: Option<(u16, String)> },
    /// A person: `manual-action/MDN-sent-manually; displayed`, after `human_mdn_delay`.
    Human,
}

/// One mailbox hosted by the operator.
#[derive(Debug, Clone)]
pub struct MailboxSpec {
    pub address: String,
    pub kind: MailboxKind,
    /// Enables IMAP `LOGIN` for this mailbox (tests, Thunderbird); EXTERNAL always works.
    pub password: Option<String>,
}

impl MailboxSpec {
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            kind: MailboxKind::Plain,
            password: None,
        }
    }
    pub fn kind(mut self, kind: MailboxKind) -> Self {
        self.kind = kind;
        self
    }
}

/// Operator configuration.
#[derive(Clone)]
pub struct OperatorConfig {
    /// Host name in greetings, DSNs and Received headers.
    pub hostname: String,
    /// TLS server config; must require client certificates (see [`pki::server_tls_config`]).
    pub server_tls: Arc<ServerConfig>,
    /// Whitelisted recipient domains (case-insensitive, exact).
    pub domains: Vec<String>,
    pub mailboxes: Vec<MailboxSpec>,
    /// Advertised `SIZE` and enforced limit (bytes).
    pub max_message_size: usize,
    /// Strict: refuse at the SMTP step. Otherwise accept and record violations.
    pub strict: bool,
    pub validator: Option<Validator>,
    pub human_mdn_delay: Duration,
}

impl OperatorConfig {
    pub fn new(
        server_tls: Arc<ServerConfig>,
        domains: Vec<String>,
        mailboxes: Vec<MailboxSpec>,
    ) -> Self {
        Self {
            hostname: "mss.sim.test".into(),
            server_tls,
            domains,
            mailboxes,
            max_message_size: 10 * 1024 * 1024,
            strict: true,
            validator: None,
            human_mdn_delay: Duration::from_millis(200),
        }
    }
}

/// Protocol stage where a fault fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultStage {
    /// Reply instead of the 220 greeting, then close (`421`).
    Greeting,
    Mail,
    Rcpt,
    /// Reply to the DATA command.
    Data,
    /// Reply after the final dot (message received, then refused).
    DataEnd,
}

#[derive(Debug, Default)]
pub(crate) struct Faults {
    pub replies: HashMap<FaultStage, VecDeque<(u16, String)>>,
    pub disconnect_mid_data: u32,
    pub disconnect_next_command: u32,
    pub latency: Duration,
    pub dsn_not_advertised: bool,
    pub dsn_suppressed: bool,
    pub dsn_delay: Duration,
    /// Action reported instead of `delivered` (e.g. `relayed`).
    pub dsn_success_action: Option<reports::DsnAction>,
    pub dsn_duplicate: bool,
    pub dsn_delayed_first: bool,
    pub fail_after_accept: HashSet<String>,
    pub imap_no_move: bool,
    pub imap_no_idle: bool,
}

/// Counters (connections, transactions, refusals, reports).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub smtp_connections: AtomicU64,
    pub smtp_tls_failures: AtomicU64,
    pub messages_accepted: AtomicU64,
    pub refusals: AtomicU64,
    pub dsn_sent: AtomicU64,
    pub mdn_sent: AtomicU64,
    pub imap_connections: AtomicU64,
}

/// Snapshot of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OperatorStats {
    /// TCP connections accepted on the SMTP listeners.
    pub smtp_connections: u64,
    /// TLS handshakes that failed (no or untrusted client certificate…).
    pub smtp_tls_failures: u64,
    pub messages_accepted: u64,
    pub refusals: u64,
    pub dsn_sent: u64,
    pub mdn_sent: u64,
    pub imap_connections: u64,
}

pub(crate) struct Inner {
    /// Weak self, for tasks that deliver later (delayed DSNs/MDNs).
    me: std::sync::Weak<Inner>,
    pub config: Mutex<OperatorConfig>,
    pub hostname: String,
    pub acceptor: TlsAcceptor,
    pub store: store::Store,
    pub faults: Mutex<Faults>,
    pub counters: Counters,
    pub kinds: Mutex<HashMap<String, MailboxKind>>,
    pub passwords: HashMap<String, String>,
    pub violations: Mutex<Vec<String>>,
    pub next_id: AtomicU64,
}

impl Inner {
    pub fn self_arc(&self) -> Option<Arc<Inner>> {
        self.me.upgrade()
    }
    pub fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }
    pub fn take_fault(&self, stage: FaultStage) -> Option<(u16, String)> {
        self.faults()
            .replies
            .get_mut(&stage)
            .and_then(VecDeque::pop_front)
    }
    pub fn latency(&self) -> Duration {
        self.faults().latency
    }
    pub fn config(&self) -> OperatorConfig {
        self.config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    pub fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
    pub fn kind_of(&self, mailbox: &str) -> MailboxKind {
        self.kinds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(mailbox)
            .cloned()
            .unwrap_or(MailboxKind::Plain)
    }
    pub fn is_mailbox(&self, mailbox: &str) -> bool {
        self.store.has_account(mailbox)
    }
}

/// Bound loopback addresses of the four listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperatorAddrs {
    /// SMTP submission with STARTTLS (587-like).
    pub smtp_starttls: SocketAddr,
    /// SMTP submission with implicit TLS (465-like).
    pub smtp_implicit: SocketAddr,
    /// IMAP with STARTTLS (143-like).
    pub imap_starttls: SocketAddr,
    /// IMAP with implicit TLS (993-like).
    pub imap_implicit: SocketAddr,
}

/// A running operator; stops its listeners when dropped.
pub struct Operator {
    pub addrs: OperatorAddrs,
    handle: OperatorHandle,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator")
            .field("addrs", &self.addrs)
            .finish()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Operator {
    /// Binds four listeners on 127.0.0.1 port 0 and starts serving.
    pub async fn start(config: OperatorConfig) -> Result<Self, SimError> {
        let acceptor = TlsAcceptor::from(config.server_tls.clone());
        let mailboxes: Vec<String> = config
            .mailboxes
            .iter()
            .map(|m| m.address.to_ascii_lowercase())
            .collect();
        let kinds = config
            .mailboxes
            .iter()
            .map(|m| (m.address.to_ascii_lowercase(), m.kind.clone()))
            .collect();
        let passwords = config
            .mailboxes
            .iter()
            .filter_map(|m| {
                m.password
                    .clone()
                    .map(|p| (m.address.to_ascii_lowercase(), p))
            })
            .collect();
        let inner = Arc::new_cyclic(|me| Inner {
            me: me.clone(),
            hostname: config.hostname.clone(),
            config: Mutex::new(config),
            acceptor,
            store: store::Store::new(mailboxes),
            faults: Mutex::new(Faults::default()),
            counters: Counters::default(),
            kinds: Mutex::new(kinds),
            passwords,
            violations: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
        });
        let bind = || async {
            TcpListener::bind(("127.0.0.1", 0))
                .await
                .map_err(|e| SimError::Bind {
                    field: "127.0.0.1:0",
                    reason: e.to_string(),
                })
        };
        let l_smtp = bind().await?;
        let l_smtps = bind().await?;
        let l_imap = bind().await?;
        let l_imaps = bind().await?;
        let addr = |l: &TcpListener| {
            l.local_addr().map_err(|e| SimError::Bind {
                field: "local address",
                reason: e.to_string(),
            })
        };
        let addrs = OperatorAddrs {
            smtp_starttls: addr(&l_smtp)?,
            smtp_implicit: addr(&l_smtps)?,
            imap_starttls: addr(&l_imap)?,
            imap_implicit: addr(&l_imaps)?,
        };
        let tasks = vec![
            tokio::spawn(accept_loop(l_smtp, inner.clone(), Service::Smtp, false)),
            tokio::spawn(accept_loop(l_smtps, inner.clone(), Service::Smtp, true)),
            tokio::spawn(accept_loop(l_imap, inner.clone(), Service::Imap, false)),
            tokio::spawn(accept_loop(l_imaps, inner.clone(), Service::Imap, true)),
        ];
        Ok(Self {
            addrs,
            handle: OperatorHandle { inner },
            tasks,
        })
    }

    pub fn handle(&self) -> OperatorHandle {
        self.handle.clone()
    }
}

#[derive(Clone, Copy)]
enum Service {
    Smtp,
    Imap,
}

async fn accept_loop(listener: TcpListener, inner: Arc<Inner>, service: Service, implicit: bool) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let inner = inner.clone();
        tokio::spawn(async move {
            match service {
                Service::Smtp => smtp_server::serve(tcp, inner, implicit).await,
                Service::Imap => imap_server::serve(tcp, inner, implicit).await,
            }
        });
    }
}

/// Runtime control of a running operator: faults, mailbox contents, counters.
#[derive(Clone)]
pub struct OperatorHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for OperatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OperatorHandle")
    }
}

impl OperatorHandle {
    /// Queues one reply for the next command at `stage` (one-shot; queue several for several).
    /// `text` starts with the enhanced code, e.g. `"4.3.0 try again later"`.
    pub fn fail_next(&self, stage: FaultStage, code: u16, text: impl Into<String>) {
        self.inner
            .faults()
            .replies
            .entry(stage)
            .or_default()
            .push_back((code, text.into()));
    }

    /// The next `n` messages: the connection is cut in the middle of DATA.
    pub fn disconnect_mid_data(&self, n: u32) {
        self.inner.faults().disconnect_mid_data += n;
    }

    /// The next `n` SMTP commands (any connection, after the greeting): the connection is closed
    /// without a reply (an operator dropping idle connections).
    pub fn disconnect_next_command(&self, n: u32) {
        self.inner.faults().disconnect_next_command += n;
    }

    /// Delay before every SMTP reply.
    pub fn set_latency(&self, latency: Duration) {
        self.inner.faults().latency = latency;
    }

    /// Whether EHLO advertises `DSN` (new EHLOs only).
    pub fn set_dsn_advertised(&self, on: bool) {
        self.inner.faults().dsn_not_advertised = !on;
    }

    /// Accept DSN parameters but never send DSNs ("DSN missing").
    pub fn set_dsn_suppressed(&self, on: bool) {
        self.inner.faults().dsn_suppressed = on;
    }

    /// Delay before DSNs are delivered.
    pub fn set_dsn_delay(&self, delay: Duration) {
        self.inner.faults().dsn_delay = delay;
    }

    /// Report `action` (e.g. [`reports::DsnAction::Relayed`]) instead of `delivered`.
    pub fn set_dsn_success_action(&self, action: Option<reports::DsnAction>) {
        self.inner.faults().dsn_success_action = action;
    }

    /// Send every DSN twice (duplicate suppression tests).
    pub fn set_dsn_duplicated(&self, on: bool) {
        self.inner.faults().dsn_duplicate = on;
    }

    /// Before the final DSN, send a `delayed` one (4.4.1) to recipients that asked NOTIFY=DELAY.
    pub fn set_dsn_delayed_first(&self, on: bool) {
        self.inner.faults().dsn_delayed_first = on;
    }

    /// Messages to `recipient` are accepted at SMTP, then fail: a `failed` DSN (5.1.1) goes back.
    pub fn fail_after_accept(&self, recipient: &str) {
        self.inner
            .faults()
            .fail_after_accept
            .insert(recipient.to_ascii_lowercase());
    }

    /// Hide MOVE / IDLE from IMAP CAPABILITY (fallback paths).
    pub fn set_imap_extensions(&self, r#move: bool, idle: bool) {
        let mut f = self.inner.faults();
        f.imap_no_move = !r#move;
        f.imap_no_idle = !idle;
    }

    /// Clears every fault.
    pub fn clear_faults(&self) {
        *self.inner.faults() = Faults::default();
    }

    pub fn set_validator(&self, validator: Option<Validator>) {
        self.inner
            .config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .validator = validator;
    }

    pub fn set_strict(&self, strict: bool) {
        self.inner
            .config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .strict = strict;
    }

    pub fn set_mailbox_kind(&self, mailbox: &str, kind: MailboxKind) {
        self.inner
            .kinds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(mailbox.to_ascii_lowercase(), kind);
    }

    /// Messages of a folder (`INBOX`, `Passerelle/Traites`…).
    pub fn messages(&self, mailbox: &str, folder: &str) -> Vec<StoredMessage> {
        self.inner.store.messages(mailbox, folder)
    }

    /// Empties a folder (UIDs are not reused).
    pub fn clear(&self, mailbox: &str, folder: &str) {
        self.inner.store.with(|s| {
            let changed = s
                .accounts
                .get_mut(&mailbox.to_ascii_lowercase())
                .and_then(|a| a.folders.get_mut(folder))
                .map(|f| f.messages.clear())
                .is_some();
            ((), changed)
        });
    }

    pub fn folders(&self, mailbox: &str) -> Vec<String> {
        self.inner.store.folders(mailbox)
    }

    /// Drops a message straight into a mailbox (inbound mail from elsewhere); returns its UID.
    pub fn deliver(&self, mailbox: &str, folder: &str, bytes: Vec<u8>) -> Option<u32> {
        self.inner.store.deliver(mailbox, folder, bytes)
    }

    /// Changes UIDVALIDITY (optionally renumbering UIDs from 1).
    pub fn set_uid_validity(
        &self,
        mailbox: &str,
        folder: &str,
        validity: u32,
        renumber: bool,
    ) -> bool {
        self.inner
            .store
            .set_uid_validity(mailbox, folder, validity, renumber)
    }

    /// Waits until `folder` of `mailbox` holds at least `count` messages.
    pub async fn wait_for_messages(
        &self,
        mailbox: &str,
        folder: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<StoredMessage> {
        let mut rx = self.inner.store.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let msgs = self.messages(mailbox, folder);
            if msgs.len() >= count {
                return msgs;
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return msgs;
            }
        }
    }

    /// Violations accepted in record (non-strict) mode.
    pub fn violations(&self) -> Vec<String> {
        self.inner
            .violations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn stats(&self) -> OperatorStats {
        let c = &self.inner.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        OperatorStats {
            smtp_connections: l(&c.smtp_connections),
            smtp_tls_failures: l(&c.smtp_tls_failures),
            messages_accepted: l(&c.messages_accepted),
            refusals: l(&c.refusals),
            dsn_sent: l(&c.dsn_sent),
            mdn_sent: l(&c.mdn_sent),
            imap_connections: l(&c.imap_connections),
        }
    }
}

/// RFC 5322 date, now.
pub(crate) fn now_rfc2822() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_else(|_| "Thu, 01 Jan 1970 00:00:00 +0000".into())
}
