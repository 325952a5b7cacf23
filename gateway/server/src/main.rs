//! `passerelle`: the gateway binary and its command-line tools.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    passerelle::cli::main()
}
