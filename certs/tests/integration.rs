//! Generated PKI checked by OpenSSL's CLI (the `openssl` Debian package) and x509-parser.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use passerelle_certs::{
    CRL_BASE_URL, CertKey, MANIFEST_FILE, Pki, PkiSpec, Usage, generate, load, load_or_generate,
    write,
};
use time::macros::datetime;
use x509_parser::prelude::{
    DistributionPointName, FromDer, GeneralName, ParsedExtension, X509Certificate, X509Name,
    parse_x509_crl,
};

fn now() -> ::time::OffsetDateTime {
    // A fixed reference keeps the test independent of the clock; OpenSSL is given the same time.
    datetime!(2026-03-01 12:00 UTC)
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let t = Instant::now();
        let pki = generate(&PkiSpec::sandbox(now())).expect("generate");
        eprintln!(
            "generate(sandbox): {:?} for {} keys",
            t.elapsed(),
            pki.all().len()
        );
        pki
    })
}

fn written() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().expect("tempdir");
        let t = Instant::now();
        write(pki(), d.path()).expect("write");
        eprintln!("write: {:?}", t.elapsed());
        d
    })
    .path()
}

fn openssl(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI (Debian package `openssl`) must be installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `openssl verify` at the spec's time, with the CRLs when `crl` is set.
fn verify(leaf: &str, untrusted: &str, crl: bool, purpose: Option<&str>) -> (bool, String) {
    let at = now().unix_timestamp().to_string();
    let mut args = vec![
        "verify",
        "-attime",
        &at,
        "-CAfile",
        "root.pem",
        "-untrusted",
        untrusted,
    ];
    if crl {
        args.extend(["-crl_check_all", "-CRLfile", "crl.pem"]);
    }
    if let Some(p) = purpose {
        args.extend(["-purpose", p]);
    }
    args.push(leaf);
    openssl(&args, written())
}

#[test]
fn openssl_verifies_every_good_chain_with_crls() {
    for t in &pki().tenants {
        for (u, purpose) in [
            (Usage::TlsClient, Some("sslclient")),
            (Usage::Signing, None),
        ] {
            let leaf = format!("tenants/{}/{}.pem", t.id, u.file_stem());
            let (ok, out) = verify(&leaf, "intermediate-organisations.pem", true, purpose);
            assert!(ok, "{leaf}: {out}");
        }
        let leaf = format!("tenants/{}/api-client.pem", t.id);
        let (ok, out) = verify(
            &leaf,
            "intermediate-api-clients.pem",
            true,
            Some("sslclient"),
        );
        assert!(ok, "{leaf}: {out}");
        // The API client CA is not the organisations CA: a DUI certificate is no ORG_AUTH_CLI.
        let (ok, _) = verify(&leaf, "intermediate-organisations.pem", false, None);
        assert!(!ok, "{leaf} must not chain through the organisations CA");
    }
    for s in &pki().servers {
        let leaf = format!("servers/{}.pem", s.name);
        let (ok, out) = verify(&leaf, "intermediate-servers.pem", true, Some("sslserver"));
        assert!(ok, "{leaf}: {out}");
    }
}

#[test]
fn openssl_rejects_each_broken_certificate_for_its_reason() {
    let org = "intermediate-organisations.pem";
    let cases = [
        ("broken/expired.pem", org, "certificate has expired"),
        (
            "broken/not-yet-valid.pem",
            org,
            "certificate is not yet valid",
        ),
        ("broken/revoked.pem", org, "certificate revoked"),
        (
            "broken/unknown-ca.pem",
            org,
            "unable to get local issuer certificate",
        ),
        (
            "broken/server-expired.pem",
            "intermediate-servers.pem",
            "certificate has expired",
        ),
        (
            "broken/server-unknown-ca.pem",
            org,
            "unable to get local issuer certificate",
        ),
    ];
    for (leaf, untrusted, reason) in cases {
        let (ok, out) = verify(leaf, untrusted, true, None);
        assert!(!ok, "{leaf} verified but should not");
        assert!(out.contains(reason), "{leaf}: expected {reason:?} in {out}");
    }
    // Without the CRL the revoked one chains fine: the CRL is what rejects it.
    let (ok, out) = verify("broken/revoked.pem", org, false, None);
    assert!(ok, "{out}");
    // The unknown-CA certificate verifies against its own root, so only the anchor differs.
    let at = now().unix_timestamp().to_string();
    let (ok, out) = openssl(
        &[
            "verify",
            "-attime",
            &at,
            "-CAfile",
            "broken/unknown-root.pem",
            "broken/unknown-ca.pem",
        ],
        written(),
    );
    assert!(ok, "{out}");
    // The wrong-usage (ORG_SIGN) certificate has no clientAuth EKU...
    let wrong = parse(&pki().broken.wrong_usage);
    assert!(wrong.extended_key_usage().expect("eku").is_none());
    // ...and the expiring-soon one is valid but close to its end.
    let (ok, out) = verify("broken/expiring-soon.pem", org, true, Some("sslclient"));
    assert!(ok, "{out}");
}

#[test]
fn pkcs12_files_parse_with_password_test() {
    for rel in [
        "tenants/cd93/tls-client.p12",
        "tenants/mecs-tilleuls/signing.p12",
        "tenants/cd75/api-client.p12",
        "servers/smtp.mssante.test.p12",
        "broken/revoked.p12",
    ] {
        let (ok, out) = openssl(
            &[
                "pkcs12",
                "-info",
                "-nokeys",
                "-passin",
                "pass:test",
                "-in",
                rel,
            ],
            written(),
        );
        assert!(ok, "{rel}: {out}");
        assert!(
            out.contains("TEST AC RACINE IGC-SANTE ELEMENTAIRE"),
            "{rel}: root missing: {out}"
        );
        let (ok, _) = openssl(
            &[
                "pkcs12",
                "-info",
                "-nokeys",
                "-passin",
                "pass:wrong",
                "-in",
                rel,
            ],
            written(),
        );
        assert!(!ok, "{rel} opened with a wrong password");
    }
    let (_, out) = openssl(
        &[
            "pkcs12",
            "-info",
            "-nokeys",
            "-passin",
            "pass:test",
            "-in",
            "tenants/cd93/tls-client.p12",
        ],
        written(),
    );
    assert!(out.contains("dui-app@cd93.mssante.test"), "{out}");
    assert!(
        out.contains("TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"),
        "{out}"
    );
}

fn parse(ck: &CertKey) -> X509Certificate<'_> {
    X509Certificate::from_der(&ck.cert_der).expect("parse").1
}

