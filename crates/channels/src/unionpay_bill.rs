//! The UnionPay merchant reconciliation file (全渠道 对账文件).
//!
//! The file-transfer call (`txnType` 76, `fileType` 00, `settleDate`
//! MMDD) answers `fileName` and `fileContent`: base64 of a zlib (DEFLATE)
//! stream holding a zip. Inside the zip, the 一般交易流水 file (its name
//! has `ZM_` followed by the merchant code) lists the day's cleared trades;
//! the 差错 file (`ZME_`) and the others are not trades and are skipped.
//!
//! The ZM file is GBK text, one trade a line, fixed-width fields separated
//! by one space; widths count GBK bytes, so a row is cut as bytes and each
//! field decoded on its own. Amounts are fen: 交易金额 as 12 digits, the
//! signed ones (商户手续费, 结算金额 …) as `C` (credit to the merchant) or
//! `D` (debit) and 12 digits. Times are Beijing `MMDDhhmmss` without a
//! year, which the bill date supplies. The file prints no totals.
//!
//! Rows by 交易类型 (the ACP `txnType`): 01 a payment (消费); 04 a refund
//! (退货) under its own order number, pointing at the payment by 原交易查询
//! 流水号 and 原始交易订单号; 31 a same-day cancel (消费撤销) and 99 a
//! reversal (冲正), both undoing a payment: a reversal line of the
//! payment's order (money that came in and went back, never money
//! received), beside the payment's own line.
//!
//! Accepted as imported: the zip, the zlib stream before it was unzipped,
//! the ZM file alone (GBK, or saved again as UTF-8), any of them gzipped.

use std::collections::HashMap;
use std::io::{Cursor, Read};

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc};

use crate::bill::{gunzip_if_packed, packing, BillFileError, BillFooter, BillType, Packing};
use crate::bill::{ParsedBill, MAX_UNPACKED};
use crate::model::{BillKind, BillLine, BillRefundState};

/// The fields of a ZM row: name and width in GBK bytes, in file order
/// (《全渠道平台接入接口规范 第3部分 文件接口》 6.1, as the ACP SDK cuts it).
pub const ZM_FIELDS: [(&str, usize); 42] = [
    ("交易代码", 3),
    ("代理机构标识码", 11),
    ("发送机构标识码", 11),
    ("系统跟踪号", 6),
    ("交易传输时间", 10),
    ("帐号", 19),
    ("交易金额", 12),
    ("商户类别", 4),
    ("终端类型", 2),
    ("查询流水号", 21),
    ("支付方式（旧）", 2),
    ("商户订单号", 32),
    ("支付卡类型", 2),
    ("原始交易的系统跟踪号", 6),
    ("原始交易日期时间", 10),
    ("商户手续费", 13),
    ("结算金额", 13),
    ("支付方式", 4),
    ("集团商户代码", 15),
    ("交易类型", 2),
    ("交易子类", 2),
    ("业务类型", 6),
    ("帐号类型", 2),
    ("账单类型", 4),
    ("账单号码", 32),
    ("交互方式", 1),
    ("原交易查询流水号", 21),
    ("商户代码", 15),
    ("分账入账方式", 1),
    ("二级商户代码", 15),
    ("二级商户简称", 32),
    ("二级商户分账入账金额", 13),
    ("清算净额", 13),
    ("终端号", 8),
    ("商户自定义域", 32),
    ("优惠金额", 13),
    ("发票金额", 13),
    ("分期付款附加手续费", 12),
    ("分期付款期数", 2),
    ("交易介质", 1),
    ("原始交易订单号", 32),
    ("保留使用", 98),
];

/// Field positions (0-based) the parser reads.
pub mod field {
    pub const CODE: usize = 0;
    pub const TRACE_TIME: usize = 4;
    pub const AMOUNT: usize = 6;
    pub const QUERY_ID: usize = 9;
    pub const ORDER_ID: usize = 11;
    pub const FEE: usize = 15;
    pub const SETTLE: usize = 16;
    pub const TXN_TYPE: usize = 19;
    pub const ORIG_QUERY_ID: usize = 26;
    pub const MER_ID: usize = 27;
    pub const ORIG_ORDER_ID: usize = 40;
}

