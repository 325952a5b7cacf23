//! `check-config` identity checks: every problem of an identity, at once.

use rustls::SignatureScheme;
use rustls_pki_types::{CertificateRevocationListDer, SignatureVerificationAlgorithm, UnixTime};
use time::{Duration, OffsetDateTime};
use webpki::{
    CertRevocationList, EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeIdIter,
    OwnedCertRevocationList, RevocationCheckDepth, RevocationOptionsBuilder, UnknownStatusPolicy,
};

use crate::inspect::{CertInfo, KeyUsage, inspect};
use crate::{Identity, TlsError, TrustAnchors, provider};

/// Below this many days before `not_after`, a warning is raised.
const EXPIRY_WARNING_DAYS: i64 = 30;

/// What the identity is configured for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Usage {
    /// ORG_AUTH_CLI, API client certificates: EKU clientAuth required.
    TlsClient,
    /// Listener certificates: EKU serverAuth if an EKU is present.
    TlsServer,
    /// ORG_SIGN: KU digitalSignature and nonRepudiation.
    Signing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// The private key does not belong to the certificate.
    KeyMismatch,
    /// No valid path to a configured CA.
    Chain,
    /// Listed in a CRL.
    Revoked,
    /// keyUsage / extendedKeyUsage / basicConstraints do not fit the usage.
    Usage,
    Expired,
    NotYetValid,
    /// Valid, but for less than 30 days.
    ExpiresSoon,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub severity: Severity,
    /// Human-readable; names the certificate attribute at fault, never personal data.
    pub message: String,
}

/// Result of [`check_identity`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityReport {
    pub usage: Usage,
    pub leaf: CertInfo,
    pub problems: Vec<Problem>,
}

impl IdentityReport {
    /// No error (warnings allowed).
    pub fn is_ok(&self) -> bool {
        !self.problems.iter().any(|p| p.severity == Severity::Error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Warning)
    }

    pub fn has(&self, kind: ProblemKind) -> bool {
        self.problems.iter().any(|p| p.kind == kind)
    }
}

/// EKU is checked by [`check_usage`] with a better message; the chain check accepts any.
struct AnyEku;

impl ExtendedKeyUsageValidator for AnyEku {
    fn validate(&self, _: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        Ok(())
    }
}

fn unix(t: OffsetDateTime) -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(t.unix_timestamp()).unwrap_or(0),
    ))
}

