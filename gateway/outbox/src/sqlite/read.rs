//! Row mapping and queries shared by the writer and the read connections.

use std::time::Duration;

use passerelle_domain::delivery::{Channel, DeliveryState};
use passerelle_domain::error::Origin;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::types::*;

pub(crate) fn ts(t: OffsetDateTime) -> Result<i64> {
    i64::try_from(t.unix_timestamp_nanos()).map_err(|_| Error::Invalid {
        field: "timestamp",
        reason: "outside 1677..2262".into(),
    })
}

pub(crate) fn from_ts(n: i64) -> OffsetDateTime {
    // Every i64 of nanoseconds is a valid OffsetDateTime.
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(n)).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub(crate) fn add(t: OffsetDateTime, d: Duration) -> OffsetDateTime {
    t.checked_add(time::Duration::try_from(d).unwrap_or(time::Duration::MAX))
        .unwrap_or(t)
}

pub(crate) fn origin_str(o: Origin) -> &'static str {
    match o {
        Origin::Client => "client",
        Origin::Policy => "policy",
        Origin::MsSante => "mssante",
        Origin::Dmp => "dmp",
        Origin::Store => "store",
        Origin::Internal => "internal",
    }
}

pub(crate) fn origin_parse(s: &str) -> Result<Origin> {
    Ok(match s {
        "client" => Origin::Client,
        "policy" => Origin::Policy,
        "mssante" => Origin::MsSante,
        "dmp" => Origin::Dmp,
        "store" => Origin::Store,
        "internal" => Origin::Internal,
        other => {
            return Err(Error::Corrupt {
                field: "deliveries.err_origin",
                reason: format!("unknown origin {other:?}"),
            });
        }
    })
}

pub(crate) fn to_json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn from_json_list(field: &'static str, s: &str) -> Result<Vec<String>> {
    serde_json::from_str(s).map_err(|e| Error::Corrupt {
        field,
        reason: e.to_string(),
    })
}

pub(crate) fn parse_state(field: &'static str, s: &str) -> Result<DeliveryState> {
    s.parse().map_err(
        |e: passerelle_domain::delivery::UnknownName| Error::Corrupt {
            field,
            reason: e.to_string(),
        },
    )
}

pub(crate) const DELIVERY_COLS: &str = "id, transmission_id, tenant, target_id, channel, recipient, \
    destination, document_ids, state, attempts, next_attempt_at, expires_at, lease_owner, \
    lease_epoch, lease_until, outcome_unknown, message_id, err_origin, err_reason, err_message, \
    err_retryable, err_remote_code, read_receipt_expected, notify_by, mdn_by, disposition, \
    created_at, updated_at, final_at";

fn dberr(e: rusqlite::Error) -> Error {
    Error::Database {
        context: "read delivery row",
        source: e,
    }
}

fn delivery_from_row(r: &Row<'_>) -> Result<DeliveryRecord> {
    let g = |i: usize| -> Result<Option<i64>> { r.get(i).map_err(dberr) };
    let s = |i: usize| -> Result<String> { r.get(i).map_err(dberr) };
    let os = |i: usize| -> Result<Option<String>> { r.get(i).map_err(dberr) };
    let channel: Channel = s(4)?.parse().map_err(
        |e: passerelle_domain::delivery::UnknownName| Error::Corrupt {
            field: "deliveries.channel",
            reason: e.to_string(),
        },
    )?;
    let state = parse_state("deliveries.state", &s(8)?)?;
    let lease = match (os(12)?, g(14)?) {
        (Some(owner), Some(until)) if state == DeliveryState::InFlight => Some(Lease {
            owner,
            token: r.get::<_, i64>(13).map_err(dberr)? as u64,
            until: from_ts(until),
        }),
        _ => None,
    };
    let last_error = match (os(17)?, os(18)?) {
        (Some(o), Some(reason)) => Some(DeliveryError {
            origin: origin_parse(&o)?,
            reason,
            message: os(19)?.unwrap_or_default(),
            retryable: g(20)?.unwrap_or(0) != 0,
            remote_code: os(21)?.unwrap_or_default(),
        }),
        _ => None,
    };
    Ok(DeliveryRecord {
        id: s(0)?,
        transmission_id: s(1)?,
        tenant: s(2)?,
        target_id: s(3)?,
        channel,
        recipient: s(5)?,
        destination: s(6)?,
        document_ids: from_json_list("deliveries.document_ids", &s(7)?)?,
        payloads: Vec::new(),
        state,
        attempts: g(9)?.unwrap_or(0) as u32,
        next_attempt_at: g(10)?.map(from_ts),
        expires_at: from_ts(g(11)?.unwrap_or(0)),
        last_error,
        message_id: os(16)?,
        outcome_unknown: g(15)?.unwrap_or(0) != 0,
        read_receipt_expected: g(22)?.unwrap_or(0) != 0,
        notify_by: g(23)?.map(from_ts),
        mdn_by: g(24)?.map(from_ts),
        disposition: os(25)?,
        lease,
        created_at: from_ts(g(26)?.unwrap_or(0)),
        updated_at: from_ts(g(27)?.unwrap_or(0)),
        final_at: g(28)?.map(from_ts),
    })
}

