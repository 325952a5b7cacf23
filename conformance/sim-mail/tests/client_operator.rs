//! passerelle-mail clients against the embedded operator.

use std::sync::Arc;
use std::time::Duration;

use passerelle_mail::imap::{IdleOutcome, MoveMethod};
use passerelle_mail::{
    DsnNotify, DsnRequest, DsnRet, Envelope, FOLDER_PROCESSED, FOLDER_QUARANTINE, ImapAuth,
    ImapClientConfig, ImapSession, MailError, RetryClass, SmtpClientConfig, SmtpPool, Step,
    TlsMode,
};
use passerelle_sim_mail::pki::TestPki;
use passerelle_sim_mail::{
    FaultStage, MailboxKind, MailboxSpec, Operator, OperatorConfig, OperatorHandle,
};

const SENDER: &str = "dui-app@cd93.mssante.test";
const CRIP: &str = "crip@cd93.mssante.test";
const HUMAN: &str = "claire.martin@cd93.mssante.test";
const MECS: &str = "passerelle@mecs-tilleuls.mssante.test";

struct World {
    pki: TestPki,
    op: Operator,
    h: OperatorHandle,
}

async fn world_with(max: usize) -> World {
    let pki = TestPki::new("t").expect("pki");
    let server = pki
        .server(&["localhost", "127.0.0.1"])
        .expect("server cert");
    let mut cfg = OperatorConfig::new(
        pki.operator_tls(&server).expect("server tls"),
        vec![
            "cd93.mssante.test".into(),
            "mecs-tilleuls.mssante.test".into(),
        ],
        vec![
            MailboxSpec::new(SENDER),
            MailboxSpec::new(CRIP),
            MailboxSpec::new(HUMAN).kind(MailboxKind::Human),
            MailboxSpec {
                address: MECS.into(),
                kind: MailboxKind::Plain,
                password: Some("secret".into()),
            },
        ],
    );
    cfg.max_message_size = max;
    cfg.human_mdn_delay = Duration::from_millis(50);
    let op = Operator::start(cfg).await.expect("operator");
    let h = op.handle();
    World { pki, op, h }
}

async fn world() -> World {
    world_with(1024 * 1024).await
}

fn client_tls(w: &World, mailbox: &str) -> Arc<rustls::ClientConfig> {
    let id = w.pki.mailbox_client(mailbox).expect("client cert");
    passerelle_mail::tls::client_config_from_pem(
        w.pki.ca_bundle_pem().as_bytes(),
        id.chain_pem.as_bytes(),
        id.key_pem.as_bytes(),
    )
    .expect("client tls")
}

fn smtp(w: &World, mailbox: &str, mode: TlsMode) -> SmtpClientConfig {
    let addr = match mode {
        TlsMode::StartTls => w.op.addrs.smtp_starttls,
        TlsMode::Implicit => w.op.addrs.smtp_implicit,
    };
    let mut c = SmtpClientConfig::new(
        mailbox,
        "localhost",
        addr.port(),
        mode,
        client_tls(w, mailbox),
    );
    c.connect_addr = Some(addr);
    c.timeouts.command = Duration::from_secs(5);
    c
}

fn imap(w: &World, mailbox: &str, mode: TlsMode) -> ImapClientConfig {
    let addr = match mode {
        TlsMode::StartTls => w.op.addrs.imap_starttls,
        TlsMode::Implicit => w.op.addrs.imap_implicit,
    };
    let mut c = ImapClientConfig::new(
        mailbox,
        "localhost",
        addr.port(),
        mode,
        client_tls(w, mailbox),
    );
    c.connect_addr = Some(addr);
    c.timeout = Duration::from_secs(5);
    c
}

fn message(from: &str, to: &str, subject: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Passerelle <{from}>\r\nTo: <{to}>\r\nMessage-ID: <m-{subject_id}@cd93.mssante.test>\r\n\
         Subject: {subject}\r\nMIME-Version: 1.0\r\n{extra}Content-Type: text/plain; charset=UTF-8\r\n\r\n{body}\r\n",
        subject_id = subject.replace(' ', "-"),
    )
    .into_bytes()
}

fn ok_message(subject: &str) -> Vec<u8> {
    message(
        SENDER,
        CRIP,
        subject,
        "X-MSS-NIL: DEV935997\r\n",
        "Bonjour.\r\n.ligne qui commence par un point",
    )
}

fn env(to: &str, envid: Option<&str>) -> Envelope {
    Envelope {
        mail_from: SENDER.into(),
        recipients: vec![to.into()],
        dsn: Some(DsnRequest {
            ret: DsnRet::Hdrs,
            envid: envid.map(str::to_owned),
            notify: DsnNotify::ALL,
        }),
    }
}

/// Stored bytes minus the two trace headers the operator prepends.
fn strip_trace(stored: &[u8]) -> &[u8] {
    let text = stored;
    let mut rest = text;
    assert!(rest.starts_with(b"Return-Path: <"), "Return-Path first");
    let after_rp = rest.iter().position(|&b| b == b'\n').expect("eol") + 1;
    rest = &rest[after_rp..];
    assert!(rest.starts_with(b"Received: "), "Received second");
    // Received is folded on two lines.
    let mut i = 0;
    loop {
        let eol = rest[i..].iter().position(|&b| b == b'\n').expect("eol") + i + 1;
        i = eol;
        if !(rest[i] == b'\t' || rest[i] == b' ') {
            break;
        }
    }
    &rest[i..]
}

