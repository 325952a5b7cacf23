use std::sync::Arc;
use std::time::Duration;

use passerelle_outbox::*;

use crate::common::*;

#[test]
fn submit_commits_everything_and_replays_by_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = open(dir.path());
    let t = transmission(
        &s,
        "tx1",
        "cd93",
        "k1",
        "body-a",
        &["mssante:a.test", "dmp"],
        at(0),
    );
    let out = s.submit(t.clone()).expect("submit");
    assert!(!out.replayed());
    let rec = out.record();
    assert_eq!(rec.deliveries.len(), 2);
    assert!(
        rec.deliveries
            .iter()
            .all(|d| d.state == DeliveryState::Queued)
    );
    assert_eq!(s.get_transmission("tx1").expect("get"), *rec);
    // One creation event per delivery.
    let ev = s.events_since("tx1", 0, 100).expect("events");
    assert_eq!(ev.len(), 2);
    assert!(
        ev.iter()
            .all(|e| e.from.is_none() && e.to == DeliveryState::Queued)
    );
    // Audit: caller's draft + one entry per delivery creation, hash-chained.
    let audit = s.audit_entries("cd93", 0, 100).expect("audit");
    assert_eq!(audit.len(), 3);
    assert!(audit.iter().any(|a| a.kind == "transmission.submitted"));

    // Same key, same body: the same transmission, nothing new.
    let mut again = t.clone();
    again.id = "tx1-bis".into();
    let out = s.submit(again).expect("replay");
    assert!(out.replayed());
    assert_eq!(out.record().id, "tx1");
    assert_eq!(s.audit_entries("cd93", 0, 100).expect("audit").len(), 3);
    assert!(matches!(
        s.get_transmission("tx1-bis"),
        Err(Error::NotFound { .. })
    ));

    // Same key, other body: a conflict that says so.
    let mut other = t.clone();
    other.id = "tx2".into();
    other.request_sha256 = Sha256::digest(b"body-b");
    let err = s.submit(other).expect_err("conflict");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.to_string().contains("different request body"), "{err}");
    assert!(matches!(err, Error::IdempotencyConflict { ref existing_id } if existing_id == "tx1"));

    // The key is per tenant.
    let mut t3 = t;
    t3.id = "tx3".into();
    t3.tenant = "cd75".into();
    for d in &mut t3.deliveries {
        d.id = format!("{}-cd75", d.id);
    }
    assert!(!s.submit(t3).expect("other tenant").replayed());
    assert!(s.audit_verify().expect("verify").ok());
}

#[test]
fn refusal_and_explain_store_only_audit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = open(dir.path());
    let drafts = vec![AuditDraft {
        kind: "transmission.refused".into(),
        actor: "sender-1".into(),
        summary: "deny CH-6".into(),
        data_sha256: Some(Sha256::digest(b"req")),
        ..AuditDraft::default()
    }];
    let entries = s.record_audit("cd93", drafts, at(0)).expect("audit");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].seq, 1);
    let page = s
        .list_transmissions(
            TransmissionFilter::default(),
            PageRequest {
                size: 10,
                token: None,
            },
        )
        .expect("list");
    assert!(page.items.is_empty());
    assert!(s.audit_verify().expect("verify").ok());
    // A submission without deliveries is refused by the store (refusals are audit-only).
    let mut t = transmission(&s, "tx", "cd93", "k", "b", &["dmp"], at(0));
    t.deliveries.clear();
    assert_eq!(
        s.submit(t).expect_err("no delivery").kind(),
        ErrorKind::Invalid
    );
}

#[test]
fn full_queue_refuses_with_retry_after_and_stores_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = StoreConfig {
        capacity: 3,
        capacity_per_destination: 2,
        queue_full_retry_after: Duration::from_secs(7),
        ..config()
    };
    let s = open_with(dir.path(), cfg);
    let t1 = transmission(
        &s,
        "tx1",
        "cd93",
        "k1",
        "a",
        &["dmp", "mssante:a.test"],
        at(0),
    );
    s.submit(t1).expect("fits");
    let before = s.audit_entries("cd93", 0, 100).expect("audit").len();

    // Store-wide capacity: 2 pending + 2 > 3.
    let t2 = transmission(
        &s,
        "tx2",
        "cd93",
        "k2",
        "b",
        &["mssante:b.test", "mssante:c.test"],
        at(1),
    );
    let err = s.submit(t2).expect_err("full");
    assert_eq!(err.kind(), ErrorKind::QueueFull);
    assert!(err.retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    assert!(matches!(
        s.get_transmission("tx2"),
        Err(Error::NotFound { .. })
    ));
    assert!(s.find_transmission("cd93", "k2").expect("find").is_none());
    assert_eq!(
        s.audit_entries("cd93", 0, 100).expect("audit").len(),
        before
    );
    assert!(s.events_since("tx2", 0, 10).expect("events").is_empty());

    // Per-destination capacity: make room in the store first, then fill dmp (1 + 1 + 1 > 2).
    let c = claim_one(&s, "mssante:a.test", at(2));
    s.complete_attempt(
        &c.delivery.id,
        c.lease_token,
        AttemptResult::Stored {
            message_id: "m".into(),
        },
        at(2),
    )
    .expect("done");
    let t3 = transmission(&s, "tx3", "cd93", "k3", "c", &["dmp"], at(2));
    s.submit(t3).expect("dmp now has 2");
    let t4 = transmission(&s, "tx4", "cd93", "k4", "d", &["dmp"], at(3));
    match s.submit(t4.clone()).expect_err("dmp full") {
        Error::QueueFull { scope, .. } => assert!(scope.contains("dmp"), "{scope}"),
        e => panic!("unexpected {e}"),
    }

    // Room comes back when deliveries leave the queue.
    let c = claim_one(&s, "dmp", at(4));
    s.complete_attempt(
        &c.delivery.id,
        c.lease_token,
        AttemptResult::Stored {
            message_id: "1.2.3".into(),
        },
        at(5),
    )
    .expect("stored");
    if let Err(e) = s.submit(t4) {
        panic!("fits again: {e}")
    }
}