/// The 交易类型 values of the rows a shop's day holds.
pub mod txn_type {
    pub const CONSUME: &str = "01";
    pub const REFUND: &str = "04";
    pub const CANCEL: &str = "31";
    pub const REVERSAL: &str = "99";
}

/// Rows may end after the original order number: the reserved tail is
/// often cut, and editors trim trailing blanks.
const REQUIRED_FIELDS: usize = field::ORIG_QUERY_ID + 1;

/// The layout's name, for errors.
const LAYOUT: &str = "一般交易流水 (ZM)";

/// Byte offset of each field in a row.
fn offsets() -> [usize; 42] {
    let mut at = [0usize; 42];
    let mut next = 0;
    for (i, (_, width)) in ZM_FIELDS.iter().enumerate() {
        at[i] = next;
        next += width + 1;
    }
    at
}

/// The length of a full row in bytes (without its line end).
pub fn zm_row_len() -> usize {
    ZM_FIELDS.iter().map(|(_, w)| w + 1).sum::<usize>() - 1
}

/// The bytes of `fileContent` as the file-transfer answer carries it:
/// base64, then zlib. What comes out is the zip to give
/// [`parse_unionpay_bill`].
pub fn decode_file_content(file_content: &str) -> Result<Vec<u8>, BillFileError> {
    use base64::Engine;
    let cleaned: String = file_content
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if cleaned.is_empty() {
        return Err(BillFileError::Empty);
    }
    let packed = base64::engine::general_purpose::STANDARD
        .decode(cleaned.as_bytes())
        .map_err(|e| BillFileError::BadArchive {
            format: "base64",
            detail: e.to_string(),
        })?;
    inflate(&packed)
}

fn inflate(bytes: &[u8]) -> Result<Vec<u8>, BillFileError> {
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(bytes)
        .take(MAX_UNPACKED)
        .read_to_end(&mut raw)
        .map_err(|e| BillFileError::BadArchive {
            format: "zlib",
            detail: e.to_string(),
        })?;
    Ok(raw)
}

/// A zlib stream starts with CMF 0x78 and a check making the first two
/// bytes a multiple of 31.
fn is_zlib(bytes: &[u8]) -> bool {
    match bytes {
        [0x78, flags, ..] => (u16::from(0x78u8) << 8 | u16::from(*flags)) % 31 == 0,
        _ => false,
    }
}

/// Parse UnionPay's reconciliation file of the settlement day `date`
/// (Beijing): the zip, the zlib stream, or the ZM file alone.
pub fn parse_unionpay_bill(data: &[u8], date: NaiveDate) -> Result<ParsedBill, BillFileError> {
    if data.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(BillFileError::Empty);
    }
    let files = unpack(data, 0)?;
    // By name when the archive names its files: the ZM file only.
    let named: Vec<&(String, Vec<u8>)> =
        files.iter().filter(|(name, _)| is_zm_name(name)).collect();
    let candidates: Vec<&(String, Vec<u8>)> = if named.is_empty() {
        files.iter().collect()
    } else {
        named
    };
    let mut found = Vec::new();
    let mut first_error = None;
    for (name, bytes) in candidates {
        match parse_zm(bytes, date) {
            Ok(bill) => found.push(bill),
            // A named ZM file that does not read is the error to show.
            Err(e) if is_zm_name(name) => return Err(e),
            Err(e) => {
                if first_error.is_none() && !matches!(e, BillFileError::NoTable { .. }) {
                    first_error = Some(e);
                }
            }
        }
    }
    match found.len() {
        0 => Err(first_error.unwrap_or(BillFileError::NoTable { wanted: LAYOUT })),
        1 => Ok(found.remove(0)),
        count => Err(BillFileError::SeveralTables { count }),
    }
}

/// `INN26112088ZM_777290058110048`, not the error file `…ZME_…`.
fn is_zm_name(name: &str) -> bool {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.contains("ZM_") && !base.contains("ZME_")
}

