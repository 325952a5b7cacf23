//! Request processing: SOAP, VIHF, patients, metadata, content, signature document,
//! confidentiality, RPLC and deletion checks (dmp.md §8). Each refusal names its check id in
//! `codeContext` (`SIM-3 …`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use passerelle_dmp::envelope::{SOAP_NS, Transaction, soap_content_type};
use passerelle_dmp::ins::{ins_cx, ins_key_valid, is_plain_oid};
use passerelle_dmp::iti57::{STATUS_DELETED, UPDATE_AVAILABILITY_STATUS};
use passerelle_dmp::mtom;
use passerelle_dmp::response::{
    ErrorOut, FaultCode, LCM_NS, QUERY_NS, RIM_NS, adhoc_query_response_xml, registry_response_xml,
    reply_envelope,
};
use passerelle_dmp::td02::{HL7_NS, Td02ReplyOut, td02_reply_xml};
use passerelle_dmp::{DmpParameters, checks::is_dmp_minor};
use passerelle_documents::catalogue;
use passerelle_xmlsig::vihf::names;
use roxmltree::Node;
use sha1::{Digest, Sha1};
use time::{Duration, OffsetDateTime};

use crate::server::fault_answer;
use crate::{DmpState, EntryStatus, Patient, State, StoredEntry};

pub(crate) struct Ctx {
    pub(crate) state: Arc<Mutex<State>>,
    pub(crate) trust: passerelle_xmlsig::TrustAnchors,
    pub(crate) params: DmpParameters,
}

impl Ctx {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Vec<u8>,
    pub(crate) error: Option<String>,
}

const XDSB_NS: &str = "urn:ihe:iti:xds-b:2007";
const XOP_NS: &str = "http://www.w3.org/2004/08/xop/include";
const SS_UNIQUE_ID: &str = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8";
const SS_PATIENT_ID: &str = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446";
const SS_AUTHOR: &str = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d";
const DE_UNIQUE_ID: &str = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab";
const DE_PATIENT_ID: &str = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427";
const DE_CLASS: &str = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a";
const DE_TYPE: &str = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983";
const DE_FORMAT: &str = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d";
const DE_CONF: &str = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f";
const DE_FACILITY: &str = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1";
const DE_PRACTICE: &str = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead";
const DE_AUTHOR: &str = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d";
const HAS_MEMBER: &str = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember";
const SIGNS: &str = "urn:ihe:iti:2007:AssociationType:signs";
const RPLC: &str = "urn:ihe:iti:2007:AssociationType:RPLC";
const SIG_CLASS: &str = "urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1";
const J58: [&str; 6] = passerelle_dmp::checks::J58;
/// JDV_J65 codes of TRE_A00 (dmp.md §2.3).
const J65_A00: [&str; 5] = [
    "ALIM_AM",
    "DISPOSITIF",
    "EXP_PATIENT",
    "SECRETARIAT_MEDICAL",
    "AUTOMATE",
];
/// Role code systems other than TRE_A00 (G15, G16, R95, R94, R291, R01, G05, R85, R22).
const ROLE_SYSTEMS: [&str; 6] = [
    "1.2.250.1.71.1.2.7",
    "1.2.250.1.213.1.6.1.109",
    "1.2.250.1.213.1.6.1.4",
    "1.2.250.1.71.4.2.5",
    "1.2.250.1.213.1.6.1.107",
    "1.2.250.1.71.1.2.8",
];

fn is(n: Node<'_, '_>, ns: &str, local: &str) -> bool {
    n.is_element() && n.tag_name().name() == local && n.tag_name().namespace() == Some(ns)
}

fn kids<'a, 'i>(
    n: Node<'a, 'i>,
    ns: &'static str,
    local: &'static str,
) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children().filter(move |c| is(*c, ns, local))
}

fn kid<'a, 'i>(n: Node<'a, 'i>, ns: &'static str, local: &'static str) -> Option<Node<'a, 'i>> {
    kids(n, ns, local).next()
}

fn text(n: Node<'_, '_>) -> String {
    n.descendants()
        .filter(|d| d.is_text())
        .filter_map(|d| d.text())
        .collect()
}

/// J61 (dmp.md codes: EXP_PATIENT, SNR, SA01…SA69 without SA62).
fn in_j61(code: &str) -> bool {
    matches!(code, "EXP_PATIENT" | "SNR")
        || code
            .strip_prefix("SA")
            .and_then(|n| n.parse::<u8>().ok())
            .is_some_and(|n| (1..=69).contains(&n) && n != 62)
            && code.len() == 4
}

/// The action of a request: MIME `action` parameter, else `wsa:Action` (read leniently).
pub(crate) fn action_of(content_type: Option<&str>, body: &[u8]) -> Option<&'static str> {
    let ct = mtom::ContentType::parse(content_type?)?;
    let a = ct.param("action")?;
    Transaction::from_action(a)
        .map(Transaction::action)
        .or_else(|| {
            let _ = body;
            None
        })
}

