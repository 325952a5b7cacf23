//! The inbox side of the store: idempotent ingestion, listing per tenant, ack, cursors, audit.

use passerelle_outbox::*;
use time::macros::datetime;

use crate::common::open;

fn item(store: &SqliteStore, uid: u32, raw: &[u8], mid: &str) -> NewInboxItem {
    let raw = store.put_blob(raw).expect("blob").named("raw.eml");
    let doc = store
        .put_blob(b"%PDF-1.4 doc")
        .expect("blob")
        .named("document");
    NewInboxItem {
        id: format!("in-{uid}-{}", raw.sha256.to_hex()[..8].to_owned()),
        tenant: "cd93".into(),
        mailbox: "crip@cd93.mssante.test".into(),
        uidvalidity: 7,
        uid,
        message_id: Some(mid.into()),
        raw,
        received_at: datetime!(2026-11-25 10:00 UTC),
        class: InboxClass::Document,
        state: InboxItemState::New,
        from: "a@b.test".into(),
        subject: "XDM/1.0/DDM+IP".into(),
        date: None,
        patient_id: "212069306600157^^^&1.2.250.1.213.1.4.10&ISO^NH".into(),
        reason: None,
        documents: vec![InboundDocument {
            title: "IP".into(),
            type_code: "28653-4".into(),
            mime_type: "application/pdf".into(),
            unique_id: "2.25.1".into(),
            payload: doc,
            cda: None,
        }],
    }
}

#[test]
fn ingestion_is_idempotent_and_audited() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(dir.path());
    let first = store
        .inbox_insert(item(&store, 1, b"raw one", "m1@x"))
        .expect("insert");
    assert!(matches!(first, InboxInsert::Inserted(_)));
    // Same mailbox + UIDVALIDITY + UID: known.
    let again = store
        .inbox_insert(item(&store, 1, b"raw one", "m1@x"))
        .expect("again");
    assert!(matches!(again, InboxInsert::Known(_)));
    // After a UIDVALIDITY change the same message (Message-ID + bytes) under a new UID: known.
    let mut moved = item(&store, 99, b"raw one", "m1@x");
    moved.uidvalidity = 8;
    assert!(matches!(
        store.inbox_insert(moved).expect("moved"),
        InboxInsert::Known(_)
    ));
    // Same Message-ID, other bytes: kept and flagged.
    let dup = store
        .inbox_insert(item(&store, 2, b"raw two", "m1@x"))
        .expect("dup");
    match dup {
        InboxInsert::Inserted(r) => assert!(r.duplicate_message_id),
        other => panic!("{other:?}"),
    }
    let page = store
        .inbox_list(
            "cd93",
            None,
            PageRequest {
                size: 0,
                token: None,
            },
        )
        .expect("list");
    assert_eq!(page.items.len(), 2);
    assert!(
        store
            .inbox_list(
                "mecs",
                None,
                PageRequest {
                    size: 0,
                    token: None
                }
            )
            .expect("list")
            .items
            .is_empty()
    );
    let id = page.items[0].item.id.clone();
    let acked = store
        .inbox_ack(&id, "test", datetime!(2026-11-25 11:00 UTC))
        .expect("ack");
    assert_eq!(acked.item.state, InboxItemState::Acked);
    assert_eq!(acked.item.documents.len(), 1);
    store
        .set_inbox_cursor(
            "crip@cd93.mssante.test",
            InboxCursor {
                uidvalidity: 7,
                last_uid: 2,
            },
        )
        .expect("cursor");
    assert_eq!(
        store
            .inbox_cursor("crip@cd93.mssante.test")
            .expect("cursor"),
        Some(InboxCursor {
            uidvalidity: 7,
            last_uid: 2
        })
    );
    // Two receipts + one ack in the tenant's chain, and the chain verifies.
    let audit = store.audit_entries("cd93", 0, 100).expect("audit");
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.kind.starts_with("inbox."))
            .count(),
        3
    );
    assert!(store.audit_verify().expect("verify").ok());
}

#[test]
fn read_receipts_to_retry_come_due_in_order_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t0 = datetime!(2026-11-26 08:00 UTC);
    let crip = "crip@cd93.mssante.test";
    let pending = |id: &str, attempts| PendingMdn {
        inbox_id: id.into(),
        mailbox: crip.into(),
        error: (id == "in-b").then(|| (902, "Identifiant patient inconnu".to_string())),
        attempts,
        created_at: t0,
    };
    {
        let s = open(dir.path());
        s.mdn_retry(pending("in-a", 1), t0 + time::Duration::minutes(5))
            .expect("queue");
        s.mdn_retry(pending("in-b", 1), t0 + time::Duration::minutes(1))
            .expect("queue");
        assert!(s.mdn_due(crip, t0, 10).expect("due").is_empty());
        assert!(
            s.mdn_due("other@x.test", t0 + time::Duration::hours(1), 10)
                .expect("due")
                .is_empty()
        );
    }
    let s = open(dir.path());
    let due = s
        .mdn_due(crip, t0 + time::Duration::minutes(10), 10)
        .expect("due");
    assert_eq!(due, vec![pending("in-b", 1), pending("in-a", 1)]);
    // A second failure replaces the entry; a sent one is forgotten.
    s.mdn_retry(pending("in-b", 2), t0 + time::Duration::minutes(30))
        .expect("again");
    s.mdn_done("in-a").expect("done");
    let due = s
        .mdn_due(crip, t0 + time::Duration::minutes(10), 10)
        .expect("due");
    assert!(due.is_empty(), "{due:?}");
    let due = s
        .mdn_due(crip, t0 + time::Duration::hours(1), 10)
        .expect("due");
    assert_eq!(due, vec![pending("in-b", 2)]);
}
