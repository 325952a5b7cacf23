//! Durable outbox: Store trait, SQLite implementation, content-addressed blobs, leases, hash-chained audit
#![forbid(unsafe_code)]
