use std::path::Path;
use std::time::Duration;

use passerelle_domain::delivery::Channel;
use passerelle_outbox::*;
use time::OffsetDateTime;
use time::macros::datetime;

pub const T0: OffsetDateTime = datetime!(2026-03-02 09:00 UTC);

pub fn at(secs: i64) -> OffsetDateTime {
    T0 + time::Duration::seconds(secs)
}

pub fn config() -> StoreConfig {
    StoreConfig {
        read_connections: 2,
        ..StoreConfig::default()
    }
}

pub fn open(dir: &Path) -> SqliteStore {
    SqliteStore::open(dir, config()).expect("open store")
}

pub fn open_with(dir: &Path, cfg: StoreConfig) -> SqliteStore {
    SqliteStore::open(dir, cfg).expect("open store")
}

/// A transmission with one delivery per destination; payload bytes derive from `body`.
pub fn transmission(
    store: &dyn Store,
    id: &str,
    tenant: &str,
    key: &str,
    body: &str,
    destinations: &[&str],
    now: OffsetDateTime,
) -> NewTransmission {
    let payload = store
        .put_blob(format!("payload of {body}").as_bytes())
        .expect("put blob");
    let pdf = store.put_blob(b"%PDF-1.4 shared").expect("put pdf");
    NewTransmission {
        id: id.into(),
        tenant: tenant.into(),
        idempotency_key: key.into(),
        request_sha256: Sha256::digest(body.as_bytes()),
        created_at: now,
        child_ref: "DUI-0001".into(),
        document_ids: vec!["doc-1".into()],
        kinds: vec!["PPE".into()],
        replaces_transmission_id: None,
        decision_json: br#"{"allowed":true}"#.to_vec(),
        deliveries: destinations
            .iter()
            .enumerate()
            .map(|(i, d)| NewDelivery {
                id: format!("{id}-d{i}"),
                target_id: format!("t{i}"),
                channel: if d.starts_with("dmp") {
                    Channel::Dmp
                } else {
                    Channel::Mssante
                },
                recipient: format!("r{i}@example.mssante.test"),
                destination: (*d).into(),
                document_ids: vec!["doc-1".into()],
                payloads: vec![payload.named("message.eml"), pdf.named("doc-1.pdf")],
                expires_at: None,
                read_receipt_expected: false,
            })
            .collect(),
        audit: vec![AuditDraft {
            kind: "transmission.submitted".into(),
            actor: "sender-1".into(),
            transmission_id: Some(id.into()),
            delivery_id: None,
            summary: "allow targets=1".into(),
            data_sha256: Some(Sha256::digest(body.as_bytes())),
        }],
        blobs: vec![pdf.named("doc-1.pdf")],
        inline: vec![],
    }
}

pub fn lease() -> Duration {
    Duration::from_secs(60)
}

pub fn claim_one(store: &dyn Store, dest: &str, now: OffsetDateTime) -> Claimed {
    let mut c = store
        .claim(ClaimScope::Destination(dest.into()), now, 1, "w1", lease())
        .expect("claim");
    assert_eq!(c.len(), 1, "one due delivery at {dest}");
    c.remove(0)
}

pub fn temp_error() -> DeliveryError {
    let mut e = DeliveryError::new(
        passerelle_domain::error::Origin::MsSante,
        "smtp_4.4.1",
        "connection timed out",
    );
    e.retryable = true;
    e
}

pub fn perm_error() -> DeliveryError {
    DeliveryError::new(
        passerelle_domain::error::Origin::MsSante,
        "smtp_5.1.1",
        "mailbox unknown",
    )
}
