#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use passerelle_api::v1::{DmpFlags, DocumentKind};
use passerelle_dmp::DmpParameters;
use passerelle_dmp_client::{
    DmpClient, DmpClientConfig, DmpDocument, SubmissionInput, TenantFacts, Timeouts,
};
use passerelle_documents::DmpVisibility;
use passerelle_sim_dmp::testkit::{self, TENANT_OID};
use passerelle_sim_dmp::{Patient, SimHandle, fixtures};
use time::{Date, OffsetDateTime};

/// Today in Europe/Paris, as the client computes minor status (between 22:00/23:00 and midnight
/// UTC the UTC date is a day behind).
pub fn today() -> Date {
    passerelle_dmp_client::paris_date(OffsetDateTime::now_utc())
}

pub struct Env {
    pub sim: SimHandle,
    pub patients: Vec<Patient>,
}

impl Env {
    pub fn patient(&self, name: &str) -> Patient {
        self.patients
            .iter()
            .find(|p| p.name == name)
            .cloned()
            .expect("fixture")
    }
}

pub async fn env() -> Env {
    let patients = fixtures(today(), 18);
    let cfg = testkit::sim_config(patients.clone()).expect("sim config");
    let sim = passerelle_sim_dmp::start(cfg).await.expect("sim start");
    Env { sim, patients }
}

pub fn facts(tenant: &str, struct_idnat: &str) -> TenantFacts {
    TenantFacts {
        struct_idnat: struct_idnat.into(),
        name: format!("Structure {tenant}"),
        secteur_activite: "SA20".into(),
        subject_name_id: "810000001072".into(),
        subject_id: "Passerelle, passerelle-dmp-client, tests".into(),
        roles: Vec::new(),
        installation_oid: format!("{TENANT_OID}.9"),
        lps_nom: "Passerelle".into(),
        lps_version: "0.1.0".into(),
        lps_homologation: "TEST-CNDA-0000".into(),
        vihf_version: "3.0".into(),
        processing_code: "D".into(),
    }
}

pub fn client_with(
    sim: &SimHandle,
    tenant: &str,
    facts: TenantFacts,
    timeouts: Timeouts,
) -> DmpClient {
    let pki = testkit::pki().expect("pki");
    DmpClient::new(DmpClientConfig {
        base_url: sim.base_url(),
        trust: passerelle_tls::TrustAnchors::from_pem(pki.root.cert_pem.as_bytes()).expect("trust"),
        identity: testkit::tls_identity(tenant).expect("identity"),
        revocation: passerelle_tls::Revocation::disabled(),
        signer: Arc::new(testkit::signer(tenant).expect("signer")),
        tenant: facts,
        timeouts,
        params: DmpParameters::default(),
        max_idle_connections: 4,
    })
    .expect("client")
}

pub fn client(sim: &SimHandle) -> DmpClient {
    client_with(
        sim,
        testkit::TENANT,
        facts(testkit::TENANT, testkit::STRUCT_IDNAT),
        Timeouts::default(),
    )
}

pub fn flags(masque_ps: bool, invisible_patient: bool, rep: bool) -> DmpFlags {
    DmpFlags {
        confidentiality: "N".into(),
        masque_ps,
        invisible_patient,
        invisible_representants_legaux: rep,
        stated: true,
        required_invisible_representants_legaux: rep,
    }
}

/// A submission of document `n` for patient `p` (the DUI knows `local_birth` as birth date).
pub fn input_full(
    p: &Patient,
    local_birth: Date,
    kind: DocumentKind,
    f: DmpFlags,
    n: u32,
    pdf_size: usize,
    replaces: Option<&str>,
) -> SubmissionInput {
    let child = testkit::child(p, local_birth);
    let vis = DmpVisibility::from(&f);
    let now = OffsetDateTime::now_utc();
    let pdf = testkit::pdf(&format!("doc{n}"), pdf_size);
    let r = testkit::render(kind, &child, vis, &pdf, n, replaces, now).expect("render");
    SubmissionInput {
        ins: p.ins.clone(),
        ins_oid: p.ins_oid.clone(),
        ins_qualified: true,
        birth_date: local_birth,
        documents: vec![DmpDocument {
            kind,
            cda: r.document.cda,
            entry: r.document.entry,
        }],
        submission_set: r.set,
        signature_unique_id: format!("{TENANT_OID}.3.{n}"),
        signature_confidentiality: vec![passerelle_documents::XdsCode {
            code: "N".into(),
            display: "Normal".into(),
            scheme: "2.16.840.1.113883.5.25".into(),
        }],
        flags: f,
        secret_connection: false,
        local_opposition: false,
        after_uncertain_attempt: false,
    }
}

pub fn input(p: &Patient, kind: DocumentKind, f: DmpFlags, n: u32) -> SubmissionInput {
    input_full(p, p.birth_date, kind, f, n, 2000, None)
}

pub fn short_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        request: Duration::from_millis(1500),
        td02_cache: Duration::from_secs(120),
    }
}

/// Unique document numbers per test (uniqueIds are global in one simulator, but each test has its
/// own simulator; numbers still differ to keep failures readable).
pub fn n(base: u32, i: u32) -> u32 {
    base * 100 + i
}
