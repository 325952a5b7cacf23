//! SQLite side of the inbox.

use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

use super::read::{from_ts, ts};
use super::write::Ctx;
use crate::error::{Error, Result};
use crate::inbox::*;
use crate::types::{AuditDraft, Page, PageRequest, PayloadRef, Sha256};

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS inbox (
    id            TEXT PRIMARY KEY,
    tenant        TEXT NOT NULL,
    mailbox       TEXT NOT NULL,
    uidvalidity   INTEGER NOT NULL,
    uid           INTEGER NOT NULL,
    message_id    TEXT,
    raw_sha256    TEXT NOT NULL,
    raw_size      INTEGER NOT NULL,
    received_at   INTEGER NOT NULL,
    class         TEXT NOT NULL,
    state         TEXT NOT NULL,
    sender        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    sent_date     INTEGER,
    patient_id    TEXT NOT NULL,
    reason        TEXT,
    acked_at      INTEGER,
    duplicate_mid INTEGER NOT NULL,
    UNIQUE (mailbox, uidvalidity, uid)
);
CREATE INDEX IF NOT EXISTS inbox_tenant ON inbox (tenant, state, received_at);
CREATE INDEX IF NOT EXISTS inbox_mid ON inbox (mailbox, message_id);
CREATE TABLE IF NOT EXISTS inbox_documents (
    inbox_id   TEXT NOT NULL,
    ord        INTEGER NOT NULL,
    title      TEXT NOT NULL,
    type_code  TEXT NOT NULL,
    mime_type  TEXT NOT NULL,
    unique_id  TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    cda_sha256 TEXT,
    cda_size   INTEGER,
    PRIMARY KEY (inbox_id, ord)
);
-- Read receipts to send again (the operator was unreachable when the message was ingested).
CREATE TABLE IF NOT EXISTS mdn_pending (
    inbox_id    TEXT PRIMARY KEY,
    mailbox     TEXT NOT NULL,
    error_code  INTEGER,
    error_label TEXT,
    attempts    INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    next_at     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS mdn_pending_due ON mdn_pending (mailbox, next_at);
CREATE TABLE IF NOT EXISTS inbox_cursors (
    mailbox     TEXT PRIMARY KEY,
    uidvalidity INTEGER NOT NULL,
    last_uid    INTEGER NOT NULL
);
DROP INDEX IF EXISTS deliveries_message_id;
-- Only sent deliveries have a Message-ID: the others stay out of the index.
CREATE INDEX IF NOT EXISTS deliveries_mid ON deliveries (message_id) WHERE message_id IS NOT NULL;
";

const COLS: &str = "id, tenant, mailbox, uidvalidity, uid, message_id, raw_sha256, raw_size, received_at, \
    class, state, sender, subject, sent_date, patient_id, reason, acked_at, duplicate_mid";

fn payload(name: &str, sha: &str, size: i64) -> Result<PayloadRef> {
    Ok(PayloadRef {
        name: name.to_owned(),
        sha256: Sha256::from_hex(sha)?,
        size: size as u64,
    })
}

fn documents(conn: &Connection, id: &str) -> Result<Vec<InboundDocument>> {
    let mut st = conn
        .prepare_cached(
            "SELECT title, type_code, mime_type, unique_id, sha256, size, cda_sha256, cda_size \
             FROM inbox_documents WHERE inbox_id = ?1 ORDER BY ord",
        )
        .map_err(Error::db("prepare inbox documents"))?;
    let rows = st
        .query_map(params![id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, Option<i64>>(7)?,
            ))
        })
        .map_err(Error::db("inbox documents"))?;
    let mut out = Vec::new();
    for row in rows {
        let (title, type_code, mime_type, unique_id, sha, size, cda_sha, cda_size) =
            row.map_err(Error::db("inbox document row"))?;
        out.push(InboundDocument {
            payload: payload("document", &sha, size)?,
            cda: match (cda_sha, cda_size) {
                (Some(s), Some(n)) => Some(payload("cda", &s, n)?),
                _ => None,
            },
            title,
            type_code,
            mime_type,
            unique_id,
        });
    }
    Ok(out)
}

