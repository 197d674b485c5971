//! The SQLite backend: one file in WAL mode, durable commits, a writer
//! connection and a reader connection. rusqlite blocks, so every call runs on
//! tokio's blocking pool and never stalls the async workers.
//!
//! Writes take `BEGIN IMMEDIATE`, so two server processes on one file (not
//! the intended set-up, but not a corruption either) queue on SQLite's lock
//! (`busy_timeout`) instead of failing half-way.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use shouyin_core::TerminalId;

use super::{
    acked_after_fresh_batch, advance_through_batch, classify, column_to_scope, ms_to_time,
    scope_to_column, to_u64, BoxFuture, ChannelControl, ControlAction, ControlLogRow,
    ControlOutcome, EventRow, IngestBatch, IngestOutcome, NewNotice, NoticeRow, Redemption,
    ReportRow, Store, StoreError, SuspensionRow, TerminalRecord, ALL_STORES,
};
use crate::wire::{StoreCode, TerminalInfo};

const SCHEMA_VERSION: i64 = 3;

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE enroll_codes (
    code_hash   TEXT PRIMARY KEY,
    store       TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    expires_ms  INTEGER NOT NULL,
    used_ms     INTEGER,
    terminal_id TEXT
);
CREATE TABLE terminals (
    id               TEXT PRIMARY KEY,
    store            TEXT NOT NULL,
    salt             TEXT NOT NULL,
    enrolled_ms      INTEGER NOT NULL,
    revoked_ms       INTEGER,
    acked_seq        INTEGER NOT NULL DEFAULT 0,
    highest_seq      INTEGER NOT NULL DEFAULT 0,
    last_sync_ms     INTEGER,
    outbox_remaining INTEGER
);
CREATE TABLE events (
    terminal    TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    store       TEXT NOT NULL,
    order_no    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    at          TEXT NOT NULL,
    at_ms       INTEGER NOT NULL,
    digest      TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    PRIMARY KEY (terminal, seq)
) WITHOUT ROWID;
CREATE INDEX events_by_time ON events (at_ms);
CREATE TABLE nonces (
    terminal TEXT NOT NULL,
    nonce    TEXT NOT NULL,
    seen_ms  INTEGER NOT NULL,
    PRIMARY KEY (terminal, nonce)
) WITHOUT ROWID;
CREATE INDEX nonces_by_time ON nonces (seen_ms);
"#,
    r#"
CREATE TABLE notices (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    terminal    TEXT NOT NULL,
    channel     TEXT NOT NULL,
    headers     TEXT NOT NULL,
    body        TEXT NOT NULL,
    received_ms INTEGER NOT NULL
);
CREATE INDEX notices_by_terminal ON notices (terminal, id);
CREATE INDEX notices_by_time ON notices (received_ms);
"#,
    r#"
CREATE TABLE channel_control (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO channel_control (id, version) VALUES (1, 0);
CREATE TABLE channel_suspensions (
    store    TEXT NOT NULL,
    channel  TEXT NOT NULL,
    reason   TEXT NOT NULL,
    since_ms INTEGER NOT NULL,
    actor    TEXT NOT NULL,
    PRIMARY KEY (store, channel)
);
CREATE TABLE channel_control_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms   INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    via     TEXT NOT NULL,
    action  TEXT NOT NULL CHECK (action IN ('suspend', 'lift')),
    store   TEXT NOT NULL,
    channel TEXT NOT NULL,
    reason  TEXT
);
CREATE TRIGGER channel_control_log_is_append_only_update BEFORE UPDATE ON channel_control_log
BEGIN SELECT RAISE(ABORT, 'the channel control log is append-only'); END;
CREATE TRIGGER channel_control_log_is_append_only_delete BEFORE DELETE ON channel_control_log
BEGIN SELECT RAISE(ABORT, 'the channel control log is append-only'); END;
"#,
];

#[derive(Debug, Clone)]
pub struct SqliteStore {
    path: PathBuf,
    /// The one connection that writes, so this process never fights itself
    /// for SQLite's write lock.
    writer: Arc<Mutex<Connection>>,
    /// Reads (reports, listings) go here and see WAL snapshots without
    /// waiting for writes.
    reader: Arc<Mutex<Connection>>,
}

