//! The one place that decides the header values of a document for a profile; the CDA writer and
//! the XDS DocumentEntry both read this, so they cannot disagree (ANS annexe "lien entre l'en-tête
//! CDA et les métadonnées XDS").

use passerelle_api::v1::{Code, DocumentKind, Gender, InsStatus};
use time::{Date, OffsetDateTime, UtcOffset};

use crate::catalogue::{
    self, Domain, KindChannels, KindInfo, SOCIAL_TYPE, StaticCode, class_code_of, kind_info,
};
use crate::codes::{self, INS_ROOTS, PS_IDNAT, STRUCT_IDNAT};
use crate::context::{DocumentContext, Profile};
use crate::error::DocumentError;

/// The patient as written in the CDA `recordTarget` and the XDS patient ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patient {
    /// Qualified INS: (root OID, matricule).
    pub ins: Option<(String, String)>,
    /// DUI local id (root = tenant source OID).
    pub local_id: Option<String>,
    /// Birth family name.
    pub birth_family_name: String,
    /// First birth given name.
    pub first_given_name: String,
    /// All birth given names, space-separated.
    pub birth_given_names: String,
    /// HL7 AdministrativeGender code (F, M, UN).
    pub gender: &'static str,
    /// Birth date `YYYYMMDD`.
    pub birth_date: String,
    /// INSEE code of the birthplace (`99xxx` abroad).
    pub birthplace: String,
}

/// Resolved header of one document for one profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Catalogue row.
    pub kind: &'static KindInfo,
    /// CDA `code` = XDS typeCode.
    pub type_code: StaticCode,
    /// The local kind code (CDA `code/translation`).
    pub local_code: Code,
    /// XDS classCode (ASS_X16 of the type code).
    pub class_code: StaticCode,
    /// CDA confidentialityCode.
    pub cda_confidentiality: StaticCode,
    /// XDS confidentialityCode list (the CDA one first).
    pub xds_confidentiality: Vec<StaticCode>,
    /// healthcareFacilityTypeCode.
    pub facility_type: Code,
    /// practiceSettingCode for this profile.
    pub practice_setting: Code,
    /// Title.
    pub title: String,
    /// The patient.
    pub patient: Patient,
    /// CDA effectiveTime with zone, `YYYYMMDDhhmmss+zzzz`.
    pub effective_time_cda: String,
    /// XDS creationTime, UTC `YYYYMMDDhhmmss`.
    pub creation_time_xds: String,
    /// serviceEvent low/high: the act date `YYYYMMDD` (or the creation date).
    pub service_time: String,
}

const HL7_TS: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year][month][day][hour][minute][second]");
const OFFSET: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[offset_hour sign:mandatory][offset_minute]");
const ISO_DATE: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");
const HL7_DATE: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year][month][day]");

/// `YYYYMMDDhhmmss+zzzz` (CDA TS with zone).
pub fn cda_time(t: OffsetDateTime) -> String {
    let mut s = t.format(HL7_TS).unwrap_or_default();
    s.push_str(&t.offset().format(OFFSET).unwrap_or_default());
    s
}

/// `YYYYMMDDhhmmss` in UTC (XDS DTM).
pub fn xds_time(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC)
        .format(HL7_TS)
        .unwrap_or_default()
}

/// `YYYY-MM-DD` → `YYYYMMDD`, validated.
pub fn hl7_date(field: &'static str, iso: &str) -> Result<String, DocumentError> {
    let d = Date::parse(iso, ISO_DATE)
        .map_err(|_| DocumentError::input(field, "not a YYYY-MM-DD date"))?;
    d.format(HL7_DATE)
        .map_err(|_| DocumentError::input(field, "date out of range"))
}

