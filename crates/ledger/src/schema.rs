//! Forward-only migrations. Each entry is applied once, in order; the
//! database's `user_version` says how many have been applied. Never edit a
//! migration that has shipped: add a new one.

use rusqlite_migration::{Migrations, M};

/// The migrations, in order (public so upgrade tests can build old ledgers).
pub const MIGRATIONS: &[&str] = &[
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
    // 3: the people at the till, refunds, shifts and cash movements, and the
    // hash-chained audit log of actions that need a manager.
    r#"
ALTER TABLE orders ADD COLUMN approver TEXT;

CREATE TABLE users (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT NOT NULL UNIQUE,
    -- comma-separated: cashier, manager, accountant
    roles            TEXT NOT NULL,
    -- Argon2id in PHC string form; never the PIN itself
    pin_hash         TEXT NOT NULL,
    failed_attempts  INTEGER NOT NULL DEFAULT 0,
    lockouts         INTEGER NOT NULL DEFAULT 0,
    locked_until     TEXT,
    active           INTEGER NOT NULL DEFAULT 1,
    created_at       TEXT NOT NULL
);

CREATE TABLE refunds (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id           INTEGER NOT NULL REFERENCES orders (id),
    -- the refund's own request number: the channel's idempotency key
    out_refund_no      TEXT NOT NULL UNIQUE,
    amount_fen         INTEGER NOT NULL CHECK (amount_fen > 0),
    -- requested | processing | succeeded | failed | unknown
    state              TEXT NOT NULL,
    reason             TEXT,
    requested_by       TEXT,
    approver           TEXT,
    requested_at       TEXT NOT NULL,
    settled_at         TEXT,
    -- the business day the money went back (reports count refunds on their own day)
    business_date      TEXT NOT NULL,
    channel_refund_no  TEXT
);
CREATE INDEX refunds_by_order ON refunds (order_id);
CREATE INDEX refunds_by_business_date ON refunds (business_date);

CREATE TABLE shifts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    cashier       TEXT NOT NULL,
    opened_at     TEXT NOT NULL,
    float_fen     INTEGER NOT NULL CHECK (float_fen >= 0),
    closed_at     TEXT,
    counted_fen   INTEGER,
    expected_fen  INTEGER,
    -- the Z report as it was at close (JSON), so reprints never change
    report        TEXT
);
CREATE TRIGGER closed_shifts_are_immutable BEFORE UPDATE ON shifts
WHEN OLD.closed_at IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'a closed shift cannot be changed'); END;

CREATE TABLE cash_movements (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    shift_id    INTEGER NOT NULL REFERENCES shifts (id),
    kind        TEXT NOT NULL CHECK (kind IN ('pay_in', 'pay_out', 'drawer_open')),
    amount_fen  INTEGER NOT NULL CHECK (amount_fen >= 0),
    reason      TEXT NOT NULL,
    actor       TEXT NOT NULL,
    approver    TEXT,
    at          TEXT NOT NULL
);

-- Each entry carries the hash of the one before it; `verify` recomputes the
-- chain, so an edited or deleted entry is found even by someone who can
-- write to the file.
CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    approver   TEXT,
    action     TEXT NOT NULL,
    detail     TEXT NOT NULL CHECK (json_valid(detail)),
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE TRIGGER audit_is_append_only_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_is_append_only_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"#,
    // 4: every sale and refund belongs to the shift that was open when it
    // was taken (a cash one cannot be taken without one), so a shift's
    // takings are what it holds, not what fell into its time span; a cash
    // sale keeps what the customer handed over and the change given.
    r#"
ALTER TABLE orders ADD COLUMN shift_id INTEGER REFERENCES shifts (id);
ALTER TABLE orders ADD COLUMN tendered_fen INTEGER
    CHECK (tendered_fen IS NULL OR tendered_fen >= amount_fen);
