//! policy.md §8, S01–S22: every row, its expected decisions and rule ids / reason codes, at a fixed
//! `as_of` (2026-11-25T10:00Z).
use passerelle_api::v1::*;
use passerelle_policy::PolicyEngine;

use crate::fixtures::*;

/// Expected outcome of one target: (target id, allowed, reason codes ⊆ denials, rule ids ⊆ trace).
type Exp = (
    &'static str,
    bool,
    &'static [&'static str],
    &'static [&'static str],
);

struct Case {
    name: &'static str,
    req: SubmitRequest,
    expect: Vec<Exp>,
    check: Option<fn(&Decision)>,
}

fn case(name: &'static str, req: SubmitRequest, expect: Vec<Exp>) -> Case {
    Case {
        name,
        req,
        expect,
        check: None,
    }
}

fn persons(t: &TargetDecision) -> Vec<(&str, i32)> {
    t.persons_to_inform
        .iter()
        .map(|p| (p.party_id.as_str(), p.status))
        .collect()
}

fn target<'a>(d: &'a Decision, id: &str) -> &'a TargetDecision {
    d.targets
        .iter()
        .find(|t| t.target_id == id)
        .unwrap_or_else(|| panic!("no target {id}"))
}

fn s01() -> Vec<Case> {
    let mut r = with_basis(
        base(DocumentKind::Ip),
        LegalBasis::CasfL22621,
        Purpose::IpTransmission,
    );
    set_age(&mut r, 15);
    r = with_sender(r, anne_infirmiere_scolaire());
    r.tenant = "cd93".into();
    let r = with_targets(
        r,
        vec![to_pro("crip93", crip("93"), "crip@cd93.mssante.test")],
    );
    vec![Case {
        name: "S01 school nurse → CRIP 93, IP",
        req: r,
        expect: vec![("crip93", true, &[], &["IP-1", "IP-3", "IP-4"])],
        check: Some(|d| {
            let t = target(d, "crip93");
            let p = persons(t);
            assert_eq!(
                p.iter().map(|x| x.0).collect::<Vec<_>>(),
                vec!["M1", "F1"],
                "mother and father, not the child"
            );
            assert!(p.iter().all(|x| x.1 == InformationStatus::Done as i32));
            assert_eq!(t.confidentiality, vec!["V"]);
        }),
    }]
}

fn s02() -> Vec<Case> {
    let mut r = with_basis(
        base(DocumentKind::Ip),
        LegalBasis::CasfL22621,
        Purpose::IpTransmission,
    );
    set_age(&mut r, 15);
    let wrong = with_targets(
        with_sender(r.clone(), anne_infirmiere_scolaire()),
        vec![to_pro("crip75", crip("75"), "crip@cd75.mssante.test")],
    );
    let teacher = with_targets(
        with_sender(r, teacher()),
        vec![to_pro("crip93", crip("93"), "crip@cd93.mssante.test")],
    );
    vec![
        case(
            "S02a IP to CRIP 75",
            wrong,
            vec![("crip75", false, &["IP_WRONG_DEPARTEMENT"], &["IP-1"])],
        ),
        case(
            "S02b teacher (not secret-bound) → CRIP 93",
            teacher,
            vec![("crip93", true, &[], &["IP-2", "IP-1"])],
        ),
    ]
}

fn s03() -> Vec<Case> {
    let r = with_basis(
        base(DocumentKind::Signalement),
        LegalBasis::CasfL22622,
        Purpose::Decide,
    );
    let r = with_targets(
        with_sender(r, crip_responsable()),
        vec![to_pro(
            "parquet",
            justice(StructureKind::Parquet, "Parquet de Bobigny"),
            "parquet@justice.test",
        )],
    );
    let e = with_basis(
        base(DocumentKind::RapEval),
        LegalBasis::CasfL22622,
        Purpose::Evaluate,
    );
    let e = with_targets(
        with_sender(e, ass_evaluatrice()),
        vec![to_pro(
            "inspecteur",
            paul_inspecteur(),
            "paul.bernard@cd93.mssante.test",
        )],
    );
    vec![
        case(
            "S03a CRIP → parquet, SIGNALEMENT",
            r,
            vec![("parquet", false, &["CH_RECIPIENT_OUT_OF_BAND"], &["CH-4"])],
        ),
        case(
            "S03b ASS evaluator → inspecteur ASE, RAP_EVAL",
            e,
            vec![("inspecteur", true, &[], &["SP-1", "SP-2", "IP-4"])],
        ),
    ]
}

