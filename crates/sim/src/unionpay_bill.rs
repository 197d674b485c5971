//! UnionPay's merchant reconciliation file (全渠道 对账文件) for one
//! settlement day, rendered from plain rows.
//!
//! What the file-transfer call (`txnType` 76, `fileType` 00) hands out: a
//! zip named `<merId>_<yyyyMMdd>.zip` holding the 一般交易流水 file
//! `INN<yyMMdd>88ZM_<merId>` and the 差错 file `INN<yyMMdd>88ZME_<merId>`
//! (empty here: the simulator makes no disputed trades). The answer's
//! `fileContent` is that zip, zlib-compressed and base64-encoded
//! ([`file_content`]).
//!
//! A ZM row is GBK text: 42 fixed-width fields separated by one space,
//! each left-aligned and padded with spaces to its width in bytes. Amounts
//! are fen: 交易金额 as 12 digits, the signed ones as `C` (credit to the
//! merchant) or `D` (debit) and 12 digits. Times are Beijing `MMDDhhmmss`.
//! The fee is charged on a payment and given back on a refund, a cancel or
//! a reversal; 结算金额 is the amount net of it.

use std::io::Write;

use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};

use crate::bills::fee_fen;
use crate::trade::CHINA;
use crate::SimError;

/// The field widths in bytes, in file order (《全渠道平台接入接口规范 第3部分
/// 文件接口》 6.1): 交易代码 … 保留使用.
const WIDTHS: [usize; 42] = [
    3, 11, 11, 6, 10, 19, 12, 4, 2, 21, 2, 32, 2, 6, 10, 13, 13, 4, 15, 2, 2, 6, 2, 4, 32, 1, 21,
    15, 1, 15, 32, 13, 13, 8, 32, 13, 13, 12, 2, 1, 32, 98,
];

/// Which trade a row is (its 交易类型).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnionpayTxn {
    /// 消费, `txnType` 01.
    Consume,
    /// 退货, `txnType` 04: its own order number, pointing at the payment.
    Refund,
    /// 消费撤销, `txnType` 31: the same day's payment undone.
    Cancel,
    /// 冲正, `txnType` 99: a payment reversed.
    Reversal,
}

impl UnionpayTxn {
    pub fn txn_type(self) -> &'static str {
        match self {
            UnionpayTxn::Consume => "01",
            UnionpayTxn::Refund => "04",
            UnionpayTxn::Cancel => "31",
            UnionpayTxn::Reversal => "99",
        }
    }

    /// 交易代码: S56 for a payment as UnionPay's sample file prints it; the
    /// others are this simulator's choice (docs/PROTOCOLS.md §7.3). Readers
    /// go by 交易类型.
    pub fn code(self) -> &'static str {
        match self {
            UnionpayTxn::Consume => "S56",
            UnionpayTxn::Refund => "S30",
            UnionpayTxn::Cancel => "S31",
            UnionpayTxn::Reversal => "S32",
        }
    }

    /// Money in for the merchant (a payment) or out (the others).
    fn credit(self) -> bool {
        self == UnionpayTxn::Consume
    }
}

/// One cleared trade of the day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnionpayBillRow {
    pub txn: UnionpayTxn,
    /// 交易子类 (`txnSubType`): 06 a code payment, 07 a QR, 00 otherwise.
    pub txn_sub_type: String,
    /// 商户订单号: the payment's order number, or the refund's (cancel's,
    /// reversal's) own request number.
    pub order_id: String,
    /// 查询流水号 (`queryId`) of this trade.
    pub query_id: String,
    pub amount_fen: i64,
    /// 交易传输时间: when the trade happened.
    pub txn_time: DateTime<Utc>,
    /// 原交易查询流水号: the payment a refund, cancel or reversal undoes.
    pub orig_query_id: Option<String>,
    /// 原始交易订单号: that payment's order number.
    pub orig_order_id: Option<String>,
    /// 原始交易日期时间: when that payment happened.
    pub orig_txn_time: Option<DateTime<Utc>>,
}

/// The zip's name, as `fileName` carries it.
pub fn file_name(mer_id: &str, date: NaiveDate) -> String {
    format!("{mer_id}_{}.zip", date.format("%Y%m%d"))
}

/// `fileContent`: the zip, zlib-compressed, base64.
pub fn file_content(zip: &[u8]) -> Result<String, SimError> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(zip).map_err(bill_error)?;
    let packed = z.finish().map_err(bill_error)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(packed))
}

fn bill_error(e: impl std::fmt::Display) -> SimError {
    SimError::Bill(e.to_string())
}

/// `MMDDhhmmss` in Beijing time.
fn trace_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&CHINA).format("%m%d%H%M%S").to_string()
}

/// `C`/`D` and 12 digits of fen.
fn signed(fen: i64) -> String {
    format!("{}{:012}", if fen < 0 { 'D' } else { 'C' }, fen.abs())
}

/// A six-digit 系统跟踪号 from the query id, stable across renders.
fn trace_no(query_id: &str) -> String {
    let n = query_id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    format!("{:06}", n % 1_000_000)
}

