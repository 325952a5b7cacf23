//! The crate's one error type. Messages name the field or element and the reason, never values
//! (an assertion carries an INS and names).

/// Everything that can go wrong while canonicalizing, signing or verifying.
#[derive(Debug, thiserror::Error)]
pub enum XmlSigError {
    /// The input is not UTF-8 (XML-DSig inputs here are always UTF-8).
    #[error("xml: input is not UTF-8")]
    NotUtf8,
    /// The input exceeds the size bound of the entry point.
    #[error("xml: input larger than {limit} bytes")]
    TooLarge {
        /// the bound, in bytes
        limit: usize,
    },
    /// The input is not well-formed or namespace-well-formed XML.
    #[error("xml: not well-formed: {0}")]
    Parse(String),
    /// Well-formed, but outside what this canonicalizer handles (it fails closed).
    #[error("xml: unsupported construct: {0}")]
    Unsupported(&'static str),
    /// A builder input is missing or malformed.
    #[error("input {field}: {reason}")]
    Input {
        /// the input field
        field: &'static str,
        /// why it was refused
        reason: &'static str,
    },
    /// The private key could not be loaded or does not match the certificate.
    #[error("key: {0}")]
    Key(&'static str),
    /// The certificate could not be parsed or lacks something needed.
    #[error("certificate: {0}")]
    Certificate(&'static str),
    /// The signature or assertion structure is not the expected one.
    #[error("structure: {element}: {reason}")]
    Structure {
        /// the element (qualified name as written in the specs)
        element: &'static str,
        /// what is wrong with it
        reason: &'static str,
    },
    /// A reference's recomputed digest differs from its DigestValue.
    #[error("digest mismatch for reference {reference}")]
    DigestMismatch {
        /// which reference (its URI kind, not its value)
        reference: &'static str,
    },
    /// SignatureValue does not verify with the KeyInfo certificate.
    #[error("signature value does not verify")]
    BadSignature,
    /// The KeyInfo certificate is not pinned and not issued by a trusted CA.
    #[error("certificate not trusted: {0}")]
    Untrusted(&'static str),
    /// The signing operation itself failed.
    #[error("signing failed")]
    Signing,
}

pub(crate) fn structure(element: &'static str, reason: &'static str) -> XmlSigError {
    XmlSigError::Structure { element, reason }
}

pub(crate) fn input(field: &'static str, reason: &'static str) -> XmlSigError {
    XmlSigError::Input { field, reason }
}
