//! QR payments: charge, watch, cancel, expire and recover.
//!
//! The rules of DESIGN.md, in order of importance:
//! - write before you send: the order and its number are durable before the
//!   channel hears of it;
//! - unknown is a state: no usable answer never means "failed"; the order is
//!   resolved by asking the channel again;
//! - a cancel can lose the race: if the channel says the customer paid, the
//!   order is paid, whatever the cashier pressed;
//! - trust nothing unsigned: an untrustworthy answer changes no order, it
//!   raises an alarm.
//!
//! The desktop has no public address, so payments are confirmed by polling
//! the channel's query API on an adaptive schedule: every second at first,
//! slower as the wait grows, faster again once an Alipay buyer has scanned.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;
use shouyin_channels::{
    Channel, ChannelError, CloseOutcome, CreateQr, RemotePayment, RemoteStatus,
};
use shouyin_core::{ChannelKind, OrderState};
use shouyin_ledger::{Change, Order};

use crate::dto::{AlarmDto, CounterEvent, OrderDto};

use crate::{ApiError, Counter, ErrorCode};

/// How often a pending payment is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollSchedule {
    /// Shaped by when customers actually pay; see [`PollSchedule::delay`].
    /// While the channels' notifications reach the counter, only a slow
    /// safety net; see [`PollSchedule::delay_with_push`].
    Adaptive,
    /// A fixed interval (the classic demo poller, for comparison).
    Fixed(Duration),
}

/// What the channel has told us about the customer so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuyerSignal {
    /// Alipay says the trade does not exist yet: nobody has scanned, so
    /// nobody can be paying.
    NotScanned,
    /// Alipay says the trade exists and waits: the buyer scanned this long
    /// ago and is confirming in the app.
    Scanned(Duration),
    /// The channel does not reveal a scan (WeChat Native).
    Hidden,
}

impl PollSchedule {
    /// The wait before the next query while payment notifications reach
    /// this counter (see `crate::relay`): the notification wakes the
    /// watcher at once, so polling only has to catch one that got lost.
    /// Five seconds is the classic poller's pace.
    pub fn delay_with_push(&self) -> Duration {
        match self {
            PollSchedule::Fixed(d) => *d,
            PollSchedule::Adaptive => Duration::from_secs(5),
        }
    }

    /// The wait before the next query, given how long the order has waited.
    ///
    /// Nobody pays within two seconds of the code appearing (a phone has to
    /// scan it and the payer has to confirm), so the first query waits that
    /// long. Then, while a payment is likely, about once a second (0.7 s once
    /// an Alipay buyer is seen to have scanned, 2 s while Alipay shows no
    /// scan); as the wait grows, less often.
    pub fn delay(&self, waited: Duration, signal: BuyerSignal) -> Duration {
        match self {
            PollSchedule::Fixed(d) => *d,
            PollSchedule::Adaptive => {
                let ms = |n| Duration::from_millis(n);
                if waited < Duration::from_secs(2) {
                    return ms(2000) - waited;
                }
                let secs = waited.as_secs();
                match signal {
                    BuyerSignal::Scanned(since) if since < Duration::from_secs(30) => ms(700),
                    BuyerSignal::NotScanned if secs < 60 => ms(2000),
                    _ => ms(match secs {
                        0..=24 => 900,
                        25..=89 => 2000,
                        90..=179 => 3000,
                        _ => 5000,
                    }),
                }
            }
        }
    }
}

/// Timing and limits of the payment service.
#[derive(Debug, Clone)]
pub struct PaymentSettings {
    /// How long a QR code stays payable.
    pub expiry: Duration,
    pub schedule: PollSchedule,
    /// Orders watched at once; more wait for a slot.
    pub max_watchers: usize,
    /// How often an idle channel is probed for health; `None` turns it off.
    pub probe_every: Option<Duration>,
    /// While an unknown order cannot reach its channel, retry at most this often.
    pub retry_cap: Duration,
    /// Payments by the customer's code.
    pub code: crate::paycode::CodeSettings,
    /// How long after the order's expiry Alipay's "no such trade" for a
    /// code nobody scanned is believed. Before the buyer scans, Alipay has
    /// no trade to close, yet the code stays payable until the channel's
    /// own expiry, which `timeout_express` (whole minutes, at least one)
    /// can put up to a minute after ours; until then the order stays open.
    pub not_scanned_grace: Duration,
}

impl Default for PaymentSettings {
    fn default() -> Self {
        PaymentSettings {
            expiry: Duration::from_secs(300),
            schedule: PollSchedule::Adaptive,
            max_watchers: 64,
            probe_every: Some(Duration::from_secs(20)),
            retry_cap: Duration::from_secs(10),
            not_scanned_grace: Duration::from_secs(65),
            code: crate::paycode::CodeSettings::default(),
        }
    }
}

