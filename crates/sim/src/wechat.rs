//! WeChat Pay API v3, Native (merchant-presented QR) endpoints.
//!
//! Every request must carry `Authorization: WECHATPAY2-SHA256-RSA2048 k="v",…`
//! (any order); the signature is checked over
//! `METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nBODY\n` rebuilt from the raw request
//! with the merchant's public key. Every answer (2xx including 204, and
//! errors) carries the five `Wechatpay-*` headers signed over
//! `TIMESTAMP\nNONCE\nBODY\n` with the platform key, except the bill file
//! itself, which the real service leaves unsigned.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, Request};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use rand::Rng;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};

use crate::bills::{self, WechatBillType};
use crate::faults::{garble, FaultPlan};
use crate::paycode::{self, CodeRefusal};
use crate::sign::{sign_base64, verify_base64};
use crate::trade::{
    china_rfc3339, random_alnum, random_digits, Channel, CloseReason, Phase, Refund, StepError,
    Trade, CHINA,
};
use crate::{Download, SimError, SimState};

/// An unpaid Native order closes after this long unless `time_expire` says
/// otherwise.
const DEFAULT_TIMEOUT: chrono::Duration = chrono::Duration::hours(2);
/// Requests signed further than this from now are refused (replay guard).
const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// A refusal in WeChat's shape: status plus `{"code","message"}`.
struct WxError {
    status: StatusCode,
    code: String,
    message: String,
}

fn wx(status: StatusCode, code: &'static str, message: impl Into<String>) -> WxError {
    WxError {
        status,
        code: code.to_owned(),
        message: message.into(),
    }
}

/// What the `error` fault answers: the generic system error, or the code
/// the fault settings name with the HTTP status WeChat sends it with.
fn fault_answer(error_code: Option<String>) -> WxError {
    let Some(code) = error_code else {
        return system_error();
    };
    let status = match code.as_str() {
        "FREQUENCY_LIMITED" | "RATELIMIT_EXCEEDED" => StatusCode::TOO_MANY_REQUESTS,
        "SYSTEM_ERROR" | "SYSTEMERROR" | "BANK_ERROR" => StatusCode::INTERNAL_SERVER_ERROR,
        "NO_AUTH" | "NOT_ENOUGH" | "RULE_LIMIT" | "TRADE_ERROR" | "OUT_TRADE_NO_USED" => {
            StatusCode::FORBIDDEN
        }
        "ORDER_NOT_EXIST" | "RESOURCE_NOT_EXISTS" => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    };
    WxError {
        status,
        code,
        message: "模拟的渠道错误 (simulated)".into(),
    }
}

fn param_error(message: impl Into<String>) -> WxError {
    wx(StatusCode::BAD_REQUEST, "PARAM_ERROR", message)
}

fn system_error() -> WxError {
    wx(
        StatusCode::INTERNAL_SERVER_ERROR,
        "SYSTEM_ERROR",
        "系统错误",
    )
}

impl From<SimError> for WxError {
    fn from(e: SimError) -> WxError {
        tracing::error!(error = %e, "wechat handler failed");
        system_error()
    }
}

/// What every handler gets besides its own arguments.
pub(crate) struct Call {
    sim: SimState,
    plan: FaultPlan,
}

