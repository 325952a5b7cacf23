//! Shared inputs: sandbox identities (docs/sandbox.md), fixture loading.

use passerelle_mssante::outgoing::Sender;
use passerelle_mssante::{Address, Mailbox};

pub fn addr(s: &str) -> Address {
    Address::parse("test", s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

pub fn mecs_sender() -> Sender {
    Sender {
        from: Mailbox::new(
            Some("MECS Les Tilleuls - envoi automatique"),
            addr("passerelle@mecs-tilleuls.mssante.test"),
        ),
        reply_to: Some(Mailbox::new(
            Some("MECS Les Tilleuls - secrétariat"),
            addr("secretariat@mecs-tilleuls.mssante.test"),
        )),
        structure_name: "MECS Les Tilleuls".to_owned(),
        phone: Some("01 48 00 00 00".to_owned()),
        nil: "DEV935997".to_owned(),
    }
}

pub fn cmp_sender() -> Sender {
    Sender {
        from: Mailbox::new(
            Some("CMP infanto-juvénile de Bobigny"),
            addr("passerelle@cmp-enfants.mssante.test"),
        ),
        reply_to: Some(Mailbox::new(
            None,
            addr("secretariat@cmp-enfants.mssante.test"),
        )),
        structure_name: "CMP infanto-juvénile de Bobigny".to_owned(),
        phone: None,
        nil: "DEV935997".to_owned(),
    }
}

/// A minimal CDA header as the documents crate packs it (only what X-MSS reads matters here).
pub fn cda(code: &str, id_root: &str, ins: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ClinicalDocument xmlns=\"urn:hl7-org:v3\">\
<code code=\"{code}\" codeSystem=\"2.16.840.1.113883.6.1\"/>\
<recordTarget><patientRole><id root=\"{id_root}\" extension=\"{ins}\"/>\
<patient><name><family qualifier=\"BR\">DUPONT</family><given qualifier=\"BR\">Léa</given></name>\
<administrativeGenderCode code=\"F\"/><birthTime value=\"20120614\"/></patient></patientRole></recordTarget>\
</ClinicalDocument>\n"
    )
}

/// Placeholder archive bytes (the XDM writer is another crate's; the builder treats them opaquely).
pub const ZIP: &[u8] = b"PK\x03\x04\x0a\x00\x00\x00\x00\x00placeholder-xdm-archive\x00PK\x05\x06";
pub const PDF: &[u8] =
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

#[allow(clippy::disallowed_methods)] // test fixtures are files
pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Same bytes with CRLF line ends (the wire form).
pub fn crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 20);
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' && (i == 0 || bytes[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

pub const FIXTURES: &[&str] = &[
    "rfc3464_10_1_simple_failed.eml",
    "rfc3464_10_2_multi_recipient.eml",
    "rfc3464_10_3_delayed.eml",
    "rfc8098_example.eml",
    "postfix_delivered.eml",
    "postfix_relayed.eml",
    "postfix_failed_patient.eml",
    "ans_mdn_error_902.eml",
    "rfc_form_mdn_error.eml",
    "rfc2298_failed_denied.eml",
    "mes_non_delivery.eml",
    "ans_error_mail.eml",
    "document_inline_no_disposition.eml",
    "eight_bit_headers.eml",
    "forwarded_document.eml",
    "plain.eml",
    "dsn_without_status_part.eml",
];
