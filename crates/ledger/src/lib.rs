//! The terminal's ledger: one SQLite file per terminal, written before any
//! channel is asked anything, so a crash or power cut at any moment leaves a
//! record that can be reconciled.
//!
//! The ledger is an append-only log of events plus a projection of each
//! order's current state. Every state change appends its event and updates
//! the projection in one transaction, so the two never disagree. Events carry
//! a per-terminal sequence number without gaps; that is what sync ships to
//! head office.
//!
//! Files are opened carefully: a file that is not a ledger, or a ledger of a
//! newer schema, is refused and left untouched; a ledger held by another
//! program is reported as locked after a short wait rather than hanging.
//!
//! Parts: [`open`](Ledger::open)/[`create`](Ledger::create) and the pragmas
//! here, migrations in `schema` (an upgrade copies the file first), copies
//! taken while selling in `backup`, the order operations in `orders`, bulk history
//! for benchmarks in `seed`, what a channel's bill is checked against in
//! `bills`.
//!
//! The ledger owns its SQL: no connection leaves this crate; callers get
//! typed methods and typed records.

pub mod audit;
pub mod backup;
pub mod bills;
pub mod code_payments;
pub mod devices;
mod error;
pub mod kinds;
mod orders;
pub mod refunds;
pub mod reports;
mod schema;
pub mod seed;
pub mod shifts;
pub mod suspensions;
pub mod users;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use shouyin_core::{BusinessCalendar, TerminalId};

pub use code_payments::CodePayment;
pub use error::{LedgerError, Result};
pub use orders::{CashTender, Change, Event, NewOrder, Order, OrderFilter};
pub use schema::{MIGRATIONS, SCHEMA_VERSION};

/// How long a write waits for another program's lock before reporting it.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// What a new terminal's ledger is created with.
#[derive(Debug, Clone)]
pub struct TerminalSetup {
    pub store: String,
    pub terminal: TerminalId,
    pub calendar: BusinessCalendar,
    pub sale_limit_fen: i64,
}

/// The terminal this ledger belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalRecord {
    pub store: String,
    pub terminal: TerminalId,
    pub calendar: BusinessCalendar,
    pub sale_limit_fen: i64,
}

#[derive(Debug)]
pub struct Ledger {
    conn: Connection,
    path: PathBuf,
    terminal: TerminalRecord,
}

impl Ledger {
    /// Create a new ledger file. Refuses to touch an existing file.
    pub fn create(path: &Path, setup: &TerminalSetup, now: DateTime<Utc>) -> Result<Ledger> {
        if path.exists() {
            return Err(LedgerError::AlreadyExists(path.to_owned()));
        }
        if setup.store.trim().is_empty() {
            return Err(LedgerError::Invalid("the store name is empty".into()));
        }
        if setup.sale_limit_fen <= 0 {
            return Err(LedgerError::Invalid(
                "the per-sale limit must be above zero".into(),
            ));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags)?;
        set_pragmas(&conn)?;
        migrate(&mut conn, path)?;
        conn.execute(
            "INSERT INTO terminal (id, store, terminal_id, timezone, day_cutoff, sale_limit_fen, created_at)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)",
            (
                setup.store.trim(),
                setup.terminal.as_str(),
                setup.calendar.timezone.name(),
                setup.calendar.day_cutoff.format("%H:%M").to_string(),
                setup.sale_limit_fen,
                ts(now),
            ),
        )?;
        Ledger::from_connection(conn, path)
    }

