//! Per-target evaluation: every rule of policy.md §5 for one (document, recipient, channel), in the
//! order CH, HAB, SP | IP | HD | AGE, MS, INF, AUT, VIS/REP; all run and every reason is reported.
use passerelle_api::pbjson_types::Timestamp;
use passerelle_api::v1::{
    ActKind, Actor, ApRegime, Channel, Denial, DmpFlags, Document, DocumentKind, DocumentTag,
    Explanation, InformationStatus, LegalBasis, MesStatus, MissionKind, Obligation, OppositionKind,
    Outcome, PersonToInform, Purpose, RuleEffect, RuleTrace, Sensitivity, SignerCapacity,
    StructureKind, Target, TargetDecision, document, information_record, target,
};
use time::Duration;

use crate::catalogue::{self, KindInfo, kind_info};
use crate::context::{
    Ctx, has_g15, has_mission, missions_mask, role_en, role_fr, rows_of, secret_bound,
};
use crate::dates::{parse_date, ts};
use crate::matrix::{Rights, mission_bit};
use crate::{Engine, text};

pub(crate) struct Eval {
    pub rules: Vec<RuleTrace>,
    pub denials: Vec<Denial>,
    pub obligations: Vec<Obligation>,
    pub persons: Vec<PersonToInform>,
    allow_path: bool,
}

impl Eval {
    fn rule(&mut self, id: &str, effect: RuleEffect) {
        // One trace per rule id, the strongest effect kept (deny > obligation > pass > info).
        let rank = |e: i32| match RuleEffect::try_from(e).unwrap_or(RuleEffect::Unspecified) {
            RuleEffect::Deny => 4,
            RuleEffect::Obligation => 3,
            RuleEffect::Pass => 2,
            RuleEffect::Info => 1,
            RuleEffect::Unspecified => 0,
        };
        if let Some(r) = self.rules.iter_mut().find(|r| r.id == id) {
            if rank(effect as i32) > rank(r.effect) {
                r.effect = effect as i32;
            }
        } else {
            self.rules.push(RuleTrace {
                id: id.to_string(),
                effect: effect as i32,
            });
        }
    }
    fn pass(&mut self, id: &str) {
        self.rule(id, RuleEffect::Pass);
    }
    fn info(&mut self, id: &str) {
        self.rule(id, RuleEffect::Info);
    }
    fn deny(
        &mut self,
        id: &str,
        code: impl Into<String>,
        fr: impl Into<String>,
        en: impl Into<String>,
    ) {
        self.rule(id, RuleEffect::Deny);
        let (code, fr) = (code.into(), fr.into());
        if self
            .denials
            .iter()
            .any(|d| d.code == code && d.rule == id && d.message_fr == fr)
        {
            return;
        }
        self.denials.push(Denial {
            code,
            rule: id.to_string(),
            message_fr: fr,
            message_en: en.into(),
        });
    }
    fn denied(&self) -> bool {
        !self.denials.is_empty()
    }
}

fn is_casf_pe(b: LegalBasis) -> bool {
    matches!(
        b,
        LegalBasis::CasfL22622
            | LegalBasis::CasfL2213
            | LegalBasis::CasfL22311
            | LegalBasis::CasfL2235
    )
}
fn is_csp(b: LegalBasis) -> bool {
    matches!(
        b,
        LegalBasis::CspL11104Ii | LegalBasis::CspL11104IiiTeam | LegalBasis::CspL11104IiiConsent
    )
}

fn basis_admissible(k: &KindInfo, b: LegalBasis) -> bool {
    use DocumentKind as D;
    match b {
        LegalBasis::CasfL22621 => k.kind == D::Ip,
        LegalBasis::CasfL22622 => {
            k.kind != D::Ip
                && !matches!(
                    k.group,
                    catalogue::Group::HealthClin | catalogue::Group::Psy
                )
        }
        LegalBasis::CasfL2213 => !matches!(
            k.group,
            catalogue::Group::HealthClin | catalogue::Group::Psy
        ),
        LegalBasis::CasfL22311 => matches!(k.kind, D::Ppe | D::Decision | D::ContratAccueil),
        LegalBasis::CasfL2235 => k.kind == D::RapSituation,
        LegalBasis::CspL11104Ii
        | LegalBasis::CspL11104IiiTeam
        | LegalBasis::CspL11104IiiConsent => k.is_health(),
        LegalBasis::AdultConsent => true,
        LegalBasis::Internal | LegalBasis::Unspecified => false,
    }
}

fn purpose_admissible(b: LegalBasis, p: Purpose) -> bool {
    use Purpose as P;
    match b {
        LegalBasis::CasfL22622 => {
            matches!(
                p,
                P::Evaluate
                    | P::Decide
                    | P::ImplementProtection
                    | P::Admission
                    | P::Orientation
                    | P::MandatoryReport
            )
        }
        LegalBasis::CasfL22621 => p == P::IpTransmission,
        LegalBasis::CasfL2213 => matches!(p, P::Evaluate | P::Decide),
        LegalBasis::CasfL22311 => p == P::ImplementProtection,
        LegalBasis::CasfL2235 => p == P::MandatoryReport,
        LegalBasis::CspL11104Ii
        | LegalBasis::CspL11104IiiTeam
        | LegalBasis::CspL11104IiiConsent => {
            matches!(
                p,
                P::CareCoordination | P::CareContinuity | P::Prevention | P::MedicoSocialFollowUp
            )
        }
        LegalBasis::AdultConsent | LegalBasis::Internal => p != P::Unspecified,
        LegalBasis::Unspecified => false,
    }
}

fn person_label(p: Option<&passerelle_api::v1::Person>, mission: Option<MissionKind>) -> String {
    let Some(p) = p else { return String::new() };
    let mut s = format!("{} {}", p.given_name, p.family_name)
        .trim()
        .to_string();
    if s.is_empty() {
        s = p.id.as_ref().map(|i| i.value.clone()).unwrap_or_default();
    }
    let role = if !p.title.is_empty() {
        p.title.clone()
    } else {
        mission
            .map(|m| text::mission_fr(m).to_string())
            .unwrap_or_default()
    };
    if role.is_empty() {
        s
    } else {
        format!("{s} ({role})")
    }
}

fn address_domain(a: &str) -> &str {
    a.rsplit_once('@').map_or("", |(_, d)| d)
}

const PATIENT_DOMAIN: &str = "patient.mssante.fr";

/// Input of one target evaluation.
pub(crate) struct Job<'a> {
    pub t: &'a Target,
    pub d: &'a Document,
}

