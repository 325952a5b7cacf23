use std::time::Duration;

use passerelle_api::v1::DocumentKind;
use passerelle_dmp::{FailureSource, Retry, Transaction};
use passerelle_dmp_client::{DeleteInput, Timeouts};
use passerelle_documents::XdsCode;
use passerelle_sim_dmp::testkit::{self, TENANT_OID};
use passerelle_sim_dmp::{EntryStatus, Fault};
use time::OffsetDateTime;

use crate::common::*;

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn count(sim: &passerelle_sim_dmp::SimHandle, t: Transaction) -> usize {
    sim.exchanges()
        .iter()
        .filter(|e| e.transaction == Some(t))
        .count()
}

#[tokio::test]
async fn autorisation_de_soins_for_a_placed_child_is_stored_with_the_requested_visibility() {
    let e = env().await;
    let c = client(&e.sim);
    let p = e.patient("child9");
    let inp = input(
        &p,
        DocumentKind::AutorisSoins,
        flags(false, false, true),
        n(1, 1),
    );
    let cda = inp.documents[0].cda.clone();
    let out = c.submit(inp, now()).await.expect("stored");
    assert_eq!(out.unique_id, format!("{TENANT_OID}.1.{}", n(1, 1)));
    assert_eq!(out.submission_set_id, format!("{TENANT_OID}.2.{}", n(1, 1)));
    let entries = e.sim.entries();
    let doc = entries
        .iter()
        .find(|x| x.unique_id == out.unique_id)
        .expect("entry stored");
    assert_eq!(doc.status, EntryStatus::Approved);
    assert_eq!(doc.type_code, "AUTORIS-SOINS");
    assert_eq!(
        doc.confidentiality,
        vec!["N", "INVISIBLE_REPRESENTANTS_LEGAUX"]
    );
    assert_eq!(doc.bytes, cda, "stored bytes are the CDA byte for byte");
    assert_eq!(doc.author_structure, testkit::STRUCT_IDNAT);
    assert!(
        entries
            .iter()
            .any(|x| x.is_signature && x.submission_set == out.submission_set_id)
    );
    // TD0.2 went first, then ITI-41, on one reused connection.
    let tx: Vec<_> = e.sim.exchanges().iter().map(|x| x.transaction).collect();
    assert_eq!(tx, vec![Some(Transaction::Td02), Some(Transaction::Iti41)]);
    assert_eq!(c.idle_connections(), 1);
}

#[tokio::test]
async fn visible_document_for_an_adult_and_masked_document_are_stored_as_asked() {
    let e = env().await;
    let c = client(&e.sim);
    let adult = e.patient("adult");
    c.submit(
        input(
            &adult,
            DocumentKind::CrExamenEnfant,
            flags(true, false, false),
            n(2, 1),
        ),
        now(),
    )
    .await
    .expect("stored");
    let stored = e.sim.entries();
    let d = stored.iter().find(|x| !x.is_signature).expect("doc");
    assert_eq!(d.confidentiality, vec!["N", "MASQUE_PS"]);
}

#[tokio::test]
async fn td02_answer_is_cached_per_patient_for_a_few_minutes() {
    let e = env().await;
    let c = client(&e.sim);
    let p = e.patient("child9");
    let t0 = now();
    let f = flags(false, false, false);
    c.submit(input(&p, DocumentKind::Pai, f.clone(), n(3, 1)), t0)
        .await
        .expect("1");
    c.submit(
        input(&p, DocumentKind::Pai, f.clone(), n(3, 2)),
        t0 + time::Duration::seconds(60),
    )
    .await
    .expect("2");
    assert_eq!(
        count(&e.sim, Transaction::Td02),
        1,
        "second submit used the cache"
    );
    // Past the TTL (2 min) a new TD0.2 is made (the simulator's clock follows).
    let later = t0 + time::Duration::minutes(3);
    e.sim.set_clock(Some(later));
    c.submit(input(&p, DocumentKind::Pai, f, n(3, 3)), later)
        .await
        .expect("3");
    assert_eq!(count(&e.sim, Transaction::Td02), 2);
}

