//! Pure domain types: identifiers (INS, FINESS, RPPS), document catalogue, delivery state machine,
//! request validation, the boundary error type.
#![forbid(unsafe_code)]

pub mod delivery;