fn dn_string(name: &X509Name<'_>) -> String {
    name.iter_rdn()
        .flat_map(|rdn| rdn.iter())
        .map(|a| {
            let key = match a.attr_type().to_id_string().as_str() {
                "2.5.4.6" => "C",
                "2.5.4.10" => "O",
                "2.5.4.11" => "OU",
                "2.5.4.3" => "CN",
                other => panic!("unexpected attribute {other}"),
            };
            format!("{key}={}", a.as_str().expect("string value"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn emails(x: &X509Certificate<'_>) -> Vec<String> {
    x.subject_alternative_name()
        .expect("san")
        .map(|s| {
            s.value
                .general_names
                .iter()
                .filter_map(|g| match g {
                    GeneralName::RFC822Name(e) => Some((*e).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn tenant_certificates_have_the_igc_sante_shape() {
    let pki = pki();
    assert_eq!(pki.tenants.len(), 5);
    let auth = parse(pki.get("cd93", Usage::TlsClient).expect("cd93"));
    assert_eq!(
        dn_string(auth.subject()),
        "C=FR, O=Département de la Seine-Saint-Denis — ASE et CRIP, OU=322930008200018, \
         CN=dui-app@cd93.mssante.test"
    );
    assert_eq!(
        dn_string(auth.issuer()),
        "C=FR, O=TEST ASIP-SANTE, OU=TEST IGC-SANTE (NE PAS UTILISER EN PRODUCTION), \
         CN=TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"
    );
    let ku = auth.key_usage().expect("ku").expect("ku present");
    assert!(ku.critical);
    assert!(ku.value.digital_signature() && ku.value.key_encipherment());
    assert!(!ku.value.non_repudiation() && !ku.value.key_cert_sign());
    let eku = auth
        .extended_key_usage()
        .expect("eku")
        .expect("eku present")
        .value;
    assert!(eku.client_auth && !eku.server_auth);
    assert_eq!(emails(&auth), ["dui-app@cd93.mssante.test"]);
    let dps: Vec<String> = auth
        .extensions()
        .iter()
        .filter_map(|e| match e.parsed_extension() {
            ParsedExtension::CRLDistributionPoints(p) => Some(p),
            _ => None,
        })
        .flat_map(|p| p.iter())
        .filter_map(|p| match &p.distribution_point {
            Some(DistributionPointName::FullName(n)) => Some(n.clone()),
            _ => None,
        })
        .flatten()
        .filter_map(|g| match g {
            GeneralName::URI(u) => Some(u.to_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(dps, [format!("{CRL_BASE_URL}organisations.crl")]);
    assert_eq!(
        auth.validity().not_after.to_datetime(),
        now() + time::Duration::days(1095)
    );
    let bc = auth.basic_constraints().expect("bc");
    assert!(bc.is_none_or(|b| !b.value.ca));

    let sign = parse(pki.get("mecs-tilleuls", Usage::Signing).expect("mecs"));
    assert_eq!(
        dn_string(sign.subject()),
        "C=FR, O=MECS Les Tilleuls, OU=1930004130, CN=passerelle@mecs-tilleuls.mssante.test"
    );
    let ku = sign.key_usage().expect("ku").expect("ku present").value;
    assert!(ku.digital_signature() && ku.non_repudiation() && !ku.key_encipherment());
    assert!(sign.extended_key_usage().expect("eku").is_none());

    let api = parse(pki.get("cd75", Usage::ApiClient).expect("cd75"));
    assert_eq!(
        dn_string(api.subject()),
        "C=FR, O=Département de Paris — CRIP, OU=322750005400019, CN=api-client cd75"
    );
    assert!(
        api.extended_key_usage()
            .expect("eku")
            .expect("eku")
            .value
            .client_auth
    );

    // Every certificate has a distinct key and serial.
    let all = pki.all();
    let keys: std::collections::HashSet<_> = all.iter().map(|c| &c.key_der).collect();
    let serials: std::collections::HashSet<_> = all.iter().map(|c| &c.serial).collect();
    assert_eq!(keys.len(), all.len());
    assert_eq!(serials.len(), all.len());
    for c in all {
        let x = parse(c);
        assert_eq!(x.raw_serial(), c.serial.as_slice(), "{}", c.name);
        assert_eq!(
            x.signature_algorithm.algorithm.to_id_string(),
            "1.2.840.113549.1.1.11",
            "{}: RSA-SHA256",
            c.name
        );
        let bits = match x.public_key().parsed().expect("spki") {
            x509_parser::public_key::PublicKey::RSA(r) => r.key_size(),
            _ => 0,
        };
        assert_eq!(bits, 2048, "{}", c.name);
    }
}

#[test]
fn server_and_ca_certificates() {
    let pki = pki();
    let smtp = parse(pki.server("smtp.mssante.test").expect("smtp"));
    let san = smtp
        .subject_alternative_name()
        .expect("san")
        .expect("present")
        .value;
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for g in &san.general_names {
        match g {
            GeneralName::DNSName(d) => dns.push((*d).to_owned()),
            GeneralName::IPAddress(ip) => ips.push(ip.to_vec()),
            _ => {}
        }
    }
    assert_eq!(dns, ["smtp.mssante.test", "localhost"]);
    assert!(ips.contains(&vec![127, 0, 0, 1]));
    assert!(
        smtp.extended_key_usage()
            .expect("eku")
            .expect("eku")
            .value
            .server_auth
    );

    for ca in [&pki.root, &pki.org_ca, &pki.server_ca, &pki.api_ca] {
        let x = parse(ca);
        let bc = x.basic_constraints().expect("bc").expect("present").value;
        assert!(bc.ca, "{}", ca.name);
        let ku = x.key_usage().expect("ku").expect("present").value;
        assert!(ku.key_cert_sign() && ku.crl_sign(), "{}", ca.name);
    }
    let root = parse(&pki.root);
    assert_eq!(root.subject(), root.issuer());
    assert!(dn_string(root.subject()).contains("CN=TEST AC RACINE IGC-SANTE ELEMENTAIRE"));

    // The organisations CRL lists exactly the revoked certificate.
    let crl = pki.crl("organisations").expect("crl");
    let (_, parsed) = parse_x509_crl(&crl.der).expect("crl parse");
    let revoked: Vec<_> = parsed
        .iter_revoked_certificates()
        .map(|r| r.raw_serial().to_vec())
        .collect();
    assert_eq!(revoked, vec![pki.broken.revoked.serial.clone()]);
    for other in ["root", "servers", "api-clients"] {
        let (_, c) = parse_x509_crl(&pki.crl(other).expect("crl").der).expect("parse");
        assert_eq!(c.iter_revoked_certificates().count(), 0, "{other}");
    }
}

#[test]
fn files_listed_in_manifest_exist_and_keys_are_private() {
    let dir = written();
    let manifest = std::fs::read_to_string(dir.join(MANIFEST_FILE)).expect("manifest");
    assert!(manifest.contains("p12-password: test"));
    let files: Vec<&str> = manifest
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('\t'))
        .filter_map(|l| l.split('\t').next())
        .collect();
    for f in [
        "root.pem",
        "ca-chain.pem",
        "test-ca-chain.pem",
        "test-ca-chain-with-crl.pem",
        "crl.pem",
        "smtp-key-chain.pem",
        "imap.pem",
        "imap.key",
        "tenants/cd93/tls-client.p12",
        "tenants/cd93/signing.key.pem",
        "servers/dmp.test.chain.pem",
        "broken/unknown-root.pem",
    ] {
        assert!(files.contains(&f), "{f} not in MANIFEST");
    }
    for f in &files {
        let meta = std::fs::metadata(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        if f.ends_with(".key.pem") || f.ends_with(".p12") {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                meta.permissions().mode() & 0o077,
                0,
                "{f} readable by others"
            );
        }
    }
    let readme = std::fs::read_to_string(dir.join("README.txt")).expect("readme");
    assert!(readme.contains("TEST") && readme.contains("password: test"));
    // The Postfix file is key, then leaf, then the servers intermediate.
    let kc = std::fs::read_to_string(dir.join("smtp-key-chain.pem")).expect("kc");
    let blocks: Vec<&str> = kc.lines().filter(|l| l.starts_with("-----BEGIN")).collect();
    assert_eq!(
        blocks,
        [
            "-----BEGIN PRIVATE KEY-----",
            "-----BEGIN CERTIFICATE-----",
            "-----BEGIN CERTIFICATE-----"
        ]
    );
    let chain = std::fs::read_to_string(dir.join("test-ca-chain-with-crl.pem")).expect("chain");
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 4);
    assert_eq!(chain.matches("BEGIN X509 CRL").count(), 4);
}

#[test]
fn load_returns_what_was_written() {
    let loaded = load(written(), &PkiSpec::sandbox(now())).expect("load");
    assert_eq!(&loaded, pki());
    let mut other = PkiSpec::sandbox(now());
    other.tenants.pop();
    assert!(
        load(written(), &other).is_err(),
        "a changed spec must not load"
    );
}

#[test]
fn load_or_generate_reuses_files_and_cached_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spec = PkiSpec::sandbox(now());
    spec.tenants.truncate(2);
    spec.server_names.truncate(2);
    let t = Instant::now();
    let first = load_or_generate(dir.path(), &spec).expect("first");
    let cold = t.elapsed();
    let t = Instant::now();
    let again = load_or_generate(dir.path(), &spec).expect("again");
    let warm = t.elapsed();
    eprintln!("load_or_generate: cold {cold:?}, warm (reuse) {warm:?}");
    assert_eq!(
        first, again,
        "an unchanged, fresh directory is reused as is"
    );

    // Later than the reuse margin: certificates are re-issued with the cached keys.
    spec.now = now() + time::Duration::days(1095 - 10);
    let t = Instant::now();
    let renewed = load_or_generate(dir.path(), &spec).expect("renewed");
    eprintln!("load_or_generate with cached keys: {:?}", t.elapsed());
    assert_ne!(renewed.root.cert_der, first.root.cert_der);
    assert_eq!(renewed.root.key_der, first.root.key_der);
    assert_eq!(
        renewed.get("cd93", Usage::TlsClient).map(|c| &c.key_der),
        first.get("cd93", Usage::TlsClient).map(|c| &c.key_der)
    );
    assert_eq!(load(dir.path(), &spec).expect("reload"), renewed);

    // A new tenant gets new keys, old tenants keep theirs.
    let mut grown = spec.clone();
    grown.tenants = PkiSpec::sandbox(now()).tenants[..3].to_vec();
    let g = load_or_generate(dir.path(), &grown).expect("grown");
    assert_eq!(g.tenants.len(), 3);
    assert_eq!(g.root.key_der, first.root.key_der);
    assert!(
        g.all()
            .iter()
            .filter(|c| c.key_der == first.root.key_der)
            .count()
            == 1
    );
}

#[test]
fn invalid_specs_name_the_field() {
    let mut spec = PkiSpec::sandbox(now());
    spec.tenants[1].id = "../etc".into();
    let err = generate(&spec).expect_err("bad id").to_string();
    assert!(err.contains("tenants[1].id"), "{err}");
    let mut spec = PkiSpec::sandbox(now());
    spec.tenants[0].app_mailbox = "no-at-sign".into();
    let err = generate(&spec).expect_err("bad mailbox").to_string();
    assert!(err.contains("tenants[0].app_mailbox"), "{err}");
    let mut spec = PkiSpec::sandbox(now());
    spec.server_names.push("dmp.test".into());
    let err = generate(&spec).expect_err("dup").to_string();
    assert!(err.contains("server_names[4]"), "{err}");
}
