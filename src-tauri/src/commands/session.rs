use shouyin_api::{ApiError, CounterEvent, OrderDto};
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, Runtime, State, WebviewUrl, WebviewWindowBuilder};

use crate::access::Feeds;
use crate::Startup;

/// Open this window's feed of the counter's events (order changes, channel
/// health, alarms, sync status).
#[tauri::command]
pub fn counter_subscribe(feeds: State<'_, Feeds>, on_event: Channel<CounterEvent>) {
    feeds.add(on_event);
}

/// What recovery found at start: the orders that were open, as they ended.
#[tauri::command]
pub async fn recovery_results(startup: State<'_, Startup>) -> Result<Vec<OrderDto>, ApiError> {
    Ok(startup.recovered().await)
}

/// Where the simulator's customer page is, in the demo set-up.
#[tauri::command]
pub fn customer_page(startup: State<'_, Startup>) -> Option<String> {
    startup.customer_page.clone()
}

/// Open (or bring forward) the window turned to the customer.
#[tauri::command]
pub fn customer_window_open<R: Runtime>(app: AppHandle<R>) -> Result<(), ApiError> {
    crate::open_customer_window(&app)
}

pub(crate) fn open_customer_window<R: Runtime>(app: &AppHandle<R>) -> Result<(), ApiError> {
    if let Some(window) = app.get_webview_window(crate::CUSTOMER_WINDOW) {
        return window
            .set_focus()
            .map_err(|e| ApiError::internal(format!("cannot focus the customer display: {e}")));
    }
    WebviewWindowBuilder::new(
        app,
        crate::CUSTOMER_WINDOW,
        WebviewUrl::App("index.html?view=customer".into()),
    )
    .title("收银 Shouyin · 顾客显示屏 Customer display")
    .inner_size(800.0, 600.0)
    .build()
    .map(|_| ())
    .map_err(|e| ApiError::internal(format!("cannot open the customer display: {e}")))
}
