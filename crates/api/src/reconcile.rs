//! Reconciliation of one channel's daily bill against the ledger.
//!
//! The bill comes from the channel (`Channel::daily_bill`) or from a file
//! the accountant downloaded (Alipay: the zip or its detail CSV; WeChat Pay:
//! the CSV). Each bill line is matched to the ledger by order number
//! (payments) or refund request number (refunds), and every line on either
//! side ends in exactly one [`ReconcileClass`]. Differences carry what to do,
//! in Chinese and English. A manual confirmation (`unverified`) that the
//! bill bears out is settled as paid by the run itself
//! (`Counter::order_settle_unverified_from_bill`), and the report names it.
//!
//! Which ledger rows belong to a bill: a channel's bill covers its natural
//! day in Beijing time (00:00–24:00, Asia/Shanghai), whatever the store's
//! own time zone and business-day cut-off. A sale at 01:30 belongs to the
//! previous business day of a store with a 04:00 cut-off but to the new
//! day's bill. So the ledger side is selected by the instant money moved:
//! orders by `paid_at`, refunds by `settled_at`, inside the Beijing day —
//! never by `business_date`. Orders of other channels are ignored.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use shouyin_channels::{BillFileError, BillKind, BillLine, ChannelError};
use shouyin_core::{format_fen, BusinessCalendar, ChannelKind, OrderState};
use shouyin_ledger::{Ledger, LedgerError};

use crate::{ApiError, Counter, ErrorCode};

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
    /// A manual confirmation (`unverified`) that the bill shows paid.
    UnverifiedConfirmed,
    /// A manual confirmation the bill does not show: no money arrived.
    UnverifiedMissing,
    /// Both sides agree.
    Matched,
}

