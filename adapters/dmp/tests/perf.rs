//! Prints the cost of `build_iti41_request` for a 1 MiB PDF (never asserted: the lead measures
//! with the benchmark; `cargo test --release -p passerelle-dmp perf -- --nocapture`).

use std::time::Instant;

use passerelle_dmp::{Attachment, Iti41Input, build_iti41_request};

use crate::common::*;

#[test]
#[allow(clippy::disallowed_methods)] // timing a test, not the crate
fn perf_iti41_request_for_a_1_mib_pdf() {
    let f = fixture(&pdf(1024 * 1024));
    let ep = endpoint();
    let docs = [
        Attachment {
            id: "Doc01",
            bytes: &f.doc.cda,
        },
        Attachment {
            id: "Sig01",
            bytes: &f.xades,
        },
    ];
    let input = Iti41Input {
        endpoint: &ep,
        message_id: MESSAGE_ID,
        boundary_id: BOUNDARY_ID,
        vihf: VIHF,
        submit_objects_request: &f.sor,
        documents: &docs,
    };
    let n = 20;
    let t = Instant::now();
    let mut len = 0;
    for _ in 0..n {
        len = build_iti41_request(&input).expect("req").body.len();
    }
    let per = t.elapsed() / n;
    println!(
        "build_iti41_request: CDA {} bytes, body {len} bytes, {per:?} per request",
        f.doc.cda.len()
    );
    assert!(len > f.doc.cda.len());
}
