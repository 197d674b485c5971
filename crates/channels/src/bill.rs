//! Helpers shared by the bill parsers: unpacking (zip, gzip), text decoding,
//! finding columns by header name, and what a parsed bill is.

use std::io::{Cursor, Read};

use serde::{Deserialize, Serialize};

use crate::model::BillLine;

/// Why a bill file could not be read. Every variant carries what a person
/// needs to find the problem in the file; the words are the caller's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillFileError {
    #[error("the file is empty")]
    Empty,
    /// A zip or gzip file that does not open.
    #[error("the {format} file cannot be opened: {detail}")]
    BadArchive {
        format: &'static str,
        detail: String,
    },
    /// Unpacked (or plain) text without the bill's header row.
    #[error("no bill table in the file (a header with {wanted})")]
    NoTable { wanted: &'static str },
    /// The Alipay account log (账务明细, `signcustomer`): it lists money in
    /// and out of the account, not the trades; the 业务明细 file of the
    /// same download is the one to import.
    #[error("this is the Alipay 账务明细 (account log); import the 业务明细 file instead")]
    AlipayAccountLog,
    #[error("the archive holds {count} detail tables; import one")]
    SeveralTables { count: usize },
    #[error("line {line}: no {column}")]
    MissingField { line: usize, column: String },
    #[error("line {line}: {value:?} under {column} is not an amount")]
    BadAmount {
        line: usize,
        column: String,
        value: String,
    },
    #[error("line {line}: {value:?} under {column} is not a time")]
    BadTime {
        line: usize,
        column: String,
        value: String,
    },
    #[error("line {line}: unknown {column} {value:?}")]
    UnknownValue {
        line: usize,
        column: String,
        value: String,
    },
    #[error("CSV: {0}")]
    Csv(String),
    /// A row of a fixed-width file that does not follow its layout.
    #[error("line {line}: not a row of the {layout} layout")]
    BadRow { line: usize, layout: &'static str },
}

impl BillFileError {
    /// A short code naming the variant, for typed errors further up.
    pub fn code(&self) -> &'static str {
        match self {
            BillFileError::Empty => "empty",
            BillFileError::BadArchive { .. } => "bad_archive",
            BillFileError::NoTable { .. } => "no_table",
            BillFileError::AlipayAccountLog => "alipay_account_log",
            BillFileError::SeveralTables { .. } => "several_tables",
            BillFileError::MissingField { .. } => "missing_field",
            BillFileError::BadAmount { .. } => "bad_amount",
            BillFileError::BadTime { .. } => "bad_time",
            BillFileError::UnknownValue { .. } => "unknown_value",
            BillFileError::Csv(_) => "csv",
            BillFileError::BadRow { .. } => "bad_row",
        }
    }

    /// The variant's fields by name (all as text), for typed errors.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        match self {
            BillFileError::Empty | BillFileError::AlipayAccountLog => Vec::new(),
            BillFileError::BadArchive { format, detail } => {
                vec![("format", (*format).to_owned()), ("detail", detail.clone())]
            }
            BillFileError::NoTable { wanted } => vec![("wanted", (*wanted).to_owned())],
            BillFileError::SeveralTables { count } => vec![("count", count.to_string())],
            BillFileError::MissingField { line, column } => {
                vec![("line", line.to_string()), ("column", column.clone())]
            }
            BillFileError::BadAmount {
                line,
                column,
                value,
            }
            | BillFileError::BadTime {
                line,
                column,
                value,
            }
            | BillFileError::UnknownValue {
                line,
                column,
                value,
            } => vec![
                ("line", line.to_string()),
                ("column", column.clone()),
                ("value", value.clone()),
            ],
            BillFileError::Csv(detail) => vec![("detail", detail.clone())],
            BillFileError::BadRow { line, layout } => {
                vec![("line", line.to_string()), ("layout", (*layout).to_owned())]
            }
        }
    }
}

