//! The VIHF: a SAML 2.0 assertion signed in process (dmp.md §2), and its verifier for the DMP
//! simulator.
//!
//! The assertion is emitted directly in its exclusive-canonical form (sorted attributes, namespace
//! declarations where exc-c14n renders them, no self-closing tags, no whitespace between elements),
//! so its digest is the SHA-256 of the bytes we wrote minus the signature, and SignedInfo is signed
//! as written. `verify` recomputes both over the parsed tree with this crate's c14n, and the tests
//! check the bytes with xmlsec1.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::rand::SecureRandom;
use roxmltree::Node;
use time::OffsetDateTime;

use crate::c14n::{as_text, parse};
use crate::cert::TrustAnchors;
use crate::dsig::{
    DS_NS, ENVELOPED, EXC_C14N, Policy, RSA_SHA256, SHA256, check_signature_value, digest_matches,
    element_children, find_by_id, is, parse_signature, reference_digest,
};
use crate::error::{XmlSigError, input, structure};
use crate::signer::Signer;
use crate::write::{attr, ncname, raw, required, text, utc_millis};

/// SAML 2.0 assertion namespace.
pub const SAML_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
/// XML Schema instance namespace (`xsi:type="CE"`).
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// HL7 v3 namespace of the coded attribute values.
pub const HL7_NS: &str = "urn:hl7-org:v3";
/// InclusiveNamespaces PrefixList of the VIHF reference (dmp.md §2.4).
pub const VIHF_PREFIX_LIST: &str = "ds saml #default xsi";

/// Attribute names of dmp.md §2.2.
pub mod names {
    /// `VIHF_Version`
    pub const VIHF_VERSION: &str = "VIHF_Version";
    /// `Authentification_Mode`
    pub const AUTHENTIFICATION_MODE: &str = "Authentification_Mode";
    /// `Identifiant_Structure`
    pub const IDENTIFIANT_STRUCTURE: &str = "Identifiant_Structure";
    /// `Secteur_Activite`
    pub const SECTEUR_ACTIVITE: &str = "Secteur_Activite";
    /// subject-id
    pub const SUBJECT_ID: &str = "urn:oasis:names:tc:xspa:1.0:subject:subject-id";
    /// role
    pub const ROLE: &str = "urn:oasis:names:tc:xacml:2.0:subject:role";
    /// resource-id (the INS as CX)
    pub const RESOURCE_ID: &str = "urn:oasis:names:tc:xacml:2.0:resource:resource-id";
    /// `Ressource_URN`
    pub const RESSOURCE_URN: &str = "Ressource_URN";
    /// purposeofuse
    pub const PURPOSE_OF_USE: &str = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse";
    /// confidentiality-code (secret connection only)
    pub const CONFIDENTIALITY_CODE: &str =
        "urn:oasis:names:tc:xspa:1.0:resource:patient:hl7:confidentiality-code";
    /// `LPS_ID`
    pub const LPS_ID: &str = "LPS_ID";
    /// `LPS_Nom`
    pub const LPS_NOM: &str = "LPS_Nom";
    /// `LPS_Version`
    pub const LPS_VERSION: &str = "LPS_Version";
    /// `LPS_ID_HOMOLOGATION_DMP`
    pub const LPS_HOMOLOGATION: &str = "LPS_ID_HOMOLOGATION_DMP";
}

/// OID appended to the Secteur_Activite code (dmp.md §2.2).
pub const SECTEUR_ACTIVITE_OID: &str = "1.2.250.1.71.4.2.4";

/// An HL7 CE value (`Role`, `PurposeOfUse`, `ConfidentialityCode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    /// `code`
    pub code: String,
    /// `codeSystem` (OID)
    pub code_system: String,
    /// `displayName`
    pub display_name: String,
    /// `codeSystemName`, written only when present
    pub code_system_name: Option<String>,
}

impl Code {
    /// A code without codeSystemName.
    pub fn new(code: &str, code_system: &str, display_name: &str) -> Self {
        Code {
            code: code.to_string(),
            code_system: code_system.to_string(),
            display_name: display_name.to_string(),
            code_system_name: None,
        }
    }

