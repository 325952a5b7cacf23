//! Real rustls handshakes over loopback TCP with the test PKI of `passerelle-certs`, identity
//! loading (PEM, PKCS#12 incl. legacy RC2/3DES made by the `openssl` CLI), inspection and checks.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use passerelle_certs::{CertKey, Pki, PkiSpec, Usage as CertUsage, generate, write};
use passerelle_tls::rustls::{
    self, CertificateError, ClientConfig, ClientConnection, ServerConfig, ServerConnection,
    StreamOwned,
};
use passerelle_tls::{
    CertInfo, ClientAuth, Identity, IdentitySource, KeyUsage, ProblemKind, Revocation,
    RevocationPolicy, Severity, TlsError, TrustAnchors, Usage, check_identity, client_config,
    crls_from_pem, inspect, load_crls, server_config,
};
use rustls_pki_types::{CertificateRevocationListDer, ServerName};

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    // Handshakes use rustls' own clock, so the PKI is issued at the real current time.
    PKI.get_or_init(|| generate(&PkiSpec::sandbox(time::OffsetDateTime::now_utc())).expect("pki"))
}

fn dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().expect("tempdir");
        write(pki(), d.path()).expect("write");
        d
    })
    .path()
}

fn id(ck: &CertKey) -> Identity {
    Identity::from_pem(ck.chain_pem().as_bytes(), ck.key_pem.as_bytes()).expect("identity")
}

fn id_p12(ck: &CertKey) -> Identity {
    Identity::from_pkcs12(&ck.pkcs12("test").expect("p12"), "test").expect("p12 identity")
}

fn root_only() -> TrustAnchors {
    TrustAnchors::from_pem(pki().root.cert_pem.as_bytes()).expect("root")
}

fn all_crls() -> Vec<CertificateRevocationListDer<'static>> {
    crls_from_pem("crl.pem", pki().crls_pem().as_bytes()).expect("crls")
}

fn crl(name: &str) -> CertificateRevocationListDer<'static> {
    CertificateRevocationListDer::from(pki().crl(name).expect("crl").der.clone())
}

fn cd93(u: CertUsage) -> &'static CertKey {
    pki().get("cd93", u).expect("cd93")
}

fn smtp() -> &'static CertKey {
    pki().server("smtp.mssante.test").expect("smtp")
}

fn to_rustls(e: std::io::Error) -> rustls::Error {
    e.get_ref()
        .and_then(|i| i.downcast_ref::<rustls::Error>())
        .cloned()
        .unwrap_or_else(|| rustls::Error::General(e.to_string()))
}

struct Outcome {
    /// Server side: the client's leaf, if any.
    server: Result<Option<CertInfo>, rustls::Error>,
    /// Client side: what the server wrote.
    client: Result<String, rustls::Error>,
}

fn handshake(server: ServerConfig, client: ClientConfig, name: &str) -> Outcome {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = Arc::new(server);
    let srv = std::thread::spawn(move || -> Result<Option<CertInfo>, rustls::Error> {
        let (mut sock, _) = listener.accept().expect("accept");
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let mut conn = ServerConnection::new(server)?;
        while conn.is_handshaking() {
            conn.complete_io(&mut sock).map_err(to_rustls)?;
        }
        let peer = conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| inspect(c).expect("inspect peer"));
        conn.writer().write_all(b"hello").expect("write");
        conn.send_close_notify();
        while conn.wants_write() {
            conn.complete_io(&mut sock).map_err(to_rustls)?;
        }
        Ok(peer)
    });
    let sock = TcpStream::connect(addr).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let name = ServerName::try_from(name.to_owned()).expect("server name");
    let conn = ClientConnection::new(Arc::new(client), name).expect("client conn");
    let mut tls = StreamOwned::new(conn, sock);
    let mut buf = String::new();
    let client = tls.read_to_string(&mut buf).map(|_| buf).map_err(to_rustls);
    drop(tls);
    let server = srv.join().expect("server thread");
    Outcome { server, client }
}

