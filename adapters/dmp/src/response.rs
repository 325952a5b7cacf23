//! Replies: SOAP 1.2 envelopes (plain or MTOM), `rs:RegistryResponse`, SOAP Faults, HTTP status,
//! empty or unparseable bodies → one typed result with the DMP error code, its origin and whether
//! a retry can help (dmp.md §3.4). Also the reply writers the simulator uses.

use roxmltree::Node;

use crate::envelope::{SOAP_NS, WSA_NS};
use crate::mtom;
use crate::xml::{attr, child, escape_into, is, raw, text};

/// ebRS 3.0 namespaces.
pub const RS_NS: &str = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0";
/// ebRS query namespace.
pub const QUERY_NS: &str = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0";
/// ebRIM namespace.
pub const RIM_NS: &str = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0";
/// ebRS lcm namespace.
pub const LCM_NS: &str = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0";
/// RegistryResponse status: success.
pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success";
/// RegistryResponse status: failure.
pub const STATUS_FAILURE: &str = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure";
/// RegistryError severity: error.
pub const SEVERITY_ERROR: &str = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error";
/// RegistryError severity: warning.
pub const SEVERITY_WARNING: &str = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning";

/// Whether and how a failed exchange may be retried (engineering.md §3 retry classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Retry {
    /// Permanent: do not retry, alert.
    Never,
    /// Temporary: retry with backoff.
    Backoff,
    /// Server-side error: retry with backoff, at most 3 times.
    BackoffMax3,
    /// The request may have been acted upon (timeout, reset or empty reply after it was fully
    /// written): look the document up (TD3.1b) before retrying.
    Uncertain,
}

impl Retry {
    /// Whether any retry can help.
    pub fn retryable(self) -> bool {
        self != Retry::Never
    }
}

/// Which layer produced the failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureSource {
    /// `rs:RegistryResponse` (or AdhocQueryResponse) with status Failure and RegistryErrors.
    Registry,
    /// A SOAP 1.2 Fault.
    SoapFault,
    /// An HTTP status without a usable SOAP body.
    Http,
    /// An empty, non-XML or unexpected reply.
    Reply,
    /// Connection, TLS or timeout (set by the I/O client).
    Transport,
    /// Refused by the adapter before sending (DMP-CONF/ID/TYPE).
    Adapter,
    /// An HL7v3 acknowledgement (TD0.2) other than AA, or a DMP state that forbids feeding.
    Patient,
}

impl FailureSource {
    /// Stable lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            FailureSource::Registry => "registry",
            FailureSource::SoapFault => "soap_fault",
            FailureSource::Http => "http",
            FailureSource::Reply => "reply",
            FailureSource::Transport => "transport",
            FailureSource::Adapter => "adapter",
            FailureSource::Patient => "patient",
        }
    }
}

/// One `rs:RegistryError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryError {
    /// `@errorCode` as sent.
    pub error_code: String,
    /// `@codeContext`.
    pub code_context: String,
    /// `@severity`.
    pub severity: String,
    /// `@location`.
    pub location: String,
}

impl RegistryError {
    /// The code: the first HL7v2 component of `errorCode` (CI-SIS relays DMP codes as
    /// `code^label^DMP_ERROR_CODE`).
    pub fn code(&self) -> &str {
        self.error_code
            .split('^')
            .next()
            .unwrap_or(&self.error_code)
    }

    /// True for an error (not a warning).
    pub fn is_error(&self) -> bool {
        self.severity != SEVERITY_WARNING
    }
}

/// A failed exchange, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmpFailure {
    /// The DMP / IHE error code (`XDSRegistryBusy`, `InvalidSecurity`, `http_503`, …).
    pub code: String,
    /// Where it came from.
    pub source: FailureSource,
    /// Retry class.
    pub retry: Retry,
    /// Human text (the server's reason kept, truncated), never personal data from our side.
    pub message: String,
    /// HTTP status when there was a reply.
    pub http_status: Option<u16>,
    /// Every RegistryError of the reply.
    pub errors: Vec<RegistryError>,
}