fn s04() -> Vec<Case> {
    let r = with_basis(
        base(DocumentKind::Ppe),
        LegalBasis::CasfL22311,
        Purpose::ImplementProtection,
    );
    let mut r = with_targets(
        with_sender(r, claire_referente()),
        vec![
            to_pro(
                "mecs",
                mecs_mailbox(""),
                "secretariat@mecs-tilleuls.mssante.test",
            ),
            to_dmp("dmp"),
        ],
    );
    r.tenant = "cd93".into();
    let mut n = with_basis(
        base(DocumentKind::LiaisonUrg),
        LegalBasis::CspL11104Ii,
        Purpose::CareContinuity,
    );
    n.documents[0].stated_flags = Some(stated(false, false, false));
    let n = with_targets(with_sender(n, sophie_infirmiere()), vec![to_dmp("dmp")]);
    vec![
        case(
            "S04a ASE → MECS: PPE by MSS, PPE to DMP",
            r,
            vec![
                ("mecs", true, &[], &["HAB-1", "SP-2"]),
                (
                    "dmp",
                    false,
                    &["CH_CHANNEL_NOT_ALLOWED_FOR_KIND"],
                    &["CH-1"],
                ),
            ],
        ),
        Case {
            name: "S04b MECS nurse → DMP, LIAISON_URG stated rep-visible",
            req: n,
            expect: vec![("dmp", true, &[], &["CH-2", "VIS-1", "HAB-1"])],
            check: Some(|d| {
                let t = target(d, "dmp");
                let f = t.dmp_flags.as_ref().expect("dmp flags");
                assert_eq!(f.confidentiality, "N");
                assert!(
                    !f.masque_ps
                        && !f.invisible_patient
                        && !f.invisible_representants_legaux
                        && f.stated
                );
                assert!(!f.required_invisible_representants_legaux);
                assert_eq!(t.representatives, vec!["M1", "F1"]);
                assert_eq!(t.confidentiality, vec!["N"]);
                assert!(t.vihf_confidentiality_code.is_empty());
            }),
        },
    ]
}

fn s05() -> Vec<Case> {
    let a = with_targets(
        base(DocumentKind::CrEduc),
        vec![to_pro(
            "pjj",
            justice(StructureKind::Pjj, "STEMO Bobigny"),
            "stemo@pjj.justice.test",
        )],
    );
    let b = with_basis(
        base(DocumentKind::RapSituation),
        LegalBasis::CasfL2235,
        Purpose::MandatoryReport,
    );
    let b = with_targets(
        b,
        vec![
            to_pro(
                "je",
                justice(StructureKind::Court, "Tribunal pour enfants de Bobigny"),
                "greffe@tj-bobigny.justice.test",
            ),
            to_pro("ase", ase_mailbox(), "ase@cd93.mssante.test"),
        ],
    );
    vec![
        case(
            "S05a MECS → PJJ without MSS, CR_EDUC",
            a,
            vec![("pjj", false, &["CH_RECIPIENT_OUT_OF_BAND"], &["CH-4"])],
        ),
        case(
            "S05b MECS → JE / ASE, RAP_SITUATION",
            b,
            vec![
                ("je", false, &["CH_RECIPIENT_OUT_OF_BAND"], &["CH-4"]),
                ("ase", true, &[], &["SP-2", "HAB-1"]),
            ],
        ),
    ]
}

fn s06() -> Vec<Case> {
    let r = with_targets(
        base(DocumentKind::Dipc),
        vec![
            to_party(
                "mss-mere",
                Channel::Mssante,
                "M1",
                "sandrine.dupont@laposte.test",
            ),
            to_party(
                "mes-mere",
                Channel::Mes,
                "M1",
                "278099306600555@patient.mssante.fr",
            ),
        ],
    );
    vec![case(
        "S06 ESSMS → mother, DIPC, MSS / her MES",
        r,
        vec![
            (
                "mss-mere",
                false,
                &["CH_RECIPIENT_NOT_PROFESSIONAL"],
                &["CH-6"],
            ),
            (
                "mes-mere",
                false,
                &["CH_MES_KIND_NOT_ALLOWED", "CH_RECIPIENT_NOT_PROFESSIONAL"],
                &["CH-3"],
            ),
        ],
    )]
}

