//! Fixed inputs: Léa DUPONT (DUI-0001) of the sandbox, written by Karim Haddad of the MECS Les
//! Tilleuls; one structured content per kind. Also used by benches/render_ppe.rs.
#![allow(dead_code)]

use passerelle_api::v1::document::Content;
use passerelle_api::v1::*;
use passerelle_pdf::RenderContext;

pub const STRUCTURE: &str = "MECS Les Tilleuls";
pub const STRUCTURE_IDS: &str = "FINESS ET 930004130";
pub const AUTHOR: &str = "Karim Haddad";
pub const AUTHOR_ROLE: &str = "éducateur spécialisé";
pub const CHILD_NAME: &str = "Léa DUPONT";

pub fn created_at() -> time::OffsetDateTime {
    time::macros::datetime!(2026-11-25 10:30:00 +01:00)
}

pub fn child() -> ChildContext {
    ChildContext {
        local_id: "DUI-0001".into(),
        ins: Some(Ins {
            matricule: "212069306600157".into(),
            oid: "1.2.250.1.213.1.4.10".into(),
            status: InsStatus::Qualified as i32,
            birth_family_name: "DUPONT".into(),
            first_given_name: "Léa".into(),
            birth_given_names: vec!["Léa".into(), "Marie".into()],
            gender: Gender::F as i32,
            birth_date: "2012-06-14".into(),
            birthplace_insee: "93066".into(),
        }),
        birth_date: "2012-06-14".into(),
        residence_departement: "93".into(),
        parties: vec![
            Party {
                id: "P-MERE".into(),
                role: PartyRole::Mother as i32,
                family_name: "Dupont".into(),
                given_name: "Nathalie".into(),
            },
            Party {
                id: "P-PERE".into(),
                role: PartyRole::Father as i32,
                family_name: "Lemaire".into(),
                given_name: "Jérôme".into(),
            },
            Party {
                id: "P-ENFANT".into(),
                role: PartyRole::Child as i32,
                family_name: "Dupont".into(),
                given_name: "Léa".into(),
            },
        ],
        ..Default::default()
    }
}

pub fn document(kind: DocumentKind, title: &str, content: Content) -> Document {
    Document {
        id: "doc-1".into(),
        kind: kind as i32,
        title: title.into(),
        act_date: "2026-11-20".into(),
        content: Some(content),
        ..Default::default()
    }
}

pub fn ctx<'a>(doc: &'a Document, child: &'a ChildContext) -> RenderContext<'a> {
    RenderContext {
        document: doc,
        child,
        structure_name: STRUCTURE,
        structure_ids: STRUCTURE_IDS,
        author_name: AUTHOR,
        author_role: AUTHOR_ROLE,
        title: "",
        created_at: created_at(),
    }
}

fn s(title: &str, text: &str) -> Section {
    Section {
        title: title.into(),
        text: text.into(),
    }
}

fn action(d: &str, who: &str, due: &str, obj: &str) -> Action {
    Action {
        description: d.into(),
        who: who.into(),
        due: due.into(),
        objective_ref: obj.into(),
    }
}

