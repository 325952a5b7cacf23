//! The document-kind catalogue of policy.md §3 and the national code look-ups (J07, J66, ASS_X16).

use passerelle_api::v1::{DocumentKind, Sensitivity};

use crate::codes::{LOINC, TRE_A03, TRE_A05};
use crate::tables::{CLASS_CODES, TYPE_CODES, TYPE_TO_CLASS};

/// A coded value with static strings (catalogue entries and constants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticCode {
    /// The code.
    pub code: &'static str,
    /// Its display name (French).
    pub display: &'static str,
    /// OID of the code system.
    pub system: &'static str,
}

/// Social documents (no national type code, MSSanté only) or health documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// Social / medico-social document: never fed to the DMP.
    Social,
    /// Health document: may feed the DMP when its type code is in J66.
    Health,
}

/// Channels a kind may use at all (the policy decides per target).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindChannels {
    /// MSSanté only.
    Mss,
    /// MSSanté and DMP.
    MssDmp,
    /// Not a gateway channel (internal to the DUI, or out of band): never rendered.
    None,
}

/// One row of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    /// The kind.
    pub kind: DocumentKind,
    /// Local code: the enum name without its prefix (`PPE`), stable under the local code system.
    pub local_code: &'static str,
    /// French label (used as local code display and default title).
    pub label: &'static str,
    /// Default (minimum) sensitivity.
    pub sensitivity: Sensitivity,
    /// Social or health.
    pub domain: Domain,
    /// Channels.
    pub channels: KindChannels,
    /// Own national type code (J07, and J66 when DMP-eligible); `None` = social, LOINC 28653-4.
    pub national_type: Option<StaticCode>,
    /// Class code (TRE_A03) of the type code.
    pub class_code: &'static str,
}

/// LOINC 28653-4, the J07 code every social document carries.
pub const SOCIAL_TYPE: StaticCode = StaticCode {
    code: "28653-4",
    display: "Document du secteur social / médico-social",
    system: LOINC,
};

/// formatCode of every document: PDF/A-1 non-structured body (TRE_A11).
pub const FORMAT_CODE: StaticCode = StaticCode {
    code: "urn:ihe:iti:xds-sd:pdf:2008",
    display: "Document à corps non structuré en Pdf/A-1",
    system: "1.3.6.1.4.1.19376.1.2.3",
};

const fn loinc(code: &'static str, display: &'static str) -> Option<StaticCode> {
    Some(StaticCode {
        code,
        display,
        system: LOINC,
    })
}

const fn tre_a05(code: &'static str, display: &'static str) -> Option<StaticCode> {
    Some(StaticCode {
        code,
        display,
        system: TRE_A05,
    })
}

macro_rules! kind {
    ($k:ident, $code:literal, $label:literal, $sens:ident, $dom:ident, $ch:ident, $nat:expr, $class:literal) => {
        KindInfo {
            kind: DocumentKind::$k,
            local_code: $code,
            label: $label,
            sensitivity: Sensitivity::$sens,
            domain: Domain::$dom,
            channels: KindChannels::$ch,
            national_type: $nat,
            class_code: $class,
        }
    };
}

