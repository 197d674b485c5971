//! Money as an integer count of minor units (fen), never a float.
//!
//! Parsing is written for what a cashier actually types: ASCII or full-width
//! digits from a Chinese input method, a leading currency sign, correct
//! thousands separators. Everything else is refused with an error that says
//! what was wrong, so the screen can tell the cashier.

use std::fmt;

use serde::{Deserialize, Serialize};

/// ISO 4217 currency. Only CNY is taken at the counter today; the type keeps
/// room for others without touching every signature.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    Default,
    ts_rs::TS,
)]
#[serde(rename_all = "UPPERCASE")]
#[ts(export)]
pub enum Currency {
    #[default]
    Cny,
}

impl Currency {
    pub fn code(self) -> &'static str {
        match self {
            Currency::Cny => "CNY",
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Currency::Cny => "¥",
        }
    }

    pub fn parse(code: &str) -> Option<Currency> {
        match code {
            "CNY" | "cny" => Some(Currency::Cny),
            _ => None,
        }
    }
}

/// An amount of money in minor units (1 yuan = 100 fen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Money {
    fen: i64,
    currency: Currency,
}

/// The default per-sale ceiling: ¥50,000.00.
pub const DEFAULT_SALE_LIMIT_FEN: i64 = 5_000_000;

impl Money {
    pub const fn from_fen(fen: i64, currency: Currency) -> Money {
        Money { fen, currency }
    }

    pub const fn cny(fen: i64) -> Money {
        Money::from_fen(fen, Currency::Cny)
    }

    pub const fn fen(self) -> i64 {
        self.fen
    }

    pub const fn currency(self) -> Currency {
        self.currency
    }

    /// `12.30`, `-0.05`: the form used in CSV, JSON reports and channel
    /// requests that take yuan strings.
    pub fn to_decimal_string(self) -> String {
        format_fen(self.fen)
    }

    /// Parse yuan as typed by a cashier, checked against `rules`.
    pub fn parse(input: &str, rules: &AmountRules) -> Result<Money, AmountError> {
        let fen = parse_fen(input)?;
        if fen == 0 && !rules.allow_zero {
            return Err(AmountError::Zero);
        }
        if fen > rules.limit_fen {
            return Err(AmountError::OverLimit {
                limit: format_fen(rules.limit_fen),
            });
        }
        Ok(Money::from_fen(fen, rules.currency))
    }
}

impl fmt::Display for Money {
    /// `¥12.30`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.fen < 0 {
            write!(f, "-{}{}", self.currency.symbol(), format_fen(-self.fen))
        } else {
            write!(f, "{}{}", self.currency.symbol(), format_fen(self.fen))
        }
    }
}

/// Format fen as a decimal yuan string with exactly two decimals.
pub fn format_fen(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// What a parse accepts beyond syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmountRules {
    /// Largest amount accepted, in fen.
    pub limit_fen: i64,
    /// A charge of ¥0.00 makes no sense; a pay-out or a count may be zero.
    pub allow_zero: bool,
    pub currency: Currency,
}

impl AmountRules {
    /// Rules for a sale: above zero, at most the per-sale limit.
    pub const fn sale(limit_fen: i64) -> AmountRules {
        AmountRules {
            limit_fen,
            allow_zero: false,
            currency: Currency::Cny,
        }
    }
}

impl Default for AmountRules {
    fn default() -> Self {
        AmountRules::sale(DEFAULT_SALE_LIMIT_FEN)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("no amount was entered")]
    Empty,
    #[error("the amount cannot be negative")]
    Negative,
    #[error("the amount must be more than zero")]
    Zero,
    #[error("at most two decimal places (fen) are allowed")]
    TooManyDecimals,
    #[error("exponent forms such as 1e3 are not amounts")]
    Exponent,
    #[error("thousands separators are in the wrong place")]
    BadGrouping,
    #[error("'{0}' is not allowed in an amount")]
    InvalidCharacter(char),
    #[error("more than one decimal point")]
    TwoDecimalPoints,
    #[error("the amount is over the per-sale limit of {limit}")]
    OverLimit { limit: String },
}