impl Call {
    /// A signed answer. `body` is `None` for 204.
    fn reply(&self, status: StatusCode, body: Option<Value>) -> Response {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let timestamp = self.sim.now().timestamp().to_string();
        let nonce = hex::encode_upper(rand::thread_rng().gen::<[u8; 16]>());
        let mut message = format!("{timestamp}\n{nonce}\n").into_bytes();
        message.extend_from_slice(&bytes);
        message.push(b'\n');
        if self.plan == FaultPlan::BadSignature {
            // Right key, wrong bytes: a well-formed signature that fails.
            message.push(b' ');
        }
        let mut signature = match sign_base64(&self.sim.keys().wechat_platform_private, &message) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot sign wechat response");
                String::new()
            }
        };
        let bytes = if self.plan == FaultPlan::Garble {
            if bytes.is_empty() {
                // Nothing to cut in a 204: corrupt the signature instead.
                signature.truncate(signature.len() / 2);
                bytes
            } else {
                garble(&bytes)
            }
        } else {
            bytes
        };
        let mut headers = HeaderMap::new();
        let mut put = |name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(HeaderName::from_static(name), v);
            }
        };
        put("wechatpay-timestamp", &timestamp);
        put("wechatpay-nonce", &nonce);
        put("wechatpay-signature", &signature);
        put(
            "wechatpay-serial",
            &self.sim.keys().wechat_platform_public_key_id,
        );
        put("wechatpay-signature-type", "WECHATPAY2-SHA256-RSA2048");
        put(
            "request-id",
            &format!("08{}", random_alnum(30).to_ascii_uppercase()),
        );
        if status != StatusCode::NO_CONTENT {
            put("content-type", "application/json; charset=utf-8");
        }
        (status, headers, bytes).into_response()
    }

    fn ok(&self, body: Value) -> Response {
        self.reply(StatusCode::OK, Some(body))
    }

    fn error(&self, e: WxError) -> Response {
        self.reply(
            e.status,
            Some(json!({"code": e.code, "message": e.message})),
        )
    }

    fn finish(&self, result: Result<Response, WxError>) -> Response {
        result.unwrap_or_else(|e| self.error(e))
    }
}

/// A request whose signature checked out and that drew no `error` fault;
/// the extractor every WeChat handler takes last.
pub(crate) struct Signed {
    call: Call,
    body: Bytes,
}

/// Request bodies of this API are small JSON documents.
const MAX_BODY: usize = 1 << 20;

impl FromRequest<SimState> for Signed {
    type Rejection = Response;

    async fn from_request(req: Request, sim: &SimState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let call = Call {
            sim: sim.clone(),
            plan: parts
                .extensions
                .get::<FaultPlan>()
                .copied()
                .unwrap_or_default(),
        };
        let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
            return Err(call.error(param_error("请求体过大或读取失败")));
        };
        if let Err(e) = verify_request(&call.sim, &parts.method, &parts.uri, &parts.headers, &body)
        {
            return Err(call.error(e));
        }
        if call.plan == FaultPlan::Error {
            let answer = fault_answer(call.sim.faults().get().error_code);
            return Err(call.error(answer));
        }
        Ok(Signed { call, body })
    }
}

/// Parse `WECHATPAY2-SHA256-RSA2048 k="v",k="v"` in any order.
fn parse_authorization(value: &str) -> Option<BTreeMap<String, String>> {
    let rest = value.trim().strip_prefix("WECHATPAY2-SHA256-RSA2048")?;
    if !rest.starts_with(' ') {
        return None;
    }
    let mut out = BTreeMap::new();
    let mut s = rest.trim_start();
    while !s.is_empty() {
        let (key, after) = s.split_once('=')?;
        let after = after.strip_prefix('"')?;
        let (val, after) = after.split_once('"')?;
        out.insert(key.trim().to_owned(), val.to_owned());
        s = after.trim_start();
        s = s.strip_prefix(',').unwrap_or(s).trim_start();
    }
    Some(out)
}

fn sign_error(message: impl Into<String>) -> WxError {
    wx(StatusCode::UNAUTHORIZED, "SIGN_ERROR", message)
}

fn verify_request(
    sim: &SimState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), WxError> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| sign_error("缺少 Authorization 头"))?;
    let fields = parse_authorization(auth).ok_or_else(|| {
        sign_error("Authorization 头格式错误，应为 WECHATPAY2-SHA256-RSA2048 k=\"v\",...")
    })?;
    let get = |k: &str| fields.get(k).filter(|v| !v.is_empty());
    let (Some(mchid), Some(nonce), Some(signature), Some(timestamp), Some(serial)) = (
        get("mchid"),
        get("nonce_str"),
        get("signature"),
        get("timestamp"),
        get("serial_no"),
    ) else {
        return Err(sign_error(
            "Authorization 缺少 mchid、nonce_str、signature、timestamp 或 serial_no",
        ));
    };
    let keys = sim.keys();
    if mchid != &keys.wechat_mchid {
        return Err(sign_error("商户号与签名不匹配"));
    }
    if !serial.eq_ignore_ascii_case(&keys.wechat_merchant_serial_no) {
        return Err(sign_error("商户证书序列号有误"));
    }
    let ts: i64 = timestamp
        .parse()
        .map_err(|_| sign_error("timestamp 不是整数秒"))?;
    if (sim.now().timestamp() - ts).abs() > MAX_CLOCK_SKEW_SECS {
        return Err(sign_error("请求时间戳与当前时间相差超过5分钟"));
    }
    let canonical = uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or_else(|| uri.path());
    let mut message = format!("{method}\n{canonical}\n{timestamp}\n{nonce}\n").into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    if verify_base64(&keys.wechat_merchant_public, &message, signature) {
        Ok(())
    } else {
        Err(sign_error("签名错误，请检查签名串和商户私钥"))
    }
}

