//! Channels head office has suspended for this store (管理控制). The till
//! keeps the set it was last sent, so a restart without head office still
//! refuses new charges on them; every change is written to the audit.

use chrono::{DateTime, Utc};
use rusqlite::{params, TransactionBehavior};
use serde_json::json;

use crate::audit::{append_audit, NewAudit};
use crate::{parse_ts, ts, Ledger, LedgerError, Result};

/// One suspended channel, as head office sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSuspension {
    /// `alipay`, `wechat` or `unionpay`.
    pub channel: String,
    pub reason: String,
    pub since: DateTime<Utc>,
    /// Suspended for every store, not only this one.
    pub all_stores: bool,
}

/// What applying a set changed, channel by channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuspensionChange {
    /// Newly suspended, or suspended again with another reason.
    Suspended(ChannelSuspension),
    Lifted {
        channel: String,
    },
}

/// Who head office's changes are audited as.
pub const HEAD_OFFICE_ACTOR: &str = "head_office";

impl Ledger {
    /// The channels suspended now, by channel name.
    pub fn channel_suspensions(&self) -> Result<Vec<ChannelSuspension>> {
        let mut stmt = self.conn.prepare(
            "SELECT channel, reason, since, all_stores FROM channel_suspensions ORDER BY channel",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, bool>(3)?,
            ))
        })?;
        rows.map(|row| {
            let (channel, reason, since, all_stores) = row?;
            let since = parse_ts(&since).ok_or_else(|| {
                LedgerError::Invalid(format!("suspension of {channel}: bad time {since}"))
            })?;
            Ok(ChannelSuspension {
                channel,
                reason,
                since,
                all_stores,
            })
        })
        .collect()
    }

    /// Make head office's set (control `version`) the till's, auditing
    /// each channel suspended, suspended with another reason, or lifted;
    /// one transaction. An unchanged set writes nothing.
    pub fn apply_channel_suspensions(
        &mut self,
        set: &[ChannelSuspension],
        version: u64,
        now: DateTime<Utc>,
    ) -> Result<Vec<SuspensionChange>> {
        let held = self.channel_suspensions()?;
        let mut changes = Vec::new();
        for s in set {
            let same = held
                .iter()
                .any(|h| h.channel == s.channel && h.reason == s.reason);
            if !same {
                changes.push(SuspensionChange::Suspended(s.clone()));
            }
        }
        for h in &held {
            if !set.iter().any(|s| s.channel == h.channel) {
                changes.push(SuspensionChange::Lifted {
                    channel: h.channel.clone(),
                });
            }
        }
        if changes.is_empty() {
            return Ok(changes);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM channel_suspensions", [])?;
        for s in set {
            tx.execute(
                "INSERT INTO channel_suspensions (channel, reason, since, all_stores, received_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (channel) DO NOTHING",
                params![s.channel, s.reason, ts(s.since), s.all_stores, ts(now)],
            )?;
        }
        for change in &changes {
            let entry = match change {
                SuspensionChange::Suspended(s) => NewAudit::new(
                    HEAD_OFFICE_ACTOR,
                    "channel_suspended",
                    json!({
                        "channel": s.channel,
                        "reason": s.reason,
                        "since": ts(s.since),
                        "all_stores": s.all_stores,
                        "control_version": version,
                    }),
                ),
                SuspensionChange::Lifted { channel } => NewAudit::new(
                    HEAD_OFFICE_ACTOR,
                    "channel_lifted",
                    json!({ "channel": channel, "control_version": version }),
                ),
            };
            append_audit(&tx, &entry, None, now)?;
        }
        tx.commit()?;
        Ok(changes)
    }
}
