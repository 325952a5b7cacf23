//! Incoming mail classification and parsing (mssante.md §6.3, pure): DSN, MDN, ANS error mail,
//! document mail (XDM), non-standard non-delivery notice, plain. Malformed input yields a typed
//! error for quarantine; sizes and MIME depth are bounded.

use mail_parser::{HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType};
use time::OffsetDateTime;

use crate::Error;
use crate::ans::{self, AnsError, ErrorSubject};
use crate::outgoing::normalize_message_id;
use crate::report::{self, DeliveryStatus, DispositionNotification};

/// Bounds applied before and during parsing.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: u64,
    /// Multipart / nested-message depth.
    pub max_mime_depth: usize,
    /// Total MIME parts, nested messages included.
    pub max_parts: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // Larger messages are quarantined unread by the IMAP side (§6.1).
            max_bytes: 50 * 1024 * 1024,
            max_mime_depth: 12,
            max_parts: 1_000,
        }
    }
}

/// The headers every class needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    /// Without angle brackets.
    pub message_id: Option<String>,
    pub from: Option<String>,
    pub to: Vec<String>,
    pub subject: Option<String>,
    pub date: Option<OffsetDateTime>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub return_path: Option<String>,
    pub disposition_notification_to: Option<String>,
    /// `Original-Recipient` header (RFC 8098 §2.3), copied into our MDNs.
    pub original_recipient: Option<String>,
    pub auto_submitted: Option<String>,
}

/// A leaf MIME part, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub name: Option<String>,
    /// Lower-case `type/subtype`.
    pub content_type: String,
    pub data: Vec<u8>,
}

/// A delivery status notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsn {
    pub status: DeliveryStatus,
    pub human_text: Option<String>,
    /// Message-ID of the returned message or headers (correlation fallback).
    pub returned_message_id: Option<String>,
}

/// A message disposition notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mdn {
    pub notification: DispositionNotification,
    pub human_text: Option<String>,
    /// Message-ID of the returned original, if any.
    pub returned_message_id: Option<String>,
}

/// An ANS error mail without MDN structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnsErrorMail {
    pub subject_kind: ErrorSubject,
    /// From the subject `[90x]`, else the first `90x^label` / `90x` line of the text.
    pub error: Option<AnsError>,
    /// In-Reply-To, References, returned message, and `<id@domain>` tokens of the text.
    pub referenced_message_ids: Vec<String>,
    pub text: Option<String>,
}

/// A mail carrying (or announcing) an XDM archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentMail {
    /// The `IHE_XDM.zip` part; `None` when only the subject announced one (→ 906 upstream).
    pub xdm: Option<Attachment>,
    /// True when the archive came from a forwarded (message/rfc822) message.
    pub forwarded: bool,
    pub other_attachments: Vec<Attachment>,
    pub text: Option<String>,
}

/// A bounce that is not an RFC 3464 report (e.g. Mon espace santé "Message non distribué").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonDeliveryNotice {
    pub referenced_message_ids: Vec<String>,
    pub text: Option<String>,
}

/// Anything else: stored and shown to the tenant's humans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainMail {
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
}

/// The class of an incoming message with its parsed content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundKind {
    Dsn(Dsn),
    Mdn(Box<Mdn>),
    AnsError(AnsErrorMail),
    Document(DocumentMail),
    NonDelivery(NonDeliveryNotice),
    Plain(PlainMail),
}

