//! What a counter does once when it opens, in one place for the desktop app
//! and the CLI: resolve every charge the last run left open, follow up open
//! refunds with their own request numbers, and (when asked) start sync to
//! head office, the relay of payment notifications and the daily backup.

use std::time::Duration;

use tokio::sync::watch;

use crate::dto::RefundDto;
use crate::{Counter, OrderDto};

/// What start-up should do besides recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartPlan {
    /// Start sync and the notification relay (a long-running counter); a
    /// one-shot command such as `shouyin recover` leaves them off.
    pub sync_and_relay: bool,
}

impl StartPlan {
    /// The desktop app: recovery, then sync and relay.
    pub const COUNTER: StartPlan = StartPlan {
        sync_and_relay: true,
    };
    /// A one-shot command: recovery only.
    pub const RECOVERY_ONLY: StartPlan = StartPlan {
        sync_and_relay: false,
    };
}

/// How far start-up has got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupStage {
    /// Asking the channels about `open` orders left unfinished.
    Recovering { open: usize },
    /// Recovery is over.
    Finished(StartupReport),
}

/// What recovery found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartupReport {
    /// The orders that were open, as they ended (or still stand).
    pub orders: Vec<OrderDto>,
    /// Refunds that were open and are being followed up.
    pub refunds: Vec<RefundDto>,
    /// Anything that stopped a part of recovery (logged as well).
    pub problems: Vec<String>,
}

/// A handle on a start-up in progress.
#[derive(Debug, Clone)]
pub struct Startup {
    stage: watch::Receiver<StartupStage>,
}

impl Startup {
    /// The current stage, for a progress display.
    pub fn stage(&self) -> StartupStage {
        self.stage.borrow().clone()
    }

    /// Waits until recovery is over, at most `limit`; `None` if it is not.
    pub async fn finished(&self, limit: Duration) -> Option<StartupReport> {
        let mut rx = self.stage.clone();
        let done = tokio::time::timeout(
            limit,
            rx.wait_for(|s| matches!(s, StartupStage::Finished(_))),
        )
        .await;
        match done {
            Ok(Ok(stage)) => match &*stage {
                StartupStage::Finished(report) => Some(report.clone()),
                StartupStage::Recovering { .. } => None,
            },
            _ => None,
        }
    }
}

impl Counter {
    /// Starts the counter: recovery runs in the background (watch it with
    /// the returned [`Startup`]), then, as `plan` says, sync and relay.
    /// Must be called within a tokio runtime.
    pub fn start(&self, plan: StartPlan) -> Startup {
        let (tx, rx) = watch::channel(StartupStage::Recovering { open: 0 });
        let counter = self.clone();
        tokio::spawn(async move {
            let mut report = StartupReport::default();
            match counter
                .with_ledger(|ledger| Ok(ledger.open_orders()?.len()))
                .await
            {
                Ok(open) => {
                    tx.send_replace(StartupStage::Recovering { open });
                }
                Err(e) => report
                    .problems
                    .push(format!("cannot list open orders: {e}")),
            }
            match counter.recover().await {
                Ok(orders) => report.orders = orders,
                Err(e) => {
                    tracing::error!("recovery at start failed: {e}");
                    report.problems.push(format!("recovery failed: {e}"));
                }
            }
            match counter.refunds_recover().await {
                Ok(refunds) => report.refunds = refunds,
                Err(e) => {
                    tracing::error!("refund recovery at start failed: {e}");
                    report.problems.push(format!("refund recovery failed: {e}"));
                }
            }
            // Receipts queued before a restart print now.
            counter.print_drain().await;
            tx.send_replace(StartupStage::Finished(report));
        });
        if plan.sync_and_relay {
            self.start_sync();
            self.start_relay();
            self.start_backups();
        }
        Startup { stage: rx }
    }
}
