//! Alipay wire formats: the string-to-sign, request `biz_content` structs,
//! response structs, and the mapping of answers to the program's types.
//!
//! Everything here is pure (no I/O) so it can be tested on fixtures.

use chrono::{DateTime, FixedOffset, NaiveDateTime, Offset, TimeZone, Utc};
use rsa::RsaPublicKey;
use serde::{Deserialize, Serialize};
use shouyin_core::{format_fen, parse_fen};

use crate::keys;
use crate::model::{PaymentNotice, RefundResult, RefundStatus, RemotePayment, RemoteStatus};
use crate::rawjson::top_level_members;
use crate::ChannelError;

/// Alipay speaks Beijing time without an offset in its strings.
pub(crate) fn beijing() -> FixedOffset {
    // 8 h is always a valid offset; the fallback is never taken.
    FixedOffset::east_opt(8 * 3600).unwrap_or(Utc.fix())
}

/// `yyyy-MM-dd HH:mm:ss` in Beijing time.
pub(crate) fn format_timestamp(at: DateTime<Utc>) -> String {
    at.with_timezone(&beijing())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

pub(crate) fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S").ok()?;
    beijing()
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// The RSA2 string-to-sign of a request ("V2 rule"): every parameter except
/// `sign`, empty values dropped, sorted by key bytes, `k=v` joined by `&`,
/// raw (not URL-encoded) values. `sign_type` is included.
pub fn sign_content<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> String {
    let mut kept: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .filter(|(k, v)| *k != "sign" && !k.is_empty() && !v.is_empty())
        .collect();
    kept.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    kept.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The string-to-sign of an asynchronous notification ("V1 rule"): as
/// [`sign_content`], but `sign_type` is left out as well.
pub fn notify_sign_content<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> String {
    let kept: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .filter(|(k, _)| *k != "sign_type")
        .collect();
    sign_content(&kept)
}

/// Verify and read an asynchronous notification: a form-encoded POST body
/// signed by Alipay over the V1 string. Unsigned, wrongly signed, or for
/// another app: untrusted. Signed but not a trade notification we can read:
/// indeterminate.
pub(crate) fn open_notification(
    body: &[u8],
    app_id: &str,
    alipay_public_key: &RsaPublicKey,
) -> Result<PaymentNotice, ChannelError> {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    // One value per name: with a repeated name, which value was signed is
    // anyone's guess.
    let mut by_name = std::collections::BTreeMap::new();
    for (k, v) in &params {
        if by_name.insert(k.as_str(), v.as_str()).is_some() {
            return Err(ChannelError::untrusted(format!(
                "Alipay notification repeats the parameter {k:?}"
            )));
        }
    }
    let get = |name: &str| by_name.get(name).copied().filter(|v| !v.trim().is_empty());
    let sign =
        get("sign").ok_or_else(|| ChannelError::untrusted("Alipay notification is unsigned"))?;
    if let Some(kind) = get("sign_type") {
        if kind != "RSA2" {
            return Err(ChannelError::untrusted(format!(
                "Alipay notification sign_type {kind:?} is not RSA2"
            )));
        }
    }
    let content = notify_sign_content(&params);
    if !keys::verify_sha256(alipay_public_key, content.as_bytes(), sign) {
        tracing::error!("Alipay notification signature does not verify");
        return Err(ChannelError::untrusted(
            "Alipay notification signature does not verify",
        ));
    }
    let claimed = get("app_id").unwrap_or("");
    if claimed != app_id {
        tracing::error!(app_id = claimed, "Alipay notification for another app");
        return Err(ChannelError::untrusted(format!(
            "Alipay notification is for app_id {claimed:?}, not this app"
        )));
    }
    if let Some(kind) = get("notify_type") {
        if kind != "trade_status_sync" {
            return Err(ChannelError::indeterminate(format!(
                "Alipay notification type {kind:?} is not trade_status_sync"
            )));
        }
    }
    let out_trade_no = get("out_trade_no")
        .ok_or_else(|| ChannelError::indeterminate("Alipay notification has no out_trade_no"))?;
    let paid = match get("trade_status") {
        Some("TRADE_SUCCESS" | "TRADE_FINISHED") => true,
        Some("WAIT_BUYER_PAY" | "TRADE_CLOSED") => false,
        other => {
            return Err(ChannelError::indeterminate(format!(
                "Alipay notification trade_status {other:?} is not one we know"
            )))
        }
    };
    let amount_fen = match get("total_amount") {
        Some(text) => Some(parse_fen(text.trim()).map_err(|e| {
            ChannelError::indeterminate(format!(
                "Alipay notification total_amount {text:?} is not an amount: {e}"
            ))
        })?),
        None => None,
    };
    Ok(PaymentNotice {
        out_trade_no: out_trade_no.to_owned(),
        paid,
        amount_fen,
        trade_no: get("trade_no").map(str::to_owned),
        paid_at: if paid {
            get("gmt_payment").and_then(parse_timestamp)
        } else {
            None
        },
    })
}

/// Yuan with two decimals, as Alipay wants amounts.
pub(crate) fn yuan(fen: i64) -> String {
    format_fen(fen)
}

/// Fen from an Alipay yuan string; a refund row may carry a minus sign.
pub(crate) fn fen_from_yuan(text: &str) -> Option<i64> {
    let text = text.trim();
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    parse_fen(unsigned).ok()
}

/// The members every Alipay answer carries.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub(crate) struct Common {
    pub code: String,
    #[serde(default)]
    pub msg: String,
    #[serde(default)]
    pub sub_code: Option<String>,
    #[serde(default)]
    pub sub_msg: Option<String>,
}

impl Common {
    pub fn is_success(&self) -> bool {
        self.code == "10000"
    }

    pub fn sub_code_is(&self, code: &str) -> bool {
        self.sub_code.as_deref() == Some(code)
    }

    /// The error an unsuccessful answer stands for. "System busy / unknown
    /// error" answers claim nothing, so they are indeterminate; so is a
    /// rate limit: it says "not now", not "no", and a refund or close that
    /// met one may still have been taken on an earlier try.
    pub fn to_error(&self) -> ChannelError {
        let sub = self.sub_code.as_deref().unwrap_or("");
        if self.code == "20000" || is_system_error(sub) || is_rate_limit(sub) {
            return ChannelError::indeterminate(format!(
                "Alipay system error {} {sub}: {}",
                self.code,
                self.sub_msg.as_deref().unwrap_or(&self.msg)
            ));
        }
        let code = if sub.is_empty() {
            self.code.clone()
        } else {
            sub.to_owned()
        };
        let message = self
            .sub_msg
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| self.msg.clone());
        ChannelError::definite(code, message)
    }
}

