//! Payments by the customer's code (付款码): the order plus what must hold
//! for every code payment, checked in the same transaction that writes it.
//!
//! * One code payment at a time: while one is not final, another is refused
//!   (the till takes no second scan until the first is resolved).
//! * A code is sent once: its SHA-256 is unique in the ledger, so a code
//!   shown twice is refused locally, also after a restart.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};

use crate::orders::{create_in, get_order, NewOrder, Order};
use crate::{parse_ts, ts, Ledger, LedgerError, Result};

/// What the ledger keeps about a code payment besides its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodePayment {
    pub order_id: i64,
    /// When the channel's password window ends; an unpaid code payment is
    /// cancelled or reversed then.
    pub window_ends_at: DateTime<Utc>,
}

/// The digest stored for a code.
pub fn code_digest(code: &str) -> String {
    hex::encode(Sha256::digest(code.as_bytes()))
}

impl Ledger {
    /// Commit a new code-payment order (state `created`) before the pay call.
    /// Refused with [`LedgerError::Conflict`] while another code payment is
    /// open, and with [`LedgerError::Invalid`] for a code already sent.
    pub fn create_code_order(
        &mut self,
        new: &NewOrder,
        code: &str,
        window_ends_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Order> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let open: Option<(String, String)> = tx
            .query_row(
                "SELECT o.out_trade_no, o.state FROM code_payments c JOIN orders o ON o.id = c.order_id
                 WHERE o.state IN ('created', 'pending', 'unknown') ORDER BY o.id LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((order, state)) = open {
            return Err(LedgerError::Conflict {
                order,
                state: state
                    .parse()
                    .map_err(|_| LedgerError::Invalid(state.clone()))?,
                what: "a code payment is still being resolved; no second scan until it is".into(),
            });
        }
        let digest = code_digest(code);
        let used: Option<String> = tx
            .query_row(
                "SELECT o.out_trade_no FROM code_payments c JOIN orders o ON o.id = c.order_id
                 WHERE c.code_sha256 = ?1",
                [&digest],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(order) = used {
            return Err(LedgerError::Invalid(format!(
                "this payment code was already used for order {order}; ask the customer to refresh it"
            )));
        }
        let order = create_in(&tx, &self.terminal, new, now)?;
        tx.execute(
            "INSERT INTO code_payments (order_id, code_sha256, window_ends_at) VALUES (?1, ?2, ?3)",
            params![order.id, digest, ts(window_ends_at)],
        )?;
        let order = get_order(&tx, order.id)?;
        tx.commit()?;
        Ok(order)
    }

    /// The code-payment facts of an order, if it is a code payment.
    pub fn code_payment(&self, order_id: i64) -> Result<Option<CodePayment>> {
        let row: Option<String> = self
            .conn
            .query_row(
                "SELECT window_ends_at FROM code_payments WHERE order_id = ?1",
                [order_id],
                |r| r.get(0),
            )
            .optional()?;
        match row {
            None => Ok(None),
            Some(text) => Ok(Some(CodePayment {
                order_id,
                window_ends_at: parse_ts(&text).ok_or_else(|| {
                    LedgerError::Invalid(format!("bad window end {text:?} in the ledger"))
                })?,
            })),
        }
    }

    /// Whether a code was ever sent from this ledger.
    pub fn code_was_used(&self, code: &str) -> Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM code_payments WHERE code_sha256 = ?1",
                [code_digest(code)],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }
}
