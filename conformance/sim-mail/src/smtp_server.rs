//! SMTP submission server side of the simulated operator (strict MSSanté checks).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::reports::{self, DsnAction, DsnInput, DsnRecipient, MdnInput};
use crate::{FaultStage, Inner, MailboxKind, now_rfc2822, pki, rules};

const MAX_COMMAND_LINE: usize = 4096;
/// RFC 25 MB cap of Mon espace santé (mssante.md §1.4).
const PATIENT_DOMAIN: &str = "patient.mssante.fr";
const PATIENT_MAX: usize = 25_000_000;

#[derive(Default)]
struct State {
    tls: bool,
    cert_mailbox: Option<String>,
    ehlo: Option<String>,
    authed: bool,
    txn: Option<Txn>,
}

struct Txn {
    from: String,
    size: Option<usize>,
    ret_full: bool,
    envid: Option<String>,
    rcpts: Vec<Rcpt>,
}

#[derive(Clone)]
struct Rcpt {
    addr: String,
    notify: Option<Vec<String>>,
    orcpt: Option<String>,
}

enum Next {
    Quit,
    StartTls,
    Closed,
}

pub(crate) async fn serve(tcp: TcpStream, inner: Arc<Inner>, implicit: bool) {
    inner
        .counters
        .smtp_connections
        .fetch_add(1, Ordering::Relaxed);
    let mut st = State::default();
    if implicit {
        let Ok(tls) = inner.acceptor.accept(tcp).await else {
            inner
                .counters
                .smtp_tls_failures
                .fetch_add(1, Ordering::Relaxed);
            return;
        };
        st.tls = true;
        st.cert_mailbox = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|c| pki::mailbox_of_certificate(c));
        let mut io = BufReader::new(tls);
        if !greeting(&mut io, &inner).await {
            return;
        }
        let _ = session(&mut io, &mut st, &inner).await;
        let _ = io.get_mut().shutdown().await;
        return;
    }
    let mut io = BufReader::new(tcp);
    if !greeting(&mut io, &inner).await {
        return;
    }
    if let Next::StartTls = session(&mut io, &mut st, &inner).await {
        if !io.buffer().is_empty() {
            // Pipelined plaintext after STARTTLS: RFC 3207 §5 injection, drop it.
            return;
        }
        let Ok(tls) = inner.acceptor.accept(io.into_inner()).await else {
            inner
                .counters
                .smtp_tls_failures
                .fetch_add(1, Ordering::Relaxed);
            return;
        };
        // RFC 3207: forget everything learnt before TLS.
        let mut st = State {
            tls: true,
            cert_mailbox: tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| pki::mailbox_of_certificate(c)),
            ..State::default()
        };
        let mut io = BufReader::new(tls);
        let _ = session(&mut io, &mut st, &inner).await;
        let _ = io.get_mut().shutdown().await;
    }
}

async fn greeting<S: AsyncRead + AsyncWrite + Unpin>(io: &mut BufReader<S>, inner: &Inner) -> bool {
    if let Some((code, text)) = inner.take_fault(FaultStage::Greeting) {
        let _ = send(io, inner, &format!("{code} {text}")).await;
        return false;
    }
    send(
        io,
        inner,
        &format!("220 {} ESMTP MSSanté test operator", inner.hostname),
    )
    .await
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    inner: &Inner,
    reply: &str,
) -> bool {
    let latency = inner.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let w = io.get_mut();
    w.write_all(reply.as_bytes()).await.is_ok()
        && w.write_all(b"\r\n").await.is_ok()
        && w.flush().await.is_ok()
}

/// Reads one line (with its terminator), at most `max` bytes; None on EOF or overlong line.
async fn read_line<S: AsyncRead + Unpin>(io: &mut BufReader<S>, max: usize) -> Option<Vec<u8>> {
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
        if buf.len() > max {
            return None;
        }
    }
}

