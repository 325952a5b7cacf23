//! The audit chain and its signed checkpoint detect edits, insertions, deletions, truncation and
//! full rewrites made directly in the database.

use std::path::Path;

use passerelle_outbox::audit::entry_hash;
use passerelle_outbox::sqlite::{DB_FILE, SqliteStore};
use passerelle_outbox::*;
use rusqlite::{Connection, params};

use crate::common::*;

/// A store with two tenants' chains (cd93: 9 entries), checkpointed, then closed.
fn setup(dir: &Path) -> Vec<AuditEntry> {
    let s = open(dir);
    for i in 0..3 {
        let t = transmission(
            &s,
            &format!("tx{i}"),
            "cd93",
            &format!("k{i}"),
            &format!("b{i}"),
            &["dmp", "mssante:a.test"],
            at(i),
        );
        s.submit(t).expect("submit");
    }
    s.record_audit(
        "cd75",
        vec![AuditDraft {
            kind: "explain".into(),
            summary: "allow".into(),
            ..Default::default()
        }],
        at(5),
    )
    .expect("audit");
    s.checkpoint(at(10)).expect("checkpoint");
    let entries = s.audit_entries("cd93", 0, 100).expect("entries");
    assert_eq!(entries.len(), 9);
    assert!(s.audit_verify().expect("verify").ok());
    entries
}

fn db(dir: &Path) -> Connection {
    Connection::open(dir.join(DB_FILE)).expect("open db")
}

fn verify(dir: &Path) -> AuditFault {
    let s: SqliteStore = open(dir);
    let r = s.audit_verify().expect("verify runs");
    r.first_bad.expect("tampering detected")
}

fn write_entry(c: &Connection, e: &AuditEntry) {
    c.execute(
        "INSERT OR REPLACE INTO audit (tenant, seq, at, kind, actor, transmission_id, delivery_id, summary, data_sha256, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            e.tenant,
            e.seq as i64,
            i64::try_from(e.at.unix_timestamp_nanos()).expect("ns"),
            e.kind,
            e.actor,
            e.transmission_id,
            e.delivery_id,
            e.summary,
            e.data_sha256.map(|h| h.to_hex()),
            e.prev_hash.to_hex(),
            e.hash.to_hex()
        ],
    )
    .expect("write entry");
}

#[test]
fn edited_entry_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path());
    db(dir.path())
        .execute(
            "UPDATE audit SET summary = 'allow targets=9' WHERE tenant = 'cd93' AND seq = 4",
            [],
        )
        .expect("edit");
    let f = verify(dir.path());
    assert_eq!((f.tenant.as_str(), f.seq), ("cd93", 4));
    assert_eq!(f.problem, AuditProblem::HashMismatch);
}

#[test]
fn deleted_entry_is_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path());
    db(dir.path())
        .execute("DELETE FROM audit WHERE tenant = 'cd93' AND seq = 5", [])
        .expect("delete");
    let f = verify(dir.path());
    assert_eq!((f.tenant.as_str(), f.seq), ("cd93", 6));
    assert_eq!(f.problem, AuditProblem::SequenceGap { expected: 5 });
}

#[test]
fn inserted_entry_breaks_the_link_even_with_a_valid_own_hash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let entries = setup(dir.path());
    let c = db(dir.path());
    // Make room at seq 3 and insert a well-formed entry chained to entry 2.
    c.execute(
        "UPDATE audit SET seq = -seq WHERE tenant = 'cd93' AND seq >= 3",
        [],
    )
    .expect("shift");
    c.execute(
        "UPDATE audit SET seq = 1 - seq WHERE tenant = 'cd93' AND seq < 0",
        [],
    )
    .expect("shift");
    let mut forged = entries[2].clone();
    forged.seq = 3;
    forged.summary = "forged".into();
    forged.prev_hash = entries[1].hash;
    forged.hash = entry_hash(&forged);
    write_entry(&c, &forged);
    drop(c);
    let f = verify(dir.path());
    assert_eq!((f.tenant.as_str(), f.seq), ("cd93", 4));
    assert_eq!(f.problem, AuditProblem::BrokenLink);
}

#[test]
fn appended_entry_with_a_wrong_link_is_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let entries = setup(dir.path());
    let mut forged = entries[8].clone();
    forged.seq = 10;
    forged.hash = entry_hash(&forged); // prev_hash still points at entry 8
    write_entry(&db(dir.path()), &forged);
    let f = verify(dir.path());
    assert_eq!((f.seq, f.problem), (10, AuditProblem::BrokenLink));
}

#[test]
fn truncated_tail_is_detected_through_the_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path());
    db(dir.path())
        .execute("DELETE FROM audit WHERE tenant = 'cd93' AND seq > 6", [])
        .expect("truncate");
    let f = verify(dir.path());
    assert_eq!(f.tenant, "cd93");
    assert_eq!(f.seq, 7);
    assert_eq!(f.problem, AuditProblem::Truncated { checkpoint_seq: 9 });
}

#[test]
fn deleted_tenant_chain_is_detected_through_the_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path());
    db(dir.path())
        .execute("DELETE FROM audit WHERE tenant = 'cd75'", [])
        .expect("delete");
    let f = verify(dir.path());
    assert_eq!(f.tenant, "cd75");
    assert_eq!(f.problem, AuditProblem::Truncated { checkpoint_seq: 1 });
}

#[test]
fn full_rewrite_is_detected_through_the_checkpoint_head() {
    let dir = tempfile::tempdir().expect("tempdir");
    let entries = setup(dir.path());
    let c = db(dir.path());
    let mut prev = passerelle_outbox::audit::GENESIS;
    for (i, e) in entries.iter().enumerate() {
        let mut e = e.clone();
        if i == 0 {
            e.summary = "deny".into();
        }
        e.prev_hash = prev;
        e.hash = entry_hash(&e);
        prev = e.hash;
        write_entry(&c, &e);
    }
    drop(c);
    let f = verify(dir.path());
    assert_eq!((f.tenant.as_str(), f.seq), ("cd93", 9));
    assert_eq!(f.problem, AuditProblem::HeadMismatch);
}

#[test]
fn forged_or_missing_checkpoint_is_detected() {
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path());
    let path = dir.path().join("audit.checkpoint");
    let text = std::fs::read_to_string(&path).expect("read checkpoint");
    assert!(text.contains("\"seq\": 9"), "{text}");
    std::fs::write(&path, text.replace("\"seq\": 9", "\"seq\": 6")).expect("forge");
    assert!(
        matches!(verify(dir.path()).problem, AuditProblem::Checkpoint(ref m) if m.contains("signature"))
    );
    std::fs::remove_file(&path).expect("remove");
    assert!(matches!(
        verify(dir.path()).problem,
        AuditProblem::Checkpoint(_)
    ));
}

#[test]
fn clean_store_verifies_after_restart_and_new_entries() {
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path());
    let s = open(dir.path());
    s.submit(transmission(
        &s,
        "tx9",
        "cd93",
        "k9",
        "b9",
        &["dmp"],
        at(20),
    ))
    .expect("submit");
    let r = s.audit_verify().expect("verify");
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.entries_checked, 12);
    assert_eq!(r.tenants, 2);
}
