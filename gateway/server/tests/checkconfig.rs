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

/// The good configuration with `mssante.crl` set to `files`.
fn with_crls(dir: &std::path::Path, files: &[std::path::PathBuf]) -> std::path::PathBuf {
    let p = write_config(dir, "tenants/mecs-tilleuls/tls-client");
    let list: Vec<String> = files
        .iter()
        .map(|f| format!("\"{}\"", f.display()))
        .collect();
    let text = std::fs::read_to_string(&p).expect("read").replacen(
        "[mssante]\n",
        &format!("[mssante]\ncrl = [{}]\n", list.join(", ")),
        1,
    );
    std::fs::write(&p, text).expect("write");
    p
}

#[test]
fn operator_crls_are_checked() {
    let (_cfg, dir) = sandbox_config(|_| {});
    let pki_dir = dir.path().join("pki");
    // The generated CRLs (PEM and DER) of the servers CA and the root: fine.
    let good = with_crls(
        dir.path(),
        &[
            pki_dir.join("crl/servers.der"),
            pki_dir.join("crl/root.pem"),
        ],
    );
    let (ok, _, stderr) = check(&good);
    assert!(ok, "{stderr}");
    // Not a CRL.
    let garbage = pki_dir.join("not-a-crl.der");
    std::fs::write(&garbage, b"\x30\x03\x02\x01\x01").expect("write");
    let (ok, _, stderr) = check(&with_crls(dir.path(), &[garbage]));
    assert!(!ok);
    assert!(
        stderr.contains("mssante.crl") && stderr.contains("not-a-crl.der"),
        "{stderr}"
    );
    // Expired: its next update is in the past.
    let pki = passerelle::sandbox::pki(&pki_dir).expect("pki");
    let old = passerelle_certs::crl_revoking(
        "servers",
        &pki.server_ca,
        &[],
        time::OffsetDateTime::now_utc() - time::Duration::days(40),
        30,
    )
    .expect("crl");
    let old_path = pki_dir.join("old-servers.crl");
    std::fs::write(&old_path, &old.der).expect("write");
    let (ok, _, stderr) = check(&with_crls(dir.path(), &[old_path]));
    assert!(!ok);
    assert!(stderr.contains("expired"), "{stderr}");
    // Issued by a CA the configuration does not trust.
    let foreign = passerelle_certs::crl_revoking(
        "unknown",
        &pki.unknown_root,
        &[],
        time::OffsetDateTime::now_utc(),
        30,
    )
    .expect("crl");
    let foreign_path = pki_dir.join("foreign.crl");
    std::fs::write(&foreign_path, &foreign.pem).expect("write");
    let (ok, _, stderr) = check(&with_crls(dir.path(), &[foreign_path]));
    assert!(!ok);
    assert!(stderr.contains("not a configured CA"), "{stderr}");
}