impl ReconcileClass {
    pub const ALL: [ReconcileClass; 7] = [
        ReconcileClass::MissingInLedger,
        ReconcileClass::MissingInBill,
        ReconcileClass::AmountMismatch,
        ReconcileClass::StatusMismatch,
        ReconcileClass::UnverifiedConfirmed,
        ReconcileClass::UnverifiedMissing,
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
            ReconcileClass::Matched => "matched",
        }
    }

    /// Everything except `matched` needs someone to look at it.
    pub fn is_difference(self) -> bool {
        self != ReconcileClass::Matched
    }

    /// What to do, in Chinese and in English.
    pub fn action(self, kind: ReconcileLineKind) -> (&'static str, &'static str) {
        use ReconcileClass as C;
        use ReconcileLineKind as K;
        match (self, kind) {
            (C::Matched, _) => ("无需处理", "nothing to do"),
            (C::MissingInLedger, K::Payment) => (
                "补录：查询该订单并记入账本",
                "补录: query the order at the channel and record it in the ledger",
            ),
            (C::MissingInLedger, K::Refund) => (
                "补录退款：向渠道查询该退款并记入账本",
                "补录: query the refund at the channel and record it in the ledger",
            ),
            (C::MissingInBill, K::Payment) => (
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
}

impl From<BillKind> for ReconcileLineKind {
    fn from(k: BillKind) -> Self {
        match k {
            BillKind::Payment => ReconcileLineKind::Payment,
            BillKind::Refund => ReconcileLineKind::Refund,
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

/// How many lines ended in each class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct ReconcileCountsDto {
    pub matched: u32,
    pub amount_mismatch: u32,
    pub status_mismatch: u32,
    pub missing_in_ledger: u32,
    pub missing_in_bill: u32,
    pub unverified_confirmed: u32,
    pub unverified_missing: u32,
}

impl ReconcileCountsDto {
    fn add(&mut self, class: ReconcileClass) {
        let slot = match class {
            ReconcileClass::Matched => &mut self.matched,
            ReconcileClass::AmountMismatch => &mut self.amount_mismatch,
            ReconcileClass::StatusMismatch => &mut self.status_mismatch,
            ReconcileClass::MissingInLedger => &mut self.missing_in_ledger,
            ReconcileClass::MissingInBill => &mut self.missing_in_bill,
            ReconcileClass::UnverifiedConfirmed => &mut self.unverified_confirmed,
            ReconcileClass::UnverifiedMissing => &mut self.unverified_missing,
        };
        *slot += 1;
    }

    pub fn get(&self, class: ReconcileClass) -> u32 {
        match class {
            ReconcileClass::Matched => self.matched,
            ReconcileClass::AmountMismatch => self.amount_mismatch,
            ReconcileClass::StatusMismatch => self.status_mismatch,
            ReconcileClass::MissingInLedger => self.missing_in_ledger,
            ReconcileClass::MissingInBill => self.missing_in_bill,
            ReconcileClass::UnverifiedConfirmed => self.unverified_confirmed,
            ReconcileClass::UnverifiedMissing => self.unverified_missing,
        }
    }
}

/// Payments, refunds and the net of one side.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct ReconcileTotalsDto {
    pub payment_count: u32,
    #[ts(type = "number")]
    pub payments_fen: i64,
    pub payments: String,
    pub refund_count: u32,
    #[ts(type = "number")]
    pub refunds_fen: i64,
    pub refunds: String,
    /// Payments less refunds.
    #[ts(type = "number")]
    pub net_fen: i64,
    pub net: String,
}

impl ReconcileTotalsDto {
    fn new(payments: &[i64], refunds: &[i64]) -> ReconcileTotalsDto {
        let payments_fen: i64 = payments.iter().sum();
        let refunds_fen: i64 = refunds.iter().sum();
        ReconcileTotalsDto {
            payment_count: count(payments.len()),
            payments_fen,
            payments: format_fen(payments_fen),
            refund_count: count(refunds.len()),
            refunds_fen,
            refunds: format_fen(refunds_fen),
            net_fen: payments_fen - refunds_fen,
            net: format_fen(payments_fen - refunds_fen),
        }
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
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

/// The whole result, for the Reconcile view and `shouyin reconcile`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct ReconcileReportDto {
    /// The bill date (Beijing), `YYYY-MM-DD`.
    pub date: String,
    pub channel: ChannelKind,
    pub source: BillSource,
    /// False when the channel said it has no bill for the day (no business
    /// that day, or not generated yet); the bill side is then empty.
    pub bill_available: bool,
    /// The Beijing day as UTC instants `[day_start, day_end)`.
    pub day_start: String,
    pub day_end: String,
    pub counts: ReconcileCountsDto,
    /// Lines that are not `matched`.
    pub differences: u32,
    pub bill_totals: ReconcileTotalsDto,
    /// Payments (including manual confirmations) and succeeded refunds of
    /// this channel whose money moved in the day.
    pub ledger_totals: ReconcileTotalsDto,
    /// Lines of an imported file dated outside the day (e.g. a monthly
    /// file); they are left out.
    pub bill_lines_outside_day: u32,
    /// Differences first (by class), then the matched lines.
    pub lines: Vec<ReconcileLineDto>,
    /// Manual confirmations this run settled as paid because the bill
    /// shows the money (the `unverified_confirmed` lines).
    pub settled_unverified: Vec<String>,
}

impl ReconcileReportDto {
    /// True when every line matched.
    pub fn is_clean(&self) -> bool {
        self.differences == 0
    }
}

/// What the Reconcile view asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct ReconcileRequest {
    pub channel: ChannelKind,
    /// `YYYY-MM-DD`, a Beijing date.
    pub date: String,
    /// A downloaded bill file to read instead of fetching the bill.
    #[ts(optional)]
    pub bill_path: Option<String>,
}

/// The UTC instants `[start, end)` of a Beijing natural day, the span of a
/// channel's daily bill.
pub fn beijing_day(date: NaiveDate) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    Ok(beijing()?.day_bounds(date))
}

/// Beijing's natural day: a calendar with its cut-off at midnight.
fn beijing() -> Result<BusinessCalendar, ApiError> {
    BusinessCalendar::parse("Asia/Shanghai", "00:00")
        .map_err(|e| ApiError::internal(format!("the Beijing calendar: {e}")))
}

/// Today's date in Beijing, the newest bill a channel can give.
pub fn beijing_today(now: DateTime<Utc>) -> Result<NaiveDate, ApiError> {
    Ok(beijing()?.business_date(now))
}

/// Parse a downloaded bill file of `channel`. The format is checked against
/// the channel: a WeChat Pay file given as Alipay (or the other way round)
/// is named as such rather than failing with a parser's complaint.
pub fn read_bill_file(channel: ChannelKind, bytes: &[u8]) -> Result<Vec<BillLine>, ApiError> {
    type Parser = fn(&[u8]) -> Result<Vec<BillLine>, BillFileError>;
    let alipay: Parser = shouyin_channels::alipay::parse_bill_file;
    let wechat: Parser = shouyin_channels::wechatpay::parse_bill_file;
    let (own, other, other_name) = match channel {
        ChannelKind::Alipay => (alipay, wechat, "a WeChat Pay"),
        ChannelKind::Wechat => (wechat, alipay, "an Alipay"),
        other => {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                format!("{other} has no bill file to reconcile"),
            ))
        }
    };
    match own(bytes) {
        Ok(lines) => Ok(lines),
        Err(e) => {
            if other(bytes).is_ok() {
                Err(ApiError::new(
                    ErrorCode::InvalidInput,
                    format!("this is {other_name} bill, not a {channel} bill"),
                ))
            } else {
                Err(ApiError::new(
                    ErrorCode::InvalidInput,
                    format!("not a readable {channel} bill: {e}"),
                ))
            }
        }
    }
}

