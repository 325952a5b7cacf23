//! The few CDA header facts the X-MSS headers need, read from the packed CDA bytes (never from
//! caller input, mssante.md §3.2): `ClinicalDocument/code/@code` and whether a qualified INS is
//! present in `recordTarget`.

use roxmltree::Node;

use crate::Error;

const HL7: &str = "urn:hl7-org:v3";
/// INS-NIR (production).
pub const OID_INS_NIR: &str = "1.2.250.1.213.1.4.8";
/// INS-NIA: provisional number, never announced as a qualified INS (DESIGN, OPEN §9.5).
pub const OID_INS_NIA: &str = "1.2.250.1.213.1.4.9";
/// Test and demonstration INS-NIR.
pub const OID_INS_TEST: [&str; 2] = ["1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11"];

/// Production refuses test INS OIDs; test environments announce them like real ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Production,
    Test,
}

/// How the patient is identified in one CDA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsKind {
    /// INS-NIR (or test NIR in a test environment) with the four traits: `X-MSS-INS: O`.
    Qualified,
    /// NIA, missing traits, or only a local id: `X-MSS-INS: N`.
    NotQualified,
}

/// What the X-MSS headers need from one CDA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdaFacts {
    pub code: String,
    pub ins: InsKind,
}

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.has_tag_name((HL7, name)))
}

/// Reads `cda` (the bytes as packed in the XDM). `index` names the document in errors.
pub fn read_facts(index: usize, cda: &[u8], env: Environment) -> Result<CdaFacts, Error> {
    let err = |reason| Error::Cda { index, reason };
    let text = std::str::from_utf8(cda).map_err(|_| err("not UTF-8"))?;
    // roxmltree refuses DTDs by default: no entity expansion.
    let doc = roxmltree::Document::parse(text).map_err(|_| err("not well-formed XML"))?;
    let root = doc.root_element();
    if !root.has_tag_name((HL7, "ClinicalDocument")) {
        return Err(err("root is not hl7:ClinicalDocument"));
    }
    let code = child(root, "code")
        .and_then(|c| c.attribute("code"))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or(err("missing ClinicalDocument/code/@code"))?;
    if !code
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
    {
        return Err(err("code/@code has characters unfit for a header"));
    }

    let mut ins = InsKind::NotQualified;
    for rt in root
        .children()
        .filter(|c| c.is_element() && c.has_tag_name((HL7, "recordTarget")))
    {
        let Some(role) = child(rt, "patientRole") else {
            continue;
        };
        let patient = child(role, "patient");
        let traits = patient.is_some_and(|p| {
            let name = child(p, "name");
            let has = |n: Option<Node<'_, '_>>, tag: &str| {
                n.and_then(|n| child(n, tag))
                    .and_then(|e| e.text())
                    .is_some_and(|t| !t.trim().is_empty())
            };
            has(name, "family")
                && has(name, "given")
                && child(p, "birthTime")
                    .and_then(|b| b.attribute("value"))
                    .is_some()
                && child(p, "administrativeGenderCode")
                    .and_then(|g| g.attribute("code"))
                    .is_some()
        });
        for id in role
            .children()
            .filter(|c| c.is_element() && c.has_tag_name((HL7, "id")))
        {
            let root_oid = id.attribute("root").unwrap_or("");
            let has_ext = id
                .attribute("extension")
                .is_some_and(|e| !e.trim().is_empty());
            let qualified_oid = if root_oid == OID_INS_NIR {
                true
            } else if OID_INS_TEST.contains(&root_oid) {
                if env == Environment::Production {
                    return Err(err("test INS OID in a production message"));
                }
                true
            } else {
                // NIA and local ids never make the INS qualified.
                false
            };
            if qualified_oid && has_ext && traits {
                ins = InsKind::Qualified;
            }
        }
    }
    Ok(CdaFacts {
        code: code.to_owned(),
        ins,
    })
}

/// `X-MSS-CODECDA` (distinct codes in document order, comma-separated) and `X-MSS-INS`
/// (`O` if any CDA carries a qualified INS); `None` without CDA.
pub fn x_mss_values(facts: &[CdaFacts]) -> Option<(String, &'static str)> {
    if facts.is_empty() {
        return None;
    }
    let mut codes: Vec<&str> = Vec::new();
    for f in facts {
        if !codes.contains(&f.code.as_str()) {
            codes.push(&f.code);
        }
    }
    let ins = if facts.iter().any(|f| f.ins == InsKind::Qualified) {
        "O"
    } else {
        "N"
    };
    Some((codes.join(","), ins))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cda(code: &str, root: &str, traits: bool) -> String {
        let patient = if traits {
            "<patient><name><family qualifier=\"BR\">DUPONT</family><given qualifier=\"BR\">Léa</given></name>\
             <administrativeGenderCode code=\"F\"/><birthTime value=\"20120614\"/></patient>"
        } else {
            "<patient><name><family>DUPONT</family></name></patient>"
        };
        format!(
            "<?xml version=\"1.0\"?><ClinicalDocument xmlns=\"urn:hl7-org:v3\"><code code=\"{code}\"/>\
             <recordTarget><patientRole><id root=\"{root}\" extension=\"212069306600157\"/>{patient}</patientRole></recordTarget></ClinicalDocument>"
        )
    }

    #[test]
    fn facts() {
        let f = read_facts(
            0,
            cda("28653-4", OID_INS_NIR, true).as_bytes(),
            Environment::Production,
        );
        assert_eq!(
            f,
            Ok(CdaFacts {
                code: "28653-4".into(),
                ins: InsKind::Qualified
            })
        );
        let nia = read_facts(
            0,
            cda("28653-4", OID_INS_NIA, true).as_bytes(),
            Environment::Test,
        );
        assert_eq!(nia.map(|f| f.ins), Ok(InsKind::NotQualified));
        let no_traits = read_facts(
            0,
            cda("x", OID_INS_NIR, false).as_bytes(),
            Environment::Test,
        );
        assert_eq!(no_traits.map(|f| f.ins), Ok(InsKind::NotQualified));
        let test_env = read_facts(
            1,
            cda("x", OID_INS_TEST[0], true).as_bytes(),
            Environment::Test,
        );
        assert_eq!(test_env.map(|f| f.ins), Ok(InsKind::Qualified));
        let prod = read_facts(
            1,
            cda("x", OID_INS_TEST[0], true).as_bytes(),
            Environment::Production,
        );
        assert!(matches!(prod, Err(Error::Cda { index: 1, .. })));
    }

    #[test]
    fn rejects_dtd_and_garbage() {
        let dtd = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><ClinicalDocument xmlns=\"urn:hl7-org:v3\"/>";
        assert!(read_facts(0, dtd.as_bytes(), Environment::Test).is_err());
        assert!(read_facts(0, b"\xff\xfe", Environment::Test).is_err());
        let other = "<x xmlns=\"urn:hl7-org:v3\"><code code=\"a\"/></x>";
        assert!(read_facts(0, other.as_bytes(), Environment::Test).is_err());
    }

    #[test]
    fn header_values() {
        let a = CdaFacts {
            code: "34112-3".into(),
            ins: InsKind::NotQualified,
        };
        let b = CdaFacts {
            code: "PRESC-BIO".into(),
            ins: InsKind::Qualified,
        };
        assert_eq!(
            x_mss_values(&[a.clone(), b, a.clone()]),
            Some(("34112-3,PRESC-BIO".into(), "O"))
        );
        assert_eq!(x_mss_values(&[a]), Some(("34112-3".into(), "N")));
        assert_eq!(x_mss_values(&[]), None);
    }
}
