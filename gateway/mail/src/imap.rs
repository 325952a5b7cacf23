//! IMAP client (RFC 3501/9051) over mutual TLS: AUTHENTICATE EXTERNAL, processing folders,
//! UIDVALIDITY, UID FETCH with BODY.PEEK[], UID MOVE (RFC 6851) or UID COPY + \Deleted +
//! UID EXPUNGE (RFC 4315), IDLE (RFC 2177).
//!
//! Built on `async-imap` 0.12 (tokio runtime, MSRV 1.88) over a `tokio-rustls` stream.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_imap::imap_proto::{Response, Status};
use async_imap::{Authenticator, Client, Session};
use futures::TryStreamExt;
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::{MailError, Step, TlsMode};

/// Folder receiving processed messages (mssante.md §6.1), `/`-separated here; the server's
/// delimiter is used on the wire.
pub const FOLDER_PROCESSED: &str = "Passerelle/Traites";
/// Folder receiving quarantined messages.
pub const FOLDER_QUARANTINE: &str = "Passerelle/Quarantaine";

/// How the client authenticates once TLS is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImapAuth {
    /// `AUTHENTICATE EXTERNAL` with an empty authzid: the certificate names the mailbox.
    External,
    /// `LOGIN` (test servers only).
    Login { user: String, password: String },
}

/// One mailbox on one IMAP server.
#[derive(Clone)]
pub struct ImapClientConfig {
    pub mailbox: String,
    /// Server host name, checked against its certificate.
    pub host: String,
    pub port: u16,
    pub connect_addr: Option<SocketAddr>,
    pub tls_mode: TlsMode,
    pub tls: Arc<ClientConfig>,
    pub auth: ImapAuth,
    /// Limit for each command (FETCH of a large message included).
    pub timeout: Duration,
}

impl ImapClientConfig {
    pub fn new(
        mailbox: impl Into<String>,
        host: impl Into<String>,
        port: u16,
        tls_mode: TlsMode,
        tls: Arc<ClientConfig>,
    ) -> Self {
        Self {
            mailbox: mailbox.into(),
            host: host.into(),
            port,
            connect_addr: None,
            tls_mode,
            tls,
            auth: ImapAuth::External,
            timeout: Duration::from_secs(60),
        }
    }
}

/// What SELECT INBOX reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxState {
    pub uid_validity: u32,
    pub uid_next: Option<u32>,
    pub exists: u32,
    /// PERMANENTFLAGS (IMAP form, e.g. `\\Seen`, `\\*`, `$Label`).
    pub permanent_flags: Vec<String>,
}

impl InboxState {
    /// Whether `keyword` set now stays set (listed, or `\*`: new keywords may be created).
    pub fn keeps_keyword(&self, keyword: &str) -> bool {
        self.permanent_flags
            .iter()
            .any(|f| f == "\\*" || f.eq_ignore_ascii_case(keyword))
    }
}

/// `UID STORE uids +FLAGS.SILENT (flags)`, its (empty) answer read through.
async fn store_silent(
    session: &mut Session<Stream>,
    uids: &str,
    flags: &str,
) -> Result<(), MailError> {
    let s = session
        .uid_store(uids, format!("+FLAGS.SILENT ({flags})"))
        .await
        .map_err(|e| imap_err(Step::ImapMove, e))?;
    let _: Vec<_> = s
        .try_collect()
        .await
        .map_err(|e| imap_err(Step::ImapMove, e))?;
    Ok(())
}

/// A flag as IMAP writes it.
fn flag_text(f: &async_imap::types::Flag<'_>) -> String {
    use async_imap::types::Flag;
    match f {
        Flag::Seen => "\\Seen".into(),
        Flag::Answered => "\\Answered".into(),
        Flag::Flagged => "\\Flagged".into(),
        Flag::Deleted => "\\Deleted".into(),
        Flag::Draft => "\\Draft".into(),
        Flag::Recent => "\\Recent".into(),
        Flag::MayCreate => "\\*".into(),
        Flag::Custom(c) => c.to_string(),
    }
}

/// A keyword (RFC 3501 `flag-keyword` = atom): what a STORE or SEARCH may carry unquoted.
fn check_keyword(keyword: &str) -> Result<(), MailError> {
    let atom = !keyword.is_empty()
        && keyword
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b));
    if atom {
        Ok(())
    } else {
        Err(MailError::Config {
            field: "keyword",
            reason: format!("{keyword:?} is not an IMAP keyword (atom)"),
        })
    }
}

