//! `passerelle conformance [--target sandbox|CONFIG]`: the project's own checks, as a report
//! (JUnit XML + a readable summary) to prepare an ANS homologation or a test-platform session.
//!
//! - Artefact checks on every example request, rendered as the target's tenant: the decision
//!   agrees with examples/requests/expected.json; each MSSanté message passes the operator's
//!   content rules (XDM, one patient, N1 PDF copies, X-MSS headers, CRLF); each VIHF verifies
//!   (signature, digest, certificate issued by the organisations CA), and with `xmlsec1` when it is
//!   installed (an independent implementation).
//! - Protocol scenarios: against the sandbox, every example end to end through the embedded
//!   MSSanté operator and DMP simulator; against a configuration, a TLS + EHLO / IMAP login with
//!   each tenant's certificate (nothing is sent to a real endpoint).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

struct Case {
    suite: &'static str,
    name: String,
    failure: Option<String>,
    skipped: Option<String>,
    seconds: f64,
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn junit(cases: &[Case]) -> String {
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let skipped = cases.iter().filter(|c| c.skipped.is_some()).count();
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"passerelle-conformance\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\">\n",
        cases.len()
    );
    for suite in ["artefacts", "protocol"] {
        let cs: Vec<&Case> = cases.iter().filter(|c| c.suite == suite).collect();
        s.push_str(&format!(
            "  <testsuite name=\"{suite}\" tests=\"{}\" failures=\"{}\">\n",
            cs.len(),
            cs.iter().filter(|c| c.failure.is_some()).count()
        ));
        for c in cs {
            s.push_str(&format!(
                "    <testcase classname=\"{suite}\" name=\"{}\" time=\"{:.3}\"",
                xml_escape(&c.name),
                c.seconds
            ));
            match (&c.failure, &c.skipped) {
                (Some(f), _) => s.push_str(&format!(
                    "><failure message=\"{}\"/></testcase>\n",
                    xml_escape(f)
                )),
                (None, Some(k)) => s.push_str(&format!(
                    "><skipped message=\"{}\"/></testcase>\n",
                    xml_escape(k)
                )),
                _ => s.push_str("/>\n"),
            }
        }
        s.push_str("  </testsuite>\n");
    }
    s.push_str("</testsuites>\n");
    s
}

fn case(suite: &'static str, name: impl Into<String>, t0: Instant, r: Result<(), String>) -> Case {
    Case {
        suite,
        name: name.into(),
        failure: r.err(),
        skipped: None,
        seconds: t0.elapsed().as_secs_f64(),
    }
}

fn xmlsec1_available() -> bool {
    std::process::Command::new("xmlsec1")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Verifies a signed VIHF with xmlsec1 (the independent implementation): the first certificate of
/// `ca_pem` (trust/ca.pem) is trusted, the intermediates are offered as untrusted.
pub fn xmlsec1_verify(vihf: &[u8], ca_pem: &[u8], dir: &Path) -> Result<(), String> {
    let text = String::from_utf8_lossy(ca_pem);
    let certs: Vec<String> = text
        .split("-----END CERTIFICATE-----")
        .filter(|p| p.contains("BEGIN CERTIFICATE"))
        .map(|p| format!("{}-----END CERTIFICATE-----\n", p.trim_start()))
        .collect();
    let file = dir.join("vihf.xml");
    std::fs::write(&file, vihf).map_err(|e| e.to_string())?;
    let mut cmd = std::process::Command::new("xmlsec1");
    cmd.args([
        "--verify",
        "--id-attr:ID",
        "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
    ]);
    for (i, c) in certs.iter().enumerate() {
        let p = dir.join(format!("ca{i}.pem"));
        std::fs::write(&p, c).map_err(|e| e.to_string())?;
        cmd.arg(if i == 0 {
            "--trusted-pem"
        } else {
            "--untrusted-pem"
        })
        .arg(p);
    }
    let out = cmd.arg(&file).output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "xmlsec1: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("refused")
        ))
    }
}

