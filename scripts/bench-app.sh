#!/usr/bin/env bash
# Start-up time and memory of the release desktop app beside a minimal
# Tauri window (benches/minimal-app), measured in the same run under its own
# Xvfb. Builds the UI and both binaries in release first (a cold release
# build takes 6-15 minutes on 2 cores; later runs rebuild only what changed).
#
#   scripts/bench-app.sh [--runs N] [--settle S] [--compositing default|disabled|both]
#                        [--breakdown] [--json FILE] [--no-build]
#
# Needs what `make test` needs (scripts/setup.sh installs it): Xvfb,
# WebKitWebDriver, tauri-driver, python3. The figures go to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-$HOME/.cache/shouyin/target}"
driver="${SHOUYIN_TAURI_DRIVER:-${SHOUYIN_TOOLS:-$HOME/.cache/shouyin/tools}/bin/tauri-driver}"

build=1
args=()
for a in "$@"; do
  if [ "$a" = "--no-build" ]; then build=0; else args+=("$a"); fi
done

for tool in Xvfb WebKitWebDriver xdotool python3; do
  command -v "$tool" > /dev/null || { echo "bench-app: $tool is missing: run scripts/setup.sh" >&2; exit 1; }
done
[ -x "$driver" ] || { echo "bench-app: tauri-driver is missing at $driver: run scripts/setup.sh" >&2; exit 1; }

if [ "$build" = 1 ]; then
  (cd ui && npm run build --silent)
  CARGO_TARGET_DIR="$target" cargo build --release -p shouyin-app -p shouyin-bench-minimal -p shouyin-cli
fi

exec python3 scripts/bench-app.py \
  --app "$target/release/shouyin-app" \
  --minimal "$target/release/shouyin-bench-minimal" \
  --cli "$target/release/shouyin" \
  --driver "$driver" \
  "${args[@]}"