/// One message from UID FETCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedMessage {
    pub uid: u32,
    pub flags: Vec<String>,
    pub size: Option<u32>,
    pub body: Vec<u8>,
}

/// A message listed without its body (reconciliation after a UIDVALIDITY change, size screening).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSummary {
    pub uid: u32,
    pub flags: Vec<String>,
    pub size: Option<u32>,
    /// The header block (`BODY.PEEK[HEADER]`), for the Message-ID.
    pub header: Vec<u8>,
}

/// How a message left INBOX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveMethod {
    /// UID MOVE (RFC 6851).
    Move,
    /// UID COPY + \Deleted + UID EXPUNGE (RFC 4315).
    CopyExpunge,
    /// UID COPY + \Deleted only: the server has neither MOVE nor UIDPLUS, and a plain EXPUNGE
    /// could remove messages flagged by someone else.
    CopyFlagged,
}

/// Result of waiting in IDLE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleOutcome {
    /// The server announced a change (EXISTS, EXPUNGE, FETCH…): fetch again.
    Changed,
    /// Nothing within the wait: re-issue IDLE (RFC 2177 asks for < 29 min).
    TimedOut,
}

type Stream = TlsStream<TcpStream>;

/// An authenticated IMAP session.
pub struct ImapSession {
    session: Session<Stream>,
    caps: Vec<String>,
    delimiter: Option<String>,
    timeout: Duration,
    /// Message count of the selected folder as the server last reported it.
    exists: Option<u32>,
    /// The server announced more messages (untagged EXISTS in the response to another command)
    /// since the last FETCH was issued. A server announces a new message once per session
    /// (RFC 3501 §7.3.1), so an IDLE issued after dropping that announcement would wait for a
    /// further change: [`Self::idle`] returns at once instead.
    grown: bool,
}

impl std::fmt::Debug for ImapSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapSession")
            .field("caps", &self.caps)
            .finish()
    }
}

struct External;

impl Authenticator for External {
    type Response = Vec<u8>;
    fn process(&mut self, _challenge: &[u8]) -> Self::Response {
        // Empty authzid: act as the identity of the certificate (RFC 4422 App. A).
        Vec::new()
    }
}

fn imap_err(step: Step, e: impl std::fmt::Display) -> MailError {
    MailError::Imap {
        step,
        reason: e.to_string(),
    }
}

async fn timed<T, F>(step: Step, limit: Duration, fut: F) -> Result<T, MailError>
where
    F: std::future::Future<Output = Result<T, MailError>>,
{
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(MailError::Timeout { step }),
    }
}

/// Reads responses until the tagged completion; returns untagged CAPABILITY atoms seen.
async fn capability_before_auth(client: &mut Client<Stream>) -> Result<Vec<String>, MailError> {
    let step = Step::ImapCapability;
    // `run_command` is private in async-imap: write the command ourselves with a tag of our
    // own (async-imap's tags are `A<n>`), then read through its parser.
    {
        use tokio::io::AsyncWriteExt;
        let w = client.get_mut();
        w.write_all(b"PC1 CAPABILITY\r\n")
            .await
            .map_err(|e| imap_err(step, e))?;
        w.flush().await.map_err(|e| imap_err(step, e))?;
    }
    let mut caps = Vec::new();
    loop {
        let resp = client
            .read_response()
            .await
            .map_err(|e| imap_err(step, e))?
            .ok_or_else(|| imap_err(step, "connection closed"))?;
        match resp.parsed() {
            Response::Capabilities(list) => {
                for c in list {
                    caps.push(capability_name(c));
                }
            }
            Response::Done { tag, status, .. } if tag.0 == "PC1" => {
                return if matches!(status, Status::Ok) {
                    Ok(caps)
                } else {
                    Err(imap_err(step, "CAPABILITY refused"))
                };
            }
            _ => {}
        }
    }
}

/// Keeps the message count of the selected folder; a count above the known one means new mail.
fn note_unsolicited(
    exists: &mut Option<u32>,
    grown: &mut bool,
    u: &async_imap::types::UnsolicitedResponse,
) {
    use async_imap::types::UnsolicitedResponse as U;
    match u {
        U::Exists(n) => {
            if exists.is_none_or(|e| *n > e) {
                *grown = true;
            }
            *exists = Some(*n);
        }
        U::Expunge(_) => {
            if let Some(e) = exists.as_mut() {
                *e = e.saturating_sub(1);
            }
        }
        _ => {}
    }
}