impl DmpFailure {
    /// A failure without registry errors.
    pub fn new(
        code: impl Into<String>,
        source: FailureSource,
        retry: Retry,
        message: impl Into<String>,
    ) -> Self {
        DmpFailure {
            code: code.into(),
            source,
            retry,
            message: message.into(),
            http_status: None,
            errors: Vec::new(),
        }
    }

    fn with_status(mut self, status: u16) -> Self {
        self.http_status = Some(status);
        self
    }
}

/// Retry class of an IHE / DMP RegistryError code (dmp.md §3.4).
pub fn classify_registry_code(code: &str) -> Retry {
    match code {
        "XDSRegistryBusy"
        | "XDSRepositoryBusy"
        | "XDSRegistryOutOfResources"
        | "XDSRepositoryOutOfResources"
        | "XDSRegistryNotAvailable" => Retry::Backoff,
        "XDSRegistryError" | "XDSRepositoryError" => Retry::BackoffMax3,
        // Metadata, hash/size, patient id, duplicate uniqueId, unknown or DMP codes: permanent.
        _ => Retry::Never,
    }
}

/// WS-Security fault subcodes (OASIS WSS 1.0 §12): permanent.
const WSSE_FAULTS: &[&str] = &[
    "UnsupportedSecurityToken",
    "UnsupportedAlgorithm",
    "InvalidSecurity",
    "InvalidSecurityToken",
    "FailedAuthentication",
    "FailedCheck",
    "SecurityTokenUnavailable",
    "MessageExpired",
];

/// Retry class of a SOAP 1.2 Fault from its Code/Value and Subcode values (local names).
pub fn classify_fault(value: &str, subcodes: &[String]) -> Retry {
    if subcodes.iter().any(|s| WSSE_FAULTS.contains(&s.as_str())) {
        return Retry::Never;
    }
    match value {
        "Receiver" => Retry::BackoffMax3,
        _ => Retry::Never,
    }
}

/// Retry class of an HTTP status without a usable SOAP body.
pub fn classify_http(status: u16) -> Retry {
    match status {
        502..=504 => Retry::Backoff,
        500..=599 => Retry::Backoff,
        401 | 403 => Retry::Never,
        408 | 429 => Retry::Backoff,
        _ => Retry::Never,
    }
}

/// A reply as received.
#[derive(Debug, Clone, Copy)]
pub struct Reply<'a> {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type` header.
    pub content_type: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}

fn truncate(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// What a bad body means for the retry class: on 2xx the server may have acted.
fn bad_body(reply: &Reply<'_>, code: &str, why: &str) -> DmpFailure {
    let (source, retry) = if (200..300).contains(&reply.status) {
        (FailureSource::Reply, Retry::Uncertain)
    } else {
        (FailureSource::Http, classify_http(reply.status))
    };
    let code = if source == FailureSource::Http {
        format!("http_{}", reply.status)
    } else {
        code.to_owned()
    };
    DmpFailure::new(code, source, retry, why).with_status(reply.status)
}

/// The SOAP envelope text of a reply (MTOM root part or plain body).
fn envelope_text<'a>(reply: &Reply<'a>) -> Result<std::borrow::Cow<'a, str>, DmpFailure> {
    if reply.body.iter().all(u8::is_ascii_whitespace) {
        return Err(bad_body(reply, "empty_reply", "empty body"));
    }
    let ct = reply.content_type.and_then(mtom::ContentType::parse);
    let xml: &'a [u8] = match &ct {
        Some(c) if c.mime == "multipart/related" => {
            let ct_str = reply.content_type.unwrap_or_default();
            let mp = mtom::parse(ct_str, reply.body)
                .map_err(|e| bad_body(reply, "unparseable_reply", &e.to_string()))?;
            let root = mp
                .root()
                .map_err(|e| bad_body(reply, "unparseable_reply", &e.to_string()))?;
            root.body
        }
        _ => reply.body,
    };
    let s = std::str::from_utf8(xml)
        .map_err(|_| bad_body(reply, "unparseable_reply", "body is not UTF-8"))?;
    Ok(std::borrow::Cow::Borrowed(s))
}

/// Local part of a QName text (`soap:Receiver` → `Receiver`).
fn local(q: &str) -> String {
    q.trim().rsplit(':').next().unwrap_or("").to_owned()
}

