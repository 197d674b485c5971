//! The pure matching of reconciliation: bill lines against the ledger's
//! records of the day, each line on either side ending in exactly one
//! [`ReconcileClass`]. Nothing here reads a file or the ledger; the glue
//! (`super`) gathers both sides first, so every rule is unit-tested below
//! with small hand-made bills.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shouyin_channels::{BillKind, BillLine, BillRefundState, BillType};
use shouyin_core::{format_fen, ChannelKind, OrderState};
use shouyin_ledger::refunds::{Refund, RefundState};
use shouyin_ledger::Order;

/// Where a line ended up.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ts_rs::TS,
)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ReconcileClass {
    /// The bill line was found on the channel's side with no ledger record:
    /// a payment (or refund) the counter missed.
    MissingInLedger,
    /// The ledger has a payment or a succeeded refund in the day that the
    /// bill lacks.
    MissingInBill,
    /// Both sides have it, with different amounts.
    AmountMismatch,
    /// Both sides have it, but the ledger's state disagrees with the bill
    /// (e.g. the bill has a payment the ledger calls closed).
    StatusMismatch,
    /// A manual confirmation (`unverified`) that the bill shows paid. A
    /// bill downloaded from the channel settles it as paid; an imported
    /// file is evidence to show, and leaves it for a channel query or a
    /// manager.
    UnverifiedConfirmed,
    /// A manual confirmation the bill does not show: no money arrived.
    UnverifiedMissing,
    /// The bill lists the refund as accepted and not yet returned (WeChat
    /// 退款状态 PROCESSING): pending, not money returned. The bill is a
    /// snapshot; a channel query says where it stands now.
    RefundPending,
    /// Both sides agree.
    Matched,
}

impl ReconcileClass {
    pub const ALL: [ReconcileClass; 8] = [
        ReconcileClass::MissingInLedger,
        ReconcileClass::MissingInBill,
        ReconcileClass::AmountMismatch,
        ReconcileClass::StatusMismatch,
        ReconcileClass::UnverifiedConfirmed,
        ReconcileClass::UnverifiedMissing,
        ReconcileClass::RefundPending,
        ReconcileClass::Matched,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReconcileClass::MissingInLedger => "missing_in_ledger",
            ReconcileClass::MissingInBill => "missing_in_bill",
            ReconcileClass::AmountMismatch => "amount_mismatch",
            ReconcileClass::StatusMismatch => "status_mismatch",
            ReconcileClass::UnverifiedConfirmed => "unverified_confirmed",
            ReconcileClass::UnverifiedMissing => "unverified_missing",
            ReconcileClass::RefundPending => "refund_pending",
            ReconcileClass::Matched => "matched",
        }
    }

    /// Everything except `matched` needs someone to look at it.
    pub fn is_difference(self) -> bool {
        self != ReconcileClass::Matched
    }

    /// What to do, in Chinese and in English. Only a bill from the channel
    /// settles a manual confirmation; an imported file only shows it.
    pub fn action(
        self,
        kind: ReconcileLineKind,
        source: BillSource,
        failed_refund: bool,
    ) -> (&'static str, &'static str) {
        use ReconcileClass as C;
        use ReconcileLineKind as K;
        match (self, kind) {
            (C::UnverifiedConfirmed, _) if source == BillSource::File => (
                "导入的账单文件显示已付款：请向渠道查询，或经店长批准后结清",
                "the imported bill file shows it paid; settle it by querying the channel or with a manager's approval",
            ),
            (C::Matched, _) => ("无需处理", "nothing to do"),
            (C::RefundPending, _) => (
                "账单显示退款处理中，钱尚未退回：稍后向渠道查询该退款",
                "the bill shows the refund accepted but not yet returned; query the refund at the channel later",
            ),
            (C::MissingInLedger, K::Reversal) => (
                "渠道已撤销该笔付款：向渠道查询该订单并记入账本",
                "the channel reversed this payment; query the order and record it in the ledger",
            ),
            (C::StatusMismatch, K::Reversal) => (
                "渠道已撤销该笔付款（钱已退回顾客），账本仍记为已收款：查询订单并更正",
                "the channel reversed this payment (the money went back) but the ledger counts it as received; query the order and correct it",
            ),
            (C::StatusMismatch, K::Refund) if failed_refund => (
                "账单显示该退款失败，钱未退回：向渠道查询该退款并更正账本",
                "the bill shows this refund failed and no money went back; query the refund and correct the ledger",
            ),
            (C::MissingInLedger, K::Payment) => (
                "补录：查询该订单并记入账本",
                "补录: query the order at the channel and record it in the ledger",
            ),
            (C::MissingInLedger, K::Refund) => (
                "补录退款：向渠道查询该退款并记入账本",
                "补录: query the refund at the channel and record it in the ledger",
            ),
            (C::MissingInBill, K::Payment | K::Reversal) => (
                "与渠道核实：该笔款项可能已被撤销或未到账",
                "check with the channel; the payment may have been reversed or never settled",
            ),
            (C::MissingInBill, K::Refund) => (
                "与渠道核实：该笔退款可能未成功",
                "check with the channel; the refund may not have gone through",
            ),
            (C::AmountMismatch, _) => (
                "核对金额：以渠道账单为准更正，或联系渠道",
                "compare the amounts; correct the record from the channel's bill or ask the channel",
            ),
            (C::StatusMismatch, K::Payment) => (
                "查询订单：渠道显示已收款，更新账本中的状态",
                "query the order: the channel shows it paid; bring the ledger's state up to date",
            ),
            (C::StatusMismatch, K::Refund) => (
                "查询退款：渠道显示已退款，更新账本中的状态",
                "query the refund: the channel shows it refunded; bring the ledger's state up to date",
            ),
            (C::UnverifiedConfirmed, _) => (
                "人工确认已由账单证实，已结清为已付款",
                "the bill bears out the manual confirmation; it has been settled as paid",
            ),
            (C::UnverifiedMissing, _) => (
                "人工确认未见于账单：向顾客或渠道追查",
                "the manual confirmation is not in the bill; follow it up with the customer or the channel",
            ),
        }
    }
}