/// The catalogue, in enum order (policy.md §3). Social kinds use class 10 (ASS_X16 of 28653-4).
pub static CATALOGUE: &[KindInfo] = &[
    kind!(
        Ip,
        "IP",
        "Recueil d'information préoccupante",
        Maximal,
        Social,
        Mss,
        None,
        "10"
    ),
    kind!(
        Signalement,
        "SIGNALEMENT",
        "Signalement au procureur de la République",
        Maximal,
        Social,
        None,
        None,
        "10"
    ),
    kind!(
        RapEval,
        "RAP_EVAL",
        "Rapport d'évaluation",
        Maximal,
        Social,
        Mss,
        None,
        "10"
    ),
    kind!(
        RapSituation,
        "RAP_SITUATION",
        "Rapport de situation",
        VeryHigh,
        Social,
        Mss,
        None,
        "10"
    ),
    kind!(
        Ppe,
        "PPE",
        "Projet pour l'enfant",
        High,
        Social,
        Mss,
        None,
        "10"
    ),
    kind!(
        Decision,
        "DECISION",
        "Décision administrative ou judiciaire",
        VeryHigh,
        Social,
        Mss,
        None,
        "10"
    ),
    kind!(
        FicheNavette,
        "FICHE_NAVETTE",
        "Fiche navette",
        High,
        Social,
        Mss,
        None,
        "10"
    ),
    kind!(
        ProjPerso,
        "PROJ_PERSO",
        "Projet personnalisé",
        High,
        Social,
        Mss,
        None,
        "10"
    ),
    kind!(
        CrEduc,
        "CR_EDUC",
        "Compte rendu éducatif",
        High,
        Social,
        Mss,
        None,
        "10"
    ),
    kind!(
        Dipc,
        "DIPC",
        "Document individuel de prise en charge",
        Medium,
        Social,
        Mss,
        None,
        "10"
    ),
    kind!(
        ContratAccueil,
        "CONTRAT_ACCUEIL",
        "Contrat d'accueil provisoire",
        Medium,
        Social,
        Mss,
        None,
        "10"
    ),
    kind!(
        Inventaire,
        "INVENTAIRE",
        "Inventaire des effets personnels",
        Low,
        Social,
        Mss,
        None,
        "10"
    ),
    // FICHE-CONTACTS is in J07 (not J66) and has no ASS_X16 row: class 95 "document de gestion" [D].
    kind!(
        FicheContacts,
        "FICHE_CONTACTS",
        "Fiche contacts d'urgence",
        Medium,
        Social,
        Mss,
        tre_a05("FICHE-CONTACTS", "Fiche contacts"),
        "95"
    ),
    kind!(
        LiaisonUrg,
        "LIAISON_URG",
        "Fiche sanitaire de liaison d'urgence",
        Medium,
        Health,
        MssDmp,
        loinc("74207-2", "Document de liaison d'urgence"),
        "11"
    ),
    kind!(
        AutorisSoins,
        "AUTORIS_SOINS",
        "Autorisation de soins",
        Medium,
        Health,
        MssDmp,
        tre_a05(
            "AUTORIS-SOINS",
            "Autorisation de soins et actes non usuels sanitaires"
        ),
        "95"
    ),
    kind!(
        AutorisEchange,
        "AUTORIS_ECHANGE",
        "Autorisation d'échange des données de suivi médical",
        Medium,
        Health,
        MssDmp,
        loinc("59284-0", "Attestation de consentement"),
        "95"
    ),
    kind!(
        BilanSanteEntree,
        "BILAN_SANTE_ENTREE",
        "Bilan de santé et de prévention à l'entrée",
        Medium,
        Health,
        MssDmp,
        loinc("68817-6", "Bilan de santé et de prévention de l'enfant"),
        "11"
    ),
    kind!(
        CrExamenEnfant,
        "CR_EXAMEN_ENFANT",
        "Compte rendu d'examen de l'enfant",
        Medium,
        Health,
        MssDmp,
        loinc("59283-2", "CR d'examen de l'enfant"),
        "10"
    ),
    kind!(
        BilanPsy,
        "BILAN_PSY",
        "Bilan psychologique",
        High,
        Health,
        MssDmp,
        loinc("83901-9", "Bilan psychologique"),
        "11"
    ),
    kind!(
        SynthPsy,
        "SYNTH_PSY",
        "Synthèse psychiatrique",
        High,
        Health,
        MssDmp,
        loinc("68599-0", "Synthèse psychiatrique"),
        "11"
    ),
    kind!(
        Pai,
        "PAI",
        "Projet d'accueil individualisé",
        Medium,
        Health,
        MssDmp,
        loinc("80771-9", "Projet d'accueil individualisé"),
        "44"
    ),
    // Lettres de liaison ESSMS: DMP off by project decision (policy.md §3).
    kind!(
        LiaisonEntree,
        "LIAISON_ENTREE",
        "Lettre de liaison à l'entrée",
        Medium,
        Health,
        Mss,
        loinc(
            "88348-8",
            "Lettre de liaison d'entrée en structure sociale ou médico-sociale"
        ),
        "11"
    ),
    kind!(
        LiaisonSortie,
        "LIAISON_SORTIE",
        "Lettre de liaison à la sortie",
        Medium,
        Health,
        Mss,
        loinc(
            "83981-1",
            "Lettre de liaison à la sortie d'une structure sociale ou médico-sociale"
        ),
        "10"
    ),
    kind!(
        CrMedical,
        "CR_MEDICAL",
        "Compte rendu médical",
        Medium,
        Health,
        MssDmp,
        loinc("11488-4", "CR ou fiche de consultation ou de visite"),
        "10"
    ),
    kind!(
        Transmissions,
        "TRANSMISSIONS",
        "Transmissions quotidiennes",
        High,
        Social,
        None,
        None,
        "10"
    ),
];

