//! The `shouyin-app` binary: everything happens in the library so tests can
//! drive the same wiring.

// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() -> anyhow::Result<()> {
    shouyin_app::run()
}