/// An OID as the DMP wants it: plain, ≤ 64 characters (dmp.md §4.4).
pub fn check_oid(field: &'static str, oid: &str) -> Result<(), DocumentError> {
    let ok = !oid.is_empty()
        && oid.len() <= 64
        && oid.split('.').all(|arc| {
            !arc.is_empty()
                && arc.bytes().all(|b| b.is_ascii_digit())
                && (arc == "0" || !arc.starts_with('0'))
        })
        && oid.contains('.');
    if ok {
        Ok(())
    } else {
        Err(DocumentError::input(
            field,
            "not a plain OID of at most 64 characters",
        ))
    }
}

fn non_empty(field: &'static str, v: &str) -> Result<(), DocumentError> {
    if v.trim().is_empty() {
        Err(DocumentError::input(field, "required"))
    } else {
        Ok(())
    }
}

fn check_code(field: &'static str, c: &Code) -> Result<(), DocumentError> {
    non_empty(field, &c.code)?;
    check_oid(field, &c.system)
}

/// Resolves the header of a document for its profile (validation included).
pub fn resolve(ctx: &DocumentContext<'_>) -> Result<Header, DocumentError> {
    let doc = ctx.document;
    let kind = DocumentKind::try_from(doc.kind).unwrap_or(DocumentKind::Unspecified);
    let info =
        kind_info(kind).ok_or_else(|| DocumentError::input("document.kind", "unspecified"))?;
    let profile = ctx.profile.name();
    if info.channels == KindChannels::None {
        return Err(DocumentError::KindNotAllowed {
            kind: info.local_code,
            profile,
            reason: "kind has no gateway channel (internal or out of band)",
        });
    }
    check_oid("local_code_system_oid", ctx.local_code_system_oid)?;
    check_oid("ids.unique_id", &ctx.ids.unique_id)?;
    check_oid("ids.set_id", &ctx.ids.set_id)?;
    if ctx.ids.version == 0 {
        return Err(DocumentError::input("ids.version", "must be at least 1"));
    }
    if let Some(r) = &ctx.ids.replaces {
        check_oid("ids.replaces.unique_id", &r.unique_id)?;
        non_empty("ids.replaces.entry_uuid", &r.entry_uuid)?;
    }
    if ctx.pdf.is_empty() {
        return Err(DocumentError::input("pdf", "empty"));
    }
    let t = ctx.tenant;
    non_empty("tenant.name", &t.name)?;
    non_empty("tenant.struct_idnat", &t.struct_idnat)?;
    check_oid("tenant.source_oid", &t.source_oid)?;
    check_code("tenant.facility_type", &t.facility_type)?;
    let a = ctx.author;
    non_empty("author.ps_idnat", &a.ps_idnat)?;
    non_empty("author.family_name", &a.family_name)?;
    check_code("author.specialty", &a.specialty)?;
    if let Some(f) = &a.function_code {
        check_code("author.function_code", f)?;
    }

    // Type and class codes per profile.
    let (type_code, class_code, practice_setting) = match ctx.profile {
        Profile::Mssante => {
            let tc = info.national_type.unwrap_or(SOCIAL_TYPE);
            let cc = catalogue::class_code(info.class_code).ok_or_else(|| {
                DocumentError::input("document.kind", "catalogue class code unknown")
            })?;
            check_code("tenant.practice_setting", &t.practice_setting)?;
            (tc, cc, t.practice_setting.clone())
        }
        Profile::Dmp(_) => {
            if info.domain == Domain::Social {
                return Err(DocumentError::KindNotAllowed {
                    kind: info.local_code,
                    profile,
                    reason: "social documents never go to the DMP",
                });
            }
            if info.channels != KindChannels::MssDmp {
                return Err(DocumentError::KindNotAllowed {
                    kind: info.local_code,
                    profile,
                    reason: "kind not allowed on the DMP (DMP-TYPE-02)",
                });
            }
            // CR_MEDICAL may carry any J66 code (policy.md §3); others use the catalogue's.
            let requested = match (&doc.dmp_type_code, kind) {
                (Some(c), DocumentKind::CrMedical) if !c.code.is_empty() => {
                    catalogue::type_code(&c.code, &c.system)
                        .map(|i| (i.code, i.in_j66))
                        .ok_or_else(|| {
                            DocumentError::input("document.dmp_type_code", "not in JDV_J07/J66")
                        })?
                }
                _ => {
                    let tc = info.national_type.ok_or_else(|| {
                        DocumentError::input("document.kind", "no national type code")
                    })?;
                    let in_j66 = catalogue::type_code(tc.code, tc.system)
                        .map(|i| i.in_j66)
                        .unwrap_or(false);
                    (tc, in_j66)
                }
            };
            if !requested.1 {
                return Err(DocumentError::KindNotAllowed {
                    kind: info.local_code,
                    profile,
                    reason: "type code not in JDV_J66 (DMP-TYPE-01)",
                });
            }
            let cc = class_code_of(requested.0.code, requested.0.system).ok_or(
                DocumentError::KindNotAllowed {
                    kind: info.local_code,
                    profile,
                    reason: "type code has no ASS_X16 class (DMP-TYPE-01)",
                },
            )?;
            check_code("tenant.practice_setting_dmp", &t.practice_setting_dmp)?;
            (requested.0, cc, t.practice_setting_dmp.clone())
        }
    };

    let sensitivity = passerelle_api::v1::Sensitivity::try_from(doc.sensitivity)
        .unwrap_or(passerelle_api::v1::Sensitivity::Unspecified);
    let (cda_conf, xds_conf) = match ctx.profile {
        Profile::Mssante => {
            let c =
                catalogue::mss_confidentiality(catalogue::effective_sensitivity(info, sensitivity));
            (c, vec![c])
        }
        Profile::Dmp(v) => {
            let mut list = vec![codes::CONF_N];
            if v.masque_ps {
                list.push(codes::MASQUE_PS);
            }
            if v.invisible_patient {
                list.push(codes::INVISIBLE_PATIENT);
            }
            if v.invisible_representants_legaux {
                list.push(codes::INVISIBLE_REPRESENTANTS_LEGAUX);
            }
            (codes::CONF_N, list)
        }
    };

    let patient = resolve_patient(ctx)?;
    let service_time = if doc.act_date.is_empty() {
        ctx.effective_time
            .format(HL7_DATE)
            .map_err(|_| DocumentError::input("effective_time", "out of range"))?
    } else {
        hl7_date("document.act_date", &doc.act_date)?
    };
    let title = if doc.title.trim().is_empty() {
        info.label.to_owned()
    } else {
        doc.title.trim().to_owned()
    };
    Ok(Header {
        kind: info,
        type_code,
        local_code: Code {
            system: ctx.local_code_system_oid.to_owned(),
            code: info.local_code.to_owned(),
            display: info.label.to_owned(),
        },
        class_code,
        cda_confidentiality: cda_conf,
        xds_confidentiality: xds_conf,
        facility_type: t.facility_type.clone(),
        practice_setting,
        title,
        patient,
        effective_time_cda: cda_time(ctx.effective_time),
        creation_time_xds: xds_time(ctx.effective_time),
        service_time,
    })
}

