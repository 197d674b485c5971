use shouyin_api::{ApiError, Counter, TerminalDto};
use tauri::State;

/// The store, the terminal and which channels can take money now.
#[tauri::command]
pub async fn terminal_get(counter: State<'_, Counter>) -> Result<TerminalDto, ApiError> {
    counter.terminal_get().await
}
