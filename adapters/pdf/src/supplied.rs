//! Checks on a DUI-supplied PDF. The bytes are only read, never modified or re-encoded.

use crate::PdfError;

/// What a supplied PDF claims about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppliedPdfInfo {
    pub size: usize,
    /// Version from the `%PDF-x.y` header, e.g. "1.7".
    pub header_version: String,
    /// The PDF/A identification found in the XMP metadata, if any.
    pub pdfa: Option<PdfAClaim>,
}

impl SuppliedPdfInfo {
    /// True when the file claims PDF/A (any part); the gateway warns otherwise (specs README §3).
    pub fn claims_pdfa(&self) -> bool {
        self.pdfa.is_some()
    }
}

/// `pdfaid:part` and `pdfaid:conformance` as written in the XMP (a claim, not a verification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdfAClaim {
    pub part: u8,
    /// "A", "B", "U" (upper-cased), or `None` when absent (PDF/A-4 has none).
    pub conformance: Option<String>,
}

const PDFA_NS: &[u8] = b"http://www.aiim.org/pdfa/ns/id/";

/// Checks a supplied PDF: not empty, at most `max_size` bytes, `%PDF-` magic at offset 0, no
/// `/Encrypt` entry in a trailer (classic trailer or cross-reference stream dictionary), and
/// reports whether its XMP metadata claims PDF/A.
///
/// Limits: the XMP claim is found only in an uncompressed metadata stream (PDF/A-1 6.7.2 forbids
/// a filter on it); a compressed one reads as "no claim", which only causes a warning.
pub fn inspect_supplied_pdf(bytes: &[u8], max_size: usize) -> Result<SuppliedPdfInfo, PdfError> {
    if bytes.is_empty() {
        return Err(PdfError::SuppliedEmpty);
    }
    if bytes.len() > max_size {
        return Err(PdfError::SuppliedTooLarge {
            size: bytes.len(),
            max: max_size,
        });
    }
    if !bytes.starts_with(b"%PDF-") {
        return Err(PdfError::SuppliedNotPdf);
    }
    let header_version: String = bytes[5..]
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b'.')
        .take(4)
        .map(|b| char::from(*b))
        .collect();
    if header_version.is_empty() {
        return Err(PdfError::SuppliedNotPdf);
    }
    if has_encrypt_key(bytes) {
        return Err(PdfError::SuppliedEncrypted);
    }
    Ok(SuppliedPdfInfo {
        size: bytes.len(),
        header_version,
        pdfa: pdfa_claim(bytes),
    })
}

fn is_white(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' | b'\0')
}

fn is_delim(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from >= hay.len() || needle.is_empty() {
        return None;
    }
    // SIMD substring search: a supplied PDF may be MiBs and is searched several times.
    memchr::memmem::find(&hay[from..], needle).map(|p| p + from)
}

/// Lexical scan of the file outside comments, strings and stream data: an `/Encrypt` key can
/// only legally appear in a trailer or cross-reference stream dictionary, so finding the name
/// there means the file is encrypted. Names are compared after `#xx` decoding.
fn has_encrypt_key(b: &[u8]) -> bool {
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                    i += 1;
                }
            }
            b'(' => {
                // Literal string: balanced parentheses, backslash escapes.
                let mut depth = 0usize;
                while i < b.len() {
                    match b[i] {
                        b'\\' => i += 1,
                        b'(' => depth += 1,
                        b')' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                i += 1;
            }
            b'<' if b.get(i + 1) == Some(&b'<') => i += 2,
            b'<' => {
                while i < b.len() && b[i] != b'>' {
                    i += 1;
                }
                i += 1;
            }
            b'/' => {
                let start = i + 1;
                i = start;
                while i < b.len() && !is_white(b[i]) && !is_delim(b[i]) {
                    i += 1;
                }
                if decode_name(&b[start..i]) == b"Encrypt" {
                    return true;
                }
            }
            b's' if b[i..].starts_with(b"stream")
                && (i == 0 || is_white(b[i - 1]) || b[i - 1] == b'>')
                && matches!(b.get(i + 6), Some(b'\r' | b'\n')) =>
            {
                // Skip stream data up to its `endstream` keyword.
                match find(b, b"endstream", i + 6) {
                    Some(end) => i = end + 9,
                    None => return false,
                }
            }
            _ => i += 1,
        }
    }
    false
}

