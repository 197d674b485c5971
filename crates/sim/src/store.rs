//! Trades and refunds in a SQLite file (WAL), so a restarted simulator still
//! knows every trade, as the real channels would.
//!
//! Times are stored as Unix milliseconds (UTC). The schema version lives in
//! `PRAGMA user_version`; a file from a newer simulator is refused untouched.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::paycode::PayCode;
use crate::trade::{Channel, CloseReason, Phase, Refund, Trade};
use crate::SimError;

const SCHEMA_VERSION: i64 = 3;

const SCHEMA: &str = "
CREATE TABLE trades (
    channel       TEXT NOT NULL,
    out_trade_no  TEXT NOT NULL,
    trade_no      TEXT NOT NULL UNIQUE,
    qr_code       TEXT NOT NULL UNIQUE,
    amount_fen    INTEGER NOT NULL CHECK (amount_fen > 0),
    subject       TEXT NOT NULL,
    store_id      TEXT NOT NULL,
    operator_id   TEXT NOT NULL,
    terminal_id   TEXT NOT NULL,
    attach        TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    phase         TEXT NOT NULL,
    close_reason  TEXT,
    cancel_action TEXT,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    scanned_at    INTEGER,
    paid_at       INTEGER,
    closed_at     INTEGER,
    buyer_id      TEXT NOT NULL,
    buyer_logon   TEXT NOT NULL,
    refunded_fen  INTEGER NOT NULL CHECK (refunded_fen >= 0 AND refunded_fen <= amount_fen),
    PRIMARY KEY (channel, out_trade_no)
);
CREATE TABLE refunds (
    channel       TEXT NOT NULL,
    out_trade_no  TEXT NOT NULL,
    out_refund_no TEXT NOT NULL,
    refund_id     TEXT NOT NULL UNIQUE,
    amount_fen    INTEGER NOT NULL CHECK (amount_fen > 0),
    reason        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (channel, out_trade_no, out_refund_no),
    FOREIGN KEY (channel, out_trade_no) REFERENCES trades (channel, out_trade_no)
);
CREATE INDEX refunds_by_no ON refunds (channel, out_refund_no);
CREATE INDEX trades_by_paid ON trades (channel, paid_at);
CREATE INDEX refunds_by_time ON refunds (channel, created_at);
";

/// Version 2: each trade remembers where its payment notification goes.
const MIGRATE_TO_2: &str = "ALTER TABLE trades ADD COLUMN notify_url TEXT NOT NULL DEFAULT '';";

/// Version 3: payments by the customer's code (付款码). A trade remembers the
/// code it was paid with; the codes the simulated phones showed live in
/// their own table, each usable once.
const MIGRATE_TO_3: &str = "
ALTER TABLE trades ADD COLUMN auth_code TEXT NOT NULL DEFAULT '';
CREATE TABLE paycodes (
    code         TEXT PRIMARY KEY,
    channel      TEXT NOT NULL,
    password     INTEGER NOT NULL,
    balance_fen  INTEGER,
    issued_at    INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    out_trade_no TEXT
);
";

const TRADE_COLUMNS: &str = "channel, out_trade_no, trade_no, qr_code, amount_fen, subject, \
    store_id, operator_id, terminal_id, attach, fingerprint, phase, close_reason, cancel_action, \
    created_at, expires_at, scanned_at, paid_at, closed_at, buyer_id, buyer_logon, refunded_fen, \
    notify_url, auth_code";

const REFUND_COLUMNS: &str =
    "channel, out_trade_no, out_refund_no, refund_id, amount_fen, reason, created_at";

