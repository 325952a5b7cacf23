//! `passerelle bench`: fixed-input benchmarks on this machine (never timed tests). Submit → durable
//! ack over real gRPC on loopback against an in-process sandbox, at several concurrencies and
//! document sizes, and the policy decision time for 10 recipients. Prints a Markdown table and
//! writes the figures as JSON.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use passerelle_api::v1 as pb;
use passerelle_api::v1::transmission_service_client::TransmissionServiceClient;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct SubmitFigure {
    pub document_bytes: usize,
    pub concurrency: usize,
    pub submissions: usize,
    pub errors: usize,
    pub seconds: f64,
    pub per_second: f64,
    pub per_second_per_core: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// CPU time of the whole process (gateway and bench client) per acknowledged submission:
    /// steadier than the rate on a shared VM.
    pub cpu_ms_per_submission: f64,
    /// The same without the bench client's threads: the gateway's own cost.
    pub gateway_cpu_ms_per_submission: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyFigure {
    pub recipients: usize,
    pub iterations: usize,
    pub p50_us: f64,
    pub p99_us: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RenderFigure {
    pub what: String,
    pub iterations: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct EndToEndFigure {
    pub channel: String,
    pub document_bytes: usize,
    pub documents: usize,
    pub seconds: f64,
    pub per_second: f64,
    pub per_second_per_core: f64,
    pub final_status: String,
    /// CPU of the whole process (gateway, simulators, pollers) per document.
    pub cpu_ms_per_document: f64,
    /// Documents in flight at once.
    pub concurrency: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub cores: usize,
    pub submit: Vec<SubmitFigure>,
    pub policy: Option<PolicyFigure>,
    pub render: Vec<RenderFigure>,
    pub end_to_end: Vec<EndToEndFigure>,
}

/// Documents in flight at once end to end: enough to keep both cores busy while each waits for
/// its DSN (read back over IMAP).
const E2E_CONCURRENCY: usize = 64;

/// End to end through the embedded simulators: `n` submissions (`E2E_CONCURRENCY` at a time), each followed until
/// its delivery is final (`delivered` by DSN for MSSanté, `stored` for the DMP).
async fn end_to_end(
    base: &pb::SubmitRequest,
    size: usize,
    n: usize,
    want: pb::DeliveryStatus,
    channel: &str,
) -> anyhow::Result<EndToEndFigure> {
    let dir = std::env::temp_dir().join(format!(
        "passerelle-bench-e2e-{}",
        uuid::Uuid::now_v7().simple()
    ));
    let mut cfg = crate::sandbox::config(&dir, "127.0.0.1:0".parse()?)?;
    cfg.outbox.capacity = 1_000_000;
    let (_sims, mut opts) = crate::sandbox::start_sims(&mut cfg).await?;
    opts.poll_every = Duration::from_millis(200);
    let running = crate::app::start(cfg, opts).await?;
    let svc = running.service.clone();
    let caller = crate::auth::Caller {
        tenant: base.tenant.clone(),
        authenticated_by: "bench".into(),
    };
    let cpu0 = process_cpu_seconds();
    let started = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(E2E_CONCURRENCY));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await?;
        let svc = svc.clone();
        let caller = caller.clone();
        let mut req = request_with_pdf(base, size, 1_000_000 + i as u64);
        if let Some(d) = req.documents.first_mut() {
            d.kind = base.documents.first().map(|d| d.kind).unwrap_or(d.kind);
        }
        set.spawn(async move {
            let _p = permit;
            let t = svc
                .submit(&caller, req)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let id = t.transmission.map(|t| t.id).unwrap_or_default();
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let t = svc
                    .get(&caller, &id)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                if t.deliveries.iter().all(|d| d.status == want as i32) {
                    return Ok::<_, anyhow::Error>(());
                }
                if Instant::now() > deadline {
                    anyhow::bail!(
                        "delivery not final in 120 s: {:?}",
                        t.deliveries.iter().map(|d| d.status).collect::<Vec<_>>()
                    );
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds() - cpu0;
    running.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    Ok(EndToEndFigure {
        channel: channel.into(),
        document_bytes: size,
        documents: n,
        seconds: secs,
        per_second: n as f64 / secs,
        per_second_per_core: n as f64 / secs / cores as f64,
        final_status: want
            .as_str_name()
            .trim_start_matches("DELIVERY_STATUS_")
            .to_ascii_lowercase(),
        cpu_ms_per_document: cpu * 1000.0 / n.max(1) as f64,
        concurrency: E2E_CONCURRENCY,
    })
}

/// Render-once costs for a supplied 1 MiB PDF: CDA + XDS metadata + XDM + MIME message (MSSanté),
/// and CDA + metadata + signed VIHF + XAdES + ITI-41 MTOM request (DMP), one thread.
fn render_figures(
    cfg: &crate::config::Config,
    base: &pb::SubmitRequest,
) -> anyhow::Result<Vec<RenderFigure>> {
    let tenant = cfg
        .tenant(&base.tenant)
        .context("bench request tenant not configured")?;
    let req = request_with_pdf(base, 1024 * 1024, 7);
    let now = time::OffsetDateTime::now_utc();
    let (pdfs, _) = crate::pipeline::pdfs(tenant, &req, now, cfg.limits.max_pdf_bytes)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let planned = crate::plan::Planned {
        target_id: req.targets[0].id.clone(),
        channel: pb::Channel::Mssante,
        recipient: req.targets[0].mss_address.clone(),
        destination: "mssante:bench".into(),
        document_ids: req.documents.iter().map(|d| d.id.clone()).collect(),
    };
    let r = crate::pipeline::Renderer { cfg, tenant, now };
    let mut ids = crate::pipeline::Ids::random();
    let n = 50;
    let mut mss = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let m = r
            .mssante(&req, &planned, &pdfs, &mut ids)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        mss.push(t.elapsed());
        std::hint::black_box(m.message.bytes.len());
    }
    mss.sort();
    let builder = crate::dmp::request_builder(cfg, tenant)?;
    let flags = crate::dmp::DmpFlagsJson {
        masque_ps: false,
        invisible_patient: false,
        invisible_representants_legaux: true,
    };
    let mut dmp = Vec::with_capacity(n);
    let mut req_dmp = req.clone();
    if let Some(d) = req_dmp.documents.first_mut() {
        d.kind = pb::DocumentKind::AutorisSoins as i32;
    }
    for _ in 0..n {
        let t = Instant::now();
        let rd = crate::dmp::render(
            cfg,
            tenant,
            &req_dmp,
            "dmp",
            &planned.document_ids,
            &pdfs,
            flags,
            None,
            None,
            &mut ids,
            now,
        )
        .map_err(|e| anyhow::anyhow!("{}", crate::pipeline::describe(&e)))?;
        let rids = passerelle_dmp_client::RequestIds::random();
        let built = builder
            .iti41(&rd.input, now, &rids)
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        dmp.push(t.elapsed());
        std::hint::black_box(built.request.to_http_bytes().len());
    }
    dmp.sort();
    Ok(vec![
        RenderFigure {
            what: "MSSanté: CDA + metadata + XDM + MIME, supplied 1 MiB PDF".into(),
            iterations: n,
            p50_ms: percentile(&mss, 0.5) * 1e3,
            p99_ms: percentile(&mss, 0.99) * 1e3,
        },
        RenderFigure {
            what: "DMP: CDA + metadata + VIHF + XAdES + ITI-41 MTOM, 1 MiB PDF".into(),
            iterations: n,
            p50_ms: percentile(&dmp, 0.5) * 1e3,
            p99_ms: percentile(&dmp, 0.99) * 1e3,
        },
    ])
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64()
}

/// A supplied PDF of `size` bytes, unique per `n` (so content addressing cannot deduplicate it).
fn pdf(size: usize, n: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(size);
    v.extend_from_slice(b"%PDF-1.4\n% passerelle bench\n");
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while v.len() < size.saturating_sub(6) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(size.saturating_sub(6));
    v.extend_from_slice(b"\n%%EOF");
    v
}

pub fn request_with_pdf(base: &pb::SubmitRequest, size: usize, n: u64) -> pb::SubmitRequest {
    let mut r = base.clone();
    r.idempotency_key = format!("bench-{size}-{n}");
    if let Some(d) = r.documents.first_mut() {
        d.kind = pb::DocumentKind::FicheNavette as i32;
        d.content = Some(pb::document::Content::Pdf(pb::SuppliedPdf {
            data: pdf(size, n).into(),
            file_name: "fiche.pdf".into(),
        }));
    }
    r
}

/// Runs one level. The clients run on a runtime of their own (threads named `bench-client`), so
/// that the gateway's share of the CPU can be told apart from the load generator's.
async fn run_level(
    addr: std::net::SocketAddr,
    base: &pb::SubmitRequest,
    size: usize,
    concurrency: usize,
    budget: Duration,
    max: usize,
    seq: &Arc<std::sync::atomic::AtomicU64>,
) -> anyhow::Result<SubmitFigure> {
    let base = base.clone();
    let seq = seq.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("bench-client".into())
        .spawn(move || {
            let r = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("bench-client")
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|rt| {
                    rt.block_on(client_load(addr, base, size, concurrency, budget, max, seq))
                });
            let _ = tx.send(r);
        })?;
    let load = rx.await??;
    let mut lat = load.latencies;
    lat.sort();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let n = lat.len().max(1) as f64;
    Ok(SubmitFigure {
        document_bytes: size,
        concurrency,
        submissions: lat.len(),
        errors: load.errors,
        seconds: load.seconds,
        per_second: lat.len() as f64 / load.seconds,
        per_second_per_core: lat.len() as f64 / load.seconds / cores as f64,
        p50_ms: percentile(&lat, 0.50) * 1000.0,
        p99_ms: percentile(&lat, 0.99) * 1000.0,
        cpu_ms_per_submission: load.process_cpu * 1000.0 / n,
        gateway_cpu_ms_per_submission: (load.process_cpu - load.client_cpu) * 1000.0 / n,
    })
}

struct Load {
    latencies: Vec<Duration>,
    errors: usize,
    seconds: f64,
    /// CPU seconds of the whole process over the run, and of the client threads alone.
    process_cpu: f64,
    client_cpu: f64,
}

async fn client_load(
    addr: std::net::SocketAddr,
    base: pb::SubmitRequest,
    size: usize,
    concurrency: usize,
    budget: Duration,
    max: usize,
    seq: Arc<std::sync::atomic::AtomicU64>,
) -> anyhow::Result<Load> {
    let channels = concurrency.clamp(1, 16);
    let mut clients = Vec::new();
    for _ in 0..channels {
        let ch = tonic::transport::Channel::from_shared(format!("http://{addr}"))?
            .connect()
            .await?;
        clients.push(
            TransmissionServiceClient::new(ch)
                .max_encoding_message_size(crate::listener::MAX_BODY)
                .max_decoding_message_size(crate::listener::MAX_BODY),
        );
    }
    let per_worker = max.div_ceil(concurrency);
    let cpu0 = process_cpu_seconds();
    let client0 = thread_cpu_seconds("bench-client");
    let started = Instant::now();
    let deadline = started + budget;
    let mut set = tokio::task::JoinSet::new();
    for w in 0..concurrency {
        let mut cl = clients[w % channels].clone();
        let base = base.clone();
        let seq = seq.clone();
        set.spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            for _ in 0..per_worker {
                if Instant::now() > deadline {
                    break;
                }
                let n = seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let req = request_with_pdf(&base, size, n);
                let mut r = tonic::Request::new(req);
                r.metadata_mut().insert(
                    "authorization",
                    tonic::metadata::MetadataValue::from_static(
                        "Bearer sandbox-token-mecs-tilleuls",
                    ),
                );
                let t0 = Instant::now();
                match cl.submit(r).await {
                    Ok(_) => lat.push(t0.elapsed()),
                    Err(_) => errors += 1,
                }
            }
            (lat, errors)
        });
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    while let Some(r) = set.join_next().await {
        let (l, e) = r?;
        latencies.extend(l);
        errors += e;
    }
    Ok(Load {
        latencies,
        errors,
        seconds: started.elapsed().as_secs_f64(),
        process_cpu: process_cpu_seconds() - cpu0,
        client_cpu: thread_cpu_seconds("bench-client") - client0,
    })
}

/// User + system CPU seconds of this process's live threads named `name` (Linux
/// `/proc/self/task`; 0 elsewhere).
fn thread_cpu_seconds(name: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("stat")).ok())
        .filter(|stat| {
            stat.split_once('(')
                .and_then(|(_, r)| r.rsplit_once(')'))
                .is_some_and(|(comm, _)| comm.starts_with(name))
        })
        .map(|stat| cpu_of_stat(&stat))
        .sum()
}

