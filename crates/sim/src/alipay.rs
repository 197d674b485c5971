//! The Alipay open-platform gateway (`/gateway.do`), face-to-face QR APIs.
//!
//! Requests: GET with everything in the query, or POST with the common
//! params in the query and/or a form body; both are merged. The RSA2 sign is
//! checked over the sorted raw `k=v` pairs (without `sign`, with
//! `sign_type`, empty values skipped) using the merchant's app public key.
//!
//! Answers: `{"<method>_response":{...},"sign":"..."}`, the object first and
//! the sign over its exact bytes. Gateway-level refusals (unknown app, bad
//! signature) come back unsigned under `error_response`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::{json, Map, Value};
use shouyin_core::format_fen;

use crate::faults::{garble, FaultPlan};
use crate::paycode::{self, CodeRefusal};
use crate::sign::{sign_base64, verify_base64};
use crate::trade::{
    china_time, random_digits, random_lower, Channel, CloseReason, Phase, Refund, StepError, Trade,
    CHINA,
};
use crate::{bills, Download, SimError, SimState};

/// Unpaid precreated trades close after this long unless the request says
/// otherwise (`timeout_express` or `time_expire`); Alipay's own QR codes
/// stay valid for 2 hours.
const DEFAULT_TIMEOUT: chrono::Duration = chrono::Duration::hours(2);
/// Alipay's ceiling for one trade: ¥100,000,000.00.
const MAX_AMOUNT_FEN: i64 = 10_000_000_000;

/// A business refusal, answered (signed) under the method's response key.
struct Biz {
    code: &'static str,
    msg: &'static str,
    sub_code: String,
    sub_msg: String,
}

fn failed(sub_code: &'static str, sub_msg: impl Into<String>) -> Biz {
    Biz {
        code: "40004",
        msg: "Business Failed",
        sub_code: sub_code.to_owned(),
        sub_msg: sub_msg.into(),
    }
}

fn invalid(what: impl Into<String>) -> Biz {
    failed(
        "ACQ.INVALID_PARAMETER",
        format!("参数无效: {}", what.into()),
    )
}

fn not_exist() -> Biz {
    failed("ACQ.TRADE_NOT_EXIST", "交易不存在")
}