fn s07() -> Vec<Case> {
    let colleague = pro(
        "Inès",
        "Morel",
        "10000001114",
        Some(code(R85, "324")),
        SecretBound::ByMission,
        "ines.morel@mecs-tilleuls.mssante.test",
        mecs(),
        &[MissionKind::LieuAccueil],
    );
    let a = with_targets(
        base(DocumentKind::Transmissions),
        vec![to_pro(
            "collegue",
            colleague,
            "ines.morel@mecs-tilleuls.mssante.test",
        )],
    );
    let b = with_targets(
        base(DocumentKind::ProjPerso),
        vec![to_pro(
            "service-b",
            mecs_mailbox("Service d'accueil de jour"),
            "secretariat@mecs-tilleuls.mssante.test",
        )],
    );
    vec![
        case(
            "S07a educator → colleague, TRANSMISSIONS",
            a,
            vec![("collegue", false, &["CH_INTERNAL_ONLY"], &["CH-5"])],
        ),
        case(
            "S07b service A → B, PROJ_PERSO",
            b,
            vec![("service-b", true, &[], &["SP-1", "SP-2", "HAB-1"])],
        ),
    ]
}

fn s08() -> Vec<Case> {
    let r = with_targets(
        base(DocumentKind::FicheNavette),
        vec![
            to_pro("ase", claire_referente(), "claire.martin@cd93.mssante.test"),
            to_pro("prof", teacher(), "pierre.lambert@ac-creteil.mssante.test"),
        ],
    );
    vec![case(
        "S08 educator → ASE référent / teacher, FICHE_NAVETTE",
        r,
        vec![
            ("ase", true, &[], &["SP-2", "HAB-1"]),
            ("prof", false, &["SP_RECIPIENT_NOT_SECRET_BOUND"], &["SP-2"]),
        ],
    )]
}

fn s09() -> Vec<Case> {
    let r = with_basis(
        base(DocumentKind::BilanPsy),
        LegalBasis::CspL11104Ii,
        Purpose::CareCoordination,
    );
    let r = with_targets(
        with_sender(r, sophie_infirmiere()),
        vec![to_pro(
            "cmp",
            marc_pedopsy(),
            "marc.petit@cmp-enfants.mssante.test",
        )],
    );
    vec![Case {
        name: "S09 MECS nurse → CMP pédopsychiatre, BILAN_PSY",
        req: r,
        expect: vec![("cmp", true, &[], &["HD-1", "HD-2", "HAB-1"])],
        check: Some(|d| {
            let t = target(d, "cmp");
            assert_eq!(
                persons(t).iter().map(|x| x.0).collect::<Vec<_>>(),
                vec!["M1", "F1"],
                "AP holders (L.1111-2)"
            );
            assert_eq!(t.confidentiality, vec!["R"]);
        }),
    }]
}

fn s10() -> Vec<Case> {
    let mut r = with_basis(
        base(DocumentKind::BilanPsy),
        LegalBasis::CspL11104Ii,
        Purpose::CareContinuity,
    );
    child_mut(&mut r).alleged_author_party_ids = vec!["F1".into()];
    r.documents[0].stated_flags = Some(stated(false, false, false));
    let r = with_targets(with_sender(r, julie_psychologue()), vec![to_dmp("dmp")]);
    vec![Case {
        name: "S10 psychologue → DMP, father alleged author, stated rep-visible",
        req: r,
        expect: vec![(
            "dmp",
            false,
            &["VIS_FLAG_TOO_PERMISSIVE"],
            &["VIS-4", "REP-2"],
        )],
        check: Some(|d| {
            let t = target(d, "dmp");
            assert!(
                t.dmp_flags
                    .as_ref()
                    .is_some_and(|f| f.required_invisible_representants_legaux)
            );
            let father = t
                .persons_to_inform
                .iter()
                .find(|p| p.party_id == "F1")
                .expect("father listed");
            assert!(
                father.hint.contains("INF-4"),
                "waiver hint for the alleged author"
            );
        }),
    }]
}

fn adult(years: i32) -> SubmitRequest {
    let mut r = base(DocumentKind::CrEduc);
    set_age(&mut r, years);
    child_mut(&mut r).measures = vec![Measure {
        kind: MeasureKind::JeuneMajeur as i32,
        from: born_years_ago(years - 18),
        to: String::new(),
        decision_ref: "CJM-2025-12".into(),
    }];
    child_mut(&mut r).ap_timeline[0].to = format!("{}-06-13", 2026 - years + 18);
    r
}

fn consent(r: &mut SubmitRequest) {
    legal_mut(r).consents.push(Consent {
        id: "CONS-1".into(),
        party_id: "C1".into(),
        scope: "projet pour l'autonomie".into(),
        at: Some(ts("2026-10-15T10:00:00Z")),
        collected_by: "Claire Martin".into(),
        withdrawn_at: None,
    });
}

fn s11() -> Vec<Case> {
    let mut r = with_basis(adult(19), LegalBasis::AdultConsent, Purpose::FileAccess);
    consent(&mut r);
    let r = with_targets(r, vec![to_mes("mes")]);
    vec![case(
        "S11 young adult 19, CR_EDUC to his MES",
        r,
        vec![("mes", false, &["CH_MES_KIND_NOT_ALLOWED"], &["CH-3"])],
    )]
}

