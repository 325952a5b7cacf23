//! `passerelle render --request FILE --out DIR`: everything that would be sent, written offline
//! (never a network connection). Layout (docs/render.md):
//!
//! | path | content |
//! |---|---|
//! | decision.json | the policy decision (allowed, deliveries with channel, recipient, kind, rules…) |
//! | documents/NAME.pdf | each rendered or supplied PDF |
//! | documents/NAME.cda.xml | the CDA R2 N1 of each document |
//! | mssante/NN-LOCALPART.eml | each MSSanté message exactly as it would be submitted |
//! | dmp/NN-request.http, dmp/NN-vihf.xml | each DMP request and its signed VIHF |
//! | trust/ca.pem | root + intermediate CA certificates of the chains used |

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use passerelle_api::v1 as pb;
use serde_json::json;

/// decision.json: "allowed" is true exactly when Submit would accept the transmission.
pub fn decision_json(req: &pb::SubmitRequest, d: &pb::Decision) -> serde_json::Value {
    let deliveries: Vec<serde_json::Value> = d
        .targets
        .iter()
        .map(|t| {
            let channel = match pb::Channel::try_from(t.channel).unwrap_or_default() {
                pb::Channel::Mssante => "mssante",
                pb::Channel::Mes => "mes",
                pb::Channel::Dmp => "dmp",
                pb::Channel::Unspecified => "unspecified",
            };
            let allowed = t.outcome == pb::Outcome::Allowed as i32;
            let recipient = if t.recipient.is_empty() {
                req.targets
                    .iter()
                    .find(|x| x.id == t.target_id)
                    .map(|x| x.mss_address.clone())
                    .unwrap_or_default()
            } else {
                t.recipient.clone()
            };
            let reason = t
                .denials
                .iter()
                .map(|x| format!("{} ({}): {}", x.code, x.rule, x.message_en))
                .collect::<Vec<_>>()
                .join("; ");
            json!({
                "targetId": t.target_id,
                "documentId": t.document_id,
                "channel": channel,
                "recipient": recipient,
                "kind": passerelle_domain::kinds::code(passerelle_domain::kinds::from_i32(t.kind)),
                "allowed": allowed,
                "rules": t.rules.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
                "codes": t.denials.iter().map(|x| x.code.clone()).collect::<Vec<_>>(),
                "legal_basis": if t.legal_basis.is_empty() { serde_json::Value::Null } else { json!(t.legal_basis) },
                "confidentiality": t.confidentiality,
                "reason": if allowed { serde_json::Value::Null } else { json!(reason) },
                "explanation": t.explanation.as_ref().map(|e| json!({"fr": e.fr, "en": e.en})),
            })
        })
        .collect();
    json!({
        "allowed": d.accepted,
        "outcome": pb::Outcome::try_from(d.outcome).unwrap_or_default().as_str_name(),
        "policy": d.policy.as_ref().map(|p| json!({"engine": p.engine, "matrix": p.matrix_version, "matrixSha256": p.matrix_sha256})),
        "inputSha256": d.input_sha256,
        "warnings": d.warnings,
        "deliveries": deliveries,
    })
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).with_context(|| format!("cannot create {}", p.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

pub async fn run(
    request: &Path,
    out: &Path,
    config: Option<&Path>,
    deterministic: bool,
) -> anyhow::Result<ExitCode> {
    let req = crate::client::read_request(request)?;
    let cfg = match config {
        Some(p) => crate::config::load(p)
            .map_err(|p| anyhow::anyhow!("invalid configuration:\n  {}", p.join("\n  ")))?,
        None => {
            let dir = std::env::temp_dir().join("passerelle-render-sandbox");
            crate::sandbox::config(&dir, "127.0.0.1:0".parse()?)?
        }
    };
    let now = if deterministic {
        time::macros::datetime!(2026-11-25 10:00:00 UTC)
    } else {
        time::OffsetDateTime::now_utc()
    };
    // The same validation and policy as Submit (one code path), without a store.
    let violations =
        passerelle_domain::validate::validate_submission(&req, &cfg.limits, now.date());
    if !violations.is_empty() {
        for v in &violations {
            eprintln!("error: {}: {}", v.field, v.reason);
        }
        return Ok(ExitCode::FAILURE);
    }
    let engine = crate::setup::engine(&cfg)?;
    let decision = match engine.evaluate(
        &req,
        now,
        true,
        if deterministic {
            "dec_render"
        } else {
            "dec_render_live"
        },
    ) {
        Ok(d) => d,
        Err(passerelle_policy::PolicyError::InvalidInput(v)) => {
            for f in v {
                eprintln!("error: {}: {}", f.field, f.reason);
            }
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => anyhow::bail!("policy: {e}"),
    };
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    write(
        &out.join("decision.json"),
        serde_json::to_string_pretty(&decision_json(&req, &decision))?.as_bytes(),
    )?;
    let artefacts = crate::pipeline::render_all(&cfg, &req, &decision, now, deterministic)?;
    for (path, bytes) in &artefacts.files {
        write(&out.join(path), bytes)?;
    }
    eprintln!(
        "rendered {} file(s) into {} ({} target(s) allowed of {})",
        artefacts.files.len() + 1,
        out.display(),
        decision
            .targets
            .iter()
            .filter(|t| t.outcome == pb::Outcome::Allowed as i32)
            .count(),
        decision.targets.len()
    );
    Ok(ExitCode::SUCCESS)
}
