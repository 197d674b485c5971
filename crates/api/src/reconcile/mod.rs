//! Reconciliation of one channel's daily bill against the ledger.
//!
//! The bill comes from the channel (`Channel::daily_bill`) or from a file
//! the accountant downloaded (Alipay: the zip or its detail CSV; WeChat Pay:
//! the CSV; UnionPay: the reconciliation zip or its ZM file). Each bill line is matched to the ledger by order number
//! (payments) or refund request number (refunds), and every line on either
//! side ends in exactly one [`ReconcileClass`]. Differences carry what to do,
//! in Chinese and English.
//!
//! A manual confirmation (`unverified`) that a bill bears out is settled as
//! paid by the run itself (`Counter::order_settle_unverified_from_bill`) only when the
//! bill came from the channel through its client, and the report names it.
//! An imported file is evidence to show, not authority: anyone can edit a
//! CSV, so its lines never settle an order; the line says to settle it by a
//! channel query or with a manager's approval.
//!
//! Which ledger rows belong to a bill: a channel's bill covers its natural
//! day in Beijing time (00:00–24:00, Asia/Shanghai), whatever the store's
//! own time zone and business-day cut-off. A sale at 01:30 belongs to the
//! previous business day of a store with a 04:00 cut-off but to the new
//! day's bill. So the ledger side is selected by the instant money moved:
//! orders by `paid_at`, refunds by `settled_at`, inside the Beijing day —
//! never by `business_date` (the ledger's `bill_span`). Orders of other
//! channels are ignored.
//!
//! A reversal line (WeChat REVOKED, UnionPay 消费撤销 / 冲正) matches an
//! order the ledger does not count as received; the refund of the whole
//! amount the till records when a channel gives a payment back on a reverse
//! is that reversal, not a refund missing from the bill, and is counted with
//! the reversals on the ledger's side too.
//!
//! Parts: reading bills in `bill`, the pure matching in `matching`, and here
//! the glue: fetching or importing, gathering the ledger's side, the result.

mod bill;
mod matching;

use std::collections::HashSet;
use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use shouyin_channels::{BillKind, BillLine, BillRefundState, BillType, ParsedBill};
use shouyin_core::{format_fen, ChannelKind};
use shouyin_ledger::{Ledger, LedgerError};

use crate::{ApiError, Counter, ErrorCode};

use bill::{beijing, is_no_bill, no_channel_bill};
pub use bill::{beijing_day, beijing_today, read_bill_file};
use matching::{classify, LedgerOrder, LedgerRefund, LedgerView};
pub use matching::{
    BillSource, ReconcileClass, ReconcileLineDto, ReconcileLineKind, ReconcileRefundState,
};

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
    pub refund_pending: u32,
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
            ReconcileClass::RefundPending => &mut self.refund_pending,
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
            ReconcileClass::RefundPending => self.refund_pending,
        }
    }
}

/// Payments, refunds and the net of one side. Gross figures (what the
/// ledger records) with the settled ones beside them: what the account
/// moved by once coupons and 商家优惠 are taken out. Refunds are those whose
/// money went back; pending refunds and reversals are counted apart.
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
    #[ts(type = "number")]
    pub settled_payments_fen: i64,
    pub settled_payments: String,
    #[ts(type = "number")]
    pub settled_refunds_fen: i64,
    pub settled_refunds: String,
    /// Settled payments less settled refunds.
    #[ts(type = "number")]
    pub settled_net_fen: i64,
    pub settled_net: String,
    /// Refunds accepted and not yet returned (gross).
    pub pending_refund_count: u32,
    #[ts(type = "number")]
    pub pending_refunds_fen: i64,
    pub pending_refunds: String,
    /// Payments the channel reversed (not money received).
    pub reversal_count: u32,
    #[ts(type = "number")]
    pub reversals_fen: i64,
    pub reversals: String,
}

