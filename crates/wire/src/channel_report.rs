//! Channel-call reports: what a terminal's calls to its payment channels
//! did since its last report, counted per channel × call kind, by outcome,
//! with a latency histogram. Head office turns them into the
//! `shouyin_channel_*` metrics.
//!
//! A report is a sum, never a list of samples: a terminal offline for a
//! week sends one report covering the week, no larger than a report
//! covering fifteen seconds.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shouyin_core::ChannelKind;

/// `POST /v1/channel-reports`, signed like every terminal request.
pub const CHANNEL_REPORT_PATH: &str = "/v1/channel-reports";

/// Upper bounds of the latency buckets, in seconds; a last, open bucket
/// (+Inf) follows. Channel calls time out after at most 30 s.
pub const CALL_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0];
/// Bucket counts per line: the bounds plus +Inf.
pub const CALL_BUCKET_SLOTS: usize = CALL_BUCKETS.len() + 1;
/// More calls than this in one line of one report is not a till.
pub const MAX_CALLS_PER_LINE: u64 = 100_000_000;

/// What the terminal asked the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    Create,
    Query,
    Close,
    Refund,
    PayByCode,
}

impl CallKind {
    pub const ALL: [CallKind; 5] = [
        CallKind::Create,
        CallKind::Query,
        CallKind::Close,
        CallKind::Refund,
        CallKind::PayByCode,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CallKind::Create => "create",
            CallKind::Query => "query",
            CallKind::Close => "close",
            CallKind::Refund => "refund",
            CallKind::PayByCode => "pay_by_code",
        }
    }
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    /// The channel answered and the answer verified.
    Ok,
    /// A definite refusal (the channel said no).
    Refused,
    /// No usable answer: timeout, 5xx, garbled.
    Indeterminate,
    /// An answer whose signature does not verify.
    Untrusted,
}

impl CallOutcome {
    pub const ALL: [CallOutcome; 4] = [
        CallOutcome::Ok,
        CallOutcome::Refused,
        CallOutcome::Indeterminate,
        CallOutcome::Untrusted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::Refused => "refused",
            CallOutcome::Indeterminate => "indeterminate",
            CallOutcome::Untrusted => "untrusted",
        }
    }

    pub fn index(self) -> usize {
        match self {
            CallOutcome::Ok => 0,
            CallOutcome::Refused => 1,
            CallOutcome::Indeterminate => 2,
            CallOutcome::Untrusted => 3,
        }
    }
}

/// The calls of one channel and call kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallLine {
    pub channel: ChannelKind,
    pub call: CallKind,
    pub ok: u64,
    pub refused: u64,
    pub indeterminate: u64,
    pub untrusted: u64,
    /// Calls per latency bucket, not cumulative: one count per bound of
    /// [`CALL_BUCKETS`], then the +Inf bucket.
    pub buckets: Vec<u64>,
    /// Total latency of these calls, in milliseconds.
    pub sum_ms: u64,
}

impl CallLine {
    pub fn calls(&self) -> u64 {
        self.ok
            .saturating_add(self.refused)
            .saturating_add(self.indeterminate)
            .saturating_add(self.untrusted)
    }

    pub fn by_outcome(&self) -> [u64; 4] {
        [self.ok, self.refused, self.indeterminate, self.untrusted]
    }
}

/// `POST /v1/channel-reports`: the calls made in `from..to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub lines: Vec<CallLine>,
    /// The store's name as the terminal's ledger carries it (南京路店);
    /// head office knows the store by its code and shows it by this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_name: Option<String>,
}

/// Longest store name taken, in characters.
pub const MAX_STORE_NAME_CHARS: usize = 64;

/// Head office's answer to a report it took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelReportAck {
    /// Lines taken (all of them; a report is taken whole or not at all).
    pub lines: u32,
}

/// A report head office will not take, naming the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct BadReport {
    pub field: String,
    pub message: String,
}

fn bad(field: String, message: impl Into<String>) -> BadReport {
    BadReport {
        field,
        message: message.into(),
    }
}

impl ChannelReport {
    /// Most lines a report can hold: one per QR channel and call kind.
    pub const MAX_LINES: usize = 3 * CallKind::ALL.len();

