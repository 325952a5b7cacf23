//! Test support shared by the DMP tests (client, simulator): the sandbox PKI generated once per
//! test binary, a simulator configuration, and DMP-profile documents of the sandbox world
//! (MECS Les Tilleuls, Sophie Leroy). Not for production use.

use std::sync::OnceLock;

use passerelle_api::v1::{ChildContext, Code, Document, DocumentKind, Gender, Ins, InsStatus};
use passerelle_certs::{Pki, PkiSpec, Usage};
use passerelle_documents::{
    Author, DmpVisibility, DocumentContext, DocumentIds, Profile, RenderedDocument, Replaced,
    SubmissionSet, Tenant, render_document,
};
use time::OffsetDateTime;

use crate::{Patient, SimConfig};

/// Tenant used by the tests (docs/sandbox.md).
pub const TENANT: &str = "mecs-tilleuls";
/// Its Struct_IdNat.
pub const STRUCT_IDNAT: &str = "1930004130";
/// Tenant system OID (uniqueIds `{TENANT_OID}.1.n` documents, `.2.n` sets, `.3.n` signatures).
pub const TENANT_OID: &str = "2.25.216227385930218546497123585302587541009";
/// Local code system OID.
pub const LOCAL_OID: &str = "2.25.110655330960302366384958546216414424865";

static PKI: OnceLock<Result<Pki, String>> = OnceLock::new();

