//! Pure DMP protocol code (dmp.md §1–§5): the SOAP 1.2 envelope with WS-Addressing and the signed
//! VIHF in `wsse:Security`, the ITI-41 request framed as MTOM/XOP, TD0.2, TD3.1b (ITI-18) and
//! TD3.3c (ITI-57) requests, reply parsing into a typed result with a retry class, and the
//! adapter checks DMP-CONF/ID/TYPE. See `docs/dmp.md`.
//!
//! No I/O: ids, times, keys and the signed VIHF are inputs; outputs are bytes or typed results.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod checks;
pub mod envelope;
mod error;
pub mod ins;
pub mod iti18;
pub mod iti41;
pub mod iti57;
pub mod mtom;
pub mod response;
pub mod td02;
mod xml;

pub use checks::{
    DmpParameters, DocumentFacts, SubmissionFacts, Violation, check_submission, paris_date,
};
pub use envelope::{Addressing, Endpoint, HttpRequest, Transaction, write_envelope};
pub use error::DmpProtocolError;
pub use iti18::build_iti18_request;
pub use iti41::{Attachment, Iti41Input, build_iti41_request};
pub use iti57::{DeletionInput, build_iti57_delete_request};
pub use response::{
    DmpFailure, FailureSource, RegistryError, Reply, Retry, parse_iti18_response,
    parse_registry_response,
};
pub use td02::{PatientState, Td02Input, Td02Reply, build_td02_request, parse_td02_response};
