//! End to end: DmpClient → embedded DMP simulator over mutual TLS, plus the simulator's refusals
//! (dmp.md §8) driven with requests the adapter checks would have stopped.

mod common;
mod e2e;
mod sim_rules;
mod xmlsec;
