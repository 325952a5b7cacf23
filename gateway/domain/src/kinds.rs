//! Local codes and French labels of the document kinds (policy.md §3). Codes are stable API strings.

use passerelle_api::v1::DocumentKind;

/// The local kind code (the enum name without its prefix), e.g. "PPE".
pub fn code(kind: DocumentKind) -> &'static str {
    use DocumentKind as K;
    match kind {
        K::Unspecified => "UNSPECIFIED",
        K::Ip => "IP",
        K::Signalement => "SIGNALEMENT",
        K::RapEval => "RAP_EVAL",
        K::RapSituation => "RAP_SITUATION",
        K::Ppe => "PPE",
        K::Decision => "DECISION",
        K::FicheNavette => "FICHE_NAVETTE",
        K::ProjPerso => "PROJ_PERSO",
        K::CrEduc => "CR_EDUC",
        K::Dipc => "DIPC",
        K::ContratAccueil => "CONTRAT_ACCUEIL",
        K::Inventaire => "INVENTAIRE",
        K::FicheContacts => "FICHE_CONTACTS",
        K::LiaisonUrg => "LIAISON_URG",
        K::AutorisSoins => "AUTORIS_SOINS",
        K::AutorisEchange => "AUTORIS_ECHANGE",
        K::BilanSanteEntree => "BILAN_SANTE_ENTREE",
        K::CrExamenEnfant => "CR_EXAMEN_ENFANT",
        K::BilanPsy => "BILAN_PSY",
        K::SynthPsy => "SYNTH_PSY",
        K::Pai => "PAI",
        K::LiaisonEntree => "LIAISON_ENTREE",
        K::LiaisonSortie => "LIAISON_SORTIE",
        K::CrMedical => "CR_MEDICAL",
        K::Transmissions => "TRANSMISSIONS",
    }
}

/// Kind from an i32 of the wire, or `Unspecified`.
pub fn from_i32(v: i32) -> DocumentKind {
    DocumentKind::try_from(v).unwrap_or(DocumentKind::Unspecified)
}

/// French label, used in subjects and PDF titles.
pub fn label_fr(kind: DocumentKind) -> &'static str {
    use DocumentKind as K;
    match kind {
        K::Unspecified => "Document",
        K::Ip => "Information préoccupante",
        K::Signalement => "Signalement",
        K::RapEval => "Rapport d'évaluation",
        K::RapSituation => "Rapport de situation",
        K::Ppe => "Projet pour l'enfant",
        K::Decision => "Décision",
        K::FicheNavette => "Fiche navette",
        K::ProjPerso => "Projet personnalisé",
        K::CrEduc => "Compte rendu éducatif",
        K::Dipc => "Document individuel de prise en charge",
        K::ContratAccueil => "Contrat d'accueil",
        K::Inventaire => "Inventaire des effets personnels",
        K::FicheContacts => "Fiche contacts d'urgence",
        K::LiaisonUrg => "Fiche de liaison d'urgence",
        K::AutorisSoins => "Autorisation de soins",
        K::AutorisEchange => "Autorisation d'échange de données de suivi",
        K::BilanSanteEntree => "Bilan de santé d'entrée",
        K::CrExamenEnfant => "Compte rendu d'examen de l'enfant",
        K::BilanPsy => "Bilan psychologique",
        K::SynthPsy => "Synthèse psychiatrique",
        K::Pai => "Projet d'accueil individualisé",
        K::LiaisonEntree => "Lettre de liaison d'entrée",
        K::LiaisonSortie => "Lettre de liaison de sortie",
        K::CrMedical => "Compte rendu médical",
        K::Transmissions => "Transmissions",
    }
}