fn query(conn: &Connection, sql: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<InboxRecord>> {
    let mut st = conn
        .prepare(sql)
        .map_err(Error::db("prepare inbox query"))?;
    let rows = st
        .query_map(args, |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, i64>(7)?,
                r.get::<_, i64>(8)?,
                r.get::<_, String>(9)?,
                r.get::<_, String>(10)?,
                r.get::<_, String>(11)?,
                r.get::<_, String>(12)?,
                r.get::<_, Option<i64>>(13)?,
                r.get::<_, String>(14)?,
                r.get::<_, Option<String>>(15)?,
                r.get::<_, Option<i64>>(16)?,
                r.get::<_, i64>(17)?,
            ))
        })
        .map_err(Error::db("inbox query"))?;
    let mut out = Vec::new();
    for row in rows {
        let (
            id,
            tenant,
            mailbox,
            uv,
            uid,
            mid,
            sha,
            size,
            recv,
            class,
            state,
            from,
            subject,
            date,
            patient,
            reason,
            acked,
            dup,
        ) = row.map_err(Error::db("inbox row"))?;
        let documents = documents(conn, &id)?;
        out.push(InboxRecord {
            item: NewInboxItem {
                raw: payload("raw.eml", &sha, size)?,
                received_at: from_ts(recv),
                class: InboxClass::parse(&class).ok_or(Error::Corrupt {
                    field: "inbox.class",
                    reason: "unknown value".into(),
                })?,
                state: InboxItemState::parse(&state).ok_or(Error::Corrupt {
                    field: "inbox.state",
                    reason: "unknown value".into(),
                })?,
                date: date.map(from_ts),
                uidvalidity: uv as u32,
                uid: uid as u32,
                message_id: mid,
                id,
                tenant,
                mailbox,
                from,
                subject,
                patient_id: patient,
                reason,
                documents,
            },
            acked_at: acked.map(from_ts),
            duplicate_message_id: dup != 0,
        });
    }
    Ok(out)
}

pub(crate) fn get(conn: &Connection, id: &str) -> Result<InboxRecord> {
    query(
        conn,
        &format!("SELECT {COLS} FROM inbox WHERE id = ?1"),
        &[&id],
    )?
    .into_iter()
    .next()
    .ok_or_else(|| Error::NotFound {
        what: "inbox item",
        id: id.to_owned(),
    })
}

pub(crate) fn list(
    conn: &Connection,
    tenant: &str,
    state: Option<InboxItemState>,
    page: &PageRequest,
) -> Result<Page<InboxRecord>> {
    let size = if page.size == 0 {
        100
    } else {
        page.size.min(1000)
    } as i64;
    let (before_ts, before_id) = match &page.token {
        Some(t) => {
            let (a, b) = t.split_once(':').ok_or(Error::Invalid {
                field: "page_token",
                reason: "malformed".into(),
            })?;
            (
                a.parse::<i64>().map_err(|_| Error::Invalid {
                    field: "page_token",
                    reason: "malformed".into(),
                })?,
                b.to_owned(),
            )
        }
        None => (i64::MAX, String::new()),
    };
    let state_s = state.map(|s| s.as_str()).unwrap_or("");
    let rows = query(
        conn,
        &format!(
            "SELECT {COLS} FROM inbox WHERE tenant = ?1 AND (?2 = '' OR state = ?2) \
             AND (received_at < ?3 OR (received_at = ?3 AND id < ?4)) \
             ORDER BY received_at DESC, id DESC LIMIT ?5"
        ),
        &[&tenant, &state_s, &before_ts, &before_id, &(size + 1)],
    )?;
    let more = rows.len() as i64 > size;
    let items: Vec<InboxRecord> = rows.into_iter().take(size as usize).collect();
    let next_token = if more {
        items
            .last()
            .map(|r| format!("{}:{}", ts(r.item.received_at).unwrap_or(0), r.item.id))
    } else {
        None
    };
    Ok(Page { items, next_token })
}

pub(crate) fn cursor(conn: &Connection, mailbox: &str) -> Result<Option<InboxCursor>> {
    conn.prepare_cached("SELECT uidvalidity, last_uid FROM inbox_cursors WHERE mailbox = ?1")
        .map_err(Error::db("prepare cursor"))?
        .query_row(params![mailbox], |r| {
            Ok(InboxCursor {
                uidvalidity: r.get::<_, i64>(0)? as u32,
                last_uid: r.get::<_, i64>(1)? as u32,
            })
        })
        .optional()
        .map_err(Error::db("read cursor"))
}

