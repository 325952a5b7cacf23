//! Machine-readable report bodies: `message/delivery-status` (RFC 3464) and
//! `message/disposition-notification` (RFC 8098, RFC 2298 and the ANS placement of errors).
//! Lenient on form (8-bit text, LF line ends, comments, case), strict on the fields that
//! correlation relies on; bounded.

use time::OffsetDateTime;

use crate::Error;
use crate::ans::AnsError;
use crate::reply::EnhancedCode;

const MAX_FIELDS: usize = 2_000;
const MAX_BLOCKS: usize = 500;

/// `type;address` as in `Final-Recipient: rfc822;crip@cd93.mssante.test`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedAddress {
    /// Lower-cased address type (`rfc822`, `utf-8`, `x400`...).
    pub address_type: String,
    /// The address as written (RFC 3461 ORCPT values may still be xtext-encoded by some MTAs).
    pub address: String,
}

impl TypedAddress {
    fn parse(value: &str) -> Option<Self> {
        let (t, a) = value.split_once(';')?;
        let a = strip_angle(a.trim());
        if a.is_empty() {
            return None;
        }
        Some(TypedAddress {
            address_type: t.trim().to_ascii_lowercase(),
            address: a.to_owned(),
        })
    }

    /// Address compare ignoring ASCII case, accepting an xtext-encoded form.
    pub fn matches(&self, addr: &str) -> bool {
        let addr = addr.trim();
        self.address.eq_ignore_ascii_case(addr)
            || crate::mime::xtext_decode(&self.address).eq_ignore_ascii_case(addr)
    }
}

fn strip_angle(s: &str) -> &str {
    s.strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(s)
}

/// Splits a report body into blocks of `(lower-case name, unfolded value)` fields.
pub(crate) fn field_blocks(body: &[u8]) -> Result<Vec<Vec<(String, String)>>, Error> {
    let text = String::from_utf8_lossy(body);
    let mut blocks: Vec<Vec<(String, String)>> = Vec::new();
    let mut cur: Vec<(String, String)> = Vec::new();
    let mut fields = 0usize;
    for raw_line in text.split('\n') {
        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        if line.trim().is_empty() {
            if !cur.is_empty() {
                blocks.push(std::mem::take(&mut cur));
                if blocks.len() > MAX_BLOCKS {
                    return Err(Error::MalformedReport {
                        part: "report",
                        reason: "too many blocks",
                    });
                }
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            // Continuation of the previous field (unfolding).
            if let Some((_, v)) = cur.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            // Not a field: tolerated (some MTAs put prose here), ignored.
            continue;
        };
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            continue;
        }
        fields += 1;
        if fields > MAX_FIELDS {
            return Err(Error::MalformedReport {
                part: "report",
                reason: "too many fields",
            });
        }
        cur.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    if !cur.is_empty() {
        blocks.push(cur);
    }
    Ok(blocks)
}

fn get<'a>(block: &'a [(String, String)], name: &str) -> Option<&'a str> {
    block
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Removes RFC 5322 comments `( ... )` (nesting-aware) and trims.
pub(crate) fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.trim().to_owned()
}

/// RFC 5322 date-time (as in `Will-Retry-Until`, `Arrival-Date`).
pub fn parse_date(value: &str) -> Option<OffsetDateTime> {
    let d = mail_parser::DateTime::parse_rfc822(value.trim())?;
    if !d.is_valid() {
        return None;
    }
    OffsetDateTime::from_unix_timestamp(d.to_timestamp()).ok()
}

/// RFC 3464 `Action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DsnAction {
    Failed,
    Delayed,
    Delivered,
    Relayed,
    Expanded,
    Other(String),
}

impl DsnAction {
    fn parse(v: &str) -> Self {
        let v = strip_comments(v).to_ascii_lowercase();
        match v.as_str() {
            "failed" => DsnAction::Failed,
            "delayed" => DsnAction::Delayed,
            "delivered" => DsnAction::Delivered,
            "relayed" => DsnAction::Relayed,
            "expanded" => DsnAction::Expanded,
            _ => DsnAction::Other(v),
        }
    }
}

/// Per-message fields of a DSN.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DsnMessageFields {
    /// `Original-Envelope-Id` (= ENVID = our delivery id), as written.
    pub original_envelope_id: Option<String>,
    pub reporting_mta: Option<String>,
    pub arrival_date: Option<String>,
}

