#!/usr/bin/env bash
# Runs every program in examples/ in self-test mode (EXAMPLE_SELFTEST=1) against a Kafka
# broker that is already running (bash scripts/kafka.sh start): each starts on a free port,
# sends requests to itself, checks what its sink counted and its /metrics, and exits 0 or
# 1. Each run is bounded by a timeout. A missing broker fails every run (never a skip).
#
#   node-http.ts      Node 22, 24 and 26 (each with its build of the addon)
#   deno-serve.ts     Deno
#   bun-serve.ts      Bun
#   ndjson-upload.ts  Node 24, Deno and Bun (node:http)
#   cloudflare/       a Worker and its Durable Object in workerd (from npm), built and
#                     driven by Node 24 (examples/cloudflare/run.ts)
#   otel-traces.ts    Node 24, Deno and Bun (OpenTelemetry SDK, topic otlp_spans)
#   otel-logs.ts      Node 22, Node 26 and Bun (OpenTelemetry SDK, topic otlp_logs)
#   pino.ts           Node 24, Deno and Bun (node:http, pino)
#
# Prints one line per run and last "examples: N passed, M failed"; exits non-zero if a
# run failed. When scripts/test.sh runs it, the counts go into its summary.
#
# Environment:
#   SHEDSINK_BROKERS          brokers, default 127.0.0.1:$KAFKA_PORT (KAFKA_PORT default 39092)
#   SHEDSINK_TOPIC            topic, default shedsink-examples
#   SHEDSINK_EXAMPLE_TIMEOUT  seconds allowed per run, default 120
# Needs what scripts/setup.sh installs (node_modules, .cache/node<22|24|26> and the
# addon builds in .cache/node<22|24|26>-addon).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"
export PATH="$NODE_BIN_DIR:$PATH" # deno, bun (npm packages shipping the binaries)
[[ -t 1 ]] || export NO_COLOR=1

brokers="${SHEDSINK_BROKERS:-127.0.0.1:${KAFKA_PORT:-39092}}"
topic="${SHEDSINK_TOPIC:-shedsink-examples}"
limit="${SHEDSINK_EXAMPLE_TIMEOUT:-120}"

runs=(
  "node-http node22 $NODE22_BIN --import $NODE_HOOK examples/node-http.ts"
  "node-http node24 $NODE24_BIN --import $NODE_HOOK examples/node-http.ts"
  "node-http node26 $NODE26_BIN --import $NODE_HOOK examples/node-http.ts"
  "deno-serve deno deno run -A --no-lock examples/deno-serve.ts"
  "bun-serve bun bun run examples/bun-serve.ts"
  "ndjson-upload node24 $NODE24_BIN --import $NODE_HOOK examples/ndjson-upload.ts"
  "ndjson-upload deno deno run -A --no-lock examples/ndjson-upload.ts"
  "ndjson-upload bun bun run examples/ndjson-upload.ts"
  "cloudflare workerd $NODE24_BIN --import $NODE_HOOK examples/cloudflare/run.ts"
  "otel-traces node24 $NODE24_BIN --import $NODE_HOOK examples/otel-traces.ts"
  "otel-traces deno deno run -A --no-lock examples/otel-traces.ts"
  "otel-traces bun bun run examples/otel-traces.ts"
  "otel-logs node22 $NODE22_BIN --import $NODE_HOOK examples/otel-logs.ts"
  "otel-logs node26 $NODE26_BIN --import $NODE_HOOK examples/otel-logs.ts"
  "otel-logs bun bun run examples/otel-logs.ts"
  "pino node24 $NODE24_BIN --import $NODE_HOOK examples/pino.ts"
  "pino deno deno run -A --no-lock examples/pino.ts"
  "pino bun bun run examples/pino.ts"
)

# Is anything listening at the first broker's address? (host:port; [ipv6]:port is not used here)
first="${brokers%%,*}"
broker_up=0
if (exec 3<>"/dev/tcp/${first%:*}/${first##*:}") 2>/dev/null; then broker_up=1; fi

header "examples (brokers $brokers, topic $topic)"
passed=0
failed=0
failures=()
for run in "${runs[@]}"; do
  read -r name rt cmd <<<"$run"
  label="$name ($rt)"
  if [[ $broker_up -ne 1 ]]; then
    echo "FAIL $label: no Kafka broker at $first (start one: bash scripts/kafka.sh start)"
    failed=$((failed + 1)); failures+=("$label")
    continue
  fi
  log="$(mktemp "${TMPDIR:-/tmp}/shedsink-example.XXXXXX.log")"
  t0=$SECONDS
  # $cmd is split on spaces on purpose: the paths above hold none.
  # shellcheck disable=SC2086
  EXAMPLE_SELFTEST=1 SHEDSINK_BROKERS="$brokers" SHEDSINK_TOPIC="$topic" \
    timeout --kill-after=10 "$limit" $cmd </dev/null >"$log" 2>&1
  rc=$?
  secs=$((SECONDS - t0))
  if [[ $rc -eq 0 ]]; then
    echo "ok   $label, ${secs}s: $(tail -n 1 "$log")"
    passed=$((passed + 1))
  else
    why="exit code $rc"
    [[ $rc -eq 124 || $rc -eq 137 ]] && why="timed out after ${limit}s"
    echo "FAIL $label, ${secs}s ($why): $cmd"
    sed 's/^/    /' "$log"
    failed=$((failed + 1)); failures+=("$label")
  fi
  rm -f "$log"
done

echo "examples: $passed passed, $failed failed"
if [[ $failed -gt 0 ]]; then
  record_result examples "$passed" "$failed" bad "failed: $(IFS=,; echo "${failures[*]}")"
  exit 1
fi
record_result examples "$passed" "$failed" ok ""
