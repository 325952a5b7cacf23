//! TD0.2: DMP existence and status (HL7v3 `PRPA_IN201307UV02` → `PRPA_IN201306UV02`; dmp.md §3.2).

use roxmltree::Node;
use time::OffsetDateTime;

use crate::envelope::{Endpoint, HttpRequest, Transaction, plain_request};
use crate::error::{DmpProtocolError, input};
use crate::ins::{INS_OIDS, ins_key_valid, is_plain_oid};
use crate::response::{DmpFailure, FailureSource, Reply, Retry, with_body};
use crate::xml::{attr, child, escape_into, raw, text};

/// HL7 v3 namespace.
pub const HL7_NS: &str = "urn:hl7-org:v3";

/// Inputs of one TD0.2 request.
#[derive(Debug, Clone, Copy)]
pub struct Td02Input<'a> {
    /// Endpoint.
    pub endpoint: &'a Endpoint,
    /// `wsa:MessageID` UUID.
    pub message_id: &'a str,
    /// The signed VIHF.
    pub vihf: &'a [u8],
    /// Installation OID (message id root, sender device).
    pub installation_oid: &'a str,
    /// Message id extension (a UUID).
    pub request_id: &'a str,
    /// creationTime.
    pub creation_time: OffsetDateTime,
    /// The child's INS.
    pub ins: &'a str,
    /// Its OID.
    pub ins_oid: &'a str,
    /// `processingCode`: `D` (test), `P` (production).
    pub processing_code: &'a str,
}

/// HL7 TS `YYYYMMDDhhmmss` in UTC.
pub fn hl7_ts(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Builds the TD0.2 request.
pub fn build_td02_request(i: &Td02Input<'_>) -> Result<HttpRequest, DmpProtocolError> {
    if !is_plain_oid(i.installation_oid) {
        return Err(input("installation_oid", "must be a plain OID"));
    }
    if !INS_OIDS.contains(&i.ins_oid) {
        return Err(input("ins_oid", "not an INS OID"));
    }
    if !ins_key_valid(i.ins) {
        return Err(input("ins", "not 15 characters with a valid key"));
    }
    if !matches!(i.processing_code, "D" | "P" | "T") {
        return Err(input("processing_code", "must be D, P or T"));
    }
    let ts = hl7_ts(i.creation_time);
    plain_request(i.endpoint, Transaction::Td02, i.message_id, i.vihf, |o| {
        raw(
            o,
            "<PRPA_IN201307UV02 xmlns=\"urn:hl7-org:v3\" ITSVersion=\"XML_1.0\"><id",
        );
        attr(o, "root", i.installation_oid);
        attr(o, "extension", i.request_id);
        raw(o, "/><creationTime");
        attr(o, "value", &ts);
        raw(
            o,
            "/><interactionId root=\"2.16.840.1.113883.1.6\" extension=\"PRPA_IN201307UV02\"/><processingCode",
        );
        attr(o, "code", i.processing_code);
        raw(
            o,
            "/><processingModeCode code=\"T\"/><acceptAckCode code=\"AL\"/><receiver typeCode=\"RCV\"><device classCode=\"DEV\" determinerCode=\"INSTANCE\"><id root=\"1.2.250.1.213.4.1.1.1\"/><softwareName>DMP</softwareName></device></receiver><sender typeCode=\"SND\"><device classCode=\"DEV\" determinerCode=\"INSTANCE\"><id",
        );
        attr(o, "root", i.installation_oid);
        raw(
            o,
            "/><softwareName>Passerelle</softwareName></device></sender><controlActProcess classCode=\"CACT\" moodCode=\"EVN\"><reasonCode code=\"TEST_EXST\" codeSystem=\"1.2.250.1.213.1.1.4.11\"/><queryByParameter><queryId",
        );
        attr(o, "root", i.installation_oid);
        attr(o, "extension", i.request_id);
        raw(
            o,
            "/><statusCode code=\"new\"/><responseModalityCode code=\"R\"/><responsePriorityCode code=\"I\"/><parameterList><patientIdentifier><value",
        );
        attr(o, "root", i.ins_oid);
        attr(o, "extension", i.ins);
        raw(
            o,
            "/><semanticsText>Patient.id</semanticsText></patientIdentifier></parameterList></queryByParameter></controlActProcess></PRPA_IN201307UV02>",
        );
    })
}

/// What a TD0.2 reply says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Td02Reply {
    /// Acknowledgement type (`AA`, `AE`, `AR`).
    pub ack: String,
    /// acknowledgementDetail text (server wording).
    pub ack_detail: String,
    /// queryResponseCode (`OK`, `NF`, …).
    pub query_response: String,
    /// `subject1/patient/statusCode/@code` when a patient is returned.
    pub patient_status: Option<String>,
    /// `patientPerson/birthTime/@value`.
    pub birth_time: Option<String>,
    /// `attentionLine[AUTORISATION]/value` (consultation only: recorded, not acted upon).
    pub authorisation: Option<String>,
}