    /// TRE_A00 `AUTOMATE`, role of the automate profile (dmp.md §2.3).
    pub fn role_automate() -> Self {
        Code::new("AUTOMATE", "1.2.250.1.213.1.1.4.6", "Automate")
    }

    /// TRE_R248 `normal` as in the MAP example.
    pub fn purpose_normal() -> Self {
        Code {
            code_system_name: Some("mode acces VIHF 1.0".to_string()),
            ..Code::new("normal", "1.2.250.1.213.1.1.4.248", "Accès normal")
        }
    }

    /// JDV_J64 `INVISIBLE_REPRESENTANTS_LEGAUX` (secret connection).
    pub fn invisible_representants_legaux() -> Self {
        Code::new(
            "INVISIBLE_REPRESENTANTS_LEGAUX",
            "1.2.250.1.213.1.1.4.13",
            "Non visible par les représentants légaux du patient",
        )
    }
}

/// Everything a VIHF says; the Issuer comes from the signer's certificate.
#[derive(Debug, Clone)]
pub struct VihfInput {
    /// Assertion `ID`: `_` + UUID (an NCName).
    pub id: String,
    /// IssueInstant = AuthnInstant = send time (converted to UTC, milliseconds kept).
    pub issue_instant: OffsetDateTime,
    /// `saml:NameID`: the person responsible for the processing, as PS_IdNat.
    pub subject_name_id: String,
    /// `Identifiant_Structure`: Struct_IdNat.
    pub structure_id: String,
    /// `Secteur_Activite` code (JDV_J61); written `{code}^1.2.250.1.71.4.2.4`.
    pub secteur_activite: String,
    /// subject-id, automated form "software, model, service".
    pub subject_id: String,
    /// 1 to 4 `Role` codes (JDV_J65).
    pub roles: Vec<Code>,
    /// The child's INS (15 characters).
    pub ins: String,
    /// The INS OID (`1.2.250.1.213.1.4.8` NIR, `.9` NIA, `.10` test, `.11` demo).
    pub ins_oid: String,
    /// PurposeOfUse (TRE_R248), normally [`Code::purpose_normal`].
    pub purpose: Code,
    /// Confidentiality code, only for a secret connection.
    pub confidentiality_code: Option<Code>,
    /// `LPS_ID` (optional installation id).
    pub lps_id: Option<String>,
    /// `LPS_Nom`
    pub lps_nom: String,
    /// `LPS_Version`
    pub lps_version: String,
    /// `LPS_ID_HOMOLOGATION_DMP` (secret: never log the input).
    pub lps_homologation: String,
    /// `VIHF_Version`, default `3.0`.
    pub vihf_version: String,
    /// `Authentification_Mode`, `INDIRECTE`.
    pub authentification_mode: String,
}

/// The INS as HL7 CX: `{INS}^^^&{OID}&ISO^NH`.
pub fn ins_cx(ins: &str, oid: &str) -> String {
    format!("{ins}^^^&{oid}&ISO^NH")
}

fn check_code(field: &'static str, c: &Code) -> Result<(), XmlSigError> {
    required(field, &c.code)?;
    required(field, &c.code_system)?;
    required(field, &c.display_name)?;
    if let Some(n) = &c.code_system_name {
        required(field, n)?;
    }
    Ok(())
}

fn validate(v: &VihfInput) -> Result<(), XmlSigError> {
    ncname("id", &v.id)?;
    for (field, s) in [
        ("subject_name_id", &v.subject_name_id),
        ("structure_id", &v.structure_id),
        ("secteur_activite", &v.secteur_activite),
        ("subject_id", &v.subject_id),
        ("ins", &v.ins),
        ("ins_oid", &v.ins_oid),
        ("lps_nom", &v.lps_nom),
        ("lps_version", &v.lps_version),
        ("lps_homologation", &v.lps_homologation),
        ("vihf_version", &v.vihf_version),
        ("authentification_mode", &v.authentification_mode),
    ] {
        required(field, s)?;
    }
    if let Some(id) = &v.lps_id {
        required("lps_id", id)?;
    }
    // CX component separators inside a component would change the identifier's meaning.
    if v.ins.contains(['^', '&', '~', '\\']) || v.ins_oid.contains(['^', '&', '~', '\\']) {
        return Err(input("ins", "contains an HL7 separator"));
    }
    if v.secteur_activite.contains('^') {
        return Err(input("secteur_activite", "contains an HL7 separator"));
    }
    if v.roles.is_empty() || v.roles.len() > 4 {
        return Err(input("roles", "must hold 1 to 4 codes"));
    }
    for r in &v.roles {
        check_code("roles", r)?;
    }
    check_code("purpose", &v.purpose)?;
    if let Some(c) = &v.confidentiality_code {
        check_code("confidentiality_code", c)?;
    }
    Ok(())
}