fn trim_crlf(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `FROM:<addr> K=V …` → (addr, params upper-cased keys).
fn parse_path(rest: &str, keyword: &str) -> Option<(String, Vec<(String, String)>)> {
    let rest = rest.trim_start();
    // `get` and not indexing: the line may hold multi-byte characters.
    if !rest
        .get(..keyword.len())
        .is_some_and(|k| k.eq_ignore_ascii_case(keyword))
    {
        return None;
    }
    let rest = rest.get(keyword.len()..)?.trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    let addr = rest[..end].to_owned();
    let params = rest[end + 1..]
        .split_whitespace()
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_ascii_uppercase(), v.to_owned()),
            None => (p.to_ascii_uppercase(), String::new()),
        })
        .collect();
    Some((addr, params))
}

fn domain_of(addr: &str) -> &str {
    addr.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
}

async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    st: &mut State,
    inner: &Inner,
) -> Next {
    loop {
        let Some(raw) = read_line(io, MAX_COMMAND_LINE).await else {
            return Next::Closed;
        };
        {
            let mut f = inner.faults();
            if f.disconnect_next_command > 0 {
                f.disconnect_next_command -= 1;
                return Next::Closed;
            }
        }
        let line = String::from_utf8_lossy(trim_crlf(&raw)).into_owned();
        let (verb, rest) = match line.split_once(' ') {
            Some((v, r)) => (v.to_ascii_uppercase(), r.to_owned()),
            None => (line.to_ascii_uppercase(), String::new()),
        };
        let needs_tls = matches!(verb.as_str(), "AUTH" | "MAIL" | "RCPT" | "DATA");
        let reply = if needs_tls && !st.tls {
            "530 5.7.0 Must issue a STARTTLS command first".to_owned()
        } else {
            match verb.as_str() {
                "EHLO" | "HELO" => {
                    st.ehlo = Some(rest.trim().to_owned());
                    st.txn = None;
                    ehlo_reply(st, inner, &rest, verb == "HELO")
                }
                "STARTTLS" => {
                    if st.tls {
                        "554 5.5.1 TLS already active".to_owned()
                    } else {
                        if !send(io, inner, "220 2.0.0 Ready to start TLS").await {
                            return Next::Closed;
                        }
                        return Next::StartTls;
                    }
                }
                "NOOP" => "250 2.0.0 OK".to_owned(),
                "RSET" => {
                    st.txn = None;
                    "250 2.0.0 OK".to_owned()
                }
                "QUIT" => {
                    let _ = send(io, inner, "221 2.0.0 Bye").await;
                    return Next::Quit;
                }
                "VRFY" => "252 2.5.2 Cannot VRFY user".to_owned(),
                "AUTH" => match auth(io, st, inner, &rest).await {
                    Some(r) => r,
                    None => return Next::Closed,
                },
                "MAIL" => mail(st, inner, &rest),
                "RCPT" => rcpt(st, inner, &rest),
                "DATA" => match data(io, st, inner).await {
                    Some(r) => r,
                    None => return Next::Closed,
                },
                _ => "502 5.5.2 Command not recognized".to_owned(),
            }
        };
        if reply.starts_with('5') && matches!(verb.as_str(), "MAIL" | "RCPT" | "DATA") {
            inner.counters.refusals.fetch_add(1, Ordering::Relaxed);
        }
        if !send(io, inner, &reply).await {
            return Next::Closed;
        }
        if reply.starts_with("421") {
            return Next::Closed;
        }
    }
}

fn ehlo_reply(st: &State, inner: &Inner, name: &str, helo: bool) -> String {
    let host = &inner.hostname;
    if helo {
        return format!("250 {host}");
    }
    let cfg = inner.config();
    let mut lines = vec![format!("{host} Hello {}", name.trim())];
    if st.tls {
        lines.push(format!("SIZE {}", cfg.max_message_size));
        if !inner.faults().dsn_not_advertised {
            lines.push("DSN".into());
        }
        lines.push("AUTH EXTERNAL".into());
    } else {
        lines.push("STARTTLS".into());
        lines.push(format!("SIZE {}", cfg.max_message_size));
    }
    lines.push("ENHANCEDSTATUSCODES".into());
    lines.push("8BITMIME".into());
    let n = lines.len();
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("250{}{l}", if i + 1 == n { ' ' } else { '-' }))
        .collect::<Vec<_>>()
        .join("\r\n")
}

