//! In-memory mail store: accounts → folders → messages with stable UIDs per folder.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// One stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub uid: u32,
    pub flags: BTreeSet<String>,
    pub bytes: Arc<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Folder {
    pub uid_validity: u32,
    pub uid_next: u32,
    pub messages: Vec<StoredMessage>,
}

impl Folder {
    fn new(uid_validity: u32) -> Self {
        Self {
            uid_validity,
            uid_next: 1,
            messages: Vec::new(),
        }
    }

    pub fn append(&mut self, bytes: Arc<Vec<u8>>, flags: BTreeSet<String>) -> u32 {
        let uid = self.uid_next;
        self.uid_next += 1;
        self.messages.push(StoredMessage { uid, flags, bytes });
        uid
    }

    pub fn max_uid(&self) -> u32 {
        self.messages.last().map(|m| m.uid).unwrap_or(0)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Account {
    pub folders: BTreeMap<String, Folder>,
}

#[derive(Debug)]
pub(crate) struct StoreInner {
    pub accounts: HashMap<String, Account>,
    next_validity: u32,
}

/// The store; every change bumps a version watched by IDLE sessions.
#[derive(Debug)]
pub(crate) struct Store {
    inner: Mutex<StoreInner>,
    version: watch::Sender<u64>,
}

pub(crate) const INBOX: &str = "INBOX";

impl Store {
    pub fn new(mailboxes: impl IntoIterator<Item = String>) -> Self {
        let mut accounts = HashMap::new();
        let mut next_validity = 1_700_000_000u32;
        for m in mailboxes {
            let mut acc = Account::default();
            acc.folders.insert(INBOX.into(), Folder::new(next_validity));
            next_validity += 1;
            accounts.insert(m.to_ascii_lowercase(), acc);
        }
        let (version, _) = watch::channel(0);
        Self {
            inner: Mutex::new(StoreInner {
                accounts,
                next_validity,
            }),
            version,
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    fn bump(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    /// Runs `f` on the locked store; bumps the version when `f` says it changed something.
    pub fn with<R>(&self, f: impl FnOnce(&mut StoreInner) -> (R, bool)) -> R {
        let (r, changed) = {
            let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut g)
        };
        if changed {
            self.bump();
        }
        r
    }

    pub fn has_account(&self, mailbox: &str) -> bool {
        self.with(|s| {
            (
                s.accounts.contains_key(&mailbox.to_ascii_lowercase()),
                false,
            )
        })
    }

    /// Appends to a folder (created if missing); returns the UID.
    pub fn deliver(&self, mailbox: &str, folder: &str, bytes: Vec<u8>) -> Option<u32> {
        let bytes = Arc::new(bytes);
        self.with(|s| {
            let validity = s.next_validity;
            let Some(acc) = s.accounts.get_mut(&mailbox.to_ascii_lowercase()) else {
                return (None, false);
            };
            let mut created = false;
            let f = acc.folders.entry(folder.to_owned()).or_insert_with(|| {
                created = true;
                Folder::new(validity)
            });
            let uid = f.append(bytes, BTreeSet::new());
            if created {
                s.next_validity += 1;
            }
            (Some(uid), true)
        })
    }

    pub fn messages(&self, mailbox: &str, folder: &str) -> Vec<StoredMessage> {
        self.with(|s| {
            (
                s.accounts
                    .get(&mailbox.to_ascii_lowercase())
                    .and_then(|a| a.folders.get(folder))
                    .map(|f| f.messages.clone())
                    .unwrap_or_default(),
                false,
            )
        })
    }

    pub fn folders(&self, mailbox: &str) -> Vec<String> {
        self.with(|s| {
            (
                s.accounts
                    .get(&mailbox.to_ascii_lowercase())
                    .map(|a| a.folders.keys().cloned().collect())
                    .unwrap_or_default(),
                false,
            )
        })
    }

    /// Creates a folder and its parents; false if it already existed.
    pub fn create_folder(&self, mailbox: &str, name: &str) -> bool {
        self.with(|s| {
            let mut validity = s.next_validity;
            let Some(acc) = s.accounts.get_mut(&mailbox.to_ascii_lowercase()) else {
                return (false, false);
            };
            if acc.folders.contains_key(name) {
                return (false, false);
            }
            let parts: Vec<&str> = name.split('/').collect();
            for i in 1..=parts.len() {
                let p = parts[..i].join("/");
                acc.folders.entry(p).or_insert_with(|| {
                    validity += 1;
                    Folder::new(validity)
                });
            }
            s.next_validity = validity + 1;
            (true, true)
        })
    }

    /// Sets UIDVALIDITY; with `renumber` the UIDs restart at 1 (what a rebuilt index does).
    pub fn set_uid_validity(
        &self,
        mailbox: &str,
        folder: &str,
        validity: u32,
        renumber: bool,
    ) -> bool {
        self.with(|s| {
            let Some(f) = s
                .accounts
                .get_mut(&mailbox.to_ascii_lowercase())
                .and_then(|a| a.folders.get_mut(folder))
            else {
                return (false, false);
            };
            f.uid_validity = validity;
            if renumber {
                for (i, m) in f.messages.iter_mut().enumerate() {
                    m.uid = u32::try_from(i).unwrap_or(u32::MAX - 1) + 1;
                }
                f.uid_next = f.max_uid() + 1;
            }
            (true, true)
        })
    }
}
