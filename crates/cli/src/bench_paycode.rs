//! `shouyin bench paycode`: payments by the customer's code (付款码) against
//! the simulator on loopback, with a real ledger file per till.
//!
//! * `nopw`: codes that need no password. Scan to `paid` committed in the
//!   ledger (the call that takes the code returns with the order paid),
//!   p50/p95, one till scanning one code after another.
//! * `pw`: codes that need the password. The customer confirms on the phone
//!   after a delay drawn from `--delay-min`..`--delay-max` (seeded, the same
//!   delays for every schedule); latency is from the confirmation to the
//!   `paid` event the screen hears, and queries are counted per payment.
//!   Run with the adaptive schedule and beside the channels' documented
//!   polling (WeChat every 5 s; Alipay every 3 s and every 5 s), several
//!   tills at once (one code payment per till at a time, as at a counter).
//! * `budget`: the queries each schedule spends on a payment whose password
//!   is never entered, over the whole window (WeChat 45 s, Alipay 60 s),
//!   computed from the schedules.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use shouyin_api::{
    CodeChargeRequest, CodePollSchedule, CodeSettings, Counter, CounterEvent, CounterOptions,
    InitRequest, PaymentSettings,
};
use shouyin_channels::{
    BillLine, Channel, ChannelFuture, ChannelsFile, CloseOutcome, CodePay, CodePayAnswer, CreateQr,
    QrCreated, RefundRequest, RefundResult, RemotePayment,
};
use shouyin_core::{ChannelKind, OrderState};

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
    fn pay_by_code<'a>(&'a self, req: &'a CodePay) -> ChannelFuture<'a, CodePayAnswer> {
        self.inner.pay_by_code(req)
    }
    fn reverse_code_payment<'a>(
        &'a self,
        out_trade_no: &'a str,
    ) -> ChannelFuture<'a, CloseOutcome> {
        self.inner.reverse_code_payment(out_trade_no)
    }
}

/// What the bench is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// No-password payments per channel.
    pub nopw: usize,
    /// Tills paying password codes at once, and payments per till.
    pub tills: usize,
    pub per_till: usize,
    pub delay_min: Duration,
    pub delay_max: Duration,
    pub seed: u64,
}

