//! `shouyin bench sync`: how fast a week-long backlog reaches head office.
//!
//! For each backend the benchmark starts its own database (a SQLite file in a
//! temporary directory; a throwaway PostgreSQL cluster), serves it on
//! 127.0.0.1:0, enrols a terminal, and posts the backlog in signed batches
//! over HTTP, one batch in flight as a terminal would. Then it inserts the
//! same rows into a fresh database of the same backend in one transaction
//! (prepared statement for SQLite, binary COPY for PostgreSQL) — the floor.
//! Both are measured several times, alternately, each into a fresh
//! database; the medians and their ratio are reported.

use std::fmt;
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use shouyin_core::TerminalId;

use shouyin_hq::secret::SealKey;
use shouyin_hq::store::{self, EventRow, StoreError};
use shouyin_hq::{AppState, Config};
use shouyin_wire::{
    self as wire, EnrollRequest, EnrollResponse, Event, EventBatch, EventsAck, StoreCode,
};

pub use crate::hq::Backend;
use crate::pg::{ClusterError, PgCluster};

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub events: u64,
    pub batch: usize,
    /// Measurements of each side; the medians are reported.
    pub runs: usize,
    pub backends: Vec<Backend>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            events: 100_000,
            batch: 1_000,
            runs: 3,
            backends: vec![Backend::Sqlite, Backend::Postgres],
        }
    }
}

#[derive(Debug, Clone)]
pub struct BenchResult {
    pub backend: Backend,
    pub events: u64,
    pub batch: usize,
    pub runs: usize,
    pub http_secs: f64,
    pub raw_secs: f64,
}

impl BenchResult {
    pub fn http_rate(&self) -> f64 {
        self.events as f64 / self.http_secs.max(1e-9)
    }
    pub fn raw_rate(&self) -> f64 {
        self.events as f64 / self.raw_secs.max(1e-9)
    }
    /// How many times slower the sync path is than the raw insert.
    pub fn ratio(&self) -> f64 {
        self.http_secs / self.raw_secs.max(1e-9)
    }
}

impl fmt::Display for BenchResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<8} {} events in batches of {} (median of {}): sync over HTTP {:.2} s ({:.0} events/s); raw insert {:.2} s ({:.0} events/s); ratio {:.2}x",
            self.backend.name(),
            self.events,
            self.batch,
            self.runs,
            self.http_secs,
            self.http_rate(),
            self.raw_secs,
            self.raw_rate(),
            self.ratio()
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("benchmark check failed: {0}")]
    Check(String),
}

/// The backlog of one terminal: a realistic mix of created, paid and
/// refunded orders, one event per second.
pub fn backlog(terminal: &TerminalId, store: &StoreCode, events: u64) -> Vec<Event> {
    let start = Utc
        .with_ymd_and_hms(2026, 11, 14, 1, 0, 0)
        .single()
        .unwrap_or_default();
    (1..=events)
        .map(|seq| {
            let order = seq.div_ceil(2);
            let order_no = format!("{terminal}_20261114_{order:06}");
            let (kind, payload) = if seq % 2 == 1 {
                (
                    wire::kinds::ORDER_CREATED,
                    serde_json::json!({"amount_fen": 1000 + (order % 500) as i64, "channel": "alipay", "cashier": "C01"}),
                )
            } else if seq % 50 == 0 {
                (
                    wire::kinds::REFUND_SUCCEEDED,
                    serde_json::json!({"refund_fen": 500, "refund_no": format!("R{order:08}")}),
                )
            } else {
                (
                    wire::kinds::ORDER_PAID,
                    serde_json::json!({"amount_fen": 1000 + (order % 500) as i64, "channel": "alipay", "trade_no": format!("2026{order:012}")}),
                )
            };
            let payload = match payload {
                serde_json::Value::Object(m) => m,
                _ => serde_json::Map::new(),
            };
            Event {
                seq,
                order_no,
                kind: kind.to_owned(),
                payload,
                at: start + Duration::seconds(i64::try_from(seq).unwrap_or(0)),
                store: store.clone(),
                terminal: terminal.clone(),
            }
        })
        .collect()
}

/// Enrol a terminal through the HTTP API with a code put straight into the
/// database (what `shouyin hq enroll-code` does).
pub async fn enroll_over_http(
    client: &reqwest::Client,
    base: &str,
    store: &dyn store::Store,
    store_code: &StoreCode,
) -> Result<EnrollResponse, BenchError> {
    let code = shouyin_hq::issue_enroll_code(store, store_code.clone(), Utc::now()).await?;
    let response = client
        .post(format!("{base}{}", wire::ENROLL_PATH))
        .json(&EnrollRequest {
            code,
            terminal_id: None,
        })
        .send()
        .await?
        .error_for_status()?;
    Ok(response.json().await?)
}