fn connect(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    // Pragmas are set outside any transaction; WAL lets readers run beside
    // the writer, FULL makes an acknowledged batch survive a power cut.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::IncompatibleVersion {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let v = i64::try_from(i).unwrap_or(i64::MAX) + 1;
        if v > version {
            tx.execute_batch(sql)?;
        }
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

impl SqliteStore {
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut writer = connect(&path)?;
            migrate(&mut writer)?;
            let reader = connect(&path)?;
            Ok(SqliteStore {
                path,
                writer: Arc::new(Mutex::new(writer)),
                reader: Arc::new(Mutex::new(reader)),
            })
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with_writer<T, F>(&self, f: F) -> BoxFuture<'_, Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        run_on(self.writer.clone(), f)
    }

    fn with_reader<T, F>(&self, f: F) -> BoxFuture<'_, Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        run_on(self.reader.clone(), f)
    }
}

fn run_on<'a, T, F>(conn: Arc<Mutex<Connection>>, f: F) -> BoxFuture<'a, Result<T, StoreError>>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
{
    Box::pin(async move {
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave a half-done
            // transaction behind (rusqlite rolls back on drop), so a
            // poisoned lock is still safe to use.
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    })
}

const INSERT_EVENT: &str = "INSERT INTO events \
    (terminal, seq, store, order_no, kind, payload, at, at_ms, digest, received_ms) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (terminal, seq) DO NOTHING";

/// The end of the contiguous run that starts right after `acked`.
const NEXT_ACKED: &str = "SELECT CASE WHEN EXISTS \
      (SELECT 1 FROM events WHERE terminal = ?1 AND seq = ?2 + 1) \
    THEN (SELECT MIN(e.seq) FROM events e WHERE e.terminal = ?1 AND e.seq > ?2 \
          AND NOT EXISTS (SELECT 1 FROM events n WHERE n.terminal = ?1 AND n.seq = e.seq + 1)) \
    ELSE ?2 END";