fn artefacts(cfg: &crate::config::Config, cases: &mut Vec<Case>, tmp: &Path) -> anyhow::Result<()> {
    let dir = crate::demo::examples_dir();
    let expected = crate::demo::load_expected(&dir)?;
    let engine = crate::setup::engine(cfg)?;
    let ca_pem = match &cfg.mssante.trust_ca {
        Some(p) => std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?,
        None => Vec::new(),
    };
    let xmlsec = xmlsec1_available();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json") && !p.ends_with("expected.json"))
        .collect();
    files.sort();
    for f in files {
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let t0 = Instant::now();
        let mut req = crate::client::read_request(&f)?;
        crate::demo::refresh_information_dates(&mut req);
        // Render as the target's tenant when the example's tenant is not configured there.
        if !cfg.tenants.iter().any(|t| t.id == req.tenant)
            && let Some(t) = cfg.tenants.first()
        {
            req.tenant = t.id.clone();
        }
        let now = time::OffsetDateTime::now_utc();
        let decision = match engine.evaluate(&req, now, true, "conformance") {
            Ok(d) => d,
            Err(e) => {
                cases.push(case(
                    "artefacts",
                    format!("{name}: decision"),
                    t0,
                    Err(e.to_string()),
                ));
                continue;
            }
        };
        let want = expected.get(&name).map(|e| e.accepted);
        cases.push(case(
            "artefacts",
            format!("{name}: decision matches expected.json"),
            t0,
            if want == Some(decision.accepted) {
                Ok(())
            } else {
                Err(format!(
                    "accepted {} but expected {want:?}",
                    decision.accepted
                ))
            },
        ));
        let t0 = Instant::now();
        let rendered = match crate::pipeline::render_all(cfg, &req, &decision, now, true) {
            Ok(a) => a,
            Err(e) => {
                cases.push(case(
                    "artefacts",
                    format!("{name}: render"),
                    t0,
                    Err(e.to_string()),
                ));
                continue;
            }
        };
        for (path, bytes) in &rendered.files {
            let p = path.to_string_lossy().to_string();
            let t0 = Instant::now();
            if p.ends_with(".eml") {
                cases.push(case(
                    "artefacts",
                    format!("{name}: {p} follows the MSSanté message rules"),
                    t0,
                    crate::sandbox::mssante_rules(bytes).map_err(|(c, t)| format!("{c} {t}")),
                ));
            } else if p.ends_with("-vihf.xml") {
                let mut trust = passerelle_xmlsig::TrustAnchors::new();
                for der in rustls_pemfile::certs(&mut ca_pem.as_slice()).flatten() {
                    trust = trust
                        .add_issuing_ca(der.to_vec())
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                }
                let own = passerelle_xmlsig::verify(bytes, &trust)
                    .map(|_| ())
                    .map_err(|e| e.to_string());
                cases.push(case(
                    "artefacts",
                    format!("{name}: {p} signature (Passerelle verifier)"),
                    t0,
                    own,
                ));
                let t1 = Instant::now();
                if xmlsec {
                    cases.push(case(
                        "artefacts",
                        format!("{name}: {p} signature (xmlsec1)"),
                        t1,
                        xmlsec1_verify(bytes, &ca_pem, tmp),
                    ));
                } else {
                    cases.push(Case {
                        suite: "artefacts",
                        name: format!("{name}: {p} signature (xmlsec1)"),
                        failure: None,
                        skipped: Some("xmlsec1 is not installed".into()),
                        seconds: 0.0,
                    });
                }
            } else if p.ends_with(".pdf") {
                cases.push(case(
                    "artefacts",
                    format!("{name}: {p} is a PDF"),
                    t0,
                    if bytes.starts_with(b"%PDF-") {
                        Ok(())
                    } else {
                        Err("no %PDF- header".into())
                    },
                ));
            }
        }
    }
    Ok(())
}

async fn protocol_sandbox(cfg: crate::config::Config, cases: &mut Vec<Case>) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let out = crate::demo::run_rows(cfg).await?;
    for (name, ok, detail) in out {
        cases.push(Case {
            suite: "protocol",
            name,
            failure: (!ok).then_some(detail),
            skipped: None,
            seconds: t0.elapsed().as_secs_f64(),
        });
    }
    Ok(())
}

