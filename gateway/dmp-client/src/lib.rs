//! DMP client: HTTPS with mutual TLS (ORG_AUTH_CLI, trust limited to the configured CAs), pooled
//! connections, timeouts, VIHF built and signed at send time with the tenant's ORG_SIGN key
//! (loaded once), TD0.2 before each submission (answer cached per tenant + INS for a few minutes,
//! time injected), ITI-41, replacement (TD3.1b then ITI-41 with RPLC) and deletion (TD3.1b then
//! ITI-57). Protocol bytes come from `passerelle-dmp`, metadata from `passerelle-documents`,
//! signatures from `passerelle-xmlsig`. See `docs/dmp.md`.
#![forbid(unsafe_code)]

mod builder;
mod transport;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use passerelle_api::v1::{DeliveryError, DmpFlags, DocumentKind, ErrorOrigin};
use passerelle_dmp::checks::{DmpParameters, DocumentFacts, SubmissionFacts, check_submission};
use passerelle_dmp::iti18::single_entry;
use passerelle_dmp::iti57::{Coded, DeletionInput};
use passerelle_dmp::td02::{PatientState, Td02Input};
use passerelle_dmp::{
    DmpFailure, Endpoint, FailureSource, HttpRequest, Retry, build_iti18_request,
    build_iti57_delete_request, build_td02_request, parse_iti18_response, parse_registry_response,
    parse_td02_response,
};
use passerelle_documents::{DocumentEntry, SubmissionSet, XdsCode};
use passerelle_xmlsig::{Code, Signer};
use time::{Date, OffsetDateTime};

pub use builder::{Iti41Built, RequestBuilder, RequestIds};
pub use transport::RawReply;

/// Tenant facts the VIHF and requests carry.
#[derive(Debug, Clone)]
pub struct TenantFacts {
    /// Struct_IdNat (`1`+FINESS, `3`+SIRET).
    pub struct_idnat: String,
    /// Structure name (authorInstitution XON of deletions).
    pub name: String,
    /// Secteur_Activite code (J61, e.g. `SA20`).
    pub secteur_activite: String,
    /// VIHF NameID: the person responsible for the processing (PS_IdNat).
    pub subject_name_id: String,
    /// VIHF subject-id, automated form "software, model, service".
    pub subject_id: String,
    /// VIHF roles (default [`Code::role_automate`]).
    pub roles: Vec<Code>,
    /// Installation OID (LPS_ID, TD0.2 ids).
    pub installation_oid: String,
    /// LPS_Nom.
    pub lps_nom: String,
    /// LPS_Version.
    pub lps_version: String,
    /// LPS_ID_HOMOLOGATION_DMP (secret).
    pub lps_homologation: String,
    /// VIHF_Version (`3.0`).
    pub vihf_version: String,
    /// TD0.2 processingCode (`D` test, `P` production).
    pub processing_code: String,
}

/// Timeouts and cache duration.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TCP + TLS + HTTP handshake.
    pub connect: Duration,
    /// One exchange, request written to reply read.
    pub request: Duration,
    /// How long a TD0.2 answer is reused (capped at 5 minutes).
    pub td02_cache: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(60),
            td02_cache: Duration::from_secs(120),
        }
    }
}

/// Client configuration (one client per tenant).
pub struct DmpClientConfig {
    /// `https://host[:port]/si-dmp-server/v2/services`.
    pub base_url: String,
    /// CAs the DMP server certificate must chain to (never system roots).
    pub trust: passerelle_tls::TrustAnchors,
    /// ORG_AUTH_CLI.
    pub identity: passerelle_tls::Identity,
    /// CRL checking of the server.
    pub revocation: passerelle_tls::Revocation,
    /// ORG_SIGN, parsed once.
    pub signer: Arc<Signer>,
    /// Tenant facts.
    pub tenant: TenantFacts,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// DMP parameters (`param-lps`).
    pub params: DmpParameters,
    /// Idle connections kept.
    pub max_idle_connections: usize,
}

/// One clinical document, rendered once (CDA bytes and their DocumentEntry, DMP profile).
#[derive(Debug, Clone)]
pub struct DmpDocument {
    /// Kind.
    pub kind: DocumentKind,
    /// The CDA bytes (hash and size in `entry` are over these).
    pub cda: Vec<u8>,
    /// Its metadata.
    pub entry: DocumentEntry,
}

