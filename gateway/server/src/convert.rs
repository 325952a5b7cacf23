//! Store records ↔ API messages.

use passerelle_api::v1 as pb;
use passerelle_domain::delivery::{Channel, DeliveryState};
use passerelle_outbox::{DeliveryEvent, DeliveryRecord, TransmissionRecord};
use time::OffsetDateTime;

pub fn ts(t: OffsetDateTime) -> pbjson_types::Timestamp {
    pbjson_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: i32::try_from(t.nanosecond()).unwrap_or(0),
    }
}

pub fn from_ts(t: &pbjson_types::Timestamp) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(t.seconds)
        .ok()
        .map(|d| d + time::Duration::nanoseconds(i64::from(t.nanos)))
}

pub fn status(s: DeliveryState) -> pb::DeliveryStatus {
    match s {
        DeliveryState::Queued => pb::DeliveryStatus::Queued,
        DeliveryState::InFlight => pb::DeliveryStatus::InFlight,
        DeliveryState::Sent => pb::DeliveryStatus::Sent,
        DeliveryState::Delivered => pb::DeliveryStatus::Delivered,
        DeliveryState::Read => pb::DeliveryStatus::Read,
        DeliveryState::Stored => pb::DeliveryStatus::Stored,
        DeliveryState::Rejected => pb::DeliveryStatus::Rejected,
        DeliveryState::Failed => pb::DeliveryStatus::Failed,
        DeliveryState::Expired => pb::DeliveryStatus::Expired,
        DeliveryState::Cancelled => pb::DeliveryStatus::Cancelled,
    }
}

pub fn state(s: pb::DeliveryStatus) -> Option<DeliveryState> {
    Some(match s {
        pb::DeliveryStatus::Unspecified => return None,
        pb::DeliveryStatus::Queued => DeliveryState::Queued,
        pb::DeliveryStatus::InFlight => DeliveryState::InFlight,
        pb::DeliveryStatus::Sent => DeliveryState::Sent,
        pb::DeliveryStatus::Delivered => DeliveryState::Delivered,
        pb::DeliveryStatus::Read => DeliveryState::Read,
        pb::DeliveryStatus::Stored => DeliveryState::Stored,
        pb::DeliveryStatus::Rejected => DeliveryState::Rejected,
        pb::DeliveryStatus::Failed => DeliveryState::Failed,
        pb::DeliveryStatus::Expired => DeliveryState::Expired,
        pb::DeliveryStatus::Cancelled => DeliveryState::Cancelled,
    })
}

pub fn channel(c: Channel) -> pb::Channel {
    match c {
        Channel::Mssante => pb::Channel::Mssante,
        Channel::Mes => pb::Channel::Mes,
        Channel::Dmp => pb::Channel::Dmp,
    }
}

pub fn channel_in(c: pb::Channel) -> Option<Channel> {
    match c {
        pb::Channel::Mssante => Some(Channel::Mssante),
        pb::Channel::Mes => Some(Channel::Mes),
        pb::Channel::Dmp => Some(Channel::Dmp),
        pb::Channel::Unspecified => None,
    }
}

fn origin(o: passerelle_domain::error::Origin) -> pb::ErrorOrigin {
    use passerelle_domain::error::Origin as O;
    match o {
        O::Client => pb::ErrorOrigin::Client,
        O::Policy => pb::ErrorOrigin::Policy,
        O::MsSante => pb::ErrorOrigin::Mssante,
        O::Dmp => pb::ErrorOrigin::Dmp,
        O::Store => pb::ErrorOrigin::Store,
        O::Internal => pb::ErrorOrigin::Internal,
    }
}

pub fn event(e: &DeliveryEvent) -> pb::DeliveryEvent {
    pb::DeliveryEvent {
        delivery_id: e.delivery_id.clone(),
        at: Some(ts(e.at)),
        from: e.from.map(|s| status(s) as i32).unwrap_or(0),
        to: status(e.to) as i32,
        detail: e.detail.clone(),
        late: e.late,
        seq: e.seq,
    }
}

