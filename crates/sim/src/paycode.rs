//! Payments by the customer's code (付款码): the simulated phone shows a
//! code, the merchant's till sends it with a pay call, and the trade is paid
//! at once or waits for the customer's password.
//!
//! ```text
//!  code issued ──pay call──▶ paid                      (no password)
//!       │             └────▶ waiting ──confirm──▶ paid  (password)
//!       │                       ├──decline──▶ closed (declined)
//!       │                       ├──window ends──▶ closed (timeout)
//!       │                       └──cancel/reverse──▶ closed (cancelled)
//!       └── 60 s pass ──▶ expired (a pay call is refused)
//!  paid ──cancel/reverse──▶ paid and refunded in full (said so in the trade)
//! ```
//! A code is used once: the first pay call that reaches it owns it, and the
//! trade and the mark on the code are written in one transaction. A repeat
//! of the same pay call (same out_trade_no, same code, same amount) answers
//! the trade as it stands now, as the channels do for an idempotent retry.

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::Serialize;

use crate::trade::{china_rfc3339, random_digits, Channel, CloseReason, Phase, StepError, Trade};
use crate::{SimError, SimState};

/// How long a code shown on the phone can be used.
pub const CODE_LIFETIME: chrono::Duration = chrono::Duration::seconds(60);
/// How long a UnionPay code payment waits for the password before the
/// simulator ends it (the documents name no figure; WeChat's 45 s and the
/// simulator's Alipay 60 s bracket it).
pub const UNIONPAY_PASSWORD_WINDOW: chrono::Duration = chrono::Duration::seconds(60);
/// WeChat revokes a code payment still waiting for the password after 45 s.
pub const WECHAT_PASSWORD_WINDOW: chrono::Duration = chrono::Duration::seconds(45);

/// A code as the simulated phone showed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayCode {
    pub code: String,
    pub channel: Channel,
    /// The customer must confirm with the password on the phone.
    pub password: bool,
    /// What the customer can spend; `None` is "enough for anything".
    pub balance_fen: Option<i64>,
    #[serde(serialize_with = "rfc3339")]
    pub issued_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub expires_at: DateTime<Utc>,
    /// The trade that used the code, once one did.
    pub out_trade_no: Option<String>,
}

fn rfc3339<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&china_rfc3339(*t))
}

/// The digits of a fresh code, in the shape the channel uses: WeChat 18
/// digits starting 10–15, Alipay 18 digits starting 25–30, UnionPay 19
/// digits starting 62.
pub fn new_code(channel: Channel) -> String {
    let mut rng = rand::thread_rng();
    match channel {
        Channel::Wechat => format!("{}{}", rng.gen_range(10..=15), random_digits(16)),
        Channel::Alipay => format!("{}{}", rng.gen_range(25..=30), random_digits(16)),
        // UnionPay: 19 digits starting 62.
        Channel::Unionpay => format!("62{}", random_digits(17)),
    }
}

/// Show a new code on the simulated phone.
pub fn issue(
    sim: &SimState,
    channel: Channel,
    password: bool,
    balance_fen: Option<i64>,
) -> Result<PayCode, SimError> {
    let now = sim.now();
    let mut store = sim.store();
    // Codes are random; a clash with an earlier one is retried.
    loop {
        let code = PayCode {
            code: new_code(channel),
            channel,
            password,
            balance_fen,
            issued_at: now,
            expires_at: now + CODE_LIFETIME,
            out_trade_no: None,
        };
        if store.paycode(&code.code)?.is_none() {
            store.insert_paycode(&code)?;
            return Ok(code);
        }
    }
}

/// A pay call as both protocols carry it.
#[derive(Debug, Clone)]
pub struct CodeOrder {
    pub channel: Channel,
    pub out_trade_no: String,
    pub auth_code: String,
    pub amount_fen: i64,
    pub subject: String,
    pub store_id: String,
    pub terminal_id: String,
    pub operator_id: String,
    /// The channel's number for the trade, if one is made.
    pub trade_no: String,
    /// How long the trade may wait for the password.
    pub window: chrono::Duration,
}

/// Why a pay call made no trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRefusal {
    /// Not a code this channel ever showed.
    Unknown,
    Expired,
    /// Another trade already used it.
    Used,
    /// The customer's balance does not cover the amount.
    NotEnough,
    /// The out_trade_no is taken by a different trade.
    OutTradeNoUsed,
}

