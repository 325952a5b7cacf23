//! Compact request builders. Defaults (policy.md §8): child 10, INS qualified, residence 93,
//! CONJOINT, parents (and child) informed, necessity note, current missions, verified MSS.
#![allow(dead_code)]

use passerelle_api::pbjson_types::Timestamp;
use passerelle_api::v1::*;
use passerelle_policy::{Engine, PolicyConfig};
use time::macros::datetime;
use time::{Date, OffsetDateTime};

pub const AS_OF: OffsetDateTime = datetime!(2026-11-25 10:00 UTC);
pub const G15: &str = "1.2.250.1.71.1.2.7";
pub const R85: &str = "1.2.250.1.213.1.6.1.107";
pub const R94: &str = "1.2.250.1.213.1.6.1.4";
pub const R95: &str = "1.2.250.1.213.1.6.1.109";
pub const MATRICULE: &str = "216069306600123";

pub fn engine() -> Engine {
    Engine::with_defaults(PolicyConfig::sandbox()).expect("sandbox engine")
}

pub fn ts(s: &str) -> Timestamp {
    let t =
        OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).expect("rfc3339");
    Timestamp {
        seconds: t.unix_timestamp(),
        nanos: 0,
    }
}

/// Birth date giving `years` at AS_OF (born on 14 June, well before 25 November).
pub fn born_years_ago(years: i32) -> String {
    format!("{}-06-14", 2026 - years)
}

pub fn days_before_as_of(days: i64) -> String {
    let d: Date = AS_OF.date() - time::Duration::days(days);
    d.to_string()
}

pub fn code(system: &str, c: &str) -> Code {
    Code {
        system: system.into(),
        code: c.into(),
        display: String::new(),
    }
}

pub fn mission(kind: MissionKind) -> Mission {
    Mission {
        kind: kind as i32,
        from: "2025-09-01".into(),
        to: String::new(),
    }
}

pub fn mss(addr: &str, ty: MailboxType, owner: &str) -> MssAddress {
    MssAddress {
        address: addr.into(),
        r#type: ty as i32,
        verified_at: Some(ts("2026-09-01T08:00:00Z")),
        owner_person_id: owner.into(),
    }
}

pub fn structure(
    name: &str,
    kind: StructureKind,
    r66: &str,
    dept: &str,
    mailboxes: &[&str],
) -> Structure {
    Structure {
        name: name.into(),
        kind: kind as i32,
        r66_category: r66.into(),
        departement: dept.into(),
        mss: mailboxes
            .iter()
            .map(|a| mss(a, MailboxType::Org, ""))
            .collect(),
        ..Default::default()
    }
}

pub fn mecs() -> Structure {
    Structure {
        finess_ej: "930004122".into(),
        finess_et: "930004130".into(),
        ..structure(
            "MECS Les Tilleuls",
            StructureKind::Essms,
            "177",
            "93",
            &["secretariat@mecs-tilleuls.mssante.test"],
        )
    }
}
pub fn cd93_ase() -> Structure {
    structure(
        "Département de la Seine-Saint-Denis — ASE",
        StructureKind::Ase,
        "",
        "93",
        &["ase@cd93.mssante.test"],
    )
}
pub fn cd93_crip() -> Structure {
    structure(
        "Département de la Seine-Saint-Denis — CRIP",
        StructureKind::Crip,
        "",
        "93",
        &["crip@cd93.mssante.test"],
    )
}
pub fn college() -> Structure {
    structure(
        "Collège Jean Moulin",
        StructureKind::EducationNationale,
        "",
        "93",
        &[],
    )
}
pub fn cmp() -> Structure {
    Structure {
        care_team_ids: vec!["EQ-LEA".into()],
        ..structure(
            "CMP infanto-juvénile de Bobigny",
            StructureKind::HealthEstablishment,
            "156",
            "93",
            &[],
        )
    }
}