pub(crate) fn delivery_id_by_message_id(
    conn: &Connection,
    message_id: &str,
) -> Result<Option<String>> {
    conn.prepare_cached(
        // The IS NOT NULL term lets the planner use the partial index.
        "SELECT id FROM deliveries WHERE message_id = ?1 AND message_id IS NOT NULL \
         ORDER BY created_at DESC LIMIT 1",
    )
    .map_err(Error::db("prepare message id"))?
    .query_row(params![message_id], |r| r.get(0))
    .optional()
    .map_err(Error::db("delivery by message id"))
}

fn find_known(conn: &Connection, m: &NewInboxItem) -> Result<Option<String>> {
    let by_uid: Option<String> = conn
        .prepare_cached("SELECT id FROM inbox WHERE mailbox = ?1 AND uidvalidity = ?2 AND uid = ?3")
        .map_err(Error::db("prepare inbox uid"))?
        .query_row(
            params![m.mailbox, m.uidvalidity as i64, m.uid as i64],
            |r| r.get(0),
        )
        .optional()
        .map_err(Error::db("inbox by uid"))?;
    if by_uid.is_some() {
        return Ok(by_uid);
    }
    match &m.message_id {
        None => Ok(None),
        Some(mid) => conn
            .prepare_cached(
                "SELECT id FROM inbox WHERE mailbox = ?1 AND message_id = ?2 AND raw_sha256 = ?3",
            )
            .map_err(Error::db("prepare inbox mid"))?
            .query_row(params![m.mailbox, mid, m.raw.sha256.to_hex()], |r| r.get(0))
            .optional()
            .map_err(Error::db("inbox by message id")),
    }
}

