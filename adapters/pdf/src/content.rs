//! Structured content -> blocks, with French labels. One builder per content message.

use passerelle_api::v1::document::Content;
use passerelle_api::v1::{
    ActKind, Action, AutorisationSoinsContent, BilanPsyContent, ChildContext,
    CompteRenduEducatifContent, ContratContent, DangerLevel, DocumentSignature,
    EvaluationReportContent, FicheLiaisonUrgenceContent, FicheNavetteContent, GenericContent,
    HealthReportContent, IpReportContent, Opinion, PartyRole, PpeContent,
    ProjetPersonnaliseContent, Section, SignatureLine, SignerCapacity, SituationReportContent,
    need,
};

use crate::fonts::Fonts;
use crate::labels::{
    act_kind, born, danger_level, date_fr, datetime_fr, ins_status, need_domain, party_role,
    sensitivity_label, signer_capacity, yes_no,
};
use crate::layout::{Block, Span, clean};
use crate::{Prepared, RenderContext};

/// Appends blocks, cleaning every caller string on the way in.
struct Out<'f> {
    fonts: &'f Fonts,
    blocks: Vec<Block>,
}

impl Out<'_> {
    fn c(&self, s: &str) -> String {
        clean(self.fonts, s.trim())
    }

    fn heading(&mut self, t: &str) {
        self.blocks.push(Block::Heading(t.to_string()));
    }

    fn para(&mut self, text: &str) {
        if !text.trim().is_empty() {
            let t = self.c(text);
            self.blocks.push(Block::Paragraph(vec![Span::regular(t)]));
        }
    }

    /// "Label : value" on one paragraph; skipped when the value is empty.
    fn field(&mut self, label: &str, value: &str) {
        if !value.trim().is_empty() {
            let v = self.c(value);
            self.blocks.push(Block::Paragraph(vec![
                Span::bold(format!("{label}\u{a0}: ")),
                Span::regular(v),
            ]));
        }
    }

    fn bullet(&mut self, spans: Vec<Span>, level: u8) {
        self.blocks.push(Block::Bullet(spans, level));
    }

    /// A titled list of plain strings; nothing when empty.
    fn list(&mut self, title: &str, items: &[String]) {
        let items: Vec<&String> = items.iter().filter(|s| !s.trim().is_empty()).collect();
        if items.is_empty() {
            return;
        }
        self.heading(title);
        for it in items {
            let t = self.c(it);
            self.bullet(vec![Span::regular(t)], 0);
        }
    }

    fn numbered(&mut self, title: &str, items: &[String]) {
        let items: Vec<&String> = items.iter().filter(|s| !s.trim().is_empty()).collect();
        if items.is_empty() {
            return;
        }
        self.heading(title);
        for (i, it) in items.into_iter().enumerate() {
            let t = self.c(it);
            self.blocks
                .push(Block::Numbered(i + 1, vec![Span::regular(t)]));
        }
    }

    fn dates(&mut self, title: &str, dates: &[String]) {
        let d: Vec<String> = dates.iter().map(|d| date_fr(d.trim())).collect();
        self.list(title, &d);
    }

    /// Titled free-text sections; each section title becomes a heading.
    fn sections(&mut self, sections: &[Section]) {
        for s in sections {
            if s.title.trim().is_empty() && s.text.trim().is_empty() {
                continue;
            }
            let title = if s.title.trim().is_empty() {
                "Observations".to_string()
            } else {
                self.c(&s.title)
            };
            self.heading(&title);
            self.para(&s.text);
        }
    }

    fn text_section(&mut self, title: &str, text: &str) {
        if !text.trim().is_empty() {
            self.heading(title);
            self.para(text);
        }
    }

    fn detail(&self, label: &str, value: &str) -> Option<String> {
        let v = value.trim();
        (!v.is_empty()).then(|| format!("{label}\u{a0}: {}", self.c(v)))
    }

    fn actions(&mut self, title: &str, actions: &[Action]) {
        if actions.is_empty() {
            return;
        }
        self.heading(title);
        for a in actions {
            let desc = if a.description.trim().is_empty() {
                "(action sans description)".to_string()
            } else {
                self.c(&a.description)
            };
            self.bullet(vec![Span::regular(desc)], 0);
            let details: Vec<String> = [
                self.detail("Qui", &a.who),
                self.detail("Échéance", &date_fr(a.due.trim())),
                self.detail("Objectif", &a.objective_ref),
            ]
            .into_iter()
            .flatten()
            .collect();
            if !details.is_empty() {
                self.bullet(vec![Span::regular(details.join(" — "))], 1);
            }
        }
    }

    fn opinions(&mut self, title: &str, opinions: &[Opinion], child: &ChildContext) {
        if opinions.is_empty() {
            return;
        }
        self.heading(title);
        for o in opinions {
            let mut who = if o.who.trim().is_empty() {
                party_name(child, &o.party_id).unwrap_or_else(|| "Avis".to_string())
            } else {
                o.who.trim().to_string()
            };
            if !o.date.trim().is_empty() {
                who = format!("{who} ({})", date_fr(o.date.trim()));
            }
            let who = self.c(&who);
            let text = self.c(&o.text);
            self.blocks.push(Block::Paragraph(vec![
                Span::bold(format!("{who}\u{a0}: ")),
                Span::regular(text),
            ]));
        }
    }

    fn signature_lines(&mut self, lines: &[SignatureLine], child: &ChildContext) {
        if lines.is_empty() {
            return;
        }
        self.heading("Signatures");
        for s in lines {
            let name = if s.signer.trim().is_empty() {
                party_name(child, &s.party_id).unwrap_or_default()
            } else {
                s.signer.trim().to_string()
            };
            let mut spans = vec![Span::bold(self.c(&name))];
            if !s.capacity.trim().is_empty() {
                spans.push(Span::regular(format!(", {}", self.c(&s.capacity))));
            }
            let date = if s.date.trim().is_empty() {
                "le ……………………".to_string()
            } else {
                format!("le {}", date_fr(s.date.trim()))
            };
            spans.push(Span::regular(format!(
                "\nFait {date}          Signature\u{a0}: ……………………………………"
            )));
            self.blocks.push(Block::Paragraph(spans));
            self.blocks.push(Block::Spacer(6.0));
        }
    }
}

