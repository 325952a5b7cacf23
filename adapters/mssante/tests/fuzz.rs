//! bolero harnesses, run as plain tests with bounded iterations (engineering.md §3): structured
//! mutations of the fixtures (splice, truncate, duplicate) and raw bytes into the classifier and
//! the DSN / MDN body parsers. The property: no panic, bounded work, and parsed results keep their
//! invariants.

use passerelle_mssante::inbound::{self, InboundKind, Limits};
use passerelle_mssante::report;

use crate::common::*;

/// Bounded for every CI run; `PASSERELLE_FUZZ_ITERATIONS` raises it for longer local/scheduled runs.
fn iterations() -> usize {
    std::env::var("PASSERELLE_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000)
}

fn mutate(base: &[u8], pos: u16, del: u8, insert: &[u8], dup: bool) -> Vec<u8> {
    let p = if base.is_empty() {
        0
    } else {
        pos as usize % (base.len() + 1)
    };
    let end = (p + del as usize).min(base.len());
    let mut out = Vec::with_capacity(base.len() + insert.len() * 2);
    out.extend_from_slice(&base[..p]);
    out.extend_from_slice(insert);
    if dup {
        // Duplicate the tail: repeated boundaries and fields.
        out.extend_from_slice(&base[p..]);
    }
    out.extend_from_slice(&base[end..]);
    out
}

fn check_classify(raw: &[u8]) {
    let limits = Limits {
        max_bytes: 1 << 20,
        max_mime_depth: 8,
        max_parts: 200,
    };
    if let Ok(m) = inbound::parse(raw, &limits) {
        match m.kind {
            InboundKind::Dsn(d) => assert!(!d.status.recipients.is_empty()),
            InboundKind::AnsError(e) => assert!(e.referenced_message_ids.len() <= 64 + 8),
            _ => {}
        }
    }
}

#[test]
fn fuzz_mime_classifier() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let bases: Vec<Vec<u8>> = FIXTURES.iter().map(|f| fixture(f)).collect();
    bolero::check!()
        .with_iterations(iterations())
        .with_type::<(u8, u16, u8, Vec<u8>, bool)>()
        .for_each(|(which, pos, del, insert, dup)| {
            RUNS.fetch_add(1, Ordering::Relaxed);
            let base = &bases[*which as usize % bases.len()];
            check_classify(&mutate(base, *pos, *del, insert, *dup));
            check_classify(insert);
        });
    // The harness really ran its bounded number of cases.
    assert!(RUNS.load(Ordering::Relaxed) >= iterations());
}

fn dsn_body() -> Vec<u8> {
    b"Reporting-MTA: dns; mx.test\nOriginal-Envelope-Id: d1\n\nOriginal-Recipient: rfc822;a@b.fr\nFinal-Recipient: rfc822;a@b.fr\nAction: failed\nStatus: 5.1.1 (x)\nDiagnostic-Code: smtp; 550\n  folded\nWill-Retry-Until: Sun, 1 Mar 2026 10:00:00 +0100\n".to_vec()
}

fn mdn_body() -> Vec<u8> {
    "Reporting-UA: x; y\nFinal-Recipient: rfc822;a@b.fr\nOriginal-Message-ID: <m@b.fr>\nDisposition: automatic-action/MDN-sent-automatically; processed/Error: 902^Identifiant ^x, y\nError: 903^é\n".as_bytes().to_vec()
}

#[test]
fn fuzz_dsn_parser() {
    let base = dsn_body();
    bolero::check!()
        .with_iterations(iterations())
        .with_type::<(u16, u8, Vec<u8>, bool)>()
        .for_each(|(pos, del, insert, dup)| {
            for input in [mutate(&base, *pos, *del, insert, *dup), insert.clone()] {
                if let Ok(d) = report::parse_delivery_status(&input) {
                    assert!(!d.recipients.is_empty());
                }
            }
        });
}

#[test]
fn fuzz_mdn_parser() {
    let base = mdn_body();
    bolero::check!()
        .with_iterations(iterations())
        .with_type::<(u16, u8, Vec<u8>, bool)>()
        .for_each(|(pos, del, insert, dup)| {
            for input in [mutate(&base, *pos, *del, insert, *dup), insert.clone()] {
                if let Ok(n) = report::parse_disposition_notification(&input)
                    && let Some(e) = &n.disposition.ans_error
                {
                    assert!(e.code <= 999);
                }
            }
        });
}

#[test]
fn fuzz_disposition_and_reply_strings() {
    bolero::check!()
        .with_iterations(iterations())
        .with_type::<String>()
        .for_each(|s| {
            let _ = report::Disposition::parse(s);
            let _ = passerelle_mssante::reply::SmtpReply::parse(s);
            let _ = passerelle_mssante::ans::error_subject(s);
            let _ = passerelle_mssante::ans::AnsError::parse(s);
        });
}