#[tokio::test]
async fn sends_with_starttls_and_implicit_tls_byte_for_byte() {
    let w = world().await;
    let pool = SmtpPool::new();
    for (i, mode) in [TlsMode::StartTls, TlsMode::Implicit]
        .into_iter()
        .enumerate()
    {
        let cfg = smtp(&w, SENDER, mode);
        let msg = ok_message(&format!("envoi {i}"));
        let report = pool
            .send(&cfg, &env(CRIP, Some("D-1")), &msg)
            .await
            .expect("sent");
        assert_eq!(report.data.code, 250);
        assert_eq!(report.data.enhanced, Some([2, 0, 0]));
        assert_eq!(report.recipients[0].reply.code, 250);
        assert!(report.dsn_requested, "operator advertises DSN");
        let stored =
            w.h.wait_for_messages(CRIP, "INBOX", i + 1, Duration::from_secs(2))
                .await;
        assert_eq!(stored.len(), i + 1);
        assert_eq!(
            strip_trace(&stored[i].bytes),
            &msg[..],
            "byte for byte after dot-unstuffing"
        );
    }
    // Capabilities are re-read after TLS: STARTTLS gone, AUTH EXTERNAL and DSN present.
    let conn = passerelle_mail::SmtpConnection::connect(&smtp(&w, SENDER, TlsMode::StartTls))
        .await
        .expect("connect");
    let caps = conn.capabilities().clone();
    assert!(!caps.starttls && caps.dsn && caps.auth_external);
    assert_eq!(caps.size, Some(1024 * 1024));
    conn.quit().await;
}

/// RFC 6186 discovery against a DNS zone on loopback: the lowest-priority submission server over
/// STARTTLS; IMAP without a STARTTLS service (`.`) falls back to `_imaps._tcp` (implicit TLS);
/// the discovered endpoints are the operator's (a message goes through, a session opens).
#[tokio::test]
async fn servers_are_discovered_by_dns_srv() {
    use passerelle_mail::srv::{Service, discover, resolver};
    use passerelle_sim_mail::dns::{DnsZone, ZoneRecord};
    let w = world().await;
    let a = w.op.addrs;
    let d = "cd93.mssante.test";
    let zone = DnsZone::start(vec![
        ZoneRecord::srv(
            &format!("_submission._tcp.{d}"),
            10,
            1,
            a.smtp_starttls.port(),
            "localhost",
        )
        .expect("rr"),
        ZoneRecord::srv(
            &format!("_submission._tcp.{d}"),
            20,
            100,
            1,
            "backup.invalid",
        )
        .expect("rr"),
        ZoneRecord::srv(&format!("_imap._tcp.{d}"), 0, 0, 0, ".").expect("rr"),
        ZoneRecord::srv(
            &format!("_imaps._tcp.{d}"),
            0,
            0,
            a.imap_implicit.port(),
            "localhost",
        )
        .expect("rr"),
        ZoneRecord::a("localhost", std::net::Ipv4Addr::LOCALHOST).expect("rr"),
    ])
    .expect("zone");
    let r = resolver(&[zone.addr]).expect("resolver");
    let smtp_found = discover(&r, d, Service::Submission)
        .await
        .expect("dns")
        .expect("submission server");
    assert_eq!(
        (smtp_found.host.as_str(), smtp_found.tls, smtp_found.addr),
        ("localhost", TlsMode::StartTls, a.smtp_starttls)
    );
    let imap_found = discover(&r, d, Service::Imap)
        .await
        .expect("dns")
        .expect("imap server");
    assert_eq!(
        (imap_found.host.as_str(), imap_found.tls, imap_found.addr),
        ("localhost", TlsMode::Implicit, a.imap_implicit)
    );
    assert_eq!(
        discover(&r, "nobody.mssante.test", Service::Submission)
            .await
            .expect("dns"),
        None,
        "no record: nothing discovered (the configuration must say)"
    );
    let mut sc = SmtpClientConfig::new(
        SENDER,
        smtp_found.host.clone(),
        smtp_found.port,
        smtp_found.tls,
        client_tls(&w, SENDER),
    );
    sc.connect_addr = Some(smtp_found.addr);
    SmtpPool::new()
        .send(&sc, &env(CRIP, None), &ok_message("découvert"))
        .await
        .expect("sent to the discovered server");
    let mut ic = ImapClientConfig::new(
        SENDER,
        imap_found.host.clone(),
        imap_found.port,
        imap_found.tls,
        client_tls(&w, SENDER),
    );
    ic.connect_addr = Some(imap_found.addr);
    let s = ImapSession::connect(&ic).await.expect("imap session");
    let _ = s.logout().await;
}

