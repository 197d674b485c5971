//! UnionPay 全渠道 ACP 5.1.0, the back-end gateway: `POST
//! /gateway/api/backTransReq.do` (申码 01/07, 被扫 01/06, 消费撤销 31/00,
//! 退货 04/00, 冲正 99/01) and `POST /gateway/api/queryTrans.do` (00/00).
//!
//! Requests are forms signed by the merchant (`signMethod=01`: SHA256withRSA
//! over the lowercase hex SHA-256 of the sorted `k=v&…` text, `certId` = the
//! merchant certificate's serial). Answers are forms signed the same way by
//! UnionPay's signing key, with its certificate in `signPubKeyCert`.
//!
//! Trades are kept under their `orderId`; a refund, cancel or reversal has
//! its own `orderId` and is kept as a refund of its trade.
//!
//! Codes (docs/PROTOCOLS.md §10): `00` done; `03` system busy (nothing
//! done; the `error` fault); `05` in progress (a code payment waiting for
//! the password, a QR not paid yet); `34` no such trade. The simulator's
//! own choices for refusals: `10` bad request, `11` bad signature (unsigned),
//! `12` an orderId used for another request, `31` not allowed now, `51`
//! balance too low, `60` payment code unknown, used or expired, `61` more
//! than is left to refund.
//!
//! Policies where the documents leave room: a reversal (冲正) ends an unpaid
//! trade at any time but gives back a paid one only within
//! [`REVERSAL_WINDOW`] of it; a cancel (消费撤销) only on the Beijing day of
//! the payment; a query finds a transaction by `orderId` alone.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::{DateTime, Datelike, NaiveDateTime, TimeZone, Utc};
use sha2::{Digest, Sha256};

use crate::faults::{garble, FaultPlan};
use crate::paycode::{self, CodeRefusal};
use crate::sign::{sign_base64, verify_base64};
use crate::trade::{random_digits, Channel, CloseReason, Phase, Refund, StepError, Trade, CHINA};
use crate::unionpay_bill::{UnionpayBillRow, UnionpayTxn};
use crate::{SimError, SimState};

/// How long after a payment a reversal still gives the money back.
pub const REVERSAL_WINDOW: chrono::Duration = chrono::Duration::minutes(10);
/// An applied QR without `payTimeout` stays payable this long.
const DEFAULT_TIMEOUT: chrono::Duration = chrono::Duration::hours(2);

type Fields = BTreeMap<String, String>;

/// A signed answer: code, message and extra fields.
struct Reply {
    code: &'static str,
    msg: String,
    extra: Vec<(&'static str, String)>,
}

fn reply(code: &'static str, msg: impl Into<String>) -> Reply {
    Reply {
        code,
        msg: msg.into(),
        extra: Vec::new(),
    }
}

fn ok(extra: Vec<(&'static str, String)>) -> Reply {
    Reply {
        code: "00",
        msg: "成功[0000000]".into(),
        extra,
    }
}

impl From<SimError> for Reply {
    fn from(e: SimError) -> Reply {
        tracing::error!(error = %e, "unionpay handler failed");
        reply("03", "系统繁忙")
    }
}

fn sign_content(fields: &Fields) -> String {
    fields
        .iter()
        .filter(|(k, _)| k.as_str() != "signature")
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn digest_hex(fields: &Fields) -> String {
    hex::encode(Sha256::digest(sign_content(fields).as_bytes()))
}

fn txn_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&CHINA).format("%Y%m%d%H%M%S").to_string()
}

fn parse_txn_time(s: &str) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S").ok()?;
    CHINA
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

fn form(fields: &Fields) -> Vec<u8> {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields.iter())
        .finish()
        .into_bytes()
}

fn respond(body: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded;charset=UTF-8",
        )],
        body,
    )
        .into_response()
}

/// An answer the gateway cannot sign for this merchant (unknown merchant,
/// bad signature): unsigned, as a refusal before any business.
fn unsigned(plan: FaultPlan, code: &str, msg: &str) -> Response {
    let mut f = Fields::new();
    f.insert("respCode".into(), code.into());
    f.insert("respMsg".into(), msg.into());
    let body = form(&f);
    respond(if plan == FaultPlan::Garble {
        garble(&body)
    } else {
        body
    })
}

