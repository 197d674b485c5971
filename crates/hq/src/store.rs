//! Storage behind one trait, with two first-class backends: SQLite (one
//! server, a file) and PostgreSQL (a chain of stores; several server processes
//! may share one database).
//!
//! Every correctness rule lives in the database, never in process memory:
//! events are unique by `(terminal, seq)` and inserted with `ON CONFLICT DO
//! NOTHING`, an enrolment code is spent by one conditional `UPDATE`, nonces
//! are unique by `(terminal, nonce)`, and a terminal's cursor is moved inside
//! the transaction that stored its events while the terminal row is locked.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};
use shouyin_core::TerminalId;

use crate::wire::{Event, StoreCode, TerminalInfo};

pub mod postgres;
pub mod sqlite;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL '{0}': use sqlite://PATH or postgres://USER@HOST:PORT/DB")]
    BadUrl(String),
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("the database schema is version {found}, newer than this program's {supported}; refusing to touch it")]
    IncompatibleVersion { found: i64, supported: i64 },
    #[error("terminal is revoked")]
    Revoked,
    #[error("nonce already used")]
    ReplayedNonce,
    #[error("terminal is not enrolled")]
    UnknownTerminal,
    #[error("a database task failed: {0}")]
    Task(String),
    #[error("stored data is not what this program wrote: {0}")]
    Corrupt(String),
}

/// A terminal as authentication needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct TerminalRecord {
    pub id: TerminalId,
    pub store: StoreCode,
    /// Public per-terminal salt; the secret is derived from it and the
    /// server's sealing key (see `crate::secret`).
    pub salt: String,
    pub revoked: bool,
}

impl fmt::Debug for TerminalRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TerminalRecord")
            .field("id", &self.id)
            .field("store", &self.store)
            .field("revoked", &self.revoked)
            .finish_non_exhaustive()
    }
}

/// An event ready for a row: normalised text, the instant in milliseconds
/// for range queries, and a digest of the whole content to tell a repeat
/// from a conflict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub terminal: String,
    pub seq: i64,
    pub store: String,
    pub order_no: String,
    pub kind: String,
    /// Canonical JSON (keys sorted), so equal payloads give equal text.
    pub payload: String,
    /// RFC 3339 UTC, as `DateTime::to_rfc3339_opts(AutoSi, true)` writes it.
    pub at: String,
    pub at_ms: i64,
    pub digest: String,
}

impl EventRow {
    /// `None` if `seq` is 0 or beyond what the database holds.
    pub fn from_event(event: &Event) -> Option<EventRow> {
        let seq = i64::try_from(event.seq).ok().filter(|s| *s >= 1)?;
        let mut payload = String::new();
        write_canonical_map(&event.payload, &mut payload);
        let at = event.at.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        let digest = hex::encode(event_digest(
            seq,
            &event.order_no,
            &event.kind,
            &payload,
            &at,
            event.store.as_str(),
            event.terminal.as_str(),
        ));
        Some(EventRow {
            terminal: event.terminal.as_str().to_owned(),
            seq,
            store: event.store.as_str().to_owned(),
            order_no: event.order_no.clone(),
            kind: event.kind.clone(),
            payload,
            at,
            at_ms: event.at.timestamp_millis(),
            digest,
        })
    }

    /// Back to the wire shape.
    pub fn to_event(&self) -> Result<Event, StoreError> {
        let corrupt = |what: &str| {
            StoreError::Corrupt(format!("event {}/{}: {what}", self.terminal, self.seq))
        };
        let payload = match serde_json::from_str(&self.payload) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => return Err(corrupt("payload is not a JSON object")),
        };
        Ok(Event {
            seq: u64::try_from(self.seq).map_err(|_| corrupt("negative seq"))?,
            order_no: self.order_no.clone(),
            kind: self.kind.clone(),
            payload,
            at: DateTime::parse_from_rfc3339(&self.at)
                .map_err(|_| corrupt("bad time"))?
                .with_timezone(&Utc),
            store: StoreCode::parse(&self.store).map_err(|_| corrupt("bad store"))?,
            terminal: TerminalId::parse(&self.terminal).map_err(|_| corrupt("bad terminal"))?,
        })
    }
}

