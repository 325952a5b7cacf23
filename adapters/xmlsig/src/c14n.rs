//! Exclusive XML Canonicalization 1.0 (<http://www.w3.org/2001/10/xml-exc-c14n#>) over a parsed
//! tree, with or without comments, with an optional InclusiveNamespaces PrefixList; and inclusive
//! Canonical XML 1.0 (only to verify legacy XAdES documents written by other clients).
//!
//! The node-sets supported are the ones XML-DSig produces here: a whole document, or the subtree of
//! one element (a same-document `#id` reference) optionally minus one descendant subtree (the
//! enveloped-signature transform). Anything the parser cannot map back to source prefixes (markup
//! coming from entity expansion) is refused rather than guessed.

use roxmltree::{Document, Node, NodeId, NodeType, ParsingOptions};

use crate::error::XmlSigError;

/// Upper bound on the input of the public c14n entry point (and of the verifiers).
pub const MAX_INPUT: usize = 16 * 1024 * 1024;
const NODES_LIMIT: u32 = 1_000_000;
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Which canonicalization.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum C14nAlgorithm {
    /// Exclusive XML Canonicalization 1.0 (what this crate signs with).
    #[default]
    Exclusive,
    /// Canonical XML 1.0 (inclusive), accepted when verifying legacy XAdES documents.
    Inclusive10,
}

/// Options of [`canonicalize`].
#[derive(Debug, Clone, Default)]
pub struct C14nOptions {
    /// Exclusive (default) or inclusive 1.0.
    pub algorithm: C14nAlgorithm,
    /// `true` for `xml-exc-c14n#WithComments`.
    pub with_comments: bool,
    /// The InclusiveNamespaces PrefixList (`#default` for the default namespace); exclusive only.
    pub inclusive_prefixes: Vec<String>,
    /// Accept an internal DTD (entities are expanded, default attributes are NOT added).
    pub allow_dtd: bool,
}

/// Canonicalizes a whole document. The fuzzed entry point.
pub fn canonicalize(xml: &[u8], opts: &C14nOptions) -> Result<Vec<u8>, XmlSigError> {
    let text = as_text(xml)?;
    let doc = parse(text, opts.allow_dtd)?;
    let prefixes: Vec<&str> = opts.inclusive_prefixes.iter().map(String::as_str).collect();
    let c = Canonicalizer::new(opts.algorithm, opts.with_comments, &prefixes, None);
    let mut out = Vec::with_capacity(xml.len());
    c.document(&doc, &mut out)?;
    Ok(out)
}

pub(crate) fn as_text(xml: &[u8]) -> Result<&str, XmlSigError> {
    if xml.len() > MAX_INPUT {
        return Err(XmlSigError::TooLarge { limit: MAX_INPUT });
    }
    std::str::from_utf8(xml).map_err(|_| XmlSigError::NotUtf8)
}

pub(crate) fn parse(text: &str, allow_dtd: bool) -> Result<Document<'_>, XmlSigError> {
    let opts = ParsingOptions {
        allow_dtd,
        nodes_limit: NODES_LIMIT,
        ..ParsingOptions::default()
    };
    Document::parse_with_options(text, opts).map_err(|e| XmlSigError::Parse(e.to_string()))
}

/// Parses the prefix of a qualified name as written in the source.
fn split_qname(qname: &str) -> (&str, &str) {
    match qname.split_once(':') {
        Some((p, l)) => (p, l),
        None => ("", qname),
    }
}

/// The element's prefix as written ("" for none), checked against the parser's resolution.
pub(crate) fn element_prefix<'a>(node: Node<'a, '_>) -> Result<&'a str, XmlSigError> {
    let text = node.document().input_text();
    let start = node.range().start;
    let rest =
        text.get(start..)
            .and_then(|s| s.strip_prefix('<'))
            .ok_or(XmlSigError::Unsupported(
                "element not found at its source position",
            ))?;
    let end = rest
        .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
        .ok_or(XmlSigError::Unsupported("element name not terminated"))?;
    let (prefix, local) = split_qname(&rest[..end]);
    let tag = node.tag_name();
    let resolved = if prefix.is_empty() {
        node.lookup_namespace_uri(None).filter(|u| !u.is_empty())
    } else {
        node.lookup_namespace_uri(Some(prefix))
    };
    if local != tag.name() || resolved != tag.namespace().filter(|u| !u.is_empty()) {
        // The source text at this position is not this element (entity expansion): fail closed.
        return Err(XmlSigError::Unsupported(
            "element prefix cannot be recovered from the source",
        ));
    }
    Ok(prefix)
}

