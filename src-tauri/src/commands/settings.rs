//! Settings that belong to the window rather than the ledger.

use shouyin_api::ApiError;
use tauri::{AppHandle, Manager, Runtime};

/// Close the customer display if it is open.
#[tauri::command]
pub fn customer_window_close<R: Runtime>(app: AppHandle<R>) -> Result<(), ApiError> {
    match app.get_webview_window(crate::CUSTOMER_WINDOW) {
        Some(window) => window
            .close()
            .map_err(|e| ApiError::internal(format!("cannot close the customer display: {e}"))),
        None => Ok(()),
    }
}

/// Whether the customer display is open, for the settings switch.
#[tauri::command]
pub fn customer_window_is_open<R: Runtime>(app: AppHandle<R>) -> bool {
    app.get_webview_window(crate::CUSTOMER_WINDOW).is_some()
}