fn capability_name(c: &async_imap::imap_proto::Capability<'_>) -> String {
    use async_imap::imap_proto::Capability;
    match c {
        Capability::Imap4rev1 => "IMAP4REV1".into(),
        Capability::Auth(m) => format!("AUTH={}", m.to_ascii_uppercase()),
        Capability::Atom(a) => a.to_ascii_uppercase(),
    }
}

async fn read_greeting(
    client: &mut Client<
        impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
    >,
) -> Result<(), MailError> {
    let step = Step::Greeting;
    let resp = client
        .read_response()
        .await
        .map_err(|e| imap_err(step, e))?
        .ok_or_else(|| imap_err(step, "connection closed before greeting"))?;
    match resp.parsed() {
        Response::Data {
            status: Status::Ok, ..
        } => Ok(()),
        _ => Err(imap_err(step, "server greeting is not OK")),
    }
}

async fn tls_connect(cfg: &ImapClientConfig, tcp: TcpStream) -> Result<Stream, MailError> {
    let name = crate::tls::server_name(&cfg.host)?;
    TlsConnector::from(cfg.tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| MailError::from_tls_io(Step::Tls, e))
}

impl ImapSession {
    /// Connects (TLS mandatory), reads CAPABILITY after TLS, authenticates, and re-reads
    /// CAPABILITY (servers may announce more after login).
    pub async fn connect(cfg: &ImapClientConfig) -> Result<Self, MailError> {
        let t = cfg.timeout;
        let tcp = timed(Step::Connect, t, async {
            let s = match cfg.connect_addr {
                Some(a) => TcpStream::connect(a).await,
                None => TcpStream::connect((cfg.host.as_str(), cfg.port)).await,
            };
            s.map_err(|e| MailError::Io {
                step: Step::Connect,
                reason: e.to_string(),
            })
        })
        .await?;
        let _ = tcp.set_nodelay(true);
        let mut client = timed(Step::Tls, t, async {
            match cfg.tls_mode {
                TlsMode::Implicit => {
                    let tls = tls_connect(cfg, tcp).await?;
                    let mut client = Client::new(tls);
                    read_greeting(&mut client).await?;
                    Ok(client)
                }
                TlsMode::StartTls => {
                    let mut plain = Client::new(tcp);
                    read_greeting(&mut plain).await?;
                    plain
                        .run_command_and_check_ok("STARTTLS", None)
                        .await
                        .map_err(|_| MailError::StartTlsNotOffered)?;
                    let tls = tls_connect(cfg, plain.into_inner()).await?;
                    Ok(Client::new(tls))
                }
            }
        })
        .await?;
        let pre_caps = timed(Step::ImapCapability, t, capability_before_auth(&mut client)).await?;
        let session = timed(Step::ImapAuthenticate, t, async {
            match &cfg.auth {
                ImapAuth::External => {
                    if !pre_caps.iter().any(|c| c == "AUTH=EXTERNAL") {
                        return Err(MailError::Config {
                            field: "auth",
                            reason: "server does not offer AUTHENTICATE EXTERNAL".into(),
                        });
                    }
                    client
                        .authenticate("EXTERNAL", External)
                        .await
                        .map_err(|(e, _)| imap_err(Step::ImapAuthenticate, e))
                }
                ImapAuth::Login { user, password } => client
                    .login(user, password)
                    .await
                    .map_err(|(e, _)| imap_err(Step::ImapAuthenticate, e)),
            }
        })
        .await?;
        let mut me = Self {
            session,
            caps: Vec::new(),
            delimiter: None,
            timeout: t,
            exists: None,
            grown: false,
        };
        let caps = timed(Step::ImapCapability, t, async {
            me.session
                .capabilities()
                .await
                .map_err(|e| imap_err(Step::ImapCapability, e))
        })
        .await?;
        me.caps = caps
            .iter()
            .map(|c| match c {
                async_imap::types::Capability::Imap4rev1 => "IMAP4REV1".to_owned(),
                async_imap::types::Capability::Auth(m) => {
                    format!("AUTH={}", m.to_ascii_uppercase())
                }
                async_imap::types::Capability::Atom(a) => a.to_ascii_uppercase(),
            })
            .collect();
        Ok(me)
    }

    /// Capabilities announced after authentication (upper case).
    pub fn capabilities(&self) -> &[String] {
        &self.caps
    }

    pub fn has_capability(&self, name: &str) -> bool {
        self.caps.iter().any(|c| c.eq_ignore_ascii_case(name))
    }

