//! External validation: every CDA against the CDA XSD (xmllint) and the ANS structuration-minimale
//! schematron (Saxon-HE, XSLT 2), every METADATA.XML / ITI-41 body against the ebRS 3.0 XSDs.
//! Tools are required (Debian: libxml2-utils, libsaxonhe-java, default-jre-headless): missing
//! tools fail the tests.

// Tests may touch files (temp dirs, vendored schemas); the crate itself may not.
#![allow(clippy::disallowed_methods)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use passerelle_documents::metadata::{IdStyle, object_ids};
use passerelle_documents::{Profile, metadata_xml, signature_entry, submit_objects_request};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tcda() -> PathBuf {
    crate_dir().join("tests/tcda")
}

const SAXON_JAR: &str = "/usr/share/java/Saxon-HE.jar";

fn saxon(args: &[&str]) {
    assert!(
        Path::new(SAXON_JAR).exists(),
        "Saxon-HE missing: apt-get install libsaxonhe-java"
    );
    let out = Command::new("java")
        .args(["-cp", SAXON_JAR, "net.sf.saxon.Transform"])
        .args(args)
        .output()
        .expect("java not found: apt-get install default-jre-headless");
    assert!(
        out.status.success(),
        "saxon {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn xmllint_schema(schema: &Path, files: &[PathBuf]) {
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema)
        .args(files)
        .output()
        .expect("xmllint not found: apt-get install libxml2-utils");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "xmllint: {stderr}");
    // One "validates" line per file, and nothing that "fails to validate".
    assert!(!stderr.contains("fails to validate"), "{stderr}");
    assert_eq!(
        stderr.matches(" validates").count(),
        files.len(),
        "{stderr}"
    );
}

/// Every CDA this crate can produce: MSSanté profile for every renderable kind, DMP profile for
/// every DMP kind, plus a replacement and a provisional-INS variant.
fn all_cdas() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (n, k) in renderable().enumerate() {
        let o = Owned::new(k.kind, n as u32 + 1);
        out.push((
            format!("MSS_{}.xml", k.local_code),
            o.render(Profile::Mssante).cda,
        ));
    }
    for (n, k) in dmp_kinds().enumerate() {
        let o = Owned::new(k.kind, n as u32 + 100);
        out.push((
            format!("DMP_{}.xml", k.local_code),
            o.render(dmp_profile()).cda,
        ));
    }
    let mut o = Owned::new(passerelle_api::v1::DocumentKind::BilanPsy, 200);
    o.ids.version = 2;
    o.ids.replaces = Some(passerelle_documents::Replaced {
        unique_id: format!("{TENANT_OID}.1.199"),
        entry_uuid: "urn:uuid:6d1c3c9e-8f0e-4c55-9a4a-2b7d3c1e0f11".into(),
    });
    out.push(("DMP_RPLC_BILAN_PSY.xml".into(), o.render(dmp_profile()).cda));
    let mut o = Owned::new(passerelle_api::v1::DocumentKind::Ppe, 201);
    if let Some(ins) = o.child.ins.as_mut() {
        ins.status = passerelle_api::v1::InsStatus::Provisional as i32;
    }
    out.push(("MSS_NO_INS_PPE.xml".into(), o.render(Profile::Mssante).cda));
    out
}

#[test]
fn every_cda_validates_against_the_cda_xsd() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    for (name, bytes) in all_cdas() {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).expect("write");
        files.push(p);
    }
    xmllint_schema(&tcda().join("infrastructure/cda/CDA_extended.xsd"), &files);
}

