//! Hash-chained audit entries and the signed checkpoint that anchors the chain heads outside the
//! database (docs/specs/audit.md).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::blob::write_atomic;
use crate::error::{Error, Result};
use crate::types::{AuditEntry, AuditFault, AuditProblem, CheckpointInfo, Sha256};

pub const GENESIS: Sha256 = Sha256([0u8; 32]);
const DOMAIN: &str = "passerelle-audit-v1";
const CHECKPOINT_DOMAIN: &str = "passerelle-audit-checkpoint-v1";

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u32).to_be_bytes());
    buf.extend_from_slice(s.as_bytes());
}

fn put_opt(buf: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => buf.push(0),
        Some(s) => {
            buf.push(1);
            put_str(buf, s);
        }
    }
}

/// Canonical encoding: a domain tag, then every field length-prefixed (u32 big-endian) in a fixed
/// order, optional fields with a presence byte, the time as i128 unix nanoseconds, and the
/// previous entry's hash last.
pub fn canonical_bytes(e: &AuditEntry) -> Vec<u8> {
    let mut b = Vec::with_capacity(160 + e.summary.len());
    put_str(&mut b, DOMAIN);
    put_str(&mut b, &e.tenant);
    b.extend_from_slice(&e.seq.to_be_bytes());
    b.extend_from_slice(&e.at.unix_timestamp_nanos().to_be_bytes());
    put_str(&mut b, &e.kind);
    put_str(&mut b, &e.actor);
    put_opt(&mut b, e.transmission_id.as_deref());
    put_opt(&mut b, e.delivery_id.as_deref());
    put_str(&mut b, &e.summary);
    match &e.data_sha256 {
        None => b.push(0),
        Some(h) => {
            b.push(1);
            b.extend_from_slice(&h.0);
        }
    }
    b.extend_from_slice(&e.prev_hash.0);
    b
}

pub fn entry_hash(e: &AuditEntry) -> Sha256 {
    Sha256::digest(&canonical_bytes(e))
}

/// Checks chains entry by entry; feed entries ordered by (tenant, seq).
#[derive(Default)]
pub struct ChainVerifier {
    current: Option<(String, u64, Sha256)>,
    heads: BTreeMap<String, BTreeMap<u64, Sha256>>,
    pub checked: u64,
    pub tenants: u64,
    /// Hash of each entry at a checkpointed sequence, to compare with the checkpoint.
    wanted: BTreeMap<String, u64>,
    pub last_seq: BTreeMap<String, u64>,
}

impl ChainVerifier {
    pub fn new(checkpoint: Option<&CheckpointInfo>) -> ChainVerifier {
        let mut v = ChainVerifier::default();
        if let Some(c) = checkpoint {
            for (t, seq, _) in &c.heads {
                v.wanted.insert(t.clone(), *seq);
            }
        }
        v
    }

    pub fn push(&mut self, e: &AuditEntry) -> Result<(), AuditFault> {
        let fault = |problem| AuditFault {
            tenant: e.tenant.clone(),
            seq: e.seq,
            problem,
        };
        let (expected_seq, prev) = match &self.current {
            Some((t, seq, h)) if *t == e.tenant => (seq + 1, *h),
            _ => {
                self.tenants += 1;
                (1, GENESIS)
            }
        };
        if e.seq != expected_seq {
            return Err(fault(AuditProblem::SequenceGap {
                expected: expected_seq,
            }));
        }
        if e.prev_hash != prev {
            return Err(fault(AuditProblem::BrokenLink));
        }
        if entry_hash(e) != e.hash {
            return Err(fault(AuditProblem::HashMismatch));
        }
        self.checked += 1;
        if self.wanted.get(&e.tenant) == Some(&e.seq) {
            self.heads
                .entry(e.tenant.clone())
                .or_default()
                .insert(e.seq, e.hash);
        }
        self.last_seq.insert(e.tenant.clone(), e.seq);
        self.current = Some((e.tenant.clone(), e.seq, e.hash));
        Ok(())
    }

