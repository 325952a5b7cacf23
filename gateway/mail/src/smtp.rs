//! SMTP submission client (RFC 5321/6409) over mutual TLS, with DSN parameters (RFC 3461),
//! SIZE (RFC 1870), SASL EXTERNAL (RFC 4422) and a per-(mailbox, server) connection pool.
//!
//! Written on `smtp-proto` (reply and EHLO parsing) + `tokio-rustls` because lettre 0.11 neither
//! reads the DSN/SIZE keywords nor offers AUTH EXTERNAL, and builds its own rustls config.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::ClientConfig;
use smtp_proto::{AUTH_EXTERNAL, EXT_DSN, EXT_ENHANCED_STATUS_CODES, EXT_SIZE, EXT_START_TLS};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::{MailError, RetryClass, Step, TlsMode};

/// Longest reply line accepted (RFC 5321 says 512; operators exceed it in texts).
const MAX_LINE: usize = 8192;
/// Most lines in one reply (EHLO lists a few dozen at most).
const MAX_REPLY_LINES: usize = 200;

/// One SMTP reply: basic code, RFC 3463 enhanced code when present, text lines joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub enhanced: Option<[u16; 3]>,
    pub text: String,
}

impl Reply {
    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }
    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }
    /// Retry class of this reply per mssante.md §1.5 (the enhanced code wins).
    pub fn retry_class(&self) -> RetryClass {
        classify_reply(self.code, self.enhanced)
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.enhanced {
            Some([a, b, c]) => write!(f, "{} {a}.{b}.{c} {}", self.code, self.text),
            None => write!(f, "{} {}", self.code, self.text),
        }
    }
}

/// mssante.md §1.5: RFC 3463 enhanced code first, then the basic code.
pub fn classify_reply(code: u16, enhanced: Option<[u16; 3]>) -> RetryClass {
    if code == 555 {
        return RetryClass::DsnUnsupported;
    }
    if let Some([class, subject, detail]) = enhanced {
        match (class, subject, detail) {
            (4, _, _) => return RetryClass::Temporary,
            (5, 7, 0) | (5, 7, 8) => return RetryClass::Configuration,
            (5, 1, _) => return RetryClass::RecipientRejected,
            (5, 3, 4) => return RetryClass::MessageTooLarge,
            (5, 7, 1) | (5, 6, _) => return RetryClass::RejectedByOperator,
            _ => {}
        }
    }
    match code {
        400..=499 => RetryClass::Temporary,
        530 | 535 => RetryClass::Configuration,
        550 | 553 => RetryClass::RecipientRejected,
        552 => RetryClass::MessageTooLarge,
        554 => RetryClass::RejectedByOperator,
        _ => RetryClass::ProtocolError,
    }
}

/// How the client authenticates after TLS (the client certificate is always presented).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpAuth {
    /// SASL EXTERNAL with an empty authzid (`AUTH EXTERNAL =`) when advertised, else none.
    External,
    /// Certificate only.
    None,
}

/// Per-step timeouts. RFC 5321 §4.5.3.2 gives larger values; operators answer in seconds.
#[derive(Debug, Clone)]
pub struct SmtpTimeouts {
    pub connect: Duration,
    pub tls_handshake: Duration,
    pub greeting: Duration,
    pub command: Duration,
    /// Writing the message and waiting for the reply to the final dot.
    pub data: Duration,
}

impl Default for SmtpTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            tls_handshake: Duration::from_secs(15),
            greeting: Duration::from_secs(30),
            command: Duration::from_secs(30),
            data: Duration::from_secs(120),
        }
    }
}

