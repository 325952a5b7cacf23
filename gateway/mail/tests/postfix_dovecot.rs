//! Real MTA round trip (mssante.md §7.3): Debian's Postfix (submission with a required client
//! certificate, sender bound to the certificate) delivers over LMTP to Dovecot (IMAP with
//! AUTHENTICATE EXTERNAL, user = certificate CN). Both run from a temporary directory on free
//! loopback ports, as root, and never read or write the system's mail configuration.
//!
//! Needs the Debian packages `postfix`, `dovecot-imapd`, `dovecot-lmtpd` (the test fails if they
//! are missing) and root (Postfix/Dovecot drop privileges to their own users).

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use passerelle_certs::{PkiSpec, Usage};
use passerelle_mail::{
    DsnNotify, DsnRequest, DsnRet, Envelope, FOLDER_PROCESSED, FOLDER_QUARANTINE, ImapClientConfig,
    ImapSession, MailError, SmtpClientConfig, SmtpPool, TlsMode,
};
use sha2::{Digest, Sha256};

const SENDER: &str = "dui-app@cd93.mssante.test";
const RECIPIENT: &str = "passerelle@mecs-tilleuls.mssante.test";
/// uid/gid owning the mail store (nobody/nogroup on Debian).
const MAIL_UID: u32 = 65534;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Stops both daemons, also when the test fails.
struct Daemons {
    dir: PathBuf,
    postfix_started: bool,
    dovecot: Option<Child>,
}

