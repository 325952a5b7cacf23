//! Pure MSSanté protocol code: building the outgoing message and its SMTP envelope, classifying SMTP
//! replies, parsing incoming mail (DSN, MDN, ANS error mails, document mails), building outgoing MDNs,
//! and the per-recipient notification correlation state machine.
//!
//! No I/O: time, ids, sizes limits and bytes are parameters (engineering.md §1).
#![forbid(unsafe_code)]

pub mod address;
pub mod ans;
pub mod cda;
pub mod correlation;
pub mod envelope;
mod error;
pub mod inbound;
pub mod mdn_out;
mod mime;
pub mod outgoing;
pub mod paris;
pub mod reply;
pub mod report;
pub mod text;

pub use address::{Address, Mailbox};
pub use error::Error;
