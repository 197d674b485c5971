//! Channel calls counted for head office: every call a channel client makes
//! is counted per channel × call kind, by outcome, with its latency in a
//! fixed histogram. Counting is a few integer additions under a lock held
//! for nothing else, so it never slows the counter; the sum has one cell
//! per channel and call kind, so it stays the same size however long head
//! office is out of reach — a week offline is reported as one summary.
//!
//! The sync loop sends the sum about every [`REPORT_EVERY`] while it holds
//! anything (`shouyin sync --once` sends at once) and takes off what head
//! office accepted. A process that ends with calls unreported (the CLI's
//! charges) leaves them in `<ledger>.calls.json`; the next sync pass adds
//! them back and sends them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use shouyin_channels::model::{
    BillLine, CloseOutcome, CodePay, CodePayAnswer, CreateQr, QrCreated, RefundRequest,
    RefundResult, RemotePayment,
};
use shouyin_channels::{Channel, ChannelError, ChannelFuture};
use shouyin_core::ChannelKind;
use shouyin_wire::{self as wire, CallKind, CallLine, CallOutcome, ChannelReport};

use crate::Clock;

/// How often the sync loop reports channel calls while it has any.
pub const REPORT_EVERY: Duration = Duration::from_secs(15);
/// Appended to the ledger's file name to name the unreported-calls file.
pub const CALLS_FILE_SUFFIX: &str = ".calls.json";

#[derive(Debug, Clone, Default)]
struct Cell {
    outcomes: [u64; 4],
    buckets: [u64; wire::CALL_BUCKET_SLOTS],
    sum_ms: u64,
}

impl Cell {
    fn add(&mut self, other: &Cell) {
        for (a, b) in self.outcomes.iter_mut().zip(other.outcomes) {
            *a = a.saturating_add(b);
        }
        for (a, b) in self.buckets.iter_mut().zip(other.buckets) {
            *a = a.saturating_add(b);
        }
        self.sum_ms = self.sum_ms.saturating_add(other.sum_ms);
    }

    fn take(&mut self, other: &Cell) {
        for (a, b) in self.outcomes.iter_mut().zip(other.outcomes) {
            *a = a.saturating_sub(b);
        }
        for (a, b) in self.buckets.iter_mut().zip(other.buckets) {
            *a = a.saturating_sub(b);
        }
        self.sum_ms = self.sum_ms.saturating_sub(other.sum_ms);
    }

    fn is_empty(&self) -> bool {
        self.outcomes.iter().all(|n| *n == 0)
    }
}

#[derive(Debug, Default)]
struct Pending {
    /// When the oldest unreported call was made.
    since: Option<DateTime<Utc>>,
    cells: HashMap<(ChannelKind, CallKind), Cell>,
}

/// The calls not yet reported to head office.
#[derive(Debug, Default)]
pub(crate) struct ChannelCalls {
    pending: Mutex<Pending>,
    last_report: Mutex<Option<Instant>>,
    /// The end of the last report head office took: the next one starts
    /// there (head office refuses a period it already has).
    last_to: Mutex<Option<DateTime<Utc>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Counting is advisory; a panic elsewhere must not stop the till.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How a call's result counts.
pub(crate) fn outcome_of<T>(result: &Result<T, ChannelError>) -> Option<CallOutcome> {
    match result {
        Ok(_) => Some(CallOutcome::Ok),
        Err(ChannelError::Definite { .. }) => Some(CallOutcome::Refused),
        Err(ChannelError::Indeterminate { .. }) => Some(CallOutcome::Indeterminate),
        Err(ChannelError::Untrusted { .. }) => Some(CallOutcome::Untrusted),
        // Refused before anything was sent: not a call.
        Err(ChannelError::Config(_)) => None,
    }
}

impl ChannelCalls {
    pub(crate) fn record(
        &self,
        channel: ChannelKind,
        call: CallKind,
        outcome: CallOutcome,
        took: Duration,
        now: DateTime<Utc>,
    ) {
        let slot = wire::channel_report::bucket_of(took.as_secs_f64());
        let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        let mut p = lock(&self.pending);
        p.since.get_or_insert(now);
        let cell = p.cells.entry((channel, call)).or_default();
        cell.outcomes[outcome.index()] = cell.outcomes[outcome.index()].saturating_add(1);
        cell.buckets[slot] = cell.buckets[slot].saturating_add(1);
        cell.sum_ms = cell.sum_ms.saturating_add(ms);
    }