/// Every file inside the bytes with its name ("" when not from a zip).
fn unpack(bytes: &[u8], depth: u8) -> Result<Vec<(String, Vec<u8>)>, BillFileError> {
    // A zip in a gzip in a zlib is as deep as an honest file goes.
    if depth > 3 {
        return Err(BillFileError::BadArchive {
            format: "zip",
            detail: "archives nested too deep".to_owned(),
        });
    }
    if is_zlib(bytes) {
        return unpack(&inflate(bytes)?, depth + 1);
    }
    match packing(bytes) {
        Packing::Gzip => unpack(&gunzip_if_packed(bytes)?, depth + 1),
        Packing::Plain => Ok(vec![(String::new(), bytes.to_vec())]),
        Packing::Zip => {
            let bad = |detail: String| BillFileError::BadArchive {
                format: "zip",
                detail,
            };
            let mut archive =
                zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| bad(e.to_string()))?;
            let mut files = Vec::new();
            for index in 0..archive.len() {
                let mut entry = archive
                    .by_index(index)
                    .map_err(|e| bad(format!("entry {index}: {e}")))?;
                if entry.is_dir() {
                    continue;
                }
                let name = entry.name().to_owned();
                let mut raw = Vec::new();
                (&mut entry)
                    .take(MAX_UNPACKED)
                    .read_to_end(&mut raw)
                    .map_err(|e| bad(format!("entry {index}: {e}")))?;
                if packing(&raw) == Packing::Plain && !is_zlib(&raw) {
                    files.push((name, raw));
                } else {
                    for (inner, data) in unpack(&raw, depth + 1)? {
                        files.push((
                            if inner.is_empty() {
                                name.clone()
                            } else {
                                inner
                            },
                            data,
                        ));
                    }
                }
            }
            Ok(files)
        }
    }
}

/// GBK bytes of the text: the file as UnionPay writes it. A file saved
/// again as UTF-8 (with or without BOM) is turned back, so that widths
/// count the bytes they were written in.
fn as_gbk(bytes: &[u8]) -> Vec<u8> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(body) {
        Ok(text) if !text.is_ascii() => encoding_rs::GBK.encode(text).0.into_owned(),
        _ => body.to_vec(),
    }
}

/// One row cut into its fields (trimmed text); `None` when the bytes do
/// not follow the layout.
fn cut(row: &[u8]) -> Option<Vec<String>> {
    let at = offsets();
    if row.len() < at[REQUIRED_FIELDS - 1] + ZM_FIELDS[REQUIRED_FIELDS - 1].1 {
        return None;
    }
    let mut fields = Vec::with_capacity(ZM_FIELDS.len());
    for (i, (_, width)) in ZM_FIELDS.iter().enumerate() {
        let start = at[i];
        if start > row.len() {
            fields.push(String::new());
            continue;
        }
        // The separator before each field is a space.
        if i > 0 && row[start - 1] != b' ' {
            return None;
        }
        let end = (start + width).min(row.len());
        let text = encoding_rs::GBK
            .decode_without_bom_handling(&row[start..end])
            .0;
        fields.push(text.trim().to_owned());
    }
    Some(fields)
}

/// One row as read, before cancels are paired with their payments.
struct Row {
    line: usize,
    code: String,
    txn_type: String,
    at: DateTime<Utc>,
    amount_fen: i64,
    settled_fen: i64,
    query_id: String,
    order_id: String,
    orig_query_id: String,
    orig_order_id: String,
}

fn parse_zm(bytes: &[u8], date: NaiveDate) -> Result<ParsedBill, BillFileError> {
    let text = as_gbk(bytes);
    let mut rows = Vec::new();
    for (index, raw) in text.split(|b| *b == b'\n').enumerate() {
        let line = index + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let Some(fields) = cut(raw) else {
            // The first row decides whether this is a ZM file at all.
            return Err(if rows.is_empty() {
                BillFileError::NoTable { wanted: LAYOUT }
            } else {
                BillFileError::BadRow {
                    line,
                    layout: LAYOUT,
                }
            });
        };
        rows.push(read_row(&fields, line, date)?);
    }
    Ok(ParsedBill {
        bill_type: BillType::UnionpayTrade,
        header: None,
        lines: pair(rows)?,
        footer: BillFooter::default(),
    })
}

