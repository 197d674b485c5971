//! When the ledger is backed up, and what settings show about it.
//!
//! The copy itself is the ledger crate's ([`shouyin_ledger::backup`]): the
//! online backup API from a connection of its own, so the till keeps selling
//! while it runs; checked with `integrity_check`; a rotating set of the
//! newest [`BACKUP_KEEP`] in the data directory's `backups` folder.
//!
//! A counter opened on a data directory (the app) backs up at each shift
//! close and once a day ([`BACKUP_EVERY`] after the last good copy, checked
//! every [`SCHEDULE_TICK`]). Every attempt, good or failed, is remembered in
//! the ledger; a failure raises an alarm and stays on the settings page as
//! a warning until a good copy follows.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
pub use shouyin_ledger::backup::BACKUP_KEEP;
use shouyin_ledger::backup::{BackupRecord, BackupSet};

use crate::dto::{AlarmDto, CounterEvent};
use crate::{blocking, ApiError, Counter, ErrorCode};

/// The folder of the rotating set inside an app data directory.
pub const BACKUP_DIR: &str = "backups";
/// A daily copy is due this long after the last good one.
pub const BACKUP_EVERY: Duration = Duration::from_secs(24 * 3600);
/// How often the schedule looks whether a copy is due (and retries one
/// that failed).
pub const SCHEDULE_TICK: Duration = Duration::from_secs(3600);

/// The last backup, as the settings page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct BackupStatusDto {
    /// Whether this counter backs up at all (the app does).
    pub scheduled: bool,
    /// The folder of the rotating set.
    pub dir: Option<String>,
    /// The newest good copy: when (RFC 3339 UTC), its file and size.
    pub last_at: Option<String>,
    pub last_file: Option<String>,
    #[ts(type = "number | null")]
    pub last_bytes: Option<i64>,
    /// Events the newest good copy holds.
    #[ts(type = "number | null")]
    pub last_seq: Option<i64>,
    /// The newest attempt failed: the warning settings show.
    pub failing: bool,
    pub failed_at: Option<String>,
    pub error: Option<String>,
    /// The failure's class, for the words the page shows beside `error`.
    pub error_code: Option<ErrorCode>,
    /// Copies in the set now.
    pub kept: u32,
}

impl Counter {
    fn backup_set(&self) -> Option<BackupSet> {
        self.inner
            .backup_dir
            .as_ref()
            .map(|dir| BackupSet::new(dir, BACKUP_KEEP))
    }