/// Which rows a bill holds, read from its header (never from the file name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillType {
    /// WeChat Pay `ALL`: the day's payments and the refunds accepted that day.
    WechatAll,
    /// WeChat Pay `SUCCESS`: payments only (no refund columns).
    WechatSuccess,
    /// WeChat Pay `REFUND`: refunds only (退款申请时间, 退款成功时间).
    WechatRefund,
    /// Alipay 业务明细 (`bill_type=trade`): payments and refunds.
    AlipayTrade,
    /// UnionPay 一般交易流水 (ZM): payments, refunds, cancels.
    UnionpayTrade,
}

impl BillType {
    pub fn as_str(self) -> &'static str {
        match self {
            BillType::WechatAll => "wechat_all",
            BillType::WechatSuccess => "wechat_success",
            BillType::WechatRefund => "wechat_refund",
            BillType::AlipayTrade => "alipay_trade",
            BillType::UnionpayTrade => "unionpay_trade",
        }
    }

    /// Whether a bill of this type lists payments.
    pub fn has_payments(self) -> bool {
        self != BillType::WechatRefund
    }

    /// Whether a bill of this type lists refunds.
    pub fn has_refunds(self) -> bool {
        self != BillType::WechatSuccess
    }
}

/// Which generation of header a WeChat bill was written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillHeader {
    /// 订单金额 and 应结订单金额, 代金券金额, 申请退款金额 and 退款金额.
    Current,
    /// Before the non-recharge coupon (免充值券) columns: 总金额 with
    /// 企业红包金额 or 代金券或立减优惠金额; one refund amount.
    Early,
}

/// The totals a bill prints at its end, in fen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillFooter {
    /// WeChat 总交易单数; Alipay 交易合计 + 退款合计 笔数.
    pub rows: Option<i64>,
    /// Gross payments (WeChat 订单总金额, early 总交易额).
    pub payments_fen: Option<i64>,
    /// Settled payments (WeChat 应结订单总金额; Alipay 交易合计 商家实收).
    pub settled_payments_fen: Option<i64>,
    /// Gross refunds (WeChat 申请退款总金额).
    pub refunds_fen: Option<i64>,
    /// Settled refunds (WeChat 退款总金额; Alipay 退款合计 商家实收, as a
    /// positive figure).
    pub settled_refunds_fen: Option<i64>,
    /// Alipay 交易合计 / 退款合计 笔数.
    pub payment_rows: Option<i64>,
    pub refund_rows: Option<i64>,
}

/// A bill file as read: its type, its rows and its own totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedBill {
    pub bill_type: BillType,
    /// WeChat only.
    pub header: Option<BillHeader>,
    pub lines: Vec<BillLine>,
    pub footer: BillFooter,
}

impl ParsedBill {
    /// The footer's figures that the rows do not add up to, by name (empty
    /// when every printed total agrees). Sums run over every row of the
    /// file: payments and refunds of any refund state; reversals are in
    /// neither.
    pub fn footer_disagreements(&self) -> Vec<&'static str> {
        use crate::model::BillKind;
        let sum = |kind: BillKind, f: fn(&BillLine) -> i64| -> i64 {
            self.lines.iter().filter(|l| l.kind == kind).map(f).sum()
        };
        let count = |kind: BillKind| -> i64 {
            i64::try_from(self.lines.iter().filter(|l| l.kind == kind).count()).unwrap_or(i64::MAX)
        };
        let f = &self.footer;
        let checks = [
            (
                "payments",
                f.payments_fen,
                sum(BillKind::Payment, |l| l.amount_fen),
            ),
            (
                "settled_payments",
                f.settled_payments_fen,
                sum(BillKind::Payment, |l| l.settled_fen),
            ),
            (
                "refunds",
                f.refunds_fen,
                sum(BillKind::Refund, |l| l.amount_fen),
            ),
            (
                "settled_refunds",
                f.settled_refunds_fen,
                sum(BillKind::Refund, |l| l.settled_fen),
            ),
            ("payment_rows", f.payment_rows, count(BillKind::Payment)),
            ("refund_rows", f.refund_rows, count(BillKind::Refund)),
        ];
        checks
            .into_iter()
            .filter(|(_, printed, summed)| printed.is_some_and(|p| p != *summed))
            .map(|(name, _, _)| name)
            .collect()
    }

    /// Whether the file printed any total at all.
    pub fn has_footer(&self) -> bool {
        self.footer != BillFooter::default()
    }
}

