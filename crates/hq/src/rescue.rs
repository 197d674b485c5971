//! Importing a terminal's rescue file ([`crate::wire::RescueFile`]): the
//! events of a till whose network is gone for good, brought by hand.
//!
//! The file must be signed by an enrolled, unrevoked terminal, and every
//! event must be that terminal's. The events are stored exactly as a batch
//! the terminal posted would be: at most once per (terminal, seq), so a file
//! imported twice, or events that later arrive by sync too, are stored once.

use chrono::{DateTime, Utc};
use shouyin_core::TerminalId;

use crate::secret::SealKey;
use crate::store::{EventRow, IngestBatch, Store, StoreError};
use crate::wire::{self, EventBatch, RescueFile};

/// Events stored per transaction, as a terminal's own batches are.
const IMPORT_STEP: usize = 2_000;

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RescueImport {
    pub terminal: String,
    pub events: u64,
    /// Stored now.
    pub stored: u64,
    /// Already held with the same content (an earlier import, or sync).
    pub duplicates: u64,
    /// Held with other content: not overwritten.
    pub conflicts: Vec<u64>,
    /// Every event 1..=acked_seq of the terminal is now held.
    pub acked_seq: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RescueError {
    #[error("not a rescue file: {0}")]
    Unreadable(String),
    #[error("the rescue file's signature does not verify for terminal {0} (not enrolled here, or the file was changed)")]
    BadSignature(String),
    #[error("terminal {0} is revoked: its rescue file is refused")]
    Revoked(String),
    #[error("the rescue file is not consistent: {0}")]
    Inconsistent(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for RescueError {
    fn from(e: StoreError) -> Self {
        RescueError::Store(e)
    }
}

/// Check and store a rescue file's events.
pub async fn import(
    store: &dyn Store,
    key: &SealKey,
    text: &[u8],
    now: DateTime<Utc>,
) -> Result<RescueImport, RescueError> {
    let file: RescueFile =
        serde_json::from_slice(text).map_err(|e| RescueError::Unreadable(e.to_string()))?;
    if file.format != wire::RESCUE_FORMAT {
        return Err(RescueError::Unreadable(format!(
            "format '{}', expected '{}'",
            file.format,
            wire::RESCUE_FORMAT
        )));
    }
    let terminal = file.terminal.to_string();
    let record = store
        .terminal(file.terminal.clone())
        .await?
        .ok_or_else(|| RescueError::BadSignature(terminal.clone()))?;
    let secret = key.terminal_secret(&record.id, &record.salt);
    if !wire::verify_signature(&secret, &file.canonical_text(), &file.signature) {
        return Err(RescueError::BadSignature(terminal));
    }
    if record.revoked {
        return Err(RescueError::Revoked(terminal));
    }
    let batch: EventBatch = serde_json::from_str(&file.batch)
        .map_err(|e| RescueError::Unreadable(format!("the batch: {e}")))?;
    let mut rows = Vec::with_capacity(batch.events.len());
    for (i, event) in batch.events.iter().enumerate() {
        if event.terminal != record.id || event.store != record.store {
            return Err(RescueError::Inconsistent(format!(
                "event {i} belongs to terminal {} of store {}, not the signer {} of store {}",
                event.terminal, event.store, record.id, record.store
            )));
        }
        rows.push(EventRow::from_event(event).ok_or_else(|| {
            RescueError::Inconsistent(format!("event {i} has sequence number {}", event.seq))
        })?);
    }
    let mut outcome = RescueImport {
        terminal,
        events: rows.len() as u64,
        ..RescueImport::default()
    };
    for chunk in rows.chunks(IMPORT_STEP) {
        let stored = store
            .ingest(IngestBatch {
                terminal: record.id.clone(),
                // The file's own nonce may be remembered from an earlier
                // import; the signature above is what proves the sender.
                nonce: format!("rescue-{}", wire::new_nonce(&mut rand::thread_rng())),
                forget_nonces_before: now
                    - chrono::Duration::seconds(crate::server::NONCE_MEMORY_SECS),
                rows: chunk.to_vec(),
                outbox_remaining: None,
                now,
            })
            .await
            .map_err(|e| match e {
                StoreError::Revoked => RescueError::Revoked(record.id.to_string()),
                other => RescueError::Store(other),
            })?;
        outcome.stored += stored.stored;
        outcome.duplicates += stored.duplicates;
        outcome.conflicts.extend(stored.conflicts);
        outcome.acked_seq = stored.acked_seq;
    }
    if outcome.events == 0 {
        outcome.acked_seq = acked_of(store, &record.id).await?;
    }
    Ok(outcome)
}

async fn acked_of(store: &dyn Store, id: &TerminalId) -> Result<u64, StoreError> {
    Ok(store
        .terminals()
        .await?
        .into_iter()
        .find(|t| &t.id == id)
        .map(|t| t.acked_seq)
        .unwrap_or(0))
}