    /// After every entry: compare with the checkpoint's heads.
    pub fn finish(&self, checkpoint: &CheckpointInfo) -> Result<(), AuditFault> {
        for (tenant, seq, hash) in &checkpoint.heads {
            let last = self.last_seq.get(tenant).copied().unwrap_or(0);
            if last < *seq {
                return Err(AuditFault {
                    tenant: tenant.clone(),
                    seq: last + 1,
                    problem: AuditProblem::Truncated {
                        checkpoint_seq: *seq,
                    },
                });
            }
            let found = self.heads.get(tenant).and_then(|m| m.get(seq));
            if found != Some(hash) {
                return Err(AuditFault {
                    tenant: tenant.clone(),
                    seq: *seq,
                    problem: AuditProblem::HeadMismatch,
                });
            }
        }
        Ok(())
    }
}

/// The store's audit signing key (Ed25519, PKCS#8 in `audit.key`, created on first open).
pub struct AuditKey {
    pair: Ed25519KeyPair,
}

impl AuditKey {
    pub fn load_or_create(path: &Path) -> Result<AuditKey> {
        let pkcs8 = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                    .map_err(|_| Error::Crypto("cannot generate the audit key".into()))?;
                write_atomic(path, doc.as_ref())?;
                restrict_permissions(path)?;
                doc.as_ref().to_vec()
            }
            Err(e) => {
                return Err(Error::Io {
                    path: path.display().to_string(),
                    source: e,
                });
            }
        };
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8)
            .map_err(|e| Error::Crypto(format!("audit.key is not an Ed25519 PKCS#8 key: {e}")))?;
        Ok(AuditKey { pair })
    }

    pub fn public_key_hex(&self) -> String {
        hex::encode(self.pair.public_key().as_ref())
    }
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(Error::io(path))
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) -> Result<()> {
    Ok(())
}

#[derive(Serialize, Deserialize)]
struct HeadJson {
    tenant: String,
    seq: u64,
    hash: String,
}

#[derive(Serialize, Deserialize)]
struct BodyJson {
    format: String,
    store_id: String,
    at: String,
    heads: Vec<HeadJson>,
}

#[derive(Serialize, Deserialize)]
struct FileJson {
    body: BodyJson,
    public_key: String,
    signature: String,
}

pub fn checkpoint_path(dir: &Path) -> PathBuf {
    dir.join("audit.checkpoint")
}

/// Signs and writes the checkpoint atomically.
pub fn write_checkpoint(
    dir: &Path,
    key: &AuditKey,
    store_id: &str,
    info: &CheckpointInfo,
) -> Result<()> {
    let at = info
        .at
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| Error::Invalid {
            field: "checkpoint.at",
            reason: e.to_string(),
        })?;
    let mut heads: Vec<HeadJson> = info
        .heads
        .iter()
        .map(|(t, s, h)| HeadJson {
            tenant: t.clone(),
            seq: *s,
            hash: h.to_hex(),
        })
        .collect();
    heads.sort_by(|a, b| a.tenant.cmp(&b.tenant));
    let body = BodyJson {
        format: CHECKPOINT_DOMAIN.into(),
        store_id: store_id.into(),
        at,
        heads,
    };
    let msg = serde_json::to_vec(&body).map_err(|e| Error::Crypto(e.to_string()))?;
    let sig = key.pair.sign(&msg);
    let file = FileJson {
        body,
        public_key: key.public_key_hex(),
        signature: hex::encode(sig.as_ref()),
    };
    let bytes = serde_json::to_vec_pretty(&file).map_err(|e| Error::Crypto(e.to_string()))?;
    write_atomic(&checkpoint_path(dir), &bytes)
}

