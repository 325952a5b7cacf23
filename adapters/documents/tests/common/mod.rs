//! Sandbox fixtures (docs/sandbox.md): MECS Les Tilleuls, Léa DUPONT, fixed time and ids.
#![allow(dead_code)]

use passerelle_api::v1::{ChildContext, Code, Document, DocumentKind, Gender, Ins, InsStatus};
use passerelle_documents::catalogue::{CATALOGUE, Domain, KindChannels, KindInfo};
use passerelle_documents::{
    Address, Author, DmpVisibility, DocumentContext, DocumentIds, Profile, RenderedDocument,
    SubmissionSet, Tenant, XdmSender, render_document,
};
use time::OffsetDateTime;
use time::macros::datetime;

pub const LOCAL_OID: &str = "2.25.110655330960302366384958546216414424865";
pub const TENANT_OID: &str = "2.25.216227385930218546497123585302587541009";

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
        phone: "01 48 00 00 00".into(),
        address: Some(Address {
            street: "12 rue des Tilleuls".into(),
            postal_code: "93200".into(),
            city: "Saint-Denis".into(),
        }),
    }
}

pub fn code(system: &str, code: &str, display: &str) -> Code {
    Code {
        system: system.into(),
        code: code.into(),
        display: display.into(),
    }
}

/// Karim Haddad, éducateur spécialisé (R85 326): social documents.
pub fn educator() -> Author {
    Author {
        ps_idnat: "810000001056".into(),
        family_name: "HADDAD".into(),
        given_name: "Karim".into(),
        specialty: code("1.2.250.1.213.1.6.1.107", "326", "Educateur spécialisé"),
        function_code: None,
    }
}

/// Sophie Leroy, infirmière (G15 60 → TRE_A02 G15_60): health documents.
pub fn nurse() -> Author {
    Author {
        ps_idnat: "810000001023".into(),
        family_name: "LEROY".into(),
        given_name: "Sophie".into(),
        specialty: code("1.2.250.1.213.1.1.4.5", "G15_60", "Infirmier"),
        function_code: None,
    }
}

pub fn author_for(info: &KindInfo) -> Author {
    match info.domain {
        Domain::Social => educator(),
        Domain::Health => nurse(),
    }
}

pub fn child() -> ChildContext {
    ChildContext {
        local_id: "DUI-0001".into(),
        birth_date: "2012-06-14".into(),
        ins: Some(Ins {
            matricule: "212069306600157".into(),
            oid: "1.2.250.1.213.1.4.10".into(),
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

pub fn other_child() -> ChildContext {
    ChildContext {
        local_id: "DUI-0002".into(),
        birth_date: "2011-02-03".into(),
        ins: Some(Ins {
            matricule: "111029306600291".into(),
            oid: "1.2.250.1.213.1.4.10".into(),
            status: InsStatus::Qualified as i32,
            birth_family_name: "DURAND".into(),
            first_given_name: "Noah".into(),
            birth_given_names: vec!["Noah".into()],
            gender: Gender::M as i32,
            birth_date: "2011-02-03".into(),
            birthplace_insee: "93066".into(),
        }),
        ..Default::default()
    }
}

pub fn document(kind: DocumentKind) -> Document {
    Document {
        id: format!("doc-{}", kind.as_str_name()),
        kind: kind as i32,
        act_date: "2026-03-01".into(),
        ..Default::default()
    }
}

pub const EFFECTIVE: OffsetDateTime = datetime!(2026-03-02 09:14:05 +01:00);
pub const SUBMITTED: OffsetDateTime = datetime!(2026-03-02 09:15:00 +01:00);

pub fn ids(n: u32) -> DocumentIds {
    DocumentIds {
        unique_id: format!("{TENANT_OID}.1.{n}"),
        set_id: format!("{TENANT_OID}.4.{n}"),
        version: 1,
        replaces: None,
    }
}

/// A minimal valid PDF (xref offsets computed), tagged so documents differ.
pub fn tiny_pdf(tag: &str) -> Vec<u8> {
    let objs = [
        "<</Type/Catalog/Pages 2 0 R>>".to_string(),
        "<</Type/Pages/Kids[3 0 R]/Count 1>>".to_string(),
        format!("<</Type/Page/Parent 2 0 R/MediaBox[0 0 10 10]/PasserelleTag({tag})>>"),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{}\nendobj\n", i + 1, o).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(b"xref\n0 4\n0000000000 65535 f \n");
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<</Size 4/Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n").as_bytes(),
    );
    out
}

/// Kinds that can be rendered at all (they have a gateway channel).
pub fn renderable() -> impl Iterator<Item = &'static KindInfo> {
    CATALOGUE
        .iter()
        .filter(|k| k.channels != KindChannels::None)
}

/// Kinds that may go to the DMP.
pub fn dmp_kinds() -> impl Iterator<Item = &'static KindInfo> {
    CATALOGUE
        .iter()
        .filter(|k| k.channels == KindChannels::MssDmp)
}

pub struct Owned {
    pub tenant: Tenant,
    pub author: Author,
    pub child: ChildContext,
    pub document: Document,
    pub pdf: Vec<u8>,
    pub ids: DocumentIds,
}

impl Owned {
    pub fn new(kind: DocumentKind, n: u32) -> Self {
        let info = passerelle_documents::catalogue::kind_info(kind).expect("kind");
        Owned {
            tenant: tenant(),
            author: author_for(info),
            child: child(),
            document: document(kind),
            pdf: tiny_pdf(info.local_code),
            ids: ids(n),
        }
    }

    pub fn ctx(&self, profile: Profile) -> DocumentContext<'_> {
        DocumentContext {
            tenant: &self.tenant,
            author: &self.author,
            child: &self.child,
            document: &self.document,
            pdf: &self.pdf,
            ids: &self.ids,
            effective_time: EFFECTIVE,
            local_code_system_oid: LOCAL_OID,
            profile,
        }
    }

    pub fn render(&self, profile: Profile) -> RenderedDocument {
        render_document(&self.ctx(profile)).expect("render")
    }
}

pub fn dmp_profile() -> Profile {
    Profile::Dmp(DmpVisibility {
        masque_ps: false,
        invisible_patient: false,
        invisible_representants_legaux: true,
    })
}

pub fn mss_set(first: &RenderedDocument, n: u32) -> SubmissionSet {
    SubmissionSet::new(
        &tenant(),
        &educator(),
        Profile::Mssante,
        &format!("{TENANT_OID}.2.{n}"),
        SUBMITTED,
        &first.entry,
        &["crip@cd93.mssante.test"],
    )
    .expect("submission set")
}

pub fn sender(tenant: &Tenant) -> XdmSender<'_> {
    XdmSender {
        tenant,
        application: "Passerelle",
        version: "0.1.0",
        editor: "Passerelle (tests)",
    }
}