    pub(crate) fn is_empty(&self) -> bool {
        lock(&self.pending).cells.values().all(Cell::is_empty)
    }

    /// Whether a report is due: something to say and [`REPORT_EVERY`]
    /// since the last.
    pub(crate) fn due(&self, now: Instant) -> bool {
        !self.is_empty()
            && lock(&self.last_report).is_none_or(|at| now.duration_since(at) >= REPORT_EVERY)
    }

    /// The report of everything pending up to `now`; `None` when nothing is.
    pub(crate) fn report(&self, now: DateTime<Utc>) -> Option<ChannelReport> {
        let p = lock(&self.pending);
        let mut lines: Vec<CallLine> = p
            .cells
            .iter()
            .filter(|(_, c)| !c.is_empty())
            .map(|((channel, call), c)| CallLine {
                channel: *channel,
                call: *call,
                ok: c.outcomes[0],
                refused: c.outcomes[1],
                indeterminate: c.outcomes[2],
                untrusted: c.outcomes[3],
                buckets: c.buckets.to_vec(),
                sum_ms: c.sum_ms,
            })
            .collect();
        if lines.is_empty() {
            return None;
        }
        lines.sort_by_key(|l| (l.channel.as_str(), l.call));
        let since = p.since.unwrap_or(now);
        let from = match *lock(&self.last_to) {
            Some(last) if last > since => last,
            _ => since,
        };
        // Head office wants each report to end after the last one.
        let to = now.max(from);
        Some(ChannelReport {
            from,
            to,
            lines,
            store_name: None,
        })
    }

    /// Head office took `report`: take its counts off what is pending
    /// (calls made while it travelled stay).
    pub(crate) fn taken(&self, report: &ChannelReport, at: Instant) {
        let mut p = lock(&self.pending);
        for line in &report.lines {
            if let Some(cell) = p.cells.get_mut(&(line.channel, line.call)) {
                cell.take(&cell_of(line));
            }
        }
        p.cells.retain(|_, c| !c.is_empty());
        if p.cells.is_empty() {
            p.since = None;
        }
        *lock(&self.last_report) = Some(at);
        *lock(&self.last_to) = Some(report.to);
    }

    /// A report was tried and failed: wait a full interval before the next.
    pub(crate) fn tried(&self, at: Instant) {
        *lock(&self.last_report) = Some(at);
    }

    /// Add calls left by an earlier process.
    fn absorb(&self, report: &ChannelReport) {
        let mut p = lock(&self.pending);
        let since = p.since.map_or(report.from, |s| s.min(report.from));
        p.since = Some(since);
        for line in &report.lines {
            p.cells
                .entry((line.channel, line.call))
                .or_default()
                .add(&cell_of(line));
        }
    }

    /// Move calls left in `path` by an earlier process into this one, and
    /// remove the file.
    pub(crate) fn load_left(&self, path: &Path) -> std::io::Result<()> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        match serde_json::from_str::<ChannelReport>(&text) {
            Ok(report) if report.check().is_ok() => self.absorb(&report),
            // Counts only; a file that does not read is not worth a sale.
            _ => tracing::warn!(path = %path.display(), "unreadable unreported-calls file dropped"),
        }
        std::fs::remove_file(path)
    }

