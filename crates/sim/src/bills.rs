//! The channels' daily bills, rendered from the stored trades.
//!
//! A trade appears on the day (China time, natural day) it was paid; a
//! refund on the day it was made. Amounts are yuan with two decimals, made
//! from integer fen.
//!
//! * Alipay: a zip of two GBK CSV files, `<pid>_<date>_业务明细.csv` (one row
//!   per trade or refund) and `<pid>_<date>_业务明细(汇总).csv` (per store and
//!   total), each framed by `#` comment lines.
//! * WeChat Pay: one UTF-8 CSV with a BOM; every data field starts with a
//!   backtick; the last two lines are the summary header and values.
//!
//! Service fees are 0.6% of the amount, rounded half up to the fen. In the
//! Alipay detail the id columns (trade number, order number, refund request
//! number) end in a tab, as in the real files; readers should trim cells.

use std::collections::BTreeMap;
use std::io::Write;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use shouyin_core::format_fen;

use crate::store::Store;
use crate::trade::{china_time, Channel, Refund, Trade, CHINA};
use crate::SimError;

/// The dates a bill covers, `[first, end)` in China dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillSpan {
    pub first: NaiveDate,
    pub end: NaiveDate,
    /// `20261121` for a day, `202611` for a month; names the files.
    pub label: String,
}

impl BillSpan {
    pub fn day(date: NaiveDate) -> Option<BillSpan> {
        Some(BillSpan {
            first: date,
            end: date.succ_opt()?,
            label: date.format("%Y%m%d").to_string(),
        })
    }

    fn bounds(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        (china_midnight(self.first), china_midnight(self.end))
    }
}

fn china_midnight(d: NaiveDate) -> DateTime<Utc> {
    let naive = d.and_hms_opt(0, 0, 0).unwrap_or_default();
    CHINA
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// The channel's fee on an amount: 0.6%, half up.
pub fn fee_fen(amount_fen: i64) -> i64 {
    (amount_fen * 6 + 500) / 1000
}

fn csv_error(e: impl std::fmt::Display) -> SimError {
    SimError::Bill(e.to_string())
}

/// One CSV line from `fields` (quoted only where needed).
fn csv_line(fields: &[String], terminator: &[u8]) -> Result<Vec<u8>, SimError> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    w.write_record(fields).map_err(csv_error)?;
    let mut out = w.into_inner().map_err(csv_error)?;
    out.pop();
    out.extend_from_slice(terminator);
    Ok(out)
}

fn cn_stamp(t: DateTime<Utc>) -> String {
    t.with_timezone(&CHINA)
        .format("%Y年%m月%d日 %H:%M:%S")
        .to_string()
}

/// Trades paid in a span, and refunds made in it with the trade of each.
type Activity = (Vec<Trade>, Vec<(Refund, Trade)>);

/// Trades paid and refunds made in the span, with the trade of each refund.
fn activity(store: &Store, channel: Channel, span: &BillSpan) -> Result<Activity, SimError> {
    let (from, to) = span.bounds();
    let paid = store.paid_between(channel, from, to)?;
    let mut refunds = Vec::new();
    for r in store.refunds_between(channel, from, to)? {
        if let Some(t) = store.trade(channel, &r.out_trade_no)? {
            refunds.push((r, t));
        }
    }
    Ok((paid, refunds))
}

const ALIPAY_DETAIL_HEADER: [&str; 25] = [
    "支付宝交易号",
    "商户订单号",
    "业务类型",
    "商品名称",
    "创建时间",
    "完成时间",
    "门店编号",
    "门店名称",
    "操作员",
    "终端号",
    "对方账户",
    "订单金额（元）",
    "商家实收（元）",
    "支付宝红包（元）",
    "集分宝（元）",
    "支付宝优惠（元）",
    "商家优惠（元）",
    "券核销金额（元）",
    "券名称",
    "商家红包消费金额（元）",
    "卡消费金额（元）",
    "退款批次号/请求号",
    "服务费（元）",
    "分润（元）",
    "备注",
];

const ALIPAY_SUMMARY_HEADER: [&str; 12] = [
    "门店编号",
    "门店名称",
    "交易订单总笔数",
    "退款订单总笔数",
    "订单金额（元）",
    "商家实收（元）",
    "支付宝优惠（元）",
    "商家优惠（元）",
    "卡消费金额（元）",
    "服务费（元）",
    "分润（元）",
    "实收净额（元）",
];

