//! The control API (`/_sim/...`): what a test or the customer page uses to
//! play the buyer and to switch faults on and off. Never subject to faults.
//!
//! * `GET /_sim/trades` — every trade, newest first.
//! * `POST /_sim/trades/{out_trade_no}/pay` — the buyer pays (an unscanned
//!   Alipay trade is scanned first). `?channel=alipay|wechat|unionpay` picks the trade
//!   when more than one channel has one with that number.
//! * `POST /_sim/trades/{out_trade_no}/decline` — the buyer gives up; the
//!   trade closes as if it had timed out.
//! * `GET|PUT|DELETE /_sim/faults` — read, patch or clear fault settings.
//! * `POST /_sim/paycodes` with `{"channel":"alipay"|"wechat"|"unionpay","password":
//!   bool,"balance_fen":int?}` — the phone shows a fresh payment code (付款码),
//!   single-use, valid 60 s; answers `{"code": "<digits>", ...}`.
//!   `GET /_sim/paycodes` lists them, newest first.
//! * `POST /_sim/paycodes/{code}/confirm` and `.../decline` — the customer
//!   enters the password on the phone, or gives up. A trade the till has
//!   already cancelled or reversed answers 409.
//! * `GET /_sim/notifications` — payment-notification attempts, oldest
//!   first (the last 1000): out_trade_no, channel, url, attempt, status or
//!   error, delivered, at.
//!
//! Pay and decline answer JSON, or, when posted from the page's forms with a
//! `return_to` field, redirect back to the page.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;

use crate::faults::FaultPatch;
use crate::trade::{china_rfc3339, Channel, CloseReason, Shown, StepError, Trade};
use crate::{SimError, SimState};

/// A trade as the control API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct TradeView {
    pub channel: Channel,
    pub out_trade_no: String,
    pub amount_fen: i64,
    /// created | waiting | paid | part_refunded | refunded | closed
    pub state: Shown,
    pub refunded_fen: i64,
    pub subject: String,
    pub qr_code: String,
    pub created_at: String,
    pub expires_at: String,
    /// `qr` (merchant-presented) or `code` (the customer's payment code).
    pub kind: &'static str,
    /// The customer's code, for a code payment.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub auth_code: String,
    /// Why an unpaid trade closed: timeout, closed, cancelled, declined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close_reason: Option<&'static str>,
    /// A paid trade that a cancel or reverse gave back to the customer.
    pub reversed_after_payment: bool,
}

impl From<&Trade> for TradeView {
    fn from(t: &Trade) -> TradeView {
        TradeView {
            channel: t.channel,
            out_trade_no: t.out_trade_no.clone(),
            amount_fen: t.amount_fen,
            state: t.shown(),
            refunded_fen: t.refunded_fen,
            subject: t.subject.clone(),
            qr_code: t.qr_code.clone(),
            created_at: china_rfc3339(t.created_at),
            expires_at: china_rfc3339(t.expires_at),
            kind: if t.is_code_payment() { "code" } else { "qr" },
            auth_code: t.auth_code.clone(),
            close_reason: t.close_reason.map(CloseReason::as_str),
            reversed_after_payment: t.reversed_after_payment(),
        }
    }
}

