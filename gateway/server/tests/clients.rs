//! The DUI client examples against the in-process sandbox (the Python client generated from proto/
//! with grpcio-tools, run as a subprocess; the Rust example's functions called directly), with
//! bearer tokens and with mTLS; the Docker files against the project (every path they copy or
//! mount exists, every port is the gateway's default); docs/operations.md's configuration reference
//! against the config types and their serde defaults.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use passerelle_api::v1 as pb;
use passerelle_api::v1::transmission_service_client::TransmissionServiceClient;
use tonic::Code;

use crate::common::*;

#[path = "../examples/dui_client/client.rs"]
mod dui_client;

/// The command the test script runs to give python3 what the Python client needs.
const PIP: &str = "python3 -m pip install grpcio grpcio-tools grpcio-status";

/// Accepted example (mecs-tilleuls → référente ASE by MSSanté) and refused one (CH-6).
const ACCEPTED: &str = "08-fiche-navette-educateur-ase.json";
const REFUSED: &str = "05-dipc-mere-refuse.json";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("project root")
}

fn example(name: &str) -> PathBuf {
    root().join("examples/requests").join(name)
}

// ---------------------------------------------------------------------------------------------
// Rust client (gateway/server/examples/dui_client)

#[tokio::test]
async fn rust_client_explains_submits_replays_gets_cancels_and_watches() {
    let gw = start().await;
    let conn = dui_client::Conn {
        server: gw.url(),
        token: Some("sandbox-token-mecs-tilleuls".into()),
        tls: None,
    };
    let req = dui_client::read_request(&example(ACCEPTED)).expect("example request");
    let mut cl = dui_client::connect(&conn).await.expect("connect");
    let out = dui_client::run(&mut cl, &req)
        .await
        .unwrap_or_else(|s| panic!("{}", dui_client::describe(&s)));

    let d = out.explain.decision.as_ref().expect("decision");
    assert!(d.dry_run && d.accepted, "{d:?}");
    let id = out.id().to_string();
    assert!(id.starts_with("tx_"), "{id}");
    assert!(!out.first.replayed);
    // Same key, same body: the same transmission, nothing new.
    assert!(out.replay.replayed);
    assert_eq!(out.replay.transmission.as_ref().expect("t").id, id);
    assert_eq!(out.fetched.id, id);
    assert_eq!(out.fetched.tenant, "mecs-tilleuls");
    assert_eq!(out.fetched.idempotency_key, req.idempotency_key);
    // Explain planned exactly the deliveries Submit created (no sender is wired: all queued).
    assert_eq!(out.explain.planned.len(), out.fetched.deliveries.len());
    assert!(!out.fetched.deliveries.is_empty());
    assert!(
        dui_client::statuses(&out.fetched)
            .iter()
            .all(|s| *s == pb::DeliveryStatus::Queued)
    );

    let t = cl.cancel(&id, "test").await.expect("cancel");
    assert!(
        dui_client::statuses(&t)
            .iter()
            .all(|s| *s == pb::DeliveryStatus::Cancelled)
    );
    let (seen, all_final) = cl.watch(&id, Duration::from_secs(10)).await.expect("watch");
    assert!(all_final, "Watch must end once every delivery is final");
    assert_eq!(seen.first(), Some(&pb::DeliveryStatus::Queued));
    assert_eq!(seen.last(), Some(&pb::DeliveryStatus::Cancelled));

    // Errors: a policy refusal and invalid fields, as the example prints them.
    let refused = dui_client::read_request(&example(REFUSED)).expect("refused example");
    let s = cl.submit(&refused).await.expect_err("refused");
    assert_eq!(s.code(), Code::PermissionDenied);
    assert!(
        dui_client::describe(&s).contains("POLICY_DENIED"),
        "{}",
        dui_client::describe(&s)
    );
    let mut bad = req.clone();
    bad.idempotency_key = "rust-client-invalid".into();
    if let Some(c) = bad.child.as_mut() {
        c.birth_date = "2099-01-01".into();
    }
    let s = cl.submit(&bad).await.expect_err("invalid");
    assert_eq!(s.code(), Code::InvalidArgument);
    let text = dui_client::describe(&s);
    assert!(
        text.contains("INVALID_REQUEST") && text.contains("child.birthDate"),
        "{text}"
    );
    gw.running.stop().await;
}