/// One ZM row, GBK, without its line end.
fn zm_row(mer_id: &str, r: &UnionpayBillRow) -> Vec<u8> {
    let fee = fee_fen(r.amount_fen);
    // Signs as the merchant's account sees them.
    let (settle, fee_signed) = if r.txn.credit() {
        (r.amount_fen - fee, -fee)
    } else {
        (-(r.amount_fen - fee), fee)
    };
    let mut f: Vec<String> = vec![String::new(); WIDTHS.len()];
    f[0] = r.txn.code().to_owned();
    f[1] = "00010000".to_owned();
    f[2] = "00010000".to_owned();
    f[3] = trace_no(&r.query_id);
    f[4] = trace_time(r.txn_time);
    f[5] = "6216********0018".to_owned();
    f[6] = format!("{:012}", r.amount_fen);
    f[7] = "5411".to_owned();
    f[8] = "11".to_owned();
    f[9] = r.query_id.clone();
    f[11] = r.order_id.clone();
    f[12] = "01".to_owned();
    if let Some(q) = &r.orig_query_id {
        f[13] = trace_no(q);
    }
    f[14] = r.orig_txn_time.map(trace_time).unwrap_or_default();
    f[15] = signed(fee_signed);
    f[16] = signed(settle);
    f[17] = "0001".to_owned();
    f[19] = r.txn.txn_type().to_owned();
    f[20] = r.txn_sub_type.clone();
    f[21] = "000000".to_owned();
    f[22] = "01".to_owned();
    f[26] = r.orig_query_id.clone().unwrap_or_default();
    f[27] = mer_id.to_owned();
    f[30] = "模拟小店".to_owned();
    f[32] = signed(settle);
    f[39] = "0".to_owned();
    f[40] = r.orig_order_id.clone().unwrap_or_default();
    let mut row = Vec::new();
    for (i, (text, width)) in f.iter().zip(WIDTHS).enumerate() {
        if i > 0 {
            row.push(b' ');
        }
        let mut cell = encoding_rs::GBK.encode(text).0.into_owned();
        // Too long a value is cut: the layout never grows.
        cell.truncate(width);
        cell.resize(width, b' ');
        row.extend_from_slice(&cell);
    }
    row
}

/// The ZM file's name inside the zip.
pub fn zm_name(mer_id: &str, date: NaiveDate) -> String {
    format!("INN{}88ZM_{mer_id}", date.format("%y%m%d"))
}

/// The day's reconciliation zip: the ZM file with `rows` in order (CRLF
/// line ends) and an empty ZME file.
pub fn render_unionpay_bill(
    date: NaiveDate,
    mer_id: &str,
    rows: &[UnionpayBillRow],
) -> Result<Vec<u8>, SimError> {
    let mut zm = Vec::new();
    for r in rows {
        zm.extend_from_slice(&zm_row(mer_id, r));
        zm.extend_from_slice(b"\r\n");
    }
    let zme_name = format!("INN{}88ZME_{mer_id}", date.format("%y%m%d"));
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in [(zm_name(mer_id, date), zm), (zme_name, Vec::new())] {
        out.start_file(name, options).map_err(bill_error)?;
        out.write_all(&data).map_err(bill_error)?;
    }
    Ok(out.finish().map_err(bill_error)?.into_inner())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_row_is_607_bytes_with_the_amounts_where_the_layout_puts_them() {
        let r = UnionpayBillRow {
            txn: UnionpayTxn::Consume,
            txn_sub_type: "07".into(),
            order_id: "U0001".into(),
            query_id: "612611200900050000001".into(),
            amount_fen: 1230,
            txn_time: Utc.with_ymd_and_hms(2026, 11, 20, 1, 0, 5).unwrap(),
            orig_query_id: None,
            orig_order_id: None,
            orig_txn_time: None,
        };
        let row = zm_row("777290058110048", &r);
        assert_eq!(row.len(), 607);
        let text = encoding_rs::GBK.decode(&row).0.into_owned();
        assert!(text.starts_with("S56 00010000    00010000    "), "{text}");
        assert!(text.contains(" 1120090005 "), "{text}");
        assert!(text.contains(" 000000001230 "), "{text}");
        // Fee 0.07 charged, 12.23 settled.
        assert!(text.contains(" D000000000007 C000000001223 "), "{text}");
    }

    #[test]
    fn the_zip_holds_the_zm_and_zme_files_and_file_content_unpacks() {
        use std::io::Read;
        let date = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let zip = render_unionpay_bill(date, "777290058110048", &[]).unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip.clone())).unwrap();
        let names: Vec<String> = archive.file_names().map(str::to_owned).collect();
        assert_eq!(
            names,
            vec![
                "INN26112088ZM_777290058110048",
                "INN26112088ZME_777290058110048"
            ]
        );
        assert_eq!(archive.by_index(0).unwrap().size(), 0);
        let content = file_content(&zip).unwrap();
        let packed = base64::engine::general_purpose::STANDARD
            .decode(content)
            .unwrap();
        let mut back = Vec::new();
        flate2::read::ZlibDecoder::new(&packed[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, zip);
        assert_eq!(
            file_name("777290058110048", date),
            "777290058110048_20261120.zip"
        );
    }
}