#[tokio::test]
async fn patients_without_an_active_dmp_or_with_another_birth_date_are_not_fed() {
    let e = env().await;
    let c = client(&e.sim);
    let f = flags(false, false, false);
    for (name, code) in [
        ("no_dmp", "not_fed:no_dmp"),
        ("closed", "not_fed:dmp_closed"),
    ] {
        let p = e.patient(name);
        let err = c
            .submit(input(&p, DocumentKind::Pai, f.clone(), n(4, 1)), now())
            .await
            .expect_err(name);
        assert_eq!(err.code, code);
        assert!(!err.retryable);
    }
    let p = e.patient("birth_mismatch");
    let local = p.birth_date.next_day().expect("date");
    let err = c
        .submit(
            input_full(&p, local, DocumentKind::Pai, f, n(4, 2), 1000, None),
            now(),
        )
        .await
        .expect_err("mismatch");
    assert_eq!(err.code, "not_fed:identity_mismatch");
    assert_eq!(
        count(&e.sim, Transaction::Iti41),
        0,
        "nothing was submitted"
    );
}

#[tokio::test]
async fn replacement_round_trip_deprecates_the_old_version() {
    let e = env().await;
    let c = client(&e.sim);
    let p = e.patient("child9");
    let f = flags(false, false, false);
    let v1 = c
        .submit(
            input(&p, DocumentKind::BilanSanteEntree, f.clone(), n(5, 1)),
            now(),
        )
        .await
        .expect("v1");
    // Hiding from the representatives is a replacement (dmp.md §4.7).
    let f2 = flags(false, false, true);
    let inp = input_full(
        &p,
        p.birth_date,
        DocumentKind::BilanSanteEntree,
        f2,
        n(5, 2),
        2000,
        Some(&v1.unique_id),
    );
    let v2 = c.replace(inp, &v1.unique_id, now()).await.expect("v2");
    let entries = e.sim.entries();
    let old = entries
        .iter()
        .find(|x| x.unique_id == v1.unique_id)
        .expect("old");
    let new = entries
        .iter()
        .find(|x| x.unique_id == v2.unique_id)
        .expect("new");
    assert_eq!(old.status, EntryStatus::Deprecated);
    assert_eq!(new.status, EntryStatus::Approved);
    assert_ne!(old.entry_uuid, new.entry_uuid);
    assert_ne!(old.logical_id, new.logical_id);
    assert_eq!(
        new.confidentiality,
        vec!["N", "INVISIBLE_REPRESENTANTS_LEGAUX"]
    );
    assert!(String::from_utf8_lossy(&new.bytes).contains("typeCode=\"RPLC\""));
    // The old version is no longer found; replacing it again fails permanently.
    assert_eq!(
        c.find_entry(&p.ins, &p.ins_oid, &v1.unique_id, false, now())
            .await
            .expect("q"),
        None
    );
    let again = input_full(
        &p,
        p.birth_date,
        DocumentKind::BilanSanteEntree,
        flags(false, false, true),
        n(5, 3),
        2000,
        Some(&v1.unique_id),
    );
    let err = c
        .replace(again, &v1.unique_id, now())
        .await
        .expect_err("deprecated");
    assert_eq!(err.code, "replace_target_unknown");
    assert!(!err.retryable);
}

pub fn delete_input(p: &passerelle_sim_dmp::Patient, uid: &str, n: u32) -> DeleteInput {
    DeleteInput {
        ins: p.ins.clone(),
        ins_oid: p.ins_oid.clone(),
        birth_date: p.birth_date,
        unique_id: uid.to_owned(),
        submission_set_unique_id: format!("{TENANT_OID}.2.{n}"),
        source_id: TENANT_OID.to_owned(),
        author_person: "810000001023^LEROY^Sophie^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS".into(),
        content_type: XdsCode {
            code: "SA20".into(),
            display: "Etablissement pour la protection de l'enfance".into(),
            scheme: "1.2.250.1.71.4.2.4".into(),
        },
        secret_connection: false,
    }
}

