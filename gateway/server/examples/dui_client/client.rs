//! What a DUI does over gRPC, with the generated client of `passerelle-api` and tonic: connect
//! (plaintext on loopback, or TLS with the DUI's API client certificate), authenticate with a bearer
//! token, Explain, Submit, replay the same Submit, Get, Cancel and Watch. `main.rs` is a thin command
//! line over these functions; the integration tests (`tests/clients.rs`) call them directly.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use passerelle_api::v1 as pb;
use passerelle_api::v1::transmission_service_client::TransmissionServiceClient;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic_types::StatusExt;

/// TLS towards the gateway: its CA, and the DUI's client certificate for mTLS.
pub struct Tls {
    /// CA certificates that issued the gateway's server certificate (PEM).
    pub ca_pem: Vec<u8>,
    /// The DUI's API client certificate chain and key (PEM), if the gateway authenticates by mTLS.
    pub client: Option<(Vec<u8>, Vec<u8>)>,
    /// Name in the gateway's certificate, when the address is an IP or an alias.
    pub domain: Option<String>,
}

/// Where the gateway is and how to authenticate.
pub struct Conn {
    /// `http://host:port` (plaintext, loopback sandbox) or `https://host:port`.
    pub server: String,
    /// Bearer token bound to a tenant (sandbox: `sandbox-token-<tenant>`).
    pub token: Option<String>,
    pub tls: Option<Tls>,
}

/// An authenticated client of TransmissionService.
pub struct Client {
    inner: TransmissionServiceClient<Channel>,
    token: Option<MetadataValue<tonic::metadata::Ascii>>,
}

/// Reads a request file: the HTTP/JSON body of `POST /v1/transmissions` is the canonical proto3
/// JSON of `SubmitRequest`, which the generated types decode directly.
pub fn read_request(path: &Path) -> anyhow::Result<pb::SubmitRequest> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a SubmitRequest", path.display()))
}

pub async fn connect(c: &Conn) -> anyhow::Result<Client> {
    let mut ep = Channel::from_shared(c.server.clone())
        .context("invalid server address")?
        .connect_timeout(Duration::from_secs(10));
    if let Some(tls) = &c.tls {
        let mut cfg = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&tls.ca_pem));
        if let Some((cert, key)) = &tls.client {
            cfg = cfg.identity(Identity::from_pem(cert, key));
        }
        if let Some(d) = &tls.domain {
            cfg = cfg.domain_name(d.clone());
        }
        ep = ep.tls_config(cfg).context("TLS configuration")?;
    }
    let channel = ep
        .connect()
        .await
        .with_context(|| format!("cannot reach the gateway at {}", c.server))?;
    let token = match &c.token {
        Some(t) => Some(format!("Bearer {t}").parse().context("invalid token")?),
        None => None,
    };
    // Documents travel inside the request: raise tonic's 4 MiB default to the gateway's limit.
    let inner = TransmissionServiceClient::new(channel)
        .max_encoding_message_size(64 * 1024 * 1024)
        .max_decoding_message_size(64 * 1024 * 1024);
    Ok(Client { inner, token })
}

/// One readable line per problem: the gRPC code and message, the stable reason (ErrorInfo) and
/// every invalid field (BadRequest).
pub fn describe(s: &tonic::Status) -> String {
    let mut out = format!("{:?}: {}", s.code(), s.message());
    if let Some(info) = s.get_details_error_info() {
        out.push_str(&format!(" [reason {}]", info.reason));
    }
    if let Some(br) = s.get_details_bad_request() {
        for v in br.field_violations {
            out.push_str(&format!("\n  {}: {}", v.field, v.description));
        }
    }
    out
}

impl Client {
    fn req<T>(&self, msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        if let Some(t) = &self.token {
            r.metadata_mut().insert("authorization", t.clone());
        }
        r
    }

    pub async fn explain(
        &mut self,
        req: &pb::SubmitRequest,
    ) -> Result<pb::ExplainResponse, tonic::Status> {
        let r = self.req(req.clone());
        Ok(self.inner.explain(r).await?.into_inner())
    }

    pub async fn submit(
        &mut self,
        req: &pb::SubmitRequest,
    ) -> Result<pb::SubmitResponse, tonic::Status> {
        let r = self.req(req.clone());
        Ok(self.inner.submit(r).await?.into_inner())
    }

    pub async fn get(&mut self, id: &str) -> Result<pb::Transmission, tonic::Status> {
        let r = self.req(pb::GetTransmissionRequest { id: id.into() });
        Ok(self.inner.get(r).await?.into_inner())
    }

    pub async fn cancel(
        &mut self,
        id: &str,
        reason: &str,
    ) -> Result<pb::Transmission, tonic::Status> {
        let r = self.req(pb::CancelRequest {
            id: id.into(),
            delivery_id: String::new(),
            reason: reason.into(),
        });
        let resp = self.inner.cancel(r).await?.into_inner();
        resp.transmission
            .ok_or_else(|| tonic::Status::internal("CancelResponse without a transmission"))
    }

    /// Follows Watch from the start until every delivery is final (`all_final`) or `limit`
    /// passes; returns the statuses the events moved to, in order.
    pub async fn watch(
        &mut self,
        id: &str,
        limit: Duration,
    ) -> anyhow::Result<(Vec<pb::DeliveryStatus>, bool)> {
        let r = self.req(pb::WatchRequest {
            id: id.into(),
            after_seq: 0,
        });
        let mut stream = self
            .inner
            .watch(r)
            .await
            .map_err(|s| anyhow::anyhow!(describe(&s)))?
            .into_inner();
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let next = tokio::time::timeout_at(deadline, stream.next()).await;
            let Ok(Some(ev)) = next else {
                // Deadline, or the server ended the stream.
                return Ok((seen, false));
            };
            let ev = ev.map_err(|s| anyhow::anyhow!(describe(&s)))?;
            if let Some(e) = &ev.event {
                seen.push(pb::DeliveryStatus::try_from(e.to).unwrap_or_default());
            }
            if ev.all_final {
                return Ok((seen, true));
            }
        }
    }
}

/// What `run` observed.
pub struct Outcome {
    pub explain: pb::ExplainResponse,
    pub first: pb::SubmitResponse,
    pub replay: pb::SubmitResponse,
    pub fetched: pb::Transmission,
}

impl Outcome {
    pub fn id(&self) -> &str {
        self.first
            .transmission
            .as_ref()
            .map_or("", |t| t.id.as_str())
    }
}

pub fn statuses(t: &pb::Transmission) -> Vec<pb::DeliveryStatus> {
    t.deliveries
        .iter()
        .map(|d| pb::DeliveryStatus::try_from(d.status).unwrap_or_default())
        .collect()
}

/// Explain (dry run), Submit, Submit again with the same key (replay), Get.
pub async fn run(client: &mut Client, req: &pb::SubmitRequest) -> Result<Outcome, tonic::Status> {
    let explain = client.explain(req).await?;
    let first = client.submit(req).await?;
    let replay = client.submit(req).await?;
    let id = first
        .transmission
        .as_ref()
        .map(|t| t.id.clone())
        .unwrap_or_default();
    let fetched = client.get(&id).await?;
    Ok(Outcome {
        explain,
        first,
        replay,
        fetched,
    })
}
