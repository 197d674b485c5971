//! Shifts (班次) and the cash drawer: open with a counted float, pay-ins and
//! pay-outs with reasons, close with a blind count.
//!
//! Closing takes the counted cash first and only then computes what the
//! drawer should hold, so the count cannot be bent towards the expected
//! figure; the difference is recorded as it is (长款 over / 短款 short),
//! never forced to match. The Z report is frozen as JSON in the shift row,
//! which a trigger makes immutable once closed, so reprints never change.
//!
//! Expected cash = float + cash sales paid during the shift − cash refunds
//! settled during the shift + pay-ins − pay-outs. The ledger belongs to one
//! terminal, so every sale in it is this terminal's.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row, Transaction, TransactionBehavior};
use serde::{Deserialize, Serialize};
use serde_json::json;
use shouyin_core::ChannelKind;

use crate::audit::{append_audit, NewAudit};
use crate::orders::append_event;
use crate::{parse_ts, ts, Ledger, LedgerError, Result};

/// What moved cash in or out of the drawer outside a sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    /// 存入: change brought in.
    PayIn,
    /// 支出: money taken out (a supplier paid from the till, a bank drop).
    PayOut,
    /// The drawer opened without a sale (no money moves).
    DrawerOpen,
}

impl MovementKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MovementKind::PayIn => "pay_in",
            MovementKind::PayOut => "pay_out",
            MovementKind::DrawerOpen => "drawer_open",
        }
    }

    fn parse(s: &str) -> Option<MovementKind> {
        match s {
            "pay_in" => Some(MovementKind::PayIn),
            "pay_out" => Some(MovementKind::PayOut),
            "drawer_open" => Some(MovementKind::DrawerOpen),
            _ => None,
        }
    }

    /// The audit action and ledger event kind.
    fn action(self) -> &'static str {
        match self {
            MovementKind::PayIn => "cash_pay_in",
            MovementKind::PayOut => "cash_pay_out",
            MovementKind::DrawerOpen => "cash_drawer_opened",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashMovement {
    pub id: i64,
    pub shift_id: i64,
    pub kind: MovementKind,
    pub amount_fen: i64,
    pub reason: String,
    pub actor: String,
    pub approver: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Shift {
    pub id: i64,
    pub cashier: String,
    pub opened_at: DateTime<Utc>,
    pub float_fen: i64,
    pub closed_at: Option<DateTime<Utc>>,
    pub counted_fen: Option<i64>,
    pub expected_fen: Option<i64>,
    /// The frozen Z report of a closed shift.
    pub report: Option<ZReport>,
}

/// One channel's takings during a shift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelTakings {
    pub channel: ChannelKind,
    /// Paid and confirmed by the channel (or cash taken).
    pub confirmed_fen: i64,
    pub confirmed_count: i64,
    /// Recorded by a manager without the channel's confirmation (待核实).
    pub unconfirmed_fen: i64,
    pub unconfirmed_count: i64,
    /// Still waiting or unknown at close (not takings).
    pub unresolved_count: i64,
    /// Refunds settled during the shift.
    pub refunds_fen: i64,
    pub refunds_count: i64,
}

/// The Z report (交班报表) as it stood at close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZReport {
    pub shift_id: i64,
    pub store: String,
    pub terminal: String,
    pub cashier: String,
    /// Who counted and closed (may differ from who opened).
    pub closed_by: String,
    pub opened_at: String,
    pub closed_at: String,
    /// The business day the shift opened on.
    pub business_date: String,
    pub float_fen: i64,
    pub cash_sales_fen: i64,
    pub cash_sales_count: i64,
    pub cash_refunds_fen: i64,
    pub cash_refunds_count: i64,
    pub pay_ins_fen: i64,
    pub pay_outs_fen: i64,
    pub drawer_opens: i64,
    pub expected_fen: i64,
    pub counted_fen: i64,
    /// counted − expected: above zero is over (长款), below zero short (短款).
    pub over_short_fen: i64,
    pub channels: Vec<ChannelTakings>,
    pub movements: Vec<CashMovement>,
}