/// Post one batch, signed; returns the ack.
pub async fn post_batch(
    client: &reqwest::Client,
    base: &str,
    terminal: &TerminalId,
    secret: &[u8],
    batch: &EventBatch,
) -> Result<EventsAck, BenchError> {
    let body = serde_json::to_vec(batch).map_err(|e| BenchError::Check(e.to_string()))?;
    let headers = wire::sign_request(
        secret,
        terminal,
        "POST",
        wire::EVENTS_PATH,
        &body,
        Utc::now(),
        &wire::new_nonce(&mut rand::thread_rng()),
    );
    let mut request = client
        .post(format!("{base}{}", wire::EVENTS_PATH))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers.pairs() {
        request = request.header(name, value);
    }
    let response = request.send().await?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        return Err(BenchError::Check(format!("batch refused: {status} {text}")));
    }
    Ok(response.json().await?)
}

async fn one_backend(backend: Backend, opts: &BenchOptions) -> Result<BenchResult, BenchError> {
    let tmp = tempfile::tempdir()?;
    let cluster = match backend {
        Backend::Postgres => Some(PgCluster::start()?),
        Backend::Sqlite => None,
    };
    let runs = opts.runs.max(1);
    let mut http = Vec::with_capacity(runs);
    let mut raw = Vec::with_capacity(runs);
    for run in 0..runs {
        // A fresh database for every measurement, so no run inherits
        // another's rows, indexes or cache.
        let (sync_url, raw_url) = match &cluster {
            Some(c) => (
                c.create_database(&format!("bench_sync_{run}")).await?,
                c.create_database(&format!("bench_raw_{run}")).await?,
            ),
            None => (
                format!(
                    "sqlite://{}",
                    tmp.path().join(format!("sync{run}.db")).display()
                ),
                format!(
                    "sqlite://{}",
                    tmp.path().join(format!("raw{run}.db")).display()
                ),
            ),
        };
        let (secs, events) = sync_over_http(&sync_url, opts).await?;
        http.push(secs);
        let raw_store = store::open(&raw_url).await?;
        let rows: Vec<EventRow> = events.iter().filter_map(EventRow::from_event).collect();
        let started = Instant::now();
        raw_store.bulk_insert_raw(rows).await?;
        raw.push(started.elapsed().as_secs_f64());
    }
    drop(cluster);
    Ok(BenchResult {
        backend,
        events: opts.events,
        batch: opts.batch.max(1),
        runs,
        http_secs: median(&mut http),
        raw_secs: median(&mut raw),
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Serve `url`, enrol a terminal and post its backlog in signed batches,
/// one in flight; returns the seconds taken and the events sent.
async fn sync_over_http(url: &str, opts: &BenchOptions) -> Result<(f64, Vec<Event>), BenchError> {
    let store = store::open(url).await?;
    let config = Config {
        admin_token: None,
        body_limit: shouyin_hq::DEFAULT_BODY_LIMIT,
        calendar: Default::default(),
        seal_key: SealKey::generate(&mut rand::thread_rng()),
    };
    let state = AppState::new(store.clone(), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(shouyin_hq::run(listener, state, async {
        let _ = stop_rx.await;
    }));

    let client = reqwest::Client::new();
    let store_code = StoreCode::parse("BENCH").map_err(|e| BenchError::Check(e.to_string()))?;
    let enrolled = enroll_over_http(&client, &base, store.as_ref(), &store_code).await?;
    let secret = hex::decode(&enrolled.secret).map_err(|e| BenchError::Check(e.to_string()))?;
    let events = backlog(&enrolled.terminal_id, &store_code, opts.events);

    let started = Instant::now();
    let mut acked = 0;
    let mut remaining = events.len();
    for chunk in events.chunks(opts.batch.max(1)) {
        remaining -= chunk.len();
        let batch = EventBatch {
            events: chunk.to_vec(),
            outbox_remaining: Some(remaining as u64),
        };
        let ack = post_batch(&client, &base, &enrolled.terminal_id, &secret, &batch).await?;
        acked = ack.acked_seq;
    }
    let secs = started.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    let _ = server.await;
    if acked != opts.events {
        return Err(BenchError::Check(format!(
            "head office acknowledged {acked} of {} events",
            opts.events
        )));
    }
    Ok((secs, events))
}

/// Run the benchmark on each backend in turn.
pub async fn run(opts: &BenchOptions) -> Result<Vec<BenchResult>, BenchError> {
    let mut results = Vec::new();
    for backend in &opts.backends {
        results.push(one_backend(*backend, opts).await?);
    }
    Ok(results)
}
