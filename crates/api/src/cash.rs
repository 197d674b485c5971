//! Cash sales (现金收款): the amount, what the customer handed over and the
//! change (找零), committed as paid in one step inside the open shift.
//!
//! [`Counter::charge_cash`] is the one place a cash sale is committed: what
//! must follow a committed sale at the counter (opening the cash drawer,
//! the receipt) hangs off the end of it, after the commit, so a device
//! that fails never loses or blocks a sale.

use shouyin_core::{AmountRules, ChannelKind, Money, OrderState};
use shouyin_ledger::{CashTender, Change, NewOrder};

use crate::{clean, ApiError, ChargeRequest, Counter, ErrorCode, OrderDto};

impl Counter {
    /// Book a paid cash sale. Refused with `shift_not_open` when no shift
    /// is open (checked by the ledger in the sale's own transaction), with
    /// `tendered_too_low` when less than the amount was handed over.
    pub(crate) async fn charge_cash(&self, req: ChargeRequest) -> Result<OrderDto, ApiError> {
        let now = self.now();
        let order = self
            .with_ledger(move |ledger| {
                let rules = AmountRules::sale(ledger.terminal().sale_limit_fen);
                let amount = Money::parse(&req.amount, &rules)?;
                let tender = match req.tendered.as_deref() {
                    Some(text) => Some(tender_for(amount, text)?),
                    None => None,
                };
                let paid = Change {
                    paid_at: Some(now),
                    ..Change::to(OrderState::Paid)
                };
                // One transaction: a cash order is never left `created`.
                let order = ledger.create_paid_order(
                    &NewOrder {
                        amount,
                        channel: ChannelKind::Cash,
                        cashier: clean(req.cashier),
                        note: clean(req.note),
                    },
                    &paid,
                    tender,
                    now,
                )?;
                Ok(OrderDto::from(&order))
            })
            .await?;
        // The sale is committed: from here on only what follows a sale
        // (the drawer, the receipt), never anything that could undo it.
        self.publish(&order);
        self.after_cash_sale(&order);
        Ok(order)
    }
}

/// What was handed over, as typed, against the amount: integer fen, at
/// least the amount.
fn tender_for(amount: Money, tendered: &str) -> Result<CashTender, ApiError> {
    let rules = AmountRules::sale(i64::MAX);
    let handed = Money::parse(tendered, &rules).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidAmount,
            format!("the cash handed over: {e}"),
        )
    })?;
    CashTender::new(amount.fen(), handed.fen()).map_err(|_| {
        ApiError::new(
            ErrorCode::TenderedTooLow,
            format!(
                "{} handed over is less than the amount {}",
                handed.to_decimal_string(),
                amount.to_decimal_string()
            ),
        )
    })
}
