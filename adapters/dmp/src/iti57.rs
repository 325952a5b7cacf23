//! TD3.3c: ITI-57 logical deletion (dmp.md §4.7): a SubmissionSet without document and an
//! `UpdateAvailabilityStatus` association Approved → Deleted.

use crate::envelope::{Endpoint, HttpRequest, Transaction, plain_request};
use crate::error::{DmpProtocolError, input};
use crate::ins::is_plain_oid;
use crate::response::{LCM_NS, RIM_NS};
use crate::xml::{attr, raw};

/// Association type of ITI-57 status updates.
pub const UPDATE_AVAILABILITY_STATUS: &str =
    "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus";
/// Approved.
pub const STATUS_APPROVED: &str = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved";
/// Deleted (ASIP CI-SIS status).
pub const STATUS_DELETED: &str = "urn:asip:ci-sis:2010:StatusType:Deleted";
/// Deprecated.
pub const STATUS_DEPRECATED: &str = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated";

/// A coded value of the SubmissionSet.
#[derive(Debug, Clone, Copy)]
pub struct Coded<'a> {
    /// Code.
    pub code: &'a str,
    /// Display.
    pub display: &'a str,
    /// Coding scheme OID.
    pub scheme: &'a str,
}

/// Inputs of a deletion.
#[derive(Debug, Clone, Copy)]
pub struct DeletionInput<'a> {
    /// Endpoint.
    pub endpoint: &'a Endpoint,
    /// `wsa:MessageID` UUID.
    pub message_id: &'a str,
    /// Signed VIHF.
    pub vihf: &'a [u8],
    /// New SubmissionSet uniqueId (plain OID).
    pub submission_set_unique_id: &'a str,
    /// sourceId (tenant system OID).
    pub source_id: &'a str,
    /// patientId CX.
    pub patient_id: &'a str,
    /// submissionTime `YYYYMMDDhhmmss` UTC.
    pub submission_time: &'a str,
    /// authorInstitution XON.
    pub author_institution: &'a str,
    /// authorPerson XCN.
    pub author_person: &'a str,
    /// contentTypeCode.
    pub content_type: Coded<'a>,
    /// entryUUID of the document (`urn:uuid:…`).
    pub entry_uuid: &'a str,
}

const SS_NODE: &str = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd";
const SS_AUTHOR: &str = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d";
const SS_CONTENT_TYPE: &str = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500";
const SS_UNIQUE_ID: &str = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8";
const SS_SOURCE_ID: &str = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832";
const SS_PATIENT_ID: &str = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446";

fn slot(o: &mut Vec<u8>, name: &str, value: &str) {
    raw(o, "<rim:Slot");
    attr(o, "name", name);
    raw(o, "><rim:ValueList><rim:Value>");
    crate::xml::escape_into(o, value);
    raw(o, "</rim:Value></rim:ValueList></rim:Slot>");
}

fn ext_id(o: &mut Vec<u8>, id: &str, scheme: &str, value: &str, name: &str) {
    raw(o, "<rim:ExternalIdentifier");
    attr(o, "id", id);
    attr(o, "identificationScheme", scheme);
    attr(o, "registryObject", "SubmissionSet01");
    attr(o, "value", value);
    raw(o, "><rim:Name><rim:LocalizedString");
    attr(o, "value", name);
    raw(o, "/></rim:Name></rim:ExternalIdentifier>");
}

/// Builds the deletion request.
pub fn build_iti57_delete_request(d: &DeletionInput<'_>) -> Result<HttpRequest, DmpProtocolError> {
    if !is_plain_oid(d.submission_set_unique_id) {
        return Err(input("submission_set_unique_id", "must be a plain OID"));
    }
    if !is_plain_oid(d.source_id) {
        return Err(input("source_id", "must be a plain OID"));
    }
    let uuid = d
        .entry_uuid
        .strip_prefix("urn:uuid:")
        .ok_or(input("entry_uuid", "must be urn:uuid:…"))?;
    crate::envelope::check_message_id(uuid).map_err(|_| input("entry_uuid", "not a UUID"))?;
    if d.submission_time.len() != 14 || !d.submission_time.bytes().all(|b| b.is_ascii_digit()) {
        return Err(input("submission_time", "must be YYYYMMDDhhmmss"));
    }
    plain_request(d.endpoint, Transaction::Iti57, d.message_id, d.vihf, |o| {
        raw(o, "<lcm:SubmitObjectsRequest xmlns:lcm=\"");
        raw(o, LCM_NS);
        raw(o, "\" xmlns:rim=\"");
        raw(o, RIM_NS);
        raw(
            o,
            "\"><rim:RegistryObjectList><rim:RegistryPackage id=\"SubmissionSet01\" objectType=\"urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage\">",
        );
        slot(o, "submissionTime", d.submission_time);
        raw(o, "<rim:Classification id=\"cl01\"");
        attr(o, "classificationScheme", SS_AUTHOR);
        raw(
            o,
            " classifiedObject=\"SubmissionSet01\" nodeRepresentation=\"\">",
        );
        slot(o, "authorInstitution", d.author_institution);
        slot(o, "authorPerson", d.author_person);
        raw(o, "</rim:Classification><rim:Classification id=\"cl02\"");
        attr(o, "classificationScheme", SS_CONTENT_TYPE);
        raw(o, " classifiedObject=\"SubmissionSet01\"");
        attr(o, "nodeRepresentation", d.content_type.code);
        raw(o, ">");
        slot(o, "codingScheme", d.content_type.scheme);
        raw(o, "<rim:Name><rim:LocalizedString");
        attr(o, "value", d.content_type.display);
        raw(o, "/></rim:Name></rim:Classification>");
        ext_id(
            o,
            "ei01",
            SS_UNIQUE_ID,
            d.submission_set_unique_id,
            "XDSSubmissionSet.uniqueId",
        );
        ext_id(
            o,
            "ei02",
            SS_SOURCE_ID,
            d.source_id,
            "XDSSubmissionSet.sourceId",
        );
        ext_id(
            o,
            "ei03",
            SS_PATIENT_ID,
            d.patient_id,
            "XDSSubmissionSet.patientId",
        );
        raw(
            o,
            "</rim:RegistryPackage><rim:Classification id=\"cl03\" classifiedObject=\"SubmissionSet01\"",
        );
        attr(o, "classificationNode", SS_NODE);
        raw(o, "/><rim:Association id=\"as01\"");
        attr(o, "associationType", UPDATE_AVAILABILITY_STATUS);
        raw(o, " sourceObject=\"SubmissionSet01\"");
        attr(o, "targetObject", d.entry_uuid);
        raw(o, ">");
        slot(o, "OriginalStatus", STATUS_APPROVED);
        slot(o, "NewStatus", STATUS_DELETED);
        raw(
            o,
            "</rim:Association></rim:RegistryObjectList></lcm:SubmitObjectsRequest>",
        );
    })
}
