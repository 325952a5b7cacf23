//! Content-addressed payload files: `blobs/ab/cdef…` named by their SHA-256, written once
//! (temp file, fsync, rename, fsync of the directory) before any row references them.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::types::{BlobRef, Sha256};

#[derive(Debug)]
pub struct BlobStore {
    root: PathBuf,
    tmp_seq: AtomicU64,
}

impl BlobStore {
    pub fn open(root: PathBuf) -> Result<BlobStore> {
        fs::create_dir_all(root.join("tmp")).map_err(Error::io(&root))?;
        sync_dir(&root)?;
        Ok(BlobStore {
            root,
            tmp_seq: AtomicU64::new(0),
        })
    }

    pub fn path(&self, sha: &Sha256) -> PathBuf {
        let h = sha.to_hex();
        self.root.join(&h[..2]).join(&h[2..])
    }

    pub fn contains(&self, sha: &Sha256) -> bool {
        self.path(sha).is_file()
    }

    /// Stores `bytes` durably and returns its address; a no-op for content already stored.
    pub fn put(&self, bytes: &[u8]) -> Result<BlobRef> {
        let sha = Sha256::digest(bytes);
        let r = BlobRef {
            sha256: sha,
            size: bytes.len() as u64,
        };
        let dest = self.path(&sha);
        if dest.is_file() {
            return Ok(r);
        }
        let dir = dest.parent().map(Path::to_path_buf).unwrap_or_default();
        if !dir.is_dir() {
            fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
            sync_dir(&self.root)?;
        }
        let n = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let tmp =
            self.root
                .join("tmp")
                .join(format!("{}.{}.{n}", sha.to_hex(), std::process::id()));
        {
            let mut f = File::create(&tmp).map_err(Error::io(&tmp))?;
            f.write_all(bytes).map_err(Error::io(&tmp))?;
            f.sync_all().map_err(Error::io(&tmp))?;
        }
        fs::rename(&tmp, &dest).map_err(Error::io(&dest))?;
        sync_dir(&dir)?;
        Ok(r)
    }

    /// Reads a payload and checks it against its address.
    pub fn get(&self, sha: &Sha256) -> Result<Vec<u8>> {
        let p = self.path(sha);
        let mut f = File::open(&p).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::BlobMissing {
                    sha256: sha.to_hex(),
                }
            } else {
                Error::Io {
                    path: p.display().to_string(),
                    source: e,
                }
            }
        })?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf).map_err(Error::io(&p))?;
        if Sha256::digest(&buf) != *sha {
            return Err(Error::Corrupt {
                field: "blob",
                reason: format!("content of {} does not match its address", sha.to_hex()),
            });
        }
        Ok(buf)
    }

    /// Removes a payload file (the caller checked that no row references it).
    pub(crate) fn remove(&self, sha: &Sha256) -> Result<u64> {
        let p = self.path(sha);
        match fs::metadata(&p) {
            Ok(m) => {
                fs::remove_file(&p).map_err(Error::io(&p))?;
                Ok(m.len())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(Error::Io {
                path: p.display().to_string(),
                source: e,
            }),
        }
    }
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io(dir))
}

/// Writes `bytes` to `path` atomically and durably (temp file + fsync + rename + fsync dir).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp).map_err(Error::io(&tmp))?;
        f.write_all(bytes).map_err(Error::io(&tmp))?;
        f.sync_all().map_err(Error::io(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(Error::io(path))?;
    sync_dir(&dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_is_content_addressed_and_idempotent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bs = BlobStore::open(dir.path().join("blobs")).expect("open");
        let a = bs.put(b"hello").expect("put");
        let b = bs.put(b"hello").expect("put again");
        assert_eq!(a, b);
        assert_eq!(a.size, 5);
        assert_eq!(
            a.sha256.to_hex(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert!(
            bs.path(&a.sha256)
                .ends_with("2c/f24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        );
        assert_eq!(bs.get(&a.sha256).expect("get"), b"hello");
        std::fs::write(bs.path(&a.sha256), b"tampered").expect("write");
        assert!(matches!(bs.get(&a.sha256), Err(Error::Corrupt { .. })));
        assert_eq!(bs.remove(&a.sha256).expect("remove"), 8);
        assert!(matches!(bs.get(&a.sha256), Err(Error::BlobMissing { .. })));
    }
}
