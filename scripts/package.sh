#!/usr/bin/env bash
# Builds the Debian package: the desktop app, the `shouyin` command, the
# desktop entry and icons, and the head-office service unit, with Tauri's
# bundler (`tauri bundle`, deb only: it works offline). Release by default;
# `--debug` packages the debug build the tests use. Prints the .deb's path
# as its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
cargo_flag=(--release)
bundle_flag=()
if [ "${1:-}" = "--debug" ]; then
  profile=debug
  cargo_flag=()
  bundle_flag=(--debug)
fi
target="${CARGO_TARGET_DIR:-$PWD/target}"

cargo build "${cargo_flag[@]}" -p shouyin-app -p shouyin-cli
cli="$target/$profile/shouyin"
[ -x "$cli" ] || { echo "package: $cli was not built" >&2; exit 1; }
# The CLI's path depends on the target directory, so it joins the
# package's files here rather than in tauri.conf.json.
extra=$(printf '{"bundle":{"linux":{"deb":{"files":{"/usr/bin/shouyin":"%s"}}}}}' "$cli")
rm -f "$target/$profile/bundle/deb/"*.deb
(cd src-tauri && CARGO_TARGET_DIR="$target" ../ui/node_modules/.bin/tauri bundle \
  "${bundle_flag[@]}" --bundles deb --ci --config "$extra" >&2)
ls "$target/$profile/bundle/deb/"*.deb
