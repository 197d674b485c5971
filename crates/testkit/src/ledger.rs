//! A terminal's ledger in a temporary directory: a real SQLite file (WAL),
//! never `:memory:`.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use shouyin_api::{Counter, CounterOptions, InitRequest};

/// A ledger file created for one test, removed with it.
#[derive(Debug)]
pub struct TempLedger {
    pub dir: tempfile::TempDir,
    /// `<dir>/ledger.db`
    pub path: PathBuf,
}

impl TempLedger {
    /// The demo store's terminal T01 (Asia/Shanghai, cut-off 04:00),
    /// created at `now`.
    pub fn demo(now: DateTime<Utc>) -> TempLedger {
        TempLedger::new(&InitRequest::demo(), now)
    }

    pub fn new(setup: &InitRequest, now: DateTime<Utc>) -> TempLedger {
        let dir = tempfile::tempdir()
            .unwrap_or_else(|e| panic!("a temporary directory for a ledger: {e}"));
        let path = dir.path().join(shouyin_api::LEDGER_FILE);
        shouyin_api::init_ledger(&path, setup, now)
            .unwrap_or_else(|e| panic!("creating a ledger at {}: {e}", path.display()));
        TempLedger { dir, path }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A counter over this ledger.
    pub async fn counter(&self, options: CounterOptions) -> Counter {
        Counter::open_ledger(&self.path, options)
            .await
            .unwrap_or_else(|e| panic!("opening a counter on {}: {e}", self.path.display()))
    }
}