/// Checks `identity` for `usage` at `now`: key/certificate match, chain to `trust` (and CRLs
/// when given), key usage, validity (warning under 30 days). Every problem is reported, none
/// stops the others. Errs only if the leaf certificate cannot be parsed.
pub fn check_identity(
    identity: &Identity,
    trust: &TrustAnchors,
    usage: Usage,
    now: OffsetDateTime,
    crls: &[CertificateRevocationListDer<'_>],
) -> Result<IdentityReport, TlsError> {
    let leaf = inspect(identity.leaf())?;
    let mut problems = Vec::new();
    let mut add = |kind, severity, message: String| {
        problems.push(Problem {
            kind,
            severity,
            message,
        })
    };

    if let Err(reason) = key_matches(identity) {
        add(ProblemKind::KeyMismatch, Severity::Error, reason);
    }

    // Validity is reported on its own below, so the path is built at a time inside the leaf's
    // window: a chain error then means a chain problem, not the same expiry twice.
    let chain_time = now.clamp(leaf.not_before, leaf.not_after);
    if let Err((kind, msg)) = check_chain(identity, trust, chain_time, crls) {
        add(kind, Severity::Error, msg);
    }

    for (severity, msg) in check_usage(&leaf, usage) {
        add(ProblemKind::Usage, severity, msg);
    }

    if now > leaf.not_after {
        add(
            ProblemKind::Expired,
            Severity::Error,
            format!("certificate expired on {}", leaf.not_after.date()),
        );
    } else if now < leaf.not_before {
        add(
            ProblemKind::NotYetValid,
            Severity::Error,
            format!("certificate not valid before {}", leaf.not_before.date()),
        );
    } else if leaf.not_after - now < Duration::days(EXPIRY_WARNING_DAYS) {
        add(
            ProblemKind::ExpiresSoon,
            Severity::Warning,
            format!(
                "certificate expires on {} (in {} days)",
                leaf.not_after.date(),
                (leaf.not_after - now).whole_days()
            ),
        );
    }

    Ok(IdentityReport {
        usage,
        leaf,
        problems,
    })
}

/// Signs a probe with the private key and verifies it with the certificate's public key: works
/// for RSA, ECDSA and Ed25519 alike.
fn key_matches(identity: &Identity) -> Result<(), String> {
    let provider = provider();
    let key = provider
        .key_provider
        .load_private_key(identity.key().clone_key())
        .map_err(|e| format!("private key unusable: {e}"))?;
    let offered = [
        SignatureScheme::RSA_PKCS1_SHA256,
        SignatureScheme::RSA_PSS_SHA256,
        SignatureScheme::ECDSA_NISTP256_SHA256,
        SignatureScheme::ECDSA_NISTP384_SHA384,
        SignatureScheme::ED25519,
    ];
    let signer = key
        .choose_scheme(&offered)
        .ok_or_else(|| "private key type not supported".to_owned())?;
    let probe = b"passerelle check-config key match probe";
    let sig = signer
        .sign(probe)
        .map_err(|e| format!("signing with the private key failed: {e}"))?;
    let ee = EndEntityCert::try_from(identity.leaf())
        .map_err(|e| format!("certificate unusable: {e}"))?;
    let algs: &[&dyn SignatureVerificationAlgorithm] = provider
        .signature_verification_algorithms
        .mapping
        .iter()
        .find(|(s, _)| *s == signer.scheme())
        .map(|(_, a)| *a)
        .unwrap_or(&[]);
    if algs
        .iter()
        .any(|alg| ee.verify_signature(*alg, probe, &sig).is_ok())
    {
        Ok(())
    } else {
        Err("the private key does not match the certificate's public key".into())
    }
}

fn check_chain(
    identity: &Identity,
    trust: &TrustAnchors,
    at: OffsetDateTime,
    crls: &[CertificateRevocationListDer<'_>],
) -> Result<(), (ProblemKind, String)> {
    let chain_err = |m: String| (ProblemKind::Chain, m);
    let ee = EndEntityCert::try_from(identity.leaf())
        .map_err(|e| chain_err(format!("certificate unusable: {e}")))?;
    let anchors = trust
        .certs()
        .iter()
        .map(webpki::anchor_from_trusted_cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| chain_err(format!("trust anchor unusable: {e}")))?;
    let owned: Vec<CertRevocationList<'static>> = crls
        .iter()
        .map(|c| OwnedCertRevocationList::from_der(c).map(CertRevocationList::from))
        .collect::<Result<_, _>>()
        .map_err(|e| chain_err(format!("CRL unusable: {e}")))?;
    let refs: Vec<&CertRevocationList<'_>> = owned.iter().collect();
    // Missing CRLs are the revocation policy's business at connection time; here only a listed
    // serial is a problem.
    let revocation = RevocationOptionsBuilder::new(&refs).ok().map(|b| {
        b.with_depth(RevocationCheckDepth::Chain)
            .with_status_policy(UnknownStatusPolicy::Allow)
            .build()
    });
    let algs = provider().signature_verification_algorithms.all;
    match ee.verify_for_usage(
        algs,
        &anchors,
        &identity.chain()[1..],
        unix(at),
        AnyEku,
        revocation,
        None,
    ) {
        Ok(_) => Ok(()),
        Err(webpki::Error::CertRevoked) => Err((
            ProblemKind::Revoked,
            "certificate (or one of its CAs) is listed in a CRL".into(),
        )),
        Err(webpki::Error::UnknownIssuer) => Err(chain_err(
            "certificate does not chain to a configured CA (unknown issuer)".into(),
        )),
        Err(e) => Err(chain_err(format!("certificate chain invalid: {e}"))),
    }
}

fn check_usage(leaf: &CertInfo, usage: Usage) -> Vec<(Severity, String)> {
    let mut out = Vec::new();
    if leaf.is_ca {
        out.push((
            Severity::Error,
            "a CA certificate is configured as an end-entity identity".to_owned(),
        ));
    }
    let ku = |u: KeyUsage| leaf.key_usage.contains(&u);
    let has_ku = !leaf.key_usage.is_empty();
    let eku_has = |name: &str| {
        leaf.extended_key_usage
            .as_ref()
            .is_some_and(|v| v.iter().any(|e| e == name || e == "anyExtendedKeyUsage"))
    };
    match usage {
        Usage::TlsClient => {
            if !eku_has("clientAuth") {
                out.push((
                    Severity::Error,
                    "extendedKeyUsage lacks clientAuth (an ORG_AUTH_CLI certificate is required \
                     for TLS client authentication)"
                        .to_owned(),
                ));
            }
            if has_ku && !ku(KeyUsage::DigitalSignature) {
                out.push((
                    Severity::Error,
                    "keyUsage lacks digitalSignature (needed to authenticate a TLS client)"
                        .to_owned(),
                ));
            }
        }
        Usage::TlsServer => {
            if leaf.extended_key_usage.is_some() && !eku_has("serverAuth") {
                out.push((
                    Severity::Error,
                    "extendedKeyUsage lacks serverAuth".to_owned(),
                ));
            }
            if has_ku && !ku(KeyUsage::DigitalSignature) && !ku(KeyUsage::KeyEncipherment) {
                out.push((
                    Severity::Error,
                    "keyUsage lacks digitalSignature and keyEncipherment".to_owned(),
                ));
            }
        }
        Usage::Signing => {
            if !ku(KeyUsage::DigitalSignature) {
                out.push((
                    Severity::Error,
                    "keyUsage lacks digitalSignature (an ORG_SIGN certificate is required for \
                     signing)"
                        .to_owned(),
                ));
            }
            if !ku(KeyUsage::NonRepudiation) {
                out.push((
                    Severity::Error,
                    "keyUsage lacks nonRepudiation (an ORG_SIGN certificate is required for \
                     signing)"
                        .to_owned(),
                ));
            }
        }
    }
    out
}
