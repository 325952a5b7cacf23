//! TLS identities, trust anchors and rustls configurations for Passerelle.
#![forbid(unsafe_code)]