/// `ACQ.SYSTEM_ERROR`, `aop.ACQ.SYSTEM_ERROR`, `isp.unknow-error`, ...
fn is_system_error(sub_code: &str) -> bool {
    let upper = sub_code.to_ascii_uppercase();
    upper.ends_with("SYSTEM_ERROR") || upper.ends_with("UNKNOW-ERROR")
}

/// The shapes Alipay's throttling codes take (`aop.app-call-limited`,
/// `ACQ.REQUEST_TOO_FAST`, frequency and QPS limits).
fn is_rate_limit(sub_code: &str) -> bool {
    let upper = sub_code.to_ascii_uppercase();
    [
        "CALL-LIMITED",
        "CALL_LIMITED",
        "TOO_FAST",
        "FREQUENCY",
        "RATELIMIT",
        "RATE_LIMIT",
        "QPS",
    ]
    .iter()
    .any(|m| upper.contains(m))
}

/// A response whose signature checked out: the exact raw object text and
/// its common members. Typed fields are read from `raw`, so what was
/// verified is what is used.
#[derive(Debug)]
pub(crate) struct Verified<'a> {
    pub raw: &'a str,
    pub common: Common,
}

#[cfg(test)]
impl Verified<'_> {
    pub fn read<T: for<'de> Deserialize<'de>>(&self) -> Result<T, ChannelError> {
        serde_json::from_str(self.raw).map_err(|e| {
            ChannelError::indeterminate(format!("Alipay answer has unexpected fields: {e}"))
        })
    }
}

/// A verified answer that owns its text (what [`Alipay`](super::Alipay) keeps
/// after a call).
#[derive(Debug)]
pub(crate) struct Answer {
    text: String,
    raw: std::ops::Range<usize>,
    pub common: Common,
}

impl Answer {
    pub fn open(text: String, method: &str, key: &RsaPublicKey) -> Result<Answer, ChannelError> {
        let verified = open_response(&text, method, key)?;
        // The raw object is a sub-slice of `text`; keep it as a range.
        let start = verified.raw.as_ptr() as usize - text.as_ptr() as usize;
        let raw = start..start + verified.raw.len();
        let common = verified.common;
        Ok(Answer { text, raw, common })
    }

    pub fn read<T: for<'de> Deserialize<'de>>(&self) -> Result<T, ChannelError> {
        let raw = self.text.get(self.raw.clone()).unwrap_or("");
        serde_json::from_str(raw).map_err(|e| {
            ChannelError::indeterminate(format!("Alipay answer has unexpected fields: {e}"))
        })
    }
}