fn attribute_prefix<'a>(
    node: Node<'a, '_>,
    attr: &roxmltree::Attribute<'a, '_>,
) -> Result<&'a str, XmlSigError> {
    let text = node.document().input_text();
    let qname = text
        .get(attr.range_qname())
        .ok_or(XmlSigError::Unsupported(
            "attribute not found at its source position",
        ))?;
    let (prefix, local) = split_qname(qname);
    let ok = local == attr.name()
        && if prefix.is_empty() {
            attr.namespace().is_none()
        } else if prefix == "xml" {
            attr.namespace() == Some(XML_NS)
        } else {
            node.lookup_namespace_uri(Some(prefix)) == attr.namespace()
        };
    if !ok {
        return Err(XmlSigError::Unsupported(
            "attribute prefix cannot be recovered from the source",
        ));
    }
    Ok(prefix)
}

/// The default namespace in scope ("" when none or undeclared with `xmlns=""`).
fn default_ns<'a>(node: Node<'a, '_>) -> &'a str {
    node.lookup_namespace_uri(None).unwrap_or("")
}

pub(crate) struct Canonicalizer<'p> {
    algorithm: C14nAlgorithm,
    with_comments: bool,
    /// InclusiveNamespaces, with `#default` mapped to "".
    inclusive: Vec<&'p str>,
    exclude: Option<NodeId>,
}