/// Which way the money went on a line.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ts_rs::TS,
)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ReconcileLineKind {
    Payment,
    Refund,
    /// A payment the channel reversed (WeChat REVOKED).
    Reversal,
}

impl From<BillKind> for ReconcileLineKind {
    fn from(k: BillKind) -> Self {
        match k {
            BillKind::Payment => ReconcileLineKind::Payment,
            BillKind::Refund => ReconcileLineKind::Refund,
            BillKind::Reversal => ReconcileLineKind::Reversal,
        }
    }
}

/// One line of the result: a bill line, a ledger record, or both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct ReconcileLineDto {
    pub class: ReconcileClass,
    pub kind: ReconcileLineKind,
    pub order_no: String,
    /// Refund lines: the refund's own request number.
    pub out_refund_no: Option<String>,
    pub channel_trade_no: Option<String>,
    /// "12.30"; `None` when the bill has no such line.
    pub bill_amount: Option<String>,
    #[ts(type = "number | null")]
    pub bill_amount_fen: Option<i64>,
    /// What the merchant's account moved by, when it differs from the
    /// gross `bill_amount` (a coupon or 商家优惠 paid the rest).
    pub bill_settled_amount: Option<String>,
    #[ts(type = "number | null")]
    pub bill_settled_amount_fen: Option<i64>,
    /// Refund lines of the bill: succeeded, pending or failed.
    pub bill_refund_state: Option<ReconcileRefundState>,
    pub ledger_amount: Option<String>,
    #[ts(type = "number | null")]
    pub ledger_amount_fen: Option<i64>,
    /// The channel's status text as printed in the bill.
    pub bill_status: Option<String>,
    /// The ledger's order state, or for a refund `refund_<state>`.
    pub ledger_state: Option<String>,
    /// When the money moved (bill time, else the ledger's), RFC 3339 UTC.
    pub at: Option<String>,
    pub action_zh: String,
    pub action_en: String,
}

/// A refund row's state as the bill printed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ReconcileRefundState {
    Succeeded,
    Pending,
    Failed,
}

impl From<BillRefundState> for ReconcileRefundState {
    fn from(s: BillRefundState) -> Self {
        match s {
            BillRefundState::Succeeded => ReconcileRefundState::Succeeded,
            BillRefundState::Pending => ReconcileRefundState::Pending,
            BillRefundState::Failed => ReconcileRefundState::Failed,
        }
    }
}

/// Where the bill came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum BillSource {
    /// Downloaded from the channel just now.
    Channel,
    /// Read from a file the accountant downloaded.
    File,
}

/// An order as reconciliation needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LedgerOrder {
    pub order_no: String,
    pub channel: ChannelKind,
    pub state: OrderState,
    pub amount_fen: i64,
    pub channel_trade_no: Option<String>,
    /// When the money arrived (else when the order was made).
    pub at: Option<DateTime<Utc>>,
}

impl From<&Order> for LedgerOrder {
    fn from(o: &Order) -> Self {
        LedgerOrder {
            order_no: o.out_trade_no.clone(),
            channel: o.channel,
            state: o.state,
            amount_fen: o.amount.fen(),
            channel_trade_no: o.channel_trade_no.clone(),
            at: o.paid_at.or(Some(o.created_at)),
        }
    }
}

/// A refund with its order's number and channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LedgerRefund {
    pub out_refund_no: String,
    pub order_no: String,
    pub channel: ChannelKind,
    pub amount_fen: i64,
    pub state: RefundState,
    pub channel_refund_no: Option<String>,
    pub settled_at: Option<DateTime<Utc>>,
}

impl From<&Refund> for LedgerRefund {
    fn from(r: &Refund) -> Self {
        LedgerRefund {
            out_refund_no: r.out_refund_no.clone(),
            order_no: r.order_no.clone(),
            channel: r.channel,
            amount_fen: r.amount_fen,
            state: r.state,
            channel_refund_no: r.channel_refund_no.clone(),
            settled_at: r.settled_at,
        }
    }
}

/// The ledger's side: what moved money in the day, and every record a bill
/// line names (whatever its day).
#[derive(Debug, Default)]
pub(crate) struct LedgerView {
    day_orders: Vec<String>,
    day_refunds: Vec<String>,
    orders: HashMap<String, LedgerOrder>,
    refunds: HashMap<String, LedgerRefund>,
    refunds_of_order: HashMap<String, Vec<String>>,
}