    /// Back the ledger up into the rotating set now. A failure is not an
    /// error of the call: it is recorded, raises an alarm, and the status
    /// says `failing`.
    pub async fn backup_now(&self, reason: &str) -> Result<BackupStatusDto, ApiError> {
        let set = self.backup_set().ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidInput,
                "this ledger has no backup folder (only the app's data directory has one)",
            )
        })?;
        // One copy at a time: a shift close during the daily copy waits.
        let _one = self.inner.backup_running.lock().await;
        let ledger_path = self.inner.ledger_path.clone();
        let now = self.now();
        let reason_owned = reason.to_owned();
        // Not under the ledger's mutex: sales go on while the copy is made.
        let taken = blocking(move || Ok(set.take(&ledger_path, now, &reason_owned))).await?;
        let record = match taken {
            Ok(info) => {
                tracing::info!(
                    file = %info.path.display(),
                    bytes = info.bytes,
                    last_seq = info.last_seq,
                    ms = info.took.as_millis() as u64,
                    "ledger backed up"
                );
                BackupRecord {
                    at: now,
                    reason: reason.to_owned(),
                    file: Some(info.path.display().to_string()),
                    bytes: i64::try_from(info.bytes).ok(),
                    last_seq: Some(info.last_seq),
                    took_ms: i64::try_from(info.took.as_millis()).ok(),
                    error: None,
                    error_code: None,
                }
            }
            Err(e) => {
                let message = e.to_string();
                let code = ApiError::from(e).code;
                tracing::error!("ledger backup failed: {message}");
                self.emit(CounterEvent::Alarm {
                    alarm: AlarmDto {
                        kind: "backup_failed".into(),
                        at: shouyin_ledger::ts(now),
                        channel: None,
                        order_no: None,
                        message: format!("backup failed: {message}"),
                    },
                });
                BackupRecord {
                    at: now,
                    reason: reason.to_owned(),
                    file: None,
                    bytes: None,
                    last_seq: None,
                    took_ms: None,
                    error: Some(message),
                    error_code: serde_json::to_value(code)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned)),
                }
            }
        };
        self.with_ledger(move |ledger| Ok(ledger.record_backup(&record)?))
            .await?;
        self.backup_status().await
    }

    /// The last good backup and whether the newest attempt failed.
    pub async fn backup_status(&self) -> Result<BackupStatusDto, ApiError> {
        let set = self.backup_set();
        let (last, good) = self
            .with_ledger(|ledger| Ok((ledger.last_backup()?, ledger.last_good_backup()?)))
            .await?;
        let kept = match &set {
            Some(set) => {
                let set = set.clone();
                // A folder that cannot be listed is the failure the
                // status already reports; it must not hide the status.
                blocking(move || Ok(set.list().map(|l| l.len() as u32).unwrap_or(0))).await?
            }
            None => 0,
        };
        let failed = last.filter(|r| r.error.is_some());
        Ok(BackupStatusDto {
            scheduled: set.is_some(),
            dir: set.as_ref().map(|s| s.dir().display().to_string()),
            last_at: good.as_ref().map(|r| shouyin_ledger::ts(r.at)),
            last_file: good.as_ref().and_then(|r| r.file.clone()),
            last_bytes: good.as_ref().and_then(|r| r.bytes),
            last_seq: good.as_ref().and_then(|r| r.last_seq),
            failing: failed.is_some(),
            failed_at: failed.as_ref().map(|r| shouyin_ledger::ts(r.at)),
            error_code: failed
                .as_ref()
                .and_then(|r| r.error_code.clone())
                .and_then(|c| serde_json::from_value(serde_json::Value::String(c)).ok()),
            error: failed.and_then(|r| r.error),
            kept,
        })
    }

    /// After a shift closes: a copy in the background, so the close itself
    /// never waits for it.
    pub(crate) fn backup_after_shift(&self) {
        if self.inner.backup_dir.is_none() {
            return;
        }
        let counter = self.clone();
        tokio::spawn(async move {
            if let Err(e) = counter.backup_now("shift").await {
                tracing::error!("backup after the shift close: {e}");
            }
        });
    }

    /// The daily copy: one when none was made for [`BACKUP_EVERY`], looked
    /// at every [`SCHEDULE_TICK`] until the counter shuts down.
    pub(crate) fn start_backups(&self) {
        if self.inner.backup_dir.is_none() {
            return;
        }
        let counter = self.clone();
        tokio::spawn(async move {
            let mut shutdown = counter.inner.shutdown.subscribe();
            loop {
                if *shutdown.borrow() {
                    return;
                }
                let due = match counter
                    .with_ledger(|ledger| Ok(ledger.last_good_backup()?))
                    .await
                {
                    Ok(Some(last)) => {
                        let age = counter.now().signed_duration_since(last.at);
                        age.to_std().map(|age| age >= BACKUP_EVERY).unwrap_or(false)
                    }
                    Ok(None) => true,
                    Err(e) => {
                        tracing::warn!("cannot read the last backup: {e}");
                        false
                    }
                };
                if due {
                    if let Err(e) = counter.backup_now("daily").await {
                        tracing::error!("daily backup: {e}");
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(SCHEDULE_TICK) => {}
                    _ = shutdown.changed() => return,
                }
            }
        });
    }
}

/// The backup folder of an app data directory.
pub fn backup_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(BACKUP_DIR)
}
