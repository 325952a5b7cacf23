//! Structural validation of a submission, before the policy engine: shapes, sizes, identifiers and
//! their keys, PDF magic, dates. Every problem is reported (one entry per field, JSON path in
//! camelCase as in the HTTP body), never only the first.

use std::collections::HashSet;

use passerelle_api::v1::{self, Channel, DocumentKind, SubmitRequest, document::Content, target};
use time::Date;

use crate::ids;

/// One invalid field: its path in the JSON body and the reason (never the value itself).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldViolation {
    pub field: String,
    pub reason: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Published hard limits per submission (engineering.md §5 rule 19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub max_documents: usize,
    pub max_targets: usize,
    pub max_pdf_bytes: usize,
    pub max_text_bytes: usize,
    pub max_idempotency_key: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_documents: 20,
            max_targets: 50,
            max_pdf_bytes: 20 * 1024 * 1024,
            max_text_bytes: 1024 * 1024,
            max_idempotency_key: 128,
        }
    }
}

/// Parses an ISO 8601 calendar date "YYYY-MM-DD".
pub fn parse_date(s: &str) -> Option<Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s, &fmt).ok()
}

struct V {
    out: Vec<FieldViolation>,
}

impl V {
    fn push(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.out.push(FieldViolation::new(field, reason));
    }

    fn date(&mut self, field: &str, s: &str, required: bool) -> Option<Date> {
        if s.is_empty() {
            if required {
                self.push(field, "required (YYYY-MM-DD)");
            }
            return None;
        }
        let d = parse_date(s);
        if d.is_none() {
            self.push(field, "not a calendar date in the form YYYY-MM-DD");
        }
        d
    }

    fn mailbox(&mut self, field: &str, s: &str) {
        if let Err(e) = ids::check_mailbox(s) {
            self.push(field, e);
        }
    }

    /// `identified`: the structure must carry a FINESS or SIRET (the sender); a recipient's may be
    /// unknown to the DUI (courts, PJJ), which the policy then judges.
    fn actor(&mut self, path: &str, a: &v1::Actor, identified: bool) {
        if let Some(p) = &a.person {
            self.person(&format!("{path}.person"), p);
        }
        match &a.structure {
            None => self.push(format!("{path}.structure"), "required"),
            Some(s) => self.structure(&format!("{path}.structure"), s, identified),
        }
        for (i, m) in a.missions.iter().enumerate() {
            let mp = format!("{path}.missions[{i}]");
            if m.kind == 0 {
                self.push(format!("{mp}.kind"), "required");
            }
            let from = self.date(&format!("{mp}.from"), &m.from, true);
            let to = self.date(&format!("{mp}.to"), &m.to, false);
            if let (Some(f), Some(t)) = (from, to)
                && t < f
            {
                self.push(format!("{mp}.to"), "ends before it starts");
            }
        }
    }

    fn person(&mut self, path: &str, p: &v1::Person) {
        if let Some(id) = &p.id {
            let r = match v1::PersonIdKind::try_from(id.kind) {
                Ok(v1::PersonIdKind::Rpps) => ids::check_rpps(&id.value),
                Ok(v1::PersonIdKind::Adeli) => ids::check_adeli(&id.value),
                Ok(v1::PersonIdKind::Internal) => {
                    if id.value.is_empty() || id.structure_idnat.is_empty() {
                        Err("an internal id needs value and structureIdnat")
                    } else {
                        Ok(())
                    }
                }
                _ => Err("kind is required (RPPS, ADELI or INTERNAL)"),
            };
            if let Err(e) = r {
                self.push(format!("{path}.id"), e);
            }
        }
        for (i, c) in p.professions.iter().enumerate() {
            if c.system.is_empty() || c.code.is_empty() {
                self.push(
                    format!("{path}.professions[{i}]"),
                    "system and code are required",
                );
            }
        }
        for (i, m) in p.mss.iter().enumerate() {
            self.mailbox(&format!("{path}.mss[{i}].address"), &m.address);
        }
    }

