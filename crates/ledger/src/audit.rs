//! The hash-chained audit log of actions that need a manager (refunds,
//! voids, manual confirmations, opening the drawer without a sale, changes
//! of users and settings).
//!
//! The `audit` table is append-only (triggers refuse UPDATE and DELETE), and
//! each entry carries the hash of the one before it, so an entry edited or
//! deleted by someone who removed the triggers is still found by
//! [`Ledger::audit_verify`]. Every entry is also appended as a ledger event
//! (`audit_<action>`, with its hash) in the same transaction, so sync ships
//! the chain to head office, where it can no longer be rewritten locally.
//!
//! # Canonical form
//!
//! `hash` is the lower-case hex SHA-256 of the UTF-8 bytes of the compact
//! JSON array
//!
//! ```text
//! ["shouyin-audit-v1", prev_hash, seq, at, actor, approver, action, detail]
//! ```
//!
//! where `seq` is a JSON number, `approver` is a string or `null`, `at` is
//! the stored RFC 3339 text (UTC, milliseconds, `Z`), and `detail` is the
//! stored detail JSON text as a JSON *string* (so the hash never depends on
//! how a JSON library orders keys). The first entry's `prev_hash` is
//! [`GENESIS_HASH`] (64 zeros). Sequence numbers start at 1 without gaps.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::{orders::append_event, parse_ts, ts, Ledger, LedgerError, Result};

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What is written: who did what, approved by whom.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAudit {
    /// Who did it (the logged-in user, or `system` for automatic checks).
    pub actor: String,
    /// The manager whose PIN approved it, when one was needed.
    pub approver: Option<String>,
    /// snake_case: `refund_requested`, `order_confirmed_manually`, ...
    pub action: String,
    pub detail: Value,
}

impl NewAudit {
    pub fn new(actor: impl Into<String>, action: impl Into<String>, detail: Value) -> NewAudit {
        NewAudit {
            actor: actor.into(),
            approver: None,
            action: action.into(),
            detail,
        }
    }

    pub fn approved_by(mut self, approver: Option<String>) -> NewAudit {
        self.approver = approver;
        self
    }
}

/// One stored entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub approver: Option<String>,
    pub action: String,
    pub detail: Value,
    pub prev_hash: String,
    pub hash: String,
}

/// What [`Ledger::audit_verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditVerification {
    /// Entries read.
    pub entries: i64,
    /// The first sequence number at which the chain is broken.
    pub first_bad_seq: Option<i64>,
    /// Why it is broken there.
    pub problem: Option<String>,
}

impl AuditVerification {
    pub fn is_intact(&self) -> bool {
        self.first_bad_seq.is_none()
    }
}

/// The canonical hash of one entry (see the module documentation).
pub fn entry_hash(
    prev_hash: &str,
    seq: i64,
    at: &str,
    actor: &str,
    approver: Option<&str>,
    action: &str,
    detail_text: &str,
) -> String {
    let canonical = json!([
        "shouyin-audit-v1",
        prev_hash,
        seq,
        at,
        actor,
        approver,
        action,
        detail_text
    ])
    .to_string();
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

fn check_action(action: &str) -> Result<()> {
    let ok = !action.is_empty()
        && action.len() <= 64
        && action
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(LedgerError::Invalid(format!(
            "'{action}' is not an audit action name"
        )))
    }
}

