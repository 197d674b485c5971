//! The channel-neutral life of a QR trade and its refunds.
//!
//! ```text
//!  created ──scan──▶ waiting ──pay──▶ paid ──refunds──▶ (fully refunded)
//!     │                 │
//!     └──── cancel / close / decline / expiry ────▶ closed
//! ```
//! `created` exists only for Alipay, where a precreated trade does not exist
//! at the channel until the buyer scans; a WeChat Native order starts in
//! `waiting`. Expiry is applied lazily: a trade past `expires_at` that is not
//! paid is closed the next time anyone looks at it.

use chrono::{DateTime, Utc};
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::Serialize;

/// Which protocol a trade was made through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Alipay,
    Wechat,
    Unionpay,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Alipay => "alipay",
            Channel::Wechat => "wechat",
            Channel::Unionpay => "unionpay",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        match s {
            "alipay" => Some(Channel::Alipay),
            "wechat" | "wechatpay" => Some(Channel::Wechat),
            "unionpay" => Some(Channel::Unionpay),
            _ => None,
        }
    }
}

/// Where a trade is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Alipay only: the QR was issued, nobody scanned it yet.
    Created,
    /// Scanned (Alipay) or ordered (WeChat); waiting for the buyer to pay.
    Waiting,
    Paid,
    Closed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Created => "created",
            Phase::Waiting => "waiting",
            Phase::Paid => "paid",
            Phase::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Phase> {
        match s {
            "created" => Some(Phase::Created),
            "waiting" => Some(Phase::Waiting),
            "paid" => Some(Phase::Paid),
            "closed" => Some(Phase::Closed),
            _ => None,
        }
    }
}

/// Why an unpaid trade was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Not paid before `expires_at`.
    Timeout,
    /// The merchant closed it (Alipay close, WeChat close).
    Closed,
    /// The merchant cancelled it (Alipay cancel).
    Cancelled,
    /// The buyer declined on the customer page.
    Declined,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Timeout => "timeout",
            CloseReason::Closed => "closed",
            CloseReason::Cancelled => "cancelled",
            CloseReason::Declined => "declined",
        }
    }

    pub fn parse(s: &str) -> Option<CloseReason> {
        match s {
            "timeout" => Some(CloseReason::Timeout),
            "closed" => Some(CloseReason::Closed),
            "cancelled" => Some(CloseReason::Cancelled),
            "declined" => Some(CloseReason::Declined),
            _ => None,
        }
    }
}

/// One trade as the channel keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Trade {
    pub channel: Channel,
    pub out_trade_no: String,
    /// The channel's own number (Alipay trade_no, WeChat transaction_id).
    /// Made at creation, shown to the merchant only once the channel would.
    pub trade_no: String,
    /// The QR payload the merchant renders (Alipay qr_code, WeChat code_url).
    pub qr_code: String,
    pub amount_fen: i64,
    /// Alipay subject / WeChat description.
    pub subject: String,
    pub store_id: String,
    pub operator_id: String,
    pub terminal_id: String,
    /// WeChat `attach`, echoed in queries and bills.
    pub attach: String,
    /// The request parameters that must match when the same out_trade_no is
    /// ordered again (idempotent retry versus a conflicting reuse).
    pub fingerprint: String,
    pub phase: Phase,
    pub close_reason: Option<CloseReason>,
    /// Alipay cancel answer recorded for repeats: "close" or "refund".
    pub cancel_action: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub scanned_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Alipay buyer_user_id / WeChat openid, set at scan.
    pub buyer_id: String,
    /// Alipay masked buyer_logon_id, set at scan.
    pub buyer_logon: String,
    pub refunded_fen: i64,
    /// Where to POST the payment notification (empty: nowhere). WeChat
    /// requires one on every order; for Alipay it is optional.
    pub notify_url: String,
    /// The customer's payment code (付款码) the trade was paid with; empty
    /// for a merchant-presented QR trade.
    pub auth_code: String,
}

/// A refund of (part of) a trade.
#[derive(Debug, Clone, PartialEq)]
pub struct Refund {
    pub channel: Channel,
    pub out_trade_no: String,
    /// Alipay out_request_no / WeChat out_refund_no: the idempotency key.
    pub out_refund_no: String,
    /// The channel's refund number (WeChat refund_id).
    pub refund_id: String,
    pub amount_fen: i64,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

/// Why a life-cycle step was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("the trade is already paid")]
    AlreadyPaid,
    #[error("the trade is closed")]
    Closed,
    #[error("the trade is not paid")]
    NotPaid,
    #[error("the refund exceeds what is left to refund")]
    OverRefund,
}