    fn structure(&mut self, path: &str, s: &v1::Structure, identified: bool) {
        if identified && s.finess_ej.is_empty() && s.finess_et.is_empty() && s.siret.is_empty() {
            self.push(
                path.to_string(),
                "a structure needs a FINESS (EJ or ET) or a SIRET",
            );
        }
        if !s.finess_ej.is_empty()
            && let Err(e) = ids::check_finess(&s.finess_ej)
        {
            self.push(format!("{path}.finessEj"), e);
        }
        if !s.finess_et.is_empty()
            && let Err(e) = ids::check_finess(&s.finess_et)
        {
            self.push(format!("{path}.finessEt"), e);
        }
        if !s.siret.is_empty()
            && let Err(e) = ids::check_siret(&s.siret)
        {
            self.push(format!("{path}.siret"), e);
        }
        if !s.departement.is_empty()
            && let Err(e) = ids::check_departement(&s.departement)
        {
            self.push(format!("{path}.departement"), e);
        }
        if s.kind == 0 {
            self.push(format!("{path}.kind"), "required");
        }
        for (i, m) in s.mss.iter().enumerate() {
            self.mailbox(&format!("{path}.mss[{i}].address"), &m.address);
        }
    }
}

/// Validates the request's structure. `today` is the decision date (birth dates in the future are
/// refused against it). Returns every violation found.
pub fn validate_submission(
    req: &SubmitRequest,
    limits: &Limits,
    today: Date,
) -> Vec<FieldViolation> {
    let mut v = V { out: Vec::new() };
    if req.tenant.is_empty() {
        v.push("tenant", "required");
    }
    if req.idempotency_key.len() > limits.max_idempotency_key
        || req
            .idempotency_key
            .bytes()
            .any(|b| !(0x21..=0x7e).contains(&b))
    {
        v.push(
            "idempotencyKey",
            format!(
                "at most {} printable ASCII characters without spaces",
                limits.max_idempotency_key
            ),
        );
    }
    match &req.sender {
        None => v.push("sender", "required"),
        Some(s) => match &s.actor {
            None => v.push("sender.actor", "required"),
            Some(a) => {
                v.actor("sender.actor", a, true);
                if a.person.is_none() {
                    v.push(
                        "sender.actor.person",
                        "a named human initiates each transmission (SP-4)",
                    );
                }
            }
        },
    }
    match &req.child {
        None => v.push("child", "required"),
        Some(c) => validate_child(&mut v, c, today),
    }

    // Documents
    if req.documents.is_empty() {
        v.push("documents", "at least one document is required");
    }
    if req.documents.len() > limits.max_documents {
        v.push(
            "documents",
            format!(
                "at most {} documents per transmission",
                limits.max_documents
            ),
        );
    }
    let mut doc_ids = HashSet::new();
    for (i, d) in req.documents.iter().enumerate() {
        let p = format!("documents[{i}]");
        if d.id.is_empty() {
            v.push(format!("{p}.id"), "required");
        } else if !doc_ids.insert(d.id.as_str()) {
            v.push(format!("{p}.id"), "duplicate document id in this request");
        }
        if DocumentKind::try_from(d.kind).map_or(true, |k| k == DocumentKind::Unspecified) {
            v.push(format!("{p}.kind"), "required: a kind of the catalogue");
        }
        if d.title.trim().is_empty() {
            v.push(format!("{p}.title"), "required");
        }
        v.date(&format!("{p}.actDate"), &d.act_date, false);
        if let Some(a) = &d.author {
            v.actor(&format!("{p}.author"), a, false);
        }
        match &d.content {
            None => v.push(
                format!("{p}.content"),
                "required: structured content of the kind, or a supplied PDF",
            ),
            Some(Content::Pdf(pdf)) => {
                if pdf.data.len() > limits.max_pdf_bytes {
                    v.push(
                        format!("{p}.pdf.data"),
                        format!("larger than the limit of {} bytes", limits.max_pdf_bytes),
                    );
                } else if !pdf.data.starts_with(b"%PDF-") {
                    v.push(format!("{p}.pdf.data"), "not a PDF (no %PDF- header)");
                }
            }
            Some(_) => {
                let size = prost::Message::encoded_len(d);
                if size > limits.max_text_bytes {
                    v.push(
                        format!("{p}.content"),
                        format!(
                            "structured content larger than {} bytes",
                            limits.max_text_bytes
                        ),
                    );
                }
            }
        }
    }

    // Targets
    if req.targets.is_empty() {
        v.push("targets", "at least one target is required");
    }
    if req.targets.len() > limits.max_targets {
        v.push(
            "targets",
            format!("at most {} targets per transmission", limits.max_targets),
        );
    }
    let mut target_ids = HashSet::new();
    for (i, t) in req.targets.iter().enumerate() {
        let p = format!("targets[{i}]");
        if t.id.is_empty() {
            v.push(format!("{p}.id"), "required");
        } else if !target_ids.insert(t.id.as_str()) {
            v.push(format!("{p}.id"), "duplicate target id in this request");
        }
        let channel = Channel::try_from(t.channel).unwrap_or(Channel::Unspecified);
        match channel {
            Channel::Unspecified => v.push(
                format!("{p}.channel"),
                "required: CHANNEL_MSSANTE, CHANNEL_MES or CHANNEL_DMP",
            ),
            Channel::Mssante => {
                if t.mss_address.is_empty() {
                    v.push(format!("{p}.mssAddress"), "required for CHANNEL_MSSANTE");
                } else {
                    v.mailbox(&format!("{p}.mssAddress"), &t.mss_address);
                }
                if t.recipient.is_none() {
                    v.push(
                        format!("{p}.recipient"),
                        "required: professional (or partyId, which the policy refuses)",
                    );
                }
            }
            Channel::Mes => {
                if !t.mss_address.is_empty() {
                    v.mailbox(&format!("{p}.mssAddress"), &t.mss_address);
                }
            }
            Channel::Dmp => {}
        }
        if let Some(target::Recipient::Professional(a)) = &t.recipient {
            v.actor(&format!("{p}.professional"), a, false);
        }
        for (j, d) in t.document_ids.iter().enumerate() {
            if !doc_ids.contains(d.as_str()) {
                v.push(
                    format!("{p}.documentIds[{j}]"),
                    "names no document of this request",
                );
            }
        }
    }

    match &req.legal {
        None => v.push("legal", "required"),
        Some(l) => {
            if l.basis == 0 {
                v.push("legal.basis", "required");
            }
            if l.purpose == 0 {
                v.push("legal.purpose", "required");
            }
        }
    }
    if let Some(r) = &req.replaces {
        if r.transmission_id.is_empty() && r.unique_id.is_empty() {
            v.push(
                "replaces",
                "name the replaced transmission (transmissionId) or document (uniqueId)",
            );
        }
        if r.operation == 0 {
            v.push("replaces.operation", "required: REPLACE or DELETE");
        }
    }
    v.out
}