/// Sign and send `r` as the answer to `req`.
fn signed(sim: &SimState, req: &Fields, r: Reply, plan: FaultPlan) -> Response {
    let mut f = Fields::new();
    for k in [
        "version",
        "encoding",
        "signMethod",
        "txnType",
        "txnSubType",
        "bizType",
        "accessType",
        "merId",
        "orderId",
        "txnTime",
    ] {
        if let Some(v) = req.get(k) {
            f.insert(k.into(), v.clone());
        }
    }
    f.insert("respCode".into(), r.code.into());
    f.insert("respMsg".into(), r.msg);
    for (k, v) in r.extra {
        f.insert(k.into(), v);
    }
    let pki = &sim.keys().unionpay_pki;
    let cert = match sim.faults().get().unionpay_cert.as_deref() {
        Some("expired") => &pki.expired_cert_pem,
        Some("untrusted") => &pki.rogue_cert_pem,
        Some("wrong_owner") => &pki.wrong_owner_cert_pem,
        _ => &pki.sign_cert_pem,
    };
    f.insert("signPubKeyCert".into(), cert.clone());
    let mut digest = digest_hex(&f);
    if plan == FaultPlan::BadSignature {
        // A valid signature, over other content.
        digest.push('x');
    }
    let signature = match sign_base64(&sim.keys().unionpay_sign_private, digest.as_bytes()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "unionpay signing failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "signing failed").into_response();
        }
    };
    f.insert("signature".into(), signature);
    let body = form(&f);
    respond(if plan == FaultPlan::Garble {
        garble(&body)
    } else {
        body
    })
}

/// Read and authenticate a request; `Err` is the code and message of the
/// unsigned refusal to send at once.
fn open(sim: &SimState, body: &[u8]) -> Result<Fields, (&'static str, &'static str)> {
    let req: Fields = url::form_urlencoded::parse(body).into_owned().collect();
    if req.get("merId") != Some(&sim.keys().unionpay_mer_id) {
        return Err(("10", "商户号不存在"));
    }
    if req.get("version").map(String::as_str) != Some("5.1.0")
        || req.get("signMethod").map(String::as_str) != Some("01")
    {
        return Err(("10", "version 5.1.0 with signMethod 01 only"));
    }
    let signature = req.get("signature").map(String::as_str).unwrap_or("");
    let keys = sim.keys();
    if req.get("certId") != Some(&keys.unionpay_merchant_cert_id)
        || !verify_base64(
            &keys.unionpay_merchant_public,
            digest_hex(&req).as_bytes(),
            signature,
        )
    {
        return Err(("11", "验证签名失败"));
    }
    Ok(req)
}

fn field<'a>(req: &'a Fields, key: &str) -> Result<&'a str, Reply> {
    req.get(key)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| reply("10", format!("缺少参数 {key}")))
}

fn order_id(req: &Fields) -> Result<&str, Reply> {
    let id = field(req, "orderId")?;
    if !(8..=40).contains(&id.len()) || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(reply("10", "orderId 应为8-40位字母或数字"));
    }
    Ok(id)
}

fn amount(req: &Fields) -> Result<i64, Reply> {
    field(req, "txnAmt")?
        .parse::<i64>()
        .ok()
        .filter(|a| *a > 0 && *a <= 10_000_000_000)
        .ok_or_else(|| reply("10", "txnAmt 应为正整数（分）"))
}

fn query_id(now: DateTime<Utc>) -> String {
    format!("{}{}", txn_time(now), random_digits(7))
}

