//! Daily takings and date-range summaries for the store manager's screen,
//! the CLI's `shouyin report` and scripts.
//!
//! The figures come from `shouyin_ledger::reports`, whose overview holds the
//! definitions (what a sale is, which day a refund counts on, how the
//! average ticket is rounded); this module only turns them into DTOs.
//! Amounts travel as decimal strings ("1234.50") beside integer fen.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use shouyin_core::{format_fen, ChannelKind};
use shouyin_ledger::reports::{DailyTakings, DayTotals, Takings};
use shouyin_ledger::Ledger;

use crate::{ApiError, Counter, ErrorCode};

/// Count and amounts of one slice of takings. Every report line carries
/// these fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct TakingsDto {
    /// Number of sales (paid, part-refunded or refunded orders).
    #[ts(type = "number")]
    pub count: u64,
    /// Sum of the sales' amounts.
    pub gross: String,
    #[ts(type = "number")]
    pub gross_fen: i64,
    /// Number of succeeded refunds counted here.
    #[ts(type = "number")]
    pub refund_count: u64,
    /// Sum of the succeeded refunds counted here (on the refund's own day).
    pub refunds: String,
    #[ts(type = "number")]
    pub refunds_fen: i64,
    /// gross − refunds.
    pub net: String,
    #[ts(type = "number")]
    pub net_fen: i64,
    /// Average ticket: gross / count, rounded half-up to the fen.
    pub average: String,
    #[ts(type = "number")]
    pub average_fen: i64,
}