/// Take a pay call: the trade it made (paid or waiting), the trade a repeat
/// of it refers to (as it is now), or why none was made.
pub fn pay(
    sim: &SimState,
    order: &CodeOrder,
    now: DateTime<Utc>,
) -> Result<Result<Trade, CodeRefusal>, SimError> {
    let fingerprint = format!("{}|{}|{}", order.amount_fen, order.subject, order.auth_code);
    let mut store = sim.store();
    if let Some(mut t) = store.trade(order.channel, &order.out_trade_no)? {
        if t.settle(now) {
            store.update_trade(&t)?;
        }
        return Ok(if t.fingerprint == fingerprint {
            Ok(t)
        } else {
            Err(CodeRefusal::OutTradeNoUsed)
        });
    }
    let Some(code) = store
        .paycode(&order.auth_code)?
        .filter(|c| c.channel == order.channel)
    else {
        return Ok(Err(CodeRefusal::Unknown));
    };
    if code.out_trade_no.is_some() {
        return Ok(Err(CodeRefusal::Used));
    }
    if now >= code.expires_at {
        return Ok(Err(CodeRefusal::Expired));
    }
    if code.balance_fen.is_some_and(|b| b < order.amount_fen) {
        return Ok(Err(CodeRefusal::NotEnough));
    }
    let mut t = Trade {
        channel: order.channel,
        out_trade_no: order.out_trade_no.clone(),
        trade_no: order.trade_no.clone(),
        // The column is unique and a code payment has no QR.
        qr_code: format!("paycode:{}", order.trade_no),
        amount_fen: order.amount_fen,
        subject: order.subject.clone(),
        store_id: order.store_id.clone(),
        operator_id: order.operator_id.clone(),
        terminal_id: order.terminal_id.clone(),
        attach: String::new(),
        fingerprint,
        phase: Phase::Created,
        close_reason: None,
        cancel_action: None,
        created_at: now,
        expires_at: now + order.window,
        scanned_at: None,
        paid_at: None,
        closed_at: None,
        buyer_id: String::new(),
        buyer_logon: String::new(),
        refunded_fen: 0,
        notify_url: String::new(),
        auth_code: order.auth_code.clone(),
    };
    let step = if code.password {
        t.scan(now)
    } else {
        t.pay(now)
    };
    if let Err(e) = step {
        // A fresh trade is neither paid nor closed; this cannot happen.
        tracing::error!(error = %e, "a new code trade refused its first step");
    }
    store.insert_code_trade(&t)?;
    Ok(Ok(t))
}

/// What the customer does on the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneAction {
    Confirm,
    Decline,
}

/// Why the customer's move changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum PhoneError {
    #[error("no such payment code")]
    NoSuchCode,
    #[error("the code has not been scanned by a till yet")]
    NotScanned,
    #[error("the payment is already made")]
    AlreadyPaid,
    #[error("the payment was cancelled by the till")]
    Cancelled,
    #[error("the payment is closed ({0})")]
    Closed(&'static str),
    #[error(transparent)]
    Sim(#[from] SimError),
}

/// The customer confirms with the password, or gives up.
pub fn act(sim: &SimState, code: &str, action: PhoneAction) -> Result<Trade, PhoneError> {
    let now = sim.now();
    let mut store = sim.store();
    let code = store.paycode(code)?.ok_or(PhoneError::NoSuchCode)?;
    let out_trade_no = code.out_trade_no.ok_or(PhoneError::NotScanned)?;
    let mut t = store
        .trade(code.channel, &out_trade_no)?
        .ok_or(PhoneError::NotScanned)?;
    t.settle(now);
    let step = match action {
        PhoneAction::Confirm if t.phase == Phase::Waiting => t.pay(now),
        PhoneAction::Confirm => match t.phase {
            Phase::Paid => Err(StepError::AlreadyPaid),
            _ => Err(StepError::Closed),
        },
        PhoneAction::Decline => t.close(now, CloseReason::Declined),
    };
    store.update_trade(&t)?;
    match step {
        Ok(()) => Ok(t),
        Err(StepError::AlreadyPaid) => Err(PhoneError::AlreadyPaid),
        Err(_) => Err(match t.close_reason {
            Some(CloseReason::Cancelled) | Some(CloseReason::Closed) => PhoneError::Cancelled,
            Some(r) => PhoneError::Closed(r.as_str()),
            None => PhoneError::Closed("closed"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_the_channels_shapes() {
        for _ in 0..200 {
            let w = new_code(Channel::Wechat);
            assert_eq!(w.len(), 18, "{w}");
            let p: u32 = w[..2].parse().unwrap_or(0);
            assert!((10..=15).contains(&p), "{w}");
            let a = new_code(Channel::Alipay);
            assert_eq!(a.len(), 18, "{a}");
            let p: u32 = a[..2].parse().unwrap_or(0);
            assert!((25..=30).contains(&p), "{a}");
            assert!(w.bytes().chain(a.bytes()).all(|b| b.is_ascii_digit()));
            let u = new_code(Channel::Unionpay);
            assert!(u.len() == 19 && u.starts_with("62"), "{u}");
        }
    }
}