fn mtls_server(trust: &TrustAnchors, revocation: &Revocation) -> ServerConfig {
    server_config(&id(smtp()), ClientAuth::Required(trust), revocation).expect("server config")
}

fn client_with(ck: Option<&CertKey>) -> ClientConfig {
    client_config(
        ck.map(id).as_ref(),
        &root_only(),
        &Revocation::strict(all_crls()),
    )
    .expect("client config")
}

#[test]
fn valid_org_auth_cli_from_pkcs12_is_accepted_with_strict_crls() {
    let client = client_config(
        Some(&id_p12(cd93(CertUsage::TlsClient))),
        &root_only(),
        &Revocation::strict(all_crls()),
    )
    .expect("client");
    let server = mtls_server(&root_only(), &Revocation::strict(all_crls()));
    let o = handshake(server, client, "smtp.mssante.test");
    let peer = o
        .server
        .expect("server accepts")
        .expect("client cert present");
    assert_eq!(
        peer.subject_cn.as_deref(),
        Some("dui-app@cd93.mssante.test")
    );
    assert_eq!(peer.san_emails, ["dui-app@cd93.mssante.test"]);
    assert_eq!(o.client.expect("client reads"), "hello");
}

#[test]
fn server_cert_is_valid_for_localhost_and_loopback_ip() {
    for name in ["localhost", "127.0.0.1"] {
        let server = mtls_server(&root_only(), &Revocation::strict(all_crls()));
        let o = handshake(server, client_with(Some(cd93(CertUsage::TlsClient))), name);
        assert_eq!(o.client.expect(name), "hello");
    }
}

fn assert_server_rejects(ck: &CertKey, want: fn(&CertificateError) -> bool, what: &str) {
    let server = mtls_server(&root_only(), &Revocation::strict(all_crls()));
    let o = handshake(server, client_with(Some(ck)), "smtp.mssante.test");
    match &o.server {
        Err(rustls::Error::InvalidCertificate(e)) if want(e) => {}
        other => panic!("{what}: server side expected a matching certificate error, got {other:?}"),
    }
    assert!(o.client.is_err(), "{what}: the client must see the refusal");
}

#[test]
fn broken_client_certificates_are_refused_for_their_reason() {
    let b = &pki().broken;
    assert_server_rejects(
        &b.expired,
        |e| {
            matches!(
                e,
                CertificateError::Expired | CertificateError::ExpiredContext { .. }
            )
        },
        "expired",
    );
    assert_server_rejects(
        &b.not_yet_valid,
        |e| {
            matches!(
                e,
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. }
            )
        },
        "not yet valid",
    );
    assert_server_rejects(
        &b.unknown_ca,
        |e| matches!(e, CertificateError::UnknownIssuer),
        "unknown CA",
    );
    assert_server_rejects(
        &b.revoked,
        |e| matches!(e, CertificateError::Revoked),
        "revoked",
    );
    assert_server_rejects(
        &b.wrong_usage,
        |e| matches!(e, CertificateError::InvalidPurpose),
        "ORG_SIGN as TLS client",
    );
    // The tenant's own ORG_SIGN is refused the same way.
    assert_server_rejects(
        cd93(CertUsage::Signing),
        |e| matches!(e, CertificateError::InvalidPurpose),
        "tenant ORG_SIGN",
    );
}

#[test]
fn the_crl_is_what_refuses_the_revoked_certificate() {
    let server = mtls_server(&root_only(), &Revocation::disabled());
    let o = handshake(
        server,
        client_with(Some(&pki().broken.revoked)),
        "smtp.mssante.test",
    );
    assert!(o.server.is_ok(), "{:?}", o.server);
}

