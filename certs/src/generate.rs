//! In-memory generation: RSA-2048 keys from OpenSSL (rcgen's ring backend cannot generate RSA),
//! certificates and CRLs signed by rcgen (RSA-SHA256), PKCS#12 by OpenSSL.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use openssl::pkcs12::Pkcs12;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::stack::Stack;
use openssl::x509::X509;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, DnValue, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    RevocationReason, RevokedCertParams, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use crate::{
    Broken, CertKey, CertsError, Crl, Pki, PkiSpec, ServerCert, TenantCerts, TenantSpec, Usage,
};

/// IGC-Santé is RSA; dmp.md assumes RSA-2048 with RSA-SHA256 signatures.
const RSA_BITS: u32 = 2048;
const CA_O: &str = "TEST ASIP-SANTE";
const CA_OU: &str = "TEST IGC-SANTE (NE PAS UTILISER EN PRODUCTION)";

pub(crate) const ROOT: &str = "root";
pub(crate) const ORG_CA: &str = "intermediate-organisations";
pub(crate) const SERVER_CA: &str = "intermediate-servers";
pub(crate) const API_CA: &str = "intermediate-api-clients";
pub(crate) const UNKNOWN_ROOT: &str = "broken/unknown-root";

/// A private key in the three shapes the generator needs.
pub(crate) struct Key {
    der: Vec<u8>,
    pem: String,
    pair: KeyPair,
}

impl Key {
    /// Accepts only an RSA PKCS#8 key; anything else is "not usable" and gets regenerated.
    pub(crate) fn from_pkcs8(der: Vec<u8>) -> Option<Key> {
        let pair = KeyPair::try_from(der.as_slice()).ok()?;
        if pair.algorithm() != &rcgen::PKCS_RSA_SHA256 {
            return None;
        }
        let pem = pair.serialize_pem();
        Some(Key { der, pem, pair })
    }
}

/// Generates the whole PKI in memory with fresh keys.
pub fn generate(spec: &PkiSpec) -> Result<Pki, CertsError> {
    generate_with_keys(spec, HashMap::new())
}

/// Every key slot of a spec, named by its file stem.
pub(crate) fn key_stems(spec: &PkiSpec) -> Vec<String> {
    let mut v: Vec<String> = [ROOT, ORG_CA, SERVER_CA, API_CA, UNKNOWN_ROOT]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    for t in &spec.tenants {
        for u in Usage::ALL {
            v.push(tenant_stem(&t.id, u));
        }
    }
    for s in &spec.server_names {
        v.push(server_stem(s));
    }
    for b in BROKEN_STEMS {
        v.push(format!("broken/{b}"));
    }
    v
}

pub(crate) const BROKEN_STEMS: [&str; 8] = [
    "expired",
    "not-yet-valid",
    "wrong-usage",
    "unknown-ca",
    "revoked",
    "expiring-soon",
    "server-unknown-ca",
    "server-expired",
];

pub(crate) fn tenant_stem(id: &str, usage: Usage) -> String {
    format!("tenants/{id}/{}", usage.file_stem())
}

pub(crate) fn server_stem(name: &str) -> String {
    format!("servers/{name}")
}

/// Generates with the given cached keys (stem -> key); missing ones are generated, in parallel.
pub(crate) fn generate_with_keys(
    spec: &PkiSpec,
    mut keys: HashMap<String, Key>,
) -> Result<Pki, CertsError> {
    validate(spec)?;
    let missing: Vec<String> = key_stems(spec)
        .into_iter()
        .filter(|s| !keys.contains_key(s))
        .collect();
    for (stem, key) in generate_keys(&missing)? {
        keys.insert(stem, key);
    }
    Builder { spec, keys: &keys }.build()
}

