//! One integration binary (ripgrep's `autotests = false` pattern).
mod common;
mod fuzz;
mod golden;
mod parse;
mod props;