    /// The server's hierarchy delimiter (known after [`Self::ensure_folders`]).
    pub fn delimiter(&self) -> Option<&str> {
        self.delimiter.as_deref()
    }

    /// Turns a `/`-separated folder name into the server's hierarchy.
    pub fn server_folder_name(&self, name: &str) -> String {
        match self.delimiter.as_deref() {
            Some(d) if d != "/" => name.replace('/', d),
            _ => name.to_owned(),
        }
    }

    /// Lists every folder, learns the delimiter, creates the missing ones among `wanted`
    /// (`/`-separated) by exact name. Returns the names created (server form).
    pub async fn ensure_folders(&mut self, wanted: &[&str]) -> Result<Vec<String>, MailError> {
        let t = self.timeout;
        let existing: Vec<(String, Option<String>)> = timed(Step::ImapList, t, async {
            let stream = self
                .session
                .list(Some(""), Some("*"))
                .await
                .map_err(|e| imap_err(Step::ImapList, e))?;
            let names: Vec<_> = stream
                .try_collect()
                .await
                .map_err(|e| imap_err(Step::ImapList, e))?;
            Ok(names
                .iter()
                .map(|n| (n.name().to_owned(), n.delimiter().map(str::to_owned)))
                .collect())
        })
        .await?;
        if let Some(d) = existing.iter().find_map(|(_, d)| d.clone()) {
            self.delimiter = Some(d);
        }
        let mut created = Vec::new();
        for want in wanted {
            let name = self.server_folder_name(want);
            // Exact match only: never a substring (mssante.md §8).
            if existing.iter().any(|(n, _)| n == &name) {
                continue;
            }
            timed(Step::ImapCreate, t, async {
                self.session
                    .create(&name)
                    .await
                    .map_err(|e| imap_err(Step::ImapCreate, e))
            })
            .await?;
            created.push(name);
        }
        Ok(created)
    }

    /// SELECT INBOX; the caller keeps its cursor per UIDVALIDITY.
    pub async fn select_inbox(&mut self) -> Result<InboxState, MailError> {
        self.select("INBOX").await
    }

    /// SELECT a folder (server form).
    pub async fn select(&mut self, folder: &str) -> Result<InboxState, MailError> {
        let mb = timed(Step::ImapSelect, self.timeout, async {
            self.session
                .select(folder)
                .await
                .map_err(|e| imap_err(Step::ImapSelect, e))
        })
        .await?;
        let uid_validity = mb
            .uid_validity
            .ok_or_else(|| imap_err(Step::ImapSelect, "no UIDVALIDITY in SELECT response"))?;
        // A fresh SELECT reports everything: earlier announcements are covered by it.
        self.exists = Some(mb.exists);
        self.grown = false;
        Ok(InboxState {
            uid_validity,
            uid_next: mb.uid_next,
            exists: mb.exists,
            permanent_flags: mb.permanent_flags.iter().map(flag_text).collect(),
        })
    }

    /// `UID FETCH first:* (UID FLAGS RFC822.SIZE BODY.PEEK[])`; PEEK leaves \Seen to humans.
    /// Messages with a UID below `first` (RFC 3501: `n:*` always includes the last message) are
    /// dropped.
    pub async fn fetch_from(&mut self, first: u32) -> Result<Vec<FetchedMessage>, MailError> {
        let first = first.max(1);
        // `first:*` covers whatever was announced before it; an EXISTS in its own response may
        // not be (it sets `grown` again when drained).
        self.drain_unsolicited();
        self.grown = false;
        let fetched = timed(Step::ImapFetch, self.timeout, async {
            let stream = self
                .session
                .uid_fetch(format!("{first}:*"), "(UID FLAGS RFC822.SIZE BODY.PEEK[])")
                .await
                .map_err(|e| imap_err(Step::ImapFetch, e))?;
            let items: Vec<_> = stream
                .try_collect()
                .await
                .map_err(|e| imap_err(Step::ImapFetch, e))?;
            Ok(items)
        })
        .await?;
        let mut out = Vec::with_capacity(fetched.len());
        for f in &fetched {
            let Some(uid) = f.uid else { continue };
            if uid < first {
                continue;
            }
            let Some(body) = f.body() else { continue };
            out.push(FetchedMessage {
                uid,
                flags: f.flags().map(|fl| flag_text(&fl)).collect(),
                size: f.size,
                body: body.to_vec(),
            });
        }
        out.sort_by_key(|m| m.uid);
        self.drain_unsolicited();
        Ok(out)
    }