pub(crate) fn payloads(conn: &Connection, kind: &str, owner: &str) -> Result<Vec<PayloadRef>> {
    let mut st = conn
        .prepare_cached(
            "SELECT name, sha256, size FROM payload_refs WHERE owner_kind = ?1 AND owner_id = ?2 ORDER BY ord",
        )
        .map_err(Error::db("prepare payloads"))?;
    let rows = st
        .query_map(params![kind, owner], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .map_err(Error::db("query payloads"))?;
    let mut out = Vec::new();
    for row in rows {
        let (name, sha, size) = row.map_err(Error::db("read payloads"))?;
        out.push(PayloadRef {
            name,
            sha256: Sha256::from_hex(&sha)?,
            size: size as u64,
        });
    }
    Ok(out)
}

fn query_deliveries(conn: &Connection, sql: &str, args: &[Value]) -> Result<Vec<DeliveryRecord>> {
    let mut st = conn
        .prepare_cached(sql)
        .map_err(Error::db("prepare deliveries"))?;
    let mut rows = st
        .query(rusqlite::params_from_iter(args.iter()))
        .map_err(Error::db("query deliveries"))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(Error::db("read deliveries"))? {
        out.push(delivery_from_row(r)?);
    }
    drop(rows);
    for d in &mut out {
        d.payloads = payloads(conn, "d", &d.id)?;
    }
    Ok(out)
}

pub(crate) fn delivery(conn: &Connection, id: &str) -> Result<Option<DeliveryRecord>> {
    let sql = format!("SELECT {DELIVERY_COLS} FROM deliveries WHERE id = ?1");
    Ok(query_deliveries(conn, &sql, &[Value::Text(id.to_owned())])?
        .into_iter()
        .next())
}

pub(crate) fn require_delivery(conn: &Connection, id: &str) -> Result<DeliveryRecord> {
    delivery(conn, id)?.ok_or_else(|| Error::NotFound {
        what: "delivery",
        id: id.to_owned(),
    })
}

pub(crate) fn transmission(conn: &Connection, id: &str) -> Result<Option<TransmissionRecord>> {
    let row = conn
        .prepare_cached(
            "SELECT id, tenant, idempotency_key, request_sha256, created_at, child_ref, document_ids, \
             kinds, replaces_id, decision_json, payloads_pruned_at FROM transmissions WHERE id = ?1",
        )
        .map_err(Error::db("prepare transmission"))?
        .query_row(params![id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, String>(7)?,
                r.get::<_, Option<String>>(8)?,
                r.get::<_, Vec<u8>>(9)?,
                r.get::<_, Option<i64>>(10)?,
            ))
        })
        .optional()
        .map_err(Error::db("read transmission"))?;
    let Some((id, tenant, key, sha, created, child, docs, kinds, replaces, decision, pruned)) = row
    else {
        return Ok(None);
    };
    let sql =
        format!("SELECT {DELIVERY_COLS} FROM deliveries WHERE transmission_id = ?1 ORDER BY ord");
    let deliveries = query_deliveries(conn, &sql, &[Value::Text(id.clone())])?;
    Ok(Some(TransmissionRecord {
        blobs: payloads(conn, "t", &id)?,
        id,
        tenant,
        idempotency_key: key,
        request_sha256: Sha256::from_hex(&sha)?,
        created_at: from_ts(created),
        child_ref: child,
        document_ids: from_json_list("transmissions.document_ids", &docs)?,
        kinds: from_json_list("transmissions.kinds", &kinds)?,
        replaces_transmission_id: replaces,
        decision_json: decision,
        deliveries,
        payloads_pruned: pruned.is_some(),
    }))
}

pub(crate) fn require_transmission(conn: &Connection, id: &str) -> Result<TransmissionRecord> {
    transmission(conn, id)?.ok_or_else(|| Error::NotFound {
        what: "transmission",
        id: id.to_owned(),
    })
}

