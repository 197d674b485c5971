//! Payments by the customer's code (付款码): the cashier scans the code the
//! customer shows, and the till charges it.
//!
//! This is where counters lose customers' money most often, so the order of
//! steps is fixed (DESIGN.md, "Customer-presented codes"):
//!
//! 1. The code's digits pick the channel; anything that is not an Alipay,
//!    WeChat or (where that channel is configured) UnionPay code is refused
//!    before any network call.
//! 2. The order, its `out_trade_no` and the code's digest are committed in
//!    one transaction. The ledger refuses a second code payment while one is
//!    open and a code it has sent before, so a re-scan after a lost answer
//!    can never charge twice.
//! 3. The pay call is sent once. Paid at once: done. The customer must
//!    confirm on the phone (USERPAYING / 10003): `pending`, polled. No usable
//!    answer: `unknown`, polled the same way; never `failed`.
//! 4. Polling: every 0.8–1 s while a password is being typed, then the
//!    channel's documented pace ([`CodePollSchedule`]), until the window
//!    ends. Then, if still unpaid, the payment is cancelled (Alipay) or
//!    reversed (WeChat), again and again while the channel's answer is
//!    unclear. A payment that won the race is paid; one the reversal gave
//!    back ends `refunded` and says so.
//!
//! Order states (DESIGN.md's machine, no new edges):
//! `created` →pay answer→ `paid` | `pending` (password) | `unknown` (no
//! usable answer) | `failed` (refused); `pending`/`unknown` →query→ `paid`;
//! →cancel/reverse at window end or Esc→ `closed` (nothing taken), or
//! `paid` → `refunded` (taken and given back); the customer declining ends
//! `failed` once the channel has been told.

use std::time::Duration;

use shouyin_channels::{ChannelError, CloseOutcome, CodePay, CodePayAnswer, RemoteStatus};
use shouyin_core::{classify_for_till, AmountRules, ChannelKind, Money, OrderState, PayCodeError};
use shouyin_ledger::{Change, CodePayment, NewOrder, Order};

use crate::dto::{CodeChargeRequest, OrderDto};
use crate::{ApiError, Counter, ErrorCode};

/// How often a code payment that waits for the customer is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePollSchedule {
    /// Fast while customers type the password, then the channel's documented
    /// pace, spending over the whole window no more queries than the
    /// documented schedule would:
    /// * Alipay (3–5 s advised, 60 s window here): every 0.8 s until 6.4 s,
    ///   then every 5 s: 18 queries, against 19 when querying every 3 s.
    /// * WeChat (every 5 s up to 45 s; the v2 POS guide says every 10 s):
    ///   every second until 5 s, then every 10 s: 8 queries (1–5 s, 15, 25,
    ///   35 s), as many as querying every 5 s.
    /// * UnionPay (its demos query again on 03/04/05 without a pace): every
    ///   second until 5 s, then every 5 s.
    Adaptive,
    /// A fixed interval (the documented schedules, for comparison).
    Fixed(Duration),
}

/// How long the fast polling lasts after the pay answer, and its pace, per
/// channel.
pub fn fast_phase(kind: ChannelKind) -> (Duration, Duration) {
    match kind {
        ChannelKind::Alipay => (Duration::from_millis(6400), Duration::from_millis(800)),
        _ => (Duration::from_secs(5), Duration::from_secs(1)),
    }
}

impl CodePollSchedule {
    /// The wait before the next query, `waited` after the order was made.
    pub fn delay(&self, kind: ChannelKind, waited: Duration) -> Duration {
        match self {
            CodePollSchedule::Fixed(d) => *d,
            CodePollSchedule::Adaptive => {
                let (phase, pace) = fast_phase(kind);
                if waited < phase {
                    return pace;
                }
                match kind {
                    ChannelKind::Wechat => Duration::from_secs(10),
                    _ => Duration::from_secs(5),
                }
            }
        }
    }
}

/// Timing of code payments.
#[derive(Debug, Clone)]
pub struct CodeSettings {
    /// How long an Alipay payment may wait for the password before the till
    /// cancels it (Alipay leaves the window to the merchant).
    pub alipay_window: Duration,
    /// WeChat revokes an unpaid code payment at 45 s; the till reverses it then.
    pub wechat_window: Duration,
    /// UnionPay names no window for the password; the till gives it 60 s
    /// (as Alipay) and then reverses (冲正) the payment, well inside the
    /// reversal's own window (docs/PROTOCOLS.md §10).
    pub unionpay_window: Duration,
    pub schedule: CodePollSchedule,
}

