//! Takings and the export query: the SQL behind daily reports, date-range
//! summaries and the accountant's export, kept beside the schema it reads.
//!
//! Definitions (the same everywhere: reports, the export's totals, the CLI):
//!
//! - A **sale** is an order in state `paid`, `part_refunded` or `refunded`:
//!   the money was taken, whatever happened after. It counts on its own
//!   business day (`orders.business_date`), in full.
//! - **gross** is the sum of the sales' amounts; **count** is their number.
//! - **refunds** is the sum of `refunds.amount_fen` with state `succeeded`
//!   whose `refunds.business_date` is the day: a refund counts on the day the
//!   money went back, even for a sale of an older day.
//! - **net** = gross − refunds (it may be negative on a day of refunds only).
//! - **average ticket** = gross / count, rounded half-up to the fen, in
//!   integers; 0 when there are no sales.
//! - By channel and by cashier, a refund is attributed to the channel and the
//!   cashier of its original order. By hour, a sale is in the local hour (store
//!   time zone) of `paid_at` (else `created_at`) and a refund in the local hour
//!   of its own time (`settled_at`, else `requested_at`). In the autumn DST
//!   overlap both clock hours of the same number fall into one bucket.
//! - Manually confirmed orders (`unverified`) are not sales until verified:
//!   they are counted apart (`unverified_count`, `unverified_fen`).
//!
//! Reads use the indexes on `orders.business_date` and
//! `refunds.business_date`; a day touches only that day's rows. The export
//! streams rows from two prepared statements (orders, refunds) merged to a
//! callback: nothing holds the whole result. Its rows add up to the
//! reports: a sale row carries its whole amount on the sale's day, a refund
//! row its negative amount on the refund's day, so the `net` of a day's (or
//! a range's) rows is that day's (range's) net takings.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use rusqlite::fallible_streaming_iterator::FallibleStreamingIterator;
use rusqlite::types::ValueRef;
use rusqlite::{params, Row};
use shouyin_core::ChannelKind;

use crate::{parse_ts, Ledger, LedgerError, Result};

/// The order states that are sales (see the module overview).
pub const SALE_STATES: [&str; 3] = ["paid", "part_refunded", "refunded"];

/// Longest date range a range summary covers (about ten years), so a typo
/// in a year cannot ask for a million empty days.
pub const MAX_RANGE_DAYS: i64 = 3_660;

/// Counts and sums of one slice of takings, in fen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Takings {
    /// Number of sales.
    pub count: u64,
    pub gross_fen: i64,
    /// Number of succeeded refunds.
    pub refund_count: u64,
    pub refunds_fen: i64,
}

impl Takings {
    pub fn net_fen(&self) -> i64 {
        self.gross_fen - self.refunds_fen
    }

    /// gross / count rounded half-up to the fen; 0 without sales.
    pub fn average_fen(&self) -> i64 {
        average_half_up(self.gross_fen, self.count)
    }

    fn add_sale(&mut self, fen: i64) {
        self.count += 1;
        self.gross_fen += fen;
    }

    fn add_refund(&mut self, fen: i64) {
        self.refund_count += 1;
        self.refunds_fen += fen;
    }

    fn merge(&mut self, other: &Takings) {
        self.count += other.count;
        self.gross_fen += other.gross_fen;
        self.refund_count += other.refund_count;
        self.refunds_fen += other.refunds_fen;
    }
}

/// `total / count` rounded half-up (away from zero for halves), in integers.
pub fn average_half_up(total: i64, count: u64) -> i64 {
    let Ok(n) = i64::try_from(count) else {
        return 0;
    };
    if n == 0 {
        return 0;
    }
    let (q, r) = (total / n, total % n);
    if r.abs() * 2 >= n {
        q + total.signum()
    } else {
        q
    }
}