/// One per-recipient block of a DSN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsnRecipient {
    pub original_recipient: Option<TypedAddress>,
    pub final_recipient: Option<TypedAddress>,
    pub action: DsnAction,
    /// `Status` as an RFC 3463 code when well formed.
    pub status: Option<EnhancedCode>,
    /// `Status` as written.
    pub status_raw: String,
    pub remote_mta: Option<String>,
    pub diagnostic_code: Option<String>,
    pub last_attempt_date: Option<String>,
    pub will_retry_until: Option<OffsetDateTime>,
}

/// The machine-readable part of a DSN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryStatus {
    pub message: DsnMessageFields,
    pub recipients: Vec<DsnRecipient>,
}

/// Parses a `message/delivery-status` body. At least one recipient block with `Action` and
/// `Status` is required (RFC 3464 §2.3); blocks without `Action` are skipped.
pub fn parse_delivery_status(body: &[u8]) -> Result<DeliveryStatus, Error> {
    let blocks = field_blocks(body)?;
    let mut message = DsnMessageFields::default();
    let mut recipients = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let is_recipient = get(block, "action").is_some()
            || get(block, "final-recipient").is_some()
            || get(block, "original-recipient").is_some();
        if i == 0 || !is_recipient {
            if let Some(v) = get(block, "original-envelope-id") {
                message.original_envelope_id = Some(strip_comments(v));
            }
            if let Some(v) = get(block, "reporting-mta") {
                message.reporting_mta = Some(v.to_owned());
            }
            if let Some(v) = get(block, "arrival-date") {
                message.arrival_date = Some(v.to_owned());
            }
            if !is_recipient {
                continue;
            }
        }
        let Some(action) = get(block, "action") else {
            continue;
        };
        let status_raw = get(block, "status").map(strip_comments).unwrap_or_default();
        let status = status_raw
            .split_whitespace()
            .next()
            .and_then(EnhancedCode::parse);
        recipients.push(DsnRecipient {
            original_recipient: get(block, "original-recipient").and_then(TypedAddress::parse),
            final_recipient: get(block, "final-recipient").and_then(TypedAddress::parse),
            action: DsnAction::parse(action),
            status,
            status_raw,
            remote_mta: get(block, "remote-mta").map(str::to_owned),
            diagnostic_code: get(block, "diagnostic-code").map(str::to_owned),
            last_attempt_date: get(block, "last-attempt-date").map(str::to_owned),
            will_retry_until: get(block, "will-retry-until").and_then(parse_date),
        });
    }
    if recipients.is_empty() {
        return Err(Error::MalformedReport {
            part: "message/delivery-status",
            reason: "no per-recipient block with Action",
        });
    }
    Ok(DeliveryStatus {
        message,
        recipients,
    })
}

/// RFC 8098 action mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionMode {
    Manual,
    Automatic,
    Other(String),
}

/// RFC 8098 sending mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendingMode {
    Manually,
    Automatically,
    Other(String),
}

/// Disposition type: RFC 8098, plus RFC 2298's `denied` and `failed` (obsolete but still sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DispositionType {
    Displayed,
    Deleted,
    Dispatched,
    Processed,
    /// RFC 2298: the recipient does not wish to send an MDN.
    Denied,
    /// RFC 2298: an MDN could not be generated: not a delivery failure (Direct #265).
    Failed,
    Other(String),
}

impl DispositionType {
    pub fn as_str(&self) -> &str {
        match self {
            DispositionType::Displayed => "displayed",
            DispositionType::Deleted => "deleted",
            DispositionType::Dispatched => "dispatched",
            DispositionType::Processed => "processed",
            DispositionType::Denied => "denied",
            DispositionType::Failed => "failed",
            DispositionType::Other(s) => s,
        }
    }
}

/// A parsed `Disposition` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disposition {
    pub action_mode: ActionMode,
    pub sending_mode: SendingMode,
    pub disposition_type: DispositionType,
    /// Lower-cased modifiers (`error`, `warning`, `superseded`, ...); the ANS `Error: ...` form
    /// yields `error` here and its code in `ans_error`.
    pub modifiers: Vec<String>,
    /// ANS `processed/Error: 902^label` (or RFC 8098 `processed/error` + an `Error:` field with it).
    pub ans_error: Option<AnsError>,
}