pub fn ppe() -> PpeContent {
    PpeContent {
        legal_situation: "Placement judiciaire à l'aide sociale à l'enfance (article 375-3 du \
            Code civil) jusqu'au 30/06/2027 ; autorité parentale conjointe exercée par les deux \
            parents."
            .into(),
        needs: vec![
            Need {
                domain: need::Domain::Health as i32,
                description: "Suivi orthophonique hebdomadaire ; bilan ophtalmologique à prévoir."
                    .into(),
            },
            Need {
                domain: need::Domain::Schooling as i32,
                description: "Soutien scolaire en mathématiques, classe de cinquième.".into(),
            },
            Need {
                domain: need::Domain::FamilyRelations as i32,
                description: "Maintenir des liens réguliers avec sa mère et son frère aîné.".into(),
            },
        ],
        objectives: vec![
            "Stabiliser la scolarité et l'assiduité.".into(),
            "Préparer un retour progressif au domicile maternel.".into(),
        ],
        actions: vec![
            action(
                "Rencontres médiatisées avec la mère, une fois par quinzaine.",
                "Référente ASE",
                "2027-01-15",
                "2",
            ),
            action(
                "Inscription à l'aide aux devoirs du collège.",
                "Éducateur référent MECS",
                "2026-12-01",
                "1",
            ),
        ],
        actes_usuels_annex: vec![
            "Inscription aux activités périscolaires et sorties scolaires.".into(),
            "Soins médicaux courants, vaccinations obligatoires.".into(),
        ],
        actes_reserved_to_ase: vec!["Changement d'établissement scolaire.".into()],
        opinions: vec![
            Opinion {
                who: "".into(),
                party_id: "P-ENFANT".into(),
                text: "« Je veux bien rester aux Tilleuls si je vois maman plus souvent. »".into(),
                date: "2026-11-18".into(),
            },
            Opinion {
                who: "La mère".into(),
                party_id: "P-MERE".into(),
                text: "Souhaite des visites plus longues, accepte l'accompagnement.".into(),
                date: "2026-11-18".into(),
            },
        ],
        signatures: vec![SignatureLine {
            signer: "Nathalie DUPONT".into(),
            party_id: "P-MERE".into(),
            capacity: "Titulaire de l'autorité parentale".into(),
            date: "".into(),
        }],
        review_dates: vec!["2027-05-20".into()],
    }
}

pub fn ip_report() -> IpReportContent {
    IpReportContent {
        reporter: "Anne Roux".into(),
        reporter_quality: "infirmière scolaire, collège Jean Moulin".into(),
        facts: vec![
            ObservedFact {
                date: "2026-11-17".into(),
                description: "Léa arrive au collège avec des ecchymoses au bras ; elle dit être \
                    tombée."
                    .into(),
                source: "Constaté directement par l'infirmière".into(),
            },
            ObservedFact {
                date: "2026-11-19".into(),
                description: "Propos inquiétants rapportés par une camarade.".into(),
                source: "Rapporté par une élève".into(),
            },
        ],
        children_concerned: vec!["Frère aîné (dossier DUI-0002)".into()],
        danger: DangerLevel::Danger as i32,
        danger_assessment:
            "Faisceau d'indices de violences physiques ; besoin d'évaluation rapide.".into(),
        urgent: false,
        ap_holders_informed: false,
        ap_holders_not_informed_reason: "Information contraire à l'intérêt de l'enfant.".into(),
    }
}

pub fn evaluation_report() -> EvaluationReportContent {
    EvaluationReportContent {
        ip_date: "2026-09-02".into(),
        evaluators: vec![
            "Claire Martin, éducatrice spécialisée".into(),
            "Julie Moreau, psychologue".into(),
        ],
        sections: vec![
            s(
                "Situation familiale",
                "Léa vit avec sa mère et son frère aîné.",
            ),
            s(
                "Santé et développement",
                "Développement conforme à l'âge ; sommeil perturbé.",
            ),
        ],
        conclusion: "Éléments de danger confirmés.".into(),
        proposal: "Saisine du juge des enfants.".into(),
    }
}

pub fn situation_report() -> SituationReportContent {
    SituationReportContent {
        period_from: "2026-05-01".into(),
        period_to: "2026-10-31".into(),
        sections: vec![s("Évolution", "Léa s'est bien intégrée au groupe de vie.")],
        conclusion: "Maintien de la mesure proposé.".into(),
    }
}

