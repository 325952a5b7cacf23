//! Inputs of the builders. Everything time-, id- or tenant-dependent is passed in: the crate is pure.

use passerelle_api::v1::{ChildContext, Code, DmpFlags, Document, Person, PersonIdKind};
use time::OffsetDateTime;

use crate::codes::{TRE_A02, TRE_G15};

/// A postal address (tenant structure).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    /// Street line ("12 rue des Tilleuls").
    pub street: String,
    /// Postal code.
    pub postal_code: String,
    /// City.
    pub city: String,
}

/// The sending structure (server-side tenant configuration).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tenant {
    /// Raison sociale.
    pub name: String,
    /// Struct_IdNat: `1`+FINESS or `3`+SIRET.
    pub struct_idnat: String,
    /// OID of the tenant's system: XDS sourceId and root of local patient ids.
    pub source_oid: String,
    /// healthcareFacilityTypeCode (TRE_R02, J02/J61), e.g. SA20.
    pub facility_type: Code,
    /// practiceSettingCode for MSSanté (J04), e.g. ESSMS.
    pub practice_setting: Code,
    /// practiceSettingCode for the DMP (J62, no ESSMS), e.g. AMBULATOIRE.
    pub practice_setting_dmp: Code,
    /// SubmissionSet contentTypeCode (J59/TRE_R02 for the DMP, same value for MSSanté), e.g. SA20.
    pub content_type: Code,
    /// The APP mailbox Passerelle sends from.
    pub app_mailbox: String,
    /// The structure's ORG mailbox (README of XDM packages).
    pub org_mailbox: String,
    /// Switchboard phone ("+33 1 23 45 67 89"), optional.
    pub phone: String,
    /// Postal address, optional.
    pub address: Option<Address>,
}

/// The document's author (also its legal authenticator).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Author {
    /// PS_IdNat: `8`+RPPS, `0`+ADELI, `3`+FINESS`/`+local id.
    pub ps_idnat: String,
    /// Family name.
    pub family_name: String,
    /// Given name.
    pub given_name: String,
    /// Author specialty in JDV_J01 form (`G15_10/SM40` in TRE_A02, R85/R94/R95 codes as such).
    pub specialty: Code,
    /// Optional author function (J47).
    pub function_code: Option<Code>,
}

impl Author {
    /// Builds the author from a DUI person: PS_IdNat from its identifier and the specialty from
    /// its first profession that J01 knows.
    pub fn from_person(person: &Person) -> Option<Author> {
        let id = person.id.as_ref()?;
        let ps_idnat = match PersonIdKind::try_from(id.kind).ok()? {
            PersonIdKind::Rpps => format!("8{}", id.value),
            PersonIdKind::Adeli => format!("0{}", id.value),
            PersonIdKind::Internal => {
                // Struct_IdNat "1"+FINESS becomes the PS_IdNat prefix "3"+FINESS.
                let finess = id.structure_idnat.strip_prefix('1')?;
                format!("3{finess}/{}", id.value)
            }
            PersonIdKind::Unspecified => return None,
        };
        let specialty = person.professions.iter().find_map(author_specialty)?;
        Some(Author {
            ps_idnat,
            family_name: person.family_name.clone(),
            given_name: person.given_name.clone(),
            specialty,
            function_code: None,
        })
    }
}

/// Maps a DUI profession code to its JDV_J01 form: TRE_G15 `10` becomes TRE_A02 `G15_10`;
/// R85, R94 and R95 codes are used as they are.
pub fn author_specialty(profession: &Code) -> Option<Code> {
    match profession.system.as_str() {
        TRE_G15 => Some(Code {
            system: TRE_A02.to_owned(),
            code: format!("G15_{}", profession.code),
            display: profession.display.clone(),
        }),
        TRE_A02
        | "1.2.250.1.213.1.6.1.107"
        | "1.2.250.1.213.1.6.1.4"
        | "1.2.250.1.213.1.6.1.109"
        | "1.2.250.1.213.1.1.4.6" => Some(profession.clone()),
        _ => None,
    }
}