/// Open a gateway answer for `method`: find the `<method>_response` (or
/// `error_response`) object as raw bytes and verify `sign` over them.
///
/// Order of checks: a body that is not a readable answer is indeterminate
/// (it cannot claim anything); a readable answer whose signature is missing
/// or wrong is untrusted. Unsigned business errors are untrusted too, as
/// the official SDKs raise on them: an unsigned "refund refused" could be a
/// forgery that leads to a second refund. The one exception is an unsigned
/// "system busy" answer, which claims nothing and stays indeterminate.
pub(crate) fn open_response<'a>(
    body: &'a str,
    method: &str,
    alipay_public_key: &RsaPublicKey,
) -> Result<Verified<'a>, ChannelError> {
    let members = top_level_members(body)
        .ok_or_else(|| ChannelError::indeterminate("Alipay answer is not a JSON object"))?;
    let wanted = format!("{}_response", method.replace('.', "_"));
    let find = |key: &str| -> Vec<&'a str> {
        members
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| *v)
            .collect()
    };
    let mut objects = find(&wanted);
    if objects.is_empty() {
        objects = find("error_response");
    }
    let raw = match objects.as_slice() {
        [one] => *one,
        [] => {
            return Err(ChannelError::indeterminate(format!(
                "Alipay answer has no {wanted}"
            )))
        }
        _ => {
            return Err(ChannelError::indeterminate(format!(
                "Alipay answer repeats {wanted}"
            )))
        }
    };
    let common: Common = serde_json::from_str(raw).map_err(|e| {
        ChannelError::indeterminate(format!("Alipay {wanted} is not readable: {e}"))
    })?;
    let sign: Option<String> = match find("sign").as_slice() {
        [] => None,
        [one] => Some(serde_json::from_str(one).map_err(|_| {
            ChannelError::untrusted("Alipay answer has a sign that is not a string")
        })?),
        _ => return Err(ChannelError::untrusted("Alipay answer has two signs")),
    };
    match sign.filter(|s| !s.is_empty()) {
        Some(sign) => {
            if keys::verify_sha256(alipay_public_key, raw.as_bytes(), &sign) {
                Ok(Verified { raw, common })
            } else {
                tracing::error!(method, "Alipay answer signature does not verify");
                Err(ChannelError::untrusted(format!(
                    "Alipay {wanted} signature does not verify"
                )))
            }
        }
        None => {
            if !common.is_success() {
                if let err @ ChannelError::Indeterminate { .. } = common.to_error() {
                    return Err(err);
                }
            }
            tracing::error!(method, code = %common.code, "Alipay answer is unsigned");
            let claimed = match common.sub_code.as_deref() {
                Some(sub) if !sub.is_empty() => sub,
                _ => common.code.as_str(),
            };
            Err(ChannelError::unsigned(
                format!("Alipay {wanted}"),
                claimed,
                common.sub_msg.as_deref().unwrap_or(&common.msg),
            ))
        }
    }
}

// ---- requests -------------------------------------------------------------

#[derive(Debug, Serialize)]
pub(crate) struct PrecreateBiz<'a> {
    pub out_trade_no: &'a str,
    pub total_amount: String,
    pub subject: &'a str,
    /// Relative lifetime, e.g. `5m`, so the code dies with the order.
    pub timeout_express: String,
    pub product_code: &'static str,
}

#[derive(Debug, Serialize)]
pub(crate) struct PayBiz<'a> {
    pub out_trade_no: &'a str,
    /// `bar_code`: the cashier scanned the customer's code.
    pub scene: &'static str,
    pub auth_code: &'a str,
    pub total_amount: String,
    pub subject: &'a str,
    pub product_code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminal_id: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub(crate) struct TradeRef<'a> {
    pub out_trade_no: &'a str,
}

#[derive(Debug, Serialize)]
pub(crate) struct RefundBiz<'a> {
    pub out_trade_no: &'a str,
    pub refund_amount: String,
    pub out_request_no: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_reason: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub(crate) struct RefundQueryBiz<'a> {
    pub out_trade_no: &'a str,
    pub out_request_no: &'a str,
    pub query_options: [&'static str; 1],
}

#[derive(Debug, Serialize)]
pub(crate) struct BillUrlBiz {
    pub bill_type: &'static str,
    pub bill_date: String,
}

/// `timeout_express` for a code that must die at `expires_at`: whole
/// minutes rounded down (never past the deadline), at least `1m`.
pub(crate) fn timeout_express(now: DateTime<Utc>, expires_at: DateTime<Utc>) -> String {
    let minutes = (expires_at - now).num_minutes().clamp(1, 15 * 24 * 60);
    format!("{minutes}m")
}

// ---- responses ------------------------------------------------------------