fn validate_child(v: &mut V, c: &v1::ChildContext, today: Date) {
    let birth = v.date("child.birthDate", &c.birth_date, true);
    if let Some(b) = birth
        && b > today
    {
        v.push("child.birthDate", "in the future");
    }
    if c.residence_departement.is_empty() {
        v.push("child.residenceDepartement", "required (IP-1 competence)");
    } else if let Err(e) = ids::check_departement(&c.residence_departement) {
        v.push("child.residenceDepartement", e);
    }
    if c.local_id.is_empty() && c.ins.is_none() {
        v.push("child.localId", "the DUI file number or an INS is required");
    }
    if let Some(ins) = &c.ins {
        let status = v1::InsStatus::try_from(ins.status).unwrap_or(v1::InsStatus::Unspecified);
        if status != v1::InsStatus::Absent && status != v1::InsStatus::Unspecified {
            if let Err(e) = ids::check_ins(&ins.matricule) {
                v.push("child.ins.matricule", e);
            }
            if !ids::is_ins_oid(&ins.oid) {
                v.push(
                    "child.ins.oid",
                    "an INS OID: 1.2.250.1.213.1.4.8 (NIR), .9 (NIA), .10 (test), .11 (demo)",
                );
            }
        }
        if status == v1::InsStatus::Qualified {
            if ins.birth_family_name.is_empty() {
                v.push("child.ins.birthFamilyName", "required for a qualified INS");
            }
            if ins.first_given_name.is_empty() {
                v.push("child.ins.firstGivenName", "required for a qualified INS");
            }
            if ins.gender == 0 {
                v.push("child.ins.gender", "required for a qualified INS");
            }
            let ib = v.date("child.ins.birthDate", &ins.birth_date, true);
            if let (Some(a), Some(b)) = (ib, birth)
                && a != b
            {
                v.push("child.ins.birthDate", "differs from child.birthDate");
            }
        }
    }
    let mut party_ids = HashSet::new();
    for (i, p) in c.parties.iter().enumerate() {
        if p.id.is_empty() {
            v.push(format!("child.parties[{i}].id"), "required");
        } else if !party_ids.insert(p.id.as_str()) {
            v.push(format!("child.parties[{i}].id"), "duplicate party id");
        }
        if p.role == 0 {
            v.push(format!("child.parties[{i}].role"), "required");
        }
    }
    for (i, period) in c.ap_timeline.iter().enumerate() {
        let p = format!("child.apTimeline[{i}]");
        let from = v.date(&format!("{p}.from"), &period.from, true);
        let to = v.date(&format!("{p}.to"), &period.to, false);
        if let (Some(f), Some(t)) = (from, to)
            && t < f
        {
            v.push(format!("{p}.to"), "ends before it starts");
        }
        if period.regime == 0 {
            v.push(format!("{p}.regime"), "required");
        }
        for (j, h) in period.holders.iter().enumerate() {
            if !party_ids.contains(h.party_id.as_str()) {
                v.push(
                    format!("{p}.holders[{j}].partyId"),
                    "names no party of child.parties",
                );
            }
        }
    }
    for (i, a) in c.alleged_author_party_ids.iter().enumerate() {
        if !party_ids.contains(a.as_str()) {
            v.push(
                format!("child.allegedAuthorPartyIds[{i}]"),
                "names no party of child.parties",
            );
        }
    }
    for (i, m) in c.measures.iter().enumerate() {
        let p = format!("child.measures[{i}]");
        if m.kind == 0 {
            v.push(format!("{p}.kind"), "required");
        }
        v.date(&format!("{p}.from"), &m.from, true);
        v.date(&format!("{p}.to"), &m.to, false);
    }
    if !c.mes_address.is_empty() {
        v.mailbox("child.mesAddress", &c.mes_address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn empty_request_names_every_missing_field() {
        let errs = validate_submission(
            &SubmitRequest::default(),
            &Limits::default(),
            date!(2026 - 11 - 25),
        );
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        for f in ["tenant", "sender", "child", "documents", "targets", "legal"] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
    }

    #[test]
    fn bad_pdf_and_future_birth_are_named() {
        let req = SubmitRequest {
            tenant: "t".into(),
            child: Some(v1::ChildContext {
                local_id: "X".into(),
                birth_date: "2030-01-01".into(),
                residence_departement: "93".into(),
                ..Default::default()
            }),
            documents: vec![v1::Document {
                id: "d1".into(),
                kind: DocumentKind::CrMedical as i32,
                title: "CR".into(),
                content: Some(Content::Pdf(v1::SuppliedPdf {
                    data: bytes::Bytes::from_static(b"GIF89a"),
                    file_name: String::new(),
                })),
                ..Default::default()
            }],
            ..Default::default()
        };
        let errs = validate_submission(&req, &Limits::default(), date!(2026 - 11 - 25));
        assert!(
            errs.iter()
                .any(|e| e.field == "child.birthDate" && e.reason == "in the future")
        );
        assert!(errs.iter().any(|e| e.field == "documents[0].pdf.data"));
    }
}