ALTER TABLE orders ADD COLUMN change_fen INTEGER
    CHECK (change_fen IS NULL OR (change_fen >= 0 AND change_fen = tendered_fen - amount_fen));
ALTER TABLE refunds ADD COLUMN shift_id INTEGER REFERENCES shifts (id);
CREATE INDEX orders_by_shift ON orders (shift_id) WHERE shift_id IS NOT NULL;
CREATE INDEX refunds_by_shift ON refunds (shift_id) WHERE shift_id IS NOT NULL;

-- What was taken before this version: the shift whose open span holds it.
UPDATE orders SET shift_id = (
    SELECT s.id FROM shifts s
    WHERE s.opened_at <= orders.created_at
      AND (s.closed_at IS NULL OR s.closed_at >= orders.created_at)
    ORDER BY s.id DESC LIMIT 1);
UPDATE refunds SET shift_id = (
    SELECT s.id FROM shifts s
    WHERE s.opened_at <= refunds.requested_at
      AND (s.closed_at IS NULL OR s.closed_at >= refunds.requested_at)
    ORDER BY s.id DESC LIMIT 1);
"#,
    // 5: the backups taken of this ledger, good and failed, so settings show
    // the last one and a failure stays visible until a good one follows.
    r#"
CREATE TABLE backups (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT NOT NULL,
    -- daily | shift | manual
    reason    TEXT NOT NULL,
    file      TEXT,
    bytes     INTEGER,
    last_seq  INTEGER,
    took_ms   INTEGER,
    -- NULL for a good copy; the code is the app's error code
    error     TEXT,
    error_code TEXT
);
"#,
    // 6: payments by the customer's code (付款码). One row per code payment:
    // the code itself is never kept, only its SHA-256, unique so the same
    // code can never be sent for a second order; and when the channel's
    // password window ends.
    r#"
CREATE TABLE code_payments (
    order_id        INTEGER PRIMARY KEY REFERENCES orders (id),
    code_sha256     TEXT NOT NULL UNIQUE,
    window_ends_at  TEXT NOT NULL
);
"#,
    // 7: the till's devices: printer and speech settings, the print queue
    // (a job outlives a restart until it is printed or given up), and the
    // payments already announced aloud (each once, even across restarts).
    r#"
CREATE TABLE device_settings (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    settings  TEXT NOT NULL CHECK (json_valid(settings))
);

CREATE TABLE print_jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id    INTEGER REFERENCES orders (id),
    kind        TEXT NOT NULL
                CHECK (kind IN ('receipt', 'reprint', 'refund_slip', 'z_report', 'test_page')),
    -- the ESC/POS bytes, rendered when the job was queued
    data        BLOB NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('queued', 'printed', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
-- A sale's own receipt is queued once, however often the order is seen paid.
CREATE UNIQUE INDEX print_jobs_one_receipt ON print_jobs (order_id) WHERE kind = 'receipt';
CREATE INDEX print_jobs_by_order ON print_jobs (order_id);
CREATE INDEX print_jobs_queued ON print_jobs (state) WHERE state = 'queued';

CREATE TABLE announcements (
    -- the channel's transaction number (a cash sale: its order number)
    payment_key  TEXT PRIMARY KEY,
    order_id     INTEGER REFERENCES orders (id),
    text         TEXT NOT NULL,
    at           TEXT NOT NULL
);
"#,
    // 8: channels head office has suspended for this store, as last sent
    // over the relay (a new charge on one is refused).
    r#"
CREATE TABLE channel_suspensions (
    channel      TEXT PRIMARY KEY,
    reason       TEXT NOT NULL,
    since        TEXT NOT NULL,
    all_stores   INTEGER NOT NULL CHECK (all_stores IN (0, 1)),
    received_at  TEXT NOT NULL
);
"#,
];

pub(crate) fn migrations() -> Migrations<'static> {
    Migrations::new(MIGRATIONS.iter().map(|sql| M::up(sql)).collect())
}

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;
