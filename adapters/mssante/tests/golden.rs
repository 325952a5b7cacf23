//! Golden files of whole messages (insta) and builder rules checked on the bytes.

use passerelle_mssante::cda::{Environment, OID_INS_NIR, OID_INS_TEST};
use passerelle_mssante::inbound::{self, InboundKind, Limits};
use passerelle_mssante::outgoing::{
    self, BuiltMessage, DEFAULT_MAX_MESSAGE_BYTES, OutgoingMessage, Patient, ReadablePdf, Xdm,
};
use passerelle_mssante::{Error, mdn_out};
use time::macros::{date, datetime};
use uuid::Uuid;

use crate::common::*;

fn uuid(s: &str) -> Uuid {
    Uuid::parse_str(s).unwrap_or_else(|e| panic!("{e}"))
}

fn text(b: &BuiltMessage) -> String {
    String::from_utf8(b.bytes.clone()).unwrap_or_else(|e| panic!("{e}"))
}

fn build(m: &OutgoingMessage<'_>) -> BuiltMessage {
    outgoing::build(m).unwrap_or_else(|e| panic!("{e}"))
}

/// Structural rules every built message must meet (§3.7): CRLF only, 78/998 columns, ASCII.
fn check_wire_form(b: &BuiltMessage) {
    let s = text(b);
    assert!(s.is_ascii(), "7-bit message");
    assert!(!s.replace("\r\n", "").contains('\n'), "bare LF");
    let header = s.split("\r\n\r\n").next().unwrap_or("");
    for line in header.split("\r\n") {
        assert!(line.len() <= 78, "header line over 78: {line}");
    }
    for line in s.split("\r\n") {
        assert!(line.len() <= 998);
    }
}

fn ppe_cda() -> String {
    cda("28653-4", OID_INS_TEST[0], "212069306600157")
}

fn ppe<'a>(sender: &'a passerelle_mssante::outgoing::Sender, c: &'a [u8]) -> OutgoingMessage<'a> {
    OutgoingMessage {
        sender,
        message_uuid: uuid("0195f1c2-7a3e-7cc0-9a51-3c1f0e2b9d41"),
        date: datetime!(2026-03-01 09:15:00 UTC),
        to: addr("marc.petit@cmp-enfants.mssante.test"),
        label: "Projet pour l'enfant".to_owned(),
        patient: Patient {
            birth_name: "Dupont".to_owned(),
            first_given_name: "Léa".to_owned(),
            birth_date: Some(date!(2012 - 06 - 14)),
        },
        xdm: Some(Xdm {
            zip: ZIP,
            cdas: vec![c],
        }),
        pdfs: vec![ReadablePdf {
            act_date: date!(2026 - 03 - 01),
            type_label: "Projet pour l'enfant".to_owned(),
            dossier_number: None,
            data: PDF,
        }],
        read_receipt: false,
        replaces: vec![],
        environment: Environment::Test,
        max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
    }
}

#[test]
fn golden_ppe_to_professional() {
    let s = mecs_sender();
    let c = ppe_cda();
    let b = build(&ppe(&s, c.as_bytes()));
    check_wire_form(&b);
    assert_eq!(
        b.message_id,
        "0195f1c2-7a3e-7cc0-9a51-3c1f0e2b9d41@mecs-tilleuls.mssante.test"
    );
    assert_eq!(b.x_mss, Some(("28653-4".to_owned(), "O")));
    assert_eq!(
        b.pdf_file_names,
        vec!["20260301_Projet-pour-l-enfant_DUPONT_Lea.pdf"]
    );
    let t = text(&b);
    assert!(!t.contains("Disposition-Notification-To"));
    assert!(!t.contains("X-MSS-MES"));
    insta::assert_snapshot!("ppe_to_professional", t);
}

#[test]
fn golden_ip_to_crip_with_read_receipt() {
    let s = mecs_sender();
    // No qualified INS: the CDA carries the DUI local id → X-MSS-INS: N.
    let c = cda("28653-4", "1.2.250.1.71.4.2.2.930004130", "DUI-0003");
    let mut m = ppe(&s, c.as_bytes());
    m.message_uuid = uuid("0195f1c2-8b4f-7cc0-9a51-3c1f0e2b9d42");
    m.to = addr("crip@cd93.mssante.test");
    m.label = "Information préoccupante".to_owned();
    m.patient = Patient {
        birth_name: "Lefebvre".to_owned(),
        first_given_name: "Inès".to_owned(),
        birth_date: Some(date!(2014 - 06 - 10)),
    };
    m.pdfs[0].type_label = "Information préoccupante".to_owned();
    m.pdfs[0].dossier_number = Some("IP42".to_owned());
    m.read_receipt = true;
    let b = build(&m);
    check_wire_form(&b);
    assert_eq!(b.x_mss, Some(("28653-4".to_owned(), "N")));
    assert_eq!(
        b.subject,
        "XDM/1.0/DDM+Information préoccupante LEFEBVRE Inès 10/06/2014"
    );
    assert_eq!(
        b.pdf_file_names,
        vec!["20260301_Information-preoccupante_LEFEBVRE_Ines_IP42.pdf"]
    );
    let t = text(&b);
    assert!(t.contains("Disposition-Notification-To: <passerelle@mecs-tilleuls.mssante.test>\r\n"));
    insta::assert_snapshot!("ip_to_crip_read_receipt", t);
}

