//! A DUI's gRPC client of Passerelle in Rust (see `client.rs`).
//!
//! ```sh
//! cargo run -p passerelle -- serve --sandbox &
//! cargo run -p passerelle --example dui_client -- \
//!     --server http://127.0.0.1:7443 --token sandbox-token-mecs-tilleuls \
//!     --watch examples/requests/08-fiche-navette-educateur-ase.json
//! # mTLS: --server https://passerelle.example.fr:7443 --ca ca.pem --cert api-client.chain.pem --key api-client.key.pem
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

mod client;

#[derive(Parser)]
struct Args {
    /// JSON body of POST /v1/transmissions.
    request: PathBuf,
    #[arg(long, default_value = "http://127.0.0.1:7443")]
    server: String,
    #[arg(long, env = "PASSERELLE_TOKEN")]
    token: Option<String>,
    /// The gateway's CA (PEM): enables TLS.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// The DUI's API client certificate chain (PEM), for mTLS.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Name in the gateway's certificate.
    #[arg(long)]
    domain: Option<String>,
    /// Follow Watch until every delivery is final.
    #[arg(long)]
    watch: bool,
    /// Cancel the transmission first (deliveries still queued), then follow Watch.
    #[arg(long)]
    cancel: bool,
}

fn read(p: &Option<PathBuf>) -> anyhow::Result<Option<Vec<u8>>> {
    p.as_ref()
        .map(|p| std::fs::read(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display())))
        .transpose()
}

#[tokio::main]
async fn main() -> ExitCode {
    match real_main(Args::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn real_main(a: Args) -> anyhow::Result<ExitCode> {
    let tls = match read(&a.ca)? {
        None => None,
        Some(ca_pem) => Some(client::Tls {
            ca_pem,
            client: read(&a.cert)?.zip(read(&a.key)?),
            domain: a.domain.clone(),
        }),
    };
    let conn = client::Conn {
        server: a.server.clone(),
        token: a.token.clone(),
        tls,
    };
    let req = client::read_request(&a.request)?;
    let mut cl = client::connect(&conn).await?;
    let out = match client::run(&mut cl, &req).await {
        Ok(o) => o,
        Err(s) => {
            eprintln!("{}", client::describe(&s));
            return Ok(ExitCode::from(2));
        }
    };
    let d = out.explain.decision.clone().unwrap_or_default();
    println!(
        "explain: accepted={} outcome={:?}",
        d.accepted,
        passerelle_api::v1::Outcome::try_from(d.outcome).unwrap_or_default()
    );
    println!(
        "submit: {} (replayed={}); replay: {} (replayed={})",
        out.id(),
        out.first.replayed,
        out.replay
            .transmission
            .as_ref()
            .map_or("", |t| t.id.as_str()),
        out.replay.replayed
    );
    println!("get: {:?}", client::statuses(&out.fetched));
    if a.cancel {
        let t = cl
            .cancel(out.id(), "dui_client example")
            .await
            .map_err(|s| anyhow::anyhow!(client::describe(&s)))?;
        println!("cancel: {:?}", client::statuses(&t));
    }
    if a.watch || a.cancel {
        let (seen, done) = cl.watch(out.id(), Duration::from_secs(60)).await?;
        println!("watch: {seen:?} all_final={done}");
    }
    Ok(ExitCode::SUCCESS)
}
