//! XDM writer/reader: round trip, STORED entries, determinism, and hostile archives.

mod common;

use std::io::{Cursor, Read, Write};

use common::*;
use passerelle_api::v1::DocumentKind;
use passerelle_documents::read::{XdmLimits, read_package};
use passerelle_documents::{
    AnsErrorCode, DocumentError, Profile, RenderedDocument, build_xdm, read_xdm,
};

fn package(kinds: &[DocumentKind]) -> (Vec<RenderedDocument>, Vec<u8>) {
    let docs: Vec<RenderedDocument> = kinds
        .iter()
        .enumerate()
        .map(|(i, k)| Owned::new(*k, i as u32 + 1).render(Profile::Mssante))
        .collect();
    let set = mss_set(&docs[0], 7);
    let t = tenant();
    let zip = build_xdm(&set, &docs, &sender(&t)).expect("xdm");
    (docs, zip)
}

fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut a = zip::ZipArchive::new(Cursor::new(bytes)).expect("zip");
    (0..a.len())
        .map(|i| {
            let mut f = a.by_index(i).expect("entry");
            let mut v = Vec::new();
            f.read_to_end(&mut v).expect("read");
            (f.name().to_owned(), v)
        })
        .collect()
}

fn rezip(entries: &[(String, Vec<u8>)], method: zip::CompressionMethod) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default().compression_method(method);
    for (n, b) in entries {
        w.start_file(n.as_str(), o).expect("start");
        w.write_all(b).expect("write");
    }
    w.finish().expect("finish").into_inner()
}

fn stored(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    rezip(entries, zip::CompressionMethod::Stored)
}

fn replace(entries: &mut [(String, Vec<u8>)], name: &str, f: impl Fn(String) -> String) {
    let e = entries.iter_mut().find(|(n, _)| n == name).expect("entry");
    e.1 = f(String::from_utf8(e.1.clone()).expect("utf-8")).into_bytes();
}

const META: &str = "IHE_XDM/SUBSET01/METADATA.XML";
const DOC1: &str = "IHE_XDM/SUBSET01/DOC0001.XML";

#[test]
fn round_trip_gives_back_documents_and_metadata() {
    let kinds = [
        DocumentKind::Ppe,
        DocumentKind::BilanPsy,
        DocumentKind::CrEduc,
    ];
    let (docs, zip) = package(&kinds);
    let pkg = read_xdm(&zip).expect("read");
    assert_eq!(
        pkg.patient_id,
        "212069306600157^^^&1.2.250.1.213.1.4.10&ISO^NH"
    );
    assert_eq!(pkg.subsets.len(), 1);
    let s = &pkg.subsets[0];
    assert_eq!(s.path, "IHE_XDM/SUBSET01");
    assert_eq!(
        s.submission_set.unique_id.as_deref(),
        Some(&*format!("{TENANT_OID}.2.7"))
    );
    assert_eq!(s.submission_set.source_id.as_deref(), Some(TENANT_OID));
    assert_eq!(s.documents.len(), 3);
    for (i, (read, orig)) in s.documents.iter().zip(&docs).enumerate() {
        assert_eq!(read.uri, format!("DOC{:04}.XML", i + 1));
        assert_eq!(read.content, orig.cda);
        assert_eq!(read.hash, orig.entry.hash);
        assert_eq!(read.size, orig.cda.len() as u64);
        assert_eq!(read.unique_id, orig.entry.unique_id);
        assert_eq!(read.title.as_deref(), Some(orig.entry.title.as_str()));
        assert_eq!(read.type_code.as_ref(), Some(&orig.entry.type_code));
        assert_eq!(read.class_code.as_ref(), Some(&orig.entry.class_code));
        assert_eq!(read.format_code.as_ref(), Some(&orig.entry.format_code));
        assert_eq!(read.confidentiality, orig.entry.confidentiality);
        let cda = read.cda.as_ref().expect("cda header");
        assert_eq!(cda.id.as_deref(), Some(orig.entry.unique_id.as_str()));
        assert_eq!(
            cda.code.as_ref().map(|c| c.code.as_str()),
            Some(orig.header.type_code.code)
        );
        assert_eq!(cda.translations[0].code, orig.header.kind.local_code);
        assert_eq!(cda.translations[0].scheme, LOCAL_OID);
        let ins = cda.check_ins(&read.uri).expect("INS complete");
        assert_eq!(ins.matricule, "212069306600157");
        assert_eq!(ins.birth_family_name.as_deref(), Some("DUPONT"));
        assert_eq!(ins.first_given_name.as_deref(), Some("Léa"));
        assert_eq!(ins.birth_given_names.as_deref(), Some("Léa Marie"));
        assert_eq!(ins.gender.as_deref(), Some("F"));
        assert_eq!(ins.birth_date.as_deref(), Some("20120614"));
        assert_eq!(ins.birthplace.as_deref(), Some("93066"));
        let author = cda.author.as_ref().expect("author");
        assert_eq!(author.organization_id.as_deref(), Some("1930004130"));
        // The N1 PDF comes back byte for byte.
        let pdf = read.pdf.as_ref().expect("pdf");
        assert_eq!(pdf, &tiny_pdf(orig.header.kind.local_code));
    }
}

