use passerelle_dmp::response::{
    ErrorOut, FaultCode, adhoc_query_response_xml, registry_response_xml, reply_envelope,
    soap_fault_xml,
};
use passerelle_dmp::td02::{PatientState, Td02ReplyOut, td02_reply_xml};
use passerelle_dmp::{
    FailureSource, Reply, Retry, parse_iti18_response, parse_registry_response, parse_td02_response,
};

const SOAP: &str = "application/soap+xml; charset=UTF-8";

fn registry(errors: &[ErrorOut]) -> Vec<u8> {
    let mut b = Vec::new();
    registry_response_xml(&mut b, errors);
    reply_envelope(
        "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse",
        Some("urn:uuid:x"),
        &b,
    )
}

fn fault(code: FaultCode, sub: Option<&str>) -> Vec<u8> {
    let mut b = Vec::new();
    soap_fault_xml(&mut b, code, sub, "raison", &[]);
    reply_envelope("http://www.w3.org/2005/08/addressing/soap/fault", None, &b)
}

fn reg(status: u16, ct: Option<&str>, body: &[u8]) -> Result<(), passerelle_dmp::DmpFailure> {
    parse_registry_response(&Reply {
        status,
        content_type: ct,
        body,
    })
    .map(|_| ())
}

#[test]
fn success_plain_and_mtom() {
    let env = registry(&[]);
    reg(200, Some(SOAP), &env).expect("plain");
    let mut mtom =
        b"--B\r\nContent-Type: application/xop+xml\r\nContent-ID: <0.1>\r\n\r\n".to_vec();
    mtom.extend_from_slice(&env);
    mtom.extend_from_slice(b"\r\n--B--\r\n");
    reg(
        200,
        Some("multipart/related; boundary=B; type=\"application/xop+xml\"; start=\"<0.1>\""),
        &mtom,
    )
    .expect("mtom");
}

#[test]
fn registry_errors_map_to_retry_classes() {
    for (code, retry) in [
        ("XDSRegistryBusy", Retry::Backoff),
        ("XDSRepositoryBusy", Retry::Backoff),
        ("XDSRegistryOutOfResources", Retry::Backoff),
        ("XDSRegistryNotAvailable", Retry::Backoff),
        ("XDSRegistryError", Retry::BackoffMax3),
        ("XDSRepositoryError", Retry::BackoffMax3),
        ("XDSRegistryMetadataError", Retry::Never),
        ("XDSNonIdenticalHash", Retry::Never),
        ("XDSPatientIdDoesNotMatch", Retry::Never),
        ("XDSDuplicateUniqueIdInRegistry", Retry::Never),
        ("DMP_0123^Refus^DMP_ERROR_CODE", Retry::Never),
    ] {
        let f = reg(200, Some(SOAP), &registry(&[ErrorOut::new(code, "ctx")])).expect_err(code);
        assert_eq!(f.source, FailureSource::Registry);
        assert_eq!(f.retry, retry, "{code}");
        assert_eq!(f.code, code.split('^').next().expect("code"));
        assert_eq!(f.message, "ctx");
    }
    // The most cautious class wins.
    let f = reg(
        200,
        Some(SOAP),
        &registry(&[
            ErrorOut::new("XDSRegistryBusy", "a"),
            ErrorOut::new("XDSNonIdenticalSize", "b"),
        ]),
    )
    .expect_err("mixed");
    assert_eq!(f.retry, Retry::Never);
    assert_eq!(f.errors.len(), 2);
}

