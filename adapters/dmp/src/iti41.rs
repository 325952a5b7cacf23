//! TD2.1: ITI-41 ProvideAndRegisterDocumentSet-b framed as MTOM/XOP (dmp.md §1.4, §4.1).

use crate::envelope::{
    Addressing, Endpoint, HttpRequest, Transaction, check_boundary_id, write_envelope,
};
use crate::error::{DmpProtocolError, input};
use crate::mtom;
use crate::xml::raw;

/// XDS.b namespace.
pub const XDSB_NS: &str = "urn:ihe:iti:xds-b:2007";
/// XOP include namespace.
pub const XOP_NS: &str = "http://www.w3.org/2004/08/xop/include";

/// One document to attach: its `xdsb:Document/@id` (the ExtrinsicObject id) and exact bytes.
#[derive(Debug, Clone, Copy)]
pub struct Attachment<'a> {
    /// `Doc01`, `Sig01`…
    pub id: &'a str,
    /// The bytes hashed in the metadata.
    pub bytes: &'a [u8],
}

/// Everything an ITI-41 request needs; ids are fixed by the caller (render once, resend).
#[derive(Debug, Clone, Copy)]
pub struct Iti41Input<'a> {
    /// Endpoint.
    pub endpoint: &'a Endpoint,
    /// `wsa:MessageID` UUID.
    pub message_id: &'a str,
    /// MIME boundary UUID (`MIMEBoundary_{uuid}`).
    pub boundary_id: &'a str,
    /// The signed VIHF, verbatim.
    pub vihf: &'a [u8],
    /// The `lcm:SubmitObjectsRequest` element (from `passerelle_documents::submit_objects_request`).
    pub submit_objects_request: &'a str,
    /// Attachments in `xdsb:Document` order (Content-IDs 0.2, 0.3…).
    pub documents: &'a [Attachment<'a>],
}

fn check_id(id: &str) -> bool {
    let mut b = id.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
}

/// Builds the request in one pass into one buffer sized up front: the documents are copied once,
/// never base64-encoded or concatenated as strings.
pub fn build_iti41_request(i: &Iti41Input<'_>) -> Result<HttpRequest, DmpProtocolError> {
    check_boundary_id(i.boundary_id)?;
    let sor = i.submit_objects_request.trim();
    if !sor.starts_with("<lcm:SubmitObjectsRequest")
        || !sor.ends_with("</lcm:SubmitObjectsRequest>")
    {
        return Err(input(
            "submit_objects_request",
            "must be one lcm:SubmitObjectsRequest element without XML declaration",
        ));
    }
    if i.documents.is_empty() {
        return Err(input("documents", "at least one document"));
    }
    for (n, d) in i.documents.iter().enumerate() {
        if !check_id(d.id) {
            return Err(input("documents.id", "must be an NCName"));
        }
        if i.documents[..n].iter().any(|o| o.id == d.id) {
            return Err(input("documents.id", "duplicate"));
        }
        if !sor.contains(&format!("<rim:ExtrinsicObject id=\"{}\"", d.id)) {
            return Err(input(
                "documents.id",
                "names no rim:ExtrinsicObject of the metadata",
            ));
        }
    }
    let boundary = mtom::boundary(i.boundary_id);
    for d in i.documents {
        if mtom::contains_delimiter(d.bytes, &boundary) {
            return Err(input("boundary_id", "occurs in a document: choose another"));
        }
    }
    let to = i.endpoint.url(Transaction::Iti41);
    let doc_bytes: usize = i.documents.iter().map(|d| d.bytes.len()).sum();
    let envelope_len = 1024 + to.len() + i.vihf.len() + sor.len() + 160 * i.documents.len();
    let sizes: Vec<usize> = i.documents.iter().map(|d| d.bytes.len()).collect();
    let mut body =
        Vec::with_capacity(mtom::framed_len(&boundary, envelope_len, &sizes).max(doc_bytes));
    mtom::write_root_start(&mut body, &boundary);
    write_envelope(
        &mut body,
        &Addressing {
            transaction: Transaction::Iti41,
            message_id: i.message_id,
            to: &to,
        },
        i.vihf,
        |o| {
            raw(
                o,
                "<xdsb:ProvideAndRegisterDocumentSetRequest xmlns:xdsb=\"",
            );
            raw(o, XDSB_NS);
            raw(o, "\" xmlns:xop=\"");
            raw(o, XOP_NS);
            raw(o, "\">");
            raw(o, sor);
            for (n, d) in i.documents.iter().enumerate() {
                raw(o, "<xdsb:Document id=\"");
                raw(o, d.id);
                raw(o, "\"><xop:Include href=\"cid:");
                raw(o, &mtom::attachment_cid(n));
                raw(o, "\"/></xdsb:Document>");
            }
            raw(o, "</xdsb:ProvideAndRegisterDocumentSetRequest>");
        },
    )?;
    for (n, d) in i.documents.iter().enumerate() {
        mtom::write_attachment(&mut body, &boundary, &mtom::attachment_cid(n), d.bytes);
    }
    mtom::write_end(&mut body, &boundary);
    Ok(HttpRequest {
        transaction: Transaction::Iti41,
        path: i.endpoint.path(Transaction::Iti41),
        host: i.endpoint.authority().to_owned(),
        content_type: mtom::content_type(&boundary, Transaction::Iti41.action()),
        body,
    })
}
