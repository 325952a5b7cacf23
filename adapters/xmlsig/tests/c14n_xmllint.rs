//! Our exclusive c14n against libxml2's (`xmllint --exc-c14n`, with comments) on varied inputs,
//! and the comment-less variant against the same output with comments stripped where obvious.
#![allow(clippy::unwrap_used)]

mod common;

use passerelle_xmlsig::{C14nAlgorithm, C14nOptions, canonicalize};

const CASES: &[(&str, &str)] = &[
    (
        "namespaces on ancestors, unused ones dropped, redeclarations",
        r#"<a:root xmlns:a="urn:a" xmlns:b="urn:b" xmlns:c="urn:c"><b:x xmlns:a="urn:a"><a:y xmlns:b="urn:b2"><c:z b:att="1"/></a:y></b:x><q/></a:root>"#,
    ),
    (
        "attribute order by namespace URI then local name",
        r#"<r xmlns:z="urn:a" xmlns:a="urn:z" a:x="1" z:y="2" b="3" a="4" z:a="5"/>"#,
    ),
    (
        "comments and processing instructions inside and outside the root",
        "<?pi-before data?>\n<!-- before -->\n<r><!-- in --><?pi inside ?><c>t<!---->u</c></r>\n<!-- after --><?pi-after?>\n",
    ),
    (
        "entities and character references",
        "<!DOCTYPE r [<!ENTITY who \"Lea &amp; Noah\"><!ENTITY nl \"&#38;#10;\">]><r a=\"&who;\" b=\"x&#9;y&#10;z&#13;\">&who; &lt;&gt;&amp; &#x20AC; &#13; ' \"</r>",
    ),
    (
        "default namespace declared, undeclared, redeclared",
        r#"<r xmlns="urn:d"><a xmlns=""><b xmlns="urn:d"><c xmlns="urn:e"/></b></a><d/></r>"#,
    ),
    (
        "CDATA, whitespace, CRLF line ends and attribute normalisation",
        "<r a=\"  tab\there\r\nnl  \">\r\n <![CDATA[<not markup> & ]]]]>\r\n</r>",
    ),
    (
        "xml: attributes and self-closing elements",
        r#"<r xml:lang="fr" xml:space="preserve"><e/><f xml:lang="en"></f></r>"#,
    ),
    (
        "SOAP envelope with a SAML assertion (ancestor namespaces not utilised)",
        r#"<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing"><soap:Header><wsa:Action soap:mustUnderstand="true">urn:x</wsa:Action><wsse:Security xmlns:wsse="urn:wsse"><saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_1"><saml:Issuer>C=FR, O=X</saml:Issuer></saml:Assertion></wsse:Security></soap:Header><soap:Body/></soap:Envelope>"#,
    ),
    (
        "unicode text and attribute values",
        "<r v=\"Lé&quot;a\">Inès — 中文 &#x1F600;</r>",
    ),
];

#[test]
fn matches_xmllint_exc_c14n_with_comments() {
    let opts = C14nOptions {
        with_comments: true,
        allow_dtd: true,
        ..C14nOptions::default()
    };
    for (name, xml) in CASES {
        let ours = canonicalize(xml.as_bytes(), &opts)
            .unwrap_or_else(|e| panic!("{name}: our c14n failed: {e}"));
        let theirs = common::xmllint_exc_c14n(xml.as_bytes());
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs),
            "case: {name}"
        );
    }
}

#[test]
fn inclusive_matches_xmllint_c14n_with_comments() {
    let opts = C14nOptions {
        algorithm: C14nAlgorithm::Inclusive10,
        with_comments: true,
        allow_dtd: true,
        ..C14nOptions::default()
    };
    for (name, xml) in CASES {
        let ours = canonicalize(xml.as_bytes(), &opts)
            .unwrap_or_else(|e| panic!("{name}: our c14n failed: {e}"));
        let theirs = common::xmllint_c14n(xml.as_bytes());
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs),
            "case: {name}"
        );
    }
}

#[test]
fn without_comments_drops_every_comment_only() {
    let opts = C14nOptions {
        allow_dtd: true,
        ..C14nOptions::default()
    };
    let with = C14nOptions {
        with_comments: true,
        allow_dtd: true,
        ..C14nOptions::default()
    };
    for (name, xml) in CASES {
        let ours = String::from_utf8(canonicalize(xml.as_bytes(), &opts).unwrap()).unwrap();
        let full = String::from_utf8(canonicalize(xml.as_bytes(), &with).unwrap()).unwrap();
        assert!(!ours.contains("<!--"), "case: {name}");
        if !full.contains("<!--") {
            assert_eq!(ours, full, "case: {name}");
        }
    }
}

#[test]
fn inclusive_prefix_list_renders_in_scope_ancestor_namespaces() {
    let xml = r#"<r xmlns="urn:d" xmlns:p="urn:p" xmlns:q="urn:q"><s:e xmlns:s="urn:s"/></r>"#;
    let opts = C14nOptions {
        inclusive_prefixes: vec!["p".into(), "#default".into(), "absent".into()],
        ..C14nOptions::default()
    };
    let out = String::from_utf8(canonicalize(xml.as_bytes(), &opts).unwrap()).unwrap();
    assert_eq!(
        out,
        r#"<r xmlns="urn:d" xmlns:p="urn:p"><s:e xmlns:s="urn:s"></s:e></r>"#
    );
}

#[test]
fn refuses_dtd_unless_allowed_and_malformed_input() {
    let dtd = "<!DOCTYPE r [<!ENTITY e \"x\">]><r>&e;</r>";
    assert!(canonicalize(dtd.as_bytes(), &C14nOptions::default()).is_err());
    assert!(canonicalize(b"<r><a></r>", &C14nOptions::default()).is_err());
    assert!(canonicalize(b"<p:r/>", &C14nOptions::default()).is_err());
    assert!(canonicalize(&[0xff, 0xfe], &C14nOptions::default()).is_err());
}

#[test]
fn markup_from_entity_expansion_is_refused_not_guessed() {
    let xml = "<!DOCTYPE r [<!ENTITY e \"<p:x xmlns:p='urn:p'/>\">]><r>&e;</r>";
    let opts = C14nOptions {
        allow_dtd: true,
        ..C14nOptions::default()
    };
    // Either a correct result or a refusal: never a wrong prefix.
    match canonicalize(xml.as_bytes(), &opts) {
        Ok(out) => assert_eq!(out, common::xmllint_exc_c14n(xml.as_bytes())),
        Err(e) => assert!(e.to_string().contains("unsupported"), "{e}"),
    }
}
