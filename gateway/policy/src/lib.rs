//! Pure policy engine: habilitation matrix, secret partagé, IP routing, parental authority, minors' rights.
//!
//! [`Engine::evaluate`] turns a [`SubmitRequest`] and a decision instant into a [`Decision`]: one
//! [`TargetDecision`](passerelle_api::v1::TargetDecision) per (document, target), each with the rule
//! ids of `policy.md` §5 that fired, the denials with their reason codes and FR/EN texts, the persons
//! to inform, the DMP flags and the representatives. Malformed input is a [`PolicyError::InvalidInput`]
//! (one [`FieldViolation`] per field); policy refusals are decisions, never errors. No I/O: time and
//! ids are parameters, so the same inputs always give the same decision.
#![forbid(unsafe_code)]

mod catalogue;
mod config;
mod context;
mod dates;
mod error;
mod eval;
mod matrix;
mod text;
mod validate;

use std::collections::HashMap;

use passerelle_api::pbjson_types::Timestamp;
use passerelle_api::v1::{
    ApRegime, ChildContext, Decision, LegalBasis, Outcome, PolicyVersion, SubmitRequest,
    TargetDecision,
};
use prost::Message;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

pub use config::{DmpParams, PolicyConfig, WaiverAuthorities};
pub use error::{FieldViolation, LoadError, PolicyError};
pub use matrix::DEFAULT_MATRIX;

/// Engine version written into every decision.
pub const ENGINE_VERSION: &str = concat!("passerelle-policy/", env!("CARGO_PKG_VERSION"));

/// What the gateway calls. Implementations are pure and deterministic.
pub trait PolicyEngine: Send + Sync {
    /// Evaluates a request at `as_of` (its Europe/Paris date drives ages and periods).
    /// `decision_id` is supplied by the caller (no randomness here).
    fn evaluate(
        &self,
        req: &SubmitRequest,
        as_of: OffsetDateTime,
        dry_run: bool,
        decision_id: &str,
    ) -> Result<Decision, PolicyError>;

    /// As `evaluate`, when the caller has already computed `input_sha256(req)` (the gateway hashes
    /// the encoded request anyway, and a request may carry MiBs of PDF).
    fn evaluate_hashed(
        &self,
        req: &SubmitRequest,
        as_of: OffsetDateTime,
        dry_run: bool,
        decision_id: &str,
        input_sha256: &str,
    ) -> Result<Decision, PolicyError> {
        let _ = input_sha256;
        self.evaluate(req, as_of, dry_run, decision_id)
    }
}

/// Everything the decision depends on besides the request: the matrix file, restriction overlays
/// (TOML texts) and the operator's configuration.
#[derive(Clone, Debug)]
pub struct PolicyBundle {
    pub matrix: String,
    pub overlays: Vec<String>,
    pub config: PolicyConfig,
}

impl PolicyBundle {
    /// The shipped matrix, no overlay.
    pub fn with_default_matrix(config: PolicyConfig) -> Self {
        Self {
            matrix: DEFAULT_MATRIX.to_string(),
            overlays: Vec::new(),
            config,
        }
    }
}