/// Everything needed to reach one submission server as one mailbox.
#[derive(Clone)]
pub struct SmtpClientConfig {
    /// The tenant's APP mailbox (pool key, and the usual MAIL FROM).
    pub mailbox: String,
    /// Server host name, checked against its certificate (DNS name or IP literal).
    pub host: String,
    pub port: u16,
    /// Connect here instead of resolving `host` (tests, fixed routing); the name check still uses `host`.
    pub connect_addr: Option<SocketAddr>,
    pub tls_mode: TlsMode,
    /// Client config: client certificate + configured CAs only (see [`crate::tls`]).
    pub tls: Arc<ClientConfig>,
    pub auth: SmtpAuth,
    /// Name sent in EHLO.
    pub ehlo_name: String,
    /// Send RFC 3461 parameters when the server advertises DSN (operator `dsn = off` sets false).
    pub request_dsn: bool,
    /// Transactions per connection before it is closed (mssante.md §1.4: 50).
    pub max_transactions: u32,
    /// Pooled connections idle longer than this are closed (mssante.md §1.4: 30 s).
    pub idle_timeout: Duration,
    /// Concurrent connections per (mailbox, server) (mssante.md §1.4: 2).
    pub max_connections: usize,
    pub timeouts: SmtpTimeouts,
}

impl SmtpClientConfig {
    /// Defaults of mssante.md §1.4 for `mailbox` reaching `host:port`.
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
            auth: SmtpAuth::External,
            ehlo_name: "passerelle.localdomain".into(),
            request_dsn: true,
            max_transactions: 50,
            idle_timeout: Duration::from_secs(30),
            max_connections: 2,
            timeouts: SmtpTimeouts::default(),
        }
    }
}

/// `RET` of RFC 3461.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsnRet {
    Hdrs,
    Full,
}

/// `NOTIFY` of RFC 3461; all false = `NEVER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DsnNotify {
    pub success: bool,
    pub failure: bool,
    pub delay: bool,
}

impl DsnNotify {
    pub const ALL: DsnNotify = DsnNotify {
        success: true,
        failure: true,
        delay: true,
    };
    fn param(&self) -> String {
        let mut v = Vec::new();
        if self.success {
            v.push("SUCCESS");
        }
        if self.failure {
            v.push("FAILURE");
        }
        if self.delay {
            v.push("DELAY");
        }
        if v.is_empty() {
            "NEVER".into()
        } else {
            v.join(",")
        }
    }
}

/// The DSN request of mssante.md §3.4 (sent only if the server advertises `DSN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsnRequest {
    pub ret: DsnRet,
    /// Envelope id (the delivery id); xtext-encoded on the wire, ≤ 100 characters.
    pub envid: Option<String>,
    pub notify: DsnNotify,
}

impl Default for DsnRequest {
    fn default() -> Self {
        Self {
            ret: DsnRet::Hdrs,
            envid: None,
            notify: DsnNotify::ALL,
        }
    }
}

/// SMTP envelope of one message.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub mail_from: String,
    pub recipients: Vec<String>,
    pub dsn: Option<DsnRequest>,
}

/// Reply to one RCPT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcptResult {
    pub address: String,
    pub reply: Reply,
}

/// A retry done inside one `send` call (a stale pooled connection replaced by a fresh one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryNote {
    pub class: RetryClass,
    pub error: String,
}

/// Outcome of an accepted message: every reply, typed.
#[derive(Debug, Clone)]
pub struct SendReport {
    pub mail: Reply,
    /// One per recipient, accepted or not (the message went to the accepted ones).
    pub recipients: Vec<RcptResult>,
    /// Reply to the final dot.
    pub data: Reply,
    /// DSN parameters were sent (requested and advertised).
    pub dsn_requested: bool,
    /// The transaction ran on a connection that had carried earlier transactions.
    pub reused_connection: bool,
    /// Retries done before success (class `ReusedConnection`).
    pub retries: Vec<RetryNote>,
}

/// What the server advertised in its EHLO after TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmtpCapabilities {
    pub dsn: bool,
    /// `SIZE` limit; `Some(0)` = advertised without a limit.
    pub size: Option<usize>,
    pub auth_external: bool,
    pub enhanced_status_codes: bool,
    pub starttls: bool,
    pub ehlo_reply: String,
}

type Io = BufReader<TlsStream<TcpStream>>;

/// One authenticated TLS connection to a submission server.
pub struct SmtpConnection {
    io: Io,
    caps: SmtpCapabilities,
    transactions: u32,
    last_used: Instant,
    timeouts: SmtpTimeouts,
    /// A transaction was started and not completed: RSET before the next one.
    dirty: bool,
}