#[test]
fn expired_lease_is_reclaimed_flagged_and_stale_token_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = open(dir.path());
    s.submit(transmission(
        &s,
        "tx",
        "cd93",
        "k",
        "a",
        &["mssante:a.test"],
        at(0),
    ))
    .expect("submit");
    let c1 = claim_one(&s, "mssante:a.test", at(1));
    assert_eq!(c1.delivery.state, DeliveryState::InFlight);
    assert_eq!(c1.delivery.attempts, 1);
    assert!(!c1.reclaimed && !c1.delivery.outcome_unknown);
    // Under a live lease nobody else gets it.
    let none = s
        .claim(ClaimScope::AnyUnpaused, at(30), 10, "w2", lease())
        .expect("claim");
    assert!(none.is_empty());
    // Renewing a live lease works; the worker then crashes.
    let until = s
        .renew_lease(&c1.delivery.id, c1.lease_token, at(30), lease())
        .expect("renew");
    assert_eq!(until, at(90));
    assert!(
        s.claim(ClaimScope::AnyUnpaused, at(89), 10, "w2", lease())
            .expect("claim")
            .is_empty()
    );
    let c2 = s
        .claim(ClaimScope::AnyUnpaused, at(90), 10, "w2", lease())
        .expect("reclaim")
        .pop()
        .expect("one reclaimed");
    assert!(c2.reclaimed);
    assert!(c2.delivery.outcome_unknown);
    assert_eq!(c2.delivery.attempts, 2);
    assert_ne!(c2.lease_token, c1.lease_token);
    assert_eq!(
        c2.delivery.lease.as_ref().map(|l| l.owner.as_str()),
        Some("w2")
    );
    // The first worker comes back: its token is stale.
    let err = s
        .complete_attempt(
            &c1.delivery.id,
            c1.lease_token,
            AttemptResult::Sent {
                message_id: "m1".into(),
                notify_by: None,
            },
            at(91),
        )
        .expect_err("stale");
    assert_eq!(err.kind(), ErrorKind::LeaseLost);
    assert!(
        s.renew_lease(&c1.delivery.id, c1.lease_token, at(91), lease())
            .is_err()
    );
    let d = s
        .complete_attempt(
            &c2.delivery.id,
            c2.lease_token,
            AttemptResult::Sent {
                message_id: "m1".into(),
                notify_by: Some(at(3600)),
            },
            at(92),
        )
        .expect("current token");
    assert_eq!(d.state, DeliveryState::Sent);
    assert!(d.outcome_unknown, "the flag stays: a duplicate may exist");
    assert_eq!(d.message_id.as_deref(), Some("m1"));
    // Once sent, even the current token is spent.
    assert!(
        s.complete_attempt(
            &c2.delivery.id,
            c2.lease_token,
            AttemptResult::Released,
            at(93)
        )
        .is_err()
    );
    // No DSN within the timeout: expired by the sweep.
    let r = s.sweep(at(3600), 100).expect("sweep");
    assert_eq!(r.expired_unnotified, 1);
    assert_eq!(
        s.get_delivery(&d.id).expect("get").state,
        DeliveryState::Expired
    );
}