fn s12() -> Vec<Case> {
    let mut a = with_basis(
        base(DocumentKind::ProjPerso),
        LegalBasis::CasfL22622,
        Purpose::Orientation,
    );
    a.documents.push(doc("d2", DocumentKind::LiaisonSortie));
    let a = with_targets(
        with_sender(a, luc_directeur()),
        vec![to_pro(
            "ime",
            ime_mailbox(),
            "accueil@ime-horizon.mssante.test",
        )],
    );
    let mut b = with_basis(
        base(DocumentKind::BilanPsy),
        LegalBasis::CspL11104Ii,
        Purpose::CareContinuity,
    );
    b.documents[0].stated_flags = Some(stated(false, false, false));
    let b = with_targets(with_sender(b, julie_psychologue()), vec![to_dmp("dmp")]);
    vec![
        Case {
            name: "S12a MECS → IME: PROJ_PERSO, LIAISON_SORTIE",
            req: a,
            expect: vec![("ime", true, &[], &["HAB-1", "SP-2"])],
            check: Some(|d| {
                assert_eq!(d.targets.len(), 2);
                assert!(
                    d.targets
                        .iter()
                        .all(|t| t.outcome == Outcome::Allowed as i32)
                );
            }),
        },
        case(
            "S12b psychologue → DMP, BILAN_PSY, no risk tag, flags false",
            b,
            vec![("dmp", true, &[], &["HAB-1", "CH-2", "VIS-1"])],
        ),
    ]
}

fn s13() -> Vec<Case> {
    let mut r = with_basis(
        base(DocumentKind::CrMedical),
        LegalBasis::CspL11104Ii,
        Purpose::CareContinuity,
    );
    let c = child_mut(&mut r);
    c.placement_address_secret = true;
    c.measures = vec![Measure {
        kind: MeasureKind::PlacementJudiciaire as i32,
        from: "2025-03-01".into(),
        to: String::new(),
        decision_ref: "OPP-2025-118".into(),
    }];
    r.documents[0].tags = vec![DocumentTag::RevealsPlacementAddress as i32];
    r.documents[0].stated_flags = Some(StatedFlags {
        reveals_placement_address: Some(true),
        ..stated(false, false, false)
    });
    let r = with_targets(with_sender(r, sophie_infirmiere()), vec![to_dmp("dmp")]);
    vec![Case {
        name: "S13 judicial placement, address secret, CR_MEDICAL to DMP rep-visible",
        req: r,
        expect: vec![("dmp", false, &["VIS_FLAG_TOO_PERMISSIVE"], &["VIS-4"])],
        check: Some(|d| {
            assert_eq!(
                target(d, "dmp").representatives,
                vec!["M1", "F1"],
                "placement keeps AP with the parents"
            )
        }),
    }]
}

fn retrait(r: &mut SubmitRequest) {
    let c = child_mut(r);
    let birth = c.birth_date.clone();
    c.ap_timeline = vec![
        ApPeriod {
            to: days_before_as_of(31),
            ..conjoint_from(&birth)
        },
        ApPeriod {
            from: days_before_as_of(30),
            regime: ApRegime::RetraitTotal as i32,
            holders: vec![ApHolder {
                party_id: "M1".into(),
                attributes: ApAttributes::All as i32,
            }],
            decision_ref: "JAF-2026-0412".into(),
            decision_date: days_before_as_of(30),
            withdrawn_party_id: "F1".into(),
            ..Default::default()
        },
    ];
    legal_mut(r).information.retain(|i| i.party_id != "F1");
}

fn s14() -> Vec<Case> {
    let mut a = with_basis(
        base(DocumentKind::Ppe),
        LegalBasis::CasfL22311,
        Purpose::ImplementProtection,
    );
    retrait(&mut a);
    let a = with_targets(
        with_sender(a, claire_referente()),
        vec![to_pro(
            "mecs",
            mecs_mailbox(""),
            "secretariat@mecs-tilleuls.mssante.test",
        )],
    );
    let mut b = with_basis(
        base(DocumentKind::LiaisonUrg),
        LegalBasis::CspL11104Ii,
        Purpose::CareContinuity,
    );
    retrait(&mut b);
    b.documents[0].stated_flags = Some(stated(false, false, false));
    let b = with_targets(with_sender(b, sophie_infirmiere()), vec![to_dmp("dmp")]);
    vec![
        Case {
            name: "S14a retrait (father) 30 days ago, PPE to MECS, no father record",
            req: a,
            expect: vec![(
                "mecs",
                false,
                &["INF_PRIOR_INFORMATION_MISSING:father"],
                &["INF-2", "REP-3"],
            )],
            check: Some(|d| {
                let t = target(d, "mecs");
                assert_eq!(
                    t.representatives,
                    vec!["M1"],
                    "the withdrawn father is no longer a representative"
                );
                let f = t
                    .persons_to_inform
                    .iter()
                    .find(|p| p.party_id == "F1")
                    .expect("withdrawn parent stays listed");
                assert_eq!(f.status, InformationStatus::Missing as i32);
                assert!(!f.hint.is_empty());
            }),
        },
        case(
            "S14b same child, DMP deposit rep-visible",
            b,
            vec![(
                "dmp",
                false,
                &["VIS_FLAG_TOO_PERMISSIVE"],
                &["REP-3", "VIS-4"],
            )],
        ),
    ]
}

