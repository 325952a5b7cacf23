//! IMAP4rev1 server side of the simulated operator: the subset used by Passerelle's client and
//! by Thunderbird-like clients (CAPABILITY, STARTTLS, AUTHENTICATE EXTERNAL, LOGIN, LIST,
//! CREATE, SELECT/EXAMINE, STATUS, (UID) FETCH/STORE/COPY/MOVE/SEARCH/EXPUNGE, APPEND, IDLE,
//! NOOP, CLOSE, LOGOUT). Hand parser: the grammar needed here is small.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::store::{INBOX, StoredMessage};
use crate::{Inner, pki, reports};

const MAX_LINE: usize = 64 * 1024;
const MAX_LITERAL: usize = 64 * 1024 * 1024;

#[derive(Default)]
struct Sess {
    tls: bool,
    cert: Option<String>,
    user: Option<String>,
    selected: Option<Sel>,
}

struct Sel {
    name: String,
    uids: Vec<u32>,
    read_only: bool,
}

#[derive(Debug, Clone)]
enum Tok {
    Atom(String),
    Str(Vec<u8>),
}

impl Tok {
    fn text(&self) -> String {
        match self {
            Tok::Atom(a) => a.clone(),
            Tok::Str(s) => String::from_utf8_lossy(s).into_owned(),
        }
    }
}

enum Next {
    Logout,
    StartTls,
    Closed,
}

pub(crate) async fn serve(tcp: TcpStream, inner: Arc<Inner>, implicit: bool) {
    inner
        .counters
        .imap_connections
        .fetch_add(1, Ordering::Relaxed);
    let greeting = "* OK IMAP4rev1 MSSanté test operator ready";
    if implicit {
        let Ok(tls) = inner.acceptor.accept(tcp).await else {
            return;
        };
        let mut s = Sess {
            tls: true,
            cert: peer_mailbox(tls.get_ref().1),
            ..Sess::default()
        };
        let mut io = BufReader::new(tls);
        if write(&mut io, greeting.as_bytes()).await {
            let _ = session(&mut io, &mut s, &inner).await;
        }
        let _ = io.get_mut().shutdown().await;
        return;
    }
    let mut io = BufReader::new(tcp);
    if !write(&mut io, greeting.as_bytes()).await {
        return;
    }
    let mut s = Sess::default();
    if let Next::StartTls = session(&mut io, &mut s, &inner).await {
        if !io.buffer().is_empty() {
            return;
        }
        let Ok(tls) = inner.acceptor.accept(io.into_inner()).await else {
            return;
        };
        let mut s = Sess {
            tls: true,
            cert: peer_mailbox(tls.get_ref().1),
            ..Sess::default()
        };
        let mut io = BufReader::new(tls);
        let _ = session(&mut io, &mut s, &inner).await;
        let _ = io.get_mut().shutdown().await;
    }
}

fn peer_mailbox(conn: &rustls::ServerConnection) -> Option<String> {
    conn.peer_certificates()
        .and_then(|c| c.first())
        .and_then(|c| pki::mailbox_of_certificate(c))
}

async fn write<S: AsyncRead + AsyncWrite + Unpin>(io: &mut BufReader<S>, line: &[u8]) -> bool {
    let w = io.get_mut();
    w.write_all(line).await.is_ok() && w.write_all(b"\r\n").await.is_ok() && w.flush().await.is_ok()
}

async fn write_raw<S: AsyncRead + AsyncWrite + Unpin>(io: &mut BufReader<S>, bytes: &[u8]) -> bool {
    let w = io.get_mut();
    w.write_all(bytes).await.is_ok() && w.flush().await.is_ok()
}

async fn read_line<S: AsyncRead + Unpin>(io: &mut BufReader<S>) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    loop {
        let available = io.fill_buf().await.ok()?;
        if available.is_empty() {
            return None;
        }
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        buf.extend_from_slice(&available[..take]);
        io.consume(take);
        if done {
            return Some(buf);
        }
        if buf.len() > MAX_LINE {
            return None;
        }
    }
}

fn trim_crlf(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `{n}` or `{n+}` at the end of a line.
fn literal_len(line: &[u8]) -> Option<(usize, bool, usize)> {
    if !line.ends_with(b"}") {
        return None;
    }
    let open = line.iter().rposition(|&b| b == b'{')?;
    let inner = &line[open + 1..line.len() - 1];
    let (digits, plus) = match inner.strip_suffix(b"+") {
        Some(d) => (d, true),
        None => (inner, false),
    };
    let n = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((n, plus, open))
}

/// Reads a full command (lines + literals) into tokens.
async fn read_command<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
) -> Option<Vec<Tok>> {
    let mut toks = Vec::new();
    loop {
        let raw = read_line(io).await?;
        let line = trim_crlf(&raw);
        match literal_len(line) {
            Some((n, plus, open)) => {
                tokenize(&line[..open], &mut toks);
                if n > MAX_LITERAL {
                    return None;
                }
                if !plus && !write(io, b"+ Ready for literal data").await {
                    return None;
                }
                let mut lit = vec![0u8; n];
                io.read_exact(&mut lit).await.ok()?;
                toks.push(Tok::Str(lit));
            }
            None => {
                tokenize(line, &mut toks);
                return Some(toks);
            }
        }
    }
}