/// The SOAP envelope of a request (MTOM root part or plain body), empty if unreadable.
pub(crate) fn envelope_bytes(content_type: Option<&str>, body: &[u8]) -> Vec<u8> {
    let Some(ct) = content_type else {
        return Vec::new();
    };
    if mtom::ContentType::parse(ct).is_some_and(|c| c.mime == "multipart/related") {
        mtom::parse(ct, body)
            .ok()
            .and_then(|m| m.root().ok().map(|r| r.body.to_vec()))
            .unwrap_or_default()
    } else {
        body.to_vec()
    }
}

struct Refusal {
    code: &'static str,
    context: String,
}

fn refuse(code: &'static str, context: impl Into<String>) -> Refusal {
    Refusal {
        code,
        context: context.into(),
    }
}

fn registry_failure(tx: Transaction, r: Refusal) -> Answer {
    let mut b = Vec::new();
    let err = [ErrorOut::new(r.code, &r.context)];
    if tx == Transaction::Iti18 {
        adhoc_query_response_xml(&mut b, &[], &err);
    } else {
        registry_response_xml(&mut b, &err);
    }
    Answer {
        status: 200,
        content_type: Some(soap_content_type(tx)),
        body: reply_envelope(tx.response_action(), None, &b),
        error: Some(r.code.to_owned()),
    }
}

fn security_fault(reason: &str) -> Answer {
    fault_answer(
        500,
        FaultCode::Sender,
        Some("wsse:FailedAuthentication"),
        reason,
    )
}

struct Vihf {
    ins: String,
    ins_oid: String,
    structure: String,
    confidentiality: Option<String>,
}

fn check_vihf(
    ctx: &Ctx,
    tenant: &str,
    envelope: &[u8],
    now: OffsetDateTime,
) -> Result<Vihf, Answer> {
    let v = passerelle_xmlsig::verify(envelope, &ctx.trust)
        .map_err(|e| security_fault(&format!("SIM-3 VIHF signature: {e}")))?;
    if !v.issuer_matches_certificate {
        return Err(security_fault(
            "SIM-3 Issuer is not the signing certificate's subject",
        ));
    }
    if !v.certificate_valid_at(now) {
        return Err(security_fault("SIM-3 signing certificate not valid now"));
    }
    let signer_structure = crate::server::structure_of(&v.certificate_der).unwrap_or_default();
    if signer_structure != tenant {
        return Err(security_fault(
            "SIM-3 ORG_SIGN is not of the TLS certificate's structure",
        ));
    }
    let at = v
        .issue_instant_time()
        .map_err(|_| security_fault("SIM-3 IssueInstant unreadable"))?;
    if at < now - Duration::minutes(5) || at > now + Duration::minutes(1) {
        return Err(fault_answer(
            500,
            FaultCode::Sender,
            Some("wsse:MessageExpired"),
            "SIM-3 IssueInstant outside [-5, +1] min",
        ));
    }
    for name in [
        names::VIHF_VERSION,
        names::AUTHENTIFICATION_MODE,
        names::IDENTIFIANT_STRUCTURE,
        names::SECTEUR_ACTIVITE,
        names::SUBJECT_ID,
        names::RESOURCE_ID,
        names::RESSOURCE_URN,
        names::LPS_NOM,
        names::LPS_VERSION,
        names::LPS_HOMOLOGATION,
    ] {
        if v.text(name).is_none_or(|t| t.trim().is_empty()) {
            return Err(security_fault(&format!("SIM-3 attribute {name} missing")));
        }
    }
    if v.text(names::AUTHENTIFICATION_MODE) != Some("INDIRECTE") {
        return Err(security_fault(
            "SIM-3 Authentification_Mode is not INDIRECTE",
        ));
    }
    if v.text(names::RESSOURCE_URN) != Some("urn:dmp") {
        return Err(security_fault("SIM-3 Ressource_URN is not urn:dmp"));
    }
    let sector = v.text(names::SECTEUR_ACTIVITE).unwrap_or_default();
    match sector.split_once('^') {
        Some((code, "1.2.250.1.71.4.2.4")) if in_j61(code) => {}
        _ => return Err(security_fault("SIM-3 Secteur_Activite not in JDV_J61")),
    }
    let roles = v.codes(names::ROLE);
    if roles.is_empty() || roles.len() > 4 {
        return Err(security_fault("SIM-3 role: 1 to 4 values"));
    }
    for r in &roles {
        let ok = (r.code_system == "1.2.250.1.213.1.1.4.6" && J65_A00.contains(&r.code.as_str()))
            || ROLE_SYSTEMS.contains(&r.code_system.as_str());
        if !ok {
            return Err(security_fault("SIM-3 role not in JDV_J65"));
        }
    }
    let purpose = v.codes(names::PURPOSE_OF_USE);
    if purpose.len() != 1 || purpose[0].code != "normal" {
        return Err(security_fault(
            "SIM-3 purposeofuse must be normal (indirect mode)",
        ));
    }
    let structure = v
        .text(names::IDENTIFIANT_STRUCTURE)
        .unwrap_or_default()
        .to_owned();
    if structure != tenant {
        return Err(security_fault(
            "SIM-3 Identifiant_Structure is not the TLS certificate's structure",
        ));
    }
    let (ins, oid) = v
        .ins()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .ok_or_else(|| security_fault("SIM-3 resource-id is not an INS CX"))?;
    if !ins_key_valid(&ins) {
        return Err(security_fault("SIM-3 INS key invalid"));
    }
    let confidentiality = v
        .codes(names::CONFIDENTIALITY_CODE)
        .first()
        .map(|c| c.code.clone());
    if confidentiality
        .as_deref()
        .is_some_and(|c| c != "INVISIBLE_REPRESENTANTS_LEGAUX")
    {
        return Err(security_fault("SIM-3 confidentiality-code not in JDV_J64"));
    }
    Ok(Vihf {
        ins,
        ins_oid: oid,
        structure,
        confidentiality,
    })
}

