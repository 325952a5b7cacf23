use std::time::Duration;

use futures::StreamExt;
use passerelle_api::v1 as pb;
use passerelle_api::v1::admin_service_client::AdminServiceClient;
use passerelle_api::v1::transmission_service_client::TransmissionServiceClient;
use tonic::Code;
use tonic_types::StatusExt;

use crate::common::*;

async fn tx_client(gw: &Gw) -> TransmissionServiceClient<tonic::transport::Channel> {
    TransmissionServiceClient::new(channel(gw).await)
}

async fn wait_status(
    cl: &mut TransmissionServiceClient<tonic::transport::Channel>,
    id: &str,
    want: pb::DeliveryStatus,
) -> pb::Transmission {
    for _ in 0..200 {
        let t = cl
            .get(authed(
                pb::GetTransmissionRequest { id: id.into() },
                "mecs-tilleuls",
            ))
            .await
            .expect("get")
            .into_inner();
        if t.deliveries.iter().all(|d| d.status == want as i32) {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("deliveries of {id} never reached {want:?}");
}

#[tokio::test]
async fn submit_is_acknowledged_and_unwired_channels_stay_queued() {
    let gw = start().await;
    let mut cl = tx_client(&gw).await;
    let resp = cl
        .submit(authed(fixture("fiche-navette.json"), "mecs-tilleuls"))
        .await
        .expect("submit")
        .into_inner();
    assert!(!resp.replayed);
    let t = resp.transmission.expect("transmission");
    assert!(t.id.starts_with("tx_"));
    let d = t.decision.as_ref().expect("decision");
    assert!(d.accepted, "{d:?}");
    assert_eq!(t.deliveries.len(), 1);
    assert_eq!(t.deliveries[0].status, pb::DeliveryStatus::Queued as i32);
    assert_eq!(t.deliveries[0].destination, "mssante:cd93.mssante.test");
    // No sender is wired: the delivery must still be queued a moment later (never "sent").
    tokio::time::sleep(Duration::from_millis(600)).await;
    let again = cl
        .get(authed(
            pb::GetTransmissionRequest { id: t.id.clone() },
            "mecs-tilleuls",
        ))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(
        again.deliveries[0].status,
        pb::DeliveryStatus::Queued as i32
    );
    gw.running.stop().await;
}

#[tokio::test]
async fn idempotent_replay_over_grpc_and_json_agree_and_conflicts_are_refused() {
    let gw = start().await;
    let mut cl = tx_client(&gw).await;
    let req = fixture("fiche-navette.json");
    let first = cl
        .submit(authed(req.clone(), "mecs-tilleuls"))
        .await
        .expect("first")
        .into_inner();
    let second = cl
        .submit(authed(req.clone(), "mecs-tilleuls"))
        .await
        .expect("replay")
        .into_inner();
    assert!(second.replayed);
    let id = first.transmission.as_ref().expect("t").id.clone();
    assert_eq!(second.transmission.as_ref().expect("t").id, id);
    assert_eq!(second.transmission.as_ref().expect("t").deliveries.len(), 1);

    // The same body as JSON, key in the header: same transmission.
    let mut body = fixture_json("fiche-navette.json");
    let key = body["idempotencyKey"].as_str().expect("key").to_string();
    body.as_object_mut().expect("obj").remove("idempotencyKey");
    let (status, _, out) = http(
        &gw,
        "POST",
        "/v1/transmissions",
        Some("sandbox-token-mecs-tilleuls"),
        &[("idempotency-key", &key)],
        Some(serde_json::to_vec(&body).expect("json")),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out));
    let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
    assert_eq!(v["transmission"]["id"], id.as_str());
    assert_eq!(v["replayed"], true);

    // Same key, different body.
    let mut other = req.clone();
    other.request_id = "another".into();
    let err = cl
        .submit(authed(other, "mecs-tilleuls"))
        .await
        .expect_err("conflict");
    assert_eq!(err.code(), Code::AlreadyExists);
    let (status, headers, out) = http(
        &gw,
        "POST",
        "/v1/transmissions",
        Some("sandbox-token-mecs-tilleuls"),
        &[("idempotency-key", &key)],
        Some(b"{\"tenant\":\"mecs-tilleuls\",\"requestId\":\"x\"}".to_vec()),
    )
    .await;
    // Invalid first: validation runs before the idempotency lookup.
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&out));
    assert_eq!(headers["content-type"], "application/problem+json");
    body["requestId"] = serde_json::Value::String("changed".into());
    let (status, _, out) = http(
        &gw,
        "POST",
        "/v1/transmissions",
        Some("sandbox-token-mecs-tilleuls"),
        &[("idempotency-key", &key)],
        Some(serde_json::to_vec(&body).expect("json")),
    )
    .await;
    assert_eq!(status, 409, "{}", String::from_utf8_lossy(&out));
    gw.running.stop().await;
}

