//! `shouyin`: the counter's use cases from a terminal, for scripts, back
//! offices and tests. Thin over `shouyin-api`; the simulator and the
//! head-office server are started from here too.
//!
//! Output is meant for scripts: `key=value` lines, or JSON with `--json`.
//! Errors go to stderr and the exit status is non-zero.

mod bench;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use shouyin_api::{ChargeRequest, Counter, InitRequest, SystemClock};
use shouyin_core::{ChannelKind, OrderState};
use shouyin_ledger::OrderFilter;

#[derive(Debug, Parser)]
#[command(name = "shouyin", version, about = "收银 Shouyin point of sale: the counter from a terminal")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a terminal's ledger file.
    Init {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        store: String,
        #[arg(long)]
        terminal: String,
        #[arg(long, default_value = "Asia/Shanghai")]
        timezone: String,
        /// Business-day cut-off, HH:MM.
        #[arg(long, default_value = "04:00")]
        day_cutoff: String,
        /// Per-sale limit in yuan (default 50000.00).
        #[arg(long)]
        sale_limit: Option<String>,
    },
    /// Take a sale.
    Charge {
        #[arg(long)]
        db: PathBuf,
        /// alipay, wechat or cash.
        #[arg(long)]
        channel: ChannelKind,
        /// Yuan, e.g. 12.30.
        #[arg(long)]
        amount: String,
        #[arg(long)]
        cashier: Option<String>,
        #[arg(long)]
        note: Option<String>,
    },
    /// List orders, newest first.
    Orders {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        state: Option<OrderState>,
        #[arg(long)]
        json: bool,
    },
    /// Fill a ledger with deterministic, realistic history.
    Seed {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        days: u32,
        #[arg(long)]
        per_day: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Benchmarks that print their figures beside a baseline.
    Bench {
        #[command(subcommand)]
        which: bench::Which,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SHOUYIN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Init {
            db,
            store,
            terminal,
            timezone,
            day_cutoff,
            sale_limit,
        } => {
            let req = InitRequest {
                store,
                terminal,
                timezone,
                day_cutoff,
                sale_limit,
            };
            let t = shouyin_api::init_ledger(&db, &req, chrono::Utc::now())?;
            println!("ledger={}", db.display());
            println!("store={}", t.store);
            println!("terminal={}", t.terminal);
            println!("timezone={}", t.timezone);
            println!("day_cutoff={}", t.day_cutoff);
            Ok(ExitCode::SUCCESS)
        }
        Command::Charge {
            db,
            channel,
            amount,
            cashier,
            note,
        } => {
            let counter = open(&db).await?;
            let order = counter
                .order_charge(ChargeRequest {
                    amount,
                    channel,
                    cashier,
                    note,
                })
                .await?;
            println!("order_no={}", order.order_no);
            println!("amount={}", order.amount);
            println!("state={}", order.state);
            Ok(if order.state.is_paid() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Orders { db, state, json } => {
            let counter = open(&db).await?;
            let orders = counter
                .orders_list(OrderFilter {
                    state,
                    ..OrderFilter::default()
                })
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&orders)?);
            } else {
                for o in &orders {
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}",
                        o.order_no,
                        o.created_at,
                        o.channel,
                        o.amount,
                        o.state,
                        o.cashier.as_deref().unwrap_or("-")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Seed {
            db,
            days,
            per_day,
            seed,
        } => {
            let counter = open(&db).await?;
            let last_day = {
                let t = counter.terminal_get().await?;
                let tz: chrono_tz::Tz = t.timezone.parse().map_err(|_| anyhow::anyhow!("bad time zone"))?;
                chrono::Utc::now().with_timezone(&tz).date_naive()
            };
            let started = std::time::Instant::now();
            let report = counter
                .seed(shouyin_ledger::seed::SeedPlan {
                    days,
                    per_day,
                    seed,
                    last_day,
                })
                .await?;
            let secs = started.elapsed().as_secs_f64();
            println!("orders={}", report.orders);
            println!("events={}", report.events);
            println!("seconds={secs:.2}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { which } => bench::run(which).await,
    }
}

async fn open(db: &std::path::Path) -> anyhow::Result<Counter> {
    Counter::open_ledger(db, Arc::new(SystemClock))
        .await
        .with_context(|| format!("cannot open the ledger {}", db.display()))
}
