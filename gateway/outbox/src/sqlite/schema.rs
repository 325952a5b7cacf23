//! Schema. Portable SQL (SQLite and PostgreSQL): TEXT ids, INTEGER unix nanoseconds, 0/1 flags,
//! `ON CONFLICT … DO UPDATE`; the only SQLite-specific part is the AUTOINCREMENT event sequence
//! (BIGSERIAL in PostgreSQL). Inbox tables (received MSSanté messages) will be added as version 2.

pub const VERSION: i64 = 1;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS transmissions (
    id                  TEXT PRIMARY KEY,
    tenant              TEXT NOT NULL,
    idempotency_key     TEXT NOT NULL,
    request_sha256      TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    child_ref           TEXT NOT NULL,
    document_ids        TEXT NOT NULL,
    kinds               TEXT NOT NULL,
    replaces_id         TEXT,
    decision_json       BLOB NOT NULL,
    payloads_pruned_at  INTEGER,
    UNIQUE (tenant, idempotency_key)
);
CREATE INDEX IF NOT EXISTS transmissions_list ON transmissions (created_at, id);
CREATE INDEX IF NOT EXISTS transmissions_child ON transmissions (tenant, child_ref);
-- Prune visits only transmissions that still hold payloads.
CREATE INDEX IF NOT EXISTS transmissions_unpruned ON transmissions (payloads_pruned_at, created_at);

CREATE TABLE IF NOT EXISTS deliveries (
    id                    TEXT PRIMARY KEY,
    transmission_id       TEXT NOT NULL REFERENCES transmissions (id),
    ord                   INTEGER NOT NULL,
    tenant                TEXT NOT NULL,
    target_id             TEXT NOT NULL,
    channel               TEXT NOT NULL,
    recipient             TEXT NOT NULL,
    destination           TEXT NOT NULL,
    document_ids          TEXT NOT NULL,
    state                 TEXT NOT NULL,
    attempts              INTEGER NOT NULL,
    next_attempt_at       INTEGER,
    expires_at            INTEGER NOT NULL,
    lease_owner           TEXT,
    lease_epoch           INTEGER NOT NULL,
    lease_until           INTEGER,
    outcome_unknown       INTEGER NOT NULL,
    message_id            TEXT,
    err_origin            TEXT,
    err_reason            TEXT,
    err_message           TEXT,
    err_retryable         INTEGER,
    err_remote_code       TEXT,
    read_receipt_expected INTEGER NOT NULL,
    notify_by             INTEGER,
    mdn_by                INTEGER,
    disposition           TEXT,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    final_at              INTEGER
);
-- Partial indexes: a row is indexed only in the states its queries look for, so each insert or
-- state change maintains few of them (the writer's cost per submission). Stores created before
-- lose the full-width indexes these replace.
DROP INDEX IF EXISTS deliveries_due;
DROP INDEX IF EXISTS deliveries_lease;
DROP INDEX IF EXISTS deliveries_next;
DROP INDEX IF EXISTS deliveries_until;
DROP INDEX IF EXISTS deliveries_notify;
-- Claims, per destination.
CREATE INDEX IF NOT EXISTS deliveries_queued ON deliveries (destination, next_attempt_at, id)
    WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS deliveries_leased ON deliveries (destination, lease_until)
    WHERE state = 'in_flight';
-- Gauges, expiry sweep, DSN timeout sweep, transmission reads.
CREATE INDEX IF NOT EXISTS deliveries_state ON deliveries (state, destination, created_at);
CREATE INDEX IF NOT EXISTS deliveries_expiry ON deliveries (state, expires_at);
CREATE INDEX IF NOT EXISTS deliveries_awaiting_dsn ON deliveries (notify_by)
    WHERE state = 'sent';
CREATE INDEX IF NOT EXISTS deliveries_tx ON deliveries (transmission_id, ord);

CREATE TABLE IF NOT EXISTS blobs (
    sha256   TEXT PRIMARY KEY,
    size     INTEGER NOT NULL,
    refcount INTEGER NOT NULL
);

-- Small payloads committed with the rows that reference them (no file); same refcount as files.
CREATE TABLE IF NOT EXISTS blob_data (
    sha256 TEXT PRIMARY KEY,
    bytes  BLOB NOT NULL
);

-- owner = a delivery id (its payloads) or a transmission id (kind 't').
CREATE TABLE IF NOT EXISTS payload_refs (
    owner_kind TEXT NOT NULL,
    owner_id   TEXT NOT NULL,
    ord        INTEGER NOT NULL,
    name       TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    PRIMARY KEY (owner_kind, owner_id, ord)
);

CREATE TABLE IF NOT EXISTS events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    transmission_id TEXT NOT NULL,
    delivery_id     TEXT NOT NULL,
    at              INTEGER NOT NULL,
    from_state      TEXT,
    to_state        TEXT NOT NULL,
    detail          TEXT NOT NULL,
    late            INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_tx ON events (transmission_id, seq);

-- Notifications that arrived while their delivery's attempt was still in flight (a fast operator's
-- DSN can beat the worker's own record of the send): applied, in order, once the attempt ends.
CREATE TABLE IF NOT EXISTS held_notices (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id     TEXT NOT NULL,
    received_at     INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    detail          TEXT NOT NULL,
    err_origin      TEXT,
    err_reason      TEXT,
    err_message     TEXT,
    err_retryable   INTEGER,
    err_remote_code TEXT
);
CREATE INDEX IF NOT EXISTS held_notices_delivery ON held_notices (delivery_id, seq);

CREATE TABLE IF NOT EXISTS destinations (
    destination TEXT PRIMARY KEY,
    paused      INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS audit (
    tenant          TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    at              INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    actor           TEXT NOT NULL,
    transmission_id TEXT,
    delivery_id     TEXT,
    summary         TEXT NOT NULL,
    data_sha256     TEXT,
    prev_hash       TEXT NOT NULL,
    hash            TEXT NOT NULL,
    PRIMARY KEY (tenant, seq)
);
";