impl Engine {
    pub(crate) fn eval_target(&self, cx: &Ctx<'_>, job: &Job<'_>) -> TargetDecision {
        let (t, d) = (job.t, job.d);
        let mut e = Eval {
            rules: Vec::new(),
            denials: Vec::new(),
            obligations: Vec::new(),
            persons: Vec::new(),
            allow_path: false,
        };
        let legal = cx.req.legal.as_ref();
        let basis = legal.map_or(LegalBasis::Unspecified, |l| {
            LegalBasis::try_from(l.basis).unwrap_or(LegalBasis::Unspecified)
        });
        let purpose = legal.map_or(Purpose::Unspecified, |l| {
            Purpose::try_from(l.purpose).unwrap_or(Purpose::Unspecified)
        });
        let mut channel = Channel::try_from(t.channel).unwrap_or(Channel::Unspecified);
        let Some(k) = kind_info(d.kind) else {
            e.deny(
                "GEN-2",
                "GEN_INVALID_INPUT:documents.kind",
                "Type de document inconnu.",
                "Unknown document kind.",
            );
            return self.finish(cx, job, channel, None, basis, e, None);
        };
        let mes_address = if t.mss_address.is_empty() {
            cx.child.mes_address.as_str()
        } else {
            t.mss_address.as_str()
        };
        // Whatever the request says, a patient address is the child's MES (README §4, CH-3).
        let patient_addr_on_mss = channel == Channel::Mssante
            && address_domain(&t.mss_address).eq_ignore_ascii_case(PATIENT_DOMAIN);
        if patient_addr_on_mss {
            channel = Channel::Mes;
        }
        let sensitivity = {
            let s = Sensitivity::try_from(d.sensitivity).unwrap_or(Sensitivity::Unspecified);
            if (s as i32) > (k.sensitivity as i32) {
                s
            } else {
                k.sensitivity
            }
        };

        // ---- GEN ----
        if cx.ap_unknown {
            e.deny(
                "GEN-2",
                "AP_STATE_UNKNOWN",
                format!("Aucune période d'autorité parentale ne couvre la date du {} : complétez la chronologie de l'autorité parentale dans le dossier.", cx.today),
                format!("No parental-authority period covers {}: complete the parental-authority timeline in the file.", cx.today),
            );
        } else {
            e.pass("GEN-2");
        }
        if basis == LegalBasis::Internal {
            e.deny("GEN-3", "GEN_BASIS_NOT_APPLICABLE", "Le fondement « interne » ne permet aucune transmission hors du dossier de l'usager.", "The INTERNAL basis allows no transmission outside the case file.");
        } else if basis == LegalBasis::AdultConsent && !cx.adult {
            e.deny("GEN-3", "GEN_BASIS_NOT_APPLICABLE", "Le consentement du jeune majeur ne peut fonder une transmission concernant un mineur.", "Adult consent cannot be the basis for a minor.");
        } else if !basis_admissible(k, basis) {
            e.deny(
                "GEN-3",
                "GEN_BASIS_NOT_APPLICABLE",
                format!(
                    "Le fondement {} ne permet pas de transmettre un document de type « {} ».",
                    text::basis_article(basis),
                    k.label_fr
                ),
                format!(
                    "Basis {} does not allow sending a {} document.",
                    text::basis_article(basis),
                    k.code
                ),
            );
        } else if !purpose_admissible(basis, purpose) {
            e.deny(
                "GEN-3",
                "GEN_PURPOSE_INCOMPATIBLE",
                format!(
                    "La finalité « {} » n'est pas admise par {}.",
                    text::purpose_fr(purpose),
                    text::basis_article(basis)
                ),
                format!(
                    "Purpose {} is not admissible under {}.",
                    purpose.as_str_name(),
                    text::basis_article(basis)
                ),
            );
        } else {
            e.pass("GEN-3");
        }
        let note_len = legal.map_or(0, |l| l.necessity_note.trim().chars().count());
        if ((sensitivity as i32) >= (Sensitivity::High as i32) || is_csp(basis)) && note_len < 30 {
            e.deny(
                "GEN-4",
                "GEN_NECESSITY_NOTE_MISSING",
                "Indiquez en quelques phrases (30 caractères au moins) pourquoi cette transmission est strictement nécessaire.",
                "State in a few sentences (at least 30 characters) why this transmission is strictly necessary.",
            );
        } else {
            e.pass("GEN-4");
        }

        // ---- recipient ----
        let pro: Option<&Actor> = match &t.recipient {
            Some(target::Recipient::Professional(a)) => Some(a),
            _ => None,
        };
        let party_id: Option<&str> = match &t.recipient {
            Some(target::Recipient::PartyId(p)) => Some(p.as_str()),
            _ => None,
        };
        let to_child = matches!(t.recipient, Some(target::Recipient::Child(_)))
            || party_id.is_some_and(|p| cx.child_party.is_some_and(|c| c.id == p));
        let rcpt_missions = pro.map_or(0, |a| missions_mask(a, cx.today));
        let rcpt_structure = pro.and_then(|a| a.structure.as_ref());
        let rcpt_kind = rcpt_structure.map_or(StructureKind::Unspecified, |s| {
            StructureKind::try_from(s.kind).unwrap_or(StructureKind::Unspecified)
        });

        // ---- CH ----
        if k.internal_only {
            e.deny(
                "CH-5",
                "CH_INTERNAL_ONLY",
                format!(
                    "Le document « {} » reste dans le dossier de l'usager : il ne se transmet pas.",
                    k.label_fr
                ),
                format!("{} documents never leave the case file.", k.code),
            );
        } else {
            e.pass("CH-5");
        }
        let ch1_ok = match channel {
            Channel::Mssante => k.mss,
            Channel::Dmp => k.dmp.is_some() && k.is_health(),
            Channel::Mes => true,
            Channel::Unspecified => false,
        };
        if !ch1_ok && !k.internal_only {
            let (fr, en) = if k.out_of_band {
                (
                    "passe par le canal de la justice (hors Passerelle)",
                    "goes through the justice channel (outside Passerelle)",
                )
            } else if channel == Channel::Dmp && k.is_social() {
                (
                    "est un document social : il ne va jamais dans le DMP",
                    "is a social document: it never goes to the DMP",
                )
            } else {
                ("ne peut pas emprunter ce canal", "may not use this channel")
            };
            e.deny(
                "CH-1",
                "CH_CHANNEL_NOT_ALLOWED_FOR_KIND",
                format!("Le document « {} » {fr}.", k.label_fr),
                format!("{} {en}.", k.code),
            );
        } else if channel != Channel::Mes {
            e.pass("CH-1");
        }
        let mut oob = false;
        if let Some(s) = rcpt_structure {
            oob = s.out_of_band.unwrap_or(matches!(
                rcpt_kind,
                StructureKind::Court | StructureKind::Parquet | StructureKind::Pjj
            ));
            if oob {
                e.deny(
                    "CH-4",
                    "CH_RECIPIENT_OUT_OF_BAND",
                    "Ce destinataire (juridiction, parquet ou PJJ sans messagerie sécurisée) se saisit par le canal de la justice : courrier, dépôt au greffe ou plateforme dédiée.",
                    "This recipient (court, public prosecutor or PJJ without MSSanté) is reached through the justice channel: mail, court registry or its platform.",
                );
            } else {
                e.pass("CH-4");
            }
        }
        // An out-of-band recipient or an internal-only kind is answered by CH-4 / CH-5 alone: the
        // recipient checks below would only add noise to the explanation.
        if (oob || k.internal_only) && channel == Channel::Mssante {
            return self.finish(
                cx,
                job,
                channel,
                Some(k),
                basis,
                e,
                Some((DmpFlags::default(), sensitivity)),
            );
        }
        match channel {
            Channel::Mssante => self.ch6(cx, &mut e, t, pro),
            Channel::Mes => {
                self.mes_rules(cx, &mut e, k, d, sensitivity, basis, to_child, mes_address)
            }
            // DMP-specific checks only make sense for kinds that may feed the DMP (CH-1 said no otherwise).
            Channel::Dmp if ch1_ok => self.ch2(cx, &mut e, d, k),
            Channel::Dmp => {}
            Channel::Unspecified => {}
        }

        // ---- HAB ----
        let rcpt_rows = pro.map(|a| rows_of(&self.matrix, a)).unwrap_or_default();
        match channel {
            Channel::Mssante => {
                if let Some(a) = pro {
                    if rcpt_rows.is_empty() {
                        e.deny(
                            "HAB-2",
                            "HAB_UNKNOWN_PROFESSION_CODE",
                            "La profession ou la catégorie du destinataire ne figure pas dans la matrice d'habilitation : transmission impossible.",
                            "The recipient's profession or structure category is not in the habilitation matrix.",
                        );
                    } else {
                        e.pass("HAB-2");
                        let bit = k.bit();
                        let ok = rcpt_rows.iter().any(|r| {
                            Rights::of(&self.matrix.rows[*r], &cx.overlays, *r).receives(
                                bit,
                                k.kind as usize,
                                rcpt_missions,
                            )
                        });
                        if ok {
                            e.pass("HAB-1");
                        } else {
                            e.deny(
                                "HAB-1",
                                "HAB_NOT_HABILITATED",
                                format!("Ce destinataire n'est pas habilité à recevoir un document « {} » ({}).", k.label_fr, person_label(a.person.as_ref(), None)),
                                format!("This recipient is not entitled to receive {} documents.", k.code),
                            );
                        }
                    }
                }
            }
            Channel::Dmp if ch1_ok => {
                if cx.sender_rows.is_empty() {
                    e.deny("HAB-2", "HAB_UNKNOWN_PROFESSION_CODE", "La profession de l'expéditeur ne figure pas dans la matrice d'habilitation.", "The sender's profession is not in the habilitation matrix.");
                } else {
                    e.pass("HAB-2");
                    let ok = cx.sender_rows.iter().any(|r| {
                        Rights::of(&self.matrix.rows[*r], &cx.overlays, *r).dmp_feed & k.bit() != 0
                    });
                    if ok {
                        e.pass("HAB-1");
                    } else {
                        e.deny(
                            "HAB-1",
                            "HAB_NOT_HABILITATED",
                            format!("L'expéditeur n'est pas habilité à alimenter le DMP avec un document « {} ».", k.label_fr),
                            format!("The sender may not feed the DMP with {} documents.", k.code),
                        );
                    }
                }
            }
            _ => {}
        }

        // ---- GEN-5: recipient's current mission ----
        if let Some(a) = pro {
            let ip_to_crip = k.kind == DocumentKind::Ip && rcpt_kind == StructureKind::Crip;
            let pending = matches!(purpose, Purpose::Admission | Purpose::Orientation)
                && a.missions
                    .iter()
                    .any(|m| m.kind == MissionKind::PendingAdmission as i32);
            if rcpt_missions != 0 || ip_to_crip || pending {
                e.pass("GEN-5");
            } else {
                e.deny(
                    "GEN-5",
                    "GEN_NO_CURRENT_MISSION",
                    "Le destinataire n'a pas de mission en cours auprès de cet enfant à la date de la transmission.",
                    "The recipient has no current mission for this child at the decision date.",
                );
            }
        }

        // ---- legal-basis families ----
        let is_ip_family = matches!(k.kind, DocumentKind::Ip | DocumentKind::RapEval)
            || basis == LegalBasis::CasfL22621;
        if is_casf_pe(basis) || basis == LegalBasis::CasfL22621 {
            self.sp_rules(
                cx,
                &mut e,
                basis,
                purpose,
                pro,
                &rcpt_rows,
                rcpt_missions,
                channel,
            );
        }
        if is_ip_family {
            self.ip_rules(
                cx,
                &mut e,
                k,
                basis,
                channel,
                t,
                pro,
                rcpt_kind,
                rcpt_missions,
            );
        }
        if is_csp(basis) && k.is_health() {
            self.hd_rules(
                cx,
                &mut e,
                basis,
                channel,
                k,
                pro,
                &rcpt_rows,
                rcpt_missions,
            );
        }
        self.age_rules(cx, &mut e, basis, k);
        let ms = !d.minor_secrecy_ref.is_empty() && !cx.adult;
        self.ms_rules(cx, &mut e, d, channel, pro, party_id, to_child, ms);
        self.inf_rules(cx, &mut e, basis, k, ms);
        if k.kind == DocumentKind::AutorisSoins {
            self.aut_rules(cx, &mut e, d);
        }
        let mut dmp_flags = None;
        if channel == Channel::Dmp && ch1_ok {
            dmp_flags = Some(self.vis_rules(cx, &mut e, d, ms));
        }
        // REP rules: representatives are reported on every target.
        e.info("REP-1");
        if cx.rep2_unsafe {
            e.info("REP-2");
        }
        if cx.rep3_unsafe {
            e.info("REP-3");
        }
        if !e.denied() && !e.allow_path {
            e.deny(
                "GEN-1",
                "GEN_NO_ALLOW_PATH",
                "Aucun fondement ne permet cette transmission : elle est refusée par défaut.",
                "No complete allow path: denied by default.",
            );
        } else if !e.denied() {
            e.pass("GEN-1");
        }
        let flags = (dmp_flags.unwrap_or_default(), sensitivity);
        self.finish(cx, job, channel, Some(k), basis, e, Some(flags))
    }