/// JSON with object keys sorted at every level, whatever order the sender
/// used and whatever map type serde_json was built with.
pub fn canonical_json(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

/// SHA-256 of the JSON array `[seq, order_no, kind, payload, at, store,
/// terminal]`, written compactly. Serialised straight into the hash: this
/// runs once per event received.
fn event_digest(
    seq: i64,
    order_no: &str,
    kind: &str,
    payload: &str,
    at: &str,
    store: &str,
    terminal: &str,
) -> [u8; 32] {
    let mut hasher = Sha256::new();
    // Writing into a hasher cannot fail, and a tuple of numbers and
    // strings always serialises.
    let _ = serde_json::to_writer(
        &mut hasher,
        &(seq, order_no, kind, payload, at, store, terminal),
    );
    hasher.finalize().into()
}

fn write_canonical(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => write_canonical_map(map, out),
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        serde_json::Value::String(text) => write_json_string(text, out),
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn write_canonical_map(map: &serde_json::Map<String, serde_json::Value>, out: &mut String) {
    let mut entries: Vec<(&String, &serde_json::Value)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_string(key, out);
        out.push(':');
        write_canonical(value, out);
    }
    out.push('}');
}

fn write_json_string(text: &str, out: &mut String) {
    // A &str always serialises; the output is JSON, hence UTF-8.
    if let Ok(quoted) = serde_json::to_string(text) {
        out.push_str(&quoted);
    }
}

/// One signed request's batch, as `Store::ingest` takes it.
#[derive(Debug, Clone)]
pub struct IngestBatch {
    pub terminal: TerminalId,
    pub nonce: String,
    pub forget_nonces_before: DateTime<Utc>,
    pub rows: Vec<EventRow>,
    pub outbox_remaining: Option<u64>,
    pub now: DateTime<Utc>,
}

/// What storing one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    pub stored: u64,
    pub duplicates: u64,
    pub conflicts: Vec<u64>,
    pub acked_seq: u64,
    pub highest_seq: u64,
    /// The first gap after `acked_seq`, inclusive.
    pub missing: Option<(u64, u64)>,
}

/// What spending an enrolment code did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    Enrolled(StoreCode),
    /// Unknown, already spent or expired.
    CodeRejected,
    /// The generated terminal id exists; the code stays unspent, so the
    /// caller tries again with another id.
    IdTaken,
}

/// One payment or refund event for the daily report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    pub store: String,
    pub kind: String,
    pub payload: String,
}

/// A channel's notification for one terminal, as received (see the relay
/// in `crate::server`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotice {
    pub terminal: TerminalId,
    pub channel: String,
    /// The headers the channel signed with, as a JSON array of pairs.
    pub headers: String,
    pub body: String,
    pub now: DateTime<Utc>,
    /// Notices received before this are dropped on the way.
    pub forget_before: DateTime<Utc>,
    /// At most this many are kept per terminal (the oldest go first).
    pub keep_at_most: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeRow {
    pub id: i64,
    pub channel: String,
    pub headers: String,
    pub body: String,
    pub received_ms: i64,
}

/// Suspend a channel or lift its suspension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlAction {
    Suspend,
    Lift,
}

impl ControlAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ControlAction::Suspend => "suspend",
            ControlAction::Lift => "lift",
        }
    }
}

/// A checked change to channel control (see `crate::control`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelControl {
    pub action: ControlAction,
    /// `None`: all stores.
    pub store: Option<StoreCode>,
    pub channel: String,
    pub reason: Option<String>,
    pub by: String,
    /// `cli`, `http` or `page`.
    pub via: String,
    pub now: DateTime<Utc>,
}

/// What a change to channel control did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlOutcome {
    /// The control version after the change (unchanged when nothing was).
    pub version: i64,
    /// Suspensions set (1) or removed (any number, 0 when none was there).
    pub changed: u64,
}

/// One current suspension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuspensionRow {
    /// `None`: all stores.
    pub store: Option<StoreCode>,
    pub channel: String,
    pub reason: String,
    pub since_ms: i64,
    pub by: String,
}

/// One line of head office's channel-control audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlLogRow {
    pub id: i64,
    pub at_ms: i64,
    pub by: String,
    pub via: String,
    pub action: String,
    pub store: Option<StoreCode>,
    pub channel: String,
    pub reason: Option<String>,
}

/// How the "all stores" scope is written in the store column (no store
/// code can be `*`).
pub const ALL_STORES: &str = "*";

pub(crate) fn scope_to_column(store: &Option<StoreCode>) -> String {
    store
        .as_ref()
        .map_or_else(|| ALL_STORES.to_owned(), |s| s.as_str().to_owned())
}

pub(crate) fn column_to_scope(text: &str) -> Result<Option<StoreCode>, StoreError> {
    if text == ALL_STORES {
        return Ok(None);
    }
    StoreCode::parse(text)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(format!("suspension store: {e}")))
}

