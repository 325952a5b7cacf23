//! Property tests (modest case counts): invariants of the engine over the scenario table mutated
//! at random.
use passerelle_api::v1::*;
use passerelle_policy::{Engine, PolicyBundle, PolicyConfig, PolicyEngine};
use proptest::prelude::*;

use crate::fixtures::*;
use crate::scenarios::all_cases;

#[derive(Clone, Debug)]
struct Mutation {
    case: usize,
    kind: i32,
    age: i32,
    flags: u8,
    extra: u8,
    basis: i32,
    purpose: i32,
    secrecy: bool,
    seed: u64,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    (
        0usize..64,
        0i32..=25,
        0i32..24,
        any::<u8>(),
        any::<u8>(),
        0i32..=10,
        0i32..=12,
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(
            |(case, kind, age, flags, extra, basis, purpose, secrecy, seed)| Mutation {
                case,
                kind,
                age,
                flags,
                extra,
                basis,
                purpose,
                secrecy,
                seed,
            },
        )
}

fn opt(bits: u8, i: u8) -> Option<bool> {
    match (bits >> (2 * i)) & 3 {
        0 => None,
        1 => Some(false),
        _ => Some(true),
    }
}

/// Applies a mutation to a scenario request; the result may well be invalid or denied.
fn build(m: &Mutation) -> SubmitRequest {
    let cases = all_cases();
    let mut r = cases[m.case % cases.len()].1.clone();
    if m.kind > 0 {
        r.documents[0].kind = m.kind;
        r.documents[0].content = None;
    }
    if m.age > 0 {
        let b = born_years_ago(m.age);
        let c = child_mut(&mut r);
        c.birth_date = b.clone();
        for p in &mut c.ap_timeline {
            if p.from < b {
                p.from = b.clone();
            }
        }
        c.ap_timeline.retain(|p| p.to.is_empty() || p.to >= p.from);
    }
    if m.extra & 1 != 0 {
        r.documents[0].stated_flags = Some(StatedFlags {
            masque_ps: opt(m.flags, 0),
            invisible_patient: opt(m.flags, 1),
            invisible_representants_legaux: opt(m.flags, 2),
            reveals_placement_address: opt(m.flags, 3),
            abuse_suspicion: Some(m.flags & 0x80 != 0),
            ..Default::default()
        });
    }
    if m.extra & 2 != 0 {
        r.targets.push(to_dmp("x-dmp"));
    }
    if m.extra & 4 != 0 {
        r.targets.push(to_mes("x-mes"));
    }
    if m.extra & 8 != 0 {
        r.targets.push(to_party(
            "x-mother",
            Channel::Mssante,
            "M1",
            "sandrine.dupont@laposte.test",
        ));
    }
    if m.extra & 16 != 0 {
        r.targets.push(to_pro(
            "x-ase",
            claire_referente(),
            "claire.martin@cd93.mssante.test",
        ));
    }
    if m.extra & 32 != 0 && m.basis > 0 {
        legal_mut(&mut r).basis = m.basis;
    }
    if m.extra & 64 != 0 && m.purpose > 0 {
        legal_mut(&mut r).purpose = m.purpose;
    }
    if m.extra & 128 != 0 {
        r.documents[0].tags.push(DocumentTag::AbuseSuspicion as i32);
    }
    if m.secrecy {
        let c = child_mut(&mut r);
        if c.minor_secrecy.is_empty() {
            c.minor_secrecy.push(MinorSecrecy {
                id: "MS-P".into(),
                basis: MinorSecrecyBasis::L11115 as i32,
                recorded_by: medecin_mecs().person,
                at: Some(ts("2026-11-01T10:00:00Z")),
            });
        }
        let id = c.minor_secrecy[0].id.clone();
        r.documents[0].minor_secrecy_ref = id;
    }
    // Keep target ids unique after the additions.
    let mut seen = std::collections::HashSet::new();
    r.targets.retain(|t| seen.insert(t.id.clone()));
    r
}

fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = (seed >> 33) as usize % (i + 1);
        v.swap(i, j);
    }
}

