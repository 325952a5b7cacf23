//! Derivations made once per request (policy.md §1 order): ages, the parental-authority period at
//! `as_of`, representatives (REP-1..3), the sender's matrix rows, applicable overlays.
use passerelle_api::v1::{
    Actor, ApPeriod, ApRegime, Autonomisation, ChildContext, InsStatus, MeasureKind, Mission,
    MissionKind, Party, PartyRole, SecretBound, SubmitRequest,
};
use time::{Date, Duration, OffsetDateTime};

use crate::catalogue;
use crate::dates::{age_on, parse_date, ts};
use crate::matrix::{Matrix, Overlay, OverlayScope, SecretDefault, mission_bit};

pub(crate) fn current(m: &Mission, today: Date) -> bool {
    let from_ok = parse_date(&m.from).is_some_and(|f| f <= today);
    let to_ok = m.to.is_empty() || parse_date(&m.to).is_some_and(|t| t >= today);
    from_ok && to_ok
}

/// Current missions of an actor as a bit mask.
pub(crate) fn missions_mask(a: &Actor, today: Date) -> u32 {
    a.missions
        .iter()
        .filter(|m| current(m, today))
        .fold(0, |acc, m| acc | mission_bit(m.kind))
}

pub(crate) fn has_mission(mask: u32, m: MissionKind) -> bool {
    mask & mission_bit(m as i32) != 0
}

/// Matrix rows of an actor: its person's codes (and R21 fonction), else its structure.
pub(crate) fn rows_of(matrix: &Matrix, a: &Actor) -> Vec<usize> {
    let mut rows = Vec::new();
    if let Some(p) = &a.person {
        for c in &p.professions {
            if let Some(r) = matrix.row_for_code(&c.system, &c.code)
                && !rows.contains(&r)
            {
                rows.push(r);
            }
        }
        if let Some(f) = &p.fonction
            && !f.code.is_empty()
            && let Some(r) = matrix.row_for_code(catalogue::SYS_R21, &f.code)
            && !rows.contains(&r)
        {
            rows.push(r);
        }
    } else if let Some(s) = &a.structure
        && let Some(r) = matrix.row_for_structure(s.kind, &s.r66_category)
    {
        rows.push(r);
    }
    rows
}

/// Secret-bound per SP-1/SP-2: the person's assertion (unknown = no); a mailbox: its row default.
pub(crate) fn secret_bound(matrix: &Matrix, a: &Actor, rows: &[usize]) -> bool {
    match &a.person {
        Some(p) => matches!(
            SecretBound::try_from(p.secret_bound).unwrap_or(SecretBound::Unspecified),
            SecretBound::ByProfession | SecretBound::ByMission
        ),
        None => rows
            .iter()
            .any(|r| matrix.rows[*r].secret != SecretDefault::No),
    }
}

pub(crate) fn has_g15(a: Option<&passerelle_api::v1::Person>) -> bool {
    a.is_some_and(|p| {
        p.professions
            .iter()
            .any(|c| c.system == catalogue::OID_G15 && !c.code.is_empty())
    })
}

pub(crate) struct Ctx<'a> {
    pub req: &'a SubmitRequest,
    pub child: &'a ChildContext,
    pub as_of: OffsetDateTime,
    pub today: Date,
    pub age: i32,
    pub adult: bool,
    /// Emancipated (flag or regime): represents himself.
    pub emancipated: bool,
    pub dmp_minor: bool,
    pub period: Option<&'a ApPeriod>,
    pub regime: ApRegime,
    /// No AP period covers `as_of` for a minor (GEN-2 `AP_STATE_UNKNOWN`).
    pub ap_unknown: bool,
    /// Current holders, the withdrawn parent excluded.
    pub holders: Vec<&'a str>,
    pub representatives: Vec<String>,
    pub rep2_unsafe: bool,
    pub rep3_unsafe: bool,
    pub child_party: Option<&'a Party>,
    pub sender: &'a Actor,
    pub sender_rows: Vec<usize>,
    pub sender_missions: u32,
    pub overlays: Vec<&'a Overlay>,
    pub ins_qualified: bool,
    /// A JeuneMajeur measure is current.
    pub jeune_majeur: bool,
    pub placement_measure: bool,
}

