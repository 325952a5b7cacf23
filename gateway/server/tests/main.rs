//! Integration tests over real gRPC (tonic client) and real HTTP on loopback, against the sandbox
//! configuration in a temporary directory. One test binary (autotests = false).

mod api;
mod checkconfig;
mod clients;
mod common;
mod crash;
mod dmp;
mod mssante;
mod mtls;
mod render;
