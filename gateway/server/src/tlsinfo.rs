//! Certificate facts for authentication and WhoAmI.

/// Subject DN in certificate RDN order, e.g. "C=FR, O=MECS, CN=api-client mecs".
pub fn subject_of(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.subject().to_string())
}
