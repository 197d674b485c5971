//! Generates the Tauri context: config and the embedded page.

fn main() {
    tauri_build::build()
}
