//! The PostgreSQL backend, for chains whose head office runs several server
//! processes on one database. Nothing here relies on process memory for
//! correctness: unique keys and row locks do it. A batch is one round trip
//! of `INSERT … SELECT FROM UNNEST(…) ON CONFLICT DO NOTHING RETURNING`.
//!
//! Connections come from a small pool of idle clients; a connection that
//! broke (or was dropped mid-transaction) is simply not returned to it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use shouyin_core::TerminalId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, NoTls, Transaction};

use super::{
    acked_after_fresh_batch, advance_through_batch, classify, column_to_scope, ms_to_time,
    scope_to_column, to_u64, BoxFuture, ChannelControl, ControlAction, ControlLogRow,
    ControlOutcome, EventRow, IngestBatch, IngestOutcome, NewNotice, NoticeRow, Redemption,
    ReportRow, Store, StoreError, SuspensionRow, TerminalRecord, ALL_STORES,
};
use crate::wire::{StoreCode, TerminalInfo};

const SCHEMA_VERSION: i64 = 3;

/// Arbitrary constant for the advisory lock that serialises migrations when
/// several processes start at once.
const MIGRATION_LOCK: i64 = 0x5348_5559_4e48_5131;

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE enroll_codes (
    code_hash   TEXT PRIMARY KEY,
    store       TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    expires_ms  BIGINT NOT NULL,
    used_ms     BIGINT,
    terminal_id TEXT
);
CREATE TABLE terminals (
    id               TEXT PRIMARY KEY,
    store            TEXT NOT NULL,
    salt             TEXT NOT NULL,
    enrolled_ms      BIGINT NOT NULL,
    revoked_ms       BIGINT,
    acked_seq        BIGINT NOT NULL DEFAULT 0,
    highest_seq      BIGINT NOT NULL DEFAULT 0,
    last_sync_ms     BIGINT,
    outbox_remaining BIGINT
);
CREATE TABLE events (
    terminal    TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    store       TEXT NOT NULL,
    order_no    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    at          TEXT NOT NULL,
    at_ms       BIGINT NOT NULL,
    digest      TEXT NOT NULL,
    received_ms BIGINT NOT NULL,
    PRIMARY KEY (terminal, seq)
);
CREATE INDEX events_by_time ON events (at_ms);
CREATE TABLE nonces (
    terminal TEXT NOT NULL,
    nonce    TEXT NOT NULL,
    seen_ms  BIGINT NOT NULL,
    PRIMARY KEY (terminal, nonce)
);
CREATE INDEX nonces_by_time ON nonces (seen_ms);
"#,
    r#"
CREATE TABLE notices (
    id          BIGSERIAL PRIMARY KEY,
    terminal    TEXT NOT NULL,
    channel     TEXT NOT NULL,
    headers     TEXT NOT NULL,
    body        TEXT NOT NULL,
    received_ms BIGINT NOT NULL
);
CREATE INDEX notices_by_terminal ON notices (terminal, id);
CREATE INDEX notices_by_time ON notices (received_ms);
"#,
    r#"
CREATE TABLE channel_control (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO channel_control (id, version) VALUES (1, 0);
CREATE TABLE channel_suspensions (
    store    TEXT NOT NULL,
    channel  TEXT NOT NULL,
    reason   TEXT NOT NULL,
    since_ms BIGINT NOT NULL,
    actor    TEXT NOT NULL,
    PRIMARY KEY (store, channel)
);
CREATE TABLE channel_control_log (
    id      BIGSERIAL PRIMARY KEY,
    at_ms   BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    via     TEXT NOT NULL,
    action  TEXT NOT NULL CHECK (action IN ('suspend', 'lift')),
    store   TEXT NOT NULL,
    channel TEXT NOT NULL,
    reason  TEXT
);
"#,
];

/// First key of the advisory lock that orders one terminal's notices.
const NOTICE_LOCK_CLASS: i32 = 0x5359_4e31;

/// Connections kept open per process.
const POOL_SIZE: usize = 8;

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: Arc<Pool>,
}

#[derive(Debug)]
struct Pool {
    config: tokio_postgres::Config,
    /// Idle, healthy clients.
    idle: Mutex<Vec<Client>>,
    /// Bounds the connections open at once.
    permits: Arc<Semaphore>,
}