#[test]
fn temporary_failures_back_off_and_expire_then_operator_retries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = StoreConfig {
        max_attempts: 3,
        ..config()
    };
    let s = open_with(dir.path(), cfg.clone());
    s.submit(transmission(
        &s,
        "tx",
        "cd93",
        "k",
        "a",
        &["mssante:a.test"],
        at(0),
    ))
    .expect("submit");
    let c = claim_one(&s, "mssante:a.test", at(0));
    let d = s
        .complete_attempt(
            &c.delivery.id,
            c.lease_token,
            AttemptResult::TemporaryFailure {
                error: temp_error(),
                retry_after: None,
            },
            at(1),
        )
        .expect("temp");
    assert_eq!(d.state, DeliveryState::Queued);
    assert_eq!(d.attempts, 1);
    let next = d.next_attempt_at.expect("scheduled");
    let delay = (next - at(1)).whole_seconds();
    assert!((48..=72).contains(&delay), "1 min ± 20 %: {delay}s");
    assert_eq!(
        d.last_error.as_ref().map(|e| e.reason.as_str()),
        Some("smtp_4.4.1")
    );
    // Not due before its time.
    assert!(
        s.claim(
            ClaimScope::Destination("mssante:a.test".into()),
            next - time::Duration::seconds(1),
            5,
            "w",
            lease()
        )
        .expect("claim")
        .is_empty()
    );
    let mut now = next;
    for attempt in 2..=3u32 {
        let c = claim_one(&s, "mssante:a.test", now);
        assert_eq!(c.delivery.attempts, attempt);
        let d = s
            .complete_attempt(
                &c.delivery.id,
                c.lease_token,
                AttemptResult::TemporaryFailure {
                    error: temp_error(),
                    retry_after: Some(Duration::from_secs(10)),
                },
                now,
            )
            .expect("temp");
        if attempt < 3 {
            assert_eq!(d.state, DeliveryState::Queued);
            assert_eq!(d.next_attempt_at, Some(now + time::Duration::seconds(10)));
            now += time::Duration::seconds(10);
        } else {
            assert_eq!(d.state, DeliveryState::Expired, "attempts are bounded");
            assert!(d.attempts <= cfg.max_attempts);
        }
    }
    // Final: nothing to claim, cancel refused.
    assert!(
        s.claim(
            ClaimScope::AnyUnpaused,
            now + time::Duration::hours(2),
            5,
            "w",
            lease()
        )
        .expect("claim")
        .is_empty()
    );
    assert_eq!(
        s.cancel("tx", Some("tx-d0"), "x", "op", now)
            .expect_err("final")
            .kind(),
        ErrorKind::InvalidState
    );
    // Operator retry: queued again, attempts reset, new window.
    let later = now + time::Duration::hours(30);
    let d = s.retry("tx-d0", "op", later).expect("retry");
    assert_eq!(d.state, DeliveryState::Queued);
    assert_eq!(d.attempts, 0);
    assert_eq!(d.expires_at, later + time::Duration::hours(24));
    assert_eq!(
        s.retry("tx-d0", "op", later).expect_err("queued").kind(),
        ErrorKind::InvalidState
    );
    // The retry window: a delivery not sent within it expires.
    let r = s
        .sweep(later + time::Duration::hours(24), 10)
        .expect("sweep");
    assert_eq!(r.expired_unsent, 1);
    assert_eq!(
        s.retry_all(
            DeliveryFilter {
                state: Some(DeliveryState::Expired),
                ..DeliveryFilter::default()
            },
            "op",
            later + time::Duration::hours(25)
        )
        .expect("retry all"),
        1
    );
    assert!(
        s.retry_all(
            DeliveryFilter {
                state: Some(DeliveryState::Sent),
                ..DeliveryFilter::default()
            },
            "op",
            later
        )
        .is_err()
    );
    assert!(s.audit_verify().expect("verify").ok());
}

#[test]
fn destinations_are_isolated_and_pause_is_persisted() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let s = open(dir.path());
        for i in 0..5 {
            s.submit(transmission(
                &s,
                &format!("tx{i}"),
                "cd93",
                &format!("k{i}"),
                &format!("b{i}"),
                &["dmp", "mssante:a.test"],
                at(i),
            ))
            .expect("submit");
        }
        s.pause("dmp", "op", at(10)).expect("pause");
        assert!(s.is_paused("dmp").expect("paused"));
    }
    let s = open(dir.path());
    assert!(s.is_paused("dmp").expect("still paused after restart"));
    assert_eq!(
        s.paused_destinations().expect("list"),
        vec!["dmp".to_string()]
    );
    let got = s
        .claim(ClaimScope::AnyUnpaused, at(20), 100, "w", lease())
        .expect("claim");
    assert_eq!(got.len(), 5);
    assert!(
        got.iter()
            .all(|c| c.delivery.destination == "mssante:a.test")
    );
    assert!(
        s.claim(
            ClaimScope::Destination("dmp".into()),
            at(20),
            100,
            "w",
            lease()
        )
        .expect("claim")
        .is_empty()
    );
    let stats = s.destination_stats(at(25)).expect("stats");
    let dmp = stats
        .iter()
        .find(|x| x.destination == "dmp")
        .expect("dmp stats");
    assert!(dmp.paused);
    assert_eq!(dmp.queued, 5);
    assert_eq!(dmp.oldest_pending_age, Some(Duration::from_secs(25)));
    let mss = stats
        .iter()
        .find(|x| x.destination == "mssante:a.test")
        .expect("mss stats");
    assert_eq!((mss.queued, mss.in_flight), (0, 5));
    s.resume("dmp", "op", at(30)).expect("resume");
    // Fair share between destinations with due work: a limit of 2 over one destination.
    let got = s
        .claim(ClaimScope::AnyUnpaused, at(31), 2, "w", lease())
        .expect("claim");
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|c| c.delivery.destination == "dmp"));
    let audit = s
        .audit_entries(passerelle_outbox::sqlite::SYSTEM_TENANT, 0, 10)
        .expect("audit");
    assert_eq!(
        audit.iter().map(|a| a.kind.as_str()).collect::<Vec<_>>(),
        vec!["destination.paused", "destination.resumed"]
    );
}