/// The sandbox PKI's gateway certificate and API client certificates, with client CAs on and the
/// unauthenticated sandbox identity off: only a certificate (or a token) gets in.
async fn start_mtls() -> Gw {
    start_with(
        |c| {
            let pki = c.server.data_dir.join("pki");
            c.server.tls_cert = Some(pki.join("servers/passerelle.test.chain.pem"));
            c.server.tls_key = Some(pki.join("servers/passerelle.test.key.pem"));
            c.server.client_ca = Some(pki.join("ca-chain.pem"));
            c.server.sandbox_tenant = None;
        },
        Vec::new(),
    )
    .await
}

fn pki_file(gw: &Gw, rel: &str) -> PathBuf {
    gw._dir.path().join("pki").join(rel)
}

#[tokio::test]
async fn rust_client_over_mutual_tls_acts_as_the_certificates_tenant() {
    let gw = start_mtls().await;
    let read = |rel: &str| std::fs::read(pki_file(&gw, rel)).expect("pki file");
    let server = format!("https://127.0.0.1:{}", gw.running.addr.port());
    let tls = |client: bool| dui_client::Tls {
        ca_pem: read("ca-chain.pem"),
        client: client.then(|| {
            (
                read("tenants/cd93/api-client.chain.pem"),
                read("tenants/cd93/api-client.key.pem"),
            )
        }),
        domain: Some("passerelle.test".into()),
    };
    // TLS without a client certificate and without a token: refused.
    let mut anon = dui_client::connect(&dui_client::Conn {
        server: server.clone(),
        token: None,
        tls: Some(tls(false)),
    })
    .await
    .expect("TLS connect");
    let s = anon.get("tx_none").await.expect_err("anonymous");
    assert_eq!(s.code(), Code::Unauthenticated, "{s:?}");

    // cd93's API client certificate: the caller is cd93 and may submit cd93's example.
    let mut cl = dui_client::connect(&dui_client::Conn {
        server,
        token: None,
        tls: Some(tls(true)),
    })
    .await
    .expect("mTLS connect");
    let req = dui_client::read_request(&example("01-rapport-evaluation-inspecteur.json"))
        .expect("example");
    assert_eq!(req.tenant, "cd93");
    let out = dui_client::run(&mut cl, &req)
        .await
        .unwrap_or_else(|s| panic!("{}", dui_client::describe(&s)));
    assert_eq!(out.fetched.tenant, "cd93");
    assert!(out.replay.replayed);
    // The same certificate cannot act for another tenant.
    let other = dui_client::read_request(&example(ACCEPTED)).expect("example");
    let s = cl.submit(&other).await.expect_err("cross-tenant");
    assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");

    // The Python client over the same mTLS listener.
    let args = [
        "--server".to_string(),
        format!("127.0.0.1:{}", gw.running.addr.port()),
        "--ca".into(),
        pki_file(&gw, "ca-chain.pem").display().to_string(),
        "--cert".into(),
        pki_file(&gw, "tenants/cd93/api-client.chain.pem")
            .display()
            .to_string(),
        "--key".into(),
        pki_file(&gw, "tenants/cd93/api-client.key.pem")
            .display()
            .to_string(),
        "--server-name".into(),
        "passerelle.test".into(),
        example("01-rapport-evaluation-inspecteur.json")
            .display()
            .to_string(),
    ];
    let (code, v, stderr) = python_client(&args).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(v["transmissionId"], out.id(), "{v}");
    assert_eq!(
        v["replayedFirst"], true,
        "already submitted by the Rust client"
    );
    assert_eq!(v["transmission"]["tenant"], "cd93");
    gw.running.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Python client (examples/python/client.py)

/// Runs the Python client; FAILS (never skips) when python3 or its packages are missing.
async fn python_client(args: &[String]) -> (i32, serde_json::Value, String) {
    let probe = tokio::process::Command::new("python3")
        .args(["-c", "import grpc, grpc_tools, grpc_status"])
        .output()
        .await
        .unwrap_or_else(|e| panic!("python3 is required ({e}); then run: {PIP}"));
    assert!(
        probe.status.success(),
        "python3 lacks grpcio / grpcio-tools / grpcio-status: run `{PIP}`\n{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    // tokio's process API: the gateway under test runs on this same runtime.
    let out = tokio::process::Command::new("python3")
        .arg(root().join("examples/python/client.py"))
        .args(args)
        .output()
        .await
        .expect("run the Python client");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the Python client printed no JSON summary ({e}):\n{}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().unwrap_or(-1), v, stderr)
}

#[tokio::test]
async fn python_client_generated_from_proto_submits_replays_and_agrees_with_json() {
    let gw = start().await;
    let addr = gw.running.addr.to_string();
    let base = |file: &str| {
        vec![
            "--server".to_string(),
            addr.clone(),
            "--token".into(),
            "sandbox-token-mecs-tilleuls".into(),
            example(file).display().to_string(),
        ]
    };
    let (code, v, stderr) = python_client(&base(ACCEPTED)).await;
    assert_eq!(code, 0, "{stderr}\n{v}");
    assert_eq!(v["explain"]["accepted"], true, "{v}");
    assert_eq!(v["explain"]["dryRun"], true, "{v}");
    let id = v["transmissionId"].as_str().expect("id").to_string();
    assert!(id.starts_with("tx_"), "{id}");
    assert_eq!(v["replayedFirst"], false);
    assert_eq!(v["replayed"], true);
    assert_eq!(v["replayId"], id.as_str());
    assert_eq!(v["transmission"]["tenant"], "mecs-tilleuls");
    let statuses = v["statuses"].as_array().expect("statuses");
    assert!(!statuses.is_empty());
    assert!(
        statuses.iter().all(|s| s == "DELIVERY_STATUS_QUEUED"),
        "{v}"
    );

    // The transmission the Python client created is the one tonic and HTTP/JSON see.
    let mut cl = TransmissionServiceClient::new(channel(&gw).await);
    let t = cl
        .get(authed(
            pb::GetTransmissionRequest { id: id.clone() },
            "mecs-tilleuls",
        ))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(t.deliveries.len(), statuses.len());
    let body = std::fs::read(example(ACCEPTED)).expect("example");
    let (status, _, out) = http(
        &gw,
        "POST",
        "/v1/transmissions",
        Some("sandbox-token-mecs-tilleuls"),
        &[],
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out));
    let j: serde_json::Value = serde_json::from_slice(&out).expect("json");
    assert_eq!(j["transmission"]["id"], id.as_str(), "gRPC and JSON agree");
    assert_eq!(j["replayed"], true);

    // --cancel: Cancel, then Watch until final.
    let mut args = base(ACCEPTED);
    args.push("--cancel".into());
    args.push("--idempotency-key".into());
    args.push("python-cancel-1".into());
    let (code, v, stderr) = python_client(&args).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(v["allFinal"], true, "{v}");
    assert_ne!(
        v["transmissionId"],
        id.as_str(),
        "another key: another transmission"
    );
    let watched: Vec<&str> = v["watched"]
        .as_array()
        .expect("watched")
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert_eq!(
        watched.first().copied(),
        Some("DELIVERY_STATUS_QUEUED"),
        "{v}"
    );
    assert_eq!(
        watched.last().copied(),
        Some("DELIVERY_STATUS_CANCELLED"),
        "{v}"
    );

    // A policy refusal: PERMISSION_DENIED, ErrorInfo POLICY_DENIED with the decision; exit 2.
    let (code, v, _) = python_client(&base(REFUSED)).await;
    assert_eq!(code, 2, "{v}");
    assert_eq!(v["explain"]["accepted"], false);
    assert_eq!(v["error"]["code"], "PERMISSION_DENIED");
    assert_eq!(v["error"]["reason"], "POLICY_DENIED");
    // Canonical JSON omits false: the refused decision has no `"accepted": true`.
    assert_eq!(v["error"]["decision"]["outcome"], "OUTCOME_DENIED", "{v}");
    assert_ne!(v["error"]["decision"]["accepted"], true, "{v}");

    // Invalid fields: INVALID_ARGUMENT, BadRequest with one entry per field.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bad: serde_json::Value =
        serde_json::from_slice(&std::fs::read(example(ACCEPTED)).expect("read")).expect("json");
    bad["idempotencyKey"] = "python-invalid-1".into();
    bad["child"]["birthDate"] = "2099-01-01".into();
    bad["child"]["ins"]["matricule"] = "212069306600158".into();
    let bad_path = dir.path().join("bad.json");
    std::fs::write(&bad_path, serde_json::to_vec(&bad).expect("json")).expect("write");
    let mut args = base(ACCEPTED);
    *args.last_mut().expect("file") = bad_path.display().to_string();
    let (code, v, _) = python_client(&args).await;
    assert_eq!(code, 2, "{v}");
    assert_eq!(v["error"]["code"], "INVALID_ARGUMENT", "{v}");
    assert_eq!(v["error"]["reason"], "INVALID_REQUEST");
    let fields: Vec<&str> = v["error"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    for f in ["child.birthDate", "child.ins.matricule"] {
        assert!(fields.contains(&f), "{f} not in {fields:?}");
    }
    gw.running.stop().await;
}

/// With a channel that stores every delivery, both clients follow Watch to the final state.
#[tokio::test]
async fn both_clients_follow_watch_until_every_delivery_is_final() {
    let sender = ScriptedSender::new("mssante:", Vec::new(), stored());
    let gw = start_with(|_| {}, vec![sender.clone()]).await;
    let mut cl = dui_client::connect(&dui_client::Conn {
        server: gw.url(),
        token: Some("sandbox-token-mecs-tilleuls".into()),
        tls: None,
    })
    .await
    .expect("connect");
    let req = dui_client::read_request(&example(ACCEPTED)).expect("example");
    let t = cl
        .submit(&req)
        .await
        .unwrap_or_else(|s| panic!("{}", dui_client::describe(&s)))
        .transmission
        .expect("t");
    let (seen, all_final) = cl
        .watch(&t.id, Duration::from_secs(10))
        .await
        .expect("watch");
    assert!(all_final, "{seen:?}");
    assert_eq!(seen.first(), Some(&pb::DeliveryStatus::Queued));
    assert!(seen.contains(&pb::DeliveryStatus::InFlight), "{seen:?}");
    assert_eq!(seen.last(), Some(&pb::DeliveryStatus::Stored));

    let args = vec![
        "--server".to_string(),
        gw.running.addr.to_string(),
        "--token".into(),
        "sandbox-token-mecs-tilleuls".into(),
        "--idempotency-key".into(),
        "python-watch-1".into(),
        "--watch".into(),
        example(ACCEPTED).display().to_string(),
    ];
    let (code, v, stderr) = python_client(&args).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(v["allFinal"], true, "{v}");
    let watched: Vec<&str> = v["watched"]
        .as_array()
        .expect("watched")
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert_eq!(
        watched.first().copied(),
        Some("DELIVERY_STATUS_QUEUED"),
        "{v}"
    );
    assert_eq!(
        watched.last().copied(),
        Some("DELIVERY_STATUS_STORED"),
        "{v}"
    );
    assert_eq!(sender.calls(), 2, "one send per transmission");
    gw.running.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Docker files

/// The `serve` defaults of the binary itself (`passerelle serve --help`).
fn serve_defaults() -> BTreeMap<String, String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["serve", "--help"])
        .output()
        .expect("passerelle serve --help");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut d = BTreeMap::new();
    let mut flag = None;
    for line in text.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("--") {
            flag = rest.split_whitespace().next().map(str::to_string);
        }
        if let (Some(f), Some(i)) = (&flag, l.find("[default: ")) {
            let v = &l[i + 10..];
            d.insert(f.clone(), v[..v.find(']').unwrap_or(v.len())].to_string());
        }
    }
    assert!(d.contains_key("listen"), "no --listen default in:\n{text}");
    d
}