fn status_error() -> Biz {
    failed("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
}

fn system_busy() -> Biz {
    Biz {
        code: "20000",
        msg: "Service Currently Unavailable",
        sub_code: "isp.unknow-error".into(),
        sub_msg: "系统繁忙".into(),
    }
}

/// What the `error` fault answers: the generic "system busy", or the code
/// the fault settings name, under the gateway code Alipay sends it with
/// (`aop.`/`isp.` codes come from the gateway as 20000, the rest as 40004).
fn fault_answer(error_code: Option<String>) -> Biz {
    match error_code {
        None => system_busy(),
        Some(sub_code) => {
            let (code, msg) = if sub_code.starts_with("aop.") || sub_code.starts_with("isp.") {
                ("20000", "Service Currently Unavailable")
            } else {
                ("40004", "Business Failed")
            };
            Biz {
                code,
                msg,
                sub_code,
                sub_msg: "系统异常，请稍后再试".into(),
            }
        }
    }
}

impl From<SimError> for Biz {
    fn from(e: SimError) -> Biz {
        tracing::error!(error = %e, "alipay handler failed");
        system_busy()
    }
}

type BizResult = Result<Map<String, Value>, Biz>;

/// `/gateway.do`, GET or POST.
pub async fn gateway(
    State(sim): State<SimState>,
    plan: Option<Extension<FaultPlan>>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let plan = plan.map(|p| p.0).unwrap_or_default();
    let mut params = BTreeMap::new();
    if let Some(q) = uri.query() {
        params.extend(url::form_urlencoded::parse(q.as_bytes()).into_owned());
    }
    if !body.is_empty() {
        params.extend(url::form_urlencoded::parse(&body).into_owned());
    }

    let app_id = params.get("app_id").cloned().unwrap_or_default();
    if app_id.is_empty() {
        return gateway_error(
            plan,
            "40001",
            "Missing Required Arguments",
            "isv.missing-app-id",
            "缺少AppID参数",
        );
    }
    if app_id != sim.keys().alipay_app_id {
        return gateway_error(
            plan,
            "40002",
            "Invalid Arguments",
            "isv.invalid-app-id",
            "无效的AppID参数",
        );
    }
    let method = params.get("method").cloned().unwrap_or_default();
    if method.is_empty() {
        return gateway_error(
            plan,
            "40001",
            "Missing Required Arguments",
            "isv.missing-method",
            "缺少方法名参数",
        );
    }
    let sign_type = params.get("sign_type").map(String::as_str).unwrap_or("");
    if sign_type != "RSA2" {
        return gateway_error(
            plan,
            "40002",
            "Invalid Arguments",
            "isv.invalid-signature-type",
            "无效的签名类型参数 (only RSA2 is accepted)",
        );
    }
    let content = sign_content(&params);
    let sign = params.get("sign").map(String::as_str).unwrap_or("");
    if sign.is_empty() || !verify_base64(&sim.keys().alipay_app_public, content.as_bytes(), sign) {
        return gateway_error(
            plan,
            "40002",
            "Invalid Arguments",
            "isv.invalid-signature",
            &format!(
                "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：{content}"
            ),
        );
    }
    if !KNOWN_METHODS.contains(&method.as_str()) {
        return gateway_error(
            plan,
            "40002",
            "Invalid Arguments",
            "isv.invalid-method",
            "不存在的方法名",
        );
    }
    if plan == FaultPlan::Error {
        let answer = fault_answer(sim.faults().get().error_code);
        return signed(&sim, &method, Err(answer), plan);
    }

    let biz: Map<String, Value> = match params.get("biz_content").filter(|s| !s.is_empty()) {
        None => Map::new(),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            _ => {
                return signed(
                    &sim,
                    &method,
                    Err(invalid("biz_content is not a JSON object")),
                    plan,
                )
            }
        },
    };
    let now = sim.now();
    let result = match method.as_str() {
        "alipay.trade.precreate" => precreate(
            &sim,
            &biz,
            params
                .get("notify_url")
                .map(String::as_str)
                .filter(|u| !u.is_empty()),
            now,
        ),
        "alipay.trade.pay" => pay(&sim, &biz, now),
        "alipay.trade.query" => query(&sim, &biz, now),
        "alipay.trade.close" => close(&sim, &biz, now),
        "alipay.trade.cancel" => cancel(&sim, &biz, now),
        "alipay.trade.refund" => refund(&sim, &biz, now),
        "alipay.trade.fastpay.refund.query" => refund_query(&sim, &biz, now),
        "alipay.data.dataservice.bill.downloadurl.query" => bill_url(&sim, &biz, now),
        _ => Err(invalid("method")),
    };
    signed(&sim, &method, result, plan)
}

const KNOWN_METHODS: [&str; 8] = [
    "alipay.trade.precreate",
    "alipay.trade.pay",
    "alipay.trade.query",
    "alipay.trade.close",
    "alipay.trade.cancel",
    "alipay.trade.refund",
    "alipay.trade.fastpay.refund.query",
    "alipay.data.dataservice.bill.downloadurl.query",
];

