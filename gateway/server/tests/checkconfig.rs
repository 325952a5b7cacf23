//! `passerelle check-config`: every problem of a configuration at once, certificates included.

use std::process::Command;

use crate::common::*;

fn write_config(dir: &std::path::Path, tls_stem: &str) -> std::path::PathBuf {
    let pki = dir.join("pki");
    let cfg = format!(
        r#"
[server]
listen = "127.0.0.1:7443"
data_dir = "{data}"

[mssante]
trust_ca = "{pki}/ca-chain.pem"

[[tenant]]
id = "mecs-tilleuls"
name = "MECS Les Tilleuls"
finess_ej = "930004122"
finess_et = "930004130"
departement = "93"
app_mailbox = "passerelle@mecs-tilleuls.mssante.test"
tls_client = {{ cert = "{pki}/{tls_stem}.chain.pem", key = "{pki}/{tls_stem}.key.pem" }}
signing = {{ cert = "{pki}/tenants/mecs-tilleuls/signing.chain.pem", key = "{pki}/tenants/mecs-tilleuls/signing.key.pem" }}
"#,
        data = dir.join("data").display(),
        pki = pki.display(),
    );
    let p = dir.join("passerelle.toml");
    std::fs::write(&p, cfg).expect("write config");
    p
}

fn check(path: &std::path::Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["check-config", "--config"])
        .arg(path)
        .output()
        .expect("run check-config");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn valid_certificates_pass_and_broken_ones_are_named() {
    let (_cfg, dir) = sandbox_config(|_| {});
    let good = write_config(dir.path(), "tenants/mecs-tilleuls/tls-client");
    let (ok, stdout, stderr) = check(&good);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("app_mailbox") && !stdout.contains("BEGIN"),
        "{stdout}"
    );
    let expired = write_config(dir.path(), "broken/expired");
    let (ok, _, stderr) = check(&expired);
    assert!(!ok);
    assert!(
        stderr.contains("tenant mecs-tilleuls tls_client")
            && stderr.to_lowercase().contains("expired"),
        "{stderr}"
    );
    let wrong_usage = write_config(dir.path(), "tenants/mecs-tilleuls/signing");
    let (ok, _, stderr) = check(&wrong_usage);
    assert!(
        !ok,
        "a signing certificate is no TLS client certificate: {stderr}"
    );
}