fn default_port() -> u16 {
    let listen = &serve_defaults()["listen"];
    listen
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port")
}

/// Dockerfile instructions with continuation lines joined, comments dropped.
fn dockerfile(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).expect("Dockerfile");
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && cur.is_empty()) {
            continue;
        }
        if let Some(part) = t.strip_suffix('\\') {
            cur.push_str(part);
            cur.push(' ');
            continue;
        }
        cur.push_str(t);
        let (ins, args) = cur.split_once(' ').unwrap_or((&cur, ""));
        out.push((ins.to_ascii_uppercase(), args.trim().to_string()));
        cur.clear();
    }
    out
}

#[test]
fn dockerfile_copies_existing_paths_and_uses_the_default_port() {
    let root = root();
    let port = default_port();
    let ins = dockerfile(&root.join("docker/Dockerfile"));
    let froms: Vec<&str> = ins
        .iter()
        .filter(|(i, _)| i == "FROM")
        .map(|(_, a)| a.as_str())
        .collect();
    assert!(
        froms[0].starts_with("rust:1.95-bookworm"),
        "builder: {froms:?}"
    );
    assert!(
        froms
            .last()
            .is_some_and(|f| f.starts_with("debian:bookworm-slim")),
        "runtime: {froms:?}"
    );
    let mut copies = 0;
    let mut builder_workdir = String::new();
    let mut artefact = None;
    for (i, a) in &ins {
        match i.as_str() {
            "WORKDIR" if builder_workdir.is_empty() => builder_workdir = a.clone(),
            "COPY" if a.starts_with("--from=") => {
                let parts: Vec<&str> = a.split_whitespace().collect();
                if parts.last() == Some(&"/usr/local/bin/passerelle") {
                    artefact = Some(parts[1].to_string());
                }
            }
            "COPY" => {
                let parts: Vec<&str> = a
                    .split_whitespace()
                    .filter(|p| !p.starts_with("--"))
                    .collect();
                for src in &parts[..parts.len() - 1] {
                    assert!(
                        root.join(src).exists(),
                        "Dockerfile copies {src}, which is not in the project"
                    );
                    copies += 1;
                }
            }
            "EXPOSE" => assert_eq!(a.trim(), port.to_string(), "EXPOSE"),
            "HEALTHCHECK" => assert!(
                a.contains(&format!(":{port}/healthz")),
                "HEALTHCHECK must probe /healthz on {port}: {a}"
            ),
            "CMD" | "ENTRYPOINT" if a.contains("--listen") => {
                assert!(
                    a.contains(&format!(":{port}")),
                    "{i} listens elsewhere: {a}"
                )
            }
            "USER" => assert!(a != "root" && a != "0", "runs as root"),
            _ => {}
        }
    }
    // Every workspace member must be in the build context (cargo reads them all).
    for member in [
        "Cargo.toml",
        "Cargo.lock",
        "proto",
        "gateway",
        "adapters",
        "conformance",
        "certs",
    ] {
        assert!(
            ins.iter().any(|(i, a)| i == "COPY"
                && !a.starts_with("--from")
                && a.split_whitespace().any(|p| p == member)),
            "the builder stage does not copy {member}"
        );
    }
    assert!(copies >= 7);
    assert!(
        ins.iter()
            .any(|(i, a)| i == "RUN" && a.contains("cargo build --release -p passerelle")),
        "builder must run cargo build --release -p passerelle"
    );
    let artefact = artefact.expect("the runtime stage copies the binary from the builder");
    assert_eq!(
        artefact,
        format!(
            "{}/target/release/passerelle",
            builder_workdir.trim_end_matches('/')
        ),
        "the binary is copied from where cargo builds it"
    );
    assert!(
        ins.iter().any(|(i, _)| i == "USER"),
        "no USER: runs as root"
    );
    assert!(ins.iter().any(|(i, _)| i == "HEALTHCHECK"));
}

