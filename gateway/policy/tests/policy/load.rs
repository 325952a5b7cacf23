//! Load-time validation (matrix, overlays, configuration) and request validation (field paths).
use passerelle_api::v1::*;
use passerelle_policy::{
    Engine, PolicyBundle, PolicyConfig, PolicyEngine, PolicyError, input_sha256,
};
use prost::Message;

use crate::fixtures::*;

fn violations(req: &SubmitRequest) -> Vec<(String, String)> {
    match engine().evaluate(req, AS_OF, false, "v") {
        Err(PolicyError::InvalidInput(v)) => v.into_iter().map(|f| (f.field, f.reason)).collect(),
        other => panic!("expected invalid input, got {other:?}"),
    }
}

fn has(v: &[(String, String)], field: &str) -> bool {
    v.iter().any(|(f, _)| f == field)
}

fn ok_request() -> SubmitRequest {
    with_targets(
        base(DocumentKind::FicheNavette),
        vec![to_pro(
            "ase",
            claire_referente(),
            "claire.martin@cd93.mssante.test",
        )],
    )
}

#[test]
fn the_reference_request_is_valid_and_allowed() {
    let d = engine()
        .evaluate(&ok_request(), AS_OF, false, "v")
        .expect("valid");
    assert!(d.accepted, "{d:?}");
}

#[test]
fn bad_input_names_each_field() {
    let mut r = ok_request();
    legal_mut(&mut r).purpose = 0;
    assert!(has(&violations(&r), "legal.purpose"));

    let mut r = ok_request();
    r.legal = None;
    assert!(has(&violations(&r), "legal"));

    let mut r = ok_request();
    legal_mut(&mut r).information.push(InformationRecord {
        id: "X".into(),
        party_id: "M1".into(),
        status: None,
    });
    assert!(has(&violations(&r), "legal.information[3]"));

    let mut r = ok_request();
    legal_mut(&mut r).information[0].party_id = "NOBODY".into();
    assert!(has(&violations(&r), "legal.information[0].partyId"));

    let mut r = ok_request();
    if let Some(a) = r.sender.as_mut().and_then(|s| s.actor.as_mut())
        && let Some(p) = a.person.as_mut()
    {
        p.professions[0].code = "999".into();
    }
    let v = violations(&r);
    assert!(has(&v, "sender.actor.person.professions[0].code"), "{v:?}");

    let mut r = ok_request();
    if let Some(target::Recipient::Professional(a)) = r.targets[0].recipient.as_mut()
        && let Some(p) = a.person.as_mut()
    {
        p.professions[0].system = "1.2.3".into();
    }
    assert!(has(
        &violations(&r),
        "targets[0].professional.person.professions[0].system"
    ));

    let mut r = ok_request();
    child_mut(&mut r).birth_date = "2027-01-01".into();
    let v = violations(&r);
    assert!(
        v.iter()
            .any(|(f, reason)| f == "child.birthDate" && reason.contains("future")),
        "{v:?}"
    );

    // Overlapping and contradictory parental-authority periods.
    let mut r = ok_request();
    let birth = child_mut(&mut r).birth_date.clone();
    child_mut(&mut r).ap_timeline.push(ApPeriod {
        from: "2024-01-01".into(),
        regime: ApRegime::Unilateral as i32,
        holders: vec![ApHolder {
            party_id: "M1".into(),
            attributes: ApAttributes::All as i32,
        }],
        ..Default::default()
    });
    let v = violations(&r);
    assert!(
        v.iter()
            .any(|(f, reason)| f == "child.apTimeline[1].from" && reason.contains("overlaps")),
        "{v:?}"
    );
    let mut r = ok_request();
    child_mut(&mut r).ap_timeline = vec![ApPeriod {
        from: birth.clone(),
        regime: ApRegime::RetraitTotal as i32,
        holders: vec![ApHolder {
            party_id: "F1".into(),
            attributes: ApAttributes::All as i32,
        }],
        withdrawn_party_id: "F1".into(),
        ..Default::default()
    }];
    assert!(has(&violations(&r), "child.apTimeline[0].withdrawnPartyId"));
    let mut r = ok_request();
    child_mut(&mut r).ap_timeline = vec![ApPeriod {
        from: birth,
        regime: ApRegime::Adult as i32,
        ..Default::default()
    }];
    assert!(has(&violations(&r), "child.apTimeline[0].regime"));

    let mut r = ok_request();
    r.targets.push(r.targets[0].clone());
    r.targets[1].document_ids = vec!["nope".into()];
    let v = violations(&r);
    assert!(
        has(&v, "targets[1].id") && has(&v, "targets[1].documentIds[0]"),
        "{v:?}"
    );

    let mut r = ok_request();
    r.documents[0].kind = 0;
    assert!(has(&violations(&r), "documents[0].kind"));

    let mut r = ok_request();
    r.documents[0].sensitivity = Sensitivity::Low as i32;
    assert!(has(&violations(&r), "documents[0].sensitivity"));

    let mut r = ok_request();
    legal_mut(&mut r).overrides.push(Override {
        rule_id: "GEN-1".into(),
        reason: "x".into(),
        decided_by: paul_inspecteur().person,
        at: Some(ts("2026-11-01T00:00:00Z")),
    });
    assert!(has(&violations(&r), "legal.overrides[0].ruleId"));
}

