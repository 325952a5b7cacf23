//! The Passerelle gateway as a library: the binary `passerelle` is a thin wrapper, and the
//! integration tests drive the same code.
#![forbid(unsafe_code)]

pub mod app;
pub mod auth;
pub mod bench;
pub mod cli;
pub mod client;
pub mod config;
pub mod conformance;
pub mod convert;
pub mod demo;
pub mod dmp;
pub mod grpc;
pub mod http;
pub mod listener;
pub mod metrics;
pub mod mssante;
pub mod openapi;
pub mod pipeline;
pub mod plan;
pub mod render;
pub mod sandbox;
pub mod service;
pub mod setup;
pub mod workers;