#[test]
fn faults_http_statuses_and_bad_bodies() {
    let f = reg(500, Some(SOAP), &fault(FaultCode::Receiver, None)).expect_err("receiver");
    assert_eq!(
        (f.code.as_str(), f.retry, f.source),
        ("Receiver", Retry::BackoffMax3, FailureSource::SoapFault)
    );
    let f = reg(500, Some(SOAP), &fault(FaultCode::Sender, None)).expect_err("sender");
    assert_eq!((f.code.as_str(), f.retry), ("Sender", Retry::Never));
    let f = reg(
        500,
        Some(SOAP),
        &fault(FaultCode::Receiver, Some("wsse:InvalidSecurity")),
    )
    .expect_err("wsse");
    assert_eq!(
        (f.code.as_str(), f.retry),
        ("InvalidSecurity", Retry::Never)
    );
    let f = reg(503, Some(SOAP), &fault(FaultCode::Sender, None)).expect_err("503 fault");
    assert_eq!(f.retry, Retry::Backoff);
    for (status, code, retry) in [
        (502, "http_502", Retry::Backoff),
        (503, "http_503", Retry::Backoff),
        (504, "http_504", Retry::Backoff),
        (500, "http_500", Retry::Backoff),
        (401, "http_401", Retry::Never),
        (403, "http_403", Retry::Never),
        (404, "http_404", Retry::Never),
    ] {
        let f = reg(status, None, b"").expect_err("empty");
        assert_eq!(
            (f.code.as_str(), f.retry, f.http_status),
            (code, retry, Some(status))
        );
    }
    // An empty or unparseable 200: the DMP may have stored it.
    for body in [&b""[..], b"  \r\n", b"<soap:Envelope", b"\xff\xfe", b"<a/>"] {
        let f = reg(200, Some(SOAP), body).expect_err("bad body");
        assert_eq!(f.retry, Retry::Uncertain, "{body:?}");
        assert_eq!(f.source, FailureSource::Reply);
    }
    // A well-formed envelope holding something else.
    let other = reply_envelope("a", None, b"<x:Other xmlns:x=\"urn:x\"/>");
    assert_eq!(
        reg(200, Some(SOAP), &other).expect_err("other").code,
        "unexpected_reply"
    );
    // DTDs are refused.
    let dtd = b"<!DOCTYPE a [<!ENTITY e \"x\">]><soap:Envelope xmlns:soap=\"http://www.w3.org/2003/05/soap-envelope\"/>";
    assert_eq!(
        reg(200, Some(SOAP), dtd).expect_err("dtd").code,
        "unparseable_reply"
    );
}

#[test]
fn iti18_and_td02_replies() {
    let mut b = Vec::new();
    adhoc_query_response_xml(&mut b, &["urn:uuid:1", "urn:uuid:2"], &[]);
    let env = reply_envelope("r", None, &b);
    let refs = parse_iti18_response(&Reply {
        status: 200,
        content_type: Some(SOAP),
        body: &env,
    })
    .expect("refs");
    assert_eq!(refs, vec!["urn:uuid:1", "urn:uuid:2"]);
    assert!(passerelle_dmp::iti18::single_entry(&refs).is_err());

    let td = |out: Td02ReplyOut<'_>, local: &str| {
        let mut b = Vec::new();
        td02_reply_xml(&mut b, &out);
        let env = reply_envelope("r", None, &b);
        parse_td02_response(&Reply {
            status: 200,
            content_type: Some(SOAP),
            body: &env,
        })
        .expect("parsed")
        .state(local)
    };
    let base = Td02ReplyOut {
        ack: "AA",
        query_response: "OK",
        patient_status: Some("active"),
        birth_time: Some("20140312"),
        authorisation: Some("VALIDE"),
        ins: "1",
        ins_oid: "2",
    };
    assert_eq!(td(base, "2014-03-12"), Ok(PatientState::Active));
    assert_eq!(td(base, "2014-03-13"), Ok(PatientState::IdentityMismatch));
    assert_eq!(
        td(
            Td02ReplyOut {
                patient_status: Some("completed"),
                ..base
            },
            "2014-03-12"
        ),
        Ok(PatientState::Closed)
    );
    assert_eq!(
        td(
            Td02ReplyOut {
                query_response: "NF",
                patient_status: None,
                ..base
            },
            "2014-03-12"
        ),
        Ok(PatientState::NoDmp)
    );
    let err = td(Td02ReplyOut { ack: "AE", ..base }, "2014-03-12").expect_err("AE");
    assert_eq!(
        (err.code.as_str(), err.retry),
        ("td02_ack_AE", Retry::Never)
    );
}
