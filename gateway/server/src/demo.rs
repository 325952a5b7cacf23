//! `passerelle demo`: starts the sandbox in-process, submits every example request as its tenant,
//! follows each delivery to a final state and prints one table and a verdict. Exit 0 only when
//! every example ended as expected.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use passerelle_api::v1 as pb;

use crate::auth::Caller;

pub fn examples_dir() -> PathBuf {
    let local = PathBuf::from("examples/requests");
    if local.is_dir() {
        return local;
    }
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/requests"
    ))
}

/// What the example's expected file says (examples/requests/expected.json).
#[derive(Debug, Clone)]
pub struct Expected {
    pub accepted: bool,
    /// Final status per target id (absent: "queued" until the channel is wired).
    pub final_status: std::collections::BTreeMap<String, String>,
}

pub fn load_expected(dir: &Path) -> anyhow::Result<std::collections::BTreeMap<String, Expected>> {
    let path = dir.join("expected.json");
    let v: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?,
    )
    .with_context(|| format!("{} is not JSON", path.display()))?;
    let mut out = std::collections::BTreeMap::new();
    let obj = v
        .as_object()
        .context("expected.json must be an object keyed by file name")?;
    for (file, e) in obj {
        let accepted = e["accepted"].as_bool().unwrap_or(false);
        let mut final_status = std::collections::BTreeMap::new();
        if let Some(m) = e["finalStatus"].as_object() {
            for (k, s) in m {
                final_status.insert(k.clone(), s.as_str().unwrap_or_default().to_string());
            }
        }
        out.insert(
            file.clone(),
            Expected {
                accepted,
                final_status,
            },
        );
    }
    Ok(out)
}

struct Row {
    file: String,
    kind: String,
    recipient: String,
    channel: String,
    decision: String,
    status: String,
    ok: bool,
}

fn status_name(s: i32) -> String {
    pb::DeliveryStatus::try_from(s)
        .unwrap_or_default()
        .as_str_name()
        .trim_start_matches("DELIVERY_STATUS_")
        .to_ascii_lowercase()
}

fn channel_name(c: i32) -> String {
    pb::Channel::try_from(c)
        .unwrap_or_default()
        .as_str_name()
        .trim_start_matches("CHANNEL_")
        .to_ascii_lowercase()
}

