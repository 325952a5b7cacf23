//! XDS metadata (ebRIM 3.0 SubmitObjectsRequest) shared by the XDM package (METADATA.XML) and the
//! DMP ITI-41 request: SubmissionSet, DocumentEntries, Associations (mssante.md §3.6, dmp.md §4).

use passerelle_api::v1::Code;
use sha1::{Digest, Sha1};
use time::OffsetDateTime;

use crate::catalogue::StaticCode;
use crate::cda::write_cda;
use crate::codes::xds;
use crate::context::{Author, DocumentContext, Profile, Tenant};
use crate::error::DocumentError;
use crate::header::{
    self, Header, coded_slot, org_xon, patient_cx, person_xcn, source_patient_cx, xds_time,
};
use crate::xml::Xml;

/// An owned coded value of the metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XdsCode {
    /// Code (`nodeRepresentation`).
    pub code: String,
    /// Display (Name).
    pub display: String,
    /// Coding scheme (OID, or `URN` / `ASTM` for the signature document).
    pub scheme: String,
}

impl From<StaticCode> for XdsCode {
    fn from(c: StaticCode) -> Self {
        XdsCode {
            code: c.code.to_owned(),
            display: c.display.to_owned(),
            scheme: c.system.to_owned(),
        }
    }
}

impl From<&Code> for XdsCode {
    fn from(c: &Code) -> Self {
        XdsCode {
            code: c.code.clone(),
            display: c.display.clone(),
            scheme: c.system.clone(),
        }
    }
}

/// The author classification (`authorInstitution`, `authorPerson`, `authorRole`,
/// `authorSpecialty`, `authorTelecommunication`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XdsAuthor {
    /// XON.
    pub institution: String,
    /// XCN.
    pub person: String,
    /// authorRole (J47 function), coded.
    pub role: Option<String>,
    /// authorSpecialty (J01), coded.
    pub specialty: String,
    /// `^^Internet^address` (MSSanté submission sets).
    pub telecom: Option<String>,
}

impl XdsAuthor {
    /// The author of a document of a tenant.
    pub fn new(tenant: &Tenant, author: &Author) -> Self {
        XdsAuthor {
            institution: org_xon(&tenant.name, &tenant.struct_idnat),
            person: person_xcn(&author.ps_idnat, &author.family_name, &author.given_name),
            role: author
                .function_code
                .as_ref()
                .map(|f| coded_slot(&f.code, &f.display, &f.system)),
            specialty: coded_slot(
                &author.specialty.code,
                &author.specialty.display,
                &author.specialty.system,
            ),
            telecom: None,
        }
    }
}

/// One XDSDocumentEntry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentEntry {
    /// uniqueId (plain OID).
    pub unique_id: String,
    /// Title (Name).
    pub title: String,
    /// `text/xml` for CDA.
    pub mime_type: String,
    /// SHA-1 of the exact bytes, lower-case hex.
    pub hash: String,
    /// Byte count.
    pub size: u64,
    /// `URI` slot (XDM: `DOC0001.XML`), set by the package writer.
    pub uri: Option<String>,
    /// creationTime, UTC.
    pub creation_time: String,
    /// serviceStartTime.
    pub service_start_time: Option<String>,
    /// serviceStopTime.
    pub service_stop_time: Option<String>,
    /// languageCode.
    pub language: String,
    /// patientId CX.
    pub patient_id: String,
    /// sourcePatientId CX.
    pub source_patient_id: String,
    /// sourcePatientInfo (`PID-5|…`, `PID-7|…`, `PID-8|…`).
    pub source_patient_info: Vec<String>,
    /// legalAuthenticator XCN.
    pub legal_authenticator: Option<String>,
    /// Author.
    pub author: XdsAuthor,
    /// classCode.
    pub class_code: XdsCode,
    /// typeCode.
    pub type_code: XdsCode,
    /// formatCode.
    pub format_code: XdsCode,
    /// healthcareFacilityTypeCode.
    pub facility_type: XdsCode,
    /// practiceSettingCode.
    pub practice_setting: XdsCode,
    /// confidentialityCode list.
    pub confidentiality: Vec<XdsCode>,
    /// eventCodeList.
    pub event_codes: Vec<XdsCode>,
    /// entryUUID of the document this one replaces (RPLC association).
    pub replaces_entry_uuid: Option<String>,
}