#[tokio::test]
async fn deletion_round_trip_by_the_author_structure_only() {
    let e = env().await;
    let c = client(&e.sim);
    let p = e.patient("child9");
    let v1 = c
        .submit(
            input(
                &p,
                DocumentKind::CrMedical,
                flags(false, false, false),
                n(6, 1),
            ),
            now(),
        )
        .await
        .expect("v1");
    // Another structure (cd93) may not delete it.
    let other = client_with(
        &e.sim,
        "cd93",
        facts("cd93", "322930008200018"),
        Timeouts::default(),
    );
    let err = other
        .delete(delete_input(&p, &v1.unique_id, n(6, 2)), now())
        .await
        .expect_err("not the author");
    assert_eq!(err.code, "DMP_NOT_AUTHOR");
    assert_eq!(err.origin, FailureSource::Registry);
    assert!(!err.retryable);
    c.delete(delete_input(&p, &v1.unique_id, n(6, 3)), now())
        .await
        .expect("deleted");
    let entries = e.sim.entries();
    let d = entries
        .iter()
        .find(|x| x.unique_id == v1.unique_id)
        .expect("entry");
    assert_eq!(d.status, EntryStatus::Deleted);
    let err = c
        .delete(delete_input(&p, &v1.unique_id, n(6, 4)), now())
        .await
        .expect_err("already deleted");
    assert_eq!(err.code, "delete_target_unknown");
}

#[tokio::test]
async fn a_five_mib_document_goes_over_mtom_as_binary() {
    let e = env().await;
    let c = client(&e.sim);
    let p = e.patient("child9");
    let inp = input_full(
        &p,
        p.birth_date,
        DocumentKind::CrMedical,
        flags(false, false, false),
        n(7, 1),
        5 * 1024 * 1024,
        None,
    );
    let cda_len = inp.documents[0].cda.len();
    assert!(cda_len > 5 * 1024 * 1024, "the CDA carries the 5 MiB PDF");
    let req = c.iti41_request(&inp, now()).expect("request");
    // Binary parts: the body is the CDA plus a few KiB, never a second base64 copy of it.
    assert!(
        req.body.len() < cda_len + 64 * 1024,
        "body {} vs CDA {}",
        req.body.len(),
        cda_len
    );
    let out = c.submit(inp.clone(), now()).await.expect("stored");
    let stored = e.sim.entries();
    let d = stored
        .iter()
        .find(|x| x.unique_id == out.unique_id)
        .expect("entry");
    assert_eq!(d.bytes, inp.documents[0].cda);
}

#[tokio::test]
async fn server_errors_are_retryable_with_their_class() {
    let e = env().await;
    let c = client(&e.sim);
    let p = e.patient("child9");
    let f = flags(false, false, false);
    let cases = [
        (
            Fault::ServerFault,
            "Receiver",
            Retry::BackoffMax3,
            FailureSource::SoapFault,
        ),
        (
            Fault::Empty(503),
            "http_503",
            Retry::Backoff,
            FailureSource::Http,
        ),
        (
            Fault::Empty(502),
            "http_502",
            Retry::Backoff,
            FailureSource::Http,
        ),
        (
            Fault::RegistryBusy,
            "XDSRegistryBusy",
            Retry::Backoff,
            FailureSource::Registry,
        ),
    ];
    for (i, (fault, code, retry, origin)) in cases.into_iter().enumerate() {
        e.sim.inject(Transaction::Iti41, fault);
        let err = c
            .submit(
                input(&p, DocumentKind::Pai, f.clone(), n(8, i as u32)),
                now(),
            )
            .await
            .expect_err("fault");
        assert_eq!(err.code, code, "{fault:?}");
        assert_eq!(err.retry, retry, "{fault:?}");
        assert_eq!(err.origin, origin, "{fault:?}");
        assert!(err.retryable);
    }
    // Malformed XML on 200: outcome unknown → TD3.1b finds nothing → retry later.
    e.sim.inject(Transaction::Iti41, Fault::MalformedXml);
    let err = c
        .submit(input(&p, DocumentKind::Pai, f.clone(), n(8, 10)), now())
        .await
        .expect_err("malformed");
    assert_eq!(err.code, "unparseable_reply");
    assert!(err.retryable);
    assert_eq!(
        count(&e.sim, Transaction::Iti18),
        1,
        "looked up before deciding"
    );
    // Latency alone is no failure.
    e.sim.inject(
        Transaction::Iti41,
        Fault::Latency(Duration::from_millis(300)),
    );
    c.submit(input(&p, DocumentKind::Pai, f.clone(), n(8, 11)), now())
        .await
        .expect("slow but fine");
}