/// What the gateway does after TD0.2 (dmp.md §3.2 "Handling").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatientState {
    /// An active DMP whose birth date agrees: feeding may go on.
    Active,
    /// No DMP (`NF`): `not_fed:no_dmp`, terminal.
    NoDmp,
    /// Closed DMP: `not_fed:dmp_closed`, terminal.
    Closed,
    /// DMP birthTime differs from the local birth date: `not_fed:identity_mismatch`.
    IdentityMismatch,
}

impl PatientState {
    /// The delivery error code of a non-feedable state.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            PatientState::Active => None,
            PatientState::NoDmp => Some("not_fed:no_dmp"),
            PatientState::Closed => Some("not_fed:dmp_closed"),
            PatientState::IdentityMismatch => Some("not_fed:identity_mismatch"),
        }
    }
}

impl Td02Reply {
    /// Decides from the reply and the local birth date (`YYYY-MM-DD`).
    pub fn state(&self, local_birth_date: &str) -> Result<PatientState, DmpFailure> {
        if self.ack != "AA" {
            return Err(DmpFailure::new(
                format!("td02_ack_{}", self.ack),
                FailureSource::Patient,
                Retry::Never,
                self.ack_detail.clone(),
            ));
        }
        match self.query_response.as_str() {
            "NF" => return Ok(PatientState::NoDmp),
            "OK" => {}
            other => {
                return Err(DmpFailure::new(
                    format!("td02_query_{other}"),
                    FailureSource::Patient,
                    Retry::Never,
                    "unexpected queryResponseCode",
                ));
            }
        }
        match self.patient_status.as_deref() {
            Some("active") => {}
            Some(_) => return Ok(PatientState::Closed),
            None => {
                return Err(DmpFailure::new(
                    "td02_no_patient",
                    FailureSource::Patient,
                    Retry::Never,
                    "OK without a patient",
                ));
            }
        }
        let local: String = local_birth_date
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        if let Some(bt) = &self.birth_time
            && bt.get(..8) != Some(local.as_str())
        {
            return Ok(PatientState::IdentityMismatch);
        }
        Ok(PatientState::Active)
    }
}

fn hl7<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    child(n, HL7_NS, name)
}