#[test]
fn strict_revocation_needs_a_crl_for_every_ca_of_the_chain() {
    let valid = cd93(CertUsage::TlsClient);
    // Only the organisations CRL: the intermediate's own status (root CRL) is unknown.
    let partial = vec![crl("organisations")];
    let o = handshake(
        mtls_server(&root_only(), &Revocation::strict(partial.clone())),
        client_with(Some(valid)),
        "smtp.mssante.test",
    );
    assert!(
        matches!(
            o.server,
            Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownRevocationStatus
            ))
        ),
        "{:?}",
        o.server
    );
    // Soft-fail tolerates it but still refuses the listed serial.
    let o = handshake(
        mtls_server(&root_only(), &Revocation::soft_fail(partial.clone())),
        client_with(Some(valid)),
        "smtp.mssante.test",
    );
    assert!(o.server.is_ok(), "{:?}", o.server);
    let o = handshake(
        mtls_server(&root_only(), &Revocation::soft_fail(partial.clone())),
        client_with(Some(&pki().broken.revoked)),
        "smtp.mssante.test",
    );
    assert!(
        matches!(
            o.server,
            Err(rustls::Error::InvalidCertificate(CertificateError::Revoked))
        ),
        "{:?}",
        o.server
    );
    // End-entity-only strict checking is satisfied by the issuing CA's CRL.
    let ee_only = Revocation {
        crls: partial,
        policy: RevocationPolicy::Strict,
        end_entity_only: true,
    };
    let o = handshake(
        mtls_server(&root_only(), &ee_only),
        client_with(Some(valid)),
        "smtp.mssante.test",
    );
    assert!(o.server.is_ok(), "{:?}", o.server);
    // Strict with no CRL at all is a configuration error, never a silent "no check".
    let err = client_config(None, &root_only(), &Revocation::strict(Vec::new()))
        .expect_err("strict without CRL");
    assert!(err.to_string().contains("revocation"), "{err}");
}

#[test]
fn client_trusting_only_the_test_root_refuses_foreign_expired_or_misnamed_servers() {
    type Want = fn(&rustls::Error) -> bool;
    let cases: [(&CertKey, &str, Want); 3] = [
        (&pki().broken.server_unknown_ca, "smtp.mssante.test", |e| {
            matches!(
                e,
                rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
            )
        }),
        (&pki().broken.server_expired, "smtp.mssante.test", |e| {
            matches!(
                e,
                rustls::Error::InvalidCertificate(
                    CertificateError::Expired | CertificateError::ExpiredContext { .. }
                )
            )
        }),
        (
            pki().server("dmp.test").expect("dmp"),
            "smtp.mssante.test",
            |e| {
                matches!(
                    e,
                    rustls::Error::InvalidCertificate(
                        CertificateError::NotValidForName
                            | CertificateError::NotValidForNameContext { .. }
                    )
                )
            },
        ),
    ];
    for (server_cert, name, want) in cases {
        let server = server_config(
            &id(server_cert),
            ClientAuth::Disabled,
            &Revocation::disabled(),
        )
        .expect("server");
        let o = handshake(server, client_with(None), name);
        match &o.client {
            Err(e) if want(e) => {}
            other => panic!(
                "{}: client expected a certificate error, got {other:?}",
                server_cert.name
            ),
        }
    }
    // The same unknown-CA server is fine for a client that trusts that other root: the anchor
    // is what differs.
    let foreign = TrustAnchors::from_pem(pki().unknown_root.cert_pem.as_bytes()).expect("foreign");
    let client = client_config(None, &foreign, &Revocation::disabled()).expect("client");
    let server = server_config(
        &id(&pki().broken.server_unknown_ca),
        ClientAuth::Disabled,
        &Revocation::disabled(),
    )
    .expect("server");
    assert_eq!(
        handshake(server, client, "smtp.mssante.test")
            .client
            .expect("ok"),
        "hello"
    );
}

