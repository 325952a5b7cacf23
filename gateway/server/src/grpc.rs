//! gRPC front end: the generated tonic services, each method a thin call into `Service`, errors
//! mapped once to a status with google.rpc details (BadRequest, ErrorInfo).

use std::pin::Pin;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use passerelle_api::v1::admin_service_server::AdminService;
use passerelle_api::v1::inbox_service_server::InboxService;
use passerelle_api::v1::transmission_service_server::TransmissionService;
use passerelle_api::v1::*;
use passerelle_domain::error::{Error, Origin, Reason, Retry};
use tonic::{Code, Request, Response as TResponse, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::auth::Caller;
use crate::service::Service;

#[derive(Clone)]
pub struct Grpc(pub Arc<Service>);

fn caller<T>(req: &Request<T>) -> Result<Caller, Status> {
    req.extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("authentication required"))
}

/// The one mapping from the boundary error to a gRPC status.
pub fn to_status(e: &Error) -> Status {
    let code = match e.reason {
        Reason::InvalidRequest => Code::InvalidArgument,
        Reason::PolicyDenied | Reason::TenantForbidden => Code::PermissionDenied,
        Reason::IdempotencyConflict => Code::AlreadyExists,
        Reason::QueueFull => Code::ResourceExhausted,
        Reason::NotFound => Code::NotFound,
        Reason::Unauthenticated => Code::Unauthenticated,
        Reason::StoreUnavailable | Reason::AuditUnavailable => Code::Unavailable,
        Reason::InvalidState => Code::FailedPrecondition,
        Reason::InternalError => Code::Internal,
    };
    let mut details = ErrorDetails::new();
    if !e.violations.is_empty() {
        details.set_bad_request(
            e.violations
                .iter()
                .map(|v| tonic_types::FieldViolation::new(v.field.clone(), v.reason.clone()))
                .collect::<Vec<_>>(),
        );
    }
    let mut meta = std::collections::HashMap::new();
    meta.insert("origin".to_string(), origin_str(e.origin).to_string());
    if let Some(d) = &e.detail {
        meta.insert("decision".to_string(), d.clone());
    }
    details.set_error_info(e.reason.as_str(), "passerelle", meta);
    if let Retry::After(d) = e.retry {
        details.set_retry_info(Some(d));
    }
    Status::with_error_details(code, e.message.clone(), details)
}

pub fn origin_str(o: Origin) -> &'static str {
    match o {
        Origin::Client => "client",
        Origin::Policy => "policy",
        Origin::MsSante => "mssante",
        Origin::Dmp => "dmp",
        Origin::Store => "store",
        Origin::Internal => "internal",
    }
}

/// A gRPC error response for requests refused before reaching tonic (authentication layer).
pub fn status_response(e: &Error) -> Response {
    to_status(e).into_http::<axum::body::Body>().into_response()
}

type Res<T> = Result<TResponse<T>, Status>;

fn ok<T>(r: Result<T, Error>) -> Res<T> {
    r.map(TResponse::new).map_err(|e| to_status(&e))
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchEvent, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl TransmissionService for Grpc {
    async fn submit(&self, req: Request<SubmitRequest>) -> Res<SubmitResponse> {
        let c = caller(&req)?;
        ok(self.0.submit(&c, req.into_inner()).await)
    }

    async fn get(&self, req: Request<GetTransmissionRequest>) -> Res<Transmission> {
        let c = caller(&req)?;
        ok(self.0.get(&c, &req.into_inner().id).await)
    }

    type WatchStream = WatchStream;

    async fn watch(&self, req: Request<WatchRequest>) -> Res<Self::WatchStream> {
        let c = caller(&req)?;
        let r = req.into_inner();
        let s = self
            .0
            .watch(&c, &r.id, r.after_seq)
            .await
            .map_err(|e| to_status(&e))?;
        let s: WatchStream = Box::pin(s.map(|i| i.map_err(|e| to_status(&e))));
        Ok(TResponse::new(s))
    }

    async fn list(&self, req: Request<ListTransmissionsRequest>) -> Res<ListTransmissionsResponse> {
        let c = caller(&req)?;
        ok(self.0.list(&c, req.into_inner()).await)
    }

    async fn cancel(&self, req: Request<CancelRequest>) -> Res<CancelResponse> {
        let c = caller(&req)?;
        ok(self.0.cancel(&c, req.into_inner()).await)
    }

    async fn explain(&self, req: Request<SubmitRequest>) -> Res<ExplainResponse> {
        let c = caller(&req)?;
        ok(self.0.explain(&c, req.into_inner()).await)
    }
}

#[tonic::async_trait]
impl InboxService for Grpc {
    async fn list(&self, req: Request<ListInboxRequest>) -> Res<ListInboxResponse> {
        let c = caller(&req)?;
        ok(self.0.inbox_list(&c, req.into_inner()).await)
    }

    async fn get(&self, req: Request<GetInboxRequest>) -> Res<InboxItem> {
        let c = caller(&req)?;
        ok(self.0.inbox_get(&c, &req.into_inner().id).await)
    }

    async fn ack(&self, req: Request<AckInboxRequest>) -> Res<AckInboxResponse> {
        let c = caller(&req)?;
        ok(self.0.inbox_ack(&c, &req.into_inner().id).await)
    }
}

#[tonic::async_trait]
impl AdminService for Grpc {
    async fn who_am_i(&self, req: Request<WhoAmIRequest>) -> Res<WhoAmIResponse> {
        let c = caller(&req)?;
        ok(self.0.who_am_i(&c).await)
    }

    async fn list_deliveries(
        &self,
        req: Request<ListDeliveriesRequest>,
    ) -> Res<ListDeliveriesResponse> {
        let c = caller(&req)?;
        ok(self.0.list_deliveries(&c, req.into_inner()).await)
    }

    async fn pause(&self, req: Request<DestinationRequest>) -> Res<DestinationResponse> {
        let c = caller(&req)?;
        ok(self
            .0
            .set_paused(&c, &req.into_inner().destination, true)
            .await)
    }

    async fn resume(&self, req: Request<DestinationRequest>) -> Res<DestinationResponse> {
        let c = caller(&req)?;
        ok(self
            .0
            .set_paused(&c, &req.into_inner().destination, false)
            .await)
    }

    async fn retry(&self, req: Request<RetryRequest>) -> Res<RetryResponse> {
        let c = caller(&req)?;
        ok(self.0.retry(&c, &req.into_inner().delivery_id).await)
    }

    async fn retry_all(&self, req: Request<RetryAllRequest>) -> Res<RetryAllResponse> {
        let c = caller(&req)?;
        ok(self.0.retry_all(&c, req.into_inner()).await)
    }
}