#[derive(Debug, Deserialize)]
pub(crate) struct PrecreateResp {
    #[serde(default)]
    pub qr_code: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct QueryResp {
    #[serde(default)]
    pub trade_no: Option<String>,
    #[serde(default)]
    pub trade_status: Option<String>,
    #[serde(default)]
    pub total_amount: Option<String>,
    #[serde(default)]
    pub send_pay_date: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PayResp {
    #[serde(default)]
    pub trade_no: Option<String>,
    #[serde(default)]
    pub total_amount: Option<String>,
    #[serde(default)]
    pub gmt_payment: Option<String>,
}

/// A verified `alipay.trade.pay` answer in the program's terms.
pub(crate) fn pay_answer(
    common: &Common,
    resp: &PayResp,
) -> Result<crate::model::CodePayAnswer, ChannelError> {
    match common.code.as_str() {
        "10000" => Ok(crate::model::CodePayAnswer::Paid(RemotePayment {
            status: RemoteStatus::Paid,
            channel_trade_no: resp.trade_no.clone().filter(|s| !s.is_empty()),
            amount_fen: optional_fen(resp.total_amount.as_deref(), "total_amount")?,
            paid_at: resp.gmt_payment.as_deref().and_then(parse_timestamp),
        })),
        // WAIT_BUYER_PAY: the customer confirms on the phone.
        "10003" => Ok(crate::model::CodePayAnswer::Waiting),
        // 20000 and system errors come out indeterminate; 40004 definite.
        _ => Err(common.to_error()),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct CancelResp {
    #[serde(default)]
    pub retry_flag: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RefundResp {
    #[serde(default)]
    pub fund_change: Option<String>,
    #[serde(default)]
    pub refund_fee: Option<String>,
    #[serde(default)]
    pub gmt_refund_pay: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RefundQueryResp {
    #[serde(default)]
    pub out_request_no: Option<String>,
    #[serde(default)]
    pub refund_status: Option<String>,
    #[serde(default)]
    pub refund_amount: Option<String>,
    #[serde(default)]
    pub gmt_refund_pay: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct BillUrlResp {
    #[serde(default)]
    pub bill_download_url: String,
}

/// What `alipay.trade.cancel` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CancelAction {
    /// The trade was unpaid (or never scanned) and is now closed for good.
    Closed,
    /// The trade was paid and cancel refunded it in full (`action=refund`).
    Refunded,
}

/// The next move after one cancel answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CancelStep {
    Done(CancelAction),
    /// `retry_flag=Y`: Alipay asks to call cancel again.
    Retry,
    Failed(ChannelError),
}

pub(crate) fn cancel_step(common: &Common, resp: &CancelResp) -> CancelStep {
    if resp.retry_flag.as_deref() == Some("Y") {
        return CancelStep::Retry;
    }
    if !common.is_success() {
        return CancelStep::Failed(common.to_error());
    }
    match resp.action.as_deref() {
        Some("refund") => CancelStep::Done(CancelAction::Refunded),
        // `close`, or an empty action for a trade that never existed.
        _ => CancelStep::Done(CancelAction::Closed),
    }
}

/// A successful `alipay.trade.query` in the program's terms.
pub(crate) fn remote_payment(resp: &QueryResp) -> Result<RemotePayment, ChannelError> {
    let paid_at = resp.send_pay_date.as_deref().and_then(parse_timestamp);
    let status = match resp.trade_status.as_deref() {
        Some("WAIT_BUYER_PAY") => RemoteStatus::Waiting,
        Some("TRADE_SUCCESS" | "TRADE_FINISHED") => RemoteStatus::Paid,
        // Closed after a payment date means it was refunded in full.
        Some("TRADE_CLOSED") if paid_at.is_some() => RemoteStatus::Refunded,
        Some("TRADE_CLOSED") => RemoteStatus::Closed,
        other => {
            return Err(ChannelError::indeterminate(format!(
                "Alipay trade_status {other:?} is not one we know"
            )))
        }
    };
    let amount_fen = match resp.total_amount.as_deref() {
        Some(text) => Some(fen_from_yuan(text).ok_or_else(|| {
            ChannelError::indeterminate(format!("Alipay total_amount {text:?} is not an amount"))
        })?),
        None => None,
    };
    Ok(RemotePayment {
        status,
        channel_trade_no: resp.trade_no.clone().filter(|s| !s.is_empty()),
        amount_fen,
        paid_at,
    })
}

fn optional_fen(text: Option<&str>, what: &str) -> Result<Option<i64>, ChannelError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => fen_from_yuan(t).map(Some).ok_or_else(|| {
            ChannelError::indeterminate(format!("Alipay {what} {t:?} is not an amount"))
        }),
    }
}

/// A successful `alipay.trade.fastpay.refund.query`. Alipay answers 10000
/// with no refund fields when there is no such refund.
pub(crate) fn refund_query_result(
    resp: &RefundQueryResp,
    out_refund_no: &str,
) -> Result<RefundResult, ChannelError> {
    let refund_fen = optional_fen(resp.refund_amount.as_deref(), "refund_amount")?;
    let status = match (resp.refund_status.as_deref(), refund_fen) {
        (Some("REFUND_SUCCESS"), _) => RefundStatus::Success,
        // Older answers omit refund_status: an amount means it went through.
        (None | Some(""), Some(_)) => RefundStatus::Success,
        (Some(other), _) if !other.is_empty() => RefundStatus::Processing,
        _ => {
            return Err(ChannelError::definite(
                "REFUND_NOT_EXIST",
                format!("Alipay knows no refund {out_refund_no}"),
            ))
        }
    };
    Ok(RefundResult {
        status,
        out_refund_no: resp
            .out_request_no
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| out_refund_no.to_owned()),
        refund_fen,
        refunded_total_fen: None,
        channel_refund_no: None,
        refunded_at: resp.gmt_refund_pay.as_deref().and_then(parse_timestamp),
    })
}

/// A successful `alipay.trade.refund` that moved money (`fund_change=Y`).
pub(crate) fn refund_result(
    resp: &RefundResp,
    out_refund_no: &str,
    refund_fen: i64,
) -> Result<RefundResult, ChannelError> {
    Ok(RefundResult {
        status: RefundStatus::Success,
        out_refund_no: out_refund_no.to_owned(),
        refund_fen: Some(refund_fen),
        refunded_total_fen: optional_fen(resp.refund_fee.as_deref(), "refund_fee")?,
        channel_refund_no: None,
        refunded_at: resp.gmt_refund_pay.as_deref().and_then(parse_timestamp),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::keys::tests::vector;
    use crate::keys::{
        parse_private_key, parse_public_key, sign_sha256, verify_sha1, verify_sha256,
    };

    /// V7: a full request string signed with yansongda/pay's test app key.
    #[test]
    fn v7_request_signature() {
        let params = [
            (
                "alipay_root_cert_sn",
                "687b59193f3f462dd5336e5abf83c5d8_02941eef3187dddf3d3b83462e1dfcf6",
            ),
            ("app_cert_sn", "e90dd23a37c5c7b616e003970817ff82"),
            ("app_id", "9021000122682882"),
            ("method", "alipay.trade.query"),
            ("format", "JSON"),
            ("return_url", "http://hk.ysdor.cn/index.php"),
            ("charset", "utf-8"),
            ("sign_type", "RSA2"),
            ("sign", ""),
            ("timestamp", "2023-12-21 06:54:37"),
            ("version", "1.0"),
            ("notify_url", "http://hk.ysdor.cn/index.php"),
            ("app_auth_token", ""),
            ("biz_content", r#"{"out_trade_no":"1703141270"}"#),
        ];
        let content = sign_content(&params);
        assert_eq!(
            content,
            "alipay_root_cert_sn=687b59193f3f462dd5336e5abf83c5d8_02941eef3187dddf3d3b83462e1dfcf6&app_cert_sn=e90dd23a37c5c7b616e003970817ff82&app_id=9021000122682882&biz_content={\"out_trade_no\":\"1703141270\"}&charset=utf-8&format=JSON&method=alipay.trade.query&notify_url=http://hk.ysdor.cn/index.php&return_url=http://hk.ysdor.cn/index.php&sign_type=RSA2&timestamp=2023-12-21 06:54:37&version=1.0"
        );
        let key = parse_private_key(&vector("yansongda_pay_tests_alipayAppSecret.pem")).unwrap();
        assert_eq!(
            sign_sha256(&key, content.as_bytes()),
            "FrzUwXziVWK2x5glZkGoQ6dGR87O33APv3D/lWjVqPrFnMwcYjOYyln1B1bw5VuOwokLRmqcwWuTumBg8Q+n4FkVR3DMCvL8ywTBp5+6pRAETfhFop4m+r6jI+dgOavwyoZ69CWCzCcEyb0vMjgrV2eoSI4bgLjJyPcGpZ+iDBTSvE6eVxs05bUjainAOB5NnAvME06nkaxGLB4qwF9c3SQoiZt7QcMRdyy6mRItZxRaEjMm6qX8dfPuuquJC4wpTRk8PQeu5EMR4yyc1atxso3CMovjkGr5LzDtqLNseyqqorYW+Gfu3ugHSs9aqkwAAysg79O6TsvuFa9OHq64Tg=="
        );
    }

    /// V8: the official Java SDK's verify-only vectors (RSA2, UTF-8, RSA/SHA1).
    #[test]
    fn v8_official_sdk_signatures_verify() {
        let public = parse_public_key(&vector(
            "alipay_java_sdk_appCertPublicKey_2019091767145019.crt",
        ))
        .unwrap();
        let base = [
            ("method", "koubei.marketing.data.indicator.query"),
            ("app_id", "2019090366875133"),
        ];
        let rsa2 = sign_content(&[base[0], base[1], ("sign_type", "RSA2")]);
        assert_eq!(
            rsa2,
            "app_id=2019090366875133&method=koubei.marketing.data.indicator.query&sign_type=RSA2"
        );
        assert!(verify_sha256(&public, rsa2.as_bytes(), "JzoDc8VxY1/w6yN9WdWV10aipS3YcRpK+jw4xfLybf90ZK9L3AHLUJbNLWVnHW3IuLoJbBeSGVxSbPBhe4ggPklcYUkPowgtlZ6YlthuQDtjF23h2obXuXkQRd+RPbDWvOA5AYQjsKH8uSHil5aRARewPIPhukl9Mn4HEovUccsBR/RirQFSGmGYiMM0zvhVSR7pXZDEhiADzvzAkvVVTI1/HbNqcoBU4ctSPAGsuDPO/mah1+IwGQAuPP6xoEPL+3zQ0wztQCwHT2o8aQmxFJ9a09q8ybRprHaNjCgTaLDeTWE0o1pllZIE8c7wnG3cOuj6quYjTcQyLm6P4M87Zw=="));
        let utf8 = sign_content(&[
            base[0],
            base[1],
            ("extra", "中文测试"),
            ("sign_type", "RSA2"),
        ]);
        assert!(verify_sha256(&public, utf8.as_bytes(), "KrRGUY3/2JX3KtlLgus8CbK0xuUIBDCpOdJkVzJDefez6HvlA8RA6uCVj2rrMd7DgVfarG5SROdSnkZbf8MLKHbVoFqi9w0QCvto9mc8n3ezfWejZECJVCZhbJ3OslB+4gij9+F70usrnCNEJZm02ntyNdVzcqMbgdRMB93BJIRC1jjmCotpXgXWrRdTb/SfhIAkoHqgGi2aCUHuLDInLGZCn8NeziGWMnFOic6/sE/nMpwriOmwLb2nyzD0fGiolwuuxlOGMcBHAb22J8XqchFHyCpbs2A/rWdJMjhUfqsErbtZQM93fi1xfL2pUa9RMWX0Q81Qk7iSEeHCR+NGyQ=="));
        let rsa1 = sign_content(&[base[0], base[1], ("sign_type", "RSA")]);
        assert!(verify_sha1(&public, rsa1.as_bytes(), "RkEZgdCVF4TF48+tVZlPLEUMgrOoff3TGynWtXRUmzMXxmsCX8Y9YtpZE+NNg/JGpYQ5htTDd8PXVqiG5fqvzE2g4ugDutr++BeQ2eJQ1uhasp6VIPTSAPWHRD7FSXqZfOoWvxeFHF9WGnzXw5eueOdGMZYXdjhR6srj+ZAeJxyR402FVNbRuI/hDZVq27xWi4CQ2ffdV0lf7E2V/HMUPXECbIKkTnLXrwJBmsLgTGbTDGf7pGo0y0rkRvdsg9BmPPswfTeq/o2rlxD0XxrK1MPZ4uSPFhpdWVEyNchtXEfKoVsaYeVXV3cMfZi9zcKc6RCE8ezF9LxRJp1R0BxKEg=="));
        // A changed character no longer verifies.
        let forged = rsa2.replace("2019090366875133", "2019090366875134");
        assert!(!verify_sha256(&public, forged.as_bytes(), "JzoDc8VxY1/w6yN9WdWV10aipS3YcRpK+jw4xfLybf90ZK9L3AHLUJbNLWVnHW3IuLoJbBeSGVxSbPBhe4ggPklcYUkPowgtlZ6YlthuQDtjF23h2obXuXkQRd+RPbDWvOA5AYQjsKH8uSHil5aRARewPIPhukl9Mn4HEovUccsBR/RirQFSGmGYiMM0zvhVSR7pXZDEhiADzvzAkvVVTI1/HbNqcoBU4ctSPAGsuDPO/mah1+IwGQAuPP6xoEPL+3zQ0wztQCwHT2o8aQmxFJ9a09q8ybRprHaNjCgTaLDeTWE0o1pllZIE8c7wnG3cOuj6quYjTcQyLm6P4M87Zw=="));
    }

    fn ali_keys() -> (rsa::RsaPrivateKey, RsaPublicKey) {
        (
            parse_private_key(&vector("python_alipay_sdk_tests_ali_ali_private_key.pem")).unwrap(),
            parse_public_key(&vector("python_alipay_sdk_tests_ali_ali_public_key.pem")).unwrap(),
        )
    }

    fn signed(method_key: &str, obj: &str, key: &rsa::RsaPrivateKey) -> String {
        let sign = sign_sha256(key, obj.as_bytes());
        format!("{{\"{method_key}\":{obj},\"sign\":\"{sign}\"}}")
    }

    #[test]
    fn verifies_over_the_raw_bytes_not_a_reserialisation() {
        let (key, public) = ali_keys();
        // Escaped unicode, an escaped quote and braces inside strings, odd spacing.
        let obj = r#"{"code":"10000", "msg":"Success","trade_no":"2026\"}{","subject":"\u6d4b\u8bd5","trade_status":"TRADE_SUCCESS","total_amount":"12.30","send_pay_date":"2026-11-21 09:30:00"}"#;
        let body = signed("alipay_trade_query_response", obj, &key);
        let verified = open_response(&body, "alipay.trade.query", &public).unwrap();
        assert_eq!(verified.raw, obj);
        let resp: QueryResp = verified.read().unwrap();
        let payment = remote_payment(&resp).unwrap();
        assert_eq!(payment.status, RemoteStatus::Paid);
        assert_eq!(payment.amount_fen, Some(1230));
        assert_eq!(payment.channel_trade_no.as_deref(), Some("2026\"}{"));
        assert_eq!(
            payment.paid_at.map(|t| t.to_rfc3339()),
            Some("2026-11-21T01:30:00+00:00".to_owned())
        );

        // A re-serialised object (different bytes, same meaning) must fail.
        let value: serde_json::Value = serde_json::from_str(obj).unwrap();
        let reserialised = format!(
            "{{\"alipay_trade_query_response\":{},\"sign\":\"{}\"}}",
            value,
            sign_sha256(&key, obj.as_bytes())
        );
        assert!(matches!(
            open_response(&reserialised, "alipay.trade.query", &public),
            Err(ChannelError::Untrusted { .. })
        ));
    }

    #[test]
    fn sign_may_come_first_and_cert_sn_is_ignored() {
        let (key, public) = ali_keys();
        let obj = r#"{"code":"10000","msg":"Success","qr_code":"https://qr.alipay.com/bax1"}"#;
        let sign = sign_sha256(&key, obj.as_bytes());
        let body = format!(
            "{{\"sign\":\"{sign}\",\"alipay_cert_sn\":\"abc\",\"alipay_trade_precreate_response\":{obj}}}"
        );
        let verified = open_response(&body, "alipay.trade.precreate", &public).unwrap();
        assert_eq!(
            verified.read::<PrecreateResp>().unwrap().qr_code,
            "https://qr.alipay.com/bax1"
        );
    }

    #[test]
    fn signature_policy() {
        let (key, public) = ali_keys();
        let ok = r#"{"code":"10000","msg":"Success","trade_status":"WAIT_BUYER_PAY"}"#;
        let err = r#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"}"#;
        let busy = r#"{"code":"20000","msg":"Service Currently Unavailable","sub_code":"isp.unknow-error"}"#;
        let m = "alipay.trade.query";
        let k = "alipay_trade_query_response";
        // A success without sign, with an empty sign, or with a wrong sign.
        for body in [
            format!("{{\"{k}\":{ok}}}"),
            format!("{{\"{k}\":{ok},\"sign\":\"\"}}"),
            format!(
                "{{\"{k}\":{ok},\"sign\":\"{}\"}}",
                sign_sha256(&key, err.as_bytes())
            ),
        ] {
            assert!(
                matches!(
                    open_response(&body, m, &public),
                    Err(ChannelError::Untrusted { .. })
                ),
                "{body}"
            );
        }
        // An unsigned business error is untrusted too, and says what it claimed.
        let e = open_response(&format!("{{\"{k}\":{err}}}"), m, &public).unwrap_err();
        assert!(
            matches!(&e, ChannelError::Untrusted { reason } if reason.contains("ACQ.TRADE_NOT_EXIST")),
            "{e}"
        );
        assert_eq!(e.unsigned_claim(), Some("ACQ.TRADE_NOT_EXIST"));
        assert_eq!(e.definite_code(), None);
        // An unsigned "system busy" claims nothing.
        let e = open_response(&format!("{{\"error_response\":{busy}}}"), m, &public).unwrap_err();
        assert!(matches!(e, ChannelError::Indeterminate { .. }), "{e}");
        // A signed business error maps by sub_code.
        let body = signed(k, err, &key);
        let v = open_response(&body, m, &public).unwrap();
        assert!(!v.common.is_success());
        assert_eq!(
            v.common.to_error().definite_code(),
            Some("ACQ.TRADE_NOT_EXIST")
        );
        // Gateway-level errors arrive as error_response.
        let gw = r#"{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-id","sub_msg":"无效的AppID参数"}"#;
        let body = signed("error_response", gw, &key);
        let v = open_response(&body, m, &public).unwrap();
        assert_eq!(
            v.common.to_error().definite_code(),
            Some("isv.invalid-app-id")
        );
        // Signed system errors are indeterminate as well.
        let body = signed(k, busy, &key);
        let v = open_response(&body, m, &public).unwrap();
        assert!(matches!(
            v.common.to_error(),
            ChannelError::Indeterminate { .. }
        ));
    }

    #[test]
    fn garbled_bodies_are_indeterminate() {
        let (_, public) = ali_keys();
        for body in [
            "",
            "<html>502 Bad Gateway</html>",
            "{\"alipay_trade_query_response\":{\"code\":\"10000\"",
            "{\"other_response\":{\"code\":\"10000\"},\"sign\":\"x\"}",
            "{\"alipay_trade_query_response\":{\"msg\":\"no code\"},\"sign\":\"x\"}",
            "{\"alipay_trade_query_response\":{\"code\":1},\"alipay_trade_query_response\":{\"code\":2}}",
        ] {
            assert!(
                matches!(open_response(body, "alipay.trade.query", &public), Err(ChannelError::Indeterminate { .. })),
                "{body}"
            );
        }
    }

    #[test]
    fn trade_status_mapping() {
        let q = |status: &str, paid: Option<&str>| QueryResp {
            trade_no: Some("2026".into()),
            trade_status: Some(status.into()),
            total_amount: Some("0.01".into()),
            send_pay_date: paid.map(str::to_owned),
        };
        let s = |r: QueryResp| remote_payment(&r).map(|p| p.status);
        assert_eq!(s(q("WAIT_BUYER_PAY", None)), Ok(RemoteStatus::Waiting));
        assert_eq!(
            s(q("TRADE_SUCCESS", Some("2026-01-01 00:00:00"))),
            Ok(RemoteStatus::Paid)
        );
        assert_eq!(s(q("TRADE_FINISHED", None)), Ok(RemoteStatus::Paid));
        assert_eq!(s(q("TRADE_CLOSED", None)), Ok(RemoteStatus::Closed));
        assert_eq!(
            s(q("TRADE_CLOSED", Some("2026-01-01 00:00:00"))),
            Ok(RemoteStatus::Refunded)
        );
        assert!(matches!(
            s(q("WHAT", None)),
            Err(ChannelError::Indeterminate { .. })
        ));
        let mut bad_amount = q("TRADE_SUCCESS", None);
        bad_amount.total_amount = Some("1e3".into());
        assert!(remote_payment(&bad_amount).is_err());
    }

    #[test]
    fn cancel_steps() {
        let ok = Common {
            code: "10000".into(),
            msg: "Success".into(),
            sub_code: None,
            sub_msg: None,
        };
        let busy = Common {
            code: "40004".into(),
            msg: "Business Failed".into(),
            sub_code: Some("ACQ.SYSTEM_ERROR".into()),
            sub_msg: None,
        };
        let refused = Common {
            code: "40004".into(),
            msg: "Business Failed".into(),
            sub_code: Some("ACQ.TRADE_STATUS_ERROR".into()),
            sub_msg: Some("交易状态不合法".into()),
        };
        let resp = |retry: &str, action: Option<&str>| CancelResp {
            retry_flag: Some(retry.into()),
            action: action.map(str::to_owned),
        };
        assert_eq!(
            cancel_step(&ok, &resp("N", Some("close"))),
            CancelStep::Done(CancelAction::Closed)
        );
        assert_eq!(
            cancel_step(&ok, &resp("N", Some(""))),
            CancelStep::Done(CancelAction::Closed)
        );
        assert_eq!(
            cancel_step(&ok, &resp("N", Some("refund"))),
            CancelStep::Done(CancelAction::Refunded)
        );
        assert_eq!(cancel_step(&ok, &resp("Y", None)), CancelStep::Retry);
        // A failed cancel that asks for a retry is retried, not reported.
        assert_eq!(cancel_step(&busy, &resp("Y", None)), CancelStep::Retry);
        assert!(matches!(
            cancel_step(&busy, &resp("N", None)),
            CancelStep::Failed(ChannelError::Indeterminate { .. })
        ));
        assert!(matches!(
            cancel_step(&refused, &resp("N", None)),
            CancelStep::Failed(ChannelError::Definite { code, .. }) if code == "ACQ.TRADE_STATUS_ERROR"
        ));
    }

    #[test]
    fn refund_query_mapping() {
        let r = |status: Option<&str>, amount: Option<&str>| RefundQueryResp {
            out_request_no: None,
            refund_status: status.map(str::to_owned),
            refund_amount: amount.map(str::to_owned),
            gmt_refund_pay: None,
        };
        let ok = refund_query_result(&r(Some("REFUND_SUCCESS"), Some("0.30")), "R1").unwrap();
        assert_eq!(
            (ok.status, ok.refund_fen, ok.out_refund_no.as_str()),
            (RefundStatus::Success, Some(30), "R1")
        );
        assert_eq!(
            refund_query_result(&r(None, Some("1.00")), "R1")
                .unwrap()
                .status,
            RefundStatus::Success
        );
        assert_eq!(
            refund_query_result(&r(Some("REFUND_PROCESSING"), None), "R1")
                .unwrap()
                .status,
            RefundStatus::Processing
        );
        assert_eq!(
            refund_query_result(&r(None, None), "R1")
                .unwrap_err()
                .definite_code(),
            Some("REFUND_NOT_EXIST")
        );
    }

    #[test]
    fn amounts_and_times() {
        assert_eq!(yuan(1), "0.01");
        assert_eq!(yuan(123_456), "1234.56");
        assert_eq!(fen_from_yuan("-0.30"), Some(30));
        assert_eq!(fen_from_yuan("12.3"), Some(1230));
        assert_eq!(fen_from_yuan("abc"), None);
        let at = parse_timestamp("2014-07-24 03:07:50").unwrap();
        assert_eq!(format_timestamp(at), "2014-07-24 03:07:50");
        assert_eq!(at.to_rfc3339(), "2014-07-23T19:07:50+00:00");
        let now = at;
        assert_eq!(
            timeout_express(now, now + chrono::Duration::seconds(299)),
            "4m"
        );
        assert_eq!(timeout_express(now, now), "1m");
    }
}