fn validate(spec: &PkiSpec) -> Result<(), CertsError> {
    let bad = |field: String, reason: &str| CertsError::InvalidSpec {
        field,
        reason: reason.to_owned(),
    };
    let is_name = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._".contains(c))
    };
    if spec.validity_days < 2 {
        return Err(bad("validity_days".into(), "must be at least 2"));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, t) in spec.tenants.iter().enumerate() {
        if !is_name(&t.id) {
            return Err(bad(format!("tenants[{i}].id"), "must match [a-z0-9._-]+"));
        }
        if !seen.insert(t.id.as_str()) {
            return Err(bad(format!("tenants[{i}].id"), "duplicate tenant id"));
        }
        if t.name.trim().is_empty() {
            return Err(bad(format!("tenants[{i}].name"), "must not be empty"));
        }
        if t.struct_idnat.is_empty() || !t.struct_idnat.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(bad(
                format!("tenants[{i}].struct_idnat"),
                "must be non-empty ASCII letters and digits",
            ));
        }
        let m = &t.app_mailbox;
        if !m.is_ascii() || m.split('@').count() != 2 || m.starts_with('@') || m.ends_with('@') {
            return Err(bad(
                format!("tenants[{i}].app_mailbox"),
                "must be an ASCII address local@domain",
            ));
        }
    }
    if spec.server_names.is_empty() {
        return Err(bad(
            "server_names".into(),
            "at least one server name is needed",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, s) in spec.server_names.iter().enumerate() {
        if !is_name(s) {
            return Err(bad(
                format!("server_names[{i}]"),
                "must be a lower-case DNS name",
            ));
        }
        if !seen.insert(s.as_str()) {
            return Err(bad(format!("server_names[{i}]"), "duplicate server name"));
        }
    }
    Ok(())
}

fn generate_keys(stems: &[String]) -> Result<Vec<(String, Key)>, CertsError> {
    if stems.is_empty() {
        return Ok(Vec::new());
    }
    // Key generation dominates the cost (tens of ms per RSA-2048 key): spread it over the cores.
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let chunk = stems.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = stems
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|stem| Ok((stem.clone(), new_key()?)))
                        .collect::<Result<Vec<_>, CertsError>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(stems.len());
        for h in handles {
            match h.join() {
                Ok(r) => out.extend(r?),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok(out)
    })
}

fn new_key() -> Result<Key, CertsError> {
    let rsa = Rsa::generate(RSA_BITS).map_err(CertsError::ssl("generating an RSA key"))?;
    let pkey = PKey::from_rsa(rsa).map_err(CertsError::ssl("wrapping an RSA key"))?;
    let der = pkey
        .private_key_to_pkcs8()
        .map_err(CertsError::ssl("encoding a key as PKCS#8"))?;
    Key::from_pkcs8(der).ok_or_else(|| CertsError::InvalidSpec {
        field: "key".into(),
        reason: "generated RSA key rejected by the signer".into(),
    })
}

fn random_serial() -> Result<Vec<u8>, CertsError> {
    let mut b = [0u8; 16];
    openssl::rand::rand_bytes(&mut b).map_err(CertsError::ssl("drawing a serial number"))?;
    // Positive and of fixed length: DER INTEGER without a leading zero or sign byte.
    b[0] = (b[0] & 0x7f) | 0x40;
    Ok(b.to_vec())
}

fn dn(o: &str, ou: Option<&str>, cn: &str) -> Result<DistinguishedName, CertsError> {
    let mut d = DistinguishedName::new();
    // RFC 5280: countryName is a PrintableString.
    let c = rcgen::string::PrintableString::try_from("FR").map_err(CertsError::rcgen(cn))?;
    d.push(DnType::CountryName, DnValue::PrintableString(c));
    d.push(DnType::OrganizationName, o);
    if let Some(ou) = ou {
        d.push(DnType::OrganizationalUnitName, ou);
    }
    d.push(DnType::CommonName, cn);
    Ok(d)
}

#[derive(Clone, Copy)]
struct Window {
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

struct Ca<'k> {
    params: CertificateParams,
    key: &'k Key,
    cert: CertKey,
    /// CRL distribution point written into the certificates this CA issues.
    crl_url: Option<String>,
}

/// Test host name of the CRL distribution points (`crl/<name>.crl` under it); the sandbox may
/// serve the files of `crl/` there.
pub const CRL_BASE_URL: &str = "http://crl.igc-sante.test/";

fn dp(url: &Option<String>) -> Vec<rcgen::CrlDistributionPoint> {
    url.iter()
        .map(|u| rcgen::CrlDistributionPoint {
            uris: vec![u.clone()],
        })
        .collect()
}

impl Ca<'_> {
    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key.pair)
    }

    /// Issuers of a certificate this CA signs: itself, then its own issuers.
    fn chain_for_child(&self) -> Vec<String> {
        let mut v = vec![self.cert.cert_pem.clone()];
        v.extend(self.cert.issuers_pem.iter().cloned());
        v
    }
}

struct Builder<'a> {
    spec: &'a PkiSpec,
    keys: &'a HashMap<String, Key>,
}