impl ReconcileTotalsDto {
    /// The ledger's side: it knows gross amounts only.
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
            settled_payments_fen: payments_fen,
            settled_payments: format_fen(payments_fen),
            settled_refunds_fen: refunds_fen,
            settled_refunds: format_fen(refunds_fen),
            settled_net_fen: payments_fen - refunds_fen,
            settled_net: format_fen(payments_fen - refunds_fen),
            pending_refund_count: 0,
            pending_refunds_fen: 0,
            pending_refunds: format_fen(0),
            reversal_count: 0,
            reversals_fen: 0,
            reversals: format_fen(0),
        }
    }

    /// The bill's side.
    fn of_bill(lines: &[BillLine]) -> ReconcileTotalsDto {
        let payments: Vec<&BillLine> = lines
            .iter()
            .filter(|l| l.kind == BillKind::Payment)
            .collect();
        let returned: Vec<&BillLine> = lines
            .iter()
            .filter(|l| {
                l.kind == BillKind::Refund
                    && l.refund_state.unwrap_or(BillRefundState::Succeeded)
                        == BillRefundState::Succeeded
            })
            .collect();
        let pending: Vec<&BillLine> = lines
            .iter()
            .filter(|l| {
                l.kind == BillKind::Refund && l.refund_state == Some(BillRefundState::Pending)
            })
            .collect();
        let reversals: Vec<&BillLine> = lines
            .iter()
            .filter(|l| l.kind == BillKind::Reversal)
            .collect();
        let gross = |ls: &[&BillLine]| ls.iter().map(|l| l.amount_fen).collect::<Vec<_>>();
        let settled = |ls: &[&BillLine]| -> i64 { ls.iter().map(|l| l.settled_fen).sum() };
        let mut totals = ReconcileTotalsDto::new(&gross(&payments), &gross(&returned));
        totals.settled_payments_fen = settled(&payments);
        totals.settled_payments = format_fen(totals.settled_payments_fen);
        totals.settled_refunds_fen = settled(&returned);
        totals.settled_refunds = format_fen(totals.settled_refunds_fen);
        totals.settled_net_fen = totals.settled_payments_fen - totals.settled_refunds_fen;
        totals.settled_net = format_fen(totals.settled_net_fen);
        totals.pending_refund_count = count(pending.len());
        totals.pending_refunds_fen = gross(&pending).iter().sum();
        totals.pending_refunds = format_fen(totals.pending_refunds_fen);
        totals.reversal_count = count(reversals.len());
        totals.reversals_fen = gross(&reversals).iter().sum();
        totals.reversals = format_fen(totals.reversals_fen);
        totals
    }
}

/// Which bill was read: the type decides which ledger records it can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ReconcileBillType {
    /// WeChat Pay ALL: payments and refunds.
    WechatAll,
    /// WeChat Pay SUCCESS: payments only.
    WechatSuccess,
    /// WeChat Pay REFUND: refunds only, dated by when they succeeded.
    WechatRefund,
    /// Alipay 业务明细: payments and refunds.
    AlipayTrade,
    /// UnionPay 一般交易流水 (ZM): payments, refunds, cancels.
    UnionpayTrade,
}

impl From<BillType> for ReconcileBillType {
    fn from(t: BillType) -> Self {
        match t {
            BillType::WechatAll => ReconcileBillType::WechatAll,
            BillType::WechatSuccess => ReconcileBillType::WechatSuccess,
            BillType::WechatRefund => ReconcileBillType::WechatRefund,
            BillType::AlipayTrade => ReconcileBillType::AlipayTrade,
            BillType::UnionpayTrade => ReconcileBillType::UnionpayTrade,
        }
    }
}