impl fmt::Debug for SmtpConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConnection")
            .field("caps", &self.caps)
            .field("transactions", &self.transactions)
            .finish()
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

fn io_err(step: Step, e: std::io::Error) -> MailError {
    MailError::Io {
        step,
        reason: e.to_string(),
    }
}

/// Reads one (possibly multi-line) reply; returns it with its raw bytes (for EHLO parsing).
async fn read_reply<S: AsyncRead + Unpin>(
    io: &mut BufReader<S>,
    step: Step,
) -> Result<(Reply, Vec<u8>), MailError> {
    let mut raw = Vec::new();
    let mut lines = 0usize;
    loop {
        let start = raw.len();
        let n = read_line_limited(io, &mut raw, step).await?;
        if n == 0 {
            return Err(MailError::Io {
                step,
                reason: "connection closed by server".into(),
            });
        }
        lines += 1;
        let line = &raw[start..];
        if line.len() < 4 && !(line.len() >= 3 && line[..3].iter().all(u8::is_ascii_digit)) {
            return Err(MailError::Protocol {
                step,
                reason: "reply line too short".into(),
            });
        }
        if line.len() < 4 || line[3] != b'-' {
            break;
        }
        if lines >= MAX_REPLY_LINES {
            return Err(MailError::Protocol {
                step,
                reason: "too many reply lines".into(),
            });
        }
    }
    let reply = parse_reply(&raw, step)?;
    Ok((reply, raw))
}

async fn read_line_limited<S: AsyncRead + Unpin>(
    io: &mut BufReader<S>,
    buf: &mut Vec<u8>,
    step: Step,
) -> Result<usize, MailError> {
    let mut total = 0;
    loop {
        let available = io.fill_buf().await.map_err(|e| io_err(step, e))?;
        if available.is_empty() {
            return Ok(total);
        }
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        buf.extend_from_slice(&available[..take]);
        io.consume(take);
        total += take;
        if done {
            return Ok(total);
        }
        if total > MAX_LINE {
            return Err(MailError::Protocol {
                step,
                reason: "reply line too long".into(),
            });
        }
    }
}

fn parse_reply(raw: &[u8], step: Step) -> Result<Reply, MailError> {
    let mut receiver = smtp_proto::response::parser::ResponseReceiver::default();
    let parsed = receiver
        .parse(&mut raw.iter())
        .map_err(|e| MailError::Protocol {
            step,
            reason: format!("unparsable reply: {e:?}"),
        })?;
    let enhanced = if parsed.esc[0] != 0 {
        Some([
            u16::from(parsed.esc[0]),
            u16::from(parsed.esc[1]),
            u16::from(parsed.esc[2]),
        ])
    } else {
        None
    };
    Ok(Reply {
        code: parsed.code,
        enhanced,
        text: parsed.message.trim_end().to_owned(),
    })
}

fn parse_ehlo(raw: &[u8], step: Step) -> Result<SmtpCapabilities, MailError> {
    let parsed = smtp_proto::EhloResponse::<String>::parse(&mut raw.iter()).map_err(|e| {
        MailError::Protocol {
            step,
            reason: format!("unparsable EHLO reply: {e:?}"),
        }
    })?;
    let has = |bit: u32| parsed.capabilities & bit != 0;
    Ok(SmtpCapabilities {
        dsn: has(EXT_DSN),
        size: has(EXT_SIZE).then_some(parsed.size),
        auth_external: parsed.auth_mechanisms & AUTH_EXTERNAL != 0,
        enhanced_status_codes: has(EXT_ENHANCED_STATUS_CODES),
        starttls: has(EXT_START_TLS),
        ehlo_reply: String::from_utf8_lossy(raw).into_owned(),
    })
}

async fn command<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    step: Step,
    limit: Duration,
    line: &str,
) -> Result<(Reply, Vec<u8>), MailError> {
    timed(step, limit, async {
        let w = io.get_mut();
        w.write_all(line.as_bytes())
            .await
            .map_err(|e| io_err(step, e))?;
        w.write_all(b"\r\n").await.map_err(|e| io_err(step, e))?;
        w.flush().await.map_err(|e| io_err(step, e))?;
        read_reply(io, step).await
    })
    .await
}

