//! Pure domain types: identifiers (INS, FINESS, RPPS), delivery state machine, request validation,
//! the boundary error type.
#![forbid(unsafe_code)]

pub mod delivery;
pub mod error;
pub mod ids;
pub mod kinds;
pub mod paris;
pub mod validate;
