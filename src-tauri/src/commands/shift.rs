//! Shifts (班次): open with a float, cash in and out, close with a blind count.

use shouyin_api::dto::{Approval, CashMovementDto, CashMovementKind, ShiftDto, ZReportDto};
use shouyin_api::{ApiError, Counter};
use tauri::State;

use crate::access::Caller;

/// Open a shift with the counted float (备用金), in the session user's name.
#[tauri::command]
pub async fn shift_open(
    caller: Caller,
    counter: State<'_, Counter>,
    float: String,
) -> Result<ShiftDto, ApiError> {
    counter.shift_open(caller.name(), float).await
}

/// The open shift, without the expected cash (the count is blind).
#[tauri::command]
pub async fn shift_current(counter: State<'_, Counter>) -> Result<Option<ShiftDto>, ApiError> {
    counter.shift_current().await
}

/// A pay-in (存入) or pay-out (支出); a cashier needs a manager's approval.
#[tauri::command]
pub async fn shift_cash_movement(
    caller: Caller,
    counter: State<'_, Counter>,
    kind: CashMovementKind,
    amount: String,
    reason: String,
    approval: Option<Approval>,
) -> Result<CashMovementDto, ApiError> {
    counter
        .shift_cash_movement_by(&caller.0, kind, amount, reason, approval)
        .await
}

/// Open the drawer without a sale, approved by a manager.
#[tauri::command]
pub async fn cash_drawer_open(
    caller: Caller,
    counter: State<'_, Counter>,
    reason: String,
    approval: Approval,
) -> Result<CashMovementDto, ApiError> {
    counter
        .cash_drawer_open(caller.name(), reason, approval)
        .await
}

/// Close the shift: the counted cash goes in first, the Z report comes back.
#[tauri::command]
pub async fn shift_close(
    caller: Caller,
    counter: State<'_, Counter>,
    counted: String,
) -> Result<ZReportDto, ApiError> {
    counter.shift_close(counted, caller.name()).await
}

/// A closed shift's Z report as receipt text.
#[tauri::command]
pub async fn shift_report_text(
    counter: State<'_, Counter>,
    shift_id: i64,
) -> Result<String, ApiError> {
    counter.shift_report_text(shift_id).await
}
