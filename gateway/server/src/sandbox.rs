//! The embedded sandbox (docs/sandbox.md): a generated test PKI, SQLite under a data directory, the
//! fixed tenants, and the commands built on it (serve --sandbox, demo, certs generate, audit verify).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use passerelle_certs::{PkiSpec, Usage};
use time::OffsetDateTime;

use crate::config::{
    Config, DmpConfig, Identity, MssanteConfig, OutboxConfig, PolicySection, ServerConfig,
    TenantConfig,
};

/// Sandbox tenant of unauthenticated loopback calls.
pub const DEFAULT_TENANT: &str = "mecs-tilleuls";

struct T {
    id: &'static str,
    name: &'static str,
    finess_ej: &'static str,
    finess_et: &'static str,
    siret: &'static str,
    app: &'static str,
    org: &'static str,
    inbox: &'static [&'static str],
    facility: &'static str,
}

const TENANTS: &[T] = &[
    T {
        id: "cd93",
        name: "Département de la Seine-Saint-Denis — ASE et CRIP",
        finess_ej: "",
        finess_et: "",
        siret: "22930008200018",
        app: "dui-app@cd93.mssante.test",
        org: "ase@cd93.mssante.test",
        inbox: &["crip@cd93.mssante.test", "ase@cd93.mssante.test"],
        facility: "SA07",
    },
    T {
        id: "cd75",
        name: "Département de Paris — CRIP",
        finess_ej: "",
        finess_et: "",
        siret: "22750005400019",
        app: "dui-app@cd75.mssante.test",
        org: "crip@cd75.mssante.test",
        inbox: &["crip@cd75.mssante.test"],
        facility: "SA07",
    },
    T {
        id: "mecs-tilleuls",
        name: "MECS Les Tilleuls",
        finess_ej: "930004122",
        finess_et: "930004130",
        siret: "",
        app: "passerelle@mecs-tilleuls.mssante.test",
        org: "secretariat@mecs-tilleuls.mssante.test",
        inbox: &[],
        facility: "SA07",
    },
    T {
        id: "ime-horizon",
        name: "IME L'Horizon",
        finess_ej: "930005202",
        finess_et: "930005210",
        siret: "",
        app: "passerelle@ime-horizon.mssante.test",
        org: "accueil@ime-horizon.mssante.test",
        inbox: &[],
        facility: "SA07",
    },
    T {
        id: "cmp-enfants",
        name: "CMP infanto-juvénile de Bobigny",
        finess_ej: "930006309",
        finess_et: "930006317",
        siret: "",
        app: "passerelle@cmp-enfants.mssante.test",
        org: "secretariat@cmp-enfants.mssante.test",
        inbox: &[],
        facility: "SA05",
    },
];

/// The PKI of the sandbox: generated on first start, reused afterwards.
pub fn pki(dir: &Path) -> anyhow::Result<passerelle_certs::Pki> {
    passerelle_certs::load_or_generate(dir, &PkiSpec::sandbox(OffsetDateTime::now_utc()))
        .with_context(|| format!("test PKI in {}", dir.display()))
}

fn pem_identity(pki_dir: &Path, tenant: &str, usage: Usage) -> Identity {
    let stem = pki_dir.join("tenants").join(tenant).join(usage.file_stem());
    Identity {
        cert: Some(stem.with_extension("chain.pem")),
        key: Some(stem.with_extension("key.pem")),
        pkcs12: None,
        password_file: None,
    }
}