#[test]
fn a_gap_in_the_parental_authority_timeline_denies_everything() {
    let mut r = ok_request();
    child_mut(&mut r).ap_timeline[0].to = "2020-01-01".into();
    let d = engine()
        .evaluate(&r, AS_OF, false, "v")
        .expect("a decision, not an error");
    assert_eq!(d.outcome, Outcome::Denied as i32);
    assert!(
        d.targets[0]
            .denials
            .iter()
            .any(|x| x.code == "AP_STATE_UNKNOWN" && x.rule == "GEN-2")
    );
}

#[test]
fn missing_information_is_a_denial_naming_the_person() {
    let mut r = ok_request();
    legal_mut(&mut r).information.retain(|i| i.party_id != "F1");
    let d = engine().evaluate(&r, AS_OF, false, "v").expect("decision");
    assert!(!d.accepted);
    assert_eq!(
        codes(&d.targets[0]),
        vec!["INF_PRIOR_INFORMATION_MISSING:father"]
    );
    // Information dated after as_of is not prior; older than info_validity_days is stale.
    let mut r = ok_request();
    if let Some(information_record::Status::Done(x)) =
        legal_mut(&mut r).information[1].status.as_mut()
    {
        x.at = Some(ts("2026-11-26T09:00:00Z"));
    }
    let d = engine().evaluate(&r, AS_OF, false, "v").expect("decision");
    assert_eq!(codes(&d.targets[0]), vec!["INF_INFORMATION_NOT_PRIOR"]);
    let mut r = ok_request();
    if let Some(information_record::Status::Done(x)) =
        legal_mut(&mut r).information[1].status.as_mut()
    {
        x.at = Some(ts("2026-04-01T09:00:00Z"));
    }
    let d = engine().evaluate(&r, AS_OF, false, "v").expect("decision");
    assert_eq!(
        codes(&d.targets[0]),
        vec!["INF_PRIOR_INFORMATION_MISSING:father"]
    );
}

#[test]
fn legacy_r94_and_r85_codes_are_equivalent() {
    let mut r = ok_request();
    if let Some(target::Recipient::Professional(a)) = r.targets[0].recipient.as_mut()
        && let Some(p) = a.person.as_mut()
    {
        p.professions = vec![code(R94, "51")];
    }
    let legacy = engine().evaluate(&r, AS_OF, false, "v").expect("decision");
    let modern = engine()
        .evaluate(&ok_request(), AS_OF, false, "v")
        .expect("decision");
    assert!(legacy.accepted && modern.accepted);
    assert_eq!(rule_ids(&legacy.targets[0]), rule_ids(&modern.targets[0]));
    // An R85 role with no row in the matrix: HAB-2.
    if let Some(target::Recipient::Professional(a)) = r.targets[0].recipient.as_mut()
        && let Some(p) = a.person.as_mut()
    {
        p.professions = vec![code(R85, "301")];
    }
    let d = engine().evaluate(&r, AS_OF, false, "v").expect("decision");
    assert!(codes(&d.targets[0]).contains(&"HAB_UNKNOWN_PROFESSION_CODE"));
}

