//! The per-tenant signing key, parsed once (engineering.md §7: PEM parsing per call costs ~45 ms).

use ring::rand::SecureRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};

use crate::cert::CertInfo;
use crate::error::XmlSigError;

/// An RSA key (ORG_SIGN) and its certificate, loaded once per tenant and shared by reference.
pub struct Signer {
    key: RsaKeyPair,
    cert: CertInfo,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Signer")
            .field("subject", &self.cert.subject_cert_order)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Loads a PKCS#8 DER RSA private key and its DER certificate; refuses a key that does not
    /// belong to the certificate.
    pub fn from_pkcs8_der(pkcs8: &[u8], certificate_der: &[u8]) -> Result<Self, XmlSigError> {
        let key = RsaKeyPair::from_pkcs8(pkcs8)
            .map_err(|_| XmlSigError::Key("not an acceptable PKCS#8 RSA private key"))?;
        let cert = CertInfo::from_der(certificate_der)?;
        if key.public().as_ref() != cert.rsa_public_key.as_slice() {
            return Err(XmlSigError::Key(
                "private key does not match the certificate",
            ));
        }
        Ok(Signer { key, cert })
    }

    /// The certificate placed in KeyInfo (DER).
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert.der
    }

    /// The certificate subject, RDNs in certificate order joined by ", " (the VIHF Issuer).
    pub fn subject_dn(&self) -> &str {
        &self.cert.subject_cert_order
    }

    pub(crate) fn cert(&self) -> &CertInfo {
        &self.cert
    }

    /// RSA PKCS#1 v1.5 SHA-256 (deterministic; ring's API takes an rng anyway).
    pub(crate) fn sign(
        &self,
        rng: &dyn SecureRandom,
        message: &[u8],
    ) -> Result<Vec<u8>, XmlSigError> {
        let mut sig = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, rng, message, &mut sig)
            .map_err(|_| XmlSigError::Signing)?;
        Ok(sig)
    }
}