fn expect(step: Step, reply: Reply, ok: u16) -> Result<Reply, MailError> {
    if reply.code == ok {
        Ok(reply)
    } else {
        Err(MailError::Rejected { step, reply })
    }
}

/// RFC 3461 §4 xtext.
pub fn xtext(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// Dot-stuffs `message` (RFC 5321 §4.5.2), normalises bare LF to CRLF and appends the final dot.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 50 + 5);
    // Line by line with a SIMD search for the line ends: messages are MiBs of base64.
    let mut start = 0;
    while start < message.len() {
        let end = memchr::memchr(b'\n', &message[start..]).map(|p| start + p);
        let line = &message[start..end.unwrap_or(message.len())];
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        match end {
            Some(e) => {
                out.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
                out.extend_from_slice(b"\r\n");
                start = e + 1;
            }
            None => {
                out.extend_from_slice(line);
                start = message.len();
            }
        }
    }
    if !message.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

async fn tls_handshake(
    cfg: &SmtpClientConfig,
    tcp: TcpStream,
) -> Result<TlsStream<TcpStream>, MailError> {
    let name = crate::tls::server_name(&cfg.host)?;
    let connector = TlsConnector::from(cfg.tls.clone());
    timed(Step::Tls, cfg.timeouts.tls_handshake, async {
        connector
            .connect(name, tcp)
            .await
            .map_err(|e| MailError::from_tls_io(Step::Tls, e))
    })
    .await
}

async fn tcp_connect(
    host: &str,
    port: u16,
    addr: Option<SocketAddr>,
    limit: Duration,
) -> Result<TcpStream, MailError> {
    timed(Step::Connect, limit, async {
        let s = match addr {
            Some(a) => TcpStream::connect(a).await,
            None => TcpStream::connect((host, port)).await,
        };
        let s = s.map_err(|e| io_err(Step::Connect, e))?;
        // Small commands must not wait for Nagle.
        let _ = s.set_nodelay(true);
        Ok(s)
    })
    .await
}

impl SmtpConnection {
    /// Connects, negotiates TLS (never falls back to plaintext), reads capabilities after TLS
    /// and authenticates.
    pub async fn connect(cfg: &SmtpClientConfig) -> Result<Self, MailError> {
        let t = &cfg.timeouts;
        let tcp = tcp_connect(&cfg.host, cfg.port, cfg.connect_addr, t.connect).await?;
        let tls = match cfg.tls_mode {
            TlsMode::Implicit => tls_handshake(cfg, tcp).await?,
            TlsMode::StartTls => {
                let mut plain = BufReader::new(tcp);
                let (greeting, _) = timed(
                    Step::Greeting,
                    t.greeting,
                    read_reply(&mut plain, Step::Greeting),
                )
                .await?;
                expect(Step::Greeting, greeting, 220)?;
                let (reply, raw) = command(
                    &mut plain,
                    Step::Ehlo,
                    t.command,
                    &format!("EHLO {}", cfg.ehlo_name),
                )
                .await?;
                expect(Step::Ehlo, reply, 250)?;
                let caps = parse_ehlo(&raw, Step::Ehlo)?;
                if !caps.starttls {
                    return Err(MailError::StartTlsNotOffered);
                }
                let (reply, _) = command(&mut plain, Step::StartTls, t.command, "STARTTLS").await?;
                expect(Step::StartTls, reply, 220)?;
                if !plain.buffer().is_empty() {
                    // Bytes after the 220 before the handshake: injection attempt (RFC 3207 §5).
                    return Err(MailError::Protocol {
                        step: Step::StartTls,
                        reason: "data received before TLS handshake".into(),
                    });
                }
                tls_handshake(cfg, plain.into_inner()).await?
            }
        };
        let mut io = BufReader::new(tls);
        if cfg.tls_mode == TlsMode::Implicit {
            let (greeting, _) = timed(
                Step::Greeting,
                t.greeting,
                read_reply(&mut io, Step::Greeting),
            )
            .await?;
            expect(Step::Greeting, greeting, 220)?;
        }
        // Capabilities are re-read after TLS: nothing learnt in plaintext is trusted.
        let (reply, raw) = command(
            &mut io,
            Step::Ehlo,
            t.command,
            &format!("EHLO {}", cfg.ehlo_name),
        )
        .await?;
        expect(Step::Ehlo, reply, 250)?;
        let caps = parse_ehlo(&raw, Step::Ehlo)?;
        if cfg.auth == SmtpAuth::External && caps.auth_external {
            let (reply, _) = command(&mut io, Step::Auth, t.command, "AUTH EXTERNAL =").await?;
            expect(Step::Auth, reply, 235)?;
        }
        Ok(Self {
            io,
            caps,
            transactions: 0,
            last_used: Instant::now(),
            timeouts: cfg.timeouts.clone(),
            dirty: false,
        })
    }

    pub fn capabilities(&self) -> &SmtpCapabilities {
        &self.caps
    }

    /// Transactions completed on this connection.
    pub fn transactions(&self) -> u32 {
        self.transactions
    }

    /// One mail transaction. On error, `TxFailure::before_mail` tells whether the failure
    /// happened before the server answered MAIL (a stale connection), and `usable` whether the
    /// connection can carry another transaction.
    async fn transaction(
        &mut self,
        cfg: &SmtpClientConfig,
        env: &Envelope,
        message: &[u8],
    ) -> Result<SendReport, TxFailure> {
        let t = self.timeouts.clone();
        let reused = self.transactions > 0;
        if self.dirty || reused {
            let (reply, _) = command(&mut self.io, Step::Rset, t.command, "RSET")
                .await
                .map_err(TxFailure::stale)?;
            if reply.code == 421 {
                return Err(TxFailure::stale(MailError::Rejected {
                    step: Step::Rset,
                    reply,
                }));
            }
            expect(Step::Rset, reply, 250).map_err(TxFailure::broken)?;
            self.dirty = false;
        }
        if let Some(limit) = self.caps.size
            && limit > 0
            && message.len() > limit
        {
            return Err(TxFailure::usable(MailError::TooLarge {
                size: message.len(),
                limit,
            }));
        }
        let dsn = match (&env.dsn, cfg.request_dsn && self.caps.dsn) {
            (Some(d), true) => Some(d),
            _ => None,
        };
        let mut mail = format!("MAIL FROM:<{}>", env.mail_from);
        if self.caps.size.is_some() {
            mail.push_str(&format!(" SIZE={}", message.len()));
        }
        if let Some(d) = dsn {
            mail.push_str(match d.ret {
                DsnRet::Hdrs => " RET=HDRS",
                DsnRet::Full => " RET=FULL",
            });
            if let Some(id) = &d.envid {
                mail.push_str(&format!(" ENVID={}", xtext(id)));
            }
        }
        self.dirty = true;
        let (mail_reply, _) = command(&mut self.io, Step::Mail, t.command, &mail)
            .await
            .map_err(TxFailure::stale)?;
        if mail_reply.code == 421 {
            return Err(TxFailure::stale(MailError::Rejected {
                step: Step::Mail,
                reply: mail_reply,
            }));
        }
        let mail_reply = expect(Step::Mail, mail_reply, 250).map_err(TxFailure::usable)?;

        let mut recipients = Vec::with_capacity(env.recipients.len());
        for rcpt in &env.recipients {
            let mut line = format!("RCPT TO:<{rcpt}>");
            if let Some(d) = dsn {
                line.push_str(&format!(
                    " NOTIFY={} ORCPT=rfc822;{}",
                    d.notify.param(),
                    xtext(rcpt)
                ));
            }
            let (reply, _) = command(&mut self.io, Step::Rcpt, t.command, &line)
                .await
                .map_err(TxFailure::broken)?;
            if reply.code == 421 {
                return Err(TxFailure::broken(MailError::Rejected {
                    step: Step::Rcpt,
                    reply,
                }));
            }
            recipients.push(RcptResult {
                address: rcpt.clone(),
                reply,
            });
        }
        let accepted = recipients
            .iter()
            .filter(|r| r.reply.code / 100 == 2)
            .count();
        if accepted == 0 {
            let first = recipients
                .first()
                .map(|r| r.reply.clone())
                .unwrap_or(Reply {
                    code: 554,
                    enhanced: None,
                    text: "no recipient given".into(),
                });
            return Err(TxFailure::usable(MailError::Rejected {
                step: Step::Rcpt,
                reply: first,
            }));
        }
        let (reply, _) = command(&mut self.io, Step::Data, t.command, "DATA")
            .await
            .map_err(TxFailure::broken)?;
        if reply.code != 354 {
            let usable = reply.code != 421;
            let e = MailError::Rejected {
                step: Step::Data,
                reply,
            };
            return Err(if usable {
                TxFailure::usable(e)
            } else {
                TxFailure::broken(e)
            });
        }
        let payload = dot_stuff(message);
        let (data_reply, _) = timed(Step::DataEnd, t.data, async {
            let w = self.io.get_mut();
            w.write_all(&payload)
                .await
                .map_err(|e| io_err(Step::DataEnd, e))?;
            w.flush().await.map_err(|e| io_err(Step::DataEnd, e))?;
            read_reply(&mut self.io, Step::DataEnd).await
        })
        .await
        .map_err(TxFailure::broken)?;
        // After the final dot the transaction is over whatever the reply.
        self.dirty = false;
        self.last_used = Instant::now();
        if data_reply.code != 250 {
            let usable = data_reply.code != 421;
            let e = MailError::Rejected {
                step: Step::DataEnd,
                reply: data_reply,
            };
            return Err(if usable {
                TxFailure::usable(e)
            } else {
                TxFailure::broken(e)
            });
        }
        self.transactions += 1;
        Ok(SendReport {
            mail: mail_reply,
            recipients,
            data: data_reply,
            dsn_requested: dsn.is_some(),
            reused_connection: reused,
            retries: Vec::new(),
        })
    }

    /// Sends one message on this connection (no pool, no retry).
    pub async fn send(
        &mut self,
        cfg: &SmtpClientConfig,
        env: &Envelope,
        message: &[u8],
    ) -> Result<SendReport, MailError> {
        self.transaction(cfg, env, message)
            .await
            .map_err(|f| f.error)
    }

    /// Polite close; errors ignored (the server may already be gone).
    pub async fn quit(mut self) {
        let _ = command(&mut self.io, Step::Quit, Duration::from_secs(5), "QUIT").await;
        let _ = self.io.get_mut().shutdown().await;
    }
}

struct TxFailure {
    error: MailError,
    before_mail: bool,
    usable: bool,
}

impl TxFailure {
    fn stale(error: MailError) -> Self {
        Self {
            error,
            before_mail: true,
            usable: false,
        }
    }
    fn broken(error: MailError) -> Self {
        Self {
            error,
            before_mail: false,
            usable: false,
        }
    }
    fn usable(error: MailError) -> Self {
        Self {
            error,
            before_mail: false,
            usable: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    mailbox: String,
    host: String,
    port: u16,
}

struct PoolEntry {
    idle: Vec<SmtpConnection>,
    permits: Arc<Semaphore>,
}

/// Counters of a pool (for metrics and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    pub connections_opened: u64,
    pub transactions: u64,
    /// Transactions that ran on an already used connection.
    pub reused_transactions: u64,
    /// Stale pooled connections replaced by a fresh one inside `send`.
    pub reused_connection_retries: u64,
}

/// Connection pool per (tenant mailbox, server): reuse, ≤ `max_transactions` per connection,
/// closed after `idle_timeout`, ≤ `max_connections` at once.
#[derive(Default)]
pub struct SmtpPool {
    entries: Mutex<HashMap<PoolKey, PoolEntry>>,
    opened: AtomicU64,
    transactions: AtomicU64,
    reused: AtomicU64,
    retries: AtomicU64,
}

impl fmt::Debug for SmtpPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpPool")
            .field("stats", &self.stats())
            .finish()
    }
}