/// Longest integer part we bother to read; anything longer is over any limit.
const MAX_INTEGER_DIGITS: usize = 15;

/// Parse a yuan amount into fen without applying limits.
pub fn parse_fen(input: &str) -> Result<i64, AmountError> {
    let normalised: String = input
        .trim_matches(|c: char| c.is_whitespace() || c == '\u{3000}')
        .chars()
        .map(normalise_char)
        .collect();
    let mut text = normalised.as_str();
    if let Some(rest) = text.strip_prefix('¥').or_else(|| text.strip_prefix('￥')) {
        text = rest.trim_start();
    }
    if text.is_empty() {
        return Err(AmountError::Empty);
    }
    if text.starts_with('-') {
        return Err(AmountError::Negative);
    }
    if text.contains(['e', 'E'])
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || ".eE+-".contains(c))
    {
        return Err(AmountError::Exponent);
    }
    if let Some(bad) = text
        .chars()
        .find(|c| !(c.is_ascii_digit() || *c == '.' || *c == ','))
    {
        return Err(AmountError::InvalidCharacter(bad));
    }
    let (integer, fraction) = match text.split_once('.') {
        Some((_, f)) if f.contains('.') => return Err(AmountError::TwoDecimalPoints),
        Some((i, f)) => (i, f),
        None => (text, ""),
    };
    if fraction.contains(',') {
        return Err(AmountError::BadGrouping);
    }
    let integer_digits = ungroup(integer)?;
    if fraction.len() > 2 {
        return Err(AmountError::TooManyDecimals);
    }
    if integer_digits.is_empty() && fraction.is_empty() {
        // "." or "," alone
        return Err(AmountError::Empty);
    }
    let integer_digits = integer_digits.trim_start_matches('0');
    if integer_digits.len() > MAX_INTEGER_DIGITS {
        return Err(AmountError::OverLimit {
            limit: format_fen(i64::MAX),
        });
    }
    let yuan: i64 = if integer_digits.is_empty() {
        0
    } else {
        integer_digits
            .parse()
            .map_err(|_| AmountError::InvalidCharacter('?'))?
    };
    let mut fen_part: i64 = 0;
    for (i, c) in fraction.chars().enumerate() {
        let digit = i64::from(c as u8 - b'0');
        fen_part += if i == 0 { digit * 10 } else { digit };
    }
    Ok(yuan * 100 + fen_part)
}

/// Full-width digits, point and comma (Chinese IMEs) become their ASCII forms.
fn normalise_char(c: char) -> char {
    match c {
        '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
        '．' | '。' => '.',
        '，' => ',',
        _ => c,
    }
}