/// `POST /gateway/api/backTransReq.do`
pub async fn back_trans(
    State(sim): State<SimState>,
    plan: Option<Extension<FaultPlan>>,
    body: Bytes,
) -> Response {
    let plan = plan.map(|p| p.0).unwrap_or_default();
    let req = match open(&sim, &body) {
        Ok(r) => r,
        Err((code, msg)) => return unsigned(plan, code, msg),
    };
    if plan == FaultPlan::Error {
        let code = sim.faults().get().error_code;
        let r = match code.as_deref() {
            Some("04") => reply("04", "交易状态未明"),
            Some("05") => reply("05", "交易处理中"),
            _ => reply("03", "交易通讯超时，请发起查询交易"),
        };
        return signed(&sim, &req, r, plan);
    }
    let kind = (
        req.get("txnType").map(String::as_str).unwrap_or(""),
        req.get("txnSubType").map(String::as_str).unwrap_or(""),
    );
    let r = match kind {
        ("01", "07") => apply_qr(&sim, &req),
        ("01", "06") => pay_by_code(&sim, &req),
        ("99", "01") => reverse(&sim, &req),
        ("31", "00") => cancel(&sim, &req),
        ("04", "00") => refund(&sim, &req),
        _ => Err(reply("10", "不支持的交易类型")),
    };
    signed(&sim, &req, r.unwrap_or_else(|e| e), plan)
}

/// `POST /gateway/api/queryTrans.do`
pub async fn query_trans(
    State(sim): State<SimState>,
    plan: Option<Extension<FaultPlan>>,
    body: Bytes,
) -> Response {
    let plan = plan.map(|p| p.0).unwrap_or_default();
    let req = match open(&sim, &body) {
        Ok(r) => r,
        Err((code, msg)) => return unsigned(plan, code, msg),
    };
    if plan == FaultPlan::Error {
        return signed(&sim, &req, reply("03", "系统繁忙，请稍后查询"), plan);
    }
    let r = query(&sim, &req).unwrap_or_else(|e| e);
    signed(&sim, &req, r, plan)
}

type Step = Result<Reply, Reply>;

fn query(sim: &SimState, req: &Fields) -> Step {
    let id = order_id(req)?;
    let now = sim.now();
    let mut store = sim.store();
    if let Some(mut t) = store.trade(Channel::Unionpay, id)? {
        if t.settle(now) {
            store.update_trade(&t)?;
        }
        let (code, msg) = match t.phase {
            Phase::Paid => ("00", "成功[0000000]"),
            Phase::Created | Phase::Waiting => ("05", "交易处理中"),
            Phase::Closed => ("01", "交易失败：订单已关闭"),
        };
        return Ok(ok(vec![
            ("origRespCode", code.into()),
            ("origRespMsg", msg.into()),
            ("queryId", t.trade_no.clone()),
            ("txnAmt", t.amount_fen.to_string()),
            ("origTxnTime", txn_time(t.created_at)),
            ("currencyCode", "156".into()),
        ]));
    }
    if let Some(r) = store.refund_by_no(Channel::Unionpay, id)? {
        return Ok(ok(vec![
            ("origRespCode", "00".into()),
            ("origRespMsg", "成功[0000000]".into()),
            ("queryId", r.refund_id.clone()),
            ("txnAmt", r.amount_fen.to_string()),
            ("origTxnTime", txn_time(r.created_at)),
            ("currencyCode", "156".into()),
        ]));
    }
    Err(reply("34", "查无此交易"))
}

