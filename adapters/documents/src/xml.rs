//! A tiny append-only XML writer: one growing buffer, no intermediate strings (hot path for 1 MiB PDFs).

pub(crate) struct Xml {
    buf: String,
    depth: usize,
    indent: bool,
}

impl Xml {
    pub(crate) fn with_capacity(capacity: usize, indent: bool) -> Self {
        Xml {
            buf: String::with_capacity(capacity),
            depth: 0,
            indent,
        }
    }

    pub(crate) fn declaration(&mut self) {
        self.buf
            .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    }

    fn newline(&mut self) {
        if self.indent {
            if !self.buf.is_empty() {
                self.buf.push('\n');
            }
            for _ in 0..self.depth {
                self.buf.push_str("  ");
            }
        }
    }

    fn start_tag(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.newline();
        self.buf.push('<');
        self.buf.push_str(name);
        for (k, v) in attrs {
            self.buf.push(' ');
            self.buf.push_str(k);
            self.buf.push_str("=\"");
            escape_into(&mut self.buf, v, true);
            self.buf.push('"');
        }
    }

    /// `<name a="v">` and one level deeper.
    pub(crate) fn open(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.start_tag(name, attrs);
        self.buf.push('>');
        self.depth += 1;
    }

    /// `</name>` one level up.
    pub(crate) fn close(&mut self, name: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.newline();
        self.buf.push_str("</");
        self.buf.push_str(name);
        self.buf.push('>');
    }

    /// `<name a="v"/>`.
    pub(crate) fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.start_tag(name, attrs);
        self.buf.push_str("/>");
    }

    /// `<name a="v">text</name>` on one line.
    pub(crate) fn leaf(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        self.start_tag(name, attrs);
        self.buf.push('>');
        escape_into(&mut self.buf, text, false);
        self.buf.push_str("</");
        self.buf.push_str(name);
        self.buf.push('>');
    }

    /// Opens a leaf whose text the caller appends raw (already safe: base64).
    pub(crate) fn leaf_raw_start(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.start_tag(name, attrs);
        self.buf.push('>');
    }

    pub(crate) fn buf_mut(&mut self) -> &mut String {
        &mut self.buf
    }

    pub(crate) fn raw_end(&mut self, name: &str) {
        self.buf.push_str("</");
        self.buf.push_str(name);
        self.buf.push('>');
    }

    pub(crate) fn finish(mut self) -> String {
        if self.indent {
            self.buf.push('\n');
        }
        self.buf
    }
}

/// Escapes markup characters; characters XML 1.0 forbids are replaced by U+FFFD so the output
/// always parses (they cannot come from a well-formed DUI value anyway).
pub(crate) fn escape_into(out: &mut String, s: &str, attr: bool) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            '\t' if attr => out.push_str("&#9;"),
            '\n' if attr => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s, false);
    out
}