/// A submission.
#[derive(Debug, Clone)]
pub struct SubmissionInput {
    /// The child's INS.
    pub ins: String,
    /// INS OID.
    pub ins_oid: String,
    /// INS status qualified in the DUI.
    pub ins_qualified: bool,
    /// Local birth date.
    pub birth_date: Date,
    /// Documents (one clinical document per submission is the observed form).
    pub documents: Vec<DmpDocument>,
    /// SubmissionSet (uniqueId fixed at render time).
    pub submission_set: SubmissionSet,
    /// uniqueId of the XAdES signature document (fixed at render time).
    pub signature_unique_id: String,
    /// Confidentiality codes of the signature document (dmp.md §4.6, configurable).
    pub signature_confidentiality: Vec<XdsCode>,
    /// Flags decided by the policy.
    pub flags: DmpFlags,
    /// Secret connection (VIHF confidentiality code).
    pub secret_connection: bool,
    /// Local opposition recorded.
    pub local_opposition: bool,
    /// A previous attempt ended without knowing the outcome (timeout, reset).
    pub after_uncertain_attempt: bool,
}

/// A deletion.
#[derive(Debug, Clone)]
pub struct DeleteInput {
    /// INS.
    pub ins: String,
    /// INS OID.
    pub ins_oid: String,
    /// Local birth date.
    pub birth_date: Date,
    /// uniqueId of the document to delete.
    pub unique_id: String,
    /// uniqueId of the deletion's SubmissionSet.
    pub submission_set_unique_id: String,
    /// sourceId.
    pub source_id: String,
    /// authorPerson XCN.
    pub author_person: String,
    /// contentTypeCode.
    pub content_type: XdsCode,
    /// Secret connection.
    pub secret_connection: bool,
}

/// Success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitOutcome {
    /// uniqueId of the (first) clinical document.
    pub unique_id: String,
    /// SubmissionSet uniqueId.
    pub submission_set_id: String,
}

/// The client's one error: code, origin, retry class, message (never personal data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("DMP {origin}: {code}: {message}", origin = origin.name())]
pub struct DmpError {
    /// Stable code: DMP/IHE code, `DMP-CONF-02`, `not_fed:no_dmp`, `http_503`, `timeout`…
    pub code: String,
    /// Layer it came from.
    pub origin: FailureSource,
    /// Retry class.
    pub retry: Retry,
    /// Whether a retry can help.
    pub retryable: bool,
    /// Human text.
    pub message: String,
}

impl From<DmpFailure> for DmpError {
    fn from(f: DmpFailure) -> Self {
        DmpError {
            retryable: f.retry.retryable(),
            code: f.code,
            origin: f.source,
            retry: f.retry,
            message: f.message,
        }
    }
}

impl DmpError {
    fn adapter(code: &str, message: impl Into<String>) -> Self {
        DmpError {
            code: code.to_owned(),
            origin: FailureSource::Adapter,
            retry: Retry::Never,
            retryable: false,
            message: message.into(),
        }
    }

    /// The API form (`DeliveryError`): adapter refusals are the gateway's, the rest the DMP's.
    pub fn to_delivery_error(&self) -> DeliveryError {
        DeliveryError {
            origin: if self.origin == FailureSource::Adapter {
                ErrorOrigin::Internal as i32
            } else {
                ErrorOrigin::Dmp as i32
            },
            reason: self.code.clone(),
            message: self.message.clone(),
            retryable: self.retryable,
            remote_code: self.code.clone(),
        }
    }
}

struct CachedPatient {
    at: OffsetDateTime,
    state: PatientState,
}

/// The DMP client of one tenant.
pub struct DmpClient {
    transport: transport::Transport,
    builder: RequestBuilder,
    tenant: TenantFacts,
    params: DmpParameters,
    td02_ttl: time::Duration,
    cache: Mutex<HashMap<(String, String), CachedPatient>>,
}

fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl DmpClient {
    /// Builds the client (TLS configuration once; no connection yet).
    pub fn new(config: DmpClientConfig) -> Result<Self, DmpError> {
        let endpoint = Endpoint::parse(&config.base_url)
            .map_err(|e| DmpError::adapter("config", e.to_string()))?;
        let tls = passerelle_tls::client_config(
            Some(&config.identity),
            &config.trust,
            &config.revocation,
        )
        .map_err(|e| DmpError::adapter("config", e.to_string()))?;
        let endpoint_copy = endpoint.clone();
        let transport = transport::Transport::new(
            endpoint,
            tls,
            config.max_idle_connections.max(1),
            config.timeouts.connect,
            config.timeouts.request,
        )
        .map_err(|e| DmpError::adapter("config", e))?;
        let ttl = config.timeouts.td02_cache.min(Duration::from_secs(300));
        Ok(DmpClient {
            transport,
            builder: RequestBuilder::with_endpoint(
                endpoint_copy,
                config.signer,
                config.tenant.clone(),
            ),
            tenant: config.tenant,
            params: config.params,
            td02_ttl: time::Duration::try_from(ttl).unwrap_or(time::Duration::minutes(2)),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Sends a request as built (no adapter check): conformance tests and `render` replays.
    pub async fn send_raw(&self, r: &HttpRequest) -> Result<RawReply, DmpError> {
        self.exchange(r.clone()).await
    }

    /// Idle pooled connections (tests).
    pub fn idle_connections(&self) -> usize {
        self.transport.idle()
    }

    /// A fresh signed VIHF for this patient at `now` (random assertion id).
    pub fn vihf(
        &self,
        ins: &str,
        ins_oid: &str,
        secret_connection: bool,
        now: OffsetDateTime,
    ) -> Result<Vec<u8>, DmpError> {
        let id = format!("_{}", new_uuid());
        self.builder
            .vihf_with_id(&id, ins, ins_oid, secret_connection, now)
    }

    /// The request builder (render mode, benchmarks).
    pub fn builder(&self) -> &RequestBuilder {
        &self.builder
    }

    async fn exchange(&self, r: HttpRequest) -> Result<RawReply, DmpError> {
        tracing::debug!(
            transaction = r.transaction.name(),
            bytes = r.body.len(),
            "DMP exchange"
        );
        self.transport.send(r).await.map_err(DmpError::from)
    }

    /// TD0.2, answered from the cache when fresh (keyed by tenant + INS).
    pub async fn patient_state(
        &self,
        ins: &str,
        ins_oid: &str,
        birth_date: Date,
        secret_connection: bool,
        now: OffsetDateTime,
    ) -> Result<PatientState, DmpError> {
        let key = (self.tenant.struct_idnat.clone(), ins.to_owned());
        {
            let cache = self.lock_cache();
            if let Some(c) = cache.get(&key)
                && now >= c.at
                && now - c.at < self.td02_ttl
            {
                return Ok(c.state.clone());
            }
        }
        let vihf = self.vihf(ins, ins_oid, secret_connection, now)?;
        let mid = new_uuid();
        let rid = new_uuid();
        let req = build_td02_request(&Td02Input {
            endpoint: self.transport.endpoint(),
            message_id: &mid,
            vihf: &vihf,
            installation_oid: &self.tenant.installation_oid,
            request_id: &rid,
            creation_time: now,
            ins,
            ins_oid,
            processing_code: &self.tenant.processing_code,
        })
        .map_err(|e| DmpError::adapter("td02", e.to_string()))?;
        let reply = self.exchange(req).await?;
        let parsed = parse_td02_response(&reply.view())?;
        let bd = format!(
            "{:04}-{:02}-{:02}",
            birth_date.year(),
            u8::from(birth_date.month()),
            birth_date.day()
        );
        let state = parsed.state(&bd)?;
        let mut cache = self.lock_cache();
        // Bounded: stale answers are dropped once the map grows.
        if cache.len() >= 4096 {
            let ttl = self.td02_ttl;
            cache.retain(|_, c| now >= c.at && now - c.at < ttl);
        }
        cache.insert(
            key,
            CachedPatient {
                at: now,
                state: state.clone(),
            },
        );
        Ok(state)
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), CachedPatient>> {
        match self.cache.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    async fn require_active(
        &self,
        ins: &str,
        ins_oid: &str,
        birth_date: Date,
        secret: bool,
        now: OffsetDateTime,
    ) -> Result<(), DmpError> {
        let state = self
            .patient_state(ins, ins_oid, birth_date, secret, now)
            .await?;
        match state.code() {
            None => Ok(()),
            Some(code) => Err(DmpError {
                code: code.to_owned(),
                origin: FailureSource::Patient,
                retry: Retry::Never,
                retryable: false,
                message: "the child's DMP cannot be fed".to_owned(),
            }),
        }
    }

    /// TD3.1b: the entryUUID of an Approved document, if any.
    pub async fn find_entry(
        &self,
        ins: &str,
        ins_oid: &str,
        unique_id: &str,
        secret_connection: bool,
        now: OffsetDateTime,
    ) -> Result<Option<String>, DmpError> {
        let vihf = self.vihf(ins, ins_oid, secret_connection, now)?;
        let mid = new_uuid();
        let req = build_iti18_request(self.transport.endpoint(), &mid, &vihf, unique_id)
            .map_err(|e| DmpError::adapter("iti18", e.to_string()))?;
        let reply = self.exchange(req).await?;
        let refs = parse_iti18_response(&reply.view())?;
        let one = single_entry(&refs).map_err(|e| DmpError {
            code: "XDSResultNotSinglePatient".to_owned(),
            origin: FailureSource::Registry,
            retry: Retry::Never,
            retryable: false,
            message: e.to_string(),
        })?;
        Ok(one.map(str::to_owned))
    }

    fn check(&self, input: &SubmissionInput, now: OffsetDateTime) -> Result<(), DmpError> {
        let conf: Vec<Vec<&str>> = input
            .documents
            .iter()
            .map(|d| {
                d.entry
                    .confidentiality
                    .iter()
                    .map(|c| c.code.as_str())
                    .collect()
            })
            .collect();
        let docs: Vec<DocumentFacts<'_>> = input
            .documents
            .iter()
            .zip(&conf)
            .map(|(d, c)| DocumentFacts {
                kind: d.kind,
                type_code: (&d.entry.type_code.code, &d.entry.type_code.scheme),
                class_code: &d.entry.class_code.code,
                cda_confidentiality: cda_confidentiality(&d.cda),
                xds_confidentiality: c,
                patient_id: &d.entry.patient_id,
            })
            .collect();
        let v = check_submission(&SubmissionFacts {
            ins: &input.ins,
            ins_oid: &input.ins_oid,
            ins_qualified: input.ins_qualified,
            birth_date: input.birth_date,
            today: paris_date(now),
            local_opposition: input.local_opposition,
            secret_connection: input.secret_connection,
            vihf_confidentiality_code: input
                .secret_connection
                .then_some("INVISIBLE_REPRESENTANTS_LEGAUX"),
            flags: &input.flags,
            params: self.params,
            documents: &docs,
        });
        match v.first() {
            None => Ok(()),
            Some(first) => Err(DmpError::adapter(
                first.rule,
                v.iter()
                    .map(|x| format!("{}: {}", x.rule, x.reason))
                    .collect::<Vec<_>>()
                    .join("; "),
            )),
        }
    }

    /// Builds the ITI-41 request at send time: XAdES (signing time = now), signature entry,
    /// SubmitObjectsRequest, fresh VIHF, MTOM framing (random ids).
    pub fn iti41_request(
        &self,
        input: &SubmissionInput,
        now: OffsetDateTime,
    ) -> Result<HttpRequest, DmpError> {
        Ok(self
            .builder
            .iti41(input, now, &RequestIds::random())?
            .request)
    }

    /// TD0.2 (cached) then ITI-41.
    pub async fn submit(
        &self,
        input: SubmissionInput,
        now: OffsetDateTime,
    ) -> Result<SubmitOutcome, DmpError> {
        self.check(&input, now)?;
        self.require_active(
            &input.ins,
            &input.ins_oid,
            input.birth_date,
            input.secret_connection,
            now,
        )
        .await?;
        self.provide(&input, now).await
    }

    async fn provide(
        &self,
        input: &SubmissionInput,
        now: OffsetDateTime,
    ) -> Result<SubmitOutcome, DmpError> {
        let outcome = SubmitOutcome {
            unique_id: input
                .documents
                .first()
                .map(|d| d.entry.unique_id.clone())
                .unwrap_or_default(),
            submission_set_id: input.submission_set.unique_id.clone(),
        };
        let req = self.iti41_request(input, now)?;
        let result = match self.exchange(req).await {
            Ok(reply) => parse_registry_response(&reply.view())
                .map(|_| ())
                .map_err(DmpError::from),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => Ok(outcome),
            Err(e)
                if e.retry == Retry::Uncertain
                    || (e.code == "XDSDuplicateUniqueIdInRegistry"
                        && input.after_uncertain_attempt) =>
            {
                // dmp.md §3.4: look the document up; found → delivered, else retry later.
                match self
                    .find_entry(
                        &input.ins,
                        &input.ins_oid,
                        &outcome.unique_id,
                        input.secret_connection,
                        now,
                    )
                    .await
                {
                    Ok(Some(_)) => Ok(outcome),
                    Ok(None) => Err(DmpError {
                        retry: Retry::Backoff,
                        retryable: true,
                        ..e
                    }),
                    Err(_) => Err(DmpError {
                        retry: Retry::Uncertain,
                        retryable: true,
                        ..e
                    }),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Replacement (DMP_2.1b): TD3.1b(old uniqueId) → entryUUID, then ITI-41 with an RPLC
    /// association. The CDA must already name the old uniqueId (`relatedDocument RPLC`).
    pub async fn replace(
        &self,
        mut input: SubmissionInput,
        old_unique_id: &str,
        now: OffsetDateTime,
    ) -> Result<SubmitOutcome, DmpError> {
        self.check(&input, now)?;
        self.require_active(
            &input.ins,
            &input.ins_oid,
            input.birth_date,
            input.secret_connection,
            now,
        )
        .await?;
        let old = self
            .find_entry(
                &input.ins,
                &input.ins_oid,
                old_unique_id,
                input.secret_connection,
                now,
            )
            .await?
            .ok_or_else(|| DmpError {
                code: "replace_target_unknown".to_owned(),
                origin: FailureSource::Registry,
                retry: Retry::Never,
                retryable: false,
                message: "no Approved entry for the replaced uniqueId".to_owned(),
            })?;
        if let Some(first) = input.documents.first_mut() {
            first.entry.replaces_entry_uuid = Some(old);
        }
        self.provide(&input, now).await
    }

    /// Deletion (TD3.3c): TD3.1b → entryUUID, then ITI-57 Approved → Deleted.
    pub async fn delete(&self, input: DeleteInput, now: OffsetDateTime) -> Result<(), DmpError> {
        self.require_active(
            &input.ins,
            &input.ins_oid,
            input.birth_date,
            input.secret_connection,
            now,
        )
        .await?;
        let entry = self
            .find_entry(
                &input.ins,
                &input.ins_oid,
                &input.unique_id,
                input.secret_connection,
                now,
            )
            .await?
            .ok_or_else(|| DmpError {
                code: "delete_target_unknown".to_owned(),
                origin: FailureSource::Registry,
                retry: Retry::Never,
                retryable: false,
                message: "no Approved entry for the uniqueId".to_owned(),
            })?;
        let vihf = self.vihf(&input.ins, &input.ins_oid, input.secret_connection, now)?;
        let mid = new_uuid();
        let patient_id = passerelle_dmp::ins::ins_cx(&input.ins, &input.ins_oid);
        let xon =
            passerelle_documents::header::org_xon(&self.tenant.name, &self.tenant.struct_idnat);
        let ts = passerelle_dmp::td02::hl7_ts(now);
        let req = build_iti57_delete_request(&DeletionInput {
            endpoint: self.transport.endpoint(),
            message_id: &mid,
            vihf: &vihf,
            submission_set_unique_id: &input.submission_set_unique_id,
            source_id: &input.source_id,
            patient_id: &patient_id,
            submission_time: &ts,
            author_institution: &xon,
            author_person: &input.author_person,
            content_type: Coded {
                code: &input.content_type.code,
                display: &input.content_type.display,
                scheme: &input.content_type.scheme,
            },
            entry_uuid: &entry,
        })
        .map_err(|e| DmpError::adapter("iti57", e.to_string()))?;
        let reply = self.exchange(req).await?;
        parse_registry_response(&reply.view())?;
        Ok(())
    }
}

/// CDA `confidentialityCode/@code` (the adapter re-checks what is actually sent).
fn cda_confidentiality(cda: &[u8]) -> &'static str {
    let head = &cda[..cda.len().min(8192)];
    let needle = b"<confidentialityCode code=\"";
    head.windows(needle.len())
        .position(|w| w == needle)
        .and_then(|p| head.get(p + needle.len()..p + needle.len() + 2))
        .map(|v| match v {
            b"N\"" => "N",
            b"R\"" => "R",
            b"V\"" => "V",
            _ => "?",
        })
        .unwrap_or("?")
}

/// The Europe/Paris calendar date of `t` (ages and minor status are computed on it).
pub use passerelle_dmp::paris_date;