fn tokenize(line: &[u8], out: &mut Vec<Tok>) {
    let mut i = 0;
    while i < line.len() {
        match line[i] {
            b' ' => i += 1,
            b'"' => {
                let mut s = Vec::new();
                i += 1;
                while i < line.len() && line[i] != b'"' {
                    if line[i] == b'\\' && i + 1 < line.len() {
                        i += 1;
                    }
                    s.push(line[i]);
                    i += 1;
                }
                i += 1;
                out.push(Tok::Str(s));
            }
            _ => {
                let start = i;
                let mut depth = 0i32;
                while i < line.len() {
                    match line[i] {
                        b'(' | b'[' => depth += 1,
                        b')' | b']' => depth -= 1,
                        b' ' if depth <= 0 => break,
                        _ => {}
                    }
                    i += 1;
                }
                out.push(Tok::Atom(
                    String::from_utf8_lossy(&line[start..i]).into_owned(),
                ));
            }
        }
    }
}

fn norm_folder(name: &str) -> String {
    if name.eq_ignore_ascii_case(INBOX) {
        INBOX.to_owned()
    } else {
        name.to_owned()
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `*` and `%` IMAP wildcards.
fn matches(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| matches(rest, &name[i..])),
        Some((b'%', rest)) => (0..=name.len())
            .take_while(|&i| i == 0 || name[i - 1] != b'/')
            .any(|i| matches(rest, &name[i..])),
        Some((c, rest)) => name.first() == Some(c) && matches(rest, &name[1..]),
    }
}

/// Sequence set → membership test; `*` = `max`.
fn parse_set(s: &str, max: u32) -> Option<Vec<(u32, u32)>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let num = |x: &str| -> Option<u32> { if x == "*" { Some(max) } else { x.parse().ok() } };
        let (a, b) = match part.split_once(':') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => {
                let n = num(part)?;
                (n, n)
            }
        };
        out.push((a.min(b), a.max(b)));
    }
    Some(out)
}

fn in_set(set: &[(u32, u32)], n: u32) -> bool {
    set.iter().any(|&(a, b)| a <= n && n <= b)
}

fn capabilities(s: &Sess, inner: &Inner) -> String {
    let mut caps = vec!["IMAP4rev1", "LITERAL+", "ID", "NAMESPACE"];
    if !s.tls {
        caps.push("STARTTLS");
        caps.push("LOGINDISABLED");
    } else if s.user.is_none() {
        caps.push("AUTH=EXTERNAL");
    } else {
        let f = inner.faults();
        if !f.imap_no_idle {
            caps.push("IDLE");
        }
        if !f.imap_no_move {
            caps.push("MOVE");
        }
        caps.push("UIDPLUS");
    }
    caps.join(" ")
}

fn folder_snapshot(
    inner: &Inner,
    user: &str,
    folder: &str,
) -> Option<(u32, u32, Vec<StoredMessage>)> {
    inner.store.with(|st| {
        let r = st
            .accounts
            .get(user)
            .and_then(|a| a.folders.get(folder))
            .map(|f| (f.uid_validity, f.uid_next, f.messages.clone()));
        (r, false)
    })
}

fn folder_uids(inner: &Inner, user: &str, folder: &str) -> Vec<u32> {
    inner.store.with(|st| {
        let r = st
            .accounts
            .get(user)
            .and_then(|a| a.folders.get(folder))
            .map(|f| f.messages.iter().map(|m| m.uid).collect())
            .unwrap_or_default();
        (r, false)
    })
}

impl Sess {
    /// New messages only (EXISTS may be sent with any response; EXPUNGE may not, RFC 3501 §7.4.1).
    fn sync_new(&mut self, inner: &Inner) -> Vec<String> {
        let (Some(user), Some(sel)) = (self.user.as_deref(), self.selected.as_mut()) else {
            return Vec::new();
        };
        let current = folder_uids(inner, user, &sel.name);
        let max = sel.uids.last().copied().unwrap_or(0);
        let before = sel.uids.len();
        sel.uids
            .extend(current.iter().copied().filter(|&u| u > max));
        if sel.uids.len() != before {
            vec![format!("* {} EXISTS", sel.uids.len())]
        } else {
            Vec::new()
        }
    }

    /// Untagged EXPUNGE/EXISTS for changes made by other sessions.
    fn sync(&mut self, inner: &Inner) -> Vec<String> {
        let (Some(user), Some(sel)) = (self.user.as_deref(), self.selected.as_mut()) else {
            return Vec::new();
        };
        let current = folder_uids(inner, user, &sel.name);
        let mut out = Vec::new();
        let mut i = sel.uids.len();
        while i > 0 {
            i -= 1;
            if current.binary_search(&sel.uids[i]).is_err() {
                out.push(format!("* {} EXPUNGE", i + 1));
                sel.uids.remove(i);
            }
        }
        let max = sel.uids.last().copied().unwrap_or(0);
        let before = sel.uids.len();
        sel.uids
            .extend(current.iter().copied().filter(|&u| u > max));
        if sel.uids.len() != before {
            out.push(format!("* {} EXISTS", sel.uids.len()));
        }
        out
    }
}

