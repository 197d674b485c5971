//! What a channel's daily bill is checked against: the ledger's side of
//! reconciliation, as typed records.
//!
//! A channel's bill covers an interval of instants (its natural day in
//! Beijing time), not a business day, so the ledger side is selected by the
//! instant money moved: orders by `paid_at` (a manual confirmation without
//! one by when it was recorded), refunds by `settled_at`.

use chrono::{DateTime, Utc};
use shouyin_core::ChannelKind;

use crate::orders::{order_from_row, ORDER_COLUMNS};
use crate::refunds::{select, Refund};
use crate::{ts, Ledger, Order, Result};

/// The ledger's records of one channel whose money moved in `[start, end)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BillSpanRecords {
    /// Sales (`paid`, `part_refunded`, `refunded`) paid in the span, and
    /// manual confirmations (`unverified`) recorded in it, in the order the
    /// money arrived.
    pub orders: Vec<Order>,
    /// Succeeded refunds of the channel's orders settled in the span, in
    /// settlement order.
    pub refunds: Vec<Refund>,
}

impl Ledger {
    /// What a channel's bill for `[start, end)` should show.
    pub fn bill_span(
        &self,
        channel: ChannelKind,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<BillSpanRecords> {
        let (start, end) = (ts(start), ts(end));
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders
             WHERE channel = ?1
               AND ((state IN ('paid', 'part_refunded', 'refunded')
                     AND paid_at >= ?2 AND paid_at < ?3)
                 OR (state = 'unverified'
                     AND COALESCE(paid_at, created_at) >= ?2
                     AND COALESCE(paid_at, created_at) < ?3))
             ORDER BY COALESCE(paid_at, created_at), id"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let orders = stmt
            .query_map([channel.as_str(), &start, &end], order_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let refunds = select(
            &self.conn,
            "o.channel = ?1 AND r.state = 'succeeded' AND r.settled_at >= ?2 AND r.settled_at < ?3",
            [channel.as_str(), &start, &end],
        )?;
        Ok(BillSpanRecords { orders, refunds })
    }

    /// Every refund of an order, by the order's number, oldest first (empty
    /// when there is no such order).
    pub fn refunds_for_order_no(&self, out_trade_no: &str) -> Result<Vec<Refund>> {
        select(&self.conn, "o.out_trade_no = ?1", [out_trade_no])
    }
}
