#!/usr/bin/env bash
# The demo: the channel simulator, a local head-office server on SQLite, and
# the desktop app with a demo store whose channels point at the simulator,
# a virtual receipt printer that the demo prints to,
# and whose ledger syncs to that head office. Everything lives under
# $SHOUYIN_DEMO_DIR (default ~/.local/share/shouyin-demo) and survives
# restarts; Ctrl-C or closing the app stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "make run needs a desktop display (DISPLAY or WAYLAND_DISPLAY is not set)." >&2
  echo "Run it from a graphical session, or test headless with: make test" >&2
  exit 1
fi

target="${CARGO_TARGET_DIR:-$HOME/.cache/shouyin/target}"
bin="$target/debug"
demo="${SHOUYIN_DEMO_DIR:-$HOME/.local/share/shouyin-demo}"
sim_addr="${SHOUYIN_SIM_ADDR:-127.0.0.1:8787}"
hq_addr="${SHOUYIN_HQ_ADDR:-127.0.0.1:8788}"
admin_token="${SHOUYIN_HQ_ADMIN_TOKEN:-demo-admin}"
mkdir -p "$demo/app"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

wait_for() { # url, what
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "run: $2 did not come up at $1" >&2
  exit 1
}

"$bin/shouyin" sim --listen "$sim_addr" --state "$demo/sim" > "$demo/sim.log" 2>&1 &
pids+=($!)
wait_for "http://$sim_addr/_sim/trades" "the simulator"
# The app's channels file is the simulator's credentials, as is.
cp "$demo/sim/credentials.json" "$demo/app/channels.json"

SHOUYIN_HQ_ADMIN_TOKEN="$admin_token" "$bin/shouyin" hq --listen "$hq_addr" --db "sqlite://$demo/hq.db" > "$demo/hq.log" 2>&1 &
pids+=($!)
wait_for "http://$hq_addr/healthz" "the head-office server"

# First start: create the demo ledger and enrol it with head office.
if [ ! -f "$demo/app/ledger.db" ]; then
  "$bin/shouyin" init --db "$demo/app/ledger.db" --store "演示门店 Demo Store" --terminal T01 > /dev/null
fi
if [ ! -f "$demo/app/ledger.db.hq.json" ]; then
  code=$("$bin/shouyin" hq enroll-code --db "sqlite://$demo/hq.db" --store DEMO | head -1)
  "$bin/shouyin" enroll --db "$demo/app/ledger.db" --hq "http://$hq_addr" --code "$code" > /dev/null
fi

# The virtual receipt printer: each job lands in $demo/paper as text and PNG.
printer_addr="${SHOUYIN_PRINTER_ADDR:-127.0.0.1:9100}"
"$bin/shouyin" printer --listen "$printer_addr" --out "$demo/paper" > "$demo/printer.log" 2>&1 &
pids+=($!)
if [ ! -f "$demo/app/printer.set" ]; then
  "$bin/shouyin" printer-set --db "$demo/app/ledger.db" --printer "tcp://$printer_addr" > /dev/null
  touch "$demo/app/printer.set"
fi

echo "customer page (pay QR codes here): http://$sim_addr/"
echo "head office:                       http://$hq_addr/  (token: $admin_token)"
echo "receipts (virtual printer):        $demo/paper"
echo "data:                              $demo"
# SHOUYIN_DEMO=1: the demo store, with its demo staff (known PINs).
SHOUYIN_DEMO=1 SHOUYIN_DATA_DIR="$demo/app" SHOUYIN_CUSTOMER_PAGE="http://$sim_addr/" "$bin/shouyin-app"
