//! Parser tests on RFC samples and real-world shapes, plus correlation of what they yield.

use passerelle_mssante::Error;
use passerelle_mssante::ans::ErrorSubject;
use passerelle_mssante::correlation::{self, DeliveryRef, Event, Key, State, Timeouts, Tracking};
use passerelle_mssante::inbound::{self, InboundKind, InboundMail, Limits};
use passerelle_mssante::reply::EnhancedCode;
use passerelle_mssante::report::{ActionMode, DispositionType, DsnAction, SendingMode};
use time::macros::datetime;

use crate::common::*;

fn parse(name: &str) -> InboundMail {
    let raw = fixture(name);
    let a = inbound::parse(&raw, &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
    // The wire form (CRLF) must parse to the same result.
    let b = inbound::parse(&crlf(&raw), &Limits::default())
        .unwrap_or_else(|e| panic!("{name} (CRLF): {e}"));
    assert_eq!(a.kind.name(), b.kind.name(), "{name}");
    a
}

fn code(s: &str) -> Option<EnhancedCode> {
    EnhancedCode::parse(s)
}

#[test]
fn rfc3464_simple_failed() {
    let m = parse("rfc3464_10_1_simple_failed.eml");
    let InboundKind::Dsn(d) = m.kind else {
        panic!("dsn")
    };
    assert_eq!(
        d.status.message.reporting_mta.as_deref(),
        Some("dns; cs.utk.edu")
    );
    assert_eq!(d.status.recipients.len(), 1);
    let r = &d.status.recipients[0];
    assert_eq!(r.action, DsnAction::Failed);
    assert_eq!(r.status, code("4.0.0"));
    assert_eq!(
        r.original_recipient.as_ref().map(|a| a.address.as_str()),
        Some("louisl@larry.slip.umd.edu")
    );
    assert_eq!(
        r.diagnostic_code.as_deref(),
        Some("smtp; 426 connection timed out")
    );
    assert!(
        d.human_text
            .is_some_and(|t| t.contains("unrecoverable error"))
    );
}

#[test]
fn rfc3464_multi_recipient() {
    let m = parse("rfc3464_10_2_multi_recipient.eml");
    let InboundKind::Dsn(d) = m.kind else {
        panic!("dsn")
    };
    let actions: Vec<_> = d
        .status
        .recipients
        .iter()
        .map(|r| r.action.clone())
        .collect();
    assert_eq!(
        actions,
        vec![DsnAction::Failed, DsnAction::Delayed, DsnAction::Failed]
    );
    // Comments after the status code are dropped; folded diagnostics are unfolded.
    assert_eq!(d.status.recipients[0].status, code("5.0.0"));
    assert_eq!(
        d.status.recipients[0].diagnostic_code.as_deref(),
        Some("smtp; 550 'arathib@vnet.IBM.COM' is not a registered gateway user")
    );
    assert_eq!(d.status.recipients[1].status, code("4.0.0"));
    assert_eq!(
        d.status.recipients[2].remote_mta.as_deref(),
        Some("dns; sdcc13.ucsd.edu")
    );
}

#[test]
fn rfc3464_delayed() {
    let m = parse("rfc3464_10_3_delayed.eml");
    let InboundKind::Dsn(d) = m.kind else {
        panic!("dsn")
    };
    assert_eq!(d.status.recipients[0].action, DsnAction::Delayed);
    assert_eq!(d.status.recipients[0].status_raw, "4.0.0");
    assert!(d.status.recipients[0].original_recipient.is_none());
    // Final-Recipient is the fallback correlation recipient.
    let c = correlation::from_dsn(&d);
    assert!(
        c[0].keys.is_empty(),
        "no ENVID and no returned message: unmatched queue"
    );
}

#[test]
fn rfc8098_example() {
    let m = parse("rfc8098_example.eml");
    let InboundKind::Mdn(mdn) = m.kind else {
        panic!("mdn")
    };
    let n = &mdn.notification;
    assert_eq!(
        n.reporting_ua.as_deref(),
        Some("joes-pc.cs.example.com; Foomail 97.1")
    );
    assert_eq!(
        n.original_message_id.as_deref(),
        Some("199509192301.23456@huge.example.com")
    );
    assert_eq!(n.disposition.action_mode, ActionMode::Manual);
    assert_eq!(n.disposition.sending_mode, SendingMode::Manually);
    assert_eq!(n.disposition.disposition_type, DispositionType::Displayed);
    assert!(n.disposition.modifiers.is_empty());
    assert!(!n.disposition.is_error());
    let c = correlation::from_mdn(&mdn);
    let d = DeliveryRef {
        delivery_id: "x",
        message_id: "<199509192301.23456@huge.example.com>",
        recipient: "joe_recipient@mega.example.com",
    };
    assert!(c.keys.iter().any(|k| k.matches(&d)));
    let other = DeliveryRef {
        recipient: "someone@else.example",
        ..d
    };
    assert!(!c.keys.iter().any(|k| k.matches(&other)));
}

#[test]
fn postfix_delivered_correlates_by_envid_and_recipient() {
    let m = parse("postfix_delivered.eml");
    assert_eq!(m.headers.auto_submitted.as_deref(), Some("auto-replied"));
    let InboundKind::Dsn(d) = m.kind else {
        panic!("dsn")
    };
    assert_eq!(
        d.status.message.original_envelope_id.as_deref(),
        Some("dlv_0195f1c27a3e")
    );
    assert_eq!(d.status.recipients[0].action, DsnAction::Delivered);
    assert_eq!(
        d.returned_message_id.as_deref(),
        Some("0195f1c2-7a3e-7cc0-9a51-3c1f0e2b9d41@mecs-tilleuls.mssante.test")
    );
    let c = correlation::from_dsn(&d);
    assert_eq!(c.len(), 1);
    let ours = DeliveryRef {
        delivery_id: "dlv_0195f1c27a3e",
        message_id: "0195f1c2-7a3e-7cc0-9a51-3c1f0e2b9d41@mecs-tilleuls.mssante.test",
        recipient: "CRIP@cd93.mssante.test",
    };
    assert!(matches!(c[0].keys[0], Key::Envelope { .. }));
    assert!(c[0].keys[0].matches(&ours));
    let wrong_delivery = DeliveryRef {
        delivery_id: "dlv_other",
        ..ours.clone()
    };
    assert!(!c[0].keys[0].matches(&wrong_delivery));
    // Fallback key: the returned Message-ID.
    assert!(c[0].keys[1].matches(&wrong_delivery));
    // Applied: sent → delivered.
    let to = Timeouts::default();
    let t = Tracking::after_send(datetime!(2026-03-01 09:15:00 UTC), true, false, &to);
    let o = correlation::apply(&t, &c[0].event, datetime!(2026-03-01 09:15:03 UTC), &to);
    assert_eq!(o.tracking.state, State::Delivered);
    assert!(o.tracking.is_final());
}

#[test]
fn postfix_relayed_is_weaker_delivery() {
    let m = parse("postfix_relayed.eml");
    let InboundKind::Dsn(d) = m.kind else {
        panic!("dsn")
    };
    assert_eq!(d.status.recipients[0].action, DsnAction::Relayed);
    let c = correlation::from_dsn(&d);
    let to = Timeouts::default();
    let t = Tracking::after_send(datetime!(2026-03-01 09:15:00 UTC), true, true, &to);
    let o = correlation::apply(&t, &c[0].event, datetime!(2026-03-01 09:15:02 UTC), &to);
    assert_eq!(o.tracking.state, State::Delivered);
    assert!(o.tracking.relayed_only);
    assert!(o.records[0].detail.contains("weaker"));
}

#[test]
fn postfix_failed_with_xtext_envid() {
    let m = parse("postfix_failed_patient.eml");
    let InboundKind::Dsn(d) = m.kind else {
        panic!("dsn")
    };
    let c = correlation::from_dsn(&d);
    let ours = DeliveryRef {
        delivery_id: "dlv_patient+01",
        message_id: "0195f1c3-0000-7000-8000-000000000001@mecs-tilleuls.mssante.test",
        recipient: "212069306600157@patient.mssante.fr",
    };
    assert!(
        c[0].keys[0].matches(&ours),
        "ENVID is compared xtext-decoded"
    );
    let Event::Dsn { status, .. } = &c[0].event else {
        panic!("dsn event")
    };
    assert_eq!(*status, code("5.2.1"));
    let to = Timeouts::default();
    let t = Tracking::after_send(datetime!(2026-03-02 10:00:00 UTC), true, false, &to);
    let o = correlation::apply(&t, &c[0].event, datetime!(2026-03-02 10:00:09 UTC), &to);
    assert_eq!(o.tracking.state, State::Failed);
    assert_eq!(o.tracking.reason.as_deref(), Some("recipient_rejected"));
}

#[test]
fn ans_mdn_error_902() {
    let m = parse("ans_mdn_error_902.eml");
    assert_eq!(
        m.headers.subject.as_deref(),
        Some(
            "[KO Intégration système !][902] XDM/1.0/DDM+Information préoccupante DUPONT Léa 14/06/2012"
        )
    );
    let InboundKind::Mdn(mdn) = m.kind else {
        panic!("mdn first, not error mail nor document")
    };
    let n = &mdn.notification;
    assert_eq!(n.disposition.action_mode, ActionMode::Automatic);
    assert_eq!(n.disposition.sending_mode, SendingMode::Automatically);
    assert_eq!(n.disposition.disposition_type, DispositionType::Processed);
    assert_eq!(n.disposition.modifiers, vec!["error".to_owned()]);
    let e = n
        .disposition
        .ans_error
        .as_ref()
        .map(|e| (e.code, e.label.as_str()));
    assert_eq!(e, Some((902, "Identifiant de patient inconnu")));
    // Final-Recipient differs from Original-Recipient (ORG → APP forwarding): still correlates.
    let c = correlation::from_mdn(&mdn);
    assert_eq!(
        c.final_recipient.as_deref(),
        Some("dui-app@cd93.mssante.test")
    );
    let ours = DeliveryRef {
        delivery_id: "dlv_0195f1c27a3e",
        message_id: "0195f1c2-7a3e-7cc0-9a51-3c1f0e2b9d41@mecs-tilleuls.mssante.test",
        recipient: "crip@cd93.mssante.test",
    };
    assert!(c.keys[0].matches(&ours));
    let to = Timeouts::default();
    let t = Tracking::after_send(datetime!(2026-03-01 09:15:00 UTC), true, true, &to);
    let o = correlation::apply(&t, &c.event, datetime!(2026-03-01 09:19:00 UTC), &to);
    assert_eq!(o.tracking.state, State::Rejected);
    assert_eq!(o.tracking.ans_code, Some(902));
}

#[test]
fn rfc_form_mdn_error_field() {
    let m = parse("rfc_form_mdn_error.eml");
    let InboundKind::Mdn(mdn) = m.kind else {
        panic!("mdn")
    };
    let d = &mdn.notification.disposition;
    assert_eq!(d.modifiers, vec!["error".to_owned()]);
    assert_eq!(d.ans_error.as_ref().map(|e| e.code), Some(904));
    assert_eq!(mdn.notification.errors.len(), 1);
}

#[test]
fn rfc2298_failed_is_not_error() {
    let m = parse("rfc2298_failed_denied.eml");
    let InboundKind::Mdn(mdn) = m.kind else {
        panic!("mdn")
    };
    let n = &mdn.notification;
    assert_eq!(n.disposition.disposition_type, DispositionType::Failed);
    assert!(!n.disposition.is_error());
    assert_eq!(
        n.failures,
        vec!["MDN request could not be honoured (quota)".to_owned()]
    );
    let c = correlation::from_mdn(&mdn);
    let to = Timeouts::default();
    let t = Tracking::after_send(datetime!(2026-03-01 09:15:00 UTC), true, true, &to);
    let o = correlation::apply(&t, &c.event, datetime!(2026-03-01 09:16:00 UTC), &to);
    assert_eq!(
        o.tracking.state,
        State::Sent,
        "failed MDN generation is no delivery failure"
    );
}

#[test]
fn mon_espace_sante_non_delivery() {
    let m = parse("mes_non_delivery.eml");
    assert_eq!(m.headers.subject.as_deref(), Some("Message non distribué"));
    let InboundKind::NonDelivery(n) = m.kind else {
        panic!("non-delivery")
    };
    assert_eq!(
        n.referenced_message_ids,
        vec!["0195f1c3-0000-7000-8000-000000000001@mecs-tilleuls.mssante.test".to_owned()]
    );
    let c = correlation::from_non_delivery(&n);
    assert_eq!(c.event, Event::NonDelivery);
}

#[test]
fn ans_error_mail_either_apostrophe() {
    let m = parse("ans_error_mail.eml");
    let InboundKind::AnsError(e) = m.kind else {
        panic!("ans error")
    };
    assert_eq!(e.subject_kind, ErrorSubject::Erreur);
    assert_eq!(
        e.error.as_ref().map(|e| (e.code, e.label.as_str())),
        Some((905, "INS incomplet"))
    );
    assert_eq!(
        e.referenced_message_ids.first().map(String::as_str),
        Some("0195f1c2-bbbb-7000-8000-000000000003@mecs-tilleuls.mssante.test")
    );
    // Typographic apostrophe variant.
    let raw = String::from_utf8(fixture("ans_error_mail.eml")).unwrap_or_default();
    let raw = raw.replace("[Erreur d'intégration !]", "[Erreur d’intégration !][903]");
    let m = inbound::parse(raw.as_bytes(), &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
    let InboundKind::AnsError(e) = m.kind else {
        panic!("ans error")
    };
    assert_eq!(e.error.map(|e| e.code), Some(903));
}

#[test]
fn document_inline_without_disposition() {
    let m = parse("document_inline_no_disposition.eml");
    assert_eq!(
        m.headers.disposition_notification_to.as_deref(),
        Some("sophie.leroy@mecs-tilleuls.mssante.test")
    );
    let InboundKind::Document(d) = m.kind else {
        panic!("document")
    };
    let x = d.xdm.unwrap_or_else(|| panic!("xdm"));
    assert_eq!(x.name.as_deref(), Some("ihe_xdm.ZIP"));
    assert_eq!(x.data, b"PK\x03\x04\x14\x00\x00\x00\x08\x00");
    assert!(!d.forwarded);
    // RFC 2231 file name decoded.
    assert_eq!(
        d.other_attachments[0].name.as_deref(),
        Some("20260301_Bilan_LEFEBVRE_Inès.pdf")
    );
    assert!(matches!(
        passerelle_mssante::mdn_out::mdn_decision(&m.headers),
        passerelle_mssante::mdn_out::MdnDecision::Send { .. }
    ));
}

#[test]
fn eight_bit_headers() {
    let m = parse("eight_bit_headers.eml");
    assert_eq!(
        m.headers.subject.as_deref(),
        Some("XDM/1.0/DDM+Compte rendu éducatif LEFEBVRE Inès")
    );
    assert_eq!(
        m.headers.from.as_deref(),
        Some("jose@cmp-enfants.mssante.test")
    );
    let InboundKind::Document(d) = m.kind else {
        panic!("document")
    };
    assert!(d.xdm.is_some());
    assert!(d.text.is_some_and(|t| t.contains("éducatif")));
}

#[test]
fn forwarded_document() {
    let m = parse("forwarded_document.eml");
    let InboundKind::Document(d) = m.kind else {
        panic!("document")
    };
    assert!(d.forwarded);
    assert!(d.xdm.is_some());
    assert_eq!(d.other_attachments.len(), 1);
}

#[test]
fn plain_mail() {
    let m = parse("plain.eml");
    let InboundKind::Plain(p) = m.kind else {
        panic!("plain")
    };
    assert!(p.text.is_some_and(|t| t.contains("rappeler")));
    assert_eq!(
        passerelle_mssante::mdn_out::mdn_decision(&m.headers),
        passerelle_mssante::mdn_out::MdnDecision::NotRequested
    );
}

#[test]
fn malformed_inputs_are_typed_errors() {
    let l = Limits::default();
    let r = inbound::parse(&fixture("dsn_without_status_part.eml"), &l);
    assert!(matches!(r, Err(Error::MalformedReport { .. })), "{r:?}");
    assert!(matches!(inbound::parse(b"", &l), Err(Error::Mime { .. })));
    let small = Limits {
        max_bytes: 100,
        ..l
    };
    assert!(matches!(
        inbound::parse(&fixture("plain.eml"), &small),
        Err(Error::InboundTooLarge { .. })
    ));
    // Deep nesting is refused.
    let mut deep = String::from(
        "From: a@b.fr\nSubject: x\nContent-Type: multipart/mixed; boundary=\"b0\"\n\n",
    );
    for i in 0..40 {
        deep.push_str(&format!(
            "--b{i}\nContent-Type: multipart/mixed; boundary=\"b{}\"\n\n",
            i + 1
        ));
    }
    deep.push_str("--b40\nContent-Type: text/plain\n\nhi\n");
    let r = inbound::parse(deep.as_bytes(), &l);
    assert!(
        matches!(
            r,
            Err(Error::Mime {
                reason: "MIME structure too deep"
            })
        ),
        "{r:?}"
    );
    // A report whose Disposition is missing.
    let bad_mdn = "From: a@b.fr\nContent-Type: multipart/report; report-type=disposition-notification; boundary=\"z\"\n\n--z\nContent-Type: message/disposition-notification\n\nFinal-Recipient: rfc822;a@b.fr\n\n--z--\n";
    assert!(matches!(
        inbound::parse(bad_mdn.as_bytes(), &l),
        Err(Error::MalformedReport { .. })
    ));
    // Two archives.
    let two = "From: a@b.fr\nSubject: x\nContent-Type: multipart/mixed; boundary=\"z\"\n\n--z\nContent-Type: application/zip; name=\"IHE_XDM.zip\"\n\nPK\n--z\nContent-Type: application/zip; name=\"ihe_xdm.zip\"\n\nPK\n--z--\n";
    assert!(matches!(
        inbound::parse(two.as_bytes(), &l),
        Err(Error::Mime { .. })
    ));
}

#[test]
fn every_fixture_classifies_as_expected() {
    let expected = [
        ("rfc3464_10_1_simple_failed.eml", Some("dsn")),
        ("rfc3464_10_2_multi_recipient.eml", Some("dsn")),
        ("rfc3464_10_3_delayed.eml", Some("dsn")),
        ("rfc8098_example.eml", Some("mdn")),
        ("postfix_delivered.eml", Some("dsn")),
        ("postfix_relayed.eml", Some("dsn")),
        ("postfix_failed_patient.eml", Some("dsn")),
        ("ans_mdn_error_902.eml", Some("mdn")),
        ("rfc_form_mdn_error.eml", Some("mdn")),
        ("rfc2298_failed_denied.eml", Some("mdn")),
        ("mes_non_delivery.eml", Some("non_delivery")),
        ("ans_error_mail.eml", Some("ans_error")),
        ("document_inline_no_disposition.eml", Some("document")),
        ("eight_bit_headers.eml", Some("document")),
        ("forwarded_document.eml", Some("document")),
        ("plain.eml", Some("plain")),
        ("dsn_without_status_part.eml", None),
    ];
    assert_eq!(expected.len(), FIXTURES.len());
    for (name, kind) in expected {
        let got = inbound::parse(&fixture(name), &Limits::default()).map(|m| m.kind.name());
        assert_eq!(got.ok(), kind, "{name}");
    }
}
