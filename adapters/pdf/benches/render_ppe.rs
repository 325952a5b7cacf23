//! Rendering time of the ~10-page structured PPE (`cargo bench -p passerelle-pdf`).
//! Plain timing loop (no criterion in the workspace); prints ms per document and pages.
#![allow(clippy::disallowed_methods)] // a benchmark reads the clock by definition

#[path = "../tests/common/fixtures.rs"]
mod fixtures;

use passerelle_api::v1::DocumentKind;
use passerelle_api::v1::document::Content;
use std::time::Instant;

fn main() {
    let child = fixtures::child();
    let doc = fixtures::document(DocumentKind::Ppe, "", Content::Ppe(fixtures::long_ppe()));
    let ctx = fixtures::ctx(&doc, &child);
    // Warm-up: font parsing happens once per process.
    let first = Instant::now();
    let pdf = passerelle_pdf::render(&ctx).expect("renders");
    let cold = first.elapsed();
    let iterations: u32 = std::env::var("PDF_BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let start = Instant::now();
    for _ in 0..iterations {
        std::hint::black_box(passerelle_pdf::render(std::hint::black_box(&ctx)).expect("renders"));
    }
    let per = start.elapsed() / iterations;
    let pages = pdf.windows(10).filter(|w| w == b"/Type /Pag").count();
    println!(
        "{{\"bench\":\"render_ppe\",\"bytes\":{},\"page_objects\":{},\"cold_ms\":{:.2},\"ms_per_document\":{:.2},\"iterations\":{}}}",
        pdf.len(),
        pages,
        cold.as_secs_f64() * 1e3,
        per.as_secs_f64() * 1e3,
        iterations
    );
}
