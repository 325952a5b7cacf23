//! bolero harnesses (plain tests on stable): the MTOM reader and the reply parser never panic, and
//! what the reader returns lies inside the input.

use passerelle_dmp::{
    Reply, mtom, parse_iti18_response, parse_registry_response, parse_td02_response,
};

const CT: &str = "multipart/related; boundary=\"B\"; type=\"application/xop+xml\"; start=\"<0.1>\"";

fn valid_multipart() -> Vec<u8> {
    b"--B\r\nContent-Type: application/xop+xml\r\nContent-ID: <0.1>\r\n\r\n<soap:Envelope xmlns:soap=\"http://www.w3.org/2003/05/soap-envelope\"><soap:Body><rs:RegistryResponse xmlns:rs=\"urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0\" status=\"urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure\"><rs:RegistryErrorList><rs:RegistryError errorCode=\"XDSRegistryBusy\" severity=\"urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error\"/></rs:RegistryErrorList></rs:RegistryResponse></soap:Body></soap:Envelope>\r\n--B\r\nContent-ID: <0.2>\r\n\r\nbytes\r\n--B--\r\n".to_vec()
}

fn check_parts(input: &[u8]) {
    if let Ok(mp) = mtom::parse(CT, input) {
        let range = input.as_ptr_range();
        for p in &mp.parts {
            let r = p.body.as_ptr_range();
            assert!(range.start <= r.start && r.end <= range.end);
        }
        assert!(mp.parts.len() <= mtom::MAX_PARTS);
    }
}

#[test]
fn fuzz_mtom_reader_arbitrary_bytes() {
    bolero::check!()
        .with_iterations(3000)
        .for_each(|input: &[u8]| check_parts(input));
}

#[test]
fn fuzz_mtom_reader_mutated_valid_body() {
    let base = valid_multipart();
    bolero::check!()
        .with_iterations(3000)
        .with_type::<(u16, u8, u8)>()
        .for_each(|(pos, byte, op)| {
            let mut b = base.clone();
            let i = usize::from(*pos) % b.len();
            match op % 3 {
                0 => b[i] = *byte,
                1 => {
                    b.remove(i);
                }
                _ => b.insert(i, *byte),
            }
            check_parts(&b);
            let _ = parse_registry_response(&Reply {
                status: 200,
                content_type: Some(CT),
                body: &b,
            });
        });
}

#[test]
fn fuzz_soap_fault_and_registry_response_parser() {
    bolero::check!()
        .with_iterations(3000)
        .with_type::<(u16, bool, Vec<u8>)>()
        .for_each(|(status, mtom_ct, body)| {
            let ct = if *mtom_ct {
                Some(CT)
            } else {
                Some("application/soap+xml")
            };
            let r = Reply {
                status: *status,
                content_type: ct,
                body,
            };
            if let Err(f) = parse_registry_response(&r) {
                assert!(!f.code.is_empty());
            }
            let _ = parse_iti18_response(&r);
            let _ = parse_td02_response(&r);
        });
}

#[test]
fn fuzz_fault_texts() {
    // Arbitrary text inside a well-formed Fault: parsed, classified, never a panic.
    bolero::check!()
        .with_iterations(2000)
        .with_type::<(String, String)>()
        .for_each(|(value, sub)| {
            let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;");
            let body = format!(
                "<soap:Envelope xmlns:soap=\"http://www.w3.org/2003/05/soap-envelope\"><soap:Body><soap:Fault><soap:Code><soap:Value>{}</soap:Value><soap:Subcode><soap:Value>{}</soap:Value></soap:Subcode></soap:Code><soap:Reason><soap:Text>r</soap:Text></soap:Reason></soap:Fault></soap:Body></soap:Envelope>",
                esc(value),
                esc(sub)
            );
            let r = Reply { status: 500, content_type: Some("application/soap+xml"), body: body.as_bytes() };
            if let Err(f) = parse_registry_response(&r) {
                assert_eq!(f.http_status, Some(500));
            }
        });
}
