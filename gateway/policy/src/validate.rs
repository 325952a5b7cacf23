//! Structural and consistency validation of a request (GEN-2): malformed input is an error with one
//! entry per field (JSON camelCase paths), never a silent allow.
use std::collections::HashSet;

use passerelle_api::v1::{
    Actor, ApRegime, Channel, DocumentKind, MissionKind, PartyRole, Sensitivity, SignerCapacity,
    SubmitRequest, information_record, target,
};
use time::Date;

use crate::catalogue::{self, kind_info};
use crate::dates::{age_on, parse_date};
use crate::error::FieldViolation;

/// Rules that an `overrides` record may lift (policy.md §5, "overridable").
pub(crate) const OVERRIDABLE: &[&str] = &["IP-1", "CH-3"];

struct V {
    out: Vec<FieldViolation>,
}

impl V {
    fn add(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.out.push(FieldViolation::new(field, reason));
    }
    fn date(&mut self, field: &str, value: &str, required: bool) -> Option<Date> {
        if value.is_empty() {
            if required {
                self.add(field, "required (YYYY-MM-DD)");
            }
            return None;
        }
        let d = parse_date(value);
        if d.is_none() {
            self.add(field, format!("{value:?} is not a YYYY-MM-DD date"));
        }
        d
    }
}

fn actor(v: &mut V, a: &Actor, path: &str) {
    if let Some(p) = &a.person {
        for (i, c) in p.professions.iter().enumerate() {
            match catalogue::is_known_code(&c.system, &c.code) {
                Err(()) => v.add(
                    format!("{path}.person.professions[{i}].system"),
                    format!("unknown code system {:?} (expected TRE_G15, TRE_R94, TRE_R85 or TRE_R95 OID)", c.system),
                ),
                Ok(false) => v.add(
                    format!("{path}.person.professions[{i}].code"),
                    format!("unknown role/profession code {:?} in {}", c.code, c.system),
                ),
                Ok(true) => {}
            }
        }
        if let Some(f) = &p.fonction
            && !f.code.is_empty()
        {
            if !catalogue::is_r21_system(&f.system) {
                v.add(
                    format!("{path}.person.fonction.system"),
                    format!("unknown code system {:?} (TRE_R21 expected)", f.system),
                );
            } else if !catalogue::is_r21_code(&f.code) {
                v.add(
                    format!("{path}.person.fonction.code"),
                    format!("unknown TRE_R21 code {:?}", f.code),
                );
            }
        }
    }
    if a.structure.is_none() {
        v.add(format!("{path}.structure"), "required");
    }
    for (i, m) in a.missions.iter().enumerate() {
        let mp = format!("{path}.missions[{i}]");
        if MissionKind::try_from(m.kind).unwrap_or(MissionKind::Unspecified)
            == MissionKind::Unspecified
        {
            v.add(format!("{mp}.kind"), "required");
        }
        let from = v.date(&format!("{mp}.from"), &m.from, true);
        let to = v.date(&format!("{mp}.to"), &m.to, false);
        if let (Some(f), Some(t)) = (from, to)
            && t < f
        {
            v.add(format!("{mp}.to"), "before `from`");
        }
    }
}

