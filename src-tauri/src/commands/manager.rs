//! Staff at the till: PIN login and the window's session, the first
//! manager of a new store, manager approvals (店长授权) and the actions that
//! need one (refund, void, manual confirmation).

use serde_json::Value;
use shouyin_api::dto::{
    Approval, AuditEntryDto, ManualConfirmRequest, RefundCreateRequest, RefundDto, UserDto,
};
use shouyin_api::{ApiError, Counter, OrderDto};
use tauri::{Runtime, State, Webview};

use crate::access::{Caller, Sessions};

/// The users of this till, for the login screen's list.
#[tauri::command]
pub async fn users_list(counter: State<'_, Counter>) -> Result<Vec<UserDto>, ApiError> {
    counter.users_list().await
}

/// Log in with a PIN (wrong PINs count towards a lock); the user becomes
/// this window's session.
#[tauri::command]
pub async fn user_login<R: Runtime>(
    webview: Webview<R>,
    sessions: State<'_, Sessions>,
    counter: State<'_, Counter>,
    name: String,
    pin: String,
) -> Result<UserDto, ApiError> {
    let user = counter.user_login(name, pin).await?;
    sessions.log_in(webview.label(), user.clone());
    Ok(user)
}

/// End this window's session.
#[tauri::command]
pub fn user_logout<R: Runtime>(webview: Webview<R>, sessions: State<'_, Sessions>) {
    sessions.log_out(webview.label());
}

/// Who is logged in at this window, if anyone (the UI after a reload).
#[tauri::command]
pub fn session_get<R: Runtime>(
    webview: Webview<R>,
    sessions: State<'_, Sessions>,
) -> Option<UserDto> {
    sessions.get(webview.label())
}

/// A new store's first manager, who is then logged in at this window.
/// Refused once the till has any user.
#[tauri::command]
pub async fn setup_first_manager<R: Runtime>(
    webview: Webview<R>,
    sessions: State<'_, Sessions>,
    counter: State<'_, Counter>,
    name: String,
    pin: String,
    pin_again: String,
) -> Result<UserDto, ApiError> {
    let user = counter.setup_first_manager(name, pin, pin_again).await?;
    sessions.log_in(webview.label(), user.clone());
    Ok(user)
}

/// A real store's first start: store, terminal, business day and the
/// first manager, who is then logged in on this window.
#[tauri::command]
pub async fn setup_store<R: Runtime>(
    webview: Webview<R>,
    sessions: State<'_, Sessions>,
    counter: State<'_, Counter>,
    req: shouyin_api::roles::StoreSetupRequest,
) -> Result<UserDto, ApiError> {
    let user = counter.setup_store(req).await?;
    sessions.log_in(webview.label(), user.clone());
    Ok(user)
}

/// Record a manager-approved change that has no record of its own (a
/// setting); the approval is checked now, the actor is the session's user.
#[tauri::command]
pub async fn audit_approved(
    caller: Caller,
    counter: State<'_, Counter>,
    action: String,
    detail: Value,
    approval: Approval,
) -> Result<AuditEntryDto, ApiError> {
    counter
        .audit_approved(caller.name(), action, detail, approval)
        .await
}

/// Refund (part of) a paid order, asked for by the session's user.
#[tauri::command]
pub async fn refund_create(
    caller: Caller,
    counter: State<'_, Counter>,
    req: RefundCreateRequest,
    approval: Approval,
) -> Result<RefundDto, ApiError> {
    let req = RefundCreateRequest {
        requested_by: caller.name(),
        ..req
    };
    counter.refund_create(req, approval).await
}

/// Refund everything still refundable on an order (撤销).
#[tauri::command]
pub async fn order_void(
    caller: Caller,
    counter: State<'_, Counter>,
    order_no: String,
    reason: Option<String>,
    approval: Approval,
) -> Result<RefundDto, ApiError> {
    counter
        .order_void(order_no, caller.name(), reason, approval)
        .await
}

/// An order's refunds, oldest first.
#[tauri::command]
pub async fn refunds_for_order(
    counter: State<'_, Counter>,
    order_no: String,
) -> Result<Vec<RefundDto>, ApiError> {
    counter.refunds_for_order(order_no).await
}

/// A manager records a payment the channel cannot confirm now (待核实).
#[tauri::command]
pub async fn order_confirm_manually(
    caller: Caller,
    counter: State<'_, Counter>,
    req: ManualConfirmRequest,
    approval: Approval,
) -> Result<OrderDto, ApiError> {
    let req = ManualConfirmRequest {
        cashier: caller.name(),
        ..req
    };
    counter.order_confirm_manually(req, approval).await
}

/// A manager settles a manual confirmation (待核实) from the Orders screen:
/// verified by the channel's own answer, or written off with a reason. An
/// imported bill alone never settles one.
#[tauri::command]
pub async fn order_settle_unverified(
    counter: State<'_, Counter>,
    order_no: String,
    write_off_reason: Option<String>,
    approval: Approval,
) -> Result<OrderDto, ApiError> {
    counter
        .order_settle_unverified(order_no, write_off_reason, approval)
        .await
}

/// Ask the channel again about an order (Reconcile's "look it up" advice,
/// a late payment suspected): the channel's answer is the truth.
#[tauri::command]
pub async fn order_recheck(
    counter: State<'_, Counter>,
    order_no: String,
) -> Result<OrderDto, ApiError> {
    counter.order_recheck(order_no).await
}
