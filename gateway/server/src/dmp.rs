//! The DMP channel: at Submit the CDA of each document is rendered once (DMP profile, the flags the
//! policy decided) and stored with the ids and instant it was rendered with; at send time the
//! worker re-derives the XDS metadata from the stored request with those same ids (the CDA bytes
//! must hash to the stored payload, else nothing is sent), then the client signs a fresh VIHF and
//! XAdES, runs TD0.2 and ITI-41 over mutual TLS.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use passerelle_api::v1 as pb;
use passerelle_dmp_client as client;
use passerelle_documents as docs;
use passerelle_domain::error::{Error, Origin};
use passerelle_outbox as ob;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::config::{Config, TenantConfig};
use crate::pipeline::{Ids, Pdfs, docs_tenant};
use crate::plan::Planned;
use crate::service::Clock;
use crate::service::Fresh;
use crate::workers::Sender;

/// Ids and instant a DMP delivery was rendered with (stored as `dmp.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DmpPlan {
    pub rendered_at_unix_nanos: i128,
    /// (document id, uniqueId, setId) in order.
    pub documents: Vec<(String, String, String)>,
    pub submission_set_uid: String,
    pub signature_uid: String,
    pub flags: DmpFlagsJson,
    /// Replacement (RPLC): the uniqueId and setId of the replaced document.
    #[serde(default)]
    pub replaces: Option<(String, String)>,
    /// Deletion by the author (TD3.3c) of `replaces`' document instead of a submission.
    #[serde(default)]
    pub delete: bool,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct DmpFlagsJson {
    pub masque_ps: bool,
    pub invisible_patient: bool,
    pub invisible_representants_legaux: bool,
}

