//! Rendering: every structured kind, PDF/A-1b structure, extracted text, determinism, paging.

mod common;

use common::fixtures::{self, AUTHOR, AUTHOR_ROLE, CHILD_NAME, STRUCTURE, STRUCTURE_IDS};
use common::{pdfa, pdftotext, squash};
use passerelle_api::v1::document::Content;
use passerelle_api::v1::{DocumentKind, GenericContent, Section, Sensitivity, SuppliedPdf};
use passerelle_pdf::{PdfError, banner, default_sensitivity, is_health_kind, kind_label, render};

fn checked(pdf: &[u8]) -> pdfa::Report {
    match pdfa::check(pdf) {
        Ok(r) => r,
        Err(errs) => panic!("not PDF/A-1b:\n  {}", errs.join("\n  ")),
    }
}

/// Renders one fixture and runs every per-kind assertion; returns the extracted text.
fn render_kind(name: &str, expected_phrases: &[&str]) -> String {
    let (_, kind, content) = fixtures::all_kinds()
        .into_iter()
        .find(|(n, _, _)| *n == name)
        .expect("fixture exists");
    let doc = fixtures::document(kind, "", content);
    let child = fixtures::child();
    let pdf = render(&fixtures::ctx(&doc, &child)).expect("renders");
    let report = checked(&pdf);
    assert!(report.pages >= 1);

    let text = pdftotext(&pdf, None);
    let flat = squash(&text);
    // Header fields, with their accents.
    for needle in [
        kind_label(kind),
        &format!("Enfant : {CHILD_NAME}, née le 14/06/2012"),
        "INS : 212069306600157 (identité qualifiée)",
        &format!("Structure : {STRUCTURE} — {STRUCTURE_IDS}"),
        &format!("Rédigé par : {AUTHOR}, {AUTHOR_ROLE}"),
        "Date du document : 20/11/2026",
        "Établi le : 25/11/2026 à 10:30 (UTC+01:00)",
    ] {
        assert!(
            flat.contains(needle),
            "{name}: missing {needle:?} in\n{text}"
        );
    }
    // Banner of the kind's default sensitivity, on every page.
    let expected_banner = squash(&banner(default_sensitivity(kind), is_health_kind(kind)));
    for p in 1..=report.pages {
        let page = squash(&pdftotext(&pdf, Some(p)));
        assert!(
            page.contains(&expected_banner),
            "{name}: page {p} lacks the banner"
        );
        assert!(
            page.contains(&format!("Page {p} / {}", report.pages)),
            "{name}: page {p} lacks its number"
        );
    }
    assert!(flat.contains(&format!("Page 1 / {}", report.pages)));
    for phrase in expected_phrases {
        assert!(
            flat.contains(phrase),
            "{name}: missing {phrase:?} in\n{text}"
        );
    }
    text
}

macro_rules! kind_test {
    ($name:ident, [$($phrase:expr),* $(,)?]) => {
        #[test]
        fn $name() {
            let text = render_kind(stringify!($name), &[$($phrase),*]);
            insta::assert_snapshot!(concat!("text_", stringify!($name)), text);
        }
    };
}