fn channel_error(channel: ChannelKind, e: ChannelError) -> ApiError {
    let code = match &e {
        ChannelError::Definite { .. } => ErrorCode::ChannelRejected,
        ChannelError::Indeterminate { .. } => ErrorCode::ChannelUnreachable,
        ChannelError::Untrusted { .. } => ErrorCode::ChannelUntrusted,
        ChannelError::Config(_) => ErrorCode::InvalidInput,
    };
    ApiError::new(code, format!("{channel} bill: {e}"))
}

/// The channel's "there is no bill for that day" refusals.
fn is_no_bill(e: &ChannelError) -> bool {
    matches!(
        e.definite_code(),
        Some("NO_STATEMENT_EXIST" | "isp.bill_not_exist" | "BILL_NOT_EXIST")
    )
}

/// An order as reconciliation needs it.
#[derive(Debug, Clone)]
struct LedgerOrder {
    order_no: String,
    channel: ChannelKind,
    state: OrderState,
    amount_fen: i64,
    channel_trade_no: Option<String>,
    at: Option<DateTime<Utc>>,
}

/// A refund row with its order's number and channel.
#[derive(Debug, Clone)]
struct LedgerRefund {
    out_refund_no: String,
    order_no: String,
    channel: ChannelKind,
    amount_fen: i64,
    /// requested | processing | succeeded | failed | unknown
    state: String,
    channel_refund_no: Option<String>,
    settled_at: Option<DateTime<Utc>>,
}

/// The ledger's side: what moved money in the day, and every record a bill
/// line names (whatever its day).
#[derive(Debug, Default)]
struct LedgerView {
    day_orders: Vec<String>,
    day_refunds: Vec<String>,
    orders: HashMap<String, LedgerOrder>,
    refunds: HashMap<String, LedgerRefund>,
    refunds_of_order: HashMap<String, Vec<String>>,
}

fn storage(e: impl Into<LedgerError>) -> ApiError {
    ApiError::from(e.into())
}

fn ts_opt(text: Option<String>) -> Option<DateTime<Utc>> {
    text.as_deref().and_then(shouyin_ledger::parse_ts)
}

