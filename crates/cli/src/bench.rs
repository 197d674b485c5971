//! `shouyin bench …`: benchmarks that print their figures beside the natural
//! baseline measured in the same run, and the ratio.

use std::io::Write;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Subcommand;
use shouyin_core::{ChannelKind, Money};
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
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// sqlite or postgres (default: both).
        #[arg(long)]
        backend: Option<String>,
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
            backend,
        } => {
            crate::cmd_hq::bench(events, batch, backend.as_deref()).await?;
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
    let check = Ledger::open_read_only(&base_path)?;
    let rows: i64 = check
        .connection()
        .query_row("SELECT count(*) FROM orders", [], |r| r.get(0))?;
    if rows != i64::from(orders) {
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