pub fn delivery(d: &DeliveryRecord, events: Vec<pb::DeliveryEvent>) -> pb::Delivery {
    pb::Delivery {
        id: d.id.clone(),
        transmission_id: d.transmission_id.clone(),
        target_id: d.target_id.clone(),
        channel: channel(d.channel) as i32,
        recipient: d.recipient.clone(),
        destination: d.destination.clone(),
        document_ids: d.document_ids.clone(),
        status: status(d.state) as i32,
        attempts: d.attempts,
        next_attempt_at: d.next_attempt_at.map(ts),
        expires_at: Some(ts(d.expires_at)),
        last_error: d.last_error.as_ref().map(|e| pb::DeliveryError {
            origin: origin(e.origin) as i32,
            reason: e.reason.clone(),
            message: e.message.clone(),
            retryable: e.retryable,
            remote_code: e.remote_code.clone(),
        }),
        events,
        message_id: d.message_id.clone().unwrap_or_default(),
        outcome_unknown: d.outcome_unknown,
        updated_at: Some(ts(d.updated_at)),
        disposition: d.disposition.clone().unwrap_or_default(),
    }
}

pub fn transmission(t: &TransmissionRecord, events: &[DeliveryEvent]) -> pb::Transmission {
    transmission_with(t, events, serde_json::from_slice(&t.decision_json).ok())
}

/// As `transmission`, with the decision already at hand (Submit: no need to parse back the JSON
/// it has just written).
pub fn transmission_with(
    t: &TransmissionRecord,
    events: &[DeliveryEvent],
    decision: Option<pb::Decision>,
) -> pb::Transmission {
    let deliveries = t
        .deliveries
        .iter()
        .map(|d| {
            let evs = events
                .iter()
                .filter(|e| e.delivery_id == d.id)
                .map(event)
                .collect();
            delivery(d, evs)
        })
        .collect();
    pb::Transmission {
        id: t.id.clone(),
        tenant: t.tenant.clone(),
        idempotency_key: t.idempotency_key.clone(),
        created_at: Some(ts(t.created_at)),
        child_ref: t.child_ref.clone(),
        document_ids: t.document_ids.clone(),
        kinds: t
            .kinds
            .iter()
            .map(|k| {
                pb::DocumentKind::from_str_name(&format!("DOCUMENT_KIND_{k}"))
                    .map(|k| k as i32)
                    .unwrap_or(0)
            })
            .collect(),
        decision,
        deliveries,
        request_sha256: t.request_sha256.to_hex(),
        replaces_transmission_id: t.replaces_transmission_id.clone().unwrap_or_default(),
    }
}

/// An inbox record as the API shows it. The patient id is only given in full with the item
/// (`full`), never in lists.
pub fn inbox_item(r: &passerelle_outbox::InboxRecord, full: bool) -> pb::InboxItem {
    use passerelle_outbox::InboxItemState as S;
    let i = &r.item;
    pb::InboxItem {
        id: i.id.clone(),
        tenant: i.tenant.clone(),
        mailbox: i.mailbox.clone(),
        from: i.from.clone(),
        subject: i.subject.clone(),
        date: i.date.map(ts),
        received_at: Some(ts(i.received_at)),
        message_id: i.message_id.clone().unwrap_or_default(),
        patient_id: if full {
            i.patient_id.clone()
        } else {
            String::new()
        },
        documents: i
            .documents
            .iter()
            .map(|d| pb::InboxDocument {
                id: d.unique_id.clone(),
                title: d.title.clone(),
                type_code: d.type_code.clone(),
                mime_type: d.mime_type.clone(),
                sha256: d.payload.sha256.to_hex(),
                size: d.payload.size,
                data: Default::default(),
                unique_id: d.unique_id.clone(),
                cda_sha256: d
                    .cda
                    .as_ref()
                    .map(|c| c.sha256.to_hex())
                    .unwrap_or_default(),
            })
            .collect(),
        state: match i.state {
            S::New => pb::InboxState::New,
            S::Acked => pb::InboxState::Acked,
            S::Quarantined => pb::InboxState::Quarantined,
            S::PendingHuman | S::Processed => pb::InboxState::PendingHuman,
        } as i32,
        quarantine_reason: i.reason.clone().unwrap_or_default(),
        raw: Default::default(),
    }
}
