//! The operator wired the way `passerelle demo` wires it: the project's test PKI
//! (`passerelle-certs`, RSA, IGC-Santé-shaped, with CRLs) and `passerelle-tls` configurations.

use std::sync::Arc;
use std::time::Duration;

use passerelle_certs::{PkiSpec, Usage};
use passerelle_mail::{
    Envelope, ImapClientConfig, ImapSession, SmtpClientConfig, SmtpPool, TlsMode,
};
use passerelle_sim_mail::{MailboxSpec, Operator, OperatorConfig};
use passerelle_tls::{ClientAuth, Identity, Revocation, TrustAnchors};

const SENDER: &str = "passerelle@mecs-tilleuls.mssante.test";
const CRIP: &str = "crip@cd93.mssante.test";

#[tokio::test]
async fn sandbox_pki_and_tls_crates_drive_the_operator() {
    let pki = passerelle_certs::generate(&PkiSpec::sandbox(time::OffsetDateTime::now_utc()))
        .expect("pki");
    let trust = TrustAnchors::from_pem(pki.ca_chain_pem().as_bytes()).expect("trust");
    let crls = passerelle_tls::crls_from_pem("test CRLs", pki.crls_pem().as_bytes()).expect("crls");
    let server = pki.server("smtp.mssante.test").expect("server cert");
    let server_id =
        Identity::from_pem(server.chain_pem().as_bytes(), server.key_pem.as_bytes()).expect("id");
    let server_tls = passerelle_tls::server_config(
        &server_id,
        ClientAuth::Required(&trust),
        &Revocation::strict(crls.clone()),
    )
    .expect("server config");
    let op = Operator::start(OperatorConfig::new(
        Arc::new(server_tls),
        vec![
            "mecs-tilleuls.mssante.test".into(),
            "cd93.mssante.test".into(),
        ],
        vec![MailboxSpec::new(SENDER), MailboxSpec::new(CRIP)],
    ))
    .await
    .expect("operator");

    let client_tls = |cert: &passerelle_certs::CertKey| {
        let id = Identity::from_pem(cert.chain_pem().as_bytes(), cert.key_pem.as_bytes())
            .expect("client id");
        Arc::new(
            passerelle_tls::client_config(Some(&id), &trust, &Revocation::strict(crls.clone()))
                .expect("client config"),
        )
    };
    let tenant = pki
        .get("mecs-tilleuls", Usage::TlsClient)
        .expect("tenant cert");
    let mut cfg = SmtpClientConfig::new(
        SENDER,
        "smtp.mssante.test",
        op.addrs.smtp_starttls.port(),
        TlsMode::StartTls,
        client_tls(tenant),
    );
    cfg.connect_addr = Some(op.addrs.smtp_starttls);
    let msg = format!(
        "From: <{SENDER}>\r\nTo: <{CRIP}>\r\nSubject: essai\r\nX-MSS-NIL: DEV1\r\n\r\nbonjour\r\n"
    );
    let env = Envelope {
        mail_from: SENDER.into(),
        recipients: vec![CRIP.into()],
        dsn: None,
    };
    SmtpPool::new()
        .send(&cfg, &env, msg.as_bytes())
        .await
        .expect("tenant ORG_AUTH_CLI certificate accepted, CN/SAN mapped to its APP mailbox");
    let h = op.handle();
    assert_eq!(
        h.wait_for_messages(CRIP, "INBOX", 1, Duration::from_secs(2))
            .await
            .len(),
        1
    );

    // A revoked client certificate (listed in the organisations CRL) never gets a session.
    let mut revoked = cfg.clone();
    revoked.tls = client_tls(&pki.broken.revoked);
    assert!(
        SmtpPool::new()
            .send(&revoked, &env, msg.as_bytes())
            .await
            .is_err()
    );
    // Nor does an expired one.
    let mut expired = cfg.clone();
    expired.tls = client_tls(&pki.broken.expired);
    assert!(
        SmtpPool::new()
            .send(&expired, &env, msg.as_bytes())
            .await
            .is_err()
    );
    assert_eq!(h.messages(CRIP, "INBOX").len(), 1);

    // IMAP with the same server configuration, as the sender (EXTERNAL).
    let mut icfg = ImapClientConfig::new(
        SENDER,
        "smtp.mssante.test",
        op.addrs.imap_implicit.port(),
        TlsMode::Implicit,
        client_tls(tenant),
    );
    icfg.connect_addr = Some(op.addrs.imap_implicit);
    let mut s = ImapSession::connect(&icfg).await.expect("imap");
    assert_eq!(s.select_inbox().await.expect("select").exists, 0);
    s.logout().await.expect("logout");
}