/// Processes one request (no injected fault).
pub(crate) fn process(
    ctx: &Ctx,
    tenant: &str,
    tx: Transaction,
    content_type: Option<&str>,
    body: &[u8],
) -> Answer {
    let now = ctx.lock().clock.unwrap_or_else(OffsetDateTime::now_utc);
    let Some(ct_str) = content_type else {
        return fault_answer(400, FaultCode::Sender, None, "SIM-2 no Content-Type");
    };
    let Some(ct) = mtom::ContentType::parse(ct_str) else {
        return fault_answer(
            400,
            FaultCode::Sender,
            None,
            "SIM-2 Content-Type unreadable",
        );
    };
    // SIM-2: ITI-41 only as MTOM; precise Fault otherwise (engineering.md §5 rule 10).
    let multipart;
    let envelope: &[u8] = if ct.mime == "multipart/related" {
        if ct.param("type") != Some("application/xop+xml") {
            return fault_answer(
                400,
                FaultCode::Sender,
                None,
                "SIM-2 multipart/related without type=application/xop+xml",
            );
        }
        multipart = match mtom::parse(ct_str, body) {
            Ok(m) => m,
            Err(e) => return fault_answer(400, FaultCode::Sender, None, &format!("SIM-2 {e}")),
        };
        match multipart.root() {
            Ok(r) => r.body,
            Err(e) => return fault_answer(400, FaultCode::Sender, None, &format!("SIM-2 {e}")),
        }
    } else if tx == Transaction::Iti41 {
        return fault_answer(
            415,
            FaultCode::Sender,
            None,
            "SIM-2 ITI-41 must be sent as MTOM/XOP (multipart/related; type=\"application/xop+xml\")",
        );
    } else if ct.mime == "application/soap+xml" {
        multipart = mtom::Multipart {
            content_type: ct.clone(),
            parts: Vec::new(),
        };
        body
    } else {
        return fault_answer(
            415,
            FaultCode::Sender,
            None,
            "SIM-2 Content-Type must be application/soap+xml",
        );
    };
    if ct.param("action") != Some(tx.action()) {
        return fault_answer(
            400,
            FaultCode::Sender,
            Some("soap:ActionMismatch"),
            "SIM-2 MIME action differs from the path's transaction",
        );
    }
    let Ok(xml) = std::str::from_utf8(envelope) else {
        return fault_answer(400, FaultCode::Sender, None, "SIM-2 envelope is not UTF-8");
    };
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        ..Default::default()
    };
    let Ok(doc) = roxmltree::Document::parse_with_options(xml, opts) else {
        return fault_answer(
            400,
            FaultCode::Sender,
            None,
            "SIM-2 envelope is not well-formed XML",
        );
    };
    let env = doc.root_element();
    if !is(env, SOAP_NS, "Envelope") {
        return fault_answer(
            400,
            FaultCode::Sender,
            Some("soap:VersionMismatch"),
            "SIM-2 not a SOAP 1.2 envelope",
        );
    }
    let (message_id, action) = passerelle_dmp::response::request_addressing(env);
    if action.as_deref() != Some(tx.action()) {
        return fault_answer(
            400,
            FaultCode::Sender,
            Some("soap:ActionMismatch"),
            "SIM-2 wsa:Action differs from the path's transaction",
        );
    }
    let vihf = match check_vihf(ctx, tenant, envelope, now) {
        Ok(v) => v,
        Err(a) => return a,
    };
    let Some(payload) =
        kid(env, SOAP_NS, "Body").and_then(|b| b.children().find(|c| c.is_element()))
    else {
        return fault_answer(400, FaultCode::Sender, None, "SIM-2 empty soap:Body");
    };
    let result = match tx {
        Transaction::Td02 => td02(ctx, &vihf, payload),
        Transaction::Iti41 => iti41(ctx, &vihf, payload, &multipart, now).map(|_| {
            let mut b = Vec::new();
            registry_response_xml(&mut b, &[]);
            b
        }),
        Transaction::Iti18 => iti18(ctx, &vihf, payload),
        Transaction::Iti57 => iti57(ctx, &vihf, payload, now).map(|_| {
            let mut b = Vec::new();
            registry_response_xml(&mut b, &[]);
            b
        }),
    };
    match result {
        Ok(b) => {
            let env = reply_envelope(tx.response_action(), message_id.as_deref(), &b);
            if tx == Transaction::Iti41 {
                // The DMP answers ITI-41 as MTOM: exercise the client's multipart reader.
                let boundary = "MIMEBoundary_reply";
                let mut out = Vec::with_capacity(env.len() + 256);
                out.extend_from_slice(format!("--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"application/soap+xml\"\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <0.1>\r\n\r\n").as_bytes());
                out.extend_from_slice(&env);
                out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
                Answer {
                    status: 200,
                    content_type: Some(mtom::content_type(boundary, tx.response_action())),
                    body: out,
                    error: None,
                }
            } else {
                Answer {
                    status: 200,
                    content_type: Some(soap_content_type(tx)),
                    body: env,
                    error: None,
                }
            }
        }
        Err(r) => registry_failure(tx, r),
    }
}

