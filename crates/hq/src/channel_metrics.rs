//! Every store's payment channels in one place: the terminals' channel-call
//! reports and the confirmation times read from their synced events, kept
//! in process memory and rendered as the `shouyin_channel_*` Prometheus
//! metrics and the page's channel health table.
//!
//! Label values come only from authenticated terminals (their enrolled
//! store and id) and from the closed lists of channels, call kinds and
//! outcomes, so nothing a stranger posts creates a series. Counters start
//! again at zero when the process restarts, which Prometheus expects of a
//! counter.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, NaiveDate, Utc};
use shouyin_core::ChannelKind;

use crate::wire::{self, CallKind, CallOutcome, ChannelReport, StoreCode, CALL_BUCKET_SLOTS};

/// Upper bounds of the confirmation-time buckets (QR shown or code scanned
/// → paid), in seconds.
pub const CONFIRM_BUCKETS: [f64; 12] = [
    2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0,
];
/// Orders remembered between "shown" and "paid"; beyond this the oldest
/// half is forgotten (their confirmation is then not timed).
const SHOWN_KEPT: usize = 100_000;
/// A call line whose share of indeterminate or untrusted answers is at
/// least this (percent) marks its cell on the page as failing.
pub const FAILING_PERCENT: u64 = 20;

#[derive(Debug, Clone, Default)]
struct CallCell {
    outcomes: [u64; 4],
    buckets: [u64; CALL_BUCKET_SLOTS],
    sum_ms: u64,
}

#[derive(Debug, Clone, Default)]
struct ConfirmCell {
    buckets: [u64; CONFIRM_BUCKETS.len() + 1],
    sum_ms: u64,
    count: u64,
}

/// Today's calls of one store and channel, for the page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthCell {
    pub calls: u64,
    /// Indeterminate and untrusted answers.
    pub errors: u64,
    pub untrusted: u64,
    buckets: [u64; CALL_BUCKET_SLOTS],
    /// When the last failing call was reported, and how it failed.
    pub last_problem: Option<(DateTime<Utc>, &'static str)>,
    /// Orders whose state became unknown today, from the synced events,
    /// and how those that ended did end.
    pub unknown: UnknownCounts,
}

/// Orders that went through `unknown` (no usable answer from the channel),
/// and how they ended: paid after all (resolved), closed or failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnknownCounts {
    pub entered: u64,
    pub resolved: u64,
    pub closed: u64,
    pub failed: u64,
}

impl UnknownCounts {
    /// The share of `n` among the orders that became unknown, in percent.
    pub fn percent(&self, n: u64) -> u64 {
        (n * 100).checked_div(self.entered).unwrap_or(0)
    }

    /// Still unknown (or ended some other way, e.g. left for the manager).
    pub fn open(&self) -> u64 {
        self.entered
            .saturating_sub(self.resolved + self.closed + self.failed)
    }

    fn add(&mut self, outcome: UnknownOutcome) {
        let n = match outcome {
            UnknownOutcome::Entered => &mut self.entered,
            UnknownOutcome::Resolved => &mut self.resolved,
            UnknownOutcome::Closed => &mut self.closed,
            UnknownOutcome::Failed => &mut self.failed,
        };
        *n = n.saturating_add(1);
    }
}

/// What happened to an order in or after the unknown state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnknownOutcome {
    Entered,
    Resolved,
    Closed,
    Failed,
}

impl UnknownOutcome {
    const ENDS: [UnknownOutcome; 3] = [
        UnknownOutcome::Resolved,
        UnknownOutcome::Closed,
        UnknownOutcome::Failed,
    ];

    fn as_str(self) -> &'static str {
        match self {
            UnknownOutcome::Entered => "entered",
            UnknownOutcome::Resolved => "resolved",
            UnknownOutcome::Closed => "closed",
            UnknownOutcome::Failed => "failed",
        }
    }
}

impl HealthCell {
    pub fn error_percent(&self) -> u64 {
        (self.errors * 100).checked_div(self.calls).unwrap_or(0)
    }

    pub fn failing(&self) -> bool {
        self.untrusted > 0 || (self.calls > 0 && self.error_percent() >= FAILING_PERCENT)
    }