const SHIFT_COLUMNS: &str =
    "id, cashier, opened_at, float_fen, closed_at, counted_fen, expected_fen, report";

fn shift_from_row(row: &Row<'_>) -> rusqlite::Result<Shift> {
    let bad = |i: usize, what: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("bad {what} in shifts").into(),
        )
    };
    let opened: String = row.get(2)?;
    let closed: Option<String> = row.get(4)?;
    let report: Option<String> = row.get(7)?;
    Ok(Shift {
        id: row.get(0)?,
        cashier: row.get(1)?,
        opened_at: parse_ts(&opened).ok_or_else(|| bad(2, "time"))?,
        float_fen: row.get(3)?,
        closed_at: match closed {
            Some(s) => Some(parse_ts(&s).ok_or_else(|| bad(4, "time"))?),
            None => None,
        },
        counted_fen: row.get(5)?,
        expected_fen: row.get(6)?,
        report: match report {
            Some(text) => Some(serde_json::from_str(&text).map_err(|_| bad(7, "report"))?),
            None => None,
        },
    })
}

fn movement_from_row(row: &Row<'_>) -> rusqlite::Result<CashMovement> {
    let bad = |i: usize, what: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("bad {what} in cash_movements").into(),
        )
    };
    let kind: String = row.get(2)?;
    let at: String = row.get(7)?;
    Ok(CashMovement {
        id: row.get(0)?,
        shift_id: row.get(1)?,
        kind: MovementKind::parse(&kind).ok_or_else(|| bad(2, "kind"))?,
        amount_fen: row.get(3)?,
        reason: row.get(4)?,
        actor: row.get(5)?,
        approver: row.get(6)?,
        at: parse_ts(&at).ok_or_else(|| bad(7, "time"))?,
    })
}

fn open_shift_in(conn: &rusqlite::Connection) -> Result<Option<Shift>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {SHIFT_COLUMNS} FROM shifts WHERE closed_at IS NULL ORDER BY id DESC LIMIT 1"
            ),
            [],
            shift_from_row,
        )
        .optional()?)
}

/// The open shift's id, read inside the caller's transaction.
pub(crate) fn open_shift_id(conn: &rusqlite::Connection) -> Result<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT id FROM shifts WHERE closed_at IS NULL ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?)
}

