//! Outgoing MDN for a received document mail (mssante.md §5.2, IG-MDN `struct-msg-mdn.md`), in
//! the ANS form: `processed` or `processed/Error: 90x^label`, plus Reporting-UA, In-Reply-To,
//! References and Auto-Submitted; the original message and its attachments returned.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::address::{Address, Mailbox};
use crate::ans::{AnsError, KO_SUBJECT_PREFIX};
use crate::inbound::Headers;
use crate::mime::{self, CRLF, Context};
use crate::{Error, paris, text};

/// Whether an automatic MDN may be sent for a received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MdnDecision {
    /// No `Disposition-Notification-To`.
    NotRequested,
    /// Send it to this address.
    Send { to: Address },
    /// `Disposition-Notification-To` differs from `Return-Path` (or no Return-Path): RFC 8098
    /// wants a user's confirmation, so no automatic MDN; logged.
    NeedsConfirmation,
    /// The message is itself automatic or the address is unusable: never answer.
    Refused { reason: &'static str },
}

/// Decides from the received headers (the caller only asks for document mails, never for
/// reports: MDNs are never answered).
pub fn mdn_decision(h: &Headers) -> MdnDecision {
    let Some(dnt) = h.disposition_notification_to.as_deref() else {
        return MdnDecision::NotRequested;
    };
    if h.auto_submitted
        .as_deref()
        .is_some_and(|a| !a.trim().eq_ignore_ascii_case("no"))
    {
        return MdnDecision::Refused {
            reason: "auto_submitted",
        };
    }
    let Ok(to) = Address::parse("disposition_notification_to", dnt.trim()) else {
        return MdnDecision::Refused {
            reason: "invalid_disposition_notification_to",
        };
    };
    match h.return_path.as_deref() {
        Some(rp) if to.same_mailbox(rp) => MdnDecision::Send { to },
        _ => MdnDecision::NeedsConfirmation,
    }
}

/// An attachment of the original to return with the MDN.
#[derive(Debug, Clone)]
pub struct ReturnedAttachment<'a> {
    pub name: String,
    pub content_type: String,
    pub data: &'a [u8],
}

/// Everything an MDN needs.
#[derive(Debug, Clone)]
pub struct MdnMessage<'a> {
    pub message_uuid: Uuid,
    pub date: OffsetDateTime,
    /// Our APP mailbox (From).
    pub from: &'a Mailbox,
    /// From [`MdnDecision::Send`].
    pub to: Address,
    /// `Reporting-UA` value, e.g. `passerelle.cd93.mssante.test; Passerelle 0.1.0`.
    pub reporting_ua: String,
    /// Convergence product reference (`X-MSS-NIL`, on every message we send).
    pub nil: &'a str,
    /// The mailbox the original was delivered to (ours, possibly after ORG→APP forwarding).
    pub final_recipient: Address,
    /// The original's `Original-Recipient` header, if any (`rfc822;addr`).
    pub original_recipient: Option<String>,
    pub original_message_id: String,
    pub original_subject: String,
    /// `None` = processed; `Some` = processed with an ANS error.
    pub error: Option<AnsError>,
    /// The original message, returned as `message/rfc822`.
    pub original_raw: &'a [u8],
    /// The original `IHE_XDM.zip` and PDFs (the volet requires them after part 3).
    pub attachments: Vec<ReturnedAttachment<'a>>,
}

