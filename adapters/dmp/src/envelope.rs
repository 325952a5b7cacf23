//! SOAP 1.2 envelope with WS-Addressing and `wsse:Security` holding the signed VIHF verbatim
//! (dmp.md §1.3), the transaction catalogue (§1.2) and plain HTTP framing.

use crate::error::{DmpProtocolError, input};
use crate::xml::{escape_into, raw};

/// SOAP 1.2 envelope namespace.
pub const SOAP_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
/// WS-Addressing 1.0 namespace.
pub const WSA_NS: &str = "http://www.w3.org/2005/08/addressing";
/// WS-Security 1.0 secext namespace.
pub const WSSE_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";

/// The DMP transactions Passerelle uses, with their path and `wsa:Action` (dmp.md §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transaction {
    /// TD0.2: DMP existence and status (HL7v3 PRPA_IN201307UV02), `/patients`.
    Td02,
    /// TD2.1: ITI-41 ProvideAndRegisterDocumentSet-b (MTOM), `/repository`.
    Iti41,
    /// TD3.1b: ITI-18 RegistryStoredQuery GetDocuments by uniqueId, `/registry`.
    Iti18,
    /// TD3.3c: ITI-57 UpdateDocumentSet (logical deletion), `/registry`.
    Iti57,
}

impl Transaction {
    /// Path below the base URL.
    pub fn path(self) -> &'static str {
        match self {
            Transaction::Td02 => "/patients",
            Transaction::Iti41 => "/repository",
            Transaction::Iti18 | Transaction::Iti57 => "/registry",
        }
    }

    /// `wsa:Action` and MIME `action`.
    pub fn action(self) -> &'static str {
        match self {
            Transaction::Td02 => "urn:hl7-org:v3:PRPA_IN201307UV02",
            Transaction::Iti41 => "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b",
            Transaction::Iti18 => "urn:ihe:iti:2007:RegistryStoredQuery",
            Transaction::Iti57 => "urn:ihe:iti:2010:UpdateDocumentSet",
        }
    }

    /// The response action a DMP answers with.
    pub fn response_action(self) -> &'static str {
        match self {
            Transaction::Td02 => "urn:hl7-org:v3:PRPA_IN201306UV02",
            Transaction::Iti41 => "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse",
            Transaction::Iti18 => "urn:ihe:iti:2007:RegistryStoredQueryResponse",
            Transaction::Iti57 => "urn:ihe:iti:2010:UpdateDocumentSetResponse",
        }
    }

    /// Transaction from an action (simulator routing).
    pub fn from_action(action: &str) -> Option<Self> {
        [
            Transaction::Td02,
            Transaction::Iti41,
            Transaction::Iti18,
            Transaction::Iti57,
        ]
        .into_iter()
        .find(|t| t.action() == action)
    }

    /// Short name for logs and file names.
    pub fn name(self) -> &'static str {
        match self {
            Transaction::Td02 => "TD0.2",
            Transaction::Iti41 => "ITI-41",
            Transaction::Iti18 => "ITI-18",
            Transaction::Iti57 => "ITI-57",
        }
    }
}

/// The DMP base URL split for HTTP framing: `https://host[:port]/si-dmp-server/v2/services`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    base: String,
    authority: String,
    host: String,
    port: u16,
    base_path: String,
}

impl Endpoint {
    /// Parses an `https://` base URL (no query, no fragment, no user info).
    pub fn parse(base_url: &str) -> Result<Self, DmpProtocolError> {
        let rest = base_url
            .strip_prefix("https://")
            .ok_or(DmpProtocolError::Endpoint(
                "base URL must start with https://",
            ))?;
        if rest.contains(['?', '#', '@', ' ']) {
            return Err(DmpProtocolError::Endpoint(
                "base URL must not carry a query, fragment, user info or space",
            ));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(DmpProtocolError::Endpoint("base URL has no host"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6
                .find(']')
                .ok_or(DmpProtocolError::Endpoint("unterminated IPv6 literal"))?;
            let host = &v6[..end];
            let port = match &v6[end + 1..] {
                "" => 443,
                p => p
                    .strip_prefix(':')
                    .and_then(|p| p.parse().ok())
                    .ok_or(DmpProtocolError::Endpoint("bad port"))?,
            };
            (host.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_owned(),
                    p.parse()
                        .map_err(|_| DmpProtocolError::Endpoint("bad port"))?,
                ),
                None => (authority.to_owned(), 443),
            }
        };
        Ok(Endpoint {
            base: format!("https://{authority}{path}"),
            authority: authority.to_owned(),
            host,
            port,
            base_path: path.to_owned(),
        })
    }

    /// `host[:port]` as written (HTTP `Host`).
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// Host name or address (TLS server name, TCP connect).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Absolute URL of a transaction (`wsa:To`).
    pub fn url(&self, t: Transaction) -> String {
        format!("{}{}", self.base, t.path())
    }

    /// Request path of a transaction.
    pub fn path(&self, t: Transaction) -> String {
        format!("{}{}", self.base_path, t.path())
    }
}

/// WS-Addressing header values of one request.
#[derive(Debug, Clone, Copy)]
pub struct Addressing<'a> {
    /// The transaction (gives `wsa:Action`).
    pub transaction: Transaction,
    /// `wsa:MessageID` UUID, without `urn:uuid:`.
    pub message_id: &'a str,
    /// `wsa:To`.
    pub to: &'a str,
}

