//! Small XML helpers: escaping into a byte buffer and namespace-aware look-ups on roxmltree.

use roxmltree::Node;

/// Appends `s` escaped for element text or a double-quoted attribute value.
pub(crate) fn escape_into(out: &mut Vec<u8>, s: &str) {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'"' => b"&quot;",
            b'\r' => b"&#xD;",
            _ => continue,
        };
        out.extend_from_slice(&s.as_bytes()[last..i]);
        out.extend_from_slice(rep);
        last = i + 1;
    }
    out.extend_from_slice(&s.as_bytes()[last..]);
}

/// `<name attr="v"…>` helpers writing straight into the buffer.
pub(crate) fn raw(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
}

pub(crate) fn attr(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(b' ');
    raw(out, name);
    raw(out, "=\"");
    escape_into(out, value);
    out.push(b'"');
}

/// Element test by namespace URI and local name.
pub(crate) fn is(n: Node<'_, '_>, ns: &str, local: &str) -> bool {
    n.is_element() && n.tag_name().name() == local && n.tag_name().namespace() == Some(ns)
}

/// First element child with this namespace and local name.
pub(crate) fn child<'a, 'i>(n: Node<'a, 'i>, ns: &str, local: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| is(*c, ns, local))
}

/// Concatenated text of a node's descendants (comments excluded).
pub(crate) fn text(n: Node<'_, '_>) -> String {
    n.descendants()
        .filter(|d| d.is_text())
        .filter_map(|d| d.text())
        .collect()
}

/// Parses with DTDs refused (roxmltree's default) and a node budget.
pub(crate) fn parse(xml: &str) -> Result<roxmltree::Document<'_>, crate::DmpProtocolError> {
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: 1_000_000,
        ..Default::default()
    };
    roxmltree::Document::parse_with_options(xml, opts)
        .map_err(|e| crate::error::xml("document", e.to_string()))
}