/// Number-like ids carry a trailing tab in the real file, so that a
/// spreadsheet keeps them as text instead of rounding them to 2.0E+27.
fn excel_text(id: &str) -> String {
    format!("{id}\t")
}

fn store_name(t: &Trade) -> String {
    if t.store_id.is_empty() {
        String::new()
    } else {
        format!("门店{}", t.store_id)
    }
}

#[derive(Default)]
struct StoreTotals {
    name: String,
    trades: i64,
    refunds: i64,
    order_fen: i64,
    received_fen: i64,
    fee_fen: i64,
}

/// The Alipay trade bill for `span` as zip bytes.
pub fn alipay_zip(
    store: &Store,
    pid: &str,
    span: &BillSpan,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, SimError> {
    let (paid, refunds) = activity(store, Channel::Alipay, span)?;
    let (from, to) = span.bounds();
    const CRLF: &[u8] = b"\r\n";
    let zero = format_fen(0);
    let mut per_store: BTreeMap<String, StoreTotals> = BTreeMap::new();

    let mut detail = String::new();
    detail.push_str("#支付宝业务明细查询\r\n");
    detail.push_str(&format!("#账号：[{pid}0156]\r\n"));
    detail.push_str(&format!(
        "#起始日期：[{}]   终止日期：[{}]\r\n",
        cn_stamp(from),
        cn_stamp(to)
    ));
    detail.push_str("#-----------------------------------------业务明细列表----------------------------------------\r\n");
    let mut rows: Vec<u8> = csv_line(&ALIPAY_DETAIL_HEADER.map(String::from), CRLF)?;
    for t in &paid {
        let fee = fee_fen(t.amount_fen);
        let row = [
            excel_text(&t.trade_no),
            excel_text(&t.out_trade_no),
            "交易".into(),
            t.subject.clone(),
            china_time(t.created_at),
            t.paid_at.map(china_time).unwrap_or_default(),
            t.store_id.clone(),
            store_name(t),
            t.operator_id.clone(),
            t.terminal_id.clone(),
            t.buyer_logon.clone(),
            format_fen(t.amount_fen),
            format_fen(t.amount_fen),
            zero.clone(),
            zero.clone(),
            zero.clone(),
            zero.clone(),
            zero.clone(),
            String::new(),
            zero.clone(),
            zero.clone(),
            String::new(),
            format_fen(-fee),
            zero.clone(),
            String::new(),
        ];
        rows.extend(csv_line(&row, CRLF)?);
        let s = per_store.entry(t.store_id.clone()).or_default();
        s.name = store_name(t);
        s.trades += 1;
        s.order_fen += t.amount_fen;
        s.received_fen += t.amount_fen;
        s.fee_fen -= fee;
    }
    for (r, t) in &refunds {
        let fee_back = fee_fen(r.amount_fen);
        let row = [
            excel_text(&t.trade_no),
            excel_text(&t.out_trade_no),
            "退款".into(),
            t.subject.clone(),
            china_time(t.created_at),
            china_time(r.created_at),
            t.store_id.clone(),
            store_name(t),
            t.operator_id.clone(),
            t.terminal_id.clone(),
            t.buyer_logon.clone(),
            format_fen(t.amount_fen),
            format_fen(-r.amount_fen),
            zero.clone(),
            zero.clone(),
            zero.clone(),
            zero.clone(),
            zero.clone(),
            String::new(),
            zero.clone(),
            zero.clone(),
            excel_text(&r.out_refund_no),
            format_fen(fee_back),
            zero.clone(),
            r.reason.clone(),
        ];
        rows.extend(csv_line(&row, CRLF)?);
        let s = per_store.entry(t.store_id.clone()).or_default();
        s.name = store_name(t);
        s.refunds += 1;
        s.received_fen -= r.amount_fen;
        s.fee_fen += fee_back;
    }
    detail.push_str(&String::from_utf8_lossy(&rows));
    detail.push_str("#-----------------------------------------业务明细列表结束------------------------------------\r\n");
    let paid_fen: i64 = paid.iter().map(|t| t.amount_fen).sum();
    let refunded_fen: i64 = refunds.iter().map(|(r, _)| r.amount_fen).sum();
    detail.push_str(&format!(
        "#交易合计：{}笔，商家实收：{}元，商家优惠：0.00元\r\n",
        paid.len(),
        format_fen(paid_fen)
    ));
    detail.push_str(&format!(
        "#退款合计：{}笔，商家实收：{}元，商家优惠：0.00元\r\n",
        refunds.len(),
        format_fen(-refunded_fen)
    ));
    detail.push_str(&format!("#导出时间：[{}]\r\n", cn_stamp(now)));

    let mut summary = String::new();
    summary.push_str("#支付宝业务汇总查询\r\n");
    summary.push_str(&format!("#账号：[{pid}0156]\r\n"));
    summary.push_str(&format!(
        "#起始日期：[{}]   终止日期：[{}]\r\n",
        cn_stamp(from),
        cn_stamp(to)
    ));
    let mut rows = csv_line(&ALIPAY_SUMMARY_HEADER.map(String::from), CRLF)?;
    let mut total = StoreTotals {
        name: String::new(),
        ..StoreTotals::default()
    };
    let summary_row = |id: &str, s: &StoreTotals| -> Vec<String> {
        vec![
            id.to_owned(),
            s.name.clone(),
            s.trades.to_string(),
            s.refunds.to_string(),
            format_fen(s.order_fen),
            format_fen(s.received_fen),
            format_fen(0),
            format_fen(0),
            format_fen(0),
            format_fen(s.fee_fen),
            format_fen(0),
            format_fen(s.received_fen + s.fee_fen),
        ]
    };
    for (id, s) in &per_store {
        rows.extend(csv_line(&summary_row(id, s), CRLF)?);
        total.trades += s.trades;
        total.refunds += s.refunds;
        total.order_fen += s.order_fen;
        total.received_fen += s.received_fen;
        total.fee_fen += s.fee_fen;
    }
    rows.extend(csv_line(&summary_row("合计", &total), CRLF)?);
    summary.push_str(&String::from_utf8_lossy(&rows));
    summary.push_str("#-----------------------------------------\r\n");
    summary.push_str(&format!("#导出时间：[{}]\r\n", cn_stamp(now)));

    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, text) in [
        (format!("{pid}_{}_业务明细.csv", span.label), detail),
        (format!("{pid}_{}_业务明细(汇总).csv", span.label), summary),
    ] {
        zip.start_file(name, options).map_err(csv_error)?;
        let (gbk, _, _) = encoding_rs::GBK.encode(&text);
        zip.write_all(&gbk).map_err(csv_error)?;
    }
    Ok(zip.finish().map_err(csv_error)?.into_inner())
}