/// One business day's takings, whole and sliced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyTakings {
    pub date: NaiveDate,
    pub total: Takings,
    pub unverified_count: u64,
    pub unverified_fen: i64,
    /// In [`ChannelKind::ALL`] order; only channels with a sale or refund.
    pub by_channel: Vec<(ChannelKind, Takings)>,
    /// By cashier name (`None`: no cashier recorded), sorted by name.
    pub by_cashier: Vec<(Option<String>, Takings)>,
    /// Local hour 0–23, in the order of the business day (from the cut-off
    /// hour on); only hours with a sale or refund.
    pub by_hour: Vec<(u32, Takings)>,
}

/// One day of a range summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayTotals {
    pub date: NaiveDate,
    pub total: Takings,
    pub unverified_count: u64,
    pub unverified_fen: i64,
}

/// Which orders an export covers: every order (any state) whose business
/// day is in `from..=to`, optionally of one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportFilter {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub channel: Option<ChannelKind>,
}

/// What an export will cover, from [`Ledger::export_plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportPlan {
    pub filter: ExportFilter,
    /// Rows the export will write: orders and refunds.
    pub total: u64,
    /// Of which refund rows.
    pub refunds: u64,
    orders: IdRange,
    refund_ids: IdRange,
}

impl ExportPlan {
    /// The ids of the orders the export reads, first and last: for a
    /// benchmark's baseline that reads them the same way.
    pub fn order_id_range(&self) -> (i64, i64) {
        (self.orders.first, self.orders.last)
    }
}

/// The ids a part of an export lies in (`first > last` when empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IdRange {
    first: i64,
    last: i64,
}

/// What an export row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportRowKind {
    /// An order, in any state: a sale when it is paid.
    Sale,
    /// A refund that succeeded: money going back, on its own business day.
    Refund,
}

impl ExportRowKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportRowKind::Sale => "sale",
            ExportRowKind::Refund => "refund",
        }
    }
}

/// One row as the export reads it, borrowed from SQLite's row buffer so
/// streaming a million rows allocates nothing per row here.
///
/// A sale row is an order. A refund row is a succeeded refund: its own
/// business day, `created_at` when it was requested, `paid_at` when the
/// money went back, `amount_fen` negative, `channel_trade_no` the
/// channel's refund number, `note` the refund's reason, `refund_no` its
/// request number; `order_no`, store, terminal, cashier, channel and
/// currency are the original order's.
#[derive(Debug, Clone, Copy)]
pub struct ExportRow<'a> {
    pub kind: ExportRowKind,
    /// The order's id, or the refund's.
    pub id: i64,
    pub business_date: &'a str,
    /// Stored RFC 3339 UTC text.
    pub created_at: &'a str,
    pub paid_at: Option<&'a str>,
    pub store: &'a str,
    pub terminal: &'a str,
    pub cashier: Option<&'a str>,
    pub order_no: &'a str,
    pub channel: &'a str,
    pub channel_trade_no: Option<&'a str>,
    pub state: &'a str,
    pub amount_fen: i64,
    pub refunded_fen: i64,
    pub currency: &'a str,
    pub note: Option<&'a str>,
    /// Refund rows: the refund's request number (`out_refund_no`).
    pub refund_no: Option<&'a str>,
}

impl ExportRow<'_> {
    /// Whether this row is a sale (counts in gross): an order in a sale
    /// state.
    pub fn is_sale(&self) -> bool {
        self.kind == ExportRowKind::Sale && SALE_STATES.contains(&self.state)
    }

    /// What this row adds to the day's net takings: a sale's whole amount
    /// (its refunds are rows of their own, on their own days), a refund's
    /// negative amount, 0 for an order that is not a sale (no money was
    /// taken, or not yet verified).
    pub fn net_fen(&self) -> i64 {
        match self.kind {
            ExportRowKind::Refund => self.amount_fen,
            ExportRowKind::Sale if self.is_sale() => self.amount_fen,
            ExportRowKind::Sale => 0,
        }
    }
}