impl SmtpPool {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn stats(&self) -> PoolStats {
        PoolStats {
            connections_opened: self.opened.load(Ordering::Relaxed),
            transactions: self.transactions.load(Ordering::Relaxed),
            reused_transactions: self.reused.load(Ordering::Relaxed),
            reused_connection_retries: self.retries.load(Ordering::Relaxed),
        }
    }

    fn key(cfg: &SmtpClientConfig) -> PoolKey {
        PoolKey {
            mailbox: cfg.mailbox.to_ascii_lowercase(),
            host: cfg.host.to_ascii_lowercase(),
            port: cfg.port,
        }
    }

    fn permits(&self, cfg: &SmtpClientConfig) -> Arc<Semaphore> {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(Self::key(cfg))
            .or_insert_with(|| PoolEntry {
                idle: Vec::new(),
                permits: Arc::new(Semaphore::new(cfg.max_connections.max(1))),
            })
            .permits
            .clone()
    }

    /// An idle connection still within its limits, or None. Expired ones are closed in the background.
    fn take_idle(&self, cfg: &SmtpClientConfig) -> Option<SmtpConnection> {
        let mut expired = Vec::new();
        let found = {
            let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            let entry = map.get_mut(&Self::key(cfg))?;
            let mut found = None;
            while let Some(c) = entry.idle.pop() {
                if c.last_used.elapsed() < cfg.idle_timeout && c.transactions < cfg.max_transactions
                {
                    found = Some(c);
                    break;
                }
                expired.push(c);
            }
            found
        };
        for c in expired {
            spawn_quit(c);
        }
        found
    }

