use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use passerelle::app::{Options, Running};
use passerelle::config::Config;
use passerelle::workers::Sender;
use passerelle_api::v1 as pb;
use passerelle_outbox as ob;
use tonic::transport::Channel;

pub struct Gw {
    pub running: Running,
    pub _dir: tempfile::TempDir,
}

impl Gw {
    pub fn url(&self) -> String {
        format!("http://{}", self.running.addr)
    }
}

/// The sandbox PKI is generated once per test binary and copied (RSA key generation is slow).
fn shared_pki() -> PathBuf {
    static ONCE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("passerelle-it-pki-{}", std::process::id()));
        passerelle::sandbox::pki(&d).expect("pki");
        d
    })
    .clone()
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).expect("copy");
        }
    }
}

pub fn sandbox_config(tweak: impl FnOnce(&mut Config)) -> (Config, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&shared_pki(), &dir.path().join("pki"));
    let mut cfg = passerelle::sandbox::config(dir.path(), "127.0.0.1:0".parse().expect("addr"))
        .expect("config");
    tweak(&mut cfg);
    (cfg, dir)
}

pub async fn start_with(tweak: impl FnOnce(&mut Config), senders: Vec<Arc<dyn Sender>>) -> Gw {
    let (cfg, dir) = sandbox_config(tweak);
    let running = passerelle::app::start(
        cfg,
        Options {
            senders,
            ..Options::default()
        },
    )
    .await
    .expect("start");
    Gw { running, _dir: dir }
}

pub async fn start() -> Gw {
    start_with(|_| {}, Vec::new()).await
}

/// A fixture request, its information records dated a month ago so that they stay prior and
/// within their validity (INF-2) whatever the day the tests run.
pub fn fixture(name: &str) -> pb::SubmitRequest {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut req = passerelle::client::read_request(std::path::Path::new(&path)).expect("fixture");
    passerelle::demo::refresh_information_dates(&mut req);
    req
}

/// The same fixture as JSON (the HTTP body), re-dated like [`fixture`].
pub fn fixture_json(name: &str) -> serde_json::Value {
    serde_json::to_value(fixture(name)).expect("json")
}

pub async fn channel(gw: &Gw) -> Channel {
    Channel::from_shared(gw.url())
        .expect("url")
        .connect()
        .await
        .expect("connect")
}

pub fn authed<T>(msg: T, tenant: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer sandbox-token-{tenant}")
            .parse()
            .expect("metadata"),
    );
    r
}

/// A channel sender for tests: the outcome of each attempt is scripted.
pub struct ScriptedSender {
    pub prefix: &'static str,
    pub script: std::sync::Mutex<Vec<ob::AttemptResult>>,
    pub default: ob::AttemptResult,
    pub calls: AtomicU32,
}

impl ScriptedSender {
    pub fn new(
        prefix: &'static str,
        script: Vec<ob::AttemptResult>,
        default: ob::AttemptResult,
    ) -> Arc<Self> {
        Arc::new(Self {
            prefix,
            script: std::sync::Mutex::new(script),
            default,
            calls: AtomicU32::new(0),
        })
    }
    pub fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

#[tonic::async_trait]
impl Sender for ScriptedSender {
    fn handles(&self, destination: &str) -> bool {
        destination.starts_with(self.prefix)
    }
    async fn send(&self, _c: &ob::Claimed) -> ob::AttemptResult {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut s = self.script.lock().expect("lock");
        if s.is_empty() {
            self.default.clone()
        } else {
            s.remove(0)
        }
    }
}

pub fn stored() -> ob::AttemptResult {
    ob::AttemptResult::Stored {
        message_id: "test-stored".into(),
    }
}

pub fn permanent() -> ob::AttemptResult {
    ob::AttemptResult::PermanentFailure {
        error: ob::DeliveryError::new(
            passerelle_domain::error::Origin::MsSante,
            "recipient_rejected",
            "550 5.1.1 no such user",
        ),
    }
}

/// Minimal HTTP/1.1 client over hyper for the JSON routes.
pub async fn http(
    gw: &Gw,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> (u16, http::HeaderMap, Vec<u8>) {
    use http_body_util::{BodyExt, Full};
    let client: hyper_util::client::legacy::Client<_, Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let mut b = http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", gw.url()));
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b
        .body(Full::new(bytes::Bytes::from(body.unwrap_or_default())))
        .expect("request");
    let resp = client.request(req).await.expect("http");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    (status, headers, body)
}

/// The caller a tenant's DUI is, for calls straight into the service.
pub fn caller(tenant: &str) -> passerelle::auth::Caller {
    passerelle::auth::Caller {
        tenant: tenant.into(),
        authenticated_by: "test".into(),
    }
}

/// An example request, its information records dated a month ago (as the demo plays them).
pub fn example(name: &str) -> pb::SubmitRequest {
    let path = format!(
        "{}/../../examples/requests/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut req = passerelle::client::read_request(std::path::Path::new(&path)).expect("example");
    passerelle::demo::refresh_information_dates(&mut req);
    req
}

/// The gateway with the embedded MSSanté operator and DMP simulator.
pub struct SimEnv {
    pub gw: Gw,
    pub sims: passerelle::sandbox::Sims,
}

pub async fn start_sim_env(tweak: impl FnOnce(&mut Config)) -> SimEnv {
    start_sim_env_with(tweak, |_| {}).await
}

/// As [`start_sim_env`], with the application options adjusted too (e.g. the IMAP poll period).
pub async fn start_sim_env_with(
    tweak: impl FnOnce(&mut Config),
    tweak_opts: impl FnOnce(&mut passerelle::app::Options),
) -> SimEnv {
    let (mut cfg, dir) = sandbox_config(|_| {});
    tweak(&mut cfg);
    let (sims, mut opts) = passerelle::sandbox::start_sims(&mut cfg)
        .await
        .expect("sims");
    tweak_opts(&mut opts);
    let running = passerelle::app::start(cfg, opts).await.expect("start");
    SimEnv {
        gw: Gw { running, _dir: dir },
        sims,
    }
}