#[test]
fn archive_layout_is_stored_and_deterministic() {
    let (_, zip1) = package(&[DocumentKind::Ppe, DocumentKind::Pai]);
    let (_, zip2) = package(&[DocumentKind::Ppe, DocumentKind::Pai]);
    assert_eq!(zip1, zip2, "same input, same bytes");
    let mut a = zip::ZipArchive::new(Cursor::new(&zip1)).expect("zip");
    let names: Vec<String> = a.file_names().map(str::to_owned).collect();
    assert_eq!(
        names,
        [
            "INDEX.HTM",
            "README.TXT",
            META,
            DOC1,
            "IHE_XDM/SUBSET01/DOC0002.XML"
        ]
    );
    for i in 0..a.len() {
        assert_eq!(
            a.by_index(i).expect("e").compression(),
            zip::CompressionMethod::Stored
        );
    }
    let entries = unzip(&zip1);
    let readme = String::from_utf8(entries[1].1.clone()).expect("utf-8");
    assert!(readme.contains("MECS Les Tilleuls") && readme.contains("DOC0002.XML"));
    // No personal data outside the CDAs and the metadata.
    for (name, bytes) in &entries[..2] {
        let t = String::from_utf8_lossy(bytes);
        assert!(
            !t.contains("DUPONT") && !t.contains("212069306600157"),
            "{name}"
        );
    }
}

#[test]
fn deflated_and_lower_case_packages_are_read() {
    let (_, zip) = package(&[DocumentKind::Ppe]);
    let entries: Vec<(String, Vec<u8>)> = unzip(&zip)
        .into_iter()
        .map(|(n, b)| (n.to_ascii_lowercase(), b))
        .collect();
    let deflated = rezip(&entries, zip::CompressionMethod::Deflated);
    let pkg = read_xdm(&deflated).expect("read");
    assert_eq!(pkg.subsets[0].documents.len(), 1);
    assert!(pkg.subsets[0].documents[0].pdf.is_some());
}

#[test]
fn every_subset_is_read() {
    let (_, zip) = package(&[DocumentKind::Ppe]);
    let mut entries = unzip(&zip);
    let extra: Vec<(String, Vec<u8>)> = entries
        .iter()
        .filter(|(n, _)| n.starts_with("IHE_XDM/SUBSET01/"))
        .map(|(n, b)| (n.replace("SUBSET01", "SUBSET02"), b.clone()))
        .collect();
    entries.extend(extra);
    let pkg = read_xdm(&stored(&entries)).expect("read");
    assert_eq!(pkg.subsets.len(), 2);
    assert_eq!(pkg.subsets[1].path, "IHE_XDM/SUBSET02");
}

fn err(bytes: &[u8]) -> DocumentError {
    read_xdm(bytes).expect_err("must be refused")
}

#[test]
fn missing_metadata_is_refused() {
    let (_, zip) = package(&[DocumentKind::Ppe]);
    let entries: Vec<_> = unzip(&zip).into_iter().filter(|(n, _)| n != META).collect();
    let e = err(&stored(&entries));
    assert_eq!(e, DocumentError::NoMetadata);
    assert_eq!(e.ans_code().code(), 906);
}

#[test]
fn wrong_hash_and_wrong_size_are_refused() {
    let (docs, zip) = package(&[DocumentKind::Ppe]);
    let mut entries = unzip(&zip);
    let h = docs[0].entry.hash.clone();
    replace(&mut entries, META, |m| m.replace(&h, &"0".repeat(40)));
    assert!(matches!(
        err(&stored(&entries)),
        DocumentError::HashMismatch { .. }
    ));

    let mut entries = unzip(&zip);
    let size = format!("<rim:Value>{}</rim:Value>", docs[0].cda.len());
    replace(&mut entries, META, |m| {
        m.replace(&size, "<rim:Value>12</rim:Value>")
    });
    assert!(matches!(
        err(&stored(&entries)),
        DocumentError::SizeMismatch { .. }
    ));

    let mut entries = unzip(&zip);
    replace(&mut entries, META, |m| {
        m.replace("DOC0001.XML", "DOC0009.XML")
    });
    assert!(matches!(
        err(&stored(&entries)),
        DocumentError::MissingDocument { .. }
    ));
}

