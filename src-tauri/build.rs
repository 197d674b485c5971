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
    ]);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest))
        .unwrap_or_else(|e| panic!("tauri build step failed: {e:#}"));
}