fn text_attribute(
    out: &mut Vec<u8>,
    name: &str,
    field: &'static str,
    value: &str,
) -> Result<(), XmlSigError> {
    raw(out, "<saml:Attribute");
    attr(out, "Name", field, name)?;
    raw(out, "><saml:AttributeValue>");
    text(out, field, value)?;
    raw(out, "</saml:AttributeValue></saml:Attribute>");
    Ok(())
}

/// `<{element} xmlns="urn:hl7-org:v3" code codeSystem [codeSystemName] displayName xsi:type="CE">`
/// (unqualified attributes sorted, the namespaced one last, as c14n orders them).
fn coded_value(
    out: &mut Vec<u8>,
    element: &str,
    field: &'static str,
    c: &Code,
) -> Result<(), XmlSigError> {
    raw(out, "<saml:AttributeValue><");
    raw(out, element);
    raw(out, " xmlns=\"urn:hl7-org:v3\"");
    attr(out, "code", field, &c.code)?;
    attr(out, "codeSystem", field, &c.code_system)?;
    if let Some(n) = &c.code_system_name {
        attr(out, "codeSystemName", field, n)?;
    }
    attr(out, "displayName", field, &c.display_name)?;
    raw(out, " xsi:type=\"CE\"></");
    raw(out, element);
    raw(out, "></saml:AttributeValue>");
    Ok(())
}

fn coded_attribute(
    out: &mut Vec<u8>,
    name: &str,
    element: &str,
    field: &'static str,
    codes: &[&Code],
) -> Result<(), XmlSigError> {
    raw(out, "<saml:Attribute");
    attr(out, "Name", field, name)?;
    raw(out, ">");
    for c in codes {
        coded_value(out, element, field, c)?;
    }
    raw(out, "</saml:Attribute>");
    Ok(())
}

/// The assertion without its signature, split where ds:Signature goes (after saml:Issuer).
fn build_parts(v: &VihfInput, issuer_dn: &str) -> Result<(Vec<u8>, Vec<u8>), XmlSigError> {
    validate(v)?;
    let instant = utc_millis("issue_instant", v.issue_instant)?;
    let mut head = Vec::with_capacity(512);
    raw(
        &mut head,
        "<saml:Assertion xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" \
         xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"",
    );
    attr(&mut head, "ID", "id", &v.id)?;
    attr(&mut head, "IssueInstant", "issue_instant", &instant)?;
    raw(
        &mut head,
        " Version=\"2.0\"><saml:Issuer Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName\">",
    );
    text(&mut head, "issuer", issuer_dn)?;
    raw(&mut head, "</saml:Issuer>");

    let mut t = Vec::with_capacity(3072);
    raw(&mut t, "<saml:Subject><saml:NameID>");
    text(&mut t, "subject_name_id", &v.subject_name_id)?;
    raw(&mut t, "</saml:NameID></saml:Subject><saml:AuthnStatement");
    attr(&mut t, "AuthnInstant", "issue_instant", &instant)?;
    raw(
        &mut t,
        "><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified\
         </saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement>",
    );
    use names::*;
    text_attribute(&mut t, VIHF_VERSION, "vihf_version", &v.vihf_version)?;
    text_attribute(
        &mut t,
        AUTHENTIFICATION_MODE,
        "authentification_mode",
        &v.authentification_mode,
    )?;
    text_attribute(
        &mut t,
        IDENTIFIANT_STRUCTURE,
        "structure_id",
        &v.structure_id,
    )?;
    text_attribute(
        &mut t,
        SECTEUR_ACTIVITE,
        "secteur_activite",
        &format!("{}^{SECTEUR_ACTIVITE_OID}", v.secteur_activite),
    )?;
    text_attribute(&mut t, SUBJECT_ID, "subject_id", &v.subject_id)?;
    let roles: Vec<&Code> = v.roles.iter().collect();
    coded_attribute(&mut t, ROLE, "Role", "roles", &roles)?;
    text_attribute(&mut t, RESOURCE_ID, "ins", &ins_cx(&v.ins, &v.ins_oid))?;
    text_attribute(&mut t, RESSOURCE_URN, "ressource_urn", "urn:dmp")?;
    coded_attribute(
        &mut t,
        PURPOSE_OF_USE,
        "PurposeOfUse",
        "purpose",
        &[&v.purpose],
    )?;
    if let Some(c) = &v.confidentiality_code {
        coded_attribute(
            &mut t,
            CONFIDENTIALITY_CODE,
            "ConfidentialityCode",
            "confidentiality_code",
            &[c],
        )?;
    }
    if let Some(id) = &v.lps_id {
        text_attribute(&mut t, LPS_ID, "lps_id", id)?;
    }
    text_attribute(&mut t, LPS_NOM, "lps_nom", &v.lps_nom)?;
    text_attribute(&mut t, LPS_VERSION, "lps_version", &v.lps_version)?;
    text_attribute(
        &mut t,
        LPS_HOMOLOGATION,
        "lps_homologation",
        &v.lps_homologation,
    )?;
    raw(&mut t, "</saml:AttributeStatement></saml:Assertion>");
    Ok((head, t))
}

