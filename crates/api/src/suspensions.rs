//! Channels head office has suspended for this store: learnt over the
//! relay (see `crate::relay`), kept in the ledger, and checked before a new
//! charge. Orders already open on a suspended channel go on as before:
//! they are queried, closed and refunded, only no new one is started.

use shouyin_core::ChannelKind;
use shouyin_ledger::suspensions::{ChannelSuspension, SuspensionChange};
use shouyin_ledger::Ledger;
use shouyin_wire::SuspensionSet;

use crate::dto::CounterEvent;
use crate::error::ErrorCode;
use crate::{ApiError, Counter};

/// The refusal of a new charge on a suspended channel.
pub(crate) fn suspended_error(channel: ChannelKind, reason: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ChannelSuspended,
        format!("head office has suspended {channel}: {reason}"),
    )
    .with("channel", channel)
    .with("reason", reason)
}

/// Refuse when `channel` is suspended (called inside the ledger task).
pub(crate) fn refuse_if_suspended(ledger: &Ledger, channel: ChannelKind) -> Result<(), ApiError> {
    match ledger
        .channel_suspensions()?
        .into_iter()
        .find(|s| s.channel == channel.as_str())
    {
        Some(s) => Err(suspended_error(channel, &s.reason)),
        None => Ok(()),
    }
}

impl Counter {
    /// Refuse a new charge on a suspended channel.
    pub(crate) async fn check_not_suspended(&self, channel: ChannelKind) -> Result<(), ApiError> {
        self.with_ledger(move |ledger| refuse_if_suspended(ledger, channel))
            .await
    }

    /// The suspended channels and why, as head office last said.
    pub async fn channel_suspensions(&self) -> Result<Vec<(ChannelKind, String)>, ApiError> {
        self.with_ledger(|ledger| {
            Ok(ledger
                .channel_suspensions()?
                .into_iter()
                .filter_map(|s| kind_of(&s.channel).map(|k| (k, s.reason)))
                .collect())
        })
        .await
    }

    /// Make head office's set the till's; the screens are told when a
    /// button changes.
    pub(crate) async fn take_suspensions(&self, set: &SuspensionSet) -> Result<(), ApiError> {
        let channels: Vec<ChannelSuspension> = set
            .channels
            .iter()
            // A channel this version does not know cannot be charged here
            // anyway.
            .filter(|c| kind_of(&c.channel).is_some())
            .map(|c| ChannelSuspension {
                channel: c.channel.clone(),
                reason: c.reason.clone(),
                since: c.since,
                all_stores: c.all_stores,
            })
            .collect();
        let version = set.version;
        let now = self.now();
        let changes = self
            .with_ledger(move |ledger| {
                Ok(ledger.apply_channel_suspensions(&channels, version, now)?)
            })
            .await?;
        for change in &changes {
            match change {
                SuspensionChange::Suspended(s) => {
                    tracing::warn!(channel = %s.channel, reason = %s.reason, "head office suspended a channel")
                }
                SuspensionChange::Lifted { channel } => {
                    tracing::info!(%channel, "head office lifted a channel's suspension")
                }
            }
        }
        if !changes.is_empty() {
            // The screens reload the channel buttons on a health event.
            self.emit(CounterEvent::ChannelHealth {
                channels: self.health_snapshot(),
            });
        }
        Ok(())
    }
}

fn kind_of(name: &str) -> Option<ChannelKind> {
    ChannelKind::ALL
        .into_iter()
        .find(|k| *k != ChannelKind::Cash && k.as_str() == name)
}
