//! Pure XML signatures for the DMP: exclusive XML canonicalization, enveloped XML-DSig
//! (RSA-SHA256, SHA-256 digests), the VIHF SAML 2.0 assertion builder + signer + verifier, and the
//! XAdES signature document of the XDS submission set. See `docs/xmlsig.md`.
//!
//! No I/O: keys, certificates, times, ids and the rng are parameters.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod c14n;
mod cert;
mod dsig;
mod error;
mod signer;
pub mod vihf;
mod write;
pub mod xades;

pub use c14n::{C14nAlgorithm, C14nOptions, MAX_INPUT, canonicalize};
pub use cert::TrustAnchors;
pub use dsig::DigestAlgorithm;
pub use error::XmlSigError;
pub use signer::Signer;
pub use vihf::{Code, VerifiedAssertion, VihfInput, build_and_sign, build_unsigned, verify};
pub use xades::{
    ManifestEntry, ManifestReference, SignatureDocumentInput, VerifiedSignatureDocument,
    build_signature_document, verify_signature_document,
};
