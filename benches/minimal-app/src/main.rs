//! The smallest Tauri 2 window: the baseline that `scripts/bench-app.sh`
//! measures the real app against. One window of the app's size showing one
//! embedded page, no commands, no state, no plugins.
//!
//! `SHOUYIN_BENCH_PAGE=latin.html` shows a page without Chinese text, to see
//! what the CJK font alone costs; the default page shows a line in Chinese,
//! as every screen of the point of sale does.

// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use tauri::{WebviewUrl, WebviewWindowBuilder};

fn main() -> Result<(), tauri::Error> {
    let page = std::env::var("SHOUYIN_BENCH_PAGE")
        .ok()
        .filter(|p| p == "index.html" || p == "latin.html")
        .unwrap_or_else(|| "index.html".to_owned());
    tauri::Builder::default()
        .setup(move |app| {
            // The same size as the app's main window (src-tauri/tauri.conf.json).
            WebviewWindowBuilder::new(app, "main", WebviewUrl::App(page.into()))
                .title("Shouyin bench: minimal window")
                .inner_size(1280.0, 800.0)
                .center()
                .build()?;
            Ok(())
        })
        .run(tauri::generate_context!())
}
