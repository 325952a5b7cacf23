//! IGC-Santé-shaped test PKI generator (root, intermediate, tenant ORG_AUTH_CLI/ORG_SIGN, servers, API clients)
#![forbid(unsafe_code)]
