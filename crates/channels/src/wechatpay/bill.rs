//! The WeChat Pay trade bill: CSV (UTF-8, often with a BOM), every data
//! field prefixed with a backtick, amounts in yuan, two summary lines at the
//! end. Downloaded plain, gzip-compressed (`tar_type=GZIP`), or zipped by
//! whoever saved it.
//!
//! The header says which bill it is: `REFUND` bills have 退款申请时间 and
//! 退款成功时间, `SUCCESS` bills have no refund columns, `ALL` bills have
//! refund columns without those times. Two header generations exist: the
//! current one (订单金额 gross, 应结订单金额 less non-recharge coupons,
//! 申请退款金额 and 退款金额 likewise) and the early one (总金额 with
//! 企业红包金额 or 代金券或立减优惠金额, one 退款金额). Columns are found
//! by name.

use crate::bill::{
    beijing_time, bill_fen, csv_rows, normalise_header, unpack_texts, BillFileError, BillFooter,
    BillHeader, BillType, Columns, ParsedBill,
};
use crate::model::{BillKind, BillLine, BillRefundState};

const TIME: &str = "交易时间";
const TRANSACTION_ID: &str = "微信订单号";
const OUT_TRADE_NO: &str = "商户订单号";
const STATE: &str = "交易状态";
/// Current generation: gross and settled payment amounts.
const ORDER_AMOUNT: &str = "订单金额";
const SETTLED_AMOUNT: &str = "应结订单金额";
/// Early generation: one payment amount.
const TOTAL_AMOUNT: &str = "总金额";
const OUT_REFUND_NO: &str = "商户退款单号";
/// Current generation: 退款金额 is settled, 申请退款金额 gross; early: the
/// one refund amount.
const REFUND_AMOUNT: &str = "退款金额";
const REFUND_REQUESTED: &str = "申请退款金额";
const REFUND_STATE: &str = "退款状态";
const REFUND_APPLIED_AT: &str = "退款申请时间";
const REFUND_SUCCEEDED_AT: &str = "退款成功时间";
const SUMMARY_HEADER: &str = "总交易单数";

/// Parse a WeChat Pay trade bill file as downloaded (plain, gzip or zip).
pub fn parse_bill_file(bytes: &[u8]) -> Result<Vec<BillLine>, BillFileError> {
    Ok(read_bill(bytes)?.lines)
}

/// Parse a WeChat Pay trade bill with its type and its summary.
pub fn read_bill(bytes: &[u8]) -> Result<ParsedBill, BillFileError> {
    let texts = unpack_texts(bytes)?;
    let mut found = Vec::new();
    for text in &texts {
        if let Some(bill) = parse_text(text)? {
            found.push(bill);
        }
    }
    match found.len() {
        0 => Err(BillFileError::NoTable {
            wanted: "交易时间, 商户订单号, 交易状态",
        }),
        1 => Ok(found.remove(0)),
        count => Err(BillFileError::SeveralTables { count }),
    }
}