    fn put_back(&self, cfg: &SmtpClientConfig, conn: SmtpConnection) {
        if conn.transactions >= cfg.max_transactions {
            spawn_quit(conn);
            return;
        }
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = map.get_mut(&Self::key(cfg)) {
            entry.idle.push(conn);
        }
    }

    /// Sends one message as `cfg.mailbox`, reusing a pooled connection when possible. A pooled
    /// connection that fails before the server answered MAIL is replaced once by a fresh one
    /// (recorded in `SendReport::retries` as `RetryClass::ReusedConnection`).
    pub async fn send(
        &self,
        cfg: &SmtpClientConfig,
        env: &Envelope,
        message: &[u8],
    ) -> Result<SendReport, MailError> {
        let permits = self.permits(cfg);
        let _permit = permits
            .acquire_owned()
            .await
            .map_err(|_| MailError::Config {
                field: "pool",
                reason: "pool closed".into(),
            })?;
        let mut retries = Vec::new();
        let mut allow_retry = true;
        loop {
            let (mut conn, pooled) = match self.take_idle(cfg) {
                Some(c) => (c, true),
                None => {
                    let c = SmtpConnection::connect(cfg).await?;
                    self.opened.fetch_add(1, Ordering::Relaxed);
                    (c, false)
                }
            };
            match conn.transaction(cfg, env, message).await {
                Ok(mut report) => {
                    self.transactions.fetch_add(1, Ordering::Relaxed);
                    if report.reused_connection {
                        self.reused.fetch_add(1, Ordering::Relaxed);
                    }
                    report.retries = retries;
                    self.put_back(cfg, conn);
                    return Ok(report);
                }
                Err(f) if f.before_mail && pooled && allow_retry => {
                    tracing::debug!(error = %f.error, "pooled SMTP connection stale, retrying on a fresh one");
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    retries.push(RetryNote {
                        class: RetryClass::ReusedConnection,
                        error: f.error.to_string(),
                    });
                    allow_retry = false;
                }
                Err(f) => {
                    if f.usable {
                        self.put_back(cfg, conn);
                    }
                    return Err(f.error);
                }
            }
        }
    }