/// How the bytes were packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Packing {
    Plain,
    Zip,
    Gzip,
}

/// Unpacked files are capped: a bill of a shop's day is a few megabytes, a
/// "zip bomb" is not a bill.
pub(crate) const MAX_UNPACKED: u64 = 256 * 1024 * 1024;

pub(crate) fn packing(bytes: &[u8]) -> Packing {
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        Packing::Zip
    } else if bytes.starts_with(&[0x1f, 0x8b]) {
        Packing::Gzip
    } else {
        Packing::Plain
    }
}

/// Every file inside the bytes as text: a zip's files (folders inside it
/// are walked), a gzip's content, or the bytes themselves.
pub(crate) fn unpack_texts(bytes: &[u8]) -> Result<Vec<String>, BillFileError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(BillFileError::Empty);
    }
    match packing(bytes) {
        Packing::Plain => Ok(vec![decode_text(bytes)]),
        Packing::Gzip => {
            let raw = gunzip(bytes)?;
            // A gzip of a zip (or the other way) is unpacked once more.
            match packing(&raw) {
                Packing::Plain => Ok(vec![decode_text(&raw)]),
                _ => unpack_texts(&raw),
            }
        }
        Packing::Zip => zip_texts(bytes),
    }
}

/// The bytes unpacked when they are a gzip stream, else as they are.
pub(crate) fn gunzip_if_packed(bytes: &[u8]) -> Result<Vec<u8>, BillFileError> {
    match packing(bytes) {
        Packing::Gzip => gunzip(bytes),
        _ => Ok(bytes.to_vec()),
    }
}

fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, BillFileError> {
    let mut raw = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(MAX_UNPACKED)
        .read_to_end(&mut raw)
        .map_err(|e| BillFileError::BadArchive {
            format: "gzip",
            detail: e.to_string(),
        })?;
    Ok(raw)
}

/// UTF-8 (with or without BOM) when valid, else GBK (Alipay's encoding).
pub(crate) fn decode_text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => encoding_rs::GBK
            .decode_without_bom_handling(bytes)
            .0
            .into_owned(),
    }
}

/// Every file inside a zip archive (in any folder), decoded to text; a
/// gzip inside is unpacked too.
fn zip_texts(bytes: &[u8]) -> Result<Vec<String>, BillFileError> {
    let bad = |detail: String| BillFileError::BadArchive {
        format: "zip",
        detail,
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| bad(e.to_string()))?;
    let mut texts = Vec::new();
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|e| bad(format!("entry {index}: {e}")))?;
        if entry.is_dir() {
            continue;
        }
        let mut raw = Vec::new();
        (&mut entry)
            .take(MAX_UNPACKED)
            .read_to_end(&mut raw)
            .map_err(|e| bad(format!("entry {index}: {e}")))?;
        if packing(&raw) == Packing::Gzip {
            texts.extend(unpack_texts(&raw)?);
        } else {
            texts.push(decode_text(&raw));
        }
    }
    Ok(texts)
}

/// Header names as printed vary in bracket width and padding; compare the
/// normalised form.
pub(crate) fn normalise_header(name: &str) -> String {
    name.trim()
        .trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '(' => '（',
            ')' => '）',
            other => other,
        })
        .collect()
}

/// Column positions by header name.
#[derive(Debug)]
pub(crate) struct Columns(Vec<String>);

impl Columns {
    pub fn new(header: &[String]) -> Columns {
        Columns(header.iter().map(|h| normalise_header(h)).collect())
    }

    pub fn has(&self, name: &str) -> bool {
        self.index(name).is_some()
    }

