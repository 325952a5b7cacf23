#![allow(dead_code)]
//! Fixed world: MECS Les Tilleuls, Léa DUPONT (docs/sandbox.md), fixed time, ids and boundary.

use passerelle_api::v1::{ChildContext, Code, Document, DocumentKind, Gender, Ins, InsStatus};
use passerelle_dmp::Endpoint;
use passerelle_documents::{
    Author, DmpVisibility, DocumentContext, DocumentIds, IdStyle, Profile, RenderedDocument,
    SubmissionSet, Tenant, render_document, signature_entry, submit_objects_request,
};
use time::OffsetDateTime;
use time::macros::datetime;

pub const TENANT_OID: &str = "2.25.216227385930218546497123585302587541009";
pub const LOCAL_OID: &str = "2.25.110655330960302366384958546216414424865";
pub const INS: &str = "212069306600157";
pub const INS_OID: &str = "1.2.250.1.213.1.4.10";
pub const AT: OffsetDateTime = datetime!(2026-03-02 09:14:05.120 +01:00);
pub const MESSAGE_ID: &str = "6f2c1f9e-8d7a-4b1e-9c3d-2a5b7e0f1c44";
pub const BOUNDARY_ID: &str = "0d9b3a52-77f4-4c2e-a1b0-5e6f7a8b9c0d";
/// A stand-in for the signed VIHF (its own goldens live in adapters/xmlsig).
pub const VIHF: &[u8] = b"<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_a\" IssueInstant=\"2026-03-02T08:14:05.120Z\" Version=\"2.0\"><saml:Issuer>C=FR, O=MECS Les Tilleuls</saml:Issuer></saml:Assertion>";

pub fn endpoint() -> Endpoint {
    Endpoint::parse("https://lps2.dmp.gouv.fr/si-dmp-server/v2/services").expect("endpoint")
}

fn code(system: &str, code: &str, display: &str) -> Code {
    Code {
        system: system.into(),
        code: code.into(),
        display: display.into(),
    }
}

pub fn tenant() -> Tenant {
    Tenant {
        name: "MECS Les Tilleuls".into(),
        struct_idnat: "1930004130".into(),
        source_oid: TENANT_OID.into(),
        facility_type: code(
            "1.2.250.1.71.4.2.4",
            "SA20",
            "Etablissement pour la protection de l'enfance",
        ),
        practice_setting: code("1.2.250.1.213.1.1.4.9", "ESSMS", "ESSMS"),
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

pub fn nurse() -> Author {
    Author {
        ps_idnat: "810000001023".into(),
        family_name: "LEROY".into(),
        given_name: "Sophie".into(),
        specialty: code("1.2.250.1.213.1.1.4.5", "G15_60", "Infirmier"),
        function_code: None,
    }
}

pub fn child() -> ChildContext {
    ChildContext {
        local_id: "DUI-0001".into(),
        birth_date: "2012-06-14".into(),
        ins: Some(Ins {
            matricule: INS.into(),
            oid: INS_OID.into(),
            status: InsStatus::Qualified as i32,
            birth_family_name: "DUPONT".into(),
            first_given_name: "Léa".into(),
            birth_given_names: vec!["Léa".into(), "Marie".into()],
            gender: Gender::F as i32,
            birth_date: "2012-06-14".into(),
            birthplace_insee: "93066".into(),
        }),
        ..Default::default()
    }
}

pub fn pdf(size: usize) -> Vec<u8> {
    let mut p = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut x: u32 = 1;
    while p.len() + 6 < size {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        p.push((x >> 16) as u8);
    }
    p.extend_from_slice(b"%%EOF\n");
    p
}

pub struct Fixture {
    pub doc: RenderedDocument,
    pub set: SubmissionSet,
    pub sor: String,
    pub xades: Vec<u8>,
}

/// An autorisation de soins, invisible to the representatives, with a stand-in XAdES.
pub fn fixture(pdf_bytes: &[u8]) -> Fixture {
    let tenant = tenant();
    let author = nurse();
    let child = child();
    let document = Document {
        id: "doc-1".into(),
        kind: DocumentKind::AutorisSoins as i32,
        act_date: "2026-03-01".into(),
        ..Default::default()
    };
    let ids = DocumentIds {
        unique_id: format!("{TENANT_OID}.1.1"),
        set_id: format!("{TENANT_OID}.4.1"),
        version: 1,
        replaces: None,
    };
    let profile = Profile::Dmp(DmpVisibility {
        masque_ps: false,
        invisible_patient: false,
        invisible_representants_legaux: true,
    });
    let doc = render_document(&DocumentContext {
        tenant: &tenant,
        author: &author,
        child: &child,
        document: &document,
        pdf: pdf_bytes,
        ids: &ids,
        effective_time: AT,
        local_code_system_oid: LOCAL_OID,
        profile,
    })
    .expect("render");
    let set = SubmissionSet::new(
        &tenant,
        &author,
        profile,
        &format!("{TENANT_OID}.2.1"),
        AT,
        &doc.entry,
        &[],
    )
    .expect("set");
    let xades =
        b"<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" Id=\"Sig01\"/>".to_vec();
    let sig = signature_entry(
        &doc.entry,
        &format!("{TENANT_OID}.3.1"),
        AT,
        &xades,
        doc.entry.confidentiality.clone(),
    )
    .expect("sig entry");
    let sor = submit_objects_request(
        &set,
        std::slice::from_ref(&doc.entry),
        Some(&sig),
        IdStyle::Symbolic,
    )
    .expect("sor");
    Fixture {
        doc,
        set,
        sor,
        xades,
    }
}
