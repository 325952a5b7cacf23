//! Catalogue and profile rules: codes, confidentiality, DMP refusals, replacement, escaping.

// Tests may touch files (temp dirs, vendored schemas); the crate itself may not.
#![allow(clippy::disallowed_methods)]

mod common;

use common::*;
use passerelle_api::v1::{DocumentKind, InsStatus, Person, PersonId, PersonIdKind, Sensitivity};
use passerelle_documents::catalogue::{
    CATALOGUE, Domain, KindChannels, SOCIAL_TYPE, class_code_of, kind_by_local_code, type_code,
};
use passerelle_documents::metadata::IdStyle;
use passerelle_documents::{
    Author, DmpVisibility, DocumentError, Profile, Replaced, SubmissionSet, render_document,
    submit_objects_request,
};

#[test]
fn catalogue_codes_agree_with_the_national_tables() {
    // The J07 value set the schematron uses (vendored, generated from the ANS SVS file).
    let voc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/tcda/schematrons/profils/structurationMinimale/include/voc-1.2.250.1.213.1.1.5.471-DYNAMIC.xml"
    ))
    .expect("voc");
    for k in CATALOGUE {
        assert_eq!(
            k.local_code,
            k.kind.as_str_name().trim_start_matches("DOCUMENT_KIND_")
        );
        assert_eq!(
            kind_by_local_code(k.local_code).map(|i| i.kind),
            Some(k.kind)
        );
        let t = k.national_type.unwrap_or(SOCIAL_TYPE);
        let info = type_code(t.code, t.system).expect("type code in J07 table");
        assert!(info.in_j07, "{}", k.local_code);
        assert!(
            voc.contains(&format!("code=\"{}\"", t.code)),
            "{} not in J07",
            t.code
        );
        assert_eq!(info.code.display, t.display, "{}", k.local_code);
        if let Some(c) = class_code_of(t.code, t.system) {
            assert_eq!(c.code, k.class_code, "{}: ASS_X16", k.local_code);
        }
        if k.channels == KindChannels::MssDmp {
            assert_eq!(k.domain, Domain::Health);
            assert!(info.in_j66, "{} not in J66", k.local_code);
            assert!(
                class_code_of(t.code, t.system).is_some(),
                "{} no ASS_X16",
                k.local_code
            );
        }
        if k.domain == Domain::Social {
            assert_ne!(k.channels, KindChannels::MssDmp);
        }
    }
}

fn conf(kind: DocumentKind, s: Sensitivity) -> String {
    let mut o = Owned::new(kind, 1);
    o.document.sensitivity = s as i32;
    let d = o.render(Profile::Mssante);
    assert_eq!(d.entry.confidentiality.len(), 1);
    assert_eq!(
        d.entry.confidentiality[0].code,
        d.header.cda_confidentiality.code
    );
    d.header.cda_confidentiality.code.to_owned()
}

#[test]
fn mssante_confidentiality_follows_sensitivity_never_below_the_kind() {
    assert_eq!(conf(DocumentKind::Ip, Sensitivity::Unspecified), "V");
    assert_eq!(
        conf(DocumentKind::RapSituation, Sensitivity::Unspecified),
        "V"
    );
    assert_eq!(conf(DocumentKind::Ppe, Sensitivity::Unspecified), "R");
    assert_eq!(
        conf(DocumentKind::FicheNavette, Sensitivity::Unspecified),
        "R"
    );
    assert_eq!(conf(DocumentKind::Pai, Sensitivity::Unspecified), "N");
    assert_eq!(conf(DocumentKind::Inventaire, Sensitivity::Low), "N");
    assert_eq!(conf(DocumentKind::Pai, Sensitivity::High), "R");
    assert_eq!(conf(DocumentKind::Pai, Sensitivity::Maximal), "V");
    assert_eq!(conf(DocumentKind::Ip, Sensitivity::Low), "V");
}

#[test]
fn dmp_confidentiality_is_n_plus_a07_flags() {
    let o = Owned::new(DocumentKind::BilanPsy, 1);
    let d = o.render(Profile::Dmp(DmpVisibility {
        masque_ps: true,
        invisible_patient: false,
        invisible_representants_legaux: true,
    }));
    assert_eq!(d.header.cda_confidentiality.code, "N");
    let codes: Vec<_> = d
        .entry
        .confidentiality
        .iter()
        .map(|c| c.code.as_str())
        .collect();
    assert_eq!(codes, ["N", "MASQUE_PS", "INVISIBLE_REPRESENTANTS_LEGAUX"]);
    assert_eq!(d.entry.confidentiality[1].scheme, "1.2.250.1.213.1.1.4.13");
    // DMP value sets: J62 practice setting, not ESSMS.
    assert_eq!(d.entry.practice_setting.code, "AMBULATOIRE");
    let mss = o.render(Profile::Mssante);
    assert_eq!(mss.entry.practice_setting.code, "ESSMS");
}