impl LedgerView {
    /// Read what the bill lines and the day need. Only reads.
    fn load(
        ledger: &Ledger,
        channel: ChannelKind,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
        bill: &[BillLine],
    ) -> Result<LedgerView, ApiError> {
        let conn = ledger.connection();
        let (start, end) = (shouyin_ledger::ts(start), shouyin_ledger::ts(end));
        let mut view = LedgerView::default();

        // Orders whose money arrived in the day; a manual confirmation
        // without a paid_at counts from when it was recorded.
        let mut stmt = conn
            .prepare(
                "SELECT out_trade_no FROM orders
                 WHERE channel = ?1
                   AND ((state IN ('paid', 'part_refunded', 'refunded')
                         AND paid_at >= ?2 AND paid_at < ?3)
                     OR (state = 'unverified'
                         AND COALESCE(paid_at, created_at) >= ?2
                         AND COALESCE(paid_at, created_at) < ?3))
                 ORDER BY COALESCE(paid_at, created_at), id",
            )
            .map_err(storage)?;
        let rows = stmt
            .query_map([channel.as_str(), &start, &end], |r| r.get::<_, String>(0))
            .map_err(storage)?;
        for row in rows {
            view.day_orders.push(row.map_err(storage)?);
        }
        let mut wanted: Vec<String> = view.day_orders.clone();
        wanted.extend(bill.iter().map(|l| l.out_trade_no.clone()));
        for no in wanted {
            if view.orders.contains_key(&no) {
                continue;
            }
            match ledger.order_by_no(&no) {
                Ok(o) => {
                    view.orders.insert(
                        no.clone(),
                        LedgerOrder {
                            order_no: o.out_trade_no,
                            channel: o.channel,
                            state: o.state,
                            amount_fen: o.amount.fen(),
                            channel_trade_no: o.channel_trade_no,
                            at: o.paid_at.or(Some(o.created_at)),
                        },
                    );
                }
                Err(LedgerError::NoSuchOrder(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }

        // Refunds: those settled in the day, and every refund of an order a
        // bill line names (to match refund lines by number or by order).
        const REFUND_COLUMNS: &str = "r.out_refund_no, o.out_trade_no, o.channel, r.amount_fen, \
             r.state, r.channel_refund_no, r.settled_at";
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {REFUND_COLUMNS} FROM refunds r JOIN orders o ON o.id = r.order_id
                 WHERE o.channel = ?1 AND r.state = 'succeeded'
                   AND r.settled_at >= ?2 AND r.settled_at < ?3
                 ORDER BY r.settled_at, r.id"
            ))
            .map_err(storage)?;
        let rows = stmt
            .query_map([channel.as_str(), &start, &end], |r| {
                Ok::<LedgerRefundRow, _>((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })
            .map_err(storage)?;
        let mut found = Vec::new();
        for row in rows {
            let refund = read_refund(row.map_err(storage)?)?;
            view.day_refunds.push(refund.out_refund_no.clone());
            found.push(refund);
        }
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {REFUND_COLUMNS} FROM refunds r JOIN orders o ON o.id = r.order_id
                 WHERE o.out_trade_no = ?1 ORDER BY r.id"
            ))
            .map_err(storage)?;
        let named: HashSet<&str> = bill
            .iter()
            .filter(|l| l.kind == BillKind::Refund)
            .map(|l| l.out_trade_no.as_str())
            .collect();
        for order_no in named {
            let rows = stmt
                .query_map([order_no], |r| {
                    Ok::<LedgerRefundRow, _>((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                })
                .map_err(storage)?;
            for row in rows {
                found.push(read_refund(row.map_err(storage)?)?);
            }
        }
        for refund in found {
            if view.refunds.contains_key(&refund.out_refund_no) {
                continue;
            }
            view.refunds_of_order
                .entry(refund.order_no.clone())
                .or_default()
                .push(refund.out_refund_no.clone());
            view.refunds.insert(refund.out_refund_no.clone(), refund);
        }
        Ok(view)
    }
}

type LedgerRefundRow = (
    String,
    String,
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
);

fn read_refund(r: LedgerRefundRow) -> Result<LedgerRefund, ApiError> {
    let (out_refund_no, order_no, channel, amount_fen, state, channel_refund_no, settled_at) = r;
    let channel = channel.parse().map_err(|_| {
        ApiError::new(
            ErrorCode::LedgerCorrupt,
            format!("refund {out_refund_no}: bad channel {channel:?}"),
        )
    })?;
    Ok(LedgerRefund {
        out_refund_no,
        order_no,
        channel,
        amount_fen,
        state,
        channel_refund_no,
        settled_at: ts_opt(settled_at),
    })
}

fn refund_state_text(state: &str) -> String {
    format!("refund_{state}")
}

fn line(
    class: ReconcileClass,
    kind: ReconcileLineKind,
    order_no: &str,
    bill: Option<&BillLine>,
) -> ReconcileLineDto {
    let (action_zh, action_en) = class.action(kind);
    ReconcileLineDto {
        class,
        kind,
        order_no: order_no.to_owned(),
        out_refund_no: bill.and_then(|b| b.out_refund_no.clone()),
        channel_trade_no: bill.map(|b| b.channel_trade_no.clone()),
        bill_amount: bill.map(|b| format_fen(b.amount_fen)),
        bill_amount_fen: bill.map(|b| b.amount_fen),
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
        self.ledger_state = Some(refund_state_text(&r.state));
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
fn classify(channel: ChannelKind, bill: &[BillLine], view: &LedgerView) -> Vec<ReconcileLineDto> {
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
                let mut l = line(class, kind, &b.out_trade_no, Some(b)).with_ledger_order(o);
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
                    ));
                    continue;
                };
                seen_refunds.insert(r.out_refund_no.as_str());
                let class = if r.channel != channel || r.state != "succeeded" {
                    ReconcileClass::StatusMismatch
                } else if r.amount_fen != b.amount_fen {
                    ReconcileClass::AmountMismatch
                } else {
                    ReconcileClass::Matched
                };
                out.push(line(class, kind, &b.out_trade_no, Some(b)).with_ledger_refund(r));
            }
        }
    }
    for no in &view.day_orders {
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
        out.push(line(class, ReconcileLineKind::Payment, no, None).with_ledger_order(o));
    }
    for no in &view.day_refunds {
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

/// Build the report from bill lines already in the day and the ledger view.
/// The bill side of one reconciliation.
struct Bill {
    source: BillSource,
    available: bool,
    /// Lines inside the day.
    lines: Vec<BillLine>,
    outside_day: u32,
}

fn report(
    channel: ChannelKind,
    date: NaiveDate,
    day: (DateTime<Utc>, DateTime<Utc>),
    bill_side: &Bill,
    view: &LedgerView,
) -> ReconcileReportDto {
    let bill = &bill_side.lines;
    let lines = classify(channel, bill, view);
    let mut counts = ReconcileCountsDto::default();
    for l in &lines {
        counts.add(l.class);
    }
    let amounts = |kind: BillKind| -> Vec<i64> {
        bill.iter()
            .filter(|l| l.kind == kind)
            .map(|l| l.amount_fen)
            .collect()
    };
    let ledger_payments: Vec<i64> = view
        .day_orders
        .iter()
        .filter_map(|no| view.orders.get(no))
        .map(|o| o.amount_fen)
        .collect();
    let ledger_refunds: Vec<i64> = view
        .day_refunds
        .iter()
        .filter_map(|no| view.refunds.get(no))
        .map(|r| r.amount_fen)
        .collect();
    ReconcileReportDto {
        date: date.to_string(),
        channel,
        source: bill_side.source,
        bill_available: bill_side.available,
        day_start: shouyin_ledger::ts(day.0),
        day_end: shouyin_ledger::ts(day.1),
        differences: count(lines.iter().filter(|l| l.class.is_difference()).count()),
        counts,
        bill_totals: ReconcileTotalsDto::new(
            &amounts(BillKind::Payment),
            &amounts(BillKind::Refund),
        ),
        ledger_totals: ReconcileTotalsDto::new(&ledger_payments, &ledger_refunds),
        bill_lines_outside_day: bill_side.outside_day,
        lines,
        settled_unverified: Vec::new(),
    }
}

fn parse_date(text: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidInput,
            format!("'{text}' is not a date of the form YYYY-MM-DD"),
        )
    })
}

