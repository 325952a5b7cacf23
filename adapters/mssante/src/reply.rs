//! SMTP reply classification (mssante.md §1.5): the RFC 3463 enhanced code wins over the basic
//! code; the server's text is always kept.

use std::fmt;

/// RFC 3463 enhanced status code `class.subject.detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnhancedCode {
    pub class: u8,
    pub subject: u16,
    pub detail: u16,
}

impl EnhancedCode {
    /// Parses `5.1.1` (class 2, 4 or 5; subject and detail up to 3 digits).
    pub fn parse(s: &str) -> Option<Self> {
        let mut it = s.trim().split('.');
        let class: u8 = digits(it.next()?, 1)?.try_into().ok()?;
        let subject: u16 = digits(it.next()?, 3)?.try_into().ok()?;
        let detail: u16 = digits(it.next()?, 3)?.try_into().ok()?;
        if it.next().is_some() || !matches!(class, 2 | 4 | 5) {
            return None;
        }
        Some(EnhancedCode {
            class,
            subject,
            detail,
        })
    }
}

fn digits(s: &str, max: usize) -> Option<u32> {
    if s.is_empty() || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// A complete (possibly multi-line) SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpReply {
    pub code: u16,
    pub enhanced: Option<EnhancedCode>,
    /// The text of every line, without the codes, joined by `\n`.
    pub text: String,
}

impl SmtpReply {
    /// Parses `250-a\r\n250 b\r\n`. `None` on an empty or malformed reply (itself a protocol error).
    pub fn parse(raw: &str) -> Option<SmtpReply> {
        let mut code = None;
        let mut enhanced = None;
        let mut texts = Vec::new();
        for line in raw.split('\n').map(|l| l.trim_end_matches('\r')) {
            if line.is_empty() {
                continue;
            }
            let head = line.get(..3)?;
            let c: u16 = digits(head, 3)?.try_into().ok()?;
            if !(200..=599).contains(&c) || code.is_some_and(|k| k != c) {
                return None;
            }
            code = Some(c);
            let rest = line.get(3..).unwrap_or("");
            let rest = rest.strip_prefix(['-', ' ']).unwrap_or(rest);
            let mut text = rest;
            if let Some((first, after)) = rest.split_once(' ').or(Some((rest, "")))
                && let Some(e) = EnhancedCode::parse(first)
            {
                if enhanced.is_none() {
                    enhanced = Some(e);
                }
                text = after;
            }
            texts.push(text.to_owned());
        }
        Some(SmtpReply {
            code: code?,
            enhanced,
            text: texts.join("\n"),
        })
    }

    /// `550 5.1.1` style code for `DeliveryError.remote_code`.
    pub fn remote_code(&self) -> String {
        match self.enhanced {
            Some(e) => format!("{} {e}", self.code),
            None => self.code.to_string(),
        }
    }
}

/// The command the reply answers (a few rules depend on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpStage {
    Greeting,
    Ehlo,
    StartTls,
    Auth,
    MailFrom,
    RcptTo,
    Data,
    /// The reply after the final `.` of DATA.
    DataEnd,
    Other,
}

/// Stable permanent-failure reasons (`DeliveryError.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermanentReason {
    RecipientRejected,
    MessageTooLarge,
    RejectedByOperator,
    ProtocolError,
}

impl PermanentReason {
    pub fn as_str(self) -> &'static str {
        match self {
            PermanentReason::RecipientRejected => "recipient_rejected",
            PermanentReason::MessageTooLarge => "message_too_large",
            PermanentReason::RejectedByOperator => "rejected_by_operator",
            PermanentReason::ProtocolError => "protocol_error",
        }
    }
}

/// What the worker does with the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyClass {
    /// 2xx / 3xx: go on.
    Success,
    /// Retry with backoff (1, 2, 5, 10, 30 min, then hourly; 24 h window).
    Temporary,
    /// Hold the operator queue and alert; at window end `failed(configuration)`.
    Configuration,
    /// `555` on DSN parameters: set the operator's `dsn = off` and resend without them.
    DsnUnsupported,
    /// `failed(reason)`.
    Permanent(PermanentReason),
}

/// The classification with what the worker must keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub class: ReplyClass,
    /// Raise an operator alert (configuration faults and likely format bugs).
    pub alert: bool,
    /// `550 5.1.1` style.
    pub remote_code: String,
    /// The server's text, kept verbatim.
    pub text: String,
}