impl LedgerView {
    /// An order whose money moved in the day (give the day's records before
    /// the ones bill lines name).
    pub(crate) fn day_order(&mut self, o: LedgerOrder) {
        if !self.orders.contains_key(&o.order_no) {
            self.day_orders.push(o.order_no.clone());
            self.orders.insert(o.order_no.clone(), o);
        }
    }

    /// An order a bill line names, whatever its day.
    pub(crate) fn named_order(&mut self, o: LedgerOrder) {
        self.orders.entry(o.order_no.clone()).or_insert(o);
    }

    pub(crate) fn has_order(&self, order_no: &str) -> bool {
        self.orders.contains_key(order_no)
    }

    /// A succeeded refund settled in the day (before the named ones).
    pub(crate) fn day_refund(&mut self, r: LedgerRefund) {
        if !self.refunds.contains_key(&r.out_refund_no) {
            self.day_refunds.push(r.out_refund_no.clone());
            self.named_refund(r);
        }
    }

    /// A refund of an order a bill line names, whatever its day and state.
    pub(crate) fn named_refund(&mut self, r: LedgerRefund) {
        if self.refunds.contains_key(&r.out_refund_no) {
            return;
        }
        self.refunds_of_order
            .entry(r.order_no.clone())
            .or_default()
            .push(r.out_refund_no.clone());
        self.refunds.insert(r.out_refund_no.clone(), r);
    }

    /// The amounts of the day's payments (manual confirmations included).
    pub(crate) fn day_payment_amounts(&self) -> Vec<i64> {
        self.day_orders
            .iter()
            .filter_map(|no| self.orders.get(no))
            .map(|o| o.amount_fen)
            .collect()
    }

    /// The amounts of the day's succeeded refunds, but those in `apart`.
    pub(crate) fn day_refund_amounts(&self, apart: &HashSet<&str>) -> Vec<i64> {
        self.day_refunds
            .iter()
            .filter(|no| !apart.contains(no.as_str()))
            .filter_map(|no| self.refunds.get(no))
            .map(|r| r.amount_fen)
            .collect()
    }

    /// The amounts of the day's refunds in `apart`.
    pub(crate) fn day_refund_amounts_of(&self, apart: &HashSet<&str>) -> Vec<i64> {
        self.day_refunds
            .iter()
            .filter(|no| apart.contains(no.as_str()))
            .filter_map(|no| self.refunds.get(no))
            .map(|r| r.amount_fen)
            .collect()
    }
}

fn refund_state_text(state: RefundState) -> String {
    format!("refund_{state}")
}

fn line(
    class: ReconcileClass,
    kind: ReconcileLineKind,
    order_no: &str,
    bill: Option<&BillLine>,
    source: BillSource,
) -> ReconcileLineDto {
    let failed_refund = bill.and_then(|b| b.refund_state) == Some(BillRefundState::Failed);
    let (action_zh, action_en) = class.action(kind, source, failed_refund);
    let settled = bill.filter(|b| b.settled_fen != b.amount_fen);
    ReconcileLineDto {
        class,
        kind,
        order_no: order_no.to_owned(),
        out_refund_no: bill.and_then(|b| b.out_refund_no.clone()),
        channel_trade_no: bill.map(|b| b.channel_trade_no.clone()),
        bill_amount: bill.map(|b| format_fen(b.amount_fen)),
        bill_amount_fen: bill.map(|b| b.amount_fen),
        bill_settled_amount: settled.map(|b| format_fen(b.settled_fen)),
        bill_settled_amount_fen: settled.map(|b| b.settled_fen),
        bill_refund_state: bill
            .and_then(|b| b.refund_state)
            .map(ReconcileRefundState::from),
        ledger_amount: None,
        ledger_amount_fen: None,
        bill_status: bill.map(|b| b.status.clone()),
        ledger_state: None,
        at: bill.map(|b| shouyin_ledger::ts(b.occurred_at)),
        action_zh: action_zh.to_owned(),
        action_en: action_en.to_owned(),
    }
}

impl ReconcileLineDto {
    fn with_ledger_order(mut self, o: &LedgerOrder) -> ReconcileLineDto {
        self.ledger_amount = Some(format_fen(o.amount_fen));
        self.ledger_amount_fen = Some(o.amount_fen);
        self.ledger_state = Some(o.state.as_str().to_owned());
        if self.channel_trade_no.is_none() {
            self.channel_trade_no = o.channel_trade_no.clone();
        }
        if self.at.is_none() {
            self.at = o.at.map(shouyin_ledger::ts);
        }
        self
    }

    fn with_ledger_refund(mut self, r: &LedgerRefund) -> ReconcileLineDto {
        self.ledger_amount = Some(format_fen(r.amount_fen));
        self.ledger_amount_fen = Some(r.amount_fen);
        self.ledger_state = Some(refund_state_text(r.state));
        if self.out_refund_no.is_none() {
            self.out_refund_no = Some(r.out_refund_no.clone());
        }
        if self.channel_trade_no.is_none() {
            self.channel_trade_no = r.channel_refund_no.clone();
        }
        if self.at.is_none() {
            self.at = r.settled_at.map(shouyin_ledger::ts);
        }
        self
    }
}