#[tokio::test]
async fn commit_then_drop_is_recognised_as_delivered_by_lookup() {
    let e = env().await;
    let c = client(&e.sim);
    let p = e.patient("child9");
    e.sim.inject(Transaction::Iti41, Fault::CommitThenDrop);
    let out = c
        .submit(
            input(&p, DocumentKind::Pai, flags(false, false, false), n(9, 1)),
            now(),
        )
        .await
        .expect("delivered after lookup");
    assert!(e.sim.entries().iter().any(|x| x.unique_id == out.unique_id));
    assert_eq!(count(&e.sim, Transaction::Iti18), 1);
}

#[tokio::test]
async fn a_hanging_server_times_out_and_stays_retryable() {
    let e = env().await;
    let c = client_with(
        &e.sim,
        testkit::TENANT,
        facts(testkit::TENANT, testkit::STRUCT_IDNAT),
        short_timeouts(),
    );
    let p = e.patient("child9");
    e.sim.inject(Transaction::Iti41, Fault::Hang);
    let err = c
        .submit(
            input(&p, DocumentKind::Pai, flags(false, false, false), n(10, 1)),
            now(),
        )
        .await
        .expect_err("timeout");
    assert_eq!(err.code, "timeout");
    assert_eq!(err.origin, FailureSource::Transport);
    assert_eq!(err.retry, Retry::Backoff, "not found by TD3.1b → backoff");
    assert!(err.retryable);
}

#[tokio::test]
async fn a_permanent_error_fails_and_a_duplicate_after_an_uncertain_attempt_is_delivered() {
    let e = env().await;
    let c = client(&e.sim);
    let p = e.patient("child9");
    let inp = input(&p, DocumentKind::Pai, flags(false, false, false), n(11, 1));
    c.submit(inp.clone(), now()).await.expect("first");
    let err = c.submit(inp.clone(), now()).await.expect_err("duplicate");
    assert_eq!(err.code, "XDSDuplicateUniqueIdInRegistry");
    assert_eq!(err.origin, FailureSource::Registry);
    assert_eq!(err.retry, Retry::Never);
    assert!(!err.retryable);
    let api = err.to_delivery_error();
    assert_eq!(api.reason, "XDSDuplicateUniqueIdInRegistry");
    assert!(!api.retryable);
    let retry = passerelle_dmp_client::SubmissionInput {
        after_uncertain_attempt: true,
        ..inp
    };
    c.submit(retry, now())
        .await
        .expect("the earlier attempt had stored it");
}