#[tokio::test]
async fn invalid_input_names_every_bad_field() {
    let gw = start().await;
    let mut cl = tx_client(&gw).await;
    let mut req = fixture("fiche-navette.json");
    req.idempotency_key = "bad-1".into();
    if let Some(c) = req.child.as_mut() {
        c.birth_date = "2099-01-01".into();
        if let Some(ins) = c.ins.as_mut() {
            ins.matricule = "212069306600158".into();
        }
    }
    req.documents[0].kind = 0;
    req.targets[0].mss_address = "not-an-address".into();
    let err = cl
        .submit(authed(req, "mecs-tilleuls"))
        .await
        .expect_err("invalid");
    assert_eq!(err.code(), Code::InvalidArgument);
    let br = err.get_details_bad_request().expect("bad request details");
    let fields: Vec<String> = br
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect();
    for f in [
        "child.birthDate",
        "child.ins.matricule",
        "documents[0].kind",
        "targets[0].mssAddress",
    ] {
        assert!(fields.iter().any(|x| x == f), "{f} not in {fields:?}");
    }
    assert!(
        err.get_details_error_info()
            .is_some_and(|i| i.reason == "INVALID_REQUEST")
    );

    // HTTP: a JSON type error names its path; problem+json lists every field.
    let (status, _, out) = http(
        &gw,
        "POST",
        "/v1/transmissions",
        Some("sandbox-token-mecs-tilleuls"),
        &[],
        Some(br#"{"tenant":"mecs-tilleuls","documents":[{"kind":"DOCUMENT_KIND_NOPE"}]}"#.to_vec()),
    )
    .await;
    assert_eq!(status, 400);
    let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
    assert!(
        v["errors"][0]["field"]
            .as_str()
            .expect("field")
            .contains("documents[0].kind"),
        "{v}"
    );
    gw.running.stop().await;
}

/// Documents are rendered after the acknowledgement, but what the document layers refuse in the
/// input is still refused at Submit: a qualified INS without its birthplace passes the structural
/// validation and fails the CDA header, which Submit renders with placeholder PDFs.
#[tokio::test]
async fn input_the_document_layers_refuse_is_refused_before_the_ack() {
    let gw = start().await;
    let mut cl = tx_client(&gw).await;
    let mut req = fixture("fiche-navette.json");
    req.idempotency_key = "render-check-1".into();
    let ins = req
        .child
        .as_mut()
        .and_then(|c| c.ins.as_mut())
        .expect("the fixture has an INS");
    assert!(!ins.birthplace_insee.is_empty());
    ins.birthplace_insee.clear();
    let err = cl
        .submit(authed(req.clone(), "mecs-tilleuls"))
        .await
        .expect_err("refused at Submit");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let br = err.get_details_bad_request().expect("bad request details");
    assert!(
        br.field_violations
            .iter()
            .any(|v| v.field.contains("birthplace") || v.description.contains("birthplace")),
        "names the field: {br:?}"
    );
    // A supplied PDF whose message would be over the operator's 10 MiB for sure.
    let mut big = fixture("fiche-navette.json");
    big.idempotency_key = "render-check-2".into();
    let mut data = b"%PDF-1.4\n".to_vec();
    data.resize(4 * 1024 * 1024, b' ');
    data.extend_from_slice(b"\n%%EOF");
    big.documents[0].content = Some(pb::document::Content::Pdf(pb::SuppliedPdf {
        data: data.into(),
        file_name: "big.pdf".into(),
    }));
    let err = cl
        .submit(authed(big, "mecs-tilleuls"))
        .await
        .expect_err("too large for MSSanté");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let br = err.get_details_bad_request().expect("bad request details");
    assert!(
        br.field_violations
            .iter()
            .any(|v| v.field == "documents" && v.description.contains("size limit")),
        "{br:?}"
    );
    // Nothing stored: the same key with a valid body is a first submission, not a conflict.
    let mut ok = fixture("fiche-navette.json");
    ok.idempotency_key = req.idempotency_key.clone();
    let r = cl
        .submit(authed(ok, "mecs-tilleuls"))
        .await
        .expect("accepted")
        .into_inner();
    assert!(!r.replayed);
    gw.running.stop().await;
}

#[tokio::test]
async fn backpressure_answers_resource_exhausted_and_429() {
    let gw = start_with(|c| c.outbox.capacity = 1, Vec::new()).await;
    let mut cl = tx_client(&gw).await;
    let mut req = fixture("fiche-navette.json");
    cl.submit(authed(req.clone(), "mecs-tilleuls"))
        .await
        .expect("first fits");
    req.idempotency_key = "second".into();
    let err = cl
        .submit(authed(req.clone(), "mecs-tilleuls"))
        .await
        .expect_err("full");
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(err.get_details_retry_info().is_some());
    let mut body = fixture_json("fiche-navette.json");
    body["idempotencyKey"] = "third".into();
    let (status, headers, _) = http(
        &gw,
        "POST",
        "/v1/transmissions",
        Some("sandbox-token-mecs-tilleuls"),
        &[],
        Some(serde_json::to_vec(&body).expect("json")),
    )
    .await;
    assert_eq!(status, 429);
    assert!(headers.contains_key("retry-after"));
    gw.running.stop().await;
}

#[tokio::test]
async fn pause_resume_retry_and_watch_until_terminal() {
    let sender = ScriptedSender::new("mssante:", vec![permanent()], stored());
    let gw = start_with(|_| {}, vec![sender.clone()]).await;
    let ch = channel(&gw).await;
    let mut cl = TransmissionServiceClient::new(ch.clone());
    let mut admin = AdminServiceClient::new(ch);
    admin
        .pause(authed(
            pb::DestinationRequest {
                destination: "mssante:cd93.mssante.test".into(),
            },
            "mecs-tilleuls",
        ))
        .await
        .expect("pause");
    let t = cl
        .submit(authed(fixture("fiche-navette.json"), "mecs-tilleuls"))
        .await
        .expect("submit")
        .into_inner()
        .transmission
        .expect("t");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(sender.calls(), 0, "a paused destination is not dispatched");
    admin
        .resume(authed(
            pb::DestinationRequest {
                destination: "mssante:cd93.mssante.test".into(),
            },
            "mecs-tilleuls",
        ))
        .await
        .expect("resume");
    let failed = wait_status(&mut cl, &t.id, pb::DeliveryStatus::Failed).await;
    let d = &failed.deliveries[0];
    assert_eq!(
        d.last_error.as_ref().expect("error").reason,
        "recipient_rejected"
    );
    admin
        .retry(authed(
            pb::RetryRequest {
                delivery_id: d.id.clone(),
            },
            "mecs-tilleuls",
        ))
        .await
        .expect("retry");
    // Watch until every delivery is final: the stream ends with all_final.
    let mut stream = cl
        .watch(authed(
            pb::WatchRequest {
                id: t.id.clone(),
                after_seq: 0,
            },
            "mecs-tilleuls",
        ))
        .await
        .expect("watch")
        .into_inner();
    let mut last = None;
    while let Some(ev) = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("watch stalled")
    {
        last = Some(ev.expect("event"));
    }
    let last = last.expect("events");
    assert!(last.all_final);
    let done = wait_status(&mut cl, &t.id, pb::DeliveryStatus::Stored).await;
    let statuses: Vec<i32> = done.deliveries[0].events.iter().map(|e| e.to).collect();
    assert!(
        statuses.contains(&(pb::DeliveryStatus::Failed as i32)),
        "{statuses:?}"
    );
    assert!(statuses.contains(&(pb::DeliveryStatus::Queued as i32)));
    assert_eq!(sender.calls(), 2);
    gw.running.stop().await;
}

#[tokio::test]
async fn cancel_a_queued_delivery() {
    let gw = start().await;
    let mut cl = tx_client(&gw).await;
    let t = cl
        .submit(authed(fixture("fiche-navette.json"), "mecs-tilleuls"))
        .await
        .expect("submit")
        .into_inner()
        .transmission
        .expect("t");
    let c = cl
        .cancel(authed(
            pb::CancelRequest {
                id: t.id.clone(),
                delivery_id: String::new(),
                reason: "erreur de destinataire".into(),
            },
            "mecs-tilleuls",
        ))
        .await
        .expect("cancel")
        .into_inner();
    let t2 = c.transmission.expect("t");
    assert_eq!(
        t2.deliveries[0].status,
        pb::DeliveryStatus::Cancelled as i32
    );
    // Cancelling again is refused: a final state is final.
    let d = t2.deliveries[0].id.clone();
    let err = cl
        .cancel(authed(
            pb::CancelRequest {
                id: t.id.clone(),
                delivery_id: d,
                reason: String::new(),
            },
            "mecs-tilleuls",
        ))
        .await
        .expect_err("terminal");
    assert!(
        matches!(err.code(), Code::FailedPrecondition | Code::AlreadyExists),
        "{err:?}"
    );
    gw.running.stop().await;
}

#[tokio::test]
async fn a_caller_never_acts_for_another_tenant() {
    let gw = start().await;
    let mut cl = tx_client(&gw).await;
    // cd93's token submitting as mecs-tilleuls.
    let err = cl
        .submit(authed(fixture("fiche-navette.json"), "cd93"))
        .await
        .expect_err("cross-tenant");
    assert_eq!(err.code(), Code::PermissionDenied);
    let t = cl
        .submit(authed(fixture("fiche-navette.json"), "mecs-tilleuls"))
        .await
        .expect("own")
        .into_inner()
        .transmission
        .expect("t");
    let err = cl
        .get(authed(
            pb::GetTransmissionRequest { id: t.id.clone() },
            "cd93",
        ))
        .await
        .expect_err("other tenant's transmission");
    assert_eq!(err.code(), Code::NotFound);
    let (status, _, _) = http(
        &gw,
        "GET",
        &format!("/v1/transmissions/{}", t.id),
        Some("sandbox-token-cd93"),
        &[],
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = http(
        &gw,
        "GET",
        &format!("/v1/transmissions/{}", t.id),
        Some("wrong-token"),
        &[],
        None,
    )
    .await;
    assert_eq!(status, 401);
    let mut req = tonic::Request::new(pb::GetTransmissionRequest { id: t.id.clone() });
    req.metadata_mut()
        .insert("authorization", "Bearer nope".parse().expect("md"));
    assert_eq!(
        cl.get(req).await.expect_err("unknown token").code(),
        Code::Unauthenticated
    );
    gw.running.stop().await;
}

#[tokio::test]
async fn policy_denial_is_permission_denied_with_the_decision() {
    let gw = start().await;
    let mut cl = tx_client(&gw).await;
    let mut req = fixture("fiche-navette.json");
    req.idempotency_key = "deny-1".into();
    // A fiche navette to the DMP is a social document: never.
    req.targets[0].channel = pb::Channel::Dmp as i32;
    req.targets[0].mss_address.clear();
    req.targets[0].recipient = Some(pb::target::Recipient::Child(pb::ChildRecipient {}));
    let err = cl
        .submit(authed(req.clone(), "mecs-tilleuls"))
        .await
        .expect_err("denied");
    assert_eq!(err.code(), Code::PermissionDenied);
    let info = err.get_details_error_info().expect("info");
    assert_eq!(info.reason, "POLICY_DENIED");
    let decision: pb::Decision =
        serde_json::from_str(info.metadata.get("decision").expect("decision")).expect("json");
    assert!(!decision.accepted);
    assert!(
        decision
            .targets
            .iter()
            .all(|t| t.outcome == pb::Outcome::Denied as i32)
    );
    // Nothing stored: a list shows no transmission.
    let list = cl
        .list(authed(
            pb::ListTransmissionsRequest::default(),
            "mecs-tilleuls",
        ))
        .await
        .expect("list")
        .into_inner();
    assert!(list.transmissions.is_empty());
    // Explain runs the same decision without storing anything.
    let ex = cl
        .explain(authed(req, "mecs-tilleuls"))
        .await
        .expect("explain")
        .into_inner();
    let d = ex.decision.expect("decision");
    assert!(d.dry_run && !d.accepted);
    gw.running.stop().await;
}

#[tokio::test]
async fn health_reflection_metrics_openapi_and_whoami() {
    let gw = start().await;
    let ch = channel(&gw).await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(ch.clone());
    let h = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "passerelle.v1.TransmissionService".into(),
        })
        .await
        .expect("health")
        .into_inner();
    assert_eq!(
        h.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        let (status, _, body) = http(&gw, "GET", path, None, &[], None).await;
        assert_eq!(status, 200, "{path}");
        if path == "/metrics" {
            let text = String::from_utf8_lossy(&body);
            assert!(
                text.contains("passerelle_received_documents_total"),
                "{text}"
            );
        }
    }
    let mut admin = AdminServiceClient::new(ch);
    let me = admin
        .who_am_i(authed(pb::WhoAmIRequest {}, "cd93"))
        .await
        .expect("whoami")
        .into_inner();
    assert_eq!(me.tenant, "cd93");
    assert_eq!(me.siret, "22930008200018");
    assert_eq!(me.dmp_structure_id, "322930008200018");
    assert!(
        me.certificates
            .iter()
            .any(|c| c.usage == "tls_client" && c.subject.contains("dui-app@cd93.mssante.test")),
        "{:?}",
        me.certificates
    );
    // Unauthenticated loopback calls act as the sandbox tenant.
    let (status, _, body) = http(&gw, "GET", "/v1/admin/whoami", None, &[], None).await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["tenant"], "mecs-tilleuls");
    gw.running.stop().await;
}