/// Which rows a WeChat trade bill holds (`bill_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WechatBillType {
    All,
    Success,
    Refund,
}

impl WechatBillType {
    pub fn parse(s: &str) -> Option<WechatBillType> {
        match s {
            "ALL" => Some(WechatBillType::All),
            "SUCCESS" => Some(WechatBillType::Success),
            "REFUND" => Some(WechatBillType::Refund),
            _ => None,
        }
    }
}

/// Each bill type has its own columns: SUCCESS has no refund columns,
/// REFUND adds 退款申请时间 and 退款成功时间 (and its 交易时间 is the
/// payment's).
const WECHAT_HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";
const WECHAT_SUCCESS_HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注";
const WECHAT_REFUND_HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";
const WECHAT_SUMMARY_HEADER: &str =
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额";
const WECHAT_SUCCESS_SUMMARY_HEADER: &str = "总交易单数,应结订单总金额,手续费总金额,订单总金额";

/// The cells of one row under the columns of `header`, from the cells of
/// the full (REFUND) column set by name.
fn project(header: &str, full: &[String]) -> Vec<String> {
    let names: Vec<&str> = WECHAT_REFUND_HEADER.split(',').collect();
    header
        .split(',')
        .map(|name| {
            names
                .iter()
                .position(|n| *n == name)
                .and_then(|i| full.get(i).cloned())
                .unwrap_or_default()
        })
        .collect()
}

/// Fees are written with five decimals (`0.01000`).
fn fee_text(fen: i64) -> String {
    format!("{}000", format_fen(fen))
}

fn backtick(fields: Vec<String>) -> Vec<String> {
    fields.into_iter().map(|f| format!("`{f}")).collect()
}

