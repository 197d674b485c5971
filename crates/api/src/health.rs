//! Channel health: what the last calls to each channel did, kept in memory,
//! so the channel buttons can say "offline" before the cashier presses one.

use std::collections::VecDeque;
use std::time::Duration;

use shouyin_channels::ChannelError;
use shouyin_core::ChannelKind;

use crate::dto::{ChannelHealthDto, ChannelHealthState};

/// How many recent calls the success rate is computed over.
const WINDOW: usize = 20;
/// This many failures in a row and the channel is offline.
const OFFLINE_AFTER: u32 = 3;
/// Below this success rate (percent) the channel is degraded.
const DEGRADED_BELOW: u32 = 80;

#[derive(Debug, Clone)]
pub(crate) struct ChannelHealth {
    channel: ChannelKind,
    recent: VecDeque<(bool, Duration)>,
    consecutive_failures: u32,
    last_error: Option<String>,
}

impl ChannelHealth {
    pub(crate) fn new(channel: ChannelKind) -> ChannelHealth {
        ChannelHealth {
            channel,
            recent: VecDeque::with_capacity(WINDOW),
            consecutive_failures: 0,
            last_error: None,
        }
    }

    /// Record one call. A definite "no" is a healthy channel answering; only
    /// a missing or untrustworthy answer counts against it.
    pub(crate) fn record<T>(&mut self, result: &Result<T, ChannelError>, took: Duration) {
        let ok = match result {
            Ok(_) | Err(ChannelError::Definite { .. }) => true,
            Err(ChannelError::Indeterminate { .. })
            | Err(ChannelError::Untrusted { .. })
            | Err(ChannelError::Config(_)) => false,
        };
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back((ok, took));
        if ok {
            self.consecutive_failures = 0;
        } else {
            self.consecutive_failures += 1;
            self.last_error = result.as_ref().err().map(ToString::to_string);
        }
    }

    pub(crate) fn state(&self) -> ChannelHealthState {
        if self.recent.is_empty() {
            ChannelHealthState::Untested
        } else if self.consecutive_failures >= OFFLINE_AFTER {
            ChannelHealthState::Offline
        } else if self.success_percent() < DEGRADED_BELOW {
            ChannelHealthState::Degraded
        } else {
            ChannelHealthState::Ok
        }
    }

    fn success_percent(&self) -> u32 {
        if self.recent.is_empty() {
            return 100;
        }
        let ok = self.recent.iter().filter(|(ok, _)| *ok).count();
        u32::try_from(ok * 100 / self.recent.len()).unwrap_or(100)
    }

    pub(crate) fn dto(&self) -> ChannelHealthDto {
        let mut latencies: Vec<Duration> = self.recent.iter().map(|(_, d)| *d).collect();
        latencies.sort();
        let latency_ms = latencies
            .get(latencies.len() / 2)
            .map(|d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX));
        ChannelHealthDto {
            channel: self.channel,
            state: self.state(),
            success_percent: self.success_percent(),
            latency_ms,
            consecutive_failures: self.consecutive_failures,
            last_error: self.last_error.clone(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn timeout() -> Result<(), ChannelError> {
        Err(ChannelError::Indeterminate {
            reason: "timed out".into(),
        })
    }

    #[test]
    fn failures_in_a_row_make_a_channel_offline_and_one_success_restores_it() {
        let mut h = ChannelHealth::new(ChannelKind::Alipay);
        assert_eq!(h.state(), ChannelHealthState::Untested);
        h.record(&Ok::<(), ChannelError>(()), Duration::from_millis(40));
        assert_eq!(h.state(), ChannelHealthState::Ok);
        for _ in 0..3 {
            h.record(&timeout(), Duration::from_secs(3));
        }
        assert_eq!(h.state(), ChannelHealthState::Offline);
        assert!(h.dto().last_error.unwrap().contains("timed out"));
        h.record(&Ok::<(), ChannelError>(()), Duration::from_millis(40));
        // Back from offline, but 3 of the last 5 failed: degraded.
        assert_eq!(h.state(), ChannelHealthState::Degraded);
        for _ in 0..20 {
            h.record(&Ok::<(), ChannelError>(()), Duration::from_millis(40));
        }
        assert_eq!(h.state(), ChannelHealthState::Ok);
        assert_eq!(h.dto().latency_ms, Some(40));
    }

    #[test]
    fn a_definite_refusal_is_a_healthy_answer() {
        let mut h = ChannelHealth::new(ChannelKind::Wechat);
        for _ in 0..5 {
            h.record(
                &Err::<(), _>(ChannelError::Definite {
                    code: "ORDERPAID".into(),
                    message: "paid".into(),
                }),
                Duration::from_millis(10),
            );
        }
        assert_eq!(h.state(), ChannelHealthState::Ok);
    }
}