#[tokio::test]
async fn refused_without_client_certificate_or_with_a_foreign_one() {
    let w = world().await;
    let no_cert =
        passerelle_mail::tls::client_config_without_cert(w.pki.ca_bundle_pem().as_bytes())
            .expect("tls");
    for mode in [TlsMode::StartTls, TlsMode::Implicit] {
        let mut cfg = smtp(&w, SENDER, mode);
        cfg.tls = no_cert.clone();
        let err = SmtpPool::new()
            .send(&cfg, &env(CRIP, None), &ok_message("x"))
            .await
            .expect_err("must be refused");
        assert!(
            matches!(err, MailError::TlsHandshake { .. } | MailError::Io { .. }),
            "{err}"
        );
    }
    // A certificate from another CA.
    let other = TestPki::new("other").expect("pki");
    let id = other.mailbox_client(SENDER).expect("cert");
    let foreign = passerelle_mail::tls::client_config_from_pem(
        w.pki.ca_bundle_pem().as_bytes(),
        id.chain_pem.as_bytes(),
        id.key_pem.as_bytes(),
    )
    .expect("tls");
    let mut cfg = smtp(&w, SENDER, TlsMode::Implicit);
    cfg.tls = foreign;
    assert!(
        SmtpPool::new()
            .send(&cfg, &env(CRIP, None), &ok_message("x"))
            .await
            .is_err()
    );
    // A client that trusts another CA refuses the operator's certificate (configuration class).
    let mut cfg = smtp(&w, SENDER, TlsMode::Implicit);
    cfg.tls = passerelle_mail::tls::client_config_from_pem(
        other.ca_bundle_pem().as_bytes(),
        id.chain_pem.as_bytes(),
        id.key_pem.as_bytes(),
    )
    .expect("tls");
    let err = SmtpPool::new()
        .send(&cfg, &env(CRIP, None), &ok_message("x"))
        .await
        .expect_err("untrusted server");
    assert_eq!(err.retry_class(), RetryClass::Configuration, "{err}");
    // A valid certificate for a mailbox this operator does not host: AUTH EXTERNAL refused.
    let stranger = "inconnu@cd93.mssante.test";
    let mut cfg = smtp(&w, stranger, TlsMode::StartTls);
    cfg.tls = client_tls(&w, stranger);
    let mut e = env(CRIP, None);
    e.mail_from = stranger.into();
    let err = SmtpPool::new()
        .send(&cfg, &e, &ok_message("x"))
        .await
        .expect_err("535");
    assert!(
        matches!(&err, MailError::Rejected { step: Step::Auth, reply } if reply.code == 535 && reply.enhanced == Some([5, 7, 8])),
        "{err}"
    );
    assert_eq!(err.retry_class(), RetryClass::Configuration);
    // …and without AUTH the MAIL command is refused the same way.
    cfg.auth = passerelle_mail::SmtpAuth::None;
    let err = SmtpPool::new()
        .send(&cfg, &e, &ok_message("x"))
        .await
        .expect_err("535 at MAIL");
    assert!(
        matches!(&err, MailError::Rejected { step: Step::Mail, reply } if reply.code == 535),
        "{err}"
    );
    assert!(w.h.stats().smtp_tls_failures >= 3);
    assert!(w.h.messages(CRIP, "INBOX").is_empty());
}

async fn refusal(w: &World, env: &Envelope, msg: &[u8]) -> MailError {
    SmtpPool::new()
        .send(&smtp(w, SENDER, TlsMode::Implicit), env, msg)
        .await
        .expect_err(&format!(
            "refused: {}",
            String::from_utf8_lossy(&msg[..msg.len().min(200)])
        ))
}

#[tokio::test]
async fn each_rule_refuses_with_its_code() {
    let w = world().await;
    let nil = "X-MSS-NIL: DEV935997\r\n";
    // MAIL FROM is not the certificate's mailbox.
    let mut e = env(CRIP, None);
    e.mail_from = HUMAN.into();
    let err = refusal(&w, &e, &ok_message("a")).await;
    assert!(
        matches!(&err, MailError::Rejected { step: Step::Mail, reply } if reply.code == 553 && reply.enhanced == Some([5,7,1])),
        "{err}"
    );
    assert_eq!(err.retry_class(), RetryClass::RejectedByOperator);
    // From header is not the certificate's mailbox.
    let err = refusal(&w, &env(CRIP, None), &message(HUMAN, CRIP, "b", nil, "x")).await;
    assert!(
        matches!(&err, MailError::Rejected { step: Step::DataEnd, reply } if reply.code == 550 && reply.enhanced == Some([5,7,1])),
        "{err}"
    );
    // Recipient domain outside the whitelist.
    let err = refusal(&w, &env("x@gmail.com", None), &ok_message("c")).await;
    assert!(
        matches!(&err, MailError::Rejected { step: Step::Rcpt, reply } if reply.code == 550 && reply.enhanced == Some([5,7,1])),
        "{err}"
    );
    // Unknown mailbox in a whitelisted domain.
    let err = refusal(&w, &env("nobody@cd93.mssante.test", None), &ok_message("d")).await;
    assert!(
        matches!(&err, MailError::Rejected { step: Step::Rcpt, reply } if reply.code == 550 && reply.enhanced == Some([5,1,1])),
        "{err}"
    );
    assert_eq!(err.retry_class(), RetryClass::RecipientRejected);
    // Two To.
    let two = message(SENDER, &format!("{CRIP}>, <{HUMAN}"), "e", nil, "x");
    let err = refusal(&w, &env(CRIP, None), &two).await;
    assert!(
        matches!(&err, MailError::Rejected { reply, .. } if reply.code == 554 && reply.enhanced == Some([5,6,0]) && reply.text.contains("MSS-ONE-TO")),
        "{err}"
    );
    // X-MSS-NIL missing.
    let err = refusal(&w, &env(CRIP, None), &message(SENDER, CRIP, "f", "", "x")).await;
    assert!(
        matches!(&err, MailError::Rejected { reply, .. } if reply.code == 554 && reply.text.contains("X-MSS-NIL")),
        "{err}"
    );
    // XDM subject without the archive.
    let err = refusal(
        &w,
        &env(CRIP, None),
        &message(SENDER, CRIP, "XDM/1.0/DDM+Projet", nil, "x"),
    )
    .await;
    assert!(
        matches!(&err, MailError::Rejected { reply, .. } if reply.code == 554 && reply.text.contains("MSS-SUBJECT-XDM")),
        "{err}"
    );
    // The archive without the subject prefix.
    let xdm = format!(
        "From: <{SENDER}>\r\nTo: <{CRIP}>\r\nSubject: Projet\r\n{nil}MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n\
         --b\r\nContent-Type: application/zip; name=\"IHE_XDM.zip\"\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"IHE_XDM.zip\"\r\n\r\nUEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==\r\n--b--\r\n"
    );
    let err = refusal(&w, &env(CRIP, None), xdm.as_bytes()).await;
    assert!(
        matches!(&err, MailError::Rejected { reply, .. } if reply.code == 554 && reply.text.contains("MSS-SUBJECT-XDM")),
        "{err}"
    );
    // …and accepted once the subject carries the prefix.
    let good = xdm.replace("Subject: Projet", "Subject: XDM/1.0/DDM+Projet DUPONT Lea");
    SmtpPool::new()
        .send(
            &smtp(&w, SENDER, TlsMode::Implicit),
            &env(CRIP, None),
            good.as_bytes(),
        )
        .await
        .expect("XDM message accepted");
    // Pluggable validator.
    w.h.set_validator(Some(Arc::new(|m: &[u8]| {
        if m.windows(6).any(|x| x == b"PIRATE") {
            Err((554, "5.6.0 XDM-README README.TXT missing".into()))
        } else {
            Ok(())
        }
    })));
    let err = refusal(
        &w,
        &env(CRIP, None),
        &message(SENDER, CRIP, "g", nil, "PIRATE"),
    )
    .await;
    assert!(
        matches!(&err, MailError::Rejected { reply, .. } if reply.text.contains("XDM-README")),
        "{err}"
    );
    assert_eq!(
        w.h.messages(CRIP, "INBOX").len(),
        1,
        "only the good XDM message got in"
    );
}

