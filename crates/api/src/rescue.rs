//! The rescue file: when a till's network is gone for good, every event head
//! office has not acknowledged leaves on a USB stick instead, signed with
//! the terminal secret so head office can tell it came from this till (see
//! [`shouyin_wire::RescueFile`]). Head office imports it once; importing it
//! again, or syncing the same events later, stores nothing twice: the same
//! (terminal, seq) rule as sync.

use std::io::Write;
use std::path::{Path, PathBuf};

use shouyin_wire::{self as wire, EventBatch, RescueFile};

use crate::sync::{wire_event, HqFile};
use crate::{blocking, ApiError, Counter, ErrorCode};

/// Events read from the ledger per step while writing a rescue file.
const READ_STEP: u32 = 5_000;

/// What a rescue export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RescueExport {
    pub path: PathBuf,
    pub events: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub bytes: u64,
}

impl Counter {
    /// Write every event after head office's last acknowledgement to `out`
    /// (which must not exist), signed with the terminal secret.
    pub async fn rescue_export(&self, out: &Path) -> Result<RescueExport, ApiError> {
        let file = self.load_hq_file().await?.ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidInput,
                "this till is not enrolled with head office: a rescue file is signed with the \
                 secret head office issued at enrolment",
            )
        })?;
        if out.exists() {
            return Err(ApiError::new(
                ErrorCode::ExportFileExists,
                format!("{} exists; choose a new file name", out.display()),
            ));
        }
        let cursor = i64::try_from(file.acked_seq).unwrap_or(i64::MAX);
        let events = self
            .with_ledger(move |ledger| {
                let mut all = Vec::new();
                let mut after = cursor;
                loop {
                    let step = ledger.events_after(after, READ_STEP)?;
                    let Some(last) = step.last() else { break };
                    after = last.seq;
                    all.extend(step);
                }
                Ok(all)
            })
            .await?;
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!(
                    "head office already holds every event of this till (up to {}): nothing to rescue",
                    file.acked_seq
                ),
            ));
        };
        let (first_seq, last_seq) = (first.seq as u64, last.seq as u64);
        let wire_events = events
            .iter()
            .map(|e| wire_event(e, &file))
            .collect::<Result<Vec<_>, _>>()?;
        let count = wire_events.len() as u64;
        let batch = serde_json::to_string(&EventBatch {
            events: wire_events,
            outbox_remaining: Some(0),
        })
        .map_err(|e| ApiError::internal(e.to_string()))?;
        let rescue = sign(&file, batch, first_seq, last_seq, self.now());
        let text =
            serde_json::to_vec_pretty(&rescue).map_err(|e| ApiError::internal(e.to_string()))?;
        let path = out.to_owned();
        let bytes = text.len() as u64;
        blocking(move || write_new(&path, &text)).await?;
        tracing::info!(events = count, first_seq, last_seq, file = %out.display(), "rescue file written");
        Ok(RescueExport {
            path: out.to_owned(),
            events: count,
            first_seq,
            last_seq,
            bytes,
        })
    }
}

fn sign(
    file: &HqFile,
    batch: String,
    first_seq: u64,
    last_seq: u64,
    now: chrono::DateTime<chrono::Utc>,
) -> RescueFile {
    let mut rescue = RescueFile {
        format: wire::RESCUE_FORMAT.to_owned(),
        terminal: file.terminal_id.clone(),
        store: file.store.clone(),
        timestamp: now.timestamp(),
        nonce: wire::new_nonce(&mut rand::thread_rng()),
        signature: String::new(),
        first_seq,
        last_seq,
        batch,
    };
    rescue.signature = wire::signature(file.secret.expose(), &rescue.canonical_text());
    rescue
}

/// Write a new file (never replacing one), durably, readable by its owner
/// only: it holds every sale it carries.
fn write_new(path: &Path, text: &[u8]) -> Result<(), ApiError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let fail = |e: std::io::Error| {
        let code = if e.kind() == std::io::ErrorKind::AlreadyExists {
            ErrorCode::ExportFileExists
        } else {
            ErrorCode::Storage
        };
        ApiError::new(code, format!("cannot write {}: {e}", path.display()))
    };
    let mut f = options.open(path).map_err(fail)?;
    f.write_all(text).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    Ok(())
}