#[test]
fn mail_image_copies_existing_files() {
    let dir = root().join("docker/mail");
    let ins = dockerfile(&dir.join("Dockerfile"));
    let mut copies = 0;
    for (i, a) in &ins {
        if i == "COPY" {
            let parts: Vec<&str> = a.split_whitespace().collect();
            for src in &parts[..parts.len() - 1] {
                assert!(
                    dir.join(src).is_file(),
                    "docker/mail/Dockerfile copies {src}"
                );
                copies += 1;
            }
        }
    }
    assert_eq!(copies, 3, "main.cf, master.cf, dovecot.conf");
    // The configurations read the sandbox PKI from the gateway's data volume, under names the
    // test PKI generator writes.
    // (The sandbox PKI, generated once per test binary.)
    let (_cfg, sandbox) = sandbox_config(|_| {});
    let pki = sandbox.path().join("pki");
    for conf in ["postfix/main.cf", "dovecot/dovecot.conf"] {
        let text = std::fs::read_to_string(dir.join(conf)).expect("conf");
        let mut n = 0;
        for (i, _) in text.match_indices("/data/pki/") {
            let name: String = text[i + 10..]
                .chars()
                .take_while(|c| !c.is_whitespace())
                .collect();
            assert!(
                pki.join(&name).is_file(),
                "{conf} reads pki/{name}, which the PKI lacks"
            );
            n += 1;
        }
        assert!(n >= 2, "{conf} uses the test PKI");
    }
}