impl ReconcileBillType {
    pub fn as_str(self) -> &'static str {
        match self {
            ReconcileBillType::WechatAll => "wechat_all",
            ReconcileBillType::WechatSuccess => "wechat_success",
            ReconcileBillType::WechatRefund => "wechat_refund",
            ReconcileBillType::AlipayTrade => "alipay_trade",
            ReconcileBillType::UnionpayTrade => "unionpay_trade",
        }
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The whole result, for the Reconcile view and `shouyin reconcile`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct ReconcileReportDto {
    /// The bill date (Beijing), `YYYY-MM-DD`.
    pub date: String,
    pub channel: ChannelKind,
    pub source: BillSource,
    /// Which bill was read (from its header; a fetched bill is the full one).
    pub bill_type: ReconcileBillType,
    /// Whether the rows add up to the totals the file prints at its end;
    /// `None` when there are none (a fetched bill, a file without them).
    pub bill_footer_agrees: Option<bool>,
    /// The printed totals the rows do not add up to.
    pub bill_footer_disagreements: Vec<String>,
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

/// Gather the ledger's side: what moved money in the day, and every record
/// a bill line names (whatever its day). Only reads.
fn load_view(
    ledger: &Ledger,
    channel: ChannelKind,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    bill: &[BillLine],
) -> Result<LedgerView, ApiError> {
    let mut view = LedgerView::default();
    let span = ledger.bill_span(channel, start, end)?;
    for o in &span.orders {
        view.day_order(LedgerOrder::from(o));
    }
    for r in &span.refunds {
        view.day_refund(LedgerRefund::from(r));
    }
    for line in bill {
        if view.has_order(&line.out_trade_no) {
            continue;
        }
        match ledger.order_by_no(&line.out_trade_no) {
            Ok(o) => view.named_order(LedgerOrder::from(&o)),
            Err(LedgerError::NoSuchOrder(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // Every refund of an order a refund line names, to match refund lines
    // by number or by order and amount.
    let named: HashSet<&str> = bill
        .iter()
        .filter(|l| matches!(l.kind, BillKind::Refund | BillKind::Reversal))
        .map(|l| l.out_trade_no.as_str())
        .collect();
    for order_no in named {
        for r in ledger.refunds_for_order_no(order_no)? {
            view.named_refund(LedgerRefund::from(&r));
        }
    }
    Ok(view)
}

/// The bill side of one reconciliation.
struct Bill {
    source: BillSource,
    bill_type: BillType,
    footer_agrees: Option<bool>,
    footer_disagreements: Vec<String>,
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
    let lines = classify(channel, bill_side.bill_type, bill, view, bill_side.source);
    let mut counts = ReconcileCountsDto::default();
    for l in &lines {
        counts.add(l.class);
    }
    // Refunds the till recorded for a reversal the bill shows are counted
    // with the reversals, as the bill counts them.
    let reversed: HashSet<&str> = lines
        .iter()
        .filter(|l| l.kind == ReconcileLineKind::Reversal)
        .filter_map(|l| l.out_refund_no.as_deref())
        .collect();
    let ledger_payments = view.day_payment_amounts();
    let ledger_refunds = view.day_refund_amounts(&reversed);
    let ledger_reversals = view.day_refund_amounts_of(&reversed);
    ReconcileReportDto {
        date: date.to_string(),
        channel,
        source: bill_side.source,
        bill_type: bill_side.bill_type.into(),
        bill_footer_agrees: bill_side.footer_agrees,
        bill_footer_disagreements: bill_side.footer_disagreements.clone(),
        bill_available: bill_side.available,
        day_start: shouyin_ledger::ts(day.0),
        day_end: shouyin_ledger::ts(day.1),
        differences: count(lines.iter().filter(|l| l.class.is_difference()).count()),
        counts,
        bill_totals: ReconcileTotalsDto::of_bill(bill),
        ledger_totals: ledger_totals(
            bill_side.bill_type,
            &ledger_payments,
            &ledger_refunds,
            &ledger_reversals,
        ),
        bill_lines_outside_day: bill_side.outside_day,
        lines,
        settled_unverified: Vec::new(),
    }
}

/// The ledger's totals of what the bill can show: a payments-only bill is
/// set against the ledger's payments, a refunds-only bill its refunds.
fn ledger_totals(
    bill_type: BillType,
    payments: &[i64],
    refunds: &[i64],
    reversals: &[i64],
) -> ReconcileTotalsDto {
    let none: &[i64] = &[];
    let mut totals = ReconcileTotalsDto::new(
        if bill_type.has_payments() {
            payments
        } else {
            none
        },
        if bill_type.has_refunds() {
            refunds
        } else {
            none
        },
    );
    totals.reversal_count = count(reversals.len());
    totals.reversals_fen = reversals.iter().sum();
    totals.reversals = format_fen(totals.reversals_fen);
    totals
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
    /// 补录 from a reconcile line: ask the channel about one of this
    /// till's orders and bring the ledger in line with its answer (a
    /// payment the ledger had closed becomes a late payment). An order
    /// number the ledger has never seen is refused: it is not this till's.
    pub async fn reconcile_recheck(
        &self,
        order_no: String,
    ) -> Result<crate::dto::OrderDto, ApiError> {
        let order_no = order_no.trim().to_owned();
        if order_no.is_empty()
            || order_no.len() > 64
            || !order_no
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                format!("'{order_no}' is not an order number"),
            )
            .detail("order_no"));
        }
        self.recheck(order_no.clone(), "reconcile")
            .await
            .map_err(|e| {
                if e.code == ErrorCode::NotFound {
                    e.detail("not_in_ledger").with("order_no", &order_no)
                } else {
                    e
                }
            })
    }

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
                        ErrorCode::BillUnreadable,
                        format!("cannot read the bill file {}: {e}", path.display()),
                    )
                    .with("reason", "io")
                    .with("path", path.display())
                    .with("detail", e.kind())
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
            Err(e) => return Err(ApiError::from(e).during(format!("{channel} bill"))),
        };
        let bill_type = match channel {
            ChannelKind::Wechat => BillType::WechatAll,
            ChannelKind::Unionpay => BillType::UnionpayTrade,
            _ => BillType::AlipayTrade,
        };
        let bill = ParsedBill {
            bill_type,
            header: None,
            lines,
            footer: Default::default(),
        };
        self.reconcile_lines(channel, date, bill, BillSource::Channel, available)
            .await
    }