fn safe_name(name: &str) -> String {
    let f: String = text::ascii_fold(name)
        .chars()
        .filter(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\\'))
        .collect();
    if f.is_empty() {
        "attachment".to_owned()
    } else {
        f
    }
}

/// Builds the MDN bytes.
pub fn build(m: &MdnMessage<'_>) -> Result<Vec<u8>, Error> {
    let original_id = crate::outgoing::check_msg_id("original_message_id", &m.original_message_id)?;
    if m.reporting_ua.chars().any(char::is_control) || m.reporting_ua.trim().is_empty() {
        return Err(Error::InvalidField {
            field: "reporting_ua",
            reason: "empty or contains control characters",
        });
    }
    crate::outgoing::check_nil("nil", m.nil)?;
    let domain = m.from.address.domain();
    let b = format!("=_psl_mdn_{}", m.message_uuid.simple());
    let subject = match &m.error {
        Some(e) => format!(
            "{KO_SUBJECT_PREFIX}[{}] {}",
            e.code,
            m.original_subject.trim()
        ),
        None => m.original_subject.trim().to_owned(),
    };
    let mut out = String::new();
    mime::header_text(&mut out, "Date", &paris::rfc5322(m.date));
    mime::header(&mut out, "From", &m.from.header_tokens());
    mime::header(&mut out, "To", &[format!("<{}>", m.to)]);
    mime::header(
        &mut out,
        "Message-ID",
        &[format!("<{}@{domain}>", m.message_uuid.hyphenated())],
    );
    mime::header(&mut out, "In-Reply-To", &[format!("<{original_id}>")]);
    mime::header(&mut out, "References", &[format!("<{original_id}>")]);
    mime::header(
        &mut out,
        "Subject",
        &mime::encode_words(&subject, Context::Unstructured),
    );
    out.push_str(&format!("MIME-Version: 1.0{CRLF}"));
    out.push_str(&format!("Auto-Submitted: auto-replied{CRLF}"));
    mime::header_text(&mut out, "X-MSS-NIL", m.nil.trim());
    mime::header(
        &mut out,
        "Content-Type",
        &[
            "multipart/report;".to_owned(),
            "report-type=disposition-notification;".to_owned(),
            format!("boundary=\"{b}\""),
        ],
    );
    out.push_str(CRLF);

    // 1. Human-readable text.
    let human = match &m.error {
        Some(e) => format!(
            "Le message ci-dessous n’a pas pu être intégré automatiquement pour la raison suivante :\n{} {}\n",
            e.code, e.label
        ),
        None => "Le message ci-dessous a été intégré automatiquement.\n".to_owned(),
    };
    out.push_str(&format!("--{b}{CRLF}"));
    out.push_str(&format!("Content-Type: text/plain; charset=UTF-8{CRLF}"));
    out.push_str(&format!(
        "Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}"
    ));
    mime::quoted_printable(&mut out, &human);

    // 2. Machine-readable report (ASCII: the label is folded so the part stays 7-bit).
    out.push_str(&format!("--{b}{CRLF}"));
    out.push_str(&format!(
        "Content-Type: message/disposition-notification{CRLF}{CRLF}"
    ));
    out.push_str(&format!(
        "Reporting-UA: {}{CRLF}",
        text::ascii_fold(m.reporting_ua.trim())
    ));
    if let Some(or) = m
        .original_recipient
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let v = if or.contains(';') {
            or.to_owned()
        } else {
            format!("rfc822;{or}")
        };
        if v.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
            out.push_str(&format!("Original-Recipient: {v}{CRLF}"));
        }
    }
    out.push_str(&format!(
        "Final-Recipient: rfc822;{}{CRLF}",
        m.final_recipient
    ));
    out.push_str(&format!("Original-Message-ID: <{original_id}>{CRLF}"));
    let disposition = match &m.error {
        Some(e) => format!(
            "automatic-action/MDN-sent-automatically; processed/Error: {}^{}",
            e.code,
            text::ascii_fold(&e.label).replace(['\r', '\n'], " ")
        ),
        None => "automatic-action/MDN-sent-automatically; processed".to_owned(),
    };
    mime::header_text(&mut out, "Disposition", &disposition);

    // 3. The original message.
    out.push_str(&format!("--{b}{CRLF}"));
    out.push_str(&format!("Content-Type: message/rfc822{CRLF}"));
    let eight_bit = !m.original_raw.is_ascii();
    out.push_str(&format!(
        "Content-Transfer-Encoding: {}{CRLF}{CRLF}",
        if eight_bit { "8bit" } else { "7bit" }
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(m.original_raw);
    if !m.original_raw.ends_with(b"\r\n") {
        bytes.extend_from_slice(CRLF.as_bytes());
    }
    let mut out = String::new();

    // 4+. Returned attachments.
    for a in &m.attachments {
        let name = safe_name(&a.name);
        out.push_str(&format!("--{b}{CRLF}"));
        mime::header(
            &mut out,
            "Content-Type",
            &[
                format!("{};", a.content_type.trim()),
                format!("name=\"{name}\""),
            ],
        );
        out.push_str(&format!("Content-Transfer-Encoding: base64{CRLF}"));
        mime::header(
            &mut out,
            "Content-Disposition",
            &["attachment;".to_owned(), format!("filename=\"{name}\"")],
        );
        out.push_str(CRLF);
        mime::base64_lines(&mut out, a.data);
    }
    out.push_str(&format!("--{b}--{CRLF}"));
    bytes.extend_from_slice(out.as_bytes());
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(dnt: Option<&str>, rp: Option<&str>, auto: Option<&str>) -> Headers {
        Headers {
            disposition_notification_to: dnt.map(str::to_owned),
            return_path: rp.map(str::to_owned),
            auto_submitted: auto.map(str::to_owned),
            ..Headers::default()
        }
    }

    #[test]
    fn decisions() {
        assert_eq!(
            mdn_decision(&h(None, Some("a@b.fr"), None)),
            MdnDecision::NotRequested
        );
        assert!(matches!(
            mdn_decision(&h(Some("a@b.fr"), Some("A@B.fr"), None)),
            MdnDecision::Send { .. }
        ));
        assert_eq!(
            mdn_decision(&h(Some("a@b.fr"), Some("other@b.fr"), None)),
            MdnDecision::NeedsConfirmation
        );
        assert_eq!(
            mdn_decision(&h(Some("a@b.fr"), None, None)),
            MdnDecision::NeedsConfirmation
        );
        assert!(matches!(
            mdn_decision(&h(Some("a@b.fr"), Some("a@b.fr"), Some("auto-replied"))),
            MdnDecision::Refused { .. }
        ));
        assert!(matches!(
            mdn_decision(&h(Some("a@b.fr"), Some("a@b.fr"), Some("no"))),
            MdnDecision::Send { .. }
        ));
        assert!(matches!(
            mdn_decision(&h(Some("not an address"), Some("a@b.fr"), None)),
            MdnDecision::Refused { .. }
        ));
    }
}