impl Disposition {
    /// Parses the field value, e.g. `automatic-action/MDN-sent-automatically; processed/Error: 902^x`.
    pub fn parse(value: &str) -> Option<Disposition> {
        let (mode, rest) = value.split_once(';')?;
        let mode = strip_comments(mode);
        let (am, sm) = mode.split_once('/').unwrap_or((mode.as_str(), ""));
        let action_mode = match am.trim().to_ascii_lowercase().as_str() {
            "manual-action" => ActionMode::Manual,
            "automatic-action" => ActionMode::Automatic,
            other => ActionMode::Other(other.to_owned()),
        };
        let sending_mode = match sm.trim().to_ascii_lowercase().as_str() {
            "mdn-sent-manually" => SendingMode::Manually,
            "mdn-sent-automatically" => SendingMode::Automatically,
            other => SendingMode::Other(other.to_owned()),
        };
        let rest = rest.trim();
        let (ty, mods) = match rest.split_once('/') {
            Some((t, m)) => (t, Some(m)),
            None => (rest, None),
        };
        let ty = strip_comments(ty).to_ascii_lowercase();
        let disposition_type = match ty.as_str() {
            "displayed" => DispositionType::Displayed,
            "deleted" => DispositionType::Deleted,
            "dispatched" => DispositionType::Dispatched,
            "processed" => DispositionType::Processed,
            "denied" => DispositionType::Denied,
            "failed" => DispositionType::Failed,
            "" => return None,
            other => DispositionType::Other(other.to_owned()),
        };
        let mut modifiers = Vec::new();
        let mut ans_error = None;
        if let Some(m) = mods {
            let m = m.trim();
            let lower = m.to_ascii_lowercase();
            if lower.starts_with("error:") || lower.starts_with("error :") {
                // ANS placement: the rest (which may hold commas) is `code^label^...`.
                modifiers.push("error".to_owned());
                ans_error = m.split_once(':').and_then(|(_, v)| AnsError::parse(v));
            } else {
                for part in m.split(',') {
                    let p = strip_comments(part).to_ascii_lowercase();
                    if !p.is_empty() {
                        modifiers.push(p);
                    }
                }
            }
        }
        Some(Disposition {
            action_mode,
            sending_mode,
            disposition_type,
            modifiers,
            ans_error,
        })
    }

    /// True when processing failed (`error` modifier), in either the ANS or the RFC form.
    pub fn is_error(&self) -> bool {
        self.modifiers.iter().any(|m| m == "error") || self.ans_error.is_some()
    }
}

/// The machine-readable part of an MDN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispositionNotification {
    pub reporting_ua: Option<String>,
    pub original_recipient: Option<TypedAddress>,
    pub final_recipient: Option<TypedAddress>,
    /// Without angle brackets.
    pub original_message_id: Option<String>,
    pub disposition: Disposition,
    /// `Error:` fields (RFC 8098 §3.2.7), `Failure:` and `Warning:` (RFC 2298) as written.
    pub errors: Vec<String>,
    pub failures: Vec<String>,
    pub warnings: Vec<String>,
}

/// Parses a `message/disposition-notification` body. `Disposition` is required.
pub fn parse_disposition_notification(body: &[u8]) -> Result<DispositionNotification, Error> {
    let blocks = field_blocks(body)?;
    let fields: Vec<(String, String)> = blocks.into_iter().flatten().collect();
    let all = |name: &str| -> Vec<String> {
        fields
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let dispo = get(&fields, "disposition").ok_or(Error::MalformedReport {
        part: "message/disposition-notification",
        reason: "missing Disposition",
    })?;
    let mut disposition = Disposition::parse(dispo).ok_or(Error::MalformedReport {
        part: "message/disposition-notification",
        reason: "unparseable Disposition",
    })?;
    let errors = all("error");
    if disposition.ans_error.is_none() && disposition.is_error() {
        // RFC 8098 form: the ANS code travels in the Error field.
        disposition.ans_error = errors.iter().find_map(|e| AnsError::parse(e));
    }
    Ok(DispositionNotification {
        reporting_ua: get(&fields, "reporting-ua").map(str::to_owned),
        original_recipient: get(&fields, "original-recipient").and_then(TypedAddress::parse),
        final_recipient: get(&fields, "final-recipient").and_then(TypedAddress::parse),
        original_message_id: get(&fields, "original-message-id")
            .map(|v| crate::outgoing::normalize_message_id(&strip_comments(v)))
            .filter(|v| !v.is_empty()),
        disposition,
        errors,
        failures: all("failure"),
        warnings: all("warning"),
    })
}