fn require(fields: &[String], index: usize, line: usize) -> Result<&str, BillFileError> {
    let value = fields[index].as_str();
    if value.is_empty() {
        return Err(BillFileError::MissingField {
            line,
            column: ZM_FIELDS[index].0.to_owned(),
        });
    }
    Ok(value)
}

fn bad_amount(fields: &[String], index: usize, line: usize) -> BillFileError {
    BillFileError::BadAmount {
        line,
        column: ZM_FIELDS[index].0.to_owned(),
        value: fields[index].clone(),
    }
}

/// 交易金额: 12 digits, fen.
fn unsigned_fen(fields: &[String], index: usize, line: usize) -> Result<i64, BillFileError> {
    let text = require(fields, index, line)?;
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_amount(fields, index, line));
    }
    text.parse::<i64>()
        .map_err(|_| bad_amount(fields, index, line))
}

/// `C000000000094` / `D000000000006`: credit or debit to the merchant, in
/// fen; blank is `None`. A blank sign (` 000000000000`, as UnionPay's
/// sample prints zero amounts) is a credit.
fn signed_fen(fields: &[String], index: usize, line: usize) -> Result<Option<i64>, BillFileError> {
    let text = fields[index].as_str();
    if text.is_empty() {
        return Ok(None);
    }
    let (sign, digits) = if let Some(digits) = text.strip_prefix('C') {
        (1, digits)
    } else if let Some(digits) = text.strip_prefix('D') {
        (-1, digits)
    } else if text.len() == 12 {
        (1, text)
    } else {
        return Err(bad_amount(fields, index, line));
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_amount(fields, index, line));
    }
    let fen = digits
        .parse::<i64>()
        .map_err(|_| bad_amount(fields, index, line))?;
    Ok(Some(sign * fen))
}

/// `MMDDhhmmss` in Beijing time, in the year that puts it nearest the
/// bill date (a file of 1 January holds trades of 31 December).
fn trace_time(
    fields: &[String],
    line: usize,
    date: NaiveDate,
) -> Result<DateTime<Utc>, BillFileError> {
    let text = require(fields, field::TRACE_TIME, line)?;
    let bad = || BillFileError::BadTime {
        line,
        column: ZM_FIELDS[field::TRACE_TIME].0.to_owned(),
        value: text.to_owned(),
    };
    if text.len() != 10 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let beijing = chrono::FixedOffset::east_opt(8 * 3600).ok_or_else(bad)?;
    let year = date.year();
    [year - 1, year, year + 1]
        .iter()
        .filter_map(|y| NaiveDateTime::parse_from_str(&format!("{y}{text}"), "%Y%m%d%H%M%S").ok())
        .min_by_key(|t| (t.date() - date).num_days().abs())
        .and_then(|t| beijing.from_local_datetime(&t).single())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(bad)
}

fn read_row(fields: &[String], line: usize, date: NaiveDate) -> Result<Row, BillFileError> {
    let code = require(fields, field::CODE, line)?.to_owned();
    let txn_type = require(fields, field::TXN_TYPE, line)?.to_owned();
    if ![
        txn_type::CONSUME,
        txn_type::REFUND,
        txn_type::CANCEL,
        txn_type::REVERSAL,
    ]
    .contains(&txn_type.as_str())
    {
        return Err(BillFileError::UnknownValue {
            line,
            column: ZM_FIELDS[field::TXN_TYPE].0.to_owned(),
            value: txn_type,
        });
    }
    let amount_fen = unsigned_fen(fields, field::AMOUNT, line)?;
    let fee = signed_fen(fields, field::FEE, line)?;
    let settle = signed_fen(fields, field::SETTLE, line)?;
    // 结算金额 is net of 商户手续费; the figure like the other channels'
    // settled amount (before fees) adds the fee back.
    let settled_fen = match settle {
        Some(net) => (net - fee.unwrap_or(0)).abs(),
        None => amount_fen,
    };
    Ok(Row {
        line,
        code,
        at: trace_time(fields, line, date)?,
        amount_fen,
        settled_fen,
        query_id: require(fields, field::QUERY_ID, line)?.to_owned(),
        order_id: require(fields, field::ORDER_ID, line)?.to_owned(),
        orig_query_id: fields[field::ORIG_QUERY_ID].clone(),
        orig_order_id: fields[field::ORIG_ORDER_ID].clone(),
        txn_type,
    })
}