/// Ids fixed by the caller at render time (dmp.md §4.4: plain OIDs, ≤ 64 characters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentIds {
    /// CDA `id/@root` = XDS uniqueId.
    pub unique_id: String,
    /// CDA `setId/@root`, stable across versions.
    pub set_id: String,
    /// CDA `versionNumber` (1 for a first version).
    pub version: u32,
    /// For a replacement: the document replaced.
    pub replaces: Option<Replaced>,
}

/// The document a replacement supersedes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replaced {
    /// Its uniqueId (CDA `relatedDocument/parentDocument/id`).
    pub unique_id: String,
    /// Its entryUUID in the target registry (XDS RPLC association target).
    pub entry_uuid: String,
}

/// DMP visibility flags (TRE_A07) decided by the policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DmpVisibility {
    /// MASQUE_PS.
    pub masque_ps: bool,
    /// INVISIBLE_PATIENT.
    pub invisible_patient: bool,
    /// INVISIBLE_REPRESENTANTS_LEGAUX.
    pub invisible_representants_legaux: bool,
}

impl From<&DmpFlags> for DmpVisibility {
    fn from(f: &DmpFlags) -> Self {
        DmpVisibility {
            masque_ps: f.masque_ps,
            invisible_patient: f.invisible_patient,
            invisible_representants_legaux: f.invisible_representants_legaux,
        }
    }
}

impl DmpVisibility {
    /// From the confidentiality codes of a policy decision target (`Target.confidentiality`):
    /// `N` first, then JDV_J58 flags of TRE_A07 only (DMP-CONF-05, DMP-CONF-06).
    pub fn from_codes(codes: &[String]) -> Result<Self, crate::DocumentError> {
        let bad = |reason: &str| crate::DocumentError::input("confidentiality", reason);
        let (first, flags) = codes.split_first().ok_or_else(|| bad("empty"))?;
        if first != "N" {
            return Err(bad("the DMP takes N as the first code"));
        }
        let mut v = DmpVisibility::default();
        for c in flags {
            match c.as_str() {
                "MASQUE_PS" => v.masque_ps = true,
                "INVISIBLE_PATIENT" => v.invisible_patient = true,
                "INVISIBLE_REPRESENTANTS_LEGAUX" => v.invisible_representants_legaux = true,
                _ => return Err(bad("code not in JDV_J58 flags")),
            }
        }
        Ok(v)
    }
}

/// The channel profile: which value sets and confidentiality rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// MSSanté / MES: CI-SIS value sets, confidentiality N/R/V by sensitivity, urn:uuid ids.
    Mssante,
    /// DMP: DMP value sets (J57–J66), CDA `N`, XDS `N` + A07 flags, symbolic ids.
    Dmp(DmpVisibility),
}

impl Profile {
    /// `MSSANTE` or `DMP`, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Profile::Mssante => "MSSANTE",
            Profile::Dmp(_) => "DMP",
        }
    }
}

/// Everything one document needs.
#[derive(Debug, Clone, Copy)]
pub struct DocumentContext<'a> {
    /// The sending structure.
    pub tenant: &'a Tenant,
    /// The author (and legal authenticator).
    pub author: &'a Author,
    /// The child (INS and traits, local id).
    pub child: &'a ChildContext,
    /// The document (kind, title, act date, sensitivity, DMP type override).
    pub document: &'a Document,
    /// The PDF (rendered by adapters/pdf or supplied), embedded byte for byte.
    pub pdf: &'a [u8],
    /// uniqueId, setId, version, replaced document.
    pub ids: &'a DocumentIds,
    /// CDA effectiveTime (creation), with its zone.
    pub effective_time: OffsetDateTime,
    /// OID of the project's local code system (policy.local_code_system_oid).
    pub local_code_system_oid: &'a str,
    /// The channel profile.
    pub profile: Profile,
}