impl Drop for Daemons {
    fn drop(&mut self) {
        if self.postfix_started {
            let _ = Command::new("/usr/sbin/postfix")
                .arg("-c")
                .arg(self.dir.join("postfix"))
                .arg("stop")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        if let Some(mut child) = self.dovecot.take() {
            // SIGTERM lets the master stop its children; SIGKILL only as a last resort.
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn write(path: &Path, content: impl AsRef<[u8]>) {
    std::fs::write(path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn wait_port(port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(log).unwrap_or_default();
    panic!("{what} did not listen on {port}; log:\n{log}");
}

struct Ports {
    submission: u16,
    /// Submission with `smtpd_discard_ehlo_keywords = dsn` (operator without DSN).
    submission_nodsn: u16,
    submissions: u16,
    imap: u16,
    imaps: u16,
    lmtp: u16,
}

fn postfix_config(dir: &Path, ports: &Ports, pki: &passerelle_certs::Pki) {
    let pf = dir.join("postfix");
    std::fs::create_dir_all(&pf).expect("mkdir");
    let d = dir.display();
    let sender_fp = fingerprint(&pki.get("cd93", Usage::TlsClient).expect("cd93").cert_der);
    let mecs_fp = fingerprint(
        &pki.get("mecs-tilleuls", Usage::TlsClient)
            .expect("mecs")
            .cert_der,
    );
    write(
        &pf.join("relay_clientcerts"),
        format!("{sender_fp} cd93\n{mecs_fp} mecs\n"),
    );
    // Certificate → restriction class allowing only its own address as sender.
    write(
        &pf.join("ccert_senders"),
        format!("{sender_fp} app_cd93\n{mecs_fp} app_mecs\n"),
    );
    write(&pf.join("senders_cd93"), format!("{SENDER} OK\n"));
    write(&pf.join("senders_mecs"), format!("{RECIPIENT} OK\n"));
    write(
        &pf.join("vmailbox"),
        format!("{SENDER} ok\n{RECIPIENT} ok\n"),
    );
    let main = format!(
        "compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = smtp.mssante.test
mydomain = mssante.test
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
relayhost =
alias_maps =
alias_database =
local_recipient_maps =
smtputf8_enable = no
biff = no
maillog_file = {d}/postfix.log
maillog_file_prefixes = {d}
virtual_mailbox_domains = cd93.mssante.test mecs-tilleuls.mssante.test
virtual_mailbox_maps = texthash:{d}/postfix/vmailbox
virtual_transport = lmtp:inet:127.0.0.1:{lmtp}
message_size_limit = 10485760
smtpd_tls_fingerprint_digest = sha256
relay_clientcerts = texthash:{d}/postfix/relay_clientcerts
smtpd_restriction_classes = app_cd93, app_mecs
app_cd93 = check_sender_access texthash:{d}/postfix/senders_cd93, reject
app_mecs = check_sender_access texthash:{d}/postfix/senders_mecs, reject
",
        lmtp = ports.lmtp
    );
    write(&pf.join("main.cf"), main);
    let submission_opts = format!(
        "  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_ask_ccert=yes
  -o smtpd_tls_req_ccert=yes
  -o smtpd_tls_chain_files={d}/pki/smtp-key-chain.pem
  -o smtpd_tls_CAfile={d}/pki/ca.pem
  -o smtpd_tls_mandatory_protocols=>=TLSv1.2
  -o smtpd_tls_protocols=>=TLSv1.2
  -o smtpd_sasl_auth_enable=no
  -o smtpd_relay_restrictions=permit_tls_clientcerts,reject
  -o smtpd_sender_restrictions=check_ccert_access,texthash:{d}/postfix/ccert_senders,reject
"
    );
    let mut master = String::new();
    let _ = write!(
        master,
        "127.0.0.1:{sub} inet n - n - - smtpd
  -o syslog_name=postfix/submission
{submission_opts}127.0.0.1:{subs} inet n - n - - smtpd
  -o syslog_name=postfix/submissions
  -o smtpd_tls_wrappermode=yes
{submission_opts}127.0.0.1:{nodsn} inet n - n - - smtpd
  -o syslog_name=postfix/submission-nodsn
  -o smtpd_discard_ehlo_keywords=dsn
{submission_opts}",
        sub = ports.submission,
        subs = ports.submissions,
        nodsn = ports.submission_nodsn,
    );
    master.push_str(
        "pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
lmtp unix - - n - - lmtp
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
",
    );
    write(&pf.join("master.cf"), master);
}

fn dovecot_config(dir: &Path, ports: &Ports) -> PathBuf {
    let d = dir.display();
    let conf = format!(
        "base_dir = {d}/dovecot-run
state_dir = {d}/dovecot-state
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
ssl = required
ssl_min_protocol = TLSv1.2
ssl_cert = <{d}/pki/imap.pem
ssl_key = <{d}/pki/imap.key
ssl_ca = <{d}/pki/ca-with-crl.pem
ssl_require_crl = yes
ssl_verify_client_cert = yes
auth_ssl_require_client_cert = yes
auth_ssl_username_from_cert = yes
ssl_cert_username_field = commonName
auth_mechanisms = external
disable_plaintext_auth = yes
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1000
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = static
  args = nopassword=y
}}
userdb {{
  driver = static
  args = uid={MAIL_UID} gid={MAIL_UID} home={d}/mail/%u allow_all_users=yes
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
service stats {{
  inet_listener http {{
    port = 0
  }}
}}
protocol lmtp {{
  postmaster_address = postmaster@mssante.test
}}
",
        imap = ports.imap,
        imaps = ports.imaps,
        lmtp = ports.lmtp,
    );
    let path = dir.join("dovecot.conf");
    write(&path, conf);
    path
}

fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(uid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
}

fn user_id(name: &str) -> u32 {
    let out = Command::new("id").arg("-u").arg(name).output().expect("id");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("user {name} missing (is the Debian package installed?)"))
}

fn start(dir: &Path, pki: &passerelle_certs::Pki, ports: &Ports) -> Daemons {
    use std::os::unix::fs::PermissionsExt;
    // The daemons' unprivileged users must traverse the temporary directory.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let pkid = dir.join("pki");
    std::fs::create_dir_all(&pkid).expect("mkdir pki");
    let smtp = pki.server("smtp.mssante.test").expect("smtp server cert");
    let imap = pki.server("imap.mssante.test").expect("imap server cert");
    write(&pkid.join("smtp-key-chain.pem"), smtp.key_chain_pem());
    write(&pkid.join("ca.pem"), pki.ca_chain_pem());
    write(&pkid.join("imap.pem"), imap.chain_pem());
    write(&pkid.join("imap.key"), &imap.key_pem);
    write(
        &pkid.join("ca-with-crl.pem"),
        format!("{}{}", pki.ca_chain_pem(), pki.crls_pem()),
    );
    for sub in ["queue", "data", "mail", "dovecot-run", "dovecot-state"] {
        std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
    }
    chown(&dir.join("mail"), MAIL_UID);
    // Postfix wants its data directory owned by mail_owner.
    let postfix_uid = user_id("postfix");
    std::os::unix::fs::chown(dir.join("data"), Some(postfix_uid), None).expect("chown data");
    let postfix_dir = dir.join("postfix");
    postfix_config(dir, ports, pki);
    let conf = dovecot_config(dir, ports);
    let mut daemons = Daemons {
        dir: dir.to_owned(),
        postfix_started: false,
        dovecot: None,
    };
    let dovecot = Command::new("/usr/sbin/dovecot")
        .arg("-F")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dovecot must be installed (Debian: dovecot-imapd dovecot-lmtpd)");
    daemons.dovecot = Some(dovecot);
    wait_port(ports.imaps, "dovecot", &dir.join("dovecot.log"));
    wait_port(ports.lmtp, "dovecot lmtp", &dir.join("dovecot.log"));
    let out = Command::new("/usr/sbin/postfix")
        .arg("-c")
        .arg(&postfix_dir)
        .arg("start")
        .output()
        .expect("postfix must be installed (Debian: postfix)");
    daemons.postfix_started = true;
    assert!(
        out.status.success(),
        "postfix start: {}\n{}\nlog:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(dir.join("postfix.log")).unwrap_or_default()
    );
    wait_port(ports.submission, "postfix", &dir.join("postfix.log"));
    daemons
}

fn tls_for(pki: &passerelle_certs::Pki, tenant: &str) -> std::sync::Arc<rustls::ClientConfig> {
    let c = pki.get(tenant, Usage::TlsClient).expect("tenant cert");
    passerelle_mail::tls::client_config_from_pem(
        pki.ca_chain_pem().as_bytes(),
        c.chain_pem().as_bytes(),
        c.key_pem.as_bytes(),
    )
    .expect("client tls")
}

/// Drops the trace headers added on delivery (Return-Path, Received, Delivered-To) at the top.
fn strip_trace_headers(stored: &[u8]) -> &[u8] {
    let mut rest = stored;
    loop {
        let lower: Vec<u8> = rest.iter().take(16).map(u8::to_ascii_lowercase).collect();
        let is_trace = [&b"return-path:"[..], b"received:", b"delivered-to:"]
            .iter()
            .any(|p| lower.starts_with(p));
        if !is_trace {
            return rest;
        }
        // Skip the header and its continuation lines.
        let mut i = 0;
        loop {
            let Some(eol) = rest[i..].iter().position(|&b| b == b'\n') else {
                return &rest[rest.len()..];
            };
            i += eol + 1;
            if i >= rest.len() || !(rest[i] == b' ' || rest[i] == b'\t') {
                break;
            }
        }
        rest = &rest[i..];
    }
}

fn imap_cfg(
    pki: &passerelle_certs::Pki,
    tenant: &str,
    mailbox: &str,
    port: u16,
    mode: TlsMode,
) -> ImapClientConfig {
    let mut c = ImapClientConfig::new(
        mailbox,
        "imap.mssante.test",
        port,
        mode,
        tls_for(pki, tenant),
    );
    c.connect_addr = Some(([127, 0, 0, 1], port).into());
    c.timeout = Duration::from_secs(15);
    c
}

async fn wait_inbox(cfg: &ImapClientConfig, count: usize) -> Vec<passerelle_mail::FetchedMessage> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut s = ImapSession::connect(cfg).await.expect("imap connect");
        s.select_inbox().await.expect("select");
        let msgs = s.fetch_from(1).await.expect("fetch");
        s.logout().await.expect("logout");
        if msgs.len() >= count || Instant::now() > deadline {
            return msgs;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postfix_dovecot_round_trip() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pki = passerelle_certs::generate(&PkiSpec::sandbox(time::OffsetDateTime::now_utc()))
        .expect("test pki");
    let ports = Ports {
        submission: free_port(),
        submission_nodsn: free_port(),
        submissions: free_port(),
        imap: free_port(),
        imaps: free_port(),
        lmtp: free_port(),
    };
    // PASSERELLE_KEEP_MAIL_TMP=1 keeps the directory (configs, logs) for debugging.
    let (dir, _tmp) = if std::env::var_os("PASSERELLE_KEEP_MAIL_TMP").is_some() {
        let d = tmp.keep();
        eprintln!("mail test directory kept: {}", d.display());
        (d, None)
    } else {
        (tmp.path().to_owned(), Some(tmp))
    };
    let daemons = start(&dir, &pki, &ports);

    let message = format!(
        "From: CD93 envoi automatique <{SENDER}>\r\nTo: <{RECIPIENT}>\r\n\
         Message-ID: <0195f1c2-7a3e-7cc0-9a51-3c1f0e2b9d41@cd93.mssante.test>\r\n\
         Date: Wed, 25 Nov 2026 21:00:00 +0100\r\nSubject: Essai Postfix\r\nMIME-Version: 1.0\r\n\
         Disposition-Notification-To: <{SENDER}>\r\nX-MSS-NIL: DEV935997\r\n\
         Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         Bonjour,\r\n.ligne commençant par un point\r\n..deux points\r\nfin\r\n"
    )
    .into_bytes();
    let mut smtp = SmtpClientConfig::new(
        SENDER,
        "smtp.mssante.test",
        ports.submission,
        TlsMode::StartTls,
        tls_for(&pki, "cd93"),
    );
    smtp.connect_addr = Some(([127, 0, 0, 1], ports.submission).into());
    let envelope = Envelope {
        mail_from: SENDER.into(),
        recipients: vec![RECIPIENT.into()],
        dsn: Some(DsnRequest {
            ret: DsnRet::Hdrs,
            envid: Some("delivery-0001".into()),
            notify: DsnNotify {
                success: true,
                failure: true,
                delay: false,
            },
        }),
    };
    let pool = SmtpPool::new();
    let report = pool
        .send(&smtp, &envelope, &message)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "submission failed: {e}\n{}",
                std::fs::read_to_string(dir.join("postfix.log")).unwrap_or_default()
            )
        });
    assert_eq!(report.data.code, 250);
    assert!(report.dsn_requested, "Postfix advertises DSN");
    // Implicit TLS port too, on the same pool (another server key).
    let mut smtps = smtp.clone();
    smtps.port = ports.submissions;
    smtps.tls_mode = TlsMode::Implicit;
    smtps.connect_addr = Some(([127, 0, 0, 1], ports.submissions).into());
    let mut second = message.clone();
    let needle = b"Subject: Essai Postfix";
    let at = second
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("subject");
    second.splice(
        at..at + needle.len(),
        b"Subject: Essai Postfix 465".iter().copied(),
    );
    let mut env2 = envelope.clone();
    env2.dsn = None;
    pool.send(&smtps, &env2, &second)
        .await
        .expect("implicit TLS submission");

    // An operator that does not announce DSN: the client sends no DSN parameter.
    let mut nodsn = smtp.clone();
    nodsn.port = ports.submission_nodsn;
    nodsn.connect_addr = Some(([127, 0, 0, 1], ports.submission_nodsn).into());
    let mut third = message.clone();
    third.splice(
        at..at + needle.len(),
        b"Subject: Essai Postfix nodsn".iter().copied(),
    );
    let r = pool
        .send(&nodsn, &envelope, &third)
        .await
        .expect("submission without DSN");
    assert!(!r.dsn_requested, "DSN not advertised: no NOTIFY/RET/ENVID");

    // The sender cannot use another mailbox's address (sender bound to the certificate).
    let mut spoof = envelope.clone();
    spoof.mail_from = RECIPIENT.into();
    // (on the pooled connection: RSET, then the refusal leaves it usable)
    let err = pool
        .send(&smtp, &spoof, &message)
        .await
        .expect_err("spoofed sender refused");
    match &err {
        MailError::Rejected { reply, .. } => {
            assert!(reply.code >= 500, "{err}");
            assert_eq!(reply.enhanced, Some([5, 7, 1]), "{err}");
        }
        other => panic!("unexpected {other}"),
    }
    // The same pooled connection carries another transaction.
    let mut fourth = message.clone();
    fourth.splice(
        at..at + needle.len(),
        b"Subject: Essai Postfix reuse".iter().copied(),
    );
    let r = pool
        .send(&smtp, &env2, &fourth)
        .await
        .expect("reused connection");
    assert!(r.reused_connection);
    assert_eq!(
        pool.stats().connections_opened,
        3,
        "587, 465 and the no-DSN port"
    );
    // No client certificate: no session.
    let mut anon = smtp.clone();
    anon.tls = passerelle_mail::tls::client_config_without_cert(pki.ca_chain_pem().as_bytes())
        .expect("tls");
    assert!(
        SmtpPool::new()
            .send(&anon, &envelope, &message)
            .await
            .is_err()
    );

    // Recipient reads over IMAP (STARTTLS and implicit), AUTHENTICATE EXTERNAL with its certificate.
    let rcfg = imap_cfg(
        &pki,
        "mecs-tilleuls",
        RECIPIENT,
        ports.imap,
        TlsMode::StartTls,
    );
    let got = wait_inbox(&rcfg, 4).await;
    assert_eq!(got.len(), 4, "the four messages delivered to the recipient");
    // Byte for byte after the trace headers (LMTP may deliver in any order).
    let mut bodies: Vec<&[u8]> = got.iter().map(|m| strip_trace_headers(&m.body)).collect();
    bodies.sort();
    let mut expected: Vec<&[u8]> = vec![&message[..], &second[..], &third[..], &fourth[..]];
    expected.sort();
    assert_eq!(bodies, expected);
    let mut s = ImapSession::connect(&imap_cfg(
        &pki,
        "mecs-tilleuls",
        RECIPIENT,
        ports.imaps,
        TlsMode::Implicit,
    ))
    .await
    .expect("imaps");
    assert!(s.has_capability("MOVE") && s.has_capability("IDLE"));
    let created = s
        .ensure_folders(&[FOLDER_PROCESSED, FOLDER_QUARANTINE])
        .await
        .expect("folders");
    assert_eq!(created.len(), 2);
    let inbox = s.select_inbox().await.expect("select");
    assert_eq!(inbox.exists, 4);
    assert!(inbox.uid_validity > 0);
    let listed = s.list_from(1).await.expect("list");
    assert_eq!(listed.len(), 4);
    assert!(
        listed.iter().all(|m| m.header.ends_with(b"\r\n\r\n")
            && m.size.is_some_and(|n| n as usize > m.header.len())),
        "headers without bodies, with sizes"
    );
    let uid = got[0].uid;
    s.move_message(uid, FOLDER_PROCESSED).await.expect("move");
    let after = s.fetch_from(1).await.expect("fetch");
    assert_eq!(after.len(), 3);
    // IDLE against Dovecot: quiet while nothing arrives, woken by a new delivery (as the
    // gateway's poller uses it).
    let (back, outcome) = s.idle(Duration::from_millis(300)).await.expect("idle");
    assert_eq!(outcome, passerelle_mail::IdleOutcome::TimedOut);
    let mut fifth = message.clone();
    fifth.splice(
        at..at + needle.len(),
        b"Subject: Essai Postfix idle".iter().copied(),
    );
    pool.send(&smtp, &env2, &fifth).await.expect("fifth");
    let started = Instant::now();
    let (mut s, outcome) = back.idle(Duration::from_secs(30)).await.expect("idle");
    assert_eq!(outcome, passerelle_mail::IdleOutcome::Changed);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let after = s.fetch_from(1).await.expect("fetch");
    assert_eq!(after.len(), 4);
    // Marking instead of moving (`mssante.after_ingest = "flag"`): Dovecot keeps keywords, and
    // UID SEARCH UNKEYWORD leaves the marked message out.
    let inbox = s.select_inbox().await.expect("select");
    assert!(
        inbox.keeps_keyword("$PasserelleTraite"),
        "{:?}",
        inbox.permanent_flags
    );
    let marked = after[0].uid;
    s.add_keyword(marked, "$PasserelleTraite")
        .await
        .expect("keyword");
    let todo = s
        .uids_without(&["$PasserelleTraite", "$PasserelleQuarantaine"])
        .await
        .expect("search");
    assert_eq!(todo.len(), 3, "{todo:?}");
    assert!(!todo.contains(&marked));
    let listed = s.list_from(1).await.expect("list");
    let flags = &listed
        .iter()
        .find(|m| m.uid == marked)
        .expect("still in INBOX")
        .flags;
    assert!(flags.iter().any(|f| f == "$PasserelleTraite"), "{flags:?}");
    let traites = s
        .select(&s.server_folder_name(FOLDER_PROCESSED))
        .await
        .expect("select traites");
    assert_eq!(traites.exists, 1);
    s.logout().await.expect("logout");

    // Postfix's DSN comes back to the sender's mailbox.
    let scfg = imap_cfg(&pki, "cd93", SENDER, ports.imaps, TlsMode::Implicit);
    let dsns = wait_inbox(&scfg, 1).await;
    assert_eq!(
        dsns.len(),
        1,
        "one DSN (the others asked for none or could not)"
    );
    let dsn = String::from_utf8_lossy(&dsns[0].body);
    assert!(dsn.contains("report-type=delivery-status"), "{dsn}");
    assert!(dsn.contains("Original-Envelope-Id: delivery-0001"), "{dsn}");
    assert!(
        dsn.contains(&format!("Original-Recipient: rfc822;{RECIPIENT}")),
        "{dsn}"
    );
    assert!(
        dsn.contains("Action: delivered") || dsn.contains("Action: relayed"),
        "{dsn}"
    );
    drop(daemons);
}
