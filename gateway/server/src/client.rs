//! Command-line client of a running gateway (gRPC). Prints the API's JSON; errors are one line with
//! the reason and, for invalid requests, one line per field.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use futures::StreamExt;
use passerelle_api::v1::inbox_service_client::InboxServiceClient;
use passerelle_api::v1::transmission_service_client::TransmissionServiceClient;
use passerelle_api::v1::*;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic_types::StatusExt;

#[derive(clap::Args, Clone)]
pub struct ConnArgs {
    /// Gateway address.
    #[arg(
        long,
        default_value = "http://127.0.0.1:7443",
        env = "PASSERELLE_SERVER"
    )]
    pub server: String,
    /// Bearer token bound to a tenant (sandbox: sandbox-token-<tenant>).
    #[arg(long, env = "PASSERELLE_TOKEN")]
    pub token: Option<String>,
}

async fn channel(c: &ConnArgs) -> anyhow::Result<Channel> {
    Channel::from_shared(c.server.clone())
        .context("invalid --server")?
        .connect()
        .await
        .with_context(|| format!("cannot reach the gateway at {}", c.server))
}

fn with_auth<T>(c: &ConnArgs, msg: T) -> anyhow::Result<tonic::Request<T>> {
    let mut req = tonic::Request::new(msg);
    if let Some(t) = &c.token {
        let v: MetadataValue<_> = format!("Bearer {t}").parse().context("invalid --token")?;
        req.metadata_mut().insert("authorization", v);
    }
    Ok(req)
}

/// Turns a status into one readable error (field violations listed).
pub fn explain_status(s: &tonic::Status) -> anyhow::Error {
    let mut lines = vec![format!("{:?}: {}", s.code(), s.message())];
    if let Some(br) = s.get_details_bad_request() {
        for v in br.field_violations {
            lines.push(format!("  {}: {}", v.field, v.description));
        }
    }
    anyhow::anyhow!(lines.join("\n"))
}

fn print<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub fn read_request(path: &Path) -> anyhow::Result<SubmitRequest> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(de)
        .map_err(|e| anyhow::anyhow!("{}: {} at {}", path.display(), e.inner(), e.path()))
}

pub async fn submit(c: &ConnArgs, path: &Path, wait: bool) -> anyhow::Result<ExitCode> {
    let req = read_request(path)?;
    let mut cl = TransmissionServiceClient::new(channel(c).await?)
        .max_decoding_message_size(crate::listener::MAX_BODY)
        .max_encoding_message_size(crate::listener::MAX_BODY);
    let resp = cl
        .submit(with_auth(c, req)?)
        .await
        .map_err(|s| explain_status(&s))?
        .into_inner();
    print(&resp)?;
    if wait && let Some(t) = resp.transmission {
        return follow(c, &mut cl, &t.id).await;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn get(c: &ConnArgs, id: &str) -> anyhow::Result<ExitCode> {
    let mut cl = TransmissionServiceClient::new(channel(c).await?);
    let t = cl
        .get(with_auth(c, GetTransmissionRequest { id: id.into() })?)
        .await
        .map_err(|s| explain_status(&s))?
        .into_inner();
    print(&t)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn watch(c: &ConnArgs, id: &str) -> anyhow::Result<ExitCode> {
    let mut cl = TransmissionServiceClient::new(channel(c).await?);
    follow(c, &mut cl, id).await
}

async fn follow(
    c: &ConnArgs,
    cl: &mut TransmissionServiceClient<Channel>,
    id: &str,
) -> anyhow::Result<ExitCode> {
    let mut s = cl
        .watch(with_auth(
            c,
            WatchRequest {
                id: id.into(),
                after_seq: 0,
            },
        )?)
        .await
        .map_err(|s| explain_status(&s))?
        .into_inner();
    while let Some(ev) = s.next().await {
        let ev = ev.map_err(|s| explain_status(&s))?;
        if let (Some(e), Some(d)) = (&ev.event, &ev.delivery) {
            let to = DeliveryStatus::try_from(e.to).unwrap_or_default();
            eprintln!(
                "{} {} {:?} {}{}",
                d.id,
                d.recipient,
                to,
                e.detail,
                if e.late { " (late, not applied)" } else { "" }
            );
        }
        if ev.all_final {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn explain(c: &ConnArgs, path: &Path) -> anyhow::Result<ExitCode> {
    let req = read_request(path)?;
    let mut cl = TransmissionServiceClient::new(channel(c).await?)
        .max_encoding_message_size(crate::listener::MAX_BODY);
    let resp = cl
        .explain(with_auth(c, req)?)
        .await
        .map_err(|s| explain_status(&s))?
        .into_inner();
    print(&resp)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn inbox(c: &ConnArgs, action: &str, id: Option<&str>) -> anyhow::Result<ExitCode> {
    let mut cl = InboxServiceClient::new(channel(c).await?)
        .max_decoding_message_size(crate::listener::MAX_BODY);
    match (action, id) {
        ("list", _) => {
            let r = cl
                .list(with_auth(c, ListInboxRequest::default())?)
                .await
                .map_err(|s| explain_status(&s))?
                .into_inner();
            print(&r)?;
        }
        ("get", Some(id)) => {
            let r = cl
                .get(with_auth(c, GetInboxRequest { id: id.into() })?)
                .await
                .map_err(|s| explain_status(&s))?
                .into_inner();
            print(&r)?;
        }
        ("ack", Some(id)) => {
            let r = cl
                .ack(with_auth(c, AckInboxRequest { id: id.into() })?)
                .await
                .map_err(|s| explain_status(&s))?
                .into_inner();
            print(&r)?;
        }
        _ => anyhow::bail!("inbox takes: list | get ID | ack ID"),
    }
    Ok(ExitCode::SUCCESS)
}