pub fn fiche_navette() -> FicheNavetteContent {
    FicheNavetteContent {
        from_service: "ASE — antenne de Bobigny".into(),
        to_service: "MECS Les Tilleuls".into(),
        request: "Merci de transmettre le calendrier des visites de décembre.".into(),
        request_date: "2026-11-10".into(),
        answer: "Calendrier joint ; visite du 24 décembre déplacée au 23.".into(),
        answer_date: "2026-11-12".into(),
        actions: vec![action(
            "Prévenir la mère du changement.",
            "Secrétariat",
            "2026-11-15",
            "",
        )],
    }
}

pub fn projet_personnalise() -> ProjetPersonnaliseContent {
    ProjetPersonnaliseContent {
        objectives: vec!["Développer l'autonomie dans les trajets scolaires.".into()],
        actions: vec![action(
            "Accompagnement en bus, puis trajets seule.",
            "Éducateur",
            "",
            "1",
        )],
        opinions: vec![Opinion {
            who: "Léa".into(),
            party_id: "".into(),
            text: "D'accord pour essayer dès janvier.".into(),
            date: "".into(),
        }],
        review_dates: vec!["2027-03-01".into()],
    }
}

pub fn compte_rendu_educatif() -> CompteRenduEducatifContent {
    CompteRenduEducatifContent {
        period_from: "2026-11-01".into(),
        period_to: "2026-11-15".into(),
        sections: vec![
            s(
                "Vie quotidienne",
                "Bonne participation aux tâches collectives.",
            ),
            s("Loisirs", "Inscrite au club de théâtre, très investie."),
        ],
    }
}

pub fn contrat() -> ContratContent {
    ContratContent {
        object: "Accueil provisoire de Léa à la MECS Les Tilleuls à la demande de sa mère.".into(),
        commitments: vec![
            "La mère s'engage à participer aux rencontres prévues.".into(),
            "Le service s'engage à informer la mère de tout événement important.".into(),
        ],
        from: "2026-12-01".into(),
        to: "2027-05-31".into(),
        signatures: vec![SignatureLine {
            signer: "Luc Garnier".into(),
            party_id: "".into(),
            capacity: "Directeur".into(),
            date: "2026-11-25".into(),
        }],
    }
}

pub fn fiche_liaison_urgence() -> FicheLiaisonUrgenceContent {
    FicheLiaisonUrgenceContent {
        blood_group: "A+".into(),
        allergies: vec!["Pénicilline".into(), "Arachide".into()],
        treatments: vec!["Ventoline si crise d'asthme".into()],
        medical_history: vec!["Asthme d'effort".into()],
        vaccinations: "À jour (carnet vérifié le 02/09/2026)".into(),
        attending_doctor: "Dr Hélène Bérard, Bobigny".into(),
        emergency_contacts: vec!["MECS Les Tilleuls, permanence éducative".into()],
        remarks: "Porte des lunettes.".into(),
    }
}

pub fn autorisation_soins() -> AutorisationSoinsContent {
    AutorisationSoinsContent {
        act: "Extraction dentaire sous anesthésie générale.".into(),
        act_kind: ActKind::NonUsuel as i32,
        valid_from: "2026-12-01".into(),
        valid_to: "2027-02-28".into(),
        conditions: "Après consultation pré-anesthésique.".into(),
    }
}

pub fn bilan_psy() -> BilanPsyContent {
    BilanPsyContent {
        context: "Bilan demandé par la référente ASE après l'admission.".into(),
        sections: vec![s(
            "Entretiens",
            "Trois entretiens ; Léa s'exprime volontiers.",
        )],
        conclusion: "Anxiété réactionnelle, pas de trouble envahissant.".into(),
        recommendations: "Suivi psychologique hebdomadaire au CMP.".into(),
    }
}

pub fn health_report() -> HealthReportContent {
    HealthReportContent {
        sections: vec![s(
            "Examen clinique",
            "Poids 42 kg, taille 1,52 m ; examen normal.",
        )],
        conclusion: "Bonne santé générale ; rappel dTP à prévoir.".into(),
    }
}