pub(crate) fn by_idempotency(
    conn: &Connection,
    tenant: &str,
    key: &str,
) -> Result<Option<(String, Sha256)>> {
    let row = conn
        .prepare_cached(
            "SELECT id, request_sha256 FROM transmissions WHERE tenant = ?1 AND idempotency_key = ?2",
        )
        .map_err(Error::db("prepare idempotency"))?
        .query_row(params![tenant, key], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .optional()
        .map_err(Error::db("read idempotency"))?;
    match row {
        None => Ok(None),
        Some((id, sha)) => Ok(Some((id, Sha256::from_hex(&sha)?))),
    }
}

const MAX_PAGE: u32 = 1000;
const DEFAULT_PAGE: u32 = 100;

fn page_size(p: &PageRequest) -> u32 {
    match p.size {
        0 => DEFAULT_PAGE,
        n => n.min(MAX_PAGE),
    }
}

/// Page tokens: hex of "created_at_nanos:id" (opaque to callers).
fn encode_token(created: i64, id: &str) -> String {
    hex::encode(format!("{created}:{id}"))
}

fn decode_token(t: &str) -> Result<(i64, String)> {
    let bad = || Error::Invalid {
        field: "page_token",
        reason: "not a token returned by this store".into(),
    };
    let raw = String::from_utf8(hex::decode(t).map_err(|_| bad())?).map_err(|_| bad())?;
    let (c, id) = raw.split_once(':').ok_or_else(bad)?;
    Ok((c.parse().map_err(|_| bad())?, id.to_owned()))
}

pub(crate) fn list_transmissions(
    conn: &Connection,
    f: &TransmissionFilter,
    page: &PageRequest,
) -> Result<Page<TransmissionRecord>> {
    let mut sql = String::from("SELECT t.id, t.created_at FROM transmissions t WHERE 1=1");
    let mut args: Vec<Value> = Vec::new();
    if let Some(t) = &f.tenant {
        args.push(Value::Text(t.clone()));
        sql.push_str(&format!(" AND t.tenant = ?{}", args.len()));
    }
    if let Some(c) = &f.child_ref {
        args.push(Value::Text(c.clone()));
        sql.push_str(&format!(" AND t.child_ref = ?{}", args.len()));
    }
    if let Some(s) = f.state {
        args.push(Value::Text(s.as_str().into()));
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM deliveries d WHERE d.transmission_id = t.id AND d.state = ?{})",
            args.len()
        ));
    }
    if let Some(s) = f.since {
        args.push(Value::Integer(ts(s)?));
        sql.push_str(&format!(" AND t.created_at >= ?{}", args.len()));
    }
    if let Some(u) = f.until {
        args.push(Value::Integer(ts(u)?));
        sql.push_str(&format!(" AND t.created_at < ?{}", args.len()));
    }
    if let Some(tok) = &page.token {
        let (c, id) = decode_token(tok)?;
        args.push(Value::Integer(c));
        let a = args.len();
        args.push(Value::Text(id));
        let b = args.len();
        sql.push_str(&format!(
            " AND (t.created_at < ?{a} OR (t.created_at = ?{a} AND t.id < ?{b}))"
        ));
    }
    let size = page_size(page);
    args.push(Value::Integer(i64::from(size) + 1));
    sql.push_str(&format!(
        " ORDER BY t.created_at DESC, t.id DESC LIMIT ?{}",
        args.len()
    ));
    let mut st = conn.prepare(&sql).map_err(Error::db("prepare list"))?;
    let ids: Vec<(String, i64)> = st
        .query_map(rusqlite::params_from_iter(args.iter()), |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(Error::db("list transmissions"))?
        .collect::<Result<_, _>>()
        .map_err(Error::db("list transmissions"))?;
    let more = ids.len() > size as usize;
    let ids = &ids[..ids.len().min(size as usize)];
    let next_token = if more {
        ids.last().map(|(id, c)| encode_token(*c, id))
    } else {
        None
    };
    let items = ids
        .iter()
        .map(|(id, _)| require_transmission(conn, id))
        .collect::<Result<Vec<_>>>()?;
    Ok(Page { items, next_token })
}