/// Checks that the VIHF can be pasted verbatim: one element, no XML declaration (the caller
/// produced it with `passerelle_xmlsig::build_and_sign`).
fn check_vihf(vihf: &[u8]) -> Result<(), DmpProtocolError> {
    if !vihf.starts_with(b"<saml:Assertion") || !vihf.ends_with(b"</saml:Assertion>") {
        return Err(input(
            "vihf",
            "must be a saml:Assertion element without XML declaration",
        ));
    }
    Ok(())
}

fn check_uuid(field: &'static str, s: &str) -> Result<(), DmpProtocolError> {
    let ok = s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    if ok {
        Ok(())
    } else {
        Err(input(field, "must be a UUID (8-4-4-4-12 hexadecimal)"))
    }
}

pub(crate) fn check_message_id(id: &str) -> Result<(), DmpProtocolError> {
    check_uuid("message_id", id)
}

pub(crate) fn check_boundary_id(id: &str) -> Result<(), DmpProtocolError> {
    check_uuid("boundary_id", id)
}

/// Writes the envelope; `body` writes the `soap:Body` content. The envelope declares no default
/// namespace and none of `ds`, `saml`, `xsi`, so the VIHF digest holds (dmp.md §1.3).
pub fn write_envelope(
    out: &mut Vec<u8>,
    a: &Addressing<'_>,
    vihf: &[u8],
    body: impl FnOnce(&mut Vec<u8>),
) -> Result<(), DmpProtocolError> {
    check_vihf(vihf)?;
    check_message_id(a.message_id)?;
    raw(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    raw(out, "<soap:Envelope xmlns:soap=\"");
    raw(out, SOAP_NS);
    raw(out, "\" xmlns:wsa=\"");
    raw(out, WSA_NS);
    raw(
        out,
        "\"><soap:Header><wsa:Action soap:mustUnderstand=\"true\">",
    );
    raw(out, a.transaction.action());
    raw(out, "</wsa:Action><wsa:MessageID>urn:uuid:");
    raw(out, a.message_id);
    raw(out, "</wsa:MessageID><wsa:To>");
    escape_into(out, a.to);
    raw(out, "</wsa:To><wsse:Security xmlns:wsse=\"");
    raw(out, WSSE_NS);
    raw(out, "\">");
    out.extend_from_slice(vihf);
    raw(out, "</wsse:Security></soap:Header><soap:Body>");
    body(out);
    raw(out, "</soap:Body></soap:Envelope>");
    Ok(())
}

/// One HTTP/1.1 POST, byte-exact (`passerelle render` writes it as `dmp/NN-request.http`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The transaction.
    pub transaction: Transaction,
    /// Request path (`/si-dmp-server/v2/services/repository`).
    pub path: String,
    /// `Host` header.
    pub host: String,
    /// `Content-Type` header (multipart/related for ITI-41, application/soap+xml otherwise).
    pub content_type: String,
    /// The body; its length is the `Content-Length`.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// Header fields in the order they are sent (no `SOAPAction`, no `Authorization`, no
    /// chunking: dmp.md §1.3–1.4).
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            ("Host", self.host.clone()),
            ("Content-Type", self.content_type.clone()),
            ("Content-Length", self.body.len().to_string()),
        ]
    }

    /// The whole request as sent on the wire: request line, headers, CRLF, body.
    pub fn to_http_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 512);
        raw(&mut out, "POST ");
        raw(&mut out, &self.path);
        raw(&mut out, " HTTP/1.1\r\n");
        for (k, v) in self.headers() {
            raw(&mut out, k);
            raw(&mut out, ": ");
            raw(&mut out, &v);
            raw(&mut out, "\r\n");
        }
        raw(&mut out, "\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// `Content-Type` of plain SOAP calls (dmp.md §1.4).
pub fn soap_content_type(t: Transaction) -> String {
    format!(
        "application/soap+xml; charset=UTF-8; action=\"{}\"",
        t.action()
    )
}

/// A plain (non-MTOM) SOAP request around a body writer.
pub fn plain_request(
    endpoint: &Endpoint,
    transaction: Transaction,
    message_id: &str,
    vihf: &[u8],
    body: impl FnOnce(&mut Vec<u8>),
) -> Result<HttpRequest, DmpProtocolError> {
    let to = endpoint.url(transaction);
    let mut out = Vec::with_capacity(vihf.len() + 4096);
    write_envelope(
        &mut out,
        &Addressing {
            transaction,
            message_id,
            to: &to,
        },
        vihf,
        body,
    )?;
    Ok(HttpRequest {
        transaction,
        path: endpoint.path(transaction),
        host: endpoint.authority().to_owned(),
        content_type: soap_content_type(transaction),
        body: out,
    })
}