/// A rendered document: its CDA bytes and the DocumentEntry that describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedDocument {
    /// The CDA R2 N1 bytes.
    pub cda: Vec<u8>,
    /// The metadata of those bytes.
    pub entry: DocumentEntry,
    /// The resolved header (codes, patient, confidentiality) used for both.
    pub header: Header,
}

/// SHA-1, lower-case hex (XDS `hash`).
pub fn sha1_hex(bytes: &[u8]) -> String {
    hex::encode(Sha1::digest(bytes))
}

/// Builds the CDA of a document and its DocumentEntry, for the context's profile.
pub fn render_document(ctx: &DocumentContext<'_>) -> Result<RenderedDocument, DocumentError> {
    let h = header::resolve(ctx)?;
    let cda = write_cda(ctx, &h);
    let entry = document_entry(ctx, &h, &cda);
    Ok(RenderedDocument {
        cda,
        entry,
        header: h,
    })
}

/// Only the CDA bytes.
pub fn build_cda(ctx: &DocumentContext<'_>) -> Result<Vec<u8>, DocumentError> {
    let h = header::resolve(ctx)?;
    Ok(write_cda(ctx, &h))
}

fn document_entry(ctx: &DocumentContext<'_>, h: &Header, cda: &[u8]) -> DocumentEntry {
    let p = &h.patient;
    let mut info = vec![
        format!(
            "PID-5|{}^{}^^^^^L",
            header::hl7_escape(&p.birth_family_name),
            header::hl7_escape(&p.first_given_name)
        ),
        format!("PID-7|{}", p.birth_date),
    ];
    info.push(format!(
        "PID-8|{}",
        if p.gender == "UN" { "U" } else { p.gender }
    ));
    let a = ctx.author;
    DocumentEntry {
        unique_id: ctx.ids.unique_id.clone(),
        title: h.title.clone(),
        mime_type: "text/xml".to_owned(),
        hash: sha1_hex(cda),
        size: cda.len() as u64,
        uri: None,
        creation_time: h.creation_time_xds.clone(),
        service_start_time: Some(h.service_time.clone()),
        service_stop_time: Some(h.service_time.clone()),
        language: "fr-FR".to_owned(),
        patient_id: patient_cx(p, &ctx.tenant.source_oid),
        source_patient_id: source_patient_cx(p, &ctx.tenant.source_oid),
        source_patient_info: info,
        legal_authenticator: Some(person_xcn(&a.ps_idnat, &a.family_name, &a.given_name)),
        author: XdsAuthor::new(ctx.tenant, a),
        class_code: h.class_code.into(),
        type_code: h.type_code.into(),
        format_code: crate::catalogue::FORMAT_CODE.into(),
        facility_type: (&h.facility_type).into(),
        practice_setting: (&h.practice_setting).into(),
        confidentiality: h.xds_confidentiality.iter().map(|c| (*c).into()).collect(),
        event_codes: Vec::new(),
        replaces_entry_uuid: ctx.ids.replaces.as_ref().map(|r| r.entry_uuid.clone()),
    }
}