#[test]
fn every_cda_passes_the_structuration_minimale_schematron() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = tcda().join("schematrons/profils/structurationMinimale");
    let moteur = tcda().join("schematrons/moteur");
    // Compile as schematrons/moteur/compilverif.bat does; the compiled XSLT reads
    // doc('include/voc-...'), so it lives next to a link to the vendored include directory.
    let work = dir.path().join("sch");
    std::fs::create_dir_all(&work).expect("mkdir");
    std::os::unix::fs::symlink(base.join("include"), work.join("include")).expect("symlink");
    let s = |p: &Path| p.to_str().expect("utf-8 path").to_owned();
    let colle = work.join("colle.sch");
    let concret = work.join("concret.sch");
    let xsl = work.join("strucmin.xsl");
    saxon(&[
        &format!("-s:{}", s(&base.join("ASIP-STRUCT-MIN-StrucMin.sch"))),
        &format!("-xsl:{}", s(&moteur.join("iso_dsdl_include.xsl"))),
        &format!("-o:{}", s(&colle)),
    ]);
    saxon(&[
        &format!("-s:{}", s(&colle)),
        &format!("-xsl:{}", s(&moteur.join("iso_abstract_expand.xsl"))),
        &format!("-o:{}", s(&concret)),
    ]);
    saxon(&[
        &format!("-s:{}", s(&concret)),
        &format!("-xsl:{}", s(&moteur.join("iso_svrl_for_xslt2.xsl"))),
        &format!("-o:{}", s(&xsl)),
    ]);

    let cdas = dir.path().join("cda");
    let reports = dir.path().join("svrl");
    std::fs::create_dir_all(&cdas).expect("mkdir");
    std::fs::create_dir_all(&reports).expect("mkdir");
    let all = all_cdas();
    for (name, bytes) in &all {
        std::fs::write(cdas.join(name), bytes).expect("write");
    }
    // The ANS example must pass too: proves the pipeline (and the generated J07 file) works.
    std::fs::copy(
        tcda().join("ExemplesCDA/DOC_NON_STRUCTURE_CDA-R2-N1.xml"),
        cdas.join("ANS_EXAMPLE.xml"),
    )
    .expect("copy example");
    // A deliberately broken CDA must fail: proves the schematron really runs.
    let broken = String::from_utf8(all[0].1.clone())
        .expect("utf-8")
        .replace("<templateId root=\"1.3.6.1.4.1.19376.1.2.20\"/>", "");
    std::fs::write(cdas.join("BROKEN.xml"), broken).expect("write");

    saxon(&[
        &format!("-s:{}", s(&cdas)),
        &format!("-xsl:{}", s(&xsl)),
        &format!("-o:{}", s(&reports)),
    ]);
    let mut failures = Vec::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(&reports).expect("reports") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_owned();
        let svrl = std::fs::read_to_string(&path).expect("read svrl");
        let doc = roxmltree::Document::parse(&svrl).expect("svrl parses");
        let errors: Vec<String> = doc
            .descendants()
            .filter(|n| n.tag_name().name() == "failed-assert")
            // Errors (role error/fatal or none) fail; so do warnings: our CDAs have none.
            .filter(|n| {
                matches!(
                    n.attribute("role"),
                    None | Some("error") | Some("fatal") | Some("warning")
                )
            })
            .map(|n| {
                let text: String = n.descendants().filter_map(|t| t.text()).collect();
                format!("{}: {}", n.attribute("location").unwrap_or(""), text.trim())
            })
            .collect();
        if name == "BROKEN.xml" {
            assert!(
                !errors.is_empty(),
                "the broken CDA passed: the schematron did not run"
            );
        } else {
            checked += 1;
            if !errors.is_empty() {
                failures.push(format!("{name}:\n  {}", errors.join("\n  ")));
            }
        }
    }
    assert_eq!(checked, all.len() + 1, "one SVRL report per CDA");
    assert!(
        failures.is_empty(),
        "schematron errors:\n{}",
        failures.join("\n")
    );
}

