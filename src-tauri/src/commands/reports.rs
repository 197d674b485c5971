//! The office's screens: takings, exports and reconciliation.

use std::path::PathBuf;

use shouyin_api::export::{ExportProgressDto, ExportRequest, ExportResultDto};
use shouyin_api::reconcile::{ReconcileReportDto, ReconcileRequest};
use shouyin_api::reports::{DailyReportDto, RangeReportDto};
use shouyin_api::{ApiError, Counter};
use tauri::{AppHandle, Emitter, Runtime, State};

/// The event the export's progress callback feeds, for the progress bar.
pub const EXPORT_PROGRESS_EVENT: &str = "export_progress";

/// A business day's takings (YYYY-MM-DD).
#[tauri::command]
pub async fn reports_daily(
    counter: State<'_, Counter>,
    date: String,
) -> Result<DailyReportDto, ApiError> {
    counter.reports_daily(date).await
}

/// One row per business day of a range, plus totals.
#[tauri::command]
pub async fn reports_range(
    counter: State<'_, Counter>,
    from: String,
    to: String,
) -> Result<RangeReportDto, ApiError> {
    counter.reports_range(from, to).await
}

/// Progress goes to the UI as events; a window that is gone misses nothing
/// that matters, the result still comes back.
fn progress_to<R: Runtime>(app: AppHandle<R>) -> impl FnMut(ExportProgressDto) + Send + 'static {
    move |p| {
        let _ = app.emit(EXPORT_PROGRESS_EVENT, p);
    }
}

/// Export a range as CSV to `path`.
#[tauri::command]
pub async fn export_csv<R: Runtime>(
    app: AppHandle<R>,
    counter: State<'_, Counter>,
    path: PathBuf,
    req: ExportRequest,
) -> Result<ExportResultDto, ApiError> {
    counter.export_csv(path, req, progress_to(app)).await
}

/// Export a range as XLSX to `path`.
#[tauri::command]
pub async fn export_xlsx<R: Runtime>(
    app: AppHandle<R>,
    counter: State<'_, Counter>,
    path: PathBuf,
    req: ExportRequest,
) -> Result<ExportResultDto, ApiError> {
    counter.export_xlsx(path, req, progress_to(app)).await
}

/// Open the folder of a file this till exported in the desktop's file
/// manager (`$SHOUYIN_FOLDER_OPENER`, else `xdg-open`). The path must be one
/// the till wrote; the folder opened is its own. Answers the folder.
#[tauri::command]
pub async fn export_open_folder(
    counter: State<'_, Counter>,
    path: String,
) -> Result<String, ApiError> {
    let folder = counter.export_folder(&path)?;
    let opener = std::env::var("SHOUYIN_FOLDER_OPENER").unwrap_or_else(|_| "xdg-open".to_owned());
    let mut child = std::process::Command::new(&opener)
        .arg(&folder)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| {
            ApiError::new(
                shouyin_api::ErrorCode::Internal,
                format!("cannot start {opener} for {}: {e}", folder.display()),
            )
            .detail("no_file_manager")
        })?;
    // The file manager outlives the call; its exit is collected when it comes.
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    Ok(folder.display().to_string())
}

/// 补录 from a reconcile line: ask the channel about one of this till's
/// orders and record its answer in the ledger.
#[tauri::command]
pub async fn reconcile_recheck(
    counter: State<'_, Counter>,
    order_no: String,
) -> Result<shouyin_api::dto::OrderDto, ApiError> {
    counter.reconcile_recheck(order_no).await
}

/// Reconcile a channel's daily bill (fetched, or a downloaded file) with the ledger.
#[tauri::command]
pub async fn reconcile_run(
    counter: State<'_, Counter>,
    req: ReconcileRequest,
) -> Result<ReconcileReportDto, ApiError> {
    counter.reconcile_run(req).await
}
