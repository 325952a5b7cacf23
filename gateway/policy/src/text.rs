//! Human texts: articles, labels and the FR/EN explanation a social worker can read.
use passerelle_api::v1::{Channel, InformationStatus, LegalBasis, MissionKind, Outcome, Purpose};

use crate::catalogue::KindInfo;
use crate::context::{Ctx, role_en, role_fr};
use crate::eval::Eval;

pub(crate) fn basis_article(b: LegalBasis) -> &'static str {
    match b {
        LegalBasis::CasfL22622 => "CASF L.226-2-2",
        LegalBasis::CasfL22621 => "CASF L.226-2-1",
        LegalBasis::CasfL2213 => "CASF L.221-3",
        LegalBasis::CasfL22311 => "CASF L.223-1-1",
        LegalBasis::CasfL2235 => "CASF L.223-5",
        LegalBasis::CspL11104Ii => "CSP L.1110-4 II",
        LegalBasis::CspL11104IiiTeam => "CSP L.1110-4 III, L.1110-12",
        LegalBasis::CspL11104IiiConsent => "CSP L.1110-4 III",
        LegalBasis::AdultConsent => "consentement du jeune majeur",
        LegalBasis::Internal => "interne (DUI)",
        LegalBasis::Unspecified => "",
    }
}

/// The article under which persons are informed.
pub(crate) fn inf_article(b: LegalBasis, ip: bool) -> &'static str {
    if ip || b == LegalBasis::CasfL22621 {
        "CASF L.226-2-1"
    } else if matches!(
        b,
        LegalBasis::CspL11104Ii | LegalBasis::CspL11104IiiTeam | LegalBasis::CspL11104IiiConsent
    ) {
        "CSP L.1110-4, L.1111-2"
    } else if b == LegalBasis::AdultConsent {
        "consentement du jeune majeur"
    } else {
        "CASF L.226-2-2"
    }
}

pub(crate) fn purpose_fr(p: Purpose) -> &'static str {
    match p {
        Purpose::Evaluate => "évaluer la situation",
        Purpose::Decide => "décider d'une mesure",
        Purpose::ImplementProtection => "mettre en œuvre la protection",
        Purpose::Admission => "admission",
        Purpose::Orientation => "orientation",
        Purpose::MandatoryReport => "rapport obligatoire",
        Purpose::IpTransmission => "transmission d'une information préoccupante",
        Purpose::CareCoordination => "coordination des soins",
        Purpose::CareContinuity => "continuité des soins",
        Purpose::Prevention => "prévention",
        Purpose::MedicoSocialFollowUp => "suivi médico-social",
        Purpose::FileAccess => "accès au dossier",
        Purpose::Unspecified => "non précisée",
    }
}

pub(crate) fn mission_fr(m: MissionKind) -> &'static str {
    match m {
        MissionKind::ReferentAse => "référent ASE",
        MissionKind::InspecteurAse => "inspecteur ASE",
        MissionKind::CripEvaluator => "évaluateur CRIP",
        MissionKind::CripResponsable => "responsable CRIP",
        MissionKind::LieuAccueil => "lieu d'accueil",
        MissionKind::AssistantFamilial => "assistant familial",
        MissionKind::AemoAed => "service AEMO/AED",
        MissionKind::Soignant => "soignant",
        MissionKind::Pmi => "PMI",
        MissionKind::Mdph => "MDPH",
        MissionKind::EducationNationale => "Éducation nationale",
        MissionKind::Pjj => "PJJ",
        MissionKind::Juge => "juge",
        MissionKind::PendingAdmission => "admission en cours",
        MissionKind::ChefDeService => "chef de service",
        MissionKind::Directeur => "directeur",
        MissionKind::Other | MissionKind::Unspecified => "",
    }
}

fn channel_fr(c: Channel) -> (&'static str, &'static str) {
    match c {
        Channel::Mssante => (
            "par messagerie sécurisée de santé (MSSanté)",
            "by MSSanté secure messaging",
        ),
        Channel::Mes => (
            "dans la messagerie Mon espace santé de l'enfant",
            "to the child's Mon espace santé mailbox",
        ),
        Channel::Dmp => ("dans le DMP de l'enfant", "to the child's DMP"),
        Channel::Unspecified => ("par un canal non précisé", "by an unspecified channel"),
    }
}