/// The operations head office needs from a database.
pub trait Store: Send + Sync + fmt::Debug {
    /// `sqlite` or `postgres`, for logs and the benchmark.
    fn backend(&self) -> &'static str;

    /// Record a one-time enrolment code (only its SHA-256 is kept).
    fn add_enroll_code(
        &self,
        code_hash: String,
        store: StoreCode,
        now: DateTime<Utc>,
        expires: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Spend a code and enrol `terminal` with `salt` in one transaction.
    fn redeem_enroll_code(
        &self,
        code_hash: String,
        terminal: TerminalId,
        salt: String,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Redemption, StoreError>>;

    fn terminal(&self, id: TerminalId)
        -> BoxFuture<'_, Result<Option<TerminalRecord>, StoreError>>;

    /// `false` if no such terminal.
    fn revoke(&self, id: TerminalId, now: DateTime<Utc>)
        -> BoxFuture<'_, Result<bool, StoreError>>;

    /// In one transaction: remember the request's nonce (refusing with
    /// `ReplayedNonce` if this terminal used it before, and forgetting nonces
    /// first seen before `forget_before`), store a batch of the terminal's
    /// events at most once each, and move its cursor. Fails with `Revoked`
    /// if the terminal was revoked meanwhile. Sharing the transaction saves a
    /// durable commit per batch.
    fn ingest(&self, batch: IngestBatch) -> BoxFuture<'_, Result<IngestOutcome, StoreError>>;

    fn terminals(&self) -> BoxFuture<'_, Result<Vec<TerminalInfo>, StoreError>>;

    /// Events of the given kinds with `from_ms <= at_ms < to_ms`.
    fn report_rows(
        &self,
        from_ms: i64,
        to_ms: i64,
        kinds: Vec<String>,
        store: Option<StoreCode>,
    ) -> BoxFuture<'_, Result<Vec<ReportRow>, StoreError>>;

    /// A terminal's events with `seq > after`, in order, at most `limit`.
    fn events_of(
        &self,
        terminal: TerminalId,
        after: u64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<EventRow>, StoreError>>;

    /// Keep a channel's notification for its terminal to fetch. `None`
    /// (and nothing kept) when the terminal is unknown or revoked.
    fn add_notice(&self, notice: NewNotice) -> BoxFuture<'_, Result<Option<i64>, StoreError>>;

    /// A terminal's notices with `id > after`, oldest first, at most `limit`.
    fn notices_after(
        &self,
        terminal: TerminalId,
        after: i64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<NoticeRow>, StoreError>>;

    /// Remember the nonce of a signed request that stores nothing (forgetting
    /// nonces first seen before `forget_before`); `false` if this terminal
    /// used it before.
    fn use_nonce(
        &self,
        terminal: TerminalId,
        nonce: String,
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;

    /// Suspend a channel or lift suspensions, with its audit line and a new
    /// control version, in one transaction. Suspending what is suspended
    /// replaces the reason; lifting for all stores lifts every store's
    /// suspension of the channel; lifting what is not suspended changes
    /// nothing (`changed` 0, no audit line).
    fn control_channel(
        &self,
        change: ChannelControl,
    ) -> BoxFuture<'_, Result<ControlOutcome, StoreError>>;

    /// The control version (0 before any change): it moves with every
    /// suspend or lift, so a terminal holding an older one asks again.
    fn control_version(&self) -> BoxFuture<'_, Result<i64, StoreError>>;

    /// The version and the suspensions that apply to `store` (its own and
    /// the all-stores ones), or every suspension when `None`.
    fn suspensions(
        &self,
        store: Option<StoreCode>,
    ) -> BoxFuture<'_, Result<(i64, Vec<SuspensionRow>), StoreError>>;

    /// The latest channel-control audit lines, newest first.
    fn control_log(&self, limit: u32) -> BoxFuture<'_, Result<Vec<ControlLogRow>, StoreError>>;

    /// Insert rows in one transaction with no checks beyond the keys: the
    /// floor the sync benchmark compares against.
    fn bulk_insert_raw(&self, rows: Vec<EventRow>) -> BoxFuture<'_, Result<(), StoreError>>;
}

/// Open (and migrate) the database at `url`: `sqlite://PATH` or
/// `postgres://…` / `postgresql://…`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        if path.is_empty() {
            return Err(StoreError::BadUrl(url.to_owned()));
        }
        let store = sqlite::SqliteStore::open(std::path::Path::new(path)).await?;
        Ok(Arc::new(store))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = postgres::PgStore::open(url).await?;
        Ok(Arc::new(store))
    } else {
        Err(StoreError::BadUrl(url.to_owned()))
    }
}

pub(crate) fn ms_to_time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// After a batch is in, every one of its seqs is stored (new, repeated or
/// conflicting), so the run after `acked` can first be followed through the
/// batch itself; the database is then asked only about what lies beyond.
/// For the usual in-order batch this avoids scanning the batch's rows again.
pub(crate) fn advance_through_batch(acked: i64, rows: &[EventRow]) -> i64 {
    let mut seqs: Vec<i64> = rows.iter().map(|r| r.seq).filter(|s| *s > acked).collect();
    seqs.sort_unstable();
    seqs.dedup();
    let mut run = acked;
    for seq in seqs {
        if seq == run + 1 {
            run = seq;
        } else {
            break;
        }
    }
    run
}

/// The new contiguous end, when it is certain without asking the database:
/// nothing was stored past `highest` before this batch (`acked == highest`,
/// and everything up to `acked` is present) and every row of the batch was
/// stored just now. Then the run ends where the batch's own run ends.
pub(crate) fn acked_after_fresh_batch(
    acked: i64,
    highest: i64,
    every_row_stored: bool,
    rows: &[EventRow],
) -> Option<i64> {
    (acked == highest && every_row_stored).then(|| advance_through_batch(acked, rows))
}

/// Split a batch's rows after the insert: those not inserted are repeats
/// when their digest matches the stored one, conflicts otherwise.
pub(crate) fn classify(
    not_inserted: &[&EventRow],
    stored_digest: impl Fn(i64) -> Option<String>,
) -> (u64, Vec<u64>) {
    let mut duplicates = 0;
    let mut conflicts = Vec::new();
    for row in not_inserted {
        match stored_digest(row.seq) {
            Some(d) if d == row.digest => duplicates += 1,
            _ => conflicts.push(to_u64(row.seq)),
        }
    }
    conflicts.sort_unstable();
    conflicts.dedup();
    (duplicates, conflicts)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"b":1,"a":{"y":[1,{"d":2,"c":3}],"x":"é\"q"}}"#).unwrap();
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"x":"é\"q","y":[1,{"c":3,"d":2}]},"b":1}"#
        );
    }

    #[test]
    fn digest_ignores_key_order_but_not_content() {
        let ev = |payload: &str| -> Event {
            serde_json::from_str(&format!(
                r#"{{"seq":1,"order_no":"o","kind":"order_paid","payload":{payload},"at":"2026-11-21T09:00:00+08:00","store":"S1","terminal":"T1"}}"#
            ))
            .unwrap()
        };
        let a = EventRow::from_event(&ev(r#"{"amount_fen":100,"channel":"cash"}"#)).unwrap();
        let b = EventRow::from_event(&ev(r#"{"channel":"cash","amount_fen":100}"#)).unwrap();
        let c = EventRow::from_event(&ev(r#"{"channel":"cash","amount_fen":101}"#)).unwrap();
        assert_eq!(a.digest, b.digest);
        assert_ne!(a.digest, c.digest);
        assert_eq!(a.at, "2026-11-21T01:00:00Z");
        assert_eq!(
            a.to_event().unwrap(),
            ev(r#"{"amount_fen":100,"channel":"cash"}"#)
        );
    }

    /// The digest is stored and compared across versions: pin it to the
    /// JSON array written out by `serde_json::Value`, and to a fixed value.
    #[test]
    fn digest_is_the_sha256_of_the_compact_json_array() {
        let event: Event = serde_json::from_str(
            r#"{"seq":7,"order_no":"T1_20261121_000004","kind":"order_paid","payload":{"z":"收银\n\"q\"","a":[1,2.5,null,true]},"at":"2026-11-21T09:00:00.123+08:00","store":"S1","terminal":"T1"}"#,
        )
        .unwrap();
        let row = EventRow::from_event(&event).unwrap();
        assert_eq!(row.payload, r#"{"a":[1,2.5,null,true],"z":"收银\n\"q\""}"#);
        let reference = serde_json::json!([
            7,
            "T1_20261121_000004",
            "order_paid",
            row.payload,
            "2026-11-21T01:00:00.123Z",
            "S1",
            "T1"
        ])
        .to_string();
        assert_eq!(
            row.digest,
            hex::encode(Sha256::digest(reference.as_bytes()))
        );
        assert_eq!(
            row.digest,
            "ff1184a09f441d47ae22bc53439278048200fe95622dad2399a344aec3f461b1"
        );
    }
}