pub async fn run(data_dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    // A data directory the demo made itself is removed afterwards; a given one is kept.
    let (data_dir, made) = match data_dir {
        Some(d) => (d, false),
        None => (tempdir()?, true),
    };
    eprintln!(
        "demo: preparing the sandbox in {} (test PKI, SQLite)…",
        data_dir.display()
    );
    let cfg = crate::sandbox::config(&data_dir, "127.0.0.1:0".parse()?)?;
    let played = play(cfg).await;
    if made {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    let p = played?;
    let (rows, inbox, ips_to_crip, files) = (p.rows, p.inbox, p.ips_to_crip, p.requests);
    print_table(&rows);
    println!();
    println!(
        "CRIP 93 inbox (InboxService, tenant cd93): {} message(s) with documents",
        inbox.len()
    );
    for i in &inbox {
        println!(
            "  {}  from {}  {} document(s): {}",
            i.id,
            i.from,
            i.documents.len(),
            i.documents
                .iter()
                .map(|d| d.title.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let inbox_ok = inbox.len() >= ips_to_crip;
    if !inbox_ok {
        println!("  expected {ips_to_crip} IP report(s) in the CRIP inbox");
    }
    let bad = rows.iter().filter(|r| !r.ok).count() + usize::from(!inbox_ok);
    let secs = started.elapsed().as_secs_f64();
    if bad == 0 {
        println!(
            "VERDICT: PASS — {} targets in {} requests ended as expected ({secs:.1} s)",
            rows.len(),
            files
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "VERDICT: FAIL — {bad} of {} targets did not end as expected ({secs:.1} s)",
            rows.len()
        );
        Ok(ExitCode::FAILURE)
    }
}

/// What playing every example produced.
pub struct Played {
    rows: Vec<Row>,
    inbox: Vec<pb::InboxItem>,
    ips_to_crip: usize,
    requests: usize,
}

/// Starts the sandbox with its simulators, plays every example, follows each delivery, reads the
/// CRIP's inbox, stops.
async fn play(mut cfg: crate::config::Config) -> anyhow::Result<Played> {
    let (_sims, opts) = crate::sandbox::start_sims(&mut cfg).await?;
    let running = crate::app::start(cfg, opts).await?;
    let svc = running.service.clone();
    let dir = examples_dir();
    let expected = load_expected(&dir)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json") && !p.ends_with("expected.json"))
        .collect();
    files.sort();
    eprintln!("demo: {} example requests", files.len());
    let mut rows = Vec::new();
    for f in &files {
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let mut req = crate::client::read_request(f)?;
        refresh_information_dates(&mut req);
        let exp = expected.get(&name).cloned();
        let kind = req
            .documents
            .iter()
            .map(|d| passerelle_domain::kinds::code(passerelle_domain::kinds::from_i32(d.kind)))
            .collect::<Vec<_>>()
            .join("+");
        let caller = Caller {
            tenant: req.tenant.clone(),
            authenticated_by: "demo".into(),
        };
        match svc.submit(&caller, req.clone()).await {
            Ok(resp) => {
                let t = resp.transmission.unwrap_or_default();
                let want: std::collections::BTreeMap<String, String> = exp
                    .as_ref()
                    .map(|e| e.final_status.clone())
                    .unwrap_or_default();
                let t = follow(&svc, &caller, &t.id, &want).await?;
                let exp_ok = exp.as_ref().map(|e| e.accepted);
                for target in &req.targets {
                    let d = t.deliveries.iter().find(|d| d.target_id == target.id);
                    let (decision, status) = match d {
                        Some(d) => ("allowed".to_string(), status_name(d.status)),
                        None => ("denied".to_string(), "-".to_string()),
                    };
                    let want = exp
                        .as_ref()
                        .and_then(|e| e.final_status.get(&target.id).cloned())
                        .unwrap_or_else(|| {
                            if d.is_some() {
                                "queued".into()
                            } else {
                                "-".into()
                            }
                        });
                    rows.push(Row {
                        file: name.clone(),
                        kind: kind.clone(),
                        recipient: recipient(target),
                        channel: channel_name(target.channel),
                        decision,
                        ok: exp_ok == Some(true) && want == status,
                        status,
                    });
                }
            }
            Err(e) => {
                let denied = e.reason == passerelle_domain::error::Reason::PolicyDenied;
                for target in &req.targets {
                    rows.push(Row {
                        file: name.clone(),
                        kind: kind.clone(),
                        recipient: recipient(target),
                        channel: channel_name(target.channel),
                        decision: if denied {
                            "refused".into()
                        } else {
                            format!("error {}", e.reason.as_str())
                        },
                        status: "-".into(),
                        ok: denied && exp.as_ref().is_some_and(|x| !x.accepted),
                    });
                }
            }
        }
    }
    // The CRIP's side: the IP reports reach its mailbox and Passerelle's inbox (InboxService).
    let ips_to_crip = rows
        .iter()
        .filter(|r| {
            r.kind.contains("IP") && r.recipient.starts_with("crip@cd93") && r.decision == "allowed"
        })
        .count();
    let crip = Caller {
        tenant: "cd93".into(),
        authenticated_by: "demo".into(),
    };
    let deadline = Instant::now() + Duration::from_secs(45);
    let inbox = loop {
        let l = svc
            .inbox_list(&crip, pb::ListInboxRequest::default())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let docs: Vec<&pb::InboxItem> = l
            .items
            .iter()
            .filter(|i| i.mailbox == "crip@cd93.mssante.test" && !i.documents.is_empty())
            .collect();
        if docs.len() >= ips_to_crip || Instant::now() > deadline {
            break docs.into_iter().cloned().collect::<Vec<_>>();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    running.stop().await;
    Ok(Played {
        rows,
        inbox,
        ips_to_crip,
        requests: files.len(),
    })
}

/// The demo's scenarios as (name, passed, detail) rows (`passerelle conformance`).
pub async fn run_rows(cfg: crate::config::Config) -> anyhow::Result<Vec<(String, bool, String)>> {
    let p = play(cfg).await?;
    let mut out: Vec<(String, bool, String)> = p
        .rows
        .iter()
        .map(|r| {
            (
                format!("{} → {} ({}, {})", r.file, r.recipient, r.channel, r.kind),
                r.ok,
                format!("decision {}, final status {}", r.decision, r.status),
            )
        })
        .collect();
    out.push((
        "CRIP 93 inbox receives the IP reports (InboxService)".into(),
        p.inbox.len() >= p.ips_to_crip,
        format!("{} of {} received", p.inbox.len(), p.ips_to_crip),
    ));
    Ok(out)
}

fn recipient(t: &pb::Target) -> String {
    match pb::Channel::try_from(t.channel).unwrap_or_default() {
        pb::Channel::Dmp => "DMP de l'enfant".into(),
        pb::Channel::Mes => "MES de l'enfant".into(),
        _ if !t.mss_address.is_empty() => t.mss_address.clone(),
        _ => "(partie)".into(),
    }
}

/// Information records are dated in the examples; the demo plays them "a month ago" so that they
/// stay prior and within their validity whatever the day it runs (INF-2).
pub fn refresh_information_dates(req: &mut pb::SubmitRequest) {
    // Midnight of the day, so that two copies of a request made the same day are identical.
    let month_ago = (time::OffsetDateTime::now_utc() - time::Duration::days(30))
        .replace_time(time::Time::MIDNIGHT);
    if let Some(l) = req.legal.as_mut() {
        for r in &mut l.information {
            if let Some(pb::information_record::Status::Done(d)) = r.status.as_mut() {
                d.at = Some(crate::convert::ts(month_ago));
            }
        }
    }
}

/// Waits until every delivery reached its expected state or a final one, within a bounded time.
async fn follow(
    svc: &crate::service::Service,
    caller: &Caller,
    id: &str,
    want: &std::collections::BTreeMap<String, String>,
) -> anyhow::Result<pb::Transmission> {
    // Generous: it returns as soon as every delivery settled (a loaded CI machine is slow).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let t = svc
            .get(caller, id)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let settled = t.deliveries.iter().all(|d| {
            let s = status_name(d.status);
            want.get(&d.target_id).is_some_and(|w| *w == s)
                || matches!(
                    pb::DeliveryStatus::try_from(d.status).unwrap_or_default(),
                    pb::DeliveryStatus::Read
                        | pb::DeliveryStatus::Stored
                        | pb::DeliveryStatus::Rejected
                        | pb::DeliveryStatus::Failed
                        | pb::DeliveryStatus::Expired
                        | pb::DeliveryStatus::Cancelled
                )
        });
        if settled || Instant::now() > deadline {
            return Ok(t);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn print_table(rows: &[Row]) {
    let w = |f: fn(&Row) -> &str, h: &str| {
        rows.iter()
            .map(|r| f(r).chars().count())
            .chain([h.len()])
            .max()
            .unwrap_or(0)
    };
    let (a, b, c, d, e, g) = (
        w(|r| &r.file, "request"),
        w(|r| &r.kind, "kind"),
        w(|r| &r.recipient, "recipient"),
        w(|r| &r.channel, "channel"),
        w(|r| &r.decision, "decision"),
        w(|r| &r.status, "final status"),
    );
    println!(
        "{:a$}  {:b$}  {:c$}  {:d$}  {:e$}  {:g$}  ok",
        "request", "kind", "recipient", "channel", "decision", "final status"
    );
    for r in rows {
        println!(
            "{:a$}  {:b$}  {:c$}  {:d$}  {:e$}  {:g$}  {}",
            r.file,
            r.kind,
            r.recipient,
            r.channel,
            r.decision,
            r.status,
            if r.ok { "✓" } else { "✗" }
        );
    }
}

fn tempdir() -> anyhow::Result<PathBuf> {
    let d = std::env::temp_dir().join(format!("passerelle-demo-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
