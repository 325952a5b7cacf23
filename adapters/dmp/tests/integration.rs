//! passerelle-dmp: goldens, MTOM framing, reply parsing, adapter checks, fuzz harnesses.

mod checks;
mod common;
mod fuzz;
mod golden;
mod mtom;
mod perf;
mod replies;
