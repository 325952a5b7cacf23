//! End to end through the embedded MSSanté operator: real SMTP with client certificates, DSN and
//! MDN read back over IMAP by the poller, faults injected in the operator.

use std::time::{Duration, Instant};

use passerelle_api::v1 as pb;
use passerelle_sim_mail::FaultStage;

use crate::common::*;

async fn wait_for(
    m: &SimEnv,
    tenant: &str,
    id: &str,
    want: pb::DeliveryStatus,
    secs: u64,
) -> pb::Transmission {
    let svc = m.gw.running.service.clone();
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let t = svc.get(&caller(tenant), id).await.expect("get");
        if t.deliveries.iter().all(|d| d.status == want as i32) {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "never reached {want:?}: {:?}",
            t.deliveries
                .iter()
                .map(|d| (
                    d.status,
                    d.last_error.clone(),
                    d.events
                        .iter()
                        .map(|e| e.detail.clone())
                        .collect::<Vec<_>>()
                ))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The first inbox item of `tenant` that `want` accepts, within 20 s (`what` names it on failure).
async fn wait_inbox_item(
    svc: &passerelle::service::Service,
    tenant: &str,
    what: &str,
    want: impl Fn(&pb::InboxItem) -> bool,
) -> pb::InboxItem {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let l = svc
            .inbox_list(&caller(tenant), pb::ListInboxRequest::default())
            .await
            .expect("inbox");
        if let Some(i) = l.items.into_iter().find(|i| want(i)) {
            return i;
        }
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ppe_reaches_the_mailbox_and_its_read_receipt_marks_it_read() {
    let m = start_sim_env(|_| {}).await;
    let svc = m.gw.running.service.clone();
    let req = example("02-ppe-lieu-accueil-et-referente.json");
    let t = submit(&svc, &req).await;
    let t = wait_for(&m, &req.tenant, &t.id, pb::DeliveryStatus::Read, 30).await;
    for d in &t.deliveries {
        let path: Vec<i32> = d.events.iter().map(|e| e.to).collect();
        for s in [
            pb::DeliveryStatus::InFlight,
            pb::DeliveryStatus::Sent,
            pb::DeliveryStatus::Delivered,
            pb::DeliveryStatus::Read,
        ] {
            assert!(path.contains(&(s as i32)), "{s:?} missing from {path:?}");
        }
        assert!(!d.message_id.is_empty());
    }
    // The recipient's mailbox holds the message byte for byte as stored at Submit.
    let msgs = m
        .sims
        .operator
        .handle()
        .messages("claire.martin@cd93.mssante.test", "INBOX");
    assert_eq!(msgs.len(), 1);
    let body = String::from_utf8_lossy(&msgs[0].bytes);
    assert!(
        body.contains("X-MSS-NIL:")
            && body.contains("IHE_XDM.zip")
            && body.contains("Disposition-Notification-To:"),
        "{body:.600}"
    );
    m.gw.running.stop().await;
}

/// `mssante.imap_idle = false` (or an operator without IDLE): the poller reads the mailbox every
/// period instead, and DSN then MDN still arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_without_idle_tracks_the_delivery_to_read() {
    let m = start_sim_env_with(
        |c| c.mssante.imap_idle = false,
        |o| o.poll_every = Duration::from_millis(300),
    )
    .await;
    let svc = m.gw.running.service.clone();
    let req = example("02-ppe-lieu-accueil-et-referente.json");
    let t = submit(&svc, &req).await;
    wait_for(&m, &req.tenant, &t.id, pb::DeliveryStatus::Read, 30).await;
    m.gw.running.stop().await;
}

/// A real configuration (not the sandbox's wiring): `configure` names the operator from its
/// listeners; what `serve --config` builds from that sends and polls the tenants' APP mailboxes
/// until a PPE is read.
async fn a_configured_operator_carries_a_ppe(
    configure: impl FnOnce(
        &mut passerelle::config::Config,
        passerelle_sim_mail::OperatorAddrs,
    ) -> Option<passerelle_sim_mail::dns::DnsZone>,
) {
    let (mut cfg, dir) = sandbox_config(|_| {});
    let (sims, _sandbox_wiring) = passerelle::sandbox::start_sims(&mut cfg)
        .await
        .expect("sims");
    let _zone = configure(&mut cfg, sims.operator.addrs);
    // What `serve --config` does (the sandbox's own wiring is off).
    cfg.server.sandbox_tenant = None;
    let (none, mut opts) = passerelle::sandbox::wiring(&mut cfg).await.expect("wiring");
    assert!(
        none.is_none(),
        "no embedded simulators for a real configuration"
    );
    assert!(opts.mssante.is_some(), "the configured operator is wired");
    assert_eq!(
        opts.mailboxes.len(),
        cfg.tenants.len(),
        "each tenant's APP mailbox is polled"
    );
    opts.poll_every = Duration::from_millis(300);
    let running = passerelle::app::start(cfg, opts).await.expect("start");
    let m = SimEnv {
        gw: Gw { running, _dir: dir },
        sims,
    };
    let svc = m.gw.running.service.clone();
    let req = example("02-ppe-lieu-accueil-et-referente.json");
    let t = submit(&svc, &req).await;
    wait_for(&m, &req.tenant, &t.id, pb::DeliveryStatus::Read, 30).await;
    m.gw.running.stop().await;
}

/// `[mssante.smtp]` and `[mssante.imap]`, both over STARTTLS here, through `addr` (the
/// certificate is still checked against `host`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_operator_sends_and_polls() {
    use passerelle::config::Endpoint;
    a_configured_operator_carries_a_ppe(|cfg, a| {
        cfg.mssante.smtp = Some(Endpoint {
            host: "smtp.mssante.test".into(),
            port: 587,
            tls: "starttls".into(),
            addr: Some(a.smtp_starttls),
        });
        cfg.mssante.imap = Some(Endpoint {
            host: "smtp.mssante.test".into(),
            port: 143,
            tls: "starttls".into(),
            addr: Some(a.imap_starttls),
        });
        None
    })
    .await;
}

/// `mssante.discover`: the operator found by its DNS SRV records (RFC 6186), served here by a
/// zone on loopback (`mssante.dns_servers`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discovered_operator_sends_and_polls() {
    use passerelle_sim_mail::dns::{DnsZone, ZoneRecord};
    a_configured_operator_carries_a_ppe(|cfg, a| {
        let host = "smtp.mssante.test";
        let zone = DnsZone::start(vec![
            ZoneRecord::srv(
                "_submission._tcp.mssante.test",
                0,
                1,
                a.smtp_starttls.port(),
                host,
            )
            .expect("rr"),
            ZoneRecord::srv(
                "_imap._tcp.mssante.test",
                0,
                1,
                a.imap_starttls.port(),
                host,
            )
            .expect("rr"),
            ZoneRecord::a(host, std::net::Ipv4Addr::LOCALHOST).expect("rr"),
        ])
        .expect("zone");
        cfg.mssante.discover = Some("mssante.test".into());
        cfg.mssante.dns_servers = vec![zone.addr];
        Some(zone)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ip_report_reaches_the_crip_inbox() {
    let m = start_sim_env(|_| {}).await;
    let svc = m.gw.running.service.clone();
    let req = example("00-ip-medecin-cmp-crip.json");
    let t = submit(&svc, &req).await;
    wait_for(&m, &req.tenant, &t.id, pb::DeliveryStatus::Delivered, 30).await;
    let item = wait_inbox_item(&svc, "cd93", "the IP never reached the CRIP inbox", |i| {
        !i.documents.is_empty()
    })
    .await;
    assert_eq!(item.mailbox, "crip@cd93.mssante.test");
    assert!(
        item.patient_id.is_empty(),
        "lists never show the patient id"
    );
    let full = svc.inbox_get(&caller("cd93"), &item.id).await.expect("get");
    assert!(
        full.patient_id.contains("214069306600354"),
        "{}",
        full.patient_id
    );
    assert!(full.documents[0].data.starts_with(b"%PDF-"));
    assert!(!full.raw.is_empty());
    // Another tenant cannot see it.
    assert!(
        svc.inbox_get(&caller("mecs-tilleuls"), &item.id)
            .await
            .is_err()
    );
    let acked = svc
        .inbox_ack(&caller("cd93"), &item.id)
        .await
        .expect("ack")
        .item
        .expect("item");
    assert_eq!(acked.state, pb::InboxState::Acked as i32);
    // The CRIP's side answered the sender's read-receipt request (an ORG mailbox read with a
    // login: the receipt goes out under the tenant's APP certificate, which the operator checks).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let t = svc.get(&caller(&req.tenant), &t.id).await.expect("get");
        if t.deliveries.iter().all(|d| d.disposition == "processed") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no automatic read receipt came back: {:?}",
            t.deliveries
                .iter()
                .map(|d| (d.status, d.disposition.clone()))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    m.gw.running.stop().await;
}

/// A read receipt the operator refuses for now (451) is kept and sent again on a later pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_receipt_refused_for_now_is_sent_again() {
    let m = start_sim_env(|c| c.outbox.backoff_secs = vec![1]).await;
    let svc = m.gw.running.service.clone();
    let op = m.sims.operator.handle();
    let req = example("00-ip-medecin-cmp-crip.json");
    let t = submit(&svc, &req).await;
    wait_for(&m, &req.tenant, &t.id, pb::DeliveryStatus::Delivered, 30).await;
    let crip = "crip@cd93.mssante.test";
    let first = wait_inbox_item(&svc, "cd93", "the IP never reached the CRIP", |i| {
        !i.documents.is_empty()
    })
    .await;
    // The same message again under a new Message-ID, while the operator refuses the next MAIL.
    let raw = svc
        .inbox_get(&caller("cd93"), &first.id)
        .await
        .expect("get")
        .raw;
    let text = String::from_utf8(raw.to_vec()).expect("utf-8 message");
    let old_id = format!("<{}>", first.message_id);
    assert!(text.contains(&old_id));
    let again = text.replacen(&old_id, "<again-1@cmp-enfants.mssante.test>", 1);
    op.fail_next(FaultStage::Mail, 451, "4.3.0 try again later");
    op.deliver(crip, "INBOX", again.into_bytes());
    // The receipt of the copy reaches the sender's APP mailbox anyway (after the 1 s backoff).
    let sender = svc
        .cfg
        .tenant(&req.tenant)
        .expect("tenant")
        .app_mailbox
        .clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let receipts = ["INBOX", "Passerelle/Traites", "Passerelle/Quarantaine"]
            .iter()
            .flat_map(|f| op.messages(&sender, f))
            .filter(|msg| {
                let b = String::from_utf8_lossy(&msg.bytes);
                b.contains("disposition-notification") && b.contains("again-1@cmp-enfants")
            })
            .count();
        if receipts == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the refused receipt was never sent again ({receipts} found)"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    m.gw.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_failure_is_retried_then_delivered() {
    let m = start_sim_env(|c| c.outbox.backoff_secs = vec![1]).await;
    let op = m.sims.operator.handle();
    op.fail_next(FaultStage::Mail, 451, "4.3.0 try again later");
    let svc = m.gw.running.service.clone();
    let req = example("08-fiche-navette-educateur-ase.json");
    let t = submit(&svc, &req).await;
    // First attempt fails temporarily: the delivery goes back to the queue with a backoff.
    let deadline = Instant::now() + Duration::from_secs(20);
    let d = loop {
        let t2 = svc.get(&caller(&req.tenant), &t.id).await.expect("get");
        let d = t2.deliveries[0].clone();
        if d.attempts >= 1
            && d.status == pb::DeliveryStatus::Queued as i32
            && d.last_error.is_some()
        {
            break d;
        }
        assert!(
            Instant::now() < deadline,
            "no temporary failure recorded: {d:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(d.last_error.as_ref().expect("e").reason, "temporary");
    // Rendered by the first attempt (Submit acknowledged the request only), and kept.
    let rendered = svc.store.get_delivery(&d.id).expect("delivery").payloads;
    assert_eq!(
        rendered.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["message.eml", "FN-2026-0219.pdf"],
        "the message and the PDF rendered from the structured fiche navette"
    );
    // After the (short, in this test) backoff it is sent again and delivered.
    let t = wait_for(&m, &req.tenant, &t.id, pb::DeliveryStatus::Delivered, 30).await;
    assert!(t.deliveries[0].attempts >= 2);
    // The retry resent the bytes rendered for the first attempt (render once).
    let stored = svc.store.get_delivery(&d.id).expect("delivery");
    assert_eq!(stored.payloads, rendered);
    let bytes = svc.store.read_blob(&rendered[0].sha256).expect("message");
    let mid = stored.message_id.expect("message id");
    assert!(
        String::from_utf8_lossy(&bytes).contains(mid.trim_matches(['<', '>'])),
        "the delivered Message-ID {mid} is the stored message's"
    );
    m.gw.running.stop().await;
}

/// A 421 opens the operator's circuit breaker: the delivery that got it and every other MSSanté
/// delivery wait for the window without spending attempts, then go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_421_opens_the_breaker_and_nothing_is_sent_until_it_closes() {
    let m = start_sim_env(|c| {
        c.mssante.breaker_secs = vec![4];
        c.outbox.backoff_secs = vec![1];
    })
    .await;
    let op = m.sims.operator.handle();
    op.fail_next(
        FaultStage::Mail,
        421,
        "4.7.0 too many connections, try later",
    );
    let svc = m.gw.running.service.clone();
    let first = example("08-fiche-navette-educateur-ase.json");
    let t1 = submit(&svc, &first).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let d = svc
            .get(&caller(&first.tenant), &t1.id)
            .await
            .expect("get")
            .deliveries[0]
            .clone();
        if d.attempts >= 1 && d.status == pb::DeliveryStatus::Queued as i32 {
            break;
        }
        assert!(Instant::now() < deadline, "no 421 recorded: {d:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let tripped = Instant::now();
    // Submitted while the breaker is open: claimed by nobody, so no attempt is spent.
    let second = example("02-ppe-lieu-accueil-et-referente.json");
    let t2 = submit(&svc, &second).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    if tripped.elapsed() < Duration::from_secs(3) {
        let t = svc.get(&caller(&second.tenant), &t2.id).await.expect("get");
        for d in &t.deliveries {
            assert_eq!(d.status, pb::DeliveryStatus::Queued as i32, "{d:?}");
            assert_eq!(d.attempts, 0, "claimed while the breaker was open: {d:?}");
        }
        let t = svc.get(&caller(&first.tenant), &t1.id).await.expect("get");
        assert_eq!(t.deliveries[0].attempts, 1, "retried inside the window");
    }
    wait_for(&m, &first.tenant, &t1.id, pb::DeliveryStatus::Delivered, 30).await;
    wait_for(&m, &second.tenant, &t2.id, pb::DeliveryStatus::Read, 30).await;
    assert!(
        tripped.elapsed() >= Duration::from_secs(3),
        "delivered before the window closed"
    );
    let metrics = svc.metrics.encode();
    assert!(
        metrics.contains("passerelle_operator_breaker_trips_total 1"),
        "{metrics}"
    );
    m.gw.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_refusal_fails_with_the_reason() {
    let m = start_sim_env(|_| {}).await;
    m.sims
        .operator
        .handle()
        .fail_next(FaultStage::Rcpt, 550, "5.1.1 mailbox unavailable");
    let svc = m.gw.running.service.clone();
    let req = example("08-fiche-navette-educateur-ase.json");
    let t = submit(&svc, &req).await;
    let t = wait_for(&m, &req.tenant, &t.id, pb::DeliveryStatus::Failed, 30).await;
    let e = t.deliveries[0].last_error.clone().expect("error");
    assert_eq!(e.reason, "recipient_rejected");
    assert!(e.message.contains("mailbox unavailable"), "{e:?}");
    m.gw.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_dsn_within_the_timeout_expires_the_delivery() {
    let m = start_sim_env(|c| c.outbox.notification_timeout_secs = 1).await;
    m.sims.operator.handle().set_dsn_suppressed(true);
    let svc = m.gw.running.service.clone();
    let req = example("08-fiche-navette-educateur-ase.json");
    let t = submit(&svc, &req).await;
    let t = wait_for(&m, &req.tenant, &t.id, pb::DeliveryStatus::Expired, 30).await;
    let path: Vec<i32> = t.deliveries[0].events.iter().map(|e| e.to).collect();
    assert!(
        path.contains(&(pb::DeliveryStatus::Sent as i32)),
        "{path:?}"
    );
    m.gw.running.stop().await;
}

#[test]
fn the_operator_refuses_messages_that_break_the_rules() {
    let (cfg, _dir) = sandbox_config(|_| {});
    let req = example("02-ppe-lieu-accueil-et-referente.json");
    let now = time::OffsetDateTime::now_utc();
    let engine = passerelle::setup::engine(&cfg).expect("engine");
    let decision = engine.evaluate(&req, now, true, "d").expect("decision");
    let a = passerelle::pipeline::render_all(&cfg, &req, &decision, now, true).expect("render");
    let eml = a
        .files
        .iter()
        .find(|(p, _)| p.extension().is_some_and(|e| e == "eml"))
        .map(|(_, b)| b.clone())
        .expect("an .eml");
    assert_eq!(passerelle::sandbox::mssante_rules(&eml), Ok(()));
    let text = String::from_utf8(eml.clone()).expect("utf8");
    let no_ins = text.replacen("X-MSS-INS:", "X-Other:", 1);
    assert!(
        passerelle::sandbox::mssante_rules(no_ins.as_bytes())
            .is_err_and(|e| e.1.contains("MSS-X-MSS-CDA"))
    );
    let bare_lf = text.replacen("\r\n", "\n", 3);
    assert!(
        passerelle::sandbox::mssante_rules(bare_lf.as_bytes())
            .is_err_and(|e| e.1.contains("MSS-CRLF"))
    );
    let no_date = text.replacen("Date:", "X-Date:", 1);
    assert!(
        passerelle::sandbox::mssante_rules(no_date.as_bytes())
            .is_err_and(|e| e.1.contains("MSS-DATE"))
    );
}

/// With IDLE, mail is ingested as it arrives, not at the next poll: here the poll period is a
/// minute and a burst of messages (some landing while a pass is running, announced in the
/// response to its MOVE) must all be in the inbox within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_ingests_new_mail_well_before_the_poll_period() {
    let m = start_sim_env_with(
        |c| c.mssante.imap_idle = true,
        |o| o.poll_every = Duration::from_secs(60),
    )
    .await;
    let svc = m.gw.running.service.clone();
    let crip = "crip@cd93.mssante.test";
    let count = || {
        let svc = svc.clone();
        async move {
            svc.inbox_list(&caller("cd93"), pb::ListInboxRequest::default())
                .await
                .expect("inbox")
                .items
                .len()
        }
    };
    let plain = |i: usize| {
        format!(
            "From: <claire.martin@cd93.mssante.test>\r\nTo: <{crip}>\r\nSubject: m{i}\r\n\
             Message-ID: <idle-{i}@cd93.mssante.test>\r\nDate: Thu, 26 Nov 2026 00:00:00 +0000\r\n\
             \r\nbody {i}\r\n"
        )
        .into_bytes()
    };
    let wait_count = |want: usize, within: Duration| async move {
        let deadline = Instant::now() + within;
        loop {
            let n = count().await;
            if n >= want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{n} of {want} messages ingested after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    // The first pass is immediate; after it the poller is in IDLE.
    m.sims.operator.handle().deliver(crip, "INBOX", plain(0));
    wait_count(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = Instant::now();
    for i in 1..=20 {
        m.sims.operator.handle().deliver(crip, "INBOX", plain(i));
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    wait_count(21, Duration::from_secs(15)).await;
    eprintln!("burst ingested in {:?}", start.elapsed());
    assert!(m.sims.operator.handle().messages(crip, "INBOX").is_empty());
    m.gw.running.stop().await;
}

/// `mssante.after_ingest = "flag"`: processed mail stays in INBOX (a mailbox people read too),
/// marked with a keyword, and is not ingested again; a quarantined one gets its own keyword.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processed_mail_can_stay_in_inbox_marked_with_a_keyword() {
    let m = start_sim_env(|c| c.mssante.after_ingest = passerelle::config::AfterIngest::Flag).await;
    let svc = m.gw.running.service.clone();
    let op = m.sims.operator.handle();
    let crip = "crip@cd93.mssante.test";
    let msg = |i: usize, subject: &str| {
        format!(
            "From: <claire.martin@cd93.mssante.test>\r\nTo: <{crip}>\r\nSubject: {subject}\r\n\
             Message-ID: <flag-{i}@cd93.mssante.test>\r\nDate: Thu, 26 Nov 2026 00:00:00 +0000\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nbonjour {i}\r\n"
        )
        .into_bytes()
    };
    op.deliver(crip, "INBOX", msg(1, "m1"));
    // Announces an XDM archive it does not carry: quarantined (906).
    op.deliver(crip, "INBOX", msg(2, "XDM/1.0/DDM+Bilan X Y"));
    let marked = |kw: &str| {
        op.messages(crip, "INBOX")
            .iter()
            .filter(|msg| msg.flags.contains(kw))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while marked("$PasserelleTraite") + marked("$PasserelleQuarantaine") < 2 {
        assert!(Instant::now() < deadline, "never marked");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(marked("$PasserelleTraite"), 1);
    assert_eq!(marked("$PasserelleQuarantaine"), 1);
    assert_eq!(op.messages(crip, "INBOX").len(), 2, "both stay in INBOX");
    assert!(
        !op.folders(crip).iter().any(|f| f.starts_with("Passerelle")),
        "no folder created: {:?}",
        op.folders(crip)
    );
    // More passes (a new message wakes the poller): the marked ones are not read again.
    op.deliver(crip, "INBOX", msg(3, "m3"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while marked("$PasserelleTraite") < 2 {
        assert!(
            Instant::now() < deadline,
            "the third message was not marked"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let items = svc
        .inbox_list(&caller("cd93"), pb::ListInboxRequest::default())
        .await
        .expect("inbox")
        .items;
    assert_eq!(items.len(), 3, "each message recorded once: {items:?}");
    m.gw.running.stop().await;
}

/// A message over the 50 MiB limit is never fetched: recorded from its header, quarantined with
/// the reason, moved to the quarantine folder, counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_size_limit_is_quarantined_unread() {
    let m = start_sim_env(|_| {}).await;
    let svc = m.gw.running.service.clone();
    let crip = "crip@cd93.mssante.test";
    let mut big = format!(
        "From: <claire.martin@cd93.mssante.test>\r\nTo: <{crip}>\r\nSubject: trop gros\r\n\
         Message-ID: <big-1@cd93.mssante.test>\r\nDate: Thu, 26 Nov 2026 00:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n"
    )
    .into_bytes();
    let mut line = vec![b'a'; 998];
    line.extend_from_slice(b"\r\n");
    while big.len() <= 50 * 1024 * 1024 {
        big.extend_from_slice(&line);
    }
    m.sims.operator.handle().deliver(crip, "INBOX", big);
    let item = wait_inbox_item(&svc, "cd93", "never recorded", |_| true).await;
    assert_eq!(item.state, pb::InboxState::Quarantined as i32);
    assert!(
        item.quarantine_reason.contains("quarantined unread"),
        "{}",
        item.quarantine_reason
    );
    assert_eq!(item.subject, "trop gros");
    assert_eq!(item.message_id, "big-1@cd93.mssante.test");
    let full = svc.inbox_get(&caller("cd93"), &item.id).await.expect("get");
    assert!(full.raw.len() < 4096, "only the header is kept");
    let h = m.sims.operator.handle();
    assert!(h.messages(crip, "INBOX").is_empty());
    assert_eq!(h.messages(crip, "Passerelle/Quarantaine").len(), 1);
    let metrics = m.gw.running.service.metrics.encode();
    assert!(
        metrics.contains("passerelle_inbox_messages_total{outcome=\"quarantined\"} 1"),
        "{metrics}"
    );
    m.gw.running.stop().await;
}

/// Writes `mssante.crl` files for the sandbox PKI of `cfg`: the root's CRL and a servers CA CRL
/// listing `revoked` (server certificate names).
fn operator_crls(cfg: &mut passerelle::config::Config, revoked: &[&str]) {
    let dir = cfg.server.data_dir.join("pki");
    let pki = passerelle::sandbox::pki(&dir).expect("pki");
    let listed: Vec<&passerelle_certs::CertKey> = revoked
        .iter()
        .map(|n| pki.server(n).expect("server certificate"))
        .collect();
    let servers = passerelle_certs::crl_revoking(
        "servers",
        &pki.server_ca,
        &listed,
        time::OffsetDateTime::now_utc(),
        30,
    )
    .expect("crl");
    let servers_path = dir.join("operator-servers.crl");
    std::fs::write(&servers_path, &servers.der).expect("write crl");
    let root = pki.crl("root").expect("root crl");
    let root_path = dir.join("operator-root.crl.pem");
    std::fs::write(&root_path, &root.pem).expect("write crl");
    cfg.mssante.crl = vec![servers_path, root_path];
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_operator_certificate_refuses_the_connection() {
    // Current CRLs that list nothing: strict checking lets the operator through.
    let m = start_sim_env(|c| operator_crls(c, &[])).await;
    let svc = m.gw.running.service.clone();
    let req = example("08-fiche-navette-educateur-ase.json");
    let t = submit(&svc, &req).await;
    wait_for(&m, &req.tenant, &t.id, pb::DeliveryStatus::Delivered, 30).await;
    m.gw.running.stop().await;

    // The operator's server certificate revoked: no session, the delivery stays queued with a
    // reason naming the revocation.
    let m = start_sim_env(|c| operator_crls(c, &["smtp.mssante.test"])).await;
    let svc = m.gw.running.service.clone();
    let t = submit(&svc, &req).await;
    let d = first_error(&svc, &req.tenant, &t.id).await;
    let e = d.last_error.expect("error");
    assert_eq!(d.status, pb::DeliveryStatus::Queued as i32, "{e:?}");
    assert_eq!(e.reason, "configuration", "{e:?}");
    assert!(e.message.to_ascii_lowercase().contains("revoked"), "{e:?}");
    // A configuration fault: the operator's queue is held.
    assert!(svc.store.is_paused(&d.destination).expect("paused?"));
    m.gw.running.stop().await;
}

/// An SMTP 535 (our credentials refused) holds the operator's queue instead of spending each
/// delivery's attempts: the destination is paused, the delivery waits queued, and goes once an
/// administrator resumes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authentication_refusal_holds_the_operator_queue_until_resumed() {
    let m = start_sim_env(|c| {
        c.outbox.backoff_secs = vec![1];
        c.server.admin_tenants = vec!["cd93".into()];
    })
    .await;
    m.sims.operator.handle().fail_next(
        FaultStage::Mail,
        535,
        "5.7.8 Authentication credentials invalid",
    );
    let svc = m.gw.running.service.clone();
    let req = example("08-fiche-navette-educateur-ase.json");
    let t = submit(&svc, &req).await;
    let d = first_error(&svc, &req.tenant, &t.id).await;
    let e = d.last_error.clone().expect("error");
    assert_eq!(e.reason, "configuration", "{e:?}");
    assert!(e.remote_code.starts_with("535 5.7.8"), "{e:?}");
    let dest = d.destination.clone();
    assert!(
        svc.store.is_paused(&dest).expect("paused?"),
        "{dest} not held"
    );
    let holds = svc
        .metrics
        .operator_holds
        .get_or_create(&passerelle::metrics::DestinationLabels {
            destination: dest.clone(),
        })
        .get();
    assert_eq!(holds, 1);
    // Held: with a 1 s backoff it would have been retried (and delivered: the fault was one-shot).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let t2 = svc.get(&caller(&req.tenant), &t.id).await.expect("get");
    assert_eq!(t2.deliveries[0].status, pb::DeliveryStatus::Queued as i32);
    assert_eq!(t2.deliveries[0].attempts, 1);
    // Fixed: an administrator resumes the destination and the delivery goes.
    svc.set_paused(&caller("cd93"), &dest, false)
        .await
        .expect("resume");
    let t = wait_for(&m, &req.tenant, &t.id, pb::DeliveryStatus::Delivered, 30).await;
    assert_eq!(t.deliveries[0].attempts, 2);
    m.gw.running.stop().await;
}

/// The transmission's first delivery once an attempt has recorded an error (20 s at most).
async fn first_error(svc: &passerelle::service::Service, tenant: &str, id: &str) -> pb::Delivery {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let t = svc.get(&caller(tenant), id).await.expect("get");
        let d = t.deliveries[0].clone();
        if d.last_error.is_some() {
            return d;
        }
        assert!(Instant::now() < deadline, "no failure recorded: {d:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Submits `req` as its tenant and returns the acknowledged transmission.
async fn submit(svc: &passerelle::service::Service, req: &pb::SubmitRequest) -> pb::Transmission {
    svc.submit(&caller(&req.tenant), req.clone())
        .await
        .expect("submit")
        .transmission
        .expect("transmission")
}