/// Parental-authority state of a child at a date (policy.md §4): what the engine derives before
/// evaluating targets, exposed for the DUI and the gateway (e.g. to show who signs, who to inform).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParentalAuthority {
    /// Age in whole years at the Europe/Paris date of `as_of` (AGE-1).
    pub age: i32,
    pub adult: bool,
    pub emancipated: bool,
    /// Minor for the DMP (age < `dmp.age_majorite`, EX_GEN-1550).
    pub dmp_minor: bool,
    /// Regime at `as_of`; `Adult` / `Emancipated` when they apply; `Unspecified` when unknown.
    pub regime: ApRegime,
    /// No period of the timeline covers `as_of` for a minor (GEN-2 `AP_STATE_UNKNOWN`).
    pub ap_state_unknown: bool,
    /// Current holders (party ids), a parent under retrait excluded.
    pub holders: Vec<String>,
    /// MES/DMP legal representatives (REP-1).
    pub representatives: Vec<String>,
    /// REP-2 / REP-3: deposits must then be invisible to the representatives.
    pub representatives_unsafe: bool,
    /// Who must all sign an acte non usuel (AUT-2), unless a JE authorisation is valid.
    pub non_usuel_signers: Vec<String>,
    /// Persons to inform under CASF L.226-2-2 (father, mother, holders, tutor, child).
    pub inform_casf_l226_2_2: Vec<String>,
    /// Persons to inform for an IP, CASF L.226-2-1 (same minus the child).
    pub inform_casf_l226_2_1: Vec<String>,
    /// Persons to inform for a health exchange (CSP L.1110-4, L.1111-2).
    pub inform_health: Vec<String>,
}

/// The policy engine, with the matrix indexed at load.
#[derive(Debug)]
pub struct Engine {
    pub(crate) matrix: matrix::Matrix,
    pub(crate) overlays: Vec<matrix::Overlay>,
    pub(crate) config: PolicyConfig,
    matrix_sha256: String,
    config_sha256: String,
    /// Lower-cased configured CRIP address → département.
    crip_by_addr: HashMap<String, String>,
    pub(crate) waiver_missions: u32,
    pub(crate) waiver_health_missions: u32,
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

impl Engine {
    /// Loads and validates the bundle: any invalid matrix row, overlay or configuration field is an
    /// error here, at start, never at the first request.
    pub fn new(bundle: PolicyBundle) -> Result<Self, LoadError> {
        bundle.config.validate()?;
        let matrix = matrix::Matrix::parse(&bundle.matrix)?;
        let mut overlays = Vec::with_capacity(bundle.overlays.len());
        let mut cfg_hash_input = bundle.config.canonical()?;
        for text in &bundle.overlays {
            let o = matrix::Overlay::parse(text, &matrix)?;
            if overlays.iter().any(|x: &matrix::Overlay| x.id == o.id) {
                return Err(PolicyError::Overlay {
                    overlay: o.id,
                    field: "meta.id".into(),
                    reason: "duplicate overlay id".into(),
                });
            }
            cfg_hash_input.push_str(&format!(
                "\n# overlay {} {}\n",
                o.id,
                sha256_hex(text.as_bytes())
            ));
            overlays.push(o);
        }
        let crip_by_addr = bundle
            .config
            .crip_mailboxes
            .iter()
            .map(|(d, a)| (a.to_ascii_lowercase(), d.clone()))
            .collect();
        let mask = |names: &[String]| {
            names
                .iter()
                .filter_map(|n| config::mission_from_name(n))
                .fold(0u32, |m, k| m | matrix::mission_bit(k as i32))
        };
        Ok(Engine {
            matrix_sha256: sha256_hex(bundle.matrix.as_bytes()),
            config_sha256: sha256_hex(cfg_hash_input.as_bytes()),
            waiver_missions: mask(&bundle.config.waiver_authorities.missions),
            waiver_health_missions: mask(&bundle.config.waiver_authorities.health_missions),
            matrix,
            overlays,
            config: bundle.config,
            crip_by_addr,
        })
    }

    /// The shipped matrix with this configuration.
    pub fn with_defaults(config: PolicyConfig) -> Result<Self, LoadError> {
        Self::new(PolicyBundle::with_default_matrix(config))
    }