fn patient<'s>(s: &'s State, ins: &str) -> Option<&'s Patient> {
    s.patients.iter().find(|p| p.ins == ins)
}

fn td02(ctx: &Ctx, vihf: &Vihf, payload: Node<'_, '_>) -> Result<Vec<u8>, Refusal> {
    if !is(payload, HL7_NS, "PRPA_IN201307UV02") {
        return Err(refuse(
            "XDSRegistryMetadataError",
            "SIM-4 not a PRPA_IN201307UV02",
        ));
    }
    let value = payload
        .descendants()
        .find(|d| d.is_element() && d.tag_name().name() == "patientIdentifier")
        .and_then(|p| {
            p.children()
                .find(|c| c.is_element() && c.tag_name().name() == "value")
        });
    let (root, ext) = value
        .map(|v| {
            (
                v.attribute("root").unwrap_or_default(),
                v.attribute("extension").unwrap_or_default(),
            )
        })
        .unwrap_or_default();
    if ext != vihf.ins || root != vihf.ins_oid {
        return Err(refuse(
            "XDSPatientIdDoesNotMatch",
            "SIM-3 queried INS differs from the VIHF resource-id",
        ));
    }
    let s = ctx.lock();
    let p = patient(&s, ext);
    let mut b = Vec::new();
    let bt = p.map(|p| {
        format!(
            "{:04}{:02}{:02}",
            p.birth_date.year(),
            u8::from(p.birth_date.month()),
            p.birth_date.day()
        )
    });
    let found = p.filter(|p| p.state != DmpState::NotFound);
    td02_reply_xml(
        &mut b,
        &Td02ReplyOut {
            ack: "AA",
            query_response: if found.is_some() { "OK" } else { "NF" },
            patient_status: found.map(|p| {
                if p.state == DmpState::Closed {
                    "completed"
                } else {
                    "active"
                }
            }),
            birth_time: found.and(bt.as_deref()),
            authorisation: p.map(|p| p.authorisation),
            ins: ext,
            ins_oid: root,
        },
    );
    Ok(b)
}