enum Shape<'t> {
    OrgAuthCli(&'t TenantSpec),
    OrgSign(&'t TenantSpec),
    ApiClient(&'t TenantSpec),
    Server(&'t str),
}

impl<'a> Builder<'a> {
    fn key(&self, stem: &str) -> Result<&'a Key, CertsError> {
        self.keys.get(stem).ok_or_else(|| CertsError::InvalidSpec {
            field: stem.to_owned(),
            reason: "no key for this certificate".into(),
        })
    }

    fn leaf_window(&self) -> Window {
        Window {
            // One hour back tolerates clock skew between the sandbox's processes.
            not_before: self.spec.now - Duration::hours(1),
            not_after: self.spec.now + Duration::days(i64::from(self.spec.validity_days)),
        }
    }

    fn ca(
        &self,
        stem: &str,
        o: &str,
        cn: &str,
        parent: Option<&Ca<'a>>,
        crl_name: Option<&str>,
    ) -> Result<Ca<'a>, CertsError> {
        let key = self.key(stem)?;
        let mut p = CertificateParams::default();
        p.distinguished_name = dn(o, Some(CA_OU), cn)?;
        p.not_before = self.spec.now - Duration::days(1);
        // CAs outlive every certificate they issue.
        p.not_after = self.spec.now + Duration::days(i64::from(self.spec.validity_days) + 30);
        p.serial_number = Some(SerialNumber::from_slice(&random_serial()?));
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        p.is_ca = IsCa::Ca(match parent {
            None => BasicConstraints::Unconstrained,
            Some(_) => BasicConstraints::Constrained(0),
        });
        p.use_authority_key_identifier_extension = parent.is_some();
        if let Some(ca) = parent {
            p.crl_distribution_points = dp(&ca.crl_url);
        }
        let (cert, issuers) = match parent {
            None => (p.self_signed(&key.pair), Vec::new()),
            Some(ca) => (p.signed_by(&key.pair, &ca.issuer()), ca.chain_for_child()),
        };
        let cert = cert.map_err(CertsError::rcgen(stem))?;
        let cert = cert_key(stem, cert, key, issuers, &p)?;
        Ok(Ca {
            params: p,
            key,
            cert,
            crl_url: crl_name.map(|n| format!("{CRL_BASE_URL}{n}.crl")),
        })
    }

    fn leaf(
        &self,
        stem: &str,
        shape: Shape<'_>,
        window: Window,
        ca: &Ca<'a>,
    ) -> Result<CertKey, CertsError> {
        let key = self.key(stem)?;
        let mut p = CertificateParams::default();
        p.not_before = window.not_before;
        p.not_after = window.not_after;
        p.serial_number = Some(SerialNumber::from_slice(&random_serial()?));
        p.use_authority_key_identifier_extension = true;
        p.crl_distribution_points = dp(&ca.crl_url);
        let ia5 = |s: &str| rcgen::string::Ia5String::try_from(s).map_err(CertsError::rcgen(stem));
        match shape {
            Shape::OrgAuthCli(t) => {
                p.distinguished_name = dn(&t.name, Some(&t.struct_idnat), &t.app_mailbox)?;
                p.key_usages = vec![
                    KeyUsagePurpose::DigitalSignature,
                    KeyUsagePurpose::KeyEncipherment,
                ];
                p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
                p.subject_alt_names = vec![SanType::Rfc822Name(ia5(&t.app_mailbox)?)];
            }
            Shape::OrgSign(t) => {
                p.distinguished_name = dn(&t.name, Some(&t.struct_idnat), &t.app_mailbox)?;
                // "cachet": digitalSignature + nonRepudiation (rcgen: ContentCommitment), no EKU.
                p.key_usages = vec![
                    KeyUsagePurpose::DigitalSignature,
                    KeyUsagePurpose::ContentCommitment,
                ];
                p.subject_alt_names = vec![SanType::Rfc822Name(ia5(&t.app_mailbox)?)];
            }
            Shape::ApiClient(t) => {
                p.distinguished_name = dn(
                    &t.name,
                    Some(&t.struct_idnat),
                    &format!("api-client {}", t.id),
                )?;
                p.key_usages = vec![
                    KeyUsagePurpose::DigitalSignature,
                    KeyUsagePurpose::KeyEncipherment,
                ];
                p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            }
            Shape::Server(name) => {
                p.distinguished_name = dn("TEST PASSERELLE SIMULATEURS", None, name)?;
                p.key_usages = vec![
                    KeyUsagePurpose::DigitalSignature,
                    KeyUsagePurpose::KeyEncipherment,
                ];
                p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
                p.subject_alt_names = vec![
                    SanType::DnsName(ia5(name)?),
                    SanType::DnsName(ia5("localhost")?),
                    SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                    SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)),
                ];
            }
        }
        let cert = p
            .signed_by(&key.pair, &ca.issuer())
            .map_err(CertsError::rcgen(stem))?;
        cert_key(stem, cert, key, ca.chain_for_child(), &p)
    }

    fn crl(&self, name: &str, ca: &Ca<'a>, revoked: &[&CertKey]) -> Result<Crl, CertsError> {
        let params = CertificateRevocationListParams {
            this_update: self.spec.now - Duration::hours(1),
            next_update: self.spec.now + Duration::days(i64::from(self.spec.validity_days)),
            crl_number: SerialNumber::from_slice(&[1]),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|c| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&c.serial),
                    revocation_time: self.spec.now - Duration::hours(1),
                    reason_code: Some(RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: ca.params.key_identifier_method.clone(),
        };
        let crl = params
            .signed_by(&ca.issuer())
            .map_err(CertsError::rcgen(name))?;
        Ok(Crl {
            name: name.to_owned(),
            der: crl.der().to_vec(),
            pem: crl.pem().map_err(CertsError::rcgen(name))?,
        })
    }

    fn build(&self) -> Result<Pki, CertsError> {
        let now = self.spec.now;
        let root = self.ca(
            ROOT,
            CA_O,
            "TEST AC RACINE IGC-SANTE ELEMENTAIRE",
            None,
            Some("root"),
        )?;
        let org = self.ca(
            ORG_CA,
            CA_O,
            "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS",
            Some(&root),
            Some("organisations"),
        )?;
        let srv = self.ca(
            SERVER_CA,
            CA_O,
            "TEST AC IGC-SANTE ELEMENTAIRE SERVEURS",
            Some(&root),
            Some("servers"),
        )?;
        let api = self.ca(
            API_CA,
            CA_O,
            "TEST AC PASSERELLE CLIENTS API",
            Some(&root),
            Some("api-clients"),
        )?;
        let unknown = self.ca(
            UNKNOWN_ROOT,
            "TEST AUTORITE INCONNUE",
            "TEST AC RACINE INCONNUE (HORS IGC-SANTE)",
            None,
            None,
        )?;

        let w = self.leaf_window();
        let mut tenants = Vec::with_capacity(self.spec.tenants.len());
        for t in &self.spec.tenants {
            tenants.push(TenantCerts {
                id: t.id.clone(),
                tls_client: self.leaf(
                    &tenant_stem(&t.id, Usage::TlsClient),
                    Shape::OrgAuthCli(t),
                    w,
                    &org,
                )?,
                signing: self.leaf(
                    &tenant_stem(&t.id, Usage::Signing),
                    Shape::OrgSign(t),
                    w,
                    &org,
                )?,
                api_client: self.leaf(
                    &tenant_stem(&t.id, Usage::ApiClient),
                    Shape::ApiClient(t),
                    w,
                    &api,
                )?,
            });
        }
        let mut servers = Vec::with_capacity(self.spec.server_names.len());
        for s in &self.spec.server_names {
            servers.push(ServerCert {
                name: s.clone(),
                cert: self.leaf(&server_stem(s), Shape::Server(s), w, &srv)?,
            });
        }

        let fallback;
        let bt = match self.spec.tenants.first() {
            Some(t) => t,
            None => {
                fallback = TenantSpec {
                    id: "broken".into(),
                    name: "TEST STRUCTURE".into(),
                    struct_idnat: "1000000000".into(),
                    app_mailbox: "broken@test.mssante.test".into(),
                };
                &fallback
            }
        };
        let first_server = self
            .spec
            .server_names
            .first()
            .map(String::as_str)
            .unwrap_or("localhost");
        let expired_w = Window {
            not_before: now - Duration::days(60),
            not_after: now - Duration::days(1),
        };
        let b = |stem: &str| format!("broken/{stem}");
        let broken = Broken {
            expired: self.leaf(&b("expired"), Shape::OrgAuthCli(bt), expired_w, &org)?,
            // Starts when the good certificates end, so it stays "not yet valid" for as long as
            // load_or_generate reuses the directory, yet inside its CA's validity (so a chain
            // check at its own start fails for its date only).
            not_yet_valid: self.leaf(
                &b("not-yet-valid"),
                Shape::OrgAuthCli(bt),
                Window {
                    not_before: w.not_after,
                    not_after: w.not_after + Duration::days(20),
                },
                &org,
            )?,
            wrong_usage: self.leaf(&b("wrong-usage"), Shape::OrgSign(bt), w, &org)?,
            unknown_ca: self.leaf(&b("unknown-ca"), Shape::OrgAuthCli(bt), w, &unknown)?,
            revoked: self.leaf(&b("revoked"), Shape::OrgAuthCli(bt), w, &org)?,
            expiring_soon: self.leaf(
                &b("expiring-soon"),
                Shape::OrgAuthCli(bt),
                Window {
                    not_before: w.not_before,
                    not_after: now + Duration::days(10),
                },
                &org,
            )?,
            server_unknown_ca: self.leaf(
                &b("server-unknown-ca"),
                Shape::Server(first_server),
                w,
                &unknown,
            )?,
            server_expired: self.leaf(
                &b("server-expired"),
                Shape::Server(first_server),
                expired_w,
                &srv,
            )?,
        };
        let crls = vec![
            self.crl("root", &root, &[])?,
            self.crl("organisations", &org, &[&broken.revoked])?,
            self.crl("servers", &srv, &[])?,
            self.crl("api-clients", &api, &[])?,
        ];
        Ok(Pki {
            spec: self.spec.clone(),
            root: root.cert,
            org_ca: org.cert,
            server_ca: srv.cert,
            api_ca: api.cert,
            unknown_root: unknown.cert,
            tenants,
            servers,
            broken,
            crls,
        })
    }
}