/// The unsigned assertion (canonical form), for inspection and golden tests.
pub fn build_unsigned(v: &VihfInput, signer: &Signer) -> Result<Vec<u8>, XmlSigError> {
    let (mut head, tail) = build_parts(v, signer.subject_dn())?;
    head.extend_from_slice(&tail);
    Ok(head)
}

/// Builds and signs the VIHF; returns the bytes to paste verbatim into `wsse:Security` (no XML
/// declaration, no whitespace between elements).
pub fn build_and_sign(
    v: &VihfInput,
    signer: &Signer,
    rng: &dyn SecureRandom,
) -> Result<Vec<u8>, XmlSigError> {
    let (head, tail) = build_parts(v, signer.subject_dn())?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&head);
    ctx.update(&tail);
    let digest = B64.encode(ctx.finish());

    // SignedInfo after its start tag; canonically the apex renders xmlns:ds.
    let mut body = Vec::with_capacity(1024);
    raw(&mut body, "<ds:CanonicalizationMethod Algorithm=\"");
    raw(&mut body, EXC_C14N);
    raw(
        &mut body,
        "\"></ds:CanonicalizationMethod><ds:SignatureMethod Algorithm=\"",
    );
    raw(&mut body, RSA_SHA256);
    raw(&mut body, "\"></ds:SignatureMethod><ds:Reference");
    attr(&mut body, "URI", "id", &format!("#{}", v.id))?;
    raw(&mut body, "><ds:Transforms><ds:Transform Algorithm=\"");
    raw(&mut body, ENVELOPED);
    raw(&mut body, "\"></ds:Transform><ds:Transform Algorithm=\"");
    raw(&mut body, EXC_C14N);
    raw(&mut body, "\"><InclusiveNamespaces xmlns=\"");
    raw(&mut body, EXC_C14N);
    raw(&mut body, "\" PrefixList=\"");
    raw(&mut body, VIHF_PREFIX_LIST);
    raw(
        &mut body,
        "\"></InclusiveNamespaces></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm=\"",
    );
    raw(&mut body, SHA256);
    raw(&mut body, "\"></ds:DigestMethod><ds:DigestValue>");
    raw(&mut body, &digest);
    raw(
        &mut body,
        "</ds:DigestValue></ds:Reference></ds:SignedInfo>",
    );

    let mut canonical_si = Vec::with_capacity(body.len() + 64);
    raw(&mut canonical_si, "<ds:SignedInfo xmlns:ds=\"");
    raw(&mut canonical_si, DS_NS);
    raw(&mut canonical_si, "\">");
    canonical_si.extend_from_slice(&body);
    let sig = signer.sign(rng, &canonical_si)?;

    let cert_b64 = &signer.cert().b64;
    let mut out = Vec::with_capacity(head.len() + tail.len() + body.len() + cert_b64.len() + 700);
    out.extend_from_slice(&head);
    raw(&mut out, "<ds:Signature><ds:SignedInfo>");
    out.extend_from_slice(&body);
    raw(&mut out, "<ds:SignatureValue>");
    raw(&mut out, &B64.encode(sig));
    raw(
        &mut out,
        "</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>",
    );
    raw(&mut out, cert_b64);
    raw(
        &mut out,
        "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>",
    );
    out.extend_from_slice(&tail);
    Ok(out)
}

