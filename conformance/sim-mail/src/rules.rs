//! Message rules checked at DATA (mssante.md §7.2 items 3 and 6). The full MSSanté/XDM
//! validation (items 6–7) plugs in as a [`crate::Validator`].

use mail_parser::{MessageParser, MimeHeaders};

/// A refusal: SMTP code and reply text (enhanced code first), e.g. `(554, "5.6.0 MSS-ONE-TO …")`.
pub type Refusal = (u16, String);

/// Built-in header/structure checks; `cert_mailbox` is the mailbox bound to the client certificate.
pub fn check_message(bytes: &[u8], cert_mailbox: &str) -> Result<(), Refusal> {
    let msg = MessageParser::default().parse(bytes).ok_or_else(|| {
        (
            554,
            "5.6.0 MSS-MIME message is not parsable MIME".to_owned(),
        )
    })?;
    let from = msg
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(str::to_ascii_lowercase);
    if from.as_deref() != Some(cert_mailbox) {
        return Err((
            550,
            "5.7.1 From header does not match the mailbox of the client certificate".into(),
        ));
    }
    let to_count = msg.to().map(|a| a.iter().count()).unwrap_or(0);
    if to_count != 1 || msg.cc().is_some() || msg.bcc().is_some() {
        return Err((
            554,
            "5.6.0 MSS-ONE-TO exactly one To recipient and no Cc/Bcc".into(),
        ));
    }
    let nil = msg
        .header_raw("X-MSS-NIL")
        .map(str::trim)
        .unwrap_or_default();
    if nil.is_empty() {
        return Err((554, "5.6.0 MSS-X-MSS-NIL header X-MSS-NIL missing".into()));
    }
    let has_xdm = msg.attachments().any(|p| {
        p.attachment_name()
            .is_some_and(|n| n.eq_ignore_ascii_case("ihe_xdm.zip"))
    });
    let subject_xdm = msg
        .subject()
        .is_some_and(|s| without_ko_prefix(s.trim_start()).starts_with("XDM/1.0/DDM"));
    if has_xdm != subject_xdm {
        return Err((
            554,
            if has_xdm {
                "5.6.0 MSS-SUBJECT-XDM IHE_XDM.zip attached but subject lacks XDM/1.0/DDM".into()
            } else {
                "5.6.0 MSS-SUBJECT-XDM subject XDM/1.0/DDM without an IHE_XDM.zip attachment".into()
            },
        ));
    }
    Ok(())
}

/// An integration-error MDN keeps the original subject behind `[KO Intégration système !][code] `
/// and returns the original IHE_XDM.zip (IG-MDN `struct-msg-mdn.md`).
fn without_ko_prefix(subject: &str) -> &str {
    let Some(rest) = subject.strip_prefix("[KO Intégration système !][") else {
        return subject;
    };
    match rest.split_once(']') {
        Some((code, tail)) if !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit()) => {
            tail.trim_start()
        }
        _ => subject,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(from: &str, to: &str, extra: &str, subject: &str) -> Vec<u8> {
        format!(
            "From: <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\n{extra}MIME-Version: 1.0\r\n\
             Content-Type: text/plain\r\n\r\nhello\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn each_rule_refuses_with_its_code() {
        let me = "a@x.test";
        let nil = "X-MSS-NIL: DEV1\r\n";
        assert_eq!(check_message(&msg(me, "<b@y.test>", nil, "hi"), me), Ok(()));
        assert_eq!(
            check_message(&msg("z@x.test", "<b@y.test>", nil, "hi"), me).map_err(|e| e.0),
            Err(550)
        );
        let two = check_message(&msg(me, "<b@y.test>, <c@y.test>", nil, "hi"), me);
        assert!(matches!(two, Err((554, t)) if t.contains("MSS-ONE-TO")));
        let no_nil = check_message(&msg(me, "<b@y.test>", "", "hi"), me);
        assert!(matches!(no_nil, Err((554, t)) if t.contains("X-MSS-NIL")));
        let xdm_subject = check_message(&msg(me, "<b@y.test>", nil, "XDM/1.0/DDM+X"), me);
        assert!(matches!(xdm_subject, Err((554, t)) if t.contains("MSS-SUBJECT-XDM")));
        let ko = check_message(
            &msg(
                me,
                "<b@y.test>",
                nil,
                "[KO Intégration système !][902] XDM/1.0/DDM+X",
            ),
            me,
        );
        assert!(matches!(ko, Err((554, t)) if t.contains("MSS-SUBJECT-XDM")));
    }

    #[test]
    fn an_error_mdn_subject_still_announces_the_returned_archive() {
        assert_eq!(
            without_ko_prefix("[KO Intégration système !][906] XDM/1.0/DDM+A B"),
            "XDM/1.0/DDM+A B"
        );
        assert_eq!(without_ko_prefix("XDM/1.0/DDM+A"), "XDM/1.0/DDM+A");
        for odd in [
            "[KO Intégration système !][x] XDM/1.0/DDM",
            "[KO Intégration système !][] XDM",
        ] {
            assert_eq!(without_ko_prefix(odd), odd);
        }
    }
}
