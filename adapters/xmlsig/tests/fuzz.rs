//! Bolero harnesses (run under `cargo test` on stable with random inputs; `cargo bolero test`
//! can drive them with a fuzzing engine). Property: bounded inputs never panic.
#![allow(clippy::unwrap_used)]

mod common;

use passerelle_xmlsig::{
    C14nAlgorithm, C14nOptions, TrustAnchors, build_and_sign, canonicalize, verify,
    verify_signature_document,
};

const MAX: usize = 4096;

#[test]
fn c14n_entry_point_never_panics() {
    let with = C14nOptions {
        algorithm: C14nAlgorithm::Exclusive,
        with_comments: true,
        allow_dtd: true,
        inclusive_prefixes: vec!["#default".into(), "a".into()],
    };
    let inclusive = C14nOptions {
        algorithm: C14nAlgorithm::Inclusive10,
        with_comments: true,
        allow_dtd: true,
        ..C14nOptions::default()
    };
    let plain = C14nOptions::default();
    bolero::check!().for_each(|input: &[u8]| {
        if input.len() > MAX {
            return;
        }
        let _ = canonicalize(input, &with);
        let _ = canonicalize(input, &inclusive);
        if let Ok(out) = canonicalize(input, &plain) {
            // Canonical output is a fixed point of canonicalization.
            assert_eq!(canonicalize(&out, &plain).unwrap(), out);
        }
    });
}

#[test]
fn verifiers_never_panic_on_arbitrary_bytes() {
    let trust = TrustAnchors::new();
    bolero::check!().for_each(|input: &[u8]| {
        if input.len() > MAX {
            return;
        }
        let _ = verify(input, &trust);
        let _ = verify_signature_document(input, &trust);
    });
}

#[test]
fn mutated_vihf_never_panics_and_never_verifies_with_changed_content() {
    let signed = build_and_sign(&common::input(), &common::signer(), &common::rng()).unwrap();
    let trust = common::trust_ca();
    bolero::check!()
        .with_type::<(u16, u8)>()
        .for_each(|(pos, byte): &(u16, u8)| {
            let mut m = signed.clone();
            let i = usize::from(*pos) % m.len();
            if m[i] == *byte {
                return;
            }
            let old = m[i];
            m[i] = *byte;
            // One changed byte changes the content or breaks well-formedness, except whitespace
            // for whitespace inside a tag (not significant in XML): only that may still verify.
            if verify(&m, &trust).is_ok() {
                let ws = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
                assert!(
                    ws(old) && ws(*byte),
                    "byte {i} changed from {old:#x} to {byte:#x} and still verified"
                );
            }
        });
}