/// Remove thousands separators, checking they group by three from the right.
fn ungroup(integer: &str) -> Result<String, AmountError> {
    if !integer.contains(',') {
        return Ok(integer.to_owned());
    }
    let groups: Vec<&str> = integer.split(',').collect();
    let first_ok = matches!(groups.first(), Some(g) if (1..=3).contains(&g.len()));
    let rest_ok = groups.iter().skip(1).all(|g| g.len() == 3);
    if !first_ok || !rest_ok {
        return Err(AmountError::BadGrouping);
    }
    Ok(groups.concat())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(s: &str) -> Result<i64, AmountError> {
        Money::parse(s, &AmountRules::default()).map(Money::fen)
    }

    #[test]
    fn accepts_what_cashiers_type() {
        assert_eq!(parse("12"), Ok(1200));
        assert_eq!(parse("12.3"), Ok(1230));
        assert_eq!(parse("12.30"), Ok(1230));
        assert_eq!(parse("０．５０"), Ok(50));
        assert_eq!(parse("１２。３"), Ok(1230));
        assert_eq!(parse("  7.05 "), Ok(705));
        assert_eq!(parse("\u{3000}8\u{3000}"), Ok(800));
        assert_eq!(parse("¥12.30"), Ok(1230));
        assert_eq!(parse("￥0.01"), Ok(1));
        assert_eq!(parse(".5"), Ok(50));
        assert_eq!(parse("12."), Ok(1200));
        assert_eq!(parse("1,234.50"), Ok(123_450));
        assert_eq!(parse("12,345"), Ok(1_234_500));
        assert_eq!(parse("00012.00"), Ok(1200));
        assert_eq!(parse("50000"), Ok(5_000_000));
    }

    #[test]
    fn rejects_with_clear_errors() {
        assert_eq!(parse(""), Err(AmountError::Empty));
        assert_eq!(parse("   "), Err(AmountError::Empty));
        assert_eq!(parse("."), Err(AmountError::Empty));
        assert_eq!(parse("-1"), Err(AmountError::Negative));
        assert_eq!(parse("0"), Err(AmountError::Zero));
        assert_eq!(parse("0.00"), Err(AmountError::Zero));
        assert_eq!(parse("12.345"), Err(AmountError::TooManyDecimals));
        assert_eq!(parse("1e3"), Err(AmountError::Exponent));
        assert_eq!(parse("1.5E2"), Err(AmountError::Exponent));
        assert_eq!(parse("1,23"), Err(AmountError::BadGrouping));
        assert_eq!(parse("12,34,567"), Err(AmountError::BadGrouping));
        assert_eq!(parse(",123"), Err(AmountError::BadGrouping));
        assert_eq!(parse("1234,567"), Err(AmountError::BadGrouping));
        assert_eq!(parse("1.2,3"), Err(AmountError::BadGrouping));
        assert_eq!(parse("12a"), Err(AmountError::InvalidCharacter('a')));
        assert_eq!(parse("+5"), Err(AmountError::InvalidCharacter('+')));
        assert_eq!(parse("1.2.3"), Err(AmountError::TwoDecimalPoints));
        assert_eq!(
            parse("50000.01"),
            Err(AmountError::OverLimit {
                limit: "50000.00".into()
            })
        );
        assert!(matches!(
            parse("99999999999999999999999"),
            Err(AmountError::OverLimit { .. })
        ));
    }

    #[test]
    fn error_messages_name_the_problem() {
        let err = parse("12.345").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("at most two decimal places (fen) are allowed")
        );
        let err = parse("60000").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("the amount is over the per-sale limit of 50000.00")
        );
    }

    #[test]
    fn limit_is_configurable() {
        let rules = AmountRules::sale(10_000);
        assert_eq!(Money::parse("100", &rules).map(Money::fen), Ok(10_000));
        assert!(Money::parse("100.01", &rules).is_err());
        let count = AmountRules {
            allow_zero: true,
            ..AmountRules::default()
        };
        assert_eq!(Money::parse("0", &count).map(Money::fen), Ok(0));
    }

    #[test]
    fn formats() {
        assert_eq!(Money::cny(1230).to_string(), "¥12.30");
        assert_eq!(Money::cny(5).to_string(), "¥0.05");
        assert_eq!(Money::cny(-1230).to_string(), "-¥12.30");
        assert_eq!(Money::cny(1230).to_decimal_string(), "12.30");
        assert_eq!(format_fen(-5), "-0.05");
        assert_eq!(format_fen(100_000_000), "1000000.00");
    }

    proptest! {
        #[test]
        fn parse_of_format_round_trips(fen in 1i64..=DEFAULT_SALE_LIMIT_FEN) {
            let money = Money::cny(fen);
            prop_assert_eq!(Money::parse(&money.to_decimal_string(), &AmountRules::default()), Ok(money));
            prop_assert_eq!(Money::parse(&money.to_string(), &AmountRules::default()), Ok(money));
        }

        #[test]
        fn no_input_panics(s in "\\PC*") {
            let _ = Money::parse(&s, &AmountRules::default());
        }

        #[test]
        fn amount_like_input_never_panics(s in "[0-9０-９.,．。eE+ ¥-]{0,30}") {
            let _ = Money::parse(&s, &AmountRules::default());
        }
    }
}