fn s15() -> Vec<Case> {
    let mut r = with_basis(
        base(DocumentKind::Ppe),
        LegalBasis::CasfL22311,
        Purpose::ImplementProtection,
    );
    let c = child_mut(&mut r);
    c.parties
        .push(party("T1", PartyRole::Tuteur, "Préfet (tuteur)"));
    c.ap_timeline = vec![ApPeriod {
        from: born_years_ago(10),
        regime: ApRegime::Pupille as i32,
        holders: vec![ApHolder {
            party_id: "T1".into(),
            attributes: ApAttributes::All as i32,
        }],
        decision_ref: "ARR-PUP-2017-03".into(),
        decision_date: "2017-01-10".into(),
        ..Default::default()
    }];
    legal_mut(&mut r).information = vec![done("T1"), done("C1")];
    let r = with_targets(
        with_sender(r, claire_referente()),
        vec![to_pro(
            "lieu",
            mecs_mailbox(""),
            "secretariat@mecs-tilleuls.mssante.test",
        )],
    );
    vec![Case {
        name: "S15 PUPILLE, PPE to lieu d'accueil, tuteur informed",
        req: r,
        expect: vec![("lieu", true, &[], &["INF-1", "REP-1"])],
        check: Some(|d| {
            let t = target(d, "lieu");
            assert_eq!(t.representatives, vec!["T1"]);
            let ids: Vec<&str> = t
                .persons_to_inform
                .iter()
                .map(|p| p.party_id.as_str())
                .collect();
            assert_eq!(
                ids,
                vec!["T1", "C1"],
                "parents are not listed for a pupille"
            );
        }),
    }]
}

fn s16() -> Vec<Case> {
    let mut r = with_basis(
        base(DocumentKind::BilanSanteEntree),
        LegalBasis::CspL11104Ii,
        Purpose::CareContinuity,
    );
    set_age(&mut r, 16);
    child_mut(&mut r).autonomisation = Autonomisation::Accepted as i32;
    r.documents[0].stated_flags = Some(stated(false, false, false));
    let r = with_targets(
        with_sender(r, medecin_mecs()),
        vec![
            to_dmp("dmp"),
            to_pro("cmp", marc_pedopsy(), "marc.petit@cmp-enfants.mssante.test"),
        ],
    );
    vec![case(
        "S16 16, autonomisation accepted: BILAN_SANTE_ENTREE DMP + MSS",
        r,
        vec![
            ("dmp", false, &["CH_DMP_UNAVAILABLE"], &["REP-1"]),
            ("cmp", true, &[], &["HD-2"]),
        ],
    )]
}

fn s17() -> Vec<Case> {
    let mut r = with_basis(
        base(DocumentKind::LiaisonUrg),
        LegalBasis::CspL11104Ii,
        Purpose::CareContinuity,
    );
    set_age(&mut r, 16);
    let c = child_mut(&mut r);
    c.parties = vec![
        party("C1", PartyRole::Child, "Amadou"),
        party("A1", PartyRole::Ase, "ASE 93"),
    ];
    c.ap_timeline = vec![ApPeriod {
        from: "2025-01-15".into(),
        regime: ApRegime::NonePresent as i32,
        ..Default::default()
    }];
    c.autonomisation = Autonomisation::Refused as i32;
    legal_mut(&mut r).information = vec![done("C1")];
    r.documents[0].stated_flags = Some(stated(false, false, false));
    let r = with_targets(with_sender(r, sophie_infirmiere()), vec![to_dmp("dmp")]);
    vec![Case {
        name: "S17 MNA 16, NONE_PRESENT, autonomisation refused, LIAISON_URG DMP",
        req: r,
        expect: vec![("dmp", true, &[], &["REP-1", "CH-2"])],
        check: Some(|d| {
            let t = target(d, "dmp");
            assert_eq!(t.representatives, vec!["A1"], "ASE represents");
            assert_eq!(
                persons(t),
                vec![("C1", InformationStatus::Done as i32)],
                "inform the child"
            );
        }),
    }]
}

