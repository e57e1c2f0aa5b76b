#!/usr/bin/env bash
# A/B: this checkout's sink against another commit's, on the same machine in one session.
#
#   bash benchmarks/ab.sh REV [OUT]
#
# Checks REV out in .cache/ab-REV (a git worktree sharing node_modules/ and .cache/ with
# this checkout), then runs each tree's own benchmarks interleaved, REV first:
#   hot path   benchmarks/hot-path.ts --quick, twice per tree, on Node 24, Deno and Bun
#   throughput benchmarks/throughput.ts --records 200000 --rounds 3, once per tree, Node 24
#   app thread benchmarks/app-thread.ts --seconds 5 --worker-seconds 5, once per tree, Node 24
# Each run's result file is copied to OUT (default benchmarks/results/ab/REV) as
# NAME-before-N.json / NAME-after-N.json, with its log; the trees' own results/ files are
# restored afterwards. Starts the benchmarks' broker (127.0.0.1:39392, .kafka/bench) unless
# it runs, and stops it at the end if it started it. About 15 minutes.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib/common.sh
rev="${1:?usage: bash benchmarks/ab.sh REV [OUT]}"
here="$PWD"
out="$(realpath -m "${2:-benchmarks/results/ab/$rev}")"
base="$here/.cache/ab-$rev"
mkdir -p "$out"
if [[ ! -d $base ]]; then
  git worktree add --detach "$base" "$rev" >/dev/null || exit 1
  ln -s "$here/node_modules" "$base/node_modules"
  ln -s "$here/.cache" "$base/.cache"
fi
export PATH="$(dirname "$NODE24_BIN"):$here/node_modules/.bin:$PATH"
export NODE_OPTIONS="--import=$NODE_HOOK"
export BENCH_PRODUCE_BOOTSTRAP=off BENCH_KAFKA_PORT="${BENCH_KAFKA_PORT:-39392}" BENCH_KAFKA_DIR="${BENCH_KAFKA_DIR:-$here/.kafka/bench}"
kafka() { KAFKA_DIR="$BENCH_KAFKA_DIR" KAFKA_PORT="$BENCH_KAFKA_PORT" bash "$here/scripts/kafka.sh" "$@"; }
started=0
case "$(kafka status)" in running*) ;; *) kafka start >/dev/null || exit 1; started=1 ;; esac
finish() {
  (cd "$here" && git checkout -q -- benchmarks/results/hot-path*.json benchmarks/results/throughput.json benchmarks/results/app-thread.json 2>/dev/null)
  (cd "$base" && git checkout -q -- benchmarks/results 2>/dev/null)
  [[ $started == 1 ]] && kafka stop >/dev/null 2>&1
}
trap finish EXIT

run() { # TREE NAME RESULT COMMAND...
  local tree="$1" name="$2" result="$3" tag n
  shift 3
  tag=$([[ $tree == "$base" ]] && echo before || echo after)
  n=$(find "$out" -name "$name-$tag-*.json" | wc -l)
  echo "== $name $tag $n: $*"
  (cd "$tree" && timeout 600 "$@" >"$out/$name-$tag-$n.log" 2>&1 && cp "benchmarks/results/$result" "$out/$name-$tag-$n.json") || echo "== $name $tag $n failed: see $out/$name-$tag-$n.log"
}

for rt in node deno bun; do
  case $rt in
    node) result=hot-path.json; cmd=(node benchmarks/hot-path.ts --quick) ;;
    deno) result=hot-path.deno.json; cmd=(deno run -A benchmarks/hot-path.ts --quick) ;;
    bun) result=hot-path.bun.json; cmd=(bun run benchmarks/hot-path.ts --quick) ;;
  esac
  for tree in "$base" "$here" "$base" "$here"; do run "$tree" "hot-$rt" "$result" "${cmd[@]}"; done
done
for tree in "$base" "$here"; do run "$tree" thr-node throughput.json node benchmarks/throughput.ts --records 200000 --rounds 3; done
for tree in "$base" "$here"; do run "$tree" app-node app-thread.json node benchmarks/app-thread.ts --seconds 5 --worker-seconds 5; done
echo "== results in $out"