#[tokio::test]
async fn size_limit_is_advertised_and_enforced() {
    let w = world_with(20_000).await;
    let big = message(SENDER, CRIP, "big", "X-MSS-NIL: D\r\n", &"A".repeat(30_000));
    // The client knows the limit from EHLO and does not even send.
    let err = refusal(&w, &env(CRIP, None), &big).await;
    assert!(
        matches!(err, MailError::TooLarge { limit: 20_000, .. }),
        "{err}"
    );
    assert_eq!(err.retry_class(), RetryClass::MessageTooLarge);
    // The server refuses an oversize SIZE= itself (raw client).
    let id = w.pki.mailbox_client(SENDER).expect("cert");
    let tls = passerelle_mail::tls::client_config_from_pem(
        w.pki.ca_bundle_pem().as_bytes(),
        id.chain_pem.as_bytes(),
        id.key_pem.as_bytes(),
    )
    .expect("tls");
    let tcp = tokio::net::TcpStream::connect(w.op.addrs.smtp_implicit)
        .await
        .expect("tcp");
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(
            passerelle_mail::tls::server_name("localhost").expect("name"),
            tcp,
        )
        .await
        .expect("tls");
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut io = BufReader::new(stream);
    let mut line = String::new();
    io.read_line(&mut line).await.expect("greeting");
    io.get_mut().write_all(b"EHLO t\r\n").await.expect("w");
    loop {
        line.clear();
        io.read_line(&mut line).await.expect("ehlo");
        if line.as_bytes().get(3) == Some(&b' ') {
            break;
        }
    }
    io.get_mut()
        .write_all(format!("MAIL FROM:<{SENDER}> SIZE=999999\r\n").as_bytes())
        .await
        .expect("w");
    line.clear();
    io.read_line(&mut line).await.expect("reply");
    assert!(line.starts_with("552 5.3.4"), "{line}");
}

#[tokio::test]
async fn temporary_failures_then_success_on_retry() {
    let w = world().await;
    let pool = SmtpPool::new();
    let cfg = smtp(&w, SENDER, TlsMode::StartTls);
    w.h.fail_next(FaultStage::Mail, 451, "4.3.0 Temporary failure");
    w.h.fail_next(FaultStage::Rcpt, 450, "4.2.1 Mailbox busy");
    w.h.fail_next(FaultStage::Data, 452, "4.3.1 Insufficient storage");
    w.h.fail_next(FaultStage::DataEnd, 421, "4.4.5 Shutting down");
    for step in [Step::Mail, Step::Rcpt, Step::Data, Step::DataEnd] {
        let err = pool
            .send(&cfg, &env(CRIP, None), &ok_message("t"))
            .await
            .expect_err("temporary");
        assert!(
            matches!(&err, MailError::Rejected { step: s, .. } if *s == step),
            "{err}"
        );
        assert_eq!(err.retry_class(), RetryClass::Temporary, "{err}");
    }
    pool.send(&cfg, &env(CRIP, None), &ok_message("t"))
        .await
        .expect("retry succeeds");
    assert_eq!(w.h.messages(CRIP, "INBOX").len(), 1);
    // Cut in the middle of DATA: temporary, nothing stored, next attempt fine.
    w.h.disconnect_mid_data(1);
    let err = pool
        .send(&cfg, &env(CRIP, None), &ok_message("cut"))
        .await
        .expect_err("cut");
    assert_eq!(err.retry_class(), RetryClass::Temporary, "{err}");
    assert_eq!(w.h.messages(CRIP, "INBOX").len(), 1);
    pool.send(&cfg, &env(CRIP, None), &ok_message("after cut"))
        .await
        .expect("after cut");
    // Slow server + short timeout.
    w.h.set_latency(Duration::from_millis(400));
    let mut slow = smtp(&w, SENDER, TlsMode::Implicit);
    slow.timeouts.greeting = Duration::from_millis(100);
    let err = SmtpPool::new()
        .send(&slow, &env(CRIP, None), &ok_message("slow"))
        .await
        .expect_err("timeout");
    assert!(
        matches!(
            err,
            MailError::Timeout {
                step: Step::Greeting
            }
        ),
        "{err}"
    );
    assert_eq!(err.retry_class(), RetryClass::Temporary);
}