/// Validates the request at the decision date `today` (Europe/Paris).
pub(crate) fn validate(req: &SubmitRequest, today: Date) -> Vec<FieldViolation> {
    let mut v = V { out: Vec::new() };
    if req.tenant.is_empty() {
        v.add("tenant", "required");
    }
    match req.sender.as_ref().and_then(|s| s.actor.as_ref()) {
        None => v.add(
            "sender.actor",
            "required: the sending structure and the person who initiates",
        ),
        Some(a) => actor(&mut v, a, "sender.actor"),
    }

    // ---- child ----
    let mut party_ids: HashSet<&str> = HashSet::new();
    let mut child_birth = None;
    match &req.child {
        None => v.add("child", "required"),
        Some(c) => {
            let birth = v.date("child.birthDate", &c.birth_date, true);
            if let Some(b) = birth
                && b > today
            {
                v.add(
                    "child.birthDate",
                    "is in the future (after the decision date)",
                );
            }
            child_birth = birth.filter(|b| *b <= today);
            if let Some(ins) = &c.ins
                && !ins.birth_date.is_empty()
                && ins.birth_date != c.birth_date
            {
                v.add("child.ins.birthDate", "contradicts child.birthDate");
            }
            if !c.residence_departement.is_empty()
                && !crate::config::is_departement(&c.residence_departement)
            {
                v.add(
                    "child.residenceDepartement",
                    format!("{:?} is not a département code", c.residence_departement),
                );
            }
            for (i, p) in c.parties.iter().enumerate() {
                if p.id.is_empty() {
                    v.add(format!("child.parties[{i}].id"), "required");
                } else if !party_ids.insert(p.id.as_str()) {
                    v.add(
                        format!("child.parties[{i}].id"),
                        format!("duplicate party id {:?}", p.id),
                    );
                }
                if PartyRole::try_from(p.role).unwrap_or(PartyRole::Unspecified)
                    == PartyRole::Unspecified
                {
                    v.add(format!("child.parties[{i}].role"), "required");
                }
            }
            if c.parties
                .iter()
                .filter(|p| p.role == PartyRole::Child as i32)
                .count()
                > 1
            {
                v.add("child.parties", "more than one party has role CHILD");
            }
            let role_of = |id: &str| c.parties.iter().find(|p| p.id == id).map(|p| p.role);
            // AP timeline: well-formed, no overlap, no contradiction with the ages.
            let mut spans: Vec<(usize, Date, Option<Date>)> = Vec::new();
            for (i, p) in c.ap_timeline.iter().enumerate() {
                let pp = format!("child.apTimeline[{i}]");
                let from = v.date(&format!("{pp}.from"), &p.from, true);
                let to = v.date(&format!("{pp}.to"), &p.to, false);
                v.date(&format!("{pp}.decisionDate"), &p.decision_date, false);
                let regime = ApRegime::try_from(p.regime).unwrap_or(ApRegime::Unspecified);
                if regime == ApRegime::Unspecified {
                    v.add(format!("{pp}.regime"), "required");
                }
                if let (Some(f), Some(t)) = (from, to)
                    && t < f
                {
                    v.add(format!("{pp}.to"), "before `from`");
                }
                let mut seen = HashSet::new();
                for (h, holder) in p.holders.iter().enumerate() {
                    match role_of(&holder.party_id) {
                        None => v.add(
                            format!("{pp}.holders[{h}].partyId"),
                            format!("unknown party {:?}", holder.party_id),
                        ),
                        Some(r)
                            if r == PartyRole::Child as i32
                                && !matches!(regime, ApRegime::Emancipated | ApRegime::Adult) =>
                        {
                            v.add(
                                format!("{pp}.holders[{h}].partyId"),
                                "the child cannot hold parental authority over itself",
                            )
                        }
                        _ => {}
                    }
                    if !seen.insert(holder.party_id.as_str()) {
                        v.add(format!("{pp}.holders[{h}].partyId"), "listed twice");
                    }
                }
                match regime {
                    ApRegime::Conjoint if p.holders.len() == 1 => v.add(
                        format!("{pp}.holders"),
                        "CONJOINT exercise needs both holders (one holder: UNILATERAL)",
                    ),
                    ApRegime::Unilateral if p.holders.len() > 1 => v.add(
                        format!("{pp}.holders"),
                        "UNILATERAL exercise has a single holder",
                    ),
                    ApRegime::RetraitTotal | ApRegime::RetraitPartial => {
                        if p.withdrawn_party_id.is_empty() {
                            v.add(
                                format!("{pp}.withdrawnPartyId"),
                                "required for a RETRAIT period",
                            );
                        } else if role_of(&p.withdrawn_party_id).is_none() {
                            v.add(
                                format!("{pp}.withdrawnPartyId"),
                                format!("unknown party {:?}", p.withdrawn_party_id),
                            );
                        } else if p.holders.iter().any(|h| h.party_id == p.withdrawn_party_id) {
                            v.add(
                                format!("{pp}.withdrawnPartyId"),
                                "contradiction: the withdrawn parent is also a holder",
                            );
                        }
                    }
                    _ => {}
                }
                if let (Some(b), Some(f)) = (birth, from) {
                    if f < b {
                        v.add(format!("{pp}.from"), "before the child's birth date");
                    }
                    if regime == ApRegime::Adult && age_on(b, f) < 18 {
                        v.add(
                            format!("{pp}.regime"),
                            "contradiction: ADULT period starts before the 18th birthday",
                        );
                    }
                    if regime == ApRegime::Emancipated && age_on(b, f) < 16 {
                        v.add(
                            format!("{pp}.regime"),
                            "contradiction: emancipation is possible from 16 only",
                        );
                    }
                }
                if let Some(f) = from {
                    spans.push((i, f, to));
                }
            }
            for a in 0..spans.len() {
                for b in (a + 1)..spans.len() {
                    let (ia, fa, ta) = spans[a];
                    let (ib, fb, tb) = spans[b];
                    let a_ends_before = ta.is_some_and(|t| t < fb);
                    let b_ends_before = tb.is_some_and(|t| t < fa);
                    if !a_ends_before && !b_ends_before {
                        let (first, second) = if fa <= fb { (ia, ib) } else { (ib, ia) };
                        v.add(
                            format!("child.apTimeline[{second}].from"),
                            format!("overlaps apTimeline[{first}]: parental-authority periods must not overlap"),
                        );
                    }
                }
            }
            for (i, m) in c.measures.iter().enumerate() {
                if m.kind == 0 {
                    v.add(format!("child.measures[{i}].kind"), "required");
                }
                let f = v.date(&format!("child.measures[{i}].from"), &m.from, true);
                let t = v.date(&format!("child.measures[{i}].to"), &m.to, false);
                if let (Some(f), Some(t)) = (f, t)
                    && t < f
                {
                    v.add(format!("child.measures[{i}].to"), "before `from`");
                }
            }
            for (i, id) in c.alleged_author_party_ids.iter().enumerate() {
                if !party_ids.contains(id.as_str()) {
                    v.add(
                        format!("child.allegedAuthorPartyIds[{i}]"),
                        format!("unknown party {id:?}"),
                    );
                }
            }
            let mut ms_ids = HashSet::new();
            for (i, m) in c.minor_secrecy.iter().enumerate() {
                if m.id.is_empty() || !ms_ids.insert(m.id.as_str()) {
                    v.add(format!("child.minorSecrecy[{i}].id"), "required and unique");
                }
                if m.basis == 0 {
                    v.add(format!("child.minorSecrecy[{i}].basis"), "required");
                }
                if m.recorded_by.is_none() {
                    v.add(
                        format!("child.minorSecrecy[{i}].recordedBy"),
                        "required: the health professional who recorded it",
                    );
                }
            }
            for (i, o) in c.oppositions.iter().enumerate() {
                if o.kind == 0 {
                    v.add(format!("child.oppositions[{i}].kind"), "required");
                }
                if o.kind == passerelle_api::v1::OppositionKind::DocumentKind as i32
                    && o.document_kind == 0
                {
                    v.add(
                        format!("child.oppositions[{i}].documentKind"),
                        "required for a DOCUMENT_KIND opposition",
                    );
                }
            }
            if let Some(sc) = &c.dmp_secret_connection
                && sc.set_by.is_none()
            {
                v.add(
                    "child.dmpSecretConnection.setBy",
                    "required: the health professional who set it with the minor",
                );
            }
        }
    }
    let _ = child_birth;

    // ---- documents ----
    let mut doc_ids = HashSet::new();
    if req.documents.is_empty() {
        v.add("documents", "at least one document is required");
    }
    let ms_ids: HashSet<&str> = req
        .child
        .as_ref()
        .map(|c| c.minor_secrecy.iter().map(|m| m.id.as_str()).collect())
        .unwrap_or_default();
    for (i, d) in req.documents.iter().enumerate() {
        let dp = format!("documents[{i}]");
        if d.id.is_empty() {
            v.add(format!("{dp}.id"), "required");
        } else if !doc_ids.insert(d.id.as_str()) {
            v.add(
                format!("{dp}.id"),
                format!("duplicate document id {:?}", d.id),
            );
        }
        match kind_info(d.kind) {
            None => v.add(
                format!("{dp}.kind"),
                "required: a document kind of the catalogue",
            ),
            Some(k) => {
                let s = Sensitivity::try_from(d.sensitivity).unwrap_or(Sensitivity::Unspecified);
                if s != Sensitivity::Unspecified && (s as i32) < (k.sensitivity as i32) {
                    v.add(
                        format!("{dp}.sensitivity"),
                        format!(
                            "below the default of {} ({})",
                            k.code,
                            k.sensitivity.as_str_name()
                        ),
                    );
                }
            }
        }
        if !d.minor_secrecy_ref.is_empty() && !ms_ids.contains(d.minor_secrecy_ref.as_str()) {
            v.add(
                format!("{dp}.minorSecrecyRef"),
                format!("no child.minorSecrecy record {:?}", d.minor_secrecy_ref),
            );
        }
        v.date(&format!("{dp}.actDate"), &d.act_date, false);
        if let Some(a) = &d.author {
            actor(&mut v, a, &format!("{dp}.author"));
        }
        for (s, sig) in d.signatures.iter().enumerate() {
            let sp = format!("{dp}.signatures[{s}]");
            let cap = SignerCapacity::try_from(sig.capacity).unwrap_or(SignerCapacity::Unspecified);
            if cap == SignerCapacity::Unspecified {
                v.add(format!("{sp}.capacity"), "required");
            }
            if matches!(
                cap,
                SignerCapacity::ApHolder | SignerCapacity::Delegataire | SignerCapacity::Tuteur
            ) && !party_ids.contains(sig.party_id.as_str())
            {
                v.add(
                    format!("{sp}.partyId"),
                    format!("unknown party {:?}", sig.party_id),
                );
            }
            let valid_to = v.date(
                &format!("{sp}.jeValidTo"),
                &sig.je_valid_to,
                cap == SignerCapacity::JeAuthorisation,
            );
            let _ = valid_to;
        }
        if d.kind == DocumentKind::AutorisSoins as i32
            && let Some(passerelle_api::v1::document::Content::AutorisationSoins(a)) = &d.content
            && d.act_kind != 0
            && a.act_kind != 0
            && d.act_kind != a.act_kind
        {
            v.add(
                format!("{dp}.autorisationSoins.actKind"),
                "contradicts documents.actKind",
            );
        }
    }

    // ---- targets ----
    if req.targets.is_empty() {
        v.add("targets", "at least one target is required");
    }
    let mut target_ids = HashSet::new();
    let child_mes = req
        .child
        .as_ref()
        .map(|c| c.mes_address.as_str())
        .unwrap_or("");
    for (i, t) in req.targets.iter().enumerate() {
        let tp = format!("targets[{i}]");
        if t.id.is_empty() {
            v.add(format!("{tp}.id"), "required");
        } else if !target_ids.insert(t.id.as_str()) {
            v.add(
                format!("{tp}.id"),
                format!("duplicate target id {:?}", t.id),
            );
        }
        let ch = Channel::try_from(t.channel).unwrap_or(Channel::Unspecified);
        if ch == Channel::Unspecified {
            v.add(
                format!("{tp}.channel"),
                "required: CHANNEL_MSSANTE, CHANNEL_MES or CHANNEL_DMP",
            );
        }
        match &t.recipient {
            None => v.add(
                format!("{tp}.recipient"),
                "required: professional, partyId or child",
            ),
            Some(target::Recipient::Professional(a)) => {
                if ch != Channel::Mssante && ch != Channel::Unspecified {
                    v.add(
                        format!("{tp}.professional"),
                        "a professional is reached by CHANNEL_MSSANTE only",
                    );
                }
                actor(&mut v, a, &format!("{tp}.professional"));
            }
            Some(target::Recipient::PartyId(p)) => {
                if !party_ids.contains(p.as_str()) {
                    v.add(format!("{tp}.partyId"), format!("unknown party {p:?}"));
                }
                if ch == Channel::Dmp {
                    v.add(
                        format!("{tp}.partyId"),
                        "a DMP target's recipient is the child",
                    );
                }
            }
            Some(target::Recipient::Child(_)) => {
                if ch == Channel::Mssante {
                    v.add(format!("{tp}.child"), "the child is reached by CHANNEL_MES, never by a professional MSSanté target");
                }
            }
        }
        if ch == Channel::Mssante && t.mss_address.is_empty() {
            v.add(format!("{tp}.mssAddress"), "required for CHANNEL_MSSANTE");
        }
        if ch == Channel::Mes && t.mss_address.is_empty() && child_mes.is_empty() {
            v.add(
                format!("{tp}.mssAddress"),
                "required for CHANNEL_MES (or child.mesAddress)",
            );
        }
        if !t.mss_address.is_empty() && !t.mss_address.contains('@') {
            v.add(format!("{tp}.mssAddress"), "not an e-mail address");
        }
        for (j, d) in t.document_ids.iter().enumerate() {
            if !doc_ids.contains(d.as_str()) {
                v.add(
                    format!("{tp}.documentIds[{j}]"),
                    format!("unknown document {d:?}"),
                );
            }
        }
    }

    // ---- legal context ----
    match &req.legal {
        None => v.add(
            "legal",
            "required: basis, purpose, necessity note, information records",
        ),
        Some(l) => {
            if l.basis == 0 {
                v.add(
                    "legal.basis",
                    "required: the legal basis of the transmission",
                );
            }
            if l.purpose == 0 {
                v.add("legal.purpose", "required: the purpose of the transmission");
            }
            for (i, r) in l.information.iter().enumerate() {
                let ip = format!("legal.information[{i}]");
                if !party_ids.contains(r.party_id.as_str()) {
                    v.add(
                        format!("{ip}.partyId"),
                        format!("unknown party {:?}", r.party_id),
                    );
                }
                match &r.status {
                    None => v.add(ip, "neither done, waived nor notApplicable"),
                    Some(information_record::Status::Done(d)) => {
                        if d.at.is_none() {
                            v.add(
                                format!("{ip}.done.at"),
                                "required: when the person was informed",
                            );
                        }
                    }
                    Some(information_record::Status::Waived(w)) => {
                        if w.decided_by.is_none() {
                            v.add(
                                format!("{ip}.waived.decidedBy"),
                                "required: who decided the waiver",
                            );
                        }
                        if w.at.is_none() {
                            v.add(format!("{ip}.waived.at"), "required");
                        }
                    }
                    Some(information_record::Status::NotApplicable(n)) => {
                        if n.decided_by.is_none() {
                            v.add(
                                format!("{ip}.notApplicable.decidedBy"),
                                "required: the professional who decided it",
                            );
                        }
                    }
                }
            }
            for (i, c) in l.consents.iter().enumerate() {
                if !party_ids.contains(c.party_id.as_str()) {
                    v.add(
                        format!("legal.consents[{i}].partyId"),
                        format!("unknown party {:?}", c.party_id),
                    );
                }
                if c.at.is_none() {
                    v.add(format!("legal.consents[{i}].at"), "required");
                }
            }
            for (i, o) in l.overrides.iter().enumerate() {
                if !OVERRIDABLE.contains(&o.rule_id.as_str()) {
                    v.add(
                        format!("legal.overrides[{i}].ruleId"),
                        format!("rule {:?} is not overridable (only IP-1, CH-3)", o.rule_id),
                    );
                }
                if o.decided_by.is_none() {
                    v.add(format!("legal.overrides[{i}].decidedBy"), "required");
                }
                if o.at.is_none() {
                    v.add(format!("legal.overrides[{i}].at"), "required");
                }
            }
        }
    }
    v.out
}