    /// The checks the shape alone allows: the period runs forwards, at most
    /// one line per channel and call kind, no cash (it calls nobody), every
    /// histogram has exactly [`CALL_BUCKET_SLOTS`] buckets adding up to the
    /// line's calls.
    pub fn check(&self) -> Result<(), BadReport> {
        if self.to < self.from {
            return Err(bad("to".into(), "the report ends before it starts"));
        }
        if let Some(name) = &self.store_name {
            if name.trim().is_empty()
                || name.chars().count() > MAX_STORE_NAME_CHARS
                || name.chars().any(char::is_control)
            {
                return Err(bad(
                    "store_name".into(),
                    format!("a store name is 1 to {MAX_STORE_NAME_CHARS} printable characters"),
                ));
            }
        }
        if self.lines.len() > Self::MAX_LINES {
            return Err(bad(
                "lines".into(),
                format!(
                    "{} lines; a report has at most {} (one per channel and call kind)",
                    self.lines.len(),
                    Self::MAX_LINES
                ),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, line) in self.lines.iter().enumerate() {
            if line.channel == ChannelKind::Cash {
                return Err(bad(
                    format!("lines[{i}].channel"),
                    "cash is not a payment channel anyone calls",
                ));
            }
            if !seen.insert((line.channel, line.call)) {
                return Err(bad(
                    format!("lines[{i}]"),
                    format!("a second line for {} {}", line.channel, line.call.as_str()),
                ));
            }
            if line.buckets.len() != CALL_BUCKET_SLOTS {
                return Err(bad(
                    format!("lines[{i}].buckets"),
                    format!(
                        "{} buckets; the histogram has exactly {CALL_BUCKET_SLOTS}",
                        line.buckets.len()
                    ),
                ));
            }
            let calls = line
                .by_outcome()
                .iter()
                .try_fold(0u64, |a, n| a.checked_add(*n))
                .filter(|n| *n <= MAX_CALLS_PER_LINE)
                .ok_or_else(|| {
                    bad(
                        format!("lines[{i}]"),
                        format!("more than {MAX_CALLS_PER_LINE} calls in one line"),
                    )
                })?;
            let in_buckets = line.buckets.iter().try_fold(0u64, |a, n| a.checked_add(*n));
            if in_buckets != Some(calls) {
                return Err(bad(
                    format!("lines[{i}].buckets"),
                    format!("the buckets do not add up to the line's {calls} calls"),
                ));
            }
        }
        Ok(())
    }
}

/// The latency bucket a call of `seconds` falls in.
pub fn bucket_of(seconds: f64) -> usize {
    CALL_BUCKETS
        .iter()
        .position(|b| seconds <= *b)
        .unwrap_or(CALL_BUCKETS.len())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn line() -> CallLine {
        let mut buckets = vec![0; CALL_BUCKET_SLOTS];
        buckets[0] = 2;
        buckets[CALL_BUCKET_SLOTS - 1] = 1;
        CallLine {
            channel: ChannelKind::Wechat,
            call: CallKind::Create,
            ok: 1,
            refused: 0,
            indeterminate: 2,
            untrusted: 0,
            buckets,
            sum_ms: 30_100,
        }
    }

    fn report(lines: Vec<CallLine>) -> ChannelReport {
        let t = DateTime::parse_from_rfc3339("2026-11-30T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        ChannelReport {
            from: t,
            to: t + chrono::Duration::seconds(15),
            lines,
            store_name: Some("南京路店".into()),
        }
    }

    #[test]
    fn a_well_formed_report_passes_and_bad_ones_name_their_field() {
        report(vec![line()]).check().unwrap();
        let mut cash = line();
        cash.channel = ChannelKind::Cash;
        assert_eq!(
            report(vec![cash]).check().unwrap_err().field,
            "lines[0].channel"
        );
        assert_eq!(
            report(vec![line(), line()]).check().unwrap_err().field,
            "lines[1]"
        );
        let mut huge = line();
        huge.buckets = vec![0; 10_000];
        assert_eq!(
            report(vec![huge]).check().unwrap_err().field,
            "lines[0].buckets"
        );
        let mut off = line();
        off.ok = 5;
        assert!(report(vec![off])
            .check()
            .unwrap_err()
            .message
            .contains("do not add up"));
        let mut backwards = report(vec![]);
        backwards.to = backwards.from - chrono::Duration::seconds(1);
        assert_eq!(backwards.check().unwrap_err().field, "to");
    }

    #[test]
    fn unknown_channels_and_negative_counts_do_not_parse() {
        let text = serde_json::to_string(&report(vec![line()])).unwrap();
        let unknown = text.replace("\"wechat\"", "\"paypal\"");
        assert!(serde_json::from_str::<ChannelReport>(&unknown).is_err());
        let negative = text.replace("\"ok\":1", "\"ok\":-1");
        assert!(serde_json::from_str::<ChannelReport>(&negative).is_err());
    }

    #[test]
    fn latencies_fall_in_their_buckets() {
        assert_eq!(bucket_of(0.01), 0);
        assert_eq!(bucket_of(0.05), 0);
        assert_eq!(bucket_of(0.3), 3);
        assert_eq!(bucket_of(31.0), CALL_BUCKETS.len());
    }
}
