//! Timing figures, printed, never asserted (engineering.md §7 target: VIHF build + sign <= 2 ms
//! with the key preloaded). Meaningful in release: `cargo test --release -p passerelle-xmlsig
//! --test perf -- --nocapture`.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

mod common;

use std::hint::black_box;
use std::time::Instant;

use passerelle_xmlsig::{
    ManifestEntry, SignatureDocumentInput, build_and_sign, build_signature_document, verify,
    verify_signature_document,
};

fn per_op(label: &str, n: u32, mut f: impl FnMut()) {
    f(); // warm up
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    let us = t.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    println!("PERF {label}: {us:.1} µs/op over {n} ops");
}

#[test]
fn print_timings() {
    let signer = common::signer();
    let rng = common::rng();
    let input = common::input();
    let trust = common::trust_ca();
    let n = if cfg!(debug_assertions) { 20 } else { 500 };

    per_op("VIHF build+sign (key preloaded)", n, || {
        black_box(build_and_sign(black_box(&input), &signer, &rng).unwrap());
    });
    let vihf = build_and_sign(&input, &signer, &rng).unwrap();
    println!("PERF VIHF size: {} bytes", vihf.len());
    per_op("VIHF verify (our c14n + RSA verify + CA check)", n, || {
        black_box(verify(black_box(&vihf), &trust).unwrap());
    });

    let pdf_like = vec![0x5au8; 1024 * 1024];
    let doc_input = |bytes: &[u8]| SignatureDocumentInput {
        signature_id: "Sig01".to_string(),
        signing_time: input.issue_instant,
        submission_set_unique_id: "1.2.250.1.999.1.2.2.17".to_string(),
        documents: vec![ManifestEntry::from_bytes("1.2.250.1.999.1.2.1.17", bytes)],
    };
    per_op(
        "XAdES build+sign incl. SHA-256 of a 1 MiB document",
        n,
        || {
            black_box(build_signature_document(&doc_input(&pdf_like), &signer, &rng).unwrap());
        },
    );
    let xades = build_signature_document(&doc_input(&pdf_like), &signer, &rng).unwrap();
    per_op("XAdES verify", n, || {
        black_box(verify_signature_document(black_box(&xades), &trust).unwrap());
    });
    assert!(verify(&vihf, &trust).is_ok());
}