/// User + system CPU seconds of this process so far (Linux `/proc/self/stat`; 0 elsewhere).
fn process_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .map(|s| cpu_of_stat(&s))
        .unwrap_or(0.0)
}

/// utime + stime of a `/proc/…/stat` line, in seconds.
fn cpu_of_stat(stat: &str) -> f64 {
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // USER_HZ is 100 on Linux whatever the kernel's tick rate.
    (ticks(11) + ticks(12)) / 100.0
}

fn policy_figure(
    svc_cfg: &crate::config::Config,
    base: &pb::SubmitRequest,
) -> anyhow::Result<PolicyFigure> {
    let engine = crate::setup::engine(svc_cfg)?;
    let mut req = base.clone();
    let t0 = req.targets[0].clone();
    req.targets = (0..10)
        .map(|i| {
            let mut t = t0.clone();
            t.id = format!("t{i}");
            t
        })
        .collect();
    let now = time::OffsetDateTime::now_utc();
    let iterations = 20_000;
    let mut lat = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let t = Instant::now();
        let d = engine
            .evaluate(&req, now, false, "bench")
            .map_err(|e| anyhow::anyhow!("policy: {e}"))?;
        lat.push(t.elapsed());
        if i == 0 && d.targets.len() < 10 {
            anyhow::bail!("the policy bench request does not give 10 targets");
        }
    }
    lat.sort();
    Ok(PolicyFigure {
        recipients: 10,
        iterations,
        p50_us: percentile(&lat, 0.50) * 1e6,
        p99_us: percentile(&lat, 0.99) * 1e6,
    })
}

