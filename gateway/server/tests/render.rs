//! `passerelle render` on every example: the layout, byte-identical output in deterministic mode,
//! decision.json agreeing with expected.json, messages the operator accepts, VIHFs that xmlsec1
//! verifies against trust/ca.pem.

use std::path::Path;
use std::process::Command;

fn render(request: &Path, out: &Path) {
    let st = Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["render", "--deterministic", "--request"])
        .arg(request)
        .arg("--out")
        .arg(out)
        .env("PASSERELLE_LOG", "warn")
        .output()
        .expect("run render");
    assert!(
        st.status.success(),
        "render {}: {}",
        request.display(),
        String::from_utf8_lossy(&st.stderr)
    );
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .expect("rel")
                    .to_string_lossy()
                    .to_string();
                out.push((rel, std::fs::read(&p).expect("read")));
            }
        }
    }
    out.sort();
    out
}

/// The VIHF verified by xmlsec1 with trust/ca.pem (root trusted, intermediates untrusted), through
/// the same invocation as `passerelle conformance`.
fn xmlsec_verify(file: &Path, ca_pem: &[u8], tmp: &Path) {
    assert!(
        String::from_utf8_lossy(ca_pem)
            .matches("BEGIN CERTIFICATE")
            .count()
            >= 2,
        "trust/ca.pem holds the root then the intermediates"
    );
    let vihf = std::fs::read(file).expect("read the VIHF");
    if let Err(e) = passerelle::conformance::xmlsec1_verify(&vihf, ca_pem, tmp) {
        panic!("xmlsec1 refused {}: {e}", file.display());
    }
}

#[test]
fn every_example_renders_deterministically_and_verifiably() {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/requests"
    ));
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).expect("expected"))
            .expect("json");
    let tmp = tempfile::tempdir().expect("tmp");
    let mut rendered_vihf = 0;
    let mut rendered_eml = 0;
    for e in std::fs::read_dir(dir).expect("examples") {
        let p = e.expect("entry").path();
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if !name.ends_with(".json") || name == "expected.json" {
            continue;
        }
        let a = tmp.path().join(format!("{name}-a"));
        let b = tmp.path().join(format!("{name}-b"));
        render(&p, &a);
        render(&p, &b);
        let fa = files(&a);
        assert_eq!(fa, files(&b), "{name}: two deterministic renders differ");
        let decision: serde_json::Value =
            serde_json::from_slice(&std::fs::read(a.join("decision.json")).expect("decision.json"))
                .expect("json");
        assert_eq!(
            decision["allowed"], expected[&name]["accepted"],
            "{name}: decision.json allowed"
        );
        let ca = std::fs::read(a.join("trust/ca.pem")).expect("trust/ca.pem");
        for (rel, bytes) in &fa {
            if rel.ends_with("-vihf.xml") {
                xmlsec_verify(&a.join(rel), &ca, tmp.path());
                rendered_vihf += 1;
            }
            if rel.ends_with(".eml") {
                assert_eq!(
                    passerelle::sandbox::mssante_rules(bytes),
                    Ok(()),
                    "{name}/{rel}"
                );
                rendered_eml += 1;
            }
            if rel.ends_with(".pdf") {
                assert!(bytes.starts_with(b"%PDF-"), "{name}/{rel}");
            }
        }
        // Denied targets produce no message or request.
        let allowed = decision["deliveries"]
            .as_array()
            .expect("deliveries")
            .iter()
            .filter(|d| d["allowed"] == true)
            .count();
        if allowed == 0 {
            assert!(
                !fa.iter()
                    .any(|(r, _)| r.ends_with(".eml") || r.ends_with(".http")),
                "{name}"
            );
        }
    }
    assert!(
        rendered_vihf >= 2 && rendered_eml >= 10,
        "{rendered_vihf} VIHF, {rendered_eml} messages"
    );
}

#[test]
fn the_conformance_suite_passes_on_the_sandbox_and_writes_junit() {
    let out = tempfile::tempdir().expect("tmp");
    let st = Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["conformance", "--target", "sandbox", "--out"])
        .arg(out.path())
        .env("PASSERELLE_LOG", "warn")
        .output()
        .expect("run conformance");
    let summary = std::fs::read_to_string(out.path().join("summary.txt")).unwrap_or_default();
    assert!(
        st.status.success(),
        "{summary}\n{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let junit = std::fs::read_to_string(out.path().join("junit.xml")).expect("junit.xml");
    assert!(junit.contains("failures=\"0\""), "{junit}");
    let tests: usize = junit
        .split("tests=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|n| n.parse().ok())
        .expect("tests count");
    assert!(tests >= 50, "{tests} checks");
    assert!(
        junit.contains("signature (xmlsec1)") && !junit.contains("<skipped"),
        "xmlsec1 must run here"
    );
}