/// Header lines named in `fields` (upper case), with continuations, then CRLF.
fn header_fields(msg: &[u8], fields: &[String], not: bool) -> Vec<u8> {
    let head = reports::header_block(msg);
    let mut out = Vec::new();
    let mut keep = false;
    for line in head.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if !(line.starts_with(b" ") || line.starts_with(b"\t")) {
            let name = line
                .split(|&b| b == b':')
                .next()
                .map(|n| String::from_utf8_lossy(n).trim().to_ascii_uppercase())
                .unwrap_or_default();
            keep = fields.contains(&name) != not;
        }
        if keep {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Splits a parenthesised list at depth-0 spaces.
fn split_items(s: &str) -> Vec<String> {
    let s = s.trim();
    let s = s
        .strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .unwrap_or(s);
    let mut toks = Vec::new();
    tokenize(s.as_bytes(), &mut toks);
    toks.iter().map(Tok::text).collect()
}

/// RFC 3501 §6.4.5: the HEADER section includes the blank line that ends it.
fn header_with_blank_line(msg: &[u8]) -> &[u8] {
    let head = reports::header_block(msg).len();
    let rest = &msg[head..];
    let blank = if rest.starts_with(b"\r\n") {
        2
    } else if rest.starts_with(b"\n") {
        1
    } else {
        0
    };
    &msg[..head + blank]
}

enum Section {
    Full,
    Header,
    Text,
    Fields(Vec<String>, bool),
}

fn parse_section(spec: &str) -> Option<Section> {
    let up = spec.to_ascii_uppercase();
    if up.is_empty() {
        return Some(Section::Full);
    }
    if up == "HEADER" {
        return Some(Section::Header);
    }
    if up == "TEXT" {
        return Some(Section::Text);
    }
    for (prefix, not) in [("HEADER.FIELDS.NOT", true), ("HEADER.FIELDS", false)] {
        if let Some(rest) = up.strip_prefix(prefix) {
            return Some(Section::Fields(split_items(rest), not));
        }
    }
    None
}

fn section_bytes(msg: &[u8], section: &Section) -> Vec<u8> {
    match section {
        Section::Full => msg.to_vec(),
        Section::Header => header_with_blank_line(msg).to_vec(),
        Section::Text => msg[reports::header_block(msg).len()..]
            .strip_prefix(b"\r\n")
            .or_else(|| msg[reports::header_block(msg).len()..].strip_prefix(b"\n"))
            .unwrap_or(&msg[reports::header_block(msg).len()..])
            .to_vec(),
        Section::Fields(f, not) => header_fields(msg, f, *not),
    }
}

fn flags_list(flags: &BTreeSet<String>) -> String {
    format!("({})", flags.iter().cloned().collect::<Vec<_>>().join(" "))
}

fn literal(out: &mut Vec<u8>, name: &str, bytes: &[u8]) {
    out.extend_from_slice(format!("{name} {{{}}}\r\n", bytes.len()).as_bytes());
    out.extend_from_slice(bytes);
}

async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    s: &mut Sess,
    inner: &Inner,
) -> Next {
    loop {
        let Some(toks) = read_command(io).await else {
            return Next::Closed;
        };
        if toks.is_empty() {
            continue;
        }
        let tag = toks[0].text();
        let cmd = toks
            .get(1)
            .map(Tok::text)
            .unwrap_or_default()
            .to_ascii_uppercase();
        let args: Vec<Tok> = toks.iter().skip(2).cloned().collect();
        let (untagged, tagged): (Vec<u8>, String) = match cmd.as_str() {
            "CAPABILITY" => (
                format!("* CAPABILITY {}\r\n", capabilities(s, inner)).into_bytes(),
                "OK CAPABILITY completed".into(),
            ),
            "NOOP" | "CHECK" => (lines(s.sync(inner)), format!("OK {cmd} completed")),
            "LOGOUT" => {
                let _ = write_raw(io, b"* BYE Logging out\r\n").await;
                let _ = write(io, format!("{tag} OK LOGOUT completed").as_bytes()).await;
                return Next::Logout;
            }
            "STARTTLS" => {
                if s.tls {
                    (Vec::new(), "BAD TLS already active".into())
                } else {
                    if !write(io, format!("{tag} OK Begin TLS negotiation now").as_bytes()).await {
                        return Next::Closed;
                    }
                    return Next::StartTls;
                }
            }
            "ID" => (b"* ID NIL\r\n".to_vec(), "OK ID completed".into()),
            "ENABLE" => (Vec::new(), "OK ENABLE completed".into()),
            "AUTHENTICATE" => match authenticate(io, s, inner, &args).await {
                Some(r) => (Vec::new(), r),
                None => return Next::Closed,
            },
            "LOGIN" => (Vec::new(), login(s, inner, &args)),
            _ if s.user.is_none() => (Vec::new(), "BAD Not authenticated".into()),
            "IDLE" => match idle(io, s, inner, &tag).await {
                Some(()) => continue,
                None => return Next::Closed,
            },
            _ => {
                let mut pre = lines(s.sync_new(inner));
                let (out, tagged) = authed_command(s, inner, &cmd, &args);
                pre.extend_from_slice(&out);
                (pre, tagged)
            }
        };
        if !untagged.is_empty() && !write_raw(io, &untagged).await {
            return Next::Closed;
        }
        if !write(io, format!("{tag} {tagged}").as_bytes()).await {
            return Next::Closed;
        }
    }
}

fn lines(v: Vec<String>) -> Vec<u8> {
    let mut out = Vec::new();
    for l in v {
        out.extend_from_slice(l.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    s: &mut Sess,
    inner: &Inner,
    args: &[Tok],
) -> Option<String> {
    if s.user.is_some() {
        return Some("BAD Already authenticated".into());
    }
    let mech = args.first().map(Tok::text).unwrap_or_default();
    if !mech.eq_ignore_ascii_case("EXTERNAL") {
        return Some("NO [CANNOT] Unsupported authentication mechanism".into());
    }
    if !s.tls {
        return Some("NO [PRIVACYREQUIRED] TLS required".into());
    }
    let response = match args.get(1) {
        Some(t) => t.text(),
        None => {
            if !write(io, b"+ ").await {
                return None;
            }
            let raw = read_line(io).await?;
            String::from_utf8_lossy(trim_crlf(&raw)).trim().to_owned()
        }
    };
    if response == "*" {
        return Some("BAD Authentication cancelled".into());
    }
    let authz = if response.is_empty() || response == "=" {
        None
    } else {
        reports::base64_decode(&response).map(|b| String::from_utf8_lossy(&b).to_ascii_lowercase())
    };
    match &s.cert {
        Some(m) if inner.is_mailbox(m) && authz.as_deref().is_none_or(|a| a == m) => {
            s.user = Some(m.clone());
            Some("OK Authenticated".into())
        }
        _ => Some("NO [AUTHENTICATIONFAILED] Authentication failed".into()),
    }
}

fn login(s: &mut Sess, inner: &Inner, args: &[Tok]) -> String {
    if !s.tls {
        return "NO [PRIVACYREQUIRED] LOGIN disabled before TLS".into();
    }
    let user = args
        .first()
        .map(Tok::text)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let pass = args.get(1).map(Tok::text).unwrap_or_default();
    match inner.passwords.get(&user) {
        Some(p) if *p == pass => {
            s.user = Some(user);
            "OK LOGIN completed".into()
        }
        _ => "NO [AUTHENTICATIONFAILED] Authentication failed".into(),
    }
}

async fn idle<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    s: &mut Sess,
    inner: &Inner,
    tag: &str,
) -> Option<()> {
    if inner.faults().imap_no_idle {
        return write(io, format!("{tag} BAD IDLE not supported").as_bytes())
            .await
            .then_some(());
    }
    let mut rx = inner.store.subscribe();
    if !write(io, b"+ idling").await {
        return None;
    }
    let pending = lines(s.sync(inner));
    if !pending.is_empty() && !write_raw(io, &pending).await {
        return None;
    }
    let mut line = Vec::new();
    loop {
        tokio::select! {
            r = io.fill_buf() => {
                let buf = r.ok()?;
                if buf.is_empty() {
                    return None;
                }
                let n = buf.len();
                line.extend_from_slice(buf);
                io.consume(n);
                if line.contains(&b'\n') {
                    let text = String::from_utf8_lossy(trim_crlf(&line)).trim().to_ascii_uppercase();
                    return if text == "DONE" {
                        write(io, format!("{tag} OK IDLE terminated").as_bytes()).await.then_some(())
                    } else {
                        write(io, format!("{tag} BAD Expected DONE").as_bytes()).await.then_some(())
                    };
                }
            }
            r = rx.changed() => {
                r.ok()?;
                let updates = lines(s.sync(inner));
                if !updates.is_empty() && !write_raw(io, &updates).await {
                    return None;
                }
            }
        }
    }
}

fn authed_command(s: &mut Sess, inner: &Inner, cmd: &str, args: &[Tok]) -> (Vec<u8>, String) {
    let user = s.user.clone().unwrap_or_default();
    match cmd {
        "NAMESPACE" => (
            b"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n".to_vec(),
            "OK NAMESPACE completed".into(),
        ),
        "LIST" | "LSUB" => {
            let reference = args.first().map(Tok::text).unwrap_or_default();
            let pattern = args.get(1).map(Tok::text).unwrap_or_default();
            if pattern.is_empty() {
                return (
                    b"* LIST (\\Noselect) \"/\" \"\"\r\n".to_vec(),
                    format!("OK {cmd} completed"),
                );
            }
            let full = format!("{reference}{pattern}");
            let folders = inner.store.folders(&user);
            let mut out = Vec::new();
            for f in &folders {
                let cmp_name = if f == INBOX { "INBOX" } else { f.as_str() };
                let pat = if full.eq_ignore_ascii_case("INBOX") {
                    "INBOX".to_owned()
                } else {
                    full.clone()
                };
                if matches(pat.as_bytes(), cmp_name.as_bytes()) {
                    let children = folders.iter().any(|o| o.starts_with(&format!("{f}/")));
                    let attr = if children {
                        "\\HasChildren"
                    } else {
                        "\\HasNoChildren"
                    };
                    out.extend_from_slice(
                        format!("* {cmd} ({attr}) \"/\" {}\r\n", quote(f)).as_bytes(),
                    );
                }
            }
            (out, format!("OK {cmd} completed"))
        }
        "CREATE" => {
            let name = norm_folder(
                args.first()
                    .map(Tok::text)
                    .unwrap_or_default()
                    .trim_end_matches('/'),
            );
            if name.is_empty() {
                return (Vec::new(), "BAD Missing mailbox name".into());
            }
            if inner.store.create_folder(&user, &name) {
                (Vec::new(), "OK CREATE completed".into())
            } else {
                (Vec::new(), "NO [ALREADYEXISTS] Mailbox exists".into())
            }
        }
        "SUBSCRIBE" | "UNSUBSCRIBE" => (Vec::new(), format!("OK {cmd} completed")),
        "SELECT" | "EXAMINE" => {
            let name = norm_folder(&args.first().map(Tok::text).unwrap_or_default());
            s.selected = None;
            let Some((validity, next, msgs)) = folder_snapshot(inner, &user, &name) else {
                return (Vec::new(), "NO [NONEXISTENT] No such mailbox".into());
            };
            let read_only = cmd == "EXAMINE";
            let out = format!(
                "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n\
                 * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted\r\n\
                 * {} EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY {validity}] UIDs valid\r\n\
                 * OK [UIDNEXT {next}] Predicted next UID\r\n",
                msgs.len()
            );
            s.selected = Some(Sel {
                name,
                uids: msgs.iter().map(|m| m.uid).collect(),
                read_only,
            });
            let mode = if read_only { "READ-ONLY" } else { "READ-WRITE" };
            (out.into_bytes(), format!("OK [{mode}] {cmd} completed"))
        }
        "STATUS" => {
            let name = norm_folder(&args.first().map(Tok::text).unwrap_or_default());
            let Some((validity, next, msgs)) = folder_snapshot(inner, &user, &name) else {
                return (Vec::new(), "NO [NONEXISTENT] No such mailbox".into());
            };
            let items = split_items(&args.get(1).map(Tok::text).unwrap_or_default());
            let mut vals = Vec::new();
            for it in items {
                let it = it.to_ascii_uppercase();
                let v = match it.as_str() {
                    "MESSAGES" => msgs.len() as u64,
                    "UIDNEXT" => u64::from(next),
                    "UIDVALIDITY" => u64::from(validity),
                    "UNSEEN" => msgs.iter().filter(|m| !m.flags.contains("\\Seen")).count() as u64,
                    "RECENT" => 0,
                    _ => return (Vec::new(), "BAD Unknown STATUS item".into()),
                };
                vals.push(format!("{it} {v}"));
            }
            (
                format!("* STATUS {} ({})\r\n", quote(&name), vals.join(" ")).into_bytes(),
                "OK STATUS completed".into(),
            )
        }
        "APPEND" => append(inner, &user, args),
        "CLOSE" | "UNSELECT" => {
            if cmd == "CLOSE" {
                let _ = expunge(s, inner, None);
            }
            s.selected = None;
            (Vec::new(), format!("OK {cmd} completed"))
        }
        "EXPUNGE" => match expunge(s, inner, None) {
            Some(out) => (out, "OK EXPUNGE completed".into()),
            None => (Vec::new(), "BAD No mailbox selected".into()),
        },
        "FETCH" | "STORE" | "COPY" | "MOVE" | "SEARCH" => {
            selected_command(s, inner, cmd, args, false)
        }
        "UID" => {
            let sub = args
                .first()
                .map(Tok::text)
                .unwrap_or_default()
                .to_ascii_uppercase();
            if sub == "EXPUNGE" {
                let set = args.get(1).map(Tok::text).unwrap_or_default();
                return match expunge(s, inner, Some(&set)) {
                    Some(out) => (out, "OK UID EXPUNGE completed".into()),
                    None => (Vec::new(), "BAD No mailbox selected or bad set".into()),
                };
            }
            selected_command(s, inner, &sub, &args[1.min(args.len())..], true)
        }
        _ => (Vec::new(), "BAD Command not recognized".into()),
    }
}

fn append(inner: &Inner, user: &str, args: &[Tok]) -> (Vec<u8>, String) {
    let name = norm_folder(&args.first().map(Tok::text).unwrap_or_default());
    let Some(Tok::Str(bytes)) = args.last() else {
        return (Vec::new(), "BAD Missing message literal".into());
    };
    if folder_snapshot(inner, user, &name).is_none() {
        return (Vec::new(), "NO [TRYCREATE] No such mailbox".into());
    }
    let flags: BTreeSet<String> = args
        .get(1)
        .map(Tok::text)
        .filter(|f| f.starts_with('('))
        .map(|f| split_items(&f).into_iter().collect())
        .unwrap_or_default();
    let r = inner.store.with(|st| {
        let Some(f) = st
            .accounts
            .get_mut(user)
            .and_then(|a| a.folders.get_mut(&name))
        else {
            return (None, false);
        };
        let uid = f.append(Arc::new(bytes.clone()), flags);
        (Some((f.uid_validity, uid)), true)
    });
    match r {
        Some((v, uid)) => (
            Vec::new(),
            format!("OK [APPENDUID {v} {uid}] APPEND completed"),
        ),
        None => (Vec::new(), "NO [TRYCREATE] No such mailbox".into()),
    }
}

/// Removes \Deleted messages (all, or those in the UID set); returns EXPUNGE responses.
fn expunge(s: &mut Sess, inner: &Inner, uid_set: Option<&str>) -> Option<Vec<u8>> {
    let user = s.user.clone()?;
    let sel = s.selected.as_mut()?;
    if sel.read_only {
        return Some(Vec::new());
    }
    let max = sel.uids.last().copied().unwrap_or(0);
    let set = match uid_set {
        Some(x) => Some(parse_set(x, max)?),
        None => None,
    };
    let removed: Vec<u32> = inner.store.with(|st| {
        let Some(f) = st
            .accounts
            .get_mut(&user)
            .and_then(|a| a.folders.get_mut(&sel.name))
        else {
            return (Vec::new(), false);
        };
        let mut removed = Vec::new();
        f.messages.retain(|m| {
            let hit =
                m.flags.contains("\\Deleted") && set.as_ref().is_none_or(|st| in_set(st, m.uid));
            if hit {
                removed.push(m.uid);
            }
            !hit
        });
        let changed = !removed.is_empty();
        (removed, changed)
    });
    let mut out = Vec::new();
    let mut i = sel.uids.len();
    while i > 0 {
        i -= 1;
        if removed.contains(&sel.uids[i]) {
            out.extend_from_slice(format!("* {} EXPUNGE\r\n", i + 1).as_bytes());
            sel.uids.remove(i);
        }
    }
    Some(out)
}

fn selected_command(
    s: &mut Sess,
    inner: &Inner,
    cmd: &str,
    args: &[Tok],
    uid_mode: bool,
) -> (Vec<u8>, String) {
    let prefix = if uid_mode { "UID " } else { "" };
    let user = s.user.clone().unwrap_or_default();
    let Some(sel) = s.selected.as_mut() else {
        return (Vec::new(), "BAD No mailbox selected".into());
    };
    if cmd == "SEARCH" {
        // A conjunction of ALL, SEEN, UNSEEN, DELETED, KEYWORD k, UNKEYWORD k (RFC 3501 §6.4.4).
        let words: Vec<String> = args.iter().map(Tok::text).collect();
        let mut terms: Vec<(String, Option<String>)> = Vec::new();
        let mut it = words.into_iter();
        while let Some(w) = it.next() {
            let key = w.to_ascii_uppercase();
            match key.as_str() {
                "ALL" | "SEEN" | "UNSEEN" | "DELETED" => terms.push((key, None)),
                "KEYWORD" | "UNKEYWORD" => match it.next() {
                    Some(k) => terms.push((key, Some(k))),
                    None => return (Vec::new(), "BAD Missing keyword".into()),
                },
                _ => return (Vec::new(), "BAD Unsupported search criteria".into()),
            }
        }
        let Some((_, _, msgs)) = folder_snapshot(inner, &user, &sel.name) else {
            return (Vec::new(), "NO Mailbox gone".into());
        };
        let mut hits = Vec::new();
        for (i, uid) in sel.uids.iter().enumerate() {
            let Some(m) = msgs.iter().find(|m| m.uid == *uid) else {
                continue;
            };
            let has = |f: &str| m.flags.iter().any(|x| x.eq_ignore_ascii_case(f));
            let ok = terms.iter().all(|(key, arg)| match (key.as_str(), arg) {
                ("SEEN", _) => has("\\Seen"),
                ("UNSEEN", _) => !has("\\Seen"),
                ("DELETED", _) => has("\\Deleted"),
                ("KEYWORD", Some(k)) => has(k),
                ("UNKEYWORD", Some(k)) => !has(k),
                _ => true,
            });
            if ok {
                hits.push(if uid_mode {
                    *uid
                } else {
                    u32::try_from(i + 1).unwrap_or(u32::MAX)
                });
            }
        }
        let list = hits
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        let line = if list.is_empty() {
            "* SEARCH\r\n".to_owned()
        } else {
            format!("* SEARCH {list}\r\n")
        };
        return (line.into_bytes(), format!("OK {prefix}SEARCH completed"));
    }
    let set_text = args.first().map(Tok::text).unwrap_or_default();
    let max = if uid_mode {
        sel.uids.last().copied().unwrap_or(0)
    } else {
        u32::try_from(sel.uids.len()).unwrap_or(u32::MAX)
    };
    let Some(set) = parse_set(&set_text, max) else {
        return (Vec::new(), "BAD Invalid sequence set".into());
    };
    // (seq, uid) of the targeted messages, in mailbox order.
    let targets: Vec<(usize, u32)> = sel
        .uids
        .iter()
        .enumerate()
        .filter(|(i, uid)| {
            let key = if uid_mode {
                **uid
            } else {
                u32::try_from(i + 1).unwrap_or(u32::MAX)
            };
            in_set(&set, key)
        })
        .map(|(i, u)| (i + 1, *u))
        .collect();
    match cmd {
        "FETCH" => fetch(
            inner,
            &user,
            &sel.name,
            &targets,
            args.get(1).map(Tok::text).unwrap_or_default().as_str(),
            uid_mode,
            sel.read_only,
            prefix,
        ),
        "STORE" => store_flags(
            inner,
            &user,
            &sel.name,
            &targets,
            args,
            sel.read_only,
            prefix,
        ),
        "COPY" | "MOVE" => {
            let dest = norm_folder(&args.get(1).map(Tok::text).unwrap_or_default());
            let Some((dest_validity, _, _)) = folder_snapshot(inner, &user, &dest) else {
                return (Vec::new(), "NO [TRYCREATE] No such mailbox".into());
            };
            let src_name = sel.name.clone();
            let uids: Vec<u32> = targets.iter().map(|t| t.1).collect();
            let is_move = cmd == "MOVE";
            if is_move && inner.faults().imap_no_move {
                return (Vec::new(), "BAD Command not recognized".into());
            }
            let new_uids = inner.store.with(|st| {
                let Some(acc) = st.accounts.get_mut(&user) else {
                    return (Vec::new(), false);
                };
                let picked: Vec<StoredMessage> = acc
                    .folders
                    .get(&src_name)
                    .map(|f| {
                        f.messages
                            .iter()
                            .filter(|m| uids.contains(&m.uid))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                let mut new = Vec::new();
                if let Some(d) = acc.folders.get_mut(&dest) {
                    for m in &picked {
                        let mut flags = m.flags.clone();
                        flags.remove("\\Deleted");
                        new.push(d.append(m.bytes.clone(), flags));
                    }
                }
                if is_move && let Some(src) = acc.folders.get_mut(&src_name) {
                    src.messages.retain(|m| !uids.contains(&m.uid));
                }
                (new, true)
            });
            let fmt_set = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
            let copyuid = if uids.is_empty() {
                String::new()
            } else {
                format!(
                    "[COPYUID {dest_validity} {} {}] ",
                    fmt_set(&uids),
                    fmt_set(&new_uids)
                )
            };
            if is_move {
                let mut out = Vec::new();
                if !copyuid.is_empty() {
                    out.extend_from_slice(format!("* OK {copyuid}Moved\r\n").as_bytes());
                }
                for (seq, _) in targets.iter().rev() {
                    out.extend_from_slice(format!("* {seq} EXPUNGE\r\n").as_bytes());
                    sel.uids.remove(seq - 1);
                }
                (out, format!("OK {prefix}MOVE completed"))
            } else {
                (Vec::new(), format!("OK {copyuid}{prefix}COPY completed"))
            }
        }
        _ => (Vec::new(), "BAD Command not recognized".into()),
    }
}

#[allow(clippy::too_many_arguments)]
fn fetch(
    inner: &Inner,
    user: &str,
    folder: &str,
    targets: &[(usize, u32)],
    items_text: &str,
    uid_mode: bool,
    read_only: bool,
    prefix: &str,
) -> (Vec<u8>, String) {
    let mut items: Vec<String> = match items_text.to_ascii_uppercase().as_str() {
        "ALL" | "FAST" | "FULL" => {
            vec!["FLAGS".into(), "INTERNALDATE".into(), "RFC822.SIZE".into()]
        }
        _ => split_items(items_text),
    };
    if uid_mode && !items.iter().any(|i| i.eq_ignore_ascii_case("UID")) {
        items.insert(0, "UID".into());
    }
    // Validate first: a BAD must not half-answer.
    let mut plan = Vec::new();
    for it in &items {
        let up = it.to_ascii_uppercase();
        let p = if up == "UID"
            || up == "FLAGS"
            || up == "RFC822.SIZE"
            || up == "INTERNALDATE"
            || up == "RFC822"
            || up == "RFC822.HEADER"
            || up == "RFC822.TEXT"
        {
            (up.clone(), None, false)
        } else if let Some(rest) = up
            .strip_prefix("BODY.PEEK[")
            .or_else(|| up.strip_prefix("BODY["))
        {
            let peek = up.starts_with("BODY.PEEK[");
            let Some(spec) = rest.strip_suffix(']') else {
                return (Vec::new(), "BAD Partial fetch not supported".into());
            };
            let original_spec = &it[it.len() - 1 - spec.len()..it.len() - 1];
            let Some(sec) = parse_section(original_spec) else {
                return (Vec::new(), "BAD Unsupported section".into());
            };
            (format!("BODY[{spec}]"), Some(sec), !peek)
        } else {
            return (Vec::new(), "BAD Unsupported fetch item".into());
        };
        plan.push(p);
    }
    let sets_seen = !read_only
        && plan
            .iter()
            .any(|(name, _, seen)| *seen || name == "RFC822" || name == "RFC822.TEXT");
    let uids: Vec<u32> = targets.iter().map(|t| t.1).collect();
    let msgs: Vec<StoredMessage> = inner.store.with(|st| {
        let Some(f) = st
            .accounts
            .get_mut(user)
            .and_then(|a| a.folders.get_mut(folder))
        else {
            return (Vec::new(), false);
        };
        let mut changed = false;
        let mut out = Vec::new();
        for m in f.messages.iter_mut().filter(|m| uids.contains(&m.uid)) {
            if sets_seen && m.flags.insert("\\Seen".into()) {
                changed = true;
            }
            out.push(m.clone());
        }
        (out, changed)
    });
    let date = time::OffsetDateTime::now_utc();
    let internal = format!(
        "\"{:02}-{}-{} {:02}:{:02}:{:02} +0000\"",
        date.day(),
        [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
        ][usize::from(u8::from(date.month())) - 1],
        date.year(),
        date.hour(),
        date.minute(),
        date.second()
    );
    let mut out = Vec::new();
    for (seq, uid) in targets {
        let Some(m) = msgs.iter().find(|m| m.uid == *uid) else {
            continue;
        };
        out.extend_from_slice(format!("* {seq} FETCH (").as_bytes());
        let mut first = true;
        let mut flags_sent = false;
        for (name, sec, _) in &plan {
            if !first {
                out.push(b' ');
            }
            first = false;
            match name.as_str() {
                "UID" => out.extend_from_slice(format!("UID {uid}").as_bytes()),
                "FLAGS" => {
                    flags_sent = true;
                    out.extend_from_slice(format!("FLAGS {}", flags_list(&m.flags)).as_bytes());
                }
                "RFC822.SIZE" => {
                    out.extend_from_slice(format!("RFC822.SIZE {}", m.bytes.len()).as_bytes())
                }
                "INTERNALDATE" => {
                    out.extend_from_slice(format!("INTERNALDATE {internal}").as_bytes())
                }
                "RFC822" => literal(&mut out, "RFC822", &m.bytes),
                "RFC822.HEADER" => {
                    literal(&mut out, "RFC822.HEADER", header_with_blank_line(&m.bytes))
                }
                "RFC822.TEXT" => literal(
                    &mut out,
                    "RFC822.TEXT",
                    &section_bytes(&m.bytes, &Section::Text),
                ),
                _ => {
                    let bytes = sec
                        .as_ref()
                        .map(|s| section_bytes(&m.bytes, s))
                        .unwrap_or_default();
                    literal(&mut out, name, &bytes);
                }
            }
        }
        if sets_seen && !flags_sent {
            out.extend_from_slice(format!(" FLAGS {}", flags_list(&m.flags)).as_bytes());
        }
        out.extend_from_slice(b")\r\n");
    }
    (out, format!("OK {prefix}FETCH completed"))
}

fn store_flags(
    inner: &Inner,
    user: &str,
    folder: &str,
    targets: &[(usize, u32)],
    args: &[Tok],
    read_only: bool,
    prefix: &str,
) -> (Vec<u8>, String) {
    if read_only {
        return (Vec::new(), "NO Mailbox is read-only".into());
    }
    let op = args
        .get(1)
        .map(Tok::text)
        .unwrap_or_default()
        .to_ascii_uppercase();
    let silent = op.ends_with(".SILENT");
    let op = op.trim_end_matches(".SILENT").to_owned();
    let flags: Vec<String> = args[2.min(args.len())..]
        .iter()
        .flat_map(|t| split_items(&t.text()))
        .collect();
    if !matches!(op.as_str(), "FLAGS" | "+FLAGS" | "-FLAGS") {
        return (Vec::new(), "BAD Invalid STORE operation".into());
    }
    let uids: Vec<u32> = targets.iter().map(|t| t.1).collect();
    let updated: Vec<(u32, BTreeSet<String>)> = inner.store.with(|st| {
        let Some(f) = st
            .accounts
            .get_mut(user)
            .and_then(|a| a.folders.get_mut(folder))
        else {
            return (Vec::new(), false);
        };
        let mut out = Vec::new();
        for m in f.messages.iter_mut().filter(|m| uids.contains(&m.uid)) {
            match op.as_str() {
                "FLAGS" => m.flags = flags.iter().cloned().collect(),
                "+FLAGS" => m.flags.extend(flags.iter().cloned()),
                _ => {
                    for fl in &flags {
                        m.flags.remove(fl);
                    }
                }
            }
            out.push((m.uid, m.flags.clone()));
        }
        (out, true)
    });
    let mut out = Vec::new();
    if !silent {
        for (seq, uid) in targets {
            if let Some((_, fl)) = updated.iter().find(|(u, _)| u == uid) {
                out.extend_from_slice(
                    format!("* {seq} FETCH (UID {uid} FLAGS {})\r\n", flags_list(fl)).as_bytes(),
                );
            }
        }
    }
    (out, format!("OK {prefix}STORE completed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches(b"*", b"Passerelle/Traites"));
        assert!(!matches(b"%", b"Passerelle/Traites"));
        assert!(matches(b"%", b"INBOX"));
        assert!(matches(b"Passerelle/%", b"Passerelle/Traites"));
    }

    #[test]
    fn sets() {
        let s = parse_set("1:3,7,9:*", 12).unwrap_or_default();
        assert!(in_set(&s, 2) && in_set(&s, 7) && in_set(&s, 12) && !in_set(&s, 5));
        let s = parse_set("5:*", 3).unwrap_or_default();
        assert!(in_set(&s, 3) && !in_set(&s, 2));
    }

    #[test]
    fn tokenizer_keeps_bracketed_items_whole() {
        let mut t = Vec::new();
        tokenize(
            b"A1 UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])",
            &mut t,
        );
        let texts: Vec<String> = t.iter().map(Tok::text).collect();
        assert_eq!(texts.len(), 5);
        assert_eq!(texts[4], "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])");
        assert_eq!(
            split_items(&texts[4]),
            vec!["UID", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]
        );
    }

    #[test]
    fn header_fields_extracts_folded_lines() {
        let m = b"Subject: a\r\n b\r\nMessage-ID: <x@y>\r\n\r\nbody";
        assert_eq!(
            header_fields(m, &["MESSAGE-ID".into()], false),
            b"Message-ID: <x@y>\r\n\r\n".to_vec()
        );
        assert_eq!(
            header_fields(m, &["SUBJECT".into()], false),
            b"Subject: a\r\n b\r\n\r\n".to_vec()
        );
    }
}
