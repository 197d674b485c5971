//! The Shouyin desktop shell.
//!
//! This crate only wires things together: it opens the [`Counter`] (the
//! api's handle on the local ledger) once, manages it as state, and registers
//! the commands in [`commands`], each a thin call into `shouyin_api`. Nothing
//! here knows SQL, HTTP or the rules of a sale.
//!
//! [`run_app`] takes the Tauri builder as a parameter so tests can pass
//! `tauri::test::mock_builder()` and invoke commands through the real IPC
//! path without opening a window.

pub mod commands;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use shouyin_api::{Counter, OrderDto};
use tauri::{Builder, Emitter, Manager, Runtime};

pub(crate) use commands::open_customer_window;

/// Where the ledger lives, when set; otherwise the platform's app-data dir.
/// Tests and demos point it at a temporary directory.
pub const DATA_DIR_ENV: &str = "SHOUYIN_DATA_DIR";
/// The simulator's customer page, shown in the demo so anyone can pay.
pub const CUSTOMER_PAGE_ENV: &str = "SHOUYIN_CUSTOMER_PAGE";
/// Pins the UI language (`zh` or `en`), beating the store's default and a
/// choice remembered in the UI; test harnesses set it so that no test
/// depends on the machine's locale.
pub const LANGUAGE_ENV: &str = "SHOUYIN_LANG";
/// Set to 1 to open the customer display at start.
pub const CUSTOMER_DISPLAY_ENV: &str = "SHOUYIN_CUSTOMER_DISPLAY";
pub(crate) const CUSTOMER_WINDOW: &str = "customer";

/// What the app learned while starting: recovery's progress, and demo facts.
#[derive(Debug)]
pub struct Startup {
    recovery: shouyin_api::Startup,
    customer_page: Option<String>,
}

impl Startup {
    /// The orders recovery resolved; waits briefly if it is still running.
    pub async fn recovered(&self) -> Vec<OrderDto> {
        self.recovery
            .finished(Duration::from_secs(15))
            .await
            .map(|report| report.orders)
            .unwrap_or_default()
    }
}

/// Starts the desktop app and blocks until it exits.
pub fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let data_dir = std::env::var_os(DATA_DIR_ENV)
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from);
    run_app(tauri::Builder::default(), data_dir)
        .run(tauri::generate_context!())
        .context("the desktop app stopped with an error")
}