/// A small YAML subset (block mappings, block sequences of scalars, comments, quoted scalars):
/// what docker/compose.yaml is written in, parsed without a YAML dependency.
#[derive(Debug, Clone, PartialEq)]
enum Yaml {
    Scalar(String),
    Seq(Vec<String>),
    Map(Vec<(String, Yaml)>),
}

impl Yaml {
    fn get(&self, key: &str) -> Option<&Yaml> {
        match self {
            Yaml::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    fn keys(&self) -> Vec<&str> {
        match self {
            Yaml::Map(m) => m.iter().map(|(k, _)| k.as_str()).collect(),
            _ => Vec::new(),
        }
    }
    fn items(&self) -> Vec<String> {
        match self {
            Yaml::Seq(v) => v.clone(),
            Yaml::Scalar(s) => vec![s.clone()],
            Yaml::Map(_) => Vec::new(),
        }
    }
    fn str(&self) -> &str {
        match self {
            Yaml::Scalar(s) => s,
            _ => "",
        }
    }
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    for q in ['"', '\''] {
        if let Some(rest) = s.strip_prefix(q) {
            // A quoted scalar ends at its closing quote; a comment may follow.
            let end = rest
                .find(q)
                .unwrap_or_else(|| panic!("unterminated quote in {s:?}"));
            return rest[..end].to_string();
        }
    }
    match s.find(" #") {
        Some(i) => s[..i].trim().to_string(),
        None => s.to_string(),
    }
}

fn parse_yaml(text: &str) -> Yaml {
    let lines: Vec<(usize, String)> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| {
            assert!(!l.contains('\t'), "tabs in YAML: {l}");
            (l.len() - l.trim_start().len(), l.trim().to_string())
        })
        .collect();
    let mut pos = 0;
    let y = block(&lines, &mut pos, 0);
    assert_eq!(
        pos,
        lines.len(),
        "unparsed YAML from line {:?}",
        lines.get(pos)
    );
    y
}

fn block(lines: &[(usize, String)], pos: &mut usize, indent: usize) -> Yaml {
    if lines.get(*pos).is_some_and(|(_, l)| l.starts_with("- ")) {
        let mut seq = Vec::new();
        while let Some((i, l)) = lines.get(*pos) {
            if *i != indent || !l.starts_with("- ") {
                break;
            }
            seq.push(unquote(&l[2..]));
            *pos += 1;
        }
        return Yaml::Seq(seq);
    }
    let mut map = Vec::new();
    while let Some((i, l)) = lines.get(*pos) {
        if *i < indent {
            break;
        }
        assert_eq!(*i, indent, "bad indentation at {l:?}");
        let (k, v) = l
            .split_once(':')
            .unwrap_or_else(|| panic!("not a mapping entry: {l:?}"));
        *pos += 1;
        let v = v.trim();
        let value = if v.is_empty() || v.starts_with('#') {
            match lines.get(*pos) {
                Some((ni, _)) if *ni > indent => block(lines, pos, *ni),
                // Sequences may sit at the key's own indentation.
                Some((ni, nl)) if *ni == indent && nl.starts_with("- ") => block(lines, pos, *ni),
                _ => Yaml::Scalar(String::new()),
            }
        } else {
            Yaml::Scalar(unquote(v))
        };
        map.push((unquote(k), value));
    }
    Yaml::Map(map)
}

#[test]
fn the_yaml_subset_parser_reads_what_it_should() {
    let y = parse_yaml("a:\n  b: \"x\" # c\n  l:\n    - '1:2'\n    - y\nz: 3\n");
    assert_eq!(y.get("z").map(Yaml::str), Some("3"));
    let a = y.get("a").expect("a");
    assert_eq!(a.get("b").map(Yaml::str), Some("x"));
    assert_eq!(
        a.get("l").map(Yaml::items),
        Some(vec!["1:2".to_string(), "y".to_string()])
    );
}

#[test]
fn compose_mounts_existing_paths_and_publishes_the_default_port() {
    let root = root();
    let docker = root.join("docker");
    let port = default_port();
    let y = parse_yaml(&std::fs::read_to_string(docker.join("compose.yaml")).expect("compose"));
    let services = y.get("services").expect("services");
    let names = services.keys();
    for want in ["passerelle", "postgres", "postfix", "dovecot"] {
        assert!(names.contains(&want), "service {want} missing: {names:?}");
    }
    let declared_volumes = y.get("volumes").map(Yaml::keys).unwrap_or_default();
    for name in &names {
        let s = services.get(name).expect("service");
        if let Some(b) = s.get("build") {
            let ctx = docker.join(b.get("context").map(Yaml::str).unwrap_or("."));
            assert!(
                ctx.is_dir(),
                "{name}: build context {} missing",
                ctx.display()
            );
            let df = b.get("dockerfile").map(Yaml::str).unwrap_or("Dockerfile");
            assert!(ctx.join(df).is_file(), "{name}: dockerfile {df} missing");
        } else {
            assert!(
                !s.get("image").map(Yaml::str).unwrap_or("").is_empty(),
                "{name}: no image"
            );
        }
        for v in s.get("volumes").map(Yaml::items).unwrap_or_default() {
            let src = v.split(':').next().unwrap_or("");
            if src.starts_with('.') || src.starts_with('/') {
                assert!(
                    docker.join(src).exists(),
                    "{name}: mounts {src}, which is not in the project"
                );
            } else {
                assert!(
                    declared_volumes.contains(&src),
                    "{name}: named volume {src} is not declared"
                );
            }
        }
    }
    let p = services.get("passerelle").expect("passerelle");
    let ports = p.get("ports").map(Yaml::items).unwrap_or_default();
    assert!(!ports.is_empty(), "passerelle publishes no port");
    for m in &ports {
        let container = m.rsplit(':').next().unwrap_or("");
        assert_eq!(container, port.to_string(), "passerelle port mapping {m}");
    }
    let command = p.get("command").map(Yaml::items).unwrap_or_default();
    let listen = command
        .iter()
        .position(|a| a == "--listen")
        .and_then(|i| command.get(i + 1))
        .expect("passerelle command gives --listen");
    assert!(listen.ends_with(&format!(":{port}")), "--listen {listen}");
    let hc = p
        .get("healthcheck")
        .and_then(|h| h.get("test"))
        .map(Yaml::items)
        .unwrap_or_default()
        .join(" ");
    assert!(
        hc.contains(&format!(":{port}/healthz")),
        "healthcheck: {hc}"
    );
    // The PostgreSQL placeholder publishes the standard port; the mail pair their test ports.
    let pg = services.get("postgres").expect("postgres");
    assert!(
        pg.get("ports")
            .map(Yaml::items)
            .unwrap_or_default()
            .iter()
            .any(|m| m.ends_with(":5432")),
        "postgres port"
    );
}

#[test]
fn the_docker_configuration_template_is_a_valid_config() {
    let root = root();
    let text = std::fs::read_to_string(root.join("docker/passerelle.toml")).expect("template");
    // Unknown keys are refused by the types (deny_unknown_fields): the template cannot drift.
    let cfg: passerelle::config::Config = toml::from_str(&text).expect("docker/passerelle.toml");
    assert_eq!(cfg.server.listen.port(), default_port());
    // Its only problems are the certificate and token files an operator mounts.
    for p in passerelle::config::validate(&cfg) {
        assert!(p.contains("does not exist"), "docker/passerelle.toml: {p}");
    }
    assert!(!cfg.tenants.is_empty());
}

// ---------------------------------------------------------------------------------------------
// docs/operations.md configuration reference

/// Keys that must be given (no serde default): the minimal file below sets exactly these.
const MINIMAL: &str = r#"
[server]
listen = "127.0.0.1:7443"
data_dir = "/var/lib/passerelle"

[mssante.smtp]
host = "smtp.example"
port = 587

[mssante.imap]
host = "imap.example"
port = 993

[[tenant]]
id = "t"
name = "T"
departement = "93"
app_mailbox = "app@t.example"
tls_client = {}
signing = {}
"#;

const REQUIRED: &[&str] = &[
    "server.listen",
    "server.data_dir",
    "mssante.smtp.host",
    "mssante.smtp.port",
    "mssante.imap.host",
    "mssante.imap.port",
    "tenant.id",
    "tenant.name",
    "tenant.departement",
    "tenant.app_mailbox",
];

fn leaves(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, serde_json::Value>) {
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&p, x, out);
            }
        }
        serde_json::Value::Array(a) if a.first().is_some_and(|x| x.is_object()) => {
            leaves(prefix, &a[0], out)
        }
        _ => {
            out.insert(prefix.to_string(), v.clone());
        }
    }
}

