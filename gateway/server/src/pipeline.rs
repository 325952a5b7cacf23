//! Rendering pipeline shared by Submit (render once, store the bytes; retries resend them) and
//! `passerelle render`: the PDF of each document (rendered from structured content, or supplied and
//! kept byte for byte), its CDA R2 N1 per channel profile, and per MSSanté delivery the IHE_XDM.zip
//! and the RFC 5322 message. DMP deliveries keep their CDA; the ITI-41 request and its VIHF are
//! built at send time (the VIHF is time-bound).

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use passerelle_api::v1 as pb;
use passerelle_documents as docs;
use passerelle_domain::error::Error;
use passerelle_domain::validate::FieldViolation;
use passerelle_mssante as mss;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::config::{Config, TenantConfig};
use crate::plan::Planned;

/// The PDF of each document, by document id.
pub type Pdfs = HashMap<String, Vec<u8>>;

/// Id source: random in service, derived from the request in deterministic renders.
pub struct Ids {
    seed: Option<[u8; 32]>,
    n: u64,
}

impl Ids {
    pub fn random() -> Self {
        Self { seed: None, n: 0 }
    }

    pub fn deterministic(req: &pb::SubmitRequest) -> Self {
        Self {
            seed: Some(crate::plan::request_sha256(req)),
            n: 0,
        }
    }

    pub fn uuid(&mut self) -> uuid::Uuid {
        match self.seed {
            None => uuid::Uuid::now_v7(),
            Some(seed) => {
                self.n += 1;
                let mut h = Sha256::new();
                h.update(seed);
                h.update(self.n.to_be_bytes());
                let d: [u8; 32] = h.finalize().into();
                let mut b = [0u8; 16];
                b.copy_from_slice(&d[..16]);
                uuid::Builder::from_random_bytes(b).into_uuid()
            }
        }
    }

    /// A document/submission uniqueId under the UUID-derived OID arc 2.25 (ITU-T X.667).
    pub fn oid(&mut self) -> String {
        format!("2.25.{}", self.uuid().as_u128())
    }
}

fn code(system: &str, code: &str, display: &str) -> pb::Code {
    pb::Code {
        system: system.into(),
        code: code.into(),
        display: display.into(),
    }
}

fn facility_display(c: &str) -> &'static str {
    match c {
        "SA20" => "Etablissement pour la protection de l'enfance",
        "SA05" => "Centre médico-psychologique (CMP)",
        "SA07" => "Cabinet individuel",
        _ => "Etablissement",
    }
}

/// The tenant as the documents layer needs it.
pub fn docs_tenant(t: &TenantConfig) -> docs::Tenant {
    let facility = code(
        "1.2.250.1.71.4.2.4",
        &t.facility_type,
        facility_display(&t.facility_type),
    );
    docs::Tenant {
        name: t.name.clone(),
        struct_idnat: t.struct_idnat(),
        source_oid: tenant_source_oid(t),
        facility_type: facility.clone(),
        practice_setting: code(
            "1.2.250.1.213.1.1.4.9",
            &t.practice_setting,
            "Etablissement ou Service Social ou Médico-Social",
        ),
        practice_setting_dmp: code("1.2.250.1.213.1.1.4.9", "AMBULATOIRE", "Ambulatoire"),
        content_type: facility,
        app_mailbox: t.app_mailbox.clone(),
        org_mailbox: t.org_mailbox.clone().unwrap_or_default(),
        phone: String::new(),
        address: None,
    }
}

/// sourceId of the tenant's system: a stable OID under 2.25 derived from its Struct_IdNat.
pub fn tenant_source_oid(t: &TenantConfig) -> String {
    let d: [u8; 32] = Sha256::digest(format!("passerelle-source:{}", t.struct_idnat())).into();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    format!("2.25.{}", u128::from_be_bytes(b) >> 1)
}

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::invalid(vec![FieldViolation::new(field, reason)])
}

fn inspect_supplied(
    i: usize,
    p: &pb::SuppliedPdf,
    max_pdf: usize,
) -> Result<passerelle_pdf::SuppliedPdfInfo, Error> {
    passerelle_pdf::inspect_supplied_pdf(&p.data, max_pdf)
        .map_err(|e| invalid(&format!("documents[{i}].pdf.data"), e.to_string()))
}

