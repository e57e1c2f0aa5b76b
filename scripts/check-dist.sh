#!/usr/bin/env bash
# The npm package as a user gets it: builds dist/ (tsup), packs it (npm pack), unpacks the
# tarball into a temporary project's node_modules/shedsink (its dependency valibot and the
# peer @platformatic/kafka linked from this repo's node_modules, no registry), and runs
# tests/package/smoke.mjs (import) and tests/package/smoke.cjs (require) there on Node 24: a sink
# in thread and worker mode over the memory transport delivers what it was given, and a
# worker makes kafkaTransport's platformatic transport from its spec; and
# tests/package/workerd.mjs: a Worker importing shedsink/cloudflare from the package,
# bundled with shedsink/cloudflare/build and run in workerd.
# Prints "dist: N passed, M failed" (and records it for scripts/test.sh's summary).
#
# Environment: SHEDSINK_DIST_TIMEOUT, seconds per smoke run (default 120).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"

work="$(mktemp -d "${TMPDIR:-/tmp}/shedsink-dist.XXXXXX")"
trap 'rm -rf "$work"' EXIT
limit="${SHEDSINK_DIST_TIMEOUT:-120}"

header "dist: build and pack"
"$NODE_BIN_DIR/tsup" >"$work/build.log" 2>&1 || { cat "$work/build.log"; echo "--- dist: 0 passed, 1 failed (build failed)"; record_result dist 0 1 bad "build failed"; exit 1; }
tarball="$(npm pack --silent --pack-destination "$work")"
app="$work/app"
mkdir -p "$app/node_modules/shedsink" "$app/node_modules/@platformatic"
tar -xzf "$work/$tarball" -C "$app/node_modules/shedsink" --strip-components=1
ln -s "$REPO_ROOT/node_modules/valibot" "$app/node_modules/valibot"
ln -s "$REPO_ROOT/node_modules/@platformatic/kafka" "$app/node_modules/@platformatic/kafka"
echo '{ "name": "shedsink-dist-smoke", "private": true }' >"$app/package.json"
cp tests/package/scenarios.cjs tests/package/smoke.mjs tests/package/smoke.cjs tests/package/workerd.mjs "$app/"

passed=0
failed=0
for program in smoke.mjs smoke.cjs workerd.mjs; do
  header "dist: $program"
  if (cd "$app" && SHEDSINK_REPO="$REPO_ROOT" timeout --kill-after=10 "$limit" "$NODE24_BIN" "$program"); then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "dist: $program failed"
  fi
done
echo "--- dist: $passed passed, $failed failed"
if [[ $failed -eq 0 ]]; then record_result dist "$passed" 0 ok ""; else record_result dist "$passed" "$failed" bad "$failed smoke run(s) failed"; exit 1; fi
