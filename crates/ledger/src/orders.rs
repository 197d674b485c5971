//! Orders: created before any channel call, then moved through the state
//! machine. Each change is one transaction holding the event and the
//! projection update.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, OptionalExtension, Row, Transaction, TransactionBehavior};
use serde_json::{json, Map, Value};
use shouyin_core::{ChannelKind, Currency, Money, OrderState};

use crate::{parse_date, parse_ts, ts, Ledger, LedgerError, Result};

/// A sale about to be attempted.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub amount: Money,
    pub channel: ChannelKind,
    pub cashier: Option<String>,
    pub note: Option<String>,
}

/// An order as the projection holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: i64,
    pub out_trade_no: String,
    pub store: String,
    pub terminal: String,
    pub cashier: Option<String>,
    pub amount: Money,
    pub channel: ChannelKind,
    pub state: OrderState,
    pub channel_trade_no: Option<String>,
    pub qr_payload: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub refunded_fen: i64,
    pub note: Option<String>,
    pub business_date: NaiveDate,
    /// Why the order ended as it did, when that is worth saying.
    pub reason: Option<String>,
    /// The shift open when the order was taken (every cash order has one).
    pub shift_id: Option<i64>,
    /// A cash sale: what the customer handed over, and the change given.
    pub tender: Option<CashTender>,
}

/// What the customer handed over for a cash sale and the change given
/// back (找零), in fen. Built only through [`CashTender::new`], so the
/// change is always tendered − amount and never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CashTender {
    tendered_fen: i64,
    change_fen: i64,
}

impl CashTender {
    /// Refused when less than the amount was handed over.
    pub fn new(amount_fen: i64, tendered_fen: i64) -> Result<CashTender> {
        if tendered_fen < amount_fen {
            return Err(LedgerError::Invalid(format!(
                "{} handed over is less than the amount {}",
                shouyin_core::format_fen(tendered_fen),
                shouyin_core::format_fen(amount_fen)
            )));
        }
        Ok(CashTender {
            tendered_fen,
            change_fen: tendered_fen - amount_fen,
        })
    }

    pub fn tendered_fen(&self) -> i64 {
        self.tendered_fen
    }

    pub fn change_fen(&self) -> i64 {
        self.change_fen
    }
}

/// A state change and the facts learned with it. Fields left `None` keep
/// their stored value.
#[derive(Debug, Clone)]
pub struct Change {
    pub to: OrderState,
    pub channel_trade_no: Option<String>,
    pub qr_payload: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    pub refunded_fen: Option<i64>,
    pub reason: Option<String>,
    /// Extra facts for the event payload (reason, approver, channel answer).
    pub detail: Map<String, Value>,
}

impl Change {
    pub fn to(state: OrderState) -> Change {
        Change {
            to: state,
            channel_trade_no: None,
            qr_payload: None,
            expires_at: None,
            paid_at: None,
            refunded_fen: None,
            reason: None,
            detail: Map::new(),
        }
    }

    pub fn because(mut self, reason: impl Into<String>) -> Change {
        self.reason = Some(reason.into());
        self
    }

    pub fn with_detail(mut self, key: &str, value: impl Into<Value>) -> Change {
        self.detail.insert(key.to_owned(), value.into());
        self
    }
}

/// One entry of the append-only log.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub seq: i64,
    pub order_id: Option<i64>,
    pub kind: String,
    pub payload: Value,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub state: Option<OrderState>,
    pub channel: Option<ChannelKind>,
    pub business_date: Option<NaiveDate>,
    /// Matches order number or channel trade number (substring), or the
    /// amount when it parses as one.
    pub search: Option<String>,
    /// Only the orders taken by this cashier (a cashier sees her own sales).
    pub cashier: Option<String>,
    pub limit: Option<u32>,
}

pub(crate) const ORDER_COLUMNS: &str = "id, out_trade_no, store, terminal, cashier, amount_fen, currency, channel, \
    state, channel_trade_no, qr_payload, created_at, updated_at, paid_at, expires_at, refunded_fen, \
    note, business_date, reason, shift_id, tendered_fen, change_fen";

