//! Forward-only migrations. Each entry is applied once, in order; the
//! database's `user_version` says how many have been applied. Never edit a
//! migration that has shipped: add a new one.

use rusqlite_migration::{Migrations, M};

pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the terminal, orders (projection) and events (append-only log).
    r#"
CREATE TABLE terminal (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    store           TEXT NOT NULL,
    terminal_id     TEXT NOT NULL,
    timezone        TEXT NOT NULL,
    day_cutoff      TEXT NOT NULL,
    sale_limit_fen  INTEGER NOT NULL CHECK (sale_limit_fen > 0),
    created_at      TEXT NOT NULL
);

CREATE TABLE orders (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    out_trade_no     TEXT NOT NULL UNIQUE,
    store            TEXT NOT NULL,
    terminal         TEXT NOT NULL,
    cashier          TEXT,
    amount_fen       INTEGER NOT NULL CHECK (amount_fen > 0),
    currency         TEXT NOT NULL,
    channel          TEXT NOT NULL,
    state            TEXT NOT NULL,
    channel_trade_no TEXT,
    qr_payload       TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    paid_at          TEXT,
    expires_at       TEXT,
    refunded_fen     INTEGER NOT NULL DEFAULT 0
                     CHECK (refunded_fen >= 0 AND refunded_fen <= amount_fen),
    note             TEXT,
    business_date    TEXT NOT NULL
);
CREATE INDEX orders_by_business_date ON orders (business_date, channel);
CREATE INDEX orders_open ON orders (state)
    WHERE state IN ('created', 'pending', 'unknown', 'unverified');

-- seq is the terminal's event sequence: strictly increasing, without gaps
-- (assigned as max + 1 inside the writing transaction). It is what sync ships.
CREATE TABLE events (
    seq       INTEGER PRIMARY KEY,
    order_id  INTEGER REFERENCES orders (id),
    kind      TEXT NOT NULL,
    payload   TEXT NOT NULL CHECK (json_valid(payload)),
    at        TEXT NOT NULL
);
CREATE INDEX events_by_order ON events (order_id);

CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'ledger events are append-only'); END;
CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'ledger events are append-only'); END;
"#,
    // 2: why an order ended as it did (the channel's refusal, "expired",
    // "cancelled by the cashier"), for the screen and the history.
    r#"
ALTER TABLE orders ADD COLUMN reason TEXT;
"#,
];

pub(crate) fn migrations() -> Migrations<'static> {
    Migrations::new(MIGRATIONS.iter().map(|sql| M::up(sql)).collect())
}

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;