fn cert_key(
    stem: &str,
    cert: rcgen::Certificate,
    key: &Key,
    issuers_pem: Vec<String>,
    params: &CertificateParams,
) -> Result<CertKey, CertsError> {
    Ok(CertKey {
        name: stem.to_owned(),
        cert_der: cert.der().to_vec(),
        cert_pem: cert.pem(),
        key_der: key.der.clone(),
        key_pem: key.pem.clone(),
        issuers_pem,
        serial: params
            .serial_number
            .as_ref()
            .map(|s| s.to_bytes())
            .unwrap_or_default(),
    })
}

pub(crate) fn pkcs12(ck: &CertKey, password: &str) -> Result<Vec<u8>, CertsError> {
    let pkey = PKey::private_key_from_pkcs8(&ck.key_der)
        .map_err(CertsError::ssl("reading a PKCS#8 key"))?;
    let cert = X509::from_der(&ck.cert_der).map_err(CertsError::ssl("reading a certificate"))?;
    let mut ca = Stack::new().map_err(CertsError::ssl("allocating a stack"))?;
    for pem in &ck.issuers_pem {
        let c = X509::from_pem(pem.as_bytes()).map_err(CertsError::ssl("reading an issuer"))?;
        ca.push(c).map_err(CertsError::ssl("stacking an issuer"))?;
    }
    Pkcs12::builder()
        .name(&ck.name)
        .pkey(&pkey)
        .cert(&cert)
        .ca(ca)
        .build2(password)
        .and_then(|p| p.to_der())
        .map_err(CertsError::ssl("building a PKCS#12"))
}

