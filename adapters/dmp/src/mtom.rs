//! MTOM/XOP framing (RFC 2387 multipart/related, W3C XOP; dmp.md §1.4): writer and bounded reader.
//!
//! Layout: CRLF line ends, Content-IDs `0.1` (SOAP root), `0.2`… in document order, binary parts.
//! The CRLF before a delimiter belongs to the delimiter (RFC 2046), so a part's content is exactly
//! the bytes hashed in the metadata.

use crate::error::DmpProtocolError;

/// Most parts a reader accepts (a submission has a handful).
pub const MAX_PARTS: usize = 64;
/// Most header bytes per part.
pub const MAX_PART_HEADER: usize = 8 * 1024;

const ROOT_HEADERS: &str = "Content-Type: application/xop+xml; charset=UTF-8; type=\"application/soap+xml\"\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <0.1>\r\n\r\n";

/// The boundary for a UUID (`MIMEBoundary_{uuid}`).
pub fn boundary(boundary_id: &str) -> String {
    format!("MIMEBoundary_{boundary_id}")
}

/// `Content-Type` header of an MTOM request.
pub fn content_type(boundary: &str, action: &str) -> String {
    format!(
        "multipart/related; boundary=\"{boundary}\"; type=\"application/xop+xml\"; start=\"<0.1>\"; start-info=\"application/soap+xml\"; action=\"{action}\""
    )
}

/// Content-ID of the n-th attachment (0-based): `0.2`, `0.3`…
pub fn attachment_cid(index: usize) -> String {
    format!("0.{}", index + 2)
}

/// Bytes the framing adds around a root of `root_len` bytes and the given attachment sizes.
pub fn framed_len(boundary: &str, root_len: usize, attachments: &[usize]) -> usize {
    let delim = 2 + boundary.len() + 2; // --B CRLF
    let att_headers = "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <0.NN>\r\n\r\n".len();
    delim
        + ROOT_HEADERS.len()
        + root_len
        + attachments
            .iter()
            .map(|n| 2 + delim + att_headers + n)
            .sum::<usize>()
        + 2
        + 2
        + boundary.len()
        + 4
}

/// True when `needle` (`\r\n--boundary`) occurs in `hay`; scans for CR bytes only.
pub(crate) fn contains_delimiter(hay: &[u8], boundary: &str) -> bool {
    let b = boundary.as_bytes();
    let mut i = 0;
    while let Some(p) = hay[i..].iter().position(|&c| c == b'\r') {
        let at = i + p;
        let rest = &hay[at..];
        if rest.len() >= 4 + b.len() && &rest[..4] == b"\r\n--" && &rest[4..4 + b.len()] == b {
            return true;
        }
        i = at + 1;
    }
    false
}

/// Writes the root part header, then calls `root` to write the SOAP envelope in place.
pub(crate) fn write_root_start(out: &mut Vec<u8>, boundary: &str) {
    out.extend_from_slice(b"--");
    out.extend_from_slice(boundary.as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(ROOT_HEADERS.as_bytes());
}

/// Appends one binary attachment part.
pub(crate) fn write_attachment(out: &mut Vec<u8>, boundary: &str, cid: &str, bytes: &[u8]) {
    out.extend_from_slice(b"\r\n--");
    out.extend_from_slice(boundary.as_bytes());
    out.extend_from_slice(
        b"\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <",
    );
    out.extend_from_slice(cid.as_bytes());
    out.extend_from_slice(b">\r\n\r\n");
    out.extend_from_slice(bytes);
}

/// Closes the multipart body.
pub(crate) fn write_end(out: &mut Vec<u8>, boundary: &str) {
    out.extend_from_slice(b"\r\n--");
    out.extend_from_slice(boundary.as_bytes());
    out.extend_from_slice(b"--\r\n");
}

/// A parsed `Content-Type`: lower-cased media type and parameters (names lower-cased, quotes
/// removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    /// `type/subtype`, lower case.
    pub mime: String,
    /// Parameters in order.
    pub params: Vec<(String, String)>,
}

impl ContentType {
    /// Parses a header value; `None` when it has no `type/subtype`.
    pub fn parse(value: &str) -> Option<Self> {
        let mut it = split_params(value).into_iter();
        let mime = it.next()?.trim().to_ascii_lowercase();
        if !mime.contains('/') || mime.contains(char::is_whitespace) {
            return None;
        }
        let mut params = Vec::new();
        for p in it {
            let p = p.trim();
            if p.is_empty() {
                continue;
            }
            let (k, v) = p.split_once('=')?;
            let v = v.trim();
            let v = match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(q) => q.replace("\\\"", "\"").replace("\\\\", "\\"),
                None => v.to_owned(),
            };
            params.push((k.trim().to_ascii_lowercase(), v));
        }
        Some(ContentType { mime, params })
    }

    /// A parameter value by (lower-case) name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Splits on `;` outside double quotes.
fn split_params(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    /// Header fields (names as written, values trimmed).
    pub headers: Vec<(String, String)>,
    /// The content, exactly as framed.
    pub body: &'a [u8],
}

impl Part<'_> {
    /// A header by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `Content-ID` without angle brackets.
    pub fn content_id(&self) -> Option<&str> {
        self.header("content-id").map(|v| {
            let v = v.trim();
            v.strip_prefix('<')
                .and_then(|v| v.strip_suffix('>'))
                .unwrap_or(v)
        })
    }
}

