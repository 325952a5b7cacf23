use passerelle_dmp::mtom::{self, ContentType};

const CT: &str = "multipart/related; boundary=\"MIMEBoundary_x\"; type=\"application/xop+xml\"; start=\"<0.1>\"; start-info=\"application/soap+xml\"";

#[test]
fn reader_handles_preamble_padding_folding_and_epilogue() {
    let body = b"preamble line\r\n--MIMEBoundary_x  \r\nContent-Type: application/xop+xml;\r\n type=\"application/soap+xml\"\r\nContent-ID: <0.1>\r\n\r\n<root/>\r\n--MIMEBoundary_x\r\nContent-ID: <a@b>\r\n\r\n\r\nbinary\x00\xff\r\n\r\n--MIMEBoundary_x--\r\nepilogue";
    let mp = mtom::parse(CT, body).expect("parse");
    assert_eq!(mp.parts.len(), 2);
    assert_eq!(mp.root().expect("root").body, b"<root/>");
    assert_eq!(
        mp.parts[0].header("content-type"),
        Some("application/xop+xml; type=\"application/soap+xml\"")
    );
    // The CRLF before a delimiter belongs to it; leading CRLF of the content is content.
    assert_eq!(
        mp.resolve_href("cid:a%40b").expect("href").body,
        b"\r\nbinary\x00\xff\r\n"
    );
    assert!(mp.resolve_href("cid:nope").is_none());
}

#[test]
fn reader_errors_are_precise() {
    let e = |ct: &str, b: &[u8]| mtom::parse(ct, b).expect_err("error").to_string();
    assert!(e("application/soap+xml", b"x").contains("not multipart/related"));
    assert!(e("multipart/related", b"x").contains("no boundary"));
    assert!(e(CT, b"no delimiter at all").contains("no opening delimiter"));
    assert!(
        e(
            CT,
            b"--MIMEBoundary_x\r\nContent-ID: <0.1>\r\n\r\nunterminated"
        )
        .contains("not closed")
    );
    assert!(
        e(
            CT,
            b"--MIMEBoundary_x\r\nContent-ID <0.1>\r\n\r\nx\r\n--MIMEBoundary_x--"
        )
        .contains("colon")
    );
    assert!(e(CT, b"--MIMEBoundary_xjunk\r\n").contains("CRLF"));
    let start_missing = "multipart/related; boundary=b; start=\"<9.9>\"";
    let mp =
        mtom::parse(start_missing, b"--b\r\nContent-ID: <0.1>\r\n\r\nx\r\n--b--").expect("parse");
    assert!(mp.root().is_err());
}

#[test]
fn too_many_parts_are_refused() {
    let mut b = Vec::new();
    for i in 0..=mtom::MAX_PARTS {
        b.extend_from_slice(format!("--B\r\nContent-ID: <{i}>\r\n\r\nx\r\n").as_bytes());
    }
    b.extend_from_slice(b"--B--\r\n");
    let err = mtom::parse("multipart/related; boundary=B", &b).expect_err("limit");
    assert!(err.to_string().contains("too many parts"));
}

#[test]
fn content_type_parameters() {
    let ct =
        ContentType::parse("Multipart/Related; BOUNDARY=\"a;b\"; action=\"urn:x\"").expect("ct");
    assert_eq!(ct.mime, "multipart/related");
    assert_eq!(ct.param("boundary"), Some("a;b"));
    assert_eq!(ct.param("action"), Some("urn:x"));
    assert!(ContentType::parse("nonsense").is_none());
}