/// Display name of a party of the child context, with its role.
fn party_name(child: &ChildContext, id: &str) -> Option<String> {
    if id.trim().is_empty() {
        return None;
    }
    let p = child.parties.iter().find(|p| p.id == id)?;
    let name = person_name(&p.given_name, &p.family_name);
    let role = party_role(p.role());
    Some(match (name.is_empty(), role.is_empty()) {
        (true, true) => id.to_string(),
        (true, false) => role.to_string(),
        (false, true) => name,
        (false, false) => format!("{name} ({role})"),
    })
}

/// "Léa DUPONT": given name as written, family name in capitals (French administrative usage).
pub(crate) fn person_name(given: &str, family: &str) -> String {
    let given = given.trim();
    let family = family.trim().to_uppercase();
    match (given.is_empty(), family.is_empty()) {
        (true, true) => String::new(),
        (true, false) => family,
        (false, true) => given.to_string(),
        (false, false) => format!("{given} {family}"),
    }
}

/// The child's display name: INS traits first, then the CHILD party, else the DUI file number.
pub(crate) fn child_name(child: &ChildContext) -> String {
    if let Some(ins) = &child.ins {
        let n = person_name(&ins.first_given_name, &ins.birth_family_name);
        if !n.is_empty() {
            return n;
        }
    }
    if let Some(p) = child.parties.iter().find(|p| p.role() == PartyRole::Child) {
        let n = person_name(&p.given_name, &p.family_name);
        if !n.is_empty() {
            return n;
        }
    }
    if child.local_id.trim().is_empty() {
        "(enfant non identifié)".to_string()
    } else {
        format!("dossier {}", child.local_id.trim())
    }
}

