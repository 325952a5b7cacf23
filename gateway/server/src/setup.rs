//! Loading what the config points at: the policy engine with its overlays, the server's TLS
//! identity and API client CAs, the tenants' certificates (WhoAmI, check-config).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use passerelle_api::v1 as pb;
use passerelle_policy::PolicyEngine;
use passerelle_tls::{ClientAuth, Identity, IdentitySource, Revocation, TrustAnchors};

use crate::config::{self, Config};

pub fn engine(cfg: &Config) -> anyhow::Result<Arc<dyn PolicyEngine>> {
    // Through serde so that every field the config does not set takes the engine's default.
    let pc: passerelle_policy::PolicyConfig = serde_json::from_value(serde_json::json!({
        "crip_mailboxes": cfg.mssante.crip,
        "local_code_system_oid": cfg.policy.local_code_system_oid,
        "mss_trust_domains": cfg.mssante.whitelist,
    }))
    .context("policy configuration")?;
    let mut overlays = Vec::new();
    for p in &cfg.policy.overlays {
        overlays.push(
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read overlay {}", p.display()))?,
        );
    }
    let engine = passerelle_policy::Engine::new(passerelle_policy::PolicyBundle {
        matrix: passerelle_policy::DEFAULT_MATRIX.to_string(),
        overlays,
        config: pc,
    })
    .map_err(|e| anyhow::anyhow!("policy: {e}"))?;
    Ok(Arc::new(engine))
}

pub fn identity_source(id: &config::Identity) -> anyhow::Result<IdentitySource> {
    match (&id.cert, &id.key, &id.pkcs12) {
        (Some(c), Some(k), _) => Ok(IdentitySource::Pem {
            cert: c.clone(),
            key: k.clone(),
        }),
        (_, _, Some(p)) => {
            let password = match &id.password_file {
                Some(f) => std::fs::read_to_string(f)
                    .with_context(|| format!("cannot read {}", f.display()))?
                    .trim_end_matches(['\n', '\r'])
                    .to_string(),
                None => String::new(),
            };
            Ok(IdentitySource::Pkcs12 {
                path: p.clone(),
                password,
            })
        }
        _ => anyhow::bail!("an identity needs cert + key or pkcs12"),
    }
}

pub fn server_tls(cfg: &Config) -> anyhow::Result<Option<Arc<rustls::ServerConfig>>> {
    let (Some(cert), Some(key)) = (&cfg.server.tls_cert, &cfg.server.tls_key) else {
        return Ok(None);
    };
    let id = Identity::load(&IdentitySource::Pem {
        cert: cert.clone(),
        key: key.clone(),
    })?;
    let trust = match &cfg.server.client_ca {
        Some(p) => Some(TrustAnchors::load(std::slice::from_ref(p))?),
        None => None,
    };
    let auth = match &trust {
        Some(t) => ClientAuth::Optional(t),
        None => ClientAuth::Disabled,
    };
    let mut sc = passerelle_tls::server_config(&id, auth, &Revocation::disabled())?;
    sc.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(Arc::new(sc)))
}

/// Certificate facts of every tenant, for WhoAmI.
pub fn certificates(cfg: &Config) -> std::collections::HashMap<String, Vec<pb::CertificateInfo>> {
    let mut out = std::collections::HashMap::new();
    for t in &cfg.tenants {
        let mut v = Vec::new();
        for (usage, id) in [("tls_client", &t.tls_client), ("signing", &t.signing)] {
            let Ok(src) = identity_source(id) else {
                continue;
            };
            let Ok(identity) = Identity::load(&src) else {
                continue;
            };
            if let Ok(info) = passerelle_tls::inspect(identity.leaf().as_ref()) {
                v.push(pb::CertificateInfo {
                    usage: usage.to_string(),
                    subject: info.subject,
                    issuer: info.issuer,
                    serial: info.serial_hex,
                    not_after: Some(crate::convert::ts(info.not_after)),
                });
            }
        }
        out.insert(t.id.clone(), v);
    }
    out
}

