#!/usr/bin/env bash
# Installs what building, running and testing Shouyin needs on Debian 12,
# and only what is missing: Debian packages (WebKitGTK for the desktop app,
# Xvfb and the WebKit WebDriver for its tests, PostgreSQL for head office's
# tests, sqlite3 for benchmark baselines, espeak-ng for spoken payments,
# CUPS for printing to a CUPS queue: lp and lpadmin, the scheduler and the
# socket backend; the tests run a private scheduler, never the system's),
# D-Bus and GNOME Keyring for keeping secrets in the desktop's Secret
# Service (the tests run a private session bus and keyring, never the
# user's),
# the UI's npm packages, and
# tauri-driver (cached outside the clone).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  libwebkit2gtk-4.1-dev libgtk-3-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev
  librsvg2-dev libayatana-appindicator3-dev libssl-dev pkg-config build-essential file
  xvfb xauth webkit2gtk-driver imagemagick xdotool x11-utils
  fonts-dejavu-core fonts-noto-cjk sqlite3 postgresql python3 curl
  espeak-ng cups-client cups-daemon cups prometheus
  libdbus-1-dev dbus-daemon dbus-bin gnome-keyring
)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The UI's packages, at the locked versions. `npm install` rather than
# `npm ci`: with `omit-lockfile-registry-resolved` (set in this machine
# image's npmrc) npm writes lockfiles that `npm ci` then calls out of sync.
if [ ! -d ui/node_modules ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
  echo "setup: npm install (ui)"
  (cd ui && npm install --no-audit --no-fund --loglevel=error)
fi

# tauri-driver drives the real app through WebKitWebDriver in the E2E tests.
tools="${SHOUYIN_TOOLS:-$HOME/.cache/shouyin/tools}"
if [ ! -x "$tools/bin/tauri-driver" ]; then
  echo "setup: cargo install tauri-driver (once, cached in $tools)"
  cargo install tauri-driver --version '^2' --locked --root "$tools" --quiet
fi