#[tokio::test]
async fn adapter_checks_refuse_before_sending() {
    let e = env().await;
    let c = client(&e.sim);
    let child = e.patient("child9");
    let adult = e.patient("adult");
    let before = e.sim.exchanges().len();
    let err = c
        .submit(
            input(
                &child,
                DocumentKind::Pai,
                flags(true, true, false),
                n(12, 1),
            ),
            now(),
        )
        .await
        .expect_err("cumul");
    assert_eq!(err.code, "DMP-CONF-02");
    assert_eq!(err.origin, FailureSource::Adapter);
    assert!(!err.retryable);
    let err = c
        .submit(
            input(
                &adult,
                DocumentKind::Pai,
                flags(false, false, true),
                n(12, 2),
            ),
            now(),
        )
        .await
        .expect_err("adult");
    assert_eq!(err.code, "DMP-CONF-04");
    let mut opposed = input(
        &child,
        DocumentKind::Pai,
        flags(false, false, false),
        n(12, 3),
    );
    opposed.local_opposition = true;
    assert_eq!(
        c.submit(opposed, now()).await.expect_err("opp").code,
        "DMP-ID-03"
    );
    let mut unstated = input(
        &child,
        DocumentKind::Pai,
        flags(false, false, false),
        n(12, 4),
    );
    unstated.flags.stated = false;
    assert_eq!(
        c.submit(unstated, now()).await.expect_err("stated").code,
        "DMP-CONF-01"
    );
    let mut required = input(
        &child,
        DocumentKind::Pai,
        flags(false, false, false),
        n(12, 5),
    );
    required.flags.required_invisible_representants_legaux = true;
    assert_eq!(
        c.submit(required, now()).await.expect_err("vis4").code,
        "DMP-CONF-07"
    );
    let mut secret = input(
        &child,
        DocumentKind::Pai,
        flags(false, false, false),
        n(12, 6),
    );
    secret.secret_connection = true;
    assert_eq!(
        c.submit(secret, now()).await.expect_err("secret").code,
        "DMP-CONF-03"
    );
    assert_eq!(e.sim.exchanges().len(), before, "nothing reached the DMP");
}

#[tokio::test]
async fn secret_connection_is_carried_and_required_by_the_secret_fixture() {
    let e = env().await;
    let c = client(&e.sim);
    let p = e.patient("secret");
    let mut inp = input(
        &p,
        DocumentKind::BilanPsy,
        flags(false, false, true),
        n(13, 1),
    );
    inp.secret_connection = true;
    c.submit(inp, now())
        .await
        .expect("stored with the VIHF code");
    // Without the secret connection the simulator refuses (request built past the adapter).
    let plain = input(
        &p,
        DocumentKind::BilanPsy,
        flags(false, false, true),
        n(13, 2),
    );
    let req = c.iti41_request(&plain, now()).expect("req");
    let reply = c.send_raw(&req).await.expect("reply");
    let err = passerelle_dmp::parse_registry_response(&reply.view()).expect_err("refused");
    assert_eq!(err.code, "DMP_SECRET_CONNECTION_REQUIRED");
}

#[tokio::test]
async fn minors_at_majority_boundaries() {
    let e = env().await;
    let c = client(&e.sim);
    // Turns 18 tomorrow: still a minor, the representatives flag is accepted.
    let minor = e.patient("majority_minus_1d");
    c.submit(
        input(
            &minor,
            DocumentKind::Pai,
            flags(false, false, true),
            n(14, 1),
        ),
        now(),
    )
    .await
    .expect("minor");
    // Turned 18 yesterday: an adult, refused by the adapter and by the simulator.
    let adult = e.patient("majority_plus_1d");
    let inp = input(
        &adult,
        DocumentKind::Pai,
        flags(false, false, true),
        n(14, 2),
    );
    assert_eq!(
        c.submit(inp.clone(), now()).await.expect_err("adult").code,
        "DMP-CONF-04"
    );
    let reply = c
        .send_raw(&c.iti41_request(&inp, now()).expect("req"))
        .await
        .expect("reply");
    let err = passerelle_dmp::parse_registry_response(&reply.view()).expect_err("sim refuses");
    assert_eq!(err.code, "DMP_CONFIDENTIALITY");
    assert!(err.message.contains("adult"));
}

#[tokio::test]
async fn tls_client_certificates_outside_the_test_pki_are_refused() {
    let e = env().await;
    let pki = testkit::pki().expect("pki");
    for broken in [
        &pki.broken.unknown_ca,
        &pki.broken.expired,
        &pki.broken.wrong_usage,
    ] {
        let identity = passerelle_tls::Identity::from_pem(
            broken.chain_pem().as_bytes(),
            broken.key_pem.as_bytes(),
        )
        .expect("id");
        let c = passerelle_dmp_client::DmpClient::new(passerelle_dmp_client::DmpClientConfig {
            base_url: e.sim.base_url(),
            trust: passerelle_tls::TrustAnchors::from_pem(pki.root.cert_pem.as_bytes())
                .expect("trust"),
            identity,
            revocation: passerelle_tls::Revocation::disabled(),
            signer: std::sync::Arc::new(testkit::signer(testkit::TENANT).expect("signer")),
            tenant: facts(testkit::TENANT, testkit::STRUCT_IDNAT),
            timeouts: short_timeouts(),
            params: passerelle_dmp::DmpParameters::default(),
            max_idle_connections: 1,
        })
        .expect("client");
        let p = e.patient("child9");
        let err = c
            .submit(
                input(&p, DocumentKind::Pai, flags(false, false, false), n(15, 1)),
                now(),
            )
            .await
            .expect_err(&broken.name);
        assert_eq!(
            err.origin,
            FailureSource::Transport,
            "{}: {err}",
            broken.name
        );
    }
    assert!(e.sim.exchanges().is_empty(), "no request got through");
}