/// A pooled client; goes back to the pool on drop unless it broke.
struct Conn {
    client: Option<Client>,
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
}

impl Conn {
    fn client(&mut self) -> Result<&mut Client, StoreError> {
        self.client
            .as_mut()
            .ok_or_else(|| StoreError::Task("pooled connection already released".into()))
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            if !client.is_closed() {
                let mut idle = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
                idle.push(client);
            }
        }
    }
}

impl Pool {
    async fn get(self: &Arc<Self>) -> Result<Conn, StoreError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?;
        let reused = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            let mut found = None;
            while let Some(c) = idle.pop() {
                if !c.is_closed() {
                    found = Some(c);
                    break;
                }
            }
            found
        };
        let client = match reused {
            Some(c) => c,
            None => {
                let (client, connection) = self.config.connect(NoTls).await?;
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, "postgres connection ended");
                    }
                });
                client
            }
        };
        Ok(Conn {
            client: Some(client),
            pool: self.clone(),
            _permit: permit,
        })
    }
}

const NEXT_ACKED: &str = "SELECT CASE WHEN EXISTS \
      (SELECT 1 FROM events WHERE terminal = $1::text AND seq = $2::int8 + 1) \
    THEN (SELECT MIN(e.seq) FROM events e WHERE e.terminal = $1 AND e.seq > $2 \
          AND NOT EXISTS (SELECT 1 FROM events n WHERE n.terminal = $1 AND n.seq = e.seq + 1)) \
    ELSE $2 END";

const INSERT_BATCH: &str = "INSERT INTO events \
    (terminal, seq, store, order_no, kind, payload, at, at_ms, digest, received_ms) \
    SELECT $1::text, b.seq, b.store, b.order_no, b.kind, b.payload, b.at, b.at_ms, b.digest, $2::int8 \
    FROM UNNEST($3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int8[], $10::text[]) \
      AS b(seq, store, order_no, kind, payload, at, at_ms, digest) \
    ON CONFLICT (terminal, seq) DO NOTHING RETURNING seq, digest";

struct Columns {
    seq: Vec<i64>,
    store: Vec<String>,
    order_no: Vec<String>,
    kind: Vec<String>,
    payload: Vec<String>,
    at: Vec<String>,
    at_ms: Vec<i64>,
    digest: Vec<String>,
}

fn columns(rows: &[EventRow]) -> Columns {
    Columns {
        seq: rows.iter().map(|r| r.seq).collect(),
        store: rows.iter().map(|r| r.store.clone()).collect(),
        order_no: rows.iter().map(|r| r.order_no.clone()).collect(),
        kind: rows.iter().map(|r| r.kind.clone()).collect(),
        payload: rows.iter().map(|r| r.payload.clone()).collect(),
        at: rows.iter().map(|r| r.at.clone()).collect(),
        at_ms: rows.iter().map(|r| r.at_ms).collect(),
        digest: rows.iter().map(|r| r.digest.clone()).collect(),
    }
}

/// Whether every row of the batch lies beyond the highest sequence stored
/// for the terminal (read under its row lock), with no sequence twice: then
/// nothing can collide and the rows can be streamed in with COPY.
fn all_beyond(rows: &[EventRow], highest: i64) -> bool {
    let mut seen = std::collections::HashSet::with_capacity(rows.len());
    rows.iter().all(|r| r.seq > highest && seen.insert(r.seq))
}

async fn copy_rows(
    tx: &Transaction<'_>,
    terminal: &str,
    now_ms: i64,
    rows: &[EventRow],
) -> Result<(), tokio_postgres::Error> {
    let sink = tx
        .copy_in(
            "COPY events (terminal, seq, store, order_no, kind, payload, at, at_ms, digest, received_ms) \
             FROM STDIN (FORMAT binary)",
        )
        .await?;
    let types = [
        Type::TEXT,
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::INT8,
        Type::TEXT,
        Type::INT8,
    ];
    let writer = BinaryCopyInWriter::new(sink, &types);
    let mut writer = std::pin::pin!(writer);
    for r in rows {
        writer
            .as_mut()
            .write(&[
                &terminal,
                &r.seq,
                &r.store,
                &r.order_no,
                &r.kind,
                &r.payload,
                &r.at,
                &r.at_ms,
                &r.digest,
                &now_ms,
            ])
            .await?;
    }
    writer.finish().await?;
    Ok(())
}