kind_test!(
    ppe,
    [
        "Projet pour l'enfant (PPE)",
        "Document confidentiel — secret professionnel partagé (CASF L.226-2-2)",
        "Situation juridique et mesures",
        "Santé : Suivi orthophonique hebdomadaire",
        "2. Préparer un retour progressif au domicile maternel.",
        "Qui : Référente ASE — Échéance : 15/01/2027 — Objectif : 2",
        "Léa DUPONT (l'enfant) (18/11/2026) : « Je veux bien rester aux Tilleuls",
        "Nathalie DUPONT, Titulaire de l'autorité parentale",
        "20/05/2027",
    ]
);
kind_test!(
    ip_report,
    [
        "STRICTEMENT CONFIDENTIEL",
        "Auteur du recueil : Anne Roux",
        "17/11/2026 : Léa arrive au collège avec des ecchymoses",
        "Niveau : danger",
        "Titulaires informés : non",
        "Motif de non-information : Information contraire à l'intérêt de l'enfant.",
    ]
);
kind_test!(
    evaluation_report,
    [
        "Date de l'information préoccupante : 02/09/2026",
        "Julie Moreau, psychologue",
        "Santé et développement",
        "Conclusion de l'évaluation Éléments de danger confirmés.",
    ]
);
kind_test!(
    situation_report,
    [
        "TRÈS CONFIDENTIEL",
        "Période : du 01/05/2026 au 31/10/2026",
        "Léa s'est bien intégrée au groupe de vie.",
    ]
);
kind_test!(
    fiche_navette,
    [
        "Service émetteur : ASE — antenne de Bobigny",
        "Demande du 10/11/2026",
        "Réponse du 12/11/2026",
        "Protocole d'actions",
    ]
);
kind_test!(
    projet_personnalise,
    [
        "1. Développer l'autonomie dans les trajets scolaires.",
        "Léa : D'accord pour essayer dès janvier.",
        "01/03/2027",
    ]
);
kind_test!(
    compte_rendu_educatif,
    [
        "Période : du 01/11/2026 au 15/11/2026",
        "Inscrite au club de théâtre, très investie.",
    ]
);
kind_test!(
    contrat,
    [
        "Contrat d'accueil provisoire",
        "Engagements",
        "Le service s'engage à informer la mère",
        "Luc Garnier, Directeur",
        "Fait le 25/11/2026",
    ]
);
kind_test!(
    fiche_liaison_urgence,
    [
        "données de santé (CSP L.1110-4)",
        "Groupe sanguin : A+",
        "Pénicilline",
        "Médecin traitant : Dr Hélène Bérard, Bobigny",
    ]
);
kind_test!(
    autorisation_soins,
    [
        "Extraction dentaire sous anesthésie générale.",
        "Nature de l'acte : acte non usuel",
        "Validité : du 01/12/2026 au 28/02/2027",
    ]
);
kind_test!(
    bilan_psy,
    [
        "Bilan psychologique",
        "Contexte de la demande",
        "Préconisations Suivi psychologique hebdomadaire au CMP.",
    ]
);
kind_test!(
    health_report,
    [
        "Compte rendu médical",
        "Poids 42 kg, taille 1,52 m ; examen normal.",
    ]
);
kind_test!(
    generic,
    [
        "Inventaire des effets personnels",
        "Valise, vêtements d'hiver, cartable, téléphone.",
    ]
);

#[test]
fn every_document_kind_renders_with_generic_content() {
    let child = fixtures::child();
    for k in 1..=25 {
        let kind = DocumentKind::try_from(k).expect("known kind");
        let doc = fixtures::document(kind, "", Content::Generic(fixtures::generic()));
        let pdf = render(&fixtures::ctx(&doc, &child)).expect("renders");
        checked(&pdf);
        let text = squash(&pdftotext(&pdf, None));
        assert!(
            text.contains(kind_label(kind)),
            "{kind:?}: no label in {text}"
        );
        assert!(text.contains(&squash(&banner(
            default_sensitivity(kind),
            is_health_kind(kind)
        ))));
    }
}

