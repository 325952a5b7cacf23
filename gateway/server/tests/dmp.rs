//! End to end through the embedded DMP simulator: mutual TLS, TD0.2, ITI-41 with a signed VIHF and
//! XAdES, the visibility the policy decided, retry on 5xx, failure on a permanent error.

use std::time::{Duration, Instant};

use passerelle_api::v1 as pb;
use passerelle_sim_dmp::{Fault, Transaction};

use crate::common::*;

fn request() -> pb::SubmitRequest {
    example("22-autorisation-soins-dmp.json")
}

async fn wait(env: &SimEnv, tenant: &str, id: &str, want: pb::DeliveryStatus) -> pb::Delivery {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let t = env
            .gw
            .running
            .service
            .get(&caller(tenant), id)
            .await
            .expect("get");
        let d = t.deliveries[0].clone();
        if d.status == want as i32 {
            return d;
        }
        assert!(Instant::now() < deadline, "never {want:?}: {d:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autorisation_de_soins_is_stored_with_the_decided_visibility() {
    let env = start_sim_env(|_| {}).await;
    let req = request();
    let resp = env
        .gw
        .running
        .service
        .submit(&caller(&req.tenant), req.clone())
        .await
        .expect("submit");
    let t = resp.transmission.expect("t");
    let flags = t.decision.as_ref().expect("decision").targets[0]
        .dmp_flags
        .clone()
        .expect("dmp flags");
    let d = wait(&env, &req.tenant, &t.id, pb::DeliveryStatus::Stored).await;
    let entries = env.sims.dmp.entries();
    let doc = entries
        .iter()
        .find(|e| !e.is_signature)
        .expect("a stored document");
    assert_eq!(
        doc.unique_id, d.message_id,
        "the delivery records the DMP uniqueId"
    );
    assert_eq!(doc.confidentiality.first().map(String::as_str), Some("N"));
    assert_eq!(
        doc.confidentiality
            .iter()
            .any(|c| c == "INVISIBLE_REPRESENTANTS_LEGAUX"),
        flags.invisible_representants_legaux
    );
    assert!(
        entries.iter().any(|e| e.is_signature),
        "the XAdES signature document is stored too"
    );
    env.gw.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_is_retried_then_stored() {
    let env = start_sim_env(|c| c.outbox.backoff_secs = vec![1]).await;
    env.sims.dmp.inject(Transaction::Iti41, Fault::ServerFault);
    let req = request();
    let t = env
        .gw
        .running
        .service
        .submit(&caller(&req.tenant), req.clone())
        .await
        .expect("submit")
        .transmission
        .expect("t");
    let d = wait(&env, &req.tenant, &t.id, pb::DeliveryStatus::Stored).await;
    assert!(d.attempts >= 2, "{d:?}");
    env.gw.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_without_dmp_fails_the_delivery_permanently() {
    let env = start_sim_env(|_| {}).await;
    let mut req = request();
    // A child whose DMP the simulator does not know: TD0.2 answers NF.
    if let Some(c) = req.child.as_mut()
        && let Some(i) = c.ins.as_mut()
    {
        i.matricule = "213069306600997".into();
    }
    let resp = env
        .gw
        .running
        .service
        .submit(&caller(&req.tenant), req.clone())
        .await;
    let t = match resp {
        Ok(r) => r.transmission.expect("t"),
        Err(e) => panic!("submit refused: {e:?}"),
    };
    let d = wait(&env, &req.tenant, &t.id, pb::DeliveryStatus::Failed).await;
    let e = d.last_error.expect("error");
    assert!(!e.retryable, "{e:?}");
    assert_eq!(e.origin, pb::ErrorOrigin::Dmp as i32);
    env.gw.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacement_then_deletion_round_trip() {
    use passerelle_sim_dmp::EntryStatus;
    let env = start_sim_env(|_| {}).await;
    let svc = env.gw.running.service.clone();
    let req = request();
    let t1 = svc
        .submit(&caller(&req.tenant), req.clone())
        .await
        .expect("submit")
        .transmission
        .expect("t");
    let d1 = wait(&env, &req.tenant, &t1.id, pb::DeliveryStatus::Stored).await;

    // A corrected version replaces it (RPLC): the old entry is deprecated.
    let mut r2 = req.clone();
    r2.idempotency_key = format!("{}-v2", req.idempotency_key);
    r2.replaces = Some(pb::Replaces {
        transmission_id: t1.id.clone(),
        document_id: String::new(),
        operation: pb::ReplaceOperation::Replace as i32,
        unique_id: String::new(),
    });
    let t2 = svc
        .submit(&caller(&req.tenant), r2.clone())
        .await
        .expect("replace")
        .transmission
        .expect("t");
    let d2 = wait(&env, &req.tenant, &t2.id, pb::DeliveryStatus::Stored).await;
    let entries = env.sims.dmp.entries();
    let old = entries
        .iter()
        .find(|e| e.unique_id == d1.message_id)
        .expect("old entry");
    let new = entries
        .iter()
        .find(|e| e.unique_id == d2.message_id)
        .expect("new entry");
    assert_eq!(old.status, EntryStatus::Deprecated);
    assert_eq!(new.status, EntryStatus::Approved);
    assert_ne!(
        old.entry_uuid, new.entry_uuid,
        "a replacement is a new entry (dmp.md §8 item 9)"
    );

    // The author deletes it (TD3.3c).
    let mut r3 = req.clone();
    r3.idempotency_key = format!("{}-del", req.idempotency_key);
    r3.replaces = Some(pb::Replaces {
        transmission_id: t2.id.clone(),
        document_id: String::new(),
        operation: pb::ReplaceOperation::Delete as i32,
        unique_id: String::new(),
    });
    let t3 = svc
        .submit(&caller(&req.tenant), r3)
        .await
        .expect("delete")
        .transmission
        .expect("t");
    wait(&env, &req.tenant, &t3.id, pb::DeliveryStatus::Stored).await;
    let entries = env.sims.dmp.entries();
    let gone = entries
        .iter()
        .find(|e| e.unique_id == d2.message_id)
        .expect("entry");
    assert_eq!(gone.status, EntryStatus::Deleted);
    // Replacing a transmission that stored nothing in the DMP is refused up front.
    let mut bad = req.clone();
    bad.idempotency_key = format!("{}-bad", req.idempotency_key);
    bad.replaces = Some(pb::Replaces {
        transmission_id: "tx_unknown".into(),
        document_id: String::new(),
        operation: pb::ReplaceOperation::Replace as i32,
        unique_id: String::new(),
    });
    let err = svc
        .submit(&caller(&req.tenant), bad)
        .await
        .expect_err("unknown replaced transmission");
    assert!(
        err.violations
            .iter()
            .any(|v| v.field == "replaces.transmissionId"),
        "{err:?}"
    );
    env.gw.running.stop().await;
}