/// A professional with a PER mailbox verified for its RPPS.
#[allow(clippy::too_many_arguments)]
pub fn pro(
    given: &str,
    family: &str,
    rpps: &str,
    prof: Option<Code>,
    secret: SecretBound,
    addr: &str,
    st: Structure,
    missions: &[MissionKind],
) -> Actor {
    Actor {
        person: Some(Person {
            id: Some(PersonId {
                kind: PersonIdKind::Rpps as i32,
                value: rpps.into(),
                structure_idnat: String::new(),
            }),
            family_name: family.into(),
            given_name: given.into(),
            professions: prof.into_iter().collect(),
            secret_bound: secret as i32,
            mss: if addr.is_empty() {
                vec![]
            } else {
                vec![mss(addr, MailboxType::Per, rpps)]
            },
            ..Default::default()
        }),
        structure: Some(st),
        missions: missions.iter().map(|m| mission(*m)).collect(),
    }
}

pub fn claire_referente() -> Actor {
    pro(
        "Claire",
        "Martin",
        "10000001007",
        Some(code(R85, "326")),
        SecretBound::ByMission,
        "claire.martin@cd93.mssante.test",
        cd93_ase(),
        &[MissionKind::ReferentAse],
    )
}
pub fn paul_inspecteur() -> Actor {
    let mut a = pro(
        "Paul",
        "Bernard",
        "10000001015",
        Some(code(R85, "359")),
        SecretBound::ByMission,
        "paul.bernard@cd93.mssante.test",
        cd93_ase(),
        &[MissionKind::InspecteurAse],
    );
    if let Some(p) = a.person.as_mut() {
        p.title = "Inspecteur ASE".into();
    }
    a
}
pub fn sophie_infirmiere() -> Actor {
    pro(
        "Sophie",
        "Leroy",
        "10000001023",
        Some(code(G15, "60")),
        SecretBound::ByProfession,
        "sophie.leroy@mecs-tilleuls.mssante.test",
        mecs(),
        &[MissionKind::Soignant],
    )
}
pub fn marc_pedopsy() -> Actor {
    pro(
        "Marc",
        "Petit",
        "10000001031",
        Some(code(G15, "10")),
        SecretBound::ByProfession,
        "marc.petit@cmp-enfants.mssante.test",
        cmp(),
        &[MissionKind::Soignant],
    )
}
pub fn julie_psychologue() -> Actor {
    pro(
        "Julie",
        "Moreau",
        "10000001049",
        Some(code(R95, "93")),
        SecretBound::ByMission,
        "julie.moreau@mecs-tilleuls.mssante.test",
        mecs(),
        &[MissionKind::Soignant],
    )
}
pub fn karim_educateur() -> Actor {
    pro(
        "Karim",
        "Haddad",
        "10000001056",
        Some(code(R85, "326")),
        SecretBound::ByMission,
        "karim.haddad@mecs-tilleuls.mssante.test",
        mecs(),
        &[MissionKind::LieuAccueil],
    )
}
pub fn anne_infirmiere_scolaire() -> Actor {
    pro(
        "Anne",
        "Roux",
        "10000001064",
        Some(code(G15, "60")),
        SecretBound::ByProfession,
        "anne.roux@ac-creteil.mssante.test",
        college(),
        &[],
    )
}
pub fn luc_directeur() -> Actor {
    let mut a = pro(
        "Luc",
        "Garnier",
        "10000001072",
        Some(code(R85, "359")),
        SecretBound::ByMission,
        "direction@mecs-tilleuls.mssante.test",
        mecs(),
        &[MissionKind::Directeur],
    );
    if let Some(p) = a.person.as_mut() {
        p.mss[0].r#type = MailboxType::Org as i32;
        p.mss[0].owner_person_id = String::new();
    }
    a
}
pub fn medecin_mecs() -> Actor {
    pro(
        "Hélène",
        "Garcia",
        "10000001080",
        Some(code(G15, "10")),
        SecretBound::ByProfession,
        "helene.garcia@mecs-tilleuls.mssante.test",
        mecs(),
        &[MissionKind::Soignant],
    )
}
pub fn teacher() -> Actor {
    let mut a = pro(
        "Pierre",
        "Lambert",
        "",
        None,
        SecretBound::No,
        "pierre.lambert@ac-creteil.mssante.test",
        college(),
        &[MissionKind::EducationNationale],
    );
    if let Some(p) = a.person.as_mut() {
        p.id = Some(PersonId {
            kind: PersonIdKind::Internal as i32,
            value: "EN-0042".into(),
            structure_idnat: "10930000000".into(),
        });
        p.fonction = Some(code("TRE_R21", "FON-46"));
        p.mss[0].r#type = MailboxType::Org as i32;
        p.mss[0].owner_person_id = String::new();
    }
    a
}
pub fn ass_evaluatrice() -> Actor {
    pro(
        "Nadia",
        "Benali",
        "10000001098",
        Some(code(R94, "41")),
        SecretBound::ByProfession,
        "nadia.benali@cd93.mssante.test",
        cd93_crip(),
        &[MissionKind::CripEvaluator],
    )
}
pub fn crip_responsable() -> Actor {
    pro(
        "Odile",
        "Marchand",
        "10000001106",
        Some(code(R85, "359")),
        SecretBound::ByMission,
        "odile.marchand@cd93.mssante.test",
        cd93_crip(),
        &[MissionKind::CripResponsable],
    )
}

