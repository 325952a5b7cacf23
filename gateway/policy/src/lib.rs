//! Pure policy engine: habilitation matrix, secret partagé, IP routing, parental authority, minors' rights
#![forbid(unsafe_code)]
