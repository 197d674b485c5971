//! The Alipay trade bill (`bill_type=trade`): a zip of GBK CSV files, a
//! detail file (`…_业务明细.csv`) and a summary (`…_业务明细(汇总).csv`),
//! each wrapped in `#`-prefixed header and footer lines. Columns are found
//! by name, never by position.

use crate::alipay::wire::{fen_from_yuan, parse_timestamp};
use crate::bill::{csv_rows, decode_text, is_zip, zip_texts, BillFileError, Columns};
use crate::model::{BillKind, BillLine};

const TRADE_NO: &str = "支付宝交易号";
const OUT_TRADE_NO: &str = "商户订单号";
const KIND: &str = "业务类型";
const CREATED: &str = "创建时间";
const FINISHED: &str = "完成时间";
const ORDER_AMOUNT: &str = "订单金额（元）";
const RECEIVED: &str = "商家实收（元）";
const REFUND_NO: &str = "退款批次号/请求号";

/// Parse an Alipay trade bill as downloaded: the zip, or one detail CSV
/// taken out of it (GBK or UTF-8).
pub fn parse_bill_file(bytes: &[u8]) -> Result<Vec<BillLine>, BillFileError> {
    let texts = if is_zip(bytes) {
        zip_texts(bytes)?
    } else {
        vec![decode_text(bytes)]
    };
    // The detail file is the one whose header has both the trade number and
    // the business type; the summary file has neither.
    let mut found = None;
    for text in &texts {
        if let Some(lines) = parse_detail(text)? {
            if found.is_some() {
                return Err(BillFileError::new("the archive holds two detail files"));
            }
            found = Some(lines);
        }
    }
    found.ok_or_else(|| BillFileError::new("no detail table (支付宝交易号, 业务类型) in the bill"))
}

/// `Ok(None)` when `text` is not a detail table.
fn parse_detail(text: &str) -> Result<Option<Vec<BillLine>>, BillFileError> {
    let body: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter(|line| !line.trim().is_empty())
        .map(|line| format!("{line}\n"))
        .collect();
    let rows = csv_rows(&body)?;
    let Some(header_at) = rows.iter().position(|row| {
        let columns = Columns::new(row);
        columns.has(TRADE_NO) && columns.has(KIND)
    }) else {
        return Ok(None);
    };
    let columns = Columns::new(&rows[header_at]);
    let mut lines = Vec::new();
    for row in rows.iter().skip(header_at + 1) {
        if row.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        lines.push(parse_row(&columns, row)?);
    }
    Ok(Some(lines))
}