fn decode_name(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let escaped = match (raw[i], raw.get(i + 1), raw.get(i + 2)) {
            (b'#', Some(h), Some(l)) => hex(*h).zip(hex(*l)),
            _ => None,
        };
        if let Some((h, l)) = escaped {
            out.push(h * 16 + l);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Prefixes bound to the PDF/A identification namespace (usually just "pdfaid").
fn pdfa_prefixes(b: &[u8]) -> Vec<Vec<u8>> {
    let mut prefixes = vec![b"pdfaid".to_vec()];
    let mut from = 0;
    while let Some(pos) = find(b, PDFA_NS, from) {
        from = pos + PDFA_NS.len();
        // Look back for `xmlns:PREFIX="` (or single quote) right before the URI.
        let head = &b[pos.saturating_sub(64)..pos];
        if let Some(x) = head.windows(6).rposition(|w| w == b"xmlns:") {
            let decl = &head[x + 6..];
            let name: Vec<u8> = decl
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_' || **c == b'-')
                .copied()
                .collect();
            if !name.is_empty() && !prefixes.contains(&name) {
                prefixes.push(name);
            }
        }
    }
    prefixes
}

/// Value of `PREFIX:prop` as an element (`<p:prop>v</p:prop>`) or an attribute (`p:prop="v"`).
fn xmp_value(b: &[u8], prefix: &[u8], prop: &[u8]) -> Option<String> {
    let mut key = prefix.to_vec();
    key.push(b':');
    key.extend_from_slice(prop);
    let mut from = 0;
    while let Some(pos) = find(b, &key, from) {
        from = pos + key.len();
        let rest = &b[from..];
        let value = if pos > 0 && b[pos - 1] == b'<' {
            rest.strip_prefix(b">")
                .map(|r| r.iter().take_while(|c| **c != b'<').copied().collect())
        } else {
            let trimmed: &[u8] = rest
                .iter()
                .position(|c| !is_white(*c))
                .map_or(&[], |p| &rest[p..]);
            trimmed.strip_prefix(b"=").and_then(|r| {
                let r = &r[r.iter().position(|c| !is_white(*c)).unwrap_or(0)..];
                let q = *r.first()?;
                (q == b'"' || q == b'\'')
                    .then(|| r[1..].iter().take_while(|c| **c != q).copied().collect())
            })
        };
        if let Some(v) = value {
            let v: Vec<u8> = v;
            let s = String::from_utf8_lossy(&v).trim().to_string();
            if !s.is_empty() {
                return Some(s);
            }
        }
    }
    None
}

fn pdfa_claim(b: &[u8]) -> Option<PdfAClaim> {
    for prefix in pdfa_prefixes(b) {
        if let Some(part) = xmp_value(b, &prefix, b"part").and_then(|p| p.parse::<u8>().ok()) {
            let conformance = xmp_value(b, &prefix, b"conformance").map(|c| c.to_ascii_uppercase());
            return Some(PdfAClaim { part, conformance });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypt_name_escapes_and_strings() {
        assert!(has_encrypt_key(b"trailer\n<</Size 3/Encrypt 5 0 R>>"));
        assert!(has_encrypt_key(b"trailer << /Encr#79pt 5 0 R >>"));
        assert!(!has_encrypt_key(
            b"1 0 obj (/Encrypt) endobj trailer <</Size 3>>"
        ));
        assert!(!has_encrypt_key(b"% /Encrypt\ntrailer <</Size 3>>"));
        assert!(!has_encrypt_key(
            b"<</Length 9>>stream\n/Encrypt \nendstream trailer <</Size 3>>"
        ));
        assert!(!has_encrypt_key(b"trailer <</EncryptMetadata true>>"));
    }

    #[test]
    fn xmp_claims_in_both_syntaxes() {
        let el = b"<pdfaid:part>2</pdfaid:part><pdfaid:conformance>u</pdfaid:conformance>";
        assert_eq!(
            pdfa_claim(el),
            Some(PdfAClaim {
                part: 2,
                conformance: Some("U".into())
            })
        );
        let attr = b"<rdf:Description xmlns:a=\"http://www.aiim.org/pdfa/ns/id/\" a:part = '1' a:conformance=\"B\"/>";
        assert_eq!(
            pdfa_claim(attr),
            Some(PdfAClaim {
                part: 1,
                conformance: Some("B".into())
            })
        );
        assert_eq!(pdfa_claim(b"<pdf:Producer>x</pdf:Producer>"), None);
    }
}
