//! The document-kind catalogue of policy.md §3 and the code tables the engine validates against.
use passerelle_api::v1::{DocumentKind, Sensitivity};

pub(crate) const OID_G15: &str = "1.2.250.1.71.1.2.7";
pub(crate) const OID_R94: &str = "1.2.250.1.213.1.6.1.4";
pub(crate) const OID_R85: &str = "1.2.250.1.213.1.6.1.107";
pub(crate) const OID_R95: &str = "1.2.250.1.213.1.6.1.109";
/// TRE_R21 has no OID known to the spec (§9 Q); the matrix and requests name it by this key.
pub(crate) const SYS_R21: &str = "TRE_R21";
pub(crate) const OID_LOINC: &str = "2.16.840.1.113883.6.1";
pub(crate) const OID_A05: &str = "1.2.250.1.213.1.1.4.12";

/// Kind groups of policy.md §6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Group {
    IpEval,
    SocialPe,
    EssmsAdmin,
    HealthDaily,
    HealthClin,
    Psy,
    /// SIGNALEMENT (out of band) and TRANSMISSIONS (internal only).
    Ungrouped,
}

pub(crate) const GROUP_NAMES: &[(&str, Group)] = &[
    ("IP_EVAL", Group::IpEval),
    ("SOCIAL_PE", Group::SocialPe),
    ("ESSMS_ADMIN", Group::EssmsAdmin),
    ("HEALTH_DAILY", Group::HealthDaily),
    ("HEALTH_CLIN", Group::HealthClin),
    ("PSY", Group::Psy),
];

