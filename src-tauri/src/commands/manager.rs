//! Staff at the till: PIN login, manager approvals (店长授权) and the
//! actions that need one (refund, void, manual confirmation).

use serde_json::Value;
use shouyin_api::dto::{
    Approval, AuditEntryDto, ManualConfirmRequest, RefundCreateRequest, RefundDto, UserDto,
};
use shouyin_api::{ApiError, Counter, OrderDto};
use tauri::State;

/// The users of this till, for the login screen's list.
#[tauri::command]
pub async fn users_list(counter: State<'_, Counter>) -> Result<Vec<UserDto>, ApiError> {
    counter.users_list().await
}

/// Log in with a PIN; wrong PINs count towards a lock.
#[tauri::command]
pub async fn user_login(
    counter: State<'_, Counter>,
    name: String,
    pin: String,
) -> Result<UserDto, ApiError> {
    counter.user_login(name, pin).await
}

/// Record a manager-approved change that has no record of its own (a
/// setting); the approval is checked now.
#[tauri::command]
pub async fn audit_approved(
    counter: State<'_, Counter>,
    actor: String,
    action: String,
    detail: Value,
    approval: Approval,
) -> Result<AuditEntryDto, ApiError> {
    counter
        .audit_approved(actor, action, detail, approval)
        .await
}

/// Refund (part of) a paid order.
#[tauri::command]
pub async fn refund_create(
    counter: State<'_, Counter>,
    req: RefundCreateRequest,
    approval: Approval,
) -> Result<RefundDto, ApiError> {
    counter.refund_create(req, approval).await
}

/// Refund everything still refundable on an order (撤销).
#[tauri::command]
pub async fn order_void(
    counter: State<'_, Counter>,
    order_no: String,
    requested_by: String,
    reason: Option<String>,
    approval: Approval,
) -> Result<RefundDto, ApiError> {
    counter
        .order_void(order_no, requested_by, reason, approval)
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
    counter: State<'_, Counter>,
    req: ManualConfirmRequest,
    approval: Approval,
) -> Result<OrderDto, ApiError> {
    counter.order_confirm_manually(req, approval).await
}
