//! Identifiers that leave the terminal: the merchant order number
//! (`out_trade_no`) and the terminal id inside it.
//!
//! An `out_trade_no` is `{terminal}_{yyyymmddHHMMSS}_{n:06}`: the terminal id
//! keeps it unique across a chain's terminals, the UTC creation time keeps it
//! sortable, and `n` (the ledger's never-reused order counter) keeps it unique
//! within the terminal forever, even if the clock steps back. At most 32
//! characters of `[A-Za-z0-9_]`, which every channel accepts.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const MAX_TERMINAL_ID_LEN: usize = 8;
pub const MAX_OUT_TRADE_NO_LEN: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TerminalId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("a terminal id is 1 to {MAX_TERMINAL_ID_LEN} letters or digits, not '{0}'")]
    BadTerminalId(String),
    #[error("order counter {0} is too large for an order number")]
    CounterTooLarge(u64),
}

impl TerminalId {
    pub fn parse(raw: &str) -> Result<TerminalId, IdError> {
        let ok = !raw.is_empty()
            && raw.len() <= MAX_TERMINAL_ID_LEN
            && raw.chars().all(|c| c.is_ascii_alphanumeric());
        if ok {
            Ok(TerminalId(raw.to_owned()))
        } else {
            Err(IdError::BadTerminalId(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TerminalId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        TerminalId::parse(&value)
    }
}

impl From<TerminalId> for String {
    fn from(value: TerminalId) -> Self {
        value.0
    }
}

impl fmt::Display for TerminalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Build the order number for the `counter`-th order of `terminal`.
pub fn out_trade_no(
    terminal: &TerminalId,
    created_at: DateTime<Utc>,
    counter: u64,
) -> Result<String, IdError> {
    let no = format!(
        "{}_{}_{:06}",
        terminal.as_str(),
        created_at.format("%Y%m%d%H%M%S"),
        counter
    );
    if no.len() > MAX_OUT_TRADE_NO_LEN {
        return Err(IdError::CounterTooLarge(counter));
    }
    Ok(no)
}

/// Whether `s` has the shape every channel accepts for a merchant order number.
pub fn is_valid_out_trade_no(s: &str) -> bool {
    (6..=MAX_OUT_TRADE_NO_LEN).contains(&s.len())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn terminal_ids() {
        assert!(TerminalId::parse("T01").is_ok());
        assert!(TerminalId::parse("ABCDEFGH").is_ok());
        assert!(TerminalId::parse("").is_err());
        assert!(TerminalId::parse("ABCDEFGHI").is_err());
        assert!(TerminalId::parse("T-1").is_err());
        assert!(TerminalId::parse("收银1").is_err());
    }

    #[test]
    fn order_numbers_are_short_unique_and_sortable() {
        let t = TerminalId::parse("ABCDEFGH").expect("valid");
        let at = Utc
            .with_ymd_and_hms(2026, 11, 21, 9, 5, 3)
            .single()
            .expect("valid time");
        let a = out_trade_no(&t, at, 1).expect("fits");
        assert_eq!(a, "ABCDEFGH_20261121090503_000001");
        assert!(is_valid_out_trade_no(&a));
        let b = out_trade_no(&t, at, 2).expect("fits");
        let later = out_trade_no(&t, at + chrono::Duration::seconds(1), 3).expect("fits");
        assert!(a < b && b < later);
        let big = out_trade_no(&t, at, 99_999_999).expect("fits");
        assert_eq!(big.len(), 32);
        assert!(out_trade_no(&t, at, 100_000_000).is_err());
        assert!(a.contains("ABCDEFGH"));
    }
}