#[test]
fn golden_patient_mailbox() {
    let s = cmp_sender();
    let c = cda("68817-6", OID_INS_NIR, "111029306600291");
    let mut m = ppe(&s, c.as_bytes());
    m.message_uuid = uuid("0195f1c2-9c50-7cc0-9a51-3c1f0e2b9d43");
    m.to = addr("111029306600291@patient.mssante.fr");
    m.label = "Bilan de santé et de prévention de l'enfant".to_owned();
    m.patient = Patient {
        birth_name: "Durand".to_owned(),
        first_given_name: "Noah".to_owned(),
        birth_date: Some(date!(2011 - 02 - 03)),
    };
    m.pdfs[0].type_label = "Bilan de santé".to_owned();
    m.environment = Environment::Production;
    let b = build(&m);
    check_wire_form(&b);
    let t = text(&b);
    assert!(t.contains("X-MSS-MES: FIN\r\n"));
    assert!(t.contains("X-MSS-INS: O\r\n"));
    insta::assert_snapshot!("patient_mailbox", t);
}

#[test]
fn golden_replacement() {
    let s = mecs_sender();
    let c = ppe_cda();
    let mut m = ppe(&s, c.as_bytes());
    m.message_uuid = uuid("0195f1c2-ad61-7cc0-9a51-3c1f0e2b9d44");
    m.date = datetime!(2026-07-14 10:00:00 UTC);
    m.replaces = vec!["<0195f1c2-7a3e-7cc0-9a51-3c1f0e2b9d41@mecs-tilleuls.mssante.test>".into()];
    let b = build(&m);
    check_wire_form(&b);
    assert!(
        b.subject
            .starts_with("XDM/1.0/DDM+Annule et remplace - Projet pour l'enfant DUPONT")
    );
    let t = text(&b);
    assert!(t.contains("Date: Tue, 14 Jul 2026 12:00:00 +0200\r\n"));
    assert!(t.contains(
        "In-Reply-To: <0195f1c2-7a3e-7cc0-9a51-3c1f0e2b9d41@mecs-tilleuls.mssante.test>\r\n"
    ));
    insta::assert_snapshot!("replacement", t);
}

#[test]
fn deterministic_and_retry_stable() {
    let s = mecs_sender();
    let c = ppe_cda();
    let a = build(&ppe(&s, c.as_bytes()));
    let b = build(&ppe(&s, c.as_bytes()));
    assert_eq!(a.bytes, b.bytes);
    let mut other = ppe(&s, c.as_bytes());
    other.message_uuid = uuid("0195f1c2-7a3e-7cc0-9a51-3c1f0e2b9d40");
    let o = build(&other);
    assert_ne!(a.bytes, o.bytes, "boundaries follow the Message-ID");
}

#[test]
fn round_trip_through_the_parser() {
    let s = mecs_sender();
    let c = ppe_cda();
    let mut m = ppe(&s, c.as_bytes());
    m.label = "Évaluation été très « urgente »".to_owned();
    let b = build(&m);
    check_wire_form(&b);
    let parsed = inbound::parse(&b.bytes, &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed.headers.subject.as_deref(), Some(b.subject.as_str()));
    assert_eq!(
        parsed.headers.message_id.as_deref(),
        Some(b.message_id.as_str())
    );
    assert_eq!(
        parsed.headers.from.as_deref(),
        Some("passerelle@mecs-tilleuls.mssante.test")
    );
    let InboundKind::Document(d) = parsed.kind else {
        panic!("expected a document mail")
    };
    assert_eq!(d.xdm.map(|x| x.data), Some(ZIP.to_vec()));
    assert_eq!(d.other_attachments.len(), 1);
    assert_eq!(d.other_attachments[0].data, PDF);
    assert_eq!(d.other_attachments[0].content_type, "application/pdf");
    assert!(
        d.text
            .is_some_and(|t| t.contains("Ce message vous est adressé par MECS Les Tilleuls"))
    );
}

#[test]
fn no_document_no_x_mss_cda_headers() {
    let s = mecs_sender();
    let mut m = ppe(&s, b"");
    m.xdm = None;
    m.pdfs.clear();
    let b = build(&m);
    let t = text(&b);
    assert!(t.contains("X-MSS-NIL: DEV935997\r\n"));
    assert!(!t.contains("X-MSS-CODECDA"));
    assert!(!t.contains("X-MSS-INS"));
    assert!(!t.contains("XDM/1.0/DDM"));
    assert_eq!(b.x_mss, None);
}

