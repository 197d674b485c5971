//! The layers say what they are: the desktop app (and so this crate, which
//! it is built on) links no server code. Head office's HTTP framework and
//! PostgreSQL client stay in `shouyin-hq`; the terminal shares only the
//! wire types and signing of `shouyin-wire`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::process::Command;

/// `cargo tree` of a package's normal (non-dev, non-build) dependencies,
/// with `extra` arguments; one line per crate, `name vX.Y.Z ...`.
fn cargo_tree(package: &str, extra: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["tree", "--offline", "-p", package, "-e", "normal"])
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo tree -p {package} {extra:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn crate_names(tree: &str) -> BTreeSet<String> {
    tree.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Crates that are a server, or a database client a till has no use for.
fn server_crates(names: &BTreeSet<String>) -> Vec<&String> {
    names
        .iter()
        .filter(|n| {
            n.starts_with("axum")
                || n.starts_with("postgres")
                || n.as_str() == "tokio-postgres"
                || n.as_str() == "shouyin-hq"
                || n.as_str() == "shouyin-sim"
                || n.as_str() == "shouyin-testkit"
        })
        .collect()
}

#[test]
fn the_desktop_app_links_no_server_code() {
    let names = crate_names(&cargo_tree("shouyin-app", &["--prefix", "none"]));
    assert!(
        names.contains("shouyin-api") && names.contains("shouyin-wire"),
        "the tree was not read: {names:?}"
    );
    let servers = server_crates(&names);
    assert!(
        servers.is_empty(),
        "the desktop app links server code: {servers:?}"
    );
    // `tower-http` is a server middleware crate, but reqwest also uses its
    // redirect layer on the client side; only that use is allowed.
    if names.contains("tower-http") {
        let users = cargo_tree(
            "shouyin-app",
            &["--invert", "tower-http", "--prefix", "depth"],
        );
        let direct: BTreeSet<String> = users
            .lines()
            .filter_map(|l| l.strip_prefix('1'))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect();
        assert_eq!(
            direct,
            BTreeSet::from(["reqwest".to_owned()]),
            "tower-http reaches the desktop app through more than reqwest's client: {users}"
        );
    }
}

#[test]
fn the_api_does_not_depend_on_head_office() {
    let names = crate_names(&cargo_tree("shouyin-api", &["--prefix", "none"]));
    assert!(names.contains("shouyin-wire"), "{names:?}");
    let servers = server_crates(&names);
    assert!(
        servers.is_empty(),
        "shouyin-api links server code: {servers:?}"
    );
}
