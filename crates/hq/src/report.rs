//! Consolidated takings from the stored events.
//!
//! Only two kinds move money in the report: `order_paid` (`amount_fen`) adds
//! a sale, `refund_succeeded` (`refund_fen`) a refund. Every other kind —
//! `order_created`, and whatever the terminal ledger adds later — is stored
//! but does not change takings. A payment or refund whose amount is missing
//! or not a non-negative integer is counted as unreadable and left out.
//! Amounts are integer fen throughout.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use shouyin_core::{format_fen, BusinessCalendar};

use crate::store::{ReportRow, Store, StoreError};
use crate::wire::{kinds, DailyReport, StoreCode, StoreTakings, Takings};

#[derive(Debug, Default, Clone, Copy)]
struct Sums {
    count: u64,
    refund_count: u64,
    gross: i64,
    refunds: i64,
}

impl Sums {
    fn add(&mut self, other: Sums) {
        self.count += other.count;
        self.refund_count += other.refund_count;
        self.gross = self.gross.saturating_add(other.gross);
        self.refunds = self.refunds.saturating_add(other.refunds);
    }

    fn takings(self) -> Takings {
        let net = self.gross.saturating_sub(self.refunds);
        Takings {
            count: self.count,
            refund_count: self.refund_count,
            gross_fen: self.gross,
            refunds_fen: self.refunds,
            net_fen: net,
            gross: format_fen(self.gross),
            refunds: format_fen(self.refunds),
            net: format_fen(net),
        }
    }
}

fn amount(payload: &str, field: &str) -> Option<i64> {
    let value: serde_json::Value = serde_json::from_str(payload).ok()?;
    value.get(field)?.as_i64().filter(|v| *v >= 0)
}

/// Sum rows per store; returns the sums and the number of unreadable rows.
fn aggregate(rows: &[ReportRow]) -> (BTreeMap<String, Sums>, u64) {
    let mut per_store: BTreeMap<String, Sums> = BTreeMap::new();
    let mut unreadable = 0;
    for row in rows {
        let sums = per_store.entry(row.store.clone()).or_default();
        match row.kind.as_str() {
            kinds::ORDER_PAID => match amount(&row.payload, "amount_fen") {
                Some(fen) => {
                    sums.count += 1;
                    sums.gross = sums.gross.saturating_add(fen);
                }
                None => unreadable += 1,
            },
            kinds::REFUND_SUCCEEDED => match amount(&row.payload, "refund_fen") {
                Some(fen) => {
                    sums.refund_count += 1;
                    sums.refunds = sums.refunds.saturating_add(fen);
                }
                None => unreadable += 1,
            },
            _ => {}
        }
    }
    (per_store, unreadable)
}

/// The takings of business day `date` (in `calendar`), per store and in all,
/// for `store` only if given. Every store with an enrolled terminal appears,
/// even with nothing sold.
pub async fn daily(
    store: &dyn Store,
    calendar: &BusinessCalendar,
    date: NaiveDate,
    only: Option<StoreCode>,
) -> Result<DailyReport, StoreError> {
    let (start, end) = calendar.day_bounds(date);
    let rows = store
        .report_rows(
            start.timestamp_millis(),
            end.timestamp_millis(),
            vec![kinds::ORDER_PAID.into(), kinds::REFUND_SUCCEEDED.into()],
            only.clone(),
        )
        .await?;
    let (mut per_store, unreadable) = aggregate(&rows);
    for t in store.terminals().await? {
        if only.as_ref().is_none_or(|s| *s == t.store) {
            per_store.entry(String::from(t.store)).or_default();
        }
    }
    if let Some(s) = &only {
        per_store.entry(s.as_str().to_owned()).or_default();
    }
    let mut total = Sums::default();
    let mut stores = Vec::with_capacity(per_store.len());
    for (code, sums) in per_store {
        total.add(sums);
        let code = StoreCode::parse(&code).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        stores.push(StoreTakings {
            store: code,
            takings: sums.takings(),
        });
    }
    Ok(DailyReport {
        date,
        timezone: calendar.timezone.name().to_owned(),
        day_start: start,
        day_end: end,
        stores,
        total: total.takings(),
        unreadable_events: unreadable,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn row(store: &str, kind: &str, payload: &str) -> ReportRow {
        ReportRow {
            store: store.into(),
            kind: kind.into(),
            payload: payload.into(),
        }
    }

    #[test]
    fn sums_payments_and_refunds_and_ignores_other_kinds() {
        let rows = vec![
            row(
                "S1",
                "order_paid",
                r#"{"amount_fen":1230,"channel":"cash"}"#,
            ),
            row(
                "S1",
                "order_paid",
                r#"{"amount_fen":770,"channel":"alipay"}"#,
            ),
            row("S1", "refund_succeeded", r#"{"refund_fen":200}"#),
            row("S1", "order_created", r#"{"amount_fen":999999}"#),
            row("S1", "shift_closed_v9", r#"{"whatever":true}"#),
            row("S2", "order_paid", r#"{"amount_fen":"12.30"}"#),
            row("S2", "order_paid", r#"{"amount_fen":-5}"#),
            row("S2", "refund_succeeded", r#"{}"#),
        ];
        let (per_store, unreadable) = aggregate(&rows);
        let s1 = per_store["S1"].takings();
        assert_eq!(
            (s1.count, s1.gross_fen, s1.refunds_fen, s1.net_fen),
            (2, 2000, 200, 1800)
        );
        assert_eq!((s1.gross.as_str(), s1.net.as_str()), ("20.00", "18.00"));
        assert_eq!(per_store["S2"].count, 0);
        assert_eq!(unreadable, 3);
    }
}
