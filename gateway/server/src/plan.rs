//! From a decision to deliveries: one delivery per allowed (recipient, channel) target, carrying the
//! documents allowed for it (specs README §1 "Granularity"). Pure.

use std::collections::BTreeMap;

use passerelle_api::v1::{Channel, Decision, Outcome, SubmitRequest, target};
use sha2::{Digest, Sha256};

/// A delivery to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub target_id: String,
    pub channel: Channel,
    /// MSSanté address, the child's MES address, or "DMP".
    pub recipient: String,
    /// Isolation key: "mssante:<domain>" or "dmp".
    pub destination: String,
    pub document_ids: Vec<String>,
}

/// SHA-256 of the deterministic protobuf encoding of the request, idempotency key excluded, so
/// that gRPC and JSON submissions of the same body agree.
pub fn request_sha256(req: &SubmitRequest) -> [u8; 32] {
    Sha256::digest(canonical_request(&mut req.clone())).into()
}

/// The deterministic protobuf encoding of the request without its idempotency key: the bytes the
/// gateway stores (`request.pb`) and hashes. The key is set aside and put back rather than the
/// request cloned: a request may carry MiBs of PDF.
pub fn canonical_request(req: &mut SubmitRequest) -> Vec<u8> {
    let key = std::mem::take(&mut req.idempotency_key);
    let bytes = prost::Message::encode_to_vec(&*req);
    req.idempotency_key = key;
    bytes
}

pub fn destination_of(channel: Channel, address: &str) -> String {
    match channel {
        Channel::Dmp => "dmp".to_string(),
        _ => {
            let domain = address
                .rsplit_once('@')
                .map(|(_, d)| d.to_ascii_lowercase())
                .unwrap_or_default();
            format!("mssante:{domain}")
        }
    }
}

/// Groups the allowed targets of `decision` into deliveries, in request order.
pub fn plan(req: &SubmitRequest, decision: &Decision) -> Vec<Planned> {
    let mut allowed: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for t in &decision.targets {
        if t.outcome == Outcome::Allowed as i32 {
            allowed
                .entry(t.target_id.as_str())
                .or_default()
                .push(t.document_id.as_str());
        }
    }
    let mut out = Vec::new();
    for t in &req.targets {
        let Some(docs) = allowed.get(t.id.as_str()) else {
            continue;
        };
        let channel = Channel::try_from(t.channel).unwrap_or(Channel::Unspecified);
        if channel == Channel::Unspecified {
            continue;
        }
        let recipient = match channel {
            Channel::Dmp => "DMP".to_string(),
            Channel::Mes => {
                if !t.mss_address.is_empty() {
                    t.mss_address.clone()
                } else {
                    req.child
                        .as_ref()
                        .map(|c| c.mes_address.clone())
                        .unwrap_or_default()
                }
            }
            _ => t.mss_address.clone(),
        };
        // Keep the request's document order.
        let document_ids = req
            .documents
            .iter()
            .filter(|d| docs.contains(&d.id.as_str()))
            .map(|d| d.id.clone())
            .collect();
        out.push(Planned {
            target_id: t.id.clone(),
            channel,
            destination: destination_of(channel, &recipient),
            recipient,
            document_ids,
        });
    }
    out
}

/// Whether a target names a party (never an MSSanté recipient): used for display only.
pub fn is_party(t: &passerelle_api::v1::Target) -> bool {
    matches!(t.recipient, Some(target::Recipient::PartyId(_)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use passerelle_api::v1::{Document, Target, TargetDecision};

    #[test]
    fn one_delivery_per_allowed_target_with_its_documents() {
        let req = SubmitRequest {
            documents: vec![
                Document {
                    id: "a".into(),
                    ..Default::default()
                },
                Document {
                    id: "b".into(),
                    ..Default::default()
                },
            ],
            targets: vec![
                Target {
                    id: "t1".into(),
                    channel: Channel::Mssante as i32,
                    mss_address: "x@Dom.test".into(),
                    ..Default::default()
                },
                Target {
                    id: "t2".into(),
                    channel: Channel::Dmp as i32,
                    ..Default::default()
                },
                Target {
                    id: "t3".into(),
                    channel: Channel::Mssante as i32,
                    mss_address: "y@dom.test".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let td = |t: &str, d: &str, ok: bool| TargetDecision {
            target_id: t.into(),
            document_id: d.into(),
            outcome: if ok {
                Outcome::Allowed as i32
            } else {
                Outcome::Denied as i32
            },
            ..Default::default()
        };
        let decision = Decision {
            targets: vec![
                td("t1", "b", true),
                td("t1", "a", true),
                td("t2", "a", false),
                td("t3", "a", false),
                td("t3", "b", true),
            ],
            ..Default::default()
        };
        let p = plan(&req, &decision);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].target_id, "t1");
        assert_eq!(p[0].document_ids, vec!["a", "b"]);
        assert_eq!(p[0].destination, "mssante:dom.test");
        assert_eq!(p[1].target_id, "t3");
        assert_eq!(p[1].document_ids, vec!["b"]);
    }

    #[test]
    fn request_hash_ignores_the_idempotency_key_only() {
        let a = SubmitRequest {
            tenant: "t".into(),
            idempotency_key: "k1".into(),
            ..Default::default()
        };
        let mut b = a.clone();
        b.idempotency_key = "k2".into();
        assert_eq!(request_sha256(&a), request_sha256(&b));
        b.tenant = "u".into();
        assert_ne!(request_sha256(&a), request_sha256(&b));
    }

    #[test]
    fn the_policy_input_hash_is_the_canonical_hash_without_correlation_fields() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/requests/02-ppe-lieu-accueil-et-referente.json");
        let mut req = crate::client::read_request(&path).expect("example");
        req.idempotency_key = "k-1".into();
        req.request_id.clear();
        req.expected_input_sha256.clear();
        let canonical = canonical_request(&mut req);
        assert_eq!(req.idempotency_key, "k-1", "the key is put back");
        assert_eq!(
            passerelle_outbox::Sha256::digest(&canonical).to_hex(),
            passerelle_policy::input_sha256(&req)
        );
        // With a correlation id the two differ, and Submit lets the policy hash it itself.
        req.request_id = "corr-1".into();
        assert_ne!(
            passerelle_outbox::Sha256::digest(&canonical_request(&mut req)).to_hex(),
            passerelle_policy::input_sha256(&req)
        );
    }
}