/// A parsed multipart/related body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipart<'a> {
    /// The `Content-Type` of the whole body.
    pub content_type: ContentType,
    /// Parts in order.
    pub parts: Vec<Part<'a>>,
}

impl<'a> Multipart<'a> {
    /// The root part: the one named by `start`, else the first.
    pub fn root(&self) -> Result<&Part<'a>, DmpProtocolError> {
        match self.content_type.param("start") {
            Some(start) => {
                let cid = start.trim().trim_start_matches('<').trim_end_matches('>');
                self.part_by_cid(cid)
                    .ok_or(DmpProtocolError::Mtom("start names no part"))
            }
            None => self.parts.first().ok_or(DmpProtocolError::Mtom("no part")),
        }
    }

    /// The part with this Content-ID (without `cid:` or brackets).
    pub fn part_by_cid(&self, cid: &str) -> Option<&Part<'a>> {
        self.parts.iter().find(|p| p.content_id() == Some(cid))
    }

    /// The attachment an `xop:Include href="cid:…"` points to (URL-escaped `%xx` decoded).
    pub fn resolve_href(&self, href: &str) -> Option<&Part<'a>> {
        let cid = href.strip_prefix("cid:")?;
        let decoded = percent_decode(cid)?;
        self.part_by_cid(&decoded)
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = b.get(i + 1..i + 3)?;
            let h = std::str::from_utf8(h).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    let first = needle[0];
    let mut i = from;
    while let Some(p) = hay[i..].iter().position(|&c| c == first) {
        let at = i + p;
        if hay.len() - at >= needle.len() && &hay[at..at + needle.len()] == needle {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

/// Parses a `multipart/related` body (any `type`); bounded: at most [`MAX_PARTS`] parts and
/// [`MAX_PART_HEADER`] header bytes each. Precise errors, never a panic (fuzzed).
pub fn parse<'a>(content_type: &str, body: &'a [u8]) -> Result<Multipart<'a>, DmpProtocolError> {
    let ct = ContentType::parse(content_type)
        .ok_or(DmpProtocolError::Mtom("Content-Type is not a media type"))?;
    if ct.mime != "multipart/related" {
        return Err(DmpProtocolError::Mtom(
            "Content-Type is not multipart/related",
        ));
    }
    let boundary = ct
        .param("boundary")
        .ok_or(DmpProtocolError::Mtom("no boundary parameter"))?
        .to_owned();
    if boundary.is_empty() || boundary.len() > 70 {
        return Err(DmpProtocolError::Mtom(
            "boundary must be 1 to 70 characters",
        ));
    }
    let dash = format!("--{boundary}");
    let delim = format!("\r\n--{boundary}");
    // First delimiter: at the very start or after a preamble line.
    let mut pos = if body.starts_with(dash.as_bytes()) {
        dash.len()
    } else {
        find(body, delim.as_bytes(), 0).ok_or(DmpProtocolError::Mtom("no opening delimiter"))?
            + delim.len()
    };
    let mut parts = Vec::new();
    loop {
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            break; // close delimiter; epilogue ignored
        }
        // Transport padding then CRLF.
        let pad = rest
            .iter()
            .take_while(|&&c| c == b' ' || c == b'\t')
            .count();
        if !rest[pad..].starts_with(b"\r\n") {
            return Err(DmpProtocolError::Mtom("delimiter not followed by CRLF"));
        }
        pos += pad + 2;
        if parts.len() == MAX_PARTS {
            return Err(DmpProtocolError::Mtom("too many parts"));
        }
        let (headers, content_start) = if body[pos..].starts_with(b"\r\n") {
            (Vec::new(), pos + 2)
        } else {
            let end = find(body, b"\r\n\r\n", pos)
                .ok_or(DmpProtocolError::Mtom("part headers not terminated"))?;
            if end - pos > MAX_PART_HEADER {
                return Err(DmpProtocolError::Mtom("part headers too large"));
            }
            (parse_headers(&body[pos..end])?, end + 4)
        };
        let end = find(body, delim.as_bytes(), content_start)
            .ok_or(DmpProtocolError::Mtom("part not closed by a delimiter"))?;
        parts.push(Part {
            headers,
            body: &body[content_start..end],
        });
        pos = end + delim.len();
    }
    if parts.is_empty() {
        return Err(DmpProtocolError::Mtom("no part"));
    }
    Ok(Multipart {
        content_type: ct,
        parts,
    })
}

fn parse_headers(block: &[u8]) -> Result<Vec<(String, String)>, DmpProtocolError> {
    let text =
        std::str::from_utf8(block).map_err(|_| DmpProtocolError::Mtom("part header not UTF-8"))?;
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            // Folded continuation line.
            let last = out
                .last_mut()
                .ok_or(DmpProtocolError::Mtom("continuation before any header"))?;
            last.1.push(' ');
            last.1.push_str(line.trim());
            continue;
        }
        let (k, v) = line
            .split_once(':')
            .ok_or(DmpProtocolError::Mtom("part header without colon"))?;
        if k.is_empty() || k.contains(char::is_whitespace) {
            return Err(DmpProtocolError::Mtom("bad part header name"));
        }
        out.push((k.to_owned(), v.trim().to_owned()));
    }
    Ok(out)
}