/// The checks of `pdfs` that need no rendering (supplied PDFs: size, header, structure), run
/// before a submission is acknowledged.
pub fn check_supplied(req: &pb::SubmitRequest, max_pdf: usize) -> Result<(), Error> {
    for (i, d) in req.documents.iter().enumerate() {
        match &d.content {
            Some(pb::document::Content::Pdf(p)) => {
                inspect_supplied(i, p, max_pdf)?;
            }
            Some(_) => {}
            None => return Err(invalid(&format!("documents[{i}].content"), "required")),
        }
    }
    Ok(())
}

/// The PDF of each document: supplied bytes kept as they are, or rendered from the structured
/// content. Also returns warnings (a supplied PDF that is not PDF/A).
pub fn pdfs(
    tenant: &TenantConfig,
    req: &pb::SubmitRequest,
    now: OffsetDateTime,
    max_pdf: usize,
) -> Result<(Pdfs, Vec<String>), Error> {
    let mut out = HashMap::new();
    let mut warnings = Vec::new();
    let child = req.child.clone().unwrap_or_default();
    let sender = req.sender.as_ref().and_then(|s| s.actor.as_ref());
    for (i, d) in req.documents.iter().enumerate() {
        match &d.content {
            Some(pb::document::Content::Pdf(p)) => {
                if !inspect_supplied(i, p, max_pdf)?.claims_pdfa() {
                    warnings.push(format!(
                        "SUPPLIED_PDF_NOT_PDFA:{}: kept byte for byte; ANS asks for PDF/A-1 copies",
                        d.id
                    ));
                }
                out.insert(d.id.clone(), p.data.to_vec());
            }
            Some(_) => {
                let author = d.author.as_ref().or(sender);
                let labels = author
                    .map(passerelle_pdf::ActorLabels::from_actor)
                    .unwrap_or_default();
                let structure_ids = if labels.structure_ids.is_empty() {
                    format!("Struct_IdNat {}", tenant.struct_idnat())
                } else {
                    labels.structure_ids.clone()
                };
                let ctx = passerelle_pdf::RenderContext {
                    document: d,
                    child: &child,
                    structure_name: &tenant.name,
                    structure_ids: &structure_ids,
                    author_name: &labels.author_name,
                    author_role: &labels.author_role,
                    title: &d.title,
                    created_at: now,
                };
                let pdf = passerelle_pdf::render(&ctx)
                    .map_err(|e| invalid(&format!("documents[{i}].content"), e.to_string()))?;
                out.insert(d.id.clone(), pdf);
            }
            None => return Err(invalid(&format!("documents[{i}].content"), "required")),
        }
    }
    Ok((out, warnings))
}

/// The CDA author of document `i`: its own author, else the sender (MSSanté and DMP profiles).
pub(crate) fn author_of(
    req: &pb::SubmitRequest,
    d: &pb::Document,
    i: usize,
) -> Result<docs::Author, Error> {
    let person = d
        .author
        .as_ref()
        .and_then(|a| a.person.as_ref())
        .or_else(|| {
            req.sender
                .as_ref()
                .and_then(|s| s.actor.as_ref())
                .and_then(|a| a.person.as_ref())
        })
        .ok_or_else(|| {
            invalid(
                &format!("documents[{i}].author"),
                "a named author (or sender) is required for the CDA",
            )
        })?;
    docs::Author::from_person(person).ok_or_else(|| {
        invalid(
            &format!("documents[{i}].author.person"),
            "needs an RPPS, ADELI or internal id and a profession code of TRE_G15, R85, R94 or R95",
        )
    })
}

/// An MSSanté (or MES) delivery rendered: its message bytes and Message-ID.
pub struct MssanteRendered {
    pub message: mss::outgoing::BuiltMessage,
    /// CDA per document id (MSSanté profile), for `render`'s documents/NAME.cda.xml.
    pub cdas: Vec<(String, Vec<u8>)>,
}

