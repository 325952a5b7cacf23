//! SMTP envelope and DSN request as data (mssante.md §3.4, RFC 1870, RFC 3461). The I/O side
//! writes `MAIL FROM:<a> k=v ...` / `RCPT TO:<b> k=v ...` from these values.

use crate::Error;
use crate::address::Address;
use crate::mime::xtext;

/// RFC 3461 §4.4: ENVID is at most 100 characters of xtext.
pub const MAX_ENVID: usize = 100;

/// What the server's EHLO advertised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerExtensions {
    pub size: bool,
    pub dsn: bool,
}

/// One ESMTP parameter (`KEYWORD=value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EsmtpParam {
    pub keyword: &'static str,
    pub value: String,
}

impl std::fmt::Display for EsmtpParam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.keyword, self.value)
    }
}

/// The envelope of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub mail_from: Address,
    pub mail_params: Vec<EsmtpParam>,
    pub rcpt_to: Address,
    pub rcpt_params: Vec<EsmtpParam>,
    /// True when DSN parameters were added: arms the delivery timeout.
    pub dsn_requested: bool,
}

impl Envelope {
    /// `MAIL FROM:<addr> PARAMS` (without CRLF).
    pub fn mail_from_command(&self) -> String {
        command(
            &format!("MAIL FROM:<{}>", self.mail_from),
            &self.mail_params,
        )
    }
    /// `RCPT TO:<addr> PARAMS` (without CRLF).
    pub fn rcpt_to_command(&self) -> String {
        command(&format!("RCPT TO:<{}>", self.rcpt_to), &self.rcpt_params)
    }
}

fn command(head: &str, params: &[EsmtpParam]) -> String {
    let mut s = head.to_owned();
    for p in params {
        s.push(' ');
        s.push_str(&p.to_string());
    }
    s
}

/// Builds the envelope. `want_dsn` is the operator setting (`dsn = off` after a `555`); DSN
/// parameters are sent only if the server also advertises `DSN`; `SIZE=` only if it advertises SIZE.
pub fn envelope(
    from: &Address,
    to: &Address,
    message_size: u64,
    delivery_id: &str,
    ext: ServerExtensions,
    want_dsn: bool,
) -> Result<Envelope, Error> {
    let mut mail_params = Vec::new();
    let mut rcpt_params = Vec::new();
    if ext.size {
        mail_params.push(EsmtpParam {
            keyword: "SIZE",
            value: message_size.to_string(),
        });
    }
    let dsn = ext.dsn && want_dsn;
    if dsn {
        let envid = xtext(delivery_id);
        if delivery_id.is_empty() || envid.len() > MAX_ENVID {
            return Err(Error::InvalidField {
                field: "delivery_id",
                reason: "ENVID must be 1 to 100 xtext characters",
            });
        }
        // RET=HDRS: bounces never carry the documents back.
        mail_params.push(EsmtpParam {
            keyword: "RET",
            value: "HDRS".to_owned(),
        });
        mail_params.push(EsmtpParam {
            keyword: "ENVID",
            value: envid,
        });
        rcpt_params.push(EsmtpParam {
            keyword: "NOTIFY",
            value: "SUCCESS,FAILURE,DELAY".to_owned(),
        });
        rcpt_params.push(EsmtpParam {
            keyword: "ORCPT",
            value: format!("rfc822;{}", xtext(to.as_str())),
        });
    }
    Ok(Envelope {
        mail_from: from.clone(),
        mail_params,
        rcpt_to: to.clone(),
        rcpt_params,
        dsn_requested: dsn,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> Option<(Address, Address)> {
        Some((
            Address::parse("from", "passerelle@mecs-tilleuls.mssante.test").ok()?,
            Address::parse("to", "crip@cd93.mssante.test").ok()?,
        ))
    }

    #[test]
    fn with_dsn() {
        let (f, t) = addrs().unwrap_or_else(|| panic!("addresses"));
        let e = envelope(
            &f,
            &t,
            412337,
            "dlv_01+x",
            ServerExtensions {
                size: true,
                dsn: true,
            },
            true,
        );
        let e = e.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            e.mail_from_command(),
            "MAIL FROM:<passerelle@mecs-tilleuls.mssante.test> SIZE=412337 RET=HDRS ENVID=dlv_01+2Bx"
        );
        assert_eq!(
            e.rcpt_to_command(),
            "RCPT TO:<crip@cd93.mssante.test> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;crip@cd93.mssante.test"
        );
        assert!(e.dsn_requested);
    }

    #[test]
    fn without_dsn_support_or_after_555() {
        let (f, t) = addrs().unwrap_or_else(|| panic!("addresses"));
        for (ext, want) in [
            (
                ServerExtensions {
                    size: false,
                    dsn: false,
                },
                true,
            ),
            (
                ServerExtensions {
                    size: false,
                    dsn: true,
                },
                false,
            ),
        ] {
            let e = envelope(&f, &t, 10, "d1", ext, want).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                e.mail_from_command(),
                "MAIL FROM:<passerelle@mecs-tilleuls.mssante.test>"
            );
            assert_eq!(e.rcpt_to_command(), "RCPT TO:<crip@cd93.mssante.test>");
            assert!(!e.dsn_requested);
        }
    }

    #[test]
    fn envid_too_long() {
        let (f, t) = addrs().unwrap_or_else(|| panic!("addresses"));
        let long = "x".repeat(101);
        let ext = ServerExtensions {
            size: true,
            dsn: true,
        };
        assert!(envelope(&f, &t, 1, &long, ext, true).is_err());
        assert!(envelope(&f, &t, 1, &long, ext, false).is_ok());
    }
}