fn resolve_patient(ctx: &DocumentContext<'_>) -> Result<Patient, DocumentError> {
    let child = ctx.child;
    let ins = child.ins.clone().unwrap_or_default();
    let qualified = InsStatus::try_from(ins.status) == Ok(InsStatus::Qualified);
    let ins_id = if qualified {
        if !INS_ROOTS.contains(&ins.oid.as_str()) {
            return Err(DocumentError::input("child.ins.oid", "not an INS root"));
        }
        let m = ins.matricule.as_bytes();
        let valid = m.len() == 15
            && m.iter()
                .enumerate()
                .all(|(i, b)| b.is_ascii_digit() || (i == 6 && (*b == b'A' || *b == b'B')));
        if !valid {
            return Err(DocumentError::input(
                "child.ins.matricule",
                "not 15 characters",
            ));
        }
        Some((ins.oid.clone(), ins.matricule.clone()))
    } else {
        None
    };
    if matches!(ctx.profile, Profile::Dmp(_)) && ins_id.is_none() {
        return Err(DocumentError::input(
            "child.ins",
            "the DMP needs a qualified INS",
        ));
    }
    let local_id = (!child.local_id.trim().is_empty()).then(|| child.local_id.trim().to_owned());
    if ins_id.is_none() && local_id.is_none() {
        return Err(DocumentError::input(
            "child.local_id",
            "required without a qualified INS",
        ));
    }
    non_empty("child.ins.birth_family_name", &ins.birth_family_name)?;
    non_empty("child.ins.first_given_name", &ins.first_given_name)?;
    let gender = match Gender::try_from(ins.gender) {
        Ok(Gender::F) => "F",
        Ok(Gender::M) => "M",
        Ok(Gender::U) => "UN",
        _ => return Err(DocumentError::input("child.ins.gender", "required")),
    };
    let birth = if ins.birth_date.is_empty() {
        &child.birth_date
    } else {
        &ins.birth_date
    };
    let birth_date = hl7_date("child.ins.birth_date", birth)?;
    let birthplace = ins.birthplace_insee.trim().to_owned();
    if ins_id.is_some() && birthplace.is_empty() {
        return Err(DocumentError::input(
            "child.ins.birthplace_insee",
            "required with an INS (INSEE code, 99xxx abroad)",
        ));
    }
    let birth_given_names = if ins.birth_given_names.is_empty() {
        ins.first_given_name.trim().to_owned()
    } else {
        ins.birth_given_names
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    };
    Ok(Patient {
        ins: ins_id,
        local_id,
        birth_family_name: ins.birth_family_name.trim().to_owned(),
        first_given_name: ins.first_given_name.trim().to_owned(),
        birth_given_names,
        gender,
        birth_date,
        birthplace,
    })
}