/// Inserts the item (or finds it), references its payloads and appends an audit entry, all in the
/// writer's transaction.
pub(crate) fn insert(ctx: &mut Ctx<'_>, m: &NewInboxItem) -> Result<InboxInsert> {
    if let Some(id) = find_known(ctx.conn, m)? {
        return Ok(InboxInsert::Known(get(ctx.conn, &id)?));
    }
    let dup: bool = match &m.message_id {
        None => false,
        Some(mid) => ctx
            .conn
            .prepare_cached("SELECT 1 FROM inbox WHERE mailbox = ?1 AND message_id = ?2")
            .map_err(Error::db("prepare dup"))?
            .query_row(params![m.mailbox, mid], |_| Ok(()))
            .optional()
            .map_err(Error::db("dup"))?
            .is_some(),
    };
    ctx.conn
        .prepare_cached(
            "INSERT INTO inbox (id, tenant, mailbox, uidvalidity, uid, message_id, raw_sha256, raw_size, \
             received_at, class, state, sender, subject, sent_date, patient_id, reason, acked_at, duplicate_mid) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, NULL, ?17)",
        )
        .map_err(Error::db("prepare inbox insert"))?
        .execute(params![
            m.id,
            m.tenant,
            m.mailbox,
            m.uidvalidity as i64,
            m.uid as i64,
            m.message_id,
            m.raw.sha256.to_hex(),
            m.raw.size as i64,
            ts(m.received_at)?,
            m.class.as_str(),
            m.state.as_str(),
            m.from,
            m.subject,
            m.date.map(ts).transpose()?,
            m.patient_id,
            m.reason,
            dup as i64,
        ])
        .map_err(Error::db("inbox insert"))?;
    let mut ord = 0;
    ctx.add_ref("i", &m.id, ord, &m.raw)?;
    for (i, d) in m.documents.iter().enumerate() {
        ctx.conn
            .prepare_cached(
                "INSERT INTO inbox_documents (inbox_id, ord, title, type_code, mime_type, unique_id, sha256, size, cda_sha256, cda_size) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .map_err(Error::db("prepare inbox document"))?
            .execute(params![
                m.id,
                i as i64,
                d.title,
                d.type_code,
                d.mime_type,
                d.unique_id,
                d.payload.sha256.to_hex(),
                d.payload.size as i64,
                d.cda.as_ref().map(|c| c.sha256.to_hex()),
                d.cda.as_ref().map(|c| c.size as i64),
            ])
            .map_err(Error::db("inbox document"))?;
        ord += 1;
        ctx.add_ref("i", &m.id, ord, &d.payload)?;
        if let Some(c) = &d.cda {
            ord += 1;
            ctx.add_ref("i", &m.id, ord, c)?;
        }
    }
    ctx.append_audit(
        &m.tenant,
        m.received_at,
        &AuditDraft {
            kind: format!("inbox.{}", m.class.as_str()),
            actor: format!("imap:{}", m.mailbox),
            transmission_id: None,
            delivery_id: None,
            summary: format!(
                "item={} state={} documents={} reason={}",
                m.id,
                m.state.as_str(),
                m.documents.len(),
                m.reason.as_deref().unwrap_or("-")
            ),
            data_sha256: Some(m.raw.sha256),
        },
    )?;
    Ok(InboxInsert::Inserted(get(ctx.conn, &m.id)?))
}

pub(crate) fn mdn_retry(ctx: &mut Ctx<'_>, m: &PendingMdn, next_at: OffsetDateTime) -> Result<()> {
    ctx.conn
        .prepare_cached(
            "INSERT INTO mdn_pending (inbox_id, mailbox, error_code, error_label, attempts, created_at, next_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (inbox_id) DO UPDATE SET \
             attempts = excluded.attempts, next_at = excluded.next_at",
        )
        .map_err(Error::db("prepare mdn retry"))?
        .execute(params![
            m.inbox_id,
            m.mailbox,
            m.error.as_ref().map(|e| i64::from(e.0)),
            m.error.as_ref().map(|e| e.1.as_str()),
            i64::from(m.attempts),
            ts(m.created_at)?,
            ts(next_at)?
        ])
        .map_err(Error::db("mdn retry"))?;
    Ok(())
}

pub(crate) fn mdn_due(
    conn: &Connection,
    mailbox: &str,
    now: OffsetDateTime,
    limit: u32,
) -> Result<Vec<PendingMdn>> {
    let mut st = conn
        .prepare_cached(
            "SELECT inbox_id, mailbox, error_code, error_label, attempts, created_at FROM mdn_pending \
             WHERE mailbox = ?1 AND next_at <= ?2 ORDER BY next_at LIMIT ?3",
        )
        .map_err(Error::db("prepare mdn due"))?;
    let rows = st
        .query_map(params![mailbox, ts(now)?, i64::from(limit)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })
        .map_err(Error::db("mdn due"))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(Error::db("mdn due"))?;
    rows.into_iter()
        .map(|(inbox_id, mailbox, code, label, attempts, created)| {
            Ok(PendingMdn {
                inbox_id,
                mailbox,
                error: code.map(|c| (c as u16, label.unwrap_or_default())),
                attempts: attempts as u32,
                created_at: from_ts(created),
            })
        })
        .collect()
}

pub(crate) fn mdn_done(ctx: &mut Ctx<'_>, inbox_id: &str) -> Result<()> {
    ctx.conn
        .prepare_cached("DELETE FROM mdn_pending WHERE inbox_id = ?1")
        .map_err(Error::db("prepare mdn done"))?
        .execute(params![inbox_id])
        .map_err(Error::db("mdn done"))?;
    Ok(())
}

pub(crate) fn set_cursor(ctx: &mut Ctx<'_>, mailbox: &str, c: InboxCursor) -> Result<()> {
    ctx.conn
        .prepare_cached(
            "INSERT INTO inbox_cursors (mailbox, uidvalidity, last_uid) VALUES (?1, ?2, ?3) \
             ON CONFLICT (mailbox) DO UPDATE SET uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid",
        )
        .map_err(Error::db("prepare set cursor"))?
        .execute(params![mailbox, c.uidvalidity as i64, c.last_uid as i64])
        .map_err(Error::db("set cursor"))?;
    Ok(())
}

pub(crate) fn ack(
    ctx: &mut Ctx<'_>,
    id: &str,
    actor: &str,
    now: OffsetDateTime,
) -> Result<InboxRecord> {
    let r = get(ctx.conn, id)?;
    if r.item.state != InboxItemState::New && r.item.state != InboxItemState::Acked {
        return Err(Error::Invalid {
            field: "id",
            reason: format!(
                "an item in state {} cannot be acknowledged",
                r.item.state.as_str()
            ),
        });
    }
    if r.item.state == InboxItemState::Acked {
        return Ok(r);
    }
    ctx.conn
        .prepare_cached("UPDATE inbox SET state = 'acked', acked_at = ?2 WHERE id = ?1")
        .map_err(Error::db("prepare ack"))?
        .execute(params![id, ts(now)?])
        .map_err(Error::db("ack"))?;
    ctx.append_audit(
        &r.item.tenant,
        now,
        &AuditDraft {
            kind: "inbox.acked".into(),
            actor: actor.to_owned(),
            transmission_id: None,
            delivery_id: None,
            summary: format!("item={id}"),
            data_sha256: Some(r.item.raw.sha256),
        },
    )?;
    get(ctx.conn, id)
}
