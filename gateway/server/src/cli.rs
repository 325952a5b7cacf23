//! Command line of the `passerelle` binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::{client, config, sandbox};

#[derive(Parser)]
#[command(
    name = "passerelle",
    version,
    about = "Child-protection documents to MSSanté and the DMP"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the gateway (gRPC and HTTP/JSON on one listener).
    Serve {
        /// Configuration file (TOML).
        #[arg(long, conflicts_with = "sandbox")]
        config: Option<PathBuf>,
        /// Embedded sandbox: generated PKI, SQLite in --data-dir, embedded simulators.
        #[arg(long)]
        sandbox: bool,
        #[arg(long, default_value = ".data/sandbox")]
        data_dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1:7443")]
        listen: SocketAddr,
    },
    /// Submit a request (HTTP/JSON body of POST /v1/transmissions) and print the transmission.
    Submit {
        #[arg(long)]
        request: PathBuf,
        #[command(flatten)]
        conn: client::ConnArgs,
        /// Follow the deliveries until every one is final.
        #[arg(long)]
        wait: bool,
    },
    /// Print a transmission.
    Get {
        id: String,
        #[command(flatten)]
        conn: client::ConnArgs,
    },
    /// Follow a transmission's delivery events until every delivery is final.
    Watch {
        id: String,
        #[command(flatten)]
        conn: client::ConnArgs,
    },
    /// Dry run: the policy decision and what would be sent; nothing stored or sent.
    Explain {
        #[arg(long)]
        request: PathBuf,
        #[command(flatten)]
        conn: client::ConnArgs,
    },
    /// Render offline everything a request would send (decision, PDFs, CDA, messages, requests).
    Render {
        #[arg(long)]
        request: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Render as a configured tenant (default: the sandbox's).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Fixed clock and ids: byte-identical output for the same input.
        #[arg(long)]
        deterministic: bool,
    },
    /// Received MSSanté messages: list, get ID, ack ID.
    Inbox {
        #[arg(default_value = "list")]
        action: String,
        id: Option<String>,
        #[command(flatten)]
        conn: client::ConnArgs,
    },
    /// Play every example request against the embedded sandbox and check each final state.
    Demo {
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// The project's conformance checks (artefacts + protocol scenarios): JUnit XML + summary.
    Conformance {
        /// `sandbox`, or a configuration file (real endpoints: connectivity checks only).
        #[arg(long, default_value = "sandbox")]
        target: String,
        #[arg(long, default_value = "target/conformance")]
        out: PathBuf,
    },
    /// Test PKI.
    Certs {
        #[command(subcommand)]
        cmd: CertsCmd,
    },
    /// Load and check a configuration; print it with secrets redacted, or every problem.
    CheckConfig {
        #[arg(long)]
        config: PathBuf,
    },
    /// Benchmarks on this machine (Submit → durable ack, policy): Markdown table + JSON.
    Bench {
        /// Where to write the JSON figures.
        #[arg(long, default_value = "target/bench.json")]
        out: PathBuf,
        /// Short run (smoke test of the bench itself).
        #[arg(long)]
        quick: bool,
        /// Base request (its first document is replaced by a supplied PDF of each size).
        #[arg(long)]
        request: Option<PathBuf>,
        /// Instead: RSS of a separate server process after this many queued 1 MiB deliveries.
        #[arg(long)]
        rss: Option<usize>,
        /// Run only the Submit → ack part (`submit`) or only the end-to-end part (`e2e`).
        #[arg(long)]
        only: Option<crate::bench::Part>,
    },
    /// Audit chain tools.
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
}

#[derive(Subcommand)]
enum CertsCmd {
    /// Write an IGC-Santé-shaped TEST hierarchy (PEM and PKCS#12).
    Generate {
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Verify every tenant's hash chain and the signed checkpoint.
    Verify {
        #[arg(long, default_value = ".data/sandbox")]
        data_dir: PathBuf,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            // One clear line, no backtrace.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Other commands print their own results; their logs go to stderr only when asked for.
    if std::env::var_os("PASSERELLE_LOG").is_some() && !matches!(cli.cmd, Cmd::Serve { .. }) {
        init_logs(false);
    }
    match cli.cmd {
        Cmd::Serve {
            config,
            sandbox,
            data_dir,
            listen,
        } => {
            let cfg = match (config, sandbox) {
                (Some(path), _) => config::load(&path)
                    .map_err(|p| anyhow::anyhow!("invalid configuration:\n  {}", p.join("\n  ")))?,
                (None, true) => sandbox::config(&data_dir, listen)?,
                (None, false) => anyhow::bail!("give --config FILE or --sandbox"),
            };
            init_logs(cfg.server.log_json);
            sandbox::serve_forever(cfg).await?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Submit {
            request,
            conn,
            wait,
        } => client::submit(&conn, &request, wait).await,
        Cmd::Get { id, conn } => client::get(&conn, &id).await,
        Cmd::Watch { id, conn } => client::watch(&conn, &id).await,
        Cmd::Explain { request, conn } => client::explain(&conn, &request).await,
        Cmd::Inbox { action, id, conn } => client::inbox(&conn, &action, id.as_deref()).await,
        Cmd::Render {
            request,
            out,
            config,
            deterministic,
        } => crate::render::run(&request, &out, config.as_deref(), deterministic).await,
        Cmd::Conformance { target, out } => crate::conformance::run(&target, &out).await,
        Cmd::Demo { data_dir } => sandbox::demo(data_dir).await,
        Cmd::Certs {
            cmd: CertsCmd::Generate { out },
        } => {
            sandbox::generate_certs(&out)?;
            println!("test PKI written to {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::CheckConfig { config } => match config::load(&config) {
            Ok(cfg) => {
                let (errors, warnings) =
                    crate::setup::check_certificates(&cfg, time::OffsetDateTime::now_utc());
                for w in &warnings {
                    eprintln!("warning: {w}");
                }
                for e in &errors {
                    eprintln!("error: {e}");
                }
                if !errors.is_empty() {
                    return Ok(ExitCode::FAILURE);
                }
                println!("{}", toml::to_string_pretty(&cfg)?);
                Ok(ExitCode::SUCCESS)
            }
            Err(problems) => {
                for p in problems {
                    eprintln!("error: {p}");
                }
                Ok(ExitCode::FAILURE)
            }
        },
        Cmd::Bench { rss: Some(n), .. } => crate::bench::rss(n).await,
        Cmd::Bench {
            out,
            quick,
            request,
            rss: None,
            only,
        } => {
            let request = request.unwrap_or_else(crate::bench::default_request);
            crate::bench::run(&out, quick, &request, only).await
        }
        Cmd::Audit {
            cmd: AuditCmd::Verify { data_dir },
        } => sandbox::audit_verify(&data_dir),
    }
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PASSERELLE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        b.json().try_init()
    } else {
        b.try_init()
    };
}
