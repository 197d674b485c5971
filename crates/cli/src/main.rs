//! `shouyin`: the counter's use cases from a terminal, for scripts, back
//! offices and tests. Thin over `shouyin-api`; the simulator and the
//! head-office server are started from here too.
//!
//! Output is meant for scripts: `key=value` lines, or JSON with `--json`.
//! Errors go to stderr and the exit status is non-zero.

mod bench;
mod bench_confirm;
mod bench_paycode;
mod cmd_backup;
mod cmd_devices;
mod cmd_hq;
mod cmd_reconcile;
mod cmd_report;
mod cmd_sim;
mod cmd_staff;
mod cmd_sync;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use shouyin_api::{ChargeRequest, Counter, CounterOptions, InitRequest};
use shouyin_core::{ChannelKind, OrderState};
use shouyin_ledger::OrderFilter;

#[derive(Debug, Parser)]
#[command(
    name = "shouyin",
    version,
    about = "收银 Shouyin point of sale: the counter from a terminal"
)]
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
        #[arg(long, allow_hyphen_values = true)]
        store: String,
        #[arg(long)]
        terminal: String,
        #[arg(long, default_value = "Asia/Shanghai")]
        timezone: String,
        /// Business-day cut-off, HH:MM.
        #[arg(long, default_value = "04:00")]
        day_cutoff: String,
        /// Per-sale limit in yuan (default 50000.00).
        #[arg(long, allow_hyphen_values = true)]
        sale_limit: Option<String>,
    },
    /// Take a sale. Prints `order_no=` and, for a QR channel, `qr=` as soon
    /// as the code exists; with `--wait`, then `state=` once final.
    ///
    /// With `--code DIGITS` (the customer's payment code, 付款码) the channel
    /// comes from the code; `state=` follows the pay answer, and with
    /// `--wait` a payment that needs the customer's password is waited for,
    /// and at `--timeout` cancelled (Alipay) or reversed (WeChat). Exit 0
    /// only when paid.
    Charge {
        #[arg(long)]
        db: PathBuf,
        /// The channels file (the simulator's credentials.json shape).
        #[arg(long)]
        channels: Option<PathBuf>,
        /// alipay, wechat, unionpay or cash.
        #[arg(long, required_unless_present = "code")]
        channel: Option<ChannelKind>,
        /// The customer's payment code as scanned (digits); picks the channel.
        #[arg(long, conflicts_with_all = ["channel", "force", "note", "tendered"])]
        code: Option<String>,
        /// With --code: seconds the customer may take to confirm with the
        /// password before the payment is cancelled or reversed (default
        /// the channel's window: WeChat 45, Alipay 60; never longer).
        #[arg(long, requires = "code")]
        window: Option<u64>,
        /// Yuan, e.g. 12.30.
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        #[arg(long, allow_hyphen_values = true)]
        cashier: Option<String>,
        #[arg(long, allow_hyphen_values = true)]
        note: Option<String>,
        /// Wait until the payment is final; exit 0 only when paid.
        #[arg(long)]
        wait: bool,
        /// With --wait: give up after this many seconds and cancel the
        /// payment at the channel (a payment that wins the race still counts).
        #[arg(long)]
        timeout: Option<u64>,
        /// Charge even though another QR payment is unresolved.
        #[arg(long)]
        force: bool,
        /// Cash: what the customer handed over (yuan); prints `change=`.
        #[arg(long, allow_hyphen_values = true)]
        tendered: Option<String>,
    },
    /// Resolve every order that is not final against its channel.
    Recover {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        channels: PathBuf,
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
    /// Fill a ledger with deterministic, realistic history. The ledger must
    /// exist: create it with `shouyin init` first.
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
    /// Run the payment-channel simulator (Alipay and WeChat Pay on loopback,
    /// with a customer page) until Ctrl-C.
    Sim {
        #[arg(long, default_value = "127.0.0.1:8787")]
        listen: std::net::SocketAddr,
        /// Keeps the demo credentials (credentials.json) and every trade.
        #[arg(long)]
        state: PathBuf,
        /// Seconds an Alipay payment by the customer's code waits for the
        /// password before it closes (WeChat's 45 s is fixed).
        #[arg(long, default_value_t = 60)]
        alipay_code_window: u64,
    },
    /// The head-office server: `shouyin hq --listen ADDR --db URL`, or one of
    /// its administrative actions. Every option may come from the
    /// environment instead (SHOUYIN_HQ_LISTEN, SHOUYIN_HQ_DB, …), as the
    /// shouyin-hq service passes them.
    Hq(HqArgs),
    #[command(flatten)]
    Reconcile(cmd_reconcile::Command),
    #[command(flatten)]
    Report(cmd_report::Command),
    #[command(flatten)]
    Staff(cmd_staff::Command),
    #[command(flatten)]
    Devices(cmd_devices::Command),
    /// Enrol this ledger with head office using a one-time code. Prints the
    /// terminal and store head office knows it by (never the secret).
    Enroll {
        #[arg(long)]
        db: PathBuf,
        /// Head office's address, e.g. https://hq.example.com (plain
        /// http:// only to this machine).
        #[arg(long)]
        hq: String,
        #[arg(long)]
        code: String,
        /// A certificate authority (PEM) to trust for head office besides
        /// the public ones, for a shop with its own.
        #[arg(long)]
        hq_ca_file: Option<PathBuf>,
        /// Replace an existing enrolment (e.g. a new head office).
        #[arg(long)]
        force: bool,
    },
    /// Send the ledger's events to head office: prints `sent=`, `acked_seq=`,
    /// `waiting=`. Keeps syncing until Ctrl-C unless `--once`.
    Sync {
        #[arg(long)]
        db: PathBuf,
        /// One pass; exit non-zero if it does not catch up.
        #[arg(long)]
        once: bool,
    },
    /// Copy the ledger (SQLite's online backup, so a running app keeps
    /// selling) and check the copy with integrity_check.
    Backup {
        #[arg(long)]
        db: PathBuf,
        /// The copy; must not exist.
        #[arg(long)]
        out: PathBuf,
    },
    /// Put a backup back as the ledger. Refused while a program holds the
    /// ledger; the replaced ledger is kept beside it.
    Restore {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        from: PathBuf,
    },
    /// Write every event head office has not acknowledged to a signed file,
    /// for a till whose network is gone for good (`shouyin hq import-rescue`).
    Rescue {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Benchmarks that print their figures beside a baseline.
    Bench {
        #[command(subcommand)]
        which: bench::Which,
    },
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
struct HqArgs {
    #[command(subcommand)]
    action: Option<HqAction>,
    #[arg(long, env = "SHOUYIN_HQ_LISTEN", default_value = "127.0.0.1:8788")]
    listen: String,
    /// sqlite://PATH or postgres://…
    #[arg(long, env = "SHOUYIN_HQ_DB")]
    db: Option<String>,
    /// Bearer token for the read side (reports, terminal list, the page).
    /// Visible to every user of the machine in `ps`: prefer
    /// --admin-token-file or SHOUYIN_HQ_ADMIN_TOKEN.
    #[arg(long, conflicts_with = "admin_token_file")]
    admin_token: Option<String>,
    /// A file holding the admin token (its first line).
    #[arg(long, env = "SHOUYIN_HQ_ADMIN_TOKEN_FILE")]
    admin_token_file: Option<PathBuf>,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, env = "SHOUYIN_HQ_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "SHOUYIN_HQ_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "SHOUYIN_HQ_BODY_LIMIT")]
    body_limit: Option<usize>,
}