/// A CRL signed by the CA `ca` (a certificate of the PKI with its key) listing `revoked`, valid
/// from an hour before `now` for `validity_days`: e.g. a server certificate revoked after the fact,
/// which the generated CRLs do not list.
pub fn crl_revoking(
    name: &str,
    ca: &CertKey,
    revoked: &[&CertKey],
    now: OffsetDateTime,
    validity_days: u32,
) -> Result<Crl, CertsError> {
    let pair = KeyPair::try_from(ca.key_der.as_slice()).map_err(CertsError::rcgen(name))?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, &pair).map_err(CertsError::rcgen(name))?;
    // The CRL's authority key identifier must be the CA's subject key identifier, whatever
    // method computed it.
    let ski = x509_parser::parse_x509_certificate(&ca.cert_der)
        .ok()
        .and_then(|(_, c)| {
            c.extensions()
                .iter()
                .find_map(|e| match e.parsed_extension() {
                    x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) => {
                        Some(k.0.to_vec())
                    }
                    _ => None,
                })
        });
    let params = CertificateRevocationListParams {
        this_update: now - Duration::hours(1),
        next_update: now + Duration::days(i64::from(validity_days)),
        // Above the generated CRLs' number 1: a replacement, not a duplicate.
        crl_number: SerialNumber::from_slice(&[2]),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .iter()
            .map(|c| RevokedCertParams {
                serial_number: SerialNumber::from_slice(&c.serial),
                revocation_time: now - Duration::hours(1),
                reason_code: Some(RevocationReason::KeyCompromise),
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: ski
            .map_or(rcgen::KeyIdMethod::Sha256, rcgen::KeyIdMethod::PreSpecified),
    };
    let crl = params.signed_by(&issuer).map_err(CertsError::rcgen(name))?;
    Ok(Crl {
        name: name.to_owned(),
        der: crl.der().to_vec(),
        pem: crl.pem().map_err(CertsError::rcgen(name))?,
    })
}