pub async fn run(plan: Plan) -> anyhow::Result<()> {
    if plan.nopw == 0 || plan.tills == 0 || plan.per_till == 0 {
        bail!("--nopw, --tills and --per-till must be at least 1");
    }
    if plan.delay_max < plan.delay_min {
        bail!("--delay-max must not be below --delay-min");
    }
    let dir = tempfile::tempdir()?;
    let sim_dir = dir.path().join("sim");
    let sim = shouyin_testkit::Sim::start_in(&sim_dir).await;
    println!("bench=paycode");
    println!("nopw_payments_per_channel={}", plan.nopw);
    println!("pw_payments_per_run={}", plan.tills * plan.per_till);
    println!(
        "pw_confirm_delay_ms={}..{}",
        plan.delay_min.as_millis(),
        plan.delay_max.as_millis()
    );
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    let delays: Vec<Duration> = (0..plan.tills * plan.per_till)
        .map(|_| {
            let lo = plan.delay_min.as_millis() as u64;
            let hi = plan
                .delay_max
                .as_millis()
                .max(plan.delay_min.as_millis() + 1) as u64;
            Duration::from_millis(rng.gen_range(lo..hi))
        })
        .collect();
    let mut serial = 0usize;
    for (channel, sim_name) in [
        (ChannelKind::Alipay, "alipay"),
        (ChannelKind::Wechat, "wechat"),
    ] {
        // No password: scan to paid in the ledger.
        serial += 1;
        let (counter, _) = till(dir.path(), &sim_dir, serial, CodePollSchedule::Adaptive).await?;
        let mut took = Vec::with_capacity(plan.nopw);
        for i in 0..plan.nopw {
            let code = sim.paycode(sim_name, false, None).await;
            let started = Instant::now();
            let order = counter
                .order_charge_code(CodeChargeRequest {
                    amount: format!("{}.{:02}", 1 + i % 50, i % 100),
                    code,
                    cashier: None,
                })
                .await?;
            let elapsed = started.elapsed();
            if order.state != OrderState::Paid {
                bail!("{} ended {}", order.order_no, order.state);
            }
            took.push(elapsed);
        }
        counter.shutdown().await;
        took.sort();
        println!(
            "{sim_name}.nopw.scan_to_paid_p50_ms={:.1}",
            ms(percentile(&took, 50))
        );
        println!(
            "{sim_name}.nopw.scan_to_paid_p95_ms={:.1}",
            ms(percentile(&took, 95))
        );

        // A password: confirmation to paid on screen, and queries.
        let mut schedules = vec![("adaptive", CodePollSchedule::Adaptive)];
        if channel == ChannelKind::Alipay {
            schedules.push((
                "documented_3s",
                CodePollSchedule::Fixed(Duration::from_secs(3)),
            ));
        }
        schedules.push((
            "documented_5s",
            CodePollSchedule::Fixed(Duration::from_secs(5)),
        ));
        for (name, schedule) in schedules {
            let mut tasks = Vec::new();
            for t in 0..plan.tills {
                serial += 1;
                let (counter, queries) = till(dir.path(), &sim_dir, serial, schedule).await?;
                let sim_base = sim.base.clone();
                let delays: Vec<Duration> =
                    delays[t * plan.per_till..(t + 1) * plan.per_till].to_vec();
                tasks.push(tokio::spawn(async move {
                    let http = reqwest::Client::new();
                    let mut out = Vec::new();
                    for (i, delay) in delays.into_iter().enumerate() {
                        let code: String = http
                            .post(format!("{sim_base}/_sim/paycodes"))
                            .json(&serde_json::json!({"channel": sim_name, "password": true}))
                            .send()
                            .await?
                            .json::<serde_json::Value>()
                            .await?["code"]
                            .as_str()
                            .context("no code")?
                            .to_owned();
                        let mut events = counter.subscribe();
                        let order = counter
                            .order_charge_code(CodeChargeRequest {
                                amount: format!("{}.{:02}", 10 + i, t % 100),
                                code: code.clone(),
                                cashier: None,
                            })
                            .await?;
                        if order.state != OrderState::Pending {
                            bail!("{} answered {}, not pending", order.order_no, order.state);
                        }
                        tokio::time::sleep(delay).await;
                        let r = http
                            .post(format!("{sim_base}/_sim/paycodes/{code}/confirm"))
                            .send()
                            .await?;
                        let confirmed = Instant::now();
                        if !r.status().is_success() {
                            bail!("the phone could not confirm: {}", r.text().await?);
                        }
                        let seen = tokio::time::timeout(Duration::from_secs(70), async {
                            loop {
                                match events.recv().await {
                                    Ok(CounterEvent::OrderChanged { order: o })
                                        if o.order_no == order.order_no && o.state.is_final() =>
                                    {
                                        return Ok(o.state)
                                    }
                                    Ok(_) => continue,
                                    Err(e) => return Err(anyhow::anyhow!("events: {e}")),
                                }
                            }
                        })
                        .await
                        .context("the payment never became final")??;
                        let latency = confirmed.elapsed();
                        if seen != OrderState::Paid {
                            bail!("{} ended {seen}", order.order_no);
                        }
                        let n = queries
                            .lock()
                            .map(|q| q.get(&order.order_no).copied().unwrap_or(0))
                            .unwrap_or(0);
                        out.push((latency, n, delay));
                    }
                    counter.shutdown().await;
                    Ok::<_, anyhow::Error>(out)
                }));
            }
            let mut lat = Vec::new();
            let mut queries = Vec::new();
            for task in tasks {
                for (l, q, _) in task.await?? {
                    lat.push(l);
                    queries.push(q);
                }
            }
            lat.sort();
            let mean_q =
                queries.iter().map(|n| f64::from(*n)).sum::<f64>() / queries.len().max(1) as f64;
            let within_1s = lat.iter().filter(|l| **l <= Duration::from_secs(1)).count();
            println!(
                "{sim_name}.pw.{name}.confirm_to_paid_p50_ms={:.0}",
                ms(percentile(&lat, 50))
            );
            println!(
                "{sim_name}.pw.{name}.confirm_to_paid_p95_ms={:.0}",
                ms(percentile(&lat, 95))
            );
            println!("{sim_name}.pw.{name}.within_1s={within_1s}/{}", lat.len());
            println!("{sim_name}.pw.{name}.queries_per_payment={mean_q:.2}");
        }
        // The whole-window budget of a password never entered.
        let window = CodeSettings::default().window(channel);
        for (name, schedule) in [
            ("adaptive", CodePollSchedule::Adaptive),
            (
                "documented_3s",
                CodePollSchedule::Fixed(Duration::from_secs(3)),
            ),
            (
                "documented_5s",
                CodePollSchedule::Fixed(Duration::from_secs(5)),
            ),
        ] {
            if channel == ChannelKind::Wechat && name == "documented_3s" {
                continue;
            }
            println!(
                "{sim_name}.budget.{name}.queries_in_{}s_window={}",
                window.as_secs(),
                queries_in_window(schedule, channel, window)
            );
        }
    }
    drop(sim);
    Ok(())
}

/// Queries a schedule makes before the window ends (computed).
fn queries_in_window(schedule: CodePollSchedule, channel: ChannelKind, window: Duration) -> u32 {
    let mut t = Duration::ZERO;
    let mut n = 0;
    loop {
        t += schedule.delay(channel, t);
        if t >= window {
            return n;
        }
        n += 1;
    }
}

async fn till(
    dir: &std::path::Path,
    sim_dir: &std::path::Path,
    serial: usize,
    schedule: CodePollSchedule,
) -> anyhow::Result<(Counter, Arc<Mutex<HashMap<String, u32>>>)> {
    let db = dir.join(format!("till{serial}.db"));
    let setup = InitRequest {
        terminal: format!("B{serial:03}"),
        ..InitRequest::demo()
    };
    shouyin_api::init_ledger(&db, &setup, chrono::Utc::now())?;
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
                probe_every: None,
                code: CodeSettings {
                    schedule,
                    ..CodeSettings::default()
                },
                ..PaymentSettings::default()
            },
            ..CounterOptions::default()
        },
    )
    .await?;
    Ok((counter, queries))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() * p).div_ceil(100)).clamp(1, sorted.len()) - 1;
    sorted[idx]
}
