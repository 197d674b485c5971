//! The one error type every use case returns. The UI branches on `code`,
//! never on the message; the message is for people.

use serde::{Deserialize, Serialize};
use shouyin_channels::ChannelError;
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
    /// The channel answered no.
    ChannelRejected,
    /// The channel's answer failed its signature check: an alarm, never a
    /// status.
    ChannelUntrusted,
    /// No usable answer from the channel (timeout, 5xx, garbled body).
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
    /// No usable answer from head office (no connection, a timeout, a
    /// server error). Sales go on; sync catches up later.
    HqUnreachable,
    /// Head office answered no (e.g. the terminal was revoked, or the
    /// address is not a head office).
    HqRefused,
    /// No shift is open: a sale, a cash refund or a pay-in/out needs one
    /// (开班 with the float first).
    ShiftNotOpen,
    /// A shift is opened with its float (备用金) counted; none was given.
    FloatRequired,
    /// The cash handed over is less than the amount of the sale.
    TenderedTooLow,
    /// The receipt printer could not be reached or refused the job (the
    /// sale itself is never affected).
    PrinterFailed,
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

    /// The same error, its message saying what was being done.
    pub fn during(mut self, what: impl std::fmt::Display) -> ApiError {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

/// The one mapping of a channel's error kinds to codes, so an untrusted
/// answer reaches the UI as `channel_untrusted` whichever use case met it.
impl From<ChannelError> for ApiError {
    fn from(e: ChannelError) -> Self {
        let code = match &e {
            ChannelError::Definite { .. } => ErrorCode::ChannelRejected,
            ChannelError::Indeterminate { .. } => ErrorCode::ChannelUnreachable,
            ChannelError::Untrusted { .. } => ErrorCode::ChannelUntrusted,
            ChannelError::Config(_) => ErrorCode::InvalidInput,
        };
        ApiError::new(code, e.to_string())
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
            LedgerError::ShiftNotOpen => ErrorCode::ShiftNotOpen,
            LedgerError::Sqlite(_) | LedgerError::Migration(_) | LedgerError::Io { .. } => {
                ErrorCode::Storage
            }
        };
        ApiError::new(code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_channel_error_keeps_its_own_code() {
        let cases = [
            (
                ChannelError::Definite {
                    code: "TRADE_NOT_EXIST".into(),
                    message: "no such trade".into(),
                },
                ErrorCode::ChannelRejected,
            ),
            (
                ChannelError::Indeterminate {
                    reason: "timed out".into(),
                },
                ErrorCode::ChannelUnreachable,
            ),
            (
                ChannelError::Untrusted {
                    reason: "bad signature".into(),
                },
                ErrorCode::ChannelUntrusted,
            ),
            (
                ChannelError::Config("no key".into()),
                ErrorCode::InvalidInput,
            ),
        ];
        for (error, code) in cases {
            let text = error.to_string();
            let api = ApiError::from(error);
            assert_eq!(api.code, code, "{text}");
            assert_eq!(api.message, text);
        }
    }

    #[test]
    fn during_says_what_was_being_done() {
        let e = ApiError::new(ErrorCode::HqRefused, "404").during("enrolment at http://x");
        assert_eq!(e.code, ErrorCode::HqRefused);
        assert_eq!(e.message, "enrolment at http://x: 404");
    }
}
