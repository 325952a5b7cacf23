//! IGC-Santé-shaped **test** PKI generator.
//!
//! Builds, in memory, a hierarchy shaped like the ANS IGC-Santé one (a root, an "organisations"
//! intermediate issuing ORG_AUTH_CLI / ORG_SIGN certificates, a "servers" intermediate, an
//! API-clients intermediate) plus the broken variants the tests need (expired, not yet valid,
//! wrong usage, unknown CA, revoked) and the CRLs. [`write`] lays it out as PEM and PKCS#12 files,
//! [`load_or_generate`] reuses an existing directory so the sandbox starts fast.
//!
//! Every name carries "TEST": nothing produced here may ever be trusted in production.
#![forbid(unsafe_code)]

mod error;
mod generate;
mod store;

pub use error::CertsError;
pub use generate::{CRL_BASE_URL, crl_revoking, generate};
pub use store::{MANIFEST_FILE, load, load_or_generate, write};

use time::OffsetDateTime;

/// Password of every PKCS#12 file written by [`write`] (documented in the generated README).
pub const P12_PASSWORD: &str = "test";

/// One sending structure of the sandbox (see `docs/sandbox.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSpec {
    /// Tenant id, used as a directory name (`[a-z0-9._-]+`).
    pub id: String,
    /// Structure name (certificate subject O).
    pub name: String,
    /// Struct_IdNat (`1` + FINESS or `3` + SIRET), certificate subject OU.
    pub struct_idnat: String,
    /// The structure's applicative (APP) mailbox: CN and rfc822Name of ORG_AUTH_CLI / ORG_SIGN.
    pub app_mailbox: String,
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiSpec {
    pub tenants: Vec<TenantSpec>,
    /// Host names of the simulators and the gateway; one server certificate each, every one also
    /// valid for `localhost`, `127.0.0.1` and `::1`.
    pub server_names: Vec<String>,
    /// Reference time: validity windows are computed from it (the generator reads no clock).
    pub now: OffsetDateTime,
    /// Validity of the good end-entity certificates and of the CRLs, in days.
    pub validity_days: u32,
}

impl PkiSpec {
    /// The fixed sandbox world of `docs/sandbox.md`: five tenants and the simulator host names.
    pub fn sandbox(now: OffsetDateTime) -> Self {
        let t = |id: &str, name: &str, idnat: &str, mailbox: &str| TenantSpec {
            id: id.to_owned(),
            name: name.to_owned(),
            struct_idnat: idnat.to_owned(),
            app_mailbox: mailbox.to_owned(),
        };
        PkiSpec {
            tenants: vec![
                t(
                    "cd93",
                    "Département de la Seine-Saint-Denis — ASE et CRIP",
                    "322930008200018",
                    "dui-app@cd93.mssante.test",
                ),
                t(
                    "cd75",
                    "Département de Paris — CRIP",
                    "322750005400019",
                    "dui-app@cd75.mssante.test",
                ),
                t(
                    "mecs-tilleuls",
                    "MECS Les Tilleuls",
                    "1930004130",
                    "passerelle@mecs-tilleuls.mssante.test",
                ),
                t(
                    "ime-horizon",
                    "IME L'Horizon",
                    "1930005210",
                    "passerelle@ime-horizon.mssante.test",
                ),
                t(
                    "cmp-enfants",
                    "CMP infanto-juvénile de Bobigny",
                    "1930006317",
                    "passerelle@cmp-enfants.mssante.test",
                ),
            ],
            server_names: [
                "smtp.mssante.test",
                "imap.mssante.test",
                "dmp.test",
                "passerelle.test",
            ]
            .into_iter()
            .map(str::to_owned)
            .collect(),
            now,
            validity_days: 1095,
        }
    }
}

/// The usage a tenant certificate is issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Usage {
    /// ORG_AUTH_CLI: TLS client authentication towards MSSanté operators and the DMP.
    TlsClient,
    /// ORG_SIGN: signs the VIHF and XAdES ("cachet").
    Signing,
    /// Certificate a DUI presents to the gateway's API (mTLS).
    ApiClient,
}

impl Usage {
    pub const ALL: [Usage; 3] = [Usage::TlsClient, Usage::Signing, Usage::ApiClient];

    /// File stem under `tenants/<id>/`.
    pub fn file_stem(self) -> &'static str {
        match self {
            Usage::TlsClient => "tls-client",
            Usage::Signing => "signing",
            Usage::ApiClient => "api-client",
        }
    }
}

/// A certificate, its private key and the certificates of its issuers.
#[derive(Clone, PartialEq, Eq)]
pub struct CertKey {
    /// Path stem relative to the output directory, e.g. `tenants/cd93/tls-client`.
    pub name: String,
    pub cert_der: Vec<u8>,
    pub cert_pem: String,
    /// PKCS#8 DER of the RSA private key.
    pub key_der: Vec<u8>,
    /// PKCS#8 PEM ("BEGIN PRIVATE KEY").
    pub key_pem: String,
    /// Issuer certificates in PEM, nearest first, up to and including the root (empty for a root).
    pub issuers_pem: Vec<String>,
    /// Serial number, big-endian bytes.
    pub serial: Vec<u8>,
}

impl std::fmt::Debug for CertKey {
    // The key stays out of logs even though it is a test key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertKey")
            .field("name", &self.name)
            .field("serial", &self.serial)
            .finish_non_exhaustive()
    }
}

impl CertKey {
    /// Leaf followed by its intermediates (the root left out), as a TLS peer sends it.
    pub fn chain_pem(&self) -> String {
        let mut s = self.cert_pem.clone();
        let n = self.issuers_pem.len().saturating_sub(1);
        for pem in &self.issuers_pem[..n] {
            s.push_str(pem);
        }
        s
    }

