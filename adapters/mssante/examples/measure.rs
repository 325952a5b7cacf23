//! Rough timing of the hot paths on a 1 MiB PDF (run with `--release`): message build (base64 of
//! zip + PDF, QP body, size check) and the inbound parse of the result. Not a benchmark harness:
//! criterion benches live in `conformance/bench`.
#![allow(clippy::disallowed_methods)] // wall clock for the measurement only

use std::time::Instant;

use passerelle_mssante::cda::Environment;
use passerelle_mssante::inbound::{self, Limits};
use passerelle_mssante::outgoing::{self, OutgoingMessage, Patient, ReadablePdf, Sender, Xdm};
use passerelle_mssante::{Address, Mailbox};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sender = Sender {
        from: Mailbox::new(
            Some("MECS"),
            Address::parse("from", "passerelle@mecs-tilleuls.mssante.test")?,
        ),
        reply_to: None,
        structure_name: "MECS Les Tilleuls".into(),
        phone: None,
        nil: "DEV935997".into(),
    };
    // Incompressible-looking bytes (xorshift), 1 MiB.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut pdf = b"%PDF-1.4\n".to_vec();
    while pdf.len() < 1 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        pdf.extend_from_slice(&x.to_le_bytes());
    }
    let zip = pdf.clone();
    let cda =
        "<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><code code=\"28653-4\"/></ClinicalDocument>";
    let msg = OutgoingMessage {
        sender: &sender,
        message_uuid: uuid::Uuid::from_u128(1),
        date: time::macros::datetime!(2026-03-01 09:15:00 UTC),
        to: Address::parse("to", "crip@cd93.mssante.test")?,
        label: "Information préoccupante".into(),
        patient: Patient {
            birth_name: "DUPONT".into(),
            first_given_name: "Léa".into(),
            birth_date: None,
        },
        xdm: Some(Xdm {
            zip: &zip,
            cdas: vec![cda.as_bytes()],
        }),
        pdfs: vec![ReadablePdf {
            act_date: time::macros::date!(2026 - 03 - 01),
            type_label: "Information préoccupante".into(),
            dossier_number: None,
            data: &pdf,
        }],
        read_receipt: true,
        replaces: vec![],
        environment: Environment::Test,
        max_message_bytes: outgoing::DEFAULT_MAX_MESSAGE_BYTES,
    };
    let n = 50;
    let t = Instant::now();
    let mut size = 0;
    for _ in 0..n {
        size = outgoing::build(&msg)?.bytes.len();
    }
    let build_ms = t.elapsed().as_secs_f64() * 1000.0 / n as f64;
    let built = outgoing::build(&msg)?;
    let t = Instant::now();
    for _ in 0..n {
        inbound::parse(&built.bytes, &Limits::default())?;
    }
    let parse_ms = t.elapsed().as_secs_f64() * 1000.0 / n as f64;
    println!("message {size} bytes: build {build_ms:.2} ms, parse {parse_ms:.2} ms");
    Ok(())
}
