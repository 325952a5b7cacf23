//! Low-level MIME writing helpers with byte-stable output: header folding at 78 columns, RFC 2047
//! encoded words only where needed, base64 lines of 76, quoted-printable bodies, CRLF everywhere.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

pub(crate) const CRLF: &str = "\r\n";
const FOLD_AT: usize = 78;
/// RFC 2047 §2: an encoded word is at most 75 characters.
const MAX_ENCODED_WORD: usize = 75;
const EW_PREFIX: &str = "=?UTF-8?Q?";
const EW_SUFFIX: &str = "?=";

/// Where an encoded word is placed: phrases (display names) allow fewer literal characters.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Context {
    Unstructured,
    Phrase,
}

/// Writes `Name: tok tok ...` folded at whitespace between tokens so that lines stay within 78
/// columns when tokens allow it (a single over-long token stays whole; the hard limit is 998).
pub(crate) fn header(out: &mut String, name: &str, tokens: &[String]) {
    out.push_str(name);
    out.push(':');
    let mut col = name.len() + 1;
    for tok in tokens {
        // Folding right after the colon is legal FWS; used when even the first token is long.
        if col + 1 + tok.len() > FOLD_AT {
            out.push_str(CRLF);
            col = 0;
        }
        out.push(' ');
        out.push_str(tok);
        col += 1 + tok.len();
    }
    out.push_str(CRLF);
}

/// Header whose value is plain ASCII, folded at its spaces.
pub(crate) fn header_text(out: &mut String, name: &str, value: &str) {
    let tokens: Vec<String> = value.split(' ').map(str::to_owned).collect();
    header(out, name, &tokens);
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

/// A word needs encoding when it is not plain printable ASCII, or could be mistaken for an encoded word.
fn needs_encoding(word: &str, ctx: Context) -> bool {
    // Over-long words are encoded so that they can be split across folded lines.
    if word.contains("=?") || word.contains("?=") || word.len() > 70 {
        return true;
    }
    match ctx {
        Context::Unstructured => !word.chars().all(|c| c.is_ascii_graphic()),
        Context::Phrase => !word.chars().all(is_atext),
    }
}

fn q_literal(b: u8, ctx: Context) -> bool {
    match ctx {
        // RFC 2047 §5(3) for phrases; also safe in unstructured text.
        Context::Phrase | Context::Unstructured => {
            b.is_ascii_alphanumeric() || matches!(b, b'!' | b'*' | b'+' | b'-' | b'/')
        }
    }
}

/// Q-encodes `text` into one or more encoded words of at most 75 characters, split on character
/// boundaries (adjacent encoded words concatenate when decoded, so the split is invisible).
fn encoded_words(text: &str, ctx: Context) -> Vec<String> {
    let budget = MAX_ENCODED_WORD - EW_PREFIX.len() - EW_SUFFIX.len();
    let mut words = Vec::new();
    let mut cur = String::new();
    for ch in text.chars() {
        let mut enc = String::new();
        let mut buf = [0u8; 4];
        for &b in ch.encode_utf8(&mut buf).as_bytes() {
            if b == b' ' {
                enc.push('_');
            } else if q_literal(b, ctx) {
                enc.push(b as char);
            } else {
                enc.push_str(&format!("={b:02X}"));
            }
        }
        if !cur.is_empty() && cur.len() + enc.len() > budget {
            words.push(format!("{EW_PREFIX}{cur}{EW_SUFFIX}"));
            cur.clear();
        }
        cur.push_str(&enc);
    }
    if !cur.is_empty() {
        words.push(format!("{EW_PREFIX}{cur}{EW_SUFFIX}"));
    }
    words
}

/// Splits `text` into header tokens: ASCII words literal, runs of words that need it RFC 2047
/// encoded as one run (the whitespace between two encoded words is dropped by decoders, so the
/// space between such words is encoded inside the run).
pub(crate) fn encode_words(text: &str, ctx: Context) -> Vec<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if needs_encoding(words[i], ctx) {
            let mut j = i;
            while j + 1 < words.len() && needs_encoding(words[j + 1], ctx) {
                j += 1;
            }
            tokens.extend(encoded_words(&words[i..=j].join(" "), ctx));
            i = j + 1;
        } else {
            tokens.push(words[i].to_owned());
            i += 1;
        }
    }
    tokens
}