fn environment(req: &pb::SubmitRequest) -> mss::cda::Environment {
    let oid = req
        .child
        .as_ref()
        .and_then(|c| c.ins.as_ref())
        .map(|i| i.oid.as_str())
        .unwrap_or_default();
    if oid == passerelle_domain::ids::INS_OID_TEST || oid == passerelle_domain::ids::INS_OID_DEMO {
        mss::cda::Environment::Test
    } else {
        mss::cda::Environment::Production
    }
}

/// Read receipts by default for the IP and the reports (mssante.md §3.2).
pub fn wants_read_receipt(kinds: &[pb::DocumentKind]) -> bool {
    kinds.iter().any(|k| {
        matches!(
            k,
            pb::DocumentKind::Ip
                | pb::DocumentKind::RapEval
                | pb::DocumentKind::RapSituation
                | pb::DocumentKind::Ppe
        )
    })
}

pub struct Renderer<'a> {
    pub cfg: &'a Config,
    pub tenant: &'a TenantConfig,
    pub now: OffsetDateTime,
}

/// What `Renderer::mssante_documents` produces.
pub struct MssanteDocuments<'r> {
    tenant: docs::Tenant,
    child: pb::ChildContext,
    rendered: Vec<(&'r pb::Document, docs::RenderedDocument)>,
    kinds: Vec<pb::DocumentKind>,
    set: docs::SubmissionSet,
}

