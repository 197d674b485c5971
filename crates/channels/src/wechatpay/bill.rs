//! The WeChat Pay trade bill (`bill_type=ALL`): UTF-8 CSV (with BOM), every
//! data field prefixed with a backtick, amounts in yuan, two summary lines
//! at the end. Columns are found by name.

use chrono::{FixedOffset, NaiveDateTime, TimeZone, Utc};

use crate::alipay::wire::fen_from_yuan;
use crate::bill::{csv_rows, decode_text, BillFileError, Columns};
use crate::model::{BillKind, BillLine};

const TIME: &str = "交易时间";
const TRANSACTION_ID: &str = "微信订单号";
const OUT_TRADE_NO: &str = "商户订单号";
const STATE: &str = "交易状态";
const ORDER_AMOUNT: &str = "订单金额";
const SETTLED_AMOUNT: &str = "应结订单金额";
const OUT_REFUND_NO: &str = "商户退款单号";
const REFUND_AMOUNT: &str = "退款金额";
const REFUND_REQUESTED: &str = "申请退款金额";
const REFUND_STATE: &str = "退款状态";
const SUMMARY_HEADER: &str = "总交易单数";

/// Parse a WeChat Pay trade bill file as downloaded.
pub fn parse_bill_file(bytes: &[u8]) -> Result<Vec<BillLine>, BillFileError> {
    let text = decode_text(bytes);
    let rows: Vec<Vec<String>> = csv_rows(&text)?
        .into_iter()
        .map(|row| row.iter().map(|cell| clean(cell)).collect())
        .collect();
    let header_at = rows
        .iter()
        .position(|row| {
            let c = Columns::new(row);
            c.has(TIME) && c.has(OUT_TRADE_NO) && c.has(STATE)
        })
        .ok_or_else(|| BillFileError::new("no header row (交易时间, 商户订单号, 交易状态)"))?;
    let columns = Columns::new(&rows[header_at]);
    let mut lines = Vec::new();
    for row in rows.iter().skip(header_at + 1) {
        if row.first().map(|c| c.as_str()) == Some(SUMMARY_HEADER) {
            break;
        }
        if row.iter().all(|c| c.is_empty()) {
            continue;
        }
        lines.push(parse_row(&columns, row)?);
    }
    Ok(lines)
}

/// Fields are written `` `value `` so spreadsheets keep them as text.
fn clean(cell: &str) -> String {
    let trimmed = cell.trim();
    trimmed
        .strip_prefix('`')
        .unwrap_or(trimmed)
        .trim()
        .to_owned()
}

fn parse_row(columns: &Columns, row: &[String]) -> Result<BillLine, BillFileError> {
    let state = columns.require(row, STATE)?;
    let (kind, amount_text, out_refund_no, status) = match state {
        "REFUND" => (
            BillKind::Refund,
            columns
                .get(row, REFUND_AMOUNT)
                .or_else(|| columns.get(row, REFUND_REQUESTED))
                .ok_or_else(|| BillFileError::new("a refund row has no 退款金额"))?,
            columns.get(row, OUT_REFUND_NO).map(str::to_owned),
            columns.get(row, REFUND_STATE).unwrap_or(state).to_owned(),
        ),
        _ => (
            BillKind::Payment,
            columns
                .get(row, ORDER_AMOUNT)
                .or_else(|| columns.get(row, SETTLED_AMOUNT))
                .ok_or_else(|| BillFileError::new("a row has no 订单金额"))?,
            None,
            state.to_owned(),
        ),
    };
    let amount_fen = fen_from_yuan(amount_text)
        .ok_or_else(|| BillFileError::new(format!("{amount_text:?} is not an amount")))?;
    let time_text = columns.require(row, TIME)?;
    let occurred_at = NaiveDateTime::parse_from_str(time_text, "%Y-%m-%d %H:%M:%S")
        .ok()
        .and_then(|naive| {
            FixedOffset::east_opt(8 * 3600)?
                .from_local_datetime(&naive)
                .single()
        })
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| BillFileError::new(format!("{time_text:?} is not a time")))?;
    Ok(BillLine {
        channel_trade_no: columns.require(row, TRANSACTION_ID)?.to_owned(),
        out_trade_no: columns.require(row, OUT_TRADE_NO)?.to_owned(),
        kind,
        amount_fen,
        out_refund_no,
        occurred_at,
        status,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";

    fn sample() -> String {
        format!(
            "\u{feff}{HEADER}\n\
`2026-11-21 09:00:05,`wx1,`1230000109,`0,`,`4200001,`T0001,`oUp,`NATIVE,`SUCCESS,`OTHERS,`CNY,`12.30,`0.00,`0,`0,`0.00,`0.00,`,`,\"`咖啡, 大杯\",`,`0.07000,`0.60%,`12.30,`0.00,`\n\
`2026-11-21 10:00:00,`wx1,`1230000109,`0,`,`4200001,`T0001,`oUp,`NATIVE,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`5000001,`R0001,`2.00,`0.00,`ORIGINAL,`SUCCESS,`咖啡,`,`-0.01000,`0.60%,`0.00,`2.00,`\n\
总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n\
`1,`12.30,`2.00,`0.00,`0.06,`12.30,`2.00\n"
        )
    }

    #[test]
    fn parses_payments_refunds_and_stops_at_the_summary() {
        // The goods name holds a quoted comma: the CSV reader must handle it.
        let lines = parse_bill_file(sample().as_bytes()).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].kind, BillKind::Payment);
        assert_eq!(
            (
                lines[0].out_trade_no.as_str(),
                lines[0].channel_trade_no.as_str(),
                lines[0].amount_fen
            ),
            ("T0001", "4200001", 1230)
        );
        assert_eq!(lines[0].status, "SUCCESS");
        assert_eq!(
            lines[0].occurred_at.to_rfc3339(),
            "2026-11-21T01:00:05+00:00"
        );
        assert_eq!(lines[1].kind, BillKind::Refund);
        assert_eq!(lines[1].amount_fen, 200);
        assert_eq!(lines[1].out_refund_no.as_deref(), Some("R0001"));
        assert_eq!(lines[1].status, "SUCCESS");
    }

    #[test]
    fn an_empty_day_has_only_header_and_summary() {
        let text = format!("\u{feff}{HEADER}\n总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n`0,`0.00,`0.00,`0.00,`0.00,`0.00,`0.00\n");
        assert_eq!(parse_bill_file(text.as_bytes()).unwrap(), vec![]);
    }

    #[test]
    fn broken_files_are_errors() {
        assert!(parse_bill_file(b"").is_err());
        assert!(parse_bill_file(b"\xff\xfe\x00garbage").is_err());
        let bad = sample()
            .replace("`12.30,`0.00,`0,", "`12.3x,`0.00,`0,")
            .replace("`12.30,`0.00,`\n", "`1x,`0.00,`\n");
        assert!(parse_bill_file(bad.as_bytes()).is_err());
    }
}