/// Any batch: insert what is new, then tell repeats (same digest) from
/// conflicts (a different event under a stored sequence).
async fn insert_or_classify(
    tx: &Transaction<'_>,
    terminal: &str,
    now_ms: i64,
    rows: &[EventRow],
) -> Result<(u64, u64, Vec<u64>), StoreError> {
    let c = columns(rows);
    let inserted = tx
        .query(
            INSERT_BATCH,
            &[
                &terminal,
                &now_ms,
                &c.seq,
                &c.store,
                &c.order_no,
                &c.kind,
                &c.payload,
                &c.at,
                &c.at_ms,
                &c.digest,
            ],
        )
        .await?;
    let mut inserted_set: HashMap<i64, String> = HashMap::with_capacity(inserted.len());
    for r in &inserted {
        inserted_set.insert(r.get(0), r.get(1));
    }
    let mut stored = 0u64;
    let mut not_inserted = Vec::new();
    for row in rows {
        // A seq repeated inside one batch is inserted once; the other
        // copy is judged against what was stored, like any repeat.
        match inserted_set.remove(&row.seq) {
            Some(d) if d == row.digest => stored += 1,
            Some(d) => {
                inserted_set.insert(row.seq, d);
                not_inserted.push(row);
            }
            None => not_inserted.push(row),
        }
    }
    let (duplicates, conflicts) = if not_inserted.is_empty() {
        (0, Vec::new())
    } else {
        let seqs: Vec<i64> = not_inserted.iter().map(|r| r.seq).collect();
        let existing = tx
            .query(
                "SELECT seq, digest FROM events WHERE terminal = $1 AND seq = ANY($2)",
                &[&terminal, &seqs],
            )
            .await?;
        let digests: HashMap<i64, String> = existing.iter().map(|r| (r.get(0), r.get(1))).collect();
        classify(&not_inserted, |seq| digests.get(&seq).cloned())
    };
    Ok((stored, duplicates, conflicts))
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl PgStore {
    pub async fn open(url: &str) -> Result<PgStore, StoreError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|_| StoreError::BadUrl(url.to_owned()))?;
        let pool = Arc::new(Pool {
            config,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(POOL_SIZE)),
        });
        let store = PgStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await?;
        let client = conn.client()?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS hq_schema (version BIGINT NOT NULL)")
            .await?;
        let version: i64 = tx
            .query_opt("SELECT version FROM hq_schema", &[])
            .await?
            .map(|r| r.get(0))
            .unwrap_or(0);
        if version > SCHEMA_VERSION {
            return Err(StoreError::IncompatibleVersion {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate() {
            let v = i64::try_from(i).unwrap_or(i64::MAX) + 1;
            if v > version {
                tx.batch_execute(sql).await?;
            }
        }
        tx.execute("DELETE FROM hq_schema", &[]).await?;
        tx.execute(
            "INSERT INTO hq_schema (version) VALUES ($1)",
            &[&SCHEMA_VERSION],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn ingest_batch(&self, batch: IngestBatch) -> Result<IngestOutcome, StoreError> {
        if let Some(outcome) = self.ingest_inner(&batch, true).await? {
            return Ok(outcome);
        }
        tracing::warn!(terminal = %batch.terminal, "rows beyond the stored high-water mark collided; storing the batch row by row");
        self.ingest_inner(&batch, false)
            .await?
            .ok_or_else(|| StoreError::Task("batch collided on the row-by-row path".into()))
    }

    /// `None` when the COPY path met a stored row (the transaction is
    /// rolled back by the drop).
    async fn ingest_inner(
        &self,
        batch: &IngestBatch,
        copy_allowed: bool,
    ) -> Result<Option<IngestOutcome>, StoreError> {
        let now_ms = batch.now.timestamp_millis();
        let terminal = batch.terminal.as_str();
        let rows = &batch.rows;
        let outbox_remaining = batch.outbox_remaining;
        let mut conn = self.pool.get().await?;
        let client = conn.client()?;
        let tx = client.transaction().await?;
        // The row lock serialises batches of one terminal across every
        // server process, so the cursor computed below sees all of them.
        let state = tx
            .query_opt(
                "SELECT acked_seq, highest_seq, revoked_ms FROM terminals WHERE id = $1 FOR UPDATE",
                &[&terminal],
            )
            .await?
            .ok_or(StoreError::UnknownTerminal)?;
        let acked: i64 = state.get(0);
        let highest: i64 = state.get(1);
        let revoked: Option<i64> = state.get(2);
        if revoked.is_some() {
            return Err(StoreError::Revoked);
        }
        // Pruning rides along in the same statement: one round trip.
        let fresh = tx
            .execute(
                "WITH pruned AS (DELETE FROM nonces WHERE seen_ms < $4) \
                 INSERT INTO nonces (terminal, nonce, seen_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (terminal, nonce) DO NOTHING",
                &[
                    &terminal,
                    &batch.nonce,
                    &now_ms,
                    &batch.forget_nonces_before.timestamp_millis(),
                ],
            )
            .await?;
        if fresh == 0 {
            return Err(StoreError::ReplayedNonce);
        }
        let fresh_rows = copy_allowed && all_beyond(rows, highest);
        let (stored, duplicates, conflicts) = if fresh_rows {
            // The usual case, a terminal's next events: binary COPY, several
            // times cheaper per row than `INSERT … ON CONFLICT`. The unique
            // key still stands guard: a collision aborts this transaction
            // and the caller retries the batch on the careful path.
            match copy_rows(&tx, terminal, now_ms, rows).await {
                Ok(()) => (rows.len() as u64, 0, Vec::new()),
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        } else {
            insert_or_classify(&tx, terminal, now_ms, rows).await?
        };
        let new_acked = match acked_after_fresh_batch(acked, highest, fresh_rows, rows) {
            Some(end) => end,
            None => {
                let through_batch = advance_through_batch(acked, rows);
                tx.query_one(NEXT_ACKED, &[&terminal, &through_batch])
                    .await?
                    .get(0)
            }
        };
        let batch_max = rows.iter().map(|r| r.seq).max().unwrap_or(0);
        let new_highest = highest.max(batch_max).max(new_acked);
        let missing = if new_highest > new_acked {
            let next: Option<i64> = tx
                .query_one(
                    "SELECT MIN(seq) FROM events WHERE terminal = $1 AND seq > $2",
                    &[&terminal, &new_acked],
                )
                .await?
                .get(0);
            next.map(|n| (to_u64(new_acked + 1), to_u64(n - 1)))
        } else {
            None
        };
        let remaining = outbox_remaining.and_then(|v| i64::try_from(v).ok());
        tx.execute(
            "UPDATE terminals SET acked_seq = $2, highest_seq = $3, last_sync_ms = $4, \
             outbox_remaining = COALESCE($5, outbox_remaining) WHERE id = $1",
            &[&terminal, &new_acked, &new_highest, &now_ms, &remaining],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(IngestOutcome {
            stored,
            duplicates,
            conflicts,
            acked_seq: to_u64(new_acked),
            highest_seq: to_u64(new_highest),
            missing,
        }))
    }
}

impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn add_enroll_code(
        &self,
        code_hash: String,
        store: StoreCode,
        now: DateTime<Utc>,
        expires: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let mut conn = self.pool.get().await?;
            conn.client()?
                .execute(
                    "INSERT INTO enroll_codes (code_hash, store, created_ms, expires_ms) VALUES ($1, $2, $3, $4)",
                    &[&code_hash, &store.as_str(), &now.timestamp_millis(), &expires.timestamp_millis()],
                )
                .await?;
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
        Box::pin(async move {
            let now_ms = now.timestamp_millis();
            let mut conn = self.pool.get().await?;
            let client = conn.client()?;
            let tx = client.transaction().await?;
            // A concurrent redeemer blocks on the row lock, then re-checks
            // `used_ms IS NULL` and gets no row: a code is spent once.
            let row = tx
                .query_opt(
                    "UPDATE enroll_codes SET used_ms = $2, terminal_id = $3 \
                     WHERE code_hash = $1 AND used_ms IS NULL AND expires_ms > $2 RETURNING store",
                    &[&code_hash, &now_ms, &terminal.as_str()],
                )
                .await?;
            let Some(row) = row else {
                return Ok(Redemption::CodeRejected);
            };
            let store: String = row.get(0);
            let n = tx
                .execute(
                    "INSERT INTO terminals (id, store, salt, enrolled_ms) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (id) DO NOTHING",
                    &[&terminal.as_str(), &store, &salt, &now_ms],
                )
                .await?;
            if n == 0 {
                return Ok(Redemption::IdTaken);
            }
            let store = StoreCode::parse(&store).map_err(corrupt)?;
            tx.commit().await?;
            Ok(Redemption::Enrolled(store))
        })
    }

    fn terminal(
        &self,
        id: TerminalId,
    ) -> BoxFuture<'_, Result<Option<TerminalRecord>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.pool.get().await?;
            let row = conn
                .client()?
                .query_opt(
                    "SELECT store, salt, revoked_ms FROM terminals WHERE id = $1",
                    &[&id.as_str()],
                )
                .await?;
            row.map(|r| {
                let store: String = r.get(0);
                let revoked: Option<i64> = r.get(2);
                Ok(TerminalRecord {
                    store: StoreCode::parse(&store).map_err(corrupt)?,
                    id: id.clone(),
                    salt: r.get(1),
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
        Box::pin(async move {
            let mut conn = self.pool.get().await?;
            let n = conn
                .client()?
                .execute(
                    "UPDATE terminals SET revoked_ms = COALESCE(revoked_ms, $2) WHERE id = $1",
                    &[&id.as_str(), &now.timestamp_millis()],
                )
                .await?;
            Ok(n == 1)
        })
    }

    fn ingest(&self, batch: IngestBatch) -> BoxFuture<'_, Result<IngestOutcome, StoreError>> {
        Box::pin(self.ingest_batch(batch))
    }

    fn terminals(&self) -> BoxFuture<'_, Result<Vec<TerminalInfo>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.pool.get().await?;
            let rows = conn
                .client()?
                .query(
                    "SELECT id, store, enrolled_ms, last_sync_ms, acked_seq, highest_seq, \
                     outbox_remaining, revoked_ms FROM terminals ORDER BY store, id",
                    &[],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    let id: String = r.get(0);
                    let store: String = r.get(1);
                    let revoked: Option<i64> = r.get(7);
                    Ok(TerminalInfo {
                        id: TerminalId::parse(&id).map_err(corrupt)?,
                        store: StoreCode::parse(&store).map_err(corrupt)?,
                        enrolled_at: ms_to_time(r.get(2)),
                        last_sync_at: r.get::<_, Option<i64>>(3).map(ms_to_time),
                        acked_seq: to_u64(r.get(4)),
                        highest_seq: to_u64(r.get(5)),
                        outbox_remaining: r.get::<_, Option<i64>>(6).map(to_u64),
                        revoked: revoked.is_some(),
                    })
                })
                .collect()
        })
    }

    fn report_rows(
        &self,
        from_ms: i64,
        to_ms: i64,
        kinds: Vec<String>,
        store: Option<StoreCode>,
    ) -> BoxFuture<'_, Result<Vec<ReportRow>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.pool.get().await?;
            let store = store.map(String::from);
            let rows = conn
                .client()?
                .query(
                    "SELECT store, kind, payload FROM events \
                     WHERE at_ms >= $1 AND at_ms < $2 AND kind = ANY($3) \
                     AND ($4::text IS NULL OR store = $4)",
                    &[&from_ms, &to_ms, &kinds, &store],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| ReportRow {
                    store: r.get(0),
                    kind: r.get(1),
                    payload: r.get(2),
                })
                .collect())
        })
    }

    fn events_of(
        &self,
        terminal: TerminalId,
        after: u64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<EventRow>, StoreError>> {
        Box::pin(async move {
            let after = i64::try_from(after).unwrap_or(i64::MAX);
            let limit = i64::from(limit);
            let mut conn = self.pool.get().await?;
            let rows = conn
                .client()?
                .query(
                    "SELECT terminal, seq, store, order_no, kind, payload, at, at_ms, digest \
                     FROM events WHERE terminal = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                    &[&terminal.as_str(), &after, &limit],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| EventRow {
                    terminal: r.get(0),
                    seq: r.get(1),
                    store: r.get(2),
                    order_no: r.get(3),
                    kind: r.get(4),
                    payload: r.get(5),
                    at: r.get(6),
                    at_ms: r.get(7),
                    digest: r.get(8),
                })
                .collect())
        })
    }

    fn add_notice(&self, notice: NewNotice) -> BoxFuture<'_, Result<Option<i64>, StoreError>> {
        Box::pin(async move {
            let terminal = notice.terminal.as_str();
            let mut conn = self.pool.get().await?;
            let client = conn.client()?;
            let tx = client.transaction().await?;
            // Ids come from a sequence, and a relay reader asks for ids after
            // the last it saw: two processes inserting for one terminal at
            // once could commit a smaller id after a larger one was read, and
            // it would be skipped. Serialising a terminal's inserts keeps its
            // ids committed in order.
            tx.execute(
                "SELECT pg_advisory_xact_lock($1::int4, hashtext($2::text))",
                &[&NOTICE_LOCK_CLASS, &terminal],
            )
            .await?;
            // Only a live terminal gets notices.
            let id: Option<i64> = tx
                .query_opt(
                    "INSERT INTO notices (terminal, channel, headers, body, received_ms) \
                     SELECT id, $2::text, $3::text, $4::text, $5::int8 FROM terminals \
                     WHERE id = $1::text AND revoked_ms IS NULL \
                     RETURNING id",
                    &[
                        &terminal,
                        &notice.channel,
                        &notice.headers,
                        &notice.body,
                        &notice.now.timestamp_millis(),
                    ],
                )
                .await?
                .map(|r| r.get(0));
            if id.is_some() {
                // The cap counts this terminal's own rows: ids are shared by
                // every terminal, so a gap in them says nothing.
                tx.execute(
                    "DELETE FROM notices WHERE received_ms < $1 OR (terminal = $2 AND id <= \
                     (SELECT id FROM notices WHERE terminal = $2 ORDER BY id DESC LIMIT 1 OFFSET $3::int8))",
                    &[
                        &notice.forget_before.timestamp_millis(),
                        &terminal,
                        &i64::from(notice.keep_at_most),
                    ],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(id)
        })
    }

    fn notices_after(
        &self,
        terminal: TerminalId,
        after: i64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<NoticeRow>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.pool.get().await?;
            let rows = conn
                .client()?
                .query(
                    "SELECT id, channel, headers, body, received_ms FROM notices \
                     WHERE terminal = $1 AND id > $2 ORDER BY id LIMIT $3",
                    &[&terminal.as_str(), &after, &i64::from(limit)],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| NoticeRow {
                    id: r.get(0),
                    channel: r.get(1),
                    headers: r.get(2),
                    body: r.get(3),
                    received_ms: r.get(4),
                })
                .collect())
        })
    }

    fn use_nonce(
        &self,
        terminal: TerminalId,
        nonce: String,
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut conn = self.pool.get().await?;
            let fresh = conn
                .client()?
                .execute(
                    "WITH pruned AS (DELETE FROM nonces WHERE seen_ms < $4) \
                     INSERT INTO nonces (terminal, nonce, seen_ms) VALUES ($1, $2, $3) \
                     ON CONFLICT (terminal, nonce) DO NOTHING",
                    &[
                        &terminal.as_str(),
                        &nonce,
                        &now.timestamp_millis(),
                        &forget_before.timestamp_millis(),
                    ],
                )
                .await?;
            Ok(fresh == 1)
        })
    }

    fn control_channel(
        &self,
        change: ChannelControl,
    ) -> BoxFuture<'_, Result<ControlOutcome, StoreError>> {
        Box::pin(async move {
            let mut conn = self.pool.get().await?;
            let client = conn.client()?;
            let tx = client.transaction().await?;
            // The control row's lock orders concurrent changes, so each
            // version names one committed set.
            let _: i64 = tx
                .query_one(
                    "SELECT version FROM channel_control WHERE id = 1 FOR UPDATE",
                    &[],
                )
                .await?
                .get(0);
            let scope = scope_to_column(&change.store);
            let now_ms = change.now.timestamp_millis();
            let changed = match change.action {
                ControlAction::Suspend => {
                    tx.execute(
                        "INSERT INTO channel_suspensions (store, channel, reason, since_ms, actor) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (store, channel) DO UPDATE SET \
                         reason = excluded.reason, since_ms = excluded.since_ms, actor = excluded.actor",
                        &[
                            &scope,
                            &change.channel,
                            &change.reason.clone().unwrap_or_default(),
                            &now_ms,
                            &change.by,
                        ],
                    )
                    .await?
                }
                ControlAction::Lift if change.store.is_none() => {
                    tx.execute(
                        "DELETE FROM channel_suspensions WHERE channel = $1",
                        &[&change.channel],
                    )
                    .await?
                }
                ControlAction::Lift => {
                    tx.execute(
                        "DELETE FROM channel_suspensions WHERE store = $1 AND channel = $2",
                        &[&scope, &change.channel],
                    )
                    .await?
                }
            };
            if changed == 0 {
                let version: i64 = tx
                    .query_one("SELECT version FROM channel_control WHERE id = 1", &[])
                    .await?
                    .get(0);
                return Ok(ControlOutcome {
                    version,
                    changed: 0,
                });
            }
            tx.execute(
                "INSERT INTO channel_control_log (at_ms, actor, via, action, store, channel, reason) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &now_ms,
                    &change.by,
                    &change.via,
                    &change.action.as_str(),
                    &scope,
                    &change.channel,
                    &change.reason,
                ],
            )
            .await?;
            let version: i64 = tx
                .query_one(
                    "UPDATE channel_control SET version = version + 1 WHERE id = 1 RETURNING version",
                    &[],
                )
                .await?
                .get(0);
            tx.commit().await?;
            Ok(ControlOutcome { version, changed })
        })
    }

    fn control_version(&self) -> BoxFuture<'_, Result<i64, StoreError>> {
        Box::pin(async move {
            let mut conn = self.pool.get().await?;
            Ok(conn
                .client()?
                .query_one("SELECT version FROM channel_control WHERE id = 1", &[])
                .await?
                .get(0))
        })
    }

    fn suspensions(
        &self,
        store: Option<StoreCode>,
    ) -> BoxFuture<'_, Result<(i64, Vec<SuspensionRow>), StoreError>> {
        Box::pin(async move {
            let mut conn = self.pool.get().await?;
            let client = conn.client()?;
            // One snapshot: the version and the set agree.
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let version: i64 = tx
                .query_one("SELECT version FROM channel_control WHERE id = 1", &[])
                .await?
                .get(0);
            let code = store.as_ref().map(|s| s.as_str().to_owned());
            let rows = tx
                .query(
                    "SELECT store, channel, reason, since_ms, actor FROM channel_suspensions \
                     WHERE $1::TEXT IS NULL OR store = $1 OR store = $2 ORDER BY store, channel",
                    &[&code, &ALL_STORES],
                )
                .await?;
            tx.commit().await?;
            let rows = rows
                .iter()
                .map(|r| {
                    Ok(SuspensionRow {
                        store: column_to_scope(r.get::<_, &str>(0))?,
                        channel: r.get(1),
                        reason: r.get(2),
                        since_ms: r.get(3),
                        by: r.get(4),
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok((version, rows))
        })
    }

    fn control_log(&self, limit: u32) -> BoxFuture<'_, Result<Vec<ControlLogRow>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.pool.get().await?;
            let rows = conn
                .client()?
                .query(
                    "SELECT id, at_ms, actor, via, action, store, channel, reason \
                     FROM channel_control_log ORDER BY id DESC LIMIT $1",
                    &[&i64::from(limit)],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(ControlLogRow {
                        id: r.get(0),
                        at_ms: r.get(1),
                        by: r.get(2),
                        via: r.get(3),
                        action: r.get(4),
                        store: column_to_scope(r.get::<_, &str>(5))?,
                        channel: r.get(6),
                        reason: r.get(7),
                    })
                })
                .collect()
        })
    }

    fn bulk_insert_raw(&self, rows: Vec<EventRow>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let mut conn = self.pool.get().await?;
            let client = conn.client()?;
            let tx = client.transaction().await?;
            for (terminal, group) in rows
                .chunk_by(|a, b| a.terminal == b.terminal)
                .map(|g| (g[0].terminal.as_str(), g))
            {
                copy_rows(&tx, terminal, 0, group).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }
}
