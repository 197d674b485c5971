//! Refunds (退款), full or partial, each with its own request number.
//!
//! Write before you send: the refund row is committed in state `requested`,
//! with the check that everything refunded or in progress stays within what
//! was paid made inside the same IMMEDIATE transaction, before the channel
//! hears of it. Then:
//! - success: refund, order projection (part_refunded/refunded), the
//!   `refund_succeeded` event and the audit entry commit together;
//! - processing: followed with the channel's refund query until final;
//! - no usable answer: `unknown`, and the refund call is retried with the
//!   SAME request number, which the channel treats as the same refund, so a
//!   retry never moves money twice;
//! - a definite "no" to the first send: failed, and the reserved amount is
//!   released. Only that answer frees the amount: once a send went without
//!   a usable answer (lost, timed out, 5xx, rate-limited), a later "no" may
//!   be the channel refusing a *repeat* of a refund it already made, so the
//!   refund stays unknown and reserved until the channel says it succeeded.
//!
//! Cash refunds call no channel: they are recorded as succeeded at once.
//! Every refund needs a manager's approval, checked at the moment of asking.

use std::time::Duration;

use shouyin_channels::{ChannelError, RefundRequest, RefundResult, RefundStatus};
use shouyin_core::{AmountRules, ChannelKind, Money};
use shouyin_ledger::refunds::{NewRefund, Refund, RefundOutcome, RefundState};
use shouyin_ledger::LedgerError;

use crate::dto::{AlarmDto, Approval, CounterEvent, OrderDto, RefundCreateRequest, RefundDto};
use crate::{ApiError, Counter, ErrorCode};

/// Which channel call moves a refund on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// (Re)send the refund with its request number.
    Send,
    /// Ask where an accepted refund stands.
    Query,
}

