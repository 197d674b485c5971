//! Generates the Tauri context (config, capabilities, embedded UI) and an ACL
//! manifest for the app's own commands, so capabilities can name them. The
//! command names come from the one list, `crates/api/commands.list`.

const COMMANDS_LIST: &str = "../crates/api/commands.list";

fn main() {
    println!("cargo:rerun-if-changed={COMMANDS_LIST}");
    // The manifest wants 'static names; a build script lives briefly.
    let list: &'static str = Box::leak(
        std::fs::read_to_string(COMMANDS_LIST)
            .unwrap_or_else(|e| panic!("cannot read {COMMANDS_LIST}: {e}"))
            .into_boxed_str(),
    );
    let names: Vec<&'static str> = list
        .lines()
        .filter_map(|line| line.split('#').next()?.split_whitespace().next())
        .collect();
    let manifest = tauri_build::AppManifest::new().commands(Box::leak(names.into_boxed_slice()));
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest))
        .unwrap_or_else(|e| panic!("tauri build step failed: {e:#}"));
}