pub(crate) fn delivery_filter_sql(f: &DeliveryFilter, sql: &mut String, args: &mut Vec<Value>) {
    if let Some(t) = &f.tenant {
        args.push(Value::Text(t.clone()));
        sql.push_str(&format!(" AND tenant = ?{}", args.len()));
    }
    if let Some(s) = f.state {
        args.push(Value::Text(s.as_str().into()));
        sql.push_str(&format!(" AND state = ?{}", args.len()));
    }
    if let Some(c) = f.channel {
        args.push(Value::Text(c.as_str().into()));
        sql.push_str(&format!(" AND channel = ?{}", args.len()));
    }
    if let Some(d) = &f.destination {
        args.push(Value::Text(d.clone()));
        sql.push_str(&format!(" AND destination = ?{}", args.len()));
    }
}

pub(crate) fn list_deliveries(
    conn: &Connection,
    f: &DeliveryFilter,
    page: &PageRequest,
) -> Result<Page<DeliveryRecord>> {
    let mut sql = format!("SELECT {DELIVERY_COLS} FROM deliveries WHERE 1=1");
    let mut args: Vec<Value> = Vec::new();
    delivery_filter_sql(f, &mut sql, &mut args);
    if let Some(tok) = &page.token {
        let (c, id) = decode_token(tok)?;
        args.push(Value::Integer(c));
        let a = args.len();
        args.push(Value::Text(id));
        let b = args.len();
        sql.push_str(&format!(
            " AND (created_at < ?{a} OR (created_at = ?{a} AND id < ?{b}))"
        ));
    }
    let size = page_size(page);
    args.push(Value::Integer(i64::from(size) + 1));
    sql.push_str(&format!(
        " ORDER BY created_at DESC, id DESC LIMIT ?{}",
        args.len()
    ));
    let mut items = query_deliveries(conn, &sql, &args)?;
    let mut next_token = None;
    if items.len() > size as usize {
        items.truncate(size as usize);
        if let Some(last) = items.last() {
            next_token = Some(encode_token(ts(last.created_at)?, &last.id));
        }
    }
    Ok(Page { items, next_token })
}

pub(crate) fn events_since(
    conn: &Connection,
    transmission_id: &str,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<DeliveryEvent>> {
    let mut st = conn
        .prepare_cached(
            "SELECT seq, transmission_id, delivery_id, at, from_state, to_state, detail, late \
             FROM events WHERE transmission_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )
        .map_err(Error::db("prepare events"))?;
    let rows = st
        .query_map(params![transmission_id, after_seq, i64::from(limit)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, i64>(7)?,
            ))
        })
        .map_err(Error::db("query events"))?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, tx, d, at, from, to, detail, late) = row.map_err(Error::db("read events"))?;
        out.push(DeliveryEvent {
            seq,
            transmission_id: tx,
            delivery_id: d,
            at: from_ts(at),
            from: from
                .map(|f| parse_state("events.from_state", &f))
                .transpose()?,
            to: parse_state("events.to_state", &to)?,
            detail,
            late: late != 0,
        });
    }
    Ok(out)
}

pub(crate) fn is_paused(conn: &Connection, destination: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT paused FROM destinations WHERE destination = ?1")
        .map_err(Error::db("prepare paused"))?
        .query_row(params![destination], |r| r.get::<_, i64>(0))
        .optional()
        .map_err(Error::db("read paused"))?
        .unwrap_or(0)
        != 0)
}

pub(crate) fn paused_destinations(conn: &Connection) -> Result<Vec<String>> {
    let mut st = conn
        .prepare_cached(
            "SELECT destination FROM destinations WHERE paused = 1 ORDER BY destination",
        )
        .map_err(Error::db("prepare paused list"))?;
    st.query_map([], |r| r.get(0))
        .map_err(Error::db("list paused"))?
        .collect::<Result<_, _>>()
        .map_err(Error::db("list paused"))
}

