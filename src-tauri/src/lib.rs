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

pub mod access;
pub mod commands;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use shouyin_api::dto::CustomerOrderDto;
use shouyin_api::{Counter, CounterEvent, OrderDto};
use tauri::{Builder, Emitter, Manager, Runtime};

pub(crate) use commands::open_customer_window;

/// Where the ledger lives, when set; otherwise `shouyin` in the XDG data
/// directory (`~/.local/share/shouyin`).
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
/// Set to 1 by `make run` and the end-to-end tests: the demo store, whose
/// demo staff have known PINs. Without it a new ledger has no users and the
/// app asks for the store's first manager.
pub const DEMO_ENV: &str = "SHOUYIN_DEMO";
/// The event that carries the payment in progress to the customer display.
pub const CUSTOMER_ORDER_EVENT: &str = "customer_order";
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

/// Where the log files go, when set. Otherwise `logs` in the data directory
/// given by [`DATA_DIR_ENV`] (tests, demos), else the XDG state directory
/// (`~/.local/state/shouyin`).
pub const LOG_DIR_ENV: &str = "SHOUYIN_LOG_DIR";
/// The folder, under the XDG data and state directories, that is the app's.
pub const APP_DIR_NAME: &str = "shouyin";
/// Daily log files kept.
pub const LOGS_KEPT: usize = 14;

/// The log directory: see [`LOG_DIR_ENV`].
pub fn log_dir(data_dir: Option<&std::path::Path>) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(LOG_DIR_ENV).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    match data_dir {
        Some(dir) => Some(dir.join("logs")),
        None => dirs::state_dir().map(|d| d.join(APP_DIR_NAME)),
    }
}

/// Logs to stderr and to a file rotated daily (`shouyin.YYYY-MM-DD.log`,
/// the newest [`LOGS_KEPT`] kept). The guard flushes the file when dropped.
fn init_logging(
    data_dir: Option<&std::path::Path>,
) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let file = log_dir(data_dir).and_then(|dir| {
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("no log file in {}: {e}", dir.display());
            return None;
        }
        let appender = tracing_appender::rolling::Builder::new()
            .rotation(tracing_appender::rolling::Rotation::DAILY)
            .filename_prefix("shouyin")
            .filename_suffix("log")
            .max_log_files(LOGS_KEPT)
            .build(&dir);
        match appender {
            Ok(appender) => Some(tracing_appender::non_blocking(appender)),
            Err(e) => {
                eprintln!("no log file in {}: {e}", dir.display());
                None
            }
        }
    });
    match file {
        Some((writer, guard)) => {
            tracing_subscriber::registry()
                .with(filter())
                .with(stderr)
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_ansi(false)
                        .with_writer(writer),
                )
                .init();
            Some(guard)
        }
        None => {
            tracing_subscriber::registry()
                .with(filter())
                .with(stderr)
                .init();
            None
        }
    }
}

/// Starts the desktop app and blocks until it exits.
pub fn run() -> anyhow::Result<()> {
    let data_dir = std::env::var_os(DATA_DIR_ENV)
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from);
    let _log_guard = init_logging(data_dir.as_deref());
    let demo = std::env::var(DEMO_ENV).is_ok_and(|v| v == "1");
    // The native pickers only in the real app: the IPC tests have no dialogs.
    let builder = tauri::Builder::default().plugin(tauri_plugin_dialog::init());
    run_app(builder, data_dir, demo)
        .run(tauri::generate_context!())
        .context("the desktop app stopped with an error")
}