impl Counter {
    pub(crate) fn channel(&self, kind: ChannelKind) -> Result<Arc<dyn Channel>, ApiError> {
        self.channels_now().get(&kind).cloned().ok_or_else(|| {
            ApiError::new(
                ErrorCode::ChannelUnavailable,
                format!("{kind} is not configured on this terminal"),
            )
        })
    }

    /// Call a channel, recording the outcome in its health and raising the
    /// alarm for an untrustworthy answer.
    pub(crate) async fn call<T, F, Fut>(
        &self,
        kind: ChannelKind,
        order_no: Option<&str>,
        f: F,
    ) -> Result<T, ChannelError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, ChannelError>>,
    {
        let started = Instant::now();
        let result = f().await;
        let changed = {
            let mut health = self.lock_health();
            let entry = health
                .entry(kind)
                .or_insert_with(|| crate::health::ChannelHealth::new(kind));
            let before = entry.state();
            entry.record(&result, started.elapsed());
            before != entry.state()
        };
        if changed {
            self.emit(CounterEvent::ChannelHealth {
                channels: self.health_snapshot(),
            });
        }
        if let Err(ChannelError::Untrusted { reason }) = &result {
            self.raise_alarm(kind, order_no, reason).await;
        }
        result
    }

    pub(crate) async fn raise_alarm(
        &self,
        kind: ChannelKind,
        order_no: Option<&str>,
        reason: &str,
    ) {
        let message = format!("{kind} sent an answer whose signature does not verify: {reason}");
        tracing::error!(channel = %kind, order_no, "{message}");
        let now = self.now();
        let order_no_owned = order_no.map(str::to_owned);
        let payload =
            json!({ "channel": kind.as_str(), "order_no": order_no_owned, "reason": reason });
        let recorded = self
            .with_ledger(move |ledger| {
                let order_id = match &order_no_owned {
                    Some(no) => ledger.order_by_no(no).ok().map(|o| o.id),
                    None => None,
                };
                Ok(ledger.record(order_id, "alarm_untrusted_answer", &payload, now)?)
            })
            .await;
        if let Err(e) = recorded {
            tracing::error!("could not record the alarm in the ledger: {e}");
        }
        self.emit(CounterEvent::Alarm {
            alarm: AlarmDto {
                kind: "untrusted_answer".to_owned(),
                at: shouyin_ledger::ts(now),
                channel: Some(kind),
                order_no: order_no.map(str::to_owned),
                message,
            },
        });
    }