/// Reads the checkpoint and checks its signature against the store key and its store id.
pub fn read_checkpoint(
    dir: &Path,
    key: &AuditKey,
    store_id: &str,
) -> std::result::Result<CheckpointInfo, String> {
    let bytes = std::fs::read(checkpoint_path(dir)).map_err(|e| format!("cannot read: {e}"))?;
    let file: FileJson = serde_json::from_slice(&bytes).map_err(|e| format!("malformed: {e}"))?;
    let msg = serde_json::to_vec(&file.body).map_err(|e| format!("malformed: {e}"))?;
    let sig = hex::decode(&file.signature).map_err(|e| format!("signature not hex: {e}"))?;
    let public = key.pair.public_key().as_ref();
    UnparsedPublicKey::new(&ED25519, public)
        .verify(&msg, &sig)
        .map_err(|_| "signature does not verify with the store's audit key".to_string())?;
    if file.body.format != CHECKPOINT_DOMAIN {
        return Err(format!("unknown format {:?}", file.body.format));
    }
    if file.body.store_id != store_id {
        return Err("written for another store".into());
    }
    let at = OffsetDateTime::parse(
        &file.body.at,
        &time::format_description::well_known::Rfc3339,
    )
    .map_err(|e| format!("bad time: {e}"))?;
    let mut heads = Vec::with_capacity(file.body.heads.len());
    for h in file.body.heads {
        let hash = Sha256::from_hex(&h.hash).map_err(|e| e.to_string())?;
        heads.push((h.tenant, h.seq, hash));
    }
    Ok(CheckpointInfo { at, heads })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, prev: Sha256) -> AuditEntry {
        let mut e = AuditEntry {
            tenant: "t".into(),
            seq,
            at: OffsetDateTime::UNIX_EPOCH,
            kind: "k".into(),
            actor: "a".into(),
            transmission_id: Some("tx".into()),
            delivery_id: None,
            summary: "s".into(),
            data_sha256: None,
            prev_hash: prev,
            hash: GENESIS,
        };
        e.hash = entry_hash(&e);
        e
    }

    #[test]
    fn every_field_changes_the_hash() {
        let e = entry(1, GENESIS);
        let base = entry_hash(&e);
        let mut variants = vec![];
        let mut v = e.clone();
        v.tenant = "u".into();
        variants.push(v);
        let mut v = e.clone();
        v.seq = 2;
        variants.push(v);
        let mut v = e.clone();
        v.at = OffsetDateTime::UNIX_EPOCH + time::Duration::nanoseconds(1);
        variants.push(v);
        let mut v = e.clone();
        v.kind = "k2".into();
        variants.push(v);
        let mut v = e.clone();
        v.transmission_id = None;
        variants.push(v);
        let mut v = e.clone();
        v.delivery_id = Some(String::new());
        variants.push(v);
        let mut v = e.clone();
        v.data_sha256 = Some(GENESIS);
        variants.push(v);
        let mut v = e.clone();
        v.prev_hash = Sha256([1; 32]);
        variants.push(v);
        // Length prefixes keep field boundaries: "ab"+"c" differs from "a"+"bc".
        let mut v = e.clone();
        v.kind = "ka".into();
        v.actor = String::new();
        variants.push(v);
        for v in variants {
            assert_ne!(entry_hash(&v), base, "{v:?}");
        }
    }

    #[test]
    fn verifier_finds_gap_and_broken_link() {
        let e1 = entry(1, GENESIS);
        let e2 = entry(2, e1.hash);
        let e3 = entry(3, e2.hash);
        let mut v = ChainVerifier::new(None);
        assert!(v.push(&e1).is_ok());
        let f = v.push(&e3).expect_err("gap");
        assert_eq!(f.seq, 3);
        assert!(matches!(
            f.problem,
            AuditProblem::SequenceGap { expected: 2 }
        ));
        let mut v = ChainVerifier::new(None);
        assert!(v.push(&e1).is_ok());
        let bad = entry(2, Sha256([9; 32]));
        assert_eq!(
            v.push(&bad).expect_err("link").problem,
            AuditProblem::BrokenLink
        );
    }
}