#[tokio::test]
async fn connections_are_reused_and_capped() {
    let w = world().await;
    let pool = SmtpPool::new();
    let mut cfg = smtp(&w, SENDER, TlsMode::Implicit);
    for i in 0..5 {
        let r = pool
            .send(&cfg, &env(CRIP, None), &ok_message(&format!("r{i}")))
            .await
            .expect("sent");
        assert_eq!(r.reused_connection, i > 0);
    }
    let s = pool.stats();
    assert_eq!(
        (s.connections_opened, s.transactions, s.reused_transactions),
        (1, 5, 4)
    );
    assert_eq!(w.h.stats().smtp_connections, 1);
    // ≤ max_transactions per connection.
    cfg.max_transactions = 2;
    let pool2 = SmtpPool::new();
    for i in 0..5 {
        pool2
            .send(&cfg, &env(CRIP, None), &ok_message(&format!("c{i}")))
            .await
            .expect("sent");
    }
    assert_eq!(pool2.stats().connections_opened, 3);
    // A stale pooled connection (421 on reuse) is retried once on a fresh one.
    let cfg = smtp(&w, SENDER, TlsMode::Implicit);
    w.h.fail_next(FaultStage::Mail, 421, "4.4.2 Idle too long");
    let r = pool
        .send(&cfg, &env(CRIP, None), &ok_message("stale"))
        .await
        .expect("retried");
    assert_eq!(r.retries.len(), 1);
    assert_eq!(r.retries[0].class, RetryClass::ReusedConnection);
    assert_eq!(pool.stats().connections_opened, 2);
    assert_eq!(pool.stats().reused_connection_retries, 1);
    // The operator drops the pooled connection: I/O error at RSET, retried on a fresh one.
    w.h.disconnect_next_command(1);
    let r = pool
        .send(&cfg, &env(CRIP, None), &ok_message("dropped"))
        .await
        .expect("retried");
    assert_eq!(r.retries.len(), 1);
    assert_eq!(r.retries[0].class, RetryClass::ReusedConnection);
    assert!(
        r.retries[0].error.contains("Rset"),
        "{}",
        r.retries[0].error
    );
    assert_eq!(pool.stats().connections_opened, 3);
    // A fresh connection failing is not retried.
    w.h.disconnect_next_command(1);
    let fresh = SmtpPool::new();
    assert!(
        fresh
            .send(&cfg, &env(CRIP, None), &ok_message("fresh"))
            .await
            .is_err()
    );
    assert_eq!(fresh.stats().reused_connection_retries, 0);
    // Idle connections are closed after the idle timeout.
    let mut short = cfg.clone();
    short.idle_timeout = Duration::from_millis(50);
    tokio::time::sleep(Duration::from_millis(80)).await;
    pool.send(&short, &env(CRIP, None), &ok_message("after idle"))
        .await
        .expect("sent");
    assert_eq!(
        pool.stats().connections_opened,
        4,
        "expired idle connection replaced"
    );
    pool.shutdown().await;
    assert_eq!(pool.idle_connections(), 0);
}

async fn fetch_all(w: &World, mailbox: &str) -> Vec<passerelle_mail::FetchedMessage> {
    let mut s = ImapSession::connect(&imap(w, mailbox, TlsMode::Implicit))
        .await
        .expect("imap");
    s.select_inbox().await.expect("select");
    let m = s.fetch_from(1).await.expect("fetch");
    s.logout().await.expect("logout");
    m
}