impl Default for CodeSettings {
    fn default() -> Self {
        CodeSettings {
            alipay_window: Duration::from_secs(60),
            wechat_window: Duration::from_secs(45),
            unionpay_window: Duration::from_secs(60),
            schedule: CodePollSchedule::Adaptive,
        }
    }
}

impl CodeSettings {
    pub fn window(&self, kind: ChannelKind) -> Duration {
        match kind {
            ChannelKind::Wechat => self.wechat_window,
            ChannelKind::Unionpay => self.unionpay_window,
            _ => self.alipay_window,
        }
    }
}

/// The typed error for a code the till will not send.
pub fn code_error(e: PayCodeError) -> ApiError {
    let code = match e {
        PayCodeError::UnionpayNotEnabled => ErrorCode::PaycodeUnsupported,
        _ => ErrorCode::PaycodeInvalid,
    };
    ApiError::new(code, e.to_string())
}

impl Counter {
    /// Take a payment with the customer's code. Returns the order as the
    /// pay answer left it: `paid`, `pending` (the customer confirms on the
    /// phone; watched), `unknown` (watched) or `failed`.
    pub async fn order_charge_code(&self, req: CodeChargeRequest) -> Result<OrderDto, ApiError> {
        let unionpay = self.channels_now().contains_key(&ChannelKind::Unionpay);
        let (kind, code) = classify_for_till(&req.code, unionpay).map_err(code_error)?;
        let channel = self.channel(kind)?;
        self.check_not_suspended(kind).await?;
        let limit = self
            .with_ledger(|l| Ok(l.terminal().sale_limit_fen))
            .await?;
        let amount = Money::parse(&req.amount, &AmountRules::sale(limit))?;
        let now = self.now();
        let window_ends_at = now + chrono_duration(self.inner.settings.code.window(kind));
        let cashier = req
            .cashier
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty());
        let sent_code = code.clone();
        let order = self
            .with_ledger(move |ledger| {
                if let Some(open) = ledger
                    .open_orders()?
                    .into_iter()
                    .find(|o| o.channel != ChannelKind::Cash && o.state != OrderState::Unverified)
                {
                    return Err(ApiError::new(
                        ErrorCode::Conflict,
                        format!(
                            "order {} ({}, ¥{}) is still {}; no new scan until it is resolved",
                            open.out_trade_no,
                            open.channel,
                            open.amount.to_decimal_string(),
                            open.state
                        ),
                    ));
                }
                if ledger.code_was_used(&code)? {
                    return Err(ApiError::new(
                        ErrorCode::PaycodeReused,
                        "this payment code was sent before; ask the customer to refresh the code",
                    ));
                }
                Ok(ledger.create_code_order(
                    &NewOrder {
                        amount,
                        channel: kind,
                        cashier,
                        note: None,
                    },
                    &code,
                    window_ends_at,
                    now,
                )?)
            })
            .await?;
        self.publish(&OrderDto::from(&order));
        let terminal = self.terminal_name();
        let request = CodePay {
            out_trade_no: order.out_trade_no.clone(),
            auth_code: sent_code,
            amount_fen: order.amount.fen(),
            subject: format!("{} 收银", self.store_name()),
            store_id: order.store.clone(),
            terminal_id: terminal,
        };
        let no = order.out_trade_no.clone();
        let answer = self
            .call(kind, Some(&no), || channel.pay_by_code(&request))
            .await;
        let updated = match answer {
            Ok(CodePayAnswer::Paid(remote)) => {
                if let Some(fen) = remote.amount_fen.filter(|f| *f != order.amount.fen()) {
                    let reason = format!(
                        "paid amount {} differs from the order amount {}",
                        shouyin_core::format_fen(fen),
                        order.amount.to_decimal_string()
                    );
                    self.raise_alarm(kind, Some(&no), &reason).await;
                }
                let change = Change {
                    channel_trade_no: remote.channel_trade_no.clone(),
                    paid_at: Some(remote.paid_at.unwrap_or_else(|| self.now())),
                    ..Change::to(OrderState::Paid)
                }
                .with_detail("confirmed_by", "pay_answer")
                .with_detail("amount_fen", order.amount.fen());
                self.apply(order.id, change).await?
            }
            Ok(CodePayAnswer::Waiting) => {
                let change = Change {
                    expires_at: Some(window_ends_at),
                    ..Change::to(OrderState::Pending)
                        .because("the customer is confirming with the password")
                }
                .with_detail("awaiting", "password");
                self.apply(order.id, change).await?
            }
            Err(ChannelError::Definite { code, message }) => {
                let change = Change::to(OrderState::Failed)
                    .because(format!("{code}: {message}"))
                    .with_detail("channel_code", code.as_str());
                self.apply(order.id, change).await?
            }
            Err(ChannelError::Config(message)) => {
                self.apply(order.id, Change::to(OrderState::Failed).because(message))
                    .await?
            }
            Err(ChannelError::Indeterminate { reason }) => {
                let change = Change {
                    expires_at: Some(window_ends_at),
                    ..Change::to(OrderState::Unknown).because(reason)
                };
                self.apply(order.id, change).await?
            }
            // The alarm is raised; what the channel holds is found by query.
            Err(ChannelError::Untrusted { reason }) => {
                let change = Change {
                    expires_at: Some(window_ends_at),
                    ..Change::to(OrderState::Unknown)
                        .because(format!("the pay answer did not verify: {reason}"))
                };
                self.apply(order.id, change).await?
            }
        };
        if !updated.state.is_final() {
            self.spawn_watcher(order.id);
        }
        Ok(updated)
    }

    /// [`Counter::order_charge_code`] at the till (the desktop app): like
    /// every sale there, it needs an open shift (`shift_not_open`).
    pub async fn order_charge_code_at_till(
        &self,
        req: CodeChargeRequest,
    ) -> Result<OrderDto, ApiError> {
        if self
            .with_ledger(|l| Ok(l.current_shift()?))
            .await?
            .is_none()
        {
            return Err(ApiError::from(shouyin_ledger::LedgerError::ShiftNotOpen));
        }
        self.order_charge_code(req).await
    }

    pub(crate) async fn code_payment_of(
        &self,
        order_id: i64,
    ) -> Result<Option<CodePayment>, ApiError> {
        self.with_ledger(move |l| Ok(l.code_payment(order_id)?))
            .await
    }

    /// Watch an open code payment: query on [`CodePollSchedule`] until it is
    /// final; at the window's end (or when the cashier cancelled) end it at
    /// the channel.
    pub(crate) async fn watch_code(&self, order_id: i64, facts: CodePayment) {
        let mut shutdown = self.inner.shutdown.subscribe();
        let mut failures: u32 = 0;
        let mut hint = None;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let order = match self.load(order_id).await {
                Ok(o) => o,
                Err(e) => {
                    tracing::error!(order_id, "code watcher cannot read the order: {e}");
                    return;
                }
            };
            if order.state.is_final() {
                self.lock_closing().remove(&order_id);
                return;
            }
            let Ok(channel) = self.channel(order.channel) else {
                return;
            };
            let now = self.now();
            let close_reason = self.close_reason(order_id);
            if now >= facts.window_ends_at || close_reason.is_some() {
                let reason = close_reason
                    .unwrap_or_else(|| "the customer did not confirm in time".to_owned());
                match self
                    .end_code_payment(&order, &reason, OrderState::Closed)
                    .await
                {
                    Ok(dto) if dto.state.is_final() => return,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(order_no = %order.out_trade_no, "ending a code payment: {e}")
                    }
                }
                failures += 1;
                if self.pause(&mut shutdown, self.backoff(failures)).await {
                    return;
                }
                continue;
            }
            let waited = (now - order.created_at).to_std().unwrap_or_default();
            let mut delay = self
                .inner
                .settings
                .code
                .schedule
                .delay(order.channel, waited);
            if failures > 0 {
                delay = delay.max(self.backoff(failures));
            }
            let until_end = (facts.window_ends_at - now).to_std().unwrap_or_default();
            let hint = hint.get_or_insert_with(|| self.hint_slot(&order.out_trade_no));
            tokio::select! {
                _ = tokio::time::sleep(delay.min(until_end)) => {}
                // A cancel from the cashier cuts the wait short.
                _ = hint.notify.notified() => {}
                _ = shutdown.changed() => return,
            }
            if self.now() >= facts.window_ends_at || self.close_reason(order_id).is_some() {
                continue;
            }
            let no = order.out_trade_no.clone();
            match self
                .call(order.channel, Some(&no), || channel.query(&no))
                .await
            {
                Ok(remote) => {
                    failures = 0;
                    let order = match self.load(order_id).await {
                        Ok(o) if !o.state.is_final() => o,
                        _ => continue,
                    };
                    let applied = match remote.status {
                        RemoteStatus::Paid | RemoteStatus::Refunded | RemoteStatus::Closed => {
                            self.apply_remote(&order, &remote).await
                        }
                        RemoteStatus::Waiting
                            if matches!(order.state, OrderState::Created | OrderState::Unknown) =>
                        {
                            let change = Change {
                                expires_at: Some(facts.window_ends_at),
                                ..Change::to(OrderState::Pending)
                                    .because("the customer is confirming with the password")
                            };
                            if order.state == OrderState::Created {
                                self.apply(
                                    order.id,
                                    Change::to(OrderState::Unknown)
                                        .because("the pay call was not answered"),
                                )
                                .await
                                .ok();
                            }
                            self.apply(order.id, change).await
                        }
                        RemoteStatus::Failed => {
                            self.end_code_payment(
                                &order,
                                "the customer's payment failed or was declined",
                                OrderState::Failed,
                            )
                            .await
                        }
                        // Not there (yet): the window's end decides.
                        RemoteStatus::Waiting | RemoteStatus::NotFound => {
                            Ok(OrderDto::from(&order))
                        }
                    };
                    if let Err(e) = applied {
                        tracing::warn!(order_no = %no, "could not apply the channel's answer: {e}");
                    }
                }
                Err(e) => {
                    failures += 1;
                    tracing::debug!(order_no = %no, "code payment query: {e}");
                }
            }
        }
    }

    /// End a code payment that is not known to be paid: ask once more (a
    /// payment that won the race is paid, not reversed), then cancel
    /// (Alipay) or reverse (WeChat). Nothing taken: `unpaid` (closed, or
    /// failed when the customer declined). Taken and given back by the
    /// reversal: paid, then refunded, and the reason says so.
    pub(crate) async fn end_code_payment(
        &self,
        order: &Order,
        reason: &str,
        unpaid: OrderState,
    ) -> Result<OrderDto, ApiError> {
        let channel = self.channel(order.channel)?;
        let no = order.out_trade_no.clone();
        if let Ok(remote) = self
            .call(order.channel, Some(&no), || channel.query(&no))
            .await
        {
            if matches!(remote.status, RemoteStatus::Paid | RemoteStatus::Refunded) {
                return self.apply_remote(order, &remote).await;
            }
        }
        let order = &if order.state == OrderState::Created {
            self.apply(
                order.id,
                Change::to(OrderState::Unknown).because("the pay call was not answered"),
            )
            .await?;
            self.load(order.id).await?
        } else {
            self.load(order.id).await?
        };
        if order.state.is_final() {
            return Ok(OrderDto::from(order));
        }
        let outcome = self
            .call(order.channel, Some(&no), || {
                channel.reverse_code_payment(&no)
            })
            .await;
        match outcome {
            Ok(CloseOutcome::Closed) => {
                let word = if matches!(order.channel, ChannelKind::Wechat | ChannelKind::Unionpay) {
                    "reversed"
                } else {
                    "cancelled"
                };
                self.apply(
                    order.id,
                    Change::to(unpaid).because(format!(
                        "{reason}; {word} at the channel, nothing was taken"
                    )),
                )
                .await
            }
            Ok(CloseOutcome::AlreadyPaid) => {
                let remote = self
                    .call(order.channel, Some(&no), || channel.query(&no))
                    .await?;
                self.apply_remote(order, &remote).await
            }
            Ok(CloseOutcome::ReversedAfterPayment) => {
                // The watcher may have seen the payment, or its refund, while
                // the reverse was on its way: go on from the ledger as it is now.
                let current = self.load(order.id).await?;
                if current.state == OrderState::Refunded {
                    return Ok(OrderDto::from(&current));
                }
                if !current.state.is_paid() {
                    let paid = Change {
                        paid_at: Some(self.now()),
                        ..Change::to(OrderState::Paid)
                    }
                    .with_detail("confirmed_by", "reverse");
                    if let Err(e) = self.apply(order.id, paid).await {
                        let now = self.load(order.id).await?;
                        if now.state == OrderState::Refunded {
                            return Ok(OrderDto::from(&now));
                        }
                        if !now.state.is_paid() {
                            return Err(e);
                        }
                    }
                }
                let paid = self.load(order.id).await?;
                if paid.state == OrderState::Refunded {
                    return Ok(OrderDto::from(&paid));
                }
                self.record_channel_refund(
                    &paid,
                    "the customer paid as the till cancelled; the channel reversed the payment and refunded it",
                )
                .await
            }
            Err(ChannelError::Untrusted { reason }) => Err(ApiError::new(
                ErrorCode::ChannelUntrusted,
                format!("the channel's answer did not verify: {reason}"),
            )),
            Err(e) => {
                if order.state == OrderState::Pending {
                    self.apply(
                        order.id,
                        Change::to(OrderState::Unknown).because(e.to_string()),
                    )
                    .await?;
                }
                Err(ApiError::new(
                    ErrorCode::ChannelUnreachable,
                    format!("the payment could not be cancelled at the channel yet ({e}); the till keeps trying"),
                ))
            }
        }
    }

    /// The cashier pressed Esc (and confirmed) on a code payment.
    pub(crate) async fn cancel_code_payment(&self, order: &Order) -> Result<OrderDto, ApiError> {
        let reason = "cancelled by the cashier";
        self.request_close(order.id, reason);
        self.payment_hint(&order.out_trade_no);
        let result = self
            .end_code_payment(order, reason, OrderState::Closed)
            .await;
        if result.as_ref().map_or(true, |o| !o.state.is_final()) {
            self.spawn_watcher(order.id);
        }
        result
    }

    /// On start: what the channel says about a code payment left open. A
    /// customer may still be confirming: within its window it is left to the
    /// watcher; past it, it is cancelled or reversed now.
    pub(crate) async fn resolve_code_payment(&self, order: &Order) -> Result<OrderDto, ApiError> {
        let channel = self.channel(order.channel)?;
        let no = order.out_trade_no.clone();
        let remote = self
            .call(order.channel, Some(&no), || channel.query(&no))
            .await?;
        let dto = match remote.status {
            RemoteStatus::Paid | RemoteStatus::Refunded | RemoteStatus::Closed => {
                self.apply_remote(order, &remote).await?
            }
            _ => OrderDto::from(order),
        };
        if dto.state.is_final() {
            return Ok(dto);
        }
        let window_passed = self
            .code_payment_of(order.id)
            .await?
            .is_some_and(|facts| self.now() >= facts.window_ends_at);
        if !window_passed {
            return Ok(dto);
        }
        let current = self.load(order.id).await?;
        self.end_code_payment(
            &current,
            "the till stopped before the payment was resolved",
            OrderState::Closed,
        )
        .await
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or_else(|_| chrono::Duration::seconds(45))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Queries a schedule makes before `window` ends.
    fn queries_in(s: CodePollSchedule, kind: ChannelKind, window: Duration) -> u32 {
        let mut t = Duration::ZERO;
        let mut queries = 0;
        loop {
            t += s.delay(kind, t);
            if t >= window {
                return queries;
            }
            queries += 1;
        }
    }

    #[test]
    fn the_code_schedule_is_fast_while_the_password_is_typed() {
        let s = CodePollSchedule::Adaptive;
        let d = |kind, secs: f64| s.delay(kind, Duration::from_secs_f64(secs)).as_millis();
        assert_eq!(d(ChannelKind::Wechat, 0.0), 1000);
        assert_eq!(d(ChannelKind::Wechat, 4.9), 1000);
        assert_eq!(d(ChannelKind::Wechat, 5.0), 10_000);
        assert_eq!(d(ChannelKind::Alipay, 0.0), 800);
        assert_eq!(d(ChannelKind::Alipay, 6.3), 800);
        assert_eq!(d(ChannelKind::Alipay, 6.4), 5000);
        // WeChat over 45 s: 1..=5 s, then 15, 25, 35 s; every 5 s asks at
        // 5, 10, … 40 s: 8 times too.
        let w = Duration::from_secs(45);
        assert_eq!(queries_in(s, ChannelKind::Wechat, w), 8);
        let every_5s = CodePollSchedule::Fixed(Duration::from_secs(5));
        assert_eq!(queries_in(every_5s, ChannelKind::Wechat, w), 8);
        // Alipay over 60 s: 0.8..=6.4 s (8), then 11.4 … 56.4 s (10); every
        // 3 s asks 19 times.
        let a = Duration::from_secs(60);
        assert_eq!(queries_in(s, ChannelKind::Alipay, a), 18);
        let every_3s = CodePollSchedule::Fixed(Duration::from_secs(3));
        assert_eq!(queries_in(every_3s, ChannelKind::Alipay, a), 19);
    }
}