fn sorted(d: &Decision) -> Vec<TargetDecision> {
    let mut t = d.targets.clone();
    t.sort_by(|a, b| (&a.target_id, &a.document_id).cmp(&(&b.target_id, &b.document_id)));
    t
}

fn is_social(kind: i32) -> bool {
    !matches!(
        DocumentKind::try_from(kind).unwrap_or(DocumentKind::Unspecified),
        DocumentKind::LiaisonUrg
            | DocumentKind::AutorisSoins
            | DocumentKind::AutorisEchange
            | DocumentKind::BilanSanteEntree
            | DocumentKind::CrExamenEnfant
            | DocumentKind::BilanPsy
            | DocumentKind::SynthPsy
            | DocumentKind::Pai
            | DocumentKind::CrMedical
    )
}

const ROWS: &[&str] = &[
    "medecin",
    "sage_femme_infirmier",
    "psychologue",
    "assistant_service_social",
    "educatif_social",
    "direction",
    "crip",
    "ase",
    "essms_protection_enfance",
    "essms_handicap_sante_mentale",
    "pmi",
];
const GROUPS: &[&str] = &[
    "IP_EVAL",
    "SOCIAL_PE",
    "ESSMS_ADMIN",
    "HEALTH_DAILY",
    "HEALTH_CLIN",
    "PSY",
    "PPE",
    "PROJ_PERSO",
    "LIAISON_SORTIE",
    "RAP_EVAL",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn safety_invariants(m in mutation()) {
        let engine = engine();
        let req = build(&m);
        let Ok(d) = engine.evaluate(&req, AS_OF, false, "p") else { return Ok(()) };
        let minor_secret = !req.documents[0].minor_secrecy_ref.is_empty();
        for t in &d.targets {
            let allowed = t.outcome == Outcome::Allowed as i32;
            // A denied target never appears as allowed, and every deny has a reason.
            prop_assert_eq!(allowed, t.denials.is_empty(), "{:?}", t);
            prop_assert!(t.outcome == Outcome::Allowed as i32 || t.outcome == Outcome::Denied as i32);
            // Social kinds never reach the DMP nor any Mon espace santé.
            if is_social(t.kind) && (t.channel == Channel::Dmp as i32 || t.channel == Channel::Mes as i32) {
                prop_assert!(!allowed, "social kind allowed on {:?}", t.channel);
            }
            if allowed && t.channel == Channel::Mes as i32 {
                prop_assert!(req.child.as_ref().is_some_and(|c| c.birth_date <= born_years_ago(18)) || !t.obligations.is_empty());
            }
            // Minors' secrecy: never to the representatives, nor visible to them in the DMP.
            if minor_secret && t.document_id == req.documents[0].id {
                let to_party = req.targets.iter().any(|x| x.id == t.target_id && matches!(x.recipient, Some(target::Recipient::PartyId(_))));
                let minor = req.child.as_ref().is_some_and(|c| c.birth_date > born_years_ago(18));
                if minor && (to_party || t.channel == Channel::Mes as i32) {
                    prop_assert!(!allowed);
                }
                if minor && allowed && t.channel == Channel::Dmp as i32 {
                    prop_assert!(t.dmp_flags.as_ref().is_some_and(|f| f.invisible_representants_legaux));
                }
                if minor {
                    prop_assert!(t.persons_to_inform.iter().all(|p| p.role == "child"), "AP holders listed: {:?}", t.persons_to_inform);
                }
            }
        }
        let n_allowed = d.targets.iter().filter(|t| t.outcome == Outcome::Allowed as i32).count();
        prop_assert_eq!(d.accepted, n_allowed == d.targets.len() && n_allowed > 0);
    }

    #[test]
    fn order_determinism_and_dry_run(m in mutation()) {
        let engine = engine();
        let req = build(&m);
        let a = engine.evaluate(&req, AS_OF, false, "a");
        let b = engine.evaluate(&req, AS_OF, false, "b");
        match (&a, &b) {
            (Ok(a), Ok(b)) => {
                let mut b2 = b.clone();
                b2.decision_id = a.decision_id.clone();
                prop_assert_eq!(a, &b2, "same inputs, same decision");
            }
            (Err(x), Err(y)) => prop_assert_eq!(x.violations(), y.violations()),
            _ => prop_assert!(false, "one call failed, the other not"),
        }
        // Explain (dry run) = Submit except decision_id, request_id, dry_run.
        let mut explain_req = req.clone();
        explain_req.request_id = "explain-1".into();
        if let (Ok(sub), Ok(mut exp)) = (&a, engine.evaluate(&explain_req, AS_OF, true, "x")) {
            prop_assert!(exp.dry_run && !sub.dry_run);
            exp.decision_id = sub.decision_id.clone();
            exp.request_id = sub.request_id.clone();
            exp.dry_run = false;
            prop_assert_eq!(&exp, sub);
        }
        // Order of targets (and documents) does not matter.
        let mut shuffled = req.clone();
        shuffle(&mut shuffled.targets, m.seed);
        shuffle(&mut shuffled.documents, m.seed.rotate_left(17));
        if let (Ok(a), Ok(s)) = (&a, engine.evaluate(&shuffled, AS_OF, false, "a")) {
            prop_assert_eq!(sorted(a), sorted(&s));
            prop_assert_eq!(a.outcome, s.outcome);
            prop_assert_eq!(a.accepted, s.accepted);
        }
    }

    #[test]
    fn restriction_overlay_never_turns_deny_into_allow(m in mutation(), row in 0usize..ROWS.len(), group in 0usize..GROUPS.len(), all in any::<bool>(), by_tenant in any::<bool>()) {
        let base_engine = engine();
        let scope = if by_tenant { "tenant = \"mecs-tilleuls\"" } else { "departement = \"93\"" };
        let what = if all { "all = true".to_string() } else { format!("mss = [\"{}\"]", GROUPS[group]) };
        let overlay = format!("[meta]\nid = \"prop\"\nversion = \"1\"\napproved_by = \"DPO\"\nvalid_from = \"2026-01-01\"\n[scope]\n{scope}\n[[remove]]\nrow = \"{}\"\n{what}\n", ROWS[row]);
        let restricted = Engine::new(PolicyBundle { overlays: vec![overlay], ..PolicyBundle::with_default_matrix(PolicyConfig::sandbox()) });
        prop_assume!(restricted.is_ok());
        let Ok(restricted) = restricted else { return Ok(()) };
        let req = build(&m);
        if let (Ok(a), Ok(b)) = (base_engine.evaluate(&req, AS_OF, false, "a"), restricted.evaluate(&req, AS_OF, false, "a")) {
            for (x, y) in sorted(&a).iter().zip(sorted(&b).iter()) {
                if x.outcome == Outcome::Denied as i32 {
                    prop_assert_eq!(y.outcome, Outcome::Denied as i32, "overlay turned a deny into an allow");
                }
            }
            prop_assert!(!b.accepted || a.accepted);
        }
    }
}