impl From<DmpFlagsJson> for pb::DmpFlags {
    fn from(f: DmpFlagsJson) -> Self {
        pb::DmpFlags {
            confidentiality: "N".into(),
            masque_ps: f.masque_ps,
            invisible_patient: f.invisible_patient,
            invisible_representants_legaux: f.invisible_representants_legaux,
            stated: true,
            required_invisible_representants_legaux: f.invisible_representants_legaux,
        }
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::invalid(vec![passerelle_domain::validate::FieldViolation::new(
        field, reason,
    )])
}

/// The flags the policy decided for this target (most restrictive over its documents).
pub fn flags_for(decision: &pb::Decision, target_id: &str) -> DmpFlagsJson {
    let mut f = DmpFlagsJson {
        masque_ps: false,
        invisible_patient: false,
        invisible_representants_legaux: false,
    };
    for t in decision.targets.iter().filter(|t| t.target_id == target_id) {
        if let Some(d) = &t.dmp_flags {
            f.masque_ps |= d.masque_ps;
            f.invisible_patient |= d.invisible_patient;
            f.invisible_representants_legaux |= d.invisible_representants_legaux;
        }
    }
    f
}

/// A DMP delivery rendered: the CDA of each document, its metadata, and the submission.
pub struct DmpRendered {
    pub plan: DmpPlan,
    pub input: client::SubmissionInput,
}

/// Renders (or, with `plan`, re-renders identically) the documents of a DMP delivery.
#[allow(clippy::too_many_arguments)] // the render inputs; two call sites (Submit, send)
pub fn render(
    cfg: &Config,
    tenant: &TenantConfig,
    req: &pb::SubmitRequest,
    p_target: &str,
    document_ids: &[String],
    pdfs: &Pdfs,
    flags: DmpFlagsJson,
    plan: Option<&DmpPlan>,
    replaces: Option<(String, String)>,
    ids: &mut Ids,
    now: OffsetDateTime,
) -> Result<DmpRendered, Error> {
    let replaces = plan.map(|p| p.replaces.clone()).unwrap_or(replaces);
    let at = match plan {
        Some(p) => OffsetDateTime::from_unix_timestamp_nanos(p.rendered_at_unix_nanos)
            .map_err(|_| Error::internal("dmp.json: bad instant"))?,
        None => now,
    };
    let t = docs_tenant(tenant);
    let child = req.child.clone().unwrap_or_default();
    let ins = child.ins.clone().unwrap_or_default();
    let vis = docs::DmpVisibility {
        masque_ps: flags.masque_ps,
        invisible_patient: flags.invisible_patient,
        invisible_representants_legaux: flags.invisible_representants_legaux,
    };
    let mut out_docs = Vec::new();
    let mut plan_docs = Vec::new();
    let mut first_author = None;
    for (i, d) in req.documents.iter().enumerate() {
        if !document_ids.contains(&d.id) {
            continue;
        }
        let pdf = pdfs
            .get(&d.id)
            .ok_or_else(|| Error::internal("PDF missing after rendering"))?;
        let author = crate::pipeline::author_of(req, d, i)?;
        let (uid, set_id) = match plan.and_then(|p| p.documents.iter().find(|x| x.0 == d.id)) {
            Some((_, u, s)) => (u.clone(), s.clone()),
            // A new version keeps the replaced document's setId.
            None => (
                ids.oid(),
                replaces
                    .as_ref()
                    .map(|r| r.1.clone())
                    .unwrap_or_else(|| ids.oid()),
            ),
        };
        let doc_ids = docs::DocumentIds {
            unique_id: uid.clone(),
            set_id: set_id.clone(),
            version: if replaces.is_some() { 2 } else { 1 },
            replaces: replaces.as_ref().map(|r| docs::Replaced {
                unique_id: r.0.clone(),
                // Found by TD3.1b at send time (an entryUUID changes with every version).
                entry_uuid: "urn:uuid:00000000-0000-4000-8000-000000000000".into(),
            }),
        };
        let ctx = docs::DocumentContext {
            tenant: &t,
            author: &author,
            child: &child,
            document: d,
            pdf,
            ids: &doc_ids,
            effective_time: at,
            local_code_system_oid: &cfg.policy.local_code_system_oid,
            profile: docs::Profile::Dmp(vis),
        };
        let r = docs::render_document(&ctx)
            .map_err(|e| invalid(&format!("documents[{i}]"), e.to_string()))?;
        plan_docs.push((d.id.clone(), uid, set_id));
        if first_author.is_none() {
            first_author = Some(author);
        }
        out_docs.push(client::DmpDocument {
            kind: passerelle_domain::kinds::from_i32(d.kind),
            cda: r.cda,
            entry: r.entry,
        });
    }
    let (Some(author), Some(first)) = (first_author, out_docs.first()) else {
        return Err(Error::internal(format!(
            "DMP delivery {p_target} without documents"
        )));
    };
    let set_uid = plan
        .map(|p| p.submission_set_uid.clone())
        .unwrap_or_else(|| ids.oid());
    let signature_uid = plan
        .map(|p| p.signature_uid.clone())
        .unwrap_or_else(|| ids.oid());
    let set = docs::SubmissionSet::new(
        &t,
        &author,
        docs::Profile::Dmp(vis),
        &set_uid,
        at,
        &first.entry,
        &[],
    )
    .map_err(|e| invalid("targets", e.to_string()))?;
    let birth = passerelle_domain::validate::parse_date(&child.birth_date).unwrap_or(now.date());
    let input = client::SubmissionInput {
        ins: ins.matricule.clone(),
        ins_oid: ins.oid.clone(),
        ins_qualified: ins.status == pb::InsStatus::Qualified as i32,
        birth_date: birth,
        documents: out_docs,
        submission_set: set,
        signature_unique_id: signature_uid.clone(),
        signature_confidentiality: vec![docs::XdsCode {
            code: "N".into(),
            display: "Normal".into(),
            scheme: "2.16.840.1.113883.5.25".into(),
        }],
        flags: flags.into(),
        secret_connection: child.dmp_secret_connection.is_some(),
        local_opposition: child
            .oppositions
            .iter()
            .any(|o| o.kind == pb::OppositionKind::DmpFeed as i32 && o.withdrawn_at.is_none()),
        after_uncertain_attempt: false,
    };
    Ok(DmpRendered {
        plan: DmpPlan {
            rendered_at_unix_nanos: at.unix_timestamp_nanos(),
            documents: plan_docs,
            submission_set_uid: set_uid,
            signature_uid,
            flags,
            replaces,
            delete: false,
        },
        input,
    })
}

/// Payloads by file name.
pub type NamedPayloads = Vec<(String, Vec<u8>)>;

/// Submit-time rendering of a DMP delivery: the payloads to store.
#[allow(clippy::too_many_arguments)] // the render inputs of one delivery
pub fn prepare(
    cfg: &Config,
    tenant: &TenantConfig,
    req: &pb::SubmitRequest,
    decision: &pb::Decision,
    p: &Planned,
    pdfs: &Pdfs,
    replaces: Option<(String, String)>,
    delete: bool,
    ids: &mut Ids,
    now: OffsetDateTime,
) -> Result<(Vec<u8>, NamedPayloads), Error> {
    let mut r = render(
        cfg,
        tenant,
        req,
        &p.target_id,
        &p.document_ids,
        pdfs,
        flags_for(decision, &p.target_id),
        None,
        replaces,
        ids,
        now,
    )?;
    r.plan.delete = delete;
    let cdas = r
        .plan
        .documents
        .iter()
        .zip(&r.input.documents)
        .map(|((id, _, _), d)| {
            (
                format!("cda-{}.xml", crate::pipeline::safe_name(id)),
                d.cda.clone(),
            )
        })
        .collect();
    let plan = serde_json::to_vec(&r.plan).map_err(|e| Error::internal(e.to_string()))?;
    Ok((plan, cdas))
}

/// Facts of a tenant for the VIHF.
pub fn facts(cfg: &Config, t: &TenantConfig) -> client::TenantFacts {
    client::TenantFacts {
        struct_idnat: t.struct_idnat(),
        name: t.name.clone(),
        secteur_activite: t.facility_type.clone(),
        // The person responsible for the automated processing, as PS_IdNat "3"+id+"/"+local id.
        subject_name_id: format!(
            "3{}/passerelle",
            t.struct_idnat().get(1..).unwrap_or_default()
        ),
        subject_id: format!("Passerelle, passerelle, {}", t.name),
        roles: Vec::new(),
        installation_oid: format!("{}.9", crate::pipeline::tenant_source_oid(t)),
        lps_nom: "Passerelle".into(),
        lps_version: env!("CARGO_PKG_VERSION").into(),
        lps_homologation: cfg.dmp.lps_homologation.0.clone(),
        vihf_version: "3.0".into(),
        processing_code: cfg.dmp.processing_code.clone(),
    }
}

fn signer(t: &TenantConfig) -> anyhow::Result<passerelle_xmlsig::Signer> {
    let signing = passerelle_tls::Identity::load(&crate::setup::identity_source(&t.signing)?)
        .with_context(|| format!("tenant {}: signing", t.id))?;
    let key = match signing.key() {
        rustls::pki_types::PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der().to_vec(),
        _ => anyhow::bail!("tenant {}: the signing key must be PKCS#8", t.id),
    };
    passerelle_xmlsig::Signer::from_pkcs8_der(&key, signing.leaf().as_ref())
        .map_err(|e| anyhow::anyhow!("tenant {}: signing key: {e}", t.id))
}

/// Builds requests offline (render): no TLS, no socket.
pub fn request_builder(cfg: &Config, t: &TenantConfig) -> anyhow::Result<client::RequestBuilder> {
    let base = cfg
        .dmp
        .base_url
        .clone()
        .unwrap_or_else(|| "https://lps2.dmp.gouv.fr/si-dmp-server/v2/services".to_string());
    client::RequestBuilder::new(&base, Arc::new(signer(t)?), facts(cfg, t))
        .map_err(|e| anyhow::anyhow!("DMP request builder: {}", e.message))
}

/// One DMP client per tenant (mutual TLS identity, signing key parsed once).
pub fn clients(cfg: &Config) -> anyhow::Result<HashMap<String, Arc<client::DmpClient>>> {
    let base = cfg
        .dmp
        .base_url
        .clone()
        .context("dmp.base_url is required for the DMP channel")?;
    let ca = cfg
        .dmp
        .trust_ca
        .as_ref()
        .context("dmp.trust_ca is required")?;
    let revocation = crate::setup::revocation(&cfg.dmp.crl).context("dmp.crl")?;
    let mut out = HashMap::new();
    for t in &cfg.tenants {
        let identity =
            passerelle_tls::Identity::load(&crate::setup::identity_source(&t.tls_client)?)
                .with_context(|| format!("tenant {}: tls_client", t.id))?;
        let signer = signer(t)?;
        let c = client::DmpClient::new(client::DmpClientConfig {
            base_url: base.clone(),
            trust: passerelle_tls::TrustAnchors::load(std::slice::from_ref(ca))?,
            identity,
            revocation: revocation.clone(),
            signer: Arc::new(signer),
            tenant: facts(cfg, t),
            timeouts: client::Timeouts::default(),
            params: passerelle_dmp::DmpParameters::default(),
            max_idle_connections: 4,
        })
        .map_err(|e| anyhow::anyhow!("tenant {}: DMP client: {}", t.id, e.message))?;
        out.insert(t.id.clone(), Arc::new(c));
    }
    Ok(out)
}

pub struct DmpSender {
    pub cfg: Arc<Config>,
    pub store: Arc<dyn ob::Store>,
    pub clock: Arc<dyn Clock>,
    pub clients: HashMap<String, Arc<client::DmpClient>>,
}

fn fail(retryable: bool, code: &str, message: String) -> ob::AttemptResult {
    let mut e = ob::DeliveryError::new(Origin::Dmp, code, message);
    e.retryable = retryable;
    e.remote_code = code.to_string();
    if retryable {
        ob::AttemptResult::TemporaryFailure {
            error: e,
            retry_after: None,
        }
    } else {
        ob::AttemptResult::PermanentFailure { error: e }
    }
}

impl DmpSender {
    /// Rebuilds the submission from the stored request and plan; refuses if the CDA bytes differ
    /// from the ones stored at Submit.
    #[allow(clippy::result_large_err)] // the error is the attempt's final result
    fn rebuild(
        &self,
        d: &ob::DeliveryRecord,
        fresh: &Fresh,
    ) -> Result<(client::SubmissionInput, DmpPlan, TenantConfig), ob::AttemptResult> {
        let read = |name: &str| -> Result<Vec<u8>, ob::AttemptResult> {
            let p = d
                .payloads
                .iter()
                .find(|p| p.name == name)
                .ok_or_else(|| fail(false, "payload_missing", format!("no {name} stored")))?;
            if let Some(b) = fresh.get(&p.sha256) {
                return Ok(b.clone());
            }
            self.store
                .read_blob(&p.sha256)
                .map_err(|e| fail(true, "store", e.to_string()))
        };
        let req: pb::SubmitRequest = prost::Message::decode(read("request.pb")?.as_slice())
            .map_err(|e| fail(false, "payload_corrupt", e.to_string()))?;
        let plan: DmpPlan = serde_json::from_slice(&read("dmp.json")?)
            .map_err(|e| fail(false, "payload_corrupt", e.to_string()))?;
        let tenant = self.cfg.tenant(&d.tenant).ok_or_else(|| {
            fail(
                false,
                "unknown_tenant",
                "the delivery's tenant is not configured".into(),
            )
        })?;
        let at = OffsetDateTime::from_unix_timestamp_nanos(plan.rendered_at_unix_nanos)
            .map_err(|_| fail(false, "payload_corrupt", "bad instant".into()))?;
        let (pdfs, _) = crate::pipeline::pdfs(tenant, &req, at, self.cfg.limits.max_pdf_bytes)
            .map_err(|e| fail(false, "render", e.message))?;
        let mut ids = Ids::random();
        let r = render(
            &self.cfg,
            tenant,
            &req,
            &d.target_id,
            &d.document_ids,
            &pdfs,
            plan.flags,
            Some(&plan),
            None,
            &mut ids,
            at,
        )
        .map_err(|e| fail(false, "render", crate::pipeline::describe(&e)))?;
        for ((id, _, _), doc) in plan.documents.iter().zip(&r.input.documents) {
            let stored = read(&format!("cda-{}.xml", crate::pipeline::safe_name(id)))?;
            if stored != doc.cda {
                return Err(fail(
                    false,
                    "render_drift",
                    "the CDA differs from the one stored at Submit".into(),
                ));
            }
        }
        Ok((r.input, plan, tenant.clone()))
    }
}

/// What a DMP delivery does when sent.
enum Operation {
    Submit,
    Replace(String),
    Delete(String),
}

/// Finds the uniqueId and setId of the document a request replaces or deletes: given, or read
/// from the DMP delivery of the replaced transmission.
pub fn resolve_replaced(
    store: &dyn ob::Store,
    req: &pb::SubmitRequest,
) -> Result<Option<(String, String)>, Error> {
    let Some(r) = &req.replaces else {
        return Ok(None);
    };
    if r.transmission_id.is_empty() {
        if r.unique_id.is_empty() {
            return Err(invalid(
                "replaces",
                "name the replaced transmission or the DMP uniqueId",
            ));
        }
        return Ok(Some((r.unique_id.clone(), r.unique_id.clone())));
    }
    let t = store
        .get_transmission(&r.transmission_id)
        .map_err(|_| invalid("replaces.transmissionId", "no such transmission"))?;
    if t.tenant != req.tenant {
        return Err(invalid("replaces.transmissionId", "no such transmission"));
    }
    let Some(d) = t
        .deliveries
        .iter()
        .find(|d| d.destination == "dmp" && d.state == ob::DeliveryState::Stored)
    else {
        return Err(invalid(
            "replaces.transmissionId",
            "the replaced transmission has no document stored in the DMP",
        ));
    };
    let plan = d
        .payloads
        .iter()
        .find(|p| p.name == "dmp.json")
        .and_then(|p| store.read_blob(&p.sha256).ok())
        .and_then(|b| serde_json::from_slice::<DmpPlan>(&b).ok())
        .ok_or_else(|| Error::internal("the replaced delivery has no readable dmp.json"))?;
    let doc = if r.document_id.is_empty() {
        plan.documents.first()
    } else {
        plan.documents.iter().find(|x| x.0 == r.document_id)
    }
    .ok_or_else(|| {
        invalid(
            "replaces.documentId",
            "not a document of the replaced transmission",
        )
    })?;
    Ok(Some((doc.1.clone(), doc.2.clone())))
}

#[tonic::async_trait]
impl Sender for DmpSender {
    fn handles(&self, destination: &str) -> bool {
        destination == "dmp"
    }

