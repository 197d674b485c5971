//! The bill side of reconciliation: reading a channel's bill file and the
//! span of time a daily bill covers.
//!
//! A channel's bill covers its natural day in Beijing time (00:00–24:00,
//! Asia/Shanghai), whatever the store's own time zone and business-day
//! cut-off.

use chrono::{DateTime, NaiveDate, Utc};
use shouyin_channels::{BillFileError, ChannelError, ParsedBill};
use shouyin_core::{BusinessCalendar, ChannelKind};

use crate::{ApiError, ErrorCode};

/// The UTC instants `[start, end)` of a Beijing natural day, the span of a
/// channel's daily bill.
pub fn beijing_day(date: NaiveDate) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    Ok(beijing()?.day_bounds(date))
}

/// Beijing's natural day: a calendar with its cut-off at midnight.
pub(super) fn beijing() -> Result<BusinessCalendar, ApiError> {
    BusinessCalendar::parse("Asia/Shanghai", "00:00")
        .map_err(|e| ApiError::internal(format!("the Beijing calendar: {e}")))
}

/// Today's date in Beijing, the newest bill a channel can give.
pub fn beijing_today(now: DateTime<Utc>) -> Result<NaiveDate, ApiError> {
    Ok(beijing()?.business_date(now))
}

/// The typed error for a bill file that cannot be read: the code says
/// which, the fields say where, the message keeps the details for a log.
pub(crate) fn bill_file_error(channel: ChannelKind, e: &BillFileError) -> ApiError {
    if *e == BillFileError::AlipayAccountLog {
        // The file to import instead, for the screen's words.
        return ApiError::new(ErrorCode::BillAccountLog, e.to_string()).with("import", "业务明细");
    }
    let mut error = ApiError::new(
        ErrorCode::BillUnreadable,
        format!("not a readable {} bill: {e}", channel_name(channel)),
    )
    .with("reason", e.code());
    for (name, value) in e.fields() {
        error = error.with(name, value);
    }
    error
}

/// Parse a downloaded bill file of `channel` (plain, zip or gzip) for the
/// Beijing `date` (UnionPay's file dates its rows without a year). The
/// format is checked against the channel: another channel's file is named
/// as such rather than failing with a parser's complaint.
pub fn read_bill_file(
    channel: ChannelKind,
    date: NaiveDate,
    bytes: &[u8],
) -> Result<ParsedBill, ApiError> {
    let parse = |which: ChannelKind| -> Result<ParsedBill, BillFileError> {
        match which {
            ChannelKind::Alipay => shouyin_channels::alipay::read_bill(bytes),
            ChannelKind::Wechat => shouyin_channels::wechatpay::read_bill(bytes),
            ChannelKind::Unionpay => {
                shouyin_channels::unionpay_bill::parse_unionpay_bill(bytes, date)
                    .map(shouyin_channels::unionpay::with_ledger_numbers)
            }
            ChannelKind::Cash => Err(BillFileError::Empty),
        }
    };
    if channel == ChannelKind::Cash {
        return Err(no_channel_bill(channel));
    }
    let e = match parse(channel) {
        Ok(bill) => return Ok(bill),
        Err(e) => e,
    };
    if matches!(e, BillFileError::NoTable { .. }) {
        let others = [
            ChannelKind::Alipay,
            ChannelKind::Wechat,
            ChannelKind::Unionpay,
        ];
        let found = others.into_iter().filter(|c| *c != channel).find(|c| {
            let parsed = parse(*c);
            parsed.is_ok()
                // The Alipay account log is Alipay's all the same.
                || (*c == ChannelKind::Alipay && parsed == Err(BillFileError::AlipayAccountLog))
        });
        if let Some(other_channel) = found {
            return Err(ApiError::new(
                ErrorCode::BillWrongChannel,
                format!(
                    "this is {} {} bill, not {} {} bill",
                    article(other_channel),
                    channel_name(other_channel),
                    article(channel),
                    channel_name(channel)
                ),
            )
            .with("found", other_channel)
            .with("wanted", channel));
        }
    }
    Err(bill_file_error(channel, &e))
}

/// The channel as named in English sentences of the log and the CLI.
fn channel_name(channel: ChannelKind) -> &'static str {
    match channel {
        ChannelKind::Alipay => "Alipay",
        ChannelKind::Wechat => "WeChat Pay",
        ChannelKind::Unionpay => "UnionPay",
        ChannelKind::Cash => "cash",
    }
}

fn article(channel: ChannelKind) -> &'static str {
    match channel {
        ChannelKind::Alipay => "an",
        _ => "a",
    }
}

pub(crate) fn no_channel_bill(channel: ChannelKind) -> ApiError {
    ApiError::new(
        ErrorCode::BillNoChannelBill,
        format!("{channel} has no daily bill to reconcile (alipay, wechat or unionpay)"),
    )
    .with("channel", channel)
}

/// The channel's "there is no bill for that day" refusals.
pub(super) fn is_no_bill(e: &ChannelError) -> bool {
    matches!(
        e.definite_code(),
        // UnionPay's file transfer answers 98 when there is no file.
        Some("NO_STATEMENT_EXIST" | "isp.bill_not_exist" | "BILL_NOT_EXIST" | "98")
    )
}