#[test]
fn trust_space_and_patient_addresses() {
    let mut r = ok_request();
    r.targets[0].mss_address = "claire.martin@cd93.mssante.fr".into();
    if let Some(target::Recipient::Professional(a)) = r.targets[0].recipient.as_mut()
        && let Some(p) = a.person.as_mut()
    {
        p.mss[0].address = "claire.martin@cd93.mssante.fr".into();
    }
    let d = engine().evaluate(&r, AS_OF, false, "v").expect("decision");
    assert_eq!(
        codes(&d.targets[0]),
        vec!["recipient_domain_not_in_trust_space"]
    );
    assert_eq!(d.targets[0].denials[0].rule, "CH-6");
    // A patient address on the MSSANTE channel is treated as the child's MES: never a social document.
    let mut r = ok_request();
    r.targets[0].mss_address = format!("{MATRICULE}@patient.mssante.fr");
    let d = engine().evaluate(&r, AS_OF, false, "v").expect("decision");
    assert_eq!(d.targets[0].channel, Channel::Mes as i32);
    assert!(codes(&d.targets[0]).contains(&"CH_MES_KIND_NOT_ALLOWED"));
}

#[test]
fn ages_use_the_paris_date_of_as_of() {
    // Born 2008-11-26: 18 from 2026-11-26 Paris time, i.e. from 2026-11-25T23:00Z.
    let mut r = with_basis(
        ok_request(),
        LegalBasis::CasfL22622,
        Purpose::ImplementProtection,
    );
    child_mut(&mut r).birth_date = "2008-11-26".into();
    child_mut(&mut r).ap_timeline[0].from = "2008-11-26".into();
    let before = engine()
        .evaluate(
            &r,
            time::macros::datetime!(2026-11-25 22:59 UTC),
            false,
            "v",
        )
        .expect("decision");
    let after = engine()
        .evaluate(
            &r,
            time::macros::datetime!(2026-11-25 23:00 UTC),
            false,
            "v",
        )
        .expect("decision");
    assert!(before.accepted);
    assert!(
        codes(&after.targets[0]).contains(&"AGE_BASIS_MINORS_ONLY"),
        "{:?}",
        codes(&after.targets[0])
    );
}

#[test]
fn input_hash_ignores_idempotency_key_and_matches_prost() {
    let r = ok_request();
    let mut cleared = r.clone();
    cleared.idempotency_key.clear();
    cleared.expected_input_sha256.clear();
    cleared.request_id.clear();
    let expected = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(cleared.encode_to_vec()))
    };
    assert_eq!(input_sha256(&r), expected);
    let mut other = r.clone();
    other.idempotency_key = "another".into();
    other.expected_input_sha256 = "00".into();
    other.request_id = "another correlation id".into();
    assert_eq!(input_sha256(&other), input_sha256(&r));
    let mut changed = r.clone();
    changed.tenant = "cd93".into();
    assert_ne!(input_sha256(&changed), input_sha256(&r));
    // A stale preview hash is reported.
    let d = engine()
        .evaluate(&other, AS_OF, false, "v")
        .expect("decision");
    assert_eq!(d.warnings, vec!["DECISION_CHANGED_SINCE_PREVIEW"]);
}