#[test]
fn rendering_is_deterministic_and_the_id_follows_the_input() {
    let child = fixtures::child();
    let doc = fixtures::document(DocumentKind::Ppe, "", Content::Ppe(fixtures::ppe()));
    let a = render(&fixtures::ctx(&doc, &child)).expect("renders");
    let b = render(&fixtures::ctx(&doc, &child)).expect("renders");
    assert_eq!(a, b, "two renderings of the same input differ");
    // Other threads have other hash-map seeds: the bytes must not depend on them.
    let others: Vec<Vec<u8>> = (0..3)
        .map(|_| {
            std::thread::spawn(|| {
                let child = fixtures::child();
                let doc = fixtures::document(DocumentKind::Ppe, "", Content::Ppe(fixtures::ppe()));
                render(&fixtures::ctx(&doc, &child)).expect("renders")
            })
        })
        .map(|h| h.join().expect("thread"))
        .collect();
    for o in &others {
        assert_eq!(o, &a, "rendering depends on the thread");
    }
    let id_a = checked(&a).file_id;

    // Another creation date: other bytes, other document ID, and the date is the parameter's.
    let mut ctx = fixtures::ctx(&doc, &child);
    ctx.created_at = time::macros::datetime!(2027-01-02 08:00:00 UTC);
    let c = render(&ctx).expect("renders");
    assert_ne!(a, c);
    let rc = checked(&c);
    assert_ne!(rc.file_id.0, id_a.0);
    assert!(rc.xmp.contains("2027-01-02T08:00:00"), "{}", rc.xmp);
    assert!(squash(&pdftotext(&c, None)).contains("Établi le : 02/01/2027 à 08:00 (UTC)"));

    // One character of content changes the document ID too.
    let mut ppe = fixtures::ppe();
    ppe.objectives[0].push('!');
    let doc2 = fixtures::document(DocumentKind::Ppe, "", Content::Ppe(ppe));
    let d = render(&fixtures::ctx(&doc2, &child)).expect("renders");
    assert_ne!(checked(&d).file_id.0, id_a.0);
}

#[test]
fn ten_page_ppe_has_consistent_page_numbers() {
    let child = fixtures::child();
    let doc = fixtures::document(DocumentKind::Ppe, "", Content::Ppe(fixtures::long_ppe()));
    let pdf = render(&fixtures::ctx(&doc, &child)).expect("renders");
    let report = checked(&pdf);
    let n = report.pages;
    assert_eq!(n, 10, "the long PPE fixture is sized for ten pages");
    for p in 1..=n {
        let page = squash(&pdftotext(&pdf, Some(p)));
        assert!(
            page.contains(&format!("Page {p} / {n}")),
            "page {p}: {page}"
        );
        if p > 1 {
            // Running header from page 2 on.
            assert!(page.contains(&format!("Projet pour l'enfant (PPE) — {CHILD_NAME}")));
        }
    }
    // The content flowed to the end: the last action and the signatures are there.
    let all = squash(&pdftotext(&pdf, None));
    let last_action = fixtures::LONG_PPE_ACTIONS + 2;
    assert!(all.contains(&format!("Action n° {last_action} :")));
    assert!(!all.contains(&format!("Action n° {} :", last_action + 1)));
    assert!(all.contains(&format!("Participant n° {} (", fixtures::LONG_PPE_OPINIONS)));
    assert!(all.contains("Nathalie DUPONT"));
    assert!(!all.contains(&format!("Page {} / {n}", n + 1)));
}

#[test]
fn missing_or_supplied_content_is_refused() {
    let child = fixtures::child();
    let mut doc = fixtures::document(DocumentKind::Ppe, "", Content::Ppe(fixtures::ppe()));
    doc.content = None;
    assert_eq!(
        render(&fixtures::ctx(&doc, &child)),
        Err(PdfError::NoStructuredContent)
    );
    doc.content = Some(Content::Pdf(SuppliedPdf {
        data: b"%PDF-1.4".to_vec().into(),
        file_name: "x.pdf".into(),
    }));
    let err = render(&fixtures::ctx(&doc, &child)).expect_err("refused");
    assert_eq!(err, PdfError::SuppliedPdfNotRendered);
    assert!(err.to_string().contains("document.content.pdf"));
}

