//! Golden files (insta): the CDA and METADATA.XML of every kind, MSSanté profile; the CDA and the
//! ITI-41 SubmitObjectsRequest (with the signature document) of every DMP kind. Small fake PDFs.

mod common;

use common::*;
use passerelle_documents::metadata::IdStyle;
use passerelle_documents::{Profile, metadata_xml, signature_entry, submit_objects_request};

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).expect("utf-8")
}

#[test]
fn mssante_cda_and_metadata_of_every_kind() {
    for (n, k) in renderable().enumerate() {
        let o = Owned::new(k.kind, n as u32 + 1);
        let d = o.render(Profile::Mssante);
        // Same input, same bytes.
        assert_eq!(d, o.render(Profile::Mssante));
        insta::assert_snapshot!(format!("mss_cda_{}", k.local_code), text(&d.cda));
        let mut e = d.entry.clone();
        e.uri = Some("DOC0001.XML".into());
        let set = mss_set(&d, n as u32 + 1);
        let meta = metadata_xml(&set, &[e], IdStyle::Uuid).expect("metadata");
        insta::assert_snapshot!(format!("mss_metadata_{}", k.local_code), text(&meta));
    }
}

#[test]
fn dmp_cda_and_request_of_every_dmp_kind() {
    for (n, k) in dmp_kinds().enumerate() {
        let o = Owned::new(k.kind, n as u32 + 100);
        let d = o.render(dmp_profile());
        insta::assert_snapshot!(format!("dmp_cda_{}", k.local_code), text(&d.cda));
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
        insta::assert_snapshot!(format!("dmp_request_{}", k.local_code), body);
    }
}
