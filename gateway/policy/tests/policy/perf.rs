//! Measurement helper, not a timed test (engineering.md: benchmarks, never timed tests): run with
//! `cargo test --release -p passerelle-policy --test policy perf -- --ignored --nocapture`.
#![allow(clippy::disallowed_methods)] // Instant::now: measuring only
use passerelle_api::v1::*;
use passerelle_policy::PolicyEngine;

use crate::fixtures::*;

#[test]
#[ignore = "measurement: run in release and read the output"]
fn perf_ten_recipients() {
    let engine = engine();
    let mut r = base(DocumentKind::FicheNavette);
    r.targets = (0..10)
        .map(|i| {
            to_pro(
                &format!("t{i}"),
                claire_referente(),
                "claire.martin@cd93.mssante.test",
            )
        })
        .collect();
    let mut samples = Vec::with_capacity(20_000);
    for i in 0..20_000 {
        let t = std::time::Instant::now();
        let d = engine.evaluate(&r, AS_OF, false, "p").expect("decision");
        samples.push(t.elapsed().as_nanos());
        assert!(i > 0 || d.accepted);
    }
    samples.sort_unstable();
    let p = |q: f64| {
        samples[(((samples.len() as f64) * q) as usize).min(samples.len() - 1)] as f64 / 1000.0
    };
    println!(
        "policy evaluate, 10 recipients: p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs",
        p(0.5),
        p(0.99),
        p(0.999)
    );
}