fn parse_row(columns: &Columns, row: &[String]) -> Result<BillLine, BillFileError> {
    let kind_text = columns.require(row, KIND)?;
    let kind = match kind_text {
        "交易" => BillKind::Payment,
        "退款" => BillKind::Refund,
        other => return Err(BillFileError::new(format!("unknown 业务类型 {other:?}"))),
    };
    // A refund row repeats the order's amount under 订单金额 and carries the
    // money given back, negative, under 商家实收.
    let (first, second) = match kind {
        BillKind::Payment => (ORDER_AMOUNT, RECEIVED),
        BillKind::Refund => (RECEIVED, ORDER_AMOUNT),
    };
    let amount_text = columns
        .get(row, first)
        .or_else(|| columns.get(row, second))
        .ok_or_else(|| BillFileError::new(format!("a row has no {first}")))?;
    let amount_fen = fen_from_yuan(amount_text)
        .ok_or_else(|| BillFileError::new(format!("{amount_text:?} is not an amount")))?;
    let time_text = columns
        .get(row, FINISHED)
        .or_else(|| columns.get(row, CREATED))
        .ok_or_else(|| BillFileError::new("a row has no 完成时间"))?;
    let occurred_at = parse_timestamp(time_text)
        .ok_or_else(|| BillFileError::new(format!("{time_text:?} is not a time")))?;
    let out_refund_no = match kind {
        BillKind::Refund => columns.get(row, REFUND_NO).map(str::to_owned),
        BillKind::Payment => None,
    };
    Ok(BillLine {
        channel_trade_no: columns.require(row, TRADE_NO)?.to_owned(),
        out_trade_no: columns.require(row, OUT_TRADE_NO)?.to_owned(),
        kind,
        amount_fen,
        out_refund_no,
        occurred_at,
        status: kind_text.to_owned(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::io::Write;

    const DETAIL: &str = "#支付宝业务明细查询\n#账号：[20881234567890120156]\n#起始日期：[2026年11月21日 00:00:00]   终止日期：[2026年11月22日 00:00:00]\n#-----------------------------------------业务明细列表----------------------------------------\n支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注\n2026112122001400001\t,T0001\t,交易,\"咖啡, 大杯\",2026-11-21 09:00:00,2026-11-21 09:00:05,,,,,abc***@x.com,12.30,12.30,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,,-0.07,0.00,\n2026112122001400001\t,T0001\t,退款,咖啡,2026-11-21 09:00:00,2026-11-21 10:00:00,,,,,abc***@x.com,12.30,-2.00,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,R0001\t,0.01,0.00,\n#-----------------------------------------业务明细列表结束------------------------------------\n#交易合计：1笔，商家实收：12.30元，商家优惠：0.00元\n#退款合计：1笔，商家实收：-2.00元，商家优惠：0.00元\n#导出时间：[2026年11月22日 09:00:00]\n";

    const SUMMARY: &str = "#支付宝业务汇总查询\n门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）\n合计,,1,1,10.30\n";

    fn gbk(text: &str) -> Vec<u8> {
        encoding_rs::GBK.encode(text).0.into_owned()
    }

    fn zip_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        {
            let mut zip = zip::ZipWriter::new(&mut out);
            for (name, data) in files {
                zip.start_file(*name, zip::write::SimpleFileOptions::default())
                    .unwrap();
                zip.write_all(data).unwrap();
            }
            zip.finish().unwrap();
        }
        out.into_inner()
    }

    fn check(lines: &[BillLine]) {
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].kind, BillKind::Payment);
        assert_eq!(lines[0].out_trade_no, "T0001");
        assert_eq!(lines[0].channel_trade_no, "2026112122001400001");
        assert_eq!(lines[0].amount_fen, 1230);
        assert_eq!(lines[0].out_refund_no, None);
        assert_eq!(
            lines[0].occurred_at.to_rfc3339(),
            "2026-11-21T01:00:05+00:00"
        );
        assert_eq!(lines[1].kind, BillKind::Refund);
        assert_eq!(
            lines[1].amount_fen, 200,
            "refunds are positive with kind Refund"
        );
        assert_eq!(lines[1].out_refund_no.as_deref(), Some("R0001"));
        assert_eq!(lines[1].status, "退款");
    }

    #[test]
    fn zip_of_gbk_files() {
        let zip = zip_of(&[
            (
                "20881234567890120156_20261121_业务明细(汇总).csv",
                gbk(SUMMARY),
            ),
            ("20881234567890120156_20261121_业务明细.csv", gbk(DETAIL)),
        ]);
        check(&parse_bill_file(&zip).unwrap());
    }

    #[test]
    fn a_bare_csv_in_either_encoding() {
        check(&parse_bill_file(&gbk(DETAIL)).unwrap());
        check(&parse_bill_file(DETAIL.as_bytes()).unwrap());
    }

    #[test]
    fn columns_found_by_name_in_any_order_and_bracket_width() {
        let moved = "商户订单号,订单金额(元),业务类型,支付宝交易号,完成时间,退款批次号/请求号\nT9,0.01,交易,2026X,2026-11-21 12:00:00,\n";
        let lines = parse_bill_file(moved.as_bytes()).unwrap();
        assert_eq!(lines[0].amount_fen, 1);
        assert_eq!(lines[0].channel_trade_no, "2026X");
    }

    #[test]
    fn unreadable_files_are_errors() {
        assert!(parse_bill_file(b"").is_err());
        assert!(parse_bill_file(&gbk(SUMMARY)).is_err());
        assert!(parse_bill_file(b"PK\x03\x04garbage").is_err());
        let bad_amount = DETAIL.replace("12.30,12.30", "12.3x,12.30");
        assert!(parse_bill_file(bad_amount.as_bytes()).is_err());
    }
}