/// The WeChat Pay trade bill of one day, or `None` when there was no
/// business that day (the channel then says the bill does not exist).
pub fn wechat_csv(
    store: &Store,
    appid: &str,
    mchid: &str,
    date: NaiveDate,
    bill_type: WechatBillType,
) -> Result<Option<Vec<u8>>, SimError> {
    let Some(span) = BillSpan::day(date) else {
        return Ok(None);
    };
    let (paid, refunds) = activity(store, Channel::Wechat, &span)?;
    let paid = if bill_type == WechatBillType::Refund {
        Vec::new()
    } else {
        paid
    };
    let refunds = if bill_type == WechatBillType::Success {
        Vec::new()
    } else {
        refunds
    };
    if paid.is_empty() && refunds.is_empty() {
        return Ok(None);
    }
    const LF: &[u8] = b"\n";
    let zero = format_fen(0);
    let (header, summary_header) = match bill_type {
        WechatBillType::All => (WECHAT_HEADER, WECHAT_SUMMARY_HEADER),
        WechatBillType::Success => (WECHAT_SUCCESS_HEADER, WECHAT_SUCCESS_SUMMARY_HEADER),
        WechatBillType::Refund => (WECHAT_REFUND_HEADER, WECHAT_SUMMARY_HEADER),
    };
    let mut out: Vec<u8> = "\u{feff}".as_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(LF);
    let (mut settle, mut refunded, mut fees, mut ordered, mut requested) =
        (0i64, 0i64, 0i64, 0i64, 0i64);
    let mut count = 0usize;
    for t in &paid {
        let fee = fee_fen(t.amount_fen);
        let row = vec![
            t.paid_at.map(china_time).unwrap_or_default(),
            appid.to_owned(),
            mchid.to_owned(),
            "0".into(),
            t.terminal_id.clone(),
            t.trade_no.clone(),
            t.out_trade_no.clone(),
            t.buyer_id.clone(),
            "NATIVE".into(),
            "SUCCESS".into(),
            "OTHERS".into(),
            "CNY".into(),
            format_fen(t.amount_fen),
            zero.clone(),
            String::new(),
            String::new(),
            "0".into(),
            "0".into(),
            zero.clone(),
            zero.clone(),
            String::new(),
            String::new(),
            t.subject.clone(),
            t.attach.clone(),
            fee_text(fee),
            "0.60%".into(),
            format_fen(t.amount_fen),
            zero.clone(),
            String::new(),
        ];
        out.extend(csv_line(&backtick(project(header, &row)), LF)?);
        count += 1;
        settle += t.amount_fen;
        ordered += t.amount_fen;
        fees += fee;
    }
    for (r, t) in &refunds {
        // A REFUND bill's 交易时间 is the payment's; the simulator's refunds
        // succeed at once.
        let row_time = match bill_type {
            WechatBillType::Refund => t.paid_at.unwrap_or(r.created_at),
            _ => r.created_at,
        };
        let row = vec![
            china_time(row_time),
            appid.to_owned(),
            mchid.to_owned(),
            "0".into(),
            t.terminal_id.clone(),
            t.trade_no.clone(),
            t.out_trade_no.clone(),
            t.buyer_id.clone(),
            "NATIVE".into(),
            "REFUND".into(),
            "OTHERS".into(),
            "CNY".into(),
            zero.clone(),
            zero.clone(),
            china_time(r.created_at),
            china_time(r.created_at),
            r.refund_id.clone(),
            r.out_refund_no.clone(),
            format_fen(r.amount_fen),
            zero.clone(),
            "ORIGINAL".into(),
            "SUCCESS".into(),
            t.subject.clone(),
            t.attach.clone(),
            fee_text(0),
            "0.60%".into(),
            zero.clone(),
            format_fen(r.amount_fen),
            String::new(),
        ];
        out.extend(csv_line(&backtick(project(header, &row)), LF)?);
        count += 1;
        refunded += r.amount_fen;
        requested += r.amount_fen;
    }
    out.extend_from_slice(summary_header.as_bytes());
    out.extend_from_slice(LF);
    let all_summary = [
        count.to_string(),
        format_fen(settle),
        format_fen(refunded),
        format_fen(0),
        fee_text(fees),
        format_fen(ordered),
        format_fen(requested),
    ];
    let all_names: Vec<&str> = WECHAT_SUMMARY_HEADER.split(',').collect();
    let summary: Vec<String> = summary_header
        .split(',')
        .map(|name| {
            all_names
                .iter()
                .position(|n| *n == name)
                .and_then(|i| all_summary.get(i).cloned())
                .unwrap_or_default()
        })
        .collect();
    out.extend(csv_line(&backtick(summary), LF)?);
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_round_half_up_to_the_fen() {
        assert_eq!(fee_fen(1), 0);
        assert_eq!(fee_fen(84), 1); // 0.504 fen
        assert_eq!(fee_fen(1000), 6);
        assert_eq!(fee_fen(1230), 7); // 7.38 fen
    }
}
