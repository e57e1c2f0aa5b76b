#!/usr/bin/env bash
# npm run bench: every benchmark, then the report (npm run bench:report).
#
# Starts the benchmarks' own broker (KAFKA_DIR .kafka/bench, 127.0.0.1:39392, see
# benchmarks/lib/broker.ts) unless it is running, and stops it at the end if it started
# it. Each benchmark is bounded in time (timeout below) and stops by itself; a failing
# one does not stop the others, but makes this script exit non-zero.
#
# Node runs on Node 24 from .cache/node24 (SHEDSINK_NODE=22 or 26 for another supported
# Node), never on the machine's own Node: its bin dir goes first on PATH and NODE_OPTIONS
# preloads the addon hook (scripts/lib/node-addon.mjs), also for the Node processes the
# benchmarks start. Deno and Bun ignore NODE_OPTIONS.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib/common.sh
export BENCH_KAFKA_PORT="${BENCH_KAFKA_PORT:-39392}" BENCH_KAFKA_DIR="${BENCH_KAFKA_DIR:-.kafka/bench}"
node_bin_path="$(node_bin "${SHEDSINK_NODE:-$NODE_DEFAULT_MAJOR}")"
if [[ ! -x "$node_bin_path" ]]; then
  echo "bench: $node_bin_path is missing: run bash scripts/setup.sh" >&2
  exit 1
fi
PATH="$(dirname "$node_bin_path"):$PWD/node_modules/.bin:$PATH"
export NODE_OPTIONS="--import=$NODE_HOOK${NODE_OPTIONS:+ $NODE_OPTIONS}"

kafka() { KAFKA_DIR="$BENCH_KAFKA_DIR" KAFKA_PORT="$BENCH_KAFKA_PORT" bash scripts/kafka.sh "$@"; }

started_broker=0
case "$(kafka status)" in
  running*) ;;
  paused*) kafka resume >/dev/null ;;
  *) kafka start >/dev/null || { echo "bench: could not start the broker" >&2; exit 1; }; started_broker=1 ;;
esac
cleanup() { if [[ $started_broker == 1 ]]; then kafka stop >/dev/null 2>&1 || true; fi; }
trap cleanup EXIT
# the produce() baseline of the hot path talks to the same broker
export BENCH_PRODUCE_BOOTSTRAP="127.0.0.1:$BENCH_KAFKA_PORT"

failed=()
step() { # seconds name command…
  local limit="$1" name="$2"
  shift 2
  echo
  echo "== $name: $*"
  local t0=$SECONDS
  if ! timeout --kill-after=10 "$limit" "$@"; then failed+=("$name"); fi
  echo "== $name: $((SECONDS - t0)) s"
}

t_all=$SECONDS
step 180 hot-path node benchmarks/hot-path.ts
step 180 hot-path.deno deno run -A benchmarks/hot-path.ts
step 180 hot-path.bun bun run benchmarks/hot-path.ts
step 180 cold-emit node benchmarks/cold-emit.ts
step 180 cold-emit.deno deno run -A benchmarks/cold-emit.ts
step 180 cold-emit.bun bun run benchmarks/cold-emit.ts
# outage before throughput: its µs timings want a broker that is not still writing out
# the millions of records throughput sends
step 300 outage node benchmarks/outage.ts
step 300 outage.deno deno run -A benchmarks/outage.ts
step 300 outage.bun bun run benchmarks/outage.ts
step 420 throughput node benchmarks/throughput.ts
step 420 throughput.deno deno run -A benchmarks/throughput.ts
step 420 throughput.bun bun run benchmarks/throughput.ts
step 420 memory node benchmarks/memory.ts
step 420 memory.deno deno run -A benchmarks/memory.ts
step 420 memory.bun bun run benchmarks/memory.ts
step 300 app-thread node benchmarks/app-thread.ts
step 300 app-thread.deno deno run -A benchmarks/app-thread.ts
step 300 app-thread.bun bun run benchmarks/app-thread.ts
step 120 shared-copy node benchmarks/shared-copy.ts
step 120 shared-copy.deno deno run -A benchmarks/shared-copy.ts
step 120 shared-copy.bun bun run benchmarks/shared-copy.ts
# the edge: workerd (from npm) is the runtime measured; Node drives it
step 180 edge node benchmarks/edge.ts
step 180 otel node --expose-gc benchmarks/otel.ts
step 600 pino node --expose-gc benchmarks/pino.ts
echo
node benchmarks/report.ts 2>/dev/null >/dev/null
echo "== all benchmarks: $((SECONDS - t_all)) s; report: benchmarks/results/README.md (npm run bench:report)"
if ((${#failed[@]} > 0)); then
  echo "bench: failed: ${failed[*]}" >&2
  exit 1
fi