/// Append an entry and its ledger event inside the caller's transaction.
pub(crate) fn append_audit(
    tx: &Transaction<'_>,
    entry: &NewAudit,
    order_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<AuditEntry> {
    check_action(&entry.action)?;
    if entry.actor.trim().is_empty() {
        return Err(LedgerError::Invalid("an audit entry needs an actor".into()));
    }
    let last: Option<(i64, String)> = tx
        .query_row(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (seq, prev_hash) = match last {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let at = ts(now);
    let detail_text = entry.detail.to_string();
    let hash = entry_hash(
        &prev_hash,
        seq,
        &at,
        &entry.actor,
        entry.approver.as_deref(),
        &entry.action,
        &detail_text,
    );
    tx.execute(
        "INSERT INTO audit (seq, at, actor, approver, action, detail, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            seq,
            at,
            entry.actor,
            entry.approver,
            entry.action,
            detail_text,
            prev_hash,
            hash
        ],
    )?;
    let payload = json!({
        "audit_seq": seq,
        "at": at,
        "actor": entry.actor,
        "approver": entry.approver,
        "action": entry.action,
        "detail": entry.detail,
        "prev_hash": prev_hash,
        "hash": hash,
    });
    append_event(
        tx,
        order_id,
        &format!("audit_{}", entry.action),
        &payload,
        now,
    )?;
    Ok(AuditEntry {
        seq,
        at: parse_ts(&at).unwrap_or(now),
        actor: entry.actor.clone(),
        approver: entry.approver.clone(),
        action: entry.action.clone(),
        detail: entry.detail.clone(),
        prev_hash,
        hash,
    })
}

type RawRow = (
    i64,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    String,
);

fn read_raw(
    conn: &rusqlite::Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<RawRow>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map(args, |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// The first place the stored chain itself does not hold together.
fn first_chain_break(rows: &[RawRow]) -> Option<(i64, String)> {
    let mut prev = GENESIS_HASH.to_owned();
    for (expected_seq, (seq, at, actor, approver, action, detail, prev_hash, hash)) in
        (1i64..).zip(rows)
    {
        if *seq != expected_seq {
            let problem = if *seq > expected_seq {
                format!("entry {expected_seq} is missing (found {seq} next)")
            } else {
                format!("entry {seq} is out of order (expected {expected_seq})")
            };
            return Some((expected_seq.min(*seq), problem));
        }
        if *prev_hash != prev {
            return Some((
                *seq,
                format!("entry {seq} does not link to the entry before it"),
            ));
        }
        let again = entry_hash(
            prev_hash,
            *seq,
            at,
            actor,
            approver.as_deref(),
            action,
            detail,
        );
        if again != *hash {
            return Some((
                *seq,
                format!("entry {seq} was changed after it was written"),
            ));
        }
        prev = hash.clone();
    }
    None
}

impl Ledger {
    /// Append one audit entry (and its event) in its own transaction.
    pub fn audit_append(&mut self, entry: &NewAudit, now: DateTime<Utc>) -> Result<AuditEntry> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stored = append_audit(&tx, entry, None, now)?;
        tx.commit()?;
        Ok(stored)
    }

    /// The newest entries first, at most `limit`.
    pub fn audit_entries(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        let raw = read_raw(
            &self.conn,
            "SELECT seq, at, actor, approver, action, detail, prev_hash, hash
             FROM audit ORDER BY seq DESC LIMIT ?1",
            [i64::from(limit)],
        )?;
        raw.into_iter()
            .map(
                |(seq, at, actor, approver, action, detail, prev_hash, hash)| {
                    Ok(AuditEntry {
                        seq,
                        at: parse_ts(&at).ok_or_else(|| {
                            LedgerError::Invalid(format!("audit entry {seq} has a bad time"))
                        })?,
                        actor,
                        approver,
                        action,
                        detail: serde_json::from_str(&detail).map_err(|e| {
                            LedgerError::Invalid(format!("audit entry {seq} detail: {e}"))
                        })?,
                        prev_hash,
                        hash,
                    })
                },
            )
            .collect()
    }

    /// Recompute the chain and report the first entry that is not what was
    /// written: an edited entry (its hash no longer matches), a deleted one
    /// (a gap in the sequence, or a `prev_hash` that no longer links), a
    /// reordered one, or a tail cut off (the ledger's `audit_*` events still
    /// name entries the table no longer has).
    pub fn audit_verify(&self) -> Result<AuditVerification> {
        let rows = read_raw(
            &self.conn,
            "SELECT seq, at, actor, approver, action, detail, prev_hash, hash
             FROM audit ORDER BY seq",
            [],
        )?;
        let entries = rows.len() as i64;
        let broken = |seq: i64, problem: String| AuditVerification {
            entries,
            first_bad_seq: Some(seq),
            problem: Some(problem),
        };
        let chain = first_chain_break(&rows);
        // The events are a second, append-only record of every entry's hash:
        // they catch a cut-off tail and an entry re-hashed by a forger.
        let mut stmt = self.conn.prepare(
            "SELECT json_extract(payload, '$.audit_seq'), json_extract(payload, '$.hash')
             FROM events WHERE kind LIKE 'audit\\_%' ESCAPE '\\' ORDER BY seq",
        )?;
        let recorded = stmt
            .query_map([], |r| {
                Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, Option<String>>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut shipped: Option<(i64, String)> = None;
        for (seq, hash) in recorded {
            let (Some(seq), Some(hash)) = (seq, hash) else {
                continue;
            };
            if shipped.as_ref().is_some_and(|(bad, _)| *bad <= seq) {
                continue;
            }
            match rows.iter().find(|row| row.0 == seq) {
                None => {
                    shipped = Some((
                        seq,
                        format!("entry {seq} is recorded in the ledger events but missing from the audit log"),
                    ))
                }
                Some(row) if row.7 != hash => {
                    shipped = Some((
                        seq,
                        format!("entry {seq} differs from the hash recorded in the ledger events"),
                    ))
                }
                Some(_) => {}
            }
        }
        let first = match (chain, shipped) {
            (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
            (a, b) => a.or(b),
        };
        if let Some((seq, problem)) = first {
            return Ok(broken(seq, problem));
        }
        Ok(AuditVerification {
            entries,
            first_bad_seq: None,
            problem: None,
        })
    }
}

impl Ledger {
    /// An order's state change that needs a manager or is a check of one
    /// (manual confirmation, its later verification or flag): the change,
    /// its event, the order's `approver` (when given) and the audit entry
    /// commit together.
    pub fn transition_audited(
        &mut self,
        order_id: i64,
        change: &crate::Change,
        audit: &NewAudit,
        now: DateTime<Utc>,
    ) -> Result<crate::Order> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let before = crate::orders::get_order(&tx, order_id)?;
        let mut detail = audit.detail.clone();
        if let Value::Object(map) = &mut detail {
            map.insert("order_no".into(), json!(before.out_trade_no));
            map.insert("amount_fen".into(), json!(before.amount.fen()));
            map.insert("channel".into(), json!(before.channel.as_str()));
            map.insert("from".into(), json!(before.state.as_str()));
            map.insert("to".into(), json!(change.to.as_str()));
        }
        let mut change = change.clone();
        if let Some(approver) = &audit.approver {
            change
                .detail
                .insert("approver".into(), json!(approver.as_str()));
        }
        let order = crate::orders::transition_in(&tx, order_id, &change, now)?;
        if let Some(approver) = &audit.approver {
            tx.execute(
                "UPDATE orders SET approver = ?2 WHERE id = ?1",
                params![order_id, approver],
            )?;
        }
        append_audit(
            &tx,
            &NewAudit {
                detail,
                ..audit.clone()
            },
            Some(order_id),
            now,
        )?;
        tx.commit()?;
        Ok(order)
    }

    /// A success that arrived after the till gave the order up (closed,
    /// failed): the order becomes paid (its `order_paid` event carries
    /// `late_payment: true`), an `alarm_late_payment` event is appended and
    /// the audit log gets a `late_payment` entry, all in one transaction.
    /// Refused (transition error) unless the order is closed or failed.
    pub fn record_late_payment(
        &mut self,
        order_id: i64,
        change: &crate::Change,
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<crate::Order> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let before = crate::orders::get_order(&tx, order_id)?;
        if !matches!(
            before.state,
            shouyin_core::OrderState::Closed | shouyin_core::OrderState::Failed
        ) {
            return Err(LedgerError::Conflict {
                order: before.out_trade_no,
                state: before.state,
                what: "only a closed or failed order can be paid late".into(),
            });
        }
        let detail = json!({
            "order_no": before.out_trade_no,
            "amount_fen": before.amount.fen(),
            "channel": before.channel.as_str(),
            "from": before.state.as_str(),
            "source": source,
        });
        let change = change
            .clone()
            .with_detail("late_payment", true)
            .with_detail("late_source", source);
        let order = crate::orders::transition_in(&tx, order_id, &change, now)?;
        append_event(&tx, Some(order_id), "alarm_late_payment", &detail, now)?;
        append_audit(
            &tx,
            &NewAudit::new("system", "late_payment", detail),
            Some(order_id),
            now,
        )?;
        tx.commit()?;
        Ok(order)
    }

    /// The manager who approved an order's manual confirmation, if any.
    pub fn order_approver(&self, order_id: i64) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT approver FROM orders WHERE id = ?1",
                [order_id],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }
}