#[test]
fn two_patients_are_refused() {
    // Two submission sets for two children.
    let (_, zip_a) = package(&[DocumentKind::Ppe]);
    let mut o = Owned::new(DocumentKind::Ppe, 50);
    o.child = other_child();
    let d = o.render(Profile::Mssante);
    let t = tenant();
    let zip_b = build_xdm(&mss_set(&d, 50), &[d], &sender(&t)).expect("xdm");
    let mut entries = unzip(&zip_a);
    entries.extend(
        unzip(&zip_b)
            .into_iter()
            .filter(|(n, _)| n.starts_with("IHE_XDM/"))
            .map(|(n, b)| (n.replace("SUBSET01", "SUBSET02"), b)),
    );
    let e = err(&stored(&entries));
    assert_eq!(e, DocumentError::SeveralPatients);
    assert_eq!(e.ans_code(), AnsErrorCode::Other);

    // A CDA whose recordTarget names another child than its metadata.
    let (docs, zip) = package(&[DocumentKind::Ppe]);
    let mut entries = unzip(&zip);
    let cda = String::from_utf8(docs[0].cda.clone())
        .expect("utf-8")
        .replace("212069306600157", "111029306600291");
    let (h, s) = (
        passerelle_documents::metadata::sha1_hex(cda.as_bytes()),
        cda.len(),
    );
    let (old_h, old_s) = (docs[0].entry.hash.clone(), docs[0].cda.len());
    replace(&mut entries, DOC1, |_| cda.clone());
    replace(&mut entries, META, |m| {
        m.replace(&old_h, &h).replace(
            &format!("<rim:Value>{old_s}</rim:Value>"),
            &format!("<rim:Value>{s}</rim:Value>"),
        )
    });
    assert_eq!(err(&stored(&entries)), DocumentError::SeveralPatients);
}

#[test]
fn unsafe_names_are_refused() {
    let (_, zip) = package(&[DocumentKind::Ppe]);
    for bad in [
        "../evil.txt",
        "/etc/passwd",
        "IHE_XDM\\SUBSET01\\x",
        "C:/x",
        "a/../../b",
        "a//b",
    ] {
        let mut entries = unzip(&zip);
        entries.push((bad.to_owned(), b"x".to_vec()));
        assert!(
            matches!(
                err(&stored(&entries)),
                DocumentError::UnsafeEntryName { .. }
            ),
            "{bad}"
        );
    }
}

#[test]
fn duplicate_entries_are_refused() {
    let (_, zip) = package(&[DocumentKind::Ppe, DocumentKind::Pai]);
    // Rename DOC0002 to DOC0001 in the raw bytes (same length, local and central headers).
    let mut raw = zip.clone();
    let from = b"IHE_XDM/SUBSET01/DOC0002.XML";
    let to = b"IHE_XDM/SUBSET01/DOC0001.XML";
    let mut i = 0;
    while i + from.len() <= raw.len() {
        if &raw[i..i + from.len()] == from {
            raw[i..i + from.len()].copy_from_slice(to);
        }
        i += 1;
    }
    assert!(matches!(err(&raw), DocumentError::DuplicateEntry { .. }));
    // Case-insensitive duplicates too.
    let mut entries = unzip(&zip);
    entries.push(("ihe_xdm/subset01/doc0001.xml".into(), b"x".to_vec()));
    assert!(matches!(
        err(&stored(&entries)),
        DocumentError::DuplicateEntry { .. }
    ));
}

#[test]
fn zip_bombs_are_refused_before_inflating() {
    // 20 MiB of zeros deflate to ~20 KiB: ratio ~1000 > 100.
    let zeros = vec![0u8; 20 * 1024 * 1024];
    let bomb = rezip(
        &[(META.into(), zeros.clone())],
        zip::CompressionMethod::Deflated,
    );
    assert!(bomb.len() < 100 * 1024);
    assert_eq!(
        err(&bomb),
        DocumentError::LimitExceeded {
            what: "compression ratio"
        }
    );

    // The same bomb lying about its size (declared 100 KiB): stopped after declared + 1 bytes.
    let mut lying = bomb.clone();
    patch_sizes(&mut lying, 100 * 1024);
    let e = err(&lying);
    assert!(
        matches!(
            e,
            DocumentError::LimitExceeded { .. } | DocumentError::ZipRead(_)
        ),
        "{e:?}"
    );

    // Total size limit.
    let (_, zip) = package(&[DocumentKind::Ppe]);
    let small = XdmLimits {
        max_total_size: 1024,
        ..XdmLimits::default()
    };
    assert_eq!(
        read_package(&zip, &small).expect_err("limit"),
        DocumentError::LimitExceeded {
            what: "total uncompressed size"
        }
    );

    // Too many entries.
    let many: Vec<(String, Vec<u8>)> = (0..1001).map(|i| (format!("f{i}"), vec![])).collect();
    assert_eq!(
        err(&stored(&many)),
        DocumentError::LimitExceeded {
            what: "number of entries"
        }
    );
}