impl<'a> Ctx<'a> {
    pub fn party(&self, id: &str) -> Option<&'a Party> {
        self.child.parties.iter().find(|p| p.id == id)
    }
    pub fn role_name(&self, id: &str) -> &'static str {
        if id == CHILD_PLACEHOLDER {
            return "child";
        }
        if id == "ASE" {
            return "ase";
        }
        self.party(id).map(|p| role_name(p.role)).unwrap_or("party")
    }
    pub fn is_alleged_author(&self, id: &str) -> bool {
        self.child.alleged_author_party_ids.iter().any(|a| a == id)
    }
    /// Parties who hold or held AP-like powers (MS-1: never recipients of a secret document).
    pub fn is_ap_side(&self, id: &str) -> bool {
        self.holders.contains(&id)
            || self.representatives.iter().any(|r| r == id)
            || self.party(id).is_some_and(|p| {
                matches!(
                    PartyRole::try_from(p.role).unwrap_or(PartyRole::Unspecified),
                    PartyRole::Mother
                        | PartyRole::Father
                        | PartyRole::OtherApHolder
                        | PartyRole::Tuteur
                        | PartyRole::Delegataire
                        | PartyRole::Tdc
                        | PartyRole::Ase
                )
            })
    }
    pub fn held_before(&self, id: &str) -> bool {
        self.child
            .ap_timeline
            .iter()
            .filter(|p| !self.period.is_some_and(|c| std::ptr::eq(c, *p)))
            .any(|p| p.holders.iter().any(|h| h.party_id == id))
    }
}

/// Party id standing for the child when the request has no CHILD party.
pub(crate) const CHILD_PLACEHOLDER: &str = "(child)";

pub(crate) fn role_name(role: i32) -> &'static str {
    match PartyRole::try_from(role).unwrap_or(PartyRole::Unspecified) {
        PartyRole::Mother => "mother",
        PartyRole::Father => "father",
        PartyRole::OtherApHolder => "ap_holder",
        PartyRole::Tuteur => "tuteur",
        PartyRole::Delegataire => "delegataire",
        PartyRole::Tdc => "tdc",
        PartyRole::Child => "child",
        PartyRole::Ase => "ase",
        PartyRole::Unspecified => "party",
    }
}

pub(crate) fn role_fr(role: &str) -> &'static str {
    match role {
        "mother" => "la mère",
        "father" => "le père",
        "ap_holder" => "le titulaire de l'autorité parentale",
        "tuteur" => "le tuteur",
        "delegataire" => "le délégataire de l'autorité parentale",
        "tdc" => "le tiers digne de confiance",
        "child" => "l'enfant",
        "ase" => "l'ASE",
        _ => "la personne",
    }
}

pub(crate) fn role_en(role: &str) -> &'static str {
    match role {
        "mother" => "the mother",
        "father" => "the father",
        "ap_holder" => "the parental-authority holder",
        "tuteur" => "the guardian",
        "delegataire" => "the delegated holder of parental authority",
        "tdc" => "the trusted third party",
        "child" => "the child",
        "ase" => "the ASE",
        _ => "the person",
    }
}