    /// `UID FETCH first:* (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER])`: what is there, without
    /// bodies (mssante.md §6.2 re-listing; messages too large to fetch are seen by their size).
    pub async fn list_from(&mut self, first: u32) -> Result<Vec<MessageSummary>, MailError> {
        let first = first.max(1);
        self.drain_unsolicited();
        self.grown = false;
        let fetched = timed(Step::ImapFetch, self.timeout, async {
            let stream = self
                .session
                .uid_fetch(
                    format!("{first}:*"),
                    "(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER])",
                )
                .await
                .map_err(|e| imap_err(Step::ImapFetch, e))?;
            let items: Vec<_> = stream
                .try_collect()
                .await
                .map_err(|e| imap_err(Step::ImapFetch, e))?;
            Ok(items)
        })
        .await?;
        let mut out: Vec<MessageSummary> = fetched
            .iter()
            .filter_map(|f| {
                let uid = f.uid.filter(|u| *u >= first)?;
                Some(MessageSummary {
                    uid,
                    flags: f.flags().map(|fl| flag_text(&fl)).collect(),
                    size: f.size,
                    header: f.header().map(<[u8]>::to_vec).unwrap_or_default(),
                })
            })
            .collect();
        out.sort_by_key(|m| m.uid);
        self.drain_unsolicited();
        Ok(out)
    }

    /// One message by UID (`BODY.PEEK[]`), None if it is gone.
    pub async fn fetch_uid(&mut self, uid: u32) -> Result<Option<FetchedMessage>, MailError> {
        let fetched = timed(Step::ImapFetch, self.timeout, async {
            let stream = self
                .session
                .uid_fetch(uid.to_string(), "(UID FLAGS RFC822.SIZE BODY.PEEK[])")
                .await
                .map_err(|e| imap_err(Step::ImapFetch, e))?;
            let items: Vec<_> = stream
                .try_collect()
                .await
                .map_err(|e| imap_err(Step::ImapFetch, e))?;
            Ok(items)
        })
        .await?;
        self.drain_unsolicited();
        Ok(fetched.iter().find(|f| f.uid == Some(uid)).and_then(|f| {
            Some(FetchedMessage {
                uid,
                flags: f.flags().map(|fl| flag_text(&fl)).collect(),
                size: f.size,
                body: f.body()?.to_vec(),
            })
        }))
    }

    /// `UID SEARCH ALL` (reconciliation).
    pub async fn uid_search_all(&mut self) -> Result<Vec<u32>, MailError> {
        self.uid_search("ALL").await
    }