async fn auth<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    st: &mut State,
    inner: &Inner,
    rest: &str,
) -> Option<String> {
    let mut parts = rest.split_whitespace();
    let mech = parts.next().unwrap_or("").to_ascii_uppercase();
    if mech != "EXTERNAL" {
        return Some("504 5.5.4 Unrecognized authentication type".into());
    }
    if st.authed {
        return Some("503 5.5.1 Already authenticated".into());
    }
    let response = match parts.next() {
        Some(r) => r.to_owned(),
        None => {
            if !send(io, inner, "334 ").await {
                return None;
            }
            let raw = read_line(io, MAX_COMMAND_LINE).await?;
            String::from_utf8_lossy(trim_crlf(&raw)).trim().to_owned()
        }
    };
    if response == "*" {
        return Some("501 5.0.0 Authentication cancelled".into());
    }
    let authz = if response.is_empty() || response == "=" {
        None
    } else {
        match reports::base64_decode(&response) {
            Some(b) => Some(String::from_utf8_lossy(&b).to_ascii_lowercase()),
            None => return Some("501 5.5.2 Invalid base64".into()),
        }
    };
    match &st.cert_mailbox {
        Some(m) if inner.is_mailbox(m) && authz.as_deref().is_none_or(|a| a == m) => {
            st.authed = true;
            Some("235 2.7.0 Authentication successful".into())
        }
        _ => Some("535 5.7.8 Authentication credentials invalid".into()),
    }
}

fn mail(st: &mut State, inner: &Inner, rest: &str) -> String {
    if st.ehlo.is_none() {
        return "503 5.5.1 EHLO first".into();
    }
    if st.txn.is_some() {
        return "503 5.5.1 Nested MAIL command".into();
    }
    if let Some((code, text)) = inner.take_fault(FaultStage::Mail) {
        return format!("{code} {text}");
    }
    let Some(cert) = st.cert_mailbox.clone() else {
        return "530 5.7.0 Client certificate required".into();
    };
    if !inner.is_mailbox(&cert) {
        return "535 5.7.8 Certificate not bound to a mailbox of this operator".into();
    }
    let Some((from, params)) = parse_path(rest, "FROM:") else {
        return "501 5.5.4 Syntax: MAIL FROM:<address>".into();
    };
    if !from.eq_ignore_ascii_case(&cert) {
        return "553 5.7.1 Sender address rejected: not owned by the certificate".into();
    }
    let cfg = inner.config();
    let dsn_on = !inner.faults().dsn_not_advertised;
    let mut txn = Txn {
        from: from.to_ascii_lowercase(),
        size: None,
        ret_full: false,
        envid: None,
        rcpts: Vec::new(),
    };
    for (k, v) in params {
        match k.as_str() {
            "SIZE" => match v.parse::<usize>() {
                Ok(n) if n > cfg.max_message_size => {
                    return "552 5.3.4 Message size exceeds fixed maximum message size".into();
                }
                Ok(n) => txn.size = Some(n),
                Err(_) => return "501 5.5.4 Bad SIZE parameter".into(),
            },
            "RET" | "ENVID" if !dsn_on => {
                return "555 5.5.4 DSN parameters not supported".into();
            }
            "RET" => match v.to_ascii_uppercase().as_str() {
                "HDRS" => txn.ret_full = false,
                "FULL" => txn.ret_full = true,
                _ => return "501 5.5.4 Bad RET parameter".into(),
            },
            "ENVID" => txn.envid = Some(reports::xtext_decode(&v)),
            "BODY" => {}
            _ => return "555 5.5.4 Unsupported MAIL parameter".into(),
        }
    }
    st.txn = Some(txn);
    "250 2.1.0 Sender ok".into()
}

