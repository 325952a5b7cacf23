//! Throughput helper: messages/s through the embedded operator with warm pooled connections.
//! Called by the lead's bench binary; never a timed test.

use std::sync::Arc;
use std::time::{Duration, Instant};

use passerelle_mail::{Envelope, SmtpClientConfig, SmtpPool, TlsMode};

use crate::pki::TestPki;
use crate::{MailboxSpec, Operator, OperatorConfig, SimError};

/// Result of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchReport {
    pub messages: usize,
    pub message_bytes: usize,
    pub concurrency: usize,
    pub seconds: f64,
    pub messages_per_second: f64,
    /// SMTP connections opened during the timed part (warm pool: about messages / 50).
    pub connections_opened: u64,
}

const SENDER: &str = "passerelle@mecs-tilleuls.mssante.test";
const RECIPIENT: &str = "crip@cd93.mssante.test";

/// A message that passes the operator's built-in rules, about `size` bytes.
pub fn sample_message(size: usize, n: usize) -> Vec<u8> {
    let mut m = format!(
        "From: MECS Les Tilleuls <{SENDER}>\r\nTo: <{RECIPIENT}>\r\n\
         Message-ID: <bench-{n}@mecs-tilleuls.mssante.test>\r\nSubject: bench {n}\r\n\
         MIME-Version: 1.0\r\nX-MSS-NIL: DEV000000\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    )
    .into_bytes();
    let line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n";
    while m.len() + line.len() <= size.max(m.len() + line.len()) && m.len() < size {
        m.extend_from_slice(line);
    }
    m
}

fn bench_err(field: &'static str, e: impl std::fmt::Display) -> SimError {
    SimError::Bench {
        field,
        reason: e.to_string(),
    }
}

/// Sends `messages` messages of `message_bytes` through a fresh operator over implicit TLS with
/// `concurrency` pooled connections (warmed up first), and reports messages/s.
pub async fn run(
    message_bytes: usize,
    messages: usize,
    concurrency: usize,
) -> Result<BenchReport, SimError> {
    let concurrency = concurrency.max(1);
    let pki = TestPki::new("bench")?;
    let server = pki.server(&["localhost", "127.0.0.1"])?;
    let mut config = OperatorConfig::new(
        pki.operator_tls(&server)?,
        vec![
            "mecs-tilleuls.mssante.test".into(),
            "cd93.mssante.test".into(),
        ],
        vec![MailboxSpec::new(SENDER), MailboxSpec::new(RECIPIENT)],
    );
    config.max_message_size = message_bytes.saturating_mul(2).max(1024 * 1024);
    let op = Operator::start(config).await?;
    let handle = op.handle();
    let id = pki.mailbox_client(SENDER)?;
    let tls = passerelle_mail::tls::client_config_from_pem(
        pki.ca_bundle_pem().as_bytes(),
        id.chain_pem.as_bytes(),
        id.key_pem.as_bytes(),
    )
    .map_err(|e| bench_err("client TLS", e))?;
    let mut cfg = SmtpClientConfig::new(
        SENDER,
        "127.0.0.1",
        op.addrs.smtp_implicit.port(),
        TlsMode::Implicit,
        tls,
    );
    cfg.connect_addr = Some(op.addrs.smtp_implicit);
    cfg.max_connections = concurrency;
    let cfg = Arc::new(cfg);
    let pool = Arc::new(SmtpPool::new());
    let env = Arc::new(Envelope {
        mail_from: SENDER.into(),
        recipients: vec![RECIPIENT.into()],
        dsn: None,
    });
    let msg = Arc::new(sample_message(message_bytes, 0));
    // Warm-up: one connection per worker.
    let mut warm = Vec::new();
    for _ in 0..concurrency {
        let (pool, cfg, env, msg) = (pool.clone(), cfg.clone(), env.clone(), msg.clone());
        warm.push(tokio::spawn(
            async move { pool.send(&cfg, &env, &msg).await },
        ));
    }
    for w in warm {
        w.await
            .map_err(|e| bench_err("warm-up task", e))?
            .map_err(|e| bench_err("warm-up send", e))?;
    }
    handle.clear(RECIPIENT, "INBOX");
    let opened_before = pool.stats().connections_opened;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let share = messages / concurrency + usize::from(w < messages % concurrency);
        let (pool, cfg, env, msg, handle) = (
            pool.clone(),
            cfg.clone(),
            env.clone(),
            msg.clone(),
            handle.clone(),
        );
        tasks.push(tokio::spawn(async move {
            for i in 0..share {
                pool.send(&cfg, &env, &msg).await?;
                // Keep memory flat for large runs: the store is a test double.
                if i % 32 == 31 {
                    handle.clear(RECIPIENT, "INBOX");
                }
            }
            Ok::<(), passerelle_mail::MailError>(())
        }));
    }
    for t in tasks {
        t.await
            .map_err(|e| bench_err("send task", e))?
            .map_err(|e| bench_err("send", e))?;
    }
    let seconds = start
        .elapsed()
        .as_secs_f64()
        .max(Duration::from_micros(1).as_secs_f64());
    let opened = pool.stats().connections_opened - opened_before;
    pool.shutdown().await;
    Ok(BenchReport {
        messages,
        message_bytes: msg.len(),
        concurrency,
        seconds,
        messages_per_second: messages as f64 / seconds,
        connections_opened: opened,
    })
}