#[tokio::test]
async fn dsn_reaches_the_sender_mailbox_over_imap() {
    let w = world().await;
    let pool = SmtpPool::new();
    let cfg = smtp(&w, SENDER, TlsMode::StartTls);
    pool.send(&cfg, &env(CRIP, Some("delivery-42")), &ok_message("dsn"))
        .await
        .expect("sent");
    w.h.wait_for_messages(SENDER, "INBOX", 1, Duration::from_secs(2))
        .await;
    let got = fetch_all(&w, SENDER).await;
    assert_eq!(got.len(), 1);
    let dsn = String::from_utf8_lossy(&got[0].body);
    assert!(dsn.contains("report-type=delivery-status"), "{dsn}");
    assert!(dsn.contains("Original-Envelope-Id: delivery-42\r\n"));
    assert!(dsn.contains(&format!("Original-Recipient: rfc822;{CRIP}\r\n")));
    assert!(dsn.contains("Action: delivered\r\nStatus: 2.0.0"));
    assert!(
        dsn.contains("Content-Type: text/rfc822-headers"),
        "RET=HDRS"
    );
    assert!(
        !dsn.contains("qui commence par un point"),
        "no body with RET=HDRS"
    );
    // Accepted, then failed: a failed DSN.
    w.h.fail_after_accept(HUMAN);
    let mut e = env(HUMAN, Some("delivery-43"));
    e.dsn = Some(DsnRequest {
        ret: DsnRet::Full,
        envid: Some("delivery-43".into()),
        notify: DsnNotify {
            success: false,
            failure: true,
            delay: false,
        },
    });
    let msg = message(SENDER, HUMAN, "fail", "X-MSS-NIL: D\r\n", "corps");
    pool.send(&cfg, &e, &msg).await.expect("accepted at SMTP");
    let all =
        w.h.wait_for_messages(SENDER, "INBOX", 2, Duration::from_secs(2))
            .await;
    let failed = String::from_utf8_lossy(&all[1].bytes);
    assert!(
        failed.contains("Action: failed\r\nStatus: 5.1.1"),
        "{failed}"
    );
    assert!(
        failed.contains("message/rfc822") && failed.contains("corps"),
        "RET=FULL"
    );
    // NOTIFY=NEVER, no DSN advertised, or DSN suppressed: nothing comes back.
    let mut never = env(CRIP, None);
    never.dsn = Some(DsnRequest {
        ret: DsnRet::Hdrs,
        envid: None,
        notify: DsnNotify {
            success: false,
            failure: false,
            delay: false,
        },
    });
    pool.send(&cfg, &never, &ok_message("never"))
        .await
        .expect("sent");
    w.h.set_dsn_advertised(false);
    let r = SmtpPool::new()
        .send(&cfg, &env(CRIP, Some("x")), &ok_message("nodsn"))
        .await
        .expect("sent");
    assert!(!r.dsn_requested, "DSN parameters only when advertised");
    w.h.set_dsn_advertised(true);
    w.h.set_dsn_suppressed(true);
    pool.send(&cfg, &env(CRIP, Some("y")), &ok_message("suppressed"))
        .await
        .expect("sent");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(w.h.messages(SENDER, "INBOX").len(), 2);
    // Delayed DSN.
    w.h.set_dsn_suppressed(false);
    w.h.set_dsn_delay(Duration::from_millis(300));
    pool.send(&cfg, &env(CRIP, Some("z")), &ok_message("late"))
        .await
        .expect("sent");
    assert_eq!(w.h.messages(SENDER, "INBOX").len(), 2, "not yet");
    let late =
        w.h.wait_for_messages(SENDER, "INBOX", 3, Duration::from_secs(3))
            .await;
    assert_eq!(late.len(), 3);
}

#[tokio::test]
async fn mdn_when_configured() {
    let w = world().await;
    w.h.set_mailbox_kind(CRIP, MailboxKind::Integrator { error: None });
    let pool = SmtpPool::new();
    let cfg = smtp(&w, SENDER, TlsMode::Implicit);
    let dnt = format!("X-MSS-NIL: D\r\nDisposition-Notification-To: <{SENDER}>\r\n");
    let mut no_dsn = env(CRIP, None);
    no_dsn.dsn = None;
    pool.send(&cfg, &no_dsn, &message(SENDER, CRIP, "integre", &dnt, "x"))
        .await
        .expect("sent");
    let got =
        w.h.wait_for_messages(SENDER, "INBOX", 1, Duration::from_secs(2))
            .await;
    let mdn = String::from_utf8_lossy(&got[0].bytes);
    assert!(
        mdn.contains("report-type=disposition-notification"),
        "{mdn}"
    );
    assert!(mdn.contains("Disposition: automatic-action/MDN-sent-automatically; processed\r\n"));
    assert!(mdn.contains("Original-Message-ID: <m-integre@cd93.mssante.test>"));
    // Integration error 902 (ANS form).
    w.h.set_mailbox_kind(
        CRIP,
        MailboxKind::Integrator {
            error: Some((902, "Identifiant patient inconnu".into())),
        },
    );
    pool.send(&cfg, &no_dsn, &message(SENDER, CRIP, "inconnu", &dnt, "x"))
        .await
        .expect("sent");
    let got =
        w.h.wait_for_messages(SENDER, "INBOX", 2, Duration::from_secs(2))
            .await;
    let mdn = String::from_utf8_lossy(&got[1].bytes);
    assert!(
        mdn.contains("processed/Error: 902^Identifiant patient inconnu"),
        "{mdn}"
    );
    // Human mailbox: displayed, later.
    let mut to_human = env(HUMAN, None);
    to_human.dsn = None;
    pool.send(&cfg, &to_human, &message(SENDER, HUMAN, "lu", &dnt, "x"))
        .await
        .expect("sent");
    let got =
        w.h.wait_for_messages(SENDER, "INBOX", 3, Duration::from_secs(2))
            .await;
    let mdn = String::from_utf8_lossy(&got[2].bytes);
    assert!(
        mdn.contains("Disposition: manual-action/MDN-sent-manually; displayed"),
        "{mdn}"
    );
    // No Disposition-Notification-To: no MDN.
    pool.send(
        &cfg,
        &no_dsn,
        &message(SENDER, CRIP, "sans", "X-MSS-NIL: D\r\n", "x"),
    )
    .await
    .expect("sent");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(w.h.messages(SENDER, "INBOX").len(), 3);
    assert_eq!(w.h.stats().mdn_sent, 3);
}