fn rcpt(st: &mut State, inner: &Inner, rest: &str) -> String {
    if st.txn.is_none() {
        return "503 5.5.1 MAIL first".into();
    }
    if let Some((code, text)) = inner.take_fault(FaultStage::Rcpt) {
        return format!("{code} {text}");
    }
    let Some((addr, params)) = parse_path(rest, "TO:") else {
        return "501 5.5.4 Syntax: RCPT TO:<address>".into();
    };
    let addr = addr.to_ascii_lowercase();
    let dsn_on = !inner.faults().dsn_not_advertised;
    let mut r = Rcpt {
        addr: addr.clone(),
        notify: None,
        orcpt: None,
    };
    for (k, v) in params {
        match k.as_str() {
            "NOTIFY" | "ORCPT" if !dsn_on => {
                return "555 5.5.4 DSN parameters not supported".into();
            }
            "NOTIFY" => {
                let list: Vec<String> = v.split(',').map(|s| s.to_ascii_uppercase()).collect();
                let ok = list
                    .iter()
                    .all(|n| matches!(n.as_str(), "NEVER" | "SUCCESS" | "FAILURE" | "DELAY"));
                if !ok || (list.len() > 1 && list.iter().any(|n| n == "NEVER")) {
                    return "501 5.5.4 Bad NOTIFY parameter".into();
                }
                r.notify = Some(list);
            }
            "ORCPT" => r.orcpt = Some(reports::xtext_decode(&v)),
            _ => return "555 5.5.4 Unsupported RCPT parameter".into(),
        }
    }
    let domain = domain_of(&addr);
    let cfg = inner.config();
    if !cfg.domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
        return "550 5.7.1 Recipient domain is not in the MSSanté trust space".into();
    }
    if !inner.is_mailbox(&addr) {
        return "550 5.1.1 Recipient address rejected: mailbox unknown".into();
    }
    if domain.eq_ignore_ascii_case(PATIENT_DOMAIN)
        && st
            .txn
            .as_ref()
            .and_then(|t| t.size)
            .is_some_and(|s| s > PATIENT_MAX)
    {
        return "552 5.3.4 Message too large for the patient domain".into();
    }
    if let Some(t) = st.txn.as_mut() {
        t.rcpts.push(r);
    }
    "250 2.1.5 Recipient ok".into()
}

async fn data<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    st: &mut State,
    inner: &Inner,
) -> Option<String> {
    let Some(txn) = st.txn.as_ref() else {
        return Some("503 5.5.1 MAIL first".into());
    };
    if txn.rcpts.is_empty() {
        return Some("554 5.5.1 No valid recipients".into());
    }
    if let Some((code, text)) = inner.take_fault(FaultStage::Data) {
        st.txn = None;
        return Some(format!("{code} {text}"));
    }
    let cut = {
        let mut f = inner.faults();
        if f.disconnect_mid_data > 0 {
            f.disconnect_mid_data -= 1;
            true
        } else {
            false
        }
    };
    if !send(io, inner, "354 End data with <CR><LF>.<CR><LF>").await {
        return None;
    }
    let max = inner.config().max_message_size;
    let mut body = Vec::with_capacity(txn.size.unwrap_or(64 * 1024).min(max + 1));
    let mut overflow = false;
    loop {
        // Lines beyond the size limit cannot belong to an acceptable message.
        let line = read_line(io, max.saturating_add(MAX_COMMAND_LINE)).await?;
        if cut {
            // Fault: the connection drops in the middle of the message.
            return None;
        }
        if line == b".\r\n" || line == b".\n" {
            break;
        }
        let content = line.strip_prefix(b".").unwrap_or(&line);
        if body.len() + content.len() > max {
            overflow = true;
        } else {
            body.extend_from_slice(content);
        }
    }
    let txn = st.txn.take()?;
    if overflow {
        return Some("552 5.3.4 Message size exceeds fixed maximum message size".into());
    }
    Some(accept(st, inner, txn, body))
}