#[test]
fn optional_client_auth_accepts_anonymous_and_identifies_certified_clients() {
    let trust = root_only();
    let mk = || {
        server_config(
            &id(smtp()),
            ClientAuth::Optional(&trust),
            &Revocation::strict(all_crls()),
        )
        .expect("server")
    };
    let o = handshake(mk(), client_with(None), "smtp.mssante.test");
    assert_eq!(o.server.expect("anonymous ok"), None);
    let o = handshake(
        mk(),
        client_with(Some(cd93(CertUsage::TlsClient))),
        "smtp.mssante.test",
    );
    assert!(o.server.expect("ok").is_some());
    // Required: no certificate, no session.
    let o = handshake(
        mtls_server(&root_only(), &Revocation::strict(all_crls())),
        client_with(None),
        "smtp.mssante.test",
    );
    assert!(
        matches!(o.server, Err(rustls::Error::NoCertificatesPresented)),
        "{:?}",
        o.server
    );
}

#[test]
fn api_listener_trusting_only_the_api_ca_refuses_org_certificates() {
    let api_trust = TrustAnchors::from_pem(pki().api_ca.cert_pem.as_bytes()).expect("api ca");
    let mk = || {
        server_config(
            &id(pki().server("passerelle.test").expect("gw")),
            ClientAuth::Required(&api_trust),
            &Revocation::strict(vec![crl("api-clients")]),
        )
        .expect("server")
    };
    let o = handshake(
        mk(),
        client_with(Some(cd93(CertUsage::ApiClient))),
        "passerelle.test",
    );
    let peer = o.server.expect("api client accepted").expect("cert");
    assert_eq!(peer.subject_cn.as_deref(), Some("api-client cd93"));
    assert_eq!(peer.subject_ou.as_deref(), Some("322930008200018"));
    let o = handshake(
        mk(),
        client_with(Some(cd93(CertUsage::TlsClient))),
        "passerelle.test",
    );
    assert!(
        matches!(
            o.server,
            Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))
        ),
        "{:?}",
        o.server
    );
}

#[test]
fn inspect_reports_subject_issuer_usages_and_fingerprint() {
    let ck = pki()
        .get("mecs-tilleuls", CertUsage::TlsClient)
        .expect("mecs");
    let i = inspect(&ck.cert_der).expect("inspect");
    assert_eq!(
        i.subject,
        "C=FR, O=MECS Les Tilleuls, OU=1930004130, CN=passerelle@mecs-tilleuls.mssante.test"
    );
    assert_eq!(
        i.issuer,
        "C=FR, O=TEST ASIP-SANTE, OU=TEST IGC-SANTE (NE PAS UTILISER EN PRODUCTION), \
         CN=TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"
    );
    let serial: String = ck.serial.iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(i.serial_hex, serial);
    assert_eq!(
        i.key_usage,
        [KeyUsage::DigitalSignature, KeyUsage::KeyEncipherment]
    );
    assert_eq!(i.extended_key_usage, Some(vec!["clientAuth".to_owned()]));
    assert_eq!(i.san_emails, ["passerelle@mecs-tilleuls.mssante.test"]);
    assert_eq!(i.public_key, "RSA 2048");
    assert_eq!(
        i.crl_distribution_points,
        [format!(
            "{}organisations.crl",
            passerelle_certs::CRL_BASE_URL
        )]
    );
    assert!(!i.is_ca);
    assert!(i.not_before < i.not_after);

    let s = inspect(&cd93(CertUsage::Signing).cert_der).expect("sign");
    assert_eq!(
        s.key_usage,
        [KeyUsage::DigitalSignature, KeyUsage::NonRepudiation]
    );
    assert_eq!(s.extended_key_usage, None);

    let srv = inspect(&smtp().cert_der).expect("srv");
    assert_eq!(srv.san_dns, ["smtp.mssante.test", "localhost"]);
    assert!(srv.san_ips.contains(&"127.0.0.1".parse().expect("ip")));
    assert_eq!(srv.extended_key_usage, Some(vec!["serverAuth".to_owned()]));
    let root = inspect(&pki().root.cert_der).expect("root");
    assert!(root.is_ca && root.crl_distribution_points.is_empty());

    // Same fingerprint as OpenSSL's.
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(dir().join("tenants/mecs-tilleuls/tls-client.pem"))
        .output()
        .expect("the openssl CLI (Debian package `openssl`) must be installed");
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(
        text.contains(&i.sha256_fingerprint),
        "{text} vs {}",
        i.sha256_fingerprint
    );
}