fn bad_row(what: String) -> LedgerError {
    LedgerError::Invalid(format!("unexpected value in the ledger: {what}"))
}

fn local_hour(ledger: &Ledger, at: &str) -> Result<u32> {
    let t: DateTime<Utc> = parse_ts(at).ok_or_else(|| bad_row(format!("time '{at}'")))?;
    Ok(t.with_timezone(&ledger.calendar().timezone).hour())
}

impl Ledger {
    /// A business day's takings (see the module overview for definitions).
    pub fn daily_takings(&self, date: NaiveDate) -> Result<DailyTakings> {
        let day = date.to_string();
        let mut total = Takings::default();
        let mut unverified_count = 0;
        let mut unverified_fen = 0;
        let mut channels: [Takings; 4] = [Takings::default(); 4];
        let mut channel_seen = [false; 4];
        let mut cashiers: BTreeMap<Option<String>, Takings> = BTreeMap::new();
        let mut hours: [Option<Takings>; 24] = [None; 24];
        let channel_index = |name: &str| -> Result<usize> {
            let kind: ChannelKind = name
                .parse()
                .map_err(|_| bad_row(format!("channel '{name}'")))?;
            ChannelKind::ALL
                .iter()
                .position(|k| *k == kind)
                .ok_or_else(|| bad_row(format!("channel '{name}'")))
        };

        let mut sales = self.conn.prepare_cached(
            "SELECT channel, cashier, state, amount_fen, COALESCE(paid_at, created_at)
             FROM orders
             WHERE business_date = ?1
               AND state IN ('paid', 'part_refunded', 'refunded', 'unverified')",
        )?;
        let mut rows = sales.query([&day])?;
        while let Some(row) = rows.next()? {
            let state = text(row, 2)?;
            let fen: i64 = row.get(3)?;
            if state == "unverified" {
                unverified_count += 1;
                unverified_fen += fen;
                continue;
            }
            total.add_sale(fen);
            let c = channel_index(text(row, 0)?)?;
            channels[c].add_sale(fen);
            channel_seen[c] = true;
            add_to_cashier(&mut cashiers, opt_text(row, 1)?, |t| t.add_sale(fen));
            let hour = local_hour(self, text(row, 4)?)?;
            hours[hour as usize]
                .get_or_insert_with(Takings::default)
                .add_sale(fen);
        }

        let mut refunds = self.conn.prepare_cached(
            "SELECT r.amount_fen, o.channel, o.cashier, COALESCE(r.settled_at, r.requested_at)
             FROM refunds r JOIN orders o ON o.id = r.order_id
             WHERE r.business_date = ?1 AND r.state = 'succeeded'",
        )?;
        let mut rows = refunds.query([&day])?;
        while let Some(row) = rows.next()? {
            let fen: i64 = row.get(0)?;
            total.add_refund(fen);
            let c = channel_index(text(row, 1)?)?;
            channels[c].add_refund(fen);
            channel_seen[c] = true;
            add_to_cashier(&mut cashiers, opt_text(row, 2)?, |t| t.add_refund(fen));
            let hour = local_hour(self, text(row, 3)?)?;
            hours[hour as usize]
                .get_or_insert_with(Takings::default)
                .add_refund(fen);
        }

        let by_channel = ChannelKind::ALL
            .iter()
            .zip(channels.iter().zip(channel_seen))
            .filter(|(_, (_, seen))| *seen)
            .map(|(k, (t, _))| (*k, *t))
            .collect();
        // The business day starts at the cut-off, so its hours are listed
        // from there: with a 04:00 cut-off, 04 … 23, then 00 … 03.
        let first = self.calendar().day_cutoff.hour();
        let by_hour = (0..24)
            .map(|i| (first + i) % 24)
            .filter_map(|h| hours[h as usize].map(|t| (h, t)))
            .collect();
        Ok(DailyTakings {
            date,
            total,
            unverified_count,
            unverified_fen,
            by_channel,
            by_cashier: cashiers.into_iter().collect(),
            by_hour,
        })
    }