/// The open database. One connection, used under the simulator's lock.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, SimError> {
        let conn = Connection::open(path)?;
        // Pragmas outside any transaction; NORMAL is durable across a crash
        // of the process in WAL mode, which is all a simulator needs.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(SimError::IncompatibleDb {
                path: PathBuf::from(path),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        let mut store = Store { conn };
        // Each step in its own transaction, so a file stops at a known version.
        if version < 1 {
            let tx = store.conn.transaction()?;
            tx.execute_batch(SCHEMA)?;
            tx.pragma_update(None, "user_version", 1)?;
            tx.commit()?;
        }
        if version < 2 {
            let tx = store.conn.transaction()?;
            tx.execute_batch(MIGRATE_TO_2)?;
            tx.pragma_update(None, "user_version", 2)?;
            tx.commit()?;
        }
        if version < 3 {
            let tx = store.conn.transaction()?;
            tx.execute_batch(MIGRATE_TO_3)?;
            tx.pragma_update(None, "user_version", 3)?;
            tx.commit()?;
        }
        Ok(store)
    }

    pub fn trade(&self, channel: Channel, out_trade_no: &str) -> Result<Option<Trade>, SimError> {
        let sql =
            format!("SELECT {TRADE_COLUMNS} FROM trades WHERE channel = ?1 AND out_trade_no = ?2");
        Ok(self
            .conn
            .query_row(
                &sql,
                params![channel.as_str(), out_trade_no],
                trade_from_row,
            )
            .optional()?)
    }

    pub fn trade_by_trade_no(
        &self,
        channel: Channel,
        trade_no: &str,
    ) -> Result<Option<Trade>, SimError> {
        let sql =
            format!("SELECT {TRADE_COLUMNS} FROM trades WHERE channel = ?1 AND trade_no = ?2");
        Ok(self
            .conn
            .query_row(&sql, params![channel.as_str(), trade_no], trade_from_row)
            .optional()?)
    }

    pub fn trade_by_qr(&self, qr_code: &str) -> Result<Option<Trade>, SimError> {
        let sql = format!("SELECT {TRADE_COLUMNS} FROM trades WHERE qr_code = ?1");
        Ok(self
            .conn
            .query_row(&sql, params![qr_code], trade_from_row)
            .optional()?)
    }

    /// Every trade with this out_trade_no (one per channel at most).
    pub fn trades_by_out_trade_no(&self, out_trade_no: &str) -> Result<Vec<Trade>, SimError> {
        let sql = format!("SELECT {TRADE_COLUMNS} FROM trades WHERE out_trade_no = ?1");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![out_trade_no], trade_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// All trades, newest first.
    pub fn trades(&self) -> Result<Vec<Trade>, SimError> {
        let sql =
            format!("SELECT {TRADE_COLUMNS} FROM trades ORDER BY created_at DESC, rowid DESC");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([], trade_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Trades of a channel paid in `[from, to)`, oldest first.
    pub fn paid_between(
        &self,
        channel: Channel,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Trade>, SimError> {
        let sql = format!(
            "SELECT {TRADE_COLUMNS} FROM trades WHERE channel = ?1 AND paid_at >= ?2 AND paid_at < ?3 \
             ORDER BY paid_at, rowid"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![channel.as_str(), ms(from), ms(to)], trade_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Refunds of a channel made in `[from, to)`, oldest first.
    pub fn refunds_between(
        &self,
        channel: Channel,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Refund>, SimError> {
        let sql = format!(
            "SELECT {REFUND_COLUMNS} FROM refunds WHERE channel = ?1 AND created_at >= ?2 AND created_at < ?3 \
             ORDER BY created_at, rowid"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![channel.as_str(), ms(from), ms(to)], refund_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn refund(
        &self,
        channel: Channel,
        out_trade_no: &str,
        out_refund_no: &str,
    ) -> Result<Option<Refund>, SimError> {
        let sql = format!(
            "SELECT {REFUND_COLUMNS} FROM refunds WHERE channel = ?1 AND out_trade_no = ?2 AND out_refund_no = ?3"
        );
        Ok(self
            .conn
            .query_row(
                &sql,
                params![channel.as_str(), out_trade_no, out_refund_no],
                refund_from_row,
            )
            .optional()?)
    }

    /// A refund by its number alone (WeChat refund numbers are unique per
    /// merchant, not per order).
    pub fn refund_by_no(
        &self,
        channel: Channel,
        out_refund_no: &str,
    ) -> Result<Option<Refund>, SimError> {
        let sql = format!(
            "SELECT {REFUND_COLUMNS} FROM refunds WHERE channel = ?1 AND out_refund_no = ?2 ORDER BY rowid LIMIT 1"
        );
        Ok(self
            .conn
            .query_row(
                &sql,
                params![channel.as_str(), out_refund_no],
                refund_from_row,
            )
            .optional()?)
    }

    pub fn insert_trade(&mut self, t: &Trade) -> Result<(), SimError> {
        let sql = format!(
            "INSERT INTO trades ({TRADE_COLUMNS}) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)"
        );
        self.conn
            .execute(&sql, rusqlite::params_from_iter(trade_params(t).iter()))?;
        Ok(())
    }

    pub fn update_trade(&mut self, t: &Trade) -> Result<(), SimError> {
        let tx = self.conn.transaction()?;
        write_trade(&tx, t)?;
        tx.commit()?;
        Ok(())
    }

    /// Record a refund and the trade it changed, atomically.
    pub fn record_refund(&mut self, t: &Trade, r: &Refund) -> Result<(), SimError> {
        let tx = self.conn.transaction()?;
        write_trade(&tx, t)?;
        let sql =
            format!("INSERT INTO refunds ({REFUND_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
        tx.execute(
            &sql,
            params![
                r.channel.as_str(),
                r.out_trade_no,
                r.out_refund_no,
                r.refund_id,
                r.amount_fen,
                r.reason,
                ms(r.created_at)
            ],
        )?;
        tx.commit()?;
        Ok(())
    }
}

impl Store {
    pub fn insert_paycode(&mut self, c: &PayCode) -> Result<(), SimError> {
        self.conn.execute(
            &format!(
                "INSERT INTO paycodes ({PAYCODE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ),
            params![
                c.code,
                c.channel.as_str(),
                c.password,
                c.balance_fen,
                ms(c.issued_at),
                ms(c.expires_at),
                c.out_trade_no
            ],
        )?;
        Ok(())
    }

    pub fn paycode(&self, code: &str) -> Result<Option<PayCode>, SimError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {PAYCODE_COLUMNS} FROM paycodes WHERE code = ?1"),
                params![code],
                paycode_from_row,
            )
            .optional()?)
    }

    /// Every code, newest first.
    pub fn paycodes(&self) -> Result<Vec<PayCode>, SimError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {PAYCODE_COLUMNS} FROM paycodes ORDER BY issued_at DESC, rowid DESC"
        ))?;
        let rows = stmt.query_map([], paycode_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A trade paid with a code, and the code marked as used by it, in one
    /// transaction: a code can never back two trades.
    pub fn insert_code_trade(&mut self, t: &Trade) -> Result<(), SimError> {
        let tx = self.conn.transaction()?;
        let sql = format!(
            "INSERT INTO trades ({TRADE_COLUMNS}) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)"
        );
        tx.execute(&sql, rusqlite::params_from_iter(trade_params(t).iter()))?;
        let used = tx.execute(
            "UPDATE paycodes SET out_trade_no = ?2 WHERE code = ?1 AND out_trade_no IS NULL",
            params![t.auth_code, t.out_trade_no],
        )?;
        if used != 1 {
            return Err(SimError::Db(rusqlite::Error::StatementChangedRows(used)));
        }
        tx.commit()?;
        Ok(())
    }
}

const PAYCODE_COLUMNS: &str =
    "code, channel, password, balance_fen, issued_at, expires_at, out_trade_no";

fn paycode_from_row(row: &Row<'_>) -> rusqlite::Result<PayCode> {
    let channel: String = row.get(1)?;
    Ok(PayCode {
        code: row.get(0)?,
        channel: Channel::parse(&channel).ok_or_else(|| bad_text(1, "channel"))?,
        password: row.get(2)?,
        balance_fen: row.get(3)?,
        issued_at: from_ms(row.get(4)?)?,
        expires_at: from_ms(row.get(5)?)?,
        out_trade_no: row.get(6)?,
    })
}

fn write_trade(conn: &Connection, t: &Trade) -> Result<(), SimError> {
    // Replace the whole row: the life-cycle code owns every field.
    let sql = format!(
        "UPDATE trades SET ({TRADE_COLUMNS}) = \
         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24) \
         WHERE channel = ?1 AND out_trade_no = ?2"
    );
    conn.execute(&sql, rusqlite::params_from_iter(trade_params(t).iter()))?;
    Ok(())
}

fn trade_params(t: &Trade) -> Vec<Box<dyn rusqlite::ToSql + '_>> {
    vec![
        Box::new(t.channel.as_str()),
        Box::new(t.out_trade_no.as_str()),
        Box::new(t.trade_no.as_str()),
        Box::new(t.qr_code.as_str()),
        Box::new(t.amount_fen),
        Box::new(t.subject.as_str()),
        Box::new(t.store_id.as_str()),
        Box::new(t.operator_id.as_str()),
        Box::new(t.terminal_id.as_str()),
        Box::new(t.attach.as_str()),
        Box::new(t.fingerprint.as_str()),
        Box::new(t.phase.as_str()),
        Box::new(t.close_reason.map(CloseReason::as_str)),
        Box::new(t.cancel_action.as_deref()),
        Box::new(ms(t.created_at)),
        Box::new(ms(t.expires_at)),
        Box::new(t.scanned_at.map(ms)),
        Box::new(t.paid_at.map(ms)),
        Box::new(t.closed_at.map(ms)),
        Box::new(t.buyer_id.as_str()),
        Box::new(t.buyer_logon.as_str()),
        Box::new(t.refunded_fen),
        Box::new(t.notify_url.as_str()),
        Box::new(t.auth_code.as_str()),
    ]
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(v).ok_or(rusqlite::Error::IntegralValueOutOfRange(0, v))
}

fn opt_ms(v: Option<i64>) -> rusqlite::Result<Option<DateTime<Utc>>> {
    v.map(from_ms).transpose()
}

fn bad_text(col: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        col,
        rusqlite::types::Type::Text,
        format!("unknown {what}").into(),
    )
}

fn trade_from_row(row: &Row<'_>) -> rusqlite::Result<Trade> {
    let channel: String = row.get(0)?;
    let phase: String = row.get(11)?;
    let reason: Option<String> = row.get(12)?;
    Ok(Trade {
        channel: Channel::parse(&channel).ok_or_else(|| bad_text(0, "channel"))?,
        out_trade_no: row.get(1)?,
        trade_no: row.get(2)?,
        qr_code: row.get(3)?,
        amount_fen: row.get(4)?,
        subject: row.get(5)?,
        store_id: row.get(6)?,
        operator_id: row.get(7)?,
        terminal_id: row.get(8)?,
        attach: row.get(9)?,
        fingerprint: row.get(10)?,
        phase: Phase::parse(&phase).ok_or_else(|| bad_text(11, "phase"))?,
        close_reason: reason
            .map(|r| CloseReason::parse(&r).ok_or_else(|| bad_text(12, "close reason")))
            .transpose()?,
        cancel_action: row.get(13)?,
        created_at: from_ms(row.get(14)?)?,
        expires_at: from_ms(row.get(15)?)?,
        scanned_at: opt_ms(row.get(16)?)?,
        paid_at: opt_ms(row.get(17)?)?,
        closed_at: opt_ms(row.get(18)?)?,
        buyer_id: row.get(19)?,
        buyer_logon: row.get(20)?,
        refunded_fen: row.get(21)?,
        notify_url: row.get(22)?,
        auth_code: row.get(23)?,
    })
}

fn refund_from_row(row: &Row<'_>) -> rusqlite::Result<Refund> {
    let channel: String = row.get(0)?;
    Ok(Refund {
        channel: Channel::parse(&channel).ok_or_else(|| bad_text(0, "channel"))?,
        out_trade_no: row.get(1)?,
        out_refund_no: row.get(2)?,
        refund_id: row.get(3)?,
        amount_fen: row.get(4)?,
        reason: row.get(5)?,
        created_at: from_ms(row.get(6)?)?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_file_is_migrated_and_keeps_its_trades() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.sqlite3");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(SCHEMA).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO trades (channel, out_trade_no, trade_no, qr_code, amount_fen, subject, \
                 store_id, operator_id, terminal_id, attach, fingerprint, phase, created_at, \
                 expires_at, buyer_id, buyer_logon, refunded_fen) VALUES \
                 ('wechat', 'T000001', 'N1', 'Q1', 1230, 's', '', '', '', '', 'f', 'waiting', \
                 1700000000000, 1700000300000, '', '', 0)",
                [],
            )
            .unwrap();
        }
        let mut store = Store::open(&path).unwrap();
        let version: i64 = store
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let mut t = store.trade(Channel::Wechat, "T000001").unwrap().unwrap();
        assert_eq!((t.amount_fen, t.notify_url.as_str()), (1230, ""));
        t.notify_url = "http://127.0.0.1:1/notify".into();
        store.update_trade(&t).unwrap();
        drop(store);
        // Opening again migrates nothing and keeps the new column's value.
        let store = Store::open(&path).unwrap();
        let again = store.trade(Channel::Wechat, "T000001").unwrap().unwrap();
        assert_eq!(again, t);
    }

    #[test]
    fn a_newer_file_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v9.sqlite3");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        assert!(matches!(
            Store::open(&path),
            Err(SimError::IncompatibleDb { found, .. }) if found == SCHEMA_VERSION + 1
        ));
    }
}