pub(crate) fn destination_stats(
    conn: &Connection,
    now: OffsetDateTime,
) -> Result<Vec<DestinationStats>> {
    let mut st = conn
        .prepare_cached(
            "SELECT destination, \
               SUM(CASE WHEN state = 'queued' THEN 1 ELSE 0 END), \
               SUM(CASE WHEN state = 'in_flight' THEN 1 ELSE 0 END), \
               SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END), \
               MIN(CASE WHEN state IN ('queued', 'in_flight') THEN created_at END) \
             FROM deliveries WHERE state IN ('queued', 'in_flight', 'failed') \
             GROUP BY destination ORDER BY destination",
        )
        .map_err(Error::db("prepare stats"))?;
    let rows: Vec<(String, i64, i64, i64, Option<i64>)> = st
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .map_err(Error::db("stats"))?
        .collect::<Result<_, _>>()
        .map_err(Error::db("stats"))?;
    let paused = paused_destinations(conn)?;
    let mut out: Vec<DestinationStats> = rows
        .into_iter()
        .map(|(destination, q, f, failed, oldest)| DestinationStats {
            paused: paused.contains(&destination),
            destination,
            queued: q as u64,
            in_flight: f as u64,
            failed: failed as u64,
            oldest_pending_age: oldest.map(|o| {
                let age = now - from_ts(o);
                Duration::try_from(age).unwrap_or(Duration::ZERO)
            }),
        })
        .collect();
    for p in paused {
        if !out.iter().any(|s| s.destination == p) {
            out.push(DestinationStats {
                destination: p,
                queued: 0,
                in_flight: 0,
                failed: 0,
                oldest_pending_age: None,
                paused: true,
            });
        }
    }
    Ok(out)
}

fn audit_from_row(r: &Row<'_>) -> Result<AuditEntry, String> {
    let e = |x: rusqlite::Error| x.to_string();
    let hex32 = |s: String| Sha256::from_hex(&s).map_err(|x| x.to_string());
    Ok(AuditEntry {
        tenant: r.get(0).map_err(e)?,
        seq: r.get::<_, i64>(1).map_err(e)? as u64,
        at: from_ts(r.get(2).map_err(e)?),
        kind: r.get(3).map_err(e)?,
        actor: r.get(4).map_err(e)?,
        transmission_id: r.get(5).map_err(e)?,
        delivery_id: r.get(6).map_err(e)?,
        summary: r.get(7).map_err(e)?,
        data_sha256: r
            .get::<_, Option<String>>(8)
            .map_err(e)?
            .map(hex32)
            .transpose()?,
        prev_hash: hex32(r.get(9).map_err(e)?)?,
        hash: hex32(r.get(10).map_err(e)?)?,
    })
}

pub(crate) const AUDIT_COLS: &str = "tenant, seq, at, kind, actor, transmission_id, delivery_id, summary, data_sha256, prev_hash, hash";

pub(crate) fn audit_entries(
    conn: &Connection,
    tenant: &str,
    after_seq: u64,
    limit: u32,
) -> Result<Vec<AuditEntry>> {
    let sql = format!(
        "SELECT {AUDIT_COLS} FROM audit WHERE tenant = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
    );
    let mut st = conn
        .prepare_cached(&sql)
        .map_err(Error::db("prepare audit"))?;
    let mut rows = st
        .query(params![tenant, after_seq as i64, i64::from(limit)])
        .map_err(Error::db("query audit"))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(Error::db("read audit"))? {
        out.push(audit_from_row(r).map_err(|reason| Error::Corrupt {
            field: "audit",
            reason,
        })?);
    }
    Ok(out)
}

/// Walks every chain in (tenant, seq) order.
pub(crate) fn audit_walk(
    conn: &Connection,
    mut f: impl FnMut(Result<AuditEntry, (String, u64, String)>) -> bool,
) -> Result<()> {
    let sql = format!("SELECT {AUDIT_COLS} FROM audit ORDER BY tenant, seq");
    let mut st = conn
        .prepare(&sql)
        .map_err(Error::db("prepare audit walk"))?;
    let mut rows = st.query([]).map_err(Error::db("audit walk"))?;
    while let Some(r) = rows.next().map_err(Error::db("audit walk"))? {
        let item = audit_from_row(r).map_err(|why| {
            let tenant: String = r.get(0).unwrap_or_default();
            let seq: i64 = r.get(1).unwrap_or_default();
            (tenant, seq as u64, why)
        });
        if !f(item) {
            break;
        }
    }
    Ok(())
}

pub(crate) fn audit_heads(conn: &Connection) -> Result<Vec<(String, u64, Sha256)>> {
    let mut st = conn
        .prepare_cached(
            "SELECT a.tenant, a.seq, a.hash FROM audit a \
             JOIN (SELECT tenant, MAX(seq) AS m FROM audit GROUP BY tenant) h \
             ON a.tenant = h.tenant AND a.seq = h.m ORDER BY a.tenant",
        )
        .map_err(Error::db("prepare heads"))?;
    let rows: Vec<(String, i64, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(Error::db("heads"))?
        .collect::<Result<_, _>>()
        .map_err(Error::db("heads"))?;
    rows.into_iter()
        .map(|(t, s, h)| Ok((t, s as u64, Sha256::from_hex(&h)?)))
        .collect()
}