/// What a page or list shows for a trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shown {
    Created,
    Waiting,
    Paid,
    PartRefunded,
    Refunded,
    Closed,
}

impl Trade {
    /// Close the trade if it is unpaid and past its expiry. Returns whether
    /// anything changed (so the caller knows to save).
    pub fn settle(&mut self, now: DateTime<Utc>) -> bool {
        if matches!(self.phase, Phase::Created | Phase::Waiting) && now >= self.expires_at {
            self.phase = Phase::Closed;
            self.close_reason = Some(CloseReason::Timeout);
            self.closed_at = Some(self.expires_at);
            true
        } else {
            false
        }
    }

    /// The buyer opened the QR code. Only the first scan changes anything.
    pub fn scan(&mut self, now: DateTime<Utc>) -> Result<(), StepError> {
        match self.phase {
            Phase::Created => {
                self.phase = Phase::Waiting;
                self.scanned_at = Some(now);
                self.assign_buyer();
                Ok(())
            }
            Phase::Waiting => Ok(()),
            Phase::Paid => Err(StepError::AlreadyPaid),
            Phase::Closed => Err(StepError::Closed),
        }
    }

    /// The buyer paid (scanning first if needed).
    pub fn pay(&mut self, now: DateTime<Utc>) -> Result<(), StepError> {
        self.scan(now)?;
        if self.buyer_id.is_empty() {
            self.assign_buyer();
        }
        self.phase = Phase::Paid;
        self.paid_at = Some(now);
        Ok(())
    }

    /// Close an unpaid trade (merchant close, cancel, buyer decline).
    pub fn close(&mut self, now: DateTime<Utc>, reason: CloseReason) -> Result<(), StepError> {
        match self.phase {
            Phase::Created | Phase::Waiting => {
                self.phase = Phase::Closed;
                self.close_reason = Some(reason);
                self.closed_at = Some(now);
                Ok(())
            }
            Phase::Paid => Err(StepError::AlreadyPaid),
            Phase::Closed => Err(StepError::Closed),
        }
    }

    /// Amount still refundable.
    pub fn refundable_fen(&self) -> i64 {
        if self.phase == Phase::Paid {
            self.amount_fen - self.refunded_fen
        } else {
            0
        }
    }

    /// Take `amount_fen` off the paid amount.
    pub fn refund(&mut self, amount_fen: i64) -> Result<(), StepError> {
        match self.phase {
            Phase::Paid if amount_fen <= self.refundable_fen() => {
                self.refunded_fen += amount_fen;
                Ok(())
            }
            Phase::Paid => Err(StepError::OverRefund),
            Phase::Closed => Err(StepError::Closed),
            Phase::Created | Phase::Waiting => Err(StepError::NotPaid),
        }
    }

    pub fn fully_refunded(&self) -> bool {
        self.phase == Phase::Paid && self.refunded_fen >= self.amount_fen
    }

    pub fn shown(&self) -> Shown {
        match self.phase {
            Phase::Created => Shown::Created,
            Phase::Waiting => Shown::Waiting,
            Phase::Closed => Shown::Closed,
            Phase::Paid if self.refunded_fen == 0 => Shown::Paid,
            Phase::Paid if self.fully_refunded() => Shown::Refunded,
            Phase::Paid => Shown::PartRefunded,
        }
    }

    /// Still waiting for the buyer (what the customer page lists).
    pub fn is_pending(&self) -> bool {
        matches!(self.phase, Phase::Created | Phase::Waiting)
    }

    /// Paid by scanning the customer's code rather than a QR.
    pub fn is_code_payment(&self) -> bool {
        !self.auth_code.is_empty()
    }

    /// A code payment that was paid and then given back by a cancel or
    /// reverse.
    pub fn reversed_after_payment(&self) -> bool {
        self.fully_refunded() && self.cancel_action.as_deref() == Some("refund")
    }