impl InboundKind {
    pub fn name(&self) -> &'static str {
        match self {
            InboundKind::Dsn(_) => "dsn",
            InboundKind::Mdn(_) => "mdn",
            InboundKind::AnsError(_) => "ans_error",
            InboundKind::Document(_) => "document",
            InboundKind::NonDelivery(_) => "non_delivery",
            InboundKind::Plain(_) => "plain",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMail {
    pub headers: Headers,
    pub kind: InboundKind,
}

const MAX_SCANNED_IDS: usize = 64;

/// Classifies and parses `raw`.
pub fn parse(raw: &[u8], limits: &Limits) -> Result<InboundMail, Error> {
    let size = raw.len() as u64;
    if size > limits.max_bytes {
        return Err(Error::InboundTooLarge {
            size,
            limit: limits.max_bytes,
        });
    }
    let msg = MessageParser::default().parse(raw).ok_or(Error::Mime {
        reason: "no header section",
    })?;
    if msg.headers().is_empty() {
        return Err(Error::Mime {
            reason: "no header section",
        });
    }
    let mut parts = 0usize;
    check_shape(&msg, 0, limits, &mut parts)?;
    let headers = headers(&msg);
    let kind = classify(&msg, &headers)?;
    Ok(InboundMail { headers, kind })
}

/// Depth and part-count bounds, over multiparts and nested messages.
fn check_shape(
    msg: &Message<'_>,
    base: usize,
    limits: &Limits,
    count: &mut usize,
) -> Result<(), Error> {
    let mut stack: Vec<(u32, usize)> = vec![(0, base)];
    let mut visited = 0usize;
    while let Some((id, depth)) = stack.pop() {
        visited += 1;
        *count += 1;
        if *count > limits.max_parts || visited > msg.parts.len() {
            return Err(Error::Mime {
                reason: "too many MIME parts",
            });
        }
        if depth > limits.max_mime_depth {
            return Err(Error::Mime {
                reason: "MIME structure too deep",
            });
        }
        let Some(part) = msg.part(id) else {
            return Err(Error::Mime {
                reason: "dangling MIME part",
            });
        };
        match &part.body {
            PartType::Multipart(children) => {
                for c in children {
                    if *c <= id {
                        return Err(Error::Mime {
                            reason: "MIME part loop",
                        });
                    }
                    stack.push((*c, depth + 1));
                }
            }
            PartType::Message(inner) => check_shape(inner, depth + 1, limits, count)?,
            _ => {}
        }
    }
    Ok(())
}

fn ids_of(hv: &HeaderValue<'_>) -> Vec<String> {
    match hv {
        HeaderValue::Text(t) => vec![normalize_message_id(t)],
        HeaderValue::TextList(l) => l.iter().map(|t| normalize_message_id(t)).collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect()
}

fn address_of(hv: Option<&HeaderValue<'_>>) -> Option<String> {
    match hv? {
        HeaderValue::Address(a) => a.first().and_then(|a| a.address()).map(str::to_owned),
        HeaderValue::Text(t) => {
            let t = t.trim();
            let inner = match (t.find('<'), t.rfind('>')) {
                (Some(s), Some(e)) if s < e => &t[s + 1..e],
                _ => t,
            };
            let inner = inner.trim();
            (!inner.is_empty()).then(|| inner.to_owned())
        }
        _ => None,
    }
}

fn text_header(msg: &Message<'_>, name: &str) -> Option<String> {
    msg.header(name)
        .and_then(|h| h.as_text())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn headers(msg: &Message<'_>) -> Headers {
    Headers {
        message_id: msg.message_id().map(normalize_message_id),
        from: msg
            .from()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(str::to_owned),
        to: msg
            .to()
            .map(|a| {
                a.iter()
                    .filter_map(|a| a.address())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        subject: msg.subject().map(|s| s.trim().to_owned()),
        date: msg
            .date()
            .filter(|d| d.is_valid())
            .and_then(|d| OffsetDateTime::from_unix_timestamp(d.to_timestamp()).ok()),
        in_reply_to: ids_of(msg.in_reply_to()),
        references: ids_of(msg.references()),
        return_path: address_of(Some(msg.return_path())),
        disposition_notification_to: address_of(msg.header("Disposition-Notification-To")),
        original_recipient: text_header(msg, "Original-Recipient"),
        auto_submitted: text_header(msg, "Auto-Submitted"),
    }
}

fn is_type(part: &MessagePart<'_>, t: &str, s: &str) -> bool {
    part.is_content_type(t, s)
}

fn content_type_of(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => format!(
            "{}/{}",
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or("").to_ascii_lowercase()
        ),
        None => "text/plain".to_owned(),
    }
}

/// Leaf parts of `msg` (not descending into nested messages), in order.
fn leaves<'a, 'x>(msg: &'a Message<'x>) -> Vec<&'a MessagePart<'x>> {
    let mut out = Vec::new();
    let mut stack = vec![0u32];
    while let Some(id) = stack.pop() {
        let Some(part) = msg.part(id) else { continue };
        match &part.body {
            PartType::Multipart(children) => {
                // Reverse so that parts come out in document order.
                stack.extend(children.iter().rev().filter(|c| **c > id));
            }
            _ => out.push(part),
        }
    }
    out
}

fn first_text(msg: &Message<'_>) -> Option<String> {
    leaves(msg)
        .into_iter()
        .find(|p| {
            matches!(p.body, PartType::Text(_))
                && content_type_of(p) == "text/plain"
                && !p.content_disposition().is_some_and(|d| d.is_attachment())
        })
        .and_then(|p| p.text_contents().map(str::to_owned))
}

fn attachment_of(part: &MessagePart<'_>) -> Result<Attachment, Error> {
    if part.is_encoding_problem {
        return Err(Error::Mime {
            reason: "attachment transfer encoding is broken",
        });
    }
    Ok(Attachment {
        name: part.attachment_name().map(str::to_owned),
        content_type: content_type_of(part),
        data: part.contents().to_vec(),
    })
}

fn is_xdm_name(name: Option<&str>) -> bool {
    name.is_some_and(|n| {
        n.trim()
            .eq_ignore_ascii_case(crate::outgoing::XDM_FILE_NAME)
    })
}

/// `<local@domain>` tokens of `text`, deduplicated, bounded.
fn scan_ids(text: &str, out: &mut Vec<String>) {
    let mut rest = text;
    while out.len() < MAX_SCANNED_IDS {
        let Some(s) = rest.find('<') else { break };
        let after = &rest[s + 1..];
        let Some(e) = after.find('>') else { break };
        let cand = &after[..e];
        if e <= 250
            && cand.contains('@')
            && !cand.contains(char::is_whitespace)
            && cand
                .split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
        {
            let id = cand.to_owned();
            if !out.contains(&id) {
                out.push(id);
            }
        }
        rest = &after[e + 1..];
    }
}

/// Message-ID of an embedded message (`message/rfc822`) or header block (`text/rfc822-headers`).
fn returned_message_id(msg: &Message<'_>) -> Option<String> {
    for p in leaves(msg) {
        if let PartType::Message(inner) = &p.body
            && let Some(id) = inner.message_id()
        {
            return Some(normalize_message_id(id));
        }
        if is_type(p, "text", "rfc822-headers") || is_type(p, "message", "rfc822-headers") {
            let bytes = p.contents();
            if let Some(h) = MessageParser::default().parse_headers(bytes)
                && let Some(id) = h.message_id()
            {
                return Some(normalize_message_id(id));
            }
        }
    }
    None
}

fn referenced_ids(msg: &Message<'_>, h: &Headers, text: Option<&str>) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for id in h.in_reply_to.iter().chain(&h.references) {
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    if let Some(id) = returned_message_id(msg)
        && !ids.contains(&id)
    {
        ids.push(id);
    }
    for p in leaves(msg) {
        match &p.body {
            PartType::Text(t) => scan_ids(t, &mut ids),
            PartType::Message(inner) => {
                scan_ids(&String::from_utf8_lossy(inner.raw_message()), &mut ids)
            }
            _ => {}
        }
    }
    if let Some(t) = text {
        scan_ids(t, &mut ids);
    }
    // Never point at the notice itself.
    ids.retain(|i| Some(i) != h.message_id.as_ref());
    ids
}

fn report_type(msg: &Message<'_>) -> Option<String> {
    let ct = msg.root_part().content_type()?;
    if !ct.ctype().eq_ignore_ascii_case("multipart")
        || !ct
            .subtype()
            .is_some_and(|s| s.eq_ignore_ascii_case("report"))
    {
        return None;
    }
    Some(
        ct.attribute("report-type")
            .unwrap_or("")
            .to_ascii_lowercase(),
    )
}

fn find_leaf<'a, 'x>(msg: &'a Message<'x>, subtypes: &[&str]) -> Option<&'a MessagePart<'x>> {
    leaves(msg).into_iter().find(|p| {
        p.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("message")
                && ct
                    .subtype()
                    .is_some_and(|s| subtypes.iter().any(|x| s.eq_ignore_ascii_case(x)))
        })
    })
}

const DSN_TYPES: [&str; 2] = ["delivery-status", "global-delivery-status"];
const MDN_TYPES: [&str; 2] = [
    "disposition-notification",
    "global-disposition-notification",
];

fn non_delivery_subject(subject: &str, from: Option<&str>) -> bool {
    let s = crate::text::loose(subject);
    let by_subject = [
        "message non distribue",
        "non distribue",
        "non remis",
        "undelivered",
        "undeliverable",
        "delivery status notification (failure)",
        "returned mail",
        "mail delivery failed",
        "delivery failure",
    ]
    .iter()
    .any(|k| s.contains(k));
    let by_sender = from.is_some_and(|f| {
        let l = f.to_ascii_lowercase();
        l.starts_with("mailer-daemon@") || l.starts_with("postmaster@")
    });
    by_subject || by_sender
}

fn classify(msg: &Message<'_>, h: &Headers) -> Result<InboundKind, Error> {
    // 1. Reports: by report-type, or by the machine-readable part when report-type is missing.
    let rt = report_type(msg);
    let dsn_part = find_leaf(msg, &DSN_TYPES);
    let mdn_part = find_leaf(msg, &MDN_TYPES);
    let is_dsn = match rt.as_deref() {
        Some(t) if DSN_TYPES.contains(&t) => true,
        Some(_) => mdn_part.is_none() && dsn_part.is_some(),
        None => false,
    };
    let is_mdn = !is_dsn
        && match rt.as_deref() {
            Some(t) if MDN_TYPES.contains(&t) => true,
            Some(_) => mdn_part.is_some(),
            None => false,
        };
    if is_dsn {
        let part = dsn_part.ok_or(Error::MalformedReport {
            part: "multipart/report",
            reason: "no message/delivery-status part",
        })?;
        let status = report::parse_delivery_status(part.contents())?;
        return Ok(InboundKind::Dsn(Dsn {
            status,
            human_text: first_text(msg),
            returned_message_id: returned_message_id(msg),
        }));
    }
    if is_mdn {
        let part = mdn_part.ok_or(Error::MalformedReport {
            part: "multipart/report",
            reason: "no message/disposition-notification part",
        })?;
        let notification = report::parse_disposition_notification(part.contents())?;
        return Ok(InboundKind::Mdn(Box::new(Mdn {
            notification,
            human_text: first_text(msg),
            returned_message_id: returned_message_id(msg),
        })));
    }

    let subject = h.subject.clone().unwrap_or_default();
    let text = first_text(msg);

    // 2. ANS error mail.
    if let Some((kind, code)) = ans::error_subject(&subject) {
        let error = match code {
            Some(c) => Some(AnsError {
                code: c,
                label: body_label(text.as_deref(), c)
                    .unwrap_or_else(|| ans::default_label(c).to_owned()),
            }),
            None => text.as_deref().and_then(body_error),
        };
        return Ok(InboundKind::AnsError(AnsErrorMail {
            subject_kind: kind,
            error,
            referenced_message_ids: referenced_ids(msg, h, text.as_deref()),
            text,
        }));
    }

    // 3. Non-standard bounce (checked before documents: such bounces may return the original).
    if non_delivery_subject(&subject, h.from.as_deref()) {
        return Ok(InboundKind::NonDelivery(NonDeliveryNotice {
            referenced_message_ids: referenced_ids(msg, h, text.as_deref()),
            text,
        }));
    }

    // 4. Document mail: IHE_XDM.zip in any case and disposition, or the subject marker.
    let mut xdm = None;
    let mut others = Vec::new();
    for p in leaves(msg) {
        if matches!(p.body, PartType::Message(_)) {
            continue;
        }
        let is_body_text = matches!(p.body, PartType::Text(_))
            && p.attachment_name().is_none()
            && !p.content_disposition().is_some_and(|d| d.is_attachment());
        if is_xdm_name(p.attachment_name()) {
            if xdm.is_some() {
                return Err(Error::Mime {
                    reason: "several IHE_XDM.zip attachments",
                });
            }
            xdm = Some(attachment_of(p)?);
        } else if !is_body_text {
            others.push(attachment_of(p)?);
        }
    }
    let mut forwarded = false;
    if xdm.is_none() {
        // ORG→APP forwarding may wrap the original as message/rfc822.
        if let Some((a, mut inner_others)) = forwarded_xdm(msg)? {
            xdm = Some(a);
            others.append(&mut inner_others);
            forwarded = true;
        }
    }
    let marker = subject.to_ascii_uppercase().contains("XDM/1.0/DDM");
    if xdm.is_some() || marker {
        return Ok(InboundKind::Document(DocumentMail {
            xdm,
            forwarded,
            other_attachments: others,
            text,
        }));
    }
    Ok(InboundKind::Plain(PlainMail {
        text,
        attachments: others,
    }))
}

fn forwarded_xdm(msg: &Message<'_>) -> Result<Option<(Attachment, Vec<Attachment>)>, Error> {
    for p in leaves(msg) {
        let PartType::Message(inner) = &p.body else {
            continue;
        };
        let mut found = None;
        let mut others = Vec::new();
        for q in leaves(inner) {
            if matches!(q.body, PartType::Message(_)) {
                continue;
            }
            if is_xdm_name(q.attachment_name()) {
                if found.is_some() {
                    return Err(Error::Mime {
                        reason: "several IHE_XDM.zip attachments",
                    });
                }
                found = Some(attachment_of(q)?);
            } else if q.attachment_name().is_some() {
                others.push(attachment_of(q)?);
            }
        }
        if let Some(a) = found {
            return Ok(Some((a, others)));
        }
    }
    Ok(None)
}

/// The label after `90x^` or `90x` in the error mail's text, for a code known from the subject.
fn body_label(text: Option<&str>, code: u16) -> Option<String> {
    let text = text?;
    let needle = code.to_string();
    for line in text.lines() {
        if let Some(pos) = line.find(&needle)
            && let Some(e) = AnsError::parse(&line[pos..])
            && e.code == code
            && e.label != ans::default_label(code)
        {
            return Some(e.label);
        }
    }
    None
}

/// First `90x` error in the text of an `[Erreur d’intégration !]` mail without a subject code.
fn body_error(text: &str) -> Option<AnsError> {
    for line in text.lines() {
        let bytes = line.as_bytes();
        for i in 0..bytes.len() {
            if bytes[i] == b'9'
                && (i == 0 || !bytes[i - 1].is_ascii_digit())
                && line.is_char_boundary(i)
                && let Some(e) = AnsError::parse(&line[i..])
                && e.is_integration_error()
            {
                return Some(e);
            }
        }
    }
    None
}