fn status_fr(s: i32) -> (&'static str, &'static str) {
    match InformationStatus::try_from(s).unwrap_or(InformationStatus::Unspecified) {
        InformationStatus::Done => ("informé(e)", "informed"),
        InformationStatus::Waived => ("dispense d'information", "information waived"),
        InformationStatus::NotApplicable => ("sans objet", "not applicable"),
        _ => ("NON informé(e)", "NOT informed"),
    }
}

/// (fr, en) explanation of one target.
pub(crate) fn explain(
    cx: &Ctx<'_>,
    k: Option<&KindInfo>,
    channel: Channel,
    recipient: &str,
    legal_basis: &str,
    outcome: Outcome,
    e: &Eval,
) -> (String, String) {
    let (label_fr, code) = k.map_or(("document", ""), |k| (k.label_fr, k.code));
    let (ch_fr, ch_en) = channel_fr(channel);
    let mut fr = String::with_capacity(256);
    let mut en = String::with_capacity(256);
    // "à <adresse>" for messages; the DMP is named by the channel phrase alone.
    let (to_fr, to_en) = if channel == Channel::Dmp {
        (String::new(), String::new())
    } else {
        (format!(" à {recipient}"), format!(" to {recipient}"))
    };
    if outcome == Outcome::Allowed {
        fr.push_str(&format!(
            "Transmission autorisée : « {label_fr} »{to_fr} {ch_fr}, sur le fondement de {legal_basis}."
        ));
        en.push_str(&format!(
            "Allowed: {code}{to_en} {ch_en}, under {legal_basis}."
        ));
    } else {
        fr.push_str(&format!(
            "Transmission refusée : « {label_fr} »{to_fr} {ch_fr}."
        ));
        en.push_str(&format!("Denied: {code}{to_en} {ch_en}."));
        for d in &e.denials {
            fr.push(' ');
            fr.push_str(&d.message_fr);
            fr.push_str(&format!(" [{}]", d.rule));
            en.push(' ');
            en.push_str(&d.message_en);
            en.push_str(&format!(" [{}]", d.rule));
        }
    }
    if !e.persons.is_empty() {
        fr.push_str(" Personnes à informer : ");
        en.push_str(" Persons to inform: ");
        for (i, p) in e.persons.iter().enumerate() {
            if i > 0 {
                fr.push_str(", ");
                en.push_str(", ");
            }
            let (sf, se) = status_fr(p.status);
            fr.push_str(&format!("{} ({sf}", role_fr(&p.role)));
            en.push_str(&format!("{} ({se}", role_en(&p.role)));
            if !p.decided_by.is_empty() && p.status == InformationStatus::Waived as i32 {
                fr.push_str(&format!(", décidée par {}", p.decided_by));
                en.push_str(&format!(", decided by {}", p.decided_by));
            }
            fr.push(')');
            en.push(')');
        }
        fr.push('.');
        en.push('.');
    }
    if channel == Channel::Dmp || channel == Channel::Mes {
        if cx.representatives.is_empty() {
            fr.push_str(" Représentants légaux au DMP : aucun.");
            en.push_str(" DMP legal representatives: none.");
        } else {
            let names: Vec<&str> = cx
                .representatives
                .iter()
                .map(|r| role_fr(cx.role_name(r)))
                .collect();
            let names_en: Vec<&str> = cx
                .representatives
                .iter()
                .map(|r| role_en(cx.role_name(r)))
                .collect();
            fr.push_str(&format!(
                " Représentants légaux au DMP : {}.",
                names.join(", ")
            ));
            en.push_str(&format!(
                " DMP legal representatives: {}.",
                names_en.join(", ")
            ));
        }
    }
    for o in &e.obligations {
        fr.push_str(&format!(" Obligation : {}.", o.code));
        en.push_str(&format!(" Obligation: {}.", o.code));
    }
    (fr, en)
}