/// Rows to bill lines. A payment is a payment line even when it was
/// cancelled or reversed later: the cancel or reversal is a line of its own
/// (as a WeChat Pay bill lists a revoked payment's SUCCESS and REVOKED
/// rows). Refunds, cancels and reversals name the payment's order: the
/// payment row of the file their 原交易查询流水号 points at, else their
/// 原始交易订单号.
fn pair(rows: Vec<Row>) -> Result<Vec<BillLine>, BillFileError> {
    let payments: HashMap<&str, &Row> = rows
        .iter()
        .filter(|r| r.txn_type == txn_type::CONSUME)
        .map(|r| (r.query_id.as_str(), r))
        .collect();
    let original_order = |r: &Row| -> Result<String, BillFileError> {
        if let Some(p) = payments.get(r.orig_query_id.as_str()) {
            return Ok(p.order_id.clone());
        }
        if r.orig_order_id.is_empty() {
            return Err(BillFileError::MissingField {
                line: r.line,
                column: ZM_FIELDS[field::ORIG_ORDER_ID].0.to_owned(),
            });
        }
        Ok(r.orig_order_id.clone())
    };
    let mut lines = Vec::with_capacity(rows.len());
    for r in &rows {
        let (kind, out_trade_no, out_refund_no, refund_state, channel_trade_no) =
            match r.txn_type.as_str() {
                txn_type::CONSUME => (
                    BillKind::Payment,
                    r.order_id.clone(),
                    None,
                    None,
                    r.query_id.clone(),
                ),
                txn_type::REFUND => (
                    BillKind::Refund,
                    original_order(r)?,
                    Some(r.order_id.clone()),
                    // The file lists cleared trades only: the money went back.
                    Some(BillRefundState::Succeeded),
                    r.query_id.clone(),
                ),
                // A cancel or a reversal: the payment's trade is the one undone.
                _ => (
                    BillKind::Reversal,
                    original_order(r)?,
                    None,
                    None,
                    if r.orig_query_id.is_empty() {
                        r.query_id.clone()
                    } else {
                        r.orig_query_id.clone()
                    },
                ),
            };
        lines.push(BillLine {
            channel_trade_no,
            out_trade_no,
            kind,
            amount_fen: r.amount_fen,
            settled_fen: r.settled_fen,
            out_refund_no,
            occurred_at: r.at,
            refund_state,
            status: r.code.clone(),
        });
    }
    Ok(lines)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// A row with the fields a test sets; the rest blank.
    fn row(values: &[(usize, &str)]) -> Vec<u8> {
        let mut fields: Vec<Vec<u8>> = ZM_FIELDS.iter().map(|(_, w)| vec![b' '; *w]).collect();
        for (index, value) in values {
            let bytes = encoding_rs::GBK.encode(value).0.into_owned();
            let width = ZM_FIELDS[*index].1;
            let mut cell = bytes;
            cell.resize(width, b' ');
            fields[*index] = cell;
        }
        fields.join(&b' ')
    }

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
    }

    fn consume(order: &str, query: &str, fen: &str) -> Vec<u8> {
        row(&[
            (field::CODE, "S56"),
            (field::TRACE_TIME, "1120100000"),
            (field::AMOUNT, fen),
            (field::QUERY_ID, query),
            (field::ORDER_ID, order),
            (field::TXN_TYPE, "01"),
            (field::MER_ID, "777290058110048"),
            (5, "6216***********0018"),
            (30, "云闪付小店"),
        ])
    }

    #[test]
    fn the_row_layout_is_the_documented_width() {
        // 566 bytes of fields and 41 separators.
        assert_eq!(zm_row_len(), 607);
        assert_eq!(consume("U1", "Q1", "000000001230").len(), zm_row_len());
    }

    #[test]
    fn a_payment_row_reads_with_a_chinese_field_cut_by_bytes() {
        let bill = parse_zm(&consume("U1", "Q1", "000000001230"), day()).unwrap();
        assert_eq!(bill.bill_type, BillType::UnionpayTrade);
        let l = &bill.lines[0];
        assert_eq!(
            (
                l.kind,
                l.out_trade_no.as_str(),
                l.channel_trade_no.as_str(),
                l.amount_fen
            ),
            (BillKind::Payment, "U1", "Q1", 1230)
        );
        assert_eq!(l.occurred_at.to_rfc3339(), "2026-11-20T02:00:00+00:00");
    }

    #[test]
    fn the_year_is_the_one_nearest_the_bill_date() {
        let mut r = consume("U1", "Q1", "000000000100");
        let at = offsets()[field::TRACE_TIME];
        r[at..at + 10].copy_from_slice(b"1231233000");
        let jan1 = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
        let bill = parse_zm(&r, jan1).unwrap();
        assert_eq!(
            bill.lines[0].occurred_at.to_rfc3339(),
            "2026-12-31T15:30:00+00:00"
        );
    }

    #[test]
    fn signed_amounts_and_their_errors() {
        let f = |s: &str| {
            let mut fields = vec![String::new(); 42];
            fields[field::FEE] = s.to_owned();
            signed_fen(&fields, field::FEE, 1)
        };
        assert_eq!(f("C000000000094"), Ok(Some(94)));
        assert_eq!(f("D000000000006"), Ok(Some(-6)));
        assert_eq!(f(""), Ok(None));
        assert_eq!(f("000000000000"), Ok(Some(0)));
        assert!(matches!(
            f("X000000000006"),
            Err(BillFileError::BadAmount { .. })
        ));
        assert!(matches!(
            f("C00000000000x"),
            Err(BillFileError::BadAmount { .. })
        ));
        assert!(matches!(f("C"), Err(BillFileError::BadAmount { .. })));
        // A multi-byte first character is no sign (and no panic).
        assert!(matches!(
            f("银00000000006"),
            Err(BillFileError::BadAmount { .. })
        ));
    }

    #[test]
    fn file_content_is_base64_of_zlib() {
        use base64::Engine;
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(b"PK\x05\x06").unwrap();
        let packed = z.finish().unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&packed);
        assert_eq!(decode_file_content(&b64).unwrap(), b"PK\x05\x06");
        assert!(matches!(
            decode_file_content("not base64!"),
            Err(BillFileError::BadArchive {
                format: "base64",
                ..
            })
        ));
        assert!(matches!(
            decode_file_content("AAAA"),
            Err(BillFileError::BadArchive { format: "zlib", .. })
        ));
        assert_eq!(decode_file_content(" \n"), Err(BillFileError::Empty));
    }

    #[test]
    fn broken_rows_are_typed_errors() {
        let good = consume("U1", "Q1", "000000001230");
        // Not the layout at all.
        assert_eq!(
            parse_zm(b"hello,world\n", day()).unwrap_err(),
            BillFileError::NoTable { wanted: LAYOUT }
        );
        // A good row, then a short one.
        let mut two = good.clone();
        two.extend_from_slice(b"\nS22 short\n");
        assert_eq!(
            parse_zm(&two, day()).unwrap_err(),
            BillFileError::BadRow {
                line: 2,
                layout: LAYOUT
            }
        );
        let mut bad = good.clone();
        let at = offsets()[field::AMOUNT];
        bad[at..at + 12].copy_from_slice(b"00000000012x");
        assert!(matches!(
            parse_zm(&bad, day()).unwrap_err(),
            BillFileError::BadAmount { line: 1, .. }
        ));
        let mut bad = good.clone();
        let at = offsets()[field::TXN_TYPE];
        bad[at..at + 2].copy_from_slice(b"77");
        assert!(matches!(
            parse_zm(&bad, day()).unwrap_err(),
            BillFileError::UnknownValue { line: 1, .. }
        ));
        let mut bad = good;
        let at = offsets()[field::TRACE_TIME];
        bad[at..at + 10].copy_from_slice(b"1340250000");
        assert!(matches!(
            parse_zm(&bad, day()).unwrap_err(),
            BillFileError::BadTime { line: 1, .. }
        ));
    }
}
