//! RFC 3464 DSNs and RFC 8098 MDNs (ANS automatic-integration form, mssante.md §5.2).

use std::fmt::Write as _;

/// `Action` of a DSN recipient block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsnAction {
    Delivered,
    Failed,
    Delayed,
    Relayed,
}

impl DsnAction {
    fn as_str(self) -> &'static str {
        match self {
            DsnAction::Delivered => "delivered",
            DsnAction::Failed => "failed",
            DsnAction::Delayed => "delayed",
            DsnAction::Relayed => "relayed",
        }
    }
}

/// One recipient of a DSN.
#[derive(Debug, Clone)]
pub struct DsnRecipient {
    /// ORCPT value as received (`rfc822;addr`, xtext-decoded).
    pub original: Option<String>,
    pub final_recipient: String,
    pub action: DsnAction,
    pub status: String,
    pub diagnostic: Option<String>,
}

/// Everything a DSN needs.
#[derive(Debug, Clone)]
pub struct DsnInput<'a> {
    pub reporting_mta: &'a str,
    pub to: &'a str,
    pub envid: Option<&'a str>,
    pub date: &'a str,
    pub message_id: &'a str,
    pub recipients: Vec<DsnRecipient>,
    /// `RET=FULL`: the whole message; else headers only.
    pub ret_full: bool,
    pub original: &'a [u8],
}

