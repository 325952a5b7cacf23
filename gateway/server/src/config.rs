//! Typed configuration: TOML + `PASSERELLE__SECTION__KEY` environment overrides (figment), unknown
//! keys refused, then validated as a whole: every problem is reported at once and nothing starts on
//! error. Secrets are read from files and print as `***`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use passerelle_domain::ids;
use passerelle_domain::validate::Limits;
use serde::{Deserialize, Serialize};

/// A secret value: never printed.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    #[serde(default)]
    pub outbox: OutboxConfig,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub mssante: MssanteConfig,
    #[serde(default)]
    pub dmp: DmpConfig,
    #[serde(default)]
    pub policy: PolicySection,
    #[serde(default, rename = "tenant")]
    pub tenants: Vec<TenantConfig>,
}

impl Config {
    /// The configured tenant with this id.
    pub fn tenant(&self, id: &str) -> Option<&TenantConfig> {
        self.tenants.iter().find(|t| t.id == id)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// gRPC and HTTP/JSON share this listener.
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Server TLS identity (PEM). Without it the listener is plaintext and only allowed on loopback.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// CAs whose client certificates authenticate API callers (mTLS).
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// Sandbox only: unauthenticated loopback calls act as this tenant.
    #[serde(default)]
    pub sandbox_tenant: Option<String>,
    /// JSON logs.
    #[serde(default)]
    pub log_json: bool,
    /// Tenants whose callers may pause/resume destinations and retry in bulk (operators' IT):
    /// destinations are shared by every tenant.
    #[serde(default)]
    pub admin_tenants: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Maximum non-terminal deliveries before Submit answers RESOURCE_EXHAUSTED / 429.
    pub capacity: u64,
    /// Retry window after which a delivery expires (seconds).
    pub retry_window_secs: u64,
    /// Lease held by a worker on a claimed delivery (seconds).
    pub lease_secs: u64,
    /// Payload retention after every delivery of a transmission is final (days).
    pub retention_days: u64,
    /// No DSN within this delay after `sent` → expired (MSSanté, seconds).
    pub notification_timeout_secs: u64,
    /// MDN window after which a `delivered` delivery is final (seconds).
    pub read_window_secs: u64,
    /// Retry delays after each failed attempt (seconds; the last one repeats), jittered ±20 %.
    pub backoff_secs: Vec<u64>,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            capacity: 100_000,
            retry_window_secs: 24 * 3600,
            lease_secs: 300,
            retention_days: 30,
            notification_timeout_secs: 3600,
            read_window_secs: 7 * 24 * 3600,
            backoff_secs: vec![60, 120, 300, 600, 1800, 3600],
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MssanteConfig {
    /// Espace de confiance whitelist (exact, case-insensitive domains).
    pub whitelist: Vec<String>,
    /// Département → CRIP MSSanté address (IP-1).
    pub crip: BTreeMap<String, String>,
    pub smtp: Option<Endpoint>,
    pub imap: Option<Endpoint>,
    /// X-MSS-NIL product reference (Convergence declaration).
    pub nil: String,
    /// Trust anchors of the operator's servers (PEM).
    pub trust_ca: Option<PathBuf>,
    /// CRLs (PEM or DER files) of the operator's server chain; when set, its SMTP and IMAP
    /// certificates are checked against them (strict: every CA of the chain needs its CRL).
    pub crl: Vec<PathBuf>,
    /// Wait for new mail in IMAP IDLE (where the operator offers it) between passes instead of
    /// sleeping the poll period.
    pub imap_idle: bool,
    /// Circuit breaker of the operator (mssante.md §1.4): after an SMTP 421 or 4.7.x, nothing is
    /// sent to it for the first delay, then the next ones while it keeps refusing (the last one
    /// repeats); a successful send closes it. Empty: no breaker.
    pub breaker_secs: Vec<u64>,
    /// What the poller does with a message of INBOX once it is recorded: move it to
    /// `Passerelle/Traites` or `Passerelle/Quarantaine` (default), or leave it in INBOX marked
    /// with the keyword `$PasserelleTraite` or `$PasserelleQuarantaine` (a mailbox people read
    /// too; the server must keep keywords).
    pub after_ingest: AfterIngest,
    /// Mail domain whose DNS SRV records name the operator's servers (RFC 6186), used for
    /// whichever of `smtp` / `imap` is not given: resolved once at start.
    pub discover: Option<String>,
    /// DNS servers for `discover` (default: the system's).
    pub dns_servers: Vec<std::net::SocketAddr>,
}

/// See `MssanteConfig::after_ingest`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AfterIngest {
    #[default]
    Move,
    Flag,
}

impl Default for MssanteConfig {
    fn default() -> Self {
        Self {
            whitelist: Vec::new(),
            crip: BTreeMap::new(),
            smtp: None,
            imap: None,
            nil: String::new(),
            trust_ca: None,
            crl: Vec::new(),
            imap_idle: true,
            breaker_secs: vec![60, 120, 240, 480, 900],
            after_ingest: AfterIngest::Move,
            discover: None,
            dns_servers: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    /// "starttls" or "implicit".
    #[serde(default = "default_tls_mode")]
    pub tls: String,
    /// Connect to this address instead of resolving `host` (fixed routing: a relay, a test
    /// platform); TLS still checks the server certificate against `host`.
    #[serde(default)]
    pub addr: Option<std::net::SocketAddr>,
}

impl Default for DmpConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            trust_ca: None,
            crl: Vec::new(),
            lps_homologation: Secret::default(),
            processing_code: "P".into(),
        }
    }
}

