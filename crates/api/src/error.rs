//! The one error type every use case returns. The UI branches on `code`,
//! never on the message; the message is for people.

use serde::{Deserialize, Serialize};
use shouyin_core::AmountError;
use shouyin_ledger::LedgerError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ErrorCode {
    InvalidAmount,
    InvalidInput,
    ChannelUnavailable,
    NotFound,
    Conflict,
    LedgerLocked,
    LedgerCorrupt,
    LedgerTooNew,
    Storage,
    ChannelRejected,
    ChannelUntrusted,
    ChannelUnreachable,
    Internal,
    /// The PIN given with a login or approval is wrong.
    PinWrong,
    /// Too many wrong PINs: the user is locked for a while.
    UserLocked,
    /// The user lacks the role the action needs (e.g. not a manager).
    NotPermitted,
    /// A refund would take the total refunded above what was paid.
    OverRefund,
    /// The action needs a manager's approval (name and PIN) and none was given.
    ApprovalRequired,
    /// An export may not be written there: the ledger, its side files or
    /// the app's data directory.
    ExportPathForbidden,
    /// An export would replace an existing file and overwriting was not
    /// chosen.
    ExportFileExists,
    /// Head office's address is plain `http://` to another machine: the
    /// terminal secret and every sale would travel readable. Use https://.
    InsecureHqUrl,
    /// The session's role may not use this command (the role matrix).
    Forbidden,
    /// The command needs a logged-in user and the window has none.
    NotLoggedIn,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error, ts_rs::TS)]
#[error("{message}")]
#[ts(export)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Internal, message)
    }
}

impl From<AmountError> for ApiError {
    fn from(e: AmountError) -> Self {
        ApiError::new(ErrorCode::InvalidAmount, e.to_string())
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        let code = match &e {
            LedgerError::Missing(_) | LedgerError::NoSuchOrder(_) => ErrorCode::NotFound,
            LedgerError::AlreadyExists(_)
            | LedgerError::Conflict { .. }
            | LedgerError::Transition(_) => ErrorCode::Conflict,
            LedgerError::NotALedger { .. } => ErrorCode::LedgerCorrupt,
            LedgerError::TooNew { .. } => ErrorCode::LedgerTooNew,
            LedgerError::Locked => ErrorCode::LedgerLocked,
            LedgerError::Invalid(_) => ErrorCode::InvalidInput,
            LedgerError::Sqlite(_) | LedgerError::Migration(_) | LedgerError::Io { .. } => {
                ErrorCode::Storage
            }
        };
        ApiError::new(code, e.to_string())
    }
}