impl Counter {
    /// Refund (part of) a paid order, approved by a manager. Returns the
    /// refund as it stands after the first channel answer (`succeeded`,
    /// `processing`, `unknown` or `failed`); anything not final is followed
    /// in the background.
    pub async fn refund_create(
        &self,
        req: RefundCreateRequest,
        approval: Approval,
    ) -> Result<RefundDto, ApiError> {
        let requested_by = req.requested_by.trim().to_owned();
        if requested_by.is_empty() {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                "who asks for the refund must be given",
            ));
        }
        let amount = Money::parse(&req.amount, &AmountRules::sale(i64::MAX))?;
        let approver = self.approval_check(&approval).await?;
        let now = self.now();
        let new = NewRefund {
            order_no: req.order_no.trim().to_owned(),
            amount_fen: amount.fen(),
            reason: req.reason,
            requested_by,
            approver: Some(approver),
        };
        let (refund, order) = self
            .with_ledger(move |ledger| {
                let order = ledger.order_by_no(&new.order_no)?;
                let result = if order.channel == ChannelKind::Cash {
                    ledger
                        .record_cash_refund(&new, now)
                        .map(|(r, o)| (r, Some(o)))
                } else {
                    ledger.request_refund(&new, now).map(|r| (r, None))
                };
                match result {
                    Ok(done) => Ok(done),
                    Err(LedgerError::Conflict { what, .. })
                        if order.state.is_paid()
                            && ledger.refundable_fen(order.id)? < new.amount_fen =>
                    {
                        Err(ApiError::new(ErrorCode::OverRefund, what))
                    }
                    Err(e) => Err(e.into()),
                }
            })
            .await?;
        if let Some(order) = order {
            self.publish(&OrderDto::from(&order));
            self.after_refund(&refund);
            return Ok(RefundDto::from(&refund));
        }
        self.refund_step(&refund, Step::Send, true).await
    }

    /// Refund everything still refundable on an order (撤销), approved by a
    /// manager.
    pub async fn order_void(
        &self,
        order_no: String,
        requested_by: String,
        reason: Option<String>,
        approval: Approval,
    ) -> Result<RefundDto, ApiError> {
        let no = order_no.clone();
        let left = self
            .with_ledger(move |ledger| {
                let order = ledger.order_by_no(&no)?;
                Ok(ledger.refundable_fen(order.id)?)
            })
            .await?;
        if left <= 0 {
            return Err(ApiError::new(
                ErrorCode::OverRefund,
                format!("order {order_no} has nothing left to refund"),
            ));
        }
        let reason = Some(match reason.filter(|r| !r.trim().is_empty()) {
            Some(r) => format!("撤销 void: {}", r.trim()),
            None => "撤销 void".to_owned(),
        });
        self.refund_create(
            RefundCreateRequest {
                order_no,
                amount: shouyin_core::format_fen(left),
                reason,
                requested_by,
            },
            approval,
        )
        .await
    }

    /// One refund by its request number.
    pub async fn refund_get(&self, refund_no: String) -> Result<RefundDto, ApiError> {
        self.with_ledger(move |ledger| Ok(RefundDto::from(&ledger.refund_by_no(&refund_no)?)))
            .await
            .map_err(not_found)
    }

    /// An order's refunds, oldest first.
    pub async fn refunds_for_order(&self, order_no: String) -> Result<Vec<RefundDto>, ApiError> {
        self.with_ledger(move |ledger| {
            let order = ledger.order_by_no(&order_no)?;
            Ok(ledger
                .refunds_for_order(order.id)?
                .iter()
                .map(RefundDto::from)
                .collect())
        })
        .await
    }

    /// Follow every refund that is not final (call on start, beside
    /// [`Counter::recover`]). Returns them as they stand.
    pub async fn refunds_recover(&self) -> Result<Vec<RefundDto>, ApiError> {
        let open = self.with_ledger(|l| Ok(l.open_refunds()?)).await?;
        for refund in &open {
            self.spawn_refund_follower(refund.out_refund_no.clone());
        }
        Ok(open.iter().map(RefundDto::from).collect())
    }

    /// Wait until a refund is final or `timeout` passes; returns it as it
    /// then stands.
    pub async fn refund_wait_final(
        &self,
        refund_no: &str,
        timeout: Duration,
    ) -> Result<RefundDto, ApiError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let refund = self.refund_get(refund_no.to_owned()).await?;
            if refund.state.is_final() || tokio::time::Instant::now() >= deadline {
                return Ok(refund);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Make one channel call for a refund and record what it said; follow
    /// it in the background if it is not final.
    async fn refund_step(
        &self,
        refund: &Refund,
        step: Step,
        first_send: bool,
    ) -> Result<RefundDto, ApiError> {
        let refund = self.refund_call(refund, step, first_send).await?;
        if !refund.state.is_final() {
            self.spawn_refund_follower(refund.out_refund_no.clone());
        }
        Ok(RefundDto::from(&refund))
    }

    /// One channel call and its outcome committed. `first_send` is true only
    /// for the send made right after the request was written: any other
    /// send (a retry, or one after a restart, when a send may have been cut
    /// off mid-way) may repeat a refund the channel already made.
    async fn refund_call(
        &self,
        refund: &Refund,
        step: Step,
        first_send: bool,
    ) -> Result<Refund, ApiError> {
        let channel = self.channel(refund.channel)?;
        let result = match step {
            Step::Send => {
                let req = RefundRequest {
                    out_trade_no: refund.order_no.clone(),
                    out_refund_no: refund.out_refund_no.clone(),
                    refund_fen: refund.amount_fen,
                    total_fen: refund.order_amount_fen,
                    reason: refund.reason.clone(),
                };
                channel.refund(&req).await
            }
            Step::Query => {
                channel
                    .query_refund(&refund.order_no, &refund.out_refund_no)
                    .await
            }
        };
        let outcome = self.refund_outcome(refund, step, first_send, result);
        let no = refund.out_refund_no.clone();
        let now = self.now();
        // Several followers may ask about one refund (a start's recovery
        // beside a running follower); only the answer that makes it succeed
        // opens the drawer and prints the slip.
        let (refund, order, was) = self
            .with_ledger(move |ledger| {
                let was = ledger.refund_by_no(&no)?.state;
                let (refund, order) = ledger.settle_refund(&no, &outcome, now)?;
                Ok((refund, order, was))
            })
            .await?;
        if refund.state == RefundState::Succeeded && was != RefundState::Succeeded {
            self.publish(&OrderDto::from(&order));
            self.after_refund(&refund);
        }
        Ok(refund)
    }

    fn refund_outcome(
        &self,
        refund: &Refund,
        step: Step,
        first_send: bool,
        result: Result<RefundResult, ChannelError>,
    ) -> RefundOutcome {
        match result {
            Ok(r) => {
                if let Some(fen) = r.refund_fen.filter(|f| *f != refund.amount_fen) {
                    tracing::error!(
                        out_refund_no = %refund.out_refund_no,
                        "the channel reports refund {fen} fen, the ledger asked for {}",
                        refund.amount_fen
                    );
                }
                match r.status {
                    RefundStatus::Success => RefundOutcome::Succeeded {
                        channel_refund_no: r.channel_refund_no,
                        settled_at: r.refunded_at.unwrap_or_else(|| self.now()),
                    },
                    RefundStatus::Processing => RefundOutcome::Processing {
                        channel_refund_no: r.channel_refund_no,
                    },
                    RefundStatus::Closed => RefundOutcome::Failed {
                        reason: "the channel closed the refund".into(),
                    },
                    RefundStatus::Abnormal => RefundOutcome::Failed {
                        reason: "the refund failed at the bank (abnormal); handle it in the merchant platform".into(),
                    },
                }
            }
            // A refusal of the first send is final; a refusal of a query
            // (e.g. "no such refund" while the first answer was lost) is not:
            // the follower sends the refund again with the same number.
            Err(ChannelError::Definite { code, message }) if step == Step::Send && first_send => {
                RefundOutcome::Failed {
                    reason: format!("{code}: {message}"),
                }
            }
            Err(ChannelError::Config(message)) if first_send => {
                RefundOutcome::Failed { reason: message }
            }
            // A refusal of a repeat: the earlier send may have moved the
            // money, so the amount stays reserved until the channel says
            // the refund succeeded (or a person settles it).
            Err(ChannelError::Definite { code, message }) if step == Step::Send => {
                tracing::warn!(
                    out_refund_no = %refund.out_refund_no,
                    "the channel refused a repeat of a refund an earlier send may have made ({code}: {message}); it stays open"
                );
                RefundOutcome::Unknown {
                    reason: format!("a repeat was refused ({code}: {message}); an earlier send may have been taken"),
                }
            }
            Err(ChannelError::Untrusted { reason }) => {
                let message = format!(
                    "{} sent a refund answer whose signature does not verify: {reason}",
                    refund.channel
                );
                tracing::error!(out_refund_no = %refund.out_refund_no, "{message}");
                self.emit(CounterEvent::Alarm {
                    alarm: AlarmDto {
                        kind: "untrusted_answer".to_owned(),
                        at: shouyin_ledger::ts(self.now()),
                        channel: Some(refund.channel),
                        order_no: Some(refund.order_no.clone()),
                        message,
                    },
                });
                RefundOutcome::Unknown { reason }
            }
            Err(e) => RefundOutcome::Unknown {
                reason: e.to_string(),
            },
        }
    }

    /// Keep asking about a refund until it is final or the counter shuts
    /// down: processing ones are queried, unknown ones re-sent with the same
    /// request number.
    pub(crate) fn spawn_refund_follower(&self, out_refund_no: String) {
        let counter = self.clone();
        tokio::spawn(async move {
            let mut shutdown = counter.inner.shutdown.subscribe();
            let mut attempt: u32 = 0;
            loop {
                attempt += 1;
                let wait = Duration::from_millis(500u64.saturating_mul(1u64 << attempt.min(6)))
                    .min(
                        counter
                            .inner
                            .settings
                            .retry_cap
                            .max(Duration::from_millis(500)),
                    );
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => return,
                }
                if *shutdown.borrow() {
                    return;
                }
                let no = out_refund_no.clone();
                let refund = match counter.with_ledger(move |l| Ok(l.refund_by_no(&no)?)).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(%out_refund_no, "refund follower cannot read the refund: {e}");
                        return;
                    }
                };
                if refund.state.is_final() {
                    return;
                }
                // An accepted refund is queried; now and then it is sent again
                // (harmless with the same number), in case the channel's
                // query cannot find what its refund call accepted.
                let step = if refund.state == RefundState::Processing && attempt % 4 != 0 {
                    Step::Query
                } else {
                    Step::Send
                };
                let result = counter.refund_call(&refund, step, false).await;
                match result {
                    Ok(r) if r.state.is_final() => return,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(%out_refund_no, "refund not settled yet: {e}"),
                }
            }
        });
    }
}

fn not_found(e: ApiError) -> ApiError {
    if e.code == ErrorCode::InvalidInput && e.message.contains("no refund") {
        ApiError::new(ErrorCode::NotFound, e.message)
    } else {
        e
    }
}
