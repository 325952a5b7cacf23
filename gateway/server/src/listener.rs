//! One listener for gRPC (HTTP/2) and HTTP/JSON (HTTP/1.1 or 2), plaintext on loopback or TLS with
//! optional client certificates. Each connection's peer facts (address, verified client
//! certificate subject) travel to the handlers as a request extension.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use passerelle_api::v1::admin_service_server::AdminServiceServer;
use passerelle_api::v1::inbox_service_server::InboxServiceServer;
use passerelle_api::v1::transmission_service_server::TransmissionServiceServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::auth::{self, Authenticator, ConnInfo};
use crate::grpc::Grpc;
use crate::service::Service;

/// Largest request accepted (a 20 MiB PDF in base64 JSON plus the rest).
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// Builds the full router: gRPC services, health, reflection, HTTP/JSON routes, authentication.
pub async fn app(svc: Arc<Service>, auth: Arc<Authenticator>) -> anyhow::Result<Router> {
    let grpc = Grpc(svc.clone());
    let (health, health_svc) = tonic_health::server::health_reporter();
    health
        .set_serving::<TransmissionServiceServer<Grpc>>()
        .await;
    health.set_serving::<InboxServiceServer<Grpc>>().await;
    health.set_serving::<AdminServiceServer<Grpc>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(passerelle_api::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let routes = tonic::service::Routes::new(
        TransmissionServiceServer::new(grpc.clone())
            .max_decoding_message_size(MAX_BODY)
            .max_encoding_message_size(MAX_BODY),
    )
    .add_service(InboxServiceServer::new(grpc.clone()).max_encoding_message_size(MAX_BODY))
    .add_service(AdminServiceServer::new(grpc))
    .add_service(health_svc)
    .add_service(reflection);
    let router = routes
        .into_axum_router()
        .merge(crate::http::router(svc))
        .layer(axum::middleware::from_fn(move |req, next| {
            auth::layer(auth.clone(), req, next)
        }))
        .layer(DefaultBodyLimit::max(MAX_BODY));
    Ok(router)
}

/// Serves `router` on `listener` until `shutdown` flips to true.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let acceptor = tls.map(TlsAcceptor::from);
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return Ok(()),
        };
        let _ = tcp.set_nodelay(true);
        let router = router.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor {
                None => {
                    let conn = ConnInfo {
                        peer,
                        client_subject: None,
                    };
                    serve_conn(TokioIo::new(tcp), router, conn).await;
                }
                Some(acc) => {
                    let tls = match tokio::time::timeout(Duration::from_secs(10), acc.accept(tcp))
                        .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::info!(%peer, error = %e, "TLS handshake refused");
                            return;
                        }
                        Err(_) => return,
                    };
                    let subject = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .and_then(|c| passerelle_tls::inspect(c.as_ref()).ok().map(|i| i.subject));
                    let conn = ConnInfo {
                        peer,
                        client_subject: subject,
                    };
                    serve_conn(TokioIo::new(tls), router, conn).await;
                }
            }
        });
    }
}

async fn serve_conn<I>(io: TokioIo<I>, router: Router, conn: ConnInfo)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = router
        .layer(axum::Extension(conn))
        .map_request(|r: hyper::Request<hyper::body::Incoming>| r.map(axum::body::Body::new));
    let svc = TowerToHyperService::new(svc);
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http2().max_concurrent_streams(256);
    if let Err(e) = builder.serve_connection_with_upgrades(io, svc).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