    /// Leave what is pending in `path` for the next process.
    pub(crate) fn save_left(&self, path: &Path, now: DateTime<Utc>) -> std::io::Result<()> {
        let Some(report) = self.report(now) else {
            return Ok(());
        };
        let text = serde_json::to_vec(&report).map_err(std::io::Error::other)?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)?;
        *lock(&self.pending) = Pending::default();
        Ok(())
    }
}

fn cell_of(line: &CallLine) -> Cell {
    let mut buckets = [0u64; wire::CALL_BUCKET_SLOTS];
    for (a, b) in buckets.iter_mut().zip(&line.buckets) {
        *a = *b;
    }
    Cell {
        outcomes: line.by_outcome(),
        buckets,
        sum_ms: line.sum_ms,
    }
}

/// The unreported-calls file of the ledger at `ledger`.
pub fn calls_file_path(ledger: &Path) -> PathBuf {
    let mut name = ledger
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "ledger".into());
    name.push(CALLS_FILE_SUFFIX);
    ledger.with_file_name(name)
}

/// A channel whose every call is counted in [`ChannelCalls`].
#[derive(Debug)]
pub(crate) struct Metered {
    inner: Arc<dyn Channel>,
    calls: Arc<ChannelCalls>,
    clock: Arc<dyn Clock>,
}

impl Metered {
    pub(crate) fn wrap(
        inner: Arc<dyn Channel>,
        calls: Arc<ChannelCalls>,
        clock: Arc<dyn Clock>,
    ) -> Arc<dyn Channel> {
        Arc::new(Metered {
            inner,
            calls,
            clock,
        })
    }

    fn counted<'a, T: Send + 'a>(
        &'a self,
        call: CallKind,
        fut: ChannelFuture<'a, T>,
    ) -> ChannelFuture<'a, T> {
        Box::pin(async move {
            let started = Instant::now();
            let result = fut.await;
            if let Some(outcome) = outcome_of(&result) {
                self.calls.record(
                    self.inner.kind(),
                    call,
                    outcome,
                    started.elapsed(),
                    self.clock.now(),
                );
            }
            result
        })
    }
}

impl Channel for Metered {
    fn kind(&self) -> ChannelKind {
        self.inner.kind()
    }

    fn create_qr<'a>(&'a self, req: &'a CreateQr) -> ChannelFuture<'a, QrCreated> {
        self.counted(CallKind::Create, self.inner.create_qr(req))
    }

    fn query<'a>(&'a self, out_trade_no: &'a str) -> ChannelFuture<'a, RemotePayment> {
        self.counted(CallKind::Query, self.inner.query(out_trade_no))
    }

    fn close<'a>(&'a self, out_trade_no: &'a str) -> ChannelFuture<'a, CloseOutcome> {
        self.counted(CallKind::Close, self.inner.close(out_trade_no))
    }

    fn refund<'a>(&'a self, req: &'a RefundRequest) -> ChannelFuture<'a, RefundResult> {
        self.counted(CallKind::Refund, self.inner.refund(req))
    }