    /// Take a QR payment: commit the order, ask the channel for a code, and
    /// watch it until it is final. Returns once the code exists (`pending`)
    /// or the answer is unknown (`unknown`, resolved in the background).
    pub(crate) async fn charge_qr(
        &self,
        kind: ChannelKind,
        amount: shouyin_core::Money,
        cashier: Option<String>,
        note: Option<String>,
        force: bool,
    ) -> Result<OrderDto, ApiError> {
        let channel = self.channel(kind)?;
        self.check_not_suspended(kind).await?;
        let now = self.now();
        let expires_at = now + chrono_duration(self.inner.settings.expiry);
        let order = self
            .with_ledger(move |ledger| {
                if let Some(open) = ledger
                    .open_orders()?
                    .into_iter()
                    .find(|o| o.channel != ChannelKind::Cash && !o.state.is_final())
                {
                    if ledger.code_payment(open.id)?.is_some() {
                        return Err(ApiError::new(
                            ErrorCode::Conflict,
                            format!(
                                "code payment {} (¥{}) is still {}; no new charge until it is resolved",
                                open.out_trade_no,
                                open.amount.to_decimal_string(),
                                open.state
                            ),
                        ));
                    }
                }
                if !force {
                    if let Some(open) = ledger
                        .open_orders()?
                        .into_iter()
                        .find(|o| o.channel != ChannelKind::Cash)
                    {
                        return Err(ApiError::new(
                            ErrorCode::Conflict,
                            format!(
                                "order {} ({}, ¥{}) is still {}; wait for it, cancel it, or confirm a new charge",
                                open.out_trade_no,
                                open.channel,
                                open.amount.to_decimal_string(),
                                open.state
                            ),
                        )
                        .detail("payment_open")
                        .with("order_no", &open.out_trade_no)
                        .with("channel", open.channel)
                        .with("amount", open.amount.to_decimal_string())
                        .with("state", open.state)
                        .with("code_shown", open.qr_payload.is_some()));
                    }
                }
                Ok(ledger.create_order(
                    &shouyin_ledger::NewOrder {
                        amount,
                        channel: kind,
                        cashier,
                        note,
                    },
                    now,
                )?)
            })
            .await?;
        if force {
            // After the new order is written (a crash from here on leaves a
            // record), before its code exists at the channel.
            self.close_earlier_codes(order.id).await?;
        }
        let subject = format!("{} 收银", self.store_name());
        let request = CreateQr {
            out_trade_no: order.out_trade_no.clone(),
            amount_fen: order.amount.fen(),
            subject,
            expires_at,
            notify_url: self.notify_url_for(kind, &order.out_trade_no),
        };
        let result = self
            .call(kind, Some(&order.out_trade_no), || {
                channel.create_qr(&request)
            })
            .await;
        let updated = match result {
            Ok(qr) => {
                let change = Change {
                    qr_payload: Some(qr.qr_payload),
                    expires_at: Some(expires_at),
                    ..Change::to(OrderState::Pending)
                };
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
                    expires_at: Some(expires_at),
                    ..Change::to(OrderState::Unknown).because(reason)
                };
                self.apply(order.id, change).await?
            }
            // The alarm is raised; the order stays `created` and the watcher
            // finds out what the channel really has.
            Err(ChannelError::Untrusted { .. }) => OrderDto::from(&order),
        };
        if updated.state.is_final() {
            self.forget_announced(&order.out_trade_no);
        } else {
            self.spawn_watcher(order.id);
        }
        Ok(updated)
    }

    /// Before a charge the cashier confirmed while another code is open:
    /// close the earlier codes at the channel, so a customer cannot pay
    /// both. One the channel reports paid is recorded paid (and the screen
    /// hears of it); one that cannot be closed yet stays watched, so a
    /// payment of it is still caught.
    async fn close_earlier_codes(&self, new_order: i64) -> Result<(), ApiError> {
        let open = self.with_ledger(|l| Ok(l.open_orders()?)).await?;
        for order in open.into_iter().filter(|o| {
            o.id != new_order
                && o.channel != ChannelKind::Cash
                && matches!(
                    o.state,
                    OrderState::Created | OrderState::Pending | OrderState::Unknown
                )
        }) {
            let reason = "closed before a new charge";
            self.request_close(order.id, reason);
            if let Err(e) = self.close_at_channel(&order, reason).await {
                tracing::warn!(order_no = %order.out_trade_no, "earlier code not closed yet: {e}");
                self.spawn_watcher(order.id);
            }
        }
        Ok(())
    }

    /// Remember that an order is to be closed at the channel (the cashier
    /// cancelled it, or recovery found it): its watcher retries the close
    /// until the channel confirms it, instead of waiting for expiry.
    pub(crate) fn request_close(&self, order_id: i64, reason: &str) {
        self.lock_closing()
            .entry(order_id)
            .or_insert_with(|| reason.to_owned());
    }

    pub(crate) fn close_reason(&self, order_id: i64) -> Option<String> {
        self.lock_closing().get(&order_id).cloned()
    }

    /// When Alipay's "no such trade" for a code nobody scanned becomes the
    /// truth: once the code can no longer be paid at the channel either.
    fn not_scanned_final_at(&self, order: &Order) -> DateTime<Utc> {
        let expires_at = order
            .expires_at
            .unwrap_or(order.created_at + chrono_duration(self.inner.settings.expiry));
        expires_at + chrono_duration(self.inner.settings.not_scanned_grace)
    }

    /// Commit a change and tell the UI.
    pub(crate) async fn apply(&self, order_id: i64, change: Change) -> Result<OrderDto, ApiError> {
        let now = self.now();
        let order = self
            .with_ledger(move |ledger| {
                Ok(OrderDto::from(&ledger.transition(order_id, &change, now)?))
            })
            .await?;
        if order.state.is_final() {
            self.lock_closing().remove(&order_id);
        }
        self.publish(&order);
        Ok(order)
    }

    pub(crate) async fn load(&self, order_id: i64) -> Result<Order, ApiError> {
        self.with_ledger(move |ledger| Ok(ledger.order(order_id)?))
            .await
    }

    /// Bring the ledger in line with what the channel reports.
    pub(crate) async fn apply_remote(
        &self,
        order: &Order,
        remote: &RemotePayment,
    ) -> Result<OrderDto, ApiError> {
        if let Some(paid_fen) = remote.amount_fen.filter(|fen| *fen != order.amount.fen()) {
            if remote.status == RemoteStatus::Paid {
                let reason = format!(
                    "paid amount {} differs from the order amount {}",
                    shouyin_core::format_fen(paid_fen),
                    order.amount.to_decimal_string()
                );
                self.raise_alarm(order.channel, Some(&order.out_trade_no), &reason)
                    .await;
            }
        }
        let paid = |order: &Order| {
            Change {
                channel_trade_no: remote.channel_trade_no.clone(),
                paid_at: Some(remote.paid_at.unwrap_or_else(|| self.now())),
                ..Change::to(OrderState::Paid)
            }
            .with_detail("confirmed_by", "query")
            .with_detail("amount_fen", order.amount.fen())
        };
        if order.state.is_final()
            && !order.state.is_paid()
            && matches!(remote.status, RemoteStatus::Paid | RemoteStatus::Refunded)
        {
            return self.late_payment(order, remote, paid(order), "query").await;
        }
        match remote.status {
            RemoteStatus::Paid => self.apply(order.id, paid(order)).await,
            RemoteStatus::Refunded => {
                if !order.state.is_paid() {
                    self.apply(order.id, paid(order)).await?;
                }
                let order = self.load(order.id).await?;
                self.refunded_at_channel(&order).await
            }
            RemoteStatus::Closed => {
                // Channels keep expiry to the second: allow for the fraction.
                let expired = order
                    .expires_at
                    .is_some_and(|at| self.now() + chrono::Duration::seconds(1) >= at);
                let reason = if expired {
                    "expired: not paid in time"
                } else {
                    "closed at the channel"
                };
                self.apply(order.id, Change::to(OrderState::Closed).because(reason))
                    .await
            }
            RemoteStatus::Failed => self.fail_after_close(order).await,
            RemoteStatus::Waiting | RemoteStatus::NotFound => Ok(OrderDto::from(order)),
        }
    }

    /// The channel reports the payment failed (WeChat `PAYERROR`). The code
    /// is closed at the channel first, so it cannot still be paid once the
    /// till shows "failed"; until the close is confirmed the order stays
    /// open and watched.
    async fn fail_after_close(&self, order: &Order) -> Result<OrderDto, ApiError> {
        if order.state.is_final() {
            return Ok(OrderDto::from(order));
        }
        let channel = self.channel(order.channel)?;
        let no = order.out_trade_no.clone();
        match self
            .call(order.channel, Some(&no), || channel.close(&no))
            .await
        {
            Ok(CloseOutcome::Closed) => {
                self.apply(
                    order.id,
                    Change::to(OrderState::Failed)
                        .because("the channel reports the payment failed; closed at the channel"),
                )
                .await
            }
            Ok(CloseOutcome::AlreadyPaid) | Ok(CloseOutcome::ReversedAfterPayment) => {
                // The customer paid after all: the query decides.
                let remote = self
                    .call(order.channel, Some(&no), || channel.query(&no))
                    .await
                    .map_err(|e| ApiError::new(ErrorCode::ChannelUnreachable, e.to_string()))?;
                if matches!(remote.status, RemoteStatus::Paid | RemoteStatus::Refunded) {
                    Box::pin(self.apply_remote(order, &remote)).await
                } else {
                    Ok(OrderDto::from(order))
                }
            }
            Err(e) => {
                tracing::warn!(order_no = %no, "failed payment not closed at the channel yet: {e}");
                Ok(OrderDto::from(order))
            }
        }
    }

    /// A success for an order the till had given up (closed, failed): it
    /// becomes paid, with a `late_payment` alarm event, an audit entry and
    /// an alarm on screen. Never dropped.
    async fn late_payment(
        &self,
        order: &Order,
        remote: &RemotePayment,
        paid: Change,
        source: &str,
    ) -> Result<OrderDto, ApiError> {
        let now = self.now();
        let id = order.id;
        let source_owned = source.to_owned();
        let updated = self
            .with_ledger(move |ledger| {
                Ok(ledger.record_late_payment(id, &paid, &source_owned, now)?)
            })
            .await?;
        let dto = OrderDto::from(&updated);
        self.publish(&dto);
        let message = format!(
            "late payment: order {} (¥{}) was paid after the till {} it; it is now paid — hand over the goods or refund it",
            order.out_trade_no,
            order.amount.to_decimal_string(),
            if order.state == OrderState::Failed { "failed" } else { "closed" },
        );
        tracing::error!(order_no = %order.out_trade_no, source, "{message}");
        self.emit(CounterEvent::Alarm {
            alarm: AlarmDto {
                kind: "late_payment".to_owned(),
                at: shouyin_ledger::ts(now),
                channel: Some(order.channel),
                order_no: Some(order.out_trade_no.clone()),
                message,
            },
        });
        if remote.status == RemoteStatus::Refunded {
            return self.refunded_at_channel(&updated).await;
        }
        Ok(dto)
    }

    /// The channel reports a paid order refunded (Alipay `TRADE_CLOSED`
    /// after payment: refunded in full). Written as a refund like any other,
    /// so the report, head office and the export agree. WeChat's `REFUND`
    /// only says that *some* refund happened, and its refund query needs a
    /// refund number the till does not have for a refund made elsewhere:
    /// the order stays paid and the amount is left to a person, with an
    /// alarm, rather than guessed.
    async fn refunded_at_channel(&self, order: &Order) -> Result<OrderDto, ApiError> {
        if order.channel != ChannelKind::Alipay {
            let message = format!(
                "{} reports refunds on order {} that this till did not make; check the amount in the merchant platform",
                order.channel, order.out_trade_no
            );
            tracing::warn!(order_no = %order.out_trade_no, "{message}");
            self.emit(CounterEvent::Alarm {
                alarm: AlarmDto {
                    kind: "refunded_elsewhere".to_owned(),
                    at: shouyin_ledger::ts(self.now()),
                    channel: Some(order.channel),
                    order_no: Some(order.out_trade_no.clone()),
                    message,
                },
            });
            return Ok(OrderDto::from(order));
        }
        self.record_channel_refund(order, "refunded at the channel")
            .await
    }

    /// Write what is left to refund on a paid order as a refund the channel
    /// made (a reversal on cancel, a full refund it reports).
    pub(crate) async fn record_channel_refund(
        &self,
        order: &Order,
        reason: &str,
    ) -> Result<OrderDto, ApiError> {
        let now = self.now();
        let id = order.id;
        let no = order.out_trade_no.clone();
        let reason = reason.to_owned();
        let updated = self
            .with_ledger(move |ledger| {
                let left = ledger.refundable_fen(id)?;
                if left <= 0 {
                    return Ok(ledger.order(id)?);
                }
                Ok(ledger
                    .record_channel_refund(&no, left, &reason, None, now, now)?
                    .1)
            })
            .await?;
        let dto = OrderDto::from(&updated);
        self.publish(&dto);
        Ok(dto)
    }

    /// Ask the channel again about an order, whatever the till holds: an
    /// open order is brought in line with the answer; a closed or failed
    /// one that the channel says was paid becomes a late payment.
    pub async fn order_recheck(&self, order_no: String) -> Result<OrderDto, ApiError> {
        self.recheck(order_no, "query").await
    }

    pub(crate) async fn recheck(
        &self,
        order_no: String,
        source: &str,
    ) -> Result<OrderDto, ApiError> {
        let order = self
            .with_ledger(move |ledger| Ok(ledger.order_by_no(&order_no)?))
            .await?;
        if order.channel == ChannelKind::Cash
            || order.state.is_paid()
            || order.state == OrderState::Unverified
        {
            return Ok(OrderDto::from(&order));
        }
        let channel = self.channel(order.channel)?;
        let no = order.out_trade_no.clone();
        let remote = self
            .call(order.channel, Some(&no), || channel.query(&no))
            .await
            .map_err(|e| ApiError::new(ErrorCode::ChannelUnreachable, e.to_string()))?;
        if order.state.is_final() {
            if matches!(remote.status, RemoteStatus::Paid | RemoteStatus::Refunded) {
                let paid = Change {
                    channel_trade_no: remote.channel_trade_no.clone(),
                    paid_at: Some(remote.paid_at.unwrap_or_else(|| self.now())),
                    ..Change::to(OrderState::Paid)
                }
                .with_detail("confirmed_by", source)
                .with_detail("amount_fen", order.amount.fen());
                return self.late_payment(&order, &remote, paid, source).await;
            }
            return Ok(OrderDto::from(&order));
        }
        self.apply_remote(&order, &remote).await
    }

    /// Close a payment at the channel and record how it ended. Used by the
    /// cashier's cancel, by expiry and by recovery.
    async fn close_at_channel(&self, order: &Order, reason: &str) -> Result<OrderDto, ApiError> {
        let channel = self.channel(order.channel)?;
        // A `created` order never heard back from its create call: that is
        // the unknown state, which is what a close resolves.
        let order = &if order.state == OrderState::Created {
            self.apply(
                order.id,
                Change::to(OrderState::Unknown).because("the create call was not answered"),
            )
            .await?;
            self.load(order.id).await?
        } else {
            order.clone()
        };
        let no = order.out_trade_no.clone();
        let outcome = self
            .call(order.channel, Some(&no), || channel.close(&no))
            .await;
        match outcome {
            Ok(CloseOutcome::Closed) => {
                // The channel closed it; ask once more in case a payment
                // slipped in just before (late success is never dropped).
                let after = self
                    .call(order.channel, Some(&no), || channel.query(&no))
                    .await;
                if let Ok(remote) = &after {
                    if matches!(remote.status, RemoteStatus::Paid | RemoteStatus::Refunded) {
                        return self.apply_remote(order, remote).await;
                    }
                }
                self.apply(order.id, Change::to(OrderState::Closed).because(reason))
                    .await
            }
            Ok(CloseOutcome::AlreadyPaid) => {
                let remote = self
                    .call(order.channel, Some(&no), || channel.query(&no))
                    .await;
                match remote {
                    Ok(remote)
                        if remote.status == RemoteStatus::Paid
                            || remote.status == RemoteStatus::Refunded =>
                    {
                        self.apply_remote(order, &remote).await
                    }
                    // The channel said "paid" to the close; record it even if the
                    // follow-up query gave no usable answer.
                    _ => {
                        let change = Change {
                            paid_at: Some(self.now()),
                            ..Change::to(OrderState::Paid)
                        }
                        .with_detail("confirmed_by", "close_refused_paid");
                        self.apply(order.id, change).await
                    }
                }
            }
            Ok(CloseOutcome::ReversedAfterPayment) => {
                if !order.state.is_paid() {
                    let paid = Change {
                        paid_at: Some(self.now()),
                        ..Change::to(OrderState::Paid)
                    }
                    .with_detail("confirmed_by", "cancel_reversed");
                    self.apply(order.id, paid).await?;
                }
                let paid = self.load(order.id).await?;
                self.record_channel_refund(
                    &paid,
                    "the customer paid, and the channel reversed the payment on cancel",
                )
                .await
            }
            Err(ChannelError::Definite { code, message }) => {
                // A refusal to close: find out why from the trade itself.
                let remote = self
                    .call(order.channel, Some(&no), || channel.query(&no))
                    .await;
                match remote {
                    Ok(remote) if remote.status == RemoteStatus::NotFound => {
                        // Alipay has no trade before the buyer scans, yet
                        // the code stays payable until it expires there:
                        // "not found" is only final after that. A code
                        // never shown (the create answer was lost) cannot
                        // be scanned; WeChat's "not found" means the order
                        // was never created.
                        if order.channel != ChannelKind::Alipay
                            || order.qr_payload.is_none()
                            || self.now() >= self.not_scanned_final_at(order)
                        {
                            self.apply(order.id, Change::to(OrderState::Closed).because(reason))
                                .await
                        } else {
                            Err(ApiError::new(
                                ErrorCode::ChannelRejected,
                                format!(
                                    "{} cannot close a code nobody has scanned yet ({code}); it stays payable until it expires, so the till keeps checking it and closes it as soon as the channel allows",
                                    order.channel
                                ),
                            )
                            .detail("not_scanned_yet")
                            .with("channel", order.channel))
                        }
                    }
                    Ok(remote) if remote.status != RemoteStatus::Waiting => {
                        self.apply_remote(order, &remote).await
                    }
                    _ => Err(ApiError::new(
                        ErrorCode::ChannelRejected,
                        format!("the channel refused to close the payment: {code}: {message}"),
                    )),
                }
            }
            Err(ChannelError::Indeterminate { reason }) | Err(ChannelError::Config(reason)) => {
                if order.state == OrderState::Pending {
                    self.apply(
                        order.id,
                        Change::to(OrderState::Unknown).because(reason.clone()),
                    )
                    .await?;
                }
                Err(ApiError::new(
                    ErrorCode::ChannelUnreachable,
                    format!("could not reach the channel to close the payment ({reason}); it is being checked"),
                )
                .detail("close")
                .with("channel", order.channel))
            }
            Err(ChannelError::Untrusted { reason }) => Err(ApiError::new(
                ErrorCode::ChannelUntrusted,
                format!("the channel's answer did not verify: {reason}"),
            )),
        }
    }

    /// The cashier cancels a payment. The channel decides: if the customer
    /// paid meanwhile, the order is paid and the answer says so.
    pub async fn order_cancel(&self, order_no: String) -> Result<OrderDto, ApiError> {
        let order = self
            .with_ledger(move |ledger| Ok(ledger.order_by_no(&order_no)?))
            .await?;
        if order.state.is_final() {
            return Ok(OrderDto::from(&order));
        }
        if order.channel == ChannelKind::Cash {
            return self
                .apply(
                    order.id,
                    Change::to(OrderState::Failed).because("cancelled by the cashier"),
                )
                .await;
        }
        if self.code_payment_of(order.id).await?.is_some() {
            return self.cancel_code_payment(&order).await;
        }
        self.request_close(order.id, "cancelled by the cashier");
        let result = self
            .close_at_channel(&order, "cancelled by the cashier")
            .await;
        if result.is_err() {
            // Keep resolving in the background whatever happened here.
            self.spawn_watcher(order.id);
        }
        result
    }

    /// Resolve every order that is not final: ask its channel, and close
    /// what is still unpaid (its QR code is no longer on any screen).
    /// Orders whose channel cannot be reached stay open and are watched.
    pub async fn recover(&self) -> Result<Vec<OrderDto>, ApiError> {
        let open = self.with_ledger(|ledger| Ok(ledger.open_orders()?)).await?;
        let mut out = Vec::with_capacity(open.len());
        for order in open {
            let resolved = self.resolve_now(&order).await;
            match resolved {
                Ok(dto) => {
                    if !dto.state.is_final() {
                        self.spawn_watcher(order.id);
                    }
                    out.push(dto);
                }
                Err(e) => {
                    tracing::warn!(order_no = %order.out_trade_no, "not resolved yet: {e}");
                    self.spawn_watcher(order.id);
                    out.push(OrderDto::from(&self.load(order.id).await?));
                }
            }
        }
        Ok(out)
    }

    async fn resolve_now(&self, order: &Order) -> Result<OrderDto, ApiError> {
        if order.state == OrderState::Unverified {
            // A manager's manual confirmation is checked against the channel
            // elsewhere (query or bill); recovery leaves it alone.
            return Ok(OrderDto::from(order));
        }
        if order.channel == ChannelKind::Cash {
            return self
                .apply(
                    order.id,
                    Change::to(OrderState::Failed)
                        .because("interrupted before the cash sale was completed"),
                )
                .await;
        }
        if self.code_payment_of(order.id).await?.is_some() {
            // The customer may still be confirming: the watcher queries and
            // cancels or reverses when the window ends.
            return self.resolve_code_payment(order).await;
        }
        let channel = self.channel(order.channel)?;
        let no = order.out_trade_no.clone();
        let remote = self
            .call(order.channel, Some(&no), || channel.query(&no))
            .await
            .map_err(ApiError::from)?;
        let dto = self.apply_remote(order, &remote).await?;
        if dto.state.is_final() {
            return Ok(dto);
        }
        let current = self.load(order.id).await?;
        let reason = "closed on recovery: the sale was interrupted";
        self.request_close(order.id, reason);
        self.close_at_channel(&current, reason).await
    }

    pub(crate) fn spawn_watcher(&self, order_id: i64) {
        let mut watchers = self.lock_watchers();
        watchers.retain(|_, handle| !handle.is_finished());
        if watchers.contains_key(&order_id) {
            return;
        }
        let counter = self.clone();
        let handle = tokio::spawn(async move { counter.watch(order_id).await });
        watchers.insert(order_id, handle);
    }

    /// Watch one order until it is final, or the counter shuts down.
    async fn watch(&self, order_id: i64) {
        let Ok(_slot) = Arc::clone(&self.inner.watch_slots).acquire_owned().await else {
            return;
        };
        match self.code_payment_of(order_id).await {
            Ok(Some(facts)) => return self.watch_code(order_id, facts).await,
            Ok(None) => {}
            Err(e) => {
                tracing::error!(order_id, "watcher cannot read the order: {e}");
                return;
            }
        }
        let mut shutdown = self.inner.shutdown.subscribe();
        let started = Instant::now();
        let mut scanned_at: Option<Instant> = None;
        let mut last_status: Option<RemoteStatus> = None;
        let mut failures: u32 = 0;
        let mut hint = None;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let order = match self.load(order_id).await {
                Ok(o) => o,
                Err(e) => {
                    tracing::error!(order_id, "watcher cannot read the order: {e}");
                    return;
                }
            };
            if order.state.is_final() || order.state == OrderState::Unverified {
                self.lock_closing().remove(&order_id);
                return;
            }
            let hint = hint.get_or_insert_with(|| self.hint_slot(&order.out_trade_no));
            let Ok(channel) = self.channel(order.channel) else {
                return;
            };
            let expires_at = order
                .expires_at
                .unwrap_or(order.created_at + chrono_duration(self.inner.settings.expiry));
            let now = self.now();
            let close_reason = self.close_reason(order_id);
            if now >= expires_at || close_reason.is_some() {
                let reason = close_reason.unwrap_or_else(|| "expired: not paid in time".to_owned());
                match self.close_at_channel(&order, &reason).await {
                    Ok(dto) if dto.state.is_final() => return,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(order_no = %order.out_trade_no, "close on expiry: {e}")
                    }
                }
                failures += 1;
                if self.pause(&mut shutdown, self.backoff(failures)).await {
                    return;
                }
                continue;
            }
            let signal = match (order.channel, scanned_at, last_status) {
                (ChannelKind::Alipay, Some(at), _) => BuyerSignal::Scanned(at.elapsed()),
                (ChannelKind::Alipay, None, Some(RemoteStatus::NotFound)) => {
                    BuyerSignal::NotScanned
                }
                _ => BuyerSignal::Hidden,
            };
            let waited = (now - order.created_at)
                .to_std()
                .unwrap_or_default()
                .max(started.elapsed());
            let schedule = self.inner.settings.schedule;
            let mut delay = if self.notified_of(&order.out_trade_no) {
                schedule.delay_with_push()
            } else {
                schedule.delay(waited, signal)
            };
            if failures > 0 {
                delay = delay.max(self.backoff(failures));
            }
            let until_expiry = (expires_at - now).to_std().unwrap_or_default();
            // A payment notification cuts the wait short.
            tokio::select! {
                _ = tokio::time::sleep(delay.min(until_expiry)) => {}
                _ = hint.notify.notified() => {}
                _ = shutdown.changed() => return,
            }
            if self.now() >= expires_at {
                continue;
            }
            let no = order.out_trade_no.clone();
            let queried = self
                .call(order.channel, Some(&no), || channel.query(&no))
                .await;
            match queried {
                Ok(remote) => {
                    failures = 0;
                    if remote.status == RemoteStatus::Waiting
                        && scanned_at.is_none()
                        && order.channel == ChannelKind::Alipay
                    {
                        scanned_at = Some(Instant::now());
                    }
                    last_status = Some(remote.status);
                    let needs_code =
                        matches!(order.state, OrderState::Created | OrderState::Unknown)
                            && matches!(
                                remote.status,
                                RemoteStatus::Waiting | RemoteStatus::NotFound
                            );
                    let applied = if needs_code {
                        self.recreate_code(&order, &channel, expires_at).await
                    } else {
                        self.apply_remote(&order, &remote).await
                    };
                    if let Err(e) = applied {
                        tracing::warn!(order_no = %no, "could not apply the channel's answer: {e}");
                    }
                }
                Err(e) => {
                    failures += 1;
                    tracing::debug!(order_no = %no, "query: {e}");
                }
            }
        }
    }

    /// The create call's answer was lost: ask again with the same order
    /// number and parameters (both channels treat that as the same trade).
    async fn recreate_code(
        &self,
        order: &Order,
        channel: &Arc<dyn Channel>,
        expires_at: DateTime<Utc>,
    ) -> Result<OrderDto, ApiError> {
        let request = CreateQr {
            out_trade_no: order.out_trade_no.clone(),
            amount_fen: order.amount.fen(),
            subject: format!("{} 收银", self.store_name()),
            expires_at,
            notify_url: self.notify_url_for(order.channel, &order.out_trade_no),
        };
        match self
            .call(order.channel, Some(&order.out_trade_no), || {
                channel.create_qr(&request)
            })
            .await
        {
            Ok(qr) => {
                let change = Change {
                    qr_payload: Some(qr.qr_payload),
                    expires_at: Some(expires_at),
                    ..Change::to(OrderState::Pending)
                };
                self.apply(order.id, change).await
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn backoff(&self, failures: u32) -> Duration {
        let exp = Duration::from_millis(500u64.saturating_mul(1u64 << failures.min(6)));
        exp.min(self.inner.settings.retry_cap)
    }

    /// Sleep, or return true when the counter shuts down first.
    pub(crate) async fn pause(
        &self,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
        d: Duration,
    ) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => false,
            _ = shutdown.changed() => true,
        }
    }

    /// Probe idle channels now and then, so their buttons show "offline"
    /// before anyone presses them. A query for an order number that cannot
    /// exist answers "not found" from a healthy channel.
    pub(crate) fn spawn_prober(&self) {
        let Some(every) = self.inner.settings.probe_every else {
            return;
        };
        if self.channels_now().is_empty() {
            return;
        }
        let counter = self.clone();
        tokio::spawn(async move {
            let mut shutdown = counter.inner.shutdown.subscribe();
            let probe_no = format!("{}_PROBE_000000", counter.terminal_name());
            loop {
                for (kind, channel) in counter.channels_now() {
                    let _ = counter.call(kind, None, || channel.query(&probe_no)).await;
                }
                if counter.pause(&mut shutdown, every).await {
                    return;
                }
            }
        });
    }

    /// Stop every watcher and the prober; open orders stay open in the
    /// ledger and are recovered on the next start.
    pub async fn shutdown(&self) {
        // `send` would drop the value when nobody listens yet (a watcher
        // spawned but not started); a watcher starting later must see it.
        self.inner.shutdown.send_replace(true);
        let handles: Vec<_> = self.lock_watchers().drain().map(|(_, h)| h).collect();
        for handle in handles {
            let _ = handle.await;
        }
        self.leave_unreported_calls();
    }

    /// Wait until an order is final, or `timeout` passes. Returns the order
    /// as it then stands.
    pub async fn wait_final(
        &self,
        order_no: &str,
        timeout: Duration,
    ) -> Result<OrderDto, ApiError> {
        let mut events = self.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let no = order_no.to_owned();
            let order = self
                .with_ledger(move |ledger| Ok(ledger.order_by_no(&no)?))
                .await?;
            if order.state.is_final() {
                return Ok(OrderDto::from(&order));
            }
            let next = tokio::time::timeout_at(deadline, async {
                loop {
                    match events.recv().await {
                        Ok(CounterEvent::OrderChanged { order }) if order.order_no == order_no => {
                            return
                        }
                        Ok(_) => continue,
                        // Lagged or closed: re-read the ledger.
                        Err(_) => return,
                    }
                }
            })
            .await;
            if next.is_err() {
                return Ok(OrderDto::from(&order));
            }
        }
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or_else(|_| chrono::Duration::minutes(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_adaptive_schedule_follows_the_buyer() {
        let s = PollSchedule::Adaptive;
        let d = |secs, signal| s.delay(Duration::from_secs(secs), signal).as_millis();
        assert_eq!(
            d(0, BuyerSignal::Hidden),
            2000,
            "nobody pays in the first two seconds"
        );
        assert_eq!(d(2, BuyerSignal::Hidden), 900);
        assert_eq!(d(24, BuyerSignal::Hidden), 900);
        assert_eq!(d(30, BuyerSignal::Hidden), 2000);
        assert_eq!(d(100, BuyerSignal::Hidden), 3000);
        assert_eq!(d(200, BuyerSignal::Hidden), 5000);
        assert_eq!(d(5, BuyerSignal::NotScanned), 2000);
        assert_eq!(d(5, BuyerSignal::Scanned(Duration::from_secs(1))), 700);
        assert_eq!(d(100, BuyerSignal::Scanned(Duration::from_secs(40))), 3000);
        assert_eq!(s.delay_with_push(), Duration::from_secs(5));
        assert_eq!(
            PollSchedule::Fixed(Duration::from_secs(3)).delay_with_push(),
            Duration::from_secs(3)
        );
        let fixed = PollSchedule::Fixed(Duration::from_secs(5));
        assert_eq!(
            fixed.delay(Duration::ZERO, BuyerSignal::Hidden).as_secs(),
            5
        );
    }
}