    /// Reconcile a bill file the accountant downloaded.
    pub async fn reconcile_file(
        &self,
        channel: ChannelKind,
        date: NaiveDate,
        bytes: Vec<u8>,
    ) -> Result<ReconcileReportDto, ApiError> {
        let bill = tokio::task::spawn_blocking(move || read_bill_file(channel, date, &bytes))
            .await
            .map_err(|e| ApiError::internal(format!("the bill reader failed: {e}")))??;
        self.reconcile_lines(channel, date, bill, BillSource::File, true)
            .await
    }

    /// Reconcile parsed bill lines against the ledger. Lines dated outside
    /// the Beijing day are left out and counted; a file whose lines all lie
    /// on other days is refused as the wrong date's bill. Private: `source`
    /// decides whether lines may settle orders, so only the two callers
    /// above, which know where the lines came from, may say it.
    async fn reconcile_lines(
        &self,
        channel: ChannelKind,
        date: NaiveDate,
        parsed: ParsedBill,
        source: BillSource,
        bill_available: bool,
    ) -> Result<ReconcileReportDto, ApiError> {
        if channel == ChannelKind::Cash {
            return Err(no_channel_bill(channel));
        }
        let footer_disagreements: Vec<String> = parsed
            .footer_disagreements()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let footer_agrees = parsed
            .has_footer()
            .then_some(footer_disagreements.is_empty());
        let bill_type = parsed.bill_type;
        let lines = parsed.lines;
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
                ErrorCode::BillWrongDay,
                format!("the bill is for another day ({first}), not {date}"),
            )
            .with("found", first)
            .with("wanted", date)
            .with("bill_type", ReconcileBillType::from(bill_type).as_str()));
        }
        let bill = Bill {
            source,
            bill_type,
            footer_agrees,
            footer_disagreements,
            available: bill_available,
            lines: inside,
            outside_day: count(outside.len()),
        };
        let mut report = self
            .with_ledger(move |ledger| {
                let view = load_view(ledger, channel, day, &bill.lines)?;
                Ok(report(channel, date, day, &bill, &view))
            })
            .await?;
        // The channel's own bill is the evidence a manual confirmation waits
        // for: settle those it bears out. One that changed meanwhile stays as
        // it is and shows up in the next run. An imported file settles
        // nothing (see the module overview).
        if source != BillSource::Channel {
            return Ok(report);
        }
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