/// The first-page header: title, child, structure, author, dates.
fn header(out: &mut Out<'_>, ctx: &RenderContext<'_>, p: &Prepared) {
    out.blocks.push(Block::Title(p.title.clone()));
    if p.title != p.kind_label {
        out.blocks.push(Block::Subtitle(p.kind_label.to_string()));
    }
    out.blocks.push(Block::Spacer(8.0));

    let child = ctx.child;
    let mut child_line = p.child_name.clone();
    let birth = if child.birth_date.trim().is_empty() {
        child.ins.as_ref().map_or("", |i| i.birth_date.trim())
    } else {
        child.birth_date.trim()
    };
    if !birth.is_empty() {
        let gender = child
            .ins
            .as_ref()
            .map_or(Default::default(), |i| i.gender());
        child_line = format!("{child_line}, {} le {}", born(gender), date_fr(birth));
    }
    out.field("Enfant", &child_line);
    if let Some(ins) = &child.ins
        && !ins.matricule.trim().is_empty()
    {
        out.field(
            "INS",
            &format!("{} ({})", ins.matricule.trim(), ins_status(ins.status())),
        );
    }
    out.field("Identifiant DUI", &child.local_id);
    out.field("N° de dossier", &ctx.document.dossier_number);
    let structure = match (ctx.structure_name.trim(), ctx.structure_ids.trim()) {
        (n, "") => n.to_string(),
        ("", i) => i.to_string(),
        (n, i) => format!("{n} — {i}"),
    };
    out.field("Structure", &structure);
    let author = match (ctx.author_name.trim(), ctx.author_role.trim()) {
        (n, "") => n.to_string(),
        ("", r) => r.to_string(),
        (n, r) => format!("{n}, {r}"),
    };
    out.field("Rédigé par", &author);
    out.field("Date du document", &date_fr(ctx.document.act_date.trim()));
    out.field("Établi le", &datetime_fr(ctx.created_at));
    out.field("Confidentialité", sensitivity_label(p.sensitivity));
    out.blocks.push(Block::Rule);
}

fn ppe(out: &mut Out<'_>, c: &PpeContent, child: &ChildContext) {
    out.text_section("Situation juridique et mesures", &c.legal_situation);
    if !c.needs.is_empty() {
        out.heading("Besoins de l'enfant");
        for n in &c.needs {
            let domain = need_domain(need::Domain::try_from(n.domain).unwrap_or_default());
            let d = out.c(&n.description);
            out.bullet(
                vec![Span::bold(format!("{domain}\u{a0}: ")), Span::regular(d)],
                0,
            );
        }
    }
    out.numbered("Objectifs", &c.objectives);
    out.actions("Actions et moyens", &c.actions);
    out.list(
        "Actes usuels pouvant être accomplis par le lieu d'accueil (annexe, CASF L.223-1-2)",
        &c.actes_usuels_annex,
    );
    out.list(
        "Actes réservés au service de l'aide sociale à l'enfance ou aux titulaires de l'autorité parentale",
        &c.actes_reserved_to_ase,
    );
    out.opinions(
        "Avis de l'enfant et des titulaires de l'autorité parentale",
        &c.opinions,
        child,
    );
    out.dates("Dates de révision", &c.review_dates);
    out.signature_lines(&c.signatures, child);
}

fn ip_report(out: &mut Out<'_>, c: &IpReportContent) {
    out.heading("Origine de l'information");
    out.field("Auteur du recueil", &c.reporter);
    out.field("Qualité", &c.reporter_quality);
    if !c.facts.is_empty() {
        out.heading("Faits observés ou rapportés");
        for f in &c.facts {
            let mut spans = Vec::new();
            if !f.date.trim().is_empty() {
                spans.push(Span::bold(format!("{}\u{a0}: ", date_fr(f.date.trim()))));
            }
            spans.push(Span::regular(out.c(&f.description)));
            out.bullet(spans, 0);
            if let Some(src) = out.detail("Source", &f.source) {
                out.bullet(vec![Span::regular(src)], 1);
            }
        }
    }
    out.list("Autres enfants concernés", &c.children_concerned);
    out.heading("Évaluation du danger");
    let level = danger_level(DangerLevel::try_from(c.danger).unwrap_or_default());
    out.field("Niveau", level);
    out.para(&c.danger_assessment);
    out.field("Situation d'urgence", yes_no(c.urgent));
    out.heading("Information des titulaires de l'autorité parentale");
    out.field("Titulaires informés", yes_no(c.ap_holders_informed));
    if !c.ap_holders_informed {
        out.field(
            "Motif de non-information",
            &c.ap_holders_not_informed_reason,
        );
    }
}