    fn ch6(&self, cx: &Ctx<'_>, e: &mut Eval, t: &Target, pro: Option<&Actor>) {
        let Some(a) = pro else {
            e.deny(
                "CH-6",
                "CH_RECIPIENT_NOT_PROFESSIONAL",
                "Les parents, titulaires de l'autorité parentale et l'enfant ne sont jamais destinataires par messagerie sécurisée de santé : remettez-leur le document directement.",
                "Parents, parental-authority holders and the child are never MSSanté recipients: hand them the document directly.",
            );
            return;
        };
        let addr = t.mss_address.as_str();
        let configured_crip = self.crip_dept(addr).is_some();
        let person_mss = a.person.as_ref().map(|p| p.mss.as_slice()).unwrap_or(&[]);
        let struct_mss = a
            .structure
            .as_ref()
            .map(|s| s.mss.as_slice())
            .unwrap_or(&[]);
        let entry = person_mss
            .iter()
            .chain(struct_mss.iter())
            .find(|m| m.address.eq_ignore_ascii_case(addr));
        let verified = configured_crip
            || entry.is_some_and(|m| {
                let at_ok = m
                    .verified_at
                    .as_ref()
                    .and_then(ts)
                    .is_some_and(|v| v <= cx.as_of);
                let per_ok = m.r#type != passerelle_api::v1::MailboxType::Per as i32
                    || a.person
                        .as_ref()
                        .and_then(|p| p.id.as_ref())
                        .is_some_and(|id| !id.value.is_empty() && id.value == m.owner_person_id);
                at_ok && per_ok
            });
        if verified {
            e.pass("CH-6");
        } else {
            e.deny(
                "CH-6",
                "CH_MSS_ADDRESS_UNVERIFIED",
                "L'adresse de messagerie sécurisée du destinataire n'a pas été vérifiée dans l'Annuaire santé (ou n'appartient pas à ce professionnel).",
                "The recipient's MSSanté address was not verified in the Annuaire Santé (or does not belong to this professional).",
            );
        }
        if !self.config.in_trust_space(addr) {
            // mssante.md §1.3 names this denial; it is the trust-space half of CH-6.
            e.deny(
                "CH-6",
                "recipient_domain_not_in_trust_space",
                format!(
                    "Le domaine « {} » n'appartient pas à l'espace de confiance MSSanté.",
                    address_domain(addr)
                ),
                format!(
                    "Domain {:?} is not in the MSSanté trust space.",
                    address_domain(addr)
                ),
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn mes_rules(
        &self,
        cx: &Ctx<'_>,
        e: &mut Eval,
        k: &KindInfo,
        d: &Document,
        sensitivity: Sensitivity,
        basis: LegalBasis,
        to_child: bool,
        addr: &str,
    ) {
        // The MES is the child's own mailbox: anyone else behind a patient address is refused.
        if !to_child {
            e.deny(
                "CH-6",
                "CH_RECIPIENT_NOT_PROFESSIONAL",
                "Une adresse patient Mon espace santé n'est pas une messagerie de professionnel ; les parents n'y sont jamais destinataires.",
                "A Mon espace santé patient address is not a professional mailbox; parents are never MSSanté recipients.",
            );
        }
        let ins = cx.child.ins.as_ref();
        let expected = ins.map(|i| format!("{}@{}", i.matricule, PATIENT_DOMAIN));
        if !cx.ins_qualified {
            e.deny(
                "GEN-2",
                "GEN_INVALID_INPUT:child.ins",
                "La messagerie Mon espace santé exige une INS qualifiée.",
                "Mon espace santé messaging needs a qualified INS.",
            );
        } else if expected
            .as_deref()
            .is_none_or(|x| !x.eq_ignore_ascii_case(addr))
        {
            e.deny(
                "GEN-2",
                "GEN_INVALID_INPUT:targets.mssAddress",
                "L'adresse Mon espace santé doit être <matricule INS>@patient.mssante.fr de cet enfant.",
                "The Mon espace santé address must be this child's <INS matricule>@patient.mssante.fr.",
            );
        }
        if !self.config.in_trust_space(addr) {
            e.deny(
                "CH-6",
                "recipient_domain_not_in_trust_space",
                "Le domaine de l'adresse n'appartient pas à l'espace de confiance MSSanté.",
                "The address domain is not in the MSSanté trust space.",
            );
        }
        let status = MesStatus::try_from(cx.child.mes_status).unwrap_or(MesStatus::Unspecified);
        if matches!(status, MesStatus::Closed | MesStatus::Excluded) {
            e.deny(
                "CH-2",
                "CH_DMP_UNAVAILABLE",
                "Le profil Mon espace santé de l'enfant est clôturé ou exclu.",
                "The child's Mon espace santé profile is closed or excluded.",
            );
        }
        if k.is_social() {
            e.deny(
                "CH-3",
                "CH_MES_KIND_NOT_ALLOWED",
                format!("Un document social (« {} ») ne va jamais dans Mon espace santé ; l'accès au dossier se fait par le dossier de l'usager.", k.label_fr),
                format!("Social documents ({}) never go to Mon espace santé; file access goes through the case file.", k.code),
            );
            return;
        }
        let opposition = cx.child.oppositions.iter().any(|o| {
            o.kind == OppositionKind::MesMessaging as i32 && active(o.withdrawn_at.as_ref(), cx)
        });
        if opposition {
            e.deny(
                "CH-3",
                "HD_OPPOSITION_RECORDED",
                "Une opposition à la messagerie Mon espace santé est enregistrée.",
                "An opposition to Mon espace santé messaging is recorded.",
            );
        }
        if cx.adult || cx.emancipated {
            if !opposition {
                e.pass("CH-3");
                e.allow_path |= basis == LegalBasis::AdultConsent || is_csp(basis);
            }
            return;
        }
        // Minor: a parent manages the profile. Health kinds only with a valid override, never when the
        // document must stay hidden from the representatives.
        let hidden = !d.minor_secrecy_ref.is_empty()
            || d.tags.contains(&(DocumentTag::AbuseSuspicion as i32))
            || (d
                .tags
                .contains(&(DocumentTag::RevealsPlacementAddress as i32))
                && cx.child.placement_address_secret)
            || cx.rep3_unsafe
            || cx.rep2_unsafe
            || (sensitivity as i32) >= (Sensitivity::High as i32);
        if !hidden && self.valid_override(cx, "CH-3") {
            e.rule("CH-3", RuleEffect::Obligation);
            e.obligations.push(Obligation {
                code: "OVERRIDE_RECORDED".into(),
                due: None,
                detail: "CH-3 lifted by a recorded override: the representatives who manage the profile will see this document".into(),
            });
        } else {
            e.deny(
                "CH-3",
                "CH_MES_MINOR_DENIED",
                "La messagerie Mon espace santé d'un mineur est gérée par ses représentants légaux : envoi refusé.",
                "A minor's Mon espace santé is managed by the legal representatives: sending is refused.",
            );
        }
    }

    fn ch2(&self, cx: &Ctx<'_>, e: &mut Eval, d: &Document, k: &KindInfo) {
        let mut ok = true;
        if let Some((code, sys, _)) = k.dmp {
            let (c, s) = match &d.dmp_type_code {
                Some(tc) if !tc.code.is_empty() => (tc.code.as_str(), tc.system.as_str()),
                _ => (code, sys),
            };
            let same_as_kind = c == code && s == sys;
            if (!same_as_kind && k.kind != DocumentKind::CrMedical)
                || catalogue::j66_class(c, s).is_none()
            {
                ok = false;
                e.deny(
                    "CH-2",
                    "CH_DMP_TYPECODE_NOT_ACCEPTED",
                    format!(
                        "Le type de document {c} n'est pas accepté par le DMP pour ce document."
                    ),
                    format!("typeCode {c} is not accepted by the DMP for this document."),
                );
            }
        }
        if !cx.ins_qualified {
            ok = false;
            e.deny(
                "CH-2",
                "CH_DMP_INS_NOT_QUALIFIED",
                "Le DMP exige une INS qualifiée de l'enfant.",
                "The DMP requires the child's qualified INS.",
            );
        }
        let status = MesStatus::try_from(cx.child.mes_status).unwrap_or(MesStatus::Unspecified);
        if matches!(status, MesStatus::Closed | MesStatus::Excluded) {
            ok = false;
            e.deny(
                "CH-2",
                "CH_DMP_UNAVAILABLE",
                "Le DMP de l'enfant est clôturé ou exclu.",
                "The child's DMP is closed or excluded.",
            );
        }
        let auto = passerelle_api::v1::Autonomisation::try_from(cx.child.autonomisation)
            .unwrap_or_default();
        if !cx.adult && auto == passerelle_api::v1::Autonomisation::Accepted {
            ok = false;
            e.deny(
                "REP-1",
                "CH_DMP_UNAVAILABLE",
                "Le mineur a demandé son autonomisation : il sort de Mon espace santé jusqu'à ses 18 ans, aucun dépôt DMP n'est possible.",
                "The minor's autonomisation was accepted: no DMP until 18.",
            );
        }
        if cx.child.oppositions.iter().any(|o| {
            o.kind == OppositionKind::DmpFeed as i32 && active(o.withdrawn_at.as_ref(), cx)
        }) {
            ok = false;
            e.deny(
                "CH-2",
                "CH_DMP_OPPOSITION",
                "Une opposition à l'alimentation du DMP est enregistrée.",
                "An opposition to feeding the DMP is recorded.",
            );
        }
        if ok {
            e.pass("CH-2");
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn sp_rules(
        &self,
        cx: &Ctx<'_>,
        e: &mut Eval,
        basis: LegalBasis,
        purpose: Purpose,
        pro: Option<&Actor>,
        rcpt_rows: &[usize],
        rcpt_missions: u32,
        channel: Channel,
    ) {
        let sender_person = cx.sender.person.as_ref();
        if sender_person.is_some_and(|p| p.id.as_ref().is_some_and(|i| !i.value.is_empty())) {
            e.pass("SP-4");
        } else {
            e.deny(
                "SP-4",
                "SP_NO_HUMAN_INITIATOR",
                "Le partage est une faculté : un professionnel nommé doit être à l'origine de chaque transmission.",
                "Sharing is a faculty: a named professional must initiate each transmission.",
            );
        }
        if basis == LegalBasis::CasfL22621 {
            // IP-2: any sender may transmit an IP; SP-1..3 are not applied.
            return;
        }
        let sender_ok =
            secret_bound(&self.matrix, cx.sender, &cx.sender_rows) && cx.sender_missions != 0;
        if sender_ok {
            e.pass("SP-1");
        } else {
            e.deny(
                "SP-1",
                "SP_SENDER_NOT_SECRET_BOUND",
                "L'expéditeur doit être soumis au secret professionnel (par profession ou par mission) et avoir une mission en cours auprès de l'enfant.",
                "The sender must be bound by professional secrecy (profession or mission) and have a current mission for the child.",
            );
        }
        if channel == Channel::Mssante
            && let Some(a) = pro
        {
            if !secret_bound(&self.matrix, a, rcpt_rows) {
                e.deny(
                    "SP-2",
                    "SP_RECIPIENT_NOT_SECRET_BOUND",
                    "Le destinataire n'est pas soumis au secret professionnel : le partage d'informations à caractère secret (CASF L.226-2-2) lui est interdit. Un enseignant, un assistant maternel ou un bénévole n'en relèvent pas.",
                    "The recipient is not bound by professional secrecy: sharing under CASF L.226-2-2 is not allowed (teachers, childminders, volunteers are outside).",
                );
            } else if rcpt_missions == 0
                && !a
                    .missions
                    .iter()
                    .any(|m| m.kind == MissionKind::PendingAdmission as i32)
            {
                e.deny(
                    "SP-2",
                    "SP_RECIPIENT_NOT_PE_CONTRIBUTOR",
                    "Le destinataire n'apporte pas actuellement son concours à la protection de l'enfance pour cet enfant.",
                    "The recipient does not currently take part in this child's protection.",
                );
            } else {
                e.pass("SP-2");
            }
        }
        if matches!(
            purpose,
            Purpose::Evaluate
                | Purpose::Decide
                | Purpose::ImplementProtection
                | Purpose::Admission
                | Purpose::Orientation
                | Purpose::MandatoryReport
        ) {
            e.pass("SP-3");
        } else {
            e.deny(
                "SP-3",
                "SP_PURPOSE_NOT_ALLOWED",
                "Le partage entre professionnels de la protection de l'enfance n'est permis que pour évaluer une situation, décider ou mettre en œuvre une mesure.",
                "Sharing between child-protection professionals is allowed only to evaluate, decide or implement protection.",
            );
        }
        if !e.denials.iter().any(|d| d.rule.starts_with("SP-")) {
            e.allow_path = true;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn ip_rules(
        &self,
        cx: &Ctx<'_>,
        e: &mut Eval,
        k: &KindInfo,
        basis: LegalBasis,
        channel: Channel,
        t: &Target,
        pro: Option<&Actor>,
        rcpt_kind: StructureKind,
        rcpt_missions: u32,
    ) {
        if basis == LegalBasis::CasfL22621 {
            e.pass("IP-2");
        }
        let residence = cx.child.residence_departement.as_str();
        if k.kind == DocumentKind::Ip && channel == Channel::Mssante {
            let competent = self.config.crip_mailboxes.get(residence);
            let addr_dept = self.crip_dept(&t.mss_address);
            let rcpt_dept = pro
                .and_then(|a| a.structure.as_ref())
                .map(|s| s.departement.as_str())
                .unwrap_or("");
            match competent {
                None => e.deny(
                    "IP-1",
                    "IP_COMPETENCE_UNKNOWN",
                    "Le département de résidence de l'enfant est inconnu ou sans CRIP configurée : impossible de déterminer la CRIP compétente.",
                    "The child's residence département is unknown or has no configured CRIP.",
                ),
                Some(c) if c.eq_ignore_ascii_case(&t.mss_address) => {
                    e.pass("IP-1");
                    e.allow_path = true;
                }
                Some(_) => {
                    let other_crip = addr_dept.is_some() || rcpt_kind == StructureKind::Crip;
                    if other_crip && basis == LegalBasis::CasfL2213 {
                        e.pass("IP-1");
                        e.allow_path = true;
                    } else if other_crip && self.valid_override(cx, "IP-1") {
                        e.rule("IP-1", RuleEffect::Obligation);
                        e.obligations.push(Obligation {
                            code: "OVERRIDE_RECORDED".into(),
                            due: None,
                            detail: "IP-1 lifted by the sender's cadre (child found elsewhere or urgency)".into(),
                        });
                        e.allow_path = true;
                    } else if other_crip {
                        let d = addr_dept.unwrap_or(rcpt_dept);
                        e.deny(
                            "IP-1",
                            "IP_WRONG_DEPARTEMENT",
                            format!("Cette CRIP ({d}) n'est pas celle du département de résidence de l'enfant ({residence}) : adressez l'information préoccupante à la CRIP {residence}."),
                            format!("This CRIP ({d}) is not the one of the child's residence département ({residence})."),
                        );
                    } else {
                        e.deny(
                            "IP-1",
                            "IP_RECIPIENT_NOT_CRIP",
                            format!("Une information préoccupante ne s'adresse qu'à la CRIP du département de résidence ({residence})."),
                            format!("An IP goes only to the CRIP of the residence département ({residence})."),
                        );
                    }
                }
            }
        }
        // IP-4: IP and evaluation reports stay within CRIP, evaluation team, inspecteur ASE.
        let allowed = match channel {
            Channel::Mssante => pro.is_some_and(|a| {
                let s_dept = a
                    .structure
                    .as_ref()
                    .map(|s| s.departement.as_str())
                    .unwrap_or("");
                let own_or_l221 = s_dept == residence || basis == LegalBasis::CasfL2213;
                // For the IP itself, IP-1 decides which CRIP is competent.
                (k.kind == DocumentKind::Ip && self.crip_dept(&t.mss_address).is_some())
                    || (matches!(rcpt_kind, StructureKind::Crip)
                        && (own_or_l221 || k.kind == DocumentKind::Ip))
                    || (matches!(
                        rcpt_kind,
                        StructureKind::Ase | StructureKind::Ssd | StructureKind::Pmi
                    ) && own_or_l221)
                    || has_mission(rcpt_missions, MissionKind::InspecteurAse)
                    || has_mission(rcpt_missions, MissionKind::CripEvaluator)
                    || has_mission(rcpt_missions, MissionKind::CripResponsable)
            }),
            _ => false,
        };
        if allowed {
            e.pass("IP-4");
            if k.kind == DocumentKind::RapEval || basis == LegalBasis::CasfL2213 {
                e.allow_path |= !e.denials.iter().any(|d| d.rule.starts_with("SP-"));
            }
        } else {
            e.deny(
                "IP-4",
                "IP_RECIPIENT_NOT_ALLOWED",
                "Une information préoccupante ou un rapport d'évaluation ne circule qu'entre la CRIP, l'équipe d'évaluation (ASE, service social, PMI) et l'inspecteur ASE ; jamais vers le DMP, Mon espace santé ou une personne mise en cause.",
                "An IP or evaluation report stays within the CRIP, the evaluation team and the inspecteur ASE; never DMP, MES or an alleged author.",
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn hd_rules(
        &self,
        cx: &Ctx<'_>,
        e: &mut Eval,
        basis: LegalBasis,
        channel: Channel,
        k: &KindInfo,
        pro: Option<&Actor>,
        rcpt_rows: &[usize],
        rcpt_missions: u32,
    ) {
        if channel == Channel::Mssante && pro.is_none() {
            // A party is never an MSSanté recipient (CH-6 said so): no health-exchange analysis.
            return;
        }
        let cat = |rows: &[usize]| rows.iter().any(|r| self.matrix.rows[*r].r1110_2.is_some());
        let sender_cat = cat(&cx.sender_rows);
        let rcpt_cat = channel != Channel::Mssante || cat(rcpt_rows);
        if sender_cat && rcpt_cat {
            e.pass("HD-1");
        } else {
            e.deny(
                "HD-1",
                "HD_CATEGORY_NOT_AUTHORISED",
                "L'échange de données de santé n'est permis qu'entre professionnels des catégories de l'article R.1110-2 du CSP.",
                "Health data may be exchanged only between professionals of the CSP R.1110-2 categories.",
            );
        }
        let kind_opp = cx.child.oppositions.iter().any(|o| {
            o.kind == OppositionKind::DocumentKind as i32
                && o.document_kind == k.kind as i32
                && active(o.withdrawn_at.as_ref(), cx)
        });
        if kind_opp {
            e.deny(
                "HD-3",
                "HD_OPPOSITION_RECORDED",
                "Une opposition au partage de ce type de document est enregistrée.",
                "An opposition to sharing this kind of document is recorded.",
            );
        }
        let mut ok = true;
        if channel == Channel::Mssante {
            match basis {
                LegalBasis::CspL11104Ii => {
                    if cx.sender_missions != 0 && rcpt_missions != 0 {
                        e.pass("HD-2");
                    } else {
                        ok = false;
                        e.deny("HD-2", "HD_NOT_IN_CARE", "L'expéditeur et le destinataire doivent tous deux participer à la prise en charge de l'enfant.", "Sender and recipient must both take part in the child's care.");
                    }
                }
                LegalBasis::CspL11104IiiTeam => {
                    let st = cx
                        .sender
                        .structure
                        .as_ref()
                        .map(|s| s.care_team_ids.as_slice())
                        .unwrap_or(&[]);
                    let rt = pro
                        .and_then(|a| a.structure.as_ref())
                        .map(|s| s.care_team_ids.as_slice())
                        .unwrap_or(&[]);
                    if st.iter().any(|x| rt.contains(x)) {
                        e.pass("HD-3");
                    } else {
                        ok = false;
                        e.deny("HD-3", "HD_NOT_SAME_CARE_TEAM", "Le destinataire n'appartient pas à la même équipe de soins que l'expéditeur.", "The recipient is not in the sender's care team.");
                    }
                }
                LegalBasis::CspL11104IiiConsent => {
                    let opp = cx.child.oppositions.iter().any(|o| {
                        o.kind == OppositionKind::PartageHorsEquipe as i32
                            && active(o.withdrawn_at.as_ref(), cx)
                    });
                    if opp {
                        ok = false;
                        e.deny(
                            "HD-4",
                            "HD_OPPOSITION_RECORDED",
                            "Une opposition au partage hors équipe de soins est enregistrée.",
                            "An opposition to sharing outside the care team is recorded.",
                        );
                    }
                    let who: Vec<&str> = if cx.adult || cx.emancipated {
                        cx.child_party
                            .map(|p| vec![p.id.as_str()])
                            .unwrap_or_default()
                    } else {
                        cx.holders.clone()
                    };
                    let all = !who.is_empty() && who.iter().all(|p| self.valid_consent(cx, p));
                    if all {
                        e.pass("HD-4");
                    } else {
                        ok = false;
                        e.deny("HD-4", "HD_CONSENT_MISSING", "Le partage hors équipe de soins exige le consentement préalable des titulaires de l'autorité parentale (ou du jeune majeur).", "Sharing outside the care team needs the prior consent of the parental-authority holders (or of the adult).");
                    }
                }
                _ => {}
            }
        }
        if ok && !kind_opp {
            e.allow_path = true;
        }
    }

    fn age_rules(&self, cx: &Ctx<'_>, e: &mut Eval, basis: LegalBasis, k: &KindInfo) {
        e.info("AGE-1");
        if !cx.adult {
            return;
        }
        let mut denied = false;
        if matches!(
            basis,
            LegalBasis::CasfL22622 | LegalBasis::CasfL22621 | LegalBasis::CasfL2213
        ) {
            denied = true;
            e.deny(
                "AGE-2",
                "AGE_BASIS_MINORS_ONLY",
                "Le partage au titre de la protection de l'enfance (CASF L.226-2-1, L.226-2-2, L.221-3) concerne les mineurs : pour un jeune majeur, recueillez son consentement.",
                "CASF L.226-2-1/-2-2 and L.221-3 concern minors: for a young adult, collect his consent.",
            );
        }
        if !is_csp(basis) {
            let consent = cx
                .child_party
                .is_some_and(|p| self.valid_consent(cx, &p.id));
            if consent {
                e.pass("AGE-2");
                if basis == LegalBasis::AdultConsent {
                    e.allow_path = true;
                }
            } else {
                denied = true;
                e.deny(
                    "AGE-2",
                    "AGE_ADULT_CONSENT_MISSING",
                    "Le jeune est majeur : la transmission exige son consentement, enregistré et non retiré.",
                    "The young person is an adult: the transmission needs his recorded, non-withdrawn consent.",
                );
            }
        }
        let ase_basis = is_casf_pe(basis) || basis == LegalBasis::CasfL22621;
        let pe_kind = matches!(
            k.group,
            catalogue::Group::SocialPe | catalogue::Group::IpEval
        );
        if (cx.age >= 21 || !cx.jeune_majeur) && (ase_basis || pe_kind) {
            denied = true;
            e.deny(
                "AGE-3",
                "AGE_PE_ENDED",
                "L'accompagnement au titre de l'aide sociale à l'enfance est terminé (21 ans ou fin du contrat jeune majeur).",
                "Child-welfare support has ended (age 21 or end of the jeune-majeur measure).",
            );
        } else {
            e.pass("AGE-3");
        }
        if !denied {
            e.pass("AGE-2");
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn ms_rules(
        &self,
        cx: &Ctx<'_>,
        e: &mut Eval,
        d: &Document,
        channel: Channel,
        pro: Option<&Actor>,
        party_id: Option<&str>,
        to_child: bool,
        ms: bool,
    ) {
        let srh = d
            .tags
            .contains(&(DocumentTag::SexualReproductiveHealth as i32));
        if srh && !ms && !cx.adult {
            e.deny(
                "MS-1",
                "MS_STATEMENT_MISSING",
                "Document de santé sexuelle et reproductive d'un mineur : le professionnel de santé doit indiquer si le mineur a demandé le secret.",
                "Sexual/reproductive health document of a minor: the health professional must state whether the minor asked for secrecy.",
            );
        }
        if !ms {
            return;
        }
        let to_ap_side =
            party_id.is_some_and(|p| !to_child && cx.is_ap_side(p)) || channel == Channel::Mes;
        if to_ap_side {
            e.deny(
                "MS-1",
                "MS_SECRET_FROM_AP_HOLDERS",
                "Ce document relève du secret demandé par le mineur (CSP) : il ne peut être communiqué ni aux titulaires de l'autorité parentale, ni aux représentants légaux, ni dans Mon espace santé.",
                "This document is under the minor's secrecy: never to parental-authority holders, representatives or the child's Mon espace santé.",
            );
        } else {
            e.pass("MS-1");
        }
        if channel == Channel::Dmp {
            e.info("MS-2");
        }
        let rec = cx
            .child
            .minor_secrecy
            .iter()
            .find(|m| m.id == d.minor_secrecy_ref);
        let recorder_id = rec
            .and_then(|m| m.recorded_by.as_ref())
            .and_then(|p| p.id.as_ref())
            .map(|i| i.value.as_str());
        let sender_id = cx
            .sender
            .person
            .as_ref()
            .and_then(|p| p.id.as_ref())
            .map(|i| i.value.as_str());
        let sender_ok = (recorder_id.is_some() && recorder_id == sender_id)
            || (has_g15(cx.sender.person.as_ref())
                && has_mission(cx.sender_missions, MissionKind::Soignant));
        let rcpt_ok = match (channel, pro) {
            (Channel::Mssante, Some(a)) => {
                has_g15(a.person.as_ref()) && missions_mask(a, cx.today) != 0
            }
            (Channel::Mssante, None) => true,
            _ => true,
        };
        if sender_ok && rcpt_ok {
            e.pass("MS-3");
        } else {
            e.deny(
                "MS-3",
                "MS_SENDER_NOT_AUTHORISED",
                "Un document sous secret du mineur n'est transmis que par le professionnel de santé qui l'a recueilli (ou son équipe de soins), à un professionnel de santé nécessaire à la prise en charge.",
                "A document under the minor's secrecy is sent only by the recording health professional (or its care team) to a health professional needed for the care.",
            );
        }
    }

    fn inf_rules(&self, cx: &Ctx<'_>, e: &mut Eval, basis: LegalBasis, k: &KindInfo, ms: bool) {
        let article = text::inf_article(basis, k.kind == DocumentKind::Ip);
        let child_id = Some(
            cx.child_party
                .map_or(crate::context::CHILD_PLACEHOLDER, |p| p.id.as_str()),
        );
        let ip = k.kind == DocumentKind::Ip || basis == LegalBasis::CasfL22621;
        let ids = persons_list(cx, basis, ip, ms);
        e.info("INF-1");
        if k.kind == DocumentKind::Ip {
            e.info("IP-3");
        }
        let urgency = cx.req.legal.as_ref().is_some_and(|l| l.urgency) && is_csp(basis);
        let validity = Duration::days(i64::from(self.config.info_validity_days));
        let mut inf2_ok = true;
        let mut inf3_seen = false;
        for id in &ids {
            let role = cx.role_name(id);
            // Several persons with the same role (e.g. two other holders): name the party too.
            let same_role = ids.iter().filter(|x| cx.role_name(x) == role).count() > 1;
            let who_fr = if same_role {
                format!("{} ({id})", role_fr(role))
            } else {
                role_fr(role).to_string()
            };
            let who_en = if same_role {
                format!("{} ({id})", role_en(role))
            } else {
                role_en(role).to_string()
            };
            let withdrawn = cx.period.is_some_and(|p| p.withdrawn_party_id == *id);
            let mut hint = String::new();
            if cx.is_alleged_author(id) {
                hint = "INF-4: mis en cause — une dispense (information contraire à l'intérêt de l'enfant) est probablement appropriée / alleged author: a waiver is likely appropriate".into();
                e.info("INF-4");
            } else if withdrawn {
                hint = "INF-1: parent après retrait de l'autorité parentale — une dispense peut être envisagée / parent after withdrawal of parental authority: consider a waiver".into();
            }
            let mut person = PersonToInform {
                party_id: id.clone(),
                role: role.to_string(),
                basis: article.to_string(),
                status: InformationStatus::Missing as i32,
                decided_by: String::new(),
                record_id: String::new(),
                hint,
            };
            if Some(id.as_str()) == child_id && cx.age < 3 {
                person.status = InformationStatus::NotApplicable as i32;
                person.decided_by =
                    "automatique : enfant de moins de 3 ans / automatic: child under 3".into();
                e.persons.push(person);
                continue;
            }
            let records: Vec<&passerelle_api::v1::InformationRecord> = cx
                .req
                .legal
                .as_ref()
                .map(|l| l.information.iter().filter(|r| r.party_id == *id).collect())
                .unwrap_or_default();
            // The best record wins: a valid one if any.
            let mut problem: Option<(&'static str, &'static str, String, String)> = None;
            let mut done = false;
            for r in &records {
                match &r.status {
                    Some(information_record::Status::Done(dn)) => {
                        let at = dn.at.as_ref().and_then(ts);
                        match at {
                            Some(at) if at <= cx.as_of && cx.as_of - at <= validity => {
                                person.status = InformationStatus::Done as i32;
                                person.record_id = r.id.clone();
                                person.decided_by = dn.by.clone();
                                done = true;
                            }
                            Some(at) if at > cx.as_of => {
                                problem.get_or_insert((
                                    "INF-2",
                                    "INF_INFORMATION_NOT_PRIOR",
                                    format!("L'information de {} est datée après la transmission : elle doit être préalable.", who_fr),
                                    format!("Information of {} is dated after the transmission: it must be prior.", who_en),
                                ));
                            }
                            _ => {
                                problem.get_or_insert((
                                    "INF-2",
                                    "",
                                    format!("L'information de {} date de plus de {} jours : informez-la à nouveau.", who_fr, self.config.info_validity_days),
                                    format!("Information of {} is older than {} days: inform again.", who_en, self.config.info_validity_days),
                                ));
                            }
                        }
                    }
                    Some(information_record::Status::Waived(w)) => {
                        inf3_seen = true;
                        let mission = MissionKind::try_from(w.decider_mission)
                            .unwrap_or(MissionKind::Unspecified);
                        let authorised =
                            self.waiver_authorised(basis, mission, w.decided_by.as_ref());
                        let at_ok = w.at.as_ref().and_then(ts).is_some_and(|a| a <= cx.as_of);
                        if w.reason.trim().is_empty() {
                            problem.get_or_insert((
                                "INF-3",
                                "INF_WAIVER_REASON_MISSING",
                                format!("La dispense d'informer {} doit être motivée (en quoi l'information serait contraire à l'intérêt de l'enfant).", who_fr),
                                format!("The waiver for {} needs its reason (why informing would be contrary to the child's interest).", who_en),
                            ));
                        } else if !authorised || !at_ok {
                            problem.get_or_insert((
                                "INF-3",
                                "INF_WAIVER_AUTHORITY_INSUFFICIENT",
                                format!(
                                    "La dispense d'informer {} a été décidée par {} qui n'a pas autorité pour cela (inspecteur ASE, responsable CRIP, chef de service ou directeur).",
                                    who_fr,
                                    person_label(w.decided_by.as_ref(), Some(mission))
                                ),
                                format!("The waiver for {} was decided by someone without authority (inspecteur ASE, CRIP head, head of service or director).", who_en),
                            ));
                        } else {
                            person.status = InformationStatus::Waived as i32;
                            person.record_id = r.id.clone();
                            person.decided_by = person_label(w.decided_by.as_ref(), Some(mission));
                            done = true;
                        }
                    }
                    Some(information_record::Status::NotApplicable(n)) => {
                        if n.reason.trim().is_empty() || n.decided_by.is_none() {
                            problem.get_or_insert((
                                "INF-3",
                                "INF_WAIVER_REASON_MISSING",
                                format!("« Sans objet » pour {} doit être motivé et décidé par un professionnel.", who_fr),
                                format!("Not-applicable for {} needs a reason and a deciding professional.", who_en),
                            ));
                        } else {
                            person.status = InformationStatus::NotApplicable as i32;
                            person.record_id = r.id.clone();
                            person.decided_by = person_label(n.decided_by.as_ref(), None);
                            done = true;
                        }
                    }
                    None => {}
                }
                if done {
                    break;
                }
            }
            if !done {
                if urgency {
                    e.rule("HD-5", RuleEffect::Obligation);
                    let due =
                        cx.as_of + Duration::hours(i64::from(self.config.inform_afterwards_hours));
                    e.obligations.push(Obligation {
                        code: "INFORM_AFTERWARDS".into(),
                        due: Some(Timestamp {
                            seconds: due.unix_timestamp(),
                            nanos: 0,
                        }),
                        detail: format!("inform {role} ({id}) after the urgent transmission"),
                    });
                } else {
                    inf2_ok = false;
                    match problem {
                        Some((rule, code, fr, en)) if !code.is_empty() => e.deny(rule, code, fr, en),
                        Some((rule, _, fr, en)) => e.deny(rule, format!("INF_PRIOR_INFORMATION_MISSING:{role}"), fr, en),
                        None => e.deny(
                            "INF-2",
                            format!("INF_PRIOR_INFORMATION_MISSING:{role}"),
                            format!("{} doit être informé(e) préalablement de cette transmission ({article}), ou une dispense motivée doit être enregistrée.", capitalise(&who_fr)),
                            format!("{} must be informed beforehand ({article}), or a reasoned waiver recorded.", capitalise(&who_en)),
                        ),
                    }
                }
            }
            e.persons.push(person);
        }
        if inf2_ok {
            e.pass("INF-2");
        }
        if inf3_seen && !e.denials.iter().any(|d| d.rule == "INF-3") {
            e.pass("INF-3");
        }
    }

    fn aut_rules(&self, cx: &Ctx<'_>, e: &mut Eval, d: &Document) {
        let content = match &d.content {
            Some(document::Content::AutorisationSoins(a)) => Some(a),
            _ => None,
        };
        let act_kind = if d.act_kind != 0 {
            d.act_kind
        } else {
            content.map_or(0, |a| a.act_kind)
        };
        let act_kind = ActKind::try_from(act_kind).unwrap_or(ActKind::Unspecified);
        if act_kind == ActKind::Unspecified || content.is_some_and(|a| a.act.trim().is_empty()) {
            e.deny(
                "AUT-1",
                "AUT_ACT_KIND_MISSING",
                "L'autorisation doit préciser l'acte et s'il est usuel (poursuite d'un traitement) ou non usuel (début d'un traitement, intervention).",
                "The authorisation must state the act and whether it is usual or non-usual.",
            );
            return;
        }
        e.pass("AUT-1");
        let sig_by = |cap: SignerCapacity| {
            d.signatures
                .iter()
                .filter(move |s| s.capacity == cap as i32)
        };
        // AUT-3: a signer who held the attribute before but no longer does.
        let lost: Vec<&str> = d
            .signatures
            .iter()
            .filter(|s| {
                matches!(
                    SignerCapacity::try_from(s.capacity).unwrap_or_default(),
                    SignerCapacity::ApHolder | SignerCapacity::Delegataire | SignerCapacity::Tuteur
                )
            })
            .map(|s| s.party_id.as_str())
            .filter(|p| !cx.holders.contains(p) && cx.held_before(p))
            .collect();
        if lost.is_empty() {
            e.pass("AUT-3");
        } else {
            e.deny(
                "AUT-3",
                "AUT_SIGNER_LOST_AUTHORITY",
                format!("Le signataire ({}) ne détient plus l'autorité parentale à la date de la transmission.", cx.role_name(lost[0])),
                "A signer no longer holds parental authority at the decision date.",
            );
        }
        let je: Vec<_> = sig_by(SignerCapacity::JeAuthorisation).collect();
        let je_valid = je
            .iter()
            .any(|s| parse_date(&s.je_valid_to).is_some_and(|v| v >= cx.today));
        if !je.is_empty() && !je_valid {
            e.deny(
                "AUT-2",
                "AUT_JE_AUTHORISATION_EXPIRED",
                "L'autorisation du juge des enfants a expiré : elle ne couvre plus cet acte.",
                "The juge des enfants' authorisation has expired.",
            );
            return;
        }
        let holder_signed = |p: &str| {
            d.signatures.iter().any(|s| {
                s.party_id == p
                    && matches!(
                        SignerCapacity::try_from(s.capacity).unwrap_or_default(),
                        SignerCapacity::ApHolder
                            | SignerCapacity::Delegataire
                            | SignerCapacity::Tuteur
                    )
            })
        };
        let required: Vec<&str> = if cx.adult || cx.emancipated {
            cx.child_party
                .map(|p| vec![p.id.as_str()])
                .unwrap_or_default()
        } else {
            cx.holders.clone()
        };
        let self_signed = (cx.adult || cx.emancipated)
            && cx
                .child_party
                .is_some_and(|c| d.signatures.iter().any(|s| s.party_id == c.id));
        let ok = je_valid
            || self_signed
            || match act_kind {
                ActKind::NonUsuel => {
                    !required.is_empty() && required.iter().all(|p| holder_signed(p))
                }
                _ => {
                    required.iter().any(|p| holder_signed(p))
                        || (cx.placement_measure
                            && sig_by(SignerCapacity::Service).next().is_some())
                }
            };
        if ok {
            e.pass("AUT-2");
        } else {
            let fr = if act_kind == ActKind::NonUsuel {
                "Acte non usuel : l'autorisation doit être signée par tous les titulaires de l'autorité parentale (les deux parents en exercice conjoint), le délégataire ou le tuteur, ou par le juge des enfants."
            } else {
                "Acte usuel : l'autorisation doit être signée par un titulaire de l'autorité parentale ou par le service auquel l'enfant est confié."
            };
            e.deny("AUT-2", "AUT_SIGNER_NOT_COMPETENT", fr, "The signers are not competent for this act (non-usual acts need every holder, the délégataire/tuteur, or a JE authorisation).");
        }
    }

    fn vis_rules(&self, cx: &Ctx<'_>, e: &mut Eval, d: &Document, ms: bool) -> DmpFlags {
        let sf = d.stated_flags.clone().unwrap_or_default();
        let minor = cx.dmp_minor && !cx.emancipated;
        let tag = |t: DocumentTag| d.tags.contains(&(t as i32));
        let reveals =
            tag(DocumentTag::RevealsPlacementAddress) || sf.reveals_placement_address == Some(true);
        let abuse = tag(DocumentTag::AbuseSuspicion) || sf.abuse_suspicion == Some(true);
        // VIS-1: explicit statement.
        let mut missing = Vec::new();
        if sf.masque_ps.is_none() {
            missing.push("masquePs");
        }
        if sf.invisible_patient.is_none() {
            missing.push("invisiblePatient");
        }
        if minor {
            if sf.invisible_representants_legaux.is_none() {
                missing.push("invisibleRepresentantsLegaux");
            }
            if sf.reveals_placement_address.is_none() {
                missing.push("revealsPlacementAddress");
            }
            if sf.abuse_suspicion.is_none() {
                missing.push("abuseSuspicion");
            }
        }
        let stated = missing.is_empty();
        if stated {
            e.pass("VIS-1");
        } else {
            e.deny(
                "VIS-1",
                "VIS_STATEMENT_MISSING",
                format!(
                    "Le dépôt DMP exige une déclaration explicite de visibilité : {} manquant(s).",
                    missing.join(", ")
                ),
                format!(
                    "A DMP deposit needs an explicit visibility statement: missing {}.",
                    missing.join(", ")
                ),
            );
        }
        let masque = sf.masque_ps == Some(true);
        let inv_patient = sf.invisible_patient == Some(true);
        let inv_rep = sf.invisible_representants_legaux == Some(true);
        // VIS-2.
        if masque && inv_patient && !self.config.dmp.cumul_invisible_patient_masque_ps {
            e.deny("VIS-2", "VIS_FLAG_CONFLICT", "Un document ne peut être à la fois masqué aux professionnels de santé et invisible pour le patient.", "A document cannot be both masked to health professionals and invisible to the patient.");
        } else {
            e.pass("VIS-2");
        }
        // VIS-3: secret connection.
        let mut secret_valid = false;
        let mut required = false;
        if minor && let Some(sc) = &cx.child.dmp_secret_connection {
            let valid = has_g15(sc.set_by.as_ref())
                && cx.age >= i32::from(self.config.dmp.secret_connection_min_age);
            if valid {
                secret_valid = true;
                required = true;
                if inv_rep {
                    e.pass("VIS-3");
                } else {
                    e.deny(
                        "VIS-3",
                        "VIS_SECRET_CONNECTION_REQUIRES_INVISIBLE_REP",
                        "Une connexion secrète est ouverte pour ce mineur : tout dépôt doit être invisible pour ses représentants légaux.",
                        "A secret connection is set for this minor: every deposit must be invisible to the legal representatives.",
                    );
                }
            } else {
                e.deny(
                    "VIS-3",
                    "VIS_SECRET_CONNECTION_INVALID",
                    "La connexion secrète doit avoir été ouverte par un professionnel de santé avec le mineur, au-delà de l'âge minimum du DMP.",
                    "The secret connection must be set by a health professional with the minor, above the DMP minimum age.",
                );
            }
        }
        // MS-2 and VIS-4.
        if minor {
            let mut reasons: Vec<(&str, &str)> = Vec::new();
            if ms {
                reasons.push(("MS-2", "le document relève du secret demandé par le mineur"));
            }
            if reveals && cx.child.placement_address_secret {
                reasons.push((
                    "VIS-4",
                    "le document révèle le lieu de placement, tenu secret",
                ));
            }
            if abuse {
                reasons.push(("VIS-4", "le document évoque une suspicion de maltraitance"));
            }
            if cx.rep2_unsafe {
                if cx.representatives.iter().any(|r| cx.is_alleged_author(r)) {
                    reasons.push(("VIS-4", "un représentant légal est mis en cause"));
                }
                if cx.child.placement_address_secret {
                    reasons.push(("VIS-4", "l'adresse du lieu de placement est tenue secrète"));
                }
            }
            if cx.rep3_unsafe {
                reasons.push(("VIS-4", "jugement récent ou titulaires inconnus : les représentants légaux au DMP ne sont pas encore à jour"));
            }
            if !reasons.is_empty() {
                required = true;
                if !inv_rep {
                    for (rule, why) in &reasons {
                        e.deny(
                            rule,
                            "VIS_FLAG_TOO_PERMISSIVE",
                            format!("Ce dépôt doit être invisible pour les représentants légaux ({why}) : indiquez invisibleRepresentantsLegaux = true."),
                            "This deposit must be invisible to the legal representatives: state invisibleRepresentantsLegaux = true.",
                        );
                    }
                } else {
                    for (rule, _) in &reasons {
                        e.pass(rule);
                    }
                }
            } else {
                e.pass("VIS-4");
            }
        }
        // VIS-5: justified flags only.
        let mut vis5 = true;
        if inv_patient
            && (sf.invisible_patient_reason.trim().is_empty()
                || !has_g15(sf.invisible_patient_decided_by.as_ref()))
        {
            vis5 = false;
            e.deny("VIS-5", "VIS_INVISIBLE_PATIENT_UNJUSTIFIED", "Rendre un document invisible au patient exige un motif et la décision d'un professionnel de santé.", "Hiding a document from the patient needs a reason and a health professional's decision.");
        }
        if masque && sf.masque_ps_request_ref.trim().is_empty() {
            vis5 = false;
            e.deny("VIS-5", "VIS_MASQUE_PS_UNJUSTIFIED", "Masquer un document aux professionnels de santé exige la demande enregistrée du patient ou de son représentant.", "Masking a document to health professionals needs a recorded request of the patient or representative.");
        }
        if !minor && inv_rep {
            vis5 = false;
            e.deny(
                "VIS-5",
                "VIS_FLAG_NOT_SUPPORTED",
                "Le patient est majeur : il n'a pas de représentants légaux au DMP.",
                "The patient is an adult: no legal representatives in the DMP.",
            );
        }
        if vis5 {
            e.pass("VIS-5");
        }
        if !e.denied() {
            e.allow_path = true;
        }
        let _ = secret_valid;
        DmpFlags {
            confidentiality: "N".into(),
            masque_ps: masque,
            invisible_patient: inv_patient,
            invisible_representants_legaux: inv_rep,
            stated,
            required_invisible_representants_legaux: required,
        }
    }

    fn valid_consent(&self, cx: &Ctx<'_>, party: &str) -> bool {
        cx.req.legal.as_ref().is_some_and(|l| {
            l.consents.iter().any(|c| {
                c.party_id == party
                    && c.at.as_ref().and_then(ts).is_some_and(|a| a <= cx.as_of)
                    && active(c.withdrawn_at.as_ref(), cx)
            })
        })
    }

    fn waiver_authorised(
        &self,
        basis: LegalBasis,
        mission: MissionKind,
        who: Option<&passerelle_api::v1::Person>,
    ) -> bool {
        if who.is_none() {
            return false;
        }
        let bit = mission_bit(mission as i32);
        if self.waiver_missions & bit != 0 {
            return true;
        }
        is_csp(basis) && self.waiver_health_missions & bit != 0 && has_g15(who)
    }

    pub(crate) fn valid_override(&self, cx: &Ctx<'_>, rule: &str) -> bool {
        cx.req.legal.as_ref().is_some_and(|l| {
            l.overrides.iter().any(|o| {
                o.rule_id == rule
                    && !o.reason.trim().is_empty()
                    && o.at.as_ref().and_then(ts).is_some_and(|a| a <= cx.as_of)
                    && o.decided_by.as_ref().is_some_and(|p| {
                        self.config
                            .override_titles
                            .iter()
                            .any(|t| t.eq_ignore_ascii_case(p.title.trim()))
                            || p.fonction
                                .as_ref()
                                .is_some_and(|f| f.code == "FON-09" || f.code == "FON-43")
                            || p.professions
                                .iter()
                                .any(|c| c.system == catalogue::OID_R85 && c.code == "359")
                    })
            })
        })
    }
}

/// INF-1 / IP-3 / MS-2: who must be informed, in order (party ids).
pub(crate) fn persons_list(cx: &Ctx<'_>, basis: LegalBasis, ip: bool, ms: bool) -> Vec<String> {
    use ApRegime as R;
    // Without a CHILD party the child is still listed, under a placeholder id that no record can
    // match: informing the child is never skipped silently.
    let child_id = Some(
        cx.child_party
            .map_or(crate::context::CHILD_PLACEHOLDER, |p| p.id.as_str()),
    );
    let mut ids: Vec<String> = Vec::new();
    let push_id = |ids: &mut Vec<String>, id: &str| {
        if !id.is_empty() && !ids.iter().any(|x| x == id) {
            ids.push(id.to_string());
        }
    };
    if cx.adult || cx.emancipated || basis == LegalBasis::AdultConsent || ms {
        if let Some(c) = child_id {
            push_id(&mut ids, c);
        }
    } else if is_csp(basis) {
        for h in &cx.holders {
            push_id(&mut ids, h);
        }
        if ids.is_empty()
            && let Some(c) = child_id
        {
            push_id(&mut ids, c);
        }
    } else {
        // L.226-2-1 / L.226-2-2 name "le père, la mère" besides the holders and the tutor.
        let parents_listed = matches!(
            cx.regime,
            R::Conjoint
                | R::Unilateral
                | R::DelegationTotal
                | R::DelegationPartial
                | R::RetraitTotal
                | R::RetraitPartial
        );
        if parents_listed {
            for p in &cx.child.parties {
                if p.role == passerelle_api::v1::PartyRole::Mother as i32
                    || p.role == passerelle_api::v1::PartyRole::Father as i32
                {
                    push_id(&mut ids, &p.id);
                }
            }
        }
        for h in &cx.holders {
            push_id(&mut ids, h);
        }
        if !ip && let Some(c) = child_id {
            push_id(&mut ids, c);
        }
    }
    ids
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn active(withdrawn_at: Option<&Timestamp>, cx: &Ctx<'_>) -> bool {
    withdrawn_at.and_then(ts).is_none_or(|w| w > cx.as_of)
}

pub(crate) fn outcome_of(e: &Eval) -> Outcome {
    if e.denials.is_empty() {
        Outcome::Allowed
    } else {
        Outcome::Denied
    }
}

impl Engine {
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        cx: &Ctx<'_>,
        job: &Job<'_>,
        channel: Channel,
        k: Option<&KindInfo>,
        basis: LegalBasis,
        e: Eval,
        flags: Option<(DmpFlags, Sensitivity)>,
    ) -> TargetDecision {
        let t = job.t;
        let outcome = outcome_of(&e);
        let recipient = match channel {
            Channel::Dmp => "DMP".to_string(),
            Channel::Mes => {
                if t.mss_address.is_empty() {
                    cx.child.mes_address.clone()
                } else {
                    t.mss_address.clone()
                }
            }
            _ => {
                if t.mss_address.is_empty() {
                    match &t.recipient {
                        Some(target::Recipient::PartyId(p)) => format!("party:{p}"),
                        _ => String::new(),
                    }
                } else {
                    t.mss_address.clone()
                }
            }
        };
        let (dmp_flags, sensitivity) = flags.unwrap_or((DmpFlags::default(), Sensitivity::Maximal));
        let mut confidentiality = Vec::new();
        let mut vihf = String::new();
        let dmp_out = if channel == Channel::Dmp {
            confidentiality.push("N".to_string());
            if dmp_flags.masque_ps {
                confidentiality.push("MASQUE_PS".into());
            }
            if dmp_flags.invisible_patient {
                confidentiality.push("INVISIBLE_PATIENT".into());
            }
            if dmp_flags.invisible_representants_legaux {
                confidentiality.push("INVISIBLE_REPRESENTANTS_LEGAUX".into());
            }
            if cx.dmp_minor
                && !cx.emancipated
                && cx
                    .child
                    .dmp_secret_connection
                    .as_ref()
                    .is_some_and(|sc| has_g15(sc.set_by.as_ref()))
            {
                vihf = "INVISIBLE_REPRESENTANTS_LEGAUX".into();
            }
            Some(dmp_flags)
        } else {
            confidentiality.push(
                match sensitivity {
                    Sensitivity::Low | Sensitivity::Medium | Sensitivity::Unspecified => "N",
                    Sensitivity::High => "R",
                    _ => "V",
                }
                .to_string(),
            );
            None
        };
        let legal_basis = if basis == LegalBasis::Unspecified {
            String::new()
        } else {
            text::basis_article(basis).to_string()
        };
        let explanation = text::explain(cx, k, channel, &recipient, &legal_basis, outcome, &e);
        TargetDecision {
            target_id: t.id.clone(),
            recipient,
            channel: channel as i32,
            document_id: job.d.id.clone(),
            kind: job.d.kind,
            outcome: outcome as i32,
            legal_basis,
            rules: e.rules,
            denials: e.denials,
            persons_to_inform: e.persons,
            obligations: e.obligations,
            dmp_flags: dmp_out,
            vihf_confidentiality_code: vihf,
            explanation: Some(Explanation {
                fr: explanation.0,
                en: explanation.1,
            }),
            confidentiality,
            representatives: cx.representatives.clone(),
        }
    }
}
