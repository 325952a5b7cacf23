//! CDA R2 N1 writer ("structuration minimale", PDF in nonXMLBody), dmp.md §6.1.

use base64::Engine as _;

use crate::codes::{
    HL7_GENDER, PS_IDNAT, STRUCT_IDNAT, TEMPLATE_CI_SIS, TEMPLATE_HL7_FRANCE, TEMPLATE_XDS_SD,
};
use crate::context::DocumentContext;
use crate::header::Header;
use crate::xml::Xml;

/// Writes the CDA of a resolved header. The PDF is base64 on one line.
pub(crate) fn write_cda(ctx: &DocumentContext<'_>, h: &Header) -> Vec<u8> {
    let b64_len = ctx.pdf.len().div_ceil(3) * 4;
    let mut x = Xml::with_capacity(b64_len + 8 * 1024, true);
    x.declaration();
    x.open("ClinicalDocument", &[("xmlns", "urn:hl7-org:v3")]);
    x.empty("realmCode", &[("code", "FR")]);
    x.empty(
        "typeId",
        &[
            ("root", "2.16.840.1.113883.1.3"),
            ("extension", "POCD_HD000040"),
        ],
    );
    x.empty("templateId", &[("root", TEMPLATE_HL7_FRANCE)]);
    x.empty("templateId", &[("root", TEMPLATE_CI_SIS)]);
    x.empty("templateId", &[("root", TEMPLATE_XDS_SD)]);
    x.empty("id", &[("root", &ctx.ids.unique_id)]);
    x.open(
        "code",
        &[
            ("code", h.type_code.code),
            ("codeSystem", h.type_code.system),
            ("displayName", h.type_code.display),
        ],
    );
    x.empty(
        "translation",
        &[
            ("code", &h.local_code.code),
            ("codeSystem", &h.local_code.system),
            ("displayName", &h.local_code.display),
        ],
    );
    x.close("code");
    x.leaf("title", &[], &h.title);
    x.empty("effectiveTime", &[("value", &h.effective_time_cda)]);
    x.empty(
        "confidentialityCode",
        &[
            ("code", h.cda_confidentiality.code),
            ("codeSystem", h.cda_confidentiality.system),
            ("displayName", h.cda_confidentiality.display),
        ],
    );
    x.empty("languageCode", &[("code", "fr-FR")]);
    x.empty("setId", &[("root", &ctx.ids.set_id)]);
    let version = ctx.ids.version.to_string();
    x.empty("versionNumber", &[("value", &version)]);

    write_record_target(&mut x, ctx, h);

    // author
    let a = ctx.author;
    x.open("author", &[]);
    if let Some(f) = &a.function_code {
        x.empty(
            "functionCode",
            &[
                ("code", &f.code),
                ("codeSystem", &f.system),
                ("displayName", &f.display),
            ],
        );
    }
    x.empty("time", &[("value", &h.effective_time_cda)]);
    x.open("assignedAuthor", &[]);
    x.empty("id", &[("root", PS_IDNAT), ("extension", &a.ps_idnat)]);
    x.empty(
        "code",
        &[
            ("code", &a.specialty.code),
            ("codeSystem", &a.specialty.system),
            ("displayName", &a.specialty.display),
        ],
    );
    write_person(&mut x, "assignedPerson", &a.family_name, &a.given_name);
    write_organization(&mut x, "representedOrganization", ctx, None);
    x.close("assignedAuthor");
    x.close("author");

    // custodian = tenant
    x.open("custodian", &[]);
    x.open("assignedCustodian", &[]);
    write_organization(&mut x, "representedCustodianOrganization", ctx, None);
    x.close("assignedCustodian");
    x.close("custodian");

    // legalAuthenticator = author
    x.open("legalAuthenticator", &[]);
    x.empty("time", &[("value", &h.effective_time_cda)]);
    x.empty("signatureCode", &[("code", "S")]);
    x.open("assignedEntity", &[]);
    x.empty("id", &[("root", PS_IDNAT), ("extension", &a.ps_idnat)]);
    write_person(&mut x, "assignedPerson", &a.family_name, &a.given_name);
    x.close("assignedEntity");
    x.close("legalAuthenticator");

    // documentationOf/serviceEvent
    x.open("documentationOf", &[]);
    x.open("serviceEvent", &[]);
    x.open("effectiveTime", &[]);
    x.empty("low", &[("value", &h.service_time)]);
    x.empty("high", &[("value", &h.service_time)]);
    x.close("effectiveTime");
    x.open("performer", &[("typeCode", "PRF")]);
    x.open("assignedEntity", &[]);
    x.empty("id", &[("root", PS_IDNAT), ("extension", &a.ps_idnat)]);
    write_person(&mut x, "assignedPerson", &a.family_name, &a.given_name);
    write_organization(&mut x, "representedOrganization", ctx, Some(h));
    x.close("assignedEntity");
    x.close("performer");
    x.close("serviceEvent");
    x.close("documentationOf");

    if let Some(r) = &ctx.ids.replaces {
        x.open("relatedDocument", &[("typeCode", "RPLC")]);
        x.open("parentDocument", &[]);
        x.empty("id", &[("root", &r.unique_id)]);
        x.close("parentDocument");
        x.close("relatedDocument");
    }

    x.open("componentOf", &[]);
    x.open("encompassingEncounter", &[]);
    x.open("effectiveTime", &[]);
    x.empty("low", &[("value", &h.service_time)]);
    x.close("effectiveTime");
    x.open("location", &[]);
    x.open("healthCareFacility", &[]);
    x.empty(
        "code",
        &[
            ("code", &h.facility_type.code),
            ("codeSystem", &h.facility_type.system),
            ("displayName", &h.facility_type.display),
        ],
    );
    x.close("healthCareFacility");
    x.close("location");
    x.close("encompassingEncounter");
    x.close("componentOf");

    x.open("component", &[]);
    x.open("nonXMLBody", &[]);
    x.leaf_raw_start(
        "text",
        &[("mediaType", "application/pdf"), ("representation", "B64")],
    );
    base64::engine::general_purpose::STANDARD.encode_string(ctx.pdf, x.buf_mut());
    x.raw_end("text");
    x.close("nonXMLBody");
    x.close("component");
    x.close("ClinicalDocument");
    x.finish().into_bytes()
}