    pub fn matrix_version(&self) -> &str {
        &self.matrix.version
    }
    /// (valid_from "YYYY-MM-DD", approved_by) of the loaded matrix.
    pub fn matrix_approval(&self) -> (String, &str) {
        (self.matrix.valid_from.to_string(), &self.matrix.approved_by)
    }
    pub fn matrix_sha256(&self) -> &str {
        &self.matrix_sha256
    }
    pub fn config_sha256(&self) -> &str {
        &self.config_sha256
    }
    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    pub(crate) fn crip_dept(&self, addr: &str) -> Option<&str> {
        self.crip_by_addr
            .get(&addr.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// Derives the parental-authority state of a child at `as_of` (same code as `evaluate`).
    /// The child context is validated like in a request (`child.*` field paths).
    pub fn parental_authority(
        &self,
        child: &ChildContext,
        as_of: OffsetDateTime,
    ) -> Result<ParentalAuthority, PolicyError> {
        let today = dates::paris_date(as_of);
        let req = SubmitRequest {
            child: Some(child.clone()),
            ..Default::default()
        };
        let v: Vec<FieldViolation> = validate::validate(&req, today)
            .into_iter()
            .filter(|v| v.field.starts_with("child"))
            .collect();
        if !v.is_empty() {
            return Err(PolicyError::InvalidInput(v));
        }
        let sender = passerelle_api::v1::Actor::default();
        let cx = context::build(
            &req,
            child,
            &sender,
            &self.matrix,
            &self.overlays,
            &self.config,
            as_of,
            today,
        );
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
        let non_usuel_signers = if cx.adult || cx.emancipated {
            cx.child_party
                .map(|p| vec![p.id.clone()])
                .unwrap_or_default()
        } else {
            owned(&cx.holders)
        };
        Ok(ParentalAuthority {
            age: cx.age,
            adult: cx.adult,
            emancipated: cx.emancipated,
            dmp_minor: cx.dmp_minor,
            regime: cx.regime,
            ap_state_unknown: cx.ap_unknown,
            holders: owned(&cx.holders),
            representatives: cx.representatives.clone(),
            representatives_unsafe: cx.rep2_unsafe || cx.rep3_unsafe,
            non_usuel_signers,
            inform_casf_l226_2_2: eval::persons_list(&cx, LegalBasis::CasfL22622, false, false),
            inform_casf_l226_2_1: eval::persons_list(&cx, LegalBasis::CasfL22621, true, false),
            inform_health: eval::persons_list(&cx, LegalBasis::CspL11104Ii, false, false),
        })
    }

    /// Validates a request without evaluating it (same checks as `evaluate`).
    pub fn validate(&self, req: &SubmitRequest, as_of: OffsetDateTime) -> Vec<FieldViolation> {
        validate::validate(req, dates::paris_date(as_of))
    }
}

/// SHA-256 (hex) of the deterministic protobuf encoding of the request (specs README §1: gRPC and
/// JSON agree), without `idempotency_key`, `request_id` (a correlation id: an Explain and the
/// Submit that follows must hash alike, policy.md §7) and `expected_input_sha256`. Encodes field by
/// field in tag order, exactly as prost encodes the message with those three fields cleared.
pub fn input_sha256(req: &SubmitRequest) -> String {
    use prost::encoding::{message, string};
    let mut buf = Vec::with_capacity(req.encoded_len());
    if !req.tenant.is_empty() {
        string::encode(1, &req.tenant, &mut buf);
    }
    if let Some(s) = &req.sender {
        message::encode(3, s, &mut buf);
    }
    if let Some(c) = &req.child {
        message::encode(4, c, &mut buf);
    }
    message::encode_repeated(5, &req.documents, &mut buf);
    message::encode_repeated(6, &req.targets, &mut buf);
    if let Some(l) = &req.legal {
        message::encode(7, l, &mut buf);
    }
    if let Some(r) = &req.replaces {
        message::encode(8, r, &mut buf);
    }
    sha256_hex(&buf)
}

impl PolicyEngine for Engine {
    fn evaluate(
        &self,
        req: &SubmitRequest,
        as_of: OffsetDateTime,
        dry_run: bool,
        decision_id: &str,
    ) -> Result<Decision, PolicyError> {
        self.decide(req, as_of, dry_run, decision_id, None)
    }

    fn evaluate_hashed(
        &self,
        req: &SubmitRequest,
        as_of: OffsetDateTime,
        dry_run: bool,
        decision_id: &str,
        input_sha256: &str,
    ) -> Result<Decision, PolicyError> {
        self.decide(req, as_of, dry_run, decision_id, Some(input_sha256))
    }
}

impl Engine {
    fn decide(
        &self,
        req: &SubmitRequest,
        as_of: OffsetDateTime,
        dry_run: bool,
        decision_id: &str,
        input_sha: Option<&str>,
    ) -> Result<Decision, PolicyError> {
        let today = dates::paris_date(as_of);
        let violations = validate::validate(req, today);
        if !violations.is_empty() {
            return Err(PolicyError::InvalidInput(violations));
        }
        let (Some(child), Some(sender)) = (
            req.child.as_ref(),
            req.sender.as_ref().and_then(|s| s.actor.as_ref()),
        ) else {
            return Err(PolicyError::Internal(
                "validated request lacks child or sender".into(),
            ));
        };
        let cx = context::build(
            req,
            child,
            sender,
            &self.matrix,
            &self.overlays,
            &self.config,
            as_of,
            today,
        );
        let mut targets: Vec<TargetDecision> =
            Vec::with_capacity(req.targets.len() * req.documents.len());
        for t in &req.targets {
            for d in &req.documents {
                if !t.document_ids.is_empty() && !t.document_ids.contains(&d.id) {
                    continue;
                }
                targets.push(self.eval_target(&cx, &eval::Job { t, d }));
            }
        }
        let allowed = targets
            .iter()
            .filter(|t| t.outcome == Outcome::Allowed as i32)
            .count();
        let outcome = if allowed == targets.len() && allowed > 0 {
            Outcome::Allowed
        } else if allowed == 0 {
            Outcome::Denied
        } else {
            Outcome::PartiallyAllowed
        };
        let allow_partial = req.legal.as_ref().is_some_and(|l| l.allow_partial);
        let accepted =
            outcome == Outcome::Allowed || (outcome == Outcome::PartiallyAllowed && allow_partial);
        let input_sha = input_sha.map_or_else(|| input_sha256(req), str::to_owned);
        let mut warnings = Vec::new();
        if !req.expected_input_sha256.is_empty()
            && !req.expected_input_sha256.eq_ignore_ascii_case(&input_sha)
        {
            warnings.push("DECISION_CHANGED_SINCE_PREVIEW".to_string());
        }
        // AGE-1 events (policy.md §4).
        if cx.age < 2 {
            warnings.push("AGE_UNDER_2: rapport de situation tous les 6 mois, évaluation d'IP raccourcie (CASF L.223-5, D.226-2-4)".into());
        }
        if cx.age == 16 {
            warnings.push("AGE_16: autonomisation et émancipation possibles".into());
        }
        if cx.age == 17 {
            warnings.push("AGE_17: entretien de préparation à la sortie (CASF L.222-5-1)".into());
        }
        if outcome == Outcome::PartiallyAllowed && !allow_partial {
            warnings.push(
                "PARTIAL_NOT_ALLOWED: some targets are denied and legal.allowPartial is false"
                    .into(),
            );
        }
        let mut matrix_version = self.matrix.version.clone();
        for o in &cx.overlays {
            matrix_version.push_str(&format!("+{}@{}", o.id, o.version));
        }
        Ok(Decision {
            decision_id: decision_id.to_string(),
            request_id: req.request_id.clone(),
            dry_run,
            as_of: Some(Timestamp {
                seconds: as_of.unix_timestamp(),
                nanos: i32::try_from(as_of.nanosecond()).unwrap_or(0),
            }),
            policy: Some(PolicyVersion {
                engine: ENGINE_VERSION.to_string(),
                matrix_version,
                matrix_sha256: self.matrix_sha256.clone(),
                config_sha256: self.config_sha256.clone(),
            }),
            input_sha256: input_sha,
            outcome: outcome as i32,
            targets,
            warnings,
            accepted,
        })
    }
}