/// Sets the uncompressed size of every entry (local and central headers).
fn patch_sizes(zip: &mut [u8], size: u32) {
    let s = size.to_le_bytes();
    for i in 0..zip.len().saturating_sub(4) {
        match &zip[i..i + 4] {
            [0x50, 0x4b, 0x03, 0x04] => zip[i + 22..i + 26].copy_from_slice(&s),
            [0x50, 0x4b, 0x01, 0x02] => zip[i + 24..i + 28].copy_from_slice(&s),
            _ => {}
        }
    }
}

#[test]
fn hostile_xml_is_refused() {
    let (_, zip) = package(&[DocumentKind::Ppe]);
    // A DTD with entities (billion laughs shape).
    let mut entries = unzip(&zip);
    replace(&mut entries, META, |m| {
        m.replacen(
            "<lcm:SubmitObjectsRequest",
            "<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;\">]><lcm:SubmitObjectsRequest",
            1,
        )
    });
    assert!(matches!(
        err(&stored(&entries)),
        DocumentError::InvalidXml { .. }
    ));

    // Deeply nested elements (100 000 levels).
    let deep = format!(
        "<?xml version=\"1.0\"?>{}{}",
        "<a>".repeat(100_000),
        "</a>".repeat(100_000)
    );
    let e = err(&stored(&[(META.into(), deep.into_bytes())]));
    assert!(matches!(e, DocumentError::InvalidXml { .. }), "{e:?}");

    // ebXML 2.1 metadata is not ebRS 3.0.
    let mut entries = unzip(&zip);
    replace(&mut entries, META, |m| {
        m.replace(
            "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0",
            "urn:oasis:names:tc:ebxml-regrep:registry:xsd:2.1",
        )
    });
    assert!(matches!(
        err(&stored(&entries)),
        DocumentError::InvalidMetadata { .. }
    ));

    // Not a zip at all.
    assert!(matches!(
        err(b"PK\x03\x04 not really"),
        DocumentError::ZipRead(_)
    ));
}

#[test]
fn ins_checks_map_to_ans_codes() {
    let (_, zip) = package(&[DocumentKind::Ppe]);
    let mut entries = unzip(&zip);
    let (cda_old, meta_old) = (entries[3].1.clone(), entries[2].1.clone());
    let cda = String::from_utf8(cda_old.clone())
        .expect("utf-8")
        .replace("<county>93066</county>", "");
    let meta = String::from_utf8(meta_old)
        .expect("utf-8")
        .replace(
            &passerelle_documents::metadata::sha1_hex(&cda_old),
            &passerelle_documents::metadata::sha1_hex(cda.as_bytes()),
        )
        .replace(
            &format!("<rim:Value>{}</rim:Value>", cda_old.len()),
            &format!("<rim:Value>{}</rim:Value>", cda.len()),
        );
    entries[3].1 = cda.into_bytes();
    entries[2].1 = meta.into_bytes();
    let pkg = read_xdm(&stored(&entries)).expect("read");
    let d = &pkg.subsets[0].documents[0];
    let e = d
        .cda
        .as_ref()
        .expect("cda")
        .check_ins(&d.uri)
        .expect_err("incomplete");
    assert_eq!(e.ans_code().code(), 905);
}

#[test]
fn symbolic_ids_and_other_prefixes_are_read() {
    let (docs, zip) = package(&[DocumentKind::Ppe]);
    let mut entries = unzip(&zip);
    let mut e = docs[0].entry.clone();
    e.uri = Some("DOC0001.XML".into());
    let meta = passerelle_documents::metadata_xml(
        &mss_set(&docs[0], 7),
        &[e],
        passerelle_documents::IdStyle::Symbolic,
    )
    .expect("metadata");
    let meta = String::from_utf8(meta)
        .expect("utf-8")
        .replace("<rim:", "<r:")
        .replace("</rim:", "</r:")
        .replace("xmlns:rim=", "xmlns:r=")
        .replace("<lcm:", "<x:")
        .replace("</lcm:", "</x:")
        .replace("xmlns:lcm=", "xmlns:x=");
    assert!(!meta.contains("<rim:") && meta.contains("<r:Slot"));
    entries[2].1 = meta.into_bytes();
    let pkg = read_xdm(&stored(&entries)).expect("read");
    assert_eq!(
        pkg.subsets[0].documents[0].unique_id,
        docs[0].entry.unique_id
    );
    assert_eq!(
        pkg.subsets[0].documents[0]
            .type_code
            .as_ref()
            .map(|c| c.code.as_str()),
        Some("28653-4")
    );
}