fn s18() -> Vec<Case> {
    let mut r = with_basis(
        base(DocumentKind::CrMedical),
        LegalBasis::CspL11104Ii,
        Purpose::CareContinuity,
    );
    set_age(&mut r, 15);
    let doctor = medecin_mecs();
    child_mut(&mut r).minor_secrecy = vec![MinorSecrecy {
        id: "MS-1".into(),
        basis: MinorSecrecyBasis::L22127 as i32,
        recorded_by: doctor.person.clone(),
        at: Some(ts("2026-11-02T14:00:00Z")),
    }];
    r.documents[0].minor_secrecy_ref = "MS-1".into();
    r.documents[0].tags = vec![DocumentTag::SexualReproductiveHealth as i32];
    r.documents[0].stated_flags = Some(stated(false, false, false));
    let r = with_targets(
        with_sender(r, doctor),
        vec![
            to_dmp("dmp"),
            to_party(
                "mere",
                Channel::Mssante,
                "M1",
                "sandrine.dupont@laposte.test",
            ),
            to_mes("mes"),
        ],
    );
    vec![Case {
        name: "S18 girl 15, L.2212-7 secrecy: DMP rep-visible, MSS to mother, her MES",
        req: r,
        expect: vec![
            ("dmp", false, &["VIS_FLAG_TOO_PERMISSIVE"], &["MS-2"]),
            ("mere", false, &["MS_SECRET_FROM_AP_HOLDERS"], &["MS-1"]),
            ("mes", false, &["CH_MES_MINOR_DENIED"], &["CH-3"]),
        ],
        check: Some(|d| {
            assert_eq!(d.outcome, Outcome::Denied as i32);
            assert!(!d.accepted);
            // AP holders leave the persons to inform (MS-2).
            for t in &d.targets {
                assert!(
                    t.persons_to_inform.iter().all(|p| p.party_id == "C1"),
                    "{t:?}"
                );
            }
        }),
    }]
}

fn s19() -> Vec<Case> {
    let mk = |flags: StatedFlags| {
        let mut r = with_basis(
            base(DocumentKind::BilanPsy),
            LegalBasis::CspL11104Ii,
            Purpose::CareContinuity,
        );
        set_age(&mut r, 15);
        child_mut(&mut r).dmp_secret_connection = Some(SecretConnection {
            set_by: medecin_mecs().person,
            at: Some(ts("2026-09-10T10:00:00Z")),
        });
        r.documents[0].stated_flags = Some(flags);
        with_targets(with_sender(r, julie_psychologue()), vec![to_dmp("dmp")])
    };
    let both = StatedFlags {
        invisible_patient_reason: "protection du patient".into(),
        invisible_patient_decided_by: medecin_mecs().person,
        masque_ps_request_ref: "DEM-2026-77".into(),
        ..stated(true, true, true)
    };
    vec![
        case(
            "S19a secret connection, BILAN_PSY rep-visible",
            mk(stated(false, false, false)),
            vec![(
                "dmp",
                false,
                &["VIS_SECRET_CONNECTION_REQUIRES_INVISIBLE_REP"],
                &["VIS-3"],
            )],
        ),
        Case {
            name: "S19b secret connection, MASQUE_PS + INVISIBLE_PATIENT",
            req: mk(both),
            expect: vec![("dmp", false, &["VIS_FLAG_CONFLICT"], &["VIS-2"])],
            check: Some(|d| {
                assert_eq!(
                    target(d, "dmp").vihf_confidentiality_code,
                    "INVISIBLE_REPRESENTANTS_LEGAUX"
                )
            }),
        },
    ]
}