fn default_tls_mode() -> String {
    "starttls".to_string()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DmpConfig {
    /// Base URL of the DMP services, e.g. https://lps2.dmp.gouv.fr/si-dmp-server/v2/services.
    pub base_url: Option<String>,
    pub trust_ca: Option<PathBuf>,
    /// CRLs (PEM or DER files) of the DMP server's chain, as `mssante.crl`.
    pub crl: Vec<PathBuf>,
    pub lps_homologation: Secret,
    /// TD0.2 processingCode: "P" in production, "D" on test platforms and the sandbox.
    pub processing_code: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicySection {
    /// OID of the local code system for document kinds (required when CDA is emitted).
    pub local_code_system_oid: String,
    /// Restrictive overlays of the habilitation matrix (TOML files).
    pub overlays: Vec<PathBuf>,
}

impl Default for PolicySection {
    fn default() -> Self {
        Self {
            // A 2.25 UUID OID, for tests and the sandbox; operators set their own arc.
            local_code_system_oid: "2.25.329800735698586629295641978511506172918".to_string(),
            overlays: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub finess_ej: String,
    #[serde(default)]
    pub finess_et: String,
    #[serde(default)]
    pub siret: String,
    pub departement: String,
    /// The structure's applicative (APP) MSSanté mailbox.
    pub app_mailbox: String,
    /// The structure's human ORG mailbox (Reply-To).
    #[serde(default)]
    pub org_mailbox: Option<String>,
    /// Other mailboxes of the structure whose incoming mail this tenant reads (e.g. the CRIP's).
    #[serde(default)]
    pub inbox_mailboxes: Vec<String>,
    /// J02/J61 facility type code (VIHF Secteur_Activite, CDA healthCareFacility).
    #[serde(default = "default_facility")]
    pub facility_type: String,
    /// J04/J62 practice setting code.
    #[serde(default = "default_practice")]
    pub practice_setting: String,
    /// ORG_AUTH_CLI: TLS client identity (PEM cert + key, or PKCS#12).
    pub tls_client: Identity,
    /// ORG_SIGN: signing identity (VIHF, XAdES).
    pub signing: Identity,
    /// API bearer tokens bound to this tenant (files holding the token).
    #[serde(default)]
    pub api_token_files: Vec<PathBuf>,
    /// Subjects (as printed by check-config) of API client certificates bound to this tenant.
    #[serde(default)]
    pub api_client_subjects: Vec<String>,
}

fn default_facility() -> String {
    "SA07".to_string()
}

fn default_practice() -> String {
    "MEDICO_SOCIAL".to_string()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    #[serde(default)]
    pub cert: Option<PathBuf>,
    #[serde(default)]
    pub key: Option<PathBuf>,
    #[serde(default)]
    pub pkcs12: Option<PathBuf>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

impl TenantConfig {
    /// Struct_IdNat: "1"+FINESS (ET first) or "3"+SIRET.
    pub fn struct_idnat(&self) -> String {
        if !self.finess_et.is_empty() {
            format!("1{}", self.finess_et)
        } else if !self.finess_ej.is_empty() {
            format!("1{}", self.finess_ej)
        } else {
            format!("3{}", self.siret)
        }
    }
}

/// Loads a config file with environment overrides, then validates it.
pub fn load(path: &Path) -> Result<Config, Vec<String>> {
    let fig = Figment::new()
        .merge(Toml::file_exact(path))
        .merge(Env::prefixed("PASSERELLE__").split("__"));
    let cfg: Config = fig.extract().map_err(|e| {
        e.into_iter()
            .map(|e| e.to_string())
            .collect::<Vec<String>>()
    })?;
    let problems = validate(&cfg);
    if problems.is_empty() {
        Ok(cfg)
    } else {
        Err(problems)
    }
}

/// Every problem of a loaded config (empty = valid). File existence of identities is checked too.
pub fn validate(cfg: &Config) -> Vec<String> {
    let mut p = Vec::new();
    if cfg.server.tls_cert.is_some() != cfg.server.tls_key.is_some() {
        p.push("server.tls_cert and server.tls_key go together".to_string());
    }
    if cfg.server.tls_cert.is_none() && !cfg.server.listen.ip().is_loopback() {
        p.push("server.listen: a non-loopback listener needs server.tls_cert/tls_key".to_string());
    }
    if cfg.server.sandbox_tenant.is_some() && !cfg.server.listen.ip().is_loopback() {
        p.push("server.sandbox_tenant is only allowed on a loopback listener".to_string());
    }
    if cfg.tenants.is_empty() {
        p.push("tenant: at least one [[tenant]] is required".to_string());
    }
    let mut seen = BTreeSet::new();
    for (i, t) in cfg.tenants.iter().enumerate() {
        let at = format!("tenant[{i}] ({})", t.id);
        if t.id.is_empty()
            || !t
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            p.push(format!("{at}.id: letters, digits, '-' or '_' only"));
        }
        if !seen.insert(t.id.clone()) {
            p.push(format!("{at}.id: duplicate tenant id"));
        }
        if t.finess_ej.is_empty() && t.finess_et.is_empty() && t.siret.is_empty() {
            p.push(format!("{at}: a FINESS (EJ or ET) or a SIRET is required"));
        }
        for (field, v, check) in [
            (
                "finess_ej",
                &t.finess_ej,
                ids::check_finess as fn(&str) -> Result<(), &'static str>,
            ),
            ("finess_et", &t.finess_et, ids::check_finess),
            ("siret", &t.siret, ids::check_siret),
        ] {
            if !v.is_empty()
                && let Err(e) = check(v)
            {
                p.push(format!("{at}.{field}: {e}"));
            }
        }
        if let Err(e) = ids::check_departement(&t.departement) {
            p.push(format!("{at}.departement: {e}"));
        }
        if let Err(e) = ids::check_mailbox(&t.app_mailbox) {
            p.push(format!("{at}.app_mailbox: {e}"));
        }
        for (usage, id) in [("tls_client", &t.tls_client), ("signing", &t.signing)] {
            let pem = id.cert.is_some() && id.key.is_some();
            let p12 = id.pkcs12.is_some();
            if pem == p12 {
                p.push(format!(
                    "{at}.{usage}: give either cert + key (PEM) or pkcs12 (+ password_file)"
                ));
            }
            for f in [&id.cert, &id.key, &id.pkcs12, &id.password_file]
                .into_iter()
                .flatten()
            {
                if !f.exists() {
                    p.push(format!("{at}.{usage}: file {} does not exist", f.display()));
                }
            }
        }
        for f in &t.api_token_files {
            if !f.exists() {
                p.push(format!(
                    "{at}.api_token_files: {} does not exist",
                    f.display()
                ));
            }
        }
    }
    for a in &cfg.server.admin_tenants {
        if !seen.contains(a) {
            p.push(format!("server.admin_tenants: no tenant {a}"));
        }
    }
    if let Some(s) = &cfg.server.sandbox_tenant
        && !seen.contains(s)
    {
        p.push(format!("server.sandbox_tenant: no tenant {s}"));
    }
    for (d, addr) in &cfg.mssante.crip {
        if let Err(e) = ids::check_departement(d) {
            p.push(format!("mssante.crip.{d}: {e}"));
        }
        if let Err(e) = ids::check_mailbox(addr) {
            p.push(format!("mssante.crip.{d}: {e}"));
        }
    }
    if cfg.outbox.capacity == 0 {
        p.push("outbox.capacity must be > 0".to_string());
    }
    if passerelle_outbox::Backoff::new(
        cfg.outbox
            .backoff_secs
            .iter()
            .map(|s| std::time::Duration::from_secs(*s))
            .collect(),
        20,
    )
    .is_err()
    {
        p.push(
            "outbox.backoff_secs: non-decreasing delays in (0, 7 days], at least one".to_string(),
        );
    }
    if let Some(d) = &cfg.mssante.discover {
        let labels: Vec<&str> = d.trim_end_matches('.').split('.').collect();
        if labels.len() < 2
            || labels.iter().any(|l| {
                l.is_empty()
                    || l.len() > 63
                    || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
        {
            p.push(format!("mssante.discover: {d:?} is not a DNS domain name"));
        }
    }
    let b = &cfg.mssante.breaker_secs;
    if b.iter().any(|s| *s == 0 || *s > 24 * 3600) || b.windows(2).any(|w| w[0] > w[1]) {
        p.push("mssante.breaker_secs: non-decreasing delays in (0, 1 day]".to_string());
    }
    if cfg.outbox.lease_secs == 0 || cfg.outbox.retry_window_secs == 0 {
        p.push("outbox.lease_secs and outbox.retry_window_secs must be > 0".to_string());
    }
    if cfg.policy.local_code_system_oid.is_empty()
        || !cfg
            .policy
            .local_code_system_oid
            .split('.')
            .all(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
    {
        p.push("policy.local_code_system_oid: a dotted OID is required".to_string());
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            r#"
[server]
listen = "0.0.0.0:8443"
data_dir = "/tmp/x"

[mssante]
discover = "not a domain"
breaker_secs = [120, 60]

[[tenant]]
id = "bad id"
name = "X"
siret = "22930008200019"
departement = "20"
app_mailbox = "nope"
tls_client = { cert = "/nonexistent.pem", key = "/nonexistent.key" }
signing = {}
"#,
        )
        .expect("write");
        let errs = load(&path).expect_err("invalid");
        let all = errs.join("\n");
        for needle in [
            "non-loopback listener",
            ".id: letters",
            ".siret: the SIRET check key is wrong",
            ".departement",
            ".app_mailbox",
            "tls_client: file /nonexistent.pem does not exist",
            "signing: give either",
            "mssante.discover: \"not a domain\" is not a DNS domain name",
            "mssante.breaker_secs: non-decreasing",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[server]\nlisten = \"127.0.0.1:1\"\ndata_dir = \"/tmp\"\nlisten_typo = 1\n",
        )
        .expect("write");
        let errs = load(&path).expect_err("unknown key");
        assert!(errs.join(" ").contains("listen_typo"), "{errs:?}");
    }

    #[test]
    fn secrets_are_redacted() {
        let s = Secret("hunter2".into());
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(serde_json::to_string(&s).expect("json"), "\"***\"");
    }
}
