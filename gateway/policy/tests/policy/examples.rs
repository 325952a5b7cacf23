//! Every example of examples/requests/ parses as the canonical proto3 JSON body of
//! POST /v1/transmissions and gives the decision recorded in expected.json (at 2026-11-25).
#![allow(clippy::disallowed_methods)] // tests read the example files
use std::collections::BTreeMap;
use std::path::PathBuf;

use passerelle_api::v1::*;
use passerelle_policy::PolicyEngine;
use serde_json::{Value, json};

use crate::fixtures::*;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/requests")
}

fn load() -> BTreeMap<String, SubmitRequest> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir()).expect("examples/requests") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if !name.ends_with(".json") || name == "expected.json" {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let req: SubmitRequest = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{name}: not a SubmitRequest: {e}"));
        // Canonical JSON: re-serialising gives the same document.
        let again: Value = serde_json::to_value(&req).expect("serialise");
        let orig: Value = serde_json::from_str(&text).expect("json");
        let again = normalise_ts(again);
        assert!(
            orig == again,
            "{name}: not canonical proto3 JSON at {:?}",
            first_diff(&orig, &again, String::new())
        );
        out.insert(name, req);
    }
    out
}

/// pbjson writes UTC timestamps as "+00:00"; the canonical proto3 form (used in the files) is "Z".
fn normalise_ts(v: Value) -> Value {
    match v {
        Value::String(s)
            if s.len() > 19 && s.ends_with("+00:00") && s.as_bytes().get(10) == Some(&b'T') =>
        {
            Value::String(format!("{}Z", &s[..s.len() - 6]))
        }
        Value::Object(m) => {
            Value::Object(m.into_iter().map(|(k, v)| (k, normalise_ts(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(normalise_ts).collect()),
        other => other,
    }
}

fn first_diff(a: &Value, b: &Value, path: String) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let p = format!("{path}.{k}");
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => {
                        if let Some(d) = first_diff(u, v, p) {
                            return Some(d);
                        }
                    }
                    (u, v) => return Some(format!("{p}: {u:?} vs {v:?}")),
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (u, v))| first_diff(u, v, format!("{path}[{i}]"))),
        _ => (a != b).then(|| format!("{path}: {a} vs {b}")),
    }
}

fn summary(d: &Decision) -> Value {
    let targets: Vec<Value> = d
        .targets
        .iter()
        .map(|t| {
            let allowed = t.outcome == Outcome::Allowed as i32;
            let mut codes: Vec<&str> = t.denials.iter().map(|x| x.code.as_str()).collect();
            codes.sort_unstable();
            codes.dedup();
            let key = [
                "SP-", "IP-", "HD-", "AGE-2", "HAB-1", "CH-2", "VIS-1", "AUT-2", "INF-3",
            ];
            let rules: Vec<&str> = t
                .rules
                .iter()
                .filter(|r| {
                    if allowed {
                        r.effect == RuleEffect::Pass as i32
                            && key.iter().any(|k| r.id.starts_with(k))
                    } else {
                        r.effect == RuleEffect::Deny as i32
                    }
                })
                .map(|r| r.id.as_str())
                .collect();
            json!({
                "targetId": t.target_id,
                "channel": Channel::try_from(t.channel).map(|c| c.as_str_name()).unwrap_or("?"),
                "documentId": t.document_id,
                "allowed": allowed,
                "rules": rules,
                "codes": codes,
            })
        })
        .collect();
    json!({ "accepted": d.accepted, "targets": targets })
}

#[test]
fn examples_match_expected_decisions() {
    let examples = load();
    assert!(examples.len() >= 17, "{} examples", examples.len());
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(dir().join("expected.json")).expect("expected.json"),
    )
    .expect("json");
    let engine = engine();
    let mut got = serde_json::Map::new();
    for (name, req) in &examples {
        let d = engine
            .evaluate(req, AS_OF, false, "example")
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!req.idempotency_key.is_empty(), "{name}: idempotencyKey");
        assert!(
            [
                "cd93",
                "cd75",
                "mecs-tilleuls",
                "ime-horizon",
                "cmp-enfants"
            ]
            .contains(&req.tenant.as_str()),
            "{name}: tenant"
        );
        got.insert(name.clone(), summary(&d));
    }
    let got = Value::Object(got);
    if std::env::var_os("PRINT_EXPECTED").is_some() {
        println!("{}", serde_json::to_string_pretty(&got).unwrap_or_default());
    }
    let exp = expected.as_object().expect("object");
    assert_eq!(
        exp.keys().collect::<Vec<_>>(),
        got.as_object()
            .map(|o| o.keys().collect::<Vec<_>>())
            .unwrap_or_default(),
        "one entry per example"
    );
    for (name, want) in exp {
        let have = &got[name];
        assert_eq!(want["accepted"], have["accepted"], "{name}: accepted");
        let wt = want["targets"].as_array().expect("targets");
        let ht = have["targets"].as_array().expect("targets");
        assert_eq!(wt.len(), ht.len(), "{name}: number of targets");
        for w in wt {
            let h = ht
                .iter()
                .find(|h| h["targetId"] == w["targetId"] && h["documentId"] == w["documentId"])
                .unwrap_or_else(|| panic!("{name}: no target {}", w["targetId"]));
            assert_eq!(w["channel"], h["channel"], "{name}/{}", w["targetId"]);
            assert_eq!(
                w["allowed"], h["allowed"],
                "{name}/{}: {}",
                w["targetId"], h["codes"]
            );
            assert_eq!(
                w["codes"], h["codes"],
                "{name}/{}: reason codes",
                w["targetId"]
            );
            for r in w["rules"].as_array().expect("rules") {
                assert!(
                    h["rules"].as_array().is_some_and(|a| a.contains(r)),
                    "{name}/{}: rule {r} missing from {}",
                    w["targetId"],
                    h["rules"]
                );
            }
        }
    }
}
