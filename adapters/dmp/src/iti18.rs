//! TD3.1b: ITI-18 GetDocuments by uniqueId → entryUUID (dmp.md §3.3).

use crate::envelope::{Endpoint, HttpRequest, Transaction, plain_request};
use crate::error::{DmpProtocolError, input};
use crate::ins::is_plain_oid;
use crate::response::{QUERY_NS, RIM_NS};
use crate::xml::raw;

/// Stored query id of GetDocuments.
pub const GET_DOCUMENTS: &str = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4";

/// Builds the GetDocuments query for one uniqueId (plain OID).
pub fn build_iti18_request(
    endpoint: &Endpoint,
    message_id: &str,
    vihf: &[u8],
    unique_id: &str,
) -> Result<HttpRequest, DmpProtocolError> {
    if !is_plain_oid(unique_id) {
        return Err(input(
            "unique_id",
            "must be a plain OID of at most 64 characters",
        ));
    }
    plain_request(endpoint, Transaction::Iti18, message_id, vihf, |o| {
        raw(o, "<query:AdhocQueryRequest xmlns:query=\"");
        raw(o, QUERY_NS);
        raw(o, "\" xmlns:rim=\"");
        raw(o, RIM_NS);
        raw(
            o,
            "\"><query:ResponseOption returnType=\"ObjectRef\" returnComposedObjects=\"true\"/><rim:AdhocQuery id=\"",
        );
        raw(o, GET_DOCUMENTS);
        raw(
            o,
            "\"><rim:Slot name=\"$XDSDocumentEntryUniqueId\"><rim:ValueList><rim:Value>('",
        );
        // A plain OID needs no escaping.
        raw(o, unique_id);
        raw(
            o,
            "')</rim:Value></rim:ValueList></rim:Slot></rim:AdhocQuery></query:AdhocQueryRequest>",
        );
    })
}

/// The entryUUID of a GetDocuments answer: none → `Ok(None)` (unknown or deleted), several →
/// error (dmp.md §3.3).
pub fn single_entry(refs: &[String]) -> Result<Option<&str>, DmpProtocolError> {
    match refs {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(crate::error::xml(
            "rim:RegistryObjectList",
            "several entries for one uniqueId",
        )),
    }
}