    /// The first of `names` the header has.
    pub fn first_of(&self, names: &[&'static str]) -> Option<&'static str> {
        names.iter().copied().find(|n| self.has(n))
    }

    pub fn index(&self, name: &str) -> Option<usize> {
        let wanted = normalise_header(name);
        self.0.iter().position(|h| *h == wanted)
    }

    /// The cell under `name`, trimmed; empty cells are `None`.
    pub fn get<'r>(&self, row: &'r [String], name: &str) -> Option<&'r str> {
        let value = row.get(self.index(name)?)?.trim();
        (!value.is_empty()).then_some(value)
    }

    pub fn require<'r>(
        &self,
        row: &'r [String],
        name: &str,
        line: usize,
    ) -> Result<&'r str, BillFileError> {
        self.get(row, name)
            .ok_or_else(|| BillFileError::MissingField {
                line,
                column: name.to_owned(),
            })
    }
}

/// Split CSV text into rows of fields (quotes honoured, ragged rows allowed),
/// each with its 1-based line number in the text.
pub(crate) fn csv_rows(text: &str) -> Result<Vec<(usize, Vec<String>)>, BillFileError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| BillFileError::Csv(e.to_string()))?;
        let line = record
            .position()
            .map(|p| usize::try_from(p.line()).unwrap_or(usize::MAX))
            .unwrap_or(0);
        rows.push((line, record.iter().map(str::to_owned).collect()));
    }
    Ok(rows)
}

/// A yuan amount as printed in a bill ("12.30", "-2.00", "0.0", "0",
/// "1,234.50") in fen. More than two decimals is not an amount, except
/// trailing zeros (fees are printed with five).
pub(crate) fn bill_fen(text: &str) -> Option<i64> {
    let text: String = text.trim().chars().filter(|c| *c != ',').collect();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(&text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() || !whole.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if !fraction.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (cents, rest) = fraction.split_at(fraction.len().min(2));
    if rest.chars().any(|c| c != '0') {
        return None;
    }
    let cents = format!("{cents:0<2}");
    let fen = whole
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(cents.parse::<i64>().ok()?)?;
    Some(if negative { -fen } else { fen })
}

/// A Beijing wall-clock time as printed in a bill, as a UTC instant. The
/// 2014 documentation writes some times with full-width colons
/// (`2014-11-10 16：33：45`); `/` as the date separator is accepted too.
pub(crate) fn beijing_time(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::{FixedOffset, NaiveDateTime, TimeZone, Utc};
    let normal: String = text
        .trim()
        .chars()
        .map(|c| match c {
            '：' => ':',
            '/' => '-',
            '\u{3000}' => ' ',
            other => other,
        })
        .collect();
    let naive = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(&normal, f).ok())?;
    FixedOffset::east_opt(8 * 3600)?
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bill_amounts_in_every_printed_form() {
        assert_eq!(bill_fen("12.30"), Some(1230));
        assert_eq!(bill_fen("0.0"), Some(0));
        assert_eq!(bill_fen("0"), Some(0));
        assert_eq!(bill_fen("-2.00"), Some(-200));
        assert_eq!(bill_fen("0.07000"), Some(7));
        assert_eq!(bill_fen("1,234.5"), Some(123450));
        assert_eq!(bill_fen("0.005"), None);
        assert_eq!(bill_fen("12.3x"), None);
        assert_eq!(bill_fen(""), None);
        assert_eq!(bill_fen("."), None);
    }

    #[test]
    fn times_with_full_width_colons_are_beijing_times() {
        let t = beijing_time("2014-11-10 16：33：45").unwrap();
        assert_eq!(t.to_rfc3339(), "2014-11-10T08:33:45+00:00");
        assert_eq!(beijing_time("2014/11/10 16:33:45"), Some(t));
        assert_eq!(beijing_time("yesterday"), None);
    }

    #[test]
    fn empty_and_broken_archives_are_named() {
        assert_eq!(unpack_texts(b"  \r\n"), Err(BillFileError::Empty));
        assert!(matches!(
            unpack_texts(&[0x1f, 0x8b, 0, 1, 2]),
            Err(BillFileError::BadArchive { format: "gzip", .. })
        ));
        assert!(matches!(
            unpack_texts(b"PK\x03\x04garbage"),
            Err(BillFileError::BadArchive { format: "zip", .. })
        ));
    }
}