/// A part of the benchmark run alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    Submit,
    E2e,
}

pub async fn run(
    out: &Path,
    quick: bool,
    request: &Path,
    only: Option<Part>,
) -> anyhow::Result<ExitCode> {
    let mut base = crate::client::read_request(request)?;
    crate::demo::refresh_information_dates(&mut base);
    let dir = std::env::temp_dir().join(format!(
        "passerelle-bench-{}",
        uuid::Uuid::now_v7().simple()
    ));
    let mut cfg = crate::sandbox::config(&dir, "127.0.0.1:0".parse()?)?;
    cfg.outbox.capacity = 10_000_000;
    let policy = policy_figure(&cfg, &base).ok();
    let render = render_figures(&cfg, &base)?;
    for f in &render {
        eprintln!("{}: p50 {:.2} ms, p99 {:.2} ms", f.what, f.p50_ms, f.p99_ms);
    }
    let running = crate::app::start(cfg, crate::app::Options::default()).await?;
    let seq = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut figures = Vec::new();
    let budget = if quick {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(5)
    };
    let sizes: &[(usize, usize)] = if only == Some(Part::E2e) {
        &[]
    } else if quick {
        &[(10 * 1024, 200), (1024 * 1024, 20)]
    } else {
        &[(10 * 1024, 40_000), (1024 * 1024, 3_000)]
    };
    for &(size, max) in sizes {
        for concurrency in [1usize, 16, 200] {
            let f = run_level(running.addr, &base, size, concurrency, budget, max, &seq).await?;
            eprintln!(
                "submit {:>7} B × {:>3} clients: {:>8.1}/s ({:>7.1}/s/core) p50 {:>6.2} ms p99 {:>7.2} ms, {:.2} CPU ms each ({:.2} gateway) ({} ok, {} errors)",
                f.document_bytes,
                f.concurrency,
                f.per_second,
                f.per_second_per_core,
                f.p50_ms,
                f.p99_ms,
                f.cpu_ms_per_submission,
                f.gateway_cpu_ms_per_submission,
                f.submissions,
                f.errors
            );
            figures.push(f);
        }
    }
    running.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    let mut e2e = Vec::new();
    let mut dmp_base =
        crate::client::read_request(&examples_request("22-autorisation-soins-dmp.json"))?;
    crate::demo::refresh_information_dates(&mut dmp_base);
    let mut mss_base = base.clone();
    crate::demo::refresh_information_dates(&mut mss_base);
    let sizes: &[(usize, usize)] = if only == Some(Part::Submit) {
        &[]
    } else if quick {
        &[(10 * 1024, 20), (1024 * 1024, 10)]
    } else {
        &[(10 * 1024, 1000), (1024 * 1024, 300)]
    };
    for &(size, n) in sizes {
        for (b, want, ch) in [
            (&mss_base, pb::DeliveryStatus::Delivered, "mssante"),
            (&dmp_base, pb::DeliveryStatus::Stored, "dmp"),
        ] {
            let f = end_to_end(b, size, n, want, ch).await?;
            eprintln!(
                "end to end {:>7} B to {ch}: {} documents in {:.1} s = {:.1}/s ({:.1}/s/core), {:.1} CPU ms each, all {}",
                size,
                f.documents,
                f.seconds,
                f.per_second,
                f.per_second_per_core,
                f.cpu_ms_per_document,
                f.final_status
            );
            e2e.push(f);
        }
    }
    let report = Report {
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        submit: figures,
        policy,
        render,
        end_to_end: e2e,
    };
    std::fs::write(out, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!("{}", markdown(&report));
    Ok(ExitCode::SUCCESS)
}

pub fn markdown(r: &Report) -> String {
    let mut s = String::from(
        "| document | clients | submissions | /s | /s/core | p50 ms | p99 ms | CPU ms / submission (all) | of which gateway | errors |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for f in &r.submit {
        s.push_str(&format!(
            "| {} KiB | {} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} |\n",
            f.document_bytes / 1024,
            f.concurrency,
            f.submissions,
            f.per_second,
            f.per_second_per_core,
            f.p50_ms,
            f.p99_ms,
            f.cpu_ms_per_submission,
            f.gateway_cpu_ms_per_submission,
            f.errors
        ));
    }
    if !r.end_to_end.is_empty() {
        s.push_str("\n| end to end | document | documents | in flight | seconds | /s | /s/core | CPU ms / document | final |\n|---|---|---|---|---|---|---|---|---|\n");
        for f in &r.end_to_end {
            s.push_str(&format!(
                "| {} | {} KiB | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} |\n",
                f.channel,
                f.document_bytes / 1024,
                f.documents,
                f.concurrency,
                f.seconds,
                f.per_second,
                f.per_second_per_core,
                f.cpu_ms_per_document,
                f.final_status
            ));
        }
    }
    for f in &r.render {
        s.push_str(&format!(
            "\n{}: p50 {:.2} ms, p99 {:.2} ms ({} iterations)\n",
            f.what, f.p50_ms, f.p99_ms, f.iterations
        ));
    }
    if let Some(p) = &r.policy {
        s.push_str(&format!(
            "\nPolicy decision, {} recipients: p50 {:.1} µs, p99 {:.1} µs ({} iterations)\n",
            p.recipients, p.p50_us, p.p99_us, p.iterations
        ));
    }
    s
}

fn examples_request(name: &str) -> PathBuf {
    crate::demo::examples_dir().join(name)
}

pub fn default_request() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/fiche-navette.json"
    ))
}