    fn query_refund<'a>(
        &'a self,
        out_trade_no: &'a str,
        out_refund_no: &'a str,
    ) -> ChannelFuture<'a, RefundResult> {
        self.counted(
            CallKind::Refund,
            self.inner.query_refund(out_trade_no, out_refund_no),
        )
    }

    fn pay_by_code<'a>(&'a self, req: &'a CodePay) -> ChannelFuture<'a, CodePayAnswer> {
        self.counted(CallKind::PayByCode, self.inner.pay_by_code(req))
    }

    // Ending a code payment closes (or reverses) its trade.
    fn reverse_code_payment<'a>(
        &'a self,
        out_trade_no: &'a str,
    ) -> ChannelFuture<'a, CloseOutcome> {
        self.counted(
            CallKind::Close,
            self.inner.reverse_code_payment(out_trade_no),
        )
    }

    // The bill is a daily download, not a payment call.
    fn daily_bill(&self, date: NaiveDate) -> ChannelFuture<'_, Vec<BillLine>> {
        self.inner.daily_bill(date)
    }

    fn open_notification(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<shouyin_channels::model::PaymentNotice, ChannelError> {
        self.inner.open_notification(headers, body, now)
    }

    fn notification_ack(&self, accepted: bool) -> shouyin_channels::model::NotificationAck {
        self.inner.notification_ack(accepted)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn counts_stay_one_line_per_channel_and_call_however_many_calls() {
        let calls = ChannelCalls::default();
        for i in 0..100_000u64 {
            let outcome = if i % 2 == 0 {
                CallOutcome::Ok
            } else {
                CallOutcome::Indeterminate
            };
            calls.record(
                ChannelKind::Wechat,
                CallKind::Query,
                outcome,
                Duration::from_millis(i % 700),
                t(i64::try_from(i).unwrap()),
            );
        }
        let report = calls.report(t(200_000)).unwrap();
        assert_eq!(report.lines.len(), 1);
        assert_eq!(report.lines[0].ok, 50_000);
        assert_eq!(report.lines[0].indeterminate, 50_000);
        assert_eq!(report.from, t(0));
        report.check().unwrap();
        assert!(serde_json::to_vec(&report).unwrap().len() < 1024);
    }

    #[test]
    fn what_head_office_took_comes_off_and_later_calls_stay() {
        let calls = ChannelCalls::default();
        let rec = |c: &ChannelCalls, at| {
            c.record(
                ChannelKind::Alipay,
                CallKind::Create,
                CallOutcome::Ok,
                Duration::from_millis(80),
                t(at),
            )
        };
        rec(&calls, 1);
        rec(&calls, 2);
        let report = calls.report(t(3)).unwrap();
        rec(&calls, 4);
        calls.taken(&report, Instant::now());
        let next = calls.report(t(20)).unwrap();
        assert_eq!(next.lines[0].ok, 1);
        assert_eq!(
            next.from,
            t(3),
            "the next report starts where the last ended"
        );
        assert!(!calls.due(Instant::now()), "just reported");
    }

    #[test]
    fn a_report_is_due_every_interval_while_there_is_something_to_say() {
        let calls = ChannelCalls::default();
        let now = Instant::now();
        assert!(!calls.due(now), "nothing to say");
        calls.record(
            ChannelKind::Wechat,
            CallKind::Close,
            CallOutcome::Ok,
            Duration::from_millis(5),
            t(0),
        );
        assert!(calls.due(now), "never reported yet");
        calls.tried(now);
        assert!(!calls.due(now + REPORT_EVERY - Duration::from_millis(1)));
        assert!(calls.due(now + REPORT_EVERY));
    }

    /// Counting a call is a few additions under an uncontended lock: far
    /// below a millisecond, so it never slows a sale.
    #[test]
    fn counting_a_call_is_cheap() {
        let calls = ChannelCalls::default();
        let n = 200_000u32;
        let started = Instant::now();
        for i in 0..n {
            calls.record(
                ChannelKind::Alipay,
                CallKind::Query,
                CallOutcome::Ok,
                Duration::from_millis(u64::from(i % 900)),
                t(0),
            );
        }
        let per_call = started.elapsed() / n;
        println!("counting one channel call: {per_call:?}");
        assert!(
            per_call < Duration::from_micros(20),
            "{per_call:?} per call"
        );
    }

    #[test]
    fn calls_left_by_one_process_are_sent_by_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let path = calls_file_path(&dir.path().join("l.db"));
        let first = ChannelCalls::default();
        first.record(
            ChannelKind::Wechat,
            CallKind::Create,
            CallOutcome::Refused,
            Duration::from_millis(120),
            t(0),
        );
        first.save_left(&path, t(1)).unwrap();
        assert!(first.is_empty());
        let second = ChannelCalls::default();
        second.load_left(&path).unwrap();
        assert!(!path.exists());
        let report = second.report(t(2)).unwrap();
        assert_eq!(report.lines[0].refused, 1);
        assert_eq!(report.lines[0].buckets[2], 1);
    }
}