#[derive(Debug, Subcommand)]
enum HqAction {
    /// Print a one-time enrolment code for a new terminal of a store.
    EnrollCode {
        #[arg(long)]
        db: String,
        #[arg(long, allow_hyphen_values = true)]
        store: String,
    },
    /// Revoke a terminal: its requests are refused from now on.
    Revoke {
        #[arg(long)]
        db: String,
        #[arg(long)]
        terminal: String,
    },
    /// Import a till's rescue file (`shouyin rescue`); each event is stored
    /// once, however often the file is imported.
    ImportRescue {
        #[arg(long)]
        db: String,
        file: PathBuf,
    },
    /// Suspend a payment channel for one store or all stores; the tills
    /// show it as 暂停使用 with the reason within seconds. Audited.
    SuspendChannel {
        #[command(flatten)]
        control: ChannelControlArgs,
    },
    /// Lift a channel's suspension (`--all`: every store's). Audited.
    LiftChannel {
        #[command(flatten)]
        control: ChannelControlArgs,
    },
    /// List the suspended channels and the latest suspend/lift changes.
    Suspensions {
        #[arg(long)]
        db: String,
    },
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("scope").required(true).args(["store", "all"])))]
struct ChannelControlArgs {
    #[arg(long)]
    db: String,
    /// The store's code (as given to `enroll-code`).
    #[arg(long, allow_hyphen_values = true)]
    store: Option<String>,
    /// Every store.
    #[arg(long)]
    all: bool,
    /// alipay, wechat or unionpay.
    #[arg(long)]
    channel: String,
    /// What the cashiers read on the button (required to suspend).
    #[arg(long)]
    reason: Option<String>,
    /// Who does it, for the audit (default: the login name).
    #[arg(long)]
    by: Option<String>,
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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
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
            channels,
            channel,
            code,
            window,
            amount,
            cashier,
            note,
            wait,
            timeout,
            force,
            tendered,
        } => {
            let mut payments = shouyin_api::PaymentSettings {
                probe_every: None,
                ..Default::default()
            };
            if let Some(secs) = window {
                if secs == 0 {
                    anyhow::bail!("--window must be at least 1 second");
                }
                let code = &mut payments.code;
                code.alipay_window = code.alipay_window.min(Duration::from_secs(secs));
                code.wechat_window = code.wechat_window.min(Duration::from_secs(secs));
                code.unionpay_window = code.unionpay_window.min(Duration::from_secs(secs));
            }
            let counter = open_with_settings(&db, channels.as_deref(), true, payments).await?;
            let by_code = code.is_some();
            let order = match (code, channel) {
                (Some(code), _) => {
                    counter
                        .order_charge_code(shouyin_api::CodeChargeRequest {
                            amount,
                            code,
                            cashier,
                        })
                        .await?
                }
                (None, Some(channel)) => {
                    counter
                        .order_charge(ChargeRequest {
                            amount,
                            channel,
                            cashier,
                            note,
                            force,
                            tendered,
                        })
                        .await?
                }
                (None, None) => anyhow::bail!("give --channel or --code"),
            };
            println!("order_no={}", order.order_no);
            println!("amount={}", order.amount);
            if let Some(shift) = order.shift_id {
                println!("shift={shift}");
            }
            if let (Some(tendered), Some(change)) = (&order.tendered, &order.change) {
                println!("tendered={tendered}");
                println!("change={change}");
            }
            if let Some(qr) = &order.qr_payload {
                println!("qr={qr}");
            }
            // Scripts read the code while we wait.
            std::io::stdout().flush()?;
            let order = if wait && !order.state.is_final() {
                let limit = Duration::from_secs(timeout.unwrap_or(600));
                let waited = counter.wait_final(&order.order_no, limit).await?;
                if waited.state.is_final() {
                    waited
                } else {
                    match counter.order_cancel(order.order_no.clone()).await {
                        Ok(after) => after,
                        Err(e) => {
                            eprintln!("error: {e}");
                            waited
                        }
                    }
                }
            } else {
                order
            };
            println!("state={}", order.state);
            if let Some(reason) = &order.reason {
                println!("reason={reason}");
            }
            counter.shutdown().await;
            let ok = if wait || by_code {
                order.state.is_paid()
            } else {
                !matches!(order.state, OrderState::Failed | OrderState::Closed)
            };
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Devices(cmd) => {
            cmd_devices::run(cmd).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Recover { db, channels } => {
            let counter = open_with(&db, Some(&channels), true).await?;
            // The same start-up as the app's, without sync and relay.
            let startup = counter.start(shouyin_api::StartPlan::RECOVERY_ONLY);
            let report = startup
                .finished(std::time::Duration::from_secs(24 * 3600))
                .await
                .ok_or_else(|| anyhow::anyhow!("recovery did not finish"))?;
            counter.shutdown().await;
            if let Some(problem) = report.problems.first() {
                anyhow::bail!("{problem}");
            }
            let orders = report.orders;
            let mut unresolved = 0;
            for o in &orders {
                if !o.state.is_final() {
                    unresolved += 1;
                }
                println!(
                    "order_no={} channel={} amount={} state={}",
                    o.order_no, o.channel, o.amount, o.state
                );
            }
            println!("resolved={}", orders.len() - unresolved);
            println!("unresolved={unresolved}");
            Ok(if unresolved == 0 {
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
                let tz: chrono_tz::Tz = t
                    .timezone
                    .parse()
                    .map_err(|_| anyhow::anyhow!("bad time zone"))?;
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
        Command::Sim {
            listen,
            state,
            alipay_code_window,
        } => {
            cmd_sim::run(listen, state, Duration::from_secs(alipay_code_window)).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Hq(args) => {
            match args.action {
                Some(HqAction::EnrollCode { db, store }) => {
                    cmd_hq::enroll_code(&db, &store).await?
                }
                Some(HqAction::Revoke { db, terminal }) => cmd_hq::revoke(&db, &terminal).await?,
                Some(HqAction::ImportRescue { db, file }) => {
                    cmd_hq::import_rescue(&db, &file).await?
                }
                Some(HqAction::SuspendChannel { control: c }) => {
                    cmd_hq::control_channel(
                        shouyin_hq::store::ControlAction::Suspend,
                        &c.db,
                        c.store.as_deref(),
                        c.all,
                        &c.channel,
                        c.reason,
                        c.by,
                    )
                    .await?
                }
                Some(HqAction::LiftChannel { control: c }) => {
                    cmd_hq::control_channel(
                        shouyin_hq::store::ControlAction::Lift,
                        &c.db,
                        c.store.as_deref(),
                        c.all,
                        &c.channel,
                        c.reason,
                        c.by,
                    )
                    .await?
                }
                Some(HqAction::Suspensions { db }) => cmd_hq::suspensions(&db).await?,
                None => {
                    let db = args
                        .db
                        .context("--db sqlite://PATH or postgres://… is required to serve")?;
                    let admin_token =
                        cmd_hq::admin_token(args.admin_token, args.admin_token_file.as_deref())?;
                    let tls = args.tls_cert.zip(args.tls_key);
                    cmd_hq::serve(&args.listen, &db, admin_token, args.body_limit, tls).await?
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { which } => bench::run(which).await,
        Command::Reconcile(cmd) => cmd_reconcile::run(cmd).await,
        Command::Report(cmd) => cmd_report::run(cmd).await,
        Command::Staff(cmd) => cmd_staff::run(cmd).await,
        Command::Enroll {
            db,
            hq,
            code,
            force,
            hq_ca_file,
        } => cmd_sync::enroll(&db, hq, code, force, hq_ca_file).await,
        Command::Sync { db, once } => cmd_sync::sync(&db, once).await,
        Command::Backup { db, out } => cmd_backup::backup(&db, &out),
        Command::Restore { db, from } => cmd_backup::restore(&db, &from),
        Command::Rescue { db, out } => cmd_backup::rescue(&db, &out).await,
    }
}

async fn open(db: &std::path::Path) -> anyhow::Result<Counter> {
    open_with(db, None, false).await
}

/// Open a ledger with the channels of a channels file. A one-shot command
/// has no use for the idle-channel prober. `exclusive`: the command settles
/// payments, so it takes the ledger's lock and is refused beside a running
/// app (which would be resolving the same payments).
async fn open_with(
    db: &std::path::Path,
    channels_path: Option<&std::path::Path>,
    exclusive: bool,
) -> anyhow::Result<Counter> {
    let payments = shouyin_api::PaymentSettings {
        probe_every: None,
        ..Default::default()
    };
    open_with_settings(db, channels_path, exclusive, payments).await
}

/// [`open_with`] with payment settings of the caller's.
async fn open_with_settings(
    db: &std::path::Path,
    channels_path: Option<&std::path::Path>,
    exclusive: bool,
    payments: shouyin_api::PaymentSettings,
) -> anyhow::Result<Counter> {
    let channels = match channels_path {
        Some(path) => shouyin_api::load_channels(path)?,
        None => Default::default(),
    };
    let options = CounterOptions {
        channels,
        payments,
        exclusive,
        ..CounterOptions::default()
    };
    Counter::open_ledger(db, options)
        .await
        .with_context(|| format!("cannot open the ledger {}", db.display()))
}