/// A display name as header tokens: bare atoms, else a quoted string if ASCII, else encoded words.
pub(crate) fn phrase(name: &str) -> Vec<String> {
    let words: Vec<&str> = name.split_whitespace().collect();
    if words.iter().all(|w| w.chars().all(is_atext)) {
        return words.into_iter().map(str::to_owned).collect();
    }
    if name.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
        let mut q = String::from("\"");
        for c in words.join(" ").chars() {
            if c == '"' || c == '\\' {
                q.push('\\');
            }
            q.push(c);
        }
        q.push('"');
        return vec![q];
    }
    encode_words(name, Context::Phrase)
}

/// Base64 in lines of 76 characters, each ended by CRLF.
pub(crate) fn base64_lines(out: &mut String, data: &[u8]) {
    // 57 input bytes make exactly 76 output characters: encode line by line, no copy.
    out.reserve(data.len().div_ceil(57) * 78);
    for chunk in data.chunks(57) {
        STANDARD.encode_string(chunk, out);
        out.push_str(CRLF);
    }
}

/// Quoted-printable (RFC 2045 §6.7) of UTF-8 text; input lines end with `\n`, output lines with
/// CRLF, at most 76 characters, trailing whitespace encoded.
pub(crate) fn quoted_printable(out: &mut String, text: &str) {
    let normalized = text.replace("\r\n", "\n");
    let mut lines: Vec<&str> = normalized.split('\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    for line in lines {
        let bytes = line.as_bytes();
        let mut col = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let last = i + 1 == bytes.len();
            let literal_space = (b == b' ' || b == b'\t') && !last;
            let tok = if literal_space || ((33..=126).contains(&b) && b != b'=') {
                (b as char).to_string()
            } else {
                format!("={b:02X}")
            };
            // Leave room for the soft break '=' (76 columns total).
            let reserve = if last { 0 } else { 1 };
            if col + tok.len() + reserve > 76 {
                out.push('=');
                out.push_str(CRLF);
                col = 0;
            }
            out.push_str(&tok);
            col += tok.len();
        }
        out.push_str(CRLF);
    }
}

/// RFC 3461 xtext: `+XX` for '+', '=', and anything outside printable ASCII.
pub(crate) fn xtext(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        if (33..=126).contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Decodes RFC 3461 xtext; invalid escapes are kept literally (reports from the wild are lax).
pub(crate) fn xtext_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'+' && i + 2 < bytes.len() {
            let hex = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2]));
            if let (Some(h), Some(l)) = hex {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_words_only_encoded_where_needed() {
        let t = encode_words(
            "Projet pour l'enfant DUPONT Léa 01/02/2012",
            Context::Unstructured,
        );
        assert_eq!(
            t.join(" "),
            "Projet pour l'enfant DUPONT =?UTF-8?Q?L=C3=A9a?= 01/02/2012"
        );
    }

    #[test]
    fn adjacent_non_ascii_words_share_one_run() {
        let t = encode_words("Rapport d'évaluation été", Context::Unstructured);
        assert_eq!(
            t,
            vec!["Rapport", "=?UTF-8?Q?d=27=C3=A9valuation_=C3=A9t=C3=A9?="]
        );
    }

    #[test]
    fn long_runs_are_split_into_words_of_75() {
        let long = "é".repeat(40);
        let t = encode_words(&long, Context::Unstructured);
        assert!(t.len() > 1);
        assert!(t.iter().all(|w| w.len() <= 75));
    }

    #[test]
    fn folding_keeps_lines_short() {
        let mut out = String::new();
        let toks: Vec<String> = (0..30).map(|i| format!("word{i}")).collect();
        header(&mut out, "Subject", &toks);
        assert!(out.split("\r\n").all(|l| l.len() <= 78));
        assert!(out.contains("\r\n word"));
    }

    #[test]
    fn qp_encodes_trailing_space_and_wraps() {
        let mut out = String::new();
        quoted_printable(&mut out, &format!("{} \nÉ=", "a".repeat(100)));
        for l in out.split("\r\n") {
            assert!(l.len() <= 76, "{l}");
        }
        assert!(out.contains("=20\r\n"));
        assert!(out.contains("=C3=89=3D"));
    }

    #[test]
    fn xtext_round_trip() {
        let s = "a+b=c é";
        assert_eq!(xtext(s), "a+2Bb+3Dc+20+C3+A9");
        assert_eq!(xtext_decode(&xtext(s)), s);
        assert_eq!(xtext_decode("bad+Z"), "bad+Z");
    }

    #[test]
    fn phrases() {
        assert_eq!(phrase("MECS Les Tilleuls"), vec!["MECS", "Les", "Tilleuls"]);
        assert_eq!(phrase("Dupont, Marie"), vec!["\"Dupont, Marie\""]);
        assert_eq!(
            phrase("Département 93").join(" "),
            "=?UTF-8?Q?D=C3=A9partement?= 93"
        );
    }
}
