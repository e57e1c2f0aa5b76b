#!/usr/bin/env bash
# Runs the unit suite on the supported runtimes in turn: Node 22, 24 and 26 (each strips
# the types itself, with the addon hook preloaded), Deno (node:test compatibility) and
# Bun (`bun test`). The machine's own Node (20, end of life) is not among them.
#
#   scripts/test-unit.sh [FILE...]     default: tests/unit/*.test.ts
#
# Each runtime's full output is shown as it runs. At the end, one line per runtime:
#   node24: 57 passed, 0 failed
# Exits non-zero if a runtime had a failure, ran no test, printed no summary, exited
# non-zero or timed out, or if the pass counts differ between runtimes.
#
# Environment:
#   SHEDSINK_RUNTIMES       runtimes to run, default "node22 node24 node26 deno bun"
#   SHEDSINK_UNIT_TIMEOUT   seconds allowed per runtime, default 600
#   SHEDSINK_RESULTS_FILE   if set, each runtime's counts are appended to it (test.sh)
# Needs what scripts/setup.sh installs (node_modules, .cache/node<22|24|26> and the
# addon builds in .cache/node<22|24|26>-addon).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"
export PATH="$NODE_BIN_DIR:$PATH" # deno, bun (npm packages shipping the binaries)
[[ -t 1 ]] || export NO_COLOR=1 # plain logs (Deno colours even when piped)

runtimes=(${SHEDSINK_RUNTIMES:-node22 node24 node26 deno bun})
limit="${SHEDSINK_UNIT_TIMEOUT:-600}"

files=("$@")
if [[ ${#files[@]} -eq 0 ]]; then
  shopt -s nullglob
  files=(tests/unit/*.test.ts)
  shopt -u nullglob
fi
if [[ ${#files[@]} -eq 0 ]]; then
  echo "test-unit: no test files (tests/unit/*.test.ts matched nothing)" >&2
  for rt in "${runtimes[@]}"; do
    record_result "$rt" 0 0 bad "no test files"
    echo "$rt: 0 passed, 0 failed"
  done
  exit 1
fi

# `bun test` reads a bare argument as a name filter, not a path: give it ./paths.
bun_files=()
for f in "${files[@]}"; do
  case "$f" in /* | ./* | ../*) bun_files+=("$f") ;; *) bun_files+=("./$f") ;; esac
done

missing() { # LABEL WHAT
  header "$1"
  echo "--- $1: $2 is missing: run scripts/setup.sh"
  record_result "$1" 0 0 bad "$2 missing"
}

for rt in "${runtimes[@]}"; do
  case "$rt" in
    node22 | node24 | node26)
      bin="$(node_bin "${rt#node}")"
      if [[ -x "$bin" ]]; then
        run_suite "$rt" node "$limit" "$bin" --import "$NODE_HOOK" --test --test-reporter=spec "${files[@]}"
      else
        missing "$rt" "${bin#"$REPO_ROOT"/}"
      fi
      ;;
    deno)
      if [[ -x "$NODE_BIN_DIR/deno" ]]; then
        run_suite deno deno "$limit" deno test -A --no-check --no-lock "${files[@]}"
      else
        missing deno "node_modules/.bin/deno"
      fi
      ;;
    bun)
      if [[ -x "$NODE_BIN_DIR/bun" ]]; then
        run_suite bun bun "$limit" bun test "${bun_files[@]}"
      else
        missing bun "node_modules/.bin/bun"
      fi
      ;;
    *)
      echo "test-unit: unknown runtime '$rt' (known: node22 node24 node26 deno bun)" >&2
      exit 2
      ;;
  esac
done

header "unit summary"
status=0
problems=()
first_pass=""
differ=0
for i in "${!RESULT_LABELS[@]}"; do
  echo "${RESULT_LABELS[$i]}: ${RESULT_PASSED[$i]} passed, ${RESULT_FAILED[$i]} failed"
  if [[ "${RESULT_OK[$i]}" != ok ]]; then
    status=1
    problems+=("${RESULT_LABELS[$i]}: ${RESULT_WHY[$i]}")
  fi
  if [[ -z "$first_pass" ]]; then
    first_pass="${RESULT_PASSED[$i]}"
  elif [[ "${RESULT_PASSED[$i]}" != "$first_pass" ]]; then
    differ=1
  fi
done
if [[ $differ -eq 1 ]]; then
  status=1
  counts=""
  for i in "${!RESULT_LABELS[@]}"; do counts+=" ${RESULT_LABELS[$i]}=${RESULT_PASSED[$i]}"; done
  problems+=("pass counts differ between runtimes:$counts (every runtime must run and pass the same tests)")
fi
for p in "${problems[@]}"; do
  echo "test-unit: FAILED: $p" >&2
done
exit $status