/// The header block of a message (up to the first empty line, without it).
pub fn header_block(msg: &[u8]) -> &[u8] {
    let end = find(msg, b"\r\n\r\n")
        .map(|i| i + 2)
        .or_else(|| find(msg, b"\n\n").map(|i| i + 1))
        .unwrap_or(msg.len());
    &msg[..end]
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// Builds a `multipart/report; report-type=delivery-status` message.
pub fn build_dsn(d: &DsnInput<'_>) -> Vec<u8> {
    let boundary = format!(
        "=_dsn_{}",
        d.message_id.trim_matches(['<', '>']).replace('@', "_")
    );
    let failed = d.recipients.iter().any(|r| r.action == DsnAction::Failed);
    let mut s = String::new();
    let _ = write!(
        s,
        "From: Mail Delivery System <MAILER-DAEMON@{mta}>\r\n\
         To: <{to}>\r\n\
         Subject: {subject}\r\n\
         Date: {date}\r\n\
         Message-ID: {mid}\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\
         \r\n\
         This is a MIME-encapsulated message.\r\n\
         \r\n--{boundary}\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\r\n",
        mta = d.reporting_mta,
        to = d.to,
        subject = if failed {
            "Undelivered Mail Returned to Sender"
        } else {
            "Successful Mail Delivery Report"
        },
        date = d.date,
        mid = d.message_id,
    );
    for r in &d.recipients {
        let _ = write!(
            s,
            "<{}>: {} ({})\r\n",
            r.final_recipient,
            r.action.as_str(),
            r.status
        );
    }
    let _ = write!(
        s,
        "\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; {}\r\n",
        d.reporting_mta
    );
    if let Some(id) = d.envid {
        let _ = write!(s, "Original-Envelope-Id: {id}\r\n");
    }
    let _ = write!(s, "Arrival-Date: {}\r\n", d.date);
    for r in &d.recipients {
        s.push_str("\r\n");
        if let Some(o) = &r.original {
            let _ = write!(s, "Original-Recipient: {o}\r\n");
        }
        let _ = write!(
            s,
            "Final-Recipient: rfc822; {}\r\nAction: {}\r\nStatus: {}\r\n",
            r.final_recipient,
            r.action.as_str(),
            r.status
        );
        if let Some(diag) = &r.diagnostic {
            let _ = write!(s, "Diagnostic-Code: smtp; {diag}\r\n");
        }
    }
    let mut out = s.into_bytes();
    if d.ret_full {
        let _ = write_part(&mut out, &boundary, "message/rfc822", d.original);
    } else {
        let _ = write_part(
            &mut out,
            &boundary,
            "text/rfc822-headers",
            header_block(d.original),
        );
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

fn write_part(out: &mut Vec<u8>, boundary: &str, ctype: &str, body: &[u8]) -> Option<()> {
    out.extend_from_slice(format!("\r\n--{boundary}\r\nContent-Type: {ctype}\r\n\r\n").as_bytes());
    out.extend_from_slice(body);
    if !body.ends_with(b"\n") {
        out.extend_from_slice(b"\r\n");
    }
    Some(())
}

/// Everything an MDN needs.
#[derive(Debug, Clone)]
pub struct MdnInput<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub date: &'a str,
    pub message_id: &'a str,
    pub original_message_id: Option<&'a str>,
    pub original_subject: &'a str,
    pub original_recipient: Option<&'a str>,
    /// `automatic-action/MDN-sent-automatically; processed` or
    /// `manual-action/MDN-sent-manually; displayed`, possibly with `/Error: 902^…`.
    pub disposition: String,
    /// ANS error code and label when integration failed.
    pub error: Option<(u16, String)>,
    pub original: &'a [u8],
}

/// Builds a `multipart/report; report-type=disposition-notification` message (ANS layout:
/// text, disposition, the original message).
pub fn build_mdn(m: &MdnInput<'_>) -> Vec<u8> {
    let boundary = format!(
        "=_mdn_{}",
        m.message_id.trim_matches(['<', '>']).replace('@', "_")
    );
    let subject = match &m.error {
        Some((code, _)) => format!("[KO Intégration système !][{code}] {}", m.original_subject),
        None => m.original_subject.to_owned(),
    };
    let mut s = String::new();
    let _ = write!(
        s,
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: {mid}\r\n",
        from = m.from,
        to = m.to,
        subject = encode_subject(&subject),
        date = m.date,
        mid = m.message_id
    );
    if let Some(o) = m.original_message_id {
        let _ = write!(s, "In-Reply-To: {o}\r\nReferences: {o}\r\n");
    }
    let _ = write!(
        s,
        "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=disposition-notification;\r\n\tboundary=\"{boundary}\"\r\n\
         \r\n--{boundary}\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"
    );
    match &m.error {
        Some((code, label)) => {
            let _ = write!(s, "Erreur d'intégration {code} : {label}\r\n");
        }
        None => s.push_str("Le message a été traité.\r\n"),
    }
    let _ = write!(
        s,
        "\r\n--{boundary}\r\nContent-Type: message/disposition-notification\r\n\r\n\
         Reporting-UA: sim-mail; passerelle-sim-mail\r\n"
    );
    if let Some(o) = m.original_recipient {
        let _ = write!(s, "Original-Recipient: rfc822; {o}\r\n");
    }
    let _ = write!(s, "Final-Recipient: rfc822; {}\r\n", m.from);
    if let Some(o) = m.original_message_id {
        let _ = write!(s, "Original-Message-ID: {o}\r\n");
    }
    let _ = write!(s, "Disposition: {}\r\n", m.disposition);
    let mut out = s.into_bytes();
    let _ = write_part(&mut out, &boundary, "message/rfc822", m.original);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// RFC 2047 B-encoding when the subject is not ASCII.
fn encode_subject(s: &str) -> String {
    if s.is_ascii() {
        return s.to_owned();
    }
    format!("=?UTF-8?B?{}?=", base64_encode(s.as_bytes()))
}

pub(crate) fn base64_encode(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            b' ' | b'\r' | b'\n' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// RFC 3461 xtext decoding (`+HH`).
pub fn xtext_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'+'
            && i + 2 < b.len() + 1
            && let Some(h) = s.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(h, 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        for s in ["", "a", "ab", "abc", "abcd", "dui-app@cd93.mssante.test"] {
            let e = base64_encode(s.as_bytes());
            assert_eq!(base64_decode(&e).as_deref(), Some(s.as_bytes()));
        }
        assert_eq!(base64_encode(b"ab"), "YWI=");
    }

    #[test]
    fn xtext() {
        assert_eq!(xtext_decode("rfc822;a+2Bb@x"), "rfc822;a+b@x");
        assert_eq!(xtext_decode("plain"), "plain");
    }

    #[test]
    fn dsn_has_report_fields() {
        let original = b"From: a@x\r\nSubject: s\r\n\r\nbody\r\n";
        let dsn = build_dsn(&DsnInput {
            reporting_mta: "sim.test",
            to: "a@x",
            envid: Some("D1"),
            date: "Wed, 25 Nov 2026 21:00:00 +0000",
            message_id: "<dsn1@sim.test>",
            recipients: vec![DsnRecipient {
                original: Some("rfc822;b@y".into()),
                final_recipient: "b@y".into(),
                action: DsnAction::Delivered,
                status: "2.0.0".into(),
                diagnostic: None,
            }],
            ret_full: false,
            original,
        });
        let text = String::from_utf8_lossy(&dsn);
        assert!(text.contains("report-type=delivery-status"));
        assert!(text.contains("Original-Envelope-Id: D1\r\n"));
        assert!(text.contains("Original-Recipient: rfc822;b@y\r\n"));
        assert!(text.contains("Action: delivered\r\n"));
        assert!(text.contains("text/rfc822-headers"));
        assert!(
            !text.contains("body\r\n"),
            "RET=HDRS must not carry the body"
        );
    }
}