#[test]
fn social_and_non_dmp_kinds_are_refused_for_the_dmp() {
    for k in [
        DocumentKind::Ppe,
        DocumentKind::Ip,
        DocumentKind::CrEduc,
        DocumentKind::ProjPerso,
        DocumentKind::FicheContacts,
        DocumentKind::LiaisonEntree,
    ] {
        let o = Owned::new(k, 1);
        let e = render_document(&o.ctx(dmp_profile())).expect_err("refused");
        assert!(
            matches!(e, DocumentError::KindNotAllowed { profile: "DMP", .. }),
            "{e}"
        );
    }
    for k in [DocumentKind::Signalement, DocumentKind::Transmissions] {
        let o = Owned::new(k, 1);
        assert!(matches!(
            render_document(&o.ctx(Profile::Mssante)),
            Err(DocumentError::KindNotAllowed { .. })
        ));
    }
}

#[test]
fn social_documents_carry_28653_4_and_the_local_code() {
    let d = Owned::new(DocumentKind::Ppe, 1).render(Profile::Mssante);
    assert_eq!(d.entry.type_code.code, "28653-4");
    assert_eq!(d.entry.class_code.code, "10");
    let cda = String::from_utf8(d.cda).expect("utf-8");
    assert!(cda.contains(&format!(
        "<translation code=\"PPE\" codeSystem=\"{LOCAL_OID}\" displayName=\"Projet pour l'enfant\"/>"
    )));
    let h = Owned::new(DocumentKind::Pai, 1).render(Profile::Mssante);
    assert_eq!(h.entry.type_code.code, "80771-9");
    assert_eq!(h.entry.class_code.code, "44");
    assert_eq!(h.entry.format_code.code, "urn:ihe:iti:xds-sd:pdf:2008");
}

#[test]
fn cr_medical_takes_any_j66_code_for_the_dmp() {
    let mut o = Owned::new(DocumentKind::CrMedical, 1);
    o.document.dmp_type_code = Some(code("2.16.840.1.113883.6.1", "11369-6", ""));
    let d = o.render(dmp_profile());
    assert_eq!(d.entry.type_code.code, "11369-6");
    assert_eq!(d.entry.class_code.code, "52");
    o.document.dmp_type_code = Some(code("2.16.840.1.113883.6.1", "51851-4", ""));
    assert!(matches!(
        render_document(&o.ctx(dmp_profile())),
        Err(DocumentError::KindNotAllowed { .. })
    ));
}

#[test]
fn the_dmp_needs_a_qualified_ins_and_mssante_falls_back_to_the_local_id() {
    let mut o = Owned::new(DocumentKind::Pai, 1);
    if let Some(ins) = o.child.ins.as_mut() {
        ins.status = InsStatus::Provisional as i32;
    }
    assert!(matches!(
        render_document(&o.ctx(dmp_profile())),
        Err(DocumentError::InvalidInput {
            field: "child.ins",
            ..
        })
    ));
    let d = o.render(Profile::Mssante);
    assert_eq!(
        d.entry.patient_id,
        format!("DUI-0001^^^&{TENANT_OID}&ISO^PI")
    );
    assert!(
        !String::from_utf8(d.cda)
            .expect("utf-8")
            .contains("212069306600157")
    );
}

#[test]
fn invalid_inputs_name_the_field() {
    let mut o = Owned::new(DocumentKind::Pai, 1);
    o.ids.unique_id = "urn:oid:1.2.3".into();
    assert!(matches!(
        render_document(&o.ctx(Profile::Mssante)),
        Err(DocumentError::InvalidInput {
            field: "ids.unique_id",
            ..
        })
    ));
    let mut o = Owned::new(DocumentKind::Pai, 1);
    o.pdf.clear();
    assert!(matches!(
        render_document(&o.ctx(Profile::Mssante)),
        Err(DocumentError::InvalidInput { field: "pdf", .. })
    ));
    let mut o = Owned::new(DocumentKind::Pai, 1);
    if let Some(ins) = o.child.ins.as_mut() {
        ins.birthplace_insee.clear();
    }
    let e = render_document(&o.ctx(Profile::Mssante)).expect_err("birthplace");
    assert!(e.to_string().contains("child.ins.birthplace_insee"));
    assert!(!e.to_string().contains("DUPONT"));
}