fn evaluation_report(out: &mut Out<'_>, c: &EvaluationReportContent) {
    out.field(
        "Date de l'information préoccupante",
        &date_fr(c.ip_date.trim()),
    );
    out.list("Évaluateurs", &c.evaluators);
    out.sections(&c.sections);
    out.text_section("Conclusion de l'évaluation", &c.conclusion);
    out.text_section("Proposition", &c.proposal);
}

fn period(out: &mut Out<'_>, from: &str, to: &str) {
    let p = match (from.trim(), to.trim()) {
        ("", "") => String::new(),
        (f, "") => format!("depuis le {}", date_fr(f)),
        ("", t) => format!("jusqu'au {}", date_fr(t)),
        (f, t) => format!("du {} au {}", date_fr(f), date_fr(t)),
    };
    out.field("Période", &p);
}

fn situation_report(out: &mut Out<'_>, c: &SituationReportContent) {
    period(out, &c.period_from, &c.period_to);
    out.sections(&c.sections);
    out.text_section("Conclusion", &c.conclusion);
}

fn fiche_navette(out: &mut Out<'_>, c: &FicheNavetteContent) {
    out.field("Service émetteur", &c.from_service);
    out.field("Service destinataire", &c.to_service);
    if !c.request.trim().is_empty() {
        let title = if c.request_date.trim().is_empty() {
            "Demande".to_string()
        } else {
            format!("Demande du {}", date_fr(c.request_date.trim()))
        };
        out.text_section(&title, &c.request);
    }
    if !c.answer.trim().is_empty() {
        let title = if c.answer_date.trim().is_empty() {
            "Réponse".to_string()
        } else {
            format!("Réponse du {}", date_fr(c.answer_date.trim()))
        };
        out.text_section(&title, &c.answer);
    }
    out.actions("Protocole d'actions", &c.actions);
}

fn projet_personnalise(out: &mut Out<'_>, c: &ProjetPersonnaliseContent, child: &ChildContext) {
    out.numbered("Objectifs", &c.objectives);
    out.actions("Actions et moyens", &c.actions);
    out.opinions("Avis et observations", &c.opinions, child);
    out.dates("Dates de révision", &c.review_dates);
}

fn compte_rendu_educatif(out: &mut Out<'_>, c: &CompteRenduEducatifContent) {
    period(out, &c.period_from, &c.period_to);
    out.sections(&c.sections);
}

fn contrat(out: &mut Out<'_>, c: &ContratContent, child: &ChildContext) {
    out.text_section("Objet", &c.object);
    period(out, &c.from, &c.to);
    out.numbered("Engagements", &c.commitments);
    out.signature_lines(&c.signatures, child);
}

fn fiche_liaison_urgence(out: &mut Out<'_>, c: &FicheLiaisonUrgenceContent) {
    out.heading("Informations médicales d'urgence");
    out.field("Groupe sanguin", &c.blood_group);
    out.field("Médecin traitant", &c.attending_doctor);
    out.field("Vaccinations", &c.vaccinations);
    out.list("Allergies", &c.allergies);
    out.list("Traitements en cours", &c.treatments);
    out.list("Antécédents médicaux", &c.medical_history);
    out.list("Personnes à contacter en urgence", &c.emergency_contacts);
    out.text_section("Remarques", &c.remarks);
}