fn accept(st: &State, inner: &Inner, txn: Txn, body: Vec<u8>) -> String {
    if let Some((code, text)) = inner.take_fault(FaultStage::DataEnd) {
        return format!("{code} {text}");
    }
    let cfg = inner.config();
    let cert = st.cert_mailbox.clone().unwrap_or_default();
    let verdict = rules::check_message(&body, &cert).and_then(|()| match &cfg.validator {
        Some(v) => v(&body),
        None => Ok(()),
    });
    if let Err((code, text)) = verdict {
        if cfg.strict {
            return format!("{code} {text}");
        }
        inner
            .violations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("{code} {text}"));
    }
    let id = inner.id();
    let queue_id = format!("SIM{id:08X}");
    let date = now_rfc2822();
    let failing = inner.faults().fail_after_accept.clone();
    let mut report = Vec::new();
    for r in &txn.rcpts {
        let wants = |what: &str| match &r.notify {
            Some(list) => list.iter().any(|n| n == what),
            // RFC 3461 §4.1: without NOTIFY, failures (and delays) are reported.
            None => what == "FAILURE",
        };
        if failing.contains(&r.addr) {
            if wants("FAILURE") {
                report.push((r.clone(), DsnAction::Failed));
            }
            continue;
        }
        let mut stored = format!(
            "Return-Path: <{from}>\r\nReceived: from {helo} by {host} with ESMTPS id {queue_id}\r\n\tfor <{to}>; {date}\r\n",
            from = txn.from,
            helo = st.ehlo.as_deref().unwrap_or("unknown"),
            host = inner.hostname,
            to = r.addr,
        )
        .into_bytes();
        stored.extend_from_slice(&body);
        inner.store.deliver(&r.addr, crate::store::INBOX, stored);
        if wants("SUCCESS") {
            report.push((r.clone(), DsnAction::Delivered));
        }
        send_mdn(inner, &txn, r, &body);
    }
    inner
        .counters
        .messages_accepted
        .fetch_add(1, Ordering::Relaxed);
    let (suppressed, delay, success_action, duplicate, delayed_first) = {
        let f = inner.faults();
        (
            f.dsn_suppressed,
            f.dsn_delay,
            f.dsn_success_action,
            f.dsn_duplicate,
            f.dsn_delayed_first,
        )
    };
    if !report.is_empty() && !suppressed && inner.is_mailbox(&txn.from) {
        let block = |r: &Rcpt, action: DsnAction| DsnRecipient {
            original: r.orcpt.clone(),
            final_recipient: r.addr.clone(),
            action,
            status: match action {
                DsnAction::Failed => "5.1.1".into(),
                DsnAction::Delayed => "4.4.1".into(),
                _ => "2.0.0".into(),
            },
            diagnostic: Some(match action {
                DsnAction::Failed => "550 5.1.1 mailbox unavailable".into(),
                DsnAction::Delayed => "451 4.4.1 delivery delayed, will retry".into(),
                _ => format!("250 2.0.0 delivered, queued as {queue_id}"),
            }),
        };
        let dsn_of = |recipients: Vec<DsnRecipient>, n: u32| {
            reports::build_dsn(&DsnInput {
                reporting_mta: &inner.hostname,
                to: &txn.from,
                envid: txn.envid.as_deref(),
                date: &date,
                message_id: &format!("<dsn-{queue_id}-{n}@{}>", inner.hostname),
                recipients,
                ret_full: txn.ret_full,
                original: &body,
            })
        };
        if delayed_first {
            let delayed: Vec<DsnRecipient> = txn
                .rcpts
                .iter()
                .filter(|r| {
                    r.notify
                        .as_ref()
                        .is_some_and(|n| n.iter().any(|x| x == "DELAY"))
                })
                .map(|r| block(r, DsnAction::Delayed))
                .collect();
            if !delayed.is_empty() {
                let d = dsn_of(delayed, 0);
                deliver_later(
                    inner,
                    txn.from.clone(),
                    d,
                    std::time::Duration::ZERO,
                    Kind::Dsn,
                );
            }
        }
        let recipients = report
            .iter()
            .map(|(r, action)| {
                let action = match (*action, success_action) {
                    (DsnAction::Delivered, Some(a)) => a,
                    (a, _) => a,
                };
                block(r, action)
            })
            .collect::<Vec<_>>();
        let dsn = dsn_of(recipients, 1);
        if duplicate {
            deliver_later(inner, txn.from.clone(), dsn.clone(), delay, Kind::Dsn);
        }
        deliver_later(inner, txn.from.clone(), dsn, delay, Kind::Dsn);
    }
    format!("250 2.0.0 Ok: queued as {queue_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_parameters() {
        let (a, p) = parse_path("FROM:<a@b.test> SIZE=12 RET=HDRS", "FROM:").unwrap_or_default();
        assert_eq!(a, "a@b.test");
        assert_eq!(
            p,
            vec![("SIZE".into(), "12".into()), ("RET".into(), "HDRS".into())]
        );
        assert!(parse_path("éé:<a@b>", "FROM:").is_none());
        assert!(parse_path("FROM:a@b", "FROM:").is_none());
        assert_eq!(first_address(" X <A@B.test>").as_deref(), Some("a@b.test"));
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Dsn,
    Mdn,
}