#[test]
fn overlay_restricts_and_is_named_in_the_decision() {
    let overlay = "[meta]\nid = \"cd93-sans-sante-educ\"\nversion = \"2\"\napproved_by = \"DPO CD93\"\nvalid_from = \"2026-01-01\"\n[scope]\ndepartement = \"93\"\n[[remove]]\nrow = \"educatif_social\"\nmss = [\"SOCIAL_PE\"]\n";
    let restricted = Engine::new(PolicyBundle {
        overlays: vec![overlay.into()],
        ..PolicyBundle::with_default_matrix(PolicyConfig::sandbox())
    })
    .expect("overlay loads");
    let req = with_targets(
        base(DocumentKind::FicheNavette),
        vec![to_pro(
            "ase",
            claire_referente(),
            "claire.martin@cd93.mssante.test",
        )],
    );
    let before = engine()
        .evaluate(&req, AS_OF, false, "a")
        .expect("decision");
    let after = restricted
        .evaluate(&req, AS_OF, false, "a")
        .expect("decision");
    assert_eq!(before.targets[0].outcome, Outcome::Allowed as i32);
    assert_eq!(after.targets[0].outcome, Outcome::Denied as i32);
    assert_eq!(after.targets[0].denials[0].code, "HAB_NOT_HABILITATED");
    let p = after.policy.expect("policy");
    assert_eq!(p.matrix_version, "1.0.0+cd93-sans-sante-educ@2");
    assert_ne!(
        p.config_sha256,
        before.policy.expect("policy").config_sha256
    );
}

