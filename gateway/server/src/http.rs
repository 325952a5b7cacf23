//! HTTP/JSON front end (axum): the proto's canonical JSON mapping on REST-style routes, errors as
//! application/problem+json (RFC 9457) with one entry per invalid field, Watch as server-sent events.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use passerelle_api::v1::*;
use passerelle_domain::error::{Error, Origin, Reason, Retry};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::auth::Caller;
use crate::service::Service;

static OPENAPI: std::sync::LazyLock<String> = std::sync::LazyLock::new(crate::openapi::render);

pub fn router(svc: Arc<Service>) -> Router {
    Router::new()
        .route("/v1/transmissions", post(submit).get(list))
        .route("/v1/transmissions:explain", post(explain))
        .route("/v1/transmissions/{id}", get(get_one))
        .route("/v1/transmissions/{id}/events", get(events))
        .route("/v1/transmissions/{id}/cancel", post(cancel))
        .route("/v1/inbox", get(inbox_list))
        .route("/v1/inbox/{id}", get(inbox_get))
        .route("/v1/inbox/{id}/ack", post(inbox_ack))
        .route("/v1/admin/whoami", get(whoami))
        .route("/v1/admin/deliveries", get(deliveries))
        .route("/v1/admin/deliveries/{id}/retry", post(retry))
        .route("/v1/admin/deliveries:retry-all", post(retry_all))
        .route("/v1/admin/destinations/{destination}/pause", post(pause))
        .route("/v1/admin/destinations/{destination}/resume", post(resume))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .with_state(svc)
}

/// RFC 9457 problem document for a boundary error.
pub fn problem(e: &Error) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = serde_json::json!({
        "type": format!("https://passerelle.invalid/problems/{}", e.reason.as_str().to_ascii_lowercase()),
        "title": title(e.reason),
        "status": status.as_u16(),
        "detail": e.message,
        "reason": e.reason.as_str(),
        "origin": crate::grpc::origin_str(e.origin),
    });
    if !e.violations.is_empty() {
        body["errors"] = serde_json::to_value(&e.violations).unwrap_or_default();
    }
    if let Some(d) = &e.detail
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(d)
    {
        body["decision"] = v;
    }
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if let Retry::After(d) = e.retry
        && let Ok(v) = HeaderValue::from_str(&d.as_secs().max(1).to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

fn title(r: Reason) -> &'static str {
    match r {
        Reason::InvalidRequest => "Invalid request",
        Reason::PolicyDenied => "Refused by the policy",
        Reason::IdempotencyConflict => "Idempotency key reused with a different body",
        Reason::QueueFull => "Queue full, retry later",
        Reason::NotFound => "Not found",
        Reason::TenantForbidden => "Forbidden for this tenant",
        Reason::Unauthenticated => "Authentication required",
        Reason::StoreUnavailable => "Store unavailable",
        Reason::InvalidState => "Invalid state",
        Reason::InternalError => "Internal error",
        Reason::AuditUnavailable => "Audit unavailable",
    }
}

fn json<T: serde::Serialize>(r: Result<T, Error>) -> Response {
    match r {
        Ok(v) => match serde_json::to_vec(&v) {
            Ok(b) => ([(header::CONTENT_TYPE, "application/json")], b).into_response(),
            Err(e) => problem(&Error::internal(format!("encoding the response: {e}"))),
        },
        Err(e) => problem(&e),
    }
}

/// Decodes a JSON body; a syntax or type error names the JSON path.
fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "body".to_string()
        } else {
            path
        };
        Error::invalid(vec![passerelle_domain::validate::FieldViolation::new(
            field,
            e.inner().to_string(),
        )])
    })
}

fn submit_body(headers: &HeaderMap, body: &[u8]) -> Result<SubmitRequest, Error> {
    let mut req: SubmitRequest = decode(body)?;
    if let Some(k) = headers.get("idempotency-key") {
        let k = k.to_str().map_err(|_| {
            Error::invalid(vec![passerelle_domain::validate::FieldViolation::new(
                "Idempotency-Key",
                "not printable ASCII",
            )])
        })?;
        if !req.idempotency_key.is_empty() && req.idempotency_key != k {
            return Err(Error::invalid(vec![
                passerelle_domain::validate::FieldViolation::new(
                    "Idempotency-Key",
                    "differs from idempotencyKey in the body",
                ),
            ]));
        }
        req.idempotency_key = k.to_string();
    }
    Ok(req)
}