/// One coded or text attribute value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    /// Text content.
    Text(String),
    /// An HL7 CE element (`Role`, `PurposeOfUse`, …) with its local name.
    Coded {
        /// element local name
        element: String,
        /// the code
        code: Code,
    },
}

/// One `saml:Attribute`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlAttribute {
    /// `Name`
    pub name: String,
    /// values in document order
    pub values: Vec<AttributeValue>,
}

/// What a verified VIHF says. Everything here was covered by the verified digest.
#[derive(Debug, Clone)]
pub struct VerifiedAssertion {
    /// `ID`
    pub id: String,
    /// `IssueInstant` as written
    pub issue_instant: String,
    /// `saml:Issuer`
    pub issuer: String,
    /// `saml:Subject/saml:NameID`
    pub subject_name_id: String,
    /// `AuthnStatement/@AuthnInstant`, if any
    pub authn_instant: Option<String>,
    /// the attribute statement, in order
    pub attributes: Vec<SamlAttribute>,
    /// KeyInfo certificate (DER)
    pub certificate_der: Vec<u8>,
    /// its validity window, for the caller's clock
    pub certificate_not_before: OffsetDateTime,
    /// its validity window, for the caller's clock
    pub certificate_not_after: OffsetDateTime,
    /// `Issuer` equals the KeyInfo certificate's subject in the VIHF form
    pub issuer_matches_certificate: bool,
}

impl VerifiedAssertion {
    /// `IssueInstant` parsed (xsd:dateTime with a zone), for the caller's freshness window.
    pub fn issue_instant_time(&self) -> Result<OffsetDateTime, XmlSigError> {
        OffsetDateTime::parse(
            &self.issue_instant,
            &time::format_description::well_known::Rfc3339,
        )
        .map_err(|_| {
            structure(
                "saml:Assertion",
                "IssueInstant is not an RFC 3339 date-time",
            )
        })
    }

    /// Whether the KeyInfo certificate is within its validity window at `at`.
    pub fn certificate_valid_at(&self, at: OffsetDateTime) -> bool {
        self.certificate_not_before <= at && at <= self.certificate_not_after
    }

    /// The values of the attribute called `name` (empty if absent).
    pub fn values(&self, name: &str) -> Vec<&AttributeValue> {
        self.attributes
            .iter()
            .filter(|a| a.name == name)
            .flat_map(|a| a.values.iter())
            .collect()
    }

    /// The first text value of `name`.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.values(name).into_iter().find_map(|v| match v {
            AttributeValue::Text(t) => Some(t.as_str()),
            AttributeValue::Coded { .. } => None,
        })
    }

    /// The coded values of `name`.
    pub fn codes(&self, name: &str) -> Vec<&Code> {
        self.values(name)
            .into_iter()
            .filter_map(|v| match v {
                AttributeValue::Coded { code, .. } => Some(code),
                AttributeValue::Text(_) => None,
            })
            .collect()
    }

    /// The INS and its OID from the resource-id CX, if it has the `{INS}^^^&{OID}&ISO^NH` shape.
    pub fn ins(&self) -> Option<(&str, &str)> {
        let cx = self.text(names::RESOURCE_ID)?;
        let (ins, rest) = cx.split_once("^^^&")?;
        let oid = rest.strip_suffix("&ISO^NH")?;
        Some((ins, oid))
    }
}

/// All text below `node`, concatenated (comments split text nodes: reading only the first one is
/// the classic SAML truncation bug).
fn all_text(node: Node<'_, '_>) -> String {
    node.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect()
}

