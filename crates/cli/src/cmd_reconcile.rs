//! `shouyin reconcile`: one channel's daily bill against the ledger.
//!
//! The bill is fetched from the channel (`--config`, the channels file) or
//! read from a file the accountant downloaded (`--bill`). Prints a table of
//! the differences with what to do and a `key=value` summary, or the whole
//! report as JSON with `--json`. Exit status 0 only when every line matched,
//! 1 when there are differences (an error also exits non-zero, with the
//! message on stderr).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use shouyin_api::reconcile::{beijing_today, ReconcileClass, ReconcileReportDto};
use shouyin_api::{Counter, CounterOptions, PaymentSettings};
use shouyin_core::ChannelKind;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Reconcile a channel's daily bill (Beijing day) against the ledger;
    /// exits 0 only when everything matched.
    Reconcile {
        #[arg(long)]
        db: PathBuf,
        /// The channels file (the simulator's credentials.json shape);
        /// needed unless --bill is given.
        #[arg(long, required_unless_present = "bill")]
        config: Option<PathBuf>,
        /// alipay, wechat or unionpay.
        #[arg(long)]
        channel: ChannelKind,
        /// The bill date, YYYY-MM-DD (Beijing), or `today`.
        #[arg(long)]
        date: String,
        /// A downloaded bill to read instead of fetching it: .csv, .zip or
        /// .gz of any channel (Alipay's zip or its 业务明细 CSV; WeChat
        /// Pay's ALL, SUCCESS or REFUND bill; UnionPay's reconciliation zip
        /// or its ZM file). For a REFUND bill, --date is the day the
        /// refunds succeeded; for UnionPay's, its settlement date.
        #[arg(long)]
        bill: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    let Command::Reconcile {
        db,
        config,
        channel,
        date,
        bill,
        json,
    } = cmd;
    let date = if date.trim() == "today" {
        beijing_today(chrono::Utc::now())?
    } else {
        chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
            .with_context(|| format!("--date {date:?} is not YYYY-MM-DD"))?
    };
    // A channels file is only read when the bill is to be fetched.
    let channels = match (&bill, &config) {
        (None, Some(path)) => shouyin_api::load_channels(path)?,
        _ => Default::default(),
    };
    let counter = Counter::open_ledger(
        &db,
        CounterOptions {
            channels,
            payments: PaymentSettings {
                probe_every: None,
                ..Default::default()
            },
            ..CounterOptions::default()
        },
    )
    .await
    .with_context(|| format!("cannot open the ledger {}", db.display()))?;
    let result = match &bill {
        Some(path) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read the bill file {}", path.display()))?;
            counter.reconcile_file(channel, date, bytes).await
        }
        None => counter.reconcile_fetch(channel, date).await,
    };
    counter.shutdown().await;
    let report = result?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn dash(text: Option<&str>) -> &str {
    text.unwrap_or("-")
}

fn print_table(r: &ReconcileReportDto) {
    if !r.bill_available {
        println!(
            "# the channel has no bill for {} (no business that day, or not generated yet)",
            r.date
        );
    }
    let differences: Vec<_> = r.lines.iter().filter(|l| l.class.is_difference()).collect();
    if !differences.is_empty() {
        println!(
            "{:<20} {:<8} {:<32} {:>10} {:>10} {:<18} {:<20} what to do",
            "class",
            "kind",
            "order_no / refund_no",
            "bill",
            "ledger",
            "bill status",
            "ledger state"
        );
        for l in &differences {
            let number = match &l.out_refund_no {
                Some(refund) => format!("{} / {refund}", l.order_no),
                None => l.order_no.clone(),
            };
            println!(
                "{:<20} {:<8} {:<32} {:>10} {:>10} {:<18} {:<20} {} / {}",
                l.class.as_str(),
                match l.kind {
                    shouyin_api::reconcile::ReconcileLineKind::Payment => "payment",
                    shouyin_api::reconcile::ReconcileLineKind::Refund => "refund",
                    shouyin_api::reconcile::ReconcileLineKind::Reversal => "reversal",
                },
                number,
                dash(l.bill_amount.as_deref()),
                dash(l.ledger_amount.as_deref()),
                dash(l.bill_status.as_deref()),
                dash(l.ledger_state.as_deref()),
                l.action_zh,
                l.action_en,
            );
        }
        println!();
    }
    println!("date={}", r.date);
    println!("channel={}", r.channel);
    println!(
        "source={}",
        match r.source {
            shouyin_api::reconcile::BillSource::Channel => "channel",
            shouyin_api::reconcile::BillSource::File => "file",
        }
    );
    println!("bill_type={}", r.bill_type.as_str());
    if let Some(agrees) = r.bill_footer_agrees {
        println!("bill_footer_agrees={agrees}");
        if !agrees {
            println!(
                "bill_footer_disagrees={}",
                r.bill_footer_disagreements.join(",")
            );
        }
    }
    for class in ReconcileClass::ALL {
        println!("{}={}", class.as_str(), r.counts.get(class));
    }
    println!("differences={}", r.differences);
    let b = &r.bill_totals;
    let l = &r.ledger_totals;
    println!("bill_payments={} ({})", b.payments, b.payment_count);
    println!("bill_refunds={} ({})", b.refunds, b.refund_count);
    println!("bill_net={}", b.net);
    if b.settled_payments_fen != b.payments_fen || b.settled_refunds_fen != b.refunds_fen {
        println!("bill_settled_payments={}", b.settled_payments);
        println!("bill_settled_refunds={}", b.settled_refunds);
    }
    if b.pending_refund_count > 0 {
        println!(
            "bill_pending_refunds={} ({})",
            b.pending_refunds, b.pending_refund_count
        );
    }
    if b.reversal_count > 0 {
        println!("bill_reversals={} ({})", b.reversals, b.reversal_count);
    }
    println!("ledger_payments={} ({})", l.payments, l.payment_count);
    println!("ledger_refunds={} ({})", l.refunds, l.refund_count);
    println!("ledger_net={}", l.net);
    if l.reversal_count > 0 {
        println!("ledger_reversals={} ({})", l.reversals, l.reversal_count);
    }
    if r.bill_lines_outside_day > 0 {
        println!("bill_lines_outside_day={}", r.bill_lines_outside_day);
    }
}