fn ingest_tx(conn: &mut Connection, batch: &IngestBatch) -> Result<IngestOutcome, StoreError> {
    let terminal = batch.terminal.as_str();
    let rows = &batch.rows;
    let outbox_remaining = batch.outbox_remaining;
    let now_ms = batch.now.timestamp_millis();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let state: Option<(i64, i64, Option<i64>)> = tx
        .query_row(
            "SELECT acked_seq, highest_seq, revoked_ms FROM terminals WHERE id = ?1",
            [terminal],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((acked, highest, revoked)) = state else {
        return Err(StoreError::UnknownTerminal);
    };
    if revoked.is_some() {
        return Err(StoreError::Revoked);
    }
    tx.execute(
        "DELETE FROM nonces WHERE seen_ms < ?1",
        [batch.forget_nonces_before.timestamp_millis()],
    )?;
    let fresh = tx.execute(
        "INSERT INTO nonces (terminal, nonce, seen_ms) VALUES (?1, ?2, ?3) \
         ON CONFLICT (terminal, nonce) DO NOTHING",
        params![terminal, batch.nonce, now_ms],
    )?;
    if fresh == 0 {
        return Err(StoreError::ReplayedNonce);
    }
    let mut not_inserted = Vec::new();
    let mut stored = 0u64;
    {
        let mut insert = tx.prepare_cached(INSERT_EVENT)?;
        for row in rows {
            let n = insert.execute(params![
                terminal,
                row.seq,
                row.store,
                row.order_no,
                row.kind,
                row.payload,
                row.at,
                row.at_ms,
                row.digest,
                now_ms
            ])?;
            if n == 1 {
                stored += 1;
            } else {
                not_inserted.push(row);
            }
        }
    }
    let (duplicates, conflicts) = {
        let mut get =
            tx.prepare_cached("SELECT digest FROM events WHERE terminal = ?1 AND seq = ?2")?;
        let mut digests = std::collections::HashMap::new();
        for row in &not_inserted {
            let d: Option<String> = get
                .query_row(params![terminal, row.seq], |r| r.get(0))
                .optional()?;
            if let Some(d) = d {
                digests.insert(row.seq, d);
            }
        }
        classify(&not_inserted, |seq| digests.get(&seq).cloned())
    };
    let new_acked = match acked_after_fresh_batch(acked, highest, not_inserted.is_empty(), rows) {
        Some(end) => end,
        None => {
            let through_batch = advance_through_batch(acked, rows);
            tx.query_row(NEXT_ACKED, params![terminal, through_batch], |r| r.get(0))?
        }
    };
    let batch_max = rows.iter().map(|r| r.seq).max().unwrap_or(0);
    let new_highest = highest.max(batch_max).max(new_acked);
    let missing = if new_highest > new_acked {
        let next: Option<i64> = tx.query_row(
            "SELECT MIN(seq) FROM events WHERE terminal = ?1 AND seq > ?2",
            params![terminal, new_acked],
            |r| r.get(0),
        )?;
        next.map(|n| (to_u64(new_acked + 1), to_u64(n - 1)))
    } else {
        None
    };
    let remaining = outbox_remaining.and_then(|v| i64::try_from(v).ok());
    tx.execute(
        "UPDATE terminals SET acked_seq = ?2, highest_seq = ?3, last_sync_ms = ?4, \
         outbox_remaining = COALESCE(?5, outbox_remaining) WHERE id = ?1",
        params![terminal, new_acked, new_highest, now_ms, remaining],
    )?;
    tx.commit()?;
    Ok(IngestOutcome {
        stored,
        duplicates,
        conflicts,
        acked_seq: to_u64(new_acked),
        highest_seq: to_u64(new_highest),
        missing,
    })
}

fn row_to_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventRow> {
    Ok(EventRow {
        terminal: r.get(0)?,
        seq: r.get(1)?,
        store: r.get(2)?,
        order_no: r.get(3)?,
        kind: r.get(4)?,
        payload: r.get(5)?,
        at: r.get(6)?,
        at_ms: r.get(7)?,
        digest: r.get(8)?,
    })
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn add_enroll_code(
        &self,
        code_hash: String,
        store: StoreCode,
        now: DateTime<Utc>,
        expires: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        self.with_writer(move |conn| {
            conn.execute(
                "INSERT INTO enroll_codes (code_hash, store, created_ms, expires_ms) VALUES (?1, ?2, ?3, ?4)",
                params![code_hash, store.as_str(), now.timestamp_millis(), expires.timestamp_millis()],
            )?;
            Ok(())
        })
    }

    fn redeem_enroll_code(
        &self,
        code_hash: String,
        terminal: TerminalId,
        salt: String,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Redemption, StoreError>> {
        self.with_writer(move |conn| {
            let now_ms = now.timestamp_millis();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // One conditional UPDATE spends the code: a second redeemer
            // finds `used_ms` set and gets nothing back.
            let store: Option<String> = tx
                .query_row(
                    "UPDATE enroll_codes SET used_ms = ?2, terminal_id = ?3 \
                     WHERE code_hash = ?1 AND used_ms IS NULL AND expires_ms > ?2 RETURNING store",
                    params![code_hash, now_ms, terminal.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(store) = store else {
                return Ok(Redemption::CodeRejected);
            };
            let n = tx.execute(
                "INSERT INTO terminals (id, store, salt, enrolled_ms) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (id) DO NOTHING",
                params![terminal.as_str(), store, salt, now_ms],
            )?;
            if n == 0 {
                return Ok(Redemption::IdTaken);
            }
            let store = StoreCode::parse(&store).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            tx.commit()?;
            Ok(Redemption::Enrolled(store))
        })
    }

    fn terminal(
        &self,
        id: TerminalId,
    ) -> BoxFuture<'_, Result<Option<TerminalRecord>, StoreError>> {
        self.with_reader(move |conn| {
            let row: Option<(String, String, Option<i64>)> = conn
                .query_row(
                    "SELECT store, salt, revoked_ms FROM terminals WHERE id = ?1",
                    [id.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            row.map(|(store, salt, revoked)| {
                Ok(TerminalRecord {
                    store: StoreCode::parse(&store)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    id: id.clone(),
                    salt,
                    revoked: revoked.is_some(),
                })
            })
            .transpose()
        })
    }

    fn revoke(
        &self,
        id: TerminalId,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        self.with_writer(move |conn| {
            conn.execute(
                "UPDATE terminals SET revoked_ms = COALESCE(revoked_ms, ?2) WHERE id = ?1",
                params![id.as_str(), now.timestamp_millis()],
            )?;
            let exists: Option<i64> = conn
                .query_row(
                    "SELECT 1 FROM terminals WHERE id = ?1",
                    [id.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(exists.is_some())
        })
    }

    fn ingest(&self, batch: IngestBatch) -> BoxFuture<'_, Result<IngestOutcome, StoreError>> {
        self.with_writer(move |conn| ingest_tx(conn, &batch))
    }

    fn terminals(&self) -> BoxFuture<'_, Result<Vec<TerminalInfo>, StoreError>> {
        self.with_reader(|conn| {
            let mut stmt = conn.prepare(
                "SELECT id, store, enrolled_ms, last_sync_ms, acked_seq, highest_seq, \
                 outbox_remaining, revoked_ms FROM terminals ORDER BY store, id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, Option<i64>>(6)?,
                    r.get::<_, Option<i64>>(7)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, store, enrolled, last, acked, highest, remaining, revoked) = row?;
                out.push(TerminalInfo {
                    id: TerminalId::parse(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    store: StoreCode::parse(&store)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    enrolled_at: ms_to_time(enrolled),
                    last_sync_at: last.map(ms_to_time),
                    acked_seq: to_u64(acked),
                    highest_seq: to_u64(highest),
                    outbox_remaining: remaining.map(to_u64),
                    revoked: revoked.is_some(),
                });
            }
            Ok(out)
        })
    }

    fn report_rows(
        &self,
        from_ms: i64,
        to_ms: i64,
        kinds: Vec<String>,
        store: Option<StoreCode>,
    ) -> BoxFuture<'_, Result<Vec<ReportRow>, StoreError>> {
        self.with_reader(move |conn| {
            let kinds_json = serde_json::to_string(&kinds).unwrap_or_else(|_| "[]".into());
            let mut stmt = conn.prepare_cached(
                "SELECT store, kind, payload FROM events \
                 WHERE at_ms >= ?1 AND at_ms < ?2 \
                 AND kind IN (SELECT value FROM json_each(?3)) \
                 AND (?4 IS NULL OR store = ?4)",
            )?;
            let rows = stmt.query_map(
                params![
                    from_ms,
                    to_ms,
                    kinds_json,
                    store.as_ref().map(|s| s.as_str())
                ],
                |r| {
                    Ok(ReportRow {
                        store: r.get(0)?,
                        kind: r.get(1)?,
                        payload: r.get(2)?,
                    })
                },
            )?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn events_of(
        &self,
        terminal: TerminalId,
        after: u64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<EventRow>, StoreError>> {
        self.with_reader(move |conn| {
            let after = i64::try_from(after).unwrap_or(i64::MAX);
            let mut stmt = conn.prepare_cached(
                "SELECT terminal, seq, store, order_no, kind, payload, at, at_ms, digest \
                 FROM events WHERE terminal = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![terminal.as_str(), after, limit], row_to_event)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn add_notice(&self, notice: NewNotice) -> BoxFuture<'_, Result<Option<i64>, StoreError>> {
        self.with_writer(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let live: Option<Option<i64>> = tx
                .query_row(
                    "SELECT revoked_ms FROM terminals WHERE id = ?1",
                    [notice.terminal.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            if !matches!(live, Some(None)) {
                return Ok(None);
            }
            tx.execute(
                "DELETE FROM notices WHERE received_ms < ?1",
                [notice.forget_before.timestamp_millis()],
            )?;
            tx.execute(
                "INSERT INTO notices (terminal, channel, headers, body, received_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    notice.terminal.as_str(),
                    notice.channel,
                    notice.headers,
                    notice.body,
                    notice.now.timestamp_millis()
                ],
            )?;
            let id = tx.last_insert_rowid();
            // The cap counts this terminal's own rows: ids are shared by
            // every terminal, so a gap in them says nothing.
            tx.execute(
                "DELETE FROM notices WHERE terminal = ?1 AND id <= \
                 (SELECT id FROM notices WHERE terminal = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
                params![notice.terminal.as_str(), i64::from(notice.keep_at_most)],
            )?;
            tx.commit()?;
            Ok(Some(id))
        })
    }

    fn notices_after(
        &self,
        terminal: TerminalId,
        after: i64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<NoticeRow>, StoreError>> {
        self.with_reader(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, channel, headers, body, received_ms FROM notices \
                 WHERE terminal = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![terminal.as_str(), after, limit], |r| {
                Ok(NoticeRow {
                    id: r.get(0)?,
                    channel: r.get(1)?,
                    headers: r.get(2)?,
                    body: r.get(3)?,
                    received_ms: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn use_nonce(
        &self,
        terminal: TerminalId,
        nonce: String,
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        self.with_writer(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "DELETE FROM nonces WHERE seen_ms < ?1",
                [forget_before.timestamp_millis()],
            )?;
            let fresh = tx.execute(
                "INSERT INTO nonces (terminal, nonce, seen_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (terminal, nonce) DO NOTHING",
                params![terminal.as_str(), nonce, now.timestamp_millis()],
            )?;
            tx.commit()?;
            Ok(fresh == 1)
        })
    }

    fn control_channel(
        &self,
        change: ChannelControl,
    ) -> BoxFuture<'_, Result<ControlOutcome, StoreError>> {
        self.with_writer(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let scope = scope_to_column(&change.store);
            let now_ms = change.now.timestamp_millis();
            let changed = match change.action {
                ControlAction::Suspend => tx.execute(
                    "INSERT INTO channel_suspensions (store, channel, reason, since_ms, actor) \
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (store, channel) DO UPDATE SET \
                     reason = excluded.reason, since_ms = excluded.since_ms, actor = excluded.actor",
                    params![
                        scope,
                        change.channel,
                        change.reason.clone().unwrap_or_default(),
                        now_ms,
                        change.by
                    ],
                )?,
                ControlAction::Lift if change.store.is_none() => tx.execute(
                    "DELETE FROM channel_suspensions WHERE channel = ?1",
                    params![change.channel],
                )?,
                ControlAction::Lift => tx.execute(
                    "DELETE FROM channel_suspensions WHERE store = ?1 AND channel = ?2",
                    params![scope, change.channel],
                )?,
            };
            if changed == 0 {
                let version: i64 =
                    tx.query_row("SELECT version FROM channel_control", [], |r| r.get(0))?;
                return Ok(ControlOutcome {
                    version,
                    changed: 0,
                });
            }
            tx.execute(
                "INSERT INTO channel_control_log (at_ms, actor, via, action, store, channel, reason) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    now_ms,
                    change.by,
                    change.via,
                    change.action.as_str(),
                    scope,
                    change.channel,
                    change.reason
                ],
            )?;
            let version: i64 = tx.query_row(
                "UPDATE channel_control SET version = version + 1 RETURNING version",
                [],
                |r| r.get(0),
            )?;
            tx.commit()?;
            Ok(ControlOutcome {
                version,
                changed: u64::try_from(changed).unwrap_or(0),
            })
        })
    }

    fn control_version(&self) -> BoxFuture<'_, Result<i64, StoreError>> {
        self.with_reader(|conn| {
            Ok(conn.query_row("SELECT version FROM channel_control", [], |r| r.get(0))?)
        })
    }

    fn suspensions(
        &self,
        store: Option<StoreCode>,
    ) -> BoxFuture<'_, Result<(i64, Vec<SuspensionRow>), StoreError>> {
        self.with_reader(move |conn| {
            // One read transaction: the version and the set agree.
            let tx = conn.transaction()?;
            let version: i64 =
                tx.query_row("SELECT version FROM channel_control", [], |r| r.get(0))?;
            let raw: Vec<(String, String, String, i64, String)> = {
                let mut stmt = tx.prepare(
                    "SELECT store, channel, reason, since_ms, actor FROM channel_suspensions \
                     WHERE ?1 IS NULL OR store = ?1 OR store = ?2 ORDER BY store, channel",
                )?;
                let rows = stmt.query_map(
                    params![store.as_ref().map(|s| s.as_str().to_owned()), ALL_STORES],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )?;
                rows.collect::<Result<_, _>>()?
            };
            let rows = raw
                .into_iter()
                .map(|(store, channel, reason, since_ms, by)| {
                    Ok(SuspensionRow {
                        store: column_to_scope(&store)?,
                        channel,
                        reason,
                        since_ms,
                        by,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok((version, rows))
        })
    }

    fn control_log(&self, limit: u32) -> BoxFuture<'_, Result<Vec<ControlLogRow>, StoreError>> {
        self.with_reader(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT id, at_ms, actor, via, action, store, channel, reason \
                 FROM channel_control_log ORDER BY id DESC LIMIT ?1",
            )?;
            // The store column becomes a scope after the read, so a bad one
            // is reported as corrupt data rather than as SQLite's error.
            let rows = stmt
                .query_map([limit], |r| {
                    Ok((
                        ControlLogRow {
                            id: r.get(0)?,
                            at_ms: r.get(1)?,
                            by: r.get(2)?,
                            via: r.get(3)?,
                            action: r.get(4)?,
                            store: None,
                            channel: r.get(6)?,
                            reason: r.get(7)?,
                        },
                        r.get::<_, String>(5)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(row, store)| {
                    Ok(ControlLogRow {
                        store: column_to_scope(&store)?,
                        ..row
                    })
                })
                .collect()
        })
    }

    fn bulk_insert_raw(&self, rows: Vec<EventRow>) -> BoxFuture<'_, Result<(), StoreError>> {
        self.with_writer(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut insert = tx.prepare_cached(INSERT_EVENT)?;
                for row in &rows {
                    insert.execute(params![
                        row.terminal,
                        row.seq,
                        row.store,
                        row.order_no,
                        row.kind,
                        row.payload,
                        row.at,
                        row.at_ms,
                        row.digest,
                        0i64
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }
}
