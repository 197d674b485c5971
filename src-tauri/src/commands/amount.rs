use shouyin_api::{AmountDto, ApiError};

/// Parses what the cashier typed, so the screen shows the backend's verdict
/// and never does money arithmetic itself.
#[tauri::command]
pub fn amount_check(input: String) -> Result<AmountDto, ApiError> {
    shouyin_api::amount_check(&input)
}