impl<'p> Canonicalizer<'p> {
    pub(crate) fn new(
        algorithm: C14nAlgorithm,
        with_comments: bool,
        prefixes: &[&'p str],
        exclude: Option<NodeId>,
    ) -> Self {
        let inclusive = prefixes
            .iter()
            .map(|p| if *p == "#default" { "" } else { *p })
            .collect();
        Canonicalizer {
            algorithm,
            with_comments,
            inclusive,
            exclude,
        }
    }

    /// Whole document: top-level comments and PIs separated from the root by line feeds.
    pub(crate) fn document(
        &self,
        doc: &Document<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), XmlSigError> {
        let mut seen_root = false;
        for child in doc.root().children() {
            match child.node_type() {
                NodeType::Element => {
                    self.subtree(child, out)?;
                    seen_root = true;
                }
                NodeType::Comment | NodeType::PI => {
                    if child.is_comment() && !self.with_comments {
                        continue;
                    }
                    if seen_root {
                        out.push(b'\n');
                    }
                    self.leaf(child, out);
                    if !seen_root {
                        out.push(b'\n');
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The subtree rooted at `apex` (which must be an element), as the apex of the output.
    pub(crate) fn subtree(&self, apex: Node<'_, '_>, out: &mut Vec<u8>) -> Result<(), XmlSigError> {
        let mut rendered: Vec<(&str, &str)> = Vec::new();
        // C14N 1.0 §2.4: a subset's apex inherits xml:* attributes from its ancestors (exclusive
        // c14n deliberately does not).
        let mut inherited: Vec<(&str, &str, &str, &str)> = Vec::new();
        if self.algorithm == C14nAlgorithm::Inclusive10 {
            for anc in apex.ancestors().skip(1).filter(|n| n.is_element()) {
                for a in anc.attributes() {
                    if a.namespace() == Some(XML_NS)
                        && apex.attribute((XML_NS, a.name())).is_none()
                        && !inherited.iter().any(|(_, l, _, _)| *l == a.name())
                    {
                        inherited.push((XML_NS, a.name(), "xml", a.value()));
                    }
                }
            }
        }
        self.element(apex, &mut rendered, &inherited, out)
    }

    fn leaf(&self, node: Node<'_, '_>, out: &mut Vec<u8>) {
        match node.node_type() {
            NodeType::Text => escape_text(node.text().unwrap_or(""), out),
            NodeType::Comment => {
                out.extend_from_slice(b"<!--");
                out.extend_from_slice(node.text().unwrap_or("").as_bytes());
                out.extend_from_slice(b"-->");
            }
            NodeType::PI => {
                if let Some(pi) = node.pi() {
                    out.extend_from_slice(b"<?");
                    out.extend_from_slice(pi.target.as_bytes());
                    if let Some(v) = pi.value.filter(|v| !v.is_empty()) {
                        out.push(b' ');
                        out.extend_from_slice(v.as_bytes());
                    }
                    out.extend_from_slice(b"?>");
                }
            }
            NodeType::Root | NodeType::Element => {}
        }
    }

    fn element<'a>(
        &self,
        node: Node<'a, '_>,
        rendered: &mut Vec<(&'a str, &'a str)>,
        inherited: &[(&'a str, &'a str, &'a str, &'a str)],
        out: &mut Vec<u8>,
    ) -> Result<(), XmlSigError> {
        let prefix = element_prefix(node)?;
        // (ns, local, prefix, value)
        let mut attrs: Vec<(&str, &str, &str, &str)> = inherited.to_vec();
        for a in node.attributes() {
            let p = attribute_prefix(node, &a)?;
            attrs.push((a.namespace().unwrap_or(""), a.name(), p, a.value()));
        }

        // Namespace declarations to render on this element.
        let mut decls: Vec<(&'a str, &'a str)> = Vec::new();
        let lookup = |p: &str| -> Option<&'a str> {
            if p.is_empty() {
                Some(default_ns(node))
            } else {
                node.lookup_namespace_uri(Some(p))
            }
        };
        let consider = |p: &'a str, uri: &'a str, decls: &mut Vec<(&'a str, &'a str)>| {
            if p == "xml" || decls.iter().any(|(q, _)| *q == p) {
                return;
            }
            let current = rendered
                .iter()
                .rev()
                .find(|(q, _)| *q == p)
                .map(|(_, u)| *u);
            let needed = if p.is_empty() {
                // xmlns="" only undoes a non-empty default rendered above.
                current.unwrap_or("") != uri
            } else {
                current != Some(uri)
            };
            if needed {
                decls.push((p, uri));
            }
        };
        if let Some(uri) = lookup(prefix) {
            consider(prefix, uri, &mut decls);
        }
        for (_, _, p, _) in &attrs {
            if !p.is_empty()
                && let Some(uri) = lookup(p)
            {
                consider(p, uri, &mut decls);
            }
        }
        if self.algorithm == C14nAlgorithm::Inclusive10 {
            // Inclusive c14n: every namespace node in scope, unless the output parent has it.
            consider("", default_ns(node), &mut decls);
            for ns in node.namespaces() {
                if let Some(name) = ns.name() {
                    consider(name, ns.uri(), &mut decls);
                }
            }
        }
        for p in &self.inclusive {
            // Inclusive prefixes follow inclusive c14n: rendered whenever in scope.
            if p.is_empty() {
                consider("", default_ns(node), &mut decls);
            } else if let Some(ns) = node.namespaces().find(|n| n.name() == Some(*p)) {
                let name = ns.name().unwrap_or("");
                consider(name, ns.uri(), &mut decls);
            }
        }
        decls.sort_unstable_by(|a, b| a.0.cmp(b.0));
        attrs.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));

        out.push(b'<');
        write_qname(prefix, node.tag_name().name(), out);
        for (p, uri) in &decls {
            if p.is_empty() {
                out.extend_from_slice(b" xmlns=\"");
            } else {
                out.extend_from_slice(b" xmlns:");
                out.extend_from_slice(p.as_bytes());
                out.extend_from_slice(b"=\"");
            }
            escape_attr(uri, out);
            out.push(b'"');
        }
        for (_, local, p, value) in &attrs {
            out.push(b' ');
            write_qname(p, local, out);
            out.extend_from_slice(b"=\"");
            escape_attr(value, out);
            out.push(b'"');
        }
        out.push(b'>');

        let depth = rendered.len();
        rendered.extend_from_slice(&decls);
        for child in node.children() {
            match child.node_type() {
                NodeType::Element => {
                    if Some(child.id()) != self.exclude {
                        self.element(child, rendered, &[], out)?;
                    }
                }
                NodeType::Comment if !self.with_comments => {}
                _ => self.leaf(child, out),
            }
        }
        rendered.truncate(depth);

        out.extend_from_slice(b"</");
        write_qname(prefix, node.tag_name().name(), out);
        out.push(b'>');
        Ok(())
    }
}

fn write_qname(prefix: &str, local: &str, out: &mut Vec<u8>) {
    if !prefix.is_empty() {
        out.extend_from_slice(prefix.as_bytes());
        out.push(b':');
    }
    out.extend_from_slice(local.as_bytes());
}

/// Text node escaping of C14N 1.0 §2.3.
pub(crate) fn escape_text(s: &str, out: &mut Vec<u8>) {
    escape(s, out, |b| match b {
        b'&' => Some(&b"&amp;"[..]),
        b'<' => Some(&b"&lt;"[..]),
        b'>' => Some(&b"&gt;"[..]),
        b'\r' => Some(&b"&#xD;"[..]),
        _ => None,
    });
}

/// Attribute value escaping of C14N 1.0 §2.3.
pub(crate) fn escape_attr(s: &str, out: &mut Vec<u8>) {
    escape(s, out, |b| match b {
        b'&' => Some(&b"&amp;"[..]),
        b'<' => Some(&b"&lt;"[..]),
        b'"' => Some(&b"&quot;"[..]),
        b'\t' => Some(&b"&#x9;"[..]),
        b'\n' => Some(&b"&#xA;"[..]),
        b'\r' => Some(&b"&#xD;"[..]),
        _ => None,
    });
}

fn escape(s: &str, out: &mut Vec<u8>, map: impl Fn(u8) -> Option<&'static [u8]>) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if let Some(rep) = map(b) {
            out.extend_from_slice(&bytes[start..i]);
            out.extend_from_slice(rep);
            start = i + 1;
        }
    }
    out.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn c14n(xml: &str, prefixes: &[&str]) -> String {
        let opts = C14nOptions {
            inclusive_prefixes: prefixes.iter().map(|s| s.to_string()).collect(),
            ..C14nOptions::default()
        };
        String::from_utf8(canonicalize(xml.as_bytes(), &opts).unwrap()).unwrap()
    }