/// Parses a TD0.2 reply.
pub fn parse_td02_response(reply: &Reply<'_>) -> Result<Td02Reply, DmpFailure> {
    with_body(reply, |root| {
        if root.tag_name().namespace() != Some(HL7_NS) {
            return Err(DmpFailure::new(
                "unexpected_reply",
                FailureSource::Reply,
                Retry::Backoff,
                "soap:Body holds no HL7v3 message",
            ));
        }
        let ack_node = hl7(root, "acknowledgement");
        let ack = ack_node
            .and_then(|a| {
                a.attribute("typeCode").map(str::to_owned).or_else(|| {
                    hl7(a, "typeCode").and_then(|t| t.attribute("code").map(str::to_owned))
                })
            })
            .unwrap_or_default();
        let ack_detail = ack_node
            .and_then(|a| hl7(a, "acknowledgementDetail"))
            .and_then(|d| hl7(d, "text"))
            .map(text)
            .unwrap_or_default();
        let cap = hl7(root, "controlActProcess");
        let query_response = cap
            .and_then(|c| hl7(c, "queryAck"))
            .and_then(|q| hl7(q, "queryResponseCode"))
            .and_then(|q| q.attribute("code"))
            .unwrap_or_default()
            .to_owned();
        let patient = cap.and_then(|c| {
            c.descendants().find(|d| {
                d.is_element()
                    && d.tag_name().name() == "patient"
                    && d.tag_name().namespace() == Some(HL7_NS)
            })
        });
        let patient_status = patient
            .and_then(|p| hl7(p, "statusCode"))
            .and_then(|s| s.attribute("code"))
            .map(str::to_owned);
        let birth_time = patient
            .and_then(|p| {
                p.descendants()
                    .find(|d| d.is_element() && d.tag_name().name() == "birthTime")
            })
            .and_then(|b| b.attribute("value"))
            .map(str::to_owned);
        let authorisation = root
            .descendants()
            .filter(|d| d.is_element() && d.tag_name().name() == "attentionLine")
            .find(|a| {
                hl7(*a, "keyWordText").and_then(|k| k.attribute("code")) == Some("AUTORISATION")
            })
            .and_then(|a| hl7(a, "value"))
            .map(|v| {
                v.attribute("code")
                    .or(v.attribute("value"))
                    .map(str::to_owned)
                    .unwrap_or_else(|| text(v).trim().to_owned())
            });
        Ok(Td02Reply {
            ack,
            ack_detail,
            query_response,
            patient_status,
            birth_time,
            authorisation,
        })
    })
}

/// What the simulator answers to TD0.2.
#[derive(Debug, Clone, Copy)]
pub struct Td02ReplyOut<'a> {
    /// `AA`, `AE`…
    pub ack: &'a str,
    /// `OK` or `NF`.
    pub query_response: &'a str,
    /// Patient status (`active`, `completed`…) when found.
    pub patient_status: Option<&'a str>,
    /// birthTime (`YYYYMMDD`).
    pub birth_time: Option<&'a str>,
    /// AUTORISATION value.
    pub authorisation: Option<&'a str>,
    /// INS and OID echoed in the patient id.
    pub ins: &'a str,
    /// INS OID.
    pub ins_oid: &'a str,
}

/// Writes a `PRPA_IN201306UV02` reply body.
pub fn td02_reply_xml(out: &mut Vec<u8>, r: &Td02ReplyOut<'_>) {
    raw(
        out,
        "<PRPA_IN201306UV02 xmlns=\"urn:hl7-org:v3\" ITSVersion=\"XML_1.0\"><interactionId root=\"2.16.840.1.113883.1.6\" extension=\"PRPA_IN201306UV02\"/><acknowledgement",
    );
    attr(out, "typeCode", r.ack);
    raw(out, "><acknowledgementDetail><text>");
    escape_into(out, if r.ack == "AA" { "OK" } else { "Erreur" });
    raw(
        out,
        "</text></acknowledgementDetail></acknowledgement><controlActProcess classCode=\"CACT\" moodCode=\"EVN\">",
    );
    if let Some(status) = r.patient_status {
        raw(
            out,
            "<subject typeCode=\"SUBJ\"><registrationEvent classCode=\"REG\" moodCode=\"EVN\"><statusCode code=\"active\"/><subject1 typeCode=\"SBJ\"><patient classCode=\"PAT\"><id",
        );
        attr(out, "root", r.ins_oid);
        attr(out, "extension", r.ins);
        raw(out, "/><statusCode");
        attr(out, "code", status);
        raw(out, "/><patientPerson>");
        if let Some(bt) = r.birth_time {
            raw(out, "<birthTime");
            attr(out, "value", bt);
            raw(out, "/>");
        }
        raw(
            out,
            "</patientPerson></patient></subject1></registrationEvent></subject>",
        );
    }
    if let Some(a) = r.authorisation {
        raw(
            out,
            "<attentionLine><keyWordText code=\"AUTORISATION\"/><value",
        );
        attr(out, "code", a);
        raw(out, "/></attentionLine>");
    }
    raw(out, "<queryAck><queryResponseCode");
    attr(out, "code", r.query_response);
    raw(out, "/></queryAck></controlActProcess></PRPA_IN201306UV02>");
}
