//! The bill side of reconciliation: reading a channel's bill file and the
//! span of time a daily bill covers.
//!
//! A channel's bill covers its natural day in Beijing time (00:00–24:00,
//! Asia/Shanghai), whatever the store's own time zone and business-day
//! cut-off.

use chrono::{DateTime, NaiveDate, Utc};
use shouyin_channels::{BillFileError, BillLine, ChannelError};
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

/// Parse a downloaded bill file of `channel`. The format is checked against
/// the channel: a WeChat Pay file given as Alipay (or the other way round)
/// is named as such rather than failing with a parser's complaint.
pub fn read_bill_file(channel: ChannelKind, bytes: &[u8]) -> Result<Vec<BillLine>, ApiError> {
    type Parser = fn(&[u8]) -> Result<Vec<BillLine>, BillFileError>;
    let alipay: Parser = shouyin_channels::alipay::parse_bill_file;
    let wechat: Parser = shouyin_channels::wechatpay::parse_bill_file;
    let (own, other, other_name) = match channel {
        ChannelKind::Alipay => (alipay, wechat, "a WeChat Pay"),
        ChannelKind::Wechat => (wechat, alipay, "an Alipay"),
        other => {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                format!("{other} has no bill file to reconcile"),
            ))
        }
    };
    match own(bytes) {
        Ok(lines) => Ok(lines),
        Err(e) => {
            if other(bytes).is_ok() {
                Err(ApiError::new(
                    ErrorCode::InvalidInput,
                    format!("this is {other_name} bill, not a {channel} bill"),
                ))
            } else {
                Err(ApiError::new(
                    ErrorCode::InvalidInput,
                    format!("not a readable {channel} bill: {e}"),
                ))
            }
        }
    }
}

/// The channel's "there is no bill for that day" refusals.
pub(super) fn is_no_bill(e: &ChannelError) -> bool {
    matches!(
        e.definite_code(),
        Some("NO_STATEMENT_EXIST" | "isp.bill_not_exist" | "BILL_NOT_EXIST")
    )
}