/// How the reference table writes a default.
fn rendered_default(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "unset".into(),
        serde_json::Value::String(s) if s == "***" => "`\"\"`".into(),
        serde_json::Value::String(s) => format!("`\"{s}\"`"),
        serde_json::Value::Array(a) if a.is_empty() => "`[]`".into(),
        serde_json::Value::Object(m) if m.is_empty() => "`{}`".into(),
        other => format!("`{other}`"),
    }
}

#[test]
fn operations_guide_documents_every_config_key_with_its_default() {
    let cfg: passerelle::config::Config = toml::from_str(MINIMAL).expect("minimal config");
    let mut keys = BTreeMap::new();
    leaves("", &serde_json::to_value(&cfg).expect("json"), &mut keys);
    // The `tenant` array holds one tenant: its keys are `tenant.*`.
    assert!(keys.contains_key("tenant.tls_client.pkcs12"), "{keys:?}");

    let doc = std::fs::read_to_string(root().join("docs/operations.md")).expect("operations.md");
    let start = doc
        .find("## Configuration reference")
        .expect("a '## Configuration reference' section");
    let section = &doc[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let mut rows: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in section.lines() {
        let cells: Vec<String> = line.split('|').map(|c| c.trim().to_string()).collect();
        if cells.len() >= 5
            && let Some(k) = cells[1].strip_prefix('`').and_then(|c| c.strip_suffix('`'))
        {
            rows.insert(k.to_string(), cells[2..].to_vec());
        }
    }
    let mut problems = Vec::new();
    for (k, v) in &keys {
        let Some(cells) = rows.get(k) else {
            problems.push(format!("{k}: not documented"));
            continue;
        };
        // Columns: key | type | default | meaning.
        let default = &cells[1];
        let want = if REQUIRED.contains(&k.as_str()) {
            "required".to_string()
        } else {
            rendered_default(v)
        };
        if *default != want {
            problems.push(format!(
                "{k}: default column {default:?}, types say {want:?}"
            ));
        }
        if cells[2].is_empty() {
            problems.push(format!("{k}: no meaning"));
        }
    }
    for k in rows.keys() {
        if !keys.contains_key(k) {
            problems.push(format!("{k}: documented but not a configuration key"));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/operations.md:\n{}",
        problems.join("\n")
    );

    // The monitoring table names exactly the metrics of docs/specs/stage.md.
    let names = |text: &str| -> std::collections::BTreeSet<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix("| `passerelle_"))
            .filter_map(|l| l.split('`').next())
            .map(|n| format!("passerelle_{}", n.split('{').next().unwrap_or(n)))
            .collect()
    };
    let spec =
        std::fs::read_to_string(root().join("docs/specs/stage.md")).expect("docs/specs/stage.md");
    let (want, have) = (names(&spec), names(&doc));
    assert!(want.len() >= 10, "{want:?}");
    assert_eq!(
        have, want,
        "docs/operations.md monitoring table vs docs/specs/stage.md"
    );
}