/// The sandbox configuration rooted at `data_dir`, creating its PKI and token files.
pub fn config(data_dir: &Path, listen: SocketAddr) -> anyhow::Result<Config> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let pki_dir = data_dir.join("pki");
    let pki = pki(&pki_dir)?;
    let tokens = data_dir.join("tokens");
    std::fs::create_dir_all(&tokens)?;
    let mut tenants = Vec::new();
    for t in TENANTS {
        let token_file = tokens.join(format!("{}.token", t.id));
        std::fs::write(&token_file, format!("sandbox-token-{}\n", t.id))?;
        let subjects = pki
            .get(t.id, Usage::ApiClient)
            .and_then(|c| passerelle_tls::inspect(&c.cert_der).ok())
            .map(|i| vec![i.subject])
            .unwrap_or_default();
        tenants.push(TenantConfig {
            id: t.id.into(),
            name: t.name.into(),
            finess_ej: t.finess_ej.into(),
            finess_et: t.finess_et.into(),
            siret: t.siret.into(),
            departement: "93".into(),
            app_mailbox: t.app.into(),
            org_mailbox: Some(t.org.into()),
            inbox_mailboxes: t.inbox.iter().map(|s| (*s).to_string()).collect(),
            facility_type: t.facility.into(),
            practice_setting: "MEDICO_SOCIAL".into(),
            tls_client: pem_identity(&pki_dir, t.id, Usage::TlsClient),
            signing: pem_identity(&pki_dir, t.id, Usage::Signing),
            api_token_files: vec![token_file],
            api_client_subjects: subjects,
        });
    }
    if let Some(t) = tenants.iter_mut().find(|t| t.id == "cd75") {
        t.departement = "75".into();
    }
    let mut crip = BTreeMap::new();
    crip.insert("93".to_string(), "crip@cd93.mssante.test".to_string());
    crip.insert("75".to_string(), "crip@cd75.mssante.test".to_string());
    let whitelist = [
        "cd93.mssante.test",
        "cd75.mssante.test",
        "mecs-tilleuls.mssante.test",
        "ime-horizon.mssante.test",
        "cmp-enfants.mssante.test",
        "ac-creteil.mssante.test",
        "patient.mssante.test",
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    Ok(Config {
        server: ServerConfig {
            listen,
            data_dir: data_dir.to_path_buf(),
            tls_cert: None,
            tls_key: None,
            client_ca: None,
            sandbox_tenant: Some(DEFAULT_TENANT.to_string()),
            log_json: false,
            admin_tenants: TENANTS.iter().map(|t| t.id.to_string()).collect(),
        },
        // A short lease: a crashed sandbox takes its in-flight deliveries back within seconds.
        outbox: OutboxConfig {
            lease_secs: 10,
            ..OutboxConfig::default()
        },
        limits: Default::default(),
        mssante: MssanteConfig {
            whitelist,
            crip,
            smtp: None,
            imap: None,
            nil: "DEV-PASSERELLE-SANDBOX".into(),
            trust_ca: Some(pki_dir.join("ca-chain.pem")),
            crl: Vec::new(),
            imap_idle: true,
            ..MssanteConfig::default()
        },
        dmp: DmpConfig {
            base_url: None,
            trust_ca: Some(pki_dir.join("ca-chain.pem")),
            crl: Vec::new(),
            lps_homologation: crate::config::Secret("SANDBOX".into()),
            processing_code: "D".into(),
        },
        policy: PolicySection::default(),
        tenants,
    })
}

/// Mailboxes of the embedded operator: the tenants' APP and ORG mailboxes and the professionals of
/// docs/sandbox.md. Persons answer read receipts by hand ("displayed"); the CRIP mailboxes are read
/// by Passerelle, which answers "processed".
const PEOPLE: &[&str] = &[
    "claire.martin@cd93.mssante.test",
    "paul.bernard@cd93.mssante.test",
    "sophie.leroy@mecs-tilleuls.mssante.test",
    "marc.petit@cmp-enfants.mssante.test",
    "julie.moreau@mecs-tilleuls.mssante.test",
    "karim.haddad@mecs-tilleuls.mssante.test",
    "anne.roux@ac-creteil.mssante.test",
    "direction@mecs-tilleuls.mssante.test",
];

/// The password of ORG mailboxes polled with IMAP LOGIN in the sandbox (test servers only).
pub const ORG_PASSWORD: &str = "sandbox";

/// The embedded MSSanté operator and DMP simulator, started for the sandbox config.
pub struct Sims {
    pub operator: passerelle_sim_mail::Operator,
    pub dmp: passerelle_sim_dmp::SimHandle,
}

