//! `shouyin bench channels`: head office taking channel-call reports from
//! many tills at their real cadence, beside event sync in the same run.
//!
//! One head office on a SQLite file is served on 127.0.0.1:0; `tills`
//! terminals are enrolled over HTTP. Then:
//! 1. a backlog of events is synced by one more terminal alone (batches of
//!    2,000, one in flight) — the event-sync figure without reports;
//! 2. for `secs` seconds every till sends one signed report every
//!    `every_secs`, spread evenly, while the same backlog is synced again by
//!    yet another terminal — reports per second sustained, their latency,
//!    the CPU the process used, and event sync beside them;
//! 3. every till sends one report at once, 64 in flight — the most reports
//!    per second head office takes.
//!
//! The clients run in the same process as head office, so the CPU figure
//! counts both sides: head office alone uses less.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use shouyin_core::{ChannelKind, TerminalId};
use shouyin_hq::secret::SealKey;
use shouyin_hq::store;
use shouyin_hq::{AppState, Config};
use shouyin_wire::{
    self as wire, CallKind, CallLine, ChannelReport, EventBatch, StoreCode, CALL_BUCKET_SLOTS,
};

use crate::bench_sync::{backlog, enroll_over_http, post_batch, BenchError};

#[derive(Debug, Clone)]
pub struct ChannelBenchOptions {
    pub tills: usize,
    pub every_secs: u64,
    /// Length of the paced phase.
    pub secs: u64,
    /// Events in each event-sync backlog.
    pub events: u64,
}

impl Default for ChannelBenchOptions {
    fn default() -> Self {
        ChannelBenchOptions {
            tills: 1000,
            every_secs: 15,
            secs: 30,
            events: 20_000,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ChannelBenchResult {
    pub tills: usize,
    pub every_secs: u64,
    pub needed_per_sec: f64,
    pub paced_reports: u64,
    pub paced_secs: f64,
    pub paced_p50_ms: f64,
    pub paced_p95_ms: f64,
    /// CPU seconds per wall second of the whole process in the paced phase.
    pub paced_cores: f64,
    pub burst_per_sec: f64,
    pub events: u64,
    pub sync_alone_per_sec: f64,
    pub sync_beside_per_sec: f64,
    /// Call series head office holds at the end.
    pub series: usize,
}

impl std::fmt::Display for ChannelBenchResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "channel reports, sqlite: {} tills every {} s need {:.1} reports/s; paced for {:.0} s: {} reports, {:.1} reports/s sustained, p50 {:.1} ms / p95 {:.1} ms, CPU {:.0}% of one core (tills' signing and head office together); flat out {:.0} reports/s ({:.1}x the need); {} call series",
            self.tills,
            self.every_secs,
            self.needed_per_sec,
            self.paced_secs,
            self.paced_reports,
            self.paced_reports as f64 / self.paced_secs.max(1e-9),
            self.paced_p50_ms,
            self.paced_p95_ms,
            self.paced_cores * 100.0,
            self.burst_per_sec,
            self.burst_per_sec / self.needed_per_sec.max(1e-9),
            self.series,
        )?;
        write!(
            f,
            "event sync in the same run: {} events alone {:.0} events/s; beside the reports {:.0} events/s (ratio {:.2}x)",
            self.events,
            self.sync_alone_per_sec,
            self.sync_beside_per_sec,
            self.sync_alone_per_sec / self.sync_beside_per_sec.max(1e-9),
        )
    }
}

/// CPU seconds this process has used (all threads), from /proc.
fn cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) in parentheses.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let ticks: f64 = fields
        .get(11..13)
        .map(|f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum())
        .unwrap_or(0.0);
    // USER_HZ is 100 on Linux.
    ticks / 100.0
}

struct Till {
    id: TerminalId,
    secret: Vec<u8>,
}

fn report(round: u64) -> ChannelReport {
    let now = Utc::now();
    let mut lines = Vec::new();
    for channel in [ChannelKind::Wechat, ChannelKind::Alipay] {
        for call in [CallKind::Create, CallKind::Query] {
            let mut buckets = vec![0u64; CALL_BUCKET_SLOTS];
            buckets[1] = 3;
            buckets[3] = 1;
            buckets[CALL_BUCKET_SLOTS - 1] = round % 2;
            lines.push(CallLine {
                channel,
                call,
                ok: 3,
                refused: 1,
                indeterminate: round % 2,
                untrusted: 0,
                buckets,
                sum_ms: 900,
            });
        }
    }
    ChannelReport {
        from: now - chrono::Duration::milliseconds(15_000),
        to: now,
        lines,
        store_name: Some("南京路店".into()),
    }
}

async fn post_report(
    client: &reqwest::Client,
    base: &str,
    till: &Till,
    report: &ChannelReport,
) -> Result<(), BenchError> {
    let body = serde_json::to_vec(report).map_err(|e| BenchError::Check(e.to_string()))?;
    let headers = wire::sign_request(
        &till.secret,
        &till.id,
        "POST",
        wire::CHANNEL_REPORT_PATH,
        &body,
        Utc::now(),
        &wire::new_nonce(&mut rand::thread_rng()),
    );
    let mut request = client
        .post(format!("{base}{}", wire::CHANNEL_REPORT_PATH))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers.pairs() {
        request = request.header(name, value);
    }
    let response = request.send().await?;
    if !response.status().is_success() {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        return Err(BenchError::Check(format!(
            "report refused: {status} {text}"
        )));
    }
    Ok(())
}