/// `Ok(None)` when `text` holds no WeChat bill table.
fn parse_text(text: &str) -> Result<Option<ParsedBill>, BillFileError> {
    let rows: Vec<(usize, Vec<String>)> = csv_rows(text)?
        .into_iter()
        .map(|(n, row)| (n, row.iter().map(|cell| clean(cell)).collect()))
        .collect();
    let Some(header_at) = rows.iter().position(|(_, row)| {
        let c = Columns::new(row);
        c.has(TIME) && c.has(OUT_TRADE_NO) && c.has(STATE)
    }) else {
        return Ok(None);
    };
    let columns = Columns::new(&rows[header_at].1);
    let bill_type = if columns.has(REFUND_APPLIED_AT) || columns.has(REFUND_SUCCEEDED_AT) {
        BillType::WechatRefund
    } else if columns.has(REFUND_AMOUNT) || columns.has(OUT_REFUND_NO) {
        BillType::WechatAll
    } else {
        BillType::WechatSuccess
    };
    let header = if columns.has(ORDER_AMOUNT) || columns.has(SETTLED_AMOUNT) {
        BillHeader::Current
    } else {
        BillHeader::Early
    };
    let mut lines = Vec::new();
    let mut footer = BillFooter::default();
    let mut at = header_at + 1;
    while at < rows.len() {
        let (line, row) = &rows[at];
        if row.first().map(|c| normalise_header(c)).as_deref() == Some(SUMMARY_HEADER) {
            if let Some((_, values)) = rows.get(at + 1) {
                footer = read_footer(&Columns::new(row), values, line + 1)?;
            }
            break;
        }
        at += 1;
        if row.iter().all(|c| c.is_empty()) {
            continue;
        }
        lines.push(parse_row(&columns, header, bill_type, row, *line)?);
    }
    Ok(Some(ParsedBill {
        bill_type,
        header: Some(header),
        lines,
        footer,
    }))
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

fn time(
    columns: &Columns,
    row: &[String],
    name: &str,
    line: usize,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, BillFileError> {
    match columns.get(row, name) {
        None => Ok(None),
        Some(text) => beijing_time(text)
            .map(Some)
            .ok_or_else(|| BillFileError::BadTime {
                line,
                column: name.to_owned(),
                value: text.to_owned(),
            }),
    }
}

/// The refund status words of the bill: SUCCESS is money returned,
/// PROCESSING is on its way; anything else (FAIL, CHANGE, REFUNDCLOSE,
/// ABNORMAL, CLOSED) did not return it. A row without a status is not
/// counted as returned.
fn refund_state(text: Option<&str>) -> BillRefundState {
    match text.map(str::to_ascii_uppercase).as_deref() {
        Some("SUCCESS") => BillRefundState::Succeeded,
        Some("PROCESSING") | None => BillRefundState::Pending,
        Some(_) => BillRefundState::Failed,
    }
}

fn parse_row(
    columns: &Columns,
    header: BillHeader,
    bill_type: BillType,
    row: &[String],
    line: usize,
) -> Result<BillLine, BillFileError> {
    let state = columns.require(row, STATE, line)?;
    let kind = match state {
        "SUCCESS" => BillKind::Payment,
        "REFUND" => BillKind::Refund,
        "REVOKED" => BillKind::Reversal,
        other => {
            return Err(BillFileError::UnknownValue {
                line,
                column: STATE.to_owned(),
                value: other.to_owned(),
            })
        }
    };
    let missing = |column: &str| BillFileError::MissingField {
        line,
        column: column.to_owned(),
    };
    let row_time = time(columns, row, TIME, line)?.ok_or_else(|| missing(TIME))?;
    let (amount_fen, settled_fen, out_refund_no, refund, occurred_at, status) = match kind {
        BillKind::Payment | BillKind::Reversal => {
            let (gross, settled) = match header {
                BillHeader::Current => {
                    let settled = amount(columns, row, SETTLED_AMOUNT, line)?;
                    let gross = amount(columns, row, ORDER_AMOUNT, line)?.or(settled);
                    (gross.ok_or_else(|| missing(ORDER_AMOUNT))?, settled)
                }
                BillHeader::Early => {
                    let total = amount(columns, row, TOTAL_AMOUNT, line)?
                        .ok_or_else(|| missing(TOTAL_AMOUNT))?;
                    (total, Some(total))
                }
            };
            (
                gross,
                settled.unwrap_or(gross),
                None,
                None,
                row_time,
                state.to_owned(),
            )
        }
        BillKind::Refund => {
            let settled = amount(columns, row, REFUND_AMOUNT, line)?;
            let gross = match header {
                BillHeader::Current => amount(columns, row, REFUND_REQUESTED, line)?
                    .filter(|fen| *fen != 0)
                    .or(settled),
                BillHeader::Early => settled,
            }
            .ok_or_else(|| missing(REFUND_AMOUNT))?;
            let status_text = columns.get(row, REFUND_STATE);
            let refund = refund_state(status_text);
            // A REFUND bill's 交易时间 is the payment's; the refund belongs
            // to the day it succeeded, or while pending the day it was asked.
            let when = match bill_type {
                BillType::WechatRefund => {
                    let applied = time(columns, row, REFUND_APPLIED_AT, line)?;
                    let succeeded = time(columns, row, REFUND_SUCCEEDED_AT, line)?;
                    match refund {
                        BillRefundState::Succeeded => succeeded.or(applied),
                        _ => applied.or(succeeded),
                    }
                    .ok_or_else(|| missing(REFUND_SUCCEEDED_AT))?
                }
                _ => row_time,
            };
            (
                gross,
                settled.unwrap_or(gross),
                columns.get(row, OUT_REFUND_NO).map(str::to_owned),
                Some(refund),
                when,
                status_text.unwrap_or(state).to_owned(),
            )
        }
    };
    Ok(BillLine {
        channel_trade_no: columns.require(row, TRANSACTION_ID, line)?.to_owned(),
        out_trade_no: columns.require(row, OUT_TRADE_NO, line)?.to_owned(),
        kind,
        amount_fen,
        settled_fen,
        out_refund_no,
        occurred_at,
        refund_state: refund,
        status,
    })
}

/// The summary row under its own header. Names of both generations.
fn read_footer(
    names: &Columns,
    values: &[String],
    line: usize,
) -> Result<BillFooter, BillFileError> {
    let pick = |candidates: &[&'static str]| -> Result<Option<i64>, BillFileError> {
        match names.first_of(candidates) {
            Some(name) => amount(names, values, name, line),
            None => Ok(None),
        }
    };
    let rows = match names.get(values, SUMMARY_HEADER) {
        None => None,
        // Printed as "45" or "45.0".
        Some(text) => Some(
            bill_fen(text).ok_or_else(|| BillFileError::BadAmount {
                line,
                column: SUMMARY_HEADER.to_owned(),
                value: text.to_owned(),
            })? / 100,
        ),
    };
    let early_payments = pick(&["总交易额"])?;
    let early_refunds = pick(&["总退款金额"])?;
    Ok(BillFooter {
        rows,
        payments_fen: pick(&["订单总金额"])?.or(early_payments),
        settled_payments_fen: pick(&["应结订单总金额"])?.or(early_payments),
        refunds_fen: pick(&["申请退款总金额"])?.or(early_refunds),
        settled_refunds_fen: pick(&["退款总金额"])?.or(early_refunds),
        payment_rows: None,
        refund_rows: None,
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