#[test]
fn replacement_has_rplc_in_cda_and_metadata() {
    let mut o = Owned::new(DocumentKind::BilanPsy, 2);
    o.ids.version = 2;
    o.ids.replaces = Some(Replaced {
        unique_id: format!("{TENANT_OID}.1.1"),
        entry_uuid: "urn:uuid:6d1c3c9e-8f0e-4c55-9a4a-2b7d3c1e0f11".into(),
    });
    let d = o.render(dmp_profile());
    let cda = String::from_utf8(d.cda.clone()).expect("utf-8");
    assert!(cda.contains("<relatedDocument typeCode=\"RPLC\">"));
    assert!(cda.contains("<versionNumber value=\"2\"/>"));
    let set = SubmissionSet::new(
        &tenant(),
        &nurse(),
        dmp_profile(),
        &format!("{TENANT_OID}.2.2"),
        SUBMITTED,
        &d.entry,
        &[],
    )
    .expect("set");
    let body = submit_objects_request(&set, &[d.entry], None, IdStyle::Symbolic).expect("body");
    assert!(body.contains(
        "associationType=\"urn:ihe:iti:2007:AssociationType:RPLC\" sourceObject=\"Doc01\" targetObject=\"urn:uuid:6d1c3c9e-8f0e-4c55-9a4a-2b7d3c1e0f11\""
    ));
}

#[test]
fn markup_in_names_and_titles_is_escaped() {
    let mut o = Owned::new(DocumentKind::Ppe, 1);
    o.document.title = "PPE <révision> & \"annexe\"".into();
    o.tenant.name = "MECS <Les> & Tilleuls^".into();
    let d = o.render(Profile::Mssante);
    let cda = String::from_utf8(d.cda.clone()).expect("utf-8");
    let doc = roxmltree::Document::parse(&cda).expect("well-formed");
    let title = doc
        .descendants()
        .find(|n| n.has_tag_name(("urn:hl7-org:v3", "title")))
        .and_then(|n| n.text());
    assert_eq!(title, Some("PPE <révision> & \"annexe\""));
    // HL7 v2 separators are escaped in XON.
    assert!(
        d.entry
            .author
            .institution
            .starts_with("MECS <Les> \\T\\ Tilleuls\\S\\^")
    );
}

#[test]
fn author_from_a_dui_person() {
    let p = Person {
        id: Some(PersonId {
            kind: PersonIdKind::Rpps as i32,
            value: "10000001031".into(),
            structure_idnat: String::new(),
        }),
        family_name: "PETIT".into(),
        given_name: "Marc".into(),
        professions: vec![code("1.2.250.1.71.1.2.7", "10", "Médecin")],
        ..Default::default()
    };
    let a = Author::from_person(&p).expect("author");
    assert_eq!(a.ps_idnat, "810000001031");
    assert_eq!(a.specialty.code, "G15_10");
    assert_eq!(a.specialty.system, "1.2.250.1.213.1.1.4.5");
    let internal = Person {
        id: Some(PersonId {
            kind: PersonIdKind::Internal as i32,
            value: "K42".into(),
            structure_idnat: "1930004130".into(),
        }),
        professions: vec![code(
            "1.2.250.1.213.1.6.1.107",
            "326",
            "Educateur spécialisé",
        )],
        ..Default::default()
    };
    let a = Author::from_person(&internal).expect("author");
    assert_eq!(a.ps_idnat, "3930004130/K42");
    assert_eq!(a.specialty.code, "326");
}

#[test]
fn a_one_mib_pdf_is_embedded_on_one_line() {
    let mut o = Owned::new(DocumentKind::BilanPsy, 1);
    o.pdf = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let d = o.render(Profile::Mssante);
    let cda = String::from_utf8(d.cda).expect("utf-8");
    let line = cda
        .lines()
        .find(|l| l.contains("representation=\"B64\""))
        .expect("body line");
    assert!(line.len() > 1_398_000);
}

#[test]
fn dmp_visibility_from_decision_codes() {
    let v = DmpVisibility::from_codes(&["N".into(), "INVISIBLE_REPRESENTANTS_LEGAUX".into()])
        .expect("codes");
    assert!(v.invisible_representants_legaux && !v.masque_ps && !v.invisible_patient);
    assert!(DmpVisibility::from_codes(&["R".into()]).is_err());
    assert!(DmpVisibility::from_codes(&["N".into(), "MASQUE_PT".into()]).is_err());
    assert!(DmpVisibility::from_codes(&[]).is_err());
    let ppe = passerelle_documents::catalogue::kind_info(DocumentKind::Ppe).expect("ppe");
    assert_eq!(ppe.type_code(), SOCIAL_TYPE);
    assert!(!ppe.dmp_eligible());
    assert_eq!(ppe.class().map(|c| c.display), Some("Compte rendu"));
}
