//! Durable submissions per second through `SqliteStore` (group commit, synchronous=FULL).
//!
//! `cargo run --release -p passerelle-outbox --example outbox_throughput -- [DIR] [THREADS] [COUNT] [BYTES]`
//! Each submission writes one unique payload of BYTES (blob fsync) and one transmission with one
//! delivery. Prints JSON: submissions/s, p50/p99 latency of put + submit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use passerelle_domain::delivery::Channel;
use passerelle_outbox::*;
use time::OffsetDateTime;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "target/outbox-bench".into());
    let threads: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(32);
    let count: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(4000);
    let bytes: usize = args
        .get(4)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10 * 1024);
    let _ = std::fs::remove_dir_all(&dir);
    let store = Arc::new(SqliteStore::open(
        &dir,
        StoreConfig {
            capacity: 10_000_000,
            capacity_per_destination: 10_000_000,
            ..StoreConfig::default()
        },
    )?);
    let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    let start = Instant::now();
    let mut handles = Vec::new();
    for w in 0..threads {
        let store = store.clone();
        handles.push(std::thread::spawn(
            move || -> Result<Vec<Duration>, Error> {
                let mut lat = Vec::new();
                for i in (w..count).step_by(threads) {
                    let t0 = Instant::now();
                    let mut body = vec![0u8; bytes];
                    // BYTES < 8: every submission shares one payload (measures the row commit alone).
                    if bytes >= 8 {
                        body[..8].copy_from_slice(&(i as u64).to_be_bytes());
                    }
                    let blob = store.put_blob(&body)?;
                    let id = format!("tx-{i}");
                    store.submit(NewTransmission {
                        id: id.clone(),
                        tenant: "bench".into(),
                        idempotency_key: id.clone(),
                        request_sha256: Sha256::digest(id.as_bytes()),
                        created_at: now,
                        child_ref: "DUI-0001".into(),
                        document_ids: vec!["d1".into()],
                        kinds: vec!["PPE".into()],
                        replaces_transmission_id: None,
                        decision_json: b"{}".to_vec(),
                        deliveries: vec![NewDelivery {
                            id: format!("{id}-d0"),
                            target_id: "t0".into(),
                            channel: Channel::Mssante,
                            recipient: "r@a.mssante.test".into(),
                            destination: "mssante:a.mssante.test".into(),
                            document_ids: vec!["d1".into()],
                            payloads: vec![blob.named("message.eml")],
                            expires_at: None,
                            read_receipt_expected: false,
                        }],
                        audit: vec![AuditDraft {
                            kind: "transmission.submitted".into(),
                            actor: "bench".into(),
                            transmission_id: Some(id),
                            summary: "allow".into(),
                            ..Default::default()
                        }],
                        blobs: vec![],
                        inline: vec![],
                    })?;
                    lat.push(t0.elapsed());
                }
                Ok(lat)
            },
        ));
    }
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(h.join().map_err(|_| "worker panicked")??);
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort();
    let p =
        |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0;
    println!(
        "{{\"threads\":{threads},\"count\":{count},\"bytes\":{bytes},\"submissions_per_s\":{:.0},\"p50_ms\":{:.2},\"p99_ms\":{:.2}}}",
        count as f64 / secs,
        p(0.5),
        p(0.99)
    );
    Ok(())
}