    /// The upper bound of the bucket holding the 95th percentile call, in
    /// seconds; `None` past the last bound or without calls.
    pub fn p95_seconds(&self) -> Option<f64> {
        let total: u64 = self.buckets.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = (total * 95).div_ceil(100);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return wire::CALL_BUCKETS.get(i).copied();
            }
        }
        None
    }
}

/// The channel health table of one business day.
#[derive(Debug, Clone, Default)]
pub struct HealthTable {
    pub date: Option<NaiveDate>,
    /// Store code → channel → cell.
    pub cells: BTreeMap<String, BTreeMap<&'static str, HealthCell>>,
    /// Store code → name as the tills' ledgers carry it.
    pub names: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct Inner {
    calls: BTreeMap<(String, String, &'static str, CallKind), CallCell>,
    last_report: BTreeMap<(String, String), i64>,
    /// End of the last report taken, per terminal.
    last_to: HashMap<String, DateTime<Utc>>,
    confirm: BTreeMap<(String, &'static str), ConfirmCell>,
    shown: HashMap<String, DateTime<Utc>>,
    /// Store and channel → orders that became unknown, and their ends.
    unknown: BTreeMap<(String, &'static str), UnknownCounts>,
    /// Orders seen becoming unknown and not yet ended, with when.
    unknown_open: HashMap<String, DateTime<Utc>>,
    today: HealthTable,
}

impl Inner {
    /// Today's cell of a store and channel, starting a new day's table
    /// when the date has moved.
    fn day_cell(
        &mut self,
        store: &str,
        channel: &'static str,
        today: NaiveDate,
    ) -> &mut HealthCell {
        if self.today.date != Some(today) {
            self.today.cells.clear();
            self.today.date = Some(today);
        }
        self.today
            .cells
            .entry(store.to_owned())
            .or_default()
            .entry(channel)
            .or_default()
    }
}

/// Why a report was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Its period ends no later than one already taken from this terminal.
    Replayed { last_to: DateTime<Utc> },
}

#[derive(Debug, Default)]
pub struct ChannelMetrics {
    inner: Mutex<Inner>,
}

fn channel_label(kind: ChannelKind) -> Option<&'static str> {
    match kind {
        ChannelKind::Cash => None,
        other => Some(other.as_str()),
    }
}

impl ChannelMetrics {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take a checked report of `terminal` in `store`, whole or not at all.
    pub fn ingest(
        &self,
        store: &StoreCode,
        terminal: &str,
        report: &ChannelReport,
        now: DateTime<Utc>,
        today: NaiveDate,
    ) -> Result<(), Refusal> {
        let mut inner = self.lock();
        if let Some(last_to) = inner.last_to.get(terminal) {
            if report.to <= *last_to {
                return Err(Refusal::Replayed { last_to: *last_to });
            }
        }
        inner.last_to.insert(terminal.to_owned(), report.to);
        inner
            .last_report
            .insert((store.to_string(), terminal.to_owned()), now.timestamp());
        if inner.today.date != Some(today) {
            inner.today.cells.clear();
            inner.today.date = Some(today);
        }
        if let Some(name) = &report.store_name {
            inner.today.names.insert(store.to_string(), name.clone());
        }
        for line in &report.lines {
            let Some(channel) = channel_label(line.channel) else {
                continue;
            };
            let cell = inner
                .calls
                .entry((store.to_string(), terminal.to_owned(), channel, line.call))
                .or_default();
            for (a, b) in cell.outcomes.iter_mut().zip(line.by_outcome()) {
                *a = a.saturating_add(b);
            }
            for (a, b) in cell.buckets.iter_mut().zip(&line.buckets) {
                *a = a.saturating_add(*b);
            }
            cell.sum_ms = cell.sum_ms.saturating_add(line.sum_ms);
            let day = inner
                .today
                .cells
                .entry(store.to_string())
                .or_default()
                .entry(channel)
                .or_default();
            day.calls = day.calls.saturating_add(line.calls());
            let errors = line.indeterminate.saturating_add(line.untrusted);
            day.errors = day.errors.saturating_add(errors);
            day.untrusted = day.untrusted.saturating_add(line.untrusted);
            for (a, b) in day.buckets.iter_mut().zip(&line.buckets) {
                *a = a.saturating_add(*b);
            }
            if line.untrusted > 0 {
                day.last_problem = Some((report.to, CallOutcome::Untrusted.as_str()));
            } else if line.indeterminate > 0 {
                day.last_problem = Some((report.to, CallOutcome::Indeterminate.as_str()));
            }
        }
        Ok(())
    }

    /// A terminal was heard from (an event batch).
    pub fn heard(&self, store: &StoreCode, terminal: &str, now: DateTime<Utc>) {
        self.lock()
            .last_report
            .insert((store.to_string(), terminal.to_owned()), now.timestamp());
    }

    /// Read newly stored events, per store and channel: confirmation times
    /// (an order's QR shown — `order_pending`, or `order_created` for a
    /// scanned code — to its `order_paid`), and the orders that became
    /// unknown with how they ended (paid after all, closed, failed).
    pub fn events(&self, store: &StoreCode, events: &[wire::Event], today: NaiveDate) {
        let mut inner = self.lock();
        for event in events {
            self.unknown_event(&mut inner, store, event, today);
            match event.kind.as_str() {
                wire::kinds::ORDER_CREATED => {
                    if inner.shown.len() >= SHOWN_KEPT {
                        forget_oldest_half(&mut inner.shown);
                    }
                    inner
                        .shown
                        .entry(event.order_no.clone())
                        .or_insert(event.at);
                }
                "order_pending" => {
                    if inner.shown.len() >= SHOWN_KEPT {
                        forget_oldest_half(&mut inner.shown);
                    }
                    inner.shown.insert(event.order_no.clone(), event.at);
                }
                wire::kinds::ORDER_PAID => {
                    let Some(shown) = inner.shown.remove(&event.order_no) else {
                        continue;
                    };
                    let channel = event
                        .payload
                        .get("channel")
                        .and_then(|v| v.as_str())
                        .and_then(|c| c.parse::<ChannelKind>().ok())
                        .and_then(channel_label);
                    let Some(channel) = channel else { continue };
                    let ms = (event.at - shown).num_milliseconds().max(0);
                    let secs = ms as f64 / 1000.0;
                    let slot = CONFIRM_BUCKETS
                        .iter()
                        .position(|b| secs <= *b)
                        .unwrap_or(CONFIRM_BUCKETS.len());
                    let cell = inner
                        .confirm
                        .entry((store.to_string(), channel))
                        .or_default();
                    cell.buckets[slot] += 1;
                    cell.count += 1;
                    cell.sum_ms = cell.sum_ms.saturating_add(ms.unsigned_abs());
                }
                _ => {}
            }
        }
    }

    /// Count an order entering `unknown`, or ending after it.
    fn unknown_event(
        &self,
        inner: &mut Inner,
        store: &StoreCode,
        event: &wire::Event,
        today: NaiveDate,
    ) {
        let outcome = match event.kind.as_str() {
            "order_unknown" => UnknownOutcome::Entered,
            wire::kinds::ORDER_PAID => UnknownOutcome::Resolved,
            "order_closed" => UnknownOutcome::Closed,
            "order_failed" => UnknownOutcome::Failed,
            _ => return,
        };
        let channel = event
            .payload
            .get("channel")
            .and_then(|v| v.as_str())
            .and_then(|c| c.parse::<ChannelKind>().ok())
            .and_then(channel_label);
        let Some(channel) = channel else { return };
        if outcome == UnknownOutcome::Entered {
            // Unknown twice (asked again, no answer again) is one order.
            if inner.unknown_open.contains_key(&event.order_no) {
                return;
            }
            if inner.unknown_open.len() >= SHOWN_KEPT {
                forget_oldest_half(&mut inner.unknown_open);
            }
            inner.unknown_open.insert(event.order_no.clone(), event.at);
        } else {
            // An order that left unknown for pending and then ended still
            // counts; after a restart of this process the event's own
            // `from` says it.
            let was_unknown = inner.unknown_open.remove(&event.order_no).is_some()
                || event.payload.get("from").and_then(|v| v.as_str()) == Some("unknown");
            if !was_unknown {
                return;
            }
        }
        inner
            .unknown
            .entry((store.to_string(), channel))
            .or_default()
            .add(outcome);
        inner
            .day_cell(store.as_str(), channel, today)
            .unknown
            .add(outcome);
    }

    /// Today's table for the page (empty when the day has changed).
    pub fn health_table(&self, today: NaiveDate) -> HealthTable {
        let inner = self.lock();
        let mut table = inner.today.clone();
        if table.date != Some(today) {
            table.cells.clear();
        }
        table
    }

    /// Store code → name, as last reported.
    pub fn store_names(&self) -> BTreeMap<String, String> {
        self.lock().today.names.clone()
    }

    /// How many call series exist (tests and the benchmark look at it).
    pub fn series(&self) -> usize {
        self.lock().calls.len()
    }

    pub fn render(&self, out: &mut String) {
        let inner = self.lock();
        let stores = if inner.today.names.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = inner
                .today
                .names
                .iter()
                .map(|(code, name)| format!("{code}={}", help_text(name)))
                .collect();
            format!(" Stores: {}.", names.join(", "))
        };
        let name = "shouyin_channel_calls_total";
        let _ = writeln!(
            out,
            "# HELP {name} Payment channel calls made by the tills, by outcome.{stores}\n# TYPE {name} counter"
        );
        for ((store, terminal, channel, call), cell) in &inner.calls {
            for outcome in CallOutcome::ALL {
                let _ = writeln!(
                    out,
                    "{name}{{store=\"{}\",terminal=\"{}\",channel=\"{channel}\",call=\"{}\",outcome=\"{}\"}} {}",
                    esc(store),
                    esc(terminal),
                    call.as_str(),
                    outcome.as_str(),
                    cell.outcomes[outcome.index()]
                );
            }
        }
        let name = "shouyin_channel_call_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Latency of the tills' payment channel calls.{stores}\n# TYPE {name} histogram"
        );
        for ((store, terminal, channel, call), cell) in &inner.calls {
            let labels = format!(
                "store=\"{}\",terminal=\"{}\",channel=\"{channel}\",call=\"{}\"",
                esc(store),
                esc(terminal),
                call.as_str()
            );
            histogram(
                out,
                name,
                &labels,
                &wire::CALL_BUCKETS,
                &cell.buckets,
                cell.sum_ms,
            );
        }
        let name = "shouyin_channel_confirm_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from QR code shown (or payment code scanned) to paid, from the synced events.{stores}\n# TYPE {name} histogram"
        );
        for ((store, channel), cell) in &inner.confirm {
            let labels = format!("store=\"{}\",channel=\"{channel}\"", esc(store));
            histogram(
                out,
                name,
                &labels,
                &CONFIRM_BUCKETS,
                &cell.buckets,
                cell.sum_ms,
            );
        }
        let name = "shouyin_channel_unknown_orders_total";
        let _ = writeln!(
            out,
            "# HELP {name} Orders whose payment state became unknown (no usable answer from the channel), from the synced events.{stores}\n# TYPE {name} counter"
        );
        for ((store, channel), counts) in &inner.unknown {
            let _ = writeln!(
                out,
                "{name}{{store=\"{}\",channel=\"{channel}\"}} {}",
                esc(store),
                counts.entered
            );
        }
        let name = "shouyin_channel_unknown_outcomes_total";
        let _ = writeln!(
            out,
            "# HELP {name} How orders that became unknown ended: resolved (paid after all), closed or failed, from the synced events.{stores}\n# TYPE {name} counter"
        );
        for ((store, channel), counts) in &inner.unknown {
            for outcome in UnknownOutcome::ENDS {
                let n = match outcome {
                    UnknownOutcome::Resolved => counts.resolved,
                    UnknownOutcome::Closed => counts.closed,
                    _ => counts.failed,
                };
                let _ = writeln!(
                    out,
                    "{name}{{store=\"{}\",channel=\"{channel}\",outcome=\"{}\"}} {n}",
                    esc(store),
                    outcome.as_str()
                );
            }
        }
        let name = "shouyin_terminal_last_report_timestamp_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} When head office last heard from the terminal (events or channel report), Unix seconds.{stores}\n# TYPE {name} gauge"
        );
        for ((store, terminal), at) in &inner.last_report {
            let _ = writeln!(
                out,
                "{name}{{store=\"{}\",terminal=\"{}\"}} {at}",
                esc(store),
                esc(terminal)
            );
        }
    }
}