    /// Closes connections idle longer than their timeout (call periodically).
    pub async fn close_idle(&self, idle_timeout: Duration) {
        let stale: Vec<SmtpConnection> = {
            let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            let mut out = Vec::new();
            for entry in map.values_mut() {
                let (old, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut entry.idle)
                    .into_iter()
                    .partition(|c| c.last_used.elapsed() >= idle_timeout);
                entry.idle = keep;
                out.extend(old);
            }
            out
        };
        for c in stale {
            c.quit().await;
        }
    }

    /// QUITs every idle connection.
    pub async fn shutdown(&self) {
        self.close_idle(Duration::ZERO).await;
    }

    /// Idle connections currently pooled (all keys).
    pub fn idle_connections(&self) -> usize {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.values().map(|e| e.idle.len()).sum()
    }
}

fn spawn_quit(conn: SmtpConnection) {
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn(conn.quit());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing_and_crlf() {
        assert_eq!(dot_stuff(b"a\r\n.b\r\n"), b"a\r\n..b\r\n.\r\n".to_vec());
        assert_eq!(dot_stuff(b".x\nyz"), b"..x\r\nyz\r\n.\r\n".to_vec());
        assert_eq!(dot_stuff(b"a\r\n.\r\n"), b"a\r\n..\r\n.\r\n".to_vec());
        assert_eq!(dot_stuff(b""), b".\r\n".to_vec());
        assert_eq!(dot_stuff(b"\n\n.\r"), b"\r\n\r\n..\r\r\n.\r\n".to_vec());
    }

    /// The line-wise version equals the byte-wise definition on arbitrary input.
    #[test]
    fn dot_stuffing_matches_the_bytewise_definition() {
        fn reference(message: &[u8]) -> Vec<u8> {
            let mut out = Vec::new();
            let mut at_line_start = true;
            let mut prev = 0u8;
            for &b in message {
                if at_line_start && b == b'.' {
                    out.push(b'.');
                }
                if b == b'\n' && prev != b'\r' {
                    out.push(b'\r');
                }
                out.push(b);
                at_line_start = b == b'\n';
                prev = b;
            }
            if !message.is_empty() && !out.ends_with(b"\r\n") {
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b".\r\n");
            out
        }
        let alphabet = b".\r\na";
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for len in 0..400usize {
            let input: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    alphabet[(x % 4) as usize]
                })
                .collect();
            assert_eq!(dot_stuff(&input), reference(&input), "{input:?}");
        }
    }

    #[test]
    fn xtext_escapes_plus_equal_and_controls() {
        assert_eq!(xtext("a+b=c d"), "a+2Bb+3Dc+20d");
        assert_eq!(xtext("crip@cd93.mssante.test"), "crip@cd93.mssante.test");
    }

    #[test]
    fn classification_follows_enhanced_code_first() {
        assert_eq!(
            classify_reply(550, Some([5, 1, 1])),
            RetryClass::RecipientRejected
        );
        assert_eq!(
            classify_reply(550, Some([5, 7, 1])),
            RetryClass::RejectedByOperator
        );
        assert_eq!(classify_reply(451, Some([4, 3, 0])), RetryClass::Temporary);
        assert_eq!(classify_reply(550, Some([4, 2, 0])), RetryClass::Temporary);
        assert_eq!(classify_reply(552, None), RetryClass::MessageTooLarge);
        assert_eq!(
            classify_reply(535, Some([5, 7, 8])),
            RetryClass::Configuration
        );
        assert_eq!(
            classify_reply(555, Some([5, 5, 4])),
            RetryClass::DsnUnsupported
        );
        assert_eq!(
            classify_reply(554, Some([5, 6, 0])),
            RetryClass::RejectedByOperator
        );
        assert_eq!(classify_reply(502, None), RetryClass::ProtocolError);
    }

    #[test]
    fn replies_parse_with_enhanced_codes() {
        let r = parse_reply(b"550-5.1.1 first\r\n550 5.1.1 second\r\n", Step::Rcpt);
        let r = r.map_err(|e| e.to_string());
        assert_eq!(
            r,
            Ok(Reply {
                code: 550,
                enhanced: Some([5, 1, 1]),
                text: "first\nsecond".into()
            })
        );
        let caps = parse_ehlo(
            b"250-sim.test\r\n250-DSN\r\n250-SIZE 1000\r\n250-AUTH EXTERNAL\r\n250 ENHANCEDSTATUSCODES\r\n",
            Step::Ehlo,
        )
        .map_err(|e| e.to_string());
        let caps = caps.as_ref().ok();
        assert_eq!(
            caps.map(|c| (c.dsn, c.size, c.auth_external)),
            Some((true, Some(1000), true))
        );
    }
}