/// The sandbox children of docs/sandbox.md, with an active DMP.
fn dmp_patients() -> Vec<passerelle_sim_dmp::Patient> {
    use time::macros::date;
    [
        ("lea", "212069306600157", date!(2012 - 06 - 14)),
        ("noah", "111029306600291", date!(2011 - 02 - 03)),
        ("ines", "214069306600354", date!(2014 - 06 - 10)),
    ]
    .into_iter()
    .map(|(name, ins, birth_date)| passerelle_sim_dmp::Patient {
        name,
        ins: ins.into(),
        ins_oid: passerelle_domain::ids::INS_OID_TEST.into(),
        birth_date,
        state: passerelle_sim_dmp::DmpState::Active,
        secret_expected: false,
        authorisation: "VALIDE",
    })
    .collect()
}

/// Starts the embedded simulators and points `cfg` at them.
pub async fn start_sims(cfg: &mut Config) -> anyhow::Result<(Sims, crate::app::Options)> {
    let pki_for_dmp = pki(&cfg.server.data_dir.join("pki"))?;
    let server = pki_for_dmp
        .server("dmp.test")
        .context("no dmp.test certificate in the test PKI")?;
    let dmp = passerelle_sim_dmp::start(passerelle_sim_dmp::SimConfig {
        identity: passerelle_tls::Identity::from_pem(
            server.chain_pem().as_bytes(),
            server.key_pem.as_bytes(),
        )?,
        client_trust: passerelle_tls::TrustAnchors::from_pem(pki_for_dmp.root.cert_pem.as_bytes())?,
        signing_cas: vec![pki_for_dmp.org_ca.cert_der.clone()],
        params: passerelle_dmp::DmpParameters::default(),
        patients: dmp_patients(),
        clock: None,
    })
    .await
    .map_err(|e| anyhow::anyhow!("DMP simulator: {e}"))?;
    cfg.dmp.base_url = Some(dmp.base_url());
    use passerelle_sim_mail::{MailboxKind, MailboxSpec, OperatorConfig};
    let pki = pki(&cfg.server.data_dir.join("pki"))?;
    let server = pki
        .server("smtp.mssante.test")
        .context("no smtp.mssante.test certificate in the test PKI")?;
    let tls = passerelle_sim_mail::pki::server_tls_config(
        pki.ca_chain_pem().as_bytes(),
        server.chain_pem().as_bytes(),
        server.key_pem.as_bytes(),
    )?;
    let mut boxes: Vec<MailboxSpec> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut add = |addr: &str, kind: MailboxKind, password: Option<&str>| {
        if seen.insert(addr.to_string()) {
            let mut m = MailboxSpec::new(addr).kind(kind);
            m.password = password.map(str::to_string);
            boxes.push(m);
        }
    };
    for t in &cfg.tenants {
        add(&t.app_mailbox, MailboxKind::Plain, None);
        for m in t.inbox_mailboxes.iter().chain(t.org_mailbox.iter()) {
            // The CRIP's mailbox is integrated by Passerelle itself (its poller answers the read
            // receipts); the other ORG mailboxes are read by people.
            let kind = if m.starts_with("crip@") {
                MailboxKind::Plain
            } else {
                MailboxKind::Human
            };
            add(m, kind, Some(ORG_PASSWORD));
        }
    }
    for p in PEOPLE {
        add(p, MailboxKind::Human, None);
    }
    let mut oc = OperatorConfig::new(tls, cfg.mssante.whitelist.clone(), boxes);
    oc.validator = Some(std::sync::Arc::new(mssante_rules));
    oc.hostname = "smtp.mssante.test".into();
    oc.human_mdn_delay = std::time::Duration::from_millis(300);
    let operator = passerelle_sim_mail::Operator::start(oc).await?;
    let op = crate::mssante::Operator {
        smtp_host: "smtp.mssante.test".into(),
        smtp_port: operator.addrs.smtp_starttls.port(),
        smtp_tls: passerelle_mail::TlsMode::StartTls,
        imap_host: "smtp.mssante.test".into(),
        imap_port: operator.addrs.imap_implicit.port(),
        imap_tls: passerelle_mail::TlsMode::Implicit,
        smtp_addr: Some(operator.addrs.smtp_starttls),
        imap_addr: Some(operator.addrs.imap_implicit),
    };
    let tls = crate::mssante::client_configs(cfg)?;
    let mut mailboxes = Vec::new();
    for t in &cfg.tenants {
        let Some(c) = tls.get(&t.id) else { continue };
        mailboxes.push(crate::mssante::PolledMailbox {
            tenant: t.id.clone(),
            mailbox: t.app_mailbox.clone(),
            app_mailbox: t.app_mailbox.clone(),
            auth: passerelle_mail::ImapAuth::External,
            tls: c.clone(),
        });
        for m in &t.inbox_mailboxes {
            mailboxes.push(crate::mssante::PolledMailbox {
                tenant: t.id.clone(),
                mailbox: m.clone(),
                app_mailbox: t.app_mailbox.clone(),
                auth: passerelle_mail::ImapAuth::Login {
                    user: m.clone(),
                    password: ORG_PASSWORD.into(),
                },
                tls: c.clone(),
            });
        }
    }
    let opts = crate::app::Options {
        mssante: Some(op),
        mailboxes,
        poll_every: std::time::Duration::from_millis(500),
        ..crate::app::Options::default()
    };
    Ok((Sims { operator, dmp }, opts))
}