/// 申码: a QR the customer scans with 云闪付 or a bank app.
fn apply_qr(sim: &SimState, req: &Fields) -> Step {
    let id = order_id(req)?;
    let amount = amount(req)?;
    let now = sim.now();
    let created_at =
        parse_txn_time(field(req, "txnTime")?).ok_or_else(|| reply("10", "txnTime 格式错误"))?;
    let expires_at = match req.get("payTimeout").filter(|v| !v.is_empty()) {
        None => now + DEFAULT_TIMEOUT,
        Some(v) => {
            let at = parse_txn_time(v).ok_or_else(|| reply("10", "payTimeout 格式错误"))?;
            if at <= now {
                return Err(reply("10", "payTimeout 早于当前时间"));
            }
            at
        }
    };
    let fingerprint = format!("qr|{amount}|{}", txn_time(created_at));
    let mut store = sim.store();
    if let Some(mut t) = store.trade(Channel::Unionpay, id)? {
        if t.settle(now) {
            store.update_trade(&t)?;
        }
        if t.fingerprint != fingerprint {
            return Err(reply("12", "重复交易：订单号已被使用"));
        }
        // The same request again: the same code, whatever became of it.
        return Ok(ok(vec![("qrCode", t.qr_code.clone())]));
    }
    let t = Trade {
        channel: Channel::Unionpay,
        out_trade_no: id.to_owned(),
        trade_no: query_id(now),
        qr_code: format!("https://qr.95516.com/00010000/62{}", random_digits(18)),
        amount_fen: amount,
        subject: "银联二维码支付".into(),
        store_id: String::new(),
        operator_id: String::new(),
        terminal_id: req.get("termId").cloned().unwrap_or_default(),
        attach: String::new(),
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
        notify_url: String::new(),
        auth_code: String::new(),
    };
    store.insert_trade(&t)?;
    Ok(ok(vec![("qrCode", t.qr_code)]))
}

/// 被扫: the customer's code. Paid at once (`00`) or waiting for the
/// password (`05`, query later).
fn pay_by_code(sim: &SimState, req: &Fields) -> Step {
    let id = order_id(req)?;
    let amount = amount(req)?;
    let code = field(req, "qrNo")?;
    let now = sim.now();
    let order = paycode::CodeOrder {
        channel: Channel::Unionpay,
        out_trade_no: id.to_owned(),
        auth_code: code.to_owned(),
        amount_fen: amount,
        subject: "银联二维码支付".into(),
        store_id: String::new(),
        terminal_id: req.get("termId").cloned().unwrap_or_default(),
        operator_id: String::new(),
        trade_no: query_id(now),
        window: paycode::UNIONPAY_PASSWORD_WINDOW,
    };
    match paycode::pay(sim, &order, now)? {
        Ok(t) => Ok(match t.phase {
            Phase::Paid => ok(vec![
                ("queryId", t.trade_no.clone()),
                ("txnAmt", t.amount_fen.to_string()),
            ]),
            Phase::Closed => reply("01", "交易失败：订单已关闭"),
            Phase::Created | Phase::Waiting => Reply {
                code: "05",
                msg: "交易处理中，请等待用户输入密码".into(),
                extra: vec![("queryId", t.trade_no.clone())],
            },
        }),
        Err(CodeRefusal::Unknown) => Err(reply("60", "付款码无效，请顾客刷新后重新扫码")),
        Err(CodeRefusal::Used) => Err(reply("60", "付款码已使用，请顾客刷新后重新扫码")),
        Err(CodeRefusal::Expired) => Err(reply("60", "付款码已过期，请顾客刷新后重新扫码")),
        Err(CodeRefusal::NotEnough) => Err(reply("51", "余额不足")),
        Err(CodeRefusal::OutTradeNoUsed) => Err(reply("12", "重复交易：订单号已被使用")),
    }
}

/// Give back all that is left of a paid trade, as a refund row numbered
/// `number` (the reversal's or cancel's own orderId).
fn give_back(
    store: &mut crate::store::Store,
    t: &mut Trade,
    number: &str,
    why: &str,
    now: DateTime<Utc>,
) -> Result<(), Reply> {
    let left = t.refundable_fen();
    if t.cancel_action.is_none() {
        t.cancel_action = Some("refund".into());
    }
    if left > 0 {
        t.refund(left).map_err(|_| reply("03", "系统繁忙"))?;
        let r = Refund {
            channel: Channel::Unionpay,
            out_trade_no: t.out_trade_no.clone(),
            out_refund_no: number.to_owned(),
            refund_id: query_id(now),
            amount_fen: left,
            reason: why.into(),
            created_at: now,
        };
        store.record_refund(t, &r)?;
    } else {
        store.update_trade(t)?;
    }
    Ok(())
}

