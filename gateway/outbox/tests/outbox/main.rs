//! Integration tests of the SQLite outbox.

mod common;
mod inbox;
mod lifecycle;
mod model;
mod tamper;
