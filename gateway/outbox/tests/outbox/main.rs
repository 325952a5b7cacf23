//! Integration tests of the SQLite outbox.

mod common;
mod lifecycle;
mod model;
mod tamper;