fn deliver_later(
    inner: &Inner,
    to: String,
    bytes: Vec<u8>,
    delay: std::time::Duration,
    kind: Kind,
) {
    let count = move |inner: &Inner| match kind {
        Kind::Dsn => inner.counters.dsn_sent.fetch_add(1, Ordering::Relaxed),
        Kind::Mdn => inner.counters.mdn_sent.fetch_add(1, Ordering::Relaxed),
    };
    if delay.is_zero() {
        inner.store.deliver(&to, crate::store::INBOX, bytes);
        count(inner);
        return;
    }
    // The Inner is shared through the store only; deliver from a task with a weak copy of it.
    let store_ptr = inner.self_arc();
    if let Some(inner) = store_ptr {
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            inner.store.deliver(&to, crate::store::INBOX, bytes);
            count(&inner);
        });
    }
}

/// An MDN from the recipient mailbox when it is configured to answer and the message asks
/// for one (`Disposition-Notification-To` equal to the Return-Path, RFC 8098 §2.1).
fn send_mdn(inner: &Inner, txn: &Txn, r: &Rcpt, body: &[u8]) {
    let kind = inner.kind_of(&r.addr);
    if kind == MailboxKind::Plain {
        return;
    }
    let head = reports::header_block(body);
    let Some(msg) = mail_parser::MessageParser::default().parse_headers(head) else {
        return;
    };
    let Some(dnt) = msg
        .header_raw("Disposition-Notification-To")
        .and_then(first_address)
    else {
        return;
    };
    if dnt != txn.from || !inner.is_mailbox(&dnt) {
        return;
    }
    let (disposition, error, delay) = match &kind {
        MailboxKind::Integrator { error: None } => (
            "automatic-action/MDN-sent-automatically; processed".to_owned(),
            None,
            std::time::Duration::ZERO,
        ),
        MailboxKind::Integrator {
            error: Some((code, label)),
        } => (
            format!("automatic-action/MDN-sent-automatically; processed/Error: {code}^{label}"),
            Some((*code, label.clone())),
            std::time::Duration::ZERO,
        ),
        MailboxKind::Human | MailboxKind::Plain => (
            "manual-action/MDN-sent-manually; displayed".to_owned(),
            None,
            inner.config().human_mdn_delay,
        ),
    };
    let original_id = msg.message_id().map(|m| format!("<{m}>"));
    let subject = msg.subject().unwrap_or("").to_owned();
    let mdn = reports::build_mdn(&MdnInput {
        from: &r.addr,
        to: &dnt,
        date: &now_rfc2822(),
        message_id: &format!("<mdn-{}@{}>", inner.id(), domain_of(&r.addr)),
        original_message_id: original_id.as_deref(),
        original_subject: &subject,
        original_recipient: r
            .orcpt
            .as_deref()
            .map(|o| o.split_once(';').map(|(_, a)| a).unwrap_or(o)),
        disposition,
        error,
        original: body,
    });
    deliver_later(inner, dnt, mdn, delay, Kind::Mdn);
}

/// The address inside `<…>`, else the trimmed value; lower case.
fn first_address(value: &str) -> Option<String> {
    let v = value.trim();
    let a = match (v.find('<'), v.find('>')) {
        (Some(i), Some(j)) if i < j => &v[i + 1..j],
        _ => v,
    };
    let a = a.trim();
    a.contains('@').then(|| a.to_ascii_lowercase())
}