pub(crate) fn order_from_row(row: &Row<'_>) -> rusqlite::Result<Order> {
    let bad = |i: usize, what: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("bad {what} in ledger").into(),
        )
    };
    let currency: String = row.get(6)?;
    let channel: String = row.get(7)?;
    let state: String = row.get(8)?;
    let ts_col = |i: usize| -> rusqlite::Result<DateTime<Utc>> {
        let s: String = row.get(i)?;
        parse_ts(&s).ok_or_else(|| bad(i, "timestamp"))
    };
    let opt_ts = |i: usize| -> rusqlite::Result<Option<DateTime<Utc>>> {
        let s: Option<String> = row.get(i)?;
        s.map(|s| parse_ts(&s).ok_or_else(|| bad(i, "timestamp")))
            .transpose()
    };
    let date: String = row.get(17)?;
    Ok(Order {
        id: row.get(0)?,
        out_trade_no: row.get(1)?,
        store: row.get(2)?,
        terminal: row.get(3)?,
        cashier: row.get(4)?,
        amount: Money::from_fen(
            row.get(5)?,
            Currency::parse(&currency).ok_or_else(|| bad(6, "currency"))?,
        ),
        channel: channel.parse().map_err(|_| bad(7, "channel"))?,
        state: state.parse().map_err(|_| bad(8, "state"))?,
        channel_trade_no: row.get(9)?,
        qr_payload: row.get(10)?,
        created_at: ts_col(11)?,
        updated_at: ts_col(12)?,
        paid_at: opt_ts(13)?,
        expires_at: opt_ts(14)?,
        refunded_fen: row.get(15)?,
        note: row.get(16)?,
        business_date: parse_date(&date).ok_or_else(|| bad(17, "date"))?,
        reason: row.get(18)?,
        shift_id: row.get(19)?,
        tender: match (
            row.get::<_, Option<i64>>(20)?,
            row.get::<_, Option<i64>>(21)?,
        ) {
            (Some(tendered_fen), Some(change_fen)) => Some(CashTender {
                tendered_fen,
                change_fen,
            }),
            _ => None,
        },
    })
}

/// Append an event inside `tx`, with the next gap-free sequence number.
pub(crate) fn append_event(
    tx: &Transaction<'_>,
    order_id: Option<i64>,
    kind: &str,
    payload: &Value,
    at: DateTime<Utc>,
) -> rusqlite::Result<i64> {
    let seq: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM events", [], |r| {
        r.get(0)
    })?;
    tx.execute(
        "INSERT INTO events (seq, order_id, kind, payload, at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![seq, order_id, kind, payload.to_string(), ts(at)],
    )?;
    Ok(seq)
}

fn order_payload(order: &Order) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("order_no".into(), json!(order.out_trade_no));
    m.insert("amount_fen".into(), json!(order.amount.fen()));
    m.insert("currency".into(), json!(order.amount.currency().code()));
    m.insert("channel".into(), json!(order.channel.as_str()));
    m.insert(
        "business_date".into(),
        json!(order.business_date.to_string()),
    );
    m
}

impl Ledger {
    /// Commit a new order in state `created` with its `order_created` event.
    /// This is the "write before you send" step: it returns only once the
    /// order and its `out_trade_no` are durable.
    pub fn create_order(&mut self, new: &NewOrder, now: DateTime<Utc>) -> Result<Order> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let order = create_in(&tx, &self.terminal, new, now)?;
        tx.commit()?;
        Ok(order)
    }

    /// A cash sale: created and paid in one transaction, so no cash order
    /// is ever left `created` (nothing outside the till can resolve one).
    /// Refused with [`LedgerError::ShiftNotOpen`] unless a shift is open:
    /// the money goes into a drawer that some shift's close will count.
    /// The shift is read inside the same transaction, so a close cannot
    /// slip between the check and the sale.
    pub fn create_paid_order(
        &mut self,
        new: &NewOrder,
        paid: &Change,
        tender: Option<CashTender>,
        now: DateTime<Utc>,
    ) -> Result<Order> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if crate::shifts::open_shift_id(&tx)?.is_none() {
            return Err(LedgerError::ShiftNotOpen);
        }
        let order = create_in(&tx, &self.terminal, new, now)?;
        if let Some(tender) = tender {
            if tender.tendered_fen - tender.change_fen != order.amount.fen() {
                return Err(LedgerError::Invalid(
                    "the change is not what was handed over less the amount".into(),
                ));
            }
            tx.execute(
                "UPDATE orders SET tendered_fen = ?2, change_fen = ?3 WHERE id = ?1",
                params![order.id, tender.tendered_fen, tender.change_fen],
            )?;
        }
        let mut paid = paid.clone();
        if let Some(tender) = tender {
            paid = paid
                .with_detail("tendered_fen", tender.tendered_fen)
                .with_detail("change_fen", tender.change_fen);
        }
        let order = transition_in(&tx, order.id, &paid, now)?;
        tx.commit()?;
        Ok(order)
    }
}