fn movements_of(conn: &rusqlite::Connection, shift_id: i64) -> Result<Vec<CashMovement>> {
    let mut stmt = conn.prepare(
        "SELECT id, shift_id, kind, amount_fen, reason, actor, approver, at
         FROM cash_movements WHERE shift_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([shift_id], movement_from_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Add up the shift from the ledger, as of `until`.
fn compute_report(
    tx: &Transaction<'_>,
    ledger_terminal: &crate::TerminalRecord,
    shift: &Shift,
    closed_by: &str,
    counted_fen: i64,
    until: DateTime<Utc>,
) -> Result<ZReport> {
    let from = ts(shift.opened_at);
    let to = ts(until);
    let mut channels = Vec::new();
    // What the shift holds: the orders and refunds taken while it was open
    // (stamped with its id), whenever the channel confirmed them.
    for channel in ChannelKind::ALL {
        let (confirmed_fen, confirmed_count): (i64, i64) = tx.query_row(
            "SELECT COALESCE(SUM(amount_fen), 0), count(*) FROM orders
             WHERE channel = ?1 AND shift_id = ?2
               AND state IN ('paid', 'part_refunded', 'refunded')",
            params![channel.as_str(), shift.id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let (unconfirmed_fen, unconfirmed_count): (i64, i64) = tx.query_row(
            "SELECT COALESCE(SUM(amount_fen), 0), count(*) FROM orders
             WHERE channel = ?1 AND shift_id = ?2 AND state = 'unverified'",
            params![channel.as_str(), shift.id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let unresolved_count: i64 = tx.query_row(
            "SELECT count(*) FROM orders
             WHERE channel = ?1 AND shift_id = ?2 AND state IN ('created', 'pending', 'unknown')",
            params![channel.as_str(), shift.id],
            |r| r.get(0),
        )?;
        let (refunds_fen, refunds_count): (i64, i64) = tx.query_row(
            "SELECT COALESCE(SUM(r.amount_fen), 0), count(*) FROM refunds r
             JOIN orders o ON o.id = r.order_id
             WHERE o.channel = ?1 AND r.shift_id = ?2 AND r.state = 'succeeded'",
            params![channel.as_str(), shift.id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        channels.push(ChannelTakings {
            channel,
            confirmed_fen,
            confirmed_count,
            unconfirmed_fen,
            unconfirmed_count,
            unresolved_count,
            refunds_fen,
            refunds_count,
        });
    }
    let movements = movements_of(tx, shift.id)?;
    let sum = |kind: MovementKind| -> i64 {
        movements
            .iter()
            .filter(|m| m.kind == kind)
            .map(|m| m.amount_fen)
            .sum()
    };
    let pay_ins_fen = sum(MovementKind::PayIn);
    let pay_outs_fen = sum(MovementKind::PayOut);
    let drawer_opens = movements
        .iter()
        .filter(|m| m.kind == MovementKind::DrawerOpen)
        .count() as i64;
    let cash = channels
        .iter()
        .find(|c| c.channel == ChannelKind::Cash)
        .cloned()
        .ok_or_else(|| LedgerError::Invalid("no cash channel".into()))?;
    let expected_fen =
        shift.float_fen + cash.confirmed_fen - cash.refunds_fen + pay_ins_fen - pay_outs_fen;
    Ok(ZReport {
        shift_id: shift.id,
        store: ledger_terminal.store.clone(),
        terminal: ledger_terminal.terminal.to_string(),
        cashier: shift.cashier.clone(),
        closed_by: closed_by.to_owned(),
        opened_at: from,
        closed_at: to,
        business_date: ledger_terminal
            .calendar
            .business_date(shift.opened_at)
            .to_string(),
        float_fen: shift.float_fen,
        cash_sales_fen: cash.confirmed_fen,
        cash_sales_count: cash.confirmed_count,
        cash_refunds_fen: cash.refunds_fen,
        cash_refunds_count: cash.refunds_count,
        pay_ins_fen,
        pay_outs_fen,
        drawer_opens,
        expected_fen,
        counted_fen,
        over_short_fen: counted_fen - expected_fen,
        channels,
        movements,
    })
}

impl Ledger {
    /// Open a shift with the float as counted. One shift at a time.
    pub fn open_shift(
        &mut self,
        cashier: &str,
        float_fen: i64,
        now: DateTime<Utc>,
    ) -> Result<Shift> {
        let cashier = crate::users::clean_name(cashier)?;
        if float_fen < 0 {
            return Err(LedgerError::Invalid("the float cannot be negative".into()));
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(open) = open_shift_in(&tx)? {
            return Err(LedgerError::Invalid(format!(
                "shift {} (opened by {}) is still open; close it first",
                open.id, open.cashier
            )));
        }
        tx.execute(
            "INSERT INTO shifts (cashier, opened_at, float_fen) VALUES (?1, ?2, ?3)",
            params![cashier, ts(now), float_fen],
        )?;
        let id = tx.last_insert_rowid();
        append_event(
            &tx,
            None,
            "shift_opened",
            &json!({ "shift_id": id, "cashier": cashier, "float_fen": float_fen, "opened_at": ts(now) }),
            now,
        )?;
        let shift = tx.query_row(
            &format!("SELECT {SHIFT_COLUMNS} FROM shifts WHERE id = ?1"),
            [id],
            shift_from_row,
        )?;
        tx.commit()?;
        Ok(shift)
    }

    pub fn current_shift(&self) -> Result<Option<Shift>> {
        open_shift_in(&self.conn)
    }

    pub fn shift(&self, id: i64) -> Result<Shift> {
        self.conn
            .query_row(
                &format!("SELECT {SHIFT_COLUMNS} FROM shifts WHERE id = ?1"),
                [id],
                shift_from_row,
            )
            .optional()?
            .ok_or_else(|| LedgerError::Invalid(format!("no shift {id}")))
    }

    /// Shifts, newest first.
    pub fn shifts(&self, limit: u32) -> Result<Vec<Shift>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {SHIFT_COLUMNS} FROM shifts ORDER BY id DESC LIMIT ?1"
        ))?;
        let rows = stmt.query_map([i64::from(limit)], shift_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    pub fn shift_movements(&self, shift_id: i64) -> Result<Vec<CashMovement>> {
        movements_of(&self.conn, shift_id)
    }

    /// Record a pay-in, pay-out or drawer opening in the open shift, with its
    /// event and audit entry.
    pub fn cash_movement(
        &mut self,
        kind: MovementKind,
        amount_fen: i64,
        reason: &str,
        actor: &str,
        approver: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<CashMovement> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(LedgerError::Invalid("a reason is required".into()));
        }
        match kind {
            MovementKind::DrawerOpen if amount_fen != 0 => {
                return Err(LedgerError::Invalid(
                    "opening the drawer moves no money".into(),
                ))
            }
            MovementKind::PayIn | MovementKind::PayOut if amount_fen <= 0 => {
                return Err(LedgerError::Invalid("the amount must be above zero".into()))
            }
            _ => {}
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let shift = open_shift_in(&tx)?.ok_or(LedgerError::ShiftNotOpen)?;
        tx.execute(
            "INSERT INTO cash_movements (shift_id, kind, amount_fen, reason, actor, approver, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                shift.id,
                kind.as_str(),
                amount_fen,
                reason,
                actor,
                approver,
                ts(now)
            ],
        )?;
        let id = tx.last_insert_rowid();
        let detail = json!({
            "shift_id": shift.id,
            "movement_id": id,
            "amount_fen": amount_fen,
            "reason": reason,
        });
        append_event(&tx, None, kind.action(), &detail, now)?;
        append_audit(
            &tx,
            &NewAudit::new(actor, kind.action(), detail).approved_by(approver.map(str::to_owned)),
            None,
            now,
        )?;
        let movement = tx.query_row(
            "SELECT id, shift_id, kind, amount_fen, reason, actor, approver, at
             FROM cash_movements WHERE id = ?1",
            [id],
            movement_from_row,
        )?;
        tx.commit()?;
        Ok(movement)
    }

    /// Close the open shift with the blind count: the counted cash is
    /// recorded, and only then is the expected figure computed and frozen
    /// with the Z report.
    pub fn close_shift(
        &mut self,
        counted_fen: i64,
        closed_by: &str,
        now: DateTime<Utc>,
    ) -> Result<ZReport> {
        if counted_fen < 0 {
            return Err(LedgerError::Invalid(
                "the counted cash cannot be negative".into(),
            ));
        }
        let closed_by = crate::users::clean_name(closed_by)?;
        let terminal = self.terminal.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let shift = open_shift_in(&tx)?.ok_or(LedgerError::ShiftNotOpen)?;
        let report = compute_report(&tx, &terminal, &shift, &closed_by, counted_fen, now)?;
        let text = serde_json::to_string(&report)
            .map_err(|e| LedgerError::Invalid(format!("Z report: {e}")))?;
        tx.execute(
            "UPDATE shifts SET closed_at = ?2, counted_fen = ?3, expected_fen = ?4, report = ?5
             WHERE id = ?1",
            params![shift.id, ts(now), counted_fen, report.expected_fen, text],
        )?;
        append_event(
            &tx,
            None,
            "shift_closed",
            &json!({
                "shift_id": shift.id,
                "cashier": shift.cashier,
                "closed_by": closed_by,
                "float_fen": report.float_fen,
                "expected_fen": report.expected_fen,
                "counted_fen": report.counted_fen,
                "over_short_fen": report.over_short_fen,
                "business_date": report.business_date,
            }),
            now,
        )?;
        tx.commit()?;
        Ok(report)
    }
}