impl Counter {
    /// The Reconcile view's call: fetch the bill of `req.channel` for
    /// `req.date`, or read `req.bill_path`, and reconcile it.
    pub async fn reconcile_run(
        &self,
        req: ReconcileRequest,
    ) -> Result<ReconcileReportDto, ApiError> {
        let date = parse_date(&req.date)?;
        match req.bill_path {
            None => self.reconcile_fetch(req.channel, date).await,
            Some(path) => {
                let path = PathBuf::from(path);
                let bytes = tokio::fs::read(&path).await.map_err(|e| {
                    ApiError::new(
                        ErrorCode::InvalidInput,
                        format!("cannot read the bill file {}: {e}", path.display()),
                    )
                })?;
                self.reconcile_file(req.channel, date, bytes).await
            }
        }
    }

    /// Download the channel's bill for a Beijing date and reconcile it.
    pub async fn reconcile_fetch(
        &self,
        channel: ChannelKind,
        date: NaiveDate,
    ) -> Result<ReconcileReportDto, ApiError> {
        let client = self.channel(channel)?;
        let (lines, available) = match client.daily_bill(date).await {
            Ok(lines) => (lines, true),
            // An empty day has no bill; anything the ledger has for the day
            // then shows as missing from the bill.
            Err(e) if is_no_bill(&e) => (Vec::new(), false),
            Err(e) => return Err(channel_error(channel, e)),
        };
        self.reconcile_lines(channel, date, lines, BillSource::Channel, available)
            .await
    }