/// CRL checking of a remote server's chain: none without CRL files, else strict (a certificate
/// of the chain without a current CRL is refused, like a listed one).
pub fn revocation(crls: &[PathBuf]) -> anyhow::Result<Revocation> {
    if crls.is_empty() {
        return Ok(Revocation::disabled());
    }
    Ok(Revocation::strict(passerelle_tls::load_crls(crls)?))
}

/// Checks the configured CRL files: readable, issued by a configured CA, current (an expired CRL
/// refuses every connection under strict checking; a warning under 7 days).
fn check_crls(
    key: &str,
    paths: &[PathBuf],
    trust: Option<&TrustAnchors>,
    now: time::OffsetDateTime,
    errors: &mut Vec<String>,
    warnings: &mut Vec<String>,
) {
    for p in paths {
        let at = format!("{key} {}", p.display());
        let crls = match passerelle_tls::load_crls(std::slice::from_ref(p)) {
            Ok(c) => c,
            Err(e) => {
                errors.push(format!("{at}: {e}"));
                continue;
            }
        };
        for c in &crls {
            let Ok((_, crl)) = x509_parser::parse_x509_crl(c.as_ref()) else {
                errors.push(format!("{at}: unreadable CRL"));
                continue;
            };
            let issuer = crl.issuer().to_string();
            if let Some(t) = trust {
                let known = t.certs().iter().any(|ca| {
                    x509_parser::parse_x509_certificate(ca.as_ref())
                        .is_ok_and(|(_, ca)| ca.subject() == crl.issuer())
                });
                if !known {
                    errors.push(format!("{at}: issued by {issuer}, not a configured CA"));
                }
            }
            match crl.next_update().map(|t| t.to_datetime()) {
                Some(next) if next <= now => {
                    errors.push(format!("{at}: CRL of {issuer} expired on {next}"))
                }
                Some(next) if next - now < time::Duration::days(7) => {
                    warnings.push(format!("{at}: CRL of {issuer} expires on {next}"))
                }
                _ => {}
            }
        }
    }
}

/// Loads every tenant's certificates and checks them (key match, chain to the configured CAs, key
/// usage, validity; a warning under 30 days). Returns (errors, warnings), one line each.
pub fn check_certificates(cfg: &Config, now: time::OffsetDateTime) -> (Vec<String>, Vec<String>) {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let ca = cfg.mssante.trust_ca.as_ref().or(cfg.dmp.trust_ca.as_ref());
    let trust = match ca.map(|p| TrustAnchors::load(std::slice::from_ref(p))) {
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            errors.push(format!("trust anchors: {e}"));
            None
        }
        None => {
            warnings.push("no mssante.trust_ca / dmp.trust_ca: chains not checked".into());
            None
        }
    };
    for (key, paths, anchors) in [
        ("mssante.crl", &cfg.mssante.crl, &cfg.mssante.trust_ca),
        ("dmp.crl", &cfg.dmp.crl, &cfg.dmp.trust_ca),
    ] {
        let anchors = anchors
            .as_ref()
            .and_then(|p| TrustAnchors::load(std::slice::from_ref(p)).ok());
        check_crls(
            key,
            paths,
            anchors.as_ref(),
            now,
            &mut errors,
            &mut warnings,
        );
    }
    for t in &cfg.tenants {
        for (name, id, usage) in [
            (
                "tls_client",
                &t.tls_client,
                passerelle_tls::Usage::TlsClient,
            ),
            ("signing", &t.signing, passerelle_tls::Usage::Signing),
        ] {
            let at = format!("tenant {} {name}", t.id);
            let identity = match identity_source(id).and_then(|s| Ok(Identity::load(&s)?)) {
                Ok(i) => i,
                Err(e) => {
                    errors.push(format!("{at}: {e:#}"));
                    continue;
                }
            };
            let Some(trust) = &trust else { continue };
            match passerelle_tls::check_identity(&identity, trust, usage, now, &[]) {
                Ok(r) => {
                    for p in r.problems {
                        let line = format!("{at}: {}", p.message);
                        if p.severity == passerelle_tls::Severity::Error {
                            errors.push(line);
                        } else {
                            warnings.push(line);
                        }
                    }
                }
                Err(e) => errors.push(format!("{at}: {e}")),
            }
        }
    }
    (errors, warnings)
}