/// A structure mailbox recipient.
pub fn mailbox(st: Structure, missions: &[MissionKind]) -> Actor {
    Actor {
        person: None,
        structure: Some(st),
        missions: missions.iter().map(|m| mission(*m)).collect(),
    }
}
pub fn crip(dept: &str) -> Actor {
    mailbox(
        structure(
            &format!("CRIP {dept}"),
            StructureKind::Crip,
            "",
            dept,
            &[&format!("crip@cd{dept}.mssante.test")],
        ),
        &[],
    )
}
pub fn mecs_mailbox(service: &str) -> Actor {
    let mut s = mecs();
    s.service = service.into();
    mailbox(s, &[MissionKind::LieuAccueil])
}
pub fn ase_mailbox() -> Actor {
    mailbox(cd93_ase(), &[MissionKind::ReferentAse])
}
pub fn ime_mailbox() -> Actor {
    mailbox(
        structure(
            "IME L'Horizon",
            StructureKind::Essms,
            "183",
            "93",
            &["accueil@ime-horizon.mssante.test"],
        ),
        &[MissionKind::PendingAdmission],
    )
}
pub fn justice(kind: StructureKind, name: &str) -> Actor {
    mailbox(structure(name, kind, "", "93", &[]), &[])
}

// ---- targets ----
pub fn to_pro(id: &str, a: Actor, addr: &str) -> Target {
    Target {
        id: id.into(),
        channel: Channel::Mssante as i32,
        recipient: Some(target::Recipient::Professional(a)),
        mss_address: addr.into(),
        document_ids: vec![],
    }
}
pub fn to_dmp(id: &str) -> Target {
    Target {
        id: id.into(),
        channel: Channel::Dmp as i32,
        recipient: Some(target::Recipient::Child(ChildRecipient {})),
        mss_address: String::new(),
        document_ids: vec![],
    }
}
pub fn to_mes(id: &str) -> Target {
    Target {
        id: id.into(),
        channel: Channel::Mes as i32,
        recipient: Some(target::Recipient::Child(ChildRecipient {})),
        mss_address: format!("{MATRICULE}@patient.mssante.fr"),
        document_ids: vec![],
    }
}
pub fn to_party(id: &str, channel: Channel, party: &str, addr: &str) -> Target {
    Target {
        id: id.into(),
        channel: channel as i32,
        recipient: Some(target::Recipient::PartyId(party.into())),
        mss_address: addr.into(),
        document_ids: vec![],
    }
}

pub fn party(id: &str, role: PartyRole, given: &str) -> Party {
    Party {
        id: id.into(),
        role: role as i32,
        family_name: "DUPONT".into(),
        given_name: given.into(),
    }
}

pub fn done(party_id: &str) -> InformationRecord {
    InformationRecord {
        id: format!("INF-{party_id}"),
        party_id: party_id.into(),
        status: Some(information_record::Status::Done(InformationDone {
            at: Some(ts("2026-10-01T09:00:00Z")),
            mode: "entretien".into(),
            by: "Claire Martin".into(),
        })),
    }
}

pub fn waived(party_id: &str, by: &Actor, m: MissionKind, reason: &str) -> InformationRecord {
    InformationRecord {
        id: format!("WAIV-{party_id}"),
        party_id: party_id.into(),
        status: Some(information_record::Status::Waived(InformationWaived {
            reason: reason.into(),
            decided_by: by.person.clone(),
            decider_mission: m as i32,
            at: Some(ts("2026-11-20T09:00:00Z")),
        })),
    }
}

