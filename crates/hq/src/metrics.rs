//! Prometheus text metrics kept in process memory (they describe this
//! process, so that is where they belong): batches, events stored and
//! repeated, rejections by reason, and a latency histogram per route.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default)]
pub struct Metrics {
    batches: AtomicU64,
    events_stored: AtomicU64,
    events_duplicate: AtomicU64,
    events_conflict: AtomicU64,
    enrolments: AtomicU64,
    notices_relayed: AtomicU64,
    notices_dropped: AtomicU64,
    relay_wakeups: AtomicU64,
    rejections: Mutex<BTreeMap<&'static str, u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Non-cumulative counts per bucket; the last slot is +Inf.
    counts: [u64; BUCKETS.len() + 1],
    sum_micros: u64,
    count: u64,
}

impl Metrics {
    pub fn batch(&self, stored: u64, duplicates: u64, conflicts: u64) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.events_stored.fetch_add(stored, Ordering::Relaxed);
        self.events_duplicate
            .fetch_add(duplicates, Ordering::Relaxed);
        self.events_conflict.fetch_add(conflicts, Ordering::Relaxed);
    }

    pub fn enrolled(&self) {
        self.enrolments.fetch_add(1, Ordering::Relaxed);
    }

    /// A channel's notification kept for its terminal (`true`) or dropped
    /// because the terminal is unknown or revoked.
    pub fn notice(&self, kept: bool) {
        let counter = if kept {
            &self.notices_relayed
        } else {
            &self.notices_dropped
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A waiting relay request woken by a notice kept for its terminal.
    pub fn relay_woken(&self) {
        self.relay_wakeups.fetch_add(1, Ordering::Relaxed);
    }

    pub fn rejected(&self, reason: &'static str) {
        let mut map = self.rejections.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry(reason).or_default() += 1;
    }

    pub fn observe(&self, route: &str, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let slot = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        let mut map = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let h = map.entry(route.to_owned()).or_default();
        h.counts[slot] += 1;
        h.count += 1;
        h.sum_micros = h
            .sum_micros
            .saturating_add(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, v: &AtomicU64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
        };
        counter(
            &mut out,
            "shouyin_hq_batches_total",
            "Event batches accepted.",
            &self.batches,
        );
        counter(
            &mut out,
            "shouyin_hq_events_stored_total",
            "Events stored for the first time.",
            &self.events_stored,
        );
        counter(
            &mut out,
            "shouyin_hq_events_duplicate_total",
            "Events received again with the same content.",
            &self.events_duplicate,
        );
        counter(
            &mut out,
            "shouyin_hq_events_conflict_total",
            "Events received again with different content (not stored).",
            &self.events_conflict,
        );
        counter(
            &mut out,
            "shouyin_hq_enrolments_total",
            "Terminals enrolled.",
            &self.enrolments,
        );
        counter(
            &mut out,
            "shouyin_hq_notices_relayed_total",
            "Channel notifications kept for their terminal.",
            &self.notices_relayed,
        );
        counter(
            &mut out,
            "shouyin_hq_notices_dropped_total",
            "Channel notifications for unknown or revoked terminals.",
            &self.notices_dropped,
        );
        counter(
            &mut out,
            "shouyin_hq_relay_wakeups_total",
            "Waiting relay requests woken by a notification for their terminal.",
            &self.relay_wakeups,
        );
        let _ = writeln!(
            out,
            "# HELP shouyin_hq_rejections_total Requests refused, by reason.\n# TYPE shouyin_hq_rejections_total counter"
        );
        {
            let map = self.rejections.lock().unwrap_or_else(|p| p.into_inner());
            for (reason, n) in map.iter() {
                let _ = writeln!(
                    out,
                    "shouyin_hq_rejections_total{{reason=\"{reason}\"}} {n}"
                );
            }
        }
        let name = "shouyin_hq_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Request latency by route.\n# TYPE {name} histogram"
        );
        let map = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        for (route, h) in map.iter() {
            let route = route.replace('\\', "\\\\").replace('"', "\\\"");
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += h.counts[i];
                let _ = writeln!(
                    out,
                    "{name}_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "{name}_sum{{route=\"{route}\"}} {}.{:06}",
                h.sum_micros / 1_000_000,
                h.sum_micros % 1_000_000
            );
            let _ = writeln!(out, "{name}_count{{route=\"{route}\"}} {}", h.count);
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_rejections_and_cumulative_buckets() {
        let m = Metrics::default();
        m.batch(10, 2, 1);
        m.rejected("bad_signature");
        m.rejected("bad_signature");
        m.observe("/v1/events", Duration::from_millis(3));
        m.observe("/v1/events", Duration::from_secs(20));
        let text = m.render();
        assert!(
            text.contains("shouyin_hq_events_stored_total 10\n"),
            "{text}"
        );
        assert!(
            text.contains("shouyin_hq_rejections_total{reason=\"bad_signature\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("le=\"0.005\"} 1\n"), "{text}");
        assert!(text.contains("le=\"10\"} 1\n"), "{text}");
        assert!(text.contains("le=\"+Inf\"} 2\n"), "{text}");
        assert!(
            text.contains("_sum{route=\"/v1/events\"} 20.003000\n"),
            "{text}"
        );
    }
}