#[test]
fn notifications_respect_finality_and_read_receipts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = open(dir.path());
    let mut t = transmission(
        &s,
        "tx",
        "cd93",
        "k",
        "a",
        &["mssante:a.test", "mssante:b.test", "mssante:c.test"],
        at(0),
    );
    t.deliveries[1].read_receipt_expected = true;
    s.submit(t).expect("submit");
    let claimed = s
        .claim(ClaimScope::AnyUnpaused, at(1), 10, "w", lease())
        .expect("claim");
    assert_eq!(claimed.len(), 3);
    for c in &claimed {
        s.complete_attempt(
            &c.delivery.id,
            c.lease_token,
            AttemptResult::Sent {
                message_id: format!("<{}@x>", c.delivery.id),
                notify_by: Some(at(3600)),
            },
            at(2),
        )
        .expect("sent");
    }
    // No read receipt expected: delivered is final; a later MDN is late.
    let r = s
        .apply_notice(
            "tx-d0",
            DeliveryNotice::Delivered {
                detail: "2.0.0".into(),
            },
            at(10),
        )
        .expect("dsn");
    assert!(
        matches!(r, NoticeOutcome::Applied(ref d) if d.state == DeliveryState::Delivered && d.is_final_for_watch(at(10)))
    );
    let r = s
        .apply_notice(
            "tx-d0",
            DeliveryNotice::Read {
                detail: "displayed".into(),
            },
            at(20),
        )
        .expect("mdn");
    assert!(matches!(r, NoticeOutcome::Late(ref d) if d.state == DeliveryState::Delivered));
    // Read receipt expected: delivered is not final until the MDN or its window.
    let r = s
        .apply_notice(
            "tx-d1",
            DeliveryNotice::Delivered {
                detail: "2.0.0".into(),
            },
            at(10),
        )
        .expect("dsn");
    let NoticeOutcome::Applied(d1) = r else {
        panic!("applied")
    };
    assert!(!d1.is_final_for_watch(at(11)));
    assert!(d1.is_final_for_watch(d1.mdn_by.expect("window")));
    let r = s
        .apply_notice(
            "tx-d1",
            DeliveryNotice::Disposition {
                disposition: "deleted".into(),
                detail: String::new(),
            },
            at(11),
        )
        .expect("mdn deleted");
    assert!(
        matches!(r, NoticeOutcome::Recorded(ref d) if d.state == DeliveryState::Delivered && d.disposition.as_deref() == Some("deleted"))
    );
    let r = s
        .apply_notice(
            "tx-d1",
            DeliveryNotice::Read {
                detail: "displayed".into(),
            },
            at(12),
        )
        .expect("mdn");
    assert!(matches!(r, NoticeOutcome::Applied(ref d) if d.state == DeliveryState::Read));
    // DSN failure then a late success: stays failed.
    s.apply_notice(
        "tx-d2",
        DeliveryNotice::Failed {
            error: perm_error(),
        },
        at(10),
    )
    .expect("dsn fail");
    let r = s
        .apply_notice(
            "tx-d2",
            DeliveryNotice::Delivered {
                detail: "2.0.0".into(),
            },
            at(11),
        )
        .expect("late");
    assert!(matches!(r, NoticeOutcome::Late(ref d) if d.state == DeliveryState::Failed));
    let ev = s.events_since("tx", 0, 100).expect("events");
    let late: Vec<_> = ev.iter().filter(|e| e.late).collect();
    assert_eq!(late.len(), 2);
    assert!(ev.windows(2).all(|w| w[0].seq < w[1].seq));
    let after = ev[3].seq;
    assert_eq!(
        s.events_since("tx", after, 100).expect("events").len(),
        ev.len() - 4
    );
    assert!(s.get_transmission("tx").expect("get").all_final(at(13)));
    // The notification timeout no longer applies to notified deliveries.
    assert_eq!(
        s.sweep(at(7200), 10).expect("sweep"),
        SweepReport::default()
    );
    assert!(s.audit_verify().expect("verify").ok());
}