    /// One row per business day of `from..=to` (days without takings too),
    /// oldest first.
    pub fn takings_by_day(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<DayTotals>> {
        let days = (to - from).num_days();
        if days < 0 {
            return Err(LedgerError::Invalid(format!(
                "the range ends ({to}) before it starts ({from})"
            )));
        }
        if days >= MAX_RANGE_DAYS {
            return Err(LedgerError::Invalid(format!(
                "a range summary covers at most {MAX_RANGE_DAYS} days"
            )));
        }
        let mut out: Vec<DayTotals> = (0..=days)
            .map(|i| DayTotals {
                date: from + Duration::days(i),
                total: Takings::default(),
                unverified_count: 0,
                unverified_fen: 0,
            })
            .collect();
        let slot = |date: &str| -> Result<usize> {
            let d = crate::parse_date(date).ok_or_else(|| bad_row(format!("date '{date}'")))?;
            usize::try_from((d - from).num_days())
                .map_err(|_| bad_row(format!("date '{date}' outside the range")))
        };
        let (from_s, to_s) = (from.to_string(), to.to_string());
        let mut sales = self.conn.prepare_cached(
            "SELECT business_date, state = 'unverified', count(*), COALESCE(sum(amount_fen), 0)
             FROM orders
             WHERE business_date BETWEEN ?1 AND ?2
               AND state IN ('paid', 'part_refunded', 'refunded', 'unverified')
             GROUP BY 1, 2",
        )?;
        let mut rows = sales.query(params![from_s, to_s])?;
        while let Some(row) = rows.next()? {
            let i = slot(text(row, 0)?)?;
            let unverified: bool = row.get(1)?;
            let count: i64 = row.get(2)?;
            let fen: i64 = row.get(3)?;
            let day = out
                .get_mut(i)
                .ok_or_else(|| bad_row("a date outside the range".into()))?;
            let count = u64::try_from(count).unwrap_or(0);
            if unverified {
                day.unverified_count += count;
                day.unverified_fen += fen;
            } else {
                day.total.count += count;
                day.total.gross_fen += fen;
            }
        }
        let mut refunds = self.conn.prepare_cached(
            "SELECT business_date, count(*), COALESCE(sum(amount_fen), 0)
             FROM refunds
             WHERE business_date BETWEEN ?1 AND ?2 AND state = 'succeeded'
             GROUP BY 1",
        )?;
        let mut rows = refunds.query(params![from_s, to_s])?;
        while let Some(row) = rows.next()? {
            let i = slot(text(row, 0)?)?;
            let count: i64 = row.get(1)?;
            let fen: i64 = row.get(2)?;
            let day = out
                .get_mut(i)
                .ok_or_else(|| bad_row("a date outside the range".into()))?;
            day.total.merge(&Takings {
                count: 0,
                gross_fen: 0,
                refund_count: u64::try_from(count).unwrap_or(0),
                refunds_fen: fen,
            });
        }
        Ok(out)
    }

    /// Plan an export: how many rows it will write (for a progress bar)
    /// and the id ranges they lie in. One pass over the
    /// `(business_date, channel)` index of the orders and the
    /// `business_date` index of the refunds.
    pub fn export_plan(&self, filter: &ExportFilter) -> Result<ExportPlan> {
        if filter.to < filter.from {
            return Err(LedgerError::Invalid(format!(
                "the range ends ({}) before it starts ({})",
                filter.to, filter.from
            )));
        }
        let (from, to) = (filter.from.to_string(), filter.to.to_string());
        let channel = filter.channel.map(ChannelKind::as_str);
        let range = |r: &Row<'_>| -> rusqlite::Result<(i64, IdRange)> {
            let (count, lo, hi): (i64, Option<i64>, Option<i64>) =
                (r.get(0)?, r.get(1)?, r.get(2)?);
            Ok((
                count,
                IdRange {
                    first: lo.unwrap_or(0),
                    last: hi.unwrap_or(-1),
                },
            ))
        };
        let (orders, order_ids) = self.conn.query_row(
            "SELECT count(*), min(id), max(id) FROM orders
             WHERE business_date BETWEEN ?1 AND ?2 AND (?3 IS NULL OR channel = ?3)",
            params![from, to, channel],
            range,
        )?;
        let (refunds, refund_ids) = self.conn.query_row(
            "SELECT count(*), min(r.id), max(r.id) FROM refunds r JOIN orders o ON o.id = r.order_id
             WHERE r.business_date BETWEEN ?1 AND ?2 AND r.state = 'succeeded'
               AND (?3 IS NULL OR o.channel = ?3)",
            params![from, to, channel],
            range,
        )?;
        let (orders, refunds) = (
            u64::try_from(orders).unwrap_or(0),
            u64::try_from(refunds).unwrap_or(0),
        );
        Ok(ExportPlan {
            filter: *filter,
            total: orders + refunds,
            refunds,
            orders: order_ids,
            refund_ids,
        })
    }