fn parse_json(body: &[u8]) -> Result<serde_json::Map<String, Value>, WxError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(param_error("请求体不是合法的JSON对象")),
    }
}

fn text<'a>(m: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn valid_out_trade_no(s: &str) -> bool {
    (6..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-|*".contains(&b))
}

fn check_mchid(sim: &SimState, mchid: Option<&str>) -> Result<(), WxError> {
    match mchid {
        None => Err(param_error("缺少参数 mchid")),
        Some(m) if m != sim.keys().wechat_mchid => Err(wx(
            StatusCode::BAD_REQUEST,
            "MCH_NOT_EXISTS",
            "商户号不存在",
        )),
        Some(_) => Ok(()),
    }
}

fn trade_state(t: &Trade) -> (&'static str, &'static str) {
    if t.is_code_payment() {
        return match t.phase {
            Phase::Created | Phase::Waiting => ("USERPAYING", "需要用户输入支付密码"),
            Phase::Paid if t.reversed_after_payment() => ("REVOKED", "已撤销（已退款）"),
            Phase::Paid if t.refunded_fen > 0 => ("REFUND", "订单发生过退款"),
            Phase::Paid => ("SUCCESS", "支付成功"),
            Phase::Closed if t.close_reason == Some(CloseReason::Declined) => {
                ("PAYERROR", "用户取消支付")
            }
            Phase::Closed => ("REVOKED", "已撤销"),
        };
    }
    match t.phase {
        Phase::Created | Phase::Waiting => ("NOTPAY", "订单未支付"),
        Phase::Paid if t.refunded_fen > 0 => ("REFUND", "订单发生过退款"),
        Phase::Paid => ("SUCCESS", "支付成功"),
        Phase::Closed => ("CLOSED", "订单已关闭"),
    }
}

pub(crate) fn transaction_json(sim: &SimState, t: &Trade) -> Value {
    let (state, desc) = match trade_state(t) {
        ("NOTPAY", _) if sim.faults().get().wechat_payerror => ("PAYERROR", "支付失败"),
        other => other,
    };
    let mut v = json!({
        "appid": sim.keys().wechat_appid,
        "mchid": sim.keys().wechat_mchid,
        "out_trade_no": t.out_trade_no,
        "trade_state": state,
        "trade_state_desc": desc,
        "attach": t.attach,
        "amount": {"total": t.amount_fen, "currency": "CNY", "payer_currency": "CNY"},
    });
    if let (Some(paid_at), Some(obj)) = (t.paid_at, v.as_object_mut()) {
        obj.insert("transaction_id".into(), json!(t.trade_no));
        obj.insert(
            "trade_type".into(),
            json!(if t.is_code_payment() {
                "MICROPAY"
            } else {
                "NATIVE"
            }),
        );
        obj.insert("bank_type".into(), json!("OTHERS"));
        obj.insert("success_time".into(), json!(china_rfc3339(paid_at)));
        obj.insert("payer".into(), json!({"openid": t.buyer_id}));
        obj.insert(
            "amount".into(),
            json!({"total": t.amount_fen, "payer_total": t.amount_fen, "currency": "CNY", "payer_currency": "CNY"}),
        );
        obj.insert("promotion_detail".into(), json!([]));
    }
    v
}

fn new_transaction_id(now: DateTime<Utc>) -> String {
    format!(
        "42000{}{}{}",
        random_digits(5),
        now.with_timezone(&CHINA).format("%Y%m%d"),
        random_digits(10)
    )
}

/// `POST /v3/pay/transactions/native`
pub(crate) async fn create_native(Signed { call, body }: Signed) -> Response {
    call.finish(create_native_inner(&call, &body))
}

