//! Rendering time of the ten-page structured PPE, and of a one-page PPE for the fixed cost
//! (`cargo bench -p passerelle-pdf`). A plain timing loop (no criterion in the workspace);
//! prints one JSON line per input. `PDF_BENCH_ITERATIONS` sets the loop count (default 20).
#![allow(clippy::disallowed_methods)] // a benchmark reads the clock by definition

#[path = "../tests/common/fixtures.rs"]
mod fixtures;

use passerelle_api::v1::document::Content;
use passerelle_api::v1::{DocumentKind, PpeContent};
use std::time::Instant;

fn bench(name: &str, ppe: PpeContent, iterations: u32) {
    let child = fixtures::child();
    let doc = fixtures::document(DocumentKind::Ppe, "", Content::Ppe(ppe));
    let ctx = fixtures::ctx(&doc, &child);
    // The first call also parses the embedded fonts (once per process).
    let first = Instant::now();
    let pdf = passerelle_pdf::render(&ctx).expect("renders");
    let cold = first.elapsed();
    let start = Instant::now();
    for _ in 0..iterations {
        std::hint::black_box(passerelle_pdf::render(std::hint::black_box(&ctx)).expect("renders"));
    }
    let per = start.elapsed() / iterations;
    println!(
        "{{\"bench\":\"{name}\",\"bytes\":{},\"first_call_ms\":{:.2},\"ms_per_document\":{:.2},\"iterations\":{iterations}}}",
        pdf.len(),
        cold.as_secs_f64() * 1e3,
        per.as_secs_f64() * 1e3,
    );
}

fn main() {
    let iterations: u32 = std::env::var("PDF_BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
        .max(1);
    bench("render_ppe_10_pages", fixtures::long_ppe(), iterations);
    bench("render_ppe_2_pages", fixtures::ppe(), iterations);
}
