//! Shared test helpers: fixtures (sandbox identities of docs/sandbox.md), text extraction with
//! poppler's pdftotext, and the structural PDF/A-1b checker.
#![allow(dead_code)]

pub mod fixtures;
pub mod pdfa;

use std::io::Write;
use std::process::{Command, Stdio};

/// Text of the whole file, or of one page (1-based), as poppler's `pdftotext` extracts it.
/// Panics when pdftotext (Debian poppler-utils) is missing: the test script installs it.
pub fn pdftotext(pdf: &[u8], page: Option<usize>) -> String {
    let mut cmd = Command::new("pdftotext");
    cmd.arg("-enc").arg("UTF-8");
    if let Some(p) = page {
        cmd.arg("-f")
            .arg(p.to_string())
            .arg("-l")
            .arg(p.to_string());
    }
    cmd.arg("-").arg("-");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pdftotext (poppler-utils) must be installed");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = pdf.to_vec();
    // Write from another thread so a large output cannot deadlock on a full pipe.
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().expect("pdftotext runs");
    writer
        .join()
        .expect("writer thread")
        .expect("write to pdftotext");
    assert!(
        out.status.success(),
        "pdftotext failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("pdftotext gives UTF-8")
}

/// Collapses runs of blank space so assertions do not depend on pdftotext's spacing choices.
pub fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
