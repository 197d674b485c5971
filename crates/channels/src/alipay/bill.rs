//! The Alipay trade bill (`bill_type=trade`): a zip of GBK CSV files, a
//! detail file (`…_业务明细.csv`) and a summary (`…_业务明细(汇总).csv`),
//! each wrapped in `#`-prefixed header and footer lines; the footer prints
//! the day's totals (`#交易合计：N笔，商家实收：X元，商家优惠：Y元`, the
//! same for 退款合计). Accountants also import the detail file alone, saved
//! again as UTF-8 (with BOM), with CRLF, zipped inside a folder or gzipped.
//! Columns are found by name, never by position.
//!
//! The account log (账务明细, `bill_type=signcustomer`) lists money in and
//! out of the account (账务流水号, 业务流水号, 收入金额, 支出金额) rather
//! than the trades; it is refused with a plain pointer to the 业务明细 file.

use crate::alipay::wire::parse_timestamp;
use crate::bill::{
    beijing_time, bill_fen, csv_rows, unpack_texts, BillFileError, BillFooter, BillType, Columns,
    ParsedBill,
};
use crate::model::{BillKind, BillLine, BillRefundState};

const TRADE_NO: &str = "支付宝交易号";
const OUT_TRADE_NO: &str = "商户订单号";
const KIND: &str = "业务类型";
const CREATED: &str = "创建时间";
const FINISHED: &str = "完成时间";
const ORDER_AMOUNT: &str = "订单金额（元）";
const RECEIVED: &str = "商家实收（元）";
const MERCHANT_DISCOUNT: &str = "商家优惠（元）";
const REFUND_NO: &str = "退款批次号/请求号";
/// Columns only the account log (账务明细) has.
const LOG_ENTRY_NO: &str = "账务流水号";
const LOG_BUSINESS_NO: &str = "业务流水号";

/// Parse an Alipay trade bill as downloaded: the zip, or one detail CSV
/// taken out of it (GBK or UTF-8), or either gzipped.
pub fn parse_bill_file(bytes: &[u8]) -> Result<Vec<BillLine>, BillFileError> {
    Ok(read_bill(bytes)?.lines)
}

/// Parse an Alipay trade bill with its footer totals.
pub fn read_bill(bytes: &[u8]) -> Result<ParsedBill, BillFileError> {
    let texts = unpack_texts(bytes)?;
    // The detail file is the one whose header has both the trade number and
    // the business type; the summary file has neither.
    let mut found = Vec::new();
    let mut account_log = false;
    for text in &texts {
        match parse_detail(text)? {
            Table::Detail(bill) => found.push(bill),
            Table::AccountLog => account_log = true,
            Table::None => {}
        }
    }
    match found.len() {
        0 if account_log => Err(BillFileError::AlipayAccountLog),
        0 => Err(BillFileError::NoTable {
            wanted: "支付宝交易号, 业务类型",
        }),
        1 => Ok(found.remove(0)),
        count => Err(BillFileError::SeveralTables { count }),
    }
}

enum Table {
    Detail(ParsedBill),
    AccountLog,
    None,
}

fn parse_detail(text: &str) -> Result<Table, BillFileError> {
    let mut body = String::new();
    let mut footer = BillFooter::default();
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(comment) = trimmed.strip_prefix('#') {
            read_footer_line(comment, &mut footer);
        } else if !trimmed.is_empty() {
            body.push_str(line);
            body.push('\n');
        }
    }
    let rows = csv_rows(&body)?;
    let Some(header_at) = rows.iter().position(|(_, row)| {
        let columns = Columns::new(row);
        columns.has(TRADE_NO) && columns.has(KIND)
    }) else {
        let log = rows.iter().any(|(_, row)| {
            let columns = Columns::new(row);
            columns.has(LOG_ENTRY_NO) || columns.has(LOG_BUSINESS_NO)
        });
        return Ok(if log { Table::AccountLog } else { Table::None });
    };
    let columns = Columns::new(&rows[header_at].1);
    let mut lines = Vec::new();
    for (line, row) in rows.iter().skip(header_at + 1) {
        if row.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        lines.push(parse_row(&columns, row, *line)?);
    }
    Ok(Table::Detail(ParsedBill {
        bill_type: BillType::AlipayTrade,
        header: None,
        lines,
        footer,
    }))
}