fn autorisation_soins(out: &mut Out<'_>, c: &AutorisationSoinsContent, doc_act_kind: ActKind) {
    out.heading("Acte autorisé");
    out.para(&c.act);
    let kind = ActKind::try_from(c.act_kind)
        .ok()
        .and_then(act_kind)
        .or_else(|| act_kind(doc_act_kind));
    if let Some(k) = kind {
        out.field("Nature de l'acte", k);
    }
    let validity = match (c.valid_from.trim(), c.valid_to.trim()) {
        ("", "") => String::new(),
        (f, "") => format!("à compter du {}", date_fr(f)),
        ("", t) => format!("jusqu'au {}", date_fr(t)),
        (f, t) => format!("du {} au {}", date_fr(f), date_fr(t)),
    };
    out.field("Validité", &validity);
    out.text_section("Conditions", &c.conditions);
}

fn bilan_psy(out: &mut Out<'_>, c: &BilanPsyContent) {
    out.text_section("Contexte de la demande", &c.context);
    out.sections(&c.sections);
    out.text_section("Conclusion", &c.conclusion);
    out.text_section("Préconisations", &c.recommendations);
}

fn health_report(out: &mut Out<'_>, c: &HealthReportContent) {
    out.sections(&c.sections);
    out.text_section("Conclusion", &c.conclusion);
}

fn generic(out: &mut Out<'_>, c: &GenericContent) {
    out.sections(&c.sections);
}

/// Signatures recorded on the document itself (who signed, in which capacity, when).
fn document_signatures(out: &mut Out<'_>, sigs: &[DocumentSignature], child: &ChildContext) {
    if sigs.is_empty() {
        return;
    }
    out.heading("Signatures recueillies");
    for s in sigs {
        let who = party_name(child, &s.party_id).unwrap_or_else(|| s.party_id.clone());
        let mut parts = vec![out.c(&who)];
        let cap = signer_capacity(SignerCapacity::try_from(s.capacity).unwrap_or_default());
        if !cap.is_empty() {
            parts.push(cap.to_string());
        }
        if !s.je_valid_to.trim().is_empty() {
            parts.push(format!(
                "valable jusqu'au {}",
                date_fr(s.je_valid_to.trim())
            ));
        }
        if let Some(ts) = &s.signed_at
            && let Ok(t) = time::OffsetDateTime::from_unix_timestamp(ts.seconds)
        {
            parts.push(format!(
                "signé le {:02}/{:02}/{:04}",
                t.day(),
                u8::from(t.month()),
                t.year()
            ));
        }
        out.bullet(vec![Span::regular(parts.join(" — "))], 0);
    }
}

/// Every block of the document: header, then the kind's content, then recorded signatures.
pub(crate) fn blocks(
    fonts: &Fonts,
    ctx: &RenderContext<'_>,
    p: &Prepared,
    content: &Content,
) -> Vec<Block> {
    let mut out = Out {
        fonts,
        blocks: Vec::new(),
    };
    header(&mut out, ctx, p);
    let before = out.blocks.len();
    let child = ctx.child;
    match content {
        // Refused before we get here; nothing to lay out.
        Content::Pdf(_) => {}
        Content::Ppe(c) => ppe(&mut out, c, child),
        Content::IpReport(c) => ip_report(&mut out, c),
        Content::EvaluationReport(c) => evaluation_report(&mut out, c),
        Content::SituationReport(c) => situation_report(&mut out, c),
        Content::FicheNavette(c) => fiche_navette(&mut out, c),
        Content::ProjetPersonnalise(c) => projet_personnalise(&mut out, c, child),
        Content::CompteRenduEducatif(c) => compte_rendu_educatif(&mut out, c),
        Content::Contrat(c) => contrat(&mut out, c, child),
        Content::FicheLiaisonUrgence(c) => fiche_liaison_urgence(&mut out, c),
        Content::AutorisationSoins(c) => {
            autorisation_soins(&mut out, c, ctx.document.act_kind());
        }
        Content::BilanPsy(c) => bilan_psy(&mut out, c),
        Content::HealthReport(c) => health_report(&mut out, c),
        Content::Generic(c) => generic(&mut out, c),
    }
    document_signatures(&mut out, &ctx.document.signatures, child);
    if out.blocks.len() == before {
        out.blocks.push(Block::Paragraph(vec![Span::regular(
            "(Aucun contenu renseigné.)",
        )]));
    }
    out.blocks
}
