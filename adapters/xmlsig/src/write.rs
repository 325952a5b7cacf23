//! Writing canonical XML directly: values are validated (XML 1.0 characters) and escaped with the
//! c14n rules, so what we emit is already in canonical form.

use time::{OffsetDateTime, UtcOffset};

use crate::c14n::{escape_attr, escape_text};
use crate::error::{XmlSigError, input};

fn check_chars(field: &'static str, s: &str) -> Result<(), XmlSigError> {
    let bad = s.chars().any(|c| {
        (c < '\u{20}' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
    });
    if bad {
        return Err(input(field, "contains a character not allowed in XML"));
    }
    Ok(())
}

pub(crate) fn required<'s>(field: &'static str, s: &'s str) -> Result<&'s str, XmlSigError> {
    if s.trim().is_empty() {
        return Err(input(field, "is empty"));
    }
    check_chars(field, s)?;
    Ok(s)
}

pub(crate) fn text(out: &mut Vec<u8>, field: &'static str, s: &str) -> Result<(), XmlSigError> {
    check_chars(field, s)?;
    escape_text(s, out);
    Ok(())
}

/// ` name="value"` with the value escaped.
pub(crate) fn attr(
    out: &mut Vec<u8>,
    name: &str,
    field: &'static str,
    value: &str,
) -> Result<(), XmlSigError> {
    check_chars(field, value)?;
    out.push(b' ');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    escape_attr(value, out);
    out.push(b'"');
    Ok(())
}

pub(crate) fn raw(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
}

/// An ASCII NCName (xsd:ID), the subset we produce and accept as identifiers.
pub(crate) fn ncname(field: &'static str, s: &str) -> Result<(), XmlSigError> {
    let mut chars = s.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        return Err(input(
            field,
            "is not an NCName (letter or '_' then letters, digits, '_-.')",
        ));
    }
    Ok(())
}

/// xsd:dateTime in UTC with milliseconds, e.g. `2026-03-02T08:14:05.120Z`.
pub(crate) fn utc_millis(field: &'static str, t: OffsetDateTime) -> Result<String, XmlSigError> {
    let t = t.to_offset(UtcOffset::UTC);
    if !(0..=9999).contains(&t.year()) {
        return Err(input(field, "year outside 0000-9999"));
    }
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    ))
}
