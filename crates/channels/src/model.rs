//! What every channel is asked and what it answers, in the program's own
//! terms: integer fen, UTC instants, closed enums.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Ask the channel for a payment QR code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateQr {
    pub out_trade_no: String,
    pub amount_fen: i64,
    pub subject: String,
    /// After this instant the code must no longer be payable.
    pub expires_at: DateTime<Utc>,
    /// Where the channel should POST its payment notification for this
    /// order. `None`: WeChat gets the configured default (it requires one),
    /// Alipay gets none.
    pub notify_url: Option<String>,
}

/// A payment notification whose signature (and, for WeChat, encryption)
/// checked out, for this merchant. It says what the channel claims; the
/// caller still decides what to do with an order it may already have closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentNotice {
    pub out_trade_no: String,
    /// WeChat `trade_state` SUCCESS; Alipay `trade_status` TRADE_SUCCESS or
    /// TRADE_FINISHED.
    pub paid: bool,
    pub amount_fen: Option<i64>,
    /// The channel's own number (WeChat transaction_id, Alipay trade_no).
    pub trade_no: Option<String>,
    pub paid_at: Option<DateTime<Utc>>,
}

/// What to answer the channel after reading a notification: the channel
/// retries until it gets its success answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationAck {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

/// The string to render as a QR code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrCreated {
    pub qr_payload: String,
}

/// A payment as the channel sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemoteStatus {
    /// The channel has no such trade. For an Alipay precreate this is the
    /// normal state before the buyer scans (ACQ.TRADE_NOT_EXIST), not a failure.
    NotFound,
    /// Created and not paid yet.
    Waiting,
    Paid,
    /// Closed without payment (or, for Alipay, closed after a full refund is
    /// reported as `Refunded`).
    Closed,
    /// Paid and then refunded (WeChat `REFUND`; Alipay closed after payment).
    Refunded,
    /// The channel says the payment failed.
    Failed,
}

/// The answer to a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotePayment {
    pub status: RemoteStatus,
    pub channel_trade_no: Option<String>,
    pub amount_fen: Option<i64>,
    pub paid_at: Option<DateTime<Utc>>,
}

impl RemotePayment {
    pub(crate) fn not_found() -> RemotePayment {
        RemotePayment {
            status: RemoteStatus::NotFound,
            channel_trade_no: None,
            amount_fen: None,
            paid_at: None,
        }
    }
}

/// How a close ended. Every variant is a definite answer; errors are errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseOutcome {
    /// The trade can no longer be paid and no money moved.
    Closed,
    /// The customer paid before the close arrived: the sale is paid.
    AlreadyPaid,
    /// Alipay only: the close was done with `alipay.trade.cancel`, which found
    /// the trade paid and refunded it in full (`action=refund`). The customer
    /// paid and has been given the money back; the order ends refunded, and
    /// the cashier must be told the payment was reversed.
    ReversedAfterPayment,
}

/// Give money back for (part of) a paid trade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub out_trade_no: String,
    /// The idempotency key: the same value on a retry moves money once.
    pub out_refund_no: String,
    pub refund_fen: i64,
    /// The amount of the original payment.
    pub total_fen: i64,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Success,
    /// Accepted; the money is on its way. Query again later.
    Processing,
    Closed,
    /// The refund failed at the bank; needs a person.
    Abnormal,
}

/// A refund as the channel sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundResult {
    pub status: RefundStatus,
    pub out_refund_no: String,
    /// This refund's amount, when the channel says it.
    pub refund_fen: Option<i64>,
    /// Everything refunded on the trade so far (Alipay reports this).
    pub refunded_total_fen: Option<i64>,
    pub channel_refund_no: Option<String>,
    pub refunded_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillKind {
    Payment,
    Refund,
    /// A payment the channel reversed (WeChat 交易状态 REVOKED, a 付款码
    /// payment undone by `reverse`): money that came in and went back, never
    /// money received.
    Reversal,
}

/// Where a refund row of a bill stood when the bill was made. A bill is a
/// snapshot: a refund accepted that day is listed at once and its status is
/// never updated in that file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillRefundState {
    /// The money went back (WeChat 退款状态 SUCCESS; every Alipay 退款 row).
    Succeeded,
    /// Accepted, not yet returned (WeChat PROCESSING): pending, not money
    /// returned.
    Pending,
    /// The refund failed or was closed (WeChat FAIL, CHANGE, REFUNDCLOSE…).
    Failed,
}

/// One row of a channel's daily bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillLine {
    pub channel_trade_no: String,
    pub out_trade_no: String,
    pub kind: BillKind,
    /// The gross amount, the figure the counter itself records: the order
    /// amount of a payment, the amount asked back for a refund. Always
    /// positive; `kind` says which way the money went.
    pub amount_fen: i64,
    /// What the merchant's account moved by: the gross less the part a
    /// non-recharge coupon or 商家优惠 paid (WeChat 应结订单金额 / 退款金额,
    /// Alipay 商家实收). Equal to `amount_fen` when no such coupon was used.
    pub settled_fen: i64,
    pub out_refund_no: Option<String>,
    /// When the money moved: paid, or for a refund row its 退款成功时间 (its
    /// 退款申请时间 while pending), else the row's time.
    pub occurred_at: DateTime<Utc>,
    /// Refund rows: the refund's state in the bill. `None` for payments.
    pub refund_state: Option<BillRefundState>,
    /// The channel's own status or business-type text, as printed.
    pub status: String,
}

/// Take payment with the code the customer shows (付款码).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodePay {
    pub out_trade_no: String,
    /// The digits the scanner read. Sent once, never again for another
    /// out_trade_no.
    pub auth_code: String,
    pub amount_fen: i64,
    pub subject: String,
    /// The shop's own id for the store (WeChat `scene_info.store_info.out_id`,
    /// Alipay `store_id`).
    pub store_id: String,
    /// The till (Alipay `terminal_id`, WeChat `scene_info.device_id`).
    pub terminal_id: String,
}

/// What the channel said to a pay-by-code call. Refusals are errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodePayAnswer {
    /// Paid at once (Alipay `10000`, WeChat `trade_state` SUCCESS).
    Paid(RemotePayment),
    /// The customer must confirm on the phone (Alipay `10003`
    /// WAIT_BUYER_PAY, WeChat USERPAYING): query until the window ends.
    Waiting,
}