async fn submit(
    State(s): State<Arc<Service>>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let r = match submit_body(&headers, &body) {
        Ok(req) => s.submit(&c, req).await,
        Err(e) => Err(e),
    };
    match r {
        Ok(resp) => {
            let status = if resp.replayed {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            let mut out = json(Ok(resp));
            *out.status_mut() = status;
            out
        }
        Err(e) => problem(&e),
    }
}

async fn explain(
    State(s): State<Arc<Service>>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let r = match submit_body(&headers, &body) {
        Ok(req) => s.explain(&c, req).await,
        Err(e) => Err(e),
    };
    json(r)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ListQuery {
    tenant: String,
    child_ref: String,
    status: Option<String>,
    since: Option<String>,
    until: Option<String>,
    page_size: u32,
    page_token: String,
    channel: Option<String>,
    destination: String,
}

fn parse_ts(field: &str, v: &Option<String>) -> Result<Option<pbjson_types::Timestamp>, Error> {
    match v {
        None => Ok(None),
        Some(s) => {
            serde_json::from_value::<pbjson_types::Timestamp>(serde_json::Value::String(s.clone()))
                .map(Some)
                .map_err(|_| {
                    Error::invalid(vec![passerelle_domain::validate::FieldViolation::new(
                        field,
                        "an RFC 3339 timestamp",
                    )])
                })
        }
    }
}

fn parse_enum<E: Into<i32>>(
    field: &str,
    v: &Option<String>,
    from_name: fn(&str) -> Option<E>,
) -> Result<i32, Error> {
    match v {
        None => Ok(0),
        Some(s) => from_name(s).map(Into::into).ok_or_else(|| {
            Error::invalid(vec![passerelle_domain::validate::FieldViolation::new(
                field,
                "unknown value",
            )])
        }),
    }
}

async fn list(
    State(s): State<Arc<Service>>,
    Extension(c): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> Response {
    let r = async {
        let req = ListTransmissionsRequest {
            tenant: q.tenant.clone(),
            child_ref: q.child_ref.clone(),
            status: parse_enum("status", &q.status, DeliveryStatus::from_str_name)?,
            since: parse_ts("since", &q.since)?,
            until: parse_ts("until", &q.until)?,
            page_size: q.page_size,
            page_token: q.page_token.clone(),
        };
        s.list(&c, req).await
    }
    .await;
    json(r)
}

async fn get_one(
    State(s): State<Arc<Service>>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    json(s.get(&c, &id).await)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct EventsQuery {
    after_seq: i64,
}

async fn events(
    State(s): State<Arc<Service>>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<EventsQuery>,
    headers: HeaderMap,
) -> Response {
    // Last-Event-ID (SSE reconnection) wins over the query parameter.
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(q.after_seq);
    match s.watch(&c, &id, after).await {
        Err(e) => problem(&e),
        Ok(stream) => {
            let stream = stream.map(|item| {
                let ev = match item {
                    Ok(w) => {
                        let seq = w.event.as_ref().map(|e| e.seq).unwrap_or_default();
                        Event::default()
                            .id(seq.to_string())
                            .event(if w.all_final { "final" } else { "status" })
                            .data(serde_json::to_string(&w).unwrap_or_default())
                    }
                    Err(e) => Event::default().event("error").data(
                        serde_json::json!({"reason": e.reason.as_str(), "detail": e.message})
                            .to_string(),
                    ),
                };
                Ok::<_, Infallible>(ev)
            });
            Sse::new(stream)
                .keep_alive(KeepAlive::default())
                .into_response()
        }
    }
}

async fn cancel(
    State(s): State<Arc<Service>>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let r = async {
        let mut req: CancelRequest = if body.is_empty() {
            CancelRequest::default()
        } else {
            decode(&body)?
        };
        req.id = id;
        s.cancel(&c, req).await
    }
    .await;
    json(r)
}

async fn inbox_list(
    State(s): State<Arc<Service>>,
    Extension(c): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> Response {
    let r = async {
        let req = ListInboxRequest {
            tenant: q.tenant.clone(),
            state: parse_enum("state", &q.status, InboxState::from_str_name)?,
            page_size: q.page_size,
            page_token: q.page_token.clone(),
        };
        s.inbox_list(&c, req).await
    }
    .await;
    json(r)
}

async fn inbox_get(
    State(s): State<Arc<Service>>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    json(s.inbox_get(&c, &id).await)
}

async fn inbox_ack(
    State(s): State<Arc<Service>>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    json(s.inbox_ack(&c, &id).await)
}

async fn whoami(State(s): State<Arc<Service>>, Extension(c): Extension<Caller>) -> Response {
    json(s.who_am_i(&c).await)
}

async fn deliveries(
    State(s): State<Arc<Service>>,
    Extension(c): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> Response {
    let r = async {
        let req = ListDeliveriesRequest {
            tenant: q.tenant.clone(),
            status: parse_enum("status", &q.status, DeliveryStatus::from_str_name)?,
            channel: parse_enum("channel", &q.channel, Channel::from_str_name)?,
            destination: q.destination.clone(),
            page_size: q.page_size,
            page_token: q.page_token.clone(),
        };
        s.list_deliveries(&c, req).await
    }
    .await;
    json(r)
}

async fn retry(
    State(s): State<Arc<Service>>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    json(s.retry(&c, &id).await)
}

async fn retry_all(
    State(s): State<Arc<Service>>,
    Extension(c): Extension<Caller>,
    body: Bytes,
) -> Response {
    let r = async {
        let req: RetryAllRequest = if body.is_empty() {
            RetryAllRequest::default()
        } else {
            decode(&body)?
        };
        s.retry_all(&c, req).await
    }
    .await;
    json(r)
}

async fn pause(
    State(s): State<Arc<Service>>,
    Extension(c): Extension<Caller>,
    Path(d): Path<String>,
) -> Response {
    json(s.set_paused(&c, &d, true).await)
}

async fn resume(
    State(s): State<Arc<Service>>,
    Extension(c): Extension<Caller>,
    Path(d): Path<String>,
) -> Response {
    json(s.set_paused(&c, &d, false).await)
}

async fn readyz(State(s): State<Arc<Service>>) -> Response {
    if s.ready().await {
        "ready".into_response()
    } else {
        problem(&Error::new(
            Origin::Store,
            Reason::StoreUnavailable,
            "the store is not ready",
        ))
    }
}

async fn metrics(State(s): State<Arc<Service>>) -> Response {
    s.refresh_gauges().await;
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
        .into_response()
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        OPENAPI.as_str(),
    )
        .into_response()
}