    /// Reconcile a bill file the accountant downloaded.
    pub async fn reconcile_file(
        &self,
        channel: ChannelKind,
        date: NaiveDate,
        bytes: Vec<u8>,
    ) -> Result<ReconcileReportDto, ApiError> {
        let lines = tokio::task::spawn_blocking(move || read_bill_file(channel, &bytes))
            .await
            .map_err(|e| ApiError::internal(format!("the bill reader failed: {e}")))??;
        self.reconcile_lines(channel, date, lines, BillSource::File, true)
            .await
    }

    /// Reconcile parsed bill lines against the ledger. Lines dated outside
    /// the Beijing day are left out and counted; a file whose lines all lie
    /// on other days is refused as the wrong date's bill.
    pub async fn reconcile_lines(
        &self,
        channel: ChannelKind,
        date: NaiveDate,
        lines: Vec<BillLine>,
        source: BillSource,
        bill_available: bool,
    ) -> Result<ReconcileReportDto, ApiError> {
        if matches!(channel, ChannelKind::Cash | ChannelKind::Unionpay) {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                format!("{channel} has no daily bill to reconcile (alipay or wechat)"),
            ));
        }
        let day = beijing_day(date)?;
        let total = lines.len();
        let (inside, outside): (Vec<BillLine>, Vec<BillLine>) = lines
            .into_iter()
            .partition(|l| l.occurred_at >= day.0 && l.occurred_at < day.1);
        if total > 0 && inside.is_empty() {
            let calendar = beijing()?;
            let first = outside
                .iter()
                .map(|l| l.occurred_at)
                .min()
                .map(|t| calendar.business_date(t).to_string())
                .unwrap_or_default();
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                format!("the bill is for another day ({first}), not {date}"),
            ));
        }
        let bill = Bill {
            source,
            available: bill_available,
            lines: inside,
            outside_day: count(outside.len()),
        };
        let mut report = self
            .with_ledger(move |ledger| {
                let view = LedgerView::load(ledger, channel, day, &bill.lines)?;
                Ok(report(channel, date, day, &bill, &view))
            })
            .await?;
        // The bill is the evidence a manual confirmation waits for: settle
        // those it bears out. One that changed meanwhile stays as it is and
        // shows up in the next run.
        let confirmed: Vec<String> = report
            .lines
            .iter()
            .filter(|l| l.class == ReconcileClass::UnverifiedConfirmed)
            .map(|l| l.order_no.clone())
            .collect();
        for order_no in confirmed {
            let reason = format!("confirmed by the {channel} bill of {date}");
            match self
                .order_settle_unverified_from_bill(order_no.clone(), true, reason)
                .await
            {
                Ok(_) => report.settled_unverified.push(order_no),
                Err(e) => tracing::warn!(%order_no, "could not settle a confirmed order: {e}"),
            }
        }
        Ok(report)
    }
}
