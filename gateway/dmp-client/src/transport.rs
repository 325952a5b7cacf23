//! HTTPS/1.1 with mutual TLS and reused connections: a small pool of hyper `SendRequest`s over
//! tokio-rustls streams. Timeouts and failures become [`DmpFailure`]s with a retry class.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use passerelle_dmp::{DmpFailure, Endpoint, FailureSource, HttpRequest, Retry};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Largest reply accepted.
const MAX_REPLY: usize = 16 * 1024 * 1024;

/// A reply as received.
#[derive(Debug, Clone)]
pub struct RawReply {
    /// HTTP status.
    pub status: u16,
    /// Content-Type.
    pub content_type: Option<String>,
    /// Body.
    pub body: Bytes,
}

impl RawReply {
    /// The view the pure parsers take.
    pub fn view(&self) -> passerelle_dmp::Reply<'_> {
        passerelle_dmp::Reply {
            status: self.status,
            content_type: self.content_type.as_deref(),
            body: &self.body,
        }
    }
}

pub(crate) struct Transport {
    endpoint: Endpoint,
    connector: TlsConnector,
    server_name: ServerName<'static>,
    pool: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    max_idle: usize,
    connect_timeout: Duration,
    request_timeout: Duration,
}

fn transport(code: &str, retry: Retry, msg: impl Into<String>) -> DmpFailure {
    DmpFailure::new(code, FailureSource::Transport, retry, msg)
}

impl Transport {
    pub(crate) fn new(
        endpoint: Endpoint,
        tls: rustls::ClientConfig,
        max_idle: usize,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Result<Self, String> {
        let server_name = ServerName::try_from(endpoint.host().to_owned())
            .map_err(|_| "base_url host is not a valid TLS server name".to_owned())?;
        Ok(Transport {
            endpoint,
            connector: TlsConnector::from(Arc::new(tls)),
            server_name,
            pool: Mutex::new(Vec::new()),
            max_idle,
            connect_timeout,
            request_timeout,
        })
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn checkout(&self) -> Option<SendRequest<Full<Bytes>>> {
        let mut pool = match self.pool.lock() {
            Ok(p) => p,
            Err(p) => p.into_inner(),
        };
        while let Some(s) = pool.pop() {
            if !s.is_closed() {
                return Some(s);
            }
        }
        None
    }

    fn checkin(&self, s: SendRequest<Full<Bytes>>) {
        if s.is_closed() {
            return;
        }
        let mut pool = match self.pool.lock() {
            Ok(p) => p,
            Err(p) => p.into_inner(),
        };
        if pool.len() < self.max_idle {
            pool.push(s);
        }
    }

    /// Open connections currently idle in the pool (tests: reuse).
    pub(crate) fn idle(&self) -> usize {
        match self.pool.lock() {
            Ok(p) => p.len(),
            Err(p) => p.into_inner().len(),
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, DmpFailure> {
        let fut = async {
            let tcp = TcpStream::connect((self.endpoint.host(), self.endpoint.port()))
                .await
                .map_err(|e| {
                    transport(
                        "connect",
                        Retry::Backoff,
                        format!("TCP connect: {}", e.kind()),
                    )
                })?;
            let _ = tcp.set_nodelay(true);
            let tls = self
                .connector
                .connect(self.server_name.clone(), tcp)
                .await
                .map_err(|e| {
                    // Certificate problems are permanent and alerted; others are transient.
                    let cert = e
                        .get_ref()
                        .and_then(|i| i.downcast_ref::<rustls::Error>())
                        .is_some_and(|r| {
                            matches!(
                                r,
                                rustls::Error::InvalidCertificate(_)
                                    | rustls::Error::AlertReceived(_)
                                    | rustls::Error::NoCertificatesPresented
                            )
                        });
                    if cert {
                        transport(
                            "tls_certificate",
                            Retry::Never,
                            format!("TLS handshake: {e}"),
                        )
                    } else {
                        transport(
                            "tls_handshake",
                            Retry::Backoff,
                            format!("TLS handshake: {}", e.kind()),
                        )
                    }
                })?;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .map_err(|e| {
                    transport("connect", Retry::Backoff, format!("HTTP handshake: {e}"))
                })?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok::<_, DmpFailure>(sender)
        };
        tokio::time::timeout(self.connect_timeout, fut)
            .await
            .map_err(|_| transport("connect_timeout", Retry::Backoff, "connect timed out"))?
    }

    fn to_hyper(
        headers: &[(&'static str, String); 3],
        path: &str,
        body: Bytes,
    ) -> Result<hyper::Request<Full<Bytes>>, DmpFailure> {
        let mut b = hyper::Request::builder().method("POST").uri(path);
        for (k, v) in headers {
            b = b.header(*k, v.as_str());
        }
        b.body(Full::new(body))
            .map_err(|_| transport("request", Retry::Never, "request headers invalid"))
    }

    /// Sends one request; a failure on a reused idle connection before any reply is retried once
    /// on a fresh connection (the server may have closed it meanwhile).
    pub(crate) async fn send(&self, r: HttpRequest) -> Result<RawReply, DmpFailure> {
        let headers = r.headers();
        // The body moves into a shared buffer: a retry on a new connection does not copy it.
        let body = Bytes::from(r.body);
        if let Some(sender) = self.checkout() {
            match self
                .exchange(sender, Self::to_hyper(&headers, &r.path, body.clone())?)
                .await
            {
                Ok(reply) => return Ok(reply),
                Err((e, true)) => {
                    tracing::debug!(error = %e.code, "reused connection failed; retrying on a new one");
                }
                Err((e, false)) => return Err(e),
            }
        }
        let sender = self.connect().await?;
        self.exchange(sender, Self::to_hyper(&headers, &r.path, body)?)
            .await
            .map_err(|(e, _)| e)
    }

    /// `Err((failure, retry_on_new_connection))`.
    async fn exchange(
        &self,
        mut sender: SendRequest<Full<Bytes>>,
        req: hyper::Request<Full<Bytes>>,
    ) -> Result<RawReply, (DmpFailure, bool)> {
        let fut = async {
            sender.ready().await.map_err(|_| {
                (
                    transport("connection_closed", Retry::Backoff, "connection closed"),
                    true,
                )
            })?;
            let resp = sender.send_request(req).await.map_err(|e| {
                if e.is_canceled() || (e.is_closed() && !e.is_incomplete_message()) {
                    // Not dispatched: nothing reached the server.
                    (
                        transport(
                            "connection_closed",
                            Retry::Backoff,
                            "connection closed before the request was sent",
                        ),
                        true,
                    )
                } else {
                    // The request may have been processed (commit then drop).
                    (
                        transport(
                            "connection_reset",
                            Retry::Uncertain,
                            format!("connection lost after the request: {e}"),
                        ),
                        false,
                    )
                }
            })?;
            let status = resp.status().as_u16();
            let content_type = resp
                .headers()
                .get(hyper::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = Limited::new(resp.into_body(), MAX_REPLY)
                .collect()
                .await
                .map_err(|_| {
                    (
                        transport(
                            "reply_read",
                            Retry::Uncertain,
                            "reply body unreadable or too large",
                        ),
                        false,
                    )
                })?
                .to_bytes();
            Ok(RawReply {
                status,
                content_type,
                body,
            })
        };
        match tokio::time::timeout(self.request_timeout, fut).await {
            Ok(Ok(reply)) => {
                self.checkin(sender);
                Ok(reply)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err((
                transport(
                    "timeout",
                    Retry::Uncertain,
                    "no reply within the request timeout",
                ),
                false,
            )),
        }
    }
}
