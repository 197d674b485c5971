#!/usr/bin/env bash
# Checks the set-up itself: clones the current commit into an empty
# temporary folder (no sibling folders, nothing of this work tree) and runs
# the README's test command there under the plain C.UTF-8 locale, then
# prints how long it took.
#
#   scripts/fresh-check.sh          warm: the usual cargo target directory
#   scripts/fresh-check.sh --cold   cold: an empty target directory
#
# Only what is committed is checked; uncommitted changes are ignored (and
# named, so nobody mistakes a green run for a check of them).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=warm
[ "${1:-}" = "--cold" ] && mode=cold
commit="$(git rev-parse HEAD)"
if [ -n "$(git status --porcelain)" ]; then
  echo "fresh-check: uncommitted changes are not part of this check:" >&2
  git status --short >&2
fi

root="$(mktemp -d "${TMPDIR:-/tmp}/shouyin-fresh.XXXXXX")"
trap 'rm -rf "$root"' EXIT
git clone --quiet --no-hardlinks "$PWD" "$root/shouyin"
git -C "$root/shouyin" checkout --quiet --detach "$commit"

target="${CARGO_TARGET_DIR:-$HOME/.cache/shouyin/target}"
[ "$mode" = cold ] && target="$root/target"

echo "fresh-check: $mode run of $commit in $root/shouyin (target $target)"
start=$(date +%s)
status=0
(
  cd "$root/shouyin"
  env -u LC_ALL -u LANGUAGE LANG=C.UTF-8 CARGO_TARGET_DIR="$target" make test
) || status=$?
elapsed=$(( $(date +%s) - start ))
printf 'fresh-check: %s run %s in %d s (%d min %d s)\n' "$mode" \
  "$([ $status -eq 0 ] && echo passed || echo FAILED)" "$elapsed" $((elapsed / 60)) $((elapsed % 60))
exit $status