// ---- HL7 v2 data types of XDS slots (dmp.md §4.3) ----

/// CX of the patient: INS `…^^^&OID&ISO^NH`, else the local id `^PI`.
pub fn patient_cx(p: &Patient, tenant_oid: &str) -> String {
    match (&p.ins, &p.local_id) {
        // NIR and NIA alike are typed NH (PDSM PatientId.fsh).
        (Some((root, m)), _) => format!("{m}^^^&{root}&ISO^NH"),
        (None, Some(l)) => format!("{l}^^^&{tenant_oid}&ISO^PI"),
        (None, None) => String::new(),
    }
}

/// sourcePatientId: the local id under the tenant OID, else the INS.
pub fn source_patient_cx(p: &Patient, tenant_oid: &str) -> String {
    match &p.local_id {
        Some(l) => format!("{l}^^^&{tenant_oid}&ISO^PI"),
        None => patient_cx(p, tenant_oid),
    }
}

/// XCN of a person: `{PS_IdNat}^{NOM}^{Prénom}^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS`.
pub fn person_xcn(ps_idnat: &str, family: &str, given: &str) -> String {
    format!(
        "{}^{}^{}^^^^^^&{PS_IDNAT}&ISO^D^^^IDNPS",
        hl7_escape(ps_idnat),
        hl7_escape(family),
        hl7_escape(given)
    )
}

/// XON of a structure: `{raison sociale}^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^{Struct_IdNat}`.
pub fn org_xon(name: &str, struct_idnat: &str) -> String {
    format!(
        "{}^^^^^&{STRUCT_IDNAT}&ISO^IDNST^^^{}",
        hl7_escape(name),
        hl7_escape(struct_idnat)
    )
}

/// Coded slot value `{code}^{display}^{OID}`.
pub fn coded_slot(code: &str, display: &str, system: &str) -> String {
    format!("{}^{}^{}", hl7_escape(code), hl7_escape(display), system)
}

/// HL7 v2 escaping of the separators that can appear in names (`^ & ~ \ |`).
pub fn hl7_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\E\\"),
            '^' => out.push_str("\\S\\"),
            '&' => out.push_str("\\T\\"),
            '~' => out.push_str("\\R\\"),
            '|' => out.push_str("\\F\\"),
            c => out.push(c),
        }
    }
    out
}