    #[test]
    fn unused_namespaces_dropped_and_attributes_sorted() {
        assert_eq!(
            c14n(
                r#"<a:r xmlns:a="urn:a" xmlns:b="urn:b" z="1" a:y="2" b="3"/>"#,
                &[]
            ),
            r#"<a:r xmlns:a="urn:a" b="3" z="1" a:y="2"></a:r>"#
        );
    }

    #[test]
    fn inclusive_prefix_rendered_when_unused() {
        assert_eq!(
            c14n(r#"<r xmlns:b="urn:b"><c/></r>"#, &["b"]),
            r#"<r xmlns:b="urn:b"><c></c></r>"#
        );
    }

    #[test]
    fn default_undeclaration_only_after_rendered_default() {
        assert_eq!(
            c14n(r#"<r xmlns="urn:d"><c xmlns=""/></r>"#, &[]),
            r#"<r xmlns="urn:d"><c xmlns=""></c></r>"#
        );
        assert_eq!(c14n(r#"<r><c xmlns=""/></r>"#, &[]), r#"<r><c></c></r>"#);
    }

    #[test]
    fn escaping() {
        assert_eq!(
            c14n("<r a=\"&#9;&lt;&quot;&#13;\">&gt;&#13;&amp;</r>", &[]),
            "<r a=\"&#x9;&lt;&quot;&#xD;\">&gt;&#xD;&amp;</r>"
        );
    }
}