// ---------------------------------------------------------------------------------------------
// docs/integration.md: every example it names exists, every route it calls is served

#[test]
fn integration_guide_names_real_examples_and_routes() {
    let root = root();
    let doc = std::fs::read_to_string(root.join("docs/integration.md")).expect("integration.md");
    let openapi: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("docs/openapi.json")).expect("openapi"))
            .expect("json");
    let paths = openapi["paths"].as_object().expect("paths");
    let mut examples = 0;
    for word in doc.split(|c: char| c.is_whitespace() || "`()[]<>\"'".contains(c)) {
        if let Some(i) = word.find("examples/requests/") {
            let rel = word[i..].trim_end_matches(['.', ',', ':', ';']);
            if rel.ends_with(".json") {
                assert!(
                    root.join(rel).is_file(),
                    "integration.md names {rel}, which does not exist"
                );
                examples += 1;
            }
        }
        for p in [
            "examples/python/client.py",
            "gateway/server/examples/dui_client/main.rs",
        ] {
            if word.ends_with(p) {
                assert!(root.join(p).is_file());
            }
        }
    }
    assert!(
        examples >= 3,
        "the guide should use the real example requests"
    );
    // Every `$GW/...` URL of the curl examples is a route of the OpenAPI document.
    let mut routes = 0;
    for (i, _) in doc.match_indices("$GW/") {
        let rest = &doc[i + 3..];
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '\'' || c == '"' || c == '?' || c == '`')
            .unwrap_or(rest.len());
        let url = &rest[..end];
        let matched = paths.keys().any(|p| {
            let pp: Vec<&str> = p.split('/').collect();
            let uu: Vec<&str> = url.split('/').collect();
            pp.len() == uu.len()
                && pp
                    .iter()
                    .zip(&uu)
                    .all(|(a, b)| a == b || (a.starts_with('{') && !b.is_empty()))
        });
        assert!(
            matched,
            "integration.md calls {url}, which the gateway does not serve"
        );
        routes += 1;
    }
    assert!(routes >= 6, "{routes} curl routes");
    assert!(doc.contains(PIP), "the guide gives the pip command");
}