fn kinds(r: &passerelle_tls::IdentityReport) -> Vec<ProblemKind> {
    let mut v: Vec<_> = r.problems.iter().map(|p| p.kind).collect();
    v.sort_by_key(|k| format!("{k:?}"));
    v
}

#[test]
fn check_identity_reports_every_problem() {
    let now = pki().spec.now;
    let trust = root_only();
    let crls = all_crls();
    let check =
        |ident: &Identity, u: Usage| check_identity(ident, &trust, u, now, &crls).expect("check");
    for t in &pki().tenants {
        let r = check(&id(&t.tls_client), Usage::TlsClient);
        assert!(r.problems.is_empty(), "{}: {:?}", t.id, r.problems);
        let r = check(&id(&t.signing), Usage::Signing);
        assert!(r.problems.is_empty(), "{}: {:?}", t.id, r.problems);
        let r = check(&id(&t.api_client), Usage::TlsClient);
        assert!(r.problems.is_empty(), "{}: {:?}", t.id, r.problems);
    }
    let r = check(&id(smtp()), Usage::TlsServer);
    assert!(r.is_ok() && r.problems.is_empty(), "{:?}", r.problems);

    // Wrong usage both ways.
    let r = check(&id(cd93(CertUsage::Signing)), Usage::TlsClient);
    assert_eq!(kinds(&r), [ProblemKind::Usage]);
    assert!(r.problems[0].message.contains("clientAuth"));
    let r = check(&id(cd93(CertUsage::TlsClient)), Usage::Signing);
    assert_eq!(kinds(&r), [ProblemKind::Usage]);
    assert!(r.problems[0].message.contains("nonRepudiation"));

    let b = &pki().broken;
    assert_eq!(
        kinds(&check(&id(&b.expired), Usage::TlsClient)),
        [ProblemKind::Expired]
    );
    assert_eq!(
        kinds(&check(&id(&b.not_yet_valid), Usage::TlsClient)),
        [ProblemKind::NotYetValid]
    );
    assert_eq!(
        kinds(&check(&id(&b.unknown_ca), Usage::TlsClient)),
        [ProblemKind::Chain]
    );
    assert_eq!(
        kinds(&check(&id(&b.revoked), Usage::TlsClient)),
        [ProblemKind::Revoked]
    );
    let soon = check(&id(&b.expiring_soon), Usage::TlsClient);
    assert_eq!(kinds(&soon), [ProblemKind::ExpiresSoon]);
    assert!(soon.is_ok(), "a warning is not an error");
    assert_eq!(soon.problems[0].severity, Severity::Warning);
    // Without CRLs the revoked one looks fine: the check really uses them.
    assert!(
        check_identity(&id(&b.revoked), &trust, Usage::TlsClient, now, &[])
            .expect("check")
            .problems
            .is_empty()
    );

    // Key of another tenant + expired + wrong usage: all three reported at once.
    let mixed = Identity::from_pem(
        b.expired.chain_pem().as_bytes(),
        pki()
            .get("cd75", CertUsage::TlsClient)
            .expect("cd75")
            .key_pem
            .as_bytes(),
    )
    .expect("mixed");
    let r = check(&mixed, Usage::Signing);
    assert_eq!(
        kinds(&r),
        [
            ProblemKind::Expired,
            ProblemKind::KeyMismatch,
            ProblemKind::Usage
        ]
    );
    assert!(!r.is_ok());
    // The expired ORG_AUTH_CLI has digitalSignature, so only nonRepudiation is missing.
    assert_eq!(r.errors().count(), 3, "{:?}", r.problems);
}