fn s20() -> Vec<Case> {
    let mk = |years: i32| {
        let mut r = adult(years);
        r.documents = vec![doc("d1", DocumentKind::Ppe)];
        with_targets(
            with_basis(r, LegalBasis::AdultConsent, Purpose::ImplementProtection),
            vec![to_pro(
                "ase",
                claire_referente(),
                "claire.martin@cd93.mssante.test",
            )],
        )
    };
    let no_consent = mk(19);
    let mut with_consent = mk(19);
    consent(&mut with_consent);
    let mut ended = mk(21);
    child_mut(&mut ended).birth_date = "2005-09-25".into();
    child_mut(&mut ended).ap_timeline[0].from = "2005-09-25".into();
    child_mut(&mut ended).ap_timeline[0].to = "2023-09-24".into();
    child_mut(&mut ended).measures[0].to = "2026-09-24".into();
    consent(&mut ended);
    vec![
        case(
            "S20a jeune majeur 19, PPE, no consent",
            no_consent,
            vec![("ase", false, &["AGE_ADULT_CONSENT_MISSING"], &["AGE-2"])],
        ),
        Case {
            name: "S20b jeune majeur 19, PPE, consent",
            req: with_consent,
            expect: vec![("ase", true, &[], &["AGE-2", "AGE-3"])],
            check: Some(|d| {
                let t = target(d, "ase");
                assert!(t.representatives.is_empty());
                assert_eq!(
                    persons(t).iter().map(|p| p.0).collect::<Vec<_>>(),
                    vec!["C1"],
                    "parents not listed"
                );
            }),
        },
        case(
            "S20c 21 y 2 m, jeune-majeur measure ended",
            ended,
            vec![("ase", false, &["AGE_PE_ENDED"], &["AGE-3"])],
        ),
    ]
}

fn s21() -> Vec<Case> {
    let mk = |info: Vec<InformationRecord>| {
        let mut r = with_targets(
            base(DocumentKind::FicheNavette),
            vec![to_pro(
                "ase",
                claire_referente(),
                "claire.martin@cd93.mssante.test",
            )],
        );
        child_mut(&mut r).alleged_author_party_ids = vec!["F1".into()];
        legal_mut(&mut r).information = info;
        r
    };
    let reason = "Le père est mis en cause dans les faits : l'informer exposerait l'enfant.";
    vec![
        case(
            "S21a mother no record",
            mk(vec![done("F1"), done("C1")]),
            vec![(
                "ase",
                false,
                &["INF_PRIOR_INFORMATION_MISSING:mother"],
                &["INF-2"],
            )],
        ),
        Case {
            name: "S21b father waived by the inspecteur ASE",
            req: mk(vec![
                done("M1"),
                waived("F1", &paul_inspecteur(), MissionKind::InspecteurAse, reason),
                done("C1"),
            ]),
            expect: vec![("ase", true, &[], &["INF-3", "INF-4"])],
            check: Some(|d| {
                let f = target(d, "ase")
                    .persons_to_inform
                    .iter()
                    .find(|p| p.party_id == "F1")
                    .cloned()
                    .expect("father");
                assert_eq!(f.status, InformationStatus::Waived as i32);
                assert!(
                    f.decided_by.contains("Paul Bernard"),
                    "decider shown: {}",
                    f.decided_by
                );
                assert_eq!(f.record_id, "WAIV-F1");
            }),
        },
        case(
            "S21c father waived by an educator",
            mk(vec![
                done("M1"),
                waived("F1", &karim_educateur(), MissionKind::LieuAccueil, reason),
                done("C1"),
            ]),
            vec![(
                "ase",
                false,
                &["INF_WAIVER_AUTHORITY_INSUFFICIENT"],
                &["INF-3"],
            )],
        ),
    ]
}

fn s22() -> Vec<Case> {
    let mk = |sigs: Vec<DocumentSignature>| {
        let mut r = with_targets(
            with_sender(base(DocumentKind::AutorisSoins), claire_referente()),
            vec![to_pro(
                "inf",
                sophie_infirmiere(),
                "sophie.leroy@mecs-tilleuls.mssante.test",
            )],
        );
        r.documents[0].act_kind = ActKind::NonUsuel as i32;
        r.documents[0].content = Some(document::Content::AutorisationSoins(
            AutorisationSoinsContent {
                act: "Extraction des dents de sagesse sous anesthésie générale".into(),
                act_kind: ActKind::NonUsuel as i32,
                ..Default::default()
            },
        ));
        r.documents[0].signatures = sigs;
        r
    };
    let sig = |p: &str, cap: SignerCapacity, valid_to: &str| DocumentSignature {
        party_id: p.into(),
        capacity: cap as i32,
        je_valid_to: valid_to.into(),
        signed_at: Some(ts("2026-11-10T10:00:00Z")),
    };
    vec![
        case(
            "S22a non usuel signed by the mother only (CONJOINT)",
            mk(vec![sig("M1", SignerCapacity::ApHolder, "")]),
            vec![("inf", false, &["AUT_SIGNER_NOT_COMPETENT"], &["AUT-2"])],
        ),
        case(
            "S22b JE authorisation expired",
            mk(vec![sig("", SignerCapacity::JeAuthorisation, "2026-10-31")]),
            vec![("inf", false, &["AUT_JE_AUTHORISATION_EXPIRED"], &["AUT-2"])],
        ),
        case(
            "S22c (control) non usuel signed by both parents",
            mk(vec![
                sig("M1", SignerCapacity::ApHolder, ""),
                sig("F1", SignerCapacity::ApHolder, ""),
            ]),
            vec![("inf", true, &[], &["AUT-1", "AUT-2", "AUT-3"])],
        ),
    ]
}

