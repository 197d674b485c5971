//! Payment notifications, pushed by the channels through head office.
//!
//! A counter has no address the channels can reach, head office has: each
//! QR order names `{head office}/v1/notify/{terminal}/{channel}` as its
//! notify URL, head office keeps what arrives there, and this loop holds a
//! signed long poll (`GET /v1/relay`) open to fetch it the moment it lands.
//!
//! A notification is only a hint. It is checked against the channel's own
//! signature (head office cannot forge one), and then wakes the order's
//! watcher, which asks the channel and settles the order from the answer,
//! exactly as a scheduled query would. While the relay is live, watchers
//! poll only as a slow safety net; when it is down they poll as before, so
//! a lost notification or a dead link costs time, never a sale.
//!
//! The same request carries head office's channel suspensions: the till
//! names the control version it holds (none at start and after a failed
//! request), and head office answers at once with the current set when its
//! version differs (see `crate::suspensions`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use shouyin_core::{ChannelKind, TerminalId};
use shouyin_wire::{self as wire, RelayAnswer, RelayedNotice};
use tokio::sync::Notify;

use crate::hq_client::{backoff, HqError};
use crate::sync::HqFile;
use crate::{ApiError, Counter};

/// How long head office may hold a relay request open.
const RELAY_WAIT_SECS: u64 = 25;
/// While not enrolled, look for the head-office file this often.
const NOT_ENROLLED_INTERVAL: Duration = Duration::from_secs(5);
/// Wait after head office's channel suspensions could not be kept.
const SUSPENSIONS_RETRY: Duration = Duration::from_secs(2);
/// Wait after the head-office file could not be read.
const FILE_RETRY: Duration = Duration::from_secs(30);
/// A notification older than this is past the channel's signature window
/// and of no use to a waiting order; recovery settles such orders.
const NOTICE_USEFUL_FOR: chrono::Duration = chrono::Duration::minutes(4);

/// The relay's state, shared by the loop and the payment watchers.
#[derive(Debug, Default)]
pub(crate) struct RelayShared {
    /// Head office and this terminal's id there, once enrolled.
    target: Mutex<Option<(String, TerminalId)>>,
    /// The last relay request was answered and the next one is out.
    live: AtomicBool,
    started: AtomicBool,
    /// One wake-up per watched order, by order number.
    hints: Mutex<HashMap<String, Arc<Notify>>>,
    /// Orders whose channel was told to notify head office (this run).
    announced: Mutex<HashSet<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Relay state is advisory; a panic elsewhere must not stop the till.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Removes an order's wake-up when its watcher ends.
pub(crate) struct HintGuard {
    counter: Counter,
    order_no: String,
    pub(crate) notify: Arc<Notify>,
}

impl Drop for HintGuard {
    fn drop(&mut self) {
        let relay = &self.counter.inner.relay;
        lock(&relay.hints).remove(&self.order_no);
        lock(&relay.announced).remove(&self.order_no);
    }
}

impl Counter {
    /// Whether payment notifications currently reach this counter.
    pub fn relay_live(&self) -> bool {
        self.inner.relay.live.load(Ordering::SeqCst)
    }

    /// Where the channel should post its notification for this order, when
    /// this counter is enrolled with head office and the channel sends
    /// them; the order is then remembered as one that will be notified.
    pub(crate) fn notify_url_for(&self, kind: ChannelKind, order_no: &str) -> Option<String> {
        let channel = match kind {
            ChannelKind::Alipay => "alipay",
            ChannelKind::Wechat => "wechat",
            _ => return None,
        };
        let url = lock(&self.inner.relay.target)
            .as_ref()
            .map(|(hq_url, terminal)| wire::notify_url(hq_url, terminal, channel))?;
        lock(&self.inner.relay.announced).insert(order_no.to_owned());
        Some(url)
    }

    /// The order is final without a watcher: nothing will be notified.
    pub(crate) fn forget_announced(&self, order_no: &str) {
        lock(&self.inner.relay.announced).remove(order_no);
    }

    /// Whether a notification for this order would reach us now: the
    /// channel was given head office's URL for it and the relay is live.
    /// Orders created before enrolment (or before a restart) are not
    /// counted on, and are polled on the full schedule.
    pub(crate) fn notified_of(&self, order_no: &str) -> bool {
        self.relay_live() && lock(&self.inner.relay.announced).contains(order_no)
    }

    /// Register the wake-up of a watched order.
    pub(crate) fn hint_slot(&self, order_no: &str) -> HintGuard {
        let notify = Arc::clone(
            lock(&self.inner.relay.hints)
                .entry(order_no.to_owned())
                .or_default(),
        );
        HintGuard {
            counter: self.clone(),
            order_no: order_no.to_owned(),
            notify,
        }
    }

    /// A channel says something happened to this order: have its watcher
    /// ask now. `false` when no watcher has it (final, or not ours).
    pub fn payment_hint(&self, order_no: &str) -> bool {
        match lock(&self.inner.relay.hints).get(order_no) {
            Some(notify) => {
                // A permit is kept if the watcher is busy querying, so a
                // hint that arrives mid-query is not lost.
                notify.notify_one();
                true
            }
            None => false,
        }
    }

