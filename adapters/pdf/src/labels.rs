//! French labels: document kinds, sensitivity banners, enum values, dates.

use passerelle_api::v1::{
    ActKind, DangerLevel, DocumentKind, Gender, InsStatus, PartyRole, Sensitivity, SignerCapacity,
    need,
};

/// The French title of a kind (policy.md §3 catalogue).
pub fn kind_label(kind: DocumentKind) -> &'static str {
    use DocumentKind as K;
    match kind {
        K::Unspecified => "Document",
        K::Ip => "Recueil d'information préoccupante",
        K::Signalement => "Signalement au procureur de la République",
        K::RapEval => "Rapport d'évaluation",
        K::RapSituation => "Rapport de situation",
        K::Ppe => "Projet pour l'enfant (PPE)",
        K::Decision => "Décision",
        K::FicheNavette => "Fiche navette",
        K::ProjPerso => "Projet personnalisé",
        K::CrEduc => "Compte rendu éducatif",
        K::Dipc => "Document individuel de prise en charge (DIPC)",
        K::ContratAccueil => "Contrat d'accueil provisoire",
        K::Inventaire => "Inventaire des effets personnels",
        K::FicheContacts => "Fiche contacts d'urgence",
        K::LiaisonUrg => "Fiche sanitaire de liaison d'urgence",
        K::AutorisSoins => "Autorisation de soins",
        K::AutorisEchange => "Autorisation d'échange des données de suivi médical",
        K::BilanSanteEntree => "Bilan de santé et de prévention d'entrée",
        K::CrExamenEnfant => "Compte rendu d'examen de l'enfant",
        K::BilanPsy => "Bilan psychologique",
        K::SynthPsy => "Synthèse psychiatrique",
        K::Pai => "Projet d'accueil individualisé (PAI)",
        K::LiaisonEntree => "Lettre de liaison d'entrée",
        K::LiaisonSortie => "Lettre de liaison de sortie",
        K::CrMedical => "Compte rendu médical",
        K::Transmissions => "Transmissions quotidiennes",
    }
}

/// Default sensitivity of a kind (policy.md §3, column "Sens.").
pub fn default_sensitivity(kind: DocumentKind) -> Sensitivity {
    use DocumentKind as K;
    match kind {
        K::Ip | K::Signalement | K::RapEval => Sensitivity::Maximal,
        K::RapSituation | K::Decision => Sensitivity::VeryHigh,
        K::Ppe
        | K::FicheNavette
        | K::ProjPerso
        | K::CrEduc
        | K::BilanPsy
        | K::SynthPsy
        | K::Transmissions => Sensitivity::High,
        K::Inventaire => Sensitivity::Low,
        K::Unspecified
        | K::Dipc
        | K::ContratAccueil
        | K::FicheContacts
        | K::LiaisonUrg
        | K::AutorisSoins
        | K::AutorisEchange
        | K::BilanSanteEntree
        | K::CrExamenEnfant
        | K::Pai
        | K::LiaisonEntree
        | K::LiaisonSortie
        | K::CrMedical => Sensitivity::Medium,
    }
}

/// Kinds holding health data: their banner also names medical secrecy.
pub fn is_health_kind(kind: DocumentKind) -> bool {
    use DocumentKind as K;
    matches!(
        kind,
        K::LiaisonUrg
            | K::AutorisSoins
            | K::AutorisEchange
            | K::BilanSanteEntree
            | K::CrExamenEnfant
            | K::BilanPsy
            | K::SynthPsy
            | K::Pai
            | K::LiaisonEntree
            | K::LiaisonSortie
            | K::CrMedical
    )
}

/// The confidentiality banner printed at the top of every page.
pub fn banner(sensitivity: Sensitivity, health: bool) -> String {
    let base = match sensitivity {
        Sensitivity::Maximal => {
            "STRICTEMENT CONFIDENTIEL — secret professionnel partagé (CASF L.226-2-2) — \
             diffusion limitée aux seuls professionnels habilités, toute copie interdite"
        }
        Sensitivity::VeryHigh => {
            "TRÈS CONFIDENTIEL — secret professionnel partagé (CASF L.226-2-2) — \
             diffusion limitée aux destinataires"
        }
        Sensitivity::High => {
            "Document confidentiel — secret professionnel partagé (CASF L.226-2-2)"
        }
        Sensitivity::Medium | Sensitivity::Unspecified => {
            "Document confidentiel — données personnelles couvertes par le secret professionnel"
        }
        Sensitivity::Low => "Document à usage professionnel — données personnelles",
    };
    if health {
        format!("{base} — données de santé (CSP L.1110-4)")
    } else {
        base.to_string()
    }
}

pub(crate) fn sensitivity_label(s: Sensitivity) -> &'static str {
    match s {
        Sensitivity::Unspecified | Sensitivity::Medium => "moyenne",
        Sensitivity::Low => "faible",
        Sensitivity::High => "élevée",
        Sensitivity::VeryHigh => "très élevée",
        Sensitivity::Maximal => "maximale",
    }
}