impl Classified {
    /// `DeliveryError.reason`: the permanent reason, `configuration`, or `temporary`.
    pub fn reason(&self) -> &'static str {
        match self.class {
            ReplyClass::Success => "ok",
            ReplyClass::Temporary => "temporary",
            ReplyClass::Configuration => "configuration",
            ReplyClass::DsnUnsupported => "dsn_unsupported",
            ReplyClass::Permanent(r) => r.as_str(),
        }
    }
}

/// Classifies a permanent enhanced code; `None` when the code says nothing specific.
fn by_enhanced(e: EnhancedCode) -> Option<ReplyClass> {
    use PermanentReason::*;
    use ReplyClass::*;
    Some(match (e.subject, e.detail) {
        // Our own sender address refused: a configuration fault, not the recipient's.
        (1, 7) | (1, 8) => Configuration,
        (1, _) => Permanent(RecipientRejected),
        // Message length exceeds administrative limit.
        (2, 3) | (3, 4) => Permanent(MessageTooLarge),
        // Mailbox disabled / full: the recipient cannot take it.
        (2, _) => Permanent(RecipientRejected),
        // Auth / TLS needed or refused: our certificate or configuration.
        (7, 0) | (7, 8) | (7, 9) | (7, 10) | (7, 11) => Configuration,
        (7, _) | (6, _) => Permanent(RejectedByOperator),
        (5, _) => Permanent(ProtocolError),
        _ => return None,
    })
}

/// Classifies `reply` received at `stage`; `dsn_params_sent` tells whether the command carried
/// DSN parameters (then `555`, or `5.5.4` on MAIL/RCPT, means the operator does not take them).
pub fn classify(reply: &SmtpReply, stage: SmtpStage, dsn_params_sent: bool) -> Classified {
    use PermanentReason::*;
    use ReplyClass::*;
    let code = reply.code;
    let on_params = dsn_params_sent && matches!(stage, SmtpStage::MailFrom | SmtpStage::RcptTo);
    let class = if (200..400).contains(&code) {
        Success
    } else if on_params
        && (code == 555
            || (code >= 500
                && reply
                    .enhanced
                    .is_some_and(|e| e.subject == 5 && e.detail == 4)))
    {
        DsnUnsupported
    } else if let Some(e) = reply.enhanced.filter(|e| e.class != 2) {
        if e.class == 4 {
            Temporary
        } else {
            by_enhanced(e).unwrap_or_else(|| by_basic(code, stage))
        }
    } else {
        by_basic(code, stage)
    };
    let alert = matches!(
        class,
        Configuration | Permanent(RejectedByOperator) | Permanent(ProtocolError)
    );
    Classified {
        class,
        alert,
        remote_code: reply.remote_code(),
        text: reply.text.clone(),
    }
}

fn by_basic(code: u16, stage: SmtpStage) -> ReplyClass {
    use PermanentReason::*;
    use ReplyClass::*;
    match code {
        200..=399 => Success,
        400..=499 => Temporary,
        530 | 535 => Configuration,
        550 | 551 | 553 if stage == SmtpStage::RcptTo => Permanent(RecipientRejected),
        550 | 551 | 553 => Permanent(RejectedByOperator),
        552 => Permanent(MessageTooLarge),
        554 => Permanent(RejectedByOperator),
        _ => Permanent(ProtocolError),
    }
}

/// Stable reason of a DSN `failed` recipient from its `Status` (same table as replies).
pub fn dsn_failure_reason(status: Option<EnhancedCode>) -> &'static str {
    match status.filter(|s| s.class == 5).and_then(by_enhanced) {
        Some(ReplyClass::Permanent(r)) => r.as_str(),
        Some(ReplyClass::Configuration) => "configuration",
        _ => "delivery_failed",
    }
}

