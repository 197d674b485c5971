//! Refunds: each has its own request number (`out_refund_no`, the channel's
//! idempotency key), is committed before the channel hears of it, and is
//! followed until final.
//!
//! The amount is reserved when the request is written: inside one IMMEDIATE
//! transaction the refunds already succeeded or still open are added up, and
//! a request that would take the total over what was paid is refused. Two
//! refunds at once, even from two programs, cannot both pass, because SQLite
//! serialises IMMEDIATE transactions on the file. A failed refund releases
//! its reservation.
//!
//! When the money moves, one transaction marks the refund succeeded, moves
//! the order to part_refunded/refunded (with its event), appends the
//! `refund_succeeded` event head office counts, and writes the audit entry.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, OptionalExtension, Row, Transaction, TransactionBehavior};
use serde::{Deserialize, Serialize};
use serde_json::json;
use shouyin_core::{ChannelKind, OrderState};

use crate::audit::{append_audit, NewAudit};
use crate::orders::{append_event, get_order, get_order_by_no, transition_in};
use crate::{parse_date, parse_ts, ts, Change, Ledger, LedgerError, Order, Result};

/// The longest request number any channel accepts (WeChat out_refund_no and
/// Alipay out_request_no are both at most 64).
pub const MAX_OUT_REFUND_NO_LEN: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundState {
    /// Written, not yet answered by the channel.
    Requested,
    /// The channel accepted it; the money is on its way.
    Processing,
    Succeeded,
    /// The channel said no (or the bank failed it); the amount is released.
    Failed,
    /// No usable answer; retried with the same request number.
    Unknown,
}

impl RefundState {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundState::Requested => "requested",
            RefundState::Processing => "processing",
            RefundState::Succeeded => "succeeded",
            RefundState::Failed => "failed",
            RefundState::Unknown => "unknown",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, RefundState::Succeeded | RefundState::Failed)
    }
}

impl FromStr for RefundState {
    type Err = LedgerError;
    fn from_str(s: &str) -> Result<RefundState> {
        [
            RefundState::Requested,
            RefundState::Processing,
            RefundState::Succeeded,
            RefundState::Failed,
            RefundState::Unknown,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or_else(|| LedgerError::Invalid(format!("'{s}' is not a refund state")))
    }
}

impl fmt::Display for RefundState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub id: i64,
    pub order_id: i64,
    pub order_no: String,
    pub channel: ChannelKind,
    /// The original payment's amount (channels want it with the refund).
    pub order_amount_fen: i64,
    pub out_refund_no: String,
    pub amount_fen: i64,
    pub state: RefundState,
    pub reason: Option<String>,
    pub requested_by: Option<String>,
    pub approver: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub settled_at: Option<DateTime<Utc>>,
    pub business_date: NaiveDate,
    pub channel_refund_no: Option<String>,
}

/// A refund about to be written.
#[derive(Debug, Clone)]
pub struct NewRefund {
    pub order_no: String,
    pub amount_fen: i64,
    pub reason: Option<String>,
    pub requested_by: String,
    pub approver: Option<String>,
}

/// What the channel (or the till, for cash) said about a refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    Succeeded {
        channel_refund_no: Option<String>,
        settled_at: DateTime<Utc>,
    },
    Processing {
        channel_refund_no: Option<String>,
    },
    Unknown {
        reason: String,
    },
    Failed {
        reason: String,
    },
}

const REFUND_COLUMNS: &str = "r.id, r.order_id, o.out_trade_no, o.channel, o.amount_fen, \
    r.out_refund_no, r.amount_fen, r.state, r.reason, r.requested_by, r.approver, \
    r.requested_at, r.settled_at, r.business_date, r.channel_refund_no";

fn refund_from_row(row: &Row<'_>) -> rusqlite::Result<Refund> {
    let bad = |i: usize, what: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("bad {what} in refunds").into(),
        )
    };
    let channel: String = row.get(3)?;
    let state: String = row.get(7)?;
    let requested: String = row.get(11)?;
    let settled: Option<String> = row.get(12)?;
    let date: String = row.get(13)?;
    Ok(Refund {
        id: row.get(0)?,
        order_id: row.get(1)?,
        order_no: row.get(2)?,
        channel: channel.parse().map_err(|_| bad(3, "channel"))?,
        order_amount_fen: row.get(4)?,
        out_refund_no: row.get(5)?,
        amount_fen: row.get(6)?,
        state: state.parse().map_err(|_| bad(7, "state"))?,
        reason: row.get(8)?,
        requested_by: row.get(9)?,
        approver: row.get(10)?,
        requested_at: parse_ts(&requested).ok_or_else(|| bad(11, "time"))?,
        settled_at: match settled {
            Some(s) => Some(parse_ts(&s).ok_or_else(|| bad(12, "time"))?),
            None => None,
        },
        business_date: parse_date(&date).ok_or_else(|| bad(13, "date"))?,
        channel_refund_no: row.get(14)?,
    })
}