/// The operator's content checks (mssante.md §3 and §7.2 items 6–7), beyond its built-in header
/// rules: a strict simulator refuses what the real rules refuse.
pub fn mssante_rules(raw: &[u8]) -> Result<(), (u16, String)> {
    let refuse = |rule: &str, why: String| Err((554, format!("5.6.0 {rule} {why}")));
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    let has = |h: &str| head.split("\r\n").any(|l| l.starts_with(h));
    for (h, rule) in [
        ("date:", "MSS-DATE"),
        ("message-id:", "MSS-MESSAGE-ID"),
        ("mime-version:", "MSS-MIME"),
    ] {
        if !has(h) {
            return refuse(rule, format!("header {} missing", h.trim_end_matches(':')));
        }
    }
    if memchr::memchr_iter(b'\n', raw).any(|i| i == 0 || raw[i - 1] != b'\r') {
        return refuse("MSS-CRLF", "bare LF in the message".into());
    }
    let parsed = match passerelle_mssante::inbound::parse(
        raw,
        &passerelle_mssante::inbound::Limits::default(),
    ) {
        Ok(p) => p,
        Err(e) => return refuse("MSS-MIME", e.to_string()),
    };
    let passerelle_mssante::inbound::InboundKind::Document(doc) = &parsed.kind else {
        // Plain messages (no document) only need the header rules.
        if has("x-mss-codecda:") || has("x-mss-ins:") {
            return refuse(
                "MSS-X-MSS-CDA",
                "X-MSS-CODECDA/X-MSS-INS without a CDA".into(),
            );
        }
        return Ok(());
    };
    let Some(zip) = &doc.xdm else {
        return refuse("MSS-XDM", "subject announces XDM but no IHE_XDM.zip".into());
    };
    if !has("x-mss-codecda:") || !has("x-mss-ins:") {
        return refuse(
            "MSS-X-MSS-CDA",
            "X-MSS-CODECDA and X-MSS-INS are required with a CDA".into(),
        );
    }
    let pkg = match passerelle_documents::read_xdm(&zip.data) {
        Ok(p) => p,
        Err(e) => return refuse("MSS-XDM", e.to_string()),
    };
    let embedded: Vec<&[u8]> = pkg
        .subsets
        .iter()
        .flat_map(|s| s.documents.iter())
        .filter_map(|d| d.pdf.as_deref())
        .collect();
    let cdas = pkg
        .subsets
        .iter()
        .flat_map(|s| s.documents.iter())
        .filter(|d| d.cda.is_some())
        .count();
    if embedded.len() != cdas || cdas == 0 {
        return refuse(
            "MSS-N1",
            "every CDA must be an N1 document with its PDF".into(),
        );
    }
    let readable: Vec<&[u8]> = doc
        .other_attachments
        .iter()
        .filter(|a| a.content_type.eq_ignore_ascii_case("application/pdf"))
        .map(|a| a.data.as_slice())
        .collect();
    if readable.len() != embedded.len() || embedded.iter().any(|e| !readable.contains(e)) {
        return refuse(
            "MSS-PDF-COPY",
            "one readable PDF per CDA, identical to its embedded PDF".into(),
        );
    }
    Ok(())
}