/// [`Ledger::create_order`] inside a caller's transaction.
pub(crate) fn create_in(
    tx: &Transaction<'_>,
    terminal: &crate::TerminalRecord,
    new: &NewOrder,
    now: DateTime<Utc>,
) -> Result<Order> {
    if new.amount.fen() <= 0 {
        return Err(LedgerError::Invalid(
            "an order amount must be above zero".into(),
        ));
    }
    if new.amount.fen() > terminal.sale_limit_fen {
        return Err(LedgerError::Invalid(format!(
            "the amount is over the per-sale limit of {}",
            shouyin_core::format_fen(terminal.sale_limit_fen)
        )));
    }
    // AUTOINCREMENT never reuses an id, so the counter inside the order
    // number is unique for the life of the ledger.
    let next_id: i64 = tx
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'orders'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0)
        + 1;
    let counter = u64::try_from(next_id).map_err(|_| LedgerError::Invalid("order id".into()))?;
    let out_trade_no = shouyin_core::out_trade_no(&terminal.terminal, now, counter)
        .map_err(|e| LedgerError::Invalid(e.to_string()))?;
    let business_date = terminal.calendar.business_date(now);
    let shift_id = crate::shifts::open_shift_id(tx)?;
    tx.execute(
        "INSERT INTO orders (id, out_trade_no, store, terminal, cashier, amount_fen, currency, channel,
                             state, created_at, updated_at, note, business_date, shift_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'created', ?9, ?9, ?10, ?11, ?12)",
        params![
            next_id,
            out_trade_no,
            terminal.store,
            terminal.terminal.as_str(),
            new.cashier,
            new.amount.fen(),
            new.amount.currency().code(),
            new.channel.as_str(),
            ts(now),
            new.note,
            business_date.to_string(),
            shift_id,
        ],
    )?;
    let order = get_order(tx, next_id)?;
    let mut payload = order_payload(&order);
    payload.insert("cashier".into(), json!(order.cashier));
    payload.insert("shift_id".into(), json!(order.shift_id));
    payload.insert("created_at".into(), json!(ts(order.created_at)));
    append_event(
        tx,
        Some(order.id),
        "order_created",
        &Value::Object(payload),
        now,
    )?;
    Ok(order)
}

impl Ledger {
    /// Move an order to a new state, appending its event in the same
    /// transaction. Moving to the state it is already in is a no-op (two
    /// watchers may learn the same thing), except for repeated partial refunds.
    pub fn transition(
        &mut self,
        order_id: i64,
        change: &Change,
        now: DateTime<Utc>,
    ) -> Result<Order> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let updated = transition_in(&tx, order_id, change, now)?;
        tx.commit()?;
        Ok(updated)
    }
}

/// [`Ledger::transition`] inside a caller's transaction, so that a change of
/// another table (a refund, a manual confirmation) commits with the order's
/// event and projection or not at all.
pub(crate) fn transition_in(
    tx: &Transaction<'_>,
    order_id: i64,
    change: &Change,
    now: DateTime<Utc>,
) -> Result<Order> {
    let current = get_order(tx, order_id)?;
    if current.state == change.to && change.to != OrderState::PartRefunded {
        return Ok(current);
    }
    current.state.transition(change.to)?;
    // Paying an order the till gave up is a late payment: only
    // [`Ledger::record_late_payment`] may do it, with its alarm and audit entry.
    if current.state.is_final()
        && change.to == OrderState::Paid
        && change.detail.get("late_payment") != Some(&Value::Bool(true))
    {
        return Err(shouyin_core::TransitionError {
            from: current.state,
            to: change.to,
        }
        .into());
    }
    let mut payload = order_payload(&current);
    payload.insert("from".into(), json!(current.state.as_str()));
    payload.insert("to".into(), json!(change.to.as_str()));
    for (key, value) in [
        (
            "channel_trade_no",
            change.channel_trade_no.as_ref().map(|v| json!(v)),
        ),
        ("qr_payload", change.qr_payload.as_ref().map(|v| json!(v))),
        ("expires_at", change.expires_at.map(|v| json!(ts(v)))),
        ("paid_at", change.paid_at.map(|v| json!(ts(v)))),
        ("refunded_fen", change.refunded_fen.map(|v| json!(v))),
        ("reason", change.reason.as_ref().map(|v| json!(v))),
    ] {
        if let Some(value) = value {
            payload.insert(key.into(), value);
        }
    }
    for (k, v) in &change.detail {
        payload.insert(k.clone(), v.clone());
    }
    // Event first, projection second, one transaction: a failure of
    // either leaves neither.
    let kind = format!("order_{}", change.to.as_str());
    append_event(tx, Some(order_id), &kind, &Value::Object(payload), now)?;
    tx.execute(
        "UPDATE orders SET state = ?2,
                channel_trade_no = COALESCE(?3, channel_trade_no),
                qr_payload = COALESCE(?4, qr_payload),
                expires_at = COALESCE(?5, expires_at),
                paid_at = COALESCE(?6, paid_at),
                refunded_fen = COALESCE(?7, refunded_fen),
                reason = COALESCE(?9, reason),
                updated_at = ?8
             WHERE id = ?1",
        params![
            order_id,
            change.to.as_str(),
            change.channel_trade_no,
            change.qr_payload,
            change.expires_at.map(ts),
            change.paid_at.map(ts),
            change.refunded_fen,
            ts(now),
            change.reason,
        ],
    )?;
    get_order(tx, order_id)
}