    /// Private key, then leaf, then intermediates: Postfix `smtpd_tls_chain_files` layout.
    pub fn key_chain_pem(&self) -> String {
        let mut s = self.key_pem.clone();
        s.push_str(&self.chain_pem());
        s
    }

    /// PKCS#12 (OpenSSL 3 defaults: PBES2 AES-256-CBC, HMAC-SHA-256) with the key, the leaf and
    /// every issuer including the root.
    pub fn pkcs12(&self, password: &str) -> Result<Vec<u8>, CertsError> {
        generate::pkcs12(self, password)
    }
}

/// The certificates of one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantCerts {
    pub id: String,
    /// ORG_AUTH_CLI.
    pub tls_client: CertKey,
    /// ORG_SIGN.
    pub signing: CertKey,
    pub api_client: CertKey,
}

impl TenantCerts {
    pub fn get(&self, usage: Usage) -> &CertKey {
        match usage {
            Usage::TlsClient => &self.tls_client,
            Usage::Signing => &self.signing,
            Usage::ApiClient => &self.api_client,
        }
    }
}

/// A server certificate for one host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCert {
    pub name: String,
    pub cert: CertKey,
}

/// Deliberately broken certificates for negative tests. Client ones copy the first tenant's
/// ORG_AUTH_CLI subject so that only the defect differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// Validity ended one day before `now`.
    pub expired: CertKey,
    /// Valid only from `now + validity_days` (when the good certificates expire).
    pub not_yet_valid: CertKey,
    /// An ORG_SIGN (no clientAuth EKU) presented as a TLS client certificate.
    pub wrong_usage: CertKey,
    /// ORG_AUTH_CLI-shaped but issued by [`Pki::unknown_root`].
    pub unknown_ca: CertKey,
    /// ORG_AUTH_CLI listed in the organisations CRL.
    pub revoked: CertKey,
    /// Valid, but expires ten days after `now` (check-config warning).
    pub expiring_soon: CertKey,
    /// Server certificate for the first server name issued by the unknown root.
    pub server_unknown_ca: CertKey,
    /// Expired server certificate for the first server name.
    pub server_expired: CertKey,
}

impl Broken {
    /// `(file stem under broken/, certificate)` for every variant.
    pub fn all(&self) -> [(&'static str, &CertKey); 8] {
        [
            ("expired", &self.expired),
            ("not-yet-valid", &self.not_yet_valid),
            ("wrong-usage", &self.wrong_usage),
            ("unknown-ca", &self.unknown_ca),
            ("revoked", &self.revoked),
            ("expiring-soon", &self.expiring_soon),
            ("server-unknown-ca", &self.server_unknown_ca),
            ("server-expired", &self.server_expired),
        ]
    }
}

/// A CRL issued by one of the test CAs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crl {
    /// File stem under `crl/`, e.g. `organisations`.
    pub name: String,
    pub der: Vec<u8>,
    pub pem: String,
}

/// The whole test PKI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pki {
    /// What was generated; `now` is the generation time.
    pub spec: PkiSpec,
    /// "TEST AC RACINE IGC-SANTE ELEMENTAIRE".
    pub root: CertKey,
    /// "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS": ORG_AUTH_CLI, ORG_SIGN.
    pub org_ca: CertKey,
    /// "TEST AC IGC-SANTE ELEMENTAIRE SERVEURS": simulator and gateway servers.
    pub server_ca: CertKey,
    /// "TEST AC PASSERELLE CLIENTS API": DUI API client certificates.
    pub api_ca: CertKey,
    /// A second, unrelated root (unknown-CA tests).
    pub unknown_root: CertKey,
    pub tenants: Vec<TenantCerts>,
    pub servers: Vec<ServerCert>,
    pub broken: Broken,
    /// One CRL per CA of the hierarchy (root, organisations, servers, api-clients); the
    /// organisations one lists [`Broken::revoked`].
    pub crls: Vec<Crl>,
}

impl Pki {
    pub fn tenant(&self, id: &str) -> Option<&TenantCerts> {
        self.tenants.iter().find(|t| t.id == id)
    }

    /// Certificate of `tenant` for `usage`.
    pub fn get(&self, tenant: &str, usage: Usage) -> Option<&CertKey> {
        self.tenant(tenant).map(|t| t.get(usage))
    }

    pub fn server(&self, name: &str) -> Option<&CertKey> {
        self.servers
            .iter()
            .find(|s| s.name == name)
            .map(|s| &s.cert)
    }

    pub fn crl(&self, name: &str) -> Option<&Crl> {
        self.crls.iter().find(|c| c.name == name)
    }

    /// The CA certificates of the hierarchy: root first, then every intermediate (the trust
    /// bundle: `ca-chain.pem`, `render`'s `trust/ca.pem`).
    pub fn ca_chain_pem(&self) -> String {
        [&self.root, &self.org_ca, &self.server_ca, &self.api_ca]
            .iter()
            .map(|c| c.cert_pem.as_str())
            .collect()
    }

    /// Every CRL of the hierarchy, concatenated PEM.
    pub fn crls_pem(&self) -> String {
        self.crls.iter().map(|c| c.pem.as_str()).collect()
    }

    /// Every certificate with a key, for listing and exhaustive tests.
    pub fn all(&self) -> Vec<&CertKey> {
        let mut v = vec![
            &self.root,
            &self.org_ca,
            &self.server_ca,
            &self.api_ca,
            &self.unknown_root,
        ];
        for t in &self.tenants {
            v.extend(Usage::ALL.iter().map(|u| t.get(*u)));
        }
        v.extend(self.servers.iter().map(|s| &s.cert));
        v.extend(self.broken.all().iter().map(|(_, c)| *c));
        v
    }
}
