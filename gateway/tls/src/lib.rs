//! TLS material for Passerelle: identities (PEM or PKCS#12 + password), trust anchors and CRLs,
//! rustls 0.23 client/server configurations on the `ring` provider that trust **only** the
//! configured CAs (never system or webpki roots), certificate inspection for WhoAmI /
//! `check-config`, and [`check_identity`] which reports every problem of an identity at once.
#![forbid(unsafe_code)]

mod check;
mod config;
mod error;
mod inspect;
mod material;

pub use check::{IdentityReport, Problem, ProblemKind, Severity, Usage, check_identity};
pub use config::{
    ClientAuth, Revocation, RevocationPolicy, client_config, provider, server_config,
};
pub use error::TlsError;
pub use inspect::{CertInfo, KeyUsage, format_dn, inspect};
pub use material::{Identity, IdentitySource, TrustAnchors, crls_from_pem, load_crls};

pub use rustls;
pub use rustls_pki_types as pki_types;