impl Renderer<'_> {
    /// The CDA and XDS entries of an MSSanté delivery and its submission set: every check the
    /// document layers make on the input, without the zip and the message (Submit runs it with
    /// placeholder PDFs before acknowledging).
    pub fn mssante_documents<'r>(
        &self,
        req: &'r pb::SubmitRequest,
        p: &Planned,
        pdfs: &HashMap<String, Vec<u8>>,
        ids: &mut Ids,
    ) -> Result<MssanteDocuments<'r>, Error> {
        let tenant = docs_tenant(self.tenant);
        let child = req.child.clone().unwrap_or_default();
        let mut rendered = Vec::new();
        let mut kinds = Vec::new();
        let mut first_author = None;
        for (i, d) in req.documents.iter().enumerate() {
            if !p.document_ids.contains(&d.id) {
                continue;
            }
            let pdf = pdfs
                .get(&d.id)
                .ok_or_else(|| Error::internal("PDF missing after rendering"))?;
            let author = author_of(req, d, i)?;
            let doc_ids = docs::DocumentIds {
                unique_id: ids.oid(),
                set_id: ids.oid(),
                version: 1,
                replaces: None,
            };
            let ctx = docs::DocumentContext {
                tenant: &tenant,
                author: &author,
                child: &child,
                document: d,
                pdf,
                ids: &doc_ids,
                effective_time: self.now,
                local_code_system_oid: &self.cfg.policy.local_code_system_oid,
                profile: docs::Profile::Mssante,
            };
            let r = docs::render_document(&ctx)
                .map_err(|e| invalid(&format!("documents[{i}]"), e.to_string()))?;
            kinds.push(passerelle_domain::kinds::from_i32(d.kind));
            if first_author.is_none() {
                first_author = Some(author);
            }
            rendered.push((d, r));
        }
        let (Some(author), Some((_, first))) = (first_author, rendered.first()) else {
            return Err(Error::internal("an MSSanté delivery without documents"));
        };
        let set = docs::SubmissionSet::new(
            &tenant,
            &author,
            docs::Profile::Mssante,
            &ids.oid(),
            self.now,
            &first.entry,
            &[p.recipient.as_str()],
        )
        .map_err(|e| invalid("targets", e.to_string()))?;
        Ok(MssanteDocuments {
            tenant,
            child,
            rendered,
            kinds,
            set,
        })
    }

    pub fn mssante(
        &self,
        req: &pb::SubmitRequest,
        p: &Planned,
        pdfs: &HashMap<String, Vec<u8>>,
        ids: &mut Ids,
    ) -> Result<MssanteRendered, Error> {
        let MssanteDocuments {
            tenant,
            child,
            rendered,
            kinds,
            set,
        } = self.mssante_documents(req, p, pdfs, ids)?;
        let Some((first_doc, _)) = rendered.first() else {
            return Err(Error::internal("an MSSanté delivery without documents"));
        };
        let docs_only: Vec<docs::RenderedDocument> =
            rendered.iter().map(|(_, r)| r.clone()).collect();
        let zip = docs::build_xdm(
            &set,
            &docs_only,
            &docs::XdmSender {
                tenant: &tenant,
                application: "Passerelle",
                version: env!("CARGO_PKG_VERSION"),
                editor: "Passerelle",
            },
        )
        .map_err(|e| Error::internal(format!("XDM: {e}")))?;
        let from = mss::Address::parse("tenant.app_mailbox", &self.tenant.app_mailbox)
            .map_err(|e| Error::internal(e.to_string()))?;
        let reply_to = match &self.tenant.org_mailbox {
            Some(o) => Some(mss::Mailbox::new(
                Some(&self.tenant.name),
                mss::Address::parse("tenant.org_mailbox", o)
                    .map_err(|e| Error::internal(e.to_string()))?,
            )),
            None => None,
        };
        let sender = mss::outgoing::Sender {
            from: mss::Mailbox::new(Some(&format!("{} (Passerelle)", self.tenant.name)), from),
            reply_to,
            structure_name: self.tenant.name.clone(),
            phone: None,
            nil: if self.cfg.mssante.nil.is_empty() {
                "DEV-PASSERELLE".into()
            } else {
                self.cfg.mssante.nil.clone()
            },
        };
        let to = mss::Address::parse("targets.mssAddress", &p.recipient)
            .map_err(|e| invalid("targets.mssAddress", e.to_string()))?;
        let ins = child.ins.clone().unwrap_or_default();
        let patient = mss::outgoing::Patient {
            birth_name: if ins.birth_family_name.is_empty() {
                "INCONNU".into()
            } else {
                ins.birth_family_name.clone()
            },
            first_given_name: if ins.first_given_name.is_empty() {
                "-".into()
            } else {
                ins.first_given_name.clone()
            },
            birth_date: passerelle_domain::validate::parse_date(&child.birth_date),
        };
        let readable: Vec<mss::outgoing::ReadablePdf<'_>> = rendered
            .iter()
            .map(|(d, _)| mss::outgoing::ReadablePdf {
                act_date: passerelle_domain::validate::parse_date(&d.act_date)
                    .unwrap_or(self.now.date()),
                type_label: passerelle_domain::kinds::label_fr(passerelle_domain::kinds::from_i32(
                    d.kind,
                ))
                .to_string(),
                dossier_number: Some(d.dossier_number.clone()).filter(|s| !s.is_empty()),
                data: pdfs.get(&d.id).map(Vec::as_slice).unwrap_or_default(),
            })
            .collect();
        let cdas: Vec<&[u8]> = rendered.iter().map(|(_, r)| r.cda.as_slice()).collect();
        let msg = mss::outgoing::OutgoingMessage {
            sender: &sender,
            message_uuid: ids.uuid(),
            date: self.now,
            to,
            label: first_doc.title.clone(),
            patient,
            xdm: Some(mss::outgoing::Xdm { zip: &zip, cdas }),
            pdfs: readable,
            read_receipt: wants_read_receipt(&kinds),
            replaces: Vec::new(),
            environment: environment(req),
            max_message_bytes: mss::outgoing::DEFAULT_MAX_MESSAGE_BYTES,
        };
        let message = mss::outgoing::build(&msg).map_err(|e| {
            let mut err = invalid("documents", e.to_string());
            if e.reason() == "message_too_large" {
                err.message =
                    "the message would exceed the MSSanté size limit (about 3.1 × the PDF)".into();
            }
            err
        })?;
        Ok(MssanteRendered {
            message,
            cdas: rendered
                .iter()
                .map(|(d, r)| (d.id.clone(), r.cda.clone()))
                .collect(),
        })
    }
}

/// Files to write, relative to the render directory.
#[derive(Default)]
pub struct Artefacts {
    pub files: Vec<(PathBuf, Vec<u8>)>,
}