#[derive(Clone, Copy, Debug)]
pub(crate) struct KindInfo {
    pub kind: DocumentKind,
    /// Local code (stable ASCII, policy.md §3).
    pub code: &'static str,
    pub group: Group,
    pub mss: bool,
    /// (typeCode, typeCode system, classCode) when the kind may feed the DMP.
    pub dmp: Option<(&'static str, &'static str, &'static str)>,
    pub out_of_band: bool,
    pub internal_only: bool,
    pub sensitivity: Sensitivity,
    pub label_fr: &'static str,
}

impl KindInfo {
    pub fn is_health(&self) -> bool {
        matches!(
            self.group,
            Group::HealthDaily | Group::HealthClin | Group::Psy
        )
    }
    /// Social kinds never go to the DMP nor to any MES (specs README §4, CH-1, CH-3).
    pub fn is_social(&self) -> bool {
        !self.is_health()
    }
    pub fn bit(&self) -> u32 {
        1u32 << (self.kind as i32 as u32)
    }
}

const fn k(
    kind: DocumentKind,
    code: &'static str,
    group: Group,
    mss: bool,
    dmp: Option<(&'static str, &'static str, &'static str)>,
    sensitivity: Sensitivity,
    label_fr: &'static str,
) -> KindInfo {
    KindInfo {
        kind,
        code,
        group,
        mss,
        dmp,
        out_of_band: false,
        internal_only: false,
        sensitivity,
        label_fr,
    }
}

use DocumentKind as D;
use Group as G;
use Sensitivity as S;

/// Indexed by `DocumentKind as i32` (0 = unspecified, never looked up).
pub(crate) static KINDS: [KindInfo; 26] = [
    k(
        D::Unspecified,
        "",
        G::Ungrouped,
        false,
        None,
        S::Maximal,
        "document",
    ),
    k(
        D::Ip,
        "IP",
        G::IpEval,
        true,
        None,
        S::Maximal,
        "recueil d'information préoccupante",
    ),
    KindInfo {
        out_of_band: true,
        ..k(
            D::Signalement,
            "SIGNALEMENT",
            G::Ungrouped,
            false,
            None,
            S::Maximal,
            "signalement au procureur",
        )
    },
    k(
        D::RapEval,
        "RAP_EVAL",
        G::IpEval,
        true,
        None,
        S::Maximal,
        "rapport d'évaluation",
    ),
    k(
        D::RapSituation,
        "RAP_SITUATION",
        G::SocialPe,
        true,
        None,
        S::VeryHigh,
        "rapport de situation",
    ),
    k(
        D::Ppe,
        "PPE",
        G::SocialPe,
        true,
        None,
        S::High,
        "projet pour l'enfant",
    ),
    k(
        D::Decision,
        "DECISION",
        G::SocialPe,
        true,
        None,
        S::VeryHigh,
        "copie de décision",
    ),
    k(
        D::FicheNavette,
        "FICHE_NAVETTE",
        G::SocialPe,
        true,
        None,
        S::High,
        "fiche navette",
    ),
    k(
        D::ProjPerso,
        "PROJ_PERSO",
        G::EssmsAdmin,
        true,
        None,
        S::High,
        "projet personnalisé",
    ),
    k(
        D::CrEduc,
        "CR_EDUC",
        G::SocialPe,
        true,
        None,
        S::High,
        "compte rendu éducatif",
    ),
    k(
        D::Dipc,
        "DIPC",
        G::EssmsAdmin,
        true,
        None,
        S::Medium,
        "DIPC / contrat de séjour",
    ),
    k(
        D::ContratAccueil,
        "CONTRAT_ACCUEIL",
        G::SocialPe,
        true,
        None,
        S::Medium,
        "contrat d'accueil provisoire",
    ),
    k(
        D::Inventaire,
        "INVENTAIRE",
        G::EssmsAdmin,
        true,
        None,
        S::Low,
        "inventaire des effets personnels",
    ),
    k(
        D::FicheContacts,
        "FICHE_CONTACTS",
        G::EssmsAdmin,
        true,
        None,
        S::Medium,
        "fiche contacts d'urgence",
    ),
    k(
        D::LiaisonUrg,
        "LIAISON_URG",
        G::HealthDaily,
        true,
        Some(("74207-2", OID_LOINC, "11")),
        S::Medium,
        "fiche sanitaire de liaison d'urgence",
    ),
    k(
        D::AutorisSoins,
        "AUTORIS_SOINS",
        G::HealthDaily,
        true,
        Some(("AUTORIS-SOINS", OID_A05, "95")),
        S::Medium,
        "autorisation de soins",
    ),
    k(
        D::AutorisEchange,
        "AUTORIS_ECHANGE",
        G::HealthDaily,
        true,
        Some(("59284-0", OID_LOINC, "95")),
        S::Medium,
        "autorisation d'échange de données de suivi médical",
    ),
    k(
        D::BilanSanteEntree,
        "BILAN_SANTE_ENTREE",
        G::HealthClin,
        true,
        Some(("68817-6", OID_LOINC, "11")),
        S::Medium,
        "bilan de santé et de prévention d'entrée",
    ),
    k(
        D::CrExamenEnfant,
        "CR_EXAMEN_ENFANT",
        G::HealthClin,
        true,
        Some(("59283-2", OID_LOINC, "10")),
        S::Medium,
        "compte rendu d'examen de l'enfant",
    ),
    k(
        D::BilanPsy,
        "BILAN_PSY",
        G::Psy,
        true,
        Some(("83901-9", OID_LOINC, "11")),
        S::High,
        "bilan psychologique",
    ),
    k(
        D::SynthPsy,
        "SYNTH_PSY",
        G::Psy,
        true,
        Some(("68599-0", OID_LOINC, "11")),
        S::High,
        "synthèse psychiatrique",
    ),
    k(
        D::Pai,
        "PAI",
        G::HealthDaily,
        true,
        Some(("80771-9", OID_LOINC, "44")),
        S::Medium,
        "projet d'accueil individualisé",
    ),
    k(
        D::LiaisonEntree,
        "LIAISON_ENTREE",
        G::EssmsAdmin,
        true,
        None,
        S::Medium,
        "lettre de liaison d'entrée",
    ),
    k(
        D::LiaisonSortie,
        "LIAISON_SORTIE",
        G::EssmsAdmin,
        true,
        None,
        S::Medium,
        "lettre de liaison de sortie",
    ),
    k(
        D::CrMedical,
        "CR_MEDICAL",
        G::HealthClin,
        true,
        Some(("11488-4", OID_LOINC, "10")),
        S::Medium,
        "compte rendu médical",
    ),
    KindInfo {
        internal_only: true,
        ..k(
            D::Transmissions,
            "TRANSMISSIONS",
            G::Ungrouped,
            false,
            None,
            S::High,
            "transmissions quotidiennes",
        )
    },
];

pub(crate) fn kind_info(kind: i32) -> Option<&'static KindInfo> {
    if kind <= 0 {
        return None;
    }
    KINDS.get(usize::try_from(kind).ok()?)
}

pub(crate) fn kind_by_code(code: &str) -> Option<&'static KindInfo> {
    KINDS.iter().skip(1).find(|k| k.code == code)
}

