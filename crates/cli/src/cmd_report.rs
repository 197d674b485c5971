//! `shouyin report daily|range` (takings) and `shouyin export csv|xlsx`
//! (the accountant's export). Both open the ledger read-only, so they run
//! beside a till that is selling.
//!
//! Reports print `key=value` lines (one line per channel, cashier, hour or
//! day after the totals), or the whole report as JSON with `--json`.
//! Exports print what they wrote: `rows=`, `sales=`, `gross=`, `refunds=`
//! (refund rows), `refunded=`, `net=`, `out=`. An `--out` that is the ledger
//! or one of its side files, or an existing file without `--overwrite`, is
//! refused before the ledger is opened (`error: export_path_forbidden: …`,
//! `error: export_file_exists: …`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use shouyin_api::export::{export_to_file, ExportFormat, ExportRequest, ExportTarget};
use shouyin_api::reports::{daily_report, parse_day, range_report, TakingsDto};
use shouyin_core::ChannelKind;
use shouyin_ledger::Ledger;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Takings of a business day or a range of days.
    Report {
        #[command(subcommand)]
        which: Report,
    },
    /// Every order of a date range as CSV or XLSX (stable columns: see
    /// README "Export columns").
    Export {
        #[command(subcommand)]
        format: Export,
    },
}

#[derive(Debug, Subcommand)]
pub enum Report {
    /// One business day: gross, refunds (on their own day), net, count,
    /// average ticket; by channel, cashier and hour.
    Daily {
        #[arg(long)]
        db: PathBuf,
        /// The business day, YYYY-MM-DD.
        #[arg(long)]
        date: String,
        #[arg(long)]
        json: bool,
    },
    /// One line per business day of FROM..=TO, then the totals.
    Range {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[arg(long)]
    db: PathBuf,
    /// First business day, YYYY-MM-DD.
    #[arg(long)]
    from: String,
    /// Last business day, YYYY-MM-DD (included).
    #[arg(long)]
    to: String,
    /// Only this channel: alipay, wechat, unionpay or cash.
    #[arg(long)]
    channel: Option<ChannelKind>,
    /// The file to write. Never the ledger or one of its side files
    /// (`-wal`, `-shm`); an existing file only with `--overwrite`.
    #[arg(long)]
    out: PathBuf,
    /// Replace the file at `--out` if there is one.
    #[arg(long)]
    overwrite: bool,
    /// Print `progress=DONE/TOTAL` lines to stderr while writing.
    #[arg(long)]
    progress: bool,
}

#[derive(Debug, Subcommand)]
pub enum Export {
    /// RFC 4180 CSV, UTF-8 with a byte-order mark (Excel reads Chinese text).
    Csv {
        #[command(flatten)]
        args: ExportArgs,
        /// Leave out the byte-order mark.
        #[arg(long)]
        no_bom: bool,
    },
    /// An XLSX workbook with typed cells (numbers, dates).
    Xlsx {
        #[command(flatten)]
        args: ExportArgs,
    },
}

pub async fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    // The ledger is synchronous SQLite: keep it off the async threads.
    tokio::task::spawn_blocking(move || match cmd {
        Command::Report { which } => report(which),
        Command::Export { format } => export(format),
    })
    .await
    .context("the report task failed")?
}

fn open(db: &Path) -> anyhow::Result<Ledger> {
    Ledger::open_read_only(db).with_context(|| format!("cannot open the ledger {}", db.display()))
}

/// An api error with its code first, for scripts: `export_file_exists: …`.
fn coded(e: shouyin_api::ApiError) -> anyhow::Error {
    let code = serde_json::to_value(e.code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    anyhow::anyhow!("{code}: {}", e.message)
}

fn takings_line(t: &TakingsDto) -> String {
    format!(
        "count={} gross={} refunds={} net={} average={}",
        t.count, t.gross, t.refunds, t.net, t.average
    )
}

fn report(which: Report) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match which {
        Report::Daily { db, date, json } => {
            let date = parse_day(&date)?;
            let r = daily_report(&open(&db)?, date)?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?;
                return Ok(ExitCode::SUCCESS);
            }
            let t = &r.takings;
            writeln!(out, "date={}", r.date)?;
            writeln!(out, "count={}", t.count)?;
            writeln!(out, "gross={}", t.gross)?;
            writeln!(out, "refund_count={}", t.refund_count)?;
            writeln!(out, "refunds={}", t.refunds)?;
            writeln!(out, "net={}", t.net)?;
            writeln!(out, "average={}", t.average)?;
            writeln!(out, "unverified_count={}", r.unverified_count)?;
            writeln!(out, "unverified_amount={}", r.unverified_amount)?;
            for c in &r.by_channel {
                writeln!(out, "channel={} {}", c.channel, takings_line(&c.takings))?;
            }
            for c in &r.by_cashier {
                writeln!(
                    out,
                    "cashier={} {}",
                    c.cashier.as_deref().unwrap_or("-"),
                    takings_line(&c.takings)
                )?;
            }
            for h in &r.by_hour {
                writeln!(out, "hour={:02} {}", h.hour, takings_line(&h.takings))?;
            }
        }
        Report::Range { db, from, to, json } => {
            let (from, to) = (parse_day(&from)?, parse_day(&to)?);
            let r = range_report(&open(&db)?, from, to)?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?;
                return Ok(ExitCode::SUCCESS);
            }
            for d in &r.days {
                writeln!(
                    out,
                    "date={} {} unverified_count={}",
                    d.date,
                    takings_line(&d.takings),
                    d.unverified_count
                )?;
            }
            let t = &r.totals.takings;
            writeln!(out, "days={}", r.totals.days)?;
            writeln!(out, "count={}", t.count)?;
            writeln!(out, "gross={}", t.gross)?;
            writeln!(out, "refund_count={}", t.refund_count)?;
            writeln!(out, "refunds={}", t.refunds)?;
            writeln!(out, "net={}", t.net)?;
            writeln!(out, "average={}", t.average)?;
            writeln!(out, "unverified_count={}", r.totals.unverified_count)?;
            writeln!(out, "unverified_amount={}", r.totals.unverified_amount)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn export(format: Export) -> anyhow::Result<ExitCode> {
    let (format, args, no_bom) = match format {
        Export::Csv { args, no_bom } => (ExportFormat::Csv, args, no_bom),
        Export::Xlsx { args } => (ExportFormat::Xlsx, args, false),
    };
    let req = ExportRequest {
        from: args.from,
        to: args.to,
        channel: args.channel,
        no_bom,
        overwrite: args.overwrite,
    };
    // Checked before the ledger is even opened: a wrong --out must not
    // touch it.
    let target = ExportTarget::new(&args.out, &args.db, None, args.overwrite).map_err(coded)?;
    let ledger = open(&args.db)?;
    let show = args.progress;
    let mut progress = move |p: shouyin_api::export::ExportProgressDto| {
        if show {
            eprintln!("progress={}/{}", p.rows_done, p.rows_total);
        }
    };
    let r = export_to_file(&ledger, format, &req, &target, &mut progress).map_err(coded)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "format={}", r.format.as_str())?;
    writeln!(out, "rows={}", r.rows)?;
    writeln!(out, "sales={}", r.sales)?;
    writeln!(out, "gross={}", r.gross)?;
    writeln!(out, "refunds={}", r.refunds)?;
    writeln!(out, "refunded={}", r.refunded)?;
    writeln!(out, "net={}", r.net)?;
    writeln!(out, "out={}", r.path)?;
    Ok(ExitCode::SUCCESS)
}