#[test]
fn cancel_queued_or_abandoned_never_live_in_flight() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = open(dir.path());
    s.submit(transmission(
        &s,
        "tx",
        "cd93",
        "k",
        "a",
        &["dmp", "mssante:a.test", "mssante:b.test"],
        at(0),
    ))
    .expect("submit");
    let c = claim_one(&s, "dmp", at(1));
    let err = s
        .cancel("tx", Some(&c.delivery.id), "changed mind", "dui", at(2))
        .expect_err("live lease");
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    let t = s
        .cancel("tx", Some("tx-d1"), "changed mind", "dui", at(2))
        .expect("queued");
    assert_eq!(t.deliveries[1].state, DeliveryState::Cancelled);
    assert_eq!(t.deliveries[0].state, DeliveryState::InFlight);
    // Whole transmission, after the worker's lease expired.
    let t = s
        .cancel("tx", None, "changed mind", "dui", at(100))
        .expect("all");
    assert!(
        t.deliveries
            .iter()
            .all(|d| d.state == DeliveryState::Cancelled)
    );
    assert!(t.deliveries[0].outcome_unknown);
    assert!(
        s.complete_attempt(
            &c.delivery.id,
            c.lease_token,
            AttemptResult::Stored {
                message_id: "x".into()
            },
            at(101)
        )
        .is_err()
    );
    assert!(matches!(
        s.cancel("nope", None, "r", "a", at(1)),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn prune_keeps_shared_payloads_until_last_reference_and_keeps_metadata() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = open(dir.path());
    let t1 = transmission(&s, "tx1", "cd93", "k1", "a", &["dmp"], at(0));
    let t2 = transmission(&s, "tx2", "cd93", "k2", "b", &["dmp"], at(0));
    let own1 = t1.deliveries[0].payloads[0].sha256;
    let shared = t1.deliveries[0].payloads[1].sha256;
    assert_eq!(shared, t2.deliveries[0].payloads[1].sha256);
    s.submit(t1).expect("t1");
    s.submit(t2).expect("t2");
    let c = claim_one(&s, "dmp", at(1));
    assert_eq!(c.delivery.id, "tx1-d0");
    s.complete_attempt(
        &c.delivery.id,
        c.lease_token,
        AttemptResult::PermanentFailure {
            error: perm_error(),
        },
        at(2),
    )
    .expect("fail");
    let retention = Duration::from_secs(3600);
    assert_eq!(
        s.prune(at(3000), retention, 100)
            .expect("prune")
            .transmissions,
        0,
        "retention not over"
    );
    let r = s.prune(at(3602), retention, 100).expect("prune");
    assert_eq!(r.transmissions, 1);
    assert_eq!(r.blobs_deleted, 1, "only tx1's own payload");
    assert!(matches!(s.read_blob(&own1), Err(Error::BlobMissing { .. })));
    assert!(s.read_blob(&shared).is_ok(), "still referenced by tx2");
    let t = s.get_transmission("tx1").expect("metadata kept");
    assert!(t.payloads_pruned);
    assert_eq!(t.deliveries[0].state, DeliveryState::Failed);
    assert_eq!(
        s.retry("tx1-d0", "op", at(3700))
            .expect_err("pruned")
            .kind(),
        ErrorKind::InvalidState
    );
    assert_eq!(
        s.prune(at(3700), retention, 100)
            .expect("prune again")
            .transmissions,
        0
    );
    // tx2 ends; its prune drops the last reference of the shared payload.
    let c = claim_one(&s, "dmp", at(3700));
    s.complete_attempt(
        &c.delivery.id,
        c.lease_token,
        AttemptResult::Stored {
            message_id: "1.2".into(),
        },
        at(3701),
    )
    .expect("stored");
    let r = s.prune(at(8000), retention, 100).expect("prune");
    assert_eq!(r.transmissions, 1);
    assert_eq!(r.blobs_deleted, 2);
    assert!(matches!(
        s.read_blob(&shared),
        Err(Error::BlobMissing { .. })
    ));
    // A new submission re-using the content writes it again and is accepted.
    s.submit(transmission(
        &s,
        "tx3",
        "cd93",
        "k3",
        "c",
        &["dmp"],
        at(9000),
    ))
    .expect("t3");
    assert!(s.read_blob(&shared).is_ok());
    assert!(s.audit_verify().expect("verify").ok());
}

#[test]
fn submission_referencing_a_missing_payload_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = open(dir.path());
    let mut t = transmission(&s, "tx", "cd93", "k", "a", &["dmp"], at(0));
    t.deliveries[0].payloads.push(PayloadRef {
        name: "x".into(),
        sha256: Sha256::digest(b"never written"),
        size: 13,
    });
    let err = s.submit(t).expect_err("missing");
    assert!(matches!(err, Error::BlobMissing { .. }));
    assert!(matches!(
        s.get_transmission("tx"),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn listing_is_filtered_and_paginated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = open(dir.path());
    for i in 0..7 {
        let mut t = transmission(
            &s,
            &format!("tx{i}"),
            if i % 2 == 0 { "cd93" } else { "cd75" },
            &format!("k{i}"),
            &format!("b{i}"),
            &["dmp"],
            at(i),
        );
        t.child_ref = format!("DUI-{}", i % 3);
        s.submit(t).expect("submit");
    }
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let p = s
            .list_transmissions(
                TransmissionFilter {
                    tenant: Some("cd93".into()),
                    ..Default::default()
                },
                PageRequest {
                    size: 2,
                    token: token.clone(),
                },
            )
            .expect("list");
        seen.extend(p.items.iter().map(|t| t.id.clone()));
        token = p.next_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, vec!["tx6", "tx4", "tx2", "tx0"]);
    let p = s
        .list_transmissions(
            TransmissionFilter {
                child_ref: Some("DUI-1".into()),
                since: Some(at(2)),
                ..Default::default()
            },
            PageRequest {
                size: 0,
                token: None,
            },
        )
        .expect("list");
    assert_eq!(
        p.items.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        vec!["tx4"]
    );
    let c = claim_one(&s, "dmp", at(10));
    let p = s
        .list_transmissions(
            TransmissionFilter {
                state: Some(DeliveryState::InFlight),
                ..Default::default()
            },
            PageRequest {
                size: 0,
                token: None,
            },
        )
        .expect("list");
    assert_eq!(p.items.len(), 1);
    assert_eq!(p.items[0].id, c.delivery.transmission_id);
    let p = s
        .list_deliveries(
            DeliveryFilter {
                tenant: Some("cd75".into()),
                state: Some(DeliveryState::Queued),
                ..Default::default()
            },
            PageRequest {
                size: 2,
                token: None,
            },
        )
        .expect("list deliveries");
    assert_eq!(p.items.len(), 2);
    let p2 = s
        .list_deliveries(
            DeliveryFilter {
                tenant: Some("cd75".into()),
                state: Some(DeliveryState::Queued),
                ..Default::default()
            },
            PageRequest {
                size: 2,
                token: p.next_token,
            },
        )
        .expect("page 2");
    assert_eq!(p2.items.len(), 1);
    assert!(p2.next_token.is_none());
    assert!(
        s.list_deliveries(
            DeliveryFilter::default(),
            PageRequest {
                size: 1,
                token: Some("zz".into())
            }
        )
        .is_err()
    );
}

#[test]
fn concurrent_submissions_are_group_committed_and_survive_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Arc::new(open(dir.path()));
    let mut handles = Vec::new();
    for w in 0..8 {
        let s = s.clone();
        handles.push(std::thread::spawn(move || {
            for i in 0..40 {
                let id = format!("tx-{w}-{i}");
                let t = transmission(&*s, &id, "cd93", &id, &id, &["mssante:a.test"], at(i));
                s.submit(t).expect("submit");
            }
        }));
    }
    for h in handles {
        h.join().expect("thread");
    }
    drop(s);
    let s = open(dir.path());
    let stats = s.destination_stats(at(100)).expect("stats");
    assert_eq!(stats[0].queued, 320);
    let report = s.audit_verify().expect("verify");
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.entries_checked, 640);
}

