//! The receipt printer (设置 → 打印), reprints and the "not printed — retry"
//! list, and the order lookup a scanned receipt starts.

use shouyin_api::devices::{DeviceSettings, PrintJobDto};
use shouyin_api::{ApiError, Counter, OrderDto};
use tauri::State;

/// Printer and speech settings.
#[tauri::command]
pub async fn device_settings_get(counter: State<'_, Counter>) -> Result<DeviceSettings, ApiError> {
    counter.device_settings().await
}

/// Check and keep printer and speech settings.
#[tauri::command]
pub async fn device_settings_set(
    counter: State<'_, Counter>,
    settings: DeviceSettings,
) -> Result<DeviceSettings, ApiError> {
    counter.device_settings_set(settings).await
}

/// Print a test page on the configured printer.
#[tauri::command]
pub async fn print_test_page(counter: State<'_, Counter>) -> Result<PrintJobDto, ApiError> {
    counter.print_test_page().await
}

/// Print an order's receipt again, marked 重印 REPRINT.
#[tauri::command]
pub async fn receipt_reprint(
    counter: State<'_, Counter>,
    order_no: String,
) -> Result<PrintJobDto, ApiError> {
    counter.receipt_reprint(order_no).await
}

/// Send a job that was not printed once more.
#[tauri::command]
pub async fn print_retry(
    counter: State<'_, Counter>,
    job_id: i64,
) -> Result<PrintJobDto, ApiError> {
    counter.print_retry(job_id).await
}

/// The jobs not printed ("not printed — retry").
#[tauri::command]
pub async fn print_failed(counter: State<'_, Counter>) -> Result<Vec<PrintJobDto>, ApiError> {
    counter.print_failed().await
}

/// The order a scanned receipt or transaction number names.
#[tauri::command]
pub async fn order_lookup(counter: State<'_, Counter>, code: String) -> Result<OrderDto, ApiError> {
    counter.order_lookup(code).await
}

/// Print a closed shift's Z report.
#[tauri::command]
pub async fn z_report_print(
    counter: State<'_, Counter>,
    shift_id: i64,
) -> Result<PrintJobDto, ApiError> {
    counter.z_report_print(shift_id).await
}