fn write_record_target(x: &mut Xml, ctx: &DocumentContext<'_>, h: &Header) {
    let p = &h.patient;
    x.open("recordTarget", &[]);
    x.open("patientRole", &[]);
    if let Some((root, m)) = &p.ins {
        x.empty("id", &[("root", root), ("extension", m)]);
    }
    if let Some(l) = &p.local_id {
        x.empty("id", &[("root", &ctx.tenant.source_oid), ("extension", l)]);
    }
    x.open("patient", &[("classCode", "PSN")]);
    x.open("name", &[]);
    x.leaf("family", &[("qualifier", "BR")], &p.birth_family_name);
    x.leaf("given", &[("qualifier", "BR")], &p.first_given_name);
    x.leaf("given", &[], &p.birth_given_names);
    x.close("name");
    x.empty(
        "administrativeGenderCode",
        &[("code", p.gender), ("codeSystem", HL7_GENDER)],
    );
    x.empty("birthTime", &[("value", &p.birth_date)]);
    if !p.birthplace.is_empty() {
        x.open("birthplace", &[]);
        x.open("place", &[]);
        x.open("addr", &[]);
        x.leaf("county", &[], &p.birthplace);
        x.close("addr");
        x.close("place");
        x.close("birthplace");
    }
    x.close("patient");
    x.close("patientRole");
    x.close("recordTarget");
}

fn write_person(x: &mut Xml, tag: &str, family: &str, given: &str) {
    x.open(tag, &[]);
    x.open("name", &[]);
    if !given.trim().is_empty() {
        x.leaf("given", &[], given.trim());
    }
    x.leaf("family", &[], family.trim());
    x.close("name");
    x.close(tag);
}

/// The tenant structure; the performer's carries the practice setting instead of contacts.
fn write_organization(x: &mut Xml, tag: &str, ctx: &DocumentContext<'_>, h: Option<&Header>) {
    let t = ctx.tenant;
    x.open(tag, &[]);
    x.empty(
        "id",
        &[("root", STRUCT_IDNAT), ("extension", &t.struct_idnat)],
    );
    x.leaf("name", &[], &t.name);
    match h {
        Some(h) => {
            x.empty(
                "standardIndustryClassCode",
                &[
                    ("code", &h.practice_setting.code),
                    ("codeSystem", &h.practice_setting.system),
                    ("displayName", &h.practice_setting.display),
                ],
            );
        }
        None => {
            if !t.phone.trim().is_empty() {
                let tel = format!("tel:{}", t.phone.replace(' ', ""));
                x.empty("telecom", &[("value", &tel), ("use", "WP")]);
            }
            if let Some(addr) = &t.address {
                x.open("addr", &[]);
                // Structured form (CI-SIS warns when streetAddressLine is mixed with parts).
                x.leaf("streetName", &[], &addr.street);
                x.leaf("postalCode", &[], &addr.postal_code);
                x.leaf("city", &[], &addr.city);
                x.close("addr");
            }
        }
    }
    x.close(tag);
}