/// The MSSanté operator and polled mailboxes of a real configuration (`[mssante.smtp]` and
/// `[mssante.imap]`, or found by `mssante.discover`): each tenant's APP mailbox, read with its
/// certificate (SASL EXTERNAL).
pub async fn configured_channels(cfg: &Config) -> anyhow::Result<crate::app::Options> {
    let mut opts = crate::app::Options::default();
    if let Some(op) = crate::mssante::Operator::resolve(cfg).await? {
        let tls = crate::mssante::client_configs(cfg)?;
        for t in &cfg.tenants {
            if let Some(c) = tls.get(&t.id) {
                opts.mailboxes.push(crate::mssante::PolledMailbox {
                    tenant: t.id.clone(),
                    mailbox: t.app_mailbox.clone(),
                    app_mailbox: t.app_mailbox.clone(),
                    auth: passerelle_mail::ImapAuth::External,
                    tls: c.clone(),
                });
            }
        }
        opts.mssante = Some(op);
    }
    Ok(opts)
}

/// What `serve` runs besides the API: with the sandbox, the embedded operator and DMP and their
/// wiring; with a real configuration, its `[mssante.smtp]`/`[mssante.imap]` operator if any (the
/// DMP sender comes from `[dmp]` in `app::start`).
pub async fn wiring(cfg: &mut Config) -> anyhow::Result<(Option<Sims>, crate::app::Options)> {
    let (sims, mut opts) = if cfg.server.sandbox_tenant.is_some()
        && std::env::var_os("PASSERELLE_SANDBOX_SINK").is_none()
    {
        let (s, o) = start_sims(cfg).await?;
        (Some(s), o)
    } else {
        (None, configured_channels(cfg).await?)
    };
    // Sandbox only: a file sink standing in for every channel (crash test).
    if cfg.server.sandbox_tenant.is_some()
        && let Some(p) = std::env::var_os("PASSERELLE_SANDBOX_SINK")
    {
        opts.senders
            .push(std::sync::Arc::new(crate::workers::FileSink {
                path: p.into(),
                lock: tokio::sync::Mutex::new(()),
            }));
    }
    Ok((sims, opts))
}

pub async fn serve_forever(mut cfg: Config) -> anyhow::Result<()> {
    let (sims, opts) = wiring(&mut cfg).await?;
    let running = crate::app::start(cfg, opts).await?;
    if let Some(s) = &sims {
        eprintln!(
            "embedded MSSanté operator: SMTP {} (STARTTLS), IMAP {} (TLS)",
            s.operator.addrs.smtp_starttls, s.operator.addrs.imap_implicit
        );
    }
    eprintln!(
        "passerelle listening on {} (gRPC + HTTP/JSON); Ctrl-C to stop",
        running.addr
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    running.stop().await;
    Ok(())
}

pub fn generate_certs(out: &Path) -> anyhow::Result<()> {
    let pki = passerelle_certs::generate(&PkiSpec::sandbox(OffsetDateTime::now_utc()))?;
    passerelle_certs::write(&pki, out)?;
    Ok(())
}

pub fn audit_verify(data_dir: &Path) -> anyhow::Result<ExitCode> {
    let dir = data_dir.join("outbox");
    if !dir.exists() {
        anyhow::bail!("no outbox in {}", data_dir.display());
    }
    let store =
        passerelle_outbox::SqliteStore::open(&dir, passerelle_outbox::StoreConfig::default())?;
    let report = passerelle_outbox::Store::audit_verify(&store)?;
    match &report.first_bad {
        None => {
            println!(
                "audit chain verified: {} entries, {} tenant(s), checkpoint consistent",
                report.entries_checked, report.tenants
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(f) => {
            eprintln!(
                "audit chain BROKEN: tenant {} entry {}: {:?}",
                f.tenant, f.seq, f.problem
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

pub async fn demo(data_dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    crate::demo::run(data_dir).await
}