impl KindInfo {
    /// The type code the kind carries on MSSanté: its national code, else LOINC 28653-4.
    pub fn type_code(&self) -> StaticCode {
        self.national_type.unwrap_or(SOCIAL_TYPE)
    }

    /// The class code (TRE_A03) with its display.
    pub fn class(&self) -> Option<StaticCode> {
        class_code(self.class_code)
    }

    /// formatCode (`urn:ihe:iti:xds-sd:pdf:2008`), the same for every kind.
    pub fn format_code(&self) -> StaticCode {
        FORMAT_CODE
    }

    /// Whether the kind may be fed to the DMP at all (the policy decides per target).
    pub fn dmp_eligible(&self) -> bool {
        self.domain == Domain::Health && self.channels == KindChannels::MssDmp
    }
}

/// The catalogue row of a kind (`None` for `UNSPECIFIED`).
pub fn kind_info(kind: DocumentKind) -> Option<&'static KindInfo> {
    CATALOGUE.iter().find(|k| k.kind == kind)
}

/// The catalogue row of a local code (`PPE`).
pub fn kind_by_local_code(code: &str) -> Option<&'static KindInfo> {
    CATALOGUE.iter().find(|k| k.local_code == code)
}

/// A national type code (J07 CI-SIS value set), with whether it is in J66 (DMP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeCodeInfo {
    /// The code.
    pub code: StaticCode,
    /// In JDV_J07 (CI-SIS, MSSanté).
    pub in_j07: bool,
    /// In JDV_J66 (DMP).
    pub in_j66: bool,
}

/// Looks a type code up in J07/J66 (`specs/codes/typecode_J07_cisis_vs_J66_dmp.csv`).
pub fn type_code(code: &str, system: &str) -> Option<TypeCodeInfo> {
    TYPE_CODES
        .iter()
        .find(|(c, _, s, _, _)| *c == code && *s == system)
        .map(|&(code, display, system, in_j07, in_j66)| TypeCodeInfo {
            code: StaticCode {
                code,
                display,
                system,
            },
            in_j07,
            in_j66,
        })
}

/// ASS_X16: the class code (TRE_A03) of a type code; looked up, never chosen.
pub fn class_code_of(type_code: &str, system: &str) -> Option<StaticCode> {
    let class = TYPE_TO_CLASS
        .iter()
        .find(|(c, s, _)| *c == type_code && *s == system)
        .map(|(_, _, class)| *class)?;
    class_code(class)
}

/// The ASS_X16 class of a JDV_J66 type code, as the table writes it (not only TRE_A03 codes);
/// None when the DMP does not take the type or the table maps it to no class.
pub fn dmp_class(type_code: &str, system: &str) -> Option<&'static str> {
    if !self::type_code(type_code, system).is_some_and(|t| t.in_j66) {
        return None;
    }
    TYPE_TO_CLASS
        .iter()
        .find(|(c, s, _)| *c == type_code && *s == system)
        .map(|(_, _, class)| *class)
        .filter(|c| !c.is_empty())
}

/// A TRE_A03 class code with its display.
pub fn class_code(code: &str) -> Option<StaticCode> {
    CLASS_CODES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|&(code, display)| StaticCode {
            code,
            display,
            system: TRE_A03,
        })
}

/// Effective sensitivity: the stated one, never below the kind's default (policy.md §2.2).
pub fn effective_sensitivity(info: &KindInfo, stated: Sensitivity) -> Sensitivity {
    if stated == Sensitivity::Unspecified || (stated as i32) < (info.sensitivity as i32) {
        info.sensitivity
    } else {
        stated
    }
}

/// MSSanté confidentiality by sensitivity: Low/Medium → N, High → R, higher → V.
pub fn mss_confidentiality(sensitivity: Sensitivity) -> StaticCode {
    match sensitivity {
        Sensitivity::High => crate::codes::CONF_R,
        Sensitivity::VeryHigh | Sensitivity::Maximal => crate::codes::CONF_V,
        Sensitivity::Unspecified | Sensitivity::Low | Sensitivity::Medium => crate::codes::CONF_N,
    }
}