#[tokio::test]
async fn imap_folders_fetch_move_idle_and_uidvalidity() {
    let w = world().await;
    for i in 0..3 {
        w.h.deliver(
            CRIP,
            "INBOX",
            format!("Subject: m{i}\r\nMessage-ID: <{i}@x>\r\n\r\nbody {i}\r\n").into_bytes(),
        );
    }
    let mut s = ImapSession::connect(&imap(&w, CRIP, TlsMode::StartTls))
        .await
        .expect("imap starttls");
    assert!(s.has_capability("IDLE") && s.has_capability("MOVE") && s.has_capability("UIDPLUS"));
    let created = s
        .ensure_folders(&[FOLDER_PROCESSED, FOLDER_QUARANTINE])
        .await
        .expect("folders");
    assert_eq!(created.len(), 2);
    assert_eq!(s.delimiter(), Some("/"));
    assert!(
        s.ensure_folders(&[FOLDER_PROCESSED, FOLDER_QUARANTINE])
            .await
            .expect("again")
            .is_empty()
    );
    let st = s.select_inbox().await.expect("select");
    assert_eq!((st.exists, st.uid_next), (3, Some(4)));
    let msgs = s.fetch_from(2).await.expect("fetch");
    assert_eq!(msgs.iter().map(|m| m.uid).collect::<Vec<_>>(), vec![2, 3]);
    assert_eq!(
        msgs[0].body,
        b"Subject: m1\r\nMessage-ID: <1@x>\r\n\r\nbody 1\r\n".to_vec()
    );
    assert_eq!(msgs[0].size, Some(msgs[0].body.len() as u32));
    assert!(
        msgs[0].flags.is_empty(),
        "PEEK leaves \\Seen alone: {:?}",
        msgs[0].flags
    );
    // n:* with n beyond the last UID returns nothing (the client drops the last message RFC 3501 returns).
    assert!(s.fetch_from(10).await.expect("fetch").is_empty());
    assert_eq!(
        s.move_message(2, FOLDER_PROCESSED).await.expect("move"),
        MoveMethod::Move
    );
    assert_eq!(w.h.messages(CRIP, "Passerelle/Traites").len(), 1);
    assert_eq!(
        w.h.messages(CRIP, "INBOX")
            .iter()
            .map(|m| m.uid)
            .collect::<Vec<_>>(),
        vec![1, 3]
    );
    // Without MOVE: COPY + \Deleted + UID EXPUNGE.
    w.h.set_imap_extensions(false, true);
    let mut s2 = ImapSession::connect(&imap(&w, CRIP, TlsMode::Implicit))
        .await
        .expect("imap");
    s2.ensure_folders(&[FOLDER_QUARANTINE])
        .await
        .expect("folders");
    s2.select_inbox().await.expect("select");
    assert_eq!(
        s2.move_message(3, FOLDER_QUARANTINE).await.expect("copy"),
        MoveMethod::CopyExpunge
    );
    assert_eq!(w.h.messages(CRIP, "Passerelle/Quarantaine").len(), 1);
    assert_eq!(w.h.messages(CRIP, "INBOX").len(), 1);
    s2.logout().await.expect("logout");
    // IDLE wakes up on new mail (NOOP first absorbs the expunge made by the other session).
    s.noop().await.expect("noop");
    let h = w.h.clone();
    let deliverer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        h.deliver(CRIP, "INBOX", b"Subject: new\r\n\r\nx\r\n".to_vec());
    });
    let (mut s, outcome) = s.idle(Duration::from_secs(3)).await.expect("idle");
    deliverer.await.expect("task");
    assert_eq!(outcome, IdleOutcome::Changed);
    let new = s.fetch_from(4).await.expect("fetch");
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].uid, 4);
    let (s, outcome) = s.idle(Duration::from_millis(200)).await.expect("idle");
    assert_eq!(outcome, IdleOutcome::TimedOut);
    s.logout().await.expect("logout");
    // UIDVALIDITY change (renumbered) is reported on the next SELECT.
    assert!(w.h.set_uid_validity(CRIP, "INBOX", 77, true));
    let mut s = ImapSession::connect(&imap(&w, CRIP, TlsMode::Implicit))
        .await
        .expect("imap");
    let st2 = s.select_inbox().await.expect("select");
    assert_eq!(st2.uid_validity, 77);
    assert_ne!(st.uid_validity, 77);
    assert_eq!(s.uid_search_all().await.expect("search"), vec![1, 2]);
    // Re-listing without bodies, then one message by UID.
    let listed = s.list_from(1).await.expect("list");
    assert_eq!(listed.iter().map(|m| m.uid).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(
        listed[0].header,
        b"Subject: m0\r\nMessage-ID: <0@x>\r\n\r\n".to_vec()
    );
    assert_eq!(
        listed[0].size,
        Some(b"Subject: m0\r\nMessage-ID: <0@x>\r\n\r\nbody 0\r\n".len() as u32)
    );
    let one = s.fetch_uid(2).await.expect("fetch uid").expect("present");
    assert_eq!(one.body, b"Subject: new\r\n\r\nx\r\n".to_vec());
    assert!(s.fetch_uid(9).await.expect("fetch uid").is_none());
    s.logout().await.expect("logout");
}