#[test]
fn failing_commands_in_a_group_commit_do_not_undo_the_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Arc::new(open(dir.path()));
    s.submit(transmission(
        &*s,
        "seed",
        "cd93",
        "shared-key",
        "seed-body",
        &["dmp"],
        at(0),
    ))
    .expect("seed");
    let mut handles = Vec::new();
    for w in 0..8 {
        let s = s.clone();
        handles.push(std::thread::spawn(move || {
            let mut ok = 0;
            let mut conflicts = 0;
            for i in 0..30 {
                let id = format!("tx-{w}-{i}");
                // Every third command conflicts with the seed's key and must fail alone.
                let (key, body) = if i % 3 == 0 {
                    ("shared-key".to_string(), id.clone())
                } else {
                    (id.clone(), id.clone())
                };
                match s.submit(transmission(&*s, &id, "cd93", &key, &body, &["dmp"], at(i))) {
                    Ok(o) => {
                        assert!(!o.replayed());
                        ok += 1;
                    }
                    Err(Error::IdempotencyConflict { existing_id }) => {
                        assert_eq!(existing_id, "seed");
                        conflicts += 1;
                    }
                    Err(e) => panic!("unexpected {e}"),
                }
            }
            (ok, conflicts)
        }));
    }
    let (mut ok, mut conflicts) = (0, 0);
    for h in handles {
        let (a, b) = h.join().expect("thread");
        ok += a;
        conflicts += b;
    }
    assert_eq!((ok, conflicts), (160, 80));
    let stats = s.destination_stats(at(100)).expect("stats");
    assert_eq!(stats[0].queued, 161);
    let r = s.audit_verify().expect("verify");
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.entries_checked, 161 * 2);
}