/// A SOAP 1.2 Fault, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Code/Value local name (`Sender`, `Receiver`, …).
    pub value: String,
    /// Subcode values, outermost first (local names).
    pub subcodes: Vec<String>,
    /// First Reason/Text.
    pub reason: String,
    /// RegistryErrors found in Detail.
    pub errors: Vec<RegistryError>,
}

fn parse_fault(f: Node<'_, '_>) -> Fault {
    let code = child(f, SOAP_NS, "Code");
    let value = code
        .and_then(|c| child(c, SOAP_NS, "Value"))
        .map(|v| local(&text(v)))
        .unwrap_or_default();
    let mut subcodes = Vec::new();
    let mut cur = code.and_then(|c| child(c, SOAP_NS, "Subcode"));
    while let Some(sc) = cur {
        if subcodes.len() == 8 {
            break;
        }
        if let Some(v) = child(sc, SOAP_NS, "Value") {
            subcodes.push(local(&text(v)));
        }
        cur = child(sc, SOAP_NS, "Subcode");
    }
    let reason = child(f, SOAP_NS, "Reason")
        .and_then(|r| child(r, SOAP_NS, "Text"))
        .map(text)
        .unwrap_or_default();
    let errors = child(f, SOAP_NS, "Detail")
        .map(|d| registry_errors(d))
        .unwrap_or_default();
    Fault {
        value,
        subcodes,
        reason: truncate(&reason),
        errors,
    }
}

fn registry_errors(n: Node<'_, '_>) -> Vec<RegistryError> {
    n.descendants()
        .filter(|d| is(*d, RS_NS, "RegistryError"))
        .take(64)
        .map(|e| RegistryError {
            error_code: e.attribute("errorCode").unwrap_or_default().to_owned(),
            code_context: truncate(e.attribute("codeContext").unwrap_or_default()),
            severity: e.attribute("severity").unwrap_or(SEVERITY_ERROR).to_owned(),
            location: e.attribute("location").unwrap_or_default().to_owned(),
        })
        .collect()
}

fn fault_failure(f: Fault, status: u16) -> DmpFailure {
    let retry = if (502..=504).contains(&status) {
        Retry::Backoff
    } else {
        classify_fault(&f.value, &f.subcodes)
    };
    let code = f.subcodes.last().cloned().unwrap_or_else(|| {
        if f.value.is_empty() {
            "Fault".to_owned()
        } else {
            f.value.clone()
        }
    });
    DmpFailure {
        code,
        source: FailureSource::SoapFault,
        retry,
        message: f.reason,
        http_status: Some(status),
        errors: f.errors,
    }
}

/// Opens a reply down to the first element of `soap:Body` and hands it to `f`; every envelope,
/// Fault, HTTP or body problem becomes a [`DmpFailure`].
pub fn with_body<T>(
    reply: &Reply<'_>,
    f: impl FnOnce(Node<'_, '_>) -> Result<T, DmpFailure>,
) -> Result<T, DmpFailure> {
    let xml = envelope_text(reply)?;
    let doc = crate::xml::parse(&xml)
        .map_err(|_| bad_body(reply, "unparseable_reply", "body is not well-formed XML"))?;
    let env = doc.root_element();
    if !is(env, SOAP_NS, "Envelope") {
        return Err(bad_body(
            reply,
            "unparseable_reply",
            "root is not a SOAP 1.2 Envelope",
        ));
    }
    let body = child(env, SOAP_NS, "Body")
        .ok_or_else(|| bad_body(reply, "unparseable_reply", "no soap:Body"))?;
    let first = body.children().find(|c| c.is_element());
    if let Some(fault) = first.filter(|n| is(*n, SOAP_NS, "Fault")) {
        return Err(fault_failure(parse_fault(fault), reply.status));
    }
    if !(200..300).contains(&reply.status) {
        return Err(DmpFailure::new(
            format!("http_{}", reply.status),
            FailureSource::Http,
            classify_http(reply.status),
            "non-2xx status without a SOAP Fault",
        )
        .with_status(reply.status));
    }
    let first = first.ok_or_else(|| bad_body(reply, "unparseable_reply", "empty soap:Body"))?;
    f(first)
}