    async fn send(&self, claimed: &ob::Claimed) -> ob::AttemptResult {
        self.send_fresh(claimed, &Fresh::new()).await
    }

    async fn send_fresh(&self, claimed: &ob::Claimed, fresh: &Fresh) -> ob::AttemptResult {
        let d = claimed.delivery.clone();
        // Only what the rebuild reads (the request, the plan, the CDAs).
        let fresh: Fresh = d
            .payloads
            .iter()
            .filter_map(|p| fresh.get(&p.sha256).map(|b| (p.sha256, b.clone())))
            .collect();
        let Some(client) = self.clients.get(&d.tenant).cloned() else {
            return fail(
                true,
                "configuration",
                "no DMP client for this tenant".into(),
            );
        };
        let cfg = self.cfg.clone();
        let store = self.store.clone();
        let clock = self.clock.clone();
        let me = DmpSender {
            cfg,
            store,
            clock,
            clients: HashMap::new(),
        };
        let (mut input, plan, tenant) =
            match tokio::task::spawn_blocking(move || me.rebuild(&d, &fresh)).await {
                Ok(Ok(i)) => i,
                Ok(Err(r)) => return r,
                Err(e) => return fail(true, "internal", e.to_string()),
            };
        // A previous attempt may have reached the DMP: the client checks before resubmitting.
        input.after_uncertain_attempt = claimed.reclaimed || claimed.delivery.outcome_unknown;
        let op = match (&plan.replaces, plan.delete) {
            (Some((uid, _)), true) => Operation::Delete(uid.clone()),
            (Some((uid, _)), false) => Operation::Replace(uid.clone()),
            (None, _) => Operation::Submit,
        };
        let now = self.clock.now();
        let result = match op {
            Operation::Submit => client.submit(input, now).await.map(|o| o.unique_id),
            Operation::Replace(old) => client.replace(input, &old, now).await.map(|o| o.unique_id),
            Operation::Delete(old) => {
                let del = client::DeleteInput {
                    ins: input.ins.clone(),
                    ins_oid: input.ins_oid.clone(),
                    birth_date: input.birth_date,
                    unique_id: old.clone(),
                    submission_set_unique_id: plan.submission_set_uid.clone(),
                    source_id: crate::pipeline::tenant_source_oid(&tenant),
                    author_person: input.submission_set.author.person.clone(),
                    content_type: input.submission_set.content_type.clone(),
                    secret_connection: input.secret_connection,
                };
                client
                    .delete(del, now)
                    .await
                    .map(|()| format!("deleted:{old}"))
            }
        };
        match result {
            Ok(uid) => ob::AttemptResult::Stored { message_id: uid },
            Err(e) => {
                let mut r = fail(e.retryable, &e.code, e.message.clone());
                if let ob::AttemptResult::TemporaryFailure { retry_after, .. } = &mut r
                    && e.code.starts_with("http_5")
                {
                    *retry_after = Some(Duration::from_secs(30));
                }
                r
            }
        }
    }
}
