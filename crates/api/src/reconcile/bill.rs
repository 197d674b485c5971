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

/// Parse a downloaded bill file of `channel` (plain, zip or gzip). The
/// format is checked against the channel: a WeChat Pay file given as Alipay
/// (or the other way round) is named as such rather than failing with a
/// parser's complaint.
pub fn read_bill_file(channel: ChannelKind, bytes: &[u8]) -> Result<ParsedBill, ApiError> {
    type Parser = fn(&[u8]) -> Result<ParsedBill, BillFileError>;
    let alipay: Parser = shouyin_channels::alipay::read_bill;
    let wechat: Parser = shouyin_channels::wechatpay::read_bill;
    let (own, other, other_channel) = match channel {
        ChannelKind::Alipay => (alipay, wechat, ChannelKind::Wechat),
        ChannelKind::Wechat => (wechat, alipay, ChannelKind::Alipay),
        other => return Err(no_channel_bill(other)),
    };
    match own(bytes) {
        Ok(bill) => Ok(bill),
        Err(e) => {
            let looks_other = match &e {
                BillFileError::NoTable { .. } => {
                    other(bytes).is_ok()
                        || (channel == ChannelKind::Wechat
                            && other(bytes) == Err(BillFileError::AlipayAccountLog))
                }
                _ => false,
            };
            if looks_other {
                Err(ApiError::new(
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
                .with("wanted", channel))
            } else {
                Err(bill_file_error(channel, &e))
            }
        }
    }
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
        format!("{channel} has no daily bill to reconcile (alipay or wechat)"),
    )
    .with("channel", channel)
}

/// The channel's "there is no bill for that day" refusals.
pub(super) fn is_no_bill(e: &ChannelError) -> bool {
    matches!(
        e.definite_code(),
        Some("NO_STATEMENT_EXIST" | "isp.bill_not_exist" | "BILL_NOT_EXIST")
    )
}