/// Adds Shouyin's state and commands to `builder`. The counter is opened in
/// the setup hook because the platform data directory is only known once
/// the app exists. Then, in the background: every order left open by the
/// last run is resolved with its channel, order changes are pushed to the UI
/// as `counter` events, and the ledger syncs to head office if enrolled.
pub fn run_app<R: Runtime>(builder: Builder<R>, data_dir: Option<PathBuf>) -> Builder<R> {
    builder
        .setup(move |app| {
            let dir = match data_dir {
                Some(dir) => dir,
                None => app.path().app_data_dir()?,
            };
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create data directory {}: {e}", dir.display()))?;
            let counter = tauri::async_runtime::block_on(Counter::open(&dir))
                .map_err(|e| format!("cannot open the ledger in {}: {e}", dir.display()))?;
            tracing::info!(dir = %dir.display(), "ledger open");

            let handle = app.handle().clone();
            let mut events = counter.subscribe();
            tauri::async_runtime::spawn(async move {
                loop {
                    match events.recv().await {
                        Ok(event) => {
                            if let Err(e) = handle.emit("counter", &event) {
                                tracing::warn!("cannot push an event to the UI: {e}");
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!("the UI missed {n} events");
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    }
                }
            });

            // Recovery of charges and refunds, then sync and the relay of
            // payment notifications: the api's one start-up policy.
            let recovery = tauri::async_runtime::block_on(async {
                counter.start(shouyin_api::StartPlan::COUNTER)
            });

            app.manage(commands::terminal::LanguagePin(
                std::env::var(LANGUAGE_ENV)
                    .ok()
                    .and_then(|v| shouyin_api::language::UiLanguage::parse(&v)),
            ));
            app.manage(Startup {
                recovery,
                customer_page: std::env::var(CUSTOMER_PAGE_ENV)
                    .ok()
                    .filter(|s| !s.is_empty()),
            });
            // The demo store's staff (cashier, manager, accountant), only
            // when the ledger has no users yet, so the PIN login has someone.
            match tauri::async_runtime::block_on(counter.ensure_demo_users()) {
                Ok(0) => {}
                Ok(n) => tracing::info!("added {n} demo users"),
                Err(e) => tracing::warn!("cannot add the demo users: {e}"),
            }
            app.manage(counter);
            if std::env::var(CUSTOMER_DISPLAY_ENV).is_ok_and(|v| v == "1") {
                open_customer_window(app.handle())?;
            }
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::terminal::terminal_get,
            commands::amount::amount_check,
            commands::order::order_charge,
            commands::order::order_cancel,
            commands::order::orders_recent,
            commands::order::orders_search,
            commands::order::order_events,
            commands::order::qr_render,
            commands::session::recovery_results,
            commands::session::customer_page,
            commands::session::customer_window_open,
            commands::sync::sync_status,
            commands::sync::sync_now,
            commands::sync::sync_enroll,
            commands::manager::users_list,
            commands::manager::user_login,
            commands::manager::audit_approved,
            commands::manager::refund_create,
            commands::manager::order_void,
            commands::manager::refunds_for_order,
            commands::manager::order_confirm_manually,
            commands::reports::reports_daily,
            commands::reports::reports_range,
            commands::reports::export_csv,
            commands::reports::export_xlsx,
            commands::reports::reconcile_run,
            commands::shift::shift_open,
            commands::shift::shift_current,
            commands::shift::shift_cash_movement,
            commands::shift::cash_drawer_open,
            commands::shift::shift_close,
            commands::shift::shift_report_text,
            commands::settings::customer_window_close,
            commands::settings::customer_window_is_open,
        ])
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use tauri::ipc::{CallbackFn, InvokeBody};
    use tauri::test::{get_ipc_response, mock_builder, INVOKE_KEY};
    use tauri::webview::InvokeRequest;

    fn invoke(
        webview: &tauri::WebviewWindow<tauri::test::MockRuntime>,
        cmd: &str,
        args: Value,
    ) -> Result<Value, Value> {
        get_ipc_response(
            webview,
            InvokeRequest {
                cmd: cmd.into(),
                callback: CallbackFn(0),
                error: CallbackFn(1),
                url: "tauri://localhost".parse().unwrap(),
                body: InvokeBody::Json(args),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        )
        .map(|body| body.deserialize::<Value>().unwrap())
    }

    #[test]
    fn commands_answer_through_ipc_with_a_real_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let mut app = run_app(mock_builder(), Some(dir.path().to_path_buf()))
            // The real context, so the capabilities (the ACL) are the app's own.
            .build(tauri::generate_context!())
            .unwrap();
        // The setup hook (which opens the ledger and manages the counter)
        // runs on the first turn of the event loop.
        #[allow(deprecated)]
        app.run_iteration(|_, _| {});
        // The config's main window, the one the capabilities name.
        let webview = app.get_webview_window("main").unwrap();

        let terminal = invoke(&webview, "terminal_get", json!({})).unwrap();
        assert!(
            terminal["store"].as_str().is_some_and(|s| !s.is_empty()),
            "terminal has no store name: {terminal}"
        );

        let amount = invoke(&webview, "amount_check", json!({ "input": "１２.3" })).unwrap();
        assert_eq!(amount["fen"], 1230, "full-width digits parse: {amount}");
        assert_eq!(amount["display"], "¥12.30");

        let refused = invoke(&webview, "amount_check", json!({ "input": "12.345" })).unwrap_err();
        assert_eq!(
            refused["code"], "invalid_amount",
            "error carries its code: {refused}"
        );

        let order = invoke(
            &webview,
            "order_charge",
            json!({ "req": { "amount": "12.30", "channel": "cash", "cashier": null, "note": null } }),
        )
        .unwrap();
        assert_eq!(order["amount_fen"], 1230);
        assert_eq!(
            order["state"], "paid",
            "a cash sale is paid at once: {order}"
        );

        let recent = invoke(&webview, "orders_recent", json!({ "limit": 5 })).unwrap();
        assert_eq!(
            recent[0]["order_no"], order["order_no"],
            "the new sale heads the recent list: {recent}"
        );

        // The demo staff were added at start; the manager logs in, and a
        // report answers, through the new commands and their permissions.
        let users = invoke(&webview, "users_list", json!({})).unwrap();
        assert_eq!(
            users.as_array().map(Vec::len),
            Some(3),
            "demo users: {users}"
        );
        let manager = invoke(
            &webview,
            "user_login",
            json!({ "name": "店长 李娜", "pin": "9999" }),
        )
        .unwrap();
        assert_eq!(manager["name"], "店长 李娜");
        let wrong = invoke(
            &webview,
            "user_login",
            json!({ "name": "店长 李娜", "pin": "0000" }),
        )
        .unwrap_err();
        assert_eq!(wrong["code"], "pin_wrong", "a wrong PIN says so: {wrong}");
        let day = invoke(
            &webview,
            "reports_daily",
            json!({ "date": order["business_date"] }),
        )
        .unwrap();
        assert_eq!(
            day["count"], 1,
            "the cash sale is in the day's report: {day}"
        );
        assert_eq!(day["gross"], "12.30");
        assert!(
            dir.path().join("ledger.db").is_file(),
            "the ledger file is in the data directory"
        );
    }
}