    /// Stream every row of a plan to `each`: the orders and the succeeded
    /// refunds of the range, merged in the order they were created (a
    /// refund when it was requested; a sale first on a tie). Returns the
    /// number of rows streamed. An error from `each` stops the stream and
    /// is returned as is.
    pub fn export_rows<E, F>(&self, plan: &ExportPlan, mut each: F) -> Result<u64, E>
    where
        E: From<LedgerError>,
        F: FnMut(&ExportRow<'_>) -> Result<(), E>,
    {
        if plan.total == 0 {
            return Ok(0);
        }
        let filter = &plan.filter;
        let (from, to) = (filter.from.to_string(), filter.to.to_string());
        let channel = filter.channel.map(ChannelKind::as_str);
        // Ids grow with creation time and so with the business day: walking
        // the id range in rowid order reads each table sequentially and
        // needs no sort (a sort of a million rows would hold them in memory
        // or temp files). The `+` keeps SQLite from choosing the date index,
        // which would read rows out of order and then sort them. The two
        // streams are each in creation order, so merging them needs nothing
        // held but the current row of each.
        let mut orders = self
            .conn
            .prepare(
                "SELECT id, business_date, created_at, paid_at, store, terminal, cashier, out_trade_no,
                        channel, channel_trade_no, state, amount_fen, refunded_fen, currency, note
                 FROM orders
                 WHERE id BETWEEN ?1 AND ?2
                   AND +business_date BETWEEN ?3 AND ?4
                   AND (?5 IS NULL OR channel = ?5)
                 ORDER BY id",
            )
            .map_err(LedgerError::from)?;
        let mut refunds = self
            .conn
            .prepare(
                "SELECT r.id, r.business_date, r.requested_at, r.settled_at, o.store, o.terminal,
                        o.cashier, o.out_trade_no, o.channel, r.channel_refund_no, r.state,
                        -r.amount_fen, 0, o.currency, r.reason, r.out_refund_no
                 FROM refunds r JOIN orders o ON o.id = r.order_id
                 WHERE r.id BETWEEN ?1 AND ?2
                   AND +r.business_date BETWEEN ?3 AND ?4
                   AND r.state = 'succeeded'
                   AND (?5 IS NULL OR o.channel = ?5)
                 ORDER BY r.id",
            )
            .map_err(LedgerError::from)?;
        let mut order_rows = orders
            .query(params![
                plan.orders.first,
                plan.orders.last,
                from,
                to,
                channel
            ])
            .map_err(LedgerError::from)?;
        let mut refund_rows = refunds
            .query(params![
                plan.refund_ids.first,
                plan.refund_ids.last,
                from,
                to,
                channel
            ])
            .map_err(LedgerError::from)?;
        order_rows.advance().map_err(LedgerError::from)?;
        refund_rows.advance().map_err(LedgerError::from)?;
        let mut done = 0u64;
        loop {
            let take_sale = match (order_rows.get(), refund_rows.get()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                // Stored times are RFC 3339 UTC text, which sorts as time.
                (Some(o), Some(r)) => text(o, 2)? <= text(r, 2)?,
            };
            if take_sale {
                if let Some(row) = order_rows.get() {
                    each(&export_row(row, ExportRowKind::Sale)?)?;
                }
                order_rows.advance().map_err(LedgerError::from)?;
            } else {
                if let Some(row) = refund_rows.get() {
                    each(&export_row(row, ExportRowKind::Refund)?)?;
                }
                refund_rows.advance().map_err(LedgerError::from)?;
            }
            done += 1;
        }
        Ok(done)
    }

    /// The number of orders in the ledger, any state.
    pub fn order_count(&self) -> Result<u64> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM orders", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// How many orders each business day holds, newest day first.
    pub fn orders_per_day(&self) -> Result<Vec<(NaiveDate, u64)>> {
        let mut stmt = self.conn.prepare(
            "SELECT business_date, count(*) FROM orders GROUP BY business_date
             ORDER BY business_date DESC",
        )?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let day = text(row, 0)?;
            let date = crate::parse_date(day).ok_or_else(|| bad_row(format!("date '{day}'")))?;
            let n: i64 = row.get(1)?;
            out.push((date, u64::try_from(n).unwrap_or(0)));
        }
        Ok(out)
    }
}

