//! API callers authenticated by their client certificate over TLS (no sandbox identity).

use passerelle_api::v1 as pb;
use passerelle_api::v1::admin_service_client::AdminServiceClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use crate::common::*;

#[tokio::test]
async fn a_dui_authenticated_by_certificate_acts_for_its_tenant_only() {
    let (mut cfg, dir) = sandbox_config(|_| {});
    let pki = dir.path().join("pki");
    cfg.server.sandbox_tenant = None;
    cfg.server.tls_cert = Some(pki.join("servers/passerelle.test.chain.pem"));
    cfg.server.tls_key = Some(pki.join("servers/passerelle.test.key.pem"));
    cfg.server.client_ca = Some(pki.join("ca-chain.pem"));
    let running = passerelle::app::start(cfg, passerelle::app::Options::default())
        .await
        .expect("start");
    let url = format!("https://{}", running.addr);
    let root = std::fs::read(pki.join("root.pem")).expect("root");
    let tls = |identity: Option<(&str, &str)>| {
        let mut t = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&root))
            .domain_name("passerelle.test");
        if let Some((c, k)) = identity {
            t = t.identity(Identity::from_pem(
                std::fs::read(pki.join(c)).expect("cert"),
                std::fs::read(pki.join(k)).expect("key"),
            ));
        }
        t
    };
    let ch = Channel::from_shared(url.clone())
        .expect("url")
        .tls_config(tls(Some((
            "tenants/cd93/api-client.chain.pem",
            "tenants/cd93/api-client.key.pem",
        ))))
        .expect("tls")
        .connect()
        .await
        .expect("connect");
    let me = AdminServiceClient::new(ch)
        .who_am_i(pb::WhoAmIRequest {})
        .await
        .expect("whoami")
        .into_inner();
    assert_eq!(me.tenant, "cd93");
    assert!(
        me.authenticated_by.starts_with("mtls:"),
        "{}",
        me.authenticated_by
    );
    // Without a certificate or token: refused (no sandbox fallback when none is configured).
    let ch = Channel::from_shared(url)
        .expect("url")
        .tls_config(tls(None))
        .expect("tls")
        .connect()
        .await
        .expect("connect");
    let err = AdminServiceClient::new(ch)
        .who_am_i(pb::WhoAmIRequest {})
        .await
        .expect_err("anonymous");
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    running.stop().await;
}
