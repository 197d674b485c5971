use shouyin_api::language::UiLanguage;
use shouyin_api::{ApiError, Counter, TerminalDto};
use tauri::State;

/// The UI language the app was started with (`SHOUYIN_LANG`), if any.
#[derive(Debug, Clone, Copy)]
pub struct LanguagePin(pub Option<UiLanguage>);

/// The store, the terminal and which channels can take money now.
#[tauri::command]
pub async fn terminal_get(
    counter: State<'_, Counter>,
    pin: State<'_, LanguagePin>,
) -> Result<TerminalDto, ApiError> {
    Ok(counter.terminal_get().await?.with_language_pin(pin.0))
}
