//! `shouyin bench confirm`: how fast a payment reaches the ledger, and at
//! what cost in queries, against the simulator on loopback, three ways:
//! - `push`: the counter enrolled with a head office (SQLite, in process),
//!   the channels' notifications relayed to it, adaptive polling as the
//!   safety net — the way a shop runs;
//! - `adaptive`: no head office, the adaptive poller alone;
//! - `fixed_5s`: the classic fixed 5-second poller, the baseline.
//!
//! Each simulated customer scans the code after a few seconds (getting the
//! phone out) and pays a few seconds later (confirming in the app); the
//! same delays (same seed) are used for both pollers. Latency is from the
//! moment the simulator is told to pay to the moment the ledger commits
//! `paid`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use shouyin_api::{
    ChargeRequest, Counter, CounterOptions, InitRequest, PaymentSettings, PollSchedule,
};
use shouyin_channels::{
    BillLine, Channel, ChannelError, ChannelFuture, ChannelsFile, CloseOutcome, CreateQr,
    PaymentNotice, QrCreated, RefundRequest, RefundResult, RemotePayment,
};
use shouyin_core::{ChannelKind, OrderState};
use tokio::sync::Semaphore;

/// Counts the queries each order costs.
#[derive(Debug)]
struct Counted {
    inner: Arc<dyn Channel>,
    queries: Arc<Mutex<HashMap<String, u32>>>,
}

impl Channel for Counted {
    fn kind(&self) -> ChannelKind {
        self.inner.kind()
    }
    fn create_qr<'a>(&'a self, req: &'a CreateQr) -> ChannelFuture<'a, QrCreated> {
        self.inner.create_qr(req)
    }
    fn query<'a>(&'a self, out_trade_no: &'a str) -> ChannelFuture<'a, RemotePayment> {
        if let Ok(mut q) = self.queries.lock() {
            *q.entry(out_trade_no.to_owned()).or_default() += 1;
        }
        self.inner.query(out_trade_no)
    }
    fn close<'a>(&'a self, out_trade_no: &'a str) -> ChannelFuture<'a, CloseOutcome> {
        self.inner.close(out_trade_no)
    }
    fn refund<'a>(&'a self, req: &'a RefundRequest) -> ChannelFuture<'a, RefundResult> {
        self.inner.refund(req)
    }
    fn query_refund<'a>(
        &'a self,
        out_trade_no: &'a str,
        out_refund_no: &'a str,
    ) -> ChannelFuture<'a, RefundResult> {
        self.inner.query_refund(out_trade_no, out_refund_no)
    }
    fn daily_bill(&self, date: chrono::NaiveDate) -> ChannelFuture<'_, Vec<BillLine>> {
        self.inner.daily_bill(date)
    }
    fn open_notification(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<PaymentNotice, ChannelError> {
        self.inner.open_notification(headers, body, now)
    }
}

#[derive(Debug, Clone, Copy)]
struct Customer {
    channel: ChannelKind,
    start_after: Duration,
    scan_after: Duration,
    pay_after_scan: Duration,
}

#[derive(Debug, Default)]
struct Figures {
    latencies: HashMap<ChannelKind, Vec<Duration>>,
    queries: HashMap<ChannelKind, Vec<u32>>,
}

pub async fn run(orders: usize, concurrency: usize, seed: u64) -> anyhow::Result<()> {
    if orders == 0 || concurrency == 0 {
        bail!("--orders and --concurrency must be at least 1");
    }
    let dir = tempfile::tempdir()?;
    let sim_dir = dir.path().join("sim");
    // Started as the tests start it: ready (keys and credentials written,
    // port bound) when this returns.
    let sim = shouyin_testkit::Sim::start_in(&sim_dir).await;
    let base = sim.base.clone();
    let http = reqwest::Client::new();

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let customers: Vec<Customer> = (0..orders)
        .map(|i| Customer {
            channel: if i % 2 == 0 {
                ChannelKind::Alipay
            } else {
                ChannelKind::Wechat
            },
            start_after: Duration::from_millis(rng.gen_range(0..2000)),
            scan_after: Duration::from_millis(rng.gen_range(2000..12_000)),
            pay_after_scan: Duration::from_millis(rng.gen_range(1000..5000)),
        })
        .collect();

    println!("bench=confirm");
    println!("orders={orders}");
    let mut results = Vec::new();
    let hq = HeadOffice::start().await;
    for (name, schedule, push) in [
        ("push", PollSchedule::Adaptive, true),
        ("adaptive", PollSchedule::Adaptive, false),
        (
            "fixed_5s",
            PollSchedule::Fixed(Duration::from_secs(5)),
            false,
        ),
    ] {
        let figures = one_run(
            dir.path(),
            &sim_dir,
            &base,
            &http,
            schedule,
            push.then_some(&hq),
            &customers,
            concurrency,
            name,
        )
        .await?;
        results.push((name, figures));
    }
    for channel in [ChannelKind::Alipay, ChannelKind::Wechat, ChannelKind::Cash] {
        // Cash stands for "both channels together" in the summary below.
        let pick = |f: &Figures| -> (Vec<Duration>, Vec<u32>) {
            if channel == ChannelKind::Cash {
                (
                    f.latencies.values().flatten().copied().collect(),
                    f.queries.values().flatten().copied().collect(),
                )
            } else {
                (
                    f.latencies.get(&channel).cloned().unwrap_or_default(),
                    f.queries.get(&channel).cloned().unwrap_or_default(),
                )
            }
        };
        let label = if channel == ChannelKind::Cash {
            "all"
        } else {
            channel.as_str()
        };
        let mut per_mode = Vec::new();
        for (name, f) in &results {
            let (mut lat, q) = pick(f);
            lat.sort();
            let p50 = percentile(&lat, 50);
            let p95 = percentile(&lat, 95);
            let qpo = q.iter().map(|n| f64::from(*n)).sum::<f64>() / q.len().max(1) as f64;
            println!("{label}.{name}.p50_ms={}", p50.as_millis());
            println!("{label}.{name}.p95_ms={}", p95.as_millis());
            println!("{label}.{name}.queries_per_order={qpo:.2}");
            per_mode.push(qpo);
        }
        if let [push, adaptive, fixed] = per_mode[..] {
            let fixed = fixed.max(f64::MIN_POSITIVE);
            println!("{label}.queries_ratio_push_over_fixed={:.2}", push / fixed);
            println!(
                "{label}.queries_ratio_adaptive_over_fixed={:.2}",
                adaptive / fixed
            );
        }
    }
    drop(hq);
    drop(sim);
    Ok(())
}

