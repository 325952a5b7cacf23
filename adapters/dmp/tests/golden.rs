use passerelle_dmp::iti57::{Coded, DeletionInput};
use passerelle_dmp::td02::Td02Input;
use passerelle_dmp::{
    Attachment, Iti41Input, build_iti18_request, build_iti41_request, build_iti57_delete_request,
    build_td02_request,
};

use crate::common::*;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace("\r\n", "⏎\n")
}

#[test]
fn iti41_request_envelope_metadata_and_mtom_framing() {
    let f = fixture(b"%PDF-1.4\n% golden\n%%EOF\n");
    let docs = [
        Attachment {
            id: "Doc01",
            bytes: &f.doc.cda,
        },
        Attachment {
            id: "Sig01",
            bytes: &f.xades,
        },
    ];
    let ep = endpoint();
    let req = build_iti41_request(&Iti41Input {
        endpoint: &ep,
        message_id: MESSAGE_ID,
        boundary_id: BOUNDARY_ID,
        vihf: VIHF,
        submit_objects_request: &f.sor,
        documents: &docs,
    })
    .expect("request");
    let wire = req.to_http_bytes();
    // CRLF everywhere in the framing, Content-Length exact.
    let head_end = wire
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head")
        + 4;
    assert_eq!(wire.len() - head_end, req.body.len());
    assert!(
        String::from_utf8_lossy(&wire[..head_end])
            .contains(&format!("Content-Length: {}\r\n", req.body.len()))
    );
    // The CDA is a binary part, byte for byte, never base64 in the envelope.
    let mp = passerelle_dmp::mtom::parse(&req.content_type, &req.body).expect("parse");
    assert_eq!(
        mp.part_by_cid("0.2").expect("cda").body,
        f.doc.cda.as_slice()
    );
    assert_eq!(mp.part_by_cid("0.3").expect("sig").body, f.xades.as_slice());
    insta::assert_snapshot!("iti41_request_http", text(&wire));
}

#[test]
fn plain_requests_td02_iti18_iti57() {
    let ep = endpoint();
    let td02 = build_td02_request(&Td02Input {
        endpoint: &ep,
        message_id: MESSAGE_ID,
        vihf: VIHF,
        installation_oid: TENANT_OID,
        request_id: BOUNDARY_ID,
        creation_time: AT,
        ins: INS,
        ins_oid: INS_OID,
        processing_code: "D",
    })
    .expect("td02");
    insta::assert_snapshot!("td02_request_http", text(&td02.to_http_bytes()));
    let q =
        build_iti18_request(&ep, MESSAGE_ID, VIHF, &format!("{TENANT_OID}.1.1")).expect("iti18");
    insta::assert_snapshot!("iti18_request_http", text(&q.to_http_bytes()));
    let d = build_iti57_delete_request(&DeletionInput {
        endpoint: &ep,
        message_id: MESSAGE_ID,
        vihf: VIHF,
        submission_set_unique_id: &format!("{TENANT_OID}.2.9"),
        source_id: TENANT_OID,
        patient_id: &passerelle_dmp::ins::ins_cx(INS, INS_OID),
        submission_time: "20260302081405",
        author_institution: "MECS Les Tilleuls^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1930004130",
        author_person: "810000001023^LEROY^Sophie^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS",
        content_type: Coded {
            code: "SA20",
            display: "Etablissement pour la protection de l'enfance",
            scheme: "1.2.250.1.71.4.2.4",
        },
        entry_uuid: "urn:uuid:3f1e2d4c-5b6a-4789-8abc-def012345678",
    })
    .expect("iti57");
    insta::assert_snapshot!("iti57_delete_request_http", text(&d.to_http_bytes()));
}

#[test]
fn builders_refuse_bad_inputs_naming_the_field() {
    let f = fixture(b"%PDF-1.4\n%%EOF\n");
    let ep = endpoint();
    let base = |docs: &[Attachment<'_>], sor: &str, vihf: &[u8], boundary: &str| {
        let d: Vec<Attachment<'_>> = docs.to_vec();
        build_iti41_request(&Iti41Input {
            endpoint: &ep,
            message_id: MESSAGE_ID,
            boundary_id: boundary,
            vihf,
            submit_objects_request: sor,
            documents: &d,
        })
        .map(|_| ())
        .map_err(|e| e.to_string())
    };
    let ok = [
        Attachment {
            id: "Doc01",
            bytes: &f.doc.cda,
        },
        Attachment {
            id: "Sig01",
            bytes: &f.xades,
        },
    ];
    assert_eq!(base(&ok, &f.sor, VIHF, BOUNDARY_ID), Ok(()));
    assert!(
        base(&ok, &f.sor, VIHF, "not-a-uuid")
            .expect_err("refused")
            .contains("boundary_id")
    );
    assert!(
        base(&ok, "<?xml version=\"1.0\"?><x/>", VIHF, BOUNDARY_ID)
            .expect_err("refused")
            .contains("submit_objects_request")
    );
    assert!(
        base(
            &ok,
            &f.sor,
            b"<?xml version=\"1.0\"?><saml:Assertion/>",
            BOUNDARY_ID
        )
        .expect_err("refused")
        .contains("vihf")
    );
    let unknown = [Attachment {
        id: "Doc07",
        bytes: b"x",
    }];
    assert!(
        base(&unknown, &f.sor, VIHF, BOUNDARY_ID)
            .expect_err("refused")
            .contains("documents.id")
    );
    // A document containing the delimiter cannot be framed with that boundary.
    let evil = format!("a\r\n--MIMEBoundary_{BOUNDARY_ID}\r\nb");
    let bad = [Attachment {
        id: "Doc01",
        bytes: evil.as_bytes(),
    }];
    assert!(
        base(&bad, &f.sor, VIHF, BOUNDARY_ID)
            .expect_err("refused")
            .contains("boundary_id")
    );
    assert!(build_iti18_request(&ep, MESSAGE_ID, VIHF, "urn:oid:1.2.3").is_err());
}