/// Adds Shouyin's state and commands to `builder`. The counter is opened in
/// the setup hook because the platform data directory is only known once
/// the app exists. Then, in the background: every order left open by the
/// last run is resolved with its channel, order changes are pushed to the UI
/// on the main window's feed (`counter_subscribe`), and the ledger syncs to head office if enrolled.
/// `demo` is the demo store (its staff are created with known PINs).
pub fn run_app<R: Runtime>(
    builder: Builder<R>,
    data_dir: Option<PathBuf>,
    demo: bool,
) -> Builder<R> {
    builder
        .setup(move |app| {
            // The XDG data directory (~/.local/share/shouyin), never
            // beside the binary.
            let dir = match data_dir {
                Some(dir) => dir,
                None => app.path().data_dir()?.join(APP_DIR_NAME),
            };
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create data directory {}: {e}", dir.display()))?;
            let counter = tauri::async_runtime::block_on(Counter::open_app(&dir, demo))
                .map_err(|e| format!("cannot open the ledger in {}: {e}", dir.display()))?;
            tracing::info!(dir = %dir.display(), "ledger open");

            let handle = app.handle().clone();
            let mut events = counter.subscribe();
            tauri::async_runtime::spawn(async move {
                loop {
                    match events.recv().await {
                        Ok(event) => {
                            if let CounterEvent::OrderChanged { order } = &event {
                                // The customer display hears only what it shows.
                                match CustomerOrderDto::of(order) {
                                    Ok(shown) => {
                                        let _ = handle.emit_to(
                                            CUSTOMER_WINDOW,
                                            CUSTOMER_ORDER_EVENT,
                                            &shown,
                                        );
                                    }
                                    Err(e) => tracing::warn!("cannot show the order: {e}"),
                                }
                            }
                            handle.state::<access::Feeds>().send(&event);
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
            app.manage(counter);
            if std::env::var(CUSTOMER_DISPLAY_ENV).is_ok_and(|v| v == "1") {
                open_customer_window(app.handle())?;
            }
            Ok(())
        })
        .manage(access::Sessions::default())
        .manage(access::Feeds::default())
        // Every command passes the role matrix first (access::gate).
        .invoke_handler(access::gate(tauri::generate_handler![
            commands::terminal::terminal_get,
            commands::amount::amount_check,
            commands::order::order_current,
            commands::order::order_charge,
            commands::order::order_cancel,
            commands::order::order_charge_code,
            commands::order::orders_recent,
            commands::order::orders_search,
            commands::order::order_events,
            commands::order::qr_render,
            commands::session::recovery_results,
            commands::session::counter_subscribe,
            commands::session::customer_page,
            commands::session::customer_window_open,
            commands::sync::sync_status,
            commands::sync::sync_now,
            commands::sync::sync_enroll,
            commands::sync::backup_status,
            commands::sync::backup_now,
            commands::sync::channels_status,
            commands::sync::channels_configure,
            commands::manager::users_list,
            commands::manager::user_login,
            commands::manager::user_logout,
            commands::manager::session_get,
            commands::manager::setup_first_manager,
            commands::manager::setup_store,
            commands::manager::audit_approved,
            commands::manager::refund_create,
            commands::manager::order_void,
            commands::manager::refunds_for_order,
            commands::manager::order_confirm_manually,
            commands::manager::order_settle_unverified,
            commands::manager::order_recheck,
            commands::reports::reports_daily,
            commands::reports::reports_range,
            commands::reports::export_csv,
            commands::reports::export_xlsx,
            commands::reports::reconcile_run,
            commands::reports::export_open_folder,
            commands::reports::reconcile_recheck,
            commands::shift::shift_open,
            commands::shift::shift_current,
            commands::shift::shift_cash_movement,
            commands::shift::cash_drawer_open,
            commands::shift::shift_close,
            commands::shift::shift_report_text,
            commands::settings::customer_window_close,
            commands::settings::customer_window_is_open,
            commands::devices::device_settings_get,
            commands::devices::device_settings_set,
            commands::devices::print_test_page,
            commands::devices::receipt_reprint,
            commands::devices::print_retry,
            commands::devices::print_failed,
            commands::devices::order_lookup,
            commands::devices::z_report_print,
        ]))
}

#[cfg(test)]
mod tests;