/// Classify every bill line and every ledger record of the day. Pure: the
/// ledger side has been read already.
///
/// Amounts are compared like with like: the ledger records gross amounts
/// (the order amount, the amount asked back), so they are compared with the
/// bill's gross figures; the settled figure is shown beside where it
/// differs. Only what `bill_type` can contain is looked for: a payments-only
/// bill says nothing about the day's refunds, a refunds-only bill nothing
/// about its payments.
pub(crate) fn classify(
    channel: ChannelKind,
    bill_type: BillType,
    bill: &[BillLine],
    view: &LedgerView,
    source: BillSource,
) -> Vec<ReconcileLineDto> {
    let mut out = Vec::new();
    let mut seen_orders: HashSet<&str> = HashSet::new();
    let mut seen_refunds: HashSet<&str> = HashSet::new();
    for b in bill {
        let kind = ReconcileLineKind::from(b.kind);
        match b.kind {
            BillKind::Payment => {
                let Some(o) = view.orders.get(&b.out_trade_no) else {
                    out.push(line(
                        ReconcileClass::MissingInLedger,
                        kind,
                        &b.out_trade_no,
                        Some(b),
                        source,
                    ));
                    continue;
                };
                seen_orders.insert(o.order_no.as_str());
                let same_amount = o.amount_fen == b.amount_fen;
                let class = if o.channel != channel {
                    // The number is ours but the ledger booked it elsewhere.
                    ReconcileClass::StatusMismatch
                } else if o.state.is_paid() {
                    if same_amount {
                        ReconcileClass::Matched
                    } else {
                        ReconcileClass::AmountMismatch
                    }
                } else if o.state == OrderState::Unverified {
                    if same_amount {
                        ReconcileClass::UnverifiedConfirmed
                    } else {
                        ReconcileClass::AmountMismatch
                    }
                } else {
                    // created, pending, unknown, closed, failed: the channel
                    // took money the ledger does not count.
                    ReconcileClass::StatusMismatch
                };
                let mut l =
                    line(class, kind, &b.out_trade_no, Some(b), source).with_ledger_order(o);
                if o.channel != channel {
                    l.ledger_state = Some(format!("{} ({})", o.state, o.channel));
                }
                out.push(l);
            }
            BillKind::Refund => {
                // By refund number; a line without one (or with a number the
                // ledger lacks) may still be a refund of the same order and
                // amount recorded under its own number.
                let by_number = b
                    .out_refund_no
                    .as_deref()
                    .and_then(|no| view.refunds.get(no))
                    .filter(|r| !seen_refunds.contains(r.out_refund_no.as_str()));
                let found = by_number.or_else(|| {
                    if b.out_refund_no.is_some() {
                        return None;
                    }
                    view.refunds_of_order
                        .get(&b.out_trade_no)?
                        .iter()
                        .filter_map(|no| view.refunds.get(no))
                        .find(|r| {
                            r.amount_fen == b.amount_fen
                                && !seen_refunds.contains(r.out_refund_no.as_str())
                        })
                });
                let Some(r) = found else {
                    out.push(line(
                        ReconcileClass::MissingInLedger,
                        kind,
                        &b.out_trade_no,
                        Some(b),
                        source,
                    ));
                    continue;
                };
                seen_refunds.insert(r.out_refund_no.as_str());
                let state = b.refund_state.unwrap_or(BillRefundState::Succeeded);
                let class = if r.channel != channel {
                    ReconcileClass::StatusMismatch
                } else if r.amount_fen != b.amount_fen {
                    ReconcileClass::AmountMismatch
                } else {
                    match (state, r.state) {
                        (BillRefundState::Succeeded, RefundState::Succeeded) => {
                            ReconcileClass::Matched
                        }
                        (BillRefundState::Succeeded, _) => ReconcileClass::StatusMismatch,
                        // Accepted, money not yet back, whatever the ledger
                        // heard since: pending, never returned money.
                        (BillRefundState::Pending, _) => ReconcileClass::RefundPending,
                        // No money went back: the ledger agrees only if it
                        // holds the refund as failed.
                        (BillRefundState::Failed, RefundState::Failed) => ReconcileClass::Matched,
                        (BillRefundState::Failed, _) => ReconcileClass::StatusMismatch,
                    }
                };
                out.push(line(class, kind, &b.out_trade_no, Some(b), source).with_ledger_refund(r));
            }
            BillKind::Reversal => {
                // Money that came in and went back: it matches an order the
                // ledger does not count as received.
                let Some(o) = view.orders.get(&b.out_trade_no) else {
                    out.push(line(
                        ReconcileClass::MissingInLedger,
                        kind,
                        &b.out_trade_no,
                        Some(b),
                        source,
                    ));
                    continue;
                };
                let class = if o.channel != channel
                    || matches!(o.state, OrderState::Paid | OrderState::PartRefunded)
                {
                    ReconcileClass::StatusMismatch
                } else {
                    ReconcileClass::Matched
                };
                let mut l =
                    line(class, kind, &b.out_trade_no, Some(b), source).with_ledger_order(o);
                // The till records money the channel gave back on a reverse
                // or cancel as a refund of the whole amount: that refund is
                // this reversal, not a refund missing from the bill.
                if class == ReconcileClass::Matched {
                    let undone = view
                        .refunds_of_order
                        .get(&b.out_trade_no)
                        .into_iter()
                        .flatten()
                        .filter_map(|no| view.refunds.get(no))
                        .find(|r| {
                            r.channel == channel
                                && r.state == RefundState::Succeeded
                                && r.amount_fen == b.amount_fen
                                && !seen_refunds.contains(r.out_refund_no.as_str())
                        });
                    if let Some(r) = undone {
                        seen_refunds.insert(r.out_refund_no.as_str());
                        l.out_refund_no = Some(r.out_refund_no.clone());
                    }
                }
                out.push(l);
            }
        }
    }
    // A bill of payments only (or refunds only) cannot show the other
    // kind: the ledger's records of that kind are not looked for.
    let day_orders: &[String] = if bill_type.has_payments() {
        &view.day_orders
    } else {
        &[]
    };
    let day_refunds: &[String] = if bill_type.has_refunds() {
        &view.day_refunds
    } else {
        &[]
    };
    for no in day_orders {
        if seen_orders.contains(no.as_str()) {
            continue;
        }
        let Some(o) = view.orders.get(no) else {
            continue;
        };
        let class = if o.state == OrderState::Unverified {
            ReconcileClass::UnverifiedMissing
        } else {
            ReconcileClass::MissingInBill
        };
        out.push(line(class, ReconcileLineKind::Payment, no, None, source).with_ledger_order(o));
    }
    for no in day_refunds {
        if seen_refunds.contains(no.as_str()) {
            continue;
        }
        let Some(r) = view.refunds.get(no) else {
            continue;
        };
        out.push(
            line(
                ReconcileClass::MissingInBill,
                ReconcileLineKind::Refund,
                &r.order_no,
                None,
                source,
            )
            .with_ledger_refund(r),
        );
    }
    // Differences first, in class order; then by time and number.
    out.sort_by(|a, b| {
        (a.class, &a.at, &a.order_no, &a.out_refund_no).cmp(&(
            b.class,
            &b.at,
            &b.order_no,
            &b.out_refund_no,
        ))
    });
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use ReconcileClass as C;
    use ReconcileLineKind as K;

    const CH: ChannelKind = ChannelKind::Alipay;
    const ALL: BillType = BillType::AlipayTrade;

    /// (class, kind, order no, bill fen, ledger fen) of a line.
    type Seen = (C, K, String, Option<i64>, Option<i64>);

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 3, minute, 0).unwrap()
    }

    fn pay_line(no: &str, fen: i64) -> BillLine {
        BillLine {
            channel_trade_no: format!("2026{no}"),
            out_trade_no: no.into(),
            kind: BillKind::Payment,
            amount_fen: fen,
            settled_fen: fen,
            out_refund_no: None,
            occurred_at: at(1),
            refund_state: None,
            status: "交易".into(),
        }
    }

    fn refund_line(order_no: &str, refund_no: Option<&str>, fen: i64) -> BillLine {
        BillLine {
            kind: BillKind::Refund,
            out_refund_no: refund_no.map(str::to_owned),
            status: "退款".into(),
            occurred_at: at(2),
            refund_state: Some(BillRefundState::Succeeded),
            ..pay_line(order_no, fen)
        }
    }

    fn order(no: &str, state: OrderState, fen: i64) -> LedgerOrder {
        LedgerOrder {
            order_no: no.into(),
            channel: CH,
            state,
            amount_fen: fen,
            channel_trade_no: None,
            at: Some(at(0)),
        }
    }

    fn refund(no: &str, order_no: &str, fen: i64, state: RefundState) -> LedgerRefund {
        LedgerRefund {
            out_refund_no: no.into(),
            order_no: order_no.into(),
            channel: CH,
            amount_fen: fen,
            state,
            channel_refund_no: None,
            settled_at: Some(at(3)),
        }
    }

    fn run(bill: &[BillLine], view: &LedgerView, source: BillSource) -> Vec<Seen> {
        classify(CH, ALL, bill, view, source)
            .into_iter()
            .map(|l| {
                (
                    l.class,
                    l.kind,
                    l.order_no,
                    l.bill_amount_fen,
                    l.ledger_amount_fen,
                )
            })
            .collect()
    }

    fn one(class: C, kind: K, no: &str, bill: Option<i64>, ledger: Option<i64>) -> Vec<Seen> {
        vec![(class, kind, no.to_owned(), bill, ledger)]
    }

    #[test]
    fn a_paid_order_on_the_bill_matches() {
        for state in [
            OrderState::Paid,
            OrderState::PartRefunded,
            OrderState::Refunded,
        ] {
            let mut v = LedgerView::default();
            v.day_order(order("A", state, 1230));
            let got = run(&[pay_line("A", 1230)], &v, BillSource::Channel);
            assert_eq!(
                got,
                one(C::Matched, K::Payment, "A", Some(1230), Some(1230))
            );
        }
    }

    #[test]
    fn a_payment_the_bill_lacks_is_missing_in_bill() {
        let mut v = LedgerView::default();
        v.day_order(order("A", OrderState::Paid, 500));
        let got = run(&[], &v, BillSource::Channel);
        assert_eq!(got, one(C::MissingInBill, K::Payment, "A", None, Some(500)));
    }

    #[test]
    fn a_payment_the_ledger_lacks_is_missing_in_ledger() {
        let v = LedgerView::default();
        let got = run(&[pay_line("X", 900)], &v, BillSource::Channel);
        assert_eq!(
            got,
            one(C::MissingInLedger, K::Payment, "X", Some(900), None)
        );
        let line = &classify(CH, ALL, &[pay_line("X", 900)], &v, BillSource::Channel)[0];
        assert!(line.action_zh.starts_with("补录"));
    }

    #[test]
    fn different_amounts_are_an_amount_mismatch() {
        let mut v = LedgerView::default();
        v.day_order(order("A", OrderState::Paid, 1100));
        let got = run(&[pay_line("A", 1000)], &v, BillSource::Channel);
        assert_eq!(
            got,
            one(C::AmountMismatch, K::Payment, "A", Some(1000), Some(1100))
        );
    }

    #[test]
    fn money_the_ledger_does_not_count_is_a_state_mismatch() {
        // A payment on the bill for an order the ledger closed (of another
        // day, named by the line), failed, or still waits for.
        for state in [
            OrderState::Closed,
            OrderState::Failed,
            OrderState::Pending,
            OrderState::Unknown,
            OrderState::Created,
        ] {
            let mut v = LedgerView::default();
            v.named_order(order("A", state, 700));
            let lines = classify(CH, ALL, &[pay_line("A", 700)], &v, BillSource::Channel);
            assert_eq!(lines.len(), 1);
            assert_eq!(
                (lines[0].class, lines[0].kind),
                (C::StatusMismatch, K::Payment)
            );
            assert_eq!(lines[0].ledger_state.as_deref(), Some(state.as_str()));
        }
        // Our number, booked on another channel.
        let mut v = LedgerView::default();
        v.named_order(LedgerOrder {
            channel: ChannelKind::Wechat,
            ..order("A", OrderState::Paid, 700)
        });
        let lines = classify(CH, ALL, &[pay_line("A", 700)], &v, BillSource::Channel);
        assert_eq!(lines[0].class, C::StatusMismatch);
        assert_eq!(lines[0].ledger_state.as_deref(), Some("paid (wechat)"));
    }

    #[test]
    fn refunds_match_by_number_or_by_order_and_amount() {
        let mut v = LedgerView::default();
        v.day_refund(refund("A_R1", "A", 300, RefundState::Succeeded));
        v.day_refund(refund("B_R1", "B", 200, RefundState::Succeeded));
        let bill = [
            refund_line("A", Some("A_R1"), 300),
            // A line without a refund number (some bills leave it out).
            refund_line("B", None, 200),
        ];
        let got = run(&bill, &v, BillSource::Channel);
        assert_eq!(
            got,
            vec![
                (C::Matched, K::Refund, "A".into(), Some(300), Some(300)),
                (C::Matched, K::Refund, "B".into(), Some(200), Some(200)),
            ]
        );
        let lines = classify(CH, ALL, &bill, &v, BillSource::Channel);
        assert_eq!(lines[1].out_refund_no.as_deref(), Some("B_R1"));
    }

    #[test]
    fn refund_differences_are_each_their_own_class() {
        let mut v = LedgerView::default();
        // Recorded with another amount.
        v.day_refund(refund("A_R1", "A", 300, RefundState::Succeeded));
        // The ledger's refund that the bill lacks.
        v.day_refund(refund("B_R1", "B", 100, RefundState::Succeeded));
        // Still processing in the ledger, done at the channel.
        v.named_refund(refund("C_R1", "C", 50, RefundState::Processing));
        let bill = [
            refund_line("A", Some("A_R1"), 200),
            refund_line("C", Some("C_R1"), 50),
            // Only the channel knows this one.
            refund_line("D", Some("D_R9"), 80),
        ];
        let lines = classify(CH, ALL, &bill, &v, BillSource::Channel);
        let got: Vec<_> = lines
            .iter()
            .map(|l| (l.class, l.order_no.as_str(), l.ledger_state.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (C::MissingInLedger, "D", None),
                (C::MissingInBill, "B", Some("refund_succeeded")),
                (C::AmountMismatch, "A", Some("refund_succeeded")),
                (C::StatusMismatch, "C", Some("refund_processing")),
            ]
        );
        assert!(lines.iter().all(|l| l.kind == K::Refund));
    }

    #[test]
    fn a_refund_line_is_matched_once() {
        // Two identical lines without numbers, one ledger refund: the second
        // line is the channel's alone.
        let mut v = LedgerView::default();
        v.day_refund(refund("A_R1", "A", 100, RefundState::Succeeded));
        let bill = [refund_line("A", None, 100), refund_line("A", None, 100)];
        let classes: Vec<C> = classify(CH, ALL, &bill, &v, BillSource::Channel)
            .iter()
            .map(|l| l.class)
            .collect();
        assert_eq!(classes, vec![C::MissingInLedger, C::Matched]);
    }

    #[test]
    fn manual_confirmations_are_shown_by_any_bill_and_settled_by_the_channel_only() {
        let mut v = LedgerView::default();
        v.day_order(order("U", OrderState::Unverified, 4321));
        v.day_order(order("V", OrderState::Unverified, 1000));
        v.day_order(order("W", OrderState::Unverified, 800));
        let bill = [pay_line("U", 4321), pay_line("W", 900)];
        for source in [BillSource::Channel, BillSource::File] {
            let lines = classify(CH, ALL, &bill, &v, source);
            let got: Vec<_> = lines
                .iter()
                .map(|l| (l.class, l.order_no.as_str()))
                .collect();
            assert_eq!(
                got,
                vec![
                    (C::AmountMismatch, "W"),
                    (C::UnverifiedConfirmed, "U"),
                    (C::UnverifiedMissing, "V"),
                ]
            );
            let confirmed = &lines[1];
            if source == BillSource::Channel {
                assert!(confirmed.action_en.contains("has been settled"));
            } else {
                assert!(confirmed.action_en.contains("imported bill file"));
                assert!(!confirmed.action_en.contains("has been settled"));
            }
        }
    }

    #[test]
    fn differences_come_first_then_matches_by_time() {
        let mut v = LedgerView::default();
        v.day_order(LedgerOrder {
            at: Some(at(9)),
            ..order("B", OrderState::Paid, 100)
        });
        v.day_order(order("A", OrderState::Paid, 100));
        v.day_order(order("C", OrderState::Paid, 100));
        let mut late = pay_line("B", 100);
        late.occurred_at = at(9);
        let bill = [late, pay_line("A", 100)];
        let got: Vec<_> = classify(CH, ALL, &bill, &v, BillSource::Channel)
            .into_iter()
            .map(|l| (l.class, l.order_no))
            .collect();
        assert_eq!(
            got,
            vec![
                (C::MissingInBill, "C".to_owned()),
                (C::Matched, "A".to_owned()),
                (C::Matched, "B".to_owned()),
            ]
        );
    }

    #[test]
    fn the_day_totals_count_the_days_records_only() {
        let mut v = LedgerView::default();
        v.day_order(order("A", OrderState::Paid, 100));
        v.day_order(order("U", OrderState::Unverified, 40));
        v.named_order(order("OLD", OrderState::Paid, 999));
        v.day_refund(refund("A_R1", "A", 30, RefundState::Succeeded));
        v.named_refund(refund("OLD_R1", "OLD", 7, RefundState::Succeeded));
        assert_eq!(v.day_payment_amounts(), vec![100, 40]);
        assert_eq!(v.day_refund_amounts(&HashSet::new()), vec![30]);
        let apart = HashSet::from(["A_R1"]);
        assert_eq!(v.day_refund_amounts(&apart), Vec::<i64>::new());
        assert_eq!(v.day_refund_amounts_of(&apart), vec![30]);
    }

    fn wx_refund(
        order_no: &str,
        no: &str,
        gross: i64,
        settled: i64,
        state: BillRefundState,
    ) -> BillLine {
        BillLine {
            settled_fen: settled,
            refund_state: Some(state),
            status: "PROCESSING".into(),
            ..refund_line(order_no, Some(no), gross)
        }
    }

    #[test]
    fn gap2_only_what_the_bill_type_can_contain_is_looked_for() {
        let mut v = LedgerView::default();
        v.day_order(order("A", OrderState::Paid, 1000));
        v.day_order(order("B", OrderState::PartRefunded, 800));
        v.day_refund(refund("B_R1", "B", 300, RefundState::Succeeded));
        // A payments-only bill: the day's refund is not "missing".
        let success = [pay_line("A", 1000), pay_line("B", 800)];
        let lines = classify(CH, BillType::WechatSuccess, &success, &v, BillSource::File);
        let got: Vec<_> = lines
            .iter()
            .map(|l| (l.class, l.kind, l.order_no.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![(C::Matched, K::Payment, "A"), (C::Matched, K::Payment, "B")]
        );
        // A refunds-only bill: the day's payments are not "missing".
        let refunds = [refund_line("B", Some("B_R1"), 300)];
        let lines = classify(CH, BillType::WechatRefund, &refunds, &v, BillSource::File);
        let got: Vec<_> = lines
            .iter()
            .map(|l| (l.class, l.kind, l.order_no.as_str()))
            .collect();
        assert_eq!(got, vec![(C::Matched, K::Refund, "B")]);
        // The full bill still finds both kinds missing.
        let lines = classify(CH, BillType::WechatAll, &[], &v, BillSource::File);
        let got: Vec<_> = lines.iter().map(|l| (l.class, l.kind)).collect();
        assert_eq!(
            got,
            vec![
                (C::MissingInBill, K::Payment),
                (C::MissingInBill, K::Payment),
                (C::MissingInBill, K::Refund)
            ]
        );
    }

    #[test]
    fn gap4_like_is_compared_with_like_and_both_figures_are_shown() {
        // Paid 50.00, 5.00 of it by a non-recharge coupon, refunded in full:
        // the ledger's gross figures match the bill's gross ones.
        let mut v = LedgerView::default();
        v.day_order(order("W2", OrderState::Refunded, 5000));
        v.day_refund(refund("W2_R1", "W2", 5000, RefundState::Succeeded));
        let pay = BillLine {
            settled_fen: 4500,
            ..pay_line("W2", 5000)
        };
        let back = wx_refund("W2", "W2_R1", 5000, 4500, BillRefundState::Succeeded);
        let lines = classify(CH, ALL, &[pay, back], &v, BillSource::File);
        let got: Vec<_> = lines
            .iter()
            .map(|l| {
                (
                    l.class,
                    l.kind,
                    l.bill_amount_fen,
                    l.bill_settled_amount_fen,
                    l.ledger_amount_fen,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (C::Matched, K::Payment, Some(5000), Some(4500), Some(5000)),
                (C::Matched, K::Refund, Some(5000), Some(4500), Some(5000)),
            ]
        );
        assert_eq!(lines[0].bill_settled_amount.as_deref(), Some("45.00"));
        // Without a coupon there is one figure only.
        let mut v = LedgerView::default();
        v.day_order(order("A", OrderState::Paid, 100));
        let lines = classify(CH, ALL, &[pay_line("A", 100)], &v, BillSource::File);
        assert_eq!(lines[0].bill_settled_amount, None);
        // A real difference in the gross figures is still one.
        let mut v = LedgerView::default();
        v.day_refund(refund("W2_R1", "W2", 4500, RefundState::Succeeded));
        let back = wx_refund("W2", "W2_R1", 5000, 4500, BillRefundState::Succeeded);
        let lines = classify(CH, ALL, &[back], &v, BillSource::File);
        assert_eq!(lines[0].class, C::AmountMismatch);
    }

    #[test]
    fn gap5_a_refund_not_final_in_the_bill_is_pending_not_money_returned() {
        use BillRefundState as B;
        use RefundState as L;
        let cases = [
            (B::Pending, L::Succeeded, C::RefundPending),
            (B::Pending, L::Processing, C::RefundPending),
            (B::Failed, L::Failed, C::Matched),
            (B::Failed, L::Succeeded, C::StatusMismatch),
            (B::Succeeded, L::Processing, C::StatusMismatch),
            (B::Succeeded, L::Succeeded, C::Matched),
        ];
        for (bill_state, ledger_state, class) in cases {
            let mut v = LedgerView::default();
            v.named_refund(refund("A_R1", "A", 300, ledger_state));
            let line = wx_refund("A", "A_R1", 300, 300, bill_state);
            let lines = classify(CH, ALL, &[line], &v, BillSource::File);
            assert_eq!(lines.len(), 1);
            assert_eq!(lines[0].class, class, "{bill_state:?} / {ledger_state:?}");
            assert_eq!(
                lines[0].bill_refund_state,
                Some(ReconcileRefundState::from(bill_state))
            );
        }
        let pending = classify(
            CH,
            ALL,
            &[wx_refund("A", "A_R1", 300, 300, B::Pending)],
            &{
                let mut v = LedgerView::default();
                v.named_refund(refund("A_R1", "A", 300, L::Processing));
                v
            },
            BillSource::File,
        );
        assert!(pending[0].action_en.contains("not yet returned"));
        assert!(C::RefundPending.is_difference());
    }

    #[test]
    fn gap6_a_reversed_payment_matches_an_order_the_ledger_does_not_count() {
        let reversal = BillLine {
            kind: BillKind::Reversal,
            status: "REVOKED".into(),
            ..pay_line("R", 600)
        };
        for (state, class) in [
            (OrderState::Refunded, C::Matched),
            (OrderState::Closed, C::Matched),
            (OrderState::Paid, C::StatusMismatch),
        ] {
            let mut v = LedgerView::default();
            v.named_order(order("R", state, 600));
            let lines = classify(
                CH,
                ALL,
                std::slice::from_ref(&reversal),
                &v,
                BillSource::File,
            );
            assert_eq!(
                (lines[0].class, lines[0].kind),
                (class, K::Reversal),
                "{state}"
            );
        }
        let lines = classify(
            CH,
            ALL,
            &[reversal],
            &LedgerView::default(),
            BillSource::File,
        );
        assert_eq!(lines[0].class, C::MissingInLedger);
        assert!(lines[0].action_en.contains("reversed"));
    }

    #[test]
    fn a_reversal_is_the_refund_the_till_recorded_for_it_not_a_missing_refund() {
        // A payment the channel reversed (or cancelled) after it was paid:
        // the till records the money given back as a refund of it all.
        let reversal = BillLine {
            kind: BillKind::Reversal,
            status: "S31".into(),
            ..pay_line("R", 600)
        };
        let mut v = LedgerView::default();
        v.day_order(order("R", OrderState::Refunded, 600));
        v.day_refund(refund("R_CH1", "R", 600, RefundState::Succeeded));
        // An unrelated refund of the day stays what it is.
        v.day_refund(refund("B_R1", "B", 100, RefundState::Succeeded));
        let bill = [pay_line("R", 600), reversal.clone()];
        let lines = classify(CH, ALL, &bill, &v, BillSource::File);
        let seen: Vec<(C, K, String, Option<String>)> = lines
            .iter()
            .map(|l| (l.class, l.kind, l.order_no.clone(), l.out_refund_no.clone()))
            .collect();
        assert_eq!(
            seen,
            vec![
                (C::MissingInBill, K::Refund, "B".into(), Some("B_R1".into())),
                (C::Matched, K::Payment, "R".into(), None),
                (C::Matched, K::Reversal, "R".into(), Some("R_CH1".into())),
            ]
        );
        // Not when the amounts differ: a partial refund is a refund.
        let mut v = LedgerView::default();
        v.day_order(order("R", OrderState::Refunded, 600));
        v.day_refund(refund("R_R1", "R", 200, RefundState::Succeeded));
        let lines = classify(CH, ALL, &[reversal], &v, BillSource::File);
        assert!(lines
            .iter()
            .any(|l| l.class == C::MissingInBill && l.kind == K::Refund));
    }
}