pub fn all_cases() -> Vec<(&'static str, SubmitRequest)> {
    table().into_iter().map(|c| (c.name, c.req)).collect()
}

fn table() -> Vec<Case> {
    [
        s01(),
        s02(),
        s03(),
        s04(),
        s05(),
        s06(),
        s07(),
        s08(),
        s09(),
        s10(),
        s11(),
        s12(),
        s13(),
        s14(),
        s15(),
        s16(),
        s17(),
        s18(),
        s19(),
        s20(),
        s21(),
        s22(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[test]
fn scenario_table_s01_s22() {
    let engine = engine();
    let mut failures = Vec::new();
    let cases = table();
    assert!(cases.len() >= 22);
    for c in &cases {
        let d = match engine.evaluate(&c.req, AS_OF, false, "dec-1") {
            Ok(d) => d,
            Err(e) => {
                failures.push(format!("{}: error {e}", c.name));
                continue;
            }
        };
        let expected_ids: std::collections::BTreeSet<&str> = c.expect.iter().map(|e| e.0).collect();
        let got_ids: std::collections::BTreeSet<&str> =
            d.targets.iter().map(|t| t.target_id.as_str()).collect();
        if expected_ids != got_ids {
            failures.push(format!(
                "{}: targets {got_ids:?} != {expected_ids:?}",
                c.name
            ));
        }
        for (tid, allowed, want_codes, want_rules) in &c.expect {
            for t in d.targets.iter().filter(|t| t.target_id == *tid) {
                let is_allowed = t.outcome == Outcome::Allowed as i32;
                let got = codes(t);
                let rules = rule_ids(t);
                if is_allowed != *allowed {
                    failures.push(format!(
                        "{} / {tid} ({}): allowed={is_allowed}, want {allowed}; denials {got:?}",
                        c.name, t.document_id
                    ));
                }
                if *allowed && !t.denials.is_empty() {
                    failures.push(format!("{} / {tid}: allowed with denials {got:?}", c.name));
                }
                if !*allowed && t.denials.is_empty() {
                    failures.push(format!("{} / {tid}: denied without a reason", c.name));
                }
                for w in *want_codes {
                    if !got.contains(w) {
                        failures.push(format!("{} / {tid}: missing code {w}; got {got:?}", c.name));
                    }
                }
                for w in *want_rules {
                    if !rules.contains(w) {
                        failures.push(format!(
                            "{} / {tid}: missing rule {w}; got {rules:?}",
                            c.name
                        ));
                    }
                }
                let ex = t.explanation.as_ref().expect("explanation");
                assert!(!ex.fr.is_empty() && !ex.en.is_empty());
                for den in &t.denials {
                    assert!(
                        !den.rule.is_empty()
                            && !den.message_fr.is_empty()
                            && !den.message_en.is_empty(),
                        "{den:?}"
                    );
                }
            }
        }
        if failures.is_empty()
            && let Some(check) = c.check
        {
            check(&d);
        }
        // Decision-level invariants.
        let all = d
            .targets
            .iter()
            .all(|t| t.outcome == Outcome::Allowed as i32);
        let none = d
            .targets
            .iter()
            .all(|t| t.outcome != Outcome::Allowed as i32);
        let want = if all {
            Outcome::Allowed
        } else if none {
            Outcome::Denied
        } else {
            Outcome::PartiallyAllowed
        };
        assert_eq!(d.outcome, want as i32, "{}", c.name);
        assert_eq!(
            d.accepted, all,
            "{} (allow_partial is false in the table)",
            c.name
        );
        let p = d.policy.as_ref().expect("policy version");
        assert_eq!(p.matrix_version, "1.0.0");
        assert_eq!(p.matrix_sha256.len(), 64);
        assert_eq!(d.input_sha256.len(), 64);
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Debug helper: `DUMP=S14 cargo test -p passerelle-policy --test policy debug_dump -- --ignored --nocapture`.
#[test]
#[ignore = "debug helper: prints decisions"]
fn debug_dump() {
    let engine = engine();
    for c in table() {
        if std::env::var("DUMP").is_ok_and(|v| c.name.starts_with(&v)) {
            let d = engine
                .evaluate(&c.req, AS_OF, false, "dec-1")
                .expect("test");
            println!(
                "== {}\n{}",
                c.name,
                serde_json::to_string_pretty(&d).expect("test")
            );
        }
    }
}