/// Classification of a failure that produced no reply at all (TCP/DNS error, timeout, TLS abort):
/// always temporary; certificate trust failures are configuration (decided by the I/O side).
pub fn classify_no_reply(certificate_untrusted: bool) -> ReplyClass {
    if certificate_untrusted {
        ReplyClass::Configuration
    } else {
        ReplyClass::Temporary
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PermanentReason::*;
    use ReplyClass::*;

    fn c(raw: &str, stage: SmtpStage, dsn: bool) -> Classified {
        let r = SmtpReply::parse(raw).unwrap_or_else(|| panic!("parse {raw}"));
        classify(&r, stage, dsn)
    }

    #[test]
    fn parse_multiline() {
        let r = SmtpReply::parse("250-mx.test Hello\r\n250-SIZE 10485760\r\n250 DSN\r\n");
        assert_eq!(
            r,
            Some(SmtpReply {
                code: 250,
                enhanced: None,
                text: "mx.test Hello\nSIZE 10485760\nDSN".into()
            })
        );
        let r = SmtpReply::parse("550-5.1.1 No such user\r\n550 5.1.1 here\r\n");
        assert_eq!(
            r.as_ref().map(|r| r.remote_code()),
            Some("550 5.1.1".into())
        );
        assert_eq!(r.map(|r| r.text), Some("No such user\nhere".into()));
        assert_eq!(SmtpReply::parse(""), None);
        assert_eq!(SmtpReply::parse("25"), None);
        assert_eq!(SmtpReply::parse("250-a\r\n251 b"), None);
        assert_eq!(SmtpReply::parse("999 x"), None);
        assert_eq!(SmtpReply::parse("2é0 x"), None);
    }

    #[test]
    fn table_of_section_1_5() {
        use SmtpStage::*;
        let cases: &[(&str, SmtpStage, bool, ReplyClass)] = &[
            ("250 2.0.0 Ok", DataEnd, false, Success),
            ("354 go", Data, false, Success),
            ("421 4.3.2 shutting down", Greeting, false, Temporary),
            ("450 4.2.1 busy", RcptTo, false, Temporary),
            ("451 local error", DataEnd, false, Temporary),
            ("452 4.3.1 storage", MailFrom, false, Temporary),
            ("550 4.7.0 greylisted", RcptTo, false, Temporary),
            (
                "530 5.7.0 Must issue STARTTLS",
                MailFrom,
                false,
                Configuration,
            ),
            ("535 5.7.8 bad credentials", Auth, false, Configuration),
            ("535 auth failed", Auth, false, Configuration),
            (
                "555 5.5.4 Unsupported option: NOTIFY",
                RcptTo,
                true,
                DsnUnsupported,
            ),
            ("501 5.5.4 Invalid ENVID", MailFrom, true, DsnUnsupported),
            (
                "555 5.5.4 Unsupported option",
                MailFrom,
                false,
                Permanent(ProtocolError),
            ),
            (
                "550 5.1.1 unknown user",
                RcptTo,
                false,
                Permanent(RecipientRejected),
            ),
            (
                "553 5.1.3 bad address",
                RcptTo,
                false,
                Permanent(RecipientRejected),
            ),
            (
                "550 no such user",
                RcptTo,
                false,
                Permanent(RecipientRejected),
            ),
            (
                "552 5.3.4 too big",
                DataEnd,
                false,
                Permanent(MessageTooLarge),
            ),
            ("552 too big", DataEnd, false, Permanent(MessageTooLarge)),
            (
                "554 5.6.0 X-MSS-NIL missing",
                DataEnd,
                false,
                Permanent(RejectedByOperator),
            ),
            (
                "550 5.7.1 domain not whitelisted",
                RcptTo,
                false,
                Permanent(RejectedByOperator),
            ),
            (
                "553 5.7.1 sender mismatch",
                MailFrom,
                false,
                Permanent(RejectedByOperator),
            ),
            (
                "554 transaction failed",
                DataEnd,
                false,
                Permanent(RejectedByOperator),
            ),
            (
                "500 5.5.2 syntax",
                MailFrom,
                false,
                Permanent(ProtocolError),
            ),
            ("503 bad sequence", RcptTo, false, Permanent(ProtocolError)),
            ("558 weird", DataEnd, false, Permanent(ProtocolError)),
            (
                "550 5.1.8 bad sender domain",
                MailFrom,
                false,
                Configuration,
            ),
        ];
        for (raw, stage, dsn, want) in cases {
            let got = c(raw, *stage, *dsn);
            assert_eq!(got.class, *want, "{raw}");
            assert!(!got.text.is_empty());
        }
    }

    #[test]
    fn keeps_text_and_alerts() {
        let got = c("554 5.6.0 rule=x-mss-ins", SmtpStage::DataEnd, false);
        assert_eq!(got.text, "rule=x-mss-ins");
        assert_eq!(got.remote_code, "554 5.6.0");
        assert!(got.alert);
        assert_eq!(got.reason(), "rejected_by_operator");
        assert!(!c("550 5.1.1 x", SmtpStage::RcptTo, false).alert);
    }
}