/// Registry failure from a status + RegistryErrorList element.
fn registry_outcome(n: Node<'_, '_>, status: u16) -> Result<Vec<RegistryError>, DmpFailure> {
    let st = n.attribute("status").unwrap_or_default();
    let errors = child(n, RS_NS, "RegistryErrorList")
        .map(registry_errors)
        .unwrap_or_default();
    if st == STATUS_SUCCESS {
        return Ok(errors);
    }
    let first = errors.iter().find(|e| e.is_error()).or(errors.first());
    let (code, msg) = match first {
        Some(e) => (e.code().to_owned(), e.code_context.clone()),
        None => (
            "registry_failure".to_owned(),
            format!("status {} without RegistryError", local(st)),
        ),
    };
    // The most cautious class of all errors decides.
    let mut retry = Retry::Backoff;
    for e in errors.iter().filter(|e| e.is_error()) {
        retry = match (retry, classify_registry_code(e.code())) {
            (_, Retry::Never) | (Retry::Never, _) => Retry::Never,
            (_, Retry::BackoffMax3) | (Retry::BackoffMax3, _) => Retry::BackoffMax3,
            _ => Retry::Backoff,
        };
    }
    if first.is_none() {
        retry = Retry::Never;
    }
    Err(DmpFailure {
        code,
        source: FailureSource::Registry,
        retry,
        message: msg,
        http_status: Some(status),
        errors,
    })
}

/// ITI-41 / ITI-57 reply: `rs:RegistryResponse` Success → the warnings; anything else a failure.
pub fn parse_registry_response(reply: &Reply<'_>) -> Result<Vec<RegistryError>, DmpFailure> {
    with_body(reply, |n| {
        if !is(n, RS_NS, "RegistryResponse") {
            return Err(bad_body(
                reply,
                "unexpected_reply",
                "soap:Body holds no rs:RegistryResponse",
            ));
        }
        registry_outcome(n, reply.status)
    })
}