fn problem(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

fn internal(e: SimError) -> Response {
    let (status, message) = internal_problem(e);
    problem(status, message)
}

fn internal_problem(e: SimError) -> (StatusCode, String) {
    tracing::error!(error = %e, "control API failed");
    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// Every trade with expiry applied (and saved, so every view agrees).
pub(crate) fn all_trades(sim: &SimState) -> Result<Vec<Trade>, SimError> {
    let now = sim.now();
    let mut store = sim.store();
    let mut trades = store.trades()?;
    for t in &mut trades {
        if t.settle(now) {
            store.update_trade(t)?;
        }
    }
    Ok(trades)
}

pub async fn list_trades(State(sim): State<SimState>) -> Response {
    match all_trades(&sim) {
        Ok(trades) => Json(trades.iter().map(TradeView::from).collect::<Vec<_>>()).into_response(),
        Err(e) => internal(e),
    }
}

/// The buyer's two moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BuyerAction {
    Pay,
    Decline,
}

/// Apply a buyer action to the trade named by `out_trade_no` (and channel).
pub(crate) fn act(
    sim: &SimState,
    out_trade_no: &str,
    channel: Option<Channel>,
    action: BuyerAction,
) -> Result<Trade, (StatusCode, String)> {
    let now = sim.now();
    let mut store = sim.store();
    let mut found = store
        .trades_by_out_trade_no(out_trade_no)
        .map_err(internal_problem)?;
    if found.is_empty() && out_trade_no.contains('_') {
        // UnionPay order numbers are letters and digits only: the merchant's
        // number with `_` finds its UnionPay trade.
        let compact: String = out_trade_no.chars().filter(|c| *c != '_').collect();
        found = store
            .trades_by_out_trade_no(&compact)
            .map_err(internal_problem)?;
        found.retain(|t| t.channel == Channel::Unionpay);
    }
    if let Some(c) = channel {
        found.retain(|t| t.channel == c);
    }
    let mut t = match found.len() {
        0 => return Err((StatusCode::NOT_FOUND, "no such trade".into())),
        1 => found.remove(0),
        _ => {
            return Err((
                StatusCode::CONFLICT,
                "more than one channel has this out_trade_no; add ?channel=alipay, ?channel=wechat or ?channel=unionpay"
                    .into(),
            ))
        }
    };
    t.settle(now);
    let step = match action {
        BuyerAction::Pay => t.pay(now),
        BuyerAction::Decline => {
            // A decline follows a scan: the channel has seen the trade.
            t.scan(now)
                .and_then(|()| t.close(now, CloseReason::Declined))
        }
    };
    // Save even a refused step: expiry may have closed the trade just now.
    store.update_trade(&t).map_err(internal_problem)?;
    drop(store);
    match step {
        Ok(()) => {
            if action == BuyerAction::Pay {
                // Saved first: the merchant may query as soon as it hears.
                crate::notify::trade_paid(sim, &t);
            }
            Ok(t)
        }
        Err(StepError::AlreadyPaid) => {
            Err((StatusCode::CONFLICT, "the trade is already paid".into()))
        }
        Err(StepError::Closed) => Err((
            StatusCode::CONFLICT,
            if t.close_reason == Some(CloseReason::Timeout) {
                "the trade has expired".into()
            } else {
                "the trade is closed".into()
            },
        )),
        Err(e) => Err((StatusCode::CONFLICT, e.to_string())),
    }
}

/// `return_to` from a form post, if it is a local path.
fn return_to(body: &[u8]) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.into_owned())
        .filter(|v| v.starts_with('/') && !v.starts_with("//"))
}

async fn buyer(
    sim: SimState,
    out_trade_no: String,
    q: BTreeMap<String, String>,
    body: Bytes,
    action: BuyerAction,
) -> Response {
    let channel = match q.get("channel") {
        None => None,
        Some(c) => match Channel::parse(c) {
            Some(c) => Some(c),
            None => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    "channel must be alipay, wechat or unionpay",
                )
            }
        },
    };
    let result = act(&sim, &out_trade_no, channel, action);
    if let Some(back) = return_to(&body) {
        // From the page: go back to it whatever happened; it shows the state.
        return Redirect::to(&back).into_response();
    }
    match result {
        Ok(t) => Json(TradeView::from(&t)).into_response(),
        Err((status, message)) => problem(status, message),
    }
}

pub async fn pay(
    State(sim): State<SimState>,
    Path(out_trade_no): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    buyer(sim, out_trade_no, q, body, BuyerAction::Pay).await
}

pub async fn decline(
    State(sim): State<SimState>,
    Path(out_trade_no): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    buyer(sim, out_trade_no, q, body, BuyerAction::Decline).await
}

