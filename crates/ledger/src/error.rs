use std::path::PathBuf;

use shouyin_core::{OrderState, TransitionError};

/// What can go wrong with the ledger, as the caller needs to act on it.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("no ledger at {0}: create one with `shouyin init`")]
    Missing(PathBuf),
    #[error("a file already exists at {0}; refusing to overwrite it")]
    AlreadyExists(PathBuf),
    #[error("{path} is not a Shouyin ledger ({reason}); the file was left untouched")]
    NotALedger { path: PathBuf, reason: String },
    #[error("the ledger at {path} has schema version {found}, newer than this program understands ({supported}); update Shouyin")]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("{path} is damaged: PRAGMA integrity_check reports {problems}")]
    Damaged { path: PathBuf, problems: String },
    #[error("the ledger is locked by another program; close it and try again")]
    Locked,
    #[error("order {0} does not exist")]
    NoSuchOrder(String),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("order {order} is {state}; {what}")]
    Conflict {
        order: String,
        state: OrderState,
        what: String,
    },
    #[error("invalid input: {0}")]
    Invalid(String),
    /// Cash moves only inside an open shift (开班 first), so that every
    /// cash sale, refund and pay-in/out is counted by exactly one close.
    #[error("no shift is open: open one (开班) with the float first")]
    ShiftNotOpen,
    #[error("ledger storage error: {0}")]
    Sqlite(rusqlite::Error),
    #[error("ledger migration failed: {0}")]
    Migration(String),
    #[error("ledger file error at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<rusqlite::Error> for LedgerError {
    fn from(e: rusqlite::Error) -> Self {
        if is_busy(&e) {
            LedgerError::Locked
        } else {
            LedgerError::Sqlite(e)
        }
    }
}

pub(crate) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked)
    )
}

pub type Result<T, E = LedgerError> = std::result::Result<T, E>;
