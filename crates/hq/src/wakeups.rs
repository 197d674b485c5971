//! Wake-ups for relay requests waiting in this process, one per terminal:
//! a kept notice wakes only its own terminal's waiters, so a flood of
//! notices for one terminal costs the others nothing.
//!
//! Other processes sharing the database are not woken; their waiters look
//! again now and then (see the relay in `crate::server`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;

/// Terminal id → the waiters' `Notify`, held weakly: the entry lives as long
/// as someone waits, and dead entries are swept as the table grows.
#[derive(Debug, Default)]
pub struct Wakeups {
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    by_terminal: HashMap<String, Weak<Notify>>,
    /// Sweep dead entries when the table reaches this size.
    sweep_at: usize,
}

const MIN_SWEEP: usize = 64;

impl Wakeups {
    /// The wake-up of `terminal`. Create its `notified()` future and
    /// `enable()` it before looking for notices, so that one kept in
    /// between is not missed.
    pub fn of(&self, terminal: &str) -> Arc<Notify> {
        let mut t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(live) = t.by_terminal.get(terminal).and_then(Weak::upgrade) {
            return live;
        }
        if t.by_terminal.len() >= t.sweep_at.max(MIN_SWEEP) {
            t.by_terminal.retain(|_, w| w.strong_count() > 0);
            t.sweep_at = t.by_terminal.len() * 2;
        }
        let notify = Arc::new(Notify::new());
        t.by_terminal
            .insert(terminal.to_owned(), Arc::downgrade(&notify));
        notify
    }

    /// Wake every request of `terminal` waiting now.
    pub fn wake(&self, terminal: &str) {
        let live = {
            let t = self.table.lock().unwrap_or_else(|p| p.into_inner());
            t.by_terminal.get(terminal).and_then(Weak::upgrade)
        };
        if let Some(notify) = live {
            notify.notify_waiters();
        }
    }

    /// Wake every waiting request of every terminal (channel control
    /// changed: each looks whether its set is still current).
    pub fn wake_all(&self) {
        let live: Vec<Arc<Notify>> = {
            let t = self.table.lock().unwrap_or_else(|p| p.into_inner());
            t.by_terminal.values().filter_map(Weak::upgrade).collect()
        };
        for notify in live {
            notify.notify_waiters();
        }
    }

    #[cfg(test)]
    fn entries(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_terminal
            .len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_wake_reaches_only_its_terminal() {
        let w = Wakeups::default();
        let a = w.of("A");
        let b = w.of("B");
        let a_woken = a.notified();
        let b_woken = b.notified();
        tokio::pin!(a_woken, b_woken);
        a_woken.as_mut().enable();
        b_woken.as_mut().enable();
        w.wake("A");
        tokio::time::timeout(Duration::from_secs(1), a_woken)
            .await
            .expect("A is woken");
        assert!(
            tokio::time::timeout(Duration::from_millis(100), b_woken)
                .await
                .is_err(),
            "B must sleep on"
        );
    }

    #[tokio::test]
    async fn a_wake_between_enable_and_await_is_kept() {
        let w = Wakeups::default();
        let a = w.of("A");
        let woken = a.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        w.wake("A");
        tokio::time::timeout(Duration::from_secs(1), woken)
            .await
            .expect("the wake before the await counts");
    }

    #[test]
    fn entries_of_gone_waiters_are_swept() {
        let w = Wakeups::default();
        for i in 0..1000 {
            drop(w.of(&format!("T{i}")));
        }
        let kept = w.of("kept");
        for i in 0..1000 {
            drop(w.of(&format!("U{i}")));
        }
        assert!(w.entries() <= 2 * MIN_SWEEP, "{}", w.entries());
        assert!(Arc::ptr_eq(&kept, &w.of("kept")), "a live entry stays");
    }
}