#[tokio::test]
async fn only_admin_tenants_pause_shared_destinations() {
    let gw = start_with(|c| c.server.admin_tenants = vec!["cd93".into()], Vec::new()).await;
    let mut admin = AdminServiceClient::new(channel(&gw).await);
    let d = pb::DestinationRequest {
        destination: "mssante:cd93.mssante.test".into(),
    };
    let err = admin
        .pause(authed(d.clone(), "mecs-tilleuls"))
        .await
        .expect_err("not an admin tenant");
    assert_eq!(err.code(), Code::PermissionDenied);
    let ok = admin
        .pause(authed(d, "cd93"))
        .await
        .expect("admin")
        .into_inner();
    assert!(ok.paused);
    gw.running.stop().await;
}

struct TestClock(std::sync::Mutex<time::OffsetDateTime>);

impl passerelle::service::Clock for TestClock {
    fn now(&self) -> time::OffsetDateTime {
        *self.0.lock().expect("clock")
    }
}

#[tokio::test]
async fn a_decision_that_changed_before_dispatch_cancels_the_send() {
    let clock = std::sync::Arc::new(TestClock(std::sync::Mutex::new(
        time::OffsetDateTime::now_utc(),
    )));
    let sender = ScriptedSender::new("mssante:", Vec::new(), stored());
    // A retry window longer than the jump in time, so that the delivery is still due.
    let (cfg, dir) = sandbox_config(|c| c.outbox.retry_window_secs = 365 * 86_400);
    let running = passerelle::app::start(
        cfg,
        passerelle::app::Options {
            clock: clock.clone(),
            senders: vec![sender.clone()],
            ..passerelle::app::Options::default()
        },
    )
    .await
    .expect("start");
    let gw = Gw { running, _dir: dir };
    let svc = gw.running.service.clone();
    let dest = "mssante:cd93.mssante.test";
    svc.set_paused(&caller("mecs-tilleuls"), dest, true)
        .await
        .expect("pause");
    let mut req = fixture("fiche-navette.json");
    passerelle::demo::refresh_information_dates(&mut req);
    let t = svc
        .submit(&caller("mecs-tilleuls"), req)
        .await
        .expect("submit")
        .transmission
        .expect("t");
    // 200 days later the information of the parents is older than its validity (INF-2).
    *clock.0.lock().expect("clock") += time::Duration::days(200);
    svc.set_paused(&caller("mecs-tilleuls"), dest, false)
        .await
        .expect("resume");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let d = loop {
        let t2 = svc.get(&caller("mecs-tilleuls"), &t.id).await.expect("get");
        let d = t2.deliveries[0].clone();
        if d.status == pb::DeliveryStatus::Cancelled as i32 {
            break d;
        }
        assert!(std::time::Instant::now() < deadline, "not cancelled: {d:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        d.events.iter().any(|e| e.detail.contains("DECISION_STALE")),
        "{:?}",
        d.events
    );
    assert_eq!(sender.calls(), 0, "nothing was sent");
    gw.running.stop().await;
}