pub async fn list_notifications(State(sim): State<SimState>) -> Response {
    Json(sim.notifier().attempts()).into_response()
}

pub async fn get_faults(State(sim): State<SimState>) -> Response {
    Json(sim.faults().get()).into_response()
}

pub async fn put_faults(State(sim): State<SimState>, body: Bytes) -> Response {
    let patch: FaultPatch = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return problem(StatusCode::BAD_REQUEST, format!("bad fault settings: {e}")),
    };
    match sim.faults().patch(&patch) {
        Ok(f) => Json(f).into_response(),
        Err(e) => problem(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

pub async fn clear_faults(State(sim): State<SimState>) -> Response {
    sim.faults().clear();
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        Json(sim.faults().get()),
    )
        .into_response()
}

/// The body of `POST /_sim/paycodes`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPayCode {
    pub channel: String,
    #[serde(default)]
    pub password: bool,
    #[serde(default)]
    pub balance_fen: Option<i64>,
}

pub async fn issue_paycode(State(sim): State<SimState>, body: Bytes) -> Response {
    if let Some(back) = return_to(&body) {
        // From the page's form: fields are form-encoded.
        let form: BTreeMap<String, String> =
            url::form_urlencoded::parse(&body).into_owned().collect();
        if let Some(channel) = form.get("channel").and_then(|c| Channel::parse(c)) {
            let balance = form
                .get("balance_fen")
                .and_then(|b| b.trim().parse::<i64>().ok())
                .filter(|b| *b >= 0);
            let password = form
                .get("password")
                .is_some_and(|p| p == "true" || p == "on");
            if let Err(e) = crate::paycode::issue(&sim, channel, password, balance) {
                tracing::error!(error = %e, "cannot issue a payment code");
            }
        }
        return Redirect::to(&back).into_response();
    }
    let req: NewPayCode = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return problem(
                StatusCode::BAD_REQUEST,
                format!("expected {{\"channel\":\"alipay\"|\"wechat\"|\"unionpay\",\"password\":bool,\"balance_fen\":int}}: {e}"),
            )
        }
    };
    let Some(channel) = Channel::parse(&req.channel) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "channel must be alipay, wechat or unionpay",
        );
    };
    if req.balance_fen.is_some_and(|b| b < 0) {
        return problem(StatusCode::BAD_REQUEST, "balance_fen must not be negative");
    }
    match crate::paycode::issue(&sim, channel, req.password, req.balance_fen) {
        Ok(code) => Json(code).into_response(),
        Err(e) => internal(e),
    }
}

pub async fn list_paycodes(State(sim): State<SimState>) -> Response {
    match sim.store().paycodes() {
        Ok(codes) => Json(codes).into_response(),
        Err(e) => internal(e),
    }
}

async fn phone(
    sim: SimState,
    code: String,
    body: Bytes,
    action: crate::paycode::PhoneAction,
) -> Response {
    let result = crate::paycode::act(&sim, &code, action);
    if let Some(back) = return_to(&body) {
        return Redirect::to(&back).into_response();
    }
    match result {
        Ok(t) => Json(TradeView::from(&t)).into_response(),
        Err(crate::paycode::PhoneError::NoSuchCode) => {
            problem(StatusCode::NOT_FOUND, "no such payment code")
        }
        Err(crate::paycode::PhoneError::Sim(e)) => internal(e),
        Err(e) => problem(StatusCode::CONFLICT, e.to_string()),
    }
}

pub async fn confirm_paycode(
    State(sim): State<SimState>,
    Path(code): Path<String>,
    body: Bytes,
) -> Response {
    phone(sim, code, body, crate::paycode::PhoneAction::Confirm).await
}

pub async fn decline_paycode(
    State(sim): State<SimState>,
    Path(code): Path<String>,
    body: Bytes,
) -> Response {
    phone(sim, code, body, crate::paycode::PhoneAction::Decline).await
}