/// Verifies a VIHF alone or inside a SOAP envelope (exactly one saml:Assertion in the document),
/// with this crate's exc-c14n, and returns what it says.
pub fn verify(xml: &[u8], trust: &TrustAnchors) -> Result<VerifiedAssertion, XmlSigError> {
    const A: &str = "saml:Assertion";
    let doc = parse(as_text(xml)?, false)?;
    let mut assertions = doc.descendants().filter(|n| is(*n, SAML_NS, "Assertion"));
    let assertion = assertions.next().ok_or(structure(A, "not found"))?;
    if assertions.next().is_some() {
        return Err(structure(A, "more than one in the document"));
    }
    if assertion.attribute("Version") != Some("2.0") {
        return Err(structure(A, "Version is not 2.0"));
    }
    let id = assertion
        .attribute("ID")
        .ok_or(structure(A, "missing ID"))?;
    let kids = element_children(assertion, A)?;
    let [issuer, sig_node, rest @ ..] = kids.as_slice() else {
        return Err(structure(A, "expected Issuer then Signature"));
    };
    if !is(*issuer, SAML_NS, "Issuer") || !is(*sig_node, DS_NS, "Signature") {
        return Err(structure(A, "expected Issuer then Signature"));
    }
    let sig = parse_signature(*sig_node, Policy::Strict)?;
    let [reference] = sig.references.as_slice() else {
        return Err(structure("ds:SignedInfo", "expected exactly one Reference"));
    };
    if reference.uri.strip_prefix('#') != Some(id) || !reference.enveloped {
        return Err(structure(
            "ds:Reference",
            "must be an enveloped reference to the assertion ID",
        ));
    }
    let target = find_by_id(&doc, "ID", id)?;
    if target.id() != assertion.id() {
        return Err(structure("ds:Reference", "target is not the assertion"));
    }
    let digest = reference_digest(assertion, reference, *sig_node)?;
    if !digest_matches(&reference.digest_value, &digest) {
        return Err(XmlSigError::DigestMismatch {
            reference: "assertion",
        });
    }
    check_signature_value(&sig, trust)?;

    let mut subject_name_id = None;
    let mut authn_instant = None;
    let mut attributes = Vec::new();
    for n in rest {
        if is(*n, SAML_NS, "Subject") {
            subject_name_id = n
                .children()
                .find(|c| is(*c, SAML_NS, "NameID"))
                .map(all_text);
        } else if is(*n, SAML_NS, "AuthnStatement") {
            authn_instant = n.attribute("AuthnInstant").map(str::to_string);
        } else if is(*n, SAML_NS, "AttributeStatement") {
            for a in n.children().filter(|c| is(*c, SAML_NS, "Attribute")) {
                let name = a
                    .attribute("Name")
                    .ok_or(structure("saml:Attribute", "missing Name"))?;
                let mut values = Vec::new();
                for val in a.children().filter(|c| is(*c, SAML_NS, "AttributeValue")) {
                    let coded = val.children().find(|c| c.is_element());
                    values.push(match coded {
                        Some(e) => AttributeValue::Coded {
                            element: e.tag_name().name().to_string(),
                            code: Code {
                                code: e.attribute("code").unwrap_or("").to_string(),
                                code_system: e.attribute("codeSystem").unwrap_or("").to_string(),
                                display_name: e.attribute("displayName").unwrap_or("").to_string(),
                                code_system_name: e.attribute("codeSystemName").map(str::to_string),
                            },
                        },
                        None => AttributeValue::Text(all_text(val)),
                    });
                }
                attributes.push(SamlAttribute {
                    name: name.to_string(),
                    values,
                });
            }
        }
    }
    let issuer = all_text(*issuer);
    Ok(VerifiedAssertion {
        id: id.to_string(),
        issue_instant: assertion
            .attribute("IssueInstant")
            .ok_or(structure(A, "missing IssueInstant"))?
            .to_string(),
        issuer_matches_certificate: issuer == sig.cert.subject_cert_order,
        issuer,
        subject_name_id: subject_name_id.ok_or(structure("saml:Subject", "missing NameID"))?,
        authn_instant,
        attributes,
        certificate_der: sig.cert.der.clone(),
        certificate_not_before: sig.cert.not_before,
        certificate_not_after: sig.cert.not_after,
    })
}
