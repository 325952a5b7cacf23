//! Listener: TLS with required client certificates, HTTP/1.1 (hyper), fault injection.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use passerelle_dmp::Transaction;
use passerelle_dmp::response::{FaultCode, reply_envelope, soap_fault_xml};
use passerelle_tls::{ClientAuth, Revocation, server_config};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::checks::{Answer, Ctx, process};
use crate::{Exchange, Fault, SimConfig, SimError, SimHandle, State};

/// Largest request body accepted (a 5 MiB document fits many times).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Binds 127.0.0.1:0, serves in the background, returns the control handle.
pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
    let tls = server_config(
        &config.identity,
        ClientAuth::Required(&config.client_trust),
        &Revocation::disabled(),
    )?;
    let mut trust = passerelle_xmlsig::TrustAnchors::new();
    for ca in &config.signing_cas {
        trust = trust.add_issuing_ca(ca.clone())?;
    }
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(Mutex::new(State {
        patients: config.patients,
        clock: config.clock,
        ..State::default()
    }));
    let handle = SimHandle {
        state: state.clone(),
        addr,
    };
    let ctx = Arc::new(Ctx {
        state,
        trust,
        params: config.params,
    });
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let ctx = ctx.clone();
            tokio::spawn(async move {
                // Handshake failures (unknown CA, expired, wrong EKU) end here: TLS refusal.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let tenant = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(|c| structure_of(c.as_ref()))
                    .unwrap_or_default();
                let svc = hyper::service::service_fn(move |req| {
                    let ctx = ctx.clone();
                    let tenant = tenant.clone();
                    async move { serve(ctx, tenant, req).await }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    Ok(handle)
}

/// Struct_IdNat from the certificate subject OU (certs/ README: OU = Struct_IdNat).
pub(crate) fn structure_of(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let ou = cert
        .subject()
        .iter_organizational_unit()
        .next()?
        .as_str()
        .ok()?
        .to_owned();
    Some(ou)
}

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reply dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

fn transaction_of(path: &str) -> Option<Transaction> {
    let p = path.strip_prefix("/si-dmp-server/v2/services")?;
    match p {
        "/patients" => Some(Transaction::Td02),
        "/repository" => Some(Transaction::Iti41),
        // ITI-18 and ITI-57 share the path; the action decides later.
        "/registry" => Some(Transaction::Iti18),
        _ => None,
    }
}

fn response(a: Answer) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(a.body)));
    *r.status_mut() = hyper::StatusCode::from_u16(a.status).unwrap_or(hyper::StatusCode::OK);
    if let Some(ct) = a.content_type
        && let Ok(v) = http::HeaderValue::from_str(&ct)
    {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

fn take_fault(ctx: &Ctx, t: Transaction) -> Option<Fault> {
    let mut s = ctx.lock();
    let i = s
        .faults
        .iter()
        .position(|(ft, _)| *ft == t || (t == Transaction::Iti18 && *ft == Transaction::Iti57))?;
    s.faults.remove(i).map(|(_, f)| f)
}

fn record(
    ctx: &Ctx,
    transaction: Option<Transaction>,
    tenant: &str,
    status: u16,
    error: Option<String>,
) {
    record_envelope(ctx, transaction, tenant, status, error, Vec::new());
}

fn record_envelope(
    ctx: &Ctx,
    transaction: Option<Transaction>,
    tenant: &str,
    status: u16,
    error: Option<String>,
    envelope: Vec<u8>,
) {
    ctx.lock().exchanges.push(Exchange {
        transaction,
        tenant: tenant.to_owned(),
        status,
        error,
        envelope,
    });
}

async fn serve(
    ctx: Arc<Ctx>,
    tenant: String,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let path = req.uri().path().to_owned();
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            let a = fault_answer(
                400,
                FaultCode::Sender,
                None,
                "request body unreadable or too large",
            );
            return Ok(response(a));
        }
    };
    let Some(path_tx) = transaction_of(&path) else {
        record(&ctx, None, &tenant, 404, Some("unknown path".into()));
        return Ok(response(fault_answer(
            404,
            FaultCode::Sender,
            None,
            "unknown path",
        )));
    };
    // The transaction named by the action decides between ITI-18 and ITI-57 on /registry.
    let tx = crate::checks::action_of(content_type.as_deref(), &body)
        .and_then(Transaction::from_action)
        .filter(|t| t.path() == path_tx.path())
        .unwrap_or(path_tx);
    let fault = take_fault(&ctx, tx);
    match fault {
        Some(Fault::Latency(d)) => tokio::time::sleep(d).await,
        Some(Fault::Hang) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return Err(Dropped);
        }
        Some(Fault::Empty(status)) => {
            record(
                &ctx,
                Some(tx),
                &tenant,
                status,
                Some("injected empty reply".into()),
            );
            return Ok(response(Answer {
                status,
                content_type: None,
                body: Vec::new(),
                error: None,
            }));
        }
        Some(Fault::ServerFault) => {
            record(&ctx, Some(tx), &tenant, 500, Some("Receiver".into()));
            return Ok(response(fault_answer(
                500,
                FaultCode::Receiver,
                None,
                "erreur interne du serveur (injectée)",
            )));
        }
        Some(Fault::MalformedXml) => {
            record(&ctx, Some(tx), &tenant, 200, Some("malformed".into()));
            return Ok(response(Answer {
                status: 200,
                content_type: Some("application/soap+xml; charset=UTF-8".into()),
                body: b"<soap:Envelope xmlns:soap=\"http://www.w3.org/2003/05/soap-envelope\"><soap:Body><rs:Regis".to_vec(),
                error: None,
            }));
        }
        Some(Fault::RegistryBusy) => {
            let mut b = Vec::new();
            passerelle_dmp::response::registry_response_xml(
                &mut b,
                &[passerelle_dmp::response::ErrorOut::new(
                    "XDSRegistryBusy",
                    "registre occupé (injecté)",
                )],
            );
            record(&ctx, Some(tx), &tenant, 200, Some("XDSRegistryBusy".into()));
            return Ok(response(Answer {
                status: 200,
                content_type: Some(passerelle_dmp::envelope::soap_content_type(tx)),
                body: reply_envelope(tx.response_action(), None, &b),
                error: None,
            }));
        }
        Some(Fault::CommitThenDrop) | None => {}
    }
    let answer = process(&ctx, &tenant, tx, content_type.as_deref(), &body);
    let envelope = crate::checks::envelope_bytes(content_type.as_deref(), &body);
    record_envelope(
        &ctx,
        Some(tx),
        &tenant,
        answer.status,
        answer.error.clone(),
        envelope,
    );
    if fault == Some(Fault::CommitThenDrop) {
        return Err(Dropped);
    }
    Ok(response(answer))
}

pub(crate) fn fault_answer(
    status: u16,
    code: FaultCode,
    subcode: Option<&str>,
    reason: &str,
) -> Answer {
    let mut b = Vec::new();
    soap_fault_xml(&mut b, code, subcode, reason, &[]);
    Answer {
        status,
        content_type: Some("application/soap+xml; charset=UTF-8".into()),
        body: reply_envelope("http://www.w3.org/2005/08/addressing/soap/fault", None, &b),
        error: Some(
            subcode
                .unwrap_or(match code {
                    FaultCode::Sender => "Sender",
                    FaultCode::Receiver => "Receiver",
                })
                .to_owned(),
        ),
    }
}