    /// Start the relay loop (once per counter; later calls do nothing). It
    /// stops when the counter shuts down.
    pub fn start_relay(&self) {
        if self.inner.relay.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let counter = self.clone();
        tokio::spawn(async move {
            counter.relay_run().await;
            counter.inner.relay.started.store(false, Ordering::SeqCst);
        });
    }

    /// Record whether notifications get through, and tell the UI when
    /// that changes.
    async fn set_live(&self, live: bool) {
        let was = self.inner.relay.live.swap(live, Ordering::SeqCst);
        if was != live {
            tracing::info!(live, "payment notifications relay");
            if let Ok(status) = self.sync_status().await {
                self.emit_status(&status);
            }
        }
    }

    async fn relay_run(&self) {
        let mut shutdown = self.inner.shutdown.subscribe();
        let mut after = 0u64;
        let mut failures = 0u32;
        // The control version whose suspensions the ledger holds; none at
        // start and after a failure, so head office sends its current set.
        let mut held: Option<u64> = None;
        loop {
            if *shutdown.borrow() {
                self.set_live(false).await;
                return;
            }
            let file = match self.relay_file().await {
                Ok(Some(file)) => file,
                Ok(None) => {
                    *lock(&self.inner.relay.target) = None;
                    self.set_live(false).await;
                    tokio::select! {
                        _ = tokio::time::sleep(NOT_ENROLLED_INTERVAL) => continue,
                        _ = shutdown.changed() => continue,
                    }
                }
                Err(e) => {
                    tracing::warn!("relay: {e}");
                    self.set_live(false).await;
                    tokio::select! {
                        _ = tokio::time::sleep(FILE_RETRY) => continue,
                        _ = shutdown.changed() => continue,
                    }
                }
            };
            *lock(&self.inner.relay.target) = Some((file.hq_url.clone(), file.terminal_id.clone()));
            let answer = tokio::select! {
                a = self.relay_fetch(&file, after, held) => a,
                _ = shutdown.changed() => continue,
            };
            match answer {
                Ok(answer) => {
                    failures = 0;
                    self.set_live(true).await;
                    for notice in &answer.notices {
                        self.take_notice(notice);
                    }
                    after = answer.next_after;
                    if let Some(set) = &answer.suspensions {
                        match self.take_suspensions(set).await {
                            Ok(()) => held = Some(set.version),
                            Err(e) => {
                                // Head office answers at once while the set
                                // is not held: wait before asking again.
                                tracing::warn!("channel suspensions not kept: {e}");
                                tokio::select! {
                                    _ = tokio::time::sleep(SUSPENSIONS_RETRY) => {}
                                    _ = shutdown.changed() => {}
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    held = None;
                    self.set_live(false).await;
                    tracing::debug!("relay request failed: {e}");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff(failures)) => {}
                        _ = shutdown.changed() => {}
                    }
                }
            }
        }
    }

    async fn relay_file(&self) -> Result<Option<HqFile>, ApiError> {
        let path = crate::sync::hq_file_path(&self.inner.ledger_path);
        crate::blocking(move || HqFile::load(&path)).await
    }

    async fn relay_fetch(
        &self,
        file: &HqFile,
        after: u64,
        held: Option<u64>,
    ) -> Result<RelayAnswer, HqError> {
        // The first request after (re)connecting answers at once, so the
        // link is known to work before anyone relies on it.
        let wait = if self.relay_live() {
            RELAY_WAIT_SECS
        } else {
            0
        };
        self.inner.hq.relay(file, after, wait, held).await
    }

    /// Check one relayed notification and wake its order's watcher.
    fn take_notice(&self, notice: &RelayedNotice) {
        if self.now() - notice.received_at > NOTICE_USEFUL_FOR {
            tracing::debug!(id = notice.id, "relayed notification too old to matter");
            return;
        }
        let kind = match notice.channel.as_str() {
            "alipay" => ChannelKind::Alipay,
            "wechat" => ChannelKind::Wechat,
            other => {
                tracing::warn!(
                    id = notice.id,
                    "relayed notification from unknown channel {other}"
                );
                return;
            }
        };
        let Ok(channel) = self.channel(kind) else {
            tracing::warn!(
                id = notice.id,
                "relayed {kind} notification, but {kind} is not configured"
            );
            return;
        };
        // Anyone can post to head office's notify URL: only the channel's
        // signature makes a notification worth acting on, and even then
        // the order is settled by asking the channel.
        match channel.open_notification(&notice.headers, notice.body.as_bytes(), self.now()) {
            Ok(n) => {
                let woke = self.payment_hint(&n.out_trade_no);
                tracing::debug!(order_no = %n.out_trade_no, paid = n.paid, woke, "payment notification");
                if n.paid && !woke {
                    // Nobody is watching the order: it may be one the till
                    // already gave up. A late success is never dropped; the
                    // channel's query decides.
                    let counter = self.clone();
                    tokio::spawn(async move {
                        let no = n.out_trade_no;
                        if let Err(e) = counter.recheck(no.clone(), "notification").await {
                            tracing::warn!(order_no = %no, "paid notification not settled: {e}");
                        }
                    });
                }
            }
            Err(e) => {
                tracing::warn!(id = notice.id, "relayed {kind} notification refused: {e}");
            }
        }
    }
}