async fn sync_backlog(
    client: &reqwest::Client,
    base: &str,
    store: &dyn store::Store,
    events: u64,
) -> Result<f64, BenchError> {
    let code = StoreCode::parse("BENCHSYNC").map_err(|e| BenchError::Check(e.to_string()))?;
    let enrolled = enroll_over_http(client, base, store, &code).await?;
    let secret = hex::decode(&enrolled.secret).map_err(|e| BenchError::Check(e.to_string()))?;
    let events_list = backlog(&enrolled.terminal_id, &code, events);
    let started = Instant::now();
    let mut remaining = events_list.len();
    for chunk in events_list.chunks(2000) {
        remaining -= chunk.len();
        let batch = EventBatch {
            events: chunk.to_vec(),
            outbox_remaining: Some(remaining as u64),
        };
        post_batch(client, base, &enrolled.terminal_id, &secret, &batch).await?;
    }
    Ok(events as f64 / started.elapsed().as_secs_f64().max(1e-9))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub async fn run(opts: &ChannelBenchOptions) -> Result<ChannelBenchResult, BenchError> {
    let tmp = tempfile::tempdir()?;
    let url = format!("sqlite://{}", tmp.path().join("hq.db").display());
    let store = store::open(&url).await?;
    let state = AppState::new(
        store.clone(),
        Config {
            admin_token: None,
            body_limit: shouyin_hq::DEFAULT_BODY_LIMIT,
            calendar: Default::default(),
            seal_key: SealKey::generate(&mut rand::thread_rng()),
        },
    );
    let channels = state.channels.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(shouyin_hq::run(listener, state, async {
        let _ = stop_rx.await;
    }));
    let client = reqwest::Client::new();

    // Fifty stores of twenty tills.
    let mut tills = Vec::with_capacity(opts.tills);
    for i in 0..opts.tills {
        let code = StoreCode::parse(&format!("S{:03}", i / 20))
            .map_err(|e| BenchError::Check(e.to_string()))?;
        let enrolled = enroll_over_http(&client, &base, store.as_ref(), &code).await?;
        let secret = hex::decode(&enrolled.secret).map_err(|e| BenchError::Check(e.to_string()))?;
        tills.push(Till {
            id: enrolled.terminal_id,
            secret,
        });
    }
    let tills = Arc::new(tills);

    // 1. Event sync alone.
    let sync_alone = sync_backlog(&client, &base, store.as_ref(), opts.events).await?;

    // 2. Paced reports, event sync beside them.
    let needed = opts.tills as f64 / opts.every_secs.max(1) as f64;
    let gap = Duration::from_secs_f64(1.0 / needed);
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<f64>::new()));
    let failures = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let cpu_before = cpu_secs();
    let started = Instant::now();
    let beside = {
        let client = client.clone();
        let base = base.clone();
        let store = store.clone();
        let events = opts.events;
        tokio::spawn(async move { sync_backlog(&client, &base, store.as_ref(), events).await })
    };
    let total = (opts.secs as f64 * needed).round() as u64;
    let mut ticker = tokio::time::interval(gap);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..total {
        ticker.tick().await;
        let tills = tills.clone();
        let client = client.clone();
        let base = base.clone();
        let latencies = latencies.clone();
        let failures = failures.clone();
        let first_error = first_error.clone();
        tasks.spawn(async move {
            let till = &tills[(n as usize) % tills.len()];
            let round = n / tills.len() as u64;
            let t = Instant::now();
            match post_report(&client, &base, till, &report(round)).await {
                Ok(()) => latencies
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(t.elapsed().as_secs_f64() * 1000.0),
                Err(e) => {
                    failures.fetch_add(1, Ordering::Relaxed);
                    first_error
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert(e.to_string());
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let paced_secs = started.elapsed().as_secs_f64();
    let paced_cores = (cpu_secs() - cpu_before) / paced_secs.max(1e-9);
    let sync_beside = beside
        .await
        .map_err(|e| BenchError::Check(e.to_string()))??;
    if failures.load(Ordering::Relaxed) > 0 {
        return Err(BenchError::Check(format!(
            "{} paced reports were refused, the first: {}",
            failures.load(Ordering::Relaxed),
            first_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
                .unwrap_or_default()
        )));
    }
    let mut lat = latencies.lock().unwrap_or_else(|p| p.into_inner()).clone();
    lat.sort_by(f64::total_cmp);

    // 3. Flat out: every till once, 64 in flight.
    let semaphore = Arc::new(tokio::sync::Semaphore::new(64));
    let burst_started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..tills.len() {
        let permit = semaphore
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| BenchError::Check(e.to_string()))?;
        let tills = tills.clone();
        let client = client.clone();
        let base = base.clone();
        tasks.spawn(async move {
            let _permit = permit;
            post_report(&client, &base, &tills[i], &report(99)).await
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| BenchError::Check(e.to_string()))??;
    }
    let burst_per_sec = tills.len() as f64 / burst_started.elapsed().as_secs_f64().max(1e-9);

    let _ = stop_tx.send(());
    let _ = server.await;
    Ok(ChannelBenchResult {
        tills: opts.tills,
        every_secs: opts.every_secs,
        needed_per_sec: needed,
        paced_reports: lat.len() as u64,
        paced_secs,
        paced_p50_ms: percentile(&lat, 0.5),
        paced_p95_ms: percentile(&lat, 0.95),
        paced_cores,
        burst_per_sec,
        events: opts.events,
        sync_alone_per_sec: sync_alone,
        sync_beside_per_sec: sync_beside,
        series: channels.series(),
    })
}
