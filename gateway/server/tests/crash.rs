//! Crash test: the real binary as a child process, killed with SIGKILL at random points during
//! bursts of submissions, restarted each time. Afterwards every acknowledged submission exists, no
//! delivery is lost or in two states, no delivery was handed to the (file sink) channel twice unless
//! the first attempt's outcome was unknown and it is marked so, and the audit chain verifies.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use passerelle_api::v1 as pb;
use passerelle_api::v1::transmission_service_client::TransmissionServiceClient;

use crate::common::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn spawn(data: &Path, port: u16, sink: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["serve", "--sandbox", "--data-dir"])
        .arg(data)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("PASSERELLE_SANDBOX_SINK", sink)
        .env("PASSERELLE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn passerelle")
}

async fn connect(port: u16) -> TransmissionServiceClient<tonic::transport::Channel> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(ch) = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .expect("url")
            .connect()
            .await
        {
            return TransmissionServiceClient::new(ch);
        }
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// xorshift: reproducible "random" kill points without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_bursts_loses_nothing_acknowledged() {
    let rounds: usize = std::env::var("PASSERELLE_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let burst: usize = 200;
    let (_cfg, dir) = sandbox_config(|_| {});
    let data = dir.path().to_path_buf();
    let sink = data.join("sink.log");
    let port = free_port();
    let base = fixture("fiche-navette.json");
    let mut acked: HashMap<String, String> = HashMap::new(); // idempotency key → transmission id
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // Round 0 is not killed: it measures how long a burst takes, so that later kills land at a
    // random point inside a burst whatever the machine's speed.
    let mut burst_time = Duration::from_millis(500);
    for round in 0..=rounds {
        let mut child = spawn(&data, port, &sink);
        let cl = connect(port).await;
        let window = u64::try_from(burst_time.as_millis()).unwrap_or(500).max(50) * 12 / 10;
        let kill_after = if round == 0 {
            Duration::from_secs(600)
        } else {
            Duration::from_millis(5 + rng.next() % window)
        };
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..burst {
            let mut cl = cl.clone();
            // A small supplied PDF: this test is about durability, not rendering speed.
            let mut req =
                passerelle::bench::request_with_pdf(&base, 4 * 1024, (round * burst + i) as u64);
            req.idempotency_key = format!("crash-{round}-{i}");
            tasks.spawn(async move {
                let key = req.idempotency_key.clone();
                let r = cl.submit(authed(req, "mecs-tilleuls")).await;
                (
                    key,
                    r.ok()
                        .and_then(|r| r.into_inner().transmission)
                        .map(|t| t.id),
                )
            });
        }
        // Kill at a random point of the burst (or after it if it finished first).
        let kill = tokio::time::sleep(kill_after.saturating_sub(started.elapsed()));
        tokio::pin!(kill);
        let mut done = 0;
        loop {
            tokio::select! {
                _ = &mut kill => break,
                r = tasks.join_next() => match r {
                    Some(Ok((key, Some(id)))) => { acked.insert(key, id); done += 1; }
                    Some(_) => done += 1,
                    None => break,
                },
            }
        }
        if round == 0 {
            burst_time = started.elapsed();
            assert_eq!(done, burst, "the unkilled round must finish");
        }
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        while let Some(r) = tasks.join_next().await {
            if let Ok((key, Some(id))) = r {
                acked.insert(key, id);
            }
        }
    }
    // Final run: let every delivery reach the sink, then check.
    let mut child = spawn(&data, port, &sink);
    let mut cl = connect(port).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut pending = acked.values().cloned().collect::<HashSet<_>>();
    let mut unknown: HashSet<String> = HashSet::new();
    let mut delivery_ids: HashSet<String> = HashSet::new();
    while !pending.is_empty() && Instant::now() < deadline {
        let ids: Vec<String> = pending.iter().cloned().collect();
        for id in ids {
            let t = cl
                .get(authed(
                    pb::GetTransmissionRequest { id: id.clone() },
                    "mecs-tilleuls",
                ))
                .await
                .unwrap_or_else(|e| panic!("acknowledged transmission {id} lost: {e}"))
                .into_inner();
            assert_eq!(t.deliveries.len(), 1, "{id}: one delivery expected");
            let d = &t.deliveries[0];
            if d.status == pb::DeliveryStatus::Stored as i32 {
                delivery_ids.insert(d.id.clone());
                if d.outcome_unknown {
                    unknown.insert(d.id.clone());
                }
                pending.remove(&id);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    child.kill().expect("kill");
    let _ = child.wait();
    assert!(
        pending.is_empty(),
        "{} acknowledged transmissions never delivered",
        pending.len()
    );
    assert!(
        acked.len() >= rounds,
        "too few acknowledged submissions ({}) for a meaningful test",
        acked.len()
    );
    // Each delivery handed to the sink once, unless its outcome was unknown (and marked so).
    let log = std::fs::read_to_string(&sink).expect("sink log");
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for line in log.lines().filter(|l| !l.is_empty()) {
        *seen.entry(line).or_default() += 1;
    }
    for id in &delivery_ids {
        let n = seen.get(id.as_str()).copied().unwrap_or(0);
        assert!(
            n >= 1,
            "delivery {id} is stored but never reached the channel"
        );
        assert!(
            n == 1 || unknown.contains(id),
            "delivery {id} sent {n} times without being marked outcome_unknown"
        );
    }
    // The audit chain verifies after all the crashes.
    let out = Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["audit", "verify", "--data-dir"])
        .arg(&data)
        .output()
        .expect("audit verify");
    assert!(
        out.status.success(),
        "audit verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "crash test: {rounds} rounds, {} acknowledged, {} outcome-unknown redeliveries",
        acked.len(),
        unknown.len()
    );
}