fn forget_oldest_half(shown: &mut HashMap<String, DateTime<Utc>>) {
    let mut times: Vec<DateTime<Utc>> = shown.values().copied().collect();
    times.sort_unstable();
    if let Some(cut) = times.get(times.len() / 2).copied() {
        shown.retain(|_, at| *at > cut);
    }
}

fn histogram(
    out: &mut String,
    name: &str,
    labels: &str,
    bounds: &[f64],
    counts: &[u64],
    sum_ms: u64,
) {
    let mut cumulative = 0u64;
    for (bound, n) in bounds.iter().zip(counts) {
        cumulative += n;
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
    }
    let total: u64 = counts.iter().sum();
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {total}");
    let _ = writeln!(
        out,
        "{name}_sum{{{labels}}} {}.{:03}",
        sum_ms / 1000,
        sum_ms % 1000
    );
    let _ = writeln!(out, "{name}_count{{{labels}}} {total}");
}

/// A label value in the exposition format.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Help text may not hold a line break; a backslash is escaped.
fn help_text(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', " ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::wire::CallLine;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + secs, 0).unwrap()
    }

    fn report(from: i64, to: i64, ok: u64, indeterminate: u64) -> ChannelReport {
        let mut buckets = vec![0; CALL_BUCKET_SLOTS];
        buckets[1] = ok;
        buckets[CALL_BUCKET_SLOTS - 1] = indeterminate;
        ChannelReport {
            from: t(from),
            to: t(to),
            lines: vec![CallLine {
                channel: ChannelKind::Wechat,
                call: CallKind::Create,
                ok,
                refused: 0,
                indeterminate,
                untrusted: 0,
                buckets,
                sum_ms: ok * 80 + indeterminate * 31_000,
            }],
            store_name: Some("南京路店".into()),
        }
    }

    #[test]
    fn reports_add_up_and_a_replayed_period_is_refused() {
        let m = ChannelMetrics::default();
        let store = StoreCode::parse("SH01").unwrap();
        let day = t(0).date_naive();
        m.ingest(&store, "T01", &report(0, 15, 3, 1), t(15), day)
            .unwrap();
        m.ingest(&store, "T01", &report(15, 30, 1, 3), t(30), day)
            .unwrap();
        assert!(matches!(
            m.ingest(&store, "T01", &report(15, 30, 1, 3), t(31), day),
            Err(Refusal::Replayed { .. })
        ));
        let mut text = String::new();
        m.render(&mut text);
        assert!(text.contains("shouyin_channel_calls_total{store=\"SH01\",terminal=\"T01\",channel=\"wechat\",call=\"create\",outcome=\"ok\"} 4\n"), "{text}");
        assert!(text.contains("outcome=\"indeterminate\"} 4\n"), "{text}");
        assert!(text.contains("shouyin_channel_call_seconds_bucket{store=\"SH01\",terminal=\"T01\",channel=\"wechat\",call=\"create\",le=\"0.1\"} 4\n"), "{text}");
        assert!(text.contains("le=\"+Inf\"} 8\n"), "{text}");
        assert!(text.contains("shouyin_terminal_last_report_timestamp_seconds{store=\"SH01\",terminal=\"T01\"} 1790000030\n"), "{text}");
        assert!(text.contains("SH01=南京路店"), "{text}");
        let table = m.health_table(day);
        let cell = &table.cells["SH01"]["wechat"];
        assert_eq!((cell.calls, cell.errors, cell.error_percent()), (8, 4, 50));
        assert!(cell.failing());
        assert_eq!(cell.p95_seconds(), None, "the slowest half timed out");
    }

    #[test]
    fn orders_that_became_unknown_are_counted_with_how_they_ended() {
        let m = ChannelMetrics::default();
        let store = StoreCode::parse("SH01").unwrap();
        let day = t(0).date_naive();
        let ev = |order: &str, kind: &str, from: &str, channel: &str| wire::Event {
            seq: 1,
            order_no: order.into(),
            kind: kind.into(),
            payload: serde_json::json!({"channel": channel, "from": from})
                .as_object()
                .unwrap()
                .clone(),
            at: t(0),
            store: store.clone(),
            terminal: shouyin_core::TerminalId::parse("T01").unwrap(),
        };
        m.events(
            &store,
            &[
                // Paid after being unknown, via pending again.
                ev("o1", "order_unknown", "pending", "wechat"),
                ev("o1", "order_pending", "unknown", "wechat"),
                ev("o1", "order_unknown", "pending", "wechat"),
                ev("o1", "order_paid", "unknown", "wechat"),
                ev("o2", "order_unknown", "pending", "wechat"),
                ev("o2", "order_closed", "unknown", "wechat"),
                ev("o3", "order_unknown", "pending", "wechat"),
                ev("o3", "order_failed", "unknown", "wechat"),
                ev("o4", "order_unknown", "pending", "wechat"),
                // Never unknown: not counted.
                ev("o5", "order_paid", "pending", "wechat"),
                ev("o6", "order_closed", "pending", "alipay"),
                // Cash is no channel.
                ev("o7", "order_unknown", "pending", "cash"),
            ],
            day,
        );
        // Ended after this process restarted: the event's `from` says it.
        let m2 = ChannelMetrics::default();
        m2.events(&store, &[ev("o8", "order_paid", "unknown", "alipay")], day);
        let cell = &m.health_table(day).cells["SH01"]["wechat"];
        assert_eq!(
            cell.unknown,
            UnknownCounts {
                entered: 4,
                resolved: 1,
                closed: 1,
                failed: 1
            }
        );
        assert_eq!(cell.unknown.open(), 1);
        assert_eq!(cell.unknown.percent(cell.unknown.resolved), 25);
        assert!(!m.health_table(day).cells["SH01"].contains_key("alipay"));
        let mut text = String::new();
        m.render(&mut text);
        assert!(
            text.contains(
                "shouyin_channel_unknown_orders_total{store=\"SH01\",channel=\"wechat\"} 4\n"
            ),
            "{text}"
        );
        for (outcome, n) in [("resolved", 1), ("closed", 1), ("failed", 1)] {
            assert!(text.contains(&format!("shouyin_channel_unknown_outcomes_total{{store=\"SH01\",channel=\"wechat\",outcome=\"{outcome}\"}} {n}\n")), "{text}");
        }
        assert!(!text.contains("channel=\"cash\""), "{text}");
        let mut text = String::new();
        m2.render(&mut text);
        assert!(text.contains("shouyin_channel_unknown_outcomes_total{store=\"SH01\",channel=\"alipay\",outcome=\"resolved\"} 1\n"), "{text}");
    }

    #[test]
    fn confirmation_time_runs_from_qr_shown_to_paid() {
        let m = ChannelMetrics::default();
        let store = StoreCode::parse("SH01").unwrap();
        let ev = |seq, kind: &str, at| wire::Event {
            seq,
            order_no: "T01-1".into(),
            kind: kind.into(),
            payload: serde_json::json!({"channel": "alipay"})
                .as_object()
                .unwrap()
                .clone(),
            at: t(at),
            store: store.clone(),
            terminal: shouyin_core::TerminalId::parse("T01").unwrap(),
        };
        m.events(
            &store,
            &[ev(1, "order_created", 0), ev(2, "order_pending", 1)],
            t(0).date_naive(),
        );
        m.events(
            &store,
            &[ev(3, "order_paid", 13), ev(3, "order_paid", 13)],
            t(0).date_naive(),
        );
        let mut text = String::new();
        m.render(&mut text);
        assert!(text.contains("shouyin_channel_confirm_seconds_bucket{store=\"SH01\",channel=\"alipay\",le=\"10\"} 0\n"), "{text}");
        assert!(text.contains("shouyin_channel_confirm_seconds_bucket{store=\"SH01\",channel=\"alipay\",le=\"15\"} 1\n"), "{text}");
        assert!(
            text.contains(
                "shouyin_channel_confirm_seconds_count{store=\"SH01\",channel=\"alipay\"} 1\n"
            ),
            "{text}"
        );
    }
}
