//! Durable outbox: Store trait, SQLite implementation, content-addressed blobs, leases,
//! hash-chained audit (docs/specs/outbox.md, docs/specs/audit.md).
#![forbid(unsafe_code)]

pub mod audit;
pub mod blob;
pub mod config;
pub mod error;
pub mod inbox;
pub mod sqlite;
pub mod store;
pub mod types;

pub use config::{Backoff, StoreConfig};
pub use error::{Error, ErrorKind, Result};
pub use inbox::*;
pub use sqlite::SqliteStore;
pub use store::Store;
pub use types::*;

pub use passerelle_domain::delivery::{Channel, DeliveryState};
