//! Generates the Tauri context (config, capabilities, embedded UI) and an ACL
//! manifest for the app's own commands, so capabilities can name them.

fn main() {
    let manifest = tauri_build::AppManifest::new().commands(&[
        "terminal_get",
        "amount_check",
        "order_charge",
        "order_cancel",
        "orders_recent",
        "orders_search",
        "order_events",
        "qr_render",
        "recovery_results",
        "customer_page",
        "customer_window_open",
        "sync_status",
        "sync_now",
        "sync_enroll",
        "users_list",
        "user_login",
        "audit_approved",
        "refund_create",
        "order_void",
        "refunds_for_order",
        "order_confirm_manually",
        "reports_daily",
        "reports_range",
        "export_csv",
        "export_xlsx",
        "reconcile_run",
        "shift_open",
        "shift_current",
        "shift_cash_movement",
        "cash_drawer_open",
        "shift_close",
        "shift_report_text",
        "customer_window_close",
        "customer_window_is_open",
    ]);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest))
        .unwrap_or_else(|e| panic!("tauri build step failed: {e:#}"));
}