#[test]
fn integration_refusal_is_final_and_keeps_the_ans_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = open(dir.path());
    s.submit(transmission(
        &s,
        "tx",
        "cd93",
        "k",
        "a",
        &["mssante:a.test"],
        at(0),
    ))
    .expect("submit");
    let c = claim_one(&s, "mssante:a.test", at(1));
    s.complete_attempt(
        &c.delivery.id,
        c.lease_token,
        AttemptResult::Sent {
            message_id: "<m@x>".into(),
            notify_by: None,
        },
        at(2),
    )
    .expect("sent");
    s.apply_notice(
        &c.delivery.id,
        DeliveryNotice::Delivered {
            detail: "2.0.0".into(),
        },
        at(3),
    )
    .expect("dsn");
    let mut e = DeliveryError::new(
        passerelle_domain::error::Origin::MsSante,
        "integration_refused",
        "document type not accepted",
    );
    e.remote_code = "902".into();
    // Without a read receipt, delivered is final for Watch: the refusal comes late.
    let r = s
        .apply_notice(
            &c.delivery.id,
            DeliveryNotice::Rejected { error: e.clone() },
            at(4),
        )
        .expect("late");
    assert!(matches!(r, NoticeOutcome::Late(_)));
    // A second delivery, refused before any DSN: applied and final.
    s.submit(transmission(
        &s,
        "tx2",
        "cd93",
        "k2",
        "b",
        &["mssante:a.test"],
        at(5),
    ))
    .expect("submit");
    let c = claim_one(&s, "mssante:a.test", at(6));
    s.complete_attempt(
        &c.delivery.id,
        c.lease_token,
        AttemptResult::Sent {
            message_id: "<m2@x>".into(),
            notify_by: None,
        },
        at(7),
    )
    .expect("sent");
    let r = s
        .apply_notice(&c.delivery.id, DeliveryNotice::Rejected { error: e }, at(8))
        .expect("rejected");
    let NoticeOutcome::Applied(d) = r else {
        panic!("applied expected")
    };
    assert_eq!(d.state, DeliveryState::Rejected);
    assert_eq!(
        d.last_error.as_ref().map(|e| e.remote_code.as_str()),
        Some("902")
    );
    assert_eq!(
        s.retry(&d.id, "op", at(9))
            .expect_err("not retryable")
            .kind(),
        ErrorKind::InvalidState
    );
    let r = s
        .apply_notice(
            &d.id,
            DeliveryNotice::Read {
                detail: String::new(),
            },
            at(10),
        )
        .expect("late");
    assert!(matches!(r, NoticeOutcome::Late(ref d) if d.state == DeliveryState::Rejected));
}

#[test]
fn payloads_rendered_after_the_ack_are_attached_once_under_the_lease() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = open(dir.path());
    let mut t = transmission(&s, "tx", "cd93", "k", "a", &["mssante:a.test"], at(0));
    t.deliveries[0].payloads.clear();
    s.submit(t).expect("submit without payloads");
    assert!(s.get_delivery("tx-d0").expect("get").payloads.is_empty());

    let c = claim_one(&s, "mssante:a.test", at(1));
    let first = s
        .put_blob(b"first render")
        .expect("put")
        .named("message.eml");
    let second = s
        .put_blob(b"second render")
        .expect("put")
        .named("message.eml");
    // Only the lease holder may attach.
    assert!(matches!(
        s.attach_payloads("tx-d0", c.lease_token + 1, vec![first.clone()], vec![]),
        Err(Error::LeaseLost { .. })
    ));
    // Nothing to attach, or a payload that was never written, is refused.
    assert!(
        s.attach_payloads("tx-d0", c.lease_token, vec![], vec![])
            .is_err()
    );
    let ghost = PayloadRef {
        name: "message.eml".into(),
        sha256: Sha256::digest(b"never written"),
        size: 13,
    };
    assert!(matches!(
        s.attach_payloads("tx-d0", c.lease_token, vec![ghost], vec![]),
        Err(Error::BlobMissing { .. })
    ));
    let d = s
        .attach_payloads("tx-d0", c.lease_token, vec![first.clone()], vec![])
        .expect("attach");
    assert_eq!(d.payloads, vec![first.clone()]);
    // A second render (a racing or retried worker) does not replace the first one.
    let d = s
        .attach_payloads("tx-d0", c.lease_token, vec![second], vec![])
        .expect("attach again");
    assert_eq!(d.payloads, vec![first.clone()]);
    s.complete_attempt(
        "tx-d0",
        c.lease_token,
        AttemptResult::TemporaryFailure {
            error: temp_error(),
            retry_after: Some(Duration::from_secs(1)),
        },
        at(2),
    )
    .expect("temporary failure");
    // The retry finds the stored bytes, and they survive a restart.
    drop(s);
    let s = open(dir.path());
    let c = claim_one(&s, "mssante:a.test", at(60));
    assert_eq!(c.delivery.payloads, vec![first.clone()]);
    assert_eq!(
        s.read_blob(&first.sha256).expect("read"),
        b"first render".to_vec()
    );
}