async fn protocol_config(cfg: &crate::config::Config, cases: &mut Vec<Case>) -> anyhow::Result<()> {
    let Some(op) = crate::mssante::Operator::resolve(cfg).await? else {
        cases.push(Case {
            suite: "protocol",
            name: "MSSanté operator".into(),
            failure: None,
            skipped: Some("no [mssante.smtp]/[mssante.imap] or mssante.discover configured".into()),
            seconds: 0.0,
        });
        return Ok(());
    };
    let tls = crate::mssante::client_configs(cfg)?;
    for t in &cfg.tenants {
        let Some(c) = tls.get(&t.id) else { continue };
        let t0 = Instant::now();
        let mut sc = passerelle_mail::SmtpClientConfig::new(
            t.app_mailbox.clone(),
            op.smtp_host.clone(),
            op.smtp_port,
            op.smtp_tls,
            c.clone(),
        );
        sc.connect_addr = op.smtp_addr;
        let r = passerelle_mail::SmtpConnection::connect(&sc)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string());
        cases.push(case(
            "protocol",
            format!(
                "{}: SMTP TLS + EHLO with the ORG_AUTH_CLI certificate",
                t.id
            ),
            t0,
            r,
        ));
        let t0 = Instant::now();
        let mut ic = passerelle_mail::ImapClientConfig::new(
            t.app_mailbox.clone(),
            op.imap_host.clone(),
            op.imap_port,
            op.imap_tls,
            c.clone(),
        );
        ic.connect_addr = op.imap_addr;
        let r = match passerelle_mail::ImapSession::connect(&ic).await {
            Ok(s) => {
                let _ = s.logout().await;
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        };
        cases.push(case(
            "protocol",
            format!("{}: IMAP TLS + AUTHENTICATE EXTERNAL", t.id),
            t0,
            r,
        ));
    }
    Ok(())
}

pub async fn run(target: &str, out: &Path) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let tmp = out.join("tmp");
    std::fs::create_dir_all(&tmp)?;
    let mut cases = Vec::new();
    if target == "sandbox" {
        let dir = std::env::temp_dir().join(format!(
            "passerelle-conformance-{}",
            uuid::Uuid::now_v7().simple()
        ));
        let cfg = crate::sandbox::config(&dir, "127.0.0.1:0".parse()?)?;
        artefacts(&cfg, &mut cases, &tmp)?;
        protocol_sandbox(cfg, &mut cases).await?;
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        let cfg = crate::config::load(Path::new(target))
            .map_err(|p| anyhow::anyhow!("invalid configuration:\n  {}", p.join("\n  ")))?;
        artefacts(&cfg, &mut cases, &tmp)?;
        protocol_config(&cfg, &mut cases).await?;
    }
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::write(out.join("junit.xml"), junit(&cases))?;
    let failed: Vec<&Case> = cases.iter().filter(|c| c.failure.is_some()).collect();
    let skipped = cases.iter().filter(|c| c.skipped.is_some()).count();
    let mut summary = format!(
        "Passerelle conformance ({target}): {} checks, {} passed, {} failed, {skipped} skipped\n",
        cases.len(),
        cases.len() - failed.len() - skipped,
        failed.len()
    );
    for c in &failed {
        summary.push_str(&format!(
            "FAIL [{}] {}: {}\n",
            c.suite,
            c.name,
            c.failure.as_deref().unwrap_or_default()
        ));
    }
    for c in cases.iter().filter(|c| c.skipped.is_some()) {
        summary.push_str(&format!(
            "SKIP [{}] {}: {}\n",
            c.suite,
            c.name,
            c.skipped.as_deref().unwrap_or_default()
        ));
    }
    std::fs::write(out.join("summary.txt"), &summary)?;
    print!("{summary}");
    println!(
        "report: {} and {}",
        out.join("junit.xml").display(),
        out.join("summary.txt").display()
    );
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