#[test]
fn generated_j07_value_set_matches_the_recorded_step() {
    // dmp.md §6.3: the include the ANS repository lacks is generated from its own J07 SVS file;
    // re-run the generator and compare with the vendored file.
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("voc.xml");
    saxon(&[
        &format!(
            "-s:{}",
            tcda()
                .join("jeuxDeValeurs/JDV_J07_XdsTypeCode_CISIS.xml")
                .display()
        ),
        &format!(
            "-xsl:{}",
            tcda().join("tools/svs-to-artdecor.xsl").display()
        ),
        &format!("-o:{}", out.display()),
    ]);
    let vendored = tcda().join(
        "schematrons/profils/structurationMinimale/include/voc-1.2.250.1.213.1.1.5.471-DYNAMIC.xml",
    );
    assert_eq!(
        std::fs::read_to_string(out).expect("generated"),
        std::fs::read_to_string(vendored).expect("vendored")
    );
}

fn ebrs_lcm() -> PathBuf {
    crate_dir().join("tests/ebrs/ebRS30/lcm.xsd")
}

#[test]
fn every_metadata_validates_against_ebrs_30() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    // METADATA.XML of every kind (MSSanté, urn:uuid ids) and a multi-document set.
    let mut rendered = Vec::new();
    for (n, k) in renderable().enumerate() {
        let d = Owned::new(k.kind, n as u32 + 1).render(Profile::Mssante);
        let mut e = d.entry.clone();
        e.uri = Some("DOC0001.XML".into());
        let set = mss_set(&d, n as u32 + 1);
        let p = dir.path().join(format!("META_{}.xml", k.local_code));
        std::fs::write(
            &p,
            metadata_xml(&set, &[e], IdStyle::Uuid).expect("metadata"),
        )
        .expect("w");
        files.push(p);
        rendered.push(d);
    }
    let set = mss_set(&rendered[0], 999);
    let entries: Vec<_> = rendered.iter().map(|d| d.entry.clone()).collect();
    let p = dir.path().join("META_ALL.xml");
    std::fs::write(
        &p,
        metadata_xml(&set, &entries, IdStyle::Uuid).expect("metadata"),
    )
    .expect("w");
    files.push(p);

    // DMP request bodies: one document + the signature document, symbolic ids.
    for (n, k) in dmp_kinds().enumerate() {
        let d = Owned::new(k.kind, n as u32 + 100).render(dmp_profile());
        let set = passerelle_documents::SubmissionSet::new(
            &tenant(),
            &nurse(),
            dmp_profile(),
            &format!("{TENANT_OID}.2.{}", n + 100),
            SUBMITTED,
            &d.entry,
            &[],
        )
        .expect("set");
        let sig = signature_entry(
            &d.entry,
            &format!("{TENANT_OID}.3.{}", n + 100),
            SUBMITTED,
            b"<ds:Signature/>",
            d.entry.confidentiality.clone(),
        )
        .expect("sig");
        let body = submit_objects_request(
            &set,
            std::slice::from_ref(&d.entry),
            Some(&sig),
            IdStyle::Symbolic,
        )
        .expect("request");
        let ids = object_ids(
            &set,
            std::slice::from_ref(&d.entry),
            Some(&sig),
            IdStyle::Symbolic,
        );
        assert_eq!(ids.documents, vec!["Doc01".to_string()]);
        let p = dir.path().join(format!("DMP_{}.xml", k.local_code));
        std::fs::write(&p, body).expect("w");
        files.push(p);
    }
    xmllint_schema(&ebrs_lcm(), &files);
}

#[test]
fn the_ebrs_schema_check_rejects_broken_metadata() {
    // Guards the check above: a SubmitObjectsRequest with a Slot lacking its ValueList must fail.
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Owned::new(passerelle_api::v1::DocumentKind::Ppe, 1).render(Profile::Mssante);
    let set = mss_set(&d, 1);
    let xml = String::from_utf8(metadata_xml(&set, &[d.entry], IdStyle::Uuid).expect("m"))
        .expect("utf-8")
        .replacen("<rim:ValueList>", "<rim:Oops>", 1)
        .replacen("</rim:ValueList>", "</rim:Oops>", 1);
    let p = dir.path().join("bad.xml");
    std::fs::write(&p, xml).expect("w");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(ebrs_lcm())
        .arg(&p)
        .output()
        .expect("xmllint");
    assert!(!out.status.success());
}
