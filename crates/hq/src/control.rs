//! Channel control (管理控制): head office suspends a payment channel for one
//! store or for all, with a reason, and lifts it again. Every change is
//! written with its audit line and moves the control version in one
//! transaction; the tills learn the new set over the relay (see
//! `crate::server`), which answers at once when a till holds an older
//! version.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::store::{ChannelControl, ControlAction, ControlOutcome, Store, StoreError};
use crate::wire::{
    self, ChannelControlRequest, ControlLogEntry, StoreCode, SuspensionEntry, SuspensionList,
};

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("channel '{0}' cannot be suspended: use alipay, wechat or unionpay")]
    UnknownChannel(String),
    #[error("name one store or all stores, not both and not neither")]
    Scope,
    #[error("no terminal of store {0} is enrolled at head office")]
    UnknownStore(StoreCode),
    #[error("a suspension needs a reason (what the cashiers will read)")]
    ReasonRequired,
    #[error("a reason is at most {max} characters, one line", max = wire::SUSPENSION_REASON_MAX_CHARS)]
    BadReason,
    #[error("who asks must be named in 1 to {max} characters, one line", max = wire::CONTROL_ACTOR_MAX_CHARS)]
    BadActor,
    #[error("{channel} is not suspended for {scope}")]
    NotSuspended { channel: String, scope: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ControlError {
    /// The request field at fault, for the HTTP answer.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            ControlError::UnknownChannel(_) => Some("channel"),
            ControlError::Scope => Some("store"),
            ControlError::UnknownStore(_) => Some("store"),
            ControlError::ReasonRequired | ControlError::BadReason => Some("reason"),
            ControlError::BadActor => Some("by"),
            ControlError::NotSuspended { .. } | ControlError::Store(_) => None,
        }
    }
}

/// One line of text within `max` characters, trimmed; `None` if not.
fn one_line(text: &str, max: usize) -> Option<String> {
    let text = text.trim();
    let ok = !text.is_empty() && text.chars().count() <= max && !text.chars().any(char::is_control);
    ok.then(|| text.to_owned())
}

/// Check a request and apply it; `via` is `cli`, `http` or `page`.
pub async fn apply(
    store: &dyn Store,
    action: ControlAction,
    request: ChannelControlRequest,
    via: &str,
    now: DateTime<Utc>,
) -> Result<ControlOutcome, ControlError> {
    let channel = request.channel.trim().to_ascii_lowercase();
    if !wire::SUSPENDABLE_CHANNELS.contains(&channel.as_str()) {
        return Err(ControlError::UnknownChannel(request.channel));
    }
    let scope = match (request.store, request.all_stores) {
        (Some(code), false) => Some(code),
        (None, true) => None,
        _ => return Err(ControlError::Scope),
    };
    let by = one_line(&request.by, wire::CONTROL_ACTOR_MAX_CHARS).ok_or(ControlError::BadActor)?;
    let reason = match request.reason.as_deref().map(str::trim) {
        None | Some("") if action == ControlAction::Suspend => {
            return Err(ControlError::ReasonRequired)
        }
        None | Some("") => None,
        Some(text) => {
            Some(one_line(text, wire::SUSPENSION_REASON_MAX_CHARS).ok_or(ControlError::BadReason)?)
        }
    };
    if let Some(code) = &scope {
        // A mistyped code would suspend nothing anyone sees.
        let known = store.terminals().await?.iter().any(|t| &t.store == code);
        if !known && action == ControlAction::Suspend {
            return Err(ControlError::UnknownStore(code.clone()));
        }
    }
    let outcome = store
        .control_channel(ChannelControl {
            action,
            store: scope.clone(),
            channel: channel.clone(),
            reason,
            by,
            via: via.to_owned(),
            now,
        })
        .await?;
    if action == ControlAction::Lift && outcome.changed == 0 {
        return Err(ControlError::NotSuspended {
            channel,
            scope: scope.map_or_else(|| "any store".to_owned(), |c| format!("store {c}")),
        });
    }
    tracing::info!(
        action = action.as_str(),
        %channel,
        version = outcome.version,
        "channel control changed"
    );
    Ok(outcome)
}

/// The current suspensions and the latest `log_lines` changes.
pub async fn list(store: &dyn Store, log_lines: u32) -> Result<SuspensionList, StoreError> {
    let (version, rows) = store.suspensions(None).await?;
    let log = store.control_log(log_lines).await?;
    Ok(SuspensionList {
        version: crate::store::to_u64(version),
        suspensions: rows
            .into_iter()
            .map(|r| SuspensionEntry {
                store: r.store,
                channel: r.channel,
                reason: r.reason,
                since: crate::store::ms_to_time(r.since_ms),
                by: r.by,
            })
            .collect(),
        log: log
            .into_iter()
            .map(|r| ControlLogEntry {
                id: crate::store::to_u64(r.id),
                at: crate::store::ms_to_time(r.at_ms),
                by: r.by,
                via: r.via,
                action: r.action,
                store: r.store,
                channel: r.channel,
                reason: r.reason,
            })
            .collect(),
    })
}

/// The set a terminal of `store` holds, as the relay sends it.
pub async fn set_for(
    store: &dyn Store,
    code: &StoreCode,
) -> Result<wire::SuspensionSet, StoreError> {
    let (version, rows) = store.suspensions(Some(code.clone())).await?;
    // A store's own suspension and an all-stores one of the same channel:
    // the store's own reason is the one its cashiers are told.
    let mut channels: Vec<wire::ChannelSuspension> = Vec::new();
    for r in rows {
        let all_stores = r.store.is_none();
        if let Some(existing) = channels.iter_mut().find(|c| c.channel == r.channel) {
            if existing.all_stores && !all_stores {
                existing.reason = r.reason;
                existing.since = crate::store::ms_to_time(r.since_ms);
                existing.all_stores = false;
            }
            continue;
        }
        channels.push(wire::ChannelSuspension {
            channel: r.channel,
            reason: r.reason,
            since: crate::store::ms_to_time(r.since_ms),
            all_stores,
        });
    }
    Ok(wire::SuspensionSet {
        version: crate::store::to_u64(version),
        channels,
    })
}

/// The control version as this process last read it: a waiting relay
/// request compares against it every look, and the database is asked at
/// most once per `MAX_AGE` (a change made by another process, e.g. the CLI,
/// is seen within that), while a change made here is known at once.
#[derive(Debug, Default)]
pub struct ControlVersion {
    cached: Mutex<Option<(i64, Instant)>>,
}

const MAX_AGE: Duration = Duration::from_millis(500);

impl ControlVersion {
    pub async fn get(&self, store: &dyn Store) -> Result<i64, StoreError> {
        if let Some((version, at)) = *self.cached.lock().unwrap_or_else(|p| p.into_inner()) {
            if at.elapsed() < MAX_AGE {
                return Ok(version);
            }
        }
        let version = store.control_version().await?;
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some((version, Instant::now()));
        Ok(version)
    }

    /// A change made by this process.
    pub fn set(&self, version: i64) {
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some((version, Instant::now()));
    }
}