/// The DocumentEntry of the DMP submission-set signature document (dmp.md §4.6): the XAdES
/// bytes are built elsewhere (adapters/xmlsig); codes as observed in DRIM, the rest as the
/// clinical document.
pub fn signature_entry(
    document: &DocumentEntry,
    unique_id: &str,
    signing_time: OffsetDateTime,
    signature_bytes: &[u8],
    confidentiality: Vec<XdsCode>,
) -> Result<DocumentEntry, DocumentError> {
    header::check_oid("signature.unique_id", unique_id)?;
    let t = xds_time(signing_time);
    let code = |code: &str, display: &str, scheme: &str| XdsCode {
        code: code.to_owned(),
        display: display.to_owned(),
        scheme: scheme.to_owned(),
    };
    Ok(DocumentEntry {
        unique_id: unique_id.to_owned(),
        title: "Source".to_owned(),
        mime_type: "text/xml".to_owned(),
        hash: sha1_hex(signature_bytes),
        size: signature_bytes.len() as u64,
        uri: None,
        creation_time: t.clone(),
        service_start_time: Some(t.clone()),
        service_stop_time: Some(t),
        language: "art".to_owned(),
        class_code: code(
            "urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1",
            "Digital Signature",
            "URN",
        ),
        type_code: code("E1762", "Full Document", "ASTM"),
        format_code: code(
            "http://www.w3.org/2000/09/xmldsig#",
            "Default signature style",
            "URN",
        ),
        confidentiality,
        event_codes: vec![code(
            "1.2.840.10065.1.12.1.14",
            "Source",
            "1.2.840.10065.1.12",
        )],
        replaces_entry_uuid: None,
        ..document.clone()
    })
}

/// The XDSSubmissionSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionSet {
    /// uniqueId (plain OID).
    pub unique_id: String,
    /// sourceId: the tenant system OID.
    pub source_id: String,
    /// patientId CX (= every entry's).
    pub patient_id: String,
    /// submissionTime, UTC `YYYYMMDDhhmmss`.
    pub submission_time: String,
    /// contentTypeCode.
    pub content_type: XdsCode,
    /// Author.
    pub author: XdsAuthor,
    /// intendedRecipient XTN (`^^Internet^addr`), MSSanté only.
    pub intended_recipients: Vec<String>,
}

impl SubmissionSet {
    /// A submission set of a tenant for the documents given (the first one names the patient).
    pub fn new(
        tenant: &Tenant,
        author: &Author,
        profile: Profile,
        unique_id: &str,
        submission_time: OffsetDateTime,
        first_document: &DocumentEntry,
        recipients: &[&str],
    ) -> Result<Self, DocumentError> {
        header::check_oid("submission_set.unique_id", unique_id)?;
        let mut a = XdsAuthor::new(tenant, author);
        let intended_recipients = match profile {
            Profile::Mssante => {
                if !tenant.app_mailbox.is_empty() {
                    a.telecom = Some(format!("^^Internet^{}", tenant.app_mailbox));
                }
                recipients
                    .iter()
                    .map(|r| format!("^^Internet^{r}"))
                    .collect()
            }
            Profile::Dmp(_) => Vec::new(),
        };
        // The document author's role is not the submitter's: only institution, person, specialty.
        a.role = None;
        Ok(SubmissionSet {
            unique_id: unique_id.to_owned(),
            source_id: tenant.source_oid.clone(),
            patient_id: first_document.patient_id.clone(),
            submission_time: xds_time(submission_time),
            content_type: (&tenant.content_type).into(),
            author: a,
            intended_recipients,
        })
    }
}

/// How registry object ids are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdStyle {
    /// `urn:uuid:` derived deterministically from the uniqueIds (MSSanté, mssante.md §3.6).
    Uuid,
    /// Symbolic ids `SubmissionSet01`, `Doc01`, `Sig01` (DMP, as observed in DRIM).
    Symbolic,
}