pub fn generic() -> GenericContent {
    GenericContent {
        sections: vec![s(
            "Effets personnels",
            "Valise, vêtements d'hiver, cartable, téléphone.",
        )],
    }
}

/// One fixture per structured content message, with a kind that uses it.
pub fn all_kinds() -> Vec<(&'static str, DocumentKind, Content)> {
    vec![
        ("ppe", DocumentKind::Ppe, Content::Ppe(ppe())),
        (
            "ip_report",
            DocumentKind::Ip,
            Content::IpReport(ip_report()),
        ),
        (
            "evaluation_report",
            DocumentKind::RapEval,
            Content::EvaluationReport(evaluation_report()),
        ),
        (
            "situation_report",
            DocumentKind::RapSituation,
            Content::SituationReport(situation_report()),
        ),
        (
            "fiche_navette",
            DocumentKind::FicheNavette,
            Content::FicheNavette(fiche_navette()),
        ),
        (
            "projet_personnalise",
            DocumentKind::ProjPerso,
            Content::ProjetPersonnalise(projet_personnalise()),
        ),
        (
            "compte_rendu_educatif",
            DocumentKind::CrEduc,
            Content::CompteRenduEducatif(compte_rendu_educatif()),
        ),
        (
            "contrat",
            DocumentKind::ContratAccueil,
            Content::Contrat(contrat()),
        ),
        (
            "fiche_liaison_urgence",
            DocumentKind::LiaisonUrg,
            Content::FicheLiaisonUrgence(fiche_liaison_urgence()),
        ),
        (
            "autorisation_soins",
            DocumentKind::AutorisSoins,
            Content::AutorisationSoins(autorisation_soins()),
        ),
        (
            "bilan_psy",
            DocumentKind::BilanPsy,
            Content::BilanPsy(bilan_psy()),
        ),
        (
            "health_report",
            DocumentKind::CrMedical,
            Content::HealthReport(health_report()),
        ),
        (
            "generic",
            DocumentKind::Inventaire,
            Content::Generic(generic()),
        ),
    ]
}

const LONG_PARAGRAPH: &str = "Léa poursuit sa scolarité en classe de cinquième au collège Jean \
    Moulin ; l'équipe éducative note des progrès réguliers en français et en mathématiques, une \
    meilleure assiduité et une relation apaisée avec ses camarades. Les rencontres médiatisées \
    avec sa mère se déroulent chaque quinzaine au service, en présence d'un éducateur, et sont \
    décrites comme chaleureuses ; la question d'un élargissement des droits de visite sera \
    étudiée à l'échéance suivante.";

/// Extra actions and opinions of [`long_ppe`] (the test checks the last ones are printed).
pub const LONG_PPE_ACTIONS: usize = 18;
pub const LONG_PPE_OPINIONS: usize = 10;

/// A PPE that fills exactly ten A4 pages (the lead's benchmark input).
pub fn long_ppe() -> PpeContent {
    let mut c = ppe();
    c.legal_situation = [LONG_PARAGRAPH; 4].join("\n\n");
    for i in 0..20 {
        c.needs.push(Need {
            domain: i % 8 + 1,
            description: format!("Besoin n° {} : {LONG_PARAGRAPH}", i + 1),
        });
    }
    for i in 0..16 {
        c.objectives
            .push(format!("Objectif détaillé n° {} — {LONG_PARAGRAPH}", i + 3));
    }
    for i in 0..LONG_PPE_ACTIONS {
        c.actions.push(action(
            &format!("Action n° {} : {LONG_PARAGRAPH}", i + 3),
            "Référente ASE et éducateur référent",
            "2027-03-31",
            &format!("{}", i % 5 + 1),
        ));
    }
    for i in 0..LONG_PPE_OPINIONS {
        c.opinions.push(Opinion {
            who: format!("Participant n° {}", i + 1),
            party_id: "".into(),
            text: LONG_PARAGRAPH.into(),
            date: "2026-11-18".into(),
        });
    }
    c
}
