//! inspect_supplied_pdf: magic, size, encryption, PDF/A claim; bytes never modified.

mod common;

use common::fixtures;
use passerelle_api::v1::DocumentKind;
use passerelle_api::v1::document::Content;
use passerelle_pdf::{PdfAClaim, PdfError, inspect_supplied_pdf, render};

/// A minimal valid PDF 1.7 with a correct xref table; `trailer_extra` goes into the trailer and
/// `metadata` (if any) becomes an uncompressed XMP stream referenced by the catalog.
fn tiny_pdf(trailer_extra: &str, metadata: Option<&str>) -> Vec<u8> {
    let mut objs: Vec<String> = vec![
        String::new(), // catalog, filled below
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".into(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>".into(),
    ];
    objs[0] = if metadata.is_some() {
        "<< /Type /Catalog /Pages 2 0 R /Metadata 4 0 R >>".into()
    } else {
        "<< /Type /Catalog /Pages 2 0 R >>".into()
    };
    if let Some(xmp) = metadata {
        objs.push(format!(
            "<< /Type /Metadata /Subtype /XML /Length {} >>\nstream\n{xmp}\nendstream",
            xmp.len() + 1
        ));
    }
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).as_bytes());
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R {trailer_extra} >>\nstartxref\n{xref}\n%%EOF\n",
            objs.len() + 1
        )
        .as_bytes(),
    );
    out
}

const XMP_PDFA2B: &str = r#"<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/" pdfaid:part="2" pdfaid:conformance="B"/>
</rdf:RDF></x:xmpmeta><?xpacket end="w"?>"#;

#[test]
fn plain_pdf_is_accepted_without_pdfa_claim() {
    let pdf = tiny_pdf("", None);
    // The helper builds a file lopdf can read: the fixture itself is sound.
    assert!(lopdf::Document::load_mem(&pdf).is_ok());
    let copy = pdf.clone();
    let info = inspect_supplied_pdf(&pdf, 1 << 20).expect("accepted");
    assert_eq!(pdf, copy, "bytes untouched");
    assert_eq!(info.size, pdf.len());
    assert_eq!(info.header_version, "1.7");
    assert_eq!(info.pdfa, None);
    assert!(!info.claims_pdfa());
}

#[test]
fn pdfa_claim_is_reported() {
    let pdf = tiny_pdf("", Some(XMP_PDFA2B));
    assert!(lopdf::Document::load_mem(&pdf).is_ok());
    let info = inspect_supplied_pdf(&pdf, 1 << 20).expect("accepted");
    assert_eq!(
        info.pdfa,
        Some(PdfAClaim {
            part: 2,
            conformance: Some("B".into())
        })
    );
    assert!(info.claims_pdfa());
}

#[test]
fn our_own_rendering_claims_pdfa_1b() {
    let child = fixtures::child();
    let doc = fixtures::document(DocumentKind::Ppe, "", Content::Ppe(fixtures::ppe()));
    let pdf = render(&fixtures::ctx(&doc, &child)).expect("renders");
    let info = inspect_supplied_pdf(&pdf, 10 << 20).expect("accepted");
    assert_eq!(info.header_version, "1.4");
    assert_eq!(
        info.pdfa,
        Some(PdfAClaim {
            part: 1,
            conformance: Some("B".into())
        })
    );
}

#[test]
fn encrypted_pdf_is_refused() {
    let pdf = tiny_pdf(
        "/Encrypt << /Filter /Standard /V 1 /R 2 /O <00> /U <00> /P -4 >> /ID [<01> <01>]",
        None,
    );
    assert_eq!(
        inspect_supplied_pdf(&pdf, 1 << 20),
        Err(PdfError::SuppliedEncrypted)
    );
    // Cross-reference stream dictionaries carry /Encrypt too; the name may be #-escaped.
    let xref_stream = b"%PDF-1.5\n9 0 obj\n<< /Type /XRef /Size 10 /W [1 2 1] /Encr#79pt 8 0 R \
        /Length 4 >>\nstream\n\x00\x00\x00\x00\nendstream\nendobj\nstartxref\n9\n%%EOF\n";
    assert_eq!(
        inspect_supplied_pdf(xref_stream, 1 << 20),
        Err(PdfError::SuppliedEncrypted)
    );
    // "/Encrypt" inside a string or a stream is not an encryption dictionary.
    let decoy = tiny_pdf("/Info << /Title (/Encrypt) >>", None);
    assert!(inspect_supplied_pdf(&decoy, 1 << 20).is_ok());
}

#[test]
fn wrong_magic_empty_and_too_big_are_refused() {
    assert_eq!(inspect_supplied_pdf(b"", 100), Err(PdfError::SuppliedEmpty));
    assert_eq!(
        inspect_supplied_pdf(b"PK\x03\x04 not a pdf", 100),
        Err(PdfError::SuppliedNotPdf)
    );
    assert_eq!(
        inspect_supplied_pdf(b"  %PDF-1.4 leading blanks", 100),
        Err(PdfError::SuppliedNotPdf)
    );
    assert_eq!(
        inspect_supplied_pdf(b"%PDF-x", 100),
        Err(PdfError::SuppliedNotPdf)
    );
    let pdf = tiny_pdf("", None);
    let err = inspect_supplied_pdf(&pdf, pdf.len() - 1).expect_err("too big");
    assert_eq!(
        err,
        PdfError::SuppliedTooLarge {
            size: pdf.len(),
            max: pdf.len() - 1
        }
    );
    assert!(err.to_string().contains("exceeds"));
    assert!(
        inspect_supplied_pdf(&pdf, pdf.len()).is_ok(),
        "the limit is inclusive"
    );
}
