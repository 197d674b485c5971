//! The one error type every use case returns. The UI branches on `code`,
//! never on the message; the message is for people.

use std::collections::BTreeMap;

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
    /// A bill file that cannot be read; `fields.reason` names why (empty,
    /// bad_archive, no_table, several_tables, missing_field, bad_amount,
    /// bad_time, unknown_value, csv, io) with `line`, `column`, `value`,
    /// `format`, `path` where they apply.
    BillUnreadable,
    /// The bill file is the other channel's (`fields.found`, `fields.wanted`).
    BillWrongChannel,
    /// The Alipay account log (账务明细) was given; the 业务明细 file is the
    /// one to import.
    BillAccountLog,
    /// Every line of the bill file lies on another day (`fields.found`,
    /// `fields.wanted`; for a WeChat REFUND bill, the refunds' day).
    BillWrongDay,
    /// The channel has no daily bill (`fields.channel`: cash, UnionPay).
    BillNoChannelBill,
    /// Not an Alipay or WeChat payment code (wrong length or first digits);
    /// nothing was sent.
    PaycodeInvalid,
    /// A payment code of a channel this till does not take (UnionPay).
    PaycodeUnsupported,
    /// This payment code was sent before; the customer must refresh it.
    PaycodeReused,
    /// The receipt printer could not be reached or refused the job (the
    /// sale itself is never affected).
    PrinterFailed,
    /// A channels file offered at set-up failed its check: `fields.detail`
    /// says what (unreadable, invalid, bad_key, bad_signature,
    /// unknown_merchant, untrusted, unreachable, refused…) and
    /// `fields.channel` which channel.
    ChannelCheckFailed,
    /// Head office has suspended the channel (`fields.channel`) for this
    /// store, saying why (`fields.reason`): no new charge on it; open
    /// orders are still settled.
    ChannelSuspended,
}

/// An error as the UI receives it. The screen builds its words from `code`
/// and `fields` (through its dictionary, in the user's language); `message`
/// is the English text for logs and the CLI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error, ts_rs::TS)]
#[error("{message}")]
#[ts(export)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// The facts the words need, by name: `detail` names the case where
    /// the code alone is not enough (e.g. `over_limit`), the others are its
    /// values (e.g. `limit` = "50000.00", `attempts_left` = "4").
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            fields: BTreeMap::new(),
        }
    }

    /// The same error with one more fact for the screen's words.
    pub fn with(mut self, name: &str, value: impl std::fmt::Display) -> ApiError {
        self.fields.insert(name.to_owned(), value.to_string());
        self
    }

    /// The same error, naming its case (the `detail` field).
    pub fn detail(self, detail: &str) -> ApiError {
        self.with("detail", detail)
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
            ChannelError::Definite { code, .. } => {
                return ApiError::new(ErrorCode::ChannelRejected, e.to_string())
                    .with("channel_code", code);
            }
            ChannelError::Indeterminate { .. } => ErrorCode::ChannelUnreachable,
            ChannelError::Untrusted { .. } => ErrorCode::ChannelUntrusted,
            ChannelError::Config(_) => ErrorCode::InvalidInput,
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<AmountError> for ApiError {
    fn from(e: AmountError) -> Self {
        let api = ApiError::new(ErrorCode::InvalidAmount, e.to_string());
        match e {
            AmountError::Empty => api.detail("empty"),
            AmountError::Negative => api.detail("negative"),
            AmountError::Zero => api.detail("zero"),
            AmountError::TooManyDecimals => api.detail("too_many_decimals"),
            AmountError::Exponent
            | AmountError::BadGrouping
            | AmountError::InvalidCharacter(_)
            | AmountError::TwoDecimalPoints => api.detail("not_a_number"),
            AmountError::OverLimit { limit } => api.detail("over_limit").with("limit", limit),
        }
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        let code = match &e {
            LedgerError::Missing(_) | LedgerError::NoSuchOrder(_) => ErrorCode::NotFound,
            LedgerError::AlreadyExists(_)
            | LedgerError::Conflict { .. }
            | LedgerError::Transition(_) => ErrorCode::Conflict,
            LedgerError::NotALedger { .. } | LedgerError::Damaged { .. } => {
                ErrorCode::LedgerCorrupt
            }
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
    fn an_amount_error_carries_its_case_and_values() {
        let e = ApiError::from(AmountError::OverLimit {
            limit: "50000.00".into(),
        });
        assert_eq!(e.code, ErrorCode::InvalidAmount);
        assert_eq!(e.fields["detail"], "over_limit");
        assert_eq!(e.fields["limit"], "50000.00");
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["fields"]["limit"], "50000.00");
        assert_eq!(ApiError::from(AmountError::Zero).fields["detail"], "zero");
    }

    #[test]
    fn during_says_what_was_being_done() {
        let e = ApiError::new(ErrorCode::HqRefused, "404").during("enrolment at http://x");
        assert_eq!(e.code, ErrorCode::HqRefused);
        assert_eq!(e.message, "enrolment at http://x: 404");
    }
}