fn in_period(p: &ApPeriod, d: Date) -> bool {
    let from_ok = parse_date(&p.from).is_some_and(|f| f <= d);
    let to_ok = p.to.is_empty() || parse_date(&p.to).is_some_and(|t| t >= d);
    from_ok && to_ok
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn build<'a>(
    req: &'a SubmitRequest,
    child: &'a ChildContext,
    sender: &'a Actor,
    matrix: &'a Matrix,
    overlays: &'a [Overlay],
    config: &crate::PolicyConfig,
    as_of: OffsetDateTime,
    today: Date,
) -> Ctx<'a> {
    let birth = parse_date(&child.birth_date).unwrap_or(today);
    let age = age_on(birth, today);
    let adult = age >= 18;
    let period = child.ap_timeline.iter().find(|p| in_period(p, today));
    let mut regime = period.map_or(ApRegime::Unspecified, |p| {
        ApRegime::try_from(p.regime).unwrap_or(ApRegime::Unspecified)
    });
    let emancipated = !adult && (child.emancipated || regime == ApRegime::Emancipated);
    if adult {
        regime = ApRegime::Adult;
    } else if emancipated {
        regime = ApRegime::Emancipated;
    }
    let ap_unknown = !adult && !emancipated && period.is_none();
    let child_party = child
        .parties
        .iter()
        .find(|p| p.role == PartyRole::Child as i32);
    let holders: Vec<&str> = match (regime, period) {
        (ApRegime::Adult | ApRegime::Emancipated, _) => Vec::new(),
        (_, Some(p)) => p
            .holders
            .iter()
            .map(|h| h.party_id.as_str())
            .filter(|id| *id != p.withdrawn_party_id)
            .collect(),
        _ => Vec::new(),
    };
    let autonomisation =
        Autonomisation::try_from(child.autonomisation).unwrap_or(Autonomisation::Unspecified);
    // REP-1: representatives per regime.
    let representatives: Vec<String> = match regime {
        ApRegime::Adult | ApRegime::Emancipated | ApRegime::Unspecified => Vec::new(),
        ApRegime::NonePresent => {
            if autonomisation == Autonomisation::Refused {
                let ase = child
                    .parties
                    .iter()
                    .find(|p| p.role == PartyRole::Ase as i32);
                vec![ase.map_or_else(|| "ASE".to_string(), |p| p.id.clone())]
            } else {
                Vec::new()
            }
        }
        _ => holders.iter().map(|s| (*s).to_string()).collect(),
    };
    // REP-2: a representative is an alleged author, or the placement address is secret.
    let rep2_unsafe = !representatives.is_empty()
        && (child.placement_address_secret
            || representatives
                .iter()
                .any(|r| child.alleged_author_party_ids.iter().any(|a| a == r)));
    // REP-3: regime unresolved, holders missing, or judgment younger than the CNAM sync grace.
    let needs_holders = !matches!(
        regime,
        ApRegime::Adult | ApRegime::Emancipated | ApRegime::NonePresent | ApRegime::Unspecified
    );
    let recent_judgment = period.is_some_and(|p| {
        let d = if !p.decision_date.is_empty() {
            parse_date(&p.decision_date)
        } else if !p.decision_ref.is_empty() {
            parse_date(&p.from)
        } else {
            None
        };
        d.is_some_and(|d| today - d < Duration::days(i64::from(config.rep_sync_grace_days)))
    });
    let rep3_unsafe = !adult
        && !emancipated
        && (ap_unknown || (needs_holders && holders.is_empty()) || recent_judgment);
    let sender_rows = crate::context::rows_of(matrix, sender);
    let sender_missions = missions_mask(sender, today);
    let sender_dept = sender
        .structure
        .as_ref()
        .map(|s| s.departement.as_str())
        .unwrap_or("");
    let applied: Vec<&Overlay> = overlays
        .iter()
        .filter(|o| o.valid_from <= today)
        .filter(|o| match &o.scope {
            OverlayScope::Tenant(t) => *t == req.tenant,
            OverlayScope::Departement(d) => *d == sender_dept || *d == child.residence_departement,
        })
        .collect();
    let ins_qualified = child
        .ins
        .as_ref()
        .is_some_and(|i| i.status == InsStatus::Qualified as i32 && !i.matricule.is_empty());
    let measure_current = |k: MeasureKind| {
        child.measures.iter().any(|m| {
            m.kind == k as i32
                && parse_date(&m.from).is_some_and(|f| f <= today)
                && (m.to.is_empty() || parse_date(&m.to).is_some_and(|t| t >= today))
        })
    };
    let jeune_majeur = measure_current(MeasureKind::JeuneMajeur);
    let placement_measure = measure_current(MeasureKind::PlacementJudiciaire)
        || measure_current(MeasureKind::AccueilProvisoire)
        || measure_current(MeasureKind::Tdc);
    let _ = ts;
    Ctx {
        req,
        child,
        as_of,
        today,
        age,
        adult,
        emancipated,
        dmp_minor: config.dmp.fonctions_gestion_mineurs && age < i32::from(config.dmp.age_majorite),
        period,
        regime,
        ap_unknown,
        holders,
        representatives,
        rep2_unsafe,
        rep3_unsafe,
        child_party,
        sender,
        sender_rows,
        sender_missions,
        overlays: applied,
        ins_qualified,
        jeune_majeur,
        placement_measure,
    }
}