/// 冲正 by `origOrderId`: an unpaid trade ends; a paid one is given back
/// within [`REVERSAL_WINDOW`]. `origRespCode` says which (`00`: it had been
/// paid).
fn reverse(sim: &SimState, req: &Fields) -> Step {
    let own = order_id(req)?;
    let orig = field(req, "origOrderId")?;
    let now = sim.now();
    let mut store = sim.store();
    let Some(mut t) = store.trade(Channel::Unionpay, orig)? else {
        return Err(reply("34", "查无此交易"));
    };
    t.settle(now);
    match t.phase {
        Phase::Created | Phase::Waiting => {
            t.close(now, CloseReason::Cancelled)
                .map_err(|_| reply("03", "系统繁忙"))?;
            t.cancel_action = Some("close".into());
            store.update_trade(&t)?;
        }
        Phase::Paid if t.cancel_action.as_deref() == Some("refund") => {}
        Phase::Paid => {
            let paid_at = t.paid_at.unwrap_or(t.created_at);
            if now - paid_at > REVERSAL_WINDOW {
                return Err(reply("31", "已超过冲正时限，请发起撤销或退货"));
            }
            give_back(&mut store, &mut t, own, "冲正", now)?;
        }
        Phase::Closed => {}
    }
    let was_paid = t.phase == Phase::Paid;
    Ok(ok(vec![
        ("origRespCode", if was_paid { "00" } else { "01" }.into()),
        ("origOrderId", orig.to_owned()),
    ]))
}

/// 消费撤销 by `origQryId`: a paid trade given back in full, on its own day.
fn cancel(sim: &SimState, req: &Fields) -> Step {
    let own = order_id(req)?;
    let orig = field(req, "origQryId")?;
    let now = sim.now();
    let mut store = sim.store();
    let Some(mut t) = store.trade_by_trade_no(Channel::Unionpay, orig)? else {
        return Err(reply("34", "查无此交易"));
    };
    if t.phase != Phase::Paid {
        return Err(reply("31", "原交易未成功，不能撤销"));
    }
    if t.cancel_action.as_deref() == Some("refund") {
        return Ok(ok(vec![("origQryId", orig.to_owned())]));
    }
    let day = |x: DateTime<Utc>| x.with_timezone(&CHINA).date_naive();
    if day(t.paid_at.unwrap_or(t.created_at)) != day(now) {
        return Err(reply("31", "只能撤销当日交易，请发起退货"));
    }
    if t.refunded_fen > 0 {
        return Err(reply("31", "已退货的交易不能撤销"));
    }
    give_back(&mut store, &mut t, own, "消费撤销", now)?;
    Ok(ok(vec![("origQryId", orig.to_owned())]))
}

/// 退货 by `origQryId`, numbered by its own orderId.
fn refund(sim: &SimState, req: &Fields) -> Step {
    let own = order_id(req)?;
    let orig = field(req, "origQryId")?;
    let amount = amount(req)?;
    let now = sim.now();
    let mut store = sim.store();
    if let Some(prev) = store.refund_by_no(Channel::Unionpay, own)? {
        let same = store
            .trade(Channel::Unionpay, &prev.out_trade_no)?
            .is_some_and(|t| t.trade_no == orig)
            && prev.amount_fen == amount;
        return Err(if same {
            // A repeat: nothing moves; the refund's query says where it is.
            reply("12", "重复交易")
        } else {
            reply("12", "重复交易：订单号已被使用")
        });
    }
    let Some(mut t) = store.trade_by_trade_no(Channel::Unionpay, orig)? else {
        return Err(reply("34", "查无此交易"));
    };
    match t.refund(amount) {
        Ok(()) => {}
        Err(StepError::OverRefund) => return Err(reply("61", "退货金额超过原交易可退金额")),
        Err(_) => return Err(reply("31", "原交易未成功，不能退货")),
    }
    let r = Refund {
        channel: Channel::Unionpay,
        out_trade_no: t.out_trade_no.clone(),
        out_refund_no: own.to_owned(),
        refund_id: query_id(now),
        amount_fen: amount,
        reason: "退货".into(),
        created_at: now,
    };
    store.record_refund(&t, &r)?;
    Ok(ok(vec![
        ("queryId", r.refund_id),
        ("origQryId", orig.to_owned()),
        ("txnAmt", amount.to_string()),
    ]))
}