/// The sandbox PKI, generated once per process (a few seconds).
pub fn pki() -> Result<&'static Pki, String> {
    PKI.get_or_init(|| {
        passerelle_certs::generate(&PkiSpec::sandbox(OffsetDateTime::now_utc()))
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// A simulator configuration on the test PKI (`dmp.test` server certificate, client
/// certificates chained to the test root, ORG_SIGN issued by the organisations CA).
pub fn sim_config(patients: Vec<Patient>) -> Result<SimConfig, String> {
    let pki = pki()?;
    let server = pki.server("dmp.test").ok_or("no dmp.test certificate")?;
    let identity = passerelle_tls::Identity::from_pem(
        server.chain_pem().as_bytes(),
        server.key_pem.as_bytes(),
    )
    .map_err(|e| e.to_string())?;
    let client_trust = passerelle_tls::TrustAnchors::from_pem(pki.root.cert_pem.as_bytes())
        .map_err(|e| e.to_string())?;
    Ok(SimConfig {
        identity,
        client_trust,
        signing_cas: vec![pki.org_ca.cert_der.clone()],
        params: passerelle_dmp::DmpParameters::default(),
        patients,
        clock: None,
    })
}

/// ORG_SIGN of a tenant as an xmlsig signer.
pub fn signer(tenant: &str) -> Result<passerelle_xmlsig::Signer, String> {
    let ck = pki()?.get(tenant, Usage::Signing).ok_or("no tenant")?;
    passerelle_xmlsig::Signer::from_pkcs8_der(&ck.key_der, &ck.cert_der).map_err(|e| e.to_string())
}

/// ORG_AUTH_CLI of a tenant as a TLS identity.
pub fn tls_identity(tenant: &str) -> Result<passerelle_tls::Identity, String> {
    let ck = pki()?.get(tenant, Usage::TlsClient).ok_or("no tenant")?;
    passerelle_tls::Identity::from_pem(ck.chain_pem().as_bytes(), ck.key_pem.as_bytes())
        .map_err(|e| e.to_string())
}

fn code(system: &str, code: &str, display: &str) -> Code {
    Code {
        system: system.into(),
        code: code.into(),
        display: display.into(),
    }
}

/// MECS Les Tilleuls as a documents tenant.
pub fn tenant() -> Tenant {
    Tenant {
        name: "MECS Les Tilleuls".into(),
        struct_idnat: STRUCT_IDNAT.into(),
        source_oid: TENANT_OID.into(),
        facility_type: code(
            "1.2.250.1.71.4.2.4",
            "SA20",
            "Etablissement pour la protection de l'enfance",
        ),
        practice_setting: code(
            "1.2.250.1.213.1.1.4.9",
            "ESSMS",
            "Etablissement ou Service Social ou Médico-Social",
        ),
        practice_setting_dmp: code("1.2.250.1.213.1.1.4.9", "AMBULATOIRE", "Ambulatoire"),
        content_type: code(
            "1.2.250.1.71.4.2.4",
            "SA20",
            "Etablissement pour la protection de l'enfance",
        ),
        app_mailbox: "passerelle@mecs-tilleuls.mssante.test".into(),
        org_mailbox: "secretariat@mecs-tilleuls.mssante.test".into(),
        phone: String::new(),
        address: None,
    }
}

/// Sophie Leroy, infirmière (G15 60).
pub fn nurse() -> Author {
    Author {
        ps_idnat: "810000001023".into(),
        family_name: "LEROY".into(),
        given_name: "Sophie".into(),
        specialty: code("1.2.250.1.213.1.1.4.5", "G15_60", "Infirmier"),
        function_code: None,
    }
}

/// The child of a simulator patient, with the birth date the DUI knows.
pub fn child(p: &Patient, local_birth_date: time::Date) -> ChildContext {
    let bd = format!(
        "{:04}-{:02}-{:02}",
        local_birth_date.year(),
        u8::from(local_birth_date.month()),
        local_birth_date.day()
    );
    ChildContext {
        local_id: format!("DUI-{}", p.name),
        birth_date: bd.clone(),
        ins: Some(Ins {
            matricule: p.ins.clone(),
            oid: p.ins_oid.clone(),
            status: InsStatus::Qualified as i32,
            birth_family_name: "DUPONT".into(),
            first_given_name: "Léa".into(),
            birth_given_names: vec!["Léa".into()],
            gender: Gender::F as i32,
            birth_date: bd,
            birthplace_insee: "93066".into(),
        }),
        ..Default::default()
    }
}

/// A minimal valid PDF, tagged (and optionally padded to `size` bytes) so documents differ.
pub fn pdf(tag: &str, size: usize) -> Vec<u8> {
    let mut out = format!(
        "%PDF-1.4\n1 0 obj\n<</Type/Catalog/Pages 2 0 R>>\nendobj\n2 0 obj\n<</Type/Pages/Kids[]/Count 0/Tag({tag})>>\nendobj\n"
    )
    .into_bytes();
    // Incompressible-ish padding in a comment line: deterministic bytes of every value.
    if out.len() + 6 < size {
        out.extend_from_slice(b"%");
        let mut x: u32 = 0x9E37_79B9;
        while out.len() + 6 < size {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let b = (x & 0xff) as u8;
            out.push(if b == b'\n' || b == b'\r' { b' ' } else { b });
        }
        out.push(b'\n');
    }
    out.extend_from_slice(b"%%EOF\n");
    out
}

/// A rendered DMP-profile document and its submission set.
pub struct Rendered {
    /// CDA + DocumentEntry.
    pub document: RenderedDocument,
    /// SubmissionSet.
    pub set: SubmissionSet,
}

/// Renders document `n` of `kind` for `child` with the given flags (DMP profile).
pub fn render(
    kind: DocumentKind,
    child: &ChildContext,
    flags: DmpVisibility,
    pdf_bytes: &[u8],
    n: u32,
    replaces: Option<&str>,
    at: OffsetDateTime,
) -> Result<Rendered, String> {
    let tenant = tenant();
    let author = nurse();
    let document = Document {
        id: format!("doc-{n}"),
        kind: kind as i32,
        act_date: "2026-03-01".into(),
        ..Default::default()
    };
    let ids = DocumentIds {
        unique_id: format!("{TENANT_OID}.1.{n}"),
        set_id: format!("{TENANT_OID}.4.{}", replaces.map_or(n, |_| n / 1000)),
        version: if replaces.is_some() { 2 } else { 1 },
        replaces: replaces.map(|u| Replaced {
            unique_id: u.to_owned(),
            // Found at send time by TD3.1b; the documents crate wants a value at render time.
            entry_uuid: "urn:uuid:00000000-0000-4000-8000-000000000000".to_owned(),
        }),
    };
    let profile = Profile::Dmp(flags);
    let ctx = DocumentContext {
        tenant: &tenant,
        author: &author,
        child,
        document: &document,
        pdf: pdf_bytes,
        ids: &ids,
        effective_time: at,
        local_code_system_oid: LOCAL_OID,
        profile,
    };
    let mut d = render_document(&ctx).map_err(|e| e.to_string())?;
    // The RPLC target entryUUID is found at send time (TD3.1b), not at render time.
    d.entry.replaces_entry_uuid = None;
    let set = SubmissionSet::new(
        &tenant,
        &author,
        profile,
        &format!("{TENANT_OID}.2.{n}"),
        at,
        &d.entry,
        &[],
    )
    .map_err(|e| e.to_string())?;
    Ok(Rendered { document: d, set })
}