#[test]
fn inline_payloads_commit_with_the_rows_and_are_pruned_like_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = open(dir.path());
    let small = b"request of 10 KB, committed with its rows".to_vec();
    let r = PayloadRef {
        name: "request.pb".into(),
        sha256: Sha256::digest(&small),
        size: small.len() as u64,
    };
    // Referenced but carried by nobody: refused, nothing stored.
    let mut t = transmission(&s, "tx0", "cd93", "k0", "z", &["dmp"], at(0));
    t.blobs.push(r.clone());
    assert!(matches!(s.submit(t), Err(Error::BlobMissing { .. })));
    // Over the limit: refused.
    let mut t = transmission(&s, "tx0", "cd93", "k0", "z", &["dmp"], at(0));
    t.inline.push(vec![0u8; s.inline_payload_max() + 1]);
    assert_eq!(s.submit(t).expect_err("too big").kind(), ErrorKind::Invalid);

    let mut t = transmission(&s, "tx1", "cd93", "k1", "a", &["dmp"], at(0));
    t.blobs.push(r.clone());
    t.inline.push(small.clone());
    s.submit(t).expect("submit");
    assert!(
        !dir.path()
            .join("blobs")
            .join(&r.sha256.to_hex()[..2])
            .join(&r.sha256.to_hex()[2..])
            .exists(),
        "no file for an inline payload"
    );
    drop(s);
    let s = open(dir.path());
    assert_eq!(s.read_blob(&r.sha256).expect("read after restart"), small);
    let c = claim_one(&s, "dmp", at(1));
    s.complete_attempt(
        &c.delivery.id,
        c.lease_token,
        AttemptResult::Stored {
            message_id: "1.2".into(),
        },
        at(2),
    )
    .expect("stored");
    let p = s
        .prune(at(3602), Duration::from_secs(3600), 100)
        .expect("prune");
    assert_eq!(p.transmissions, 1);
    assert!(matches!(
        s.read_blob(&r.sha256),
        Err(Error::BlobMissing { .. })
    ));
    assert!(s.audit_verify().expect("verify").ok());
}

/// A fast operator's DSN (or MDN) can be ingested before the worker records its send: the notice
/// is held durably, not lost, and applied when the attempt ends; an attempt that ends otherwise
/// than `sent` records it as not applicable.
#[test]
fn a_notice_that_overtakes_the_send_is_held_until_the_attempt_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = open(dir.path());
    let mut t = transmission(
        &s,
        "tx",
        "cd93",
        "k",
        "a",
        &["mssante:a.test", "mssante:b.test"],
        at(0),
    );
    t.deliveries[0].read_receipt_expected = true;
    s.submit(t).expect("submit");
    let a = claim_one(&s, "mssante:a.test", at(1));
    let b = claim_one(&s, "mssante:b.test", at(1));
    for (c, detail) in [(&a, "2.0.0"), (&b, "2.0.0")] {
        let r = s
            .apply_notice(
                &c.delivery.id,
                DeliveryNotice::Delivered {
                    detail: detail.into(),
                },
                at(2),
            )
            .expect("dsn");
        assert!(
            matches!(r, NoticeOutcome::Held(ref d) if d.state == DeliveryState::InFlight),
            "{r:?}"
        );
    }
    let r = s
        .apply_notice(
            &a.delivery.id,
            DeliveryNotice::Read {
                detail: "displayed".into(),
            },
            at(2),
        )
        .expect("mdn");
    assert!(matches!(r, NoticeOutcome::Held(_)), "{r:?}");
    // Held notices survive a restart (they are in the database, not in memory).
    drop(s);
    let s = open(dir.path());
    let d = s
        .complete_attempt(
            &a.delivery.id,
            a.lease_token,
            AttemptResult::Sent {
                message_id: "<a@x>".into(),
                notify_by: Some(at(3600)),
            },
            at(3),
        )
        .expect("sent");
    assert_eq!(
        d.state,
        DeliveryState::Read,
        "DSN then MDN applied in order"
    );
    assert_eq!(d.notify_by, None);
    let d = s
        .complete_attempt(
            &b.delivery.id,
            b.lease_token,
            AttemptResult::TemporaryFailure {
                error: temp_error(),
                retry_after: None,
            },
            at(3),
        )
        .expect("temporary");
    assert_eq!(d.state, DeliveryState::Queued);
    let ev = s.events_since("tx", 0, 100).expect("events");
    let details = |id: &str| -> Vec<String> {
        ev.iter()
            .filter(|e| e.delivery_id == id)
            .map(|e| format!("{:?}->{} {}", e.from, e.to, e.detail))
            .collect()
    };
    let a_ev = details(&a.delivery.id);
    assert!(
        a_ev.iter()
            .any(|e| e.contains("held until the attempt in flight ends")),
        "{a_ev:?}"
    );
    let tail: Vec<&str> = a_ev
        .iter()
        .rev()
        .take(3)
        .rev()
        .map(|e| e.split(' ').next().unwrap_or(""))
        .collect();
    assert_eq!(
        tail,
        [
            "Some(InFlight)->sent",
            "Some(Sent)->delivered",
            "Some(Delivered)->read"
        ]
    );
    let b_ev = details(&b.delivery.id);
    assert!(
        b_ev.last()
            .is_some_and(|e| e.contains("not applicable in state queued")),
        "{b_ev:?}"
    );
    // Nothing stays held: the retry's own DSN applies normally.
    let b2 = claim_one(&s, "mssante:b.test", at(1000));
    s.complete_attempt(
        &b.delivery.id,
        b2.lease_token,
        AttemptResult::Sent {
            message_id: "<b@x>".into(),
            notify_by: Some(at(4600)),
        },
        at(1001),
    )
    .expect("sent");
    assert_eq!(
        s.get_delivery(&b.delivery.id).expect("get").state,
        DeliveryState::Sent
    );
}