/// Valid codes of each professional code system (codes/*.csv), ended ones included: both
/// generations of role codes are accepted, the matrix decides what they may receive.
pub(crate) const G15_CODES: &[&str] = &[
    "10", "21", "26", "28", "31", "32", "35", "36", "37", "38", "39", "40", "50", "60", "69", "70",
    "80", "81", "82", "83", "84", "85", "86", "91", "92", "93", "94", "95", "96", "98",
];
pub(crate) const R94_CODES: &[&str] = &[
    "41", "42", "43", "44", "45", "46", "47", "48", "49", "51", "52", "53", "200", "201", "202",
    "203", "204", "205", "206", "207", "208", "209", "210", "211", "212", "213",
];
pub(crate) const R95_CODES: &[&str] = &[
    "71", "72", "73", "93", "97", "171", "172", "173", "193", "194",
];

pub(crate) fn is_known_code(system: &str, code: &str) -> Result<bool, ()> {
    match system {
        OID_G15 => Ok(G15_CODES.contains(&code)),
        OID_R94 => Ok(R94_CODES.contains(&code)),
        // TRE_R85 RolePriseCharge: 300..=372 (codes/role_prise_charge_TRE_R85.csv).
        OID_R85 => {
            Ok(code.parse::<u16>().is_ok_and(|n| (300..=372).contains(&n))
                && !code.starts_with('0'))
        }
        OID_R95 => Ok(R95_CODES.contains(&code)),
        SYS_R21 => Ok(is_r21_code(code)),
        _ => Err(()),
    }
}

/// The R21 extract is partial; any `FON-NN` is accepted as well-formed.
pub(crate) fn is_r21_code(code: &str) -> bool {
    code.len() == 6 && code.starts_with("FON-") && code[4..].bytes().all(|b| b.is_ascii_digit())
}

/// Systems accepted for `Person.fonction` (R21 has no known OID).
pub(crate) fn is_r21_system(system: &str) -> bool {
    system.is_empty()
        || system == SYS_R21
        || system == "TRE_R21-Fonction"
        || system.contains("TRE_R21")
}

/// (type ∈ J66, ASS_X16 class) for a DMP typeCode; `None` when not accepted by the DMP. Read from
/// the documents layer's code tables, the one copy of `specs/codes/`.
pub(crate) fn j66_class(code: &str, system: &str) -> Option<&'static str> {
    passerelle_documents::catalogue::dmp_class(code, system)
}

#[cfg(test)]
mod j66 {
    #[test]
    fn dmp_types_come_with_their_class() {
        // AUTORIS-SOINS is a J66 type of class 95; a J07-only type and the signature document's
        // E1762 (no TRE_A03 class) are not taken as document types for the DMP.
        assert_eq!(
            super::j66_class("AUTORIS-SOINS", "1.2.250.1.213.1.1.4.12"),
            Some("95")
        );
        assert_eq!(super::j66_class("E1762", "ASTM"), None);
        assert_eq!(super::j66_class("NOPE", "1.2.250.1.213.1.1.4.12"), None);
    }
}