#[test]
fn size_limits() {
    let s = mecs_sender();
    let c = ppe_cda();
    let mut m = ppe(&s, c.as_bytes());
    m.max_message_bytes = 1_000;
    match outgoing::build(&m) {
        Err(e @ Error::MessageTooLarge { limit: 1_000, .. }) => {
            assert_eq!(e.reason(), "message_too_large")
        }
        other => panic!("expected message_too_large, got {other:?}"),
    }
    // Patient domain: 25 000 000 caps a larger operator limit.
    let big = vec![b'%'; 19_000_000];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.extend_from_slice(&big);
    let mut p = ppe(&s, c.as_bytes());
    p.to = addr("212069306600157@patient.mssante.fr");
    p.pdfs[0].data = &pdf;
    p.max_message_bytes = 100_000_000;
    assert!(matches!(
        outgoing::build(&p),
        Err(Error::MessageTooLarge {
            limit: 25_000_000,
            ..
        })
    ));
    p.to = addr("crip@cd93.mssante.test");
    let ok = outgoing::build(&p).unwrap_or_else(|e| panic!("{e}"));
    assert!(ok.bytes.len() > 25_000_000);
}

#[test]
fn input_errors_name_the_field() {
    let s = mecs_sender();
    let c = ppe_cda();
    let mut m = ppe(&s, c.as_bytes());
    m.pdfs.clear();
    assert_eq!(
        outgoing::build(&m).err().map(|e| e.to_string()),
        Some("pdfs: one readable PDF per CDA is required".to_owned())
    );
    let mut m = ppe(&s, c.as_bytes());
    m.pdfs[0].data = b"not a pdf";
    assert!(matches!(
        outgoing::build(&m),
        Err(Error::InvalidField {
            field: "pdfs.data",
            ..
        })
    ));
    let prod_test_ins = {
        let mut m = ppe(&s, c.as_bytes());
        m.environment = Environment::Production;
        outgoing::build(&m)
    };
    assert!(matches!(prod_test_ins, Err(Error::Cda { index: 0, .. })));
    let mut m = ppe(&s, c.as_bytes());
    m.replaces = vec!["not-an-id".into()];
    assert!(matches!(
        outgoing::build(&m),
        Err(Error::InvalidField {
            field: "replaces",
            ..
        })
    ));
}

#[test]
fn golden_outgoing_mdn_error_902() {
    let from = mecs_sender().from;
    let original = fixture("document_inline_no_disposition.eml");
    let original = crlf(&original);
    let m = mdn_out::MdnMessage {
        message_uuid: uuid("0195f1c2-be72-7cc0-9a51-3c1f0e2b9d45"),
        date: datetime!(2026-03-01 09:20:00 UTC),
        from: &from,
        to: addr("sophie.leroy@mecs-tilleuls.mssante.test"),
        reporting_ua: "passerelle.mecs-tilleuls.mssante.test; Passerelle 0.1.0".to_owned(),
        nil: "DEV-PASSERELLE",
        final_recipient: addr("passerelle@mecs-tilleuls.mssante.test"),
        original_recipient: Some("rfc822;dui-app@cd93.mssante.test".to_owned()),
        original_message_id: "<doc-1@mecs-tilleuls.mssante.test>".to_owned(),
        original_subject: "XDM/1.0/DDM+Bilan LEFEBVRE Inès".to_owned(),
        error: passerelle_mssante::ans::AnsError::parse("902^Identifiant patient inconnu"),
        original_raw: &original,
        attachments: vec![mdn_out::ReturnedAttachment {
            name: "IHE_XDM.zip".to_owned(),
            content_type: "application/zip".to_owned(),
            data: ZIP,
        }],
    };
    let bytes = mdn_out::build(&m).unwrap_or_else(|e| panic!("{e}"));
    // Our own parser reads it back as an ANS-form MDN with error 902.
    let parsed = inbound::parse(&bytes, &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
    let InboundKind::Mdn(mdn) = &parsed.kind else {
        panic!("expected an MDN, got {}", parsed.kind.name())
    };
    let n = &mdn.notification;
    assert_eq!(
        n.original_message_id.as_deref(),
        Some("doc-1@mecs-tilleuls.mssante.test")
    );
    assert_eq!(n.disposition.ans_error.as_ref().map(|e| e.code), Some(902));
    assert_eq!(
        parsed.headers.subject.as_deref(),
        Some("[KO Intégration système !][902] XDM/1.0/DDM+Bilan LEFEBVRE Inès")
    );
    assert_eq!(
        parsed.headers.auto_submitted.as_deref(),
        Some("auto-replied")
    );
    let text = String::from_utf8(bytes).unwrap_or_else(|e| panic!("{e}"));
    insta::assert_snapshot!("mdn_error_902", text);
}