pub(crate) fn select(
    conn: &rusqlite::Connection,
    clause: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<Refund>> {
    let sql = format!(
        "SELECT {REFUND_COLUMNS} FROM refunds r JOIN orders o ON o.id = r.order_id WHERE {clause} ORDER BY r.id"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(args, refund_from_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

fn refund_by_no_in(conn: &rusqlite::Connection, out_refund_no: &str) -> Result<Refund> {
    select(conn, "r.out_refund_no = ?1", [out_refund_no])?
        .into_iter()
        .next()
        .ok_or_else(|| LedgerError::Invalid(format!("no refund {out_refund_no}")))
}

/// Money refunded or reserved by refunds not yet failed.
fn reserved_fen(tx: &Transaction<'_>, order_id: i64) -> Result<i64> {
    Ok(tx.query_row(
        "SELECT COALESCE(SUM(amount_fen), 0) FROM refunds WHERE order_id = ?1 AND state != 'failed'",
        [order_id],
        |r| r.get(0),
    )?)
}

fn audit_detail(r: &Refund) -> serde_json::Value {
    json!({
        "order_no": r.order_no,
        "out_refund_no": r.out_refund_no,
        "refund_fen": r.amount_fen,
        "channel": r.channel.as_str(),
        "state": r.state.as_str(),
        "reason": r.reason,
    })
}

/// Write a refund request (state `requested`) with its reservation check and
/// audit entry, inside `tx`.
fn request_in(tx: &Transaction<'_>, new: &NewRefund, now: DateTime<Utc>) -> Result<Refund> {
    if new.amount_fen <= 0 {
        return Err(LedgerError::Invalid("a refund must be above zero".into()));
    }
    let order: Order = get_order_by_no(tx, &new.order_no)?;
    if !matches!(order.state, OrderState::Paid | OrderState::PartRefunded) {
        return Err(LedgerError::Conflict {
            order: order.out_trade_no,
            state: order.state,
            what: "only a paid order can be refunded".into(),
        });
    }
    let reserved = reserved_fen(tx, order.id)?;
    let left = order.amount.fen() - reserved;
    if new.amount_fen > left {
        return Err(LedgerError::Conflict {
            order: order.out_trade_no,
            state: order.state,
            what: format!(
                "refunding {} would exceed what was paid: {} is left to refund (paid {}, refunded or in progress {})",
                shouyin_core::format_fen(new.amount_fen),
                shouyin_core::format_fen(left),
                shouyin_core::format_fen(order.amount.fen()),
                shouyin_core::format_fen(reserved),
            ),
        });
    }
    let count: i64 = tx.query_row(
        "SELECT count(*) FROM refunds WHERE order_id = ?1",
        [order.id],
        |r| r.get(0),
    )?;
    let out_refund_no = format!("{}_R{}", order.out_trade_no, count + 1);
    if out_refund_no.len() > MAX_OUT_REFUND_NO_LEN {
        return Err(LedgerError::Invalid(format!(
            "refund number {out_refund_no} is longer than channels accept"
        )));
    }
    let reason = new
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    tx.execute(
        "INSERT INTO refunds (order_id, out_refund_no, amount_fen, state, reason, requested_by,
                              approver, requested_at, business_date, shift_id)
         VALUES (?1, ?2, ?3, 'requested', ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            order.id,
            out_refund_no,
            new.amount_fen,
            reason,
            new.requested_by,
            new.approver,
            ts(now),
            order_calendar_date(tx, now)?.to_string(),
            crate::shifts::open_shift_id(tx)?,
        ],
    )?;
    let refund = refund_by_no_in(tx, &out_refund_no)?;
    append_audit(
        tx,
        &NewAudit::new(&new.requested_by, "refund_requested", audit_detail(&refund))
            .approved_by(new.approver.clone()),
        Some(order.id),
        now,
    )?;
    Ok(refund)
}

fn order_calendar_date(tx: &Transaction<'_>, at: DateTime<Utc>) -> Result<NaiveDate> {
    let (tz, cutoff): (String, String) = tx.query_row(
        "SELECT timezone, day_cutoff FROM terminal WHERE id = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let calendar = shouyin_core::BusinessCalendar::parse(&tz, &cutoff)
        .map_err(|e| LedgerError::Invalid(e.to_string()))?;
    Ok(calendar.business_date(at))
}

/// Apply an outcome inside `tx`. A refund already final is left as it is
/// (a late or repeated answer changes nothing).
fn settle_in(
    tx: &Transaction<'_>,
    out_refund_no: &str,
    outcome: &RefundOutcome,
    now: DateTime<Utc>,
) -> Result<(Refund, Order)> {
    let refund = refund_by_no_in(tx, out_refund_no)?;
    if refund.state.is_final() {
        let order = get_order(tx, refund.order_id)?;
        return Ok((refund, order));
    }
    match outcome {
        RefundOutcome::Succeeded {
            channel_refund_no,
            settled_at,
        } => {
            let date = order_calendar_date(tx, *settled_at)?;
            tx.execute(
                "UPDATE refunds SET state = 'succeeded', settled_at = ?2, business_date = ?3,
                    channel_refund_no = COALESCE(?4, channel_refund_no)
                 WHERE id = ?1",
                params![
                    refund.id,
                    ts(*settled_at),
                    date.to_string(),
                    channel_refund_no
                ],
            )?;
            let order = get_order(tx, refund.order_id)?;
            let refunded = order.refunded_fen + refund.amount_fen;
            let to = if refunded >= order.amount.fen() {
                OrderState::Refunded
            } else {
                OrderState::PartRefunded
            };
            let change = Change {
                refunded_fen: Some(refunded),
                ..Change::to(to)
            }
            .with_detail("out_refund_no", refund.out_refund_no.as_str())
            .with_detail("refund_fen", refund.amount_fen);
            let order = transition_in(tx, order.id, &change, now)?;
            append_event(
                tx,
                Some(order.id),
                "refund_succeeded",
                &json!({
                    "order_no": order.out_trade_no,
                    "out_refund_no": refund.out_refund_no,
                    "refund_fen": refund.amount_fen,
                    "channel": order.channel.as_str(),
                    "business_date": date.to_string(),
                    "settled_at": ts(*settled_at),
                    "approver": refund.approver,
                }),
                now,
            )?;
            let refund = refund_by_no_in(tx, out_refund_no)?;
            append_audit(
                tx,
                &NewAudit::new(
                    refund.requested_by.as_deref().unwrap_or("system"),
                    "refund_succeeded",
                    audit_detail(&refund),
                )
                .approved_by(refund.approver.clone()),
                Some(order.id),
                now,
            )?;
            Ok((refund, order))
        }
        RefundOutcome::Failed { reason } => {
            tx.execute(
                "UPDATE refunds SET state = 'failed', settled_at = ?2,
                    reason = CASE WHEN reason IS NULL THEN ?3 ELSE reason || ' — ' || ?3 END
                 WHERE id = ?1",
                params![refund.id, ts(now), format!("failed: {reason}")],
            )?;
            let refund = refund_by_no_in(tx, out_refund_no)?;
            append_audit(
                tx,
                &NewAudit::new(
                    refund.requested_by.as_deref().unwrap_or("system"),
                    "refund_failed",
                    audit_detail(&refund),
                )
                .approved_by(refund.approver.clone()),
                Some(refund.order_id),
                now,
            )?;
            let order = get_order(tx, refund.order_id)?;
            Ok((refund, order))
        }
        RefundOutcome::Processing { channel_refund_no } => {
            tx.execute(
                "UPDATE refunds SET state = 'processing',
                    channel_refund_no = COALESCE(?2, channel_refund_no) WHERE id = ?1",
                params![refund.id, channel_refund_no],
            )?;
            Ok((
                refund_by_no_in(tx, out_refund_no)?,
                get_order(tx, refund.order_id)?,
            ))
        }
        RefundOutcome::Unknown { .. } => {
            // Processing stays processing: the channel accepted it once.
            if refund.state == RefundState::Requested {
                tx.execute(
                    "UPDATE refunds SET state = 'unknown' WHERE id = ?1",
                    [refund.id],
                )?;
            }
            Ok((
                refund_by_no_in(tx, out_refund_no)?,
                get_order(tx, refund.order_id)?,
            ))
        }
    }
}

impl Ledger {
    /// Write a refund request before the channel is called, reserving its
    /// amount. Refused (conflict) if the order is not paid or the amount is
    /// more than is left to refund.
    pub fn request_refund(&mut self, new: &NewRefund, now: DateTime<Utc>) -> Result<Refund> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let refund = request_in(&tx, new, now)?;
        tx.commit()?;
        Ok(refund)
    }

    /// A cash refund: the money leaves the drawer now, so request and
    /// success are one transaction, inside the open shift
    /// ([`LedgerError::ShiftNotOpen`] without one).
    pub fn record_cash_refund(
        &mut self,
        new: &NewRefund,
        now: DateTime<Utc>,
    ) -> Result<(Refund, Order)> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if crate::shifts::open_shift_id(&tx)?.is_none() {
            return Err(LedgerError::ShiftNotOpen);
        }
        let requested = request_in(&tx, new, now)?;
        if requested.channel != ChannelKind::Cash {
            return Err(LedgerError::Invalid(format!(
                "order {} was paid by {}, not cash",
                requested.order_no, requested.channel
            )));
        }
        let done = settle_in(
            &tx,
            &requested.out_refund_no,
            &RefundOutcome::Succeeded {
                channel_refund_no: None,
                settled_at: now,
            },
            now,
        )?;
        tx.commit()?;
        Ok(done)
    }

    /// A refund the channel made on its own account (a cancel that found
    /// the trade paid and reversed it, or a trade the channel reports
    /// refunded): written as a refund row that succeeded at once, with the
    /// order's change, the `refund_succeeded` event and the audit entry, so
    /// reports, head office and the export count it like any other refund.
    pub fn record_channel_refund(
        &mut self,
        order_no: &str,
        amount_fen: i64,
        reason: &str,
        channel_refund_no: Option<String>,
        settled_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(Refund, Order)> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let requested = request_in(
            &tx,
            &NewRefund {
                order_no: order_no.to_owned(),
                amount_fen,
                reason: Some(reason.to_owned()),
                requested_by: "channel".to_owned(),
                approver: None,
            },
            now,
        )?;
        let done = settle_in(
            &tx,
            &requested.out_refund_no,
            &RefundOutcome::Succeeded {
                channel_refund_no,
                settled_at,
            },
            now,
        )?;
        tx.commit()?;
        Ok(done)
    }

    /// Record what the channel said about a refund.
    pub fn settle_refund(
        &mut self,
        out_refund_no: &str,
        outcome: &RefundOutcome,
        now: DateTime<Utc>,
    ) -> Result<(Refund, Order)> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let done = settle_in(&tx, out_refund_no, outcome, now)?;
        tx.commit()?;
        Ok(done)
    }

    pub fn refund_by_no(&self, out_refund_no: &str) -> Result<Refund> {
        refund_by_no_in(&self.conn, out_refund_no)
    }

    pub fn refunds_for_order(&self, order_id: i64) -> Result<Vec<Refund>> {
        select(&self.conn, "r.order_id = ?1", [order_id])
    }

    /// Refunds not yet final, oldest first: what is followed after a start.
    pub fn open_refunds(&self) -> Result<Vec<Refund>> {
        select(
            &self.conn,
            "r.state IN ('requested', 'processing', 'unknown')",
            [],
        )
    }

    /// Refunds that succeeded on a business day.
    pub fn refunds_on(&self, date: NaiveDate) -> Result<Vec<Refund>> {
        select(
            &self.conn,
            "r.state = 'succeeded' AND r.business_date = ?1",
            [date.to_string()],
        )
    }

    /// The money still refundable on an order (paid minus refunded or in
    /// progress).
    pub fn refundable_fen(&self, order_id: i64) -> Result<i64> {
        let order = get_order(&self.conn, order_id)?;
        let reserved: i64 = self
            .conn
            .query_row(
                "SELECT COALESCE(SUM(amount_fen), 0) FROM refunds WHERE order_id = ?1 AND state != 'failed'",
                [order_id],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        Ok(if order.state.is_paid() {
            order.amount.fen() - reserved
        } else {
            0
        })
    }
}