/// A name-based UUID (SHA-1, RFC 4122 version 5 layout) from a seed: stable ids for stable input.
pub fn derived_uuid(seed: &str) -> String {
    let d = Sha1::digest(format!("passerelle-documents:{seed}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The ids a request uses for its objects, so callers (MTOM `xdsb:Document/@id`) can refer to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectIds {
    /// The SubmissionSet's id.
    pub submission_set: String,
    /// Each document's id, in order.
    pub documents: Vec<String>,
    /// The signature document's id.
    pub signature: Option<String>,
}

/// Ids of the objects of a request, for a style.
pub fn object_ids(
    set: &SubmissionSet,
    entries: &[DocumentEntry],
    signature: Option<&DocumentEntry>,
    style: IdStyle,
) -> ObjectIds {
    match style {
        IdStyle::Uuid => ObjectIds {
            submission_set: derived_uuid(&format!("ss:{}", set.unique_id)),
            documents: entries
                .iter()
                .map(|e| derived_uuid(&format!("de:{}", e.unique_id)))
                .collect(),
            signature: signature.map(|s| derived_uuid(&format!("de:{}", s.unique_id))),
        },
        IdStyle::Symbolic => ObjectIds {
            submission_set: "SubmissionSet01".to_owned(),
            documents: (1..=entries.len()).map(|i| format!("Doc{i:02}")).collect(),
            signature: signature.map(|_| "Sig01".to_owned()),
        },
    }
}

struct IdGen {
    style: IdStyle,
    seed: String,
    n: usize,
}

impl IdGen {
    fn next(&mut self, prefix: &str) -> String {
        self.n += 1;
        match self.style {
            IdStyle::Uuid => derived_uuid(&format!("{}:{prefix}:{}", self.seed, self.n)),
            IdStyle::Symbolic => format!("{prefix}{:02}", self.n),
        }
    }
}

/// The `lcm:SubmitObjectsRequest` element (no XML declaration), to embed in an ITI-41 request.
pub fn submit_objects_request(
    set: &SubmissionSet,
    entries: &[DocumentEntry],
    signature: Option<&DocumentEntry>,
    style: IdStyle,
) -> Result<String, DocumentError> {
    let mut x = Xml::with_capacity(8 * 1024 + entries.len() * 6 * 1024, true);
    write_request(&mut x, set, entries, signature, style)?;
    Ok(x.finish())
}

/// `METADATA.XML`: the request as a standalone document.
pub fn metadata_xml(
    set: &SubmissionSet,
    entries: &[DocumentEntry],
    style: IdStyle,
) -> Result<Vec<u8>, DocumentError> {
    let mut x = Xml::with_capacity(8 * 1024 + entries.len() * 6 * 1024, true);
    x.declaration();
    write_request(&mut x, set, entries, None, style)?;
    Ok(x.finish().into_bytes())
}

fn write_request(
    x: &mut Xml,
    set: &SubmissionSet,
    entries: &[DocumentEntry],
    signature: Option<&DocumentEntry>,
    style: IdStyle,
) -> Result<(), DocumentError> {
    if entries.is_empty() {
        return Err(DocumentError::input("entries", "at least one document"));
    }
    for e in entries.iter().chain(signature) {
        if e.patient_id != set.patient_id {
            return Err(DocumentError::input(
                "entries.patient_id",
                "differs from the submission set's",
            ));
        }
        if e.title.chars().count() > 256 {
            return Err(DocumentError::input(
                "entries.title",
                "longer than 256 characters",
            ));
        }
    }
    let ids = object_ids(set, entries, signature, style);
    let mut idg = IdGen {
        style,
        seed: set.unique_id.clone(),
        n: 0,
    };
    x.open(
        "lcm:SubmitObjectsRequest",
        &[("xmlns:lcm", xds::NS_LCM), ("xmlns:rim", xds::NS_RIM)],
    );
    x.open("rim:RegistryObjectList", &[]);

    // SubmissionSet
    let ss = &ids.submission_set;
    x.open(
        "rim:RegistryPackage",
        &[("id", ss), ("objectType", xds::REGISTRY_PACKAGE_TYPE)],
    );
    slot(x, "submissionTime", &[&set.submission_time]);
    let recips: Vec<&str> = set.intended_recipients.iter().map(String::as_str).collect();
    if !recips.is_empty() {
        slot(x, "intendedRecipient", &recips);
    }
    author_classification(x, &mut idg, xds::SS_AUTHOR, ss, &set.author);
    code_classification(x, &mut idg, xds::SS_CONTENT_TYPE, ss, &set.content_type);
    external_id(
        x,
        &mut idg,
        xds::SS_UNIQUE_ID,
        ss,
        &set.unique_id,
        "XDSSubmissionSet.uniqueId",
    );
    external_id(
        x,
        &mut idg,
        xds::SS_SOURCE_ID,
        ss,
        &set.source_id,
        "XDSSubmissionSet.sourceId",
    );
    external_id(
        x,
        &mut idg,
        xds::SS_PATIENT_ID,
        ss,
        &set.patient_id,
        "XDSSubmissionSet.patientId",
    );
    x.close("rim:RegistryPackage");
    let node_id = idg.next("cl");
    x.empty(
        "rim:Classification",
        &[
            ("id", &node_id),
            ("classifiedObject", ss),
            ("classificationNode", xds::SUBMISSION_SET_NODE),
            ("objectType", xds::CLASSIFICATION_TYPE),
        ],
    );

    for (e, id) in entries.iter().zip(&ids.documents) {
        extrinsic_object(x, &mut idg, id, e);
    }
    if let (Some(s), Some(id)) = (signature, &ids.signature) {
        extrinsic_object(x, &mut idg, id, s);
    }
    for (e, id) in entries.iter().zip(&ids.documents) {
        let a = idg.next("as");
        x.open(
            "rim:Association",
            &[
                ("id", &a),
                ("associationType", xds::ASSOC_HAS_MEMBER),
                ("sourceObject", ss),
                ("targetObject", id),
            ],
        );
        slot(x, "SubmissionSetStatus", &["Original"]);
        x.close("rim:Association");
        if let Some(old) = &e.replaces_entry_uuid {
            let a = idg.next("as");
            x.empty(
                "rim:Association",
                &[
                    ("id", &a),
                    ("associationType", xds::ASSOC_RPLC),
                    ("sourceObject", id),
                    ("targetObject", old),
                ],
            );
        }
    }
    if let Some(sig) = &ids.signature {
        let a = idg.next("as");
        x.open(
            "rim:Association",
            &[
                ("id", &a),
                ("associationType", xds::ASSOC_HAS_MEMBER),
                ("sourceObject", ss),
                ("targetObject", sig),
            ],
        );
        slot(x, "SubmissionSetStatus", &["Original"]);
        x.close("rim:Association");
        let a = idg.next("as");
        x.empty(
            "rim:Association",
            &[
                ("id", &a),
                ("associationType", xds::ASSOC_SIGNS),
                ("sourceObject", sig),
                ("targetObject", ss),
            ],
        );
    }
    x.close("rim:RegistryObjectList");
    x.close("lcm:SubmitObjectsRequest");
    Ok(())
}

fn extrinsic_object(x: &mut Xml, idg: &mut IdGen, id: &str, e: &DocumentEntry) {
    x.open(
        "rim:ExtrinsicObject",
        &[
            ("id", id),
            ("mimeType", &e.mime_type),
            ("objectType", xds::DE_OBJECT_TYPE),
        ],
    );
    slot(x, "creationTime", &[&e.creation_time]);
    slot(x, "languageCode", &[&e.language]);
    if let Some(t) = &e.service_start_time {
        slot(x, "serviceStartTime", &[t]);
    }
    if let Some(t) = &e.service_stop_time {
        slot(x, "serviceStopTime", &[t]);
    }
    slot(x, "sourcePatientId", &[&e.source_patient_id]);
    let info: Vec<&str> = e.source_patient_info.iter().map(String::as_str).collect();
    if !info.is_empty() {
        slot(x, "sourcePatientInfo", &info);
    }
    if let Some(l) = &e.legal_authenticator {
        slot(x, "legalAuthenticator", &[l]);
    }
    slot(x, "hash", &[&e.hash]);
    let size = e.size.to_string();
    slot(x, "size", &[&size]);
    if let Some(u) = &e.uri {
        slot(x, "URI", &[u]);
    }
    x.open("rim:Name", &[]);
    x.empty("rim:LocalizedString", &[("value", &e.title)]);
    x.close("rim:Name");
    author_classification(x, idg, xds::DE_AUTHOR, id, &e.author);
    code_classification(x, idg, xds::DE_CLASS, id, &e.class_code);
    for c in &e.confidentiality {
        code_classification(x, idg, xds::DE_CONFIDENTIALITY, id, c);
    }
    for c in &e.event_codes {
        code_classification(x, idg, xds::DE_EVENT, id, c);
    }
    code_classification(x, idg, xds::DE_FORMAT, id, &e.format_code);
    code_classification(x, idg, xds::DE_FACILITY, id, &e.facility_type);
    code_classification(x, idg, xds::DE_PRACTICE, id, &e.practice_setting);
    code_classification(x, idg, xds::DE_TYPE, id, &e.type_code);
    external_id(
        x,
        idg,
        xds::DE_PATIENT_ID,
        id,
        &e.patient_id,
        "XDSDocumentEntry.patientId",
    );
    external_id(
        x,
        idg,
        xds::DE_UNIQUE_ID,
        id,
        &e.unique_id,
        "XDSDocumentEntry.uniqueId",
    );
    x.close("rim:ExtrinsicObject");
}

fn slot(x: &mut Xml, name: &str, values: &[&str]) {
    x.open("rim:Slot", &[("name", name)]);
    x.open("rim:ValueList", &[]);
    for v in values {
        x.leaf("rim:Value", &[], v);
    }
    x.close("rim:ValueList");
    x.close("rim:Slot");
}

fn code_classification(x: &mut Xml, idg: &mut IdGen, scheme: &str, obj: &str, c: &XdsCode) {
    let id = idg.next("cl");
    x.open(
        "rim:Classification",
        &[
            ("id", &id),
            ("classificationScheme", scheme),
            ("classifiedObject", obj),
            ("nodeRepresentation", &c.code),
            ("objectType", xds::CLASSIFICATION_TYPE),
        ],
    );
    slot(x, "codingScheme", &[&c.scheme]);
    x.open("rim:Name", &[]);
    x.empty("rim:LocalizedString", &[("value", &c.display)]);
    x.close("rim:Name");
    x.close("rim:Classification");
}

fn author_classification(x: &mut Xml, idg: &mut IdGen, scheme: &str, obj: &str, a: &XdsAuthor) {
    let id = idg.next("cl");
    x.open(
        "rim:Classification",
        &[
            ("id", &id),
            ("classificationScheme", scheme),
            ("classifiedObject", obj),
            ("nodeRepresentation", ""),
            ("objectType", xds::CLASSIFICATION_TYPE),
        ],
    );
    slot(x, "authorInstitution", &[&a.institution]);
    slot(x, "authorPerson", &[&a.person]);
    if let Some(r) = &a.role {
        slot(x, "authorRole", &[r]);
    }
    slot(x, "authorSpecialty", &[&a.specialty]);
    if let Some(t) = &a.telecom {
        slot(x, "authorTelecommunication", &[t]);
    }
    x.close("rim:Classification");
}

fn external_id(x: &mut Xml, idg: &mut IdGen, scheme: &str, obj: &str, value: &str, name: &str) {
    let id = idg.next("ei");
    x.open(
        "rim:ExternalIdentifier",
        &[
            ("id", &id),
            ("identificationScheme", scheme),
            ("registryObject", obj),
            ("value", value),
            ("objectType", xds::EXTERNAL_IDENTIFIER_TYPE),
        ],
    );
    x.open("rim:Name", &[]);
    x.empty("rim:LocalizedString", &[("value", name)]);
    x.close("rim:Name");
    x.close("rim:ExternalIdentifier");
}