fn create_native_inner(call: &Call, body: &[u8]) -> Result<Response, WxError> {
    let sim = &call.sim;
    let req = parse_json(body)?;
    let appid = text(&req, "appid").ok_or_else(|| param_error("缺少参数 appid"))?;
    check_mchid(sim, text(&req, "mchid"))?;
    if appid != sim.keys().wechat_appid {
        return Err(wx(
            StatusCode::BAD_REQUEST,
            "APPID_MCHID_NOT_MATCH",
            "appid和mch_id不匹配",
        ));
    }
    let description =
        text(&req, "description").ok_or_else(|| param_error("缺少参数 description"))?;
    if description.chars().count() > 127 {
        return Err(param_error("description 超过127个字符"));
    }
    let out_trade_no =
        text(&req, "out_trade_no").ok_or_else(|| param_error("缺少参数 out_trade_no"))?;
    if !valid_out_trade_no(out_trade_no) {
        return Err(param_error("out_trade_no 应为6-32位数字、大小写字母、_-|*"));
    }
    let notify_url = text(&req, "notify_url").ok_or_else(|| param_error("缺少参数 notify_url"))?;
    let amount = req
        .get("amount")
        .and_then(Value::as_object)
        .ok_or_else(|| param_error("缺少参数 amount"))?;
    let total = amount
        .get("total")
        .and_then(Value::as_i64)
        .filter(|t| *t > 0)
        .ok_or_else(|| param_error("amount.total 应为大于0的整数（分）"))?;
    if let Some(c) = amount.get("currency").and_then(Value::as_str) {
        if c != "CNY" {
            return Err(param_error("amount.currency 只支持 CNY"));
        }
    }
    let now = sim.now();
    let expires_at = match text(&req, "time_expire") {
        None => now + DEFAULT_TIMEOUT,
        Some(s) => {
            let at = DateTime::parse_from_rfc3339(s)
                .map_err(|_| {
                    param_error("time_expire 应为 RFC3339 格式，如 2018-06-08T10:34:56+08:00")
                })?
                .with_timezone(&Utc);
            if at <= now {
                return Err(param_error("time_expire 早于当前时间"));
            }
            at
        }
    };
    let attach = text(&req, "attach").unwrap_or_default().to_owned();
    let scene = req.get("scene_info");
    let device_id = scene
        .and_then(|s| s.get("device_id"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let store_id = scene
        .and_then(|s| s.get("store_info"))
        .and_then(|s| s.get("id"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let fingerprint = format!("{total}|{description}|{attach}");

    let mut store = sim.store();
    if let Some(mut t) = store.trade(Channel::Wechat, out_trade_no)? {
        if t.settle(now) {
            store.update_trade(&t)?;
        }
        return match t.phase {
            Phase::Paid => Err(wx(StatusCode::BAD_REQUEST, "ORDERPAID", "该订单已支付")),
            Phase::Closed => Err(wx(StatusCode::BAD_REQUEST, "ORDER_CLOSED", "订单已关闭")),
            _ if t.fingerprint != fingerprint => Err(wx(
                StatusCode::FORBIDDEN,
                "OUT_TRADE_NO_USED",
                "商户订单号重复",
            )),
            // The same order again: the same code.
            _ => Ok(call.ok(json!({"code_url": t.qr_code}))),
        };
    }
    let t = Trade {
        channel: Channel::Wechat,
        out_trade_no: out_trade_no.to_owned(),
        trade_no: new_transaction_id(now),
        qr_code: format!("weixin://wxpay/bizpayurl?pr={}", random_alnum(9)),
        amount_fen: total,
        subject: description.to_owned(),
        store_id: store_id.to_owned(),
        operator_id: String::new(),
        terminal_id: device_id.to_owned(),
        attach,
        fingerprint,
        phase: Phase::Waiting,
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
        notify_url: notify_url.to_owned(),
        auth_code: String::new(),
    };
    store.insert_trade(&t)?;
    Ok(call.ok(json!({"code_url": t.qr_code})))
}

/// `POST /v3/pay/transactions/codepay`: 200 with the transaction, whose
/// `trade_state` is SUCCESS (paid) or USERPAYING (waiting for the password).
pub(crate) async fn codepay(Signed { call, body }: Signed) -> Response {
    call.finish(codepay_inner(&call, &body))
}

fn codepay_inner(call: &Call, body: &[u8]) -> Result<Response, WxError> {
    let sim = &call.sim;
    let req = parse_json(body)?;
    let appid = text(&req, "appid").ok_or_else(|| param_error("缺少参数 appid"))?;
    check_mchid(sim, text(&req, "mchid"))?;
    if appid != sim.keys().wechat_appid {
        return Err(wx(
            StatusCode::BAD_REQUEST,
            "APPID_MCHID_NOT_MATCH",
            "appid和mch_id不匹配",
        ));
    }
    let description =
        text(&req, "description").ok_or_else(|| param_error("缺少参数 description"))?;
    if description.chars().count() > 127 {
        return Err(param_error("description 超过127个字符"));
    }
    let out_trade_no =
        text(&req, "out_trade_no").ok_or_else(|| param_error("缺少参数 out_trade_no"))?;
    if !valid_out_trade_no(out_trade_no) {
        return Err(param_error("out_trade_no 应为6-32位数字、大小写字母、_-|*"));
    }
    let auth_code = req
        .get("payer")
        .and_then(|p| p.get("auth_code"))
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| param_error("缺少参数 payer.auth_code"))?;
    let total = req
        .get("amount")
        .and_then(|a| a.get("total"))
        .and_then(Value::as_i64)
        .filter(|t| *t > 0)
        .ok_or_else(|| param_error("amount.total 应为大于0的整数（分）"))?;
    if let Some(c) = req
        .get("amount")
        .and_then(|a| a.get("currency"))
        .and_then(Value::as_str)
    {
        if c != "CNY" {
            return Err(param_error("amount.currency 只支持 CNY"));
        }
    }
    let store_info = req
        .get("scene_info")
        .and_then(|s| s.get("store_info"))
        .ok_or_else(|| param_error("缺少参数 scene_info.store_info"))?;
    let store_id = store_info
        .get("out_id")
        .and_then(Value::as_str)
        .ok_or_else(|| param_error("缺少参数 scene_info.store_info.out_id"))?;
    let now = sim.now();
    let order = paycode::CodeOrder {
        channel: Channel::Wechat,
        out_trade_no: out_trade_no.to_owned(),
        auth_code: auth_code.to_owned(),
        amount_fen: total,
        subject: description.to_owned(),
        store_id: store_id.to_owned(),
        terminal_id: req
            .get("scene_info")
            .and_then(|s| s.get("device_id"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        operator_id: String::new(),
        trade_no: new_transaction_id(now),
        window: paycode::WECHAT_PASSWORD_WINDOW,
    };
    match paycode::pay(sim, &order, now)? {
        Ok(t) => Ok(call.ok(transaction_json(sim, &t))),
        Err(CodeRefusal::Unknown) => Err(wx(
            StatusCode::BAD_REQUEST,
            "AUTH_CODE_INVALID",
            "付款码无效，请顾客刷新后重新扫码",
        )),
        Err(CodeRefusal::Used) => Err(wx(
            StatusCode::BAD_REQUEST,
            "AUTH_CODE_INVALID",
            "付款码已使用，请顾客刷新后重新扫码",
        )),
        Err(CodeRefusal::Expired) => Err(wx(
            StatusCode::BAD_REQUEST,
            "AUTHCODEEXPIRE",
            "付款码已过期，请顾客刷新后重新扫码",
        )),
        Err(CodeRefusal::NotEnough) => {
            Err(wx(StatusCode::FORBIDDEN, "NOT_ENOUGH", "用户账户余额不足"))
        }
        Err(CodeRefusal::OutTradeNoUsed) => Err(wx(
            StatusCode::FORBIDDEN,
            "OUT_TRADE_NO_USED",
            "商户订单号重复",
        )),
    }
}

/// `POST /v3/pay/transactions/out-trade-no/{out_trade_no}/reverse`: an
/// unpaid code payment is closed, a paid one is refunded in full. 200 with
/// `{appid, mchid, out_trade_no}`; repeating it changes nothing more.
pub(crate) async fn reverse(
    Path(out_trade_no): Path<String>,
    Signed { call, body }: Signed,
) -> Response {
    let result = (|| {
        let sim = &call.sim;
        let req = parse_json(&body)?;
        check_mchid(sim, text(&req, "mchid"))?;
        if text(&req, "appid") != Some(sim.keys().wechat_appid.as_str()) {
            return Err(wx(
                StatusCode::BAD_REQUEST,
                "APPID_MCHID_NOT_MATCH",
                "appid和mch_id不匹配",
            ));
        }
        let now = sim.now();
        let mut store = sim.store();
        let found = store.trade(Channel::Wechat, &out_trade_no)?;
        let mut t = load(sim, &mut store, found)?.ok_or_else(order_not_exist)?;
        if !t.is_code_payment() {
            return Err(wx(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "只有付款码支付的订单可以撤销",
            ));
        }
        match t.phase {
            Phase::Created | Phase::Waiting => {
                t.close(now, CloseReason::Cancelled)
                    .map_err(|_| system_error())?;
                t.cancel_action = Some("close".into());
                store.update_trade(&t)?;
            }
            Phase::Paid => {
                let left = t.refundable_fen();
                if t.cancel_action.is_none() {
                    t.cancel_action = Some("refund".into());
                }
                if left > 0 {
                    t.refund(left).map_err(|_| system_error())?;
                    let r = Refund {
                        channel: Channel::Wechat,
                        out_trade_no: t.out_trade_no.clone(),
                        out_refund_no: format!("REVERSE_{}", t.out_trade_no),
                        refund_id: format!("50{}", random_digits(27)),
                        amount_fen: left,
                        reason: "撤销".into(),
                        created_at: now,
                    };
                    store.record_refund(&t, &r)?;
                } else {
                    store.update_trade(&t)?;
                }
            }
            Phase::Closed => {}
        }
        Ok(call.ok(json!({
            "appid": sim.keys().wechat_appid,
            "mchid": sim.keys().wechat_mchid,
            "out_trade_no": t.out_trade_no,
        })))
    })();
    call.finish(result)
}

fn load(
    sim: &SimState,
    store: &mut crate::store::Store,
    found: Option<Trade>,
) -> Result<Option<Trade>, WxError> {
    let now = sim.now();
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

fn order_not_exist() -> WxError {
    wx(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在")
}

/// `GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=`
pub(crate) async fn query_by_out_trade_no(
    Path(out_trade_no): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
    Signed { call, .. }: Signed,
) -> Response {
    let result = (|| {
        check_mchid(&call.sim, q.get("mchid").map(String::as_str))?;
        let mut store = call.sim.store();
        let found = store.trade(Channel::Wechat, &out_trade_no)?;
        let t = load(&call.sim, &mut store, found)?.ok_or_else(order_not_exist)?;
        Ok(call.ok(transaction_json(&call.sim, &t)))
    })();
    call.finish(result)
}

/// `GET /v3/pay/transactions/id/{transaction_id}?mchid=`
pub(crate) async fn query_by_transaction_id(
    Path(transaction_id): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
    Signed { call, .. }: Signed,
) -> Response {
    let result = (|| {
        check_mchid(&call.sim, q.get("mchid").map(String::as_str))?;
        let mut store = call.sim.store();
        let found = store.trade_by_trade_no(Channel::Wechat, &transaction_id)?;
        // A transaction id exists only once the order is paid.
        let t = load(&call.sim, &mut store, found)?
            .filter(|t| t.paid_at.is_some())
            .ok_or_else(order_not_exist)?;
        Ok(call.ok(transaction_json(&call.sim, &t)))
    })();
    call.finish(result)
}

/// `POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close` → 204
pub(crate) async fn close(
    Path(out_trade_no): Path<String>,
    Signed { call, body }: Signed,
) -> Response {
    let result = (|| {
        let req = parse_json(&body)?;
        check_mchid(&call.sim, text(&req, "mchid"))?;
        let mut store = call.sim.store();
        let found = store.trade(Channel::Wechat, &out_trade_no)?;
        let mut t = load(&call.sim, &mut store, found)?.ok_or_else(order_not_exist)?;
        match t.close(call.sim.now(), CloseReason::Closed) {
            Ok(()) => store.update_trade(&t)?,
            Err(StepError::AlreadyPaid) => {
                return Err(wx(
                    StatusCode::BAD_REQUEST,
                    "ORDERPAID",
                    "订单已支付，不能关闭",
                ))
            }
            // Closing a closed order again is harmless.
            Err(_) => {}
        }
        Ok(call.reply(StatusCode::NO_CONTENT, None))
    })();
    call.finish(result)
}

fn refund_json(t: &Trade, r: &Refund) -> Value {
    json!({
        "refund_id": r.refund_id,
        "out_refund_no": r.out_refund_no,
        "transaction_id": t.trade_no,
        "out_trade_no": t.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "success_time": china_rfc3339(r.created_at),
        "create_time": china_rfc3339(r.created_at),
        "status": "SUCCESS",
        "funds_account": "AVAILABLE",
        "amount": {
            "total": t.amount_fen,
            "refund": r.amount_fen,
            "from": [],
            "payer_total": t.amount_fen,
            "payer_refund": r.amount_fen,
            "settlement_refund": r.amount_fen,
            "settlement_total": t.amount_fen,
            "discount_refund": 0,
            "currency": "CNY",
            "refund_fee": 0
        },
        "promotion_detail": []
    })
}

/// `POST /v3/refund/domestic/refunds`
pub(crate) async fn refund(Signed { call, body }: Signed) -> Response {
    call.finish(refund_inner(&call, &body))
}

fn refund_inner(call: &Call, body: &[u8]) -> Result<Response, WxError> {
    let sim = &call.sim;
    let req = parse_json(body)?;
    let out_refund_no =
        text(&req, "out_refund_no").ok_or_else(|| param_error("缺少参数 out_refund_no"))?;
    if out_refund_no.len() > 64 {
        return Err(param_error("out_refund_no 超过64个字符"));
    }
    let amount = req
        .get("amount")
        .and_then(Value::as_object)
        .ok_or_else(|| param_error("缺少参数 amount"))?;
    let refund_fen = amount
        .get("refund")
        .and_then(Value::as_i64)
        .filter(|v| *v > 0)
        .ok_or_else(|| param_error("amount.refund 应为大于0的整数（分）"))?;
    let total_fen = amount
        .get("total")
        .and_then(Value::as_i64)
        .ok_or_else(|| param_error("缺少参数 amount.total"))?;
    let mut store = sim.store();
    let found = if let Some(id) = text(&req, "transaction_id") {
        store
            .trade_by_trade_no(Channel::Wechat, id)?
            .filter(|t| t.paid_at.is_some())
    } else if let Some(no) = text(&req, "out_trade_no") {
        store.trade(Channel::Wechat, no)?
    } else {
        return Err(param_error("transaction_id 和 out_trade_no 必须二选一"));
    };
    let mut t = load(sim, &mut store, found)?
        .ok_or_else(|| wx(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "订单不存在"))?;
    if let Some(prev) = store.refund_by_no(Channel::Wechat, out_refund_no)? {
        if prev.out_trade_no != t.out_trade_no || prev.amount_fen != refund_fen {
            return Err(wx(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "退款单号已使用，且本次请求的订单或金额与原请求不一致",
            ));
        }
        // A retry: the same refund, no money moves.
        return Ok(call.ok(refund_json(&t, &prev)));
    }
    if total_fen != t.amount_fen {
        return Err(wx(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "amount.total 与原订单金额不一致",
        ));
    }
    match t.refund(refund_fen) {
        Ok(()) => {}
        Err(StepError::OverRefund) => {
            return Err(wx(
                StatusCode::FORBIDDEN,
                "NOT_ENOUGH",
                "申请退款金额超过订单可退金额",
            ))
        }
        Err(_) => {
            return Err(wx(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "订单未支付，不能退款",
            ))
        }
    }
    let now = sim.now();
    let r = Refund {
        channel: Channel::Wechat,
        out_trade_no: t.out_trade_no.clone(),
        out_refund_no: out_refund_no.to_owned(),
        refund_id: format!("50{}", random_digits(27)),
        amount_fen: refund_fen,
        reason: text(&req, "reason").unwrap_or_default().to_owned(),
        created_at: now,
    };
    store.record_refund(&t, &r)?;
    Ok(call.ok(refund_json(&t, &r)))
}

/// `GET /v3/refund/domestic/refunds/{out_refund_no}`
pub(crate) async fn query_refund(
    Path(out_refund_no): Path<String>,
    Signed { call, .. }: Signed,
) -> Response {
    let result = (|| {
        let store = call.sim.store();
        let not_found = || wx(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "退款单不存在");
        let r = store
            .refund_by_no(Channel::Wechat, &out_refund_no)?
            .ok_or_else(not_found)?;
        let t = store
            .trade(Channel::Wechat, &r.out_trade_no)?
            .ok_or_else(not_found)?;
        Ok(call.ok(refund_json(&t, &r)))
    })();
    call.finish(result)
}

/// `GET /v3/bill/tradebill?bill_date=&bill_type=`
pub(crate) async fn trade_bill(
    Query(q): Query<BTreeMap<String, String>>,
    Signed { call, .. }: Signed,
) -> Response {
    let result = (|| {
        let sim = &call.sim;
        let date = q
            .get("bill_date")
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .ok_or_else(|| param_error("bill_date 应为 yyyy-MM-dd"))?;
        let bill_type = match q.get("bill_type") {
            None => WechatBillType::All,
            Some(t) => WechatBillType::parse(t)
                .ok_or_else(|| param_error("bill_type 应为 ALL、SUCCESS 或 REFUND"))?,
        };
        // `tar_type=GZIP` answers a .gzip stream; the hash stays the
        // uncompressed bill's.
        let gzip = match q.get("tar_type").map(String::as_str) {
            None | Some("") => false,
            Some("GZIP") => true,
            Some(_) => return Err(param_error("tar_type 只支持 GZIP")),
        };
        let no_bill = || {
            wx(
                StatusCode::BAD_REQUEST,
                "NO_STATEMENT_EXIST",
                "账单文件不存在",
            )
        };
        if date > sim.now().with_timezone(&CHINA).date_naive() {
            return Err(no_bill());
        }
        let file = {
            let store = sim.store();
            bills::wechat_csv(
                &store,
                &sim.keys().wechat_appid,
                &sim.keys().wechat_mchid,
                date,
                bill_type,
            )?
        }
        .ok_or_else(no_bill)?;
        let hash = hex::encode(Sha1::digest(&file));
        let (body, extension) = if gzip {
            (gzip_bytes(&file)?, "csv.gz")
        } else {
            (file, "csv")
        };
        let token = sim.offer_download(Download {
            body,
            content_type: "application/octet-stream",
            file_name: format!(
                "{}_{}.{extension}",
                sim.keys().wechat_mchid,
                date.format("%Y%m%d")
            ),
            expires_at: sim.download_expiry(),
        });
        Ok(call.ok(json!({
            "hash_type": "SHA1",
            "hash_value": hash,
            "download_url": format!("{}/v3/billdownload/file?token={token}", sim.base_url()),
        })))
    })();
    call.finish(result)
}

fn gzip_bytes(raw: &[u8]) -> Result<Vec<u8>, WxError> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(raw)
        .and_then(|()| encoder.finish())
        .map_err(|e| {
            wx(
                StatusCode::INTERNAL_SERVER_ERROR,
                "SYSTEM_ERROR",
                format!("gzip: {e}"),
            )
        })
}

/// `GET /v3/billdownload/file?token=` — signed request, unsigned answer.
pub(crate) async fn download_bill(
    Query(q): Query<BTreeMap<String, String>>,
    Signed { call, .. }: Signed,
) -> Response {
    let Some(d) = q.get("token").and_then(|t| call.sim.take_download(t)) else {
        return call.error(param_error("下载链接无效或已过期"));
    };
    let body = if call.plan == FaultPlan::Garble {
        garble(&d.body)
    } else {
        d.body
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, d.content_type)],
        body,
    )
        .into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn authorization_fields_parse_in_any_order() {
        let a = parse_authorization(
            r#"WECHATPAY2-SHA256-RSA2048 mchid="1900007291",nonce_str="593B",timestamp="1554208460",serial_no="408B",signature="ab+/=""#,
        )
        .unwrap();
        assert_eq!(a["mchid"], "1900007291");
        assert_eq!(a["signature"], "ab+/=");
        let b = parse_authorization(
            r#"WECHATPAY2-SHA256-RSA2048 signature="ab+/=", serial_no="408B",timestamp="1554208460",nonce_str="593B",mchid="1900007291""#,
        )
        .unwrap();
        assert_eq!(a, b);
        assert!(parse_authorization(r#"Bearer mchid="1""#).is_none());
        assert!(parse_authorization(r#"WECHATPAY2-SHA256-RSA2048 mchid=1"#).is_none());
    }
}