#[test]
fn identities_load_from_files_pem_and_pkcs12() {
    let d = dir();
    let pem = Identity::load(&IdentitySource::Pem {
        cert: d.join("tenants/cd93/tls-client.chain.pem"),
        key: d.join("tenants/cd93/tls-client.key.pem"),
    })
    .expect("pem");
    let p12 = Identity::load(&IdentitySource::Pkcs12 {
        path: d.join("tenants/cd93/tls-client.p12"),
        password: "test".into(),
    })
    .expect("p12");
    assert_eq!(
        pem.chain(),
        p12.chain(),
        "p12 chain = leaf + intermediate, root left out"
    );
    assert_eq!(pem.chain().len(), 2);
    assert_eq!(pem.key().secret_der(), p12.key().secret_der());
    // Key and chain in one file (Postfix layout).
    let bundle = Identity::load(&IdentitySource::Pem {
        cert: d.join("smtp-key-chain.pem"),
        key: d.join("smtp-key-chain.pem"),
    })
    .expect("bundle");
    assert_eq!(bundle.leaf().as_ref(), smtp().cert_der.as_slice());

    let err = Identity::load(&IdentitySource::Pkcs12 {
        path: d.join("tenants/cd93/tls-client.p12"),
        password: "wrong".into(),
    })
    .expect_err("wrong password");
    assert!(matches!(err, TlsError::Pkcs12 { .. }), "{err}");
    let src = IdentitySource::Pkcs12 {
        path: "x.p12".into(),
        password: "secret-value".into(),
    };
    assert!(!format!("{src:?}").contains("secret-value"));

    let err = Identity::load(&IdentitySource::Pem {
        cert: d.join("missing.pem"),
        key: d.join("missing.pem"),
    })
    .expect_err("missing");
    assert!(err.to_string().contains("missing.pem"), "{err}");

    // A leaf is not a trust anchor.
    let err = TrustAnchors::from_pem(smtp().cert_pem.as_bytes()).expect_err("leaf as CA");
    assert!(err.to_string().contains("not a CA"), "{err}");
    let chain = TrustAnchors::load(&[d.join("ca-chain.pem")]).expect("chain");
    assert_eq!(chain.certs().len(), 4);

    let crls = load_crls(&[d.join("crl.pem"), d.join("crl/organisations.der")]).expect("crls");
    assert_eq!(crls.len(), 5);
    assert!(
        load_crls(&[d.join("root.pem")]).is_err(),
        "a certificate is no CRL"
    );
}

#[test]
fn legacy_pkcs12_from_openssl_loads() {
    let d = tempfile::tempdir().expect("tmp");
    let ck = cd93(CertUsage::Signing);
    std::fs::write(d.path().join("c.pem"), ck.chain_pem()).expect("w");
    std::fs::write(d.path().join("k.pem"), &ck.key_pem).expect("w");
    for (file, extra) in [
        ("rc2.p12", vec!["-legacy"]),
        (
            "3des.p12",
            vec![
                "-keypbe",
                "PBE-SHA1-3DES",
                "-certpbe",
                "PBE-SHA1-3DES",
                "-macalg",
                "sha1",
            ],
        ),
    ] {
        let mut args = vec![
            "pkcs12",
            "-export",
            "-in",
            "c.pem",
            "-inkey",
            "k.pem",
            "-passout",
            "pass:s3cret",
            "-out",
            file,
        ];
        args.extend(extra);
        let out = Command::new("openssl")
            .args(&args)
            .current_dir(d.path())
            .output()
            .expect("the openssl CLI (Debian package `openssl`) must be installed");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bytes = std::fs::read(d.path().join(file)).expect("read");
        let ident = Identity::from_pkcs12(&bytes, "s3cret").expect(file);
        assert_eq!(ident.leaf().as_ref(), ck.cert_der.as_slice(), "{file}");
        let r = check_identity(&ident, &root_only(), Usage::Signing, pki().spec.now, &[])
            .expect("check");
        assert!(r.problems.is_empty(), "{file}: {:?}", r.problems);
    }
}