#[test]
fn title_and_sensitivity_overrides() {
    let child = fixtures::child();
    let mut doc = fixtures::document(
        DocumentKind::CrEduc,
        "Synthèse du premier trimestre",
        Content::CompteRenduEducatif(fixtures::compte_rendu_educatif()),
    );
    doc.sensitivity = Sensitivity::VeryHigh as i32;
    let pdf = render(&fixtures::ctx(&doc, &child)).expect("renders");
    let report = checked(&pdf);
    let text = squash(&pdftotext(&pdf, None));
    assert!(text.contains("Synthèse du premier trimestre"));
    assert!(text.contains("Compte rendu éducatif"));
    assert!(text.contains(&squash(&banner(Sensitivity::VeryHigh, false))));
    assert!(text.contains("Confidentialité : très élevée"));
    assert!(report.xmp.contains("Synthèse du premier trimestre"));

    // The context title wins over the document title.
    let mut ctx = fixtures::ctx(&doc, &child);
    ctx.title = "CR éducatif — novembre";
    let pdf = render(&ctx).expect("renders");
    assert!(squash(&pdftotext(&pdf, None)).contains("CR éducatif — novembre"));
}

#[test]
fn hostile_text_still_gives_a_valid_pdf() {
    let child = fixtures::child();
    let odd = "Émoji 😀, contrôle \u{1}\u{7f}, zéro\u{200b}largeur, tab\tici, \
               privé \u{e000}, CR\r\nLF, mot-très-long-"
        .to_string()
        + &"é".repeat(300);
    let content = Content::Generic(GenericContent {
        sections: vec![
            Section {
                title: odd.clone(),
                text: odd.clone(),
            },
            Section {
                title: String::new(),
                text: String::new(),
            },
        ],
    });
    let doc = fixtures::document(DocumentKind::CrMedical, &odd, content);
    let pdf = render(&fixtures::ctx(&doc, &child)).expect("renders");
    checked(&pdf);
    let text = pdftotext(&pdf, None);
    assert!(
        text.contains('\u{FFFD}'),
        "unknown glyphs are replaced visibly"
    );
    assert!(text.contains("Émoji"));
    // The 300 "é" are cut between characters without hyphens: all of them come back.
    assert!(text.matches('é').count() >= 2 * 300);
}

#[test]
fn empty_structured_content_says_so() {
    let child = fixtures::child();
    let doc = fixtures::document(
        DocumentKind::Dipc,
        "",
        Content::Generic(GenericContent::default()),
    );
    let pdf = render(&fixtures::ctx(&doc, &child)).expect("renders");
    checked(&pdf);
    assert!(squash(&pdftotext(&pdf, None)).contains("(Aucun contenu renseigné.)"));
}

#[test]
fn the_structural_checker_catches_violations() {
    let child = fixtures::child();
    let doc = fixtures::document(DocumentKind::Ppe, "", Content::Ppe(fixtures::ppe()));
    let pdf = render(&fixtures::ctx(&doc, &child)).expect("renders");
    // Same length substitutions, so the xref offsets stay valid.
    let swap = |from: &[u8], to: &[u8]| -> Vec<u8> {
        assert_eq!(from.len(), to.len());
        let mut out = pdf.clone();
        let pos = out
            .windows(from.len())
            .position(|w| w == from)
            .unwrap_or_else(|| panic!("{} not found", String::from_utf8_lossy(from)));
        out[pos..pos + to.len()].copy_from_slice(to);
        out
    };
    let errs = |b: &[u8]| {
        pdfa::check(b)
            .expect_err("violation must be reported")
            .join("\n")
    };
    assert!(errs(&swap(b"%PDF-1.4", b"%PDF-1.7")).contains("header"));
    assert!(errs(&swap(b"<pdfaid:part>1<", b"<pdfaid:part>2<")).contains("pdfaid:part"));
    assert!(errs(&swap(b"/FontFile2", b"/FontFileX")).contains("not embedded"));
    assert!(errs(&swap(b"/GTS_PDFA1", b"/GTS_PDFX1")).contains("GTS_PDFA1"));
    assert!(errs(&swap(b"/CIDSet", b"/CIDSex")).contains("CIDSet"));
}