    /// Open an existing ledger for reading and writing, applying any pending
    /// migrations.
    pub fn open(path: &Path) -> Result<Ledger> {
        check_file(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn =
            Connection::open_with_flags(path, flags).map_err(|e| not_a_ledger(path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Look before writing anything: even switching the journal mode
        // rewrites the header of someone else's database.
        let version = check_schema(&conn, path)?;
        if version < SCHEMA_VERSION {
            // An upgrade: keep the ledger as the older program left it
            // before touching it; no copy, no migration.
            let copy = backup::before_migration(path, SCHEMA_VERSION)?;
            tracing::info!(
                from = version,
                to = SCHEMA_VERSION,
                copy = %copy.path.display(),
                "migrating the ledger after a backup"
            );
        }
        set_pragmas(&conn).map_err(|e| not_a_ledger(path, e))?;
        migrate(&mut conn, path)?;
        Ledger::from_connection(conn, path)
    }

    /// Open for reading only (reports, exports, other processes looking in).
    pub fn open_read_only(path: &Path) -> Result<Ledger> {
        check_file(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| not_a_ledger(path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let version = check_schema(&conn, path)?;
        if version < SCHEMA_VERSION {
            return Err(LedgerError::Migration(format!(
                "the ledger at {} has schema version {version}; open it once read-write to upgrade",
                path.display()
            )));
        }
        Ledger::from_connection(conn, path)
    }

    fn from_connection(conn: Connection, path: &Path) -> Result<Ledger> {
        let terminal = read_terminal(&conn, path)?;
        Ok(Ledger {
            conn,
            path: path.to_owned(),
            terminal,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Set a fresh ledger's store, terminal id and business day: the
    /// first-start set-up. Refused once a user or an order was recorded:
    /// order numbers carry the terminal id, and business dates the time
    /// zone and cut-off (shifts and refunds need a user first). Audit
    /// entries and their events may exist: a command refused before the
    /// set-up is logged, and names no terminal.
    pub fn set_up_terminal(&mut self, setup: &TerminalSetup) -> Result<()> {
        if setup.store.trim().is_empty() {
            return Err(LedgerError::Invalid("the store name is empty".into()));
        }
        let tx = self.conn.transaction()?;
        let used: i64 = tx.query_row(
            "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM orders)",
            [],
            |r| r.get(0),
        )?;
        if used > 0 {
            return Err(LedgerError::Invalid(
                "this ledger is already in use; its store and terminal are set".into(),
            ));
        }
        tx.execute(
            "UPDATE terminal SET store = ?1, terminal_id = ?2, timezone = ?3, day_cutoff = ?4
             WHERE id = 1",
            (
                setup.store.trim(),
                setup.terminal.as_str(),
                setup.calendar.timezone.name(),
                setup.calendar.day_cutoff.format("%H:%M").to_string(),
            ),
        )?;
        tx.commit()?;
        self.terminal = read_terminal(&self.conn, &self.path)?;
        Ok(())
    }

    pub fn terminal(&self) -> &TerminalRecord {
        &self.terminal
    }

    pub fn calendar(&self) -> &BusinessCalendar {
        &self.terminal.calendar
    }

    /// How this connection writes: what the file promises about durability.
    pub fn durability(&self) -> Result<Durability> {
        let journal_mode: String = self
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        let synchronous: i64 = self
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))?;
        let foreign_keys: bool = self
            .conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
        Ok(Durability {
            journal_mode,
            synchronous_full: synchronous >= 2,
            foreign_keys,
        })
    }
}

/// The pragmas a ledger connection runs with (see `set_pragmas`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durability {
    /// `wal` for every ledger.
    pub journal_mode: String,
    /// `synchronous = FULL` (or stricter): a commit is on disk when it returns.
    pub synchronous_full: bool,
    pub foreign_keys: bool,
}

fn set_pragmas(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // WAL: readers (reports, exports, the app's list) never block the till's
    // writes. synchronous=FULL: a commit is on disk before we call a channel.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidQuery);
    }
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
    Ok(())
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// The schema version of an existing file, refusing one that is newer than
/// this binary or that belongs to another program. Reads only.
fn check_schema(conn: &Connection, path: &Path) -> Result<i64> {
    let version = user_version(conn).map_err(|e| not_a_ledger(path, e))?;
    if version > SCHEMA_VERSION {
        return Err(LedgerError::TooNew {
            path: path.to_owned(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    let has_terminal: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'terminal'",
            [],
            |r| r.get(0),
        )
        .map_err(|e| not_a_ledger(path, e))?;
    if has_terminal == 0 {
        return Err(LedgerError::NotALedger {
            path: path.to_owned(),
            reason: "it is an SQLite database without a terminal record".into(),
        });
    }
    Ok(version)
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let version = user_version(conn).map_err(|e| not_a_ledger(path, e))?;
    if version > SCHEMA_VERSION {
        return Err(LedgerError::TooNew {
            path: path.to_owned(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    schema::migrations().to_latest(conn).map_err(|e| match e {
        rusqlite_migration::Error::RusqliteError { err, .. } if error::is_busy(&err) => {
            LedgerError::Locked
        }
        other => LedgerError::Migration(other.to_string()),
    })
}

/// Refuse anything that is not an SQLite file before SQLite sees it, so a
/// wrong path can never be turned into an empty database.
fn check_file(path: &Path) -> Result<()> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LedgerError::Missing(path.to_owned()))
        }
        Err(source) => {
            return Err(LedgerError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    let mut header = [0u8; 16];
    let mut read = 0;
    while read < header.len() {
        match file.read(&mut header[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(source) => {
                return Err(LedgerError::Io {
                    path: path.to_owned(),
                    source,
                })
            }
        }
    }
    if read == 0 {
        return Err(LedgerError::NotALedger {
            path: path.to_owned(),
            reason: "the file is empty".into(),
        });
    }
    if read < header.len() || &header != SQLITE_HEADER {
        return Err(LedgerError::NotALedger {
            path: path.to_owned(),
            reason: "it is not an SQLite database".into(),
        });
    }
    Ok(())
}

fn not_a_ledger(path: &Path, e: rusqlite::Error) -> LedgerError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) | Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
            LedgerError::NotALedger {
                path: path.to_owned(),
                reason: format!("SQLite reports: {e}"),
            }
        }
        _ => LedgerError::from(e),
    }
}

fn read_terminal(conn: &Connection, path: &Path) -> Result<TerminalRecord> {
    let row = conn
        .query_row(
            "SELECT store, terminal_id, timezone, day_cutoff, sale_limit_fen FROM terminal WHERE id = 1",
            [],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            },
        )
        .optional()?;
    let Some((store, terminal, tz, cutoff, sale_limit_fen)) = row else {
        return Err(LedgerError::NotALedger {
            path: path.to_owned(),
            reason: "it has no terminal record".into(),
        });
    };
    let bad = |reason: String| LedgerError::NotALedger {
        path: path.to_owned(),
        reason,
    };
    Ok(TerminalRecord {
        store,
        terminal: TerminalId::parse(&terminal).map_err(|e| bad(e.to_string()))?,
        calendar: BusinessCalendar::parse(&tz, &cutoff).map_err(|e| bad(e.to_string()))?,
        sale_limit_fen,
    })
}

/// Instants are stored as RFC 3339 UTC text with milliseconds, which sorts
/// the same as time.
pub fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}