fn export_row<'a>(row: &'a Row<'_>, kind: ExportRowKind) -> Result<ExportRow<'a>> {
    Ok(ExportRow {
        kind,
        id: row.get(0)?,
        business_date: text(row, 1)?,
        created_at: text(row, 2)?,
        paid_at: opt_text(row, 3)?,
        store: text(row, 4)?,
        terminal: text(row, 5)?,
        cashier: opt_text(row, 6)?,
        order_no: text(row, 7)?,
        channel: text(row, 8)?,
        channel_trade_no: opt_text(row, 9)?,
        state: text(row, 10)?,
        amount_fen: row.get(11)?,
        refunded_fen: row.get(12)?,
        currency: text(row, 13)?,
        note: opt_text(row, 14)?,
        refund_no: match kind {
            ExportRowKind::Sale => None,
            ExportRowKind::Refund => Some(text(row, 15)?),
        },
    })
}

fn text<'a>(row: &'a Row<'_>, i: usize) -> Result<&'a str> {
    match row.get_ref(i)? {
        ValueRef::Text(bytes) => {
            std::str::from_utf8(bytes).map_err(|_| bad_row(format!("text in column {i}")))
        }
        other => Err(bad_row(format!(
            "{:?} where text was expected (column {i})",
            other.data_type()
        ))),
    }
}

fn opt_text<'a>(row: &'a Row<'_>, i: usize) -> Result<Option<&'a str>> {
    match row.get_ref(i)? {
        ValueRef::Null => Ok(None),
        _ => text(row, i).map(Some),
    }
}

fn add_to_cashier(
    cashiers: &mut BTreeMap<Option<String>, Takings>,
    name: Option<&str>,
    add: impl FnOnce(&mut Takings),
) {
    add(cashiers.entry(name.map(str::to_owned)).or_default());
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn average_rounds_half_up_in_integers() {
        assert_eq!(average_half_up(0, 0), 0);
        assert_eq!(average_half_up(1000, 3), 333);
        assert_eq!(average_half_up(1001, 2), 501); // 500.5 -> 501
        assert_eq!(average_half_up(1003, 2), 502); // 501.5 -> 502
        assert_eq!(average_half_up(200, 3), 67); // 66.67 -> 67
        assert_eq!(average_half_up(100, 3), 33); // 33.33 -> 33
        assert_eq!(average_half_up(-1001, 2), -501);
    }
}
