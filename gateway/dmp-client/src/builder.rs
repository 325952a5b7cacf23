//! Request building without I/O: VIHF, XAdES, metadata and MTOM framing from the tenant's signer
//! and facts. `DmpClient` uses it at send time; `passerelle render` can use it alone (no TLS, no
//! socket) with fixed ids to write `dmp/NN-request.http` and `dmp/NN-vihf.xml`.

use std::sync::Arc;

use passerelle_dmp::iti41::{Attachment, Iti41Input};
use passerelle_dmp::{Endpoint, HttpRequest, build_iti41_request};
use passerelle_documents::metadata::object_ids;
use passerelle_documents::{DocumentEntry, IdStyle, signature_entry, submit_objects_request};
use passerelle_xmlsig::{
    Code, ManifestEntry, SignatureDocumentInput, Signer, VihfInput, build_and_sign,
    build_signature_document,
};
use time::OffsetDateTime;

use crate::{DmpError, SubmissionInput, TenantFacts};

/// Ids of one request (random at send time, fixed in render mode and goldens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestIds {
    /// `wsa:MessageID` UUID (without `urn:uuid:`).
    pub message_id: String,
    /// MIME boundary UUID.
    pub boundary_id: String,
    /// VIHF `ID` (`_` + UUID).
    pub assertion_id: String,
}

impl RequestIds {
    /// Fresh random ids.
    pub fn random() -> Self {
        RequestIds {
            message_id: uuid::Uuid::new_v4().to_string(),
            boundary_id: uuid::Uuid::new_v4().to_string(),
            assertion_id: format!("_{}", uuid::Uuid::new_v4()),
        }
    }
}

/// An ITI-41 request and the signed parts inside it.
#[derive(Debug, Clone)]
pub struct Iti41Built {
    /// The HTTP request (`to_http_bytes()` for `dmp/NN-request.http`).
    pub request: HttpRequest,
    /// The VIHF exactly as pasted into `wsse:Security` (`dmp/NN-vihf.xml`).
    pub vihf: Vec<u8>,
    /// The XAdES signature document (MTOM part `0.3`…).
    pub xades: Vec<u8>,
}

/// Builds requests for one tenant.
pub struct RequestBuilder {
    endpoint: Endpoint,
    signer: Arc<Signer>,
    tenant: TenantFacts,
    rng: ring::rand::SystemRandom,
}

impl RequestBuilder {
    /// From a base URL (`https://…/si-dmp-server/v2/services`).
    pub fn new(base_url: &str, signer: Arc<Signer>, tenant: TenantFacts) -> Result<Self, DmpError> {
        let endpoint =
            Endpoint::parse(base_url).map_err(|e| DmpError::adapter("config", e.to_string()))?;
        Ok(Self::with_endpoint(endpoint, signer, tenant))
    }

    pub(crate) fn with_endpoint(
        endpoint: Endpoint,
        signer: Arc<Signer>,
        tenant: TenantFacts,
    ) -> Self {
        RequestBuilder {
            endpoint,
            signer,
            tenant,
            rng: ring::rand::SystemRandom::new(),
        }
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// A signed VIHF with this assertion id (`_` + UUID), IssueInstant = AuthnInstant = `now`.
    pub fn vihf_with_id(
        &self,
        assertion_id: &str,
        ins: &str,
        ins_oid: &str,
        secret_connection: bool,
        now: OffsetDateTime,
    ) -> Result<Vec<u8>, DmpError> {
        let t = &self.tenant;
        let input = VihfInput {
            id: assertion_id.to_owned(),
            issue_instant: now,
            subject_name_id: t.subject_name_id.clone(),
            structure_id: t.struct_idnat.clone(),
            secteur_activite: t.secteur_activite.clone(),
            subject_id: t.subject_id.clone(),
            roles: if t.roles.is_empty() {
                vec![Code::role_automate()]
            } else {
                t.roles.clone()
            },
            ins: ins.to_owned(),
            ins_oid: ins_oid.to_owned(),
            purpose: Code::purpose_normal(),
            confidentiality_code: secret_connection.then(Code::invisible_representants_legaux),
            lps_id: Some(t.installation_oid.clone()),
            lps_nom: t.lps_nom.clone(),
            lps_version: t.lps_version.clone(),
            lps_homologation: t.lps_homologation.clone(),
            vihf_version: t.vihf_version.clone(),
            authentification_mode: "INDIRECTE".to_owned(),
        };
        build_and_sign(&input, &self.signer, &self.rng)
            .map_err(|e| DmpError::adapter("vihf", e.to_string()))
    }

    /// The ITI-41 request: XAdES (signing time = `now`), its DocumentEntry, the
    /// SubmitObjectsRequest, the VIHF, MTOM framing. No adapter check here (the client runs them).
    pub fn iti41(
        &self,
        input: &SubmissionInput,
        now: OffsetDateTime,
        ids: &RequestIds,
    ) -> Result<Iti41Built, DmpError> {
        let first = input
            .documents
            .first()
            .ok_or_else(|| DmpError::adapter("DMP-TYPE-01", "no document"))?;
        let xades = build_signature_document(
            &SignatureDocumentInput {
                signature_id: "Sig01".to_owned(),
                signing_time: now,
                submission_set_unique_id: input.submission_set.unique_id.clone(),
                documents: input
                    .documents
                    .iter()
                    .map(|d| ManifestEntry::from_bytes(&d.entry.unique_id, &d.cda))
                    .collect(),
            },
            &self.signer,
            &self.rng,
        )
        .map_err(|e| DmpError::adapter("xades", e.to_string()))?;
        let sig_entry = signature_entry(
            &first.entry,
            &input.signature_unique_id,
            now,
            &xades,
            input.signature_confidentiality.clone(),
        )
        .map_err(|e| DmpError::adapter("metadata", e.to_string()))?;
        let entries: Vec<DocumentEntry> = input.documents.iter().map(|d| d.entry.clone()).collect();
        let sor = submit_objects_request(
            &input.submission_set,
            &entries,
            Some(&sig_entry),
            IdStyle::Symbolic,
        )
        .map_err(|e| DmpError::adapter("metadata", e.to_string()))?;
        let oids = object_ids(
            &input.submission_set,
            &entries,
            Some(&sig_entry),
            IdStyle::Symbolic,
        );
        let sig_id = oids.signature.clone().unwrap_or_else(|| "Sig01".to_owned());
        let mut attachments: Vec<Attachment<'_>> = input
            .documents
            .iter()
            .zip(&oids.documents)
            .map(|(d, id)| Attachment { id, bytes: &d.cda })
            .collect();
        attachments.push(Attachment {
            id: &sig_id,
            bytes: &xades,
        });
        let vihf = self.vihf_with_id(
            &ids.assertion_id,
            &input.ins,
            &input.ins_oid,
            input.secret_connection,
            now,
        )?;
        let request = build_iti41_request(&Iti41Input {
            endpoint: &self.endpoint,
            message_id: &ids.message_id,
            boundary_id: &ids.boundary_id,
            vihf: &vihf,
            submit_objects_request: &sor,
            documents: &attachments,
        })
        .map_err(|e| DmpError::adapter("iti41", e.to_string()))?;
        Ok(Iti41Built {
            request,
            vihf,
            xades,
        })
    }
}