/// The generators exercise the interesting paths (otherwise the properties above prove nothing).
#[test]
fn generators_are_not_vacuous() {
    let engine = engine();
    let mut seed = 0x5eed_u64;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        seed >> 16
    };
    let (mut ok, mut allowed, mut social_dmp, mut secret_dmp_allowed, mut denied) = (0, 0, 0, 0, 0);
    let mut secret_to_reps = 0;
    for _ in 0..400 {
        let m = Mutation {
            case: next() as usize % 64,
            kind: (next() % 26) as i32,
            age: (next() % 24) as i32,
            flags: next() as u8,
            extra: next() as u8,
            basis: (next() % 11) as i32,
            purpose: (next() % 13) as i32,
            secrecy: next() % 4 == 0,
            seed: next(),
        };
        let req = build(&m);
        if let Ok(d) = engine.evaluate(&req, AS_OF, false, "v") {
            ok += 1;
            for t in &d.targets {
                if t.outcome == Outcome::Allowed as i32 {
                    allowed += 1;
                    if t.channel == Channel::Dmp as i32
                        && !req.documents[0].minor_secrecy_ref.is_empty()
                    {
                        secret_dmp_allowed += 1;
                    }
                } else {
                    denied += 1;
                }
                if t.channel == Channel::Dmp as i32 && is_social(t.kind) {
                    social_dmp += 1;
                }
                if !req.documents[0].minor_secrecy_ref.is_empty()
                    && t.document_id == req.documents[0].id
                    && (t.channel != Channel::Mssante as i32 || t.target_id == "x-mother")
                {
                    secret_to_reps += 1;
                }
            }
        }
    }
    assert!(ok > 150, "valid requests: {ok}");
    assert!(allowed > 40, "allowed targets: {allowed}");
    assert!(denied > 100, "denied targets: {denied}");
    assert!(
        social_dmp > 20,
        "social kinds asked for the DMP: {social_dmp}"
    );
    assert!(
        secret_to_reps > 20,
        "secret documents towards representatives, MES or DMP: {secret_to_reps}"
    );
    eprintln!(
        "ok={ok} allowed={allowed} denied={denied} social_dmp={social_dmp} secret_dmp_allowed={secret_dmp_allowed}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Corrupted encodings of valid requests: whatever decodes must evaluate without panicking,
    /// and never produce an allowed target without a complete decision.
    #[test]
    fn corrupted_requests_never_panic(case in 0usize..64, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        use prost::Message;
        let cases = all_cases();
        let mut bytes = cases[case % cases.len()].1.encode_to_vec();
        for (pos, val) in flips {
            let n = bytes.len();
            bytes[pos % n] = val;
        }
        if let Ok(req) = SubmitRequest::decode(bytes.as_slice()) {
            match engine().evaluate(&req, AS_OF, false, "f") {
                Ok(d) => {
                    for t in &d.targets {
                        prop_assert_eq!(t.outcome == Outcome::Allowed as i32, t.denials.is_empty());
                    }
                }
                Err(e) => prop_assert!(!e.violations().is_empty() || !e.to_string().is_empty()),
            }
        }
    }
}
