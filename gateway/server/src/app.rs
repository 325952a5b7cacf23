//! Assembly: from a validated config to a running gateway (store, policy, service, listener,
//! workers). Used by `serve`, `demo` and the integration tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use passerelle_outbox as ob;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::service::{Clock, Service, SystemClock};
use crate::workers::{Sender, Workers};

pub struct Running {
    pub addr: SocketAddr,
    pub service: Arc<Service>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, lets workers finish their step, writes a final audit checkpoint.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}

pub fn store_config(cfg: &Config) -> ob::StoreConfig {
    ob::StoreConfig {
        capacity: cfg.outbox.capacity,
        capacity_per_destination: cfg.outbox.capacity.div_ceil(2).max(1),
        retry_window: Duration::from_secs(cfg.outbox.retry_window_secs),
        mdn_window: Duration::from_secs(cfg.outbox.read_window_secs),
        backoff: ob::Backoff::new(
            cfg.outbox
                .backoff_secs
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
            20,
        )
        .unwrap_or_default(),
        ..ob::StoreConfig::default()
    }
}

pub fn open_store(cfg: &Config) -> anyhow::Result<Arc<dyn ob::Store>> {
    let dir = cfg.server.data_dir.join("outbox");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let store = ob::SqliteStore::open(&dir, store_config(cfg))
        .with_context(|| format!("cannot open the outbox in {}", dir.display()))?;
    Ok(Arc::new(store))
}

pub fn authenticator(cfg: &Config) -> anyhow::Result<Authenticator> {
    let mut a = Authenticator::new(cfg.server.sandbox_tenant.clone());
    for t in &cfg.tenants {
        for f in &t.api_token_files {
            let token = std::fs::read_to_string(f)
                .with_context(|| format!("cannot read the token file {}", f.display()))?;
            a.add_token(&token, &t.id);
        }
        for s in &t.api_client_subjects {
            a.add_subject(s, &t.id);
        }
    }
    Ok(a)
}

pub struct Options {
    pub clock: Arc<dyn Clock>,
    pub senders: Vec<Arc<dyn Sender>>,
    /// The MSSanté operator to send to and poll (sandbox: the embedded one).
    pub mssante: Option<crate::mssante::Operator>,
    /// Mailboxes the IMAP poller reads.
    pub mailboxes: Vec<crate::mssante::PolledMailbox>,
    pub poll_every: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            senders: Vec::new(),
            mssante: None,
            mailboxes: Vec::new(),
            poll_every: Duration::from_secs(60),
        }
    }
}

/// Starts the gateway on `cfg.server.listen` (port 0 picks a free one).
pub async fn start(cfg: Config, opts: Options) -> anyhow::Result<Running> {
    let store = open_store(&cfg)?;
    let policy = crate::setup::engine(&cfg)?;
    let metrics = Arc::new(Metrics::new());
    let auth = Arc::new(authenticator(&cfg)?);
    let tls = crate::setup::server_tls(&cfg)?;
    let listen = cfg.server.listen;
    let retention = Duration::from_secs(cfg.outbox.retention_days * 86_400);
    let lease = Duration::from_secs(cfg.outbox.lease_secs);
    let clock = opts.clock.clone();
    let mut senders = opts.senders;
    if let Some(op) = &opts.mssante {
        senders.push(Arc::new(crate::mssante::MssanteSender {
            cfg: Arc::new(cfg.clone()),
            store: store.clone(),
            clock: clock.clone(),
            operator: op.clone(),
            tls: crate::mssante::client_configs(&cfg)?,
            pool: passerelle_mail::SmtpPool::new(),
            dsn_off: std::sync::atomic::AtomicBool::new(false),
            metrics: metrics.clone(),
            breaker: Default::default(),
        }));
    }
    if cfg.dmp.base_url.is_some() {
        senders.push(Arc::new(crate::dmp::DmpSender {
            cfg: Arc::new(cfg.clone()),
            store: store.clone(),
            clock: clock.clone(),
            clients: crate::dmp::clients(&cfg)?,
        }));
    }
    let svc = Arc::new(Service::new(cfg, store, policy, metrics, clock));
    let router = crate::listener::app(svc.clone(), auth).await?;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let (tx, rx) = watch::channel(false);
    let workers = Arc::new(Workers {
        senders,
        per_destination: 4,
        lease,
        owner: format!("passerelle-{}", std::process::id()),
        retention,
    });
    let mut tasks = Vec::new();
    let rx1 = rx.clone();
    tasks.push(tokio::spawn(async move {
        if let Err(e) = crate::listener::serve(listener, router, tls, rx1).await {
            tracing::error!(error = %e, "listener stopped");
        }
    }));
    tasks.push(tokio::spawn(workers.clone().run(svc.clone(), rx.clone())));
    if let Some(op) = opts.mssante.clone()
        && !opts.mailboxes.is_empty()
    {
        tasks.push(tokio::spawn(crate::mssante::poll_loop(
            svc.clone(),
            op,
            opts.mailboxes.clone(),
            opts.poll_every,
            rx.clone(),
        )));
    }
    tasks.push(tokio::spawn(workers.housekeeping(svc.clone(), rx)));
    tracing::info!(%addr, "passerelle listening (gRPC + HTTP/JSON)");
    Ok(Running {
        addr,
        service: svc,
        shutdown: tx,
        tasks,
    })
}