/// `交易合计：1笔，商家实收：12.30元，商家优惠：0.00元` (and 退款合计).
/// Colons and commas may be either width.
fn read_footer_line(comment: &str, footer: &mut BillFooter) {
    let normal: String = comment
        .chars()
        .map(|c| match c {
            ':' => '：',
            ',' => '，',
            other => other,
        })
        .collect();
    let parts: Vec<(&str, &str)> = normal
        .split('，')
        .filter_map(|part| part.trim().split_once('：'))
        .collect();
    let Some(&(what, count)) = parts.first() else {
        return;
    };
    let count = count
        .trim()
        .trim_end_matches('笔')
        .trim()
        .parse::<i64>()
        .ok();
    let received = parts
        .iter()
        .find(|(name, _)| name.trim() == "商家实收")
        .and_then(|(_, v)| bill_fen(v.trim().trim_end_matches('元')));
    match what.trim() {
        "交易合计" => {
            footer.payment_rows = count;
            footer.settled_payments_fen = received;
        }
        "退款合计" => {
            footer.refund_rows = count;
            footer.settled_refunds_fen = received.map(i64::abs);
        }
        _ => return,
    }
    if let (Some(p), Some(r)) = (footer.payment_rows, footer.refund_rows) {
        footer.rows = Some(p + r);
    }
}

fn amount(
    columns: &Columns,
    row: &[String],
    name: &str,
    line: usize,
) -> Result<Option<i64>, BillFileError> {
    match columns.get(row, name) {
        None => Ok(None),
        Some(text) => bill_fen(text)
            .map(Some)
            .ok_or_else(|| BillFileError::BadAmount {
                line,
                column: name.to_owned(),
                value: text.to_owned(),
            }),
    }
}

fn parse_row(columns: &Columns, row: &[String], line: usize) -> Result<BillLine, BillFileError> {
    let kind_text = columns.require(row, KIND, line)?;
    let kind = match kind_text {
        "交易" => BillKind::Payment,
        "退款" => BillKind::Refund,
        other => {
            return Err(BillFileError::UnknownValue {
                line,
                column: KIND.to_owned(),
                value: other.to_owned(),
            })
        }
    };
    let order = amount(columns, row, ORDER_AMOUNT, line)?;
    let received = amount(columns, row, RECEIVED, line)?;
    let discount = amount(columns, row, MERCHANT_DISCOUNT, line)?
        .unwrap_or(0)
        .abs();
    let missing = |column: &str| BillFileError::MissingField {
        line,
        column: column.to_owned(),
    };
    // A payment: 订单金额 gross, 商家实收 what the shop got (less 商家优惠).
    // A refund row repeats the order's amount under 订单金额; the money
    // given back is 商家实收 (negative) and the merchant discount taken back
    // is 商家优惠: together, what was asked back.
    let (amount_fen, settled_fen) = match kind {
        BillKind::Payment => {
            let gross = order.or(received).ok_or_else(|| missing(ORDER_AMOUNT))?;
            (gross, received.unwrap_or(gross))
        }
        _ => {
            let settled = match received {
                Some(fen) => fen.abs(),
                None => order.ok_or_else(|| missing(RECEIVED))?.abs(),
            };
            (settled + discount, settled)
        }
    };
    let (time_column, time_text) = match columns.get(row, FINISHED) {
        Some(text) => (FINISHED, text),
        None => (
            CREATED,
            columns.get(row, CREATED).ok_or_else(|| missing(FINISHED))?,
        ),
    };
    let occurred_at = parse_timestamp(time_text)
        .or_else(|| beijing_time(time_text))
        .ok_or_else(|| BillFileError::BadTime {
            line,
            column: time_column.to_owned(),
            value: time_text.to_owned(),
        })?;
    let (out_refund_no, refund_state) = match kind {
        BillKind::Refund => (
            columns.get(row, REFUND_NO).map(str::to_owned),
            Some(BillRefundState::Succeeded),
        ),
        _ => (None, None),
    };
    Ok(BillLine {
        channel_trade_no: columns.require(row, TRADE_NO, line)?.to_owned(),
        out_trade_no: columns.require(row, OUT_TRADE_NO, line)?.to_owned(),
        kind,
        amount_fen,
        settled_fen,
        out_refund_no,
        occurred_at,
        refund_state,
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