pub(crate) fn need_domain(d: need::Domain) -> &'static str {
    use need::Domain as D;
    match d {
        D::Unspecified | D::Other => "Autre",
        D::Health => "Santé",
        D::Schooling => "Scolarité",
        D::SocialLife => "Vie sociale et loisirs",
        D::FamilyRelations => "Relations familiales",
        D::DailyLife => "Vie quotidienne",
        D::Emotional => "Développement affectif",
        D::Safety => "Sécurité",
    }
}

pub(crate) fn danger_level(d: DangerLevel) -> &'static str {
    match d {
        DangerLevel::Unspecified => "non précisé",
        DangerLevel::Risk => "risque de danger",
        DangerLevel::Danger => "danger",
        DangerLevel::GraveImminent => "danger grave et imminent",
    }
}

pub(crate) fn act_kind(a: ActKind) -> Option<&'static str> {
    match a {
        ActKind::Unspecified => None,
        ActKind::Usuel => Some("acte usuel"),
        ActKind::NonUsuel => Some("acte non usuel"),
    }
}

pub(crate) fn party_role(r: PartyRole) -> &'static str {
    match r {
        PartyRole::Unspecified => "",
        PartyRole::Mother => "mère",
        PartyRole::Father => "père",
        PartyRole::OtherApHolder => "titulaire de l'autorité parentale",
        PartyRole::Tuteur => "tuteur",
        PartyRole::Delegataire => "délégataire de l'autorité parentale",
        PartyRole::Tdc => "tiers digne de confiance",
        PartyRole::Child => "l'enfant",
        PartyRole::Ase => "service de l'aide sociale à l'enfance",
    }
}

pub(crate) fn signer_capacity(c: SignerCapacity) -> &'static str {
    match c {
        SignerCapacity::Unspecified => "",
        SignerCapacity::ApHolder => "titulaire de l'autorité parentale",
        SignerCapacity::Delegataire => "délégataire de l'autorité parentale",
        SignerCapacity::Tuteur => "tuteur",
        SignerCapacity::Service => "service auquel l'enfant est confié",
        SignerCapacity::JeAuthorisation => "autorisation du juge des enfants",
    }
}

pub(crate) fn ins_status(s: InsStatus) -> &'static str {
    match s {
        InsStatus::Qualified => "identité qualifiée",
        InsStatus::Provisional => "identité provisoire",
        InsStatus::Absent | InsStatus::Unspecified => "identité non qualifiée",
    }
}

pub(crate) fn born(g: Gender) -> &'static str {
    match g {
        Gender::F => "née",
        Gender::M => "né",
        Gender::U | Gender::Unspecified => "né(e)",
    }
}

pub(crate) fn yes_no(b: bool) -> &'static str {
    if b { "oui" } else { "non" }
}

/// "2025-06-14" -> "14/06/2025"; anything else is shown as given.
pub(crate) fn date_fr(s: &str) -> String {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && digits(0..4)
        && digits(5..7)
        && digits(8..10)
    {
        format!("{}/{}/{}", &s[8..10], &s[5..7], &s[0..4])
    } else {
        s.to_string()
    }
}

/// "25/11/2026 à 21:30 (UTC+01:00)".
pub(crate) fn datetime_fr(t: time::OffsetDateTime) -> String {
    let off = t.offset();
    let (h, m, _) = off.as_hms();
    let zone = if off.is_utc() {
        "UTC".to_string()
    } else {
        let sign = if off.is_negative() { '-' } else { '+' };
        format!("UTC{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs())
    };
    format!(
        "{:02}/{:02}/{:04} à {:02}:{:02} ({zone})",
        t.day(),
        u8::from(t.month()),
        t.year(),
        t.hour(),
        t.minute()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_french() {
        assert_eq!(date_fr("2025-06-14"), "14/06/2025");
        assert_eq!(date_fr("juin 2025"), "juin 2025");
        assert_eq!(date_fr("2025-6-14"), "2025-6-14");
        let t = time::macros::datetime!(2026-11-25 21:30 +01:00);
        assert_eq!(datetime_fr(t), "25/11/2026 à 21:30 (UTC+01:00)");
        let t = time::macros::datetime!(2026-11-25 21:30 UTC);
        assert_eq!(datetime_fr(t), "25/11/2026 à 21:30 (UTC)");
    }

    #[test]
    fn banner_depends_on_sensitivity_and_health() {
        assert!(banner(Sensitivity::High, false).contains("CASF L.226-2-2"));
        assert!(banner(Sensitivity::Maximal, false).starts_with("STRICTEMENT"));
        assert!(banner(Sensitivity::Medium, true).contains("CSP L.1110-4"));
        assert!(!banner(Sensitivity::Medium, false).contains("CSP"));
        assert_ne!(
            banner(Sensitivity::Low, false),
            banner(Sensitivity::High, false)
        );
    }

    #[test]
    fn every_kind_has_a_label() {
        for k in 0..=25 {
            let kind = DocumentKind::try_from(k).unwrap_or(DocumentKind::Unspecified);
            assert!(!kind_label(kind).is_empty());
        }
    }
}
