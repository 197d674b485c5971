//! Shifts (班次): open with a float, cash in and out, close with a blind count.

use shouyin_api::dto::{Approval, CashMovementDto, CashMovementKind, ShiftDto, ZReportDto};
use shouyin_api::{ApiError, Counter};
use tauri::State;

/// Open a shift with the counted float (备用金).
#[tauri::command]
pub async fn shift_open(
    counter: State<'_, Counter>,
    cashier: String,
    float: String,
) -> Result<ShiftDto, ApiError> {
    counter.shift_open(cashier, float).await
}

/// The open shift, without the expected cash (the count is blind).
#[tauri::command]
pub async fn shift_current(counter: State<'_, Counter>) -> Result<Option<ShiftDto>, ApiError> {
    counter.shift_current().await
}

/// A pay-in (存入) or pay-out (支出); a pay-out needs an approval.
#[tauri::command]
pub async fn shift_cash_movement(
    counter: State<'_, Counter>,
    kind: CashMovementKind,
    amount: String,
    reason: String,
    actor: String,
    approval: Option<Approval>,
) -> Result<CashMovementDto, ApiError> {
    counter
        .shift_cash_movement(kind, amount, reason, actor, approval)
        .await
}

/// Open the drawer without a sale, approved by a manager.
#[tauri::command]
pub async fn cash_drawer_open(
    counter: State<'_, Counter>,
    actor: String,
    reason: String,
    approval: Approval,
) -> Result<CashMovementDto, ApiError> {
    counter.cash_drawer_open(actor, reason, approval).await
}

/// Close the shift: the counted cash goes in first, the Z report comes back.
#[tauri::command]
pub async fn shift_close(
    counter: State<'_, Counter>,
    counted: String,
    closed_by: String,
) -> Result<ZReportDto, ApiError> {
    counter.shift_close(counted, closed_by).await
}

/// A closed shift's Z report as receipt text.
#[tauri::command]
pub async fn shift_report_text(
    counter: State<'_, Counter>,
    shift_id: i64,
) -> Result<String, ApiError> {
    counter.shift_report_text(shift_id).await
}