fn slot_values(n: Node<'_, '_>, name: &str) -> Vec<String> {
    kids(n, RIM_NS, "Slot")
        .filter(|s| s.attribute("name") == Some(name))
        .flat_map(|s| {
            s.descendants()
                .filter(|d| is(*d, RIM_NS, "Value"))
                .map(text)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn slot1(n: Node<'_, '_>, name: &str) -> Option<String> {
    slot_values(n, name).into_iter().next()
}

/// Classifications of an object, nested or at top level.
fn classifications<'a, 'i>(
    list: Node<'a, 'i>,
    obj: Node<'a, 'i>,
    id: &str,
    scheme: &str,
) -> Vec<Node<'a, 'i>> {
    obj.children()
        .chain(list.children())
        .filter(|c| is(*c, RIM_NS, "Classification"))
        .filter(|c| c.attribute("classificationScheme") == Some(scheme))
        .filter(|c| c.attribute("classifiedObject").is_none_or(|o| o == id))
        .collect()
}

fn external_id(list: Node<'_, '_>, obj: Node<'_, '_>, id: &str, scheme: &str) -> Option<String> {
    obj.children()
        .chain(list.children())
        .filter(|c| is(*c, RIM_NS, "ExternalIdentifier"))
        .filter(|c| c.attribute("identificationScheme") == Some(scheme))
        .find(|c| c.attribute("registryObject").is_none_or(|o| o == id))
        .and_then(|c| c.attribute("value").map(str::to_owned))
}

struct Entry {
    id: String,
    unique_id: String,
    patient_id: String,
    hash: String,
    size: String,
    class_code: String,
    type_code: (String, String),
    format_code: String,
    facility: String,
    confidentiality: Vec<String>,
    author_institution: String,
    is_signature: bool,
}

fn code_of(c: Node<'_, '_>) -> (String, String) {
    (
        c.attribute("nodeRepresentation")
            .unwrap_or_default()
            .to_owned(),
        slot1(c, "codingScheme").unwrap_or_default(),
    )
}

fn read_entry(list: Node<'_, '_>, eo: Node<'_, '_>) -> Result<Entry, Refusal> {
    let id = eo.attribute("id").unwrap_or_default().to_owned();
    let md = |what: &str| {
        refuse(
            "XDSRegistryMetadataError",
            format!("SIM-5 DocumentEntry {what} missing or repeated"),
        )
    };
    let one = |scheme: &str, what: &str| -> Result<(String, String), Refusal> {
        let c = classifications(list, eo, &id, scheme);
        if c.len() != 1 {
            return Err(md(what));
        }
        Ok(code_of(c[0]))
    };
    let class_code = one(DE_CLASS, "classCode")?.0;
    let type_code = one(DE_TYPE, "typeCode")?;
    let format_code = one(DE_FORMAT, "formatCode")?.0;
    let facility = one(DE_FACILITY, "healthcareFacilityTypeCode")?.0;
    one(DE_PRACTICE, "practiceSettingCode")?;
    let confidentiality: Vec<String> = classifications(list, eo, &id, DE_CONF)
        .into_iter()
        .map(|c| code_of(c).0)
        .collect();
    if confidentiality.is_empty() || confidentiality.len() > 4 {
        return Err(md("confidentialityCode (1..4)"));
    }
    let authors = classifications(list, eo, &id, DE_AUTHOR);
    let author_institution = authors
        .first()
        .and_then(|a| slot1(*a, "authorInstitution"))
        .ok_or_else(|| md("author/authorInstitution"))?;
    for s in [
        "creationTime",
        "languageCode",
        "sourcePatientId",
        "hash",
        "size",
    ] {
        if slot_values(eo, s).len() != 1 {
            return Err(md(s));
        }
    }
    let creation = slot1(eo, "creationTime").unwrap_or_default();
    if creation.len() < 8 || !creation.bytes().all(|b| b.is_ascii_digit()) || creation.len() > 14 {
        return Err(refuse(
            "XDSRegistryMetadataError",
            "SIM-5 creationTime is not a UTC DTM",
        ));
    }
    Ok(Entry {
        unique_id: external_id(list, eo, &id, DE_UNIQUE_ID).ok_or_else(|| md("uniqueId"))?,
        patient_id: external_id(list, eo, &id, DE_PATIENT_ID).ok_or_else(|| md("patientId"))?,
        hash: slot1(eo, "hash").unwrap_or_default(),
        size: slot1(eo, "size").unwrap_or_default(),
        is_signature: class_code == SIG_CLASS,
        class_code,
        type_code,
        format_code,
        facility,
        confidentiality,
        author_institution,
        id,
    })
}

fn iti41(
    ctx: &Ctx,
    vihf: &Vihf,
    payload: Node<'_, '_>,
    mp: &mtom::Multipart<'_>,
    now: OffsetDateTime,
) -> Result<(), Refusal> {
    let md = |c: &str| refuse("XDSRegistryMetadataError", c.to_owned());
    if !is(payload, XDSB_NS, "ProvideAndRegisterDocumentSetRequest") {
        return Err(md("SIM-2 not a ProvideAndRegisterDocumentSetRequest"));
    }
    // SIM-4: patient.
    let (fixture_birth, secret_expected) = {
        let s = ctx.lock();
        let p = patient(&s, &vihf.ins)
            .ok_or_else(|| refuse("XDSUnknownPatientId", "SIM-4 unknown patient"))?;
        match p.state {
            DmpState::NotFound => {
                return Err(refuse("XDSUnknownPatientId", "SIM-4 patient has no DMP"));
            }
            DmpState::Closed => return Err(refuse("DMP_CLOSED", "SIM-4 DMP closed")),
            DmpState::Active => {}
        }
        (p.birth_date, p.secret_expected)
    };
    let cx = ins_cx(&vihf.ins, &vihf.ins_oid);
    if secret_expected && vihf.confidentiality.is_none() {
        return Err(refuse(
            "DMP_SECRET_CONNECTION_REQUIRED",
            "SIM-8 secret connection expected: VIHF confidentiality code missing",
        ));
    }
    // The French calendar day, as the feeders compute it.
    let minor = is_dmp_minor(fixture_birth, passerelle_dmp::paris_date(now), &ctx.params);
    if vihf.confidentiality.is_some() && !minor {
        return Err(refuse(
            "DMP_CONFIDENTIALITY",
            "SIM-8 secret connection for an adult",
        ));
    }
    let sor = kid(payload, LCM_NS, "SubmitObjectsRequest")
        .ok_or_else(|| md("SIM-5 no SubmitObjectsRequest"))?;
    let list =
        kid(sor, RIM_NS, "RegistryObjectList").ok_or_else(|| md("SIM-5 no RegistryObjectList"))?;
    // XOP includes.
    let mut attachments: HashMap<String, &[u8]> = HashMap::new();
    for d in kids(payload, XDSB_NS, "Document") {
        let id = d.attribute("id").unwrap_or_default().to_owned();
        let href = kid(d, XOP_NS, "Include").and_then(|i| i.attribute("href"));
        let part = href.and_then(|h| mp.resolve_href(h)).ok_or_else(|| {
            refuse(
                "XDSMissingDocument",
                "SIM-2 xop:Include does not resolve (documents must be MTOM parts)",
            )
        })?;
        attachments.insert(id, part.body);
    }
    // SubmissionSet.
    let packages: Vec<_> = kids(list, RIM_NS, "RegistryPackage").collect();
    let [ss] = packages.as_slice() else {
        return Err(md("SIM-5 exactly one RegistryPackage"));
    };
    let ss_id = ss.attribute("id").unwrap_or_default().to_owned();
    let ss_uid = external_id(list, *ss, &ss_id, SS_UNIQUE_ID)
        .ok_or_else(|| md("SIM-5 SubmissionSet uniqueId missing"))?;
    let ss_pid = external_id(list, *ss, &ss_id, SS_PATIENT_ID)
        .ok_or_else(|| md("SIM-5 SubmissionSet patientId missing"))?;
    if !is_plain_oid(&ss_uid) {
        return Err(md("SIM-5 SubmissionSet uniqueId is not a plain OID <= 64"));
    }
    if slot1(*ss, "submissionTime").is_none()
        || classifications(list, *ss, &ss_id, SS_AUTHOR).is_empty()
    {
        return Err(md("SIM-5 SubmissionSet submissionTime/author missing"));
    }
    if ss_pid != cx {
        return Err(refuse(
            "XDSPatientIdDoesNotMatch",
            "SIM-3 SubmissionSet patientId differs from the VIHF INS",
        ));
    }
    let entries = kids(list, RIM_NS, "ExtrinsicObject")
        .map(|eo| read_entry(list, eo))
        .collect::<Result<Vec<_>, _>>()?;
    let sigs: Vec<&Entry> = entries.iter().filter(|e| e.is_signature).collect();
    let [sig] = sigs.as_slice() else {
        return Err(md("SIM-7 exactly one signature document"));
    };
    let clinical: Vec<&Entry> = entries.iter().filter(|e| !e.is_signature).collect();
    if clinical.is_empty() {
        return Err(md("SIM-5 no clinical document"));
    }
    let assocs: Vec<(String, String, String)> = kids(list, RIM_NS, "Association")
        .map(|a| {
            (
                a.attribute("associationType")
                    .unwrap_or_default()
                    .to_owned(),
                a.attribute("sourceObject").unwrap_or_default().to_owned(),
                a.attribute("targetObject").unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let has = |t: &str, s: &str, d: &str| assocs.iter().any(|(a, b, c)| a == t && b == s && c == d);
    if !has(SIGNS, &sig.id, &ss_id) || !has(HAS_MEMBER, &ss_id, &sig.id) {
        return Err(md("SIM-7 signature document without HasMember + signs"));
    }
    let s = ctx.lock();
    let mut seen = Vec::new();
    for e in &entries {
        if !has(HAS_MEMBER, &ss_id, &e.id) {
            return Err(md("SIM-5 DocumentEntry without HasMember"));
        }
        if e.patient_id != cx {
            return Err(refuse(
                "XDSPatientIdDoesNotMatch",
                "SIM-3 DocumentEntry patientId differs from the VIHF INS",
            ));
        }
        if !is_plain_oid(&e.unique_id) {
            return Err(md("SIM-5 uniqueId is not a plain OID <= 64"));
        }
        if seen.contains(&e.unique_id) || s.entries.iter().any(|x| x.unique_id == e.unique_id) {
            return Err(refuse(
                "XDSDuplicateUniqueIdInRegistry",
                "SIM-5 uniqueId already known",
            ));
        }
        seen.push(e.unique_id.clone());
        // SIM-6: hash and size of the exact attachment.
        let bytes = attachments.get(&e.id).ok_or_else(|| {
            refuse(
                "XDSMissingDocument",
                "SIM-6 no attachment for a DocumentEntry",
            )
        })?;
        if e.size != bytes.len().to_string() {
            return Err(refuse(
                "XDSNonIdenticalSize",
                "SIM-6 size differs from the attachment",
            ));
        }
        if e.hash != hex::encode(Sha1::digest(bytes)) {
            return Err(refuse(
                "XDSNonIdenticalHash",
                "SIM-6 hash differs from the attachment",
            ));
        }
        if !e
            .author_institution
            .ends_with(&format!("^{}", vihf.structure))
        {
            return Err(md(
                "SIM-3 authorInstitution is not the VIHF Identifiant_Structure",
            ));
        }
        // SIM-8: confidentiality.
        if e.confidentiality.iter().any(|c| !J58.contains(&c.as_str())) {
            return Err(refuse(
                "DMP_CONFIDENTIALITY",
                "SIM-8 confidentiality code outside JDV_J58",
            ));
        }
        if !matches!(
            e.confidentiality.first().map(String::as_str),
            Some("N" | "R" | "V")
        ) {
            return Err(refuse(
                "DMP_CONFIDENTIALITY",
                "SIM-8 first confidentiality code must be N/R/V",
            ));
        }
    }
    for e in &clinical {
        let c = |code: &str| e.confidentiality.iter().any(|x| x == code);
        if c("MASQUE_PS") && c("INVISIBLE_PATIENT") && !ctx.params.cumul_invisible_patient_masque_ps
        {
            return Err(refuse(
                "DMP_CONFIDENTIALITY",
                "SIM-8 MASQUE_PS with INVISIBLE_PATIENT refused",
            ));
        }
        if c("INVISIBLE_REPRESENTANTS_LEGAUX") && !minor {
            return Err(refuse(
                "DMP_CONFIDENTIALITY",
                "SIM-8 representatives flag refused for an adult",
            ));
        }
        if vihf.confidentiality.is_some() && !c("INVISIBLE_REPRESENTANTS_LEGAUX") {
            return Err(refuse(
                "DMP_CONFIDENTIALITY",
                "SIM-8 secret connection: every document must be invisible to the representatives",
            ));
        }
        let (code, scheme) = (&e.type_code.0, &e.type_code.1);
        if passerelle_dmp::checks::SOCIAL_TYPE_CODES.contains(&code.as_str()) {
            return Err(refuse(
                "DMP_TYPECODE_REFUSED",
                "SIM-5 social / medico-social typeCode refused",
            ));
        }
        if !catalogue::type_code(code, scheme).is_some_and(|t| t.in_j66) {
            return Err(md("SIM-5 typeCode not in JDV_J66"));
        }
        if catalogue::class_code_of(code, scheme).map(|c| c.code) != Some(e.class_code.as_str()) {
            return Err(md("SIM-5 classCode is not ASS_X16(typeCode)"));
        }
        if e.format_code != "urn:ihe:iti:xds-sd:pdf:2008" {
            return Err(md("SIM-5 formatCode not in JDV_J60"));
        }
        if !in_j61(&e.facility) {
            return Err(md("SIM-5 healthcareFacilityTypeCode not in JDV_J61"));
        }
        // SIM-6: CDA header = metadata.
        let bytes = attachments.get(&e.id).copied().unwrap_or_default();
        check_cda(bytes, &e.unique_id, code, &vihf.ins)?;
    }
    // SIM-7: XAdES.
    let sig_bytes = attachments.get(&sig.id).copied().unwrap_or_default();
    let vs = passerelle_xmlsig::verify_signature_document(sig_bytes, &ctx.trust)
        .map_err(|e| refuse("DMP_SIGNATURE_INVALID", format!("SIM-7 XAdES: {e}")))?;
    if vs.submission_set_unique_id != ss_uid {
        return Err(refuse(
            "DMP_SIGNATURE_INVALID",
            "SIM-7 manifest does not name the SubmissionSet",
        ));
    }
    for e in &clinical {
        let bytes = attachments.get(&e.id).copied().unwrap_or_default();
        vs.check_document(&e.unique_id, bytes).map_err(|_| {
            refuse(
                "DMP_SIGNATURE_INVALID",
                "SIM-7 manifest digest differs from a document",
            )
        })?;
    }
    // SIM-9: RPLC.
    let mut deprecate = Vec::new();
    for (t, src, target) in &assocs {
        if t != RPLC {
            continue;
        }
        if !clinical.iter().any(|e| &e.id == src) {
            return Err(md("SIM-9 RPLC source is not a document of the submission"));
        }
        let old = s
            .entries
            .iter()
            .position(|x| &x.entry_uuid == target)
            .ok_or_else(|| md("SIM-9 RPLC target unknown"))?;
        if s.entries[old].status != EntryStatus::Approved {
            return Err(md("SIM-9 RPLC target is not Approved"));
        }
        if s.entries[old].patient_id != cx {
            return Err(refuse(
                "XDSPatientIdDoesNotMatch",
                "SIM-9 RPLC target of another patient",
            ));
        }
        deprecate.push((old, src.clone()));
    }
    drop(s);
    // Commit.
    let mut s = ctx.lock();
    let mut logical: HashMap<String, String> = HashMap::new();
    for (old, src) in &deprecate {
        s.entries[*old].status = EntryStatus::Deprecated;
        logical.insert(src.clone(), s.entries[*old].logical_id.clone());
    }
    for e in &entries {
        let bytes = attachments.get(&e.id).copied().unwrap_or_default().to_vec();
        s.entries.push(StoredEntry {
            entry_uuid: format!("urn:uuid:{}", uuid::Uuid::new_v4()),
            // dmp.md §4.4: a replacement gets a new logicalId too.
            logical_id: format!("urn:uuid:{}", uuid::Uuid::new_v4()),
            unique_id: e.unique_id.clone(),
            status: EntryStatus::Approved,
            patient_id: e.patient_id.clone(),
            type_code: e.type_code.0.clone(),
            confidentiality: e.confidentiality.clone(),
            author_structure: vihf.structure.clone(),
            submission_set: ss_uid.clone(),
            is_signature: e.is_signature,
            bytes,
        });
    }
    let _ = logical;
    s.submission_sets.push(ss_uid);
    Ok(())
}

fn check_cda(bytes: &[u8], unique_id: &str, type_code: &str, ins: &str) -> Result<(), Refusal> {
    let bad = |c: &str| refuse("XDSRegistryMetadataError", format!("SIM-6 {c}"));
    let xml = std::str::from_utf8(bytes).map_err(|_| bad("CDA is not UTF-8"))?;
    let doc = roxmltree::Document::parse(xml).map_err(|_| bad("CDA is not well-formed"))?;
    let root = doc.root_element();
    if !is(root, HL7_NS, "ClinicalDocument") {
        return Err(bad("not a ClinicalDocument"));
    }
    if kid(root, HL7_NS, "id").and_then(|i| i.attribute("root")) != Some(unique_id) {
        return Err(bad("CDA id differs from uniqueId"));
    }
    if kid(root, HL7_NS, "code").and_then(|c| c.attribute("code")) != Some(type_code) {
        return Err(bad("CDA code differs from typeCode"));
    }
    if kid(root, HL7_NS, "confidentialityCode").and_then(|c| c.attribute("code")) != Some("N") {
        return Err(bad("CDA confidentialityCode must be N"));
    }
    let ins_ok = root
        .descendants()
        .filter(|d| is(*d, HL7_NS, "patientRole"))
        .flat_map(|p| kids(p, HL7_NS, "id"))
        .any(|i| i.attribute("extension") == Some(ins));
    if !ins_ok {
        return Err(bad("CDA recordTarget does not carry the INS"));
    }
    Ok(())
}

fn iti18(ctx: &Ctx, vihf: &Vihf, payload: Node<'_, '_>) -> Result<Vec<u8>, Refusal> {
    if !is(payload, QUERY_NS, "AdhocQueryRequest") {
        return Err(refuse("XDSRegistryError", "SIM-2 not an AdhocQueryRequest"));
    }
    let q = kid(payload, RIM_NS, "AdhocQuery")
        .ok_or_else(|| refuse("XDSRegistryError", "SIM-2 no AdhocQuery"))?;
    if q.attribute("id") != Some(passerelle_dmp::iti18::GET_DOCUMENTS) {
        return Err(refuse(
            "XDSUnknownStoredQuery",
            "SIM-2 only GetDocuments is supported",
        ));
    }
    let values = slot_values(q, "$XDSDocumentEntryUniqueId");
    let uids: Vec<String> = values
        .iter()
        .flat_map(|v| {
            v.trim()
                .trim_start_matches('(')
                .trim_end_matches(')')
                .split(',')
                .map(|x| x.trim().trim_matches('\'').to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    if uids.is_empty() {
        return Err(refuse(
            "XDSStoredQueryParamNumber",
            "SIM-2 $XDSDocumentEntryUniqueId missing",
        ));
    }
    let cx = ins_cx(&vihf.ins, &vihf.ins_oid);
    let s = ctx.lock();
    let refs: Vec<&str> = s
        .entries
        .iter()
        .filter(|e| {
            uids.contains(&e.unique_id) && e.status == EntryStatus::Approved && e.patient_id == cx
        })
        .map(|e| e.entry_uuid.as_str())
        .collect();
    let mut b = Vec::new();
    adhoc_query_response_xml(&mut b, &refs, &[]);
    Ok(b)
}

fn iti57(
    ctx: &Ctx,
    vihf: &Vihf,
    payload: Node<'_, '_>,
    _now: OffsetDateTime,
) -> Result<(), Refusal> {
    let md = |c: &str| refuse("XDSRegistryMetadataError", c.to_owned());
    if !is(payload, LCM_NS, "SubmitObjectsRequest") {
        return Err(md("SIM-9 not a SubmitObjectsRequest"));
    }
    let list = kid(payload, RIM_NS, "RegistryObjectList")
        .ok_or_else(|| md("SIM-9 no RegistryObjectList"))?;
    let ss = kid(list, RIM_NS, "RegistryPackage").ok_or_else(|| md("SIM-9 no SubmissionSet"))?;
    let ss_id = ss.attribute("id").unwrap_or_default();
    let cx = ins_cx(&vihf.ins, &vihf.ins_oid);
    if external_id(list, ss, ss_id, SS_PATIENT_ID).as_deref() != Some(cx.as_str()) {
        return Err(refuse(
            "XDSPatientIdDoesNotMatch",
            "SIM-9 SubmissionSet patientId differs from the VIHF INS",
        ));
    }
    let a = kids(list, RIM_NS, "Association")
        .find(|a| a.attribute("associationType") == Some(UPDATE_AVAILABILITY_STATUS))
        .ok_or_else(|| md("SIM-9 no UpdateAvailabilityStatus association"))?;
    if slot1(a, "NewStatus").as_deref() != Some(STATUS_DELETED) {
        return Err(md("SIM-9 only deletion (NewStatus Deleted) is supported"));
    }
    let target = a.attribute("targetObject").unwrap_or_default();
    let mut s = ctx.lock();
    let e = s
        .entries
        .iter_mut()
        .find(|e| e.entry_uuid == target)
        .ok_or_else(|| refuse("XDSUnknownDocument", "SIM-9 entryUUID unknown"))?;
    if e.patient_id != cx {
        return Err(refuse(
            "XDSPatientIdDoesNotMatch",
            "SIM-9 entry of another patient",
        ));
    }
    if e.status != EntryStatus::Approved {
        return Err(md("SIM-9 entry is not Approved"));
    }
    if e.author_structure != vihf.structure {
        return Err(refuse(
            "DMP_NOT_AUTHOR",
            "SIM-9 only the author's structure may delete",
        ));
    }
    e.status = EntryStatus::Deleted;
    Ok(())
}