impl Ledger {
    /// Append an event that does not change an order's state (an alarm, a
    /// note of what a channel said).
    pub fn record(
        &mut self,
        order_id: Option<i64>,
        kind: &str,
        payload: &Value,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let seq = append_event(&tx, order_id, kind, payload, now)?;
        tx.commit()?;
        Ok(seq)
    }

    pub fn order(&self, id: i64) -> Result<Order> {
        get_order(&self.conn, id)
    }

    pub fn order_by_no(&self, out_trade_no: &str) -> Result<Order> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE out_trade_no = ?1");
        self.conn
            .query_row(&sql, [out_trade_no], order_from_row)
            .optional()?
            .ok_or_else(|| LedgerError::NoSuchOrder(out_trade_no.to_owned()))
    }

    /// Orders newest first.
    pub fn orders(&self, filter: &OrderFilter) -> Result<Vec<Order>> {
        let mut sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE 1 = 1");
        let mut args: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
        if let Some(state) = filter.state {
            args.push(Box::new(state.as_str()));
            sql.push_str(&format!(" AND state = ?{}", args.len()));
        }
        if let Some(channel) = filter.channel {
            args.push(Box::new(channel.as_str()));
            sql.push_str(&format!(" AND channel = ?{}", args.len()));
        }
        if let Some(date) = filter.business_date {
            args.push(Box::new(date.to_string()));
            sql.push_str(&format!(" AND business_date = ?{}", args.len()));
        }
        if let Some(cashier) = &filter.cashier {
            args.push(Box::new(cashier.clone()));
            sql.push_str(&format!(" AND cashier = ?{}", args.len()));
        }
        if let Some(search) = filter
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let escaped = search
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            args.push(Box::new(format!("%{escaped}%")));
            let n = args.len();
            let mut clause = format!(
                " AND (out_trade_no LIKE ?{n} ESCAPE '\\' OR channel_trade_no LIKE ?{n} ESCAPE '\\'"
            );
            if let Ok(fen) = shouyin_core::parse_fen(search) {
                args.push(Box::new(fen));
                clause.push_str(&format!(" OR amount_fen = ?{}", args.len()));
            }
            clause.push(')');
            sql.push_str(&clause);
        }
        sql.push_str(" ORDER BY id DESC");
        if let Some(limit) = filter.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), order_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Every order whose outcome is not yet known: what recovery resolves on
    /// start. Oldest first.
    pub fn open_orders(&self) -> Result<Vec<Order>> {
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders
             WHERE state IN ('created', 'pending', 'unknown', 'unverified') ORDER BY id"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([], order_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    pub fn events_for(&self, order_id: i64) -> Result<Vec<Event>> {
        self.events_where("order_id = ?1", order_id, u32::MAX)
    }

    /// Events after `seq`, in order: what sync sends next.
    pub fn events_after(&self, seq: i64, limit: u32) -> Result<Vec<Event>> {
        self.events_where("seq > ?1", seq, limit)
    }

    pub fn last_seq(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?)
    }

    fn events_where(&self, clause: &str, arg: i64, limit: u32) -> Result<Vec<Event>> {
        let sql = format!(
            "SELECT seq, order_id, kind, payload, at FROM events WHERE {clause} ORDER BY seq LIMIT {limit}"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([arg], |r| {
            let payload: String = r.get(3)?;
            let at: String = r.get(4)?;
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, payload, at))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, order_id, kind, payload, at): (i64, Option<i64>, String, String, String) =
                row?;
            out.push(Event {
                seq,
                order_id,
                kind,
                payload: serde_json::from_str(&payload)
                    .map_err(|e| LedgerError::Invalid(format!("event {seq} payload: {e}")))?,
                at: parse_ts(&at)
                    .ok_or_else(|| LedgerError::Invalid(format!("event {seq} time '{at}'")))?,
            });
        }
        Ok(out)
    }
}

pub(crate) fn get_order(conn: &rusqlite::Connection, id: i64) -> Result<Order> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?1");
    conn.query_row(&sql, [id], order_from_row)
        .optional()?
        .ok_or_else(|| LedgerError::NoSuchOrder(id.to_string()))
}

pub(crate) fn get_order_by_no(conn: &rusqlite::Connection, out_trade_no: &str) -> Result<Order> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE out_trade_no = ?1");
    conn.query_row(&sql, [out_trade_no], order_from_row)
        .optional()?
        .ok_or_else(|| LedgerError::NoSuchOrder(out_trade_no.to_owned()))
}