/// `POST /filedownload/` (UnionPay's `filedownload.95516.com`): 文件传输,
/// `txnType` 76 with `fileType` 00 and `settleDate` `MMDD`. The answer's
/// `fileContent` is the day's reconciliation zip, zlib-compressed and
/// base64-encoded, named by `fileName`. A day is Beijing midnight to
/// midnight; the year is the latest one not after today.
pub async fn file_transfer(
    State(sim): State<SimState>,
    plan: Option<Extension<FaultPlan>>,
    body: Bytes,
) -> Response {
    let plan = plan.map(|p| p.0).unwrap_or_default();
    let req = match open(&sim, &body) {
        Ok(r) => r,
        Err((code, msg)) => return unsigned(plan, code, msg),
    };
    if plan == FaultPlan::Error {
        return signed(&sim, &req, reply("03", "系统繁忙，请稍后重试"), plan);
    }
    let r = bill_file(&sim, &req).unwrap_or_else(|e| e);
    signed(&sim, &req, r, plan)
}

fn bill_file(sim: &SimState, req: &Fields) -> Step {
    if req.get("txnType").map(String::as_str) != Some("76") {
        return Err(reply("10", "文件传输 txnType 应为 76"));
    }
    if req.get("fileType").map(String::as_str) != Some("00") {
        return Err(reply("10", "只支持 fileType 00"));
    }
    let mmdd = field(req, "settleDate")?;
    let today = sim.now().with_timezone(&CHINA).date_naive();
    let date = [today.year(), today.year() - 1]
        .into_iter()
        .filter_map(|y| chrono::NaiveDate::parse_from_str(&format!("{y}{mmdd}"), "%Y%m%d").ok())
        .find(|d| *d <= today)
        .ok_or_else(|| reply("10", "settleDate 应为 MMDD"))?;
    let midnight = |d: chrono::NaiveDate| {
        CHINA
            .from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    };
    let (Some(from), Some(to)) = (midnight(date), date.succ_opt().and_then(midnight)) else {
        return Err(reply("10", "settleDate 无效"));
    };
    let rows = {
        let store = sim.store();
        let mut rows = Vec::new();
        for t in store.paid_between(Channel::Unionpay, from, to)? {
            rows.push(UnionpayBillRow {
                txn: UnionpayTxn::Consume,
                txn_sub_type: if t.is_code_payment() { "06" } else { "07" }.into(),
                order_id: t.out_trade_no.clone(),
                query_id: t.trade_no.clone(),
                amount_fen: t.amount_fen,
                txn_time: t.paid_at.unwrap_or(t.created_at),
                orig_query_id: None,
                orig_order_id: None,
                orig_txn_time: None,
            });
        }
        for r in store.refunds_between(Channel::Unionpay, from, to)? {
            let Some(t) = store.trade(Channel::Unionpay, &r.out_trade_no)? else {
                continue;
            };
            let txn = match r.reason.as_str() {
                "冲正" => UnionpayTxn::Reversal,
                "消费撤销" => UnionpayTxn::Cancel,
                _ => UnionpayTxn::Refund,
            };
            rows.push(UnionpayBillRow {
                txn,
                txn_sub_type: "00".into(),
                order_id: r.out_refund_no.clone(),
                query_id: r.refund_id.clone(),
                amount_fen: r.amount_fen,
                txn_time: r.created_at,
                orig_query_id: Some(t.trade_no.clone()),
                orig_order_id: Some(t.out_trade_no.clone()),
                orig_txn_time: t.paid_at,
            });
        }
        rows.sort_by_key(|r| r.txn_time);
        rows
    };
    let mer_id = &sim.keys().unionpay_mer_id;
    let zip = crate::unionpay_bill::render_unionpay_bill(date, mer_id, &rows)?;
    Ok(ok(vec![
        ("fileName", crate::unionpay_bill::file_name(mer_id, date)),
        ("fileContent", crate::unionpay_bill::file_content(&zip)?),
        ("settleDate", mmdd.to_owned()),
        ("fileType", "00".into()),
    ]))
}