    fn assign_buyer(&mut self) {
        let mut rng = rand::thread_rng();
        match self.channel {
            Channel::Alipay => {
                self.buyer_id = format!("2088{}", random_digits(12));
                self.buyer_logon = format!(
                    "1{}{}****{}",
                    rng.gen_range(3..=9),
                    rng.gen_range(0..=9),
                    random_digits(4)
                );
            }
            Channel::Wechat => {
                self.buyer_id = format!("oUpF8{}", random_alnum(23));
            }
            Channel::Unionpay => {
                // The card behind 云闪付, masked as UnionPay shows it.
                self.buyer_id = format!("6217****{}", random_digits(4));
            }
        }
    }
}

/// The channels' wall clock: China Standard Time.
pub const CHINA: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

/// `yyyy-MM-dd HH:mm:ss` in China time (Alipay timestamps, both bills).
pub fn china_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&CHINA)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// RFC 3339 with the +08:00 offset, as WeChat Pay writes times.
pub fn china_rfc3339(t: DateTime<Utc>) -> String {
    t.with_timezone(&CHINA)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// `n` random letters and digits.
pub fn random_alnum(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// `n` random decimal digits.
pub fn random_digits(n: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

/// `n` random lowercase letters and digits (Alipay QR tokens look like this).
pub fn random_lower(n: usize) -> String {
    random_alnum(n).to_ascii_lowercase()
}

/// Parse a wire amount in yuan ("12.30", "0.01", "5"): plain digits and at
/// most two decimals, nothing a cashier's keyboard might add.
pub fn parse_yuan(s: &str) -> Option<i64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let plain = !int.is_empty()
        && int.len() <= 12
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.len() <= 2
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !(s.contains('.') && frac.is_empty());
    if !plain {
        return None;
    }
    shouyin_core::parse_fen(s).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn trade(phase: Phase) -> Trade {
        let t0 = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        Trade {
            channel: Channel::Alipay,
            out_trade_no: "T1".into(),
            trade_no: "N1".into(),
            qr_code: "Q".into(),
            amount_fen: 1230,
            subject: "s".into(),
            store_id: String::new(),
            operator_id: String::new(),
            terminal_id: String::new(),
            attach: String::new(),
            fingerprint: String::new(),
            phase,
            close_reason: None,
            cancel_action: None,
            created_at: t0,
            expires_at: t0 + chrono::Duration::minutes(5),
            scanned_at: None,
            paid_at: None,
            closed_at: None,
            buyer_id: String::new(),
            buyer_logon: String::new(),
            refunded_fen: 0,
            notify_url: String::new(),
            auth_code: String::new(),
        }
    }

    #[test]
    fn expiry_closes_only_unpaid_trades() {
        let mut t = trade(Phase::Waiting);
        let late = t.expires_at;
        assert!(t.settle(late));
        assert_eq!(t.phase, Phase::Closed);
        assert_eq!(t.close_reason, Some(CloseReason::Timeout));
        let mut p = trade(Phase::Paid);
        assert!(!p.settle(late));
        assert_eq!(p.phase, Phase::Paid);
    }

    #[test]
    fn refunds_never_exceed_the_paid_amount() {
        let mut t = trade(Phase::Paid);
        t.refund(1000).unwrap();
        assert_eq!(t.refund(231), Err(StepError::OverRefund));
        t.refund(230).unwrap();
        assert!(t.fully_refunded());
        assert_eq!(t.shown(), Shown::Refunded);
        assert_eq!(trade(Phase::Waiting).refund(1), Err(StepError::NotPaid));
    }

    #[test]
    fn pay_scans_first_and_closed_trades_cannot_be_paid() {
        let mut t = trade(Phase::Created);
        t.pay(t.created_at).unwrap();
        assert!(t.scanned_at.is_some());
        assert!(!t.buyer_id.is_empty());
        let mut c = trade(Phase::Created);
        c.close(c.created_at, CloseReason::Cancelled).unwrap();
        assert_eq!(c.pay(c.created_at), Err(StepError::Closed));
    }

    #[test]
    fn wire_amounts_are_plain_yuan() {
        assert_eq!(parse_yuan("12.30"), Some(1230));
        assert_eq!(parse_yuan("12.3"), Some(1230));
        assert_eq!(parse_yuan("5"), Some(500));
        for bad in ["", "1.", ".5", "1.234", "-1", "1e3", "¥1", "1,000", "１"] {
            assert_eq!(parse_yuan(bad), None, "{bad}");
        }
    }
}