#[test]
fn load_errors_happen_at_start() {
    let mut cfg = PolicyConfig::sandbox();
    cfg.mss_trust_domains.clear();
    assert!(matches!(
        Engine::with_defaults(cfg),
        Err(PolicyError::Config { .. })
    ));
    let bad_matrix = PolicyBundle {
        matrix: "[meta]\nversion = \"1\"\n".into(),
        ..PolicyBundle::with_default_matrix(PolicyConfig::sandbox())
    };
    assert!(matches!(
        Engine::new(bad_matrix),
        Err(PolicyError::Matrix { .. })
    ));
    let overlay = "[meta]\nid = \"x\"\nversion = \"1\"\napproved_by = \"DPO\"\nvalid_from = \"2026-01-01\"\n[scope]\ntenant = \"cd93\"\n[[remove]]\nrow = \"crip\"\nmss = [\"PSY\"]\n";
    let bundle = PolicyBundle {
        overlays: vec![overlay.into()],
        ..PolicyBundle::with_default_matrix(PolicyConfig::sandbox())
    };
    match Engine::new(bundle) {
        Err(e @ PolicyError::Overlay { .. }) => {
            assert!(e.to_string().contains("does not grant"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    let e = engine();
    assert_eq!(e.matrix_version(), "1.0.0");
    assert_eq!(e.matrix_sha256().len(), 64);
}

#[test]
fn parental_authority_resolver() {
    let e = engine();
    let mut r = ok_request();
    let pa = e
        .parental_authority(r.child.as_ref().expect("child"), AS_OF)
        .expect("resolves");
    assert_eq!(pa.age, 10);
    assert_eq!(pa.regime, ApRegime::Conjoint);
    assert_eq!(pa.representatives, vec!["M1", "F1"]);
    assert_eq!(pa.non_usuel_signers, vec!["M1", "F1"]);
    assert_eq!(pa.inform_casf_l226_2_2, vec!["M1", "F1", "C1"]);
    assert_eq!(pa.inform_casf_l226_2_1, vec!["M1", "F1"]);
    assert_eq!(pa.inform_health, vec!["M1", "F1"]);
    assert!(!pa.representatives_unsafe && !pa.ap_state_unknown);
    // Retrait of the father 30 days ago: father still informed (CASF), no longer holder nor
    // representative, representatives unsafe during the CNAM grace period (REP-3).
    let birth = child_mut(&mut r).birth_date.clone();
    child_mut(&mut r).ap_timeline = vec![
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
            decision_date: days_before_as_of(30),
            withdrawn_party_id: "F1".into(),
            ..Default::default()
        },
    ];
    let pa = e
        .parental_authority(r.child.as_ref().expect("child"), AS_OF)
        .expect("resolves");
    assert_eq!(pa.regime, ApRegime::RetraitTotal);
    assert_eq!(pa.holders, vec!["M1"]);
    assert_eq!(pa.non_usuel_signers, vec!["M1"]);
    assert_eq!(pa.inform_casf_l226_2_2, vec!["M1", "F1", "C1"]);
    assert_eq!(pa.inform_health, vec!["M1"]);
    assert!(pa.representatives_unsafe);
    // 100 days later the grace period is over.
    let later = AS_OF + time::Duration::days(100);
    assert!(
        !e.parental_authority(r.child.as_ref().expect("child"), later)
            .expect("resolves")
            .representatives_unsafe
    );
    // A future birth date is an input error, not a silent state.
    child_mut(&mut r).birth_date = "2030-01-01".into();
    assert!(matches!(
        e.parental_authority(r.child.as_ref().expect("child"), AS_OF),
        Err(PolicyError::InvalidInput(_))
    ));
}

#[test]
fn engine_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Engine>();
    let e: std::sync::Arc<dyn PolicyEngine> = std::sync::Arc::new(engine());
    assert!(
        e.evaluate(&ok_request(), AS_OF, true, "d")
            .expect("decision")
            .dry_run
    );
}

#[test]
fn the_child_is_never_skipped_and_homonymous_roles_are_named() {
    // No CHILD party: the child must still be informed under CASF L.226-2-2.
    let mut r = ok_request();
    child_mut(&mut r).parties.retain(|p| p.id != "C1");
    legal_mut(&mut r).information.retain(|i| i.party_id != "C1");
    let d = engine().evaluate(&r, AS_OF, false, "v").expect("decision");
    assert_eq!(
        codes(&d.targets[0]),
        vec!["INF_PRIOR_INFORMATION_MISSING:child"]
    );
    // Two other holders (délégation) without records: two denials, each naming its party.
    let mut r = ok_request();
    let c = child_mut(&mut r);
    c.parties
        .push(party("D1", PartyRole::OtherApHolder, "Josiane"));
    c.parties
        .push(party("D2", PartyRole::OtherApHolder, "Robert"));
    let from = c.birth_date.clone();
    c.ap_timeline = vec![ApPeriod {
        from,
        regime: ApRegime::DelegationTotal as i32,
        holders: ["D1", "D2"]
            .iter()
            .map(|h| ApHolder {
                party_id: (*h).into(),
                attributes: ApAttributes::All as i32,
            })
            .collect(),
        ..Default::default()
    }];
    let d = engine().evaluate(&r, AS_OF, false, "v").expect("decision");
    let msgs: Vec<&str> = d.targets[0]
        .denials
        .iter()
        .map(|x| x.message_fr.as_str())
        .collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(
        msgs[0].contains("(D1)") && msgs[1].contains("(D2)"),
        "{msgs:?}"
    );
}