/// Sorted `k=v` of every non-empty param except `sign`, raw values.
pub(crate) fn sign_content(params: &BTreeMap<String, String>) -> String {
    params
        .iter()
        .filter(|(k, v)| k.as_str() != "sign" && !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn json_response(body: Vec<u8>, plan: FaultPlan) -> Response {
    let body = if plan == FaultPlan::Garble {
        garble(&body)
    } else {
        body
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
        body,
    )
        .into_response()
}

/// An unsigned gateway-level refusal.
fn gateway_error(
    plan: FaultPlan,
    code: &str,
    msg: &str,
    sub_code: &str,
    sub_msg: &str,
) -> Response {
    let body = json!({"error_response": {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}});
    json_response(body.to_string().into_bytes(), plan)
}

/// A signed answer under `<method>_response`.
fn signed(sim: &SimState, method: &str, result: BizResult, plan: FaultPlan) -> Response {
    let mut obj = Map::new();
    match result {
        Ok(fields) => {
            obj.insert("code".into(), json!("10000"));
            obj.insert("msg".into(), json!("Success"));
            obj.extend(fields);
        }
        Err(b) => {
            obj.insert("code".into(), json!(b.code));
            obj.insert("msg".into(), json!(b.msg));
            obj.insert("sub_code".into(), json!(b.sub_code));
            obj.insert("sub_msg".into(), json!(b.sub_msg));
        }
    }
    let key = format!("{}_response", method.replace('.', "_"));
    let text = Value::Object(obj).to_string();
    // The bad-signature fault signs slightly different bytes: the signature
    // is well-formed and made by the right key, but not for this body.
    let signed_bytes = if plan == FaultPlan::BadSignature {
        format!("{text} ")
    } else {
        text.clone()
    };
    let sign = match sign_base64(&sim.keys().alipay_private, signed_bytes.as_bytes()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot sign alipay response");
            String::new()
        }
    };
    let body = format!("{{\"{key}\":{text},\"sign\":\"{sign}\"}}");
    json_response(body.into_bytes(), plan)
}

/// A biz_content field as text; numbers are accepted as their JSON text.
fn field(biz: &Map<String, Value>, name: &str) -> Option<String> {
    match biz.get(name)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn yuan(fen: i64) -> Value {
    Value::String(format_fen(fen))
}

/// A trade as Alipay admits it exists: only once the buyer scanned, or once
/// a cancel closed it for good.
fn visible(t: &Trade) -> bool {
    match t.phase {
        Phase::Created => false,
        Phase::Waiting | Phase::Paid => true,
        Phase::Closed => t.scanned_at.is_some() || t.close_reason == Some(CloseReason::Cancelled),
    }
}

/// Find the trade a request names (`trade_no` wins over `out_trade_no`),
/// with expiry applied and saved.
fn find(
    store: &mut crate::store::Store,
    biz: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<Option<Trade>, Biz> {
    let found = if let Some(no) = field(biz, "trade_no") {
        store.trade_by_trade_no(Channel::Alipay, &no)?
    } else if let Some(no) = field(biz, "out_trade_no") {
        store.trade(Channel::Alipay, &no)?
    } else {
        return Err(invalid("out_trade_no 和 trade_no 不能同时为空"));
    };
    match found {
        Some(mut t) => {
            if t.settle(now) {
                store.update_trade(&t)?;
            }
            Ok(Some(t))
        }
        None => Ok(None),
    }
}

fn trade_status(t: &Trade) -> &'static str {
    match t.phase {
        Phase::Created | Phase::Waiting => "WAIT_BUYER_PAY",
        Phase::Paid if t.fully_refunded() => "TRADE_CLOSED",
        Phase::Paid => "TRADE_SUCCESS",
        Phase::Closed => "TRADE_CLOSED",
    }
}

fn ids(t: &Trade) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("trade_no".into(), json!(t.trade_no));
    m.insert("out_trade_no".into(), json!(t.out_trade_no));
    m
}

fn valid_out_trade_no(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// When an unpaid trade made now closes: `time_expire` (absolute, China
/// time), else `timeout_express` (`90m`, `2h`, `1d`, or `1c` = end of today),
/// else the default.
fn expiry(biz: &Map<String, Value>, now: DateTime<Utc>) -> Result<DateTime<Utc>, Biz> {
    if let Some(at) = field(biz, "time_expire") {
        let naive = NaiveDateTime::parse_from_str(&at, "%Y-%m-%d %H:%M:%S")
            .map_err(|_| invalid("time_expire 格式为 yyyy-MM-dd HH:mm:ss"))?;
        let at = CHINA
            .from_local_datetime(&naive)
            .earliest()
            .ok_or_else(|| invalid("time_expire"))?
            .with_timezone(&Utc);
        if at <= now {
            return Err(invalid("time_expire 早于当前时间"));
        }
        return Ok(at);
    }
    let Some(rel) = field(biz, "timeout_express").or_else(|| field(biz, "qr_code_timeout_express"))
    else {
        return Ok(now + DEFAULT_TIMEOUT);
    };
    let bad = || invalid("timeout_express 取值范围 1m～15d");
    let (num, unit) = rel.split_at(rel.len().saturating_sub(1));
    let n: i64 = num.parse().map_err(|_| bad())?;
    let span = match unit {
        "m" => chrono::Duration::minutes(n),
        "h" => chrono::Duration::hours(n),
        "d" => chrono::Duration::days(n),
        "c" if n == 1 => {
            let today = now.with_timezone(&CHINA).date_naive();
            let midnight = today
                .succ_opt()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .and_then(|d| CHINA.from_local_datetime(&d).earliest())
                .ok_or_else(bad)?;
            return Ok(midnight.with_timezone(&Utc));
        }
        _ => return Err(bad()),
    };
    if span < chrono::Duration::minutes(1) || span > chrono::Duration::days(15) {
        return Err(bad());
    }
    Ok(now + span)
}

fn new_trade_no(now: DateTime<Utc>) -> String {
    format!(
        "{}22001{}",
        now.with_timezone(&CHINA).format("%Y%m%d"),
        random_digits(15)
    )
}

/// `notify_url` is the common request parameter: where the payment
/// notification goes. A retry of the same order keeps the first one.
fn precreate(
    sim: &SimState,
    biz: &Map<String, Value>,
    notify_url: Option<&str>,
    now: DateTime<Utc>,
) -> BizResult {
    let out_trade_no =
        field(biz, "out_trade_no").ok_or_else(|| invalid("out_trade_no 不能为空"))?;
    if !valid_out_trade_no(&out_trade_no) {
        return Err(invalid(
            "out_trade_no 只能包含字母、数字、下划线，且不超过64位",
        ));
    }
    let amount_text = field(biz, "total_amount").ok_or_else(|| invalid("total_amount 不能为空"))?;
    let amount_fen = crate::trade::parse_yuan(&amount_text)
        .filter(|f| *f > 0)
        .ok_or_else(|| invalid("total_amount 取值范围 [0.01,100000000]"))?;
    if amount_fen > MAX_AMOUNT_FEN {
        return Err(failed("ACQ.TOTAL_FEE_EXCEED", "订单金额超过限额"));
    }
    let subject = field(biz, "subject").ok_or_else(|| invalid("subject 不能为空"))?;
    if subject.chars().count() > 256 {
        return Err(invalid("subject 超过256个字符"));
    }
    let expires_at = expiry(biz, now)?;
    let fingerprint = format!("{amount_fen}|{subject}");

    let mut store = sim.store();
    if let Some(mut t) = store.trade(Channel::Alipay, &out_trade_no)? {
        if t.settle(now) {
            store.update_trade(&t)?;
        }
        return match t.phase {
            Phase::Paid => Err(failed("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")),
            Phase::Closed => Err(failed("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")),
            _ if t.fingerprint != fingerprint => Err(failed(
                "ACQ.CONTEXT_INCONSISTENT",
                "交易信息被篡改 (same out_trade_no, different amount or subject)",
            )),
            // A retry of the same order: the same QR code.
            _ => Ok(precreate_answer(&t)),
        };
    }
    let t = Trade {
        channel: Channel::Alipay,
        out_trade_no,
        trade_no: new_trade_no(now),
        qr_code: format!("https://qr.alipay.com/bax{}", random_lower(22)),
        amount_fen,
        subject,
        store_id: field(biz, "store_id").unwrap_or_default(),
        operator_id: field(biz, "operator_id").unwrap_or_default(),
        terminal_id: field(biz, "terminal_id").unwrap_or_default(),
        attach: field(biz, "body").unwrap_or_default(),
        fingerprint,
        phase: Phase::Created,
        close_reason: None,
        cancel_action: None,
        created_at: now,
        expires_at,
        scanned_at: None,
        paid_at: None,
        closed_at: None,
        buyer_id: String::new(),
        buyer_logon: String::new(),
        refunded_fen: 0,
        notify_url: notify_url.unwrap_or_default().to_owned(),
        auth_code: String::new(),
    };
    store.insert_trade(&t)?;
    Ok(precreate_answer(&t))
}

fn precreate_answer(t: &Trade) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("out_trade_no".into(), json!(t.out_trade_no));
    m.insert("qr_code".into(), json!(t.qr_code));
    m
}

/// `alipay.trade.pay` with the customer's code: `10000` paid, `10003` the
/// customer must confirm on the phone, `40004` with a sub_code otherwise.
fn pay(sim: &SimState, biz: &Map<String, Value>, now: DateTime<Utc>) -> BizResult {
    let out_trade_no =
        field(biz, "out_trade_no").ok_or_else(|| invalid("out_trade_no 不能为空"))?;
    if !valid_out_trade_no(&out_trade_no) {
        return Err(invalid(
            "out_trade_no 只能包含字母、数字、下划线，且不超过64位",
        ));
    }
    match field(biz, "scene").as_deref() {
        Some("bar_code" | "wave_code") => {}
        _ => return Err(invalid("scene 取值 bar_code 或 wave_code")),
    }
    let auth_code = field(biz, "auth_code").ok_or_else(|| invalid("auth_code 不能为空"))?;
    if auth_code.len() > 32 {
        return Err(invalid("auth_code 超过32位"));
    }
    let amount_text = field(biz, "total_amount").ok_or_else(|| invalid("total_amount 不能为空"))?;
    let amount_fen = crate::trade::parse_yuan(&amount_text)
        .filter(|f| *f > 0)
        .ok_or_else(|| invalid("total_amount 取值范围 [0.01,100000000]"))?;
    if amount_fen > MAX_AMOUNT_FEN {
        return Err(failed("ACQ.TOTAL_FEE_EXCEED", "订单金额超过限额"));
    }
    let subject = field(biz, "subject").ok_or_else(|| invalid("subject 不能为空"))?;
    let order = paycode::CodeOrder {
        channel: Channel::Alipay,
        out_trade_no,
        auth_code,
        amount_fen,
        subject,
        store_id: field(biz, "store_id").unwrap_or_default(),
        terminal_id: field(biz, "terminal_id").unwrap_or_default(),
        operator_id: field(biz, "operator_id").unwrap_or_default(),
        trade_no: new_trade_no(now),
        window: sim.alipay_code_window(),
    };
    let t = match paycode::pay(sim, &order, now)? {
        Ok(t) => t,
        Err(CodeRefusal::Unknown) => {
            return Err(failed(
                "ACQ.PAYMENT_AUTH_CODE_INVALID",
                "支付失败，获取顾客账户信息失败，请顾客刷新付款码后重新收款",
            ))
        }
        Err(CodeRefusal::Used) => {
            return Err(failed(
                "ACQ.PAYMENT_AUTH_CODE_INVALID",
                "付款码已使用，请顾客刷新付款码后重新收款",
            ))
        }
        Err(CodeRefusal::Expired) => {
            return Err(failed(
                "ACQ.PAYMENT_AUTH_CODE_INVALID",
                "付款码已过期，请顾客刷新付款码后重新收款",
            ))
        }
        Err(CodeRefusal::NotEnough) => {
            return Err(failed("ACQ.BUYER_BALANCE_NOT_ENOUGH", "买家余额不足"))
        }
        Err(CodeRefusal::OutTradeNoUsed) => {
            return Err(failed(
                "ACQ.CONTEXT_INCONSISTENT",
                "交易信息被篡改 (same out_trade_no, different code, amount or subject)",
            ))
        }
    };
    let mut m = Map::new();
    match t.phase {
        Phase::Paid if t.refunded_fen == 0 => {}
        Phase::Created | Phase::Waiting => {
            m.insert("code".into(), json!("10003"));
            m.insert("msg".into(), json!("order success pay inprocess"));
        }
        Phase::Paid => return Err(failed("ACQ.TRADE_HAS_CLOSE", "交易已经撤销")),
        Phase::Closed => return Err(failed("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")),
    }
    m.extend(ids(&t));
    m.insert("total_amount".into(), yuan(t.amount_fen));
    m.insert("buyer_logon_id".into(), json!(t.buyer_logon));
    m.insert("buyer_user_id".into(), json!(t.buyer_id));
    if let Some(paid_at) = t.paid_at {
        m.insert("receipt_amount".into(), yuan(t.amount_fen));
        m.insert("buyer_pay_amount".into(), yuan(t.amount_fen));
        m.insert("gmt_payment".into(), json!(china_time(paid_at)));
        m.insert(
            "fund_bill_list".into(),
            json!([{"fund_channel": "ALIPAYACCOUNT", "amount": format_fen(t.amount_fen)}]),
        );
    }
    Ok(m)
}

fn query(sim: &SimState, biz: &Map<String, Value>, now: DateTime<Utc>) -> BizResult {
    let mut store = sim.store();
    let t = find(&mut store, biz, now)?
        .filter(visible)
        .ok_or_else(not_exist)?;
    let mut m = ids(&t);
    m.insert("trade_status".into(), json!(trade_status(&t)));
    m.insert("total_amount".into(), yuan(t.amount_fen));
    if !t.buyer_id.is_empty() {
        m.insert("buyer_logon_id".into(), json!(t.buyer_logon));
        m.insert("buyer_user_id".into(), json!(t.buyer_id));
    }
    if !t.store_id.is_empty() {
        m.insert("store_id".into(), json!(t.store_id));
    }
    if !t.terminal_id.is_empty() {
        m.insert("terminal_id".into(), json!(t.terminal_id));
    }
    if let Some(paid_at) = t.paid_at {
        m.insert("receipt_amount".into(), yuan(t.amount_fen));
        m.insert("buyer_pay_amount".into(), yuan(t.amount_fen));
        m.insert("invoice_amount".into(), yuan(t.amount_fen));
        m.insert("point_amount".into(), yuan(0));
        m.insert("send_pay_date".into(), json!(china_time(paid_at)));
        m.insert(
            "fund_bill_list".into(),
            json!([{"fund_channel": "ALIPAYACCOUNT", "amount": format_fen(t.amount_fen)}]),
        );
    }
    Ok(m)
}

fn close(sim: &SimState, biz: &Map<String, Value>, now: DateTime<Utc>) -> BizResult {
    if sim.faults().get().alipay_close_lost_race {
        return Err(not_exist());
    }
    let mut store = sim.store();
    let mut t = find(&mut store, biz, now)?
        .filter(visible)
        .ok_or_else(not_exist)?;
    t.close(now, CloseReason::Closed)
        .map_err(|_| status_error())?;
    store.update_trade(&t)?;
    Ok(ids(&t))
}

fn cancel(sim: &SimState, biz: &Map<String, Value>, now: DateTime<Utc>) -> BizResult {
    let mut store = sim.store();
    let mut t = find(&mut store, biz, now)?.ok_or_else(not_exist)?;
    if t.phase == Phase::Created && sim.faults().get().alipay_cancel_not_exist {
        // The real gateway: no scan, no trade, nothing to cancel; the code
        // itself stays payable until it expires.
        return Err(not_exist());
    }
    let mut m = ids(&t);
    let action = match t.phase {
        Phase::Created | Phase::Waiting => {
            // Never scanned or not paid: closed for good; a later scan is refused.
            t.close(now, CloseReason::Cancelled)
                .map_err(|_| status_error())?;
            t.cancel_action = Some("close".into());
            store.update_trade(&t)?;
            "close".to_owned()
        }
        Phase::Paid => {
            let left = t.refundable_fen();
            if t.cancel_action.is_none() {
                t.cancel_action = Some("refund".into());
            }
            if left > 0 {
                t.refund(left).map_err(|_| status_error())?;
                let r = Refund {
                    channel: Channel::Alipay,
                    out_trade_no: t.out_trade_no.clone(),
                    out_refund_no: format!("CANCEL_{}", t.out_trade_no),
                    refund_id: format!("R{}", new_trade_no(now)),
                    amount_fen: left,
                    reason: "撤销".into(),
                    created_at: now,
                };
                store.record_refund(&t, &r)?;
                m.insert("gmt_refund_pay".into(), json!(china_time(now)));
            } else {
                store.update_trade(&t)?;
            }
            "refund".to_owned()
        }
        // Repeated cancel (or one after expiry): same answer, nothing moves.
        Phase::Closed => t.cancel_action.clone().unwrap_or_else(|| "close".into()),
    };
    m.insert("retry_flag".into(), json!("N"));
    m.insert("action".into(), json!(action));
    Ok(m)
}

fn refund(sim: &SimState, biz: &Map<String, Value>, now: DateTime<Utc>) -> BizResult {
    let amount_text =
        field(biz, "refund_amount").ok_or_else(|| invalid("refund_amount 不能为空"))?;
    let amount_fen = crate::trade::parse_yuan(&amount_text)
        .filter(|f| *f > 0)
        .ok_or_else(|| invalid("refund_amount"))?;
    let mut store = sim.store();
    let mut t = find(&mut store, biz, now)?
        .filter(visible)
        .ok_or_else(not_exist)?;
    // Without a request number the refund is keyed by the order itself.
    let request_no = field(biz, "out_request_no").unwrap_or_else(|| t.out_trade_no.clone());
    let mut m = ids(&t);
    m.insert("buyer_logon_id".into(), json!(t.buyer_logon));
    m.insert("buyer_user_id".into(), json!(t.buyer_id));
    if let Some(prev) = store.refund(Channel::Alipay, &t.out_trade_no, &request_no)? {
        if prev.amount_fen != amount_fen {
            return Err(invalid("同一退款请求号的退款金额与原请求不一致"));
        }
        // The same request again: report it, move nothing.
        m.insert("fund_change".into(), json!("N"));
        m.insert("refund_fee".into(), yuan(t.refunded_fen));
        m.insert("gmt_refund_pay".into(), json!(china_time(prev.created_at)));
        return Ok(m);
    }
    match t.refund(amount_fen) {
        Ok(()) => {}
        Err(StepError::OverRefund) => {
            return Err(failed("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限"))
        }
        Err(_) => return Err(status_error()),
    }
    let r = Refund {
        channel: Channel::Alipay,
        out_trade_no: t.out_trade_no.clone(),
        out_refund_no: request_no,
        refund_id: format!("R{}", new_trade_no(now)),
        amount_fen,
        reason: field(biz, "refund_reason").unwrap_or_default(),
        created_at: now,
    };
    store.record_refund(&t, &r)?;
    m.insert("fund_change".into(), json!("Y"));
    m.insert("refund_fee".into(), yuan(t.refunded_fen));
    m.insert("send_back_fee".into(), yuan(amount_fen));
    m.insert("gmt_refund_pay".into(), json!(china_time(now)));
    Ok(m)
}

fn refund_query(sim: &SimState, biz: &Map<String, Value>, now: DateTime<Utc>) -> BizResult {
    let request_no =
        field(biz, "out_request_no").ok_or_else(|| invalid("out_request_no 不能为空"))?;
    let mut store = sim.store();
    let t = find(&mut store, biz, now)?
        .filter(visible)
        .ok_or_else(not_exist)?;
    let mut m = ids(&t);
    m.insert("out_request_no".into(), json!(request_no));
    // An unknown request number is not an error: the answer simply carries
    // no refund, which is how the channel says "not refunded".
    if let Some(r) = store.refund(Channel::Alipay, &t.out_trade_no, &request_no)? {
        m.insert("total_amount".into(), yuan(t.amount_fen));
        m.insert("refund_amount".into(), yuan(r.amount_fen));
        m.insert("refund_status".into(), json!("REFUND_SUCCESS"));
        m.insert("gmt_refund_pay".into(), json!(china_time(r.created_at)));
        if !r.reason.is_empty() {
            m.insert("refund_reason".into(), json!(r.reason));
        }
    }
    Ok(m)
}

fn bill_url(sim: &SimState, biz: &Map<String, Value>, now: DateTime<Utc>) -> BizResult {
    let bill_type = field(biz, "bill_type")
        .ok_or_else(|| failed("INVAILID_ARGUMENTS", "bill_type 不能为空"))?;
    if bill_type != "trade" {
        return Err(failed(
            "isp.bill_not_exist",
            "账单不存在 (the simulator keeps only the trade bill)",
        ));
    }
    let date = field(biz, "bill_date")
        .ok_or_else(|| failed("INVAILID_ARGUMENTS", "bill_date 不能为空"))?;
    let span = parse_bill_date(&date).ok_or_else(|| {
        failed(
            "INVAILID_ARGUMENTS",
            "bill_date 格式为 yyyy-MM-dd 或 yyyy-MM",
        )
    })?;
    let today = now.with_timezone(&CHINA).date_naive();
    if span.first > today {
        return Err(failed("isp.bill_not_exist", "账单不存在"));
    }
    let zip = {
        let store = sim.store();
        bills::alipay_zip(&store, &sim.keys().alipay_pid, &span, now)?
    };
    let file_name = format!("{}_{}.csv.zip", sim.keys().alipay_pid, span.label);
    let token = sim.offer_download(Download {
        body: zip,
        content_type: "application/zip",
        file_name: file_name.clone(),
        expires_at: sim.download_expiry(),
    });
    let url = format!(
        "{}/alipay/bill/download?token={token}&fileType=csv.zip&downloadFileName={file_name}",
        sim.base_url()
    );
    let mut m = Map::new();
    m.insert("bill_download_url".into(), json!(url));
    Ok(m)
}

/// `yyyy-MM-dd` (one day) or `yyyy-MM` (a month), in China dates.
fn parse_bill_date(s: &str) -> Option<bills::BillSpan> {
    if let Ok(day) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(bills::BillSpan {
            first: day,
            end: day.succ_opt()?,
            label: day.format("%Y%m%d").to_string(),
        });
    }
    let first = NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").ok()?;
    if s.len() != 7 {
        return None;
    }
    let end = first.checked_add_months(chrono::Months::new(1))?;
    Some(bills::BillSpan {
        first,
        end,
        label: first.format("%Y%m").to_string(),
    })
}

/// The bill file behind a link from `bill_url`.
pub async fn download(
    State(sim): State<SimState>,
    plan: Option<Extension<FaultPlan>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let plan = plan.map(|p| p.0).unwrap_or_default();
    if plan == FaultPlan::Error {
        return (StatusCode::INTERNAL_SERVER_ERROR, "system busy").into_response();
    }
    let Some(d) = q.get("token").and_then(|t| sim.take_download(t)) else {
        return (
            StatusCode::NOT_FOUND,
            "the download link is unknown or expired",
        )
            .into_response();
    };
    let body = if plan == FaultPlan::Garble {
        garble(&d.body)
    } else {
        d.body
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, d.content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", d.file_name),
            ),
        ],
        body,
    )
        .into_response()
}