impl From<&Takings> for TakingsDto {
    fn from(t: &Takings) -> Self {
        TakingsDto {
            count: t.count,
            gross: format_fen(t.gross_fen),
            gross_fen: t.gross_fen,
            refund_count: t.refund_count,
            refunds: format_fen(t.refunds_fen),
            refunds_fen: t.refunds_fen,
            net: format_fen(t.net_fen()),
            net_fen: t.net_fen(),
            average: format_fen(t.average_fen()),
            average_fen: t.average_fen(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct ChannelTakingsDto {
    pub channel: ChannelKind,
    #[serde(flatten)]
    #[ts(flatten)]
    pub takings: TakingsDto,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct CashierTakingsDto {
    /// `null` for orders recorded without a cashier.
    pub cashier: Option<String>,
    #[serde(flatten)]
    #[ts(flatten)]
    pub takings: TakingsDto,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct HourTakingsDto {
    /// Local hour of the store's clock, 0–23.
    pub hour: u32,
    /// "14:00", for chart axes.
    pub label: String,
    #[serde(flatten)]
    #[ts(flatten)]
    pub takings: TakingsDto,
}

/// One business day: totals, manual confirmations waiting to be verified,
/// and the day by channel, cashier and hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct DailyReportDto {
    /// The business day, YYYY-MM-DD.
    pub date: String,
    pub store: String,
    pub terminal: String,
    /// The store's IANA time zone; hours are on its clock.
    pub timezone: String,
    /// The business-day cut-off, HH:MM.
    pub day_cutoff: String,
    #[serde(flatten)]
    #[ts(flatten)]
    pub takings: TakingsDto,
    /// Manually confirmed orders (unverified): not in gross until verified.
    #[ts(type = "number")]
    pub unverified_count: u64,
    pub unverified_amount: String,
    #[ts(type = "number")]
    pub unverified_amount_fen: i64,
    /// Channels with a sale or refund this day.
    pub by_channel: Vec<ChannelTakingsDto>,
    /// Cashiers with a sale or refund this day, by name.
    pub by_cashier: Vec<CashierTakingsDto>,
    /// Hours with a sale or refund, from the cut-off hour on.
    pub by_hour: Vec<HourTakingsDto>,
}

/// One day of a range summary (every day of the range appears).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct DaySummaryDto {
    pub date: String,
    #[serde(flatten)]
    #[ts(flatten)]
    pub takings: TakingsDto,
    #[ts(type = "number")]
    pub unverified_count: u64,
    pub unverified_amount: String,
    #[ts(type = "number")]
    pub unverified_amount_fen: i64,
}

/// Totals of a range: the sum of its days (the average is over the whole
/// range's sales).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct RangeTotalsDto {
    #[ts(type = "number")]
    pub days: u64,
    #[serde(flatten)]
    #[ts(flatten)]
    pub takings: TakingsDto,
    #[ts(type = "number")]
    pub unverified_count: u64,
    pub unverified_amount: String,
    #[ts(type = "number")]
    pub unverified_amount_fen: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct RangeReportDto {
    pub from: String,
    pub to: String,
    pub days: Vec<DaySummaryDto>,
    pub totals: RangeTotalsDto,
}

/// A business day as typed: YYYY-MM-DD.
pub fn parse_day(s: &str) -> Result<NaiveDate, ApiError> {
    shouyin_ledger::parse_date(s.trim()).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidInput,
            format!("'{s}' is not a date of the form YYYY-MM-DD"),
        )
    })
}

/// A business day's takings from an open ledger (the CLI opens it
/// read-only; the app goes through [`Counter::reports_daily`]).
pub fn daily_report(ledger: &Ledger, date: NaiveDate) -> Result<DailyReportDto, ApiError> {
    let day: DailyTakings = ledger.daily_takings(date)?;
    let terminal = ledger.terminal();
    Ok(DailyReportDto {
        date: day.date.to_string(),
        store: terminal.store.clone(),
        terminal: terminal.terminal.to_string(),
        timezone: terminal.calendar.timezone.name().to_owned(),
        day_cutoff: terminal.calendar.day_cutoff.format("%H:%M").to_string(),
        takings: TakingsDto::from(&day.total),
        unverified_count: day.unverified_count,
        unverified_amount: format_fen(day.unverified_fen),
        unverified_amount_fen: day.unverified_fen,
        by_channel: day
            .by_channel
            .iter()
            .map(|(channel, t)| ChannelTakingsDto {
                channel: *channel,
                takings: t.into(),
            })
            .collect(),
        by_cashier: day
            .by_cashier
            .iter()
            .map(|(cashier, t)| CashierTakingsDto {
                cashier: cashier.clone(),
                takings: t.into(),
            })
            .collect(),
        by_hour: day
            .by_hour
            .iter()
            .map(|(hour, t)| HourTakingsDto {
                hour: *hour,
                label: format!("{hour:02}:00"),
                takings: t.into(),
            })
            .collect(),
    })
}

/// One row per business day of `from..=to` plus totals.
pub fn range_report(
    ledger: &Ledger,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<RangeReportDto, ApiError> {
    let days: Vec<DayTotals> = ledger.takings_by_day(from, to)?;
    let mut total = Takings::default();
    let (mut unverified_count, mut unverified_fen) = (0u64, 0i64);
    let rows = days
        .iter()
        .map(|d| {
            total.count += d.total.count;
            total.gross_fen += d.total.gross_fen;
            total.refund_count += d.total.refund_count;
            total.refunds_fen += d.total.refunds_fen;
            unverified_count += d.unverified_count;
            unverified_fen += d.unverified_fen;
            DaySummaryDto {
                date: d.date.to_string(),
                takings: TakingsDto::from(&d.total),
                unverified_count: d.unverified_count,
                unverified_amount: format_fen(d.unverified_fen),
                unverified_amount_fen: d.unverified_fen,
            }
        })
        .collect::<Vec<_>>();
    Ok(RangeReportDto {
        from: from.to_string(),
        to: to.to_string(),
        totals: RangeTotalsDto {
            days: rows.len() as u64,
            takings: TakingsDto::from(&total),
            unverified_count,
            unverified_amount: format_fen(unverified_fen),
            unverified_amount_fen: unverified_fen,
        },
        days: rows,
    })
}

impl Counter {
    /// A business day's takings: gross, refunds (on their own day), net,
    /// count, average ticket, by channel, cashier and hour.
    pub async fn reports_daily(&self, date: String) -> Result<DailyReportDto, ApiError> {
        let date = parse_day(&date)?;
        self.with_ledger(move |ledger| daily_report(ledger, date))
            .await
    }

    /// One row per business day of `from..=to` (YYYY-MM-DD) plus totals.
    pub async fn reports_range(
        &self,
        from: String,
        to: String,
    ) -> Result<RangeReportDto, ApiError> {
        let (from, to) = (parse_day(&from)?, parse_day(&to)?);
        self.with_ledger(move |ledger| range_report(ledger, from, to))
            .await
    }
}