/// A head office on SQLite in this process, on 127.0.0.1:0, relaying the
/// simulator's notifications to the counter enrolled with it.
struct HeadOffice {
    hq: shouyin_testkit::Hq,
}

impl HeadOffice {
    async fn start() -> HeadOffice {
        // Fifty payments at once on one till is far beyond a real counter
        // and beyond head office's default limits on notifications per
        // terminal; the bench measures confirmation, so it lifts them.
        let limits = shouyin_hq::limits::NoticeLimits {
            per_terminal_source: shouyin_hq::limits::Rate {
                burst: 1000,
                per_sec: 200,
            },
            per_terminal: shouyin_hq::limits::Rate {
                burst: 1000,
                per_sec: 200,
            },
            ..Default::default()
        };
        HeadOffice {
            hq: shouyin_testkit::Hq::start_with_notice_limits(
                shouyin_testkit::Backend::Sqlite,
                limits,
            )
            .await,
        }
    }

    /// Enrol the counter and wait until notifications reach it.
    async fn enrol(&self, counter: &Counter) -> anyhow::Result<()> {
        let code = self.hq.enroll_code("BENCH").await;
        counter.sync_enroll(self.hq.base(), code).await?;
        counter.start_relay();
        let started = Instant::now();
        while !counter.relay_live() {
            if started.elapsed() > Duration::from_secs(30) {
                bail!("the notification relay did not come up");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() * p).div_ceil(100)).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

#[allow(clippy::too_many_arguments)]
async fn one_run(
    dir: &std::path::Path,
    sim_dir: &std::path::Path,
    base: &str,
    http: &reqwest::Client,
    schedule: PollSchedule,
    hq: Option<&HeadOffice>,
    customers: &[Customer],
    concurrency: usize,
    name: &str,
) -> anyhow::Result<Figures> {
    let db = dir.join(format!("{name}.db"));
    shouyin_api::init_ledger(&db, &InitRequest::demo(), chrono::Utc::now())?;
    let queries = Arc::new(Mutex::new(HashMap::new()));
    let channels = ChannelsFile::load(&sim_dir.join(shouyin_sim::CREDENTIALS_FILE))?
        .build()?
        .into_iter()
        .map(|(k, inner)| {
            let counted: Arc<dyn Channel> = Arc::new(Counted {
                inner,
                queries: Arc::clone(&queries),
            });
            (k, counted)
        })
        .collect();
    let counter = Counter::open_ledger(
        &db,
        CounterOptions {
            channels,
            payments: PaymentSettings {
                schedule,
                probe_every: None,
                max_watchers: concurrency.max(1) * 2,
                ..PaymentSettings::default()
            },
            ..CounterOptions::default()
        },
    )
    .await?;
    if let Some(hq) = hq {
        hq.enrol(&counter).await?;
    }
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut tasks = Vec::new();
    for (i, customer) in customers.iter().copied().enumerate() {
        let counter = counter.clone();
        let http = http.clone();
        let base = base.to_owned();
        let slots = Arc::clone(&slots);
        tasks.push(tokio::spawn(async move {
            let _slot = slots.acquire_owned().await?;
            tokio::time::sleep(customer.start_after).await;
            let order = counter
                .order_charge(ChargeRequest {
                    amount: format!("{}.{:02}", 1 + i % 200, i % 100),
                    channel: customer.channel,
                    cashier: None,
                    note: None,
                    force: true,
                    tendered: None,
                })
                .await?;
            let qr = order.qr_payload.clone().context("no QR code")?;
            tokio::time::sleep(customer.scan_after).await;
            http.get(format!("{base}/pay"))
                .query(&[("code", qr.as_str())])
                .send()
                .await?;
            tokio::time::sleep(customer.pay_after_scan).await;
            let paid_at = Instant::now();
            let r = http
                .post(format!("{base}/_sim/trades/{}/pay", order.order_no))
                .send()
                .await?;
            if !r.status().is_success() {
                bail!(
                    "the simulator refused to pay {}: {}",
                    order.order_no,
                    r.text().await?
                );
            }
            let done = counter
                .wait_final(&order.order_no, Duration::from_secs(120))
                .await?;
            let latency = paid_at.elapsed();
            if done.state != OrderState::Paid {
                bail!("{} ended {}", order.order_no, done.state);
            }
            Ok::<_, anyhow::Error>((customer.channel, order.order_no, latency))
        }));
    }
    let mut figures = Figures::default();
    for task in tasks {
        let (channel, order_no, latency) = task.await??;
        let n = queries
            .lock()
            .map(|q| q.get(&order_no).copied().unwrap_or(0))
            .unwrap_or(0);
        figures.latencies.entry(channel).or_default().push(latency);
        figures.queries.entry(channel).or_default().push(n);
    }
    counter.shutdown().await;
    Ok(figures)
}
