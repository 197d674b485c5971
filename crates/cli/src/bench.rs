//! `shouyin bench …`: benchmarks that print their figures beside the natural
//! baseline measured in the same run, and the ratio.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Subcommand;
use shouyin_core::{ChannelKind, Money};
use shouyin_ledger::reports::ExportFilter;
use shouyin_ledger::{Ledger, NewOrder};

#[derive(Debug, Subcommand)]
pub enum Which {
    /// Durable order + event appends per second, beside the sqlite3 CLI
    /// inserting the same rows with the same pragmas.
    Ledger {
        #[arg(long, default_value_t = 2000)]
        orders: u32,
    },
    /// A backlog of events synced to head office over signed HTTP, beside a
    /// raw bulk insert of the same rows, for SQLite and PostgreSQL.
    Sync {
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// Events per request (default: what the sync client sends).
        #[arg(long, default_value_t = shouyin_api::sync::MAX_BATCH)]
        batch: usize,
        /// Measurements of each side; the medians are reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// sqlite or postgres (default: both).
        #[arg(long)]
        backend: Option<String>,
    },
    /// Head office taking channel-call reports from TILLS tills, each every
    /// EVERY seconds, beside event sync in the same run (SQLite).
    Channels {
        #[arg(long, default_value_t = 1000)]
        tills: usize,
        #[arg(long, default_value_t = 15)]
        every: u64,
        /// Length of the paced phase, in seconds.
        #[arg(long, default_value_t = 30)]
        secs: u64,
        /// Events in the event-sync backlog.
        #[arg(long, default_value_t = 20_000)]
        events: u64,
    },
    /// Payment to ledger latency (p50, p95) and queries per order, adaptive
    /// poller beside a fixed 5-second poller, against the simulator.
    Confirm {
        #[arg(long, default_value_t = 200)]
        orders: usize,
        #[arg(long, default_value_t = 50)]
        concurrency: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Payments by the customer's code: scan to paid (p50, p95) without a
    /// password; confirmation to paid on screen and queries per payment with
    /// a password, adaptive polling beside the channels' documented polling.
    Paycode {
        /// No-password payments per channel.
        #[arg(long, default_value_t = 200)]
        nopw: usize,
        /// Tills taking password payments at once.
        #[arg(long, default_value_t = 10)]
        tills: usize,
        /// Password payments per till and schedule.
        #[arg(long, default_value_t = 3)]
        per_till: usize,
        /// The customer confirms this many ms after the scan, at the least…
        #[arg(long, default_value_t = 1500)]
        delay_min_ms: u64,
        /// …and at the most.
        #[arg(long, default_value_t = 5000)]
        delay_max_ms: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// A daily takings report on a (seeded) ledger, beside the sqlite3 CLI
    /// running the same aggregate queries.
    Report {
        #[arg(long)]
        db: PathBuf,
        /// The business day (default: the latest day with orders).
        #[arg(long)]
        date: Option<String>,
        /// Timed repetitions (the median is reported).
        #[arg(long, default_value_t = 50)]
        runs: u32,
    },
    /// A CSV export of about ROWS orders (the latest whole days that hold
    /// them), time and peak memory of `shouyin export csv` beside the
    /// sqlite3 CLI writing the same rows with `-csv`.
    Export {
        #[arg(long)]
        db: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// Timed runs of each (alternating; medians are reported, peak
        /// memory is the largest seen).
        #[arg(long, default_value_t = 3)]
        runs: u32,
    },
}

pub async fn run(which: Which) -> anyhow::Result<ExitCode> {
    match which {
        Which::Ledger { orders } => {
            tokio::task::spawn_blocking(move || ledger(orders)).await??;
            Ok(ExitCode::SUCCESS)
        }
        Which::Sync {
            events,
            batch,
            runs,
            backend,
        } => {
            crate::cmd_hq::bench(events, batch, runs, backend.as_deref()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Which::Channels {
            tills,
            every,
            secs,
            events,
        } => {
            if tills == 0 || every == 0 || secs == 0 {
                bail!("--tills, --every and --secs must be at least 1");
            }
            let opts = shouyin_testkit::bench_channels::ChannelBenchOptions {
                tills,
                every_secs: every,
                secs,
                events,
            };
            println!("{}", shouyin_testkit::bench_channels::run(&opts).await?);
            Ok(ExitCode::SUCCESS)
        }
        Which::Confirm {
            orders,
            concurrency,
            seed,
        } => {
            crate::bench_confirm::run(orders, concurrency, seed).await?;
            Ok(ExitCode::SUCCESS)
        }
        Which::Paycode {
            nopw,
            tills,
            per_till,
            delay_min_ms,
            delay_max_ms,
            seed,
        } => {
            crate::bench_paycode::run(crate::bench_paycode::Plan {
                nopw,
                tills,
                per_till,
                delay_min: Duration::from_millis(delay_min_ms),
                delay_max: Duration::from_millis(delay_max_ms),
                seed,
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Which::Report { db, date, runs } => {
            tokio::task::spawn_blocking(move || report(&db, date.as_deref(), runs)).await??;
            Ok(ExitCode::SUCCESS)
        }
        Which::Export { db, rows, runs } => {
            tokio::task::spawn_blocking(move || export(&db, rows, runs)).await??;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn ledger(orders: u32) -> anyhow::Result<()> {
    if orders == 0 {
        bail!("--orders must be at least 1");
    }
    let dir = tempfile::tempdir()?;
    let now = chrono::Utc::now();
    let req = shouyin_api::InitRequest::demo();

    // Ours: each sale is one durable transaction holding the order row and
    // its event (synchronous=FULL, WAL), exactly as at the counter.
    let ours_path = dir.path().join("ours.db");
    shouyin_api::init_ledger(&ours_path, &req, now)?;
    let mut ledger = Ledger::open(&ours_path)?;
    let started = Instant::now();
    for i in 0..orders {
        let sale = NewOrder {
            amount: Money::cny(100 + i64::from(i % 5000)),
            channel: ChannelKind::Cash,
            cashier: Some("bench".into()),
            note: None,
        };
        ledger.create_order(&sale, now)?;
    }
    let ours = started.elapsed().as_secs_f64();
    drop(ledger);

    // Baseline: the sqlite3 command-line tool, same schema and pragmas, the
    // same rows, one transaction per sale.
    let base_path = dir.path().join("sqlite3.db");
    shouyin_api::init_ledger(&base_path, &req, now)?;
    let mut script = String::from(
        "PRAGMA journal_mode=WAL;\nPRAGMA synchronous=FULL;\nPRAGMA foreign_keys=ON;\n",
    );
    let at = shouyin_ledger::ts(now);
    for i in 0..orders {
        let id = i + 1;
        let fen = 100 + i % 5000;
        script.push_str(&format!(
            "BEGIN IMMEDIATE;\nINSERT INTO orders (id, out_trade_no, store, terminal, cashier, amount_fen, currency, channel, state, created_at, updated_at, business_date) \
             VALUES ({id}, 'T01_B_{id:06}', 'bench', 'T01', 'bench', {fen}, 'CNY', 'cash', 'created', '{at}', '{at}', '2026-01-01');\n\
             INSERT INTO events (seq, order_id, kind, payload, at) VALUES ({id}, {id}, 'order_created', '{{\"order_no\":\"T01_B_{id:06}\",\"amount_fen\":{fen},\"channel\":\"cash\"}}', '{at}');\nCOMMIT;\n"
        ));
    }
    let started = Instant::now();
    let mut child = Command::new("sqlite3")
        .arg(&base_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .context(
            "the sqlite3 command-line tool is needed for the baseline (Debian package sqlite3)",
        )?;
    child
        .stdin
        .take()
        .context("no stdin for sqlite3")?
        .write_all(script.as_bytes())?;
    let status = child.wait()?;
    let base = started.elapsed().as_secs_f64();
    if !status.success() {
        bail!("sqlite3 failed: {status}");
    }
    let rows = Ledger::open_read_only(&base_path)?.order_count()?;
    if rows != u64::from(orders) {
        bail!("the baseline wrote {rows} orders, expected {orders}");
    }

    let n = f64::from(orders);
    println!("bench=ledger");
    println!("orders={orders}");
    println!("shouyin_appends_per_sec={:.0}", n / ours);
    println!("sqlite3_cli_appends_per_sec={:.0}", n / base);
    println!("ratio_shouyin_over_sqlite3={:.2}", base / ours);
    Ok(())
}

fn sqlite3_missing() -> &'static str {
    "the sqlite3 command-line tool is needed for the baseline (Debian package sqlite3)"
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Sum of the `Run Time: real S` lines sqlite3 prints with `.timer on`.
fn sqlite3_timer_total(stdout: &str) -> Duration {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Run Time: real "))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .map(Duration::from_secs_f64)
        .sum()
}

fn report(db: &Path, date: Option<&str>, runs: u32) -> anyhow::Result<()> {
    let runs = runs.max(1);
    let started = Instant::now();
    let ledger = Ledger::open_read_only(db)?;
    let date = match date {
        Some(d) => shouyin_api::reports::parse_day(d)?,
        None => ledger
            .orders_per_day()?
            .first()
            .map(|(day, _)| *day)
            .context("the ledger has no orders: seed it first")?,
    };
    let first = shouyin_api::reports::daily_report(&ledger, date)?;
    let first_with_open = started.elapsed();
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let r = shouyin_api::reports::daily_report(&ledger, date)?;
        times.push(t.elapsed());
        if r != first {
            bail!("the report changed between runs");
        }
    }
    let ours = median(times.clone());
    let worst = times.iter().max().copied().unwrap_or_default();
    let orders = ledger.order_count()?;
    drop(ledger);

    // The whole command as a user runs it: a fresh process that opens the
    // ledger, reports and prints JSON.
    let exe = std::env::current_exe()?;
    let t = Instant::now();
    let out = Command::new(&exe)
        .args([
            "report",
            "daily",
            "--json",
            "--date",
            &date.to_string(),
            "--db",
        ])
        .arg(db)
        .output()?;
    let ours_process = t.elapsed();
    if !out.status.success() {
        bail!(
            "shouyin report daily failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Baseline: sqlite3 running the same aggregates (totals, unverified,
    // by channel, cashier and hour, refunds by channel, cashier and hour).
    // Hours use the store's current UTC offset: sqlite3 has no time zones.
    let tz = first
        .timezone
        .parse::<chrono_tz::Tz>()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let offset_min = {
        use chrono::Offset;
        chrono::Utc::now()
            .with_timezone(&tz)
            .offset()
            .fix()
            .local_minus_utc()
            / 60
    };
    let d = date.to_string();
    let sales = "state IN ('paid', 'part_refunded', 'refunded')";
    let hour = format!("strftime('%H', COALESCE(paid_at, created_at), '{offset_min:+} minutes')");
    let rhour =
        format!("strftime('%H', COALESCE(r.settled_at, r.requested_at), '{offset_min:+} minutes')");
    let refunds = format!(
        "FROM refunds r JOIN orders o ON o.id = r.order_id WHERE r.business_date = '{d}' AND r.state = 'succeeded'"
    );
    let script = format!(
        ".timer on\n\
         SELECT count(*), sum(amount_fen) FROM orders WHERE business_date = '{d}' AND {sales};\n\
         SELECT count(*), sum(amount_fen) FROM orders WHERE business_date = '{d}' AND state = 'unverified';\n\
         SELECT channel, count(*), sum(amount_fen) FROM orders WHERE business_date = '{d}' AND {sales} GROUP BY channel;\n\
         SELECT cashier, count(*), sum(amount_fen) FROM orders WHERE business_date = '{d}' AND {sales} GROUP BY cashier;\n\
         SELECT {hour}, count(*), sum(amount_fen) FROM orders WHERE business_date = '{d}' AND {sales} GROUP BY 1;\n\
         SELECT count(*), sum(r.amount_fen) {refunds};\n\
         SELECT o.channel, count(*), sum(r.amount_fen) {refunds} GROUP BY 1;\n\
         SELECT o.cashier, count(*), sum(r.amount_fen) {refunds} GROUP BY 1;\n\
         SELECT {rhour}, count(*), sum(r.amount_fen) {refunds} GROUP BY 1;\n"
    );
    let t = Instant::now();
    let mut child = Command::new("sqlite3")
        .arg("-readonly")
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context(sqlite3_missing())?;
    child
        .stdin
        .take()
        .context("no stdin for sqlite3")?
        .write_all(script.as_bytes())?;
    let out = child.wait_with_output()?;
    let base_process = t.elapsed();
    if !out.status.success() {
        bail!("sqlite3 failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let base_queries = sqlite3_timer_total(&String::from_utf8_lossy(&out.stdout));

    println!("bench=report");
    println!("ledger_orders={orders}");
    println!("date={date}");
    println!("day_sales={}", first.takings.count);
    println!("day_gross={}", first.takings.gross);
    println!("day_refunds={}", first.takings.refunds);
    println!("runs={runs}");
    println!("shouyin_report_ms_median={:.3}", ms(ours));
    println!("shouyin_report_ms_max={:.3}", ms(worst));
    println!(
        "shouyin_first_report_with_open_ms={:.3}",
        ms(first_with_open)
    );
    println!("sqlite3_queries_ms={:.3}", ms(base_queries));
    println!(
        "ratio_shouyin_over_sqlite3_queries={:.2}",
        ours.as_secs_f64() / base_queries.as_secs_f64().max(1e-6)
    );
    println!("shouyin_process_ms={:.1}", ms(ours_process));
    println!("sqlite3_process_ms={:.1}", ms(base_process));
    println!(
        "ratio_shouyin_over_sqlite3_process={:.2}",
        ours_process.as_secs_f64() / base_process.as_secs_f64().max(1e-6)
    );
    println!("target_report_ms=20");
    println!("meets_target={}", ms(ours) < 20.0);
    Ok(())
}

/// Run a command under `/usr/bin/time -v` with stdout to `stdout_to`;
/// returns its wall time and peak resident memory in KiB.
fn timed_child(
    program: &Path,
    args: &[&std::ffi::OsStr],
    stdout_to: Option<&Path>,
) -> anyhow::Result<(Duration, u64)> {
    let mut cmd = Command::new("/usr/bin/time");
    cmd.arg("-v").arg(program).args(args);
    match stdout_to {
        Some(path) => cmd.stdout(std::fs::File::create(path)?),
        None => cmd.stdout(Stdio::null()),
    };
    cmd.stderr(Stdio::piped());
    let t = Instant::now();
    let out = cmd.output().context(
        "GNU time (/usr/bin/time, Debian package time) is needed to measure peak memory",
    )?;
    let wall = t.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("{} failed: {stderr}", program.display());
    }
    let peak_kib = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .context("no peak memory in the output of /usr/bin/time -v")?;
    Ok((wall, peak_kib))
}

fn count_lines(path: &Path) -> anyhow::Result<u64> {
    use std::io::BufRead;
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut n = 0;
    for line in file.split(b'\n') {
        line?;
        n += 1;
    }
    Ok(n)
}

fn export(db: &Path, rows: u64, runs: u32) -> anyhow::Result<()> {
    if rows == 0 {
        bail!("--rows must be at least 1");
    }
    // The latest whole business days that hold at least `rows` orders.
    let ledger = Ledger::open_read_only(db)?;
    let (from, to) = {
        let (mut from, mut to, mut total) = (None, None, 0u64);
        for (day, n) in ledger.orders_per_day()? {
            to.get_or_insert(day);
            from = Some(day);
            total += n;
            if total >= rows {
                break;
            }
        }
        match (from, to) {
            (Some(from), Some(to)) if total > 0 => (from, to),
            _ => bail!("the ledger has no orders: seed it first"),
        }
    };
    // Sales and refunds: what the export writes.
    let plan = ledger.export_plan(&ExportFilter {
        from,
        to,
        channel: None,
    })?;
    let expected = plan.total;
    let (from, to) = (from.to_string(), to.to_string());
    let tz = ledger.calendar().timezone;
    drop(ledger);
    let dir = tempfile::tempdir()?;

    // Ours: the real command in its own process, so its peak memory is
    // measured alone.
    let ours_csv = dir.path().join("shouyin.csv");
    let exe = std::env::current_exe()?;
    let args: Vec<std::ffi::OsString> = vec![
        "export".into(),
        "csv".into(),
        "--db".into(),
        db.into(),
        "--from".into(),
        from.clone().into(),
        "--to".into(),
        to.clone().into(),
        "--out".into(),
        ours_csv.clone().into(),
        // Each run writes the same file again.
        "--overwrite".into(),
    ];
    let ours_argv: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();

    // Baseline: sqlite3 -csv writing the same columns, formatted the same
    // way in SQL (local time by the store's current offset, decimals with
    // printf), to a file.
    let offset_min = {
        use chrono::Offset;
        chrono::Utc::now()
            .with_timezone(&tz)
            .offset()
            .fix()
            .local_minus_utc()
            / 60
    };
    let suffix = {
        let a = offset_min.unsigned_abs();
        format!(
            "{}{:02}:{:02}",
            if offset_min < 0 { '-' } else { '+' },
            a / 60,
            a % 60
        )
    };
    let t = |col: &str| {
        format!("strftime('%Y-%m-%dT%H:%M:%S', {col}, '{offset_min:+} minutes') || '{suffix}'")
    };
    let money = |expr: &str| format!("printf('%d.%02d', ({expr}) / 100, ({expr}) % 100)");
    let orders_where = format!("business_date BETWEEN '{from}' AND '{to}'");
    let select = |orders_where: &str| {
        let orders = format!(
            "SELECT business_date, {}, CASE WHEN paid_at IS NULL THEN '' ELSE {} END, store, terminal, \
             cashier, out_trade_no AS order_no, channel, channel_trade_no, state, {} AS amount, \
             {} AS refunded, {} AS net, currency, note, 'sale' AS kind, '' AS refund_no, \
             '' AS original_order_no \
             FROM orders WHERE {orders_where} ORDER BY id",
            t("created_at"),
            t("paid_at"),
            money("amount_fen"),
            money("refunded_fen"),
            money("CASE WHEN state IN ('paid', 'part_refunded', 'refunded') THEN amount_fen ELSE 0 END"),
        );
        let refund_amount = format!("'-' || {}", money("r.amount_fen"));
        let refunds = format!(
            "SELECT r.business_date, {}, CASE WHEN r.settled_at IS NULL THEN '' ELSE {} END, o.store, \
             o.terminal, o.cashier, o.out_trade_no, o.channel, r.channel_refund_no, r.state, \
             {refund_amount}, '0.00', {refund_amount}, o.currency, r.reason, 'refund', r.out_refund_no, \
             o.out_trade_no \
             FROM refunds r JOIN orders o ON o.id = r.order_id \
             WHERE r.business_date BETWEEN '{from}' AND '{to}' AND r.state = 'succeeded' ORDER BY r.id",
            t("r.requested_at"),
            t("r.settled_at"),
        );
        format!("SELECT * FROM ({orders}) UNION ALL SELECT * FROM ({refunds})")
    };
    let sql = select(&orders_where);
    // The same rows read the way our export reads them (walking the id
    // range in rowid order, no sort), so the baseline's query plan is not
    // what the ratio measures.
    let (lo, hi) = plan.order_id_range();
    let rowid_sql = select(&format!("id BETWEEN {lo} AND {hi} AND +{orders_where}"));
    let rowid_args: Vec<std::ffi::OsString> = vec![
        "-readonly".into(),
        "-csv".into(),
        "-header".into(),
        db.into(),
        rowid_sql.into(),
    ];
    let rowid_argv: Vec<&std::ffi::OsStr> = rowid_args.iter().map(|a| a.as_os_str()).collect();
    let base_csv = dir.path().join("sqlite3.csv");
    let sqlite3 = PathBuf::from("sqlite3");
    let base_args: Vec<std::ffi::OsString> = vec![
        "-readonly".into(),
        "-csv".into(),
        "-header".into(),
        db.into(),
        sql.into(),
    ];
    let base_argv: Vec<&std::ffi::OsStr> = base_args.iter().map(|a| a.as_os_str()).collect();

    // Warm the page cache with one untimed pass over the rows, so neither
    // side pays for reading the file from disk, then alternate the two and
    // take each one's median.
    {
        let ledger = Ledger::open_read_only(db)?;
        let warmed = ledger.export_rows(&plan, |_| Ok::<(), shouyin_ledger::LedgerError>(()))?;
        if warmed != expected {
            bail!("the ledger changed while the benchmark read it");
        }
    }
    let (mut ours_times, mut base_times, mut rowid_times) = (Vec::new(), Vec::new(), Vec::new());
    let (mut ours_kib, mut base_kib) = (0u64, 0u64);
    for _ in 0..runs.max(1) {
        let (t, kib) = timed_child(&exe, &ours_argv, None)?;
        ours_times.push(t);
        ours_kib = ours_kib.max(kib);
        let (t, kib) =
            timed_child(&sqlite3, &base_argv, Some(&base_csv)).context(sqlite3_missing())?;
        base_times.push(t);
        base_kib = base_kib.max(kib);
        let (t, _) =
            timed_child(&sqlite3, &rowid_argv, Some(&base_csv)).context(sqlite3_missing())?;
        rowid_times.push(t);
    }
    let (ours, base, rowid) = (median(ours_times), median(base_times), median(rowid_times));

    let ours_lines = count_lines(&ours_csv)?;
    let base_lines = count_lines(&base_csv)?;
    if ours_lines != expected + 1 || base_lines != expected + 1 {
        bail!(
            "row counts differ: expected {expected} rows, shouyin wrote {}, sqlite3 {}",
            ours_lines.saturating_sub(1),
            base_lines.saturating_sub(1)
        );
    }
    let ratio = ours.as_secs_f64() / base.as_secs_f64().max(1e-6);
    let ours_mib = ours_kib as f64 / 1024.0;
    println!("bench=export");
    println!("from={from}");
    println!("to={to}");
    println!("rows={expected}");
    println!("orders={}", plan.total - plan.refunds);
    println!("refund_rows={}", plan.refunds);
    println!("runs={}", runs.max(1));
    println!("shouyin_seconds={:.3}", ours.as_secs_f64());
    println!("sqlite3_seconds={:.3}", base.as_secs_f64());
    println!("ratio_shouyin_over_sqlite3={ratio:.2}");
    println!("sqlite3_same_plan_seconds={:.3}", rowid.as_secs_f64());
    println!(
        "ratio_shouyin_over_sqlite3_same_plan={:.2}",
        ours.as_secs_f64() / rowid.as_secs_f64().max(1e-6)
    );
    println!("shouyin_peak_mib={ours_mib:.1}");
    println!("sqlite3_peak_mib={:.1}", base_kib as f64 / 1024.0);
    println!("shouyin_bytes={}", std::fs::metadata(&ours_csv)?.len());
    println!("sqlite3_bytes={}", std::fs::metadata(&base_csv)?.len());
    println!("target_ratio=1.5");
    println!("target_peak_mib=64");
    println!("meets_target={}", ratio <= 1.5 && ours_mib < 64.0);
    Ok(())
}