/// RSS of a separate `passerelle serve --sandbox` process after `n` 1 MiB submissions queued
/// behind a paused destination (payloads on disk, never in memory).
pub async fn rss(n: usize) -> anyhow::Result<ExitCode> {
    use passerelle_api::v1::admin_service_client::AdminServiceClient;
    let dir = std::env::temp_dir().join(format!(
        "passerelle-bench-rss-{}",
        uuid::Uuid::now_v7().simple()
    ));
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["serve", "--sandbox", "--data-dir"])
        .arg(&dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("PASSERELLE_LOG", "warn")
        .spawn()?;
    let pid = child.id();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let ch = loop {
        if let Ok(c) = tonic::transport::Channel::from_shared(url.clone())?
            .connect()
            .await
        {
            break c;
        }
        anyhow::ensure!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let rss_kib = || -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0)
    };
    let mut admin = AdminServiceClient::new(ch.clone());
    admin
        .pause(pb::DestinationRequest {
            destination: "mssante:cd93.mssante.test".into(),
        })
        .await?;
    let before = rss_kib();
    let mut base = crate::client::read_request(&default_request())?;
    crate::demo::refresh_information_dates(&mut base);
    let started = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(16));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await?;
        let mut cl = TransmissionServiceClient::new(ch.clone())
            .max_encoding_message_size(crate::listener::MAX_BODY)
            .max_decoding_message_size(crate::listener::MAX_BODY);
        let req = request_with_pdf(&base, 1024 * 1024, 5_000_000 + i as u64);
        set.spawn(async move {
            let _p = permit;
            cl.submit(req)
                .await
                .map(|_| ())
                .map_err(|e| anyhow::anyhow!("{e}"))
        });
    }
    let mut ok = 0;
    while let Some(r) = set.join_next().await {
        if r?.is_ok() {
            ok += 1;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "RSS of the gateway (with its embedded simulators): {before} KiB idle, {after} KiB with {ok} queued 1 MiB deliveries ({:.1} s to submit)",
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