pub fn stated(masque: bool, inv_patient: bool, inv_rep: bool) -> StatedFlags {
    StatedFlags {
        masque_ps: Some(masque),
        invisible_patient: Some(inv_patient),
        invisible_representants_legaux: Some(inv_rep),
        reveals_placement_address: Some(false),
        abuse_suspicion: Some(false),
        ..Default::default()
    }
}

pub fn doc(id: &str, kind: DocumentKind) -> Document {
    Document {
        id: id.into(),
        kind: kind as i32,
        title: format!("{kind:?}"),
        ..Default::default()
    }
}

pub fn conjoint_from(birth: &str) -> ApPeriod {
    ApPeriod {
        from: birth.into(),
        regime: ApRegime::Conjoint as i32,
        holders: vec![
            ApHolder {
                party_id: "M1".into(),
                attributes: ApAttributes::All as i32,
            },
            ApHolder {
                party_id: "F1".into(),
                attributes: ApAttributes::All as i32,
            },
        ],
        ..Default::default()
    }
}

pub const NOTE: &str = "Transmission strictement nécessaire à la continuité de l'accompagnement de l'enfant accueilli.";

/// The default request: sender Karim (educator, MECS), child of 10, one document, no target.
pub fn base(kind: DocumentKind) -> SubmitRequest {
    let birth = born_years_ago(10);
    SubmitRequest {
        tenant: "mecs-tilleuls".into(),
        idempotency_key: "idem-1".into(),
        request_id: "req-1".into(),
        sender: Some(Sender {
            actor: Some(karim_educateur()),
        }),
        child: Some(ChildContext {
            local_id: "DUI-0001".into(),
            ins: Some(Ins {
                matricule: MATRICULE.into(),
                oid: "1.2.250.1.213.1.4.10".into(),
                status: InsStatus::Qualified as i32,
                ..Default::default()
            }),
            birth_date: birth.clone(),
            residence_departement: "93".into(),
            parties: vec![
                party("M1", PartyRole::Mother, "Sandrine"),
                party("F1", PartyRole::Father, "Marc"),
                party("C1", PartyRole::Child, "Léa"),
            ],
            ap_timeline: vec![conjoint_from(&birth)],
            mes_status: MesStatus::Active as i32,
            mes_address: format!("{MATRICULE}@patient.mssante.fr"),
            ..Default::default()
        }),
        documents: vec![doc("d1", kind)],
        targets: vec![],
        legal: Some(LegalContext {
            basis: LegalBasis::CasfL22622 as i32,
            purpose: Purpose::ImplementProtection as i32,
            necessity_note: NOTE.into(),
            information: vec![done("M1"), done("F1"), done("C1")],
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn with_basis(mut r: SubmitRequest, b: LegalBasis, p: Purpose) -> SubmitRequest {
    if let Some(l) = r.legal.as_mut() {
        l.basis = b as i32;
        l.purpose = p as i32;
    }
    r
}
pub fn with_sender(mut r: SubmitRequest, a: Actor) -> SubmitRequest {
    r.sender = Some(Sender { actor: Some(a) });
    r
}
pub fn with_targets(mut r: SubmitRequest, t: Vec<Target>) -> SubmitRequest {
    r.targets = t;
    r
}
pub fn child_mut(r: &mut SubmitRequest) -> &mut ChildContext {
    r.child.as_mut().expect("child")
}
pub fn legal_mut(r: &mut SubmitRequest) -> &mut LegalContext {
    r.legal.as_mut().expect("legal")
}
pub fn set_age(r: &mut SubmitRequest, years: i32) {
    let b = born_years_ago(years);
    let c = child_mut(r);
    c.birth_date = b.clone();
    c.ap_timeline = vec![conjoint_from(&b)];
}

pub fn codes(t: &TargetDecision) -> Vec<&str> {
    t.denials.iter().map(|d| d.code.as_str()).collect()
}
pub fn rule_ids(t: &TargetDecision) -> Vec<&str> {
    t.rules.iter().map(|r| r.id.as_str()).collect()
}