/// The delivery worker spawns these futures on a multi-threaded runtime: they must be Send.
#[tokio::test]
async fn client_futures_are_send_and_the_client_is_shareable() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_sync<T: Send + Sync>() {}
    assert_sync::<passerelle_dmp_client::DmpClient>();
    let e = env().await;
    let c = std::sync::Arc::new(client(&e.sim));
    let p = e.patient("child9");
    let inp = input(&p, DocumentKind::Pai, flags(false, false, false), n(16, 1));
    let fut = c.submit(inp.clone(), now());
    assert_send(&fut);
    drop(fut);
    let c2 = c.clone();
    let out = tokio::spawn(async move { c2.submit(inp, OffsetDateTime::now_utc()).await })
        .await
        .expect("join")
        .expect("stored");
    assert!(e.sim.entries().iter().any(|x| x.unique_id == out.unique_id));
}

/// Render mode: the builder alone (no TLS, no socket), fixed ids and time → identical bytes; the
/// VIHF and XAdES returned are the ones inside the request.
#[tokio::test]
async fn the_request_builder_is_deterministic_with_fixed_ids() {
    let e = env().await;
    let b = passerelle_dmp_client::RequestBuilder::new(
        "https://lps2.dmp.gouv.fr/si-dmp-server/v2/services",
        std::sync::Arc::new(testkit::signer(testkit::TENANT).expect("signer")),
        facts(testkit::TENANT, testkit::STRUCT_IDNAT),
    )
    .expect("builder");
    let p = e.patient("child9");
    let inp = input(&p, DocumentKind::Pai, flags(false, false, false), n(17, 1));
    let ids = passerelle_dmp_client::RequestIds {
        message_id: "6f2c1f9e-8d7a-4b1e-9c3d-2a5b7e0f1c44".into(),
        boundary_id: "0d9b3a52-77f4-4c2e-a1b0-5e6f7a8b9c0d".into(),
        assertion_id: "_5e1d2c3b-4a59-4687-9766-554433221100".into(),
    };
    let at = time::macros::datetime!(2026-03-02 08:14:05.120 UTC);
    let one = b.iti41(&inp, at, &ids).expect("one");
    let two = b.iti41(&inp, at, &ids).expect("two");
    assert_eq!(one.request.to_http_bytes(), two.request.to_http_bytes());
    let wire = one.request.to_http_bytes();
    assert!(wire.starts_with(
        b"POST /si-dmp-server/v2/services/repository HTTP/1.1\r\nHost: lps2.dmp.gouv.fr\r\n"
    ));
    let mp =
        passerelle_dmp::mtom::parse(&one.request.content_type, &one.request.body).expect("mtom");
    let root = mp.root().expect("root").body;
    assert!(
        root.windows(one.vihf.len())
            .any(|w| w == one.vihf.as_slice()),
        "VIHF verbatim"
    );
    assert_eq!(
        mp.part_by_cid("0.3").expect("xades").body,
        one.xades.as_slice()
    );
    let other = b
        .iti41(
            &inp,
            at,
            &passerelle_dmp_client::RequestIds {
                message_id: "6f2c1f9e-8d7a-4b1e-9c3d-2a5b7e0f1c45".into(),
                ..ids
            },
        )
        .expect("other");
    assert_ne!(other.request.body, one.request.body);
}