    /// UIDs of the selected folder's messages carrying none of `keywords` (`UID SEARCH
    /// UNKEYWORD k1 UNKEYWORD k2…`; every message when `keywords` is empty), ascending.
    pub async fn uids_without(&mut self, keywords: &[&str]) -> Result<Vec<u32>, MailError> {
        for k in keywords {
            check_keyword(k)?;
        }
        let query = if keywords.is_empty() {
            "ALL".to_owned()
        } else {
            keywords
                .iter()
                .map(|k| format!("UNKEYWORD {k}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        self.uid_search(&query).await
    }

    async fn uid_search(&mut self, query: &str) -> Result<Vec<u32>, MailError> {
        self.drain_unsolicited();
        self.grown = false;
        let set = timed(Step::ImapFetch, self.timeout, async {
            self.session
                .uid_search(query)
                .await
                .map_err(|e| imap_err(Step::ImapFetch, e))
        })
        .await?;
        self.drain_unsolicited();
        let mut v: Vec<u32> = set.into_iter().collect();
        v.sort_unstable();
        Ok(v)
    }

    /// Sets `keyword` on one message of the selected folder (`UID STORE +FLAGS.SILENT`): how a
    /// processed message is marked when it stays in INBOX.
    pub async fn add_keyword(&mut self, uid: u32, keyword: &str) -> Result<(), MailError> {
        check_keyword(keyword)?;
        let t = self.timeout;
        timed(
            Step::ImapMove,
            t,
            store_silent(&mut self.session, &uid.to_string(), keyword),
        )
        .await?;
        self.drain_unsolicited();
        Ok(())
    }

    /// Moves one message of the selected folder to `folder` (`/`-separated).
    pub async fn move_message(&mut self, uid: u32, folder: &str) -> Result<MoveMethod, MailError> {
        let target = self.server_folder_name(folder);
        let uid_s = uid.to_string();
        let t = self.timeout;
        let move_cap = self.has_capability("MOVE");
        let uidplus = self.has_capability("UIDPLUS");
        let method = timed(Step::ImapMove, t, async {
            if move_cap {
                self.session
                    .uid_mv(&uid_s, &target)
                    .await
                    .map_err(|e| imap_err(Step::ImapMove, e))?;
                return Ok(MoveMethod::Move);
            }
            self.session
                .uid_copy(&uid_s, &target)
                .await
                .map_err(|e| imap_err(Step::ImapMove, e))?;
            store_silent(&mut self.session, &uid_s, "\\Deleted").await?;
            if uidplus {
                let s = self
                    .session
                    .uid_expunge(&uid_s)
                    .await
                    .map_err(|e| imap_err(Step::ImapMove, e))?;
                let _: Vec<_> = s
                    .try_collect()
                    .await
                    .map_err(|e| imap_err(Step::ImapMove, e))?;
                Ok(MoveMethod::CopyExpunge)
            } else {
                Ok(MoveMethod::CopyFlagged)
            }
        })
        .await?;
        self.drain_unsolicited();
        Ok(method)
    }

    /// Waits in IDLE up to `wait` (the server must offer IDLE; otherwise poll with
    /// [`Self::noop`] / [`Self::fetch_from`]). Returns `Changed` at once, without waiting, when the
    /// server already announced new messages since the last FETCH (in the response to another
    /// command, or just before accepting IDLE).
    pub async fn idle(mut self, wait: Duration) -> Result<(Self, IdleOutcome), MailError> {
        if !self.has_capability("IDLE") {
            return Err(MailError::Config {
                field: "idle",
                reason: "server does not offer IDLE: poll instead".into(),
            });
        }
        self.drain_unsolicited();
        if self.grown {
            return Ok((self, IdleOutcome::Changed));
        }
        let Self {
            session,
            caps,
            delimiter,
            timeout,
            exists,
            grown,
        } = self;
        // The handle hides the session: keep a receiver of its unsolicited responses.
        let unsolicited = session.unsolicited_responses.clone();
        let mut handle = session.idle();
        timed(Step::ImapIdle, timeout, async {
            handle.init().await.map_err(|e| imap_err(Step::ImapIdle, e))
        })
        .await?;
        // Untagged responses read before the continuation went to the unsolicited channel, not
        // to the wait below: look at them first.
        let mut me_exists = exists;
        let mut me_grown = grown;
        while let Ok(u) = unsolicited.try_recv() {
            note_unsolicited(&mut me_exists, &mut me_grown, &u);
        }
        let outcome = if me_grown {
            IdleOutcome::Changed
        } else {
            let (fut, _stop) = handle.wait_with_timeout(wait);
            match fut.await.map_err(|e| imap_err(Step::ImapIdle, e))? {
                async_imap::extensions::idle::IdleResponse::NewData(_) => IdleOutcome::Changed,
                _ => IdleOutcome::TimedOut,
            }
        };
        let session = timed(Step::ImapIdle, timeout, async {
            handle.done().await.map_err(|e| imap_err(Step::ImapIdle, e))
        })
        .await?;
        let mut me = Self {
            session,
            caps,
            delimiter,
            timeout,
            exists: me_exists,
            grown: me_grown,
        };
        me.drain_unsolicited();
        Ok((me, outcome))
    }

    /// NOOP (keeps the connection alive; lets the server report new messages).
    pub async fn noop(&mut self) -> Result<(), MailError> {
        timed(Step::ImapNoop, self.timeout, async {
            self.session
                .noop()
                .await
                .map_err(|e| imap_err(Step::ImapNoop, e))
        })
        .await?;
        self.drain_unsolicited();
        Ok(())
    }

    pub async fn logout(mut self) -> Result<(), MailError> {
        timed(Step::ImapLogout, self.timeout, async {
            self.session
                .logout()
                .await
                .map_err(|e| imap_err(Step::ImapLogout, e))
        })
        .await
    }

    /// Whether the server announced new messages since the last FETCH was issued (the next
    /// [`Self::idle`] would return at once).
    pub fn has_announced_new(&self) -> bool {
        self.grown
    }

    /// Unsolicited responses only count messages (the caller re-fetches by UID); the channel is
    /// emptied after every command so that it never fills (async-imap drops what does not fit).
    fn drain_unsolicited(&mut self) {
        while let Ok(u) = self.session.unsolicited_responses.try_recv() {
            note_unsolicited(&mut self.exists, &mut self.grown, &u);
        }
    }
}
