//! bolero harnesses for the XDM reader, run as ordinary tests with bounded iterations (random
//! engine under `cargo test`; `cargo bolero test` can run them longer). The reader must never
//! panic, and whatever it accepts must satisfy its own checks.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use passerelle_api::v1::DocumentKind;
use passerelle_documents::metadata::sha1_hex;
use passerelle_documents::{Profile, build_xdm, read_xdm};

fn check_accepted(bytes: &[u8]) {
    if let Ok(pkg) = read_xdm(bytes) {
        for s in &pkg.subsets {
            for d in &s.documents {
                assert_eq!(d.content.len() as u64, d.size);
                assert!(sha1_hex(&d.content).eq_ignore_ascii_case(&d.hash));
            }
        }
    }
}

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[test]
fn fuzz_reader_with_arbitrary_bytes() {
    bolero::check!()
        .with_iterations(3000)
        .with_max_len(64 * 1024)
        .for_each(|bytes: &[u8]| {
            RUNS.fetch_add(1, Ordering::Relaxed);
            check_accepted(bytes)
        });
    // The harness really ran (bolero's test engine honours the iteration count).
    assert!(
        RUNS.load(Ordering::Relaxed) >= 1000,
        "{}",
        RUNS.load(Ordering::Relaxed)
    );
}

#[test]
fn fuzz_reader_with_mutated_valid_packages() {
    let docs = vec![
        Owned::new(DocumentKind::Ppe, 1).render(Profile::Mssante),
        Owned::new(DocumentKind::Pai, 2).render(Profile::Mssante),
    ];
    let t = tenant();
    let valid = build_xdm(&mss_set(&docs[0], 1), &docs, &sender(&t)).expect("xdm");
    assert!(read_xdm(&valid).is_ok());
    bolero::check!()
        .with_type::<Vec<(u16, u8)>>()
        .with_iterations(1500)
        .for_each(|mutations: &Vec<(u16, u8)>| {
            let mut bytes = valid.clone();
            for (pos, val) in mutations.iter().take(8) {
                // Spread positions over the whole archive.
                let i = (*pos as usize * bytes.len()) / (u16::MAX as usize + 1);
                bytes[i] = *val;
            }
            check_accepted(&bytes);
        });
}