/// Renders every artefact of the allowed targets of `decision` (`passerelle render`).
pub fn render_all(
    cfg: &Config,
    req: &pb::SubmitRequest,
    decision: &pb::Decision,
    now: OffsetDateTime,
    deterministic: bool,
) -> anyhow::Result<Artefacts> {
    let tenant = cfg
        .tenant(&req.tenant)
        .with_context(|| format!("no tenant {} in the configuration", req.tenant))?;
    let mut ids = if deterministic {
        Ids::deterministic(req)
    } else {
        Ids::random()
    };
    let mut a = Artefacts::default();
    let (pdfs, _warnings) = pdfs(tenant, req, now, cfg.limits.max_pdf_bytes)
        .map_err(|e| anyhow::anyhow!(describe(&e)))?;
    for d in &req.documents {
        if let Some(pdf) = pdfs.get(&d.id) {
            a.files.push((
                PathBuf::from("documents").join(format!("{}.pdf", safe_name(&d.id))),
                pdf.clone(),
            ));
        }
    }
    let r = Renderer { cfg, tenant, now };
    let mut cda_written = std::collections::HashSet::new();
    for (n, p) in crate::plan::plan(req, decision).iter().enumerate() {
        match p.channel {
            pb::Channel::Mssante | pb::Channel::Mes => {
                let m = r
                    .mssante(req, p, &pdfs, &mut ids)
                    .map_err(|e| anyhow::anyhow!(describe(&e)))?;
                let local = p.recipient.split('@').next().unwrap_or("recipient");
                a.files.push((
                    PathBuf::from("mssante").join(format!("{:02}-{}.eml", n + 1, safe_name(local))),
                    m.message.bytes,
                ));
                for (id, cda) in m.cdas {
                    if cda_written.insert(id.clone()) {
                        a.files.push((
                            PathBuf::from("documents").join(format!("{}.cda.xml", safe_name(&id))),
                            cda,
                        ));
                    }
                }
            }
            pb::Channel::Dmp => {
                let flags = crate::dmp::flags_for(decision, &p.target_id);
                let r = crate::dmp::render(
                    cfg,
                    tenant,
                    req,
                    &p.target_id,
                    &p.document_ids,
                    &pdfs,
                    flags,
                    None,
                    None,
                    &mut ids,
                    now,
                )
                .map_err(|e| anyhow::anyhow!(describe(&e)))?;
                for ((id, _, _), d) in r.plan.documents.iter().zip(&r.input.documents) {
                    if cda_written.insert(id.clone()) {
                        a.files.push((
                            PathBuf::from("documents").join(format!("{}.cda.xml", safe_name(id))),
                            d.cda.clone(),
                        ));
                    }
                }
                let builder = crate::dmp::request_builder(cfg, tenant)?;
                let rids = passerelle_dmp_client::RequestIds {
                    message_id: ids.uuid().to_string(),
                    boundary_id: ids.uuid().to_string(),
                    assertion_id: format!("_{}", ids.uuid()),
                };
                let built = builder
                    .iti41(&r.input, now, &rids)
                    .map_err(|e| anyhow::anyhow!("DMP request: {} ({})", e.message, e.code))?;
                a.files.push((
                    PathBuf::from("dmp").join(format!("{:02}-request.http", n + 1)),
                    built.request.to_http_bytes(),
                ));
                a.files.push((
                    PathBuf::from("dmp").join(format!("{:02}-vihf.xml", n + 1)),
                    built.vihf,
                ));
            }
            pb::Channel::Unspecified => {}
        }
    }
    // Root first, then every intermediate: anyone can verify the signatures offline.
    if let Some(ca) = &cfg.mssante.trust_ca {
        let pem = std::fs::read(ca).with_context(|| format!("cannot read {}", ca.display()))?;
        a.files.push((PathBuf::from("trust/ca.pem"), pem));
    }
    Ok(a)
}

/// One line per problem of a boundary error.
pub fn describe(e: &Error) -> String {
    if e.violations.is_empty() {
        e.message.clone()
    } else {
        e.violations
            .iter()
            .map(|v| format!("{}: {}", v.field, v.reason))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A file-name-safe form of a caller's id.
pub fn safe_name(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