#[tokio::test]
async fn imap_auth_rules() {
    let w = world().await;
    // LOGIN for a mailbox configured with a password.
    let mut cfg = imap(&w, MECS, TlsMode::Implicit);
    cfg.auth = ImapAuth::Login {
        user: MECS.into(),
        password: "secret".into(),
    };
    let s = ImapSession::connect(&cfg).await.expect("login");
    s.logout().await.expect("logout");
    cfg.auth = ImapAuth::Login {
        user: MECS.into(),
        password: "wrong".into(),
    };
    assert!(ImapSession::connect(&cfg).await.is_err());
    // EXTERNAL with a certificate for a mailbox the operator does not host.
    let stranger = "inconnu@cd93.mssante.test";
    let id = w.pki.mailbox_client(stranger).expect("cert");
    let mut cfg = imap(&w, stranger, TlsMode::Implicit);
    cfg.tls = passerelle_mail::tls::client_config_from_pem(
        w.pki.ca_bundle_pem().as_bytes(),
        id.chain_pem.as_bytes(),
        id.key_pem.as_bytes(),
    )
    .expect("tls");
    assert!(ImapSession::connect(&cfg).await.is_err());
    // No client certificate: refused at TLS.
    let mut cfg = imap(&w, CRIP, TlsMode::Implicit);
    cfg.tls = passerelle_mail::tls::client_config_without_cert(w.pki.ca_bundle_pem().as_bytes())
        .expect("tls");
    assert!(ImapSession::connect(&cfg).await.is_err());
}

#[tokio::test]
async fn record_mode_accepts_and_records_violations() {
    let w = world().await;
    w.h.set_strict(false);
    SmtpPool::new()
        .send(
            &smtp(&w, SENDER, TlsMode::Implicit),
            &env(CRIP, None),
            &message(SENDER, CRIP, "r", "", "x"),
        )
        .await
        .expect("accepted in record mode");
    let v = w.h.violations();
    assert_eq!(v.len(), 1);
    assert!(v[0].contains("X-MSS-NIL"));
}

#[tokio::test]
async fn benchmark_helper_runs() {
    let r = passerelle_sim_mail::bench::run(10 * 1024, 20, 2)
        .await
        .expect("bench");
    assert_eq!(r.messages, 20);
    assert!(r.messages_per_second > 0.0);
    assert!(r.message_bytes >= 10 * 1024 - 100);
    assert_eq!(
        r.connections_opened, 0,
        "warm pool: no new connection for 20 messages"
    );
}

#[tokio::test]
async fn greeting_421_and_dsn_variants() {
    let w = world().await;
    w.h.fail_next(FaultStage::Greeting, 421, "4.3.2 Service not available");
    let cfg = smtp(&w, SENDER, TlsMode::StartTls);
    let err = SmtpPool::new()
        .send(&cfg, &env(CRIP, None), &ok_message("g"))
        .await
        .expect_err("421");
    assert!(
        matches!(&err, MailError::Rejected { step: Step::Greeting, reply } if reply.code == 421),
        "{err}"
    );
    assert_eq!(err.retry_class(), RetryClass::Temporary);
    // relayed + duplicated + delayed-first.
    w.h.set_dsn_success_action(Some(passerelle_sim_mail::reports::DsnAction::Relayed));
    w.h.set_dsn_duplicated(true);
    w.h.set_dsn_delayed_first(true);
    SmtpPool::new()
        .send(&cfg, &env(CRIP, Some("v1")), &ok_message("v"))
        .await
        .expect("sent");
    let got =
        w.h.wait_for_messages(SENDER, "INBOX", 3, Duration::from_secs(2))
            .await;
    assert_eq!(got.len(), 3);
    let texts: Vec<String> = got
        .iter()
        .map(|m| String::from_utf8_lossy(&m.bytes).into_owned())
        .collect();
    assert!(
        texts[0].contains("Action: delayed\r\nStatus: 4.4.1"),
        "{}",
        texts[0]
    );
    assert!(texts[1].contains("Action: relayed"));
    assert_eq!(texts[1], texts[2], "duplicate DSN");
}

/// A message that arrives after the FETCH of a pass but before IDLE is announced by the server in
/// the response to the next command (here the MOVE of the pass), once per session (RFC 3501
/// §7.3.1): IDLE must not then wait for a further change that may never come.
#[tokio::test]
async fn a_message_announced_before_idle_is_not_lost() {
    let w = world().await;
    w.h.deliver(CRIP, "INBOX", b"Subject: a\r\n\r\na\r\n".to_vec());
    let mut s = ImapSession::connect(&imap(&w, CRIP, TlsMode::Implicit))
        .await
        .expect("imap");
    s.ensure_folders(&[FOLDER_PROCESSED])
        .await
        .expect("folders");
    s.select_inbox().await.expect("select");
    let first = s.fetch_from(1).await.expect("fetch");
    assert_eq!(first.len(), 1);
    // Delivered between the FETCH and the IDLE: the server reports `* 2 EXISTS` with the MOVE.
    w.h.deliver(CRIP, "INBOX", b"Subject: b\r\n\r\nb\r\n".to_vec());
    s.move_message(first[0].uid, FOLDER_PROCESSED)
        .await
        .expect("move");
    let started = std::time::Instant::now();
    let (mut s, outcome) = s.idle(Duration::from_secs(10)).await.expect("idle");
    assert_eq!(outcome, IdleOutcome::Changed);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "woken after {:?}",
        started.elapsed()
    );
    let next = s.fetch_from(1).await.expect("fetch");
    assert_eq!(next.len(), 1);
    // Once fetched, nothing is pending: IDLE waits again.
    let (s, outcome) = s.idle(Duration::from_millis(300)).await.expect("idle");
    assert_eq!(outcome, IdleOutcome::TimedOut);
    s.logout().await.expect("logout");
}