/// ITI-18 reply: the `rim:ObjectRef/@id` (or ExtrinsicObject ids) of a Success response.
pub fn parse_iti18_response(reply: &Reply<'_>) -> Result<Vec<String>, DmpFailure> {
    with_body(reply, |n| {
        if !is(n, QUERY_NS, "AdhocQueryResponse") {
            return Err(bad_body(
                reply,
                "unexpected_reply",
                "soap:Body holds no query:AdhocQueryResponse",
            ));
        }
        registry_outcome(n, reply.status)?;
        let list = child(n, RIM_NS, "RegistryObjectList");
        Ok(list
            .map(|l| {
                l.children()
                    .filter(|c| is(*c, RIM_NS, "ObjectRef") || is(*c, RIM_NS, "ExtrinsicObject"))
                    .filter_map(|c| c.attribute("id").map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    })
}

/// A RegistryError to write (simulator side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorOut {
    /// errorCode.
    pub code: String,
    /// codeContext (the check id and a short reason).
    pub context: String,
    /// location.
    pub location: String,
}

impl ErrorOut {
    /// An error with an empty location.
    pub fn new(code: &str, context: &str) -> Self {
        ErrorOut {
            code: code.to_owned(),
            context: context.to_owned(),
            location: String::new(),
        }
    }
}

fn write_error_list(out: &mut Vec<u8>, errors: &[ErrorOut]) {
    if errors.is_empty() {
        return;
    }
    raw(out, "<rs:RegistryErrorList highestSeverity=\"");
    raw(out, SEVERITY_ERROR);
    raw(out, "\">");
    for e in errors {
        raw(out, "<rs:RegistryError");
        attr(out, "errorCode", &e.code);
        attr(out, "codeContext", &e.context);
        attr(out, "severity", SEVERITY_ERROR);
        attr(out, "location", &e.location);
        raw(out, "/>");
    }
    raw(out, "</rs:RegistryErrorList>");
}

/// `rs:RegistryResponse`: Success when `errors` is empty, else Failure with them.
pub fn registry_response_xml(out: &mut Vec<u8>, errors: &[ErrorOut]) {
    raw(out, "<rs:RegistryResponse xmlns:rs=\"");
    raw(out, RS_NS);
    raw(out, "\" status=\"");
    raw(
        out,
        if errors.is_empty() {
            STATUS_SUCCESS
        } else {
            STATUS_FAILURE
        },
    );
    raw(out, "\">");
    write_error_list(out, errors);
    raw(out, "</rs:RegistryResponse>");
}

/// `query:AdhocQueryResponse` listing ObjectRefs (or a Failure).
pub fn adhoc_query_response_xml(out: &mut Vec<u8>, refs: &[&str], errors: &[ErrorOut]) {
    raw(out, "<query:AdhocQueryResponse xmlns:query=\"");
    raw(out, QUERY_NS);
    raw(out, "\" xmlns:rim=\"");
    raw(out, RIM_NS);
    raw(out, "\" xmlns:rs=\"");
    raw(out, RS_NS);
    raw(out, "\" status=\"");
    raw(
        out,
        if errors.is_empty() {
            STATUS_SUCCESS
        } else {
            STATUS_FAILURE
        },
    );
    raw(out, "\">");
    write_error_list(out, errors);
    raw(out, "<rim:RegistryObjectList>");
    for r in refs {
        raw(out, "<rim:ObjectRef");
        attr(out, "id", r);
        raw(out, "/>");
    }
    raw(out, "</rim:RegistryObjectList></query:AdhocQueryResponse>");
}

/// SOAP 1.2 Fault code value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultCode {
    /// `soap:Sender` (the request is at fault).
    Sender,
    /// `soap:Receiver` (the server is at fault).
    Receiver,
}

/// A `soap:Fault`; `subcode` is a QName whose prefix is `wsse` (WS-Security) or `soap`.
pub fn soap_fault_xml(
    out: &mut Vec<u8>,
    code: FaultCode,
    subcode: Option<&str>,
    reason: &str,
    errors: &[ErrorOut],
) {
    raw(out, "<soap:Fault><soap:Code><soap:Value>");
    raw(
        out,
        match code {
            FaultCode::Sender => "soap:Sender",
            FaultCode::Receiver => "soap:Receiver",
        },
    );
    raw(out, "</soap:Value>");
    if let Some(sc) = subcode {
        raw(out, "<soap:Subcode><soap:Value");
        if sc.starts_with("wsse:") {
            attr(out, "xmlns:wsse", crate::envelope::WSSE_NS);
        }
        raw(out, ">");
        escape_into(out, sc);
        raw(out, "</soap:Value></soap:Subcode>");
    }
    raw(out, "</soap:Code><soap:Reason><soap:Text xml:lang=\"fr\">");
    escape_into(out, reason);
    raw(out, "</soap:Text></soap:Reason>");
    if !errors.is_empty() {
        raw(out, "<soap:Detail>");
        registry_response_xml(out, errors);
        raw(out, "</soap:Detail>");
    }
    raw(out, "</soap:Fault>");
}

/// A reply envelope: `wsa:Action`, `wsa:RelatesTo` (the request MessageID, when known), body.
pub fn reply_envelope(action: &str, relates_to: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 512);
    raw(
        &mut out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soap:Envelope xmlns:soap=\"",
    );
    raw(&mut out, SOAP_NS);
    raw(&mut out, "\" xmlns:wsa=\"");
    raw(&mut out, WSA_NS);
    raw(&mut out, "\"><soap:Header><wsa:Action>");
    escape_into(&mut out, action);
    raw(&mut out, "</wsa:Action>");
    if let Some(r) = relates_to {
        raw(&mut out, "<wsa:RelatesTo>");
        escape_into(&mut out, r);
        raw(&mut out, "</wsa:RelatesTo>");
    }
    raw(&mut out, "</soap:Header><soap:Body>");
    out.extend_from_slice(body);
    raw(&mut out, "</soap:Body></soap:Envelope>");
    out
}

/// The `wsa:MessageID` and `wsa:Action` of a request envelope (simulator routing).
pub fn request_addressing(env: Node<'_, '_>) -> (Option<String>, Option<String>) {
    let header = child(env, SOAP_NS, "Header");
    let get = |name: &str| {
        header
            .and_then(|h| child(h, WSA_NS, name))
            .map(|n| text(n).trim().to_owned())
    };
    (get("MessageID"), get("Action"))
}
