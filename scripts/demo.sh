#!/usr/bin/env bash
# The demo, in one command: a server publishing query telemetry to Kafka through shedsink
# while the broker is paused for 15 s in the middle of a 60 s run.
#
#   bash scripts/demo.sh [options]          options: bash scripts/demo.sh --help
#   bash scripts/demo.sh --shedding         graded shedding: errors, request telemetry and
#                                           debug samples (a "level" field), a 2 MiB buffer;
#                                           debug gives way first, no error is lost
#   bash scripts/demo.sh --flusher worker   the sink's flusher and transport in a worker thread
#                                           (kafkaTransport: @platformatic/kafka); thread: on the
#                                           server's thread; the summary gives the server
#                                           thread's CPU per record in either mode
#
# 1. scripts/setup.sh installs what is missing (idempotent; skipped with SHEDSINK_SKIP_SETUP=1).
# 2. A Kafka broker of its own is started (scripts/kafka.sh with KAFKA_DIR=.kafka/demo,
#    bootstrap 127.0.0.1:39192), so the demo never pauses a broker that tests are using.
# 3. demo/main.ts runs the server, the load generator and the outage, prints a live line,
#    then a summary table, and writes demo-out/report.json and demo-out/timeline.svg.
#    It runs on Node 24 from .cache/node24 (SHEDSINK_NODE=22 or 26 for another supported
#    Node), not on the machine's own Node: that Node's bin dir goes first on PATH and
#    NODE_OPTIONS preloads the addon hook (scripts/lib/node-addon.mjs), so the Node
#    children it starts (process.execPath) load the addon built for it. Deno and Bun
#    ignore NODE_OPTIONS.
# 4. On exit the broker is resumed if paused, and stopped if this script started it.
#
# Environment:
#   SHEDSINK_SKIP_SETUP=1          do not run scripts/setup.sh
#   SHEDSINK_DEMO_KAFKA_DIR        the demo broker's state dir (default .kafka/demo)
#   SHEDSINK_DEMO_KAFKA_PORT       its bootstrap port; it also uses the next 3 (default 39192)
#   SHEDSINK_DEMO_KEEP_BROKER=1    leave the broker running afterwards (a second run starts faster)
#   SHEDSINK_NODE                  the Node major the demo runs on: 22, 24 (default) or 26
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"
export PATH="$NODE_BIN_DIR:$PATH"

node_major="${SHEDSINK_NODE:-$NODE_DEFAULT_MAJOR}"
case " ${NODE_MAJORS[*]} " in
  *" $node_major "*) ;;
  *) echo "demo: SHEDSINK_NODE must be one of ${NODE_MAJORS[*]}, got '$node_major'" >&2; exit 2 ;;
esac
demo_node="$(node_bin "$node_major")"
use_demo_node() {
  export PATH="$(dirname "$demo_node"):$PATH"
  export NODE_OPTIONS="--import=$NODE_HOOK${NODE_OPTIONS:+ $NODE_OPTIONS}"
}

need_broker=1
prev=""
for arg in "$@"; do
  case "$arg" in
    -h | --help)
      if [[ -x node_modules/.bin/tsx && -x "$demo_node" ]]; then use_demo_node; exec node --import tsx demo/main.ts --help; fi
      sed -n '2,31p' "${BASH_SOURCE[0]}"
      exit 0
      ;;
    --transport=memory) need_broker=0 ;;
    memory) [[ "$prev" == --transport ]] && need_broker=0 ;;
  esac
  prev="$arg"
done

say() { echo "demo: $*" >&2; }

if [[ "${SHEDSINK_SKIP_SETUP:-0}" != 1 ]]; then
  say "checking the toolchain (scripts/setup.sh; the first run installs and compiles, later runs take seconds)"
  SHEDSINK_SETUP_NODES="$node_major" bash scripts/setup.sh
fi

export KAFKA_DIR="${SHEDSINK_DEMO_KAFKA_DIR:-.kafka/demo}"
export KAFKA_PORT="${SHEDSINK_DEMO_KAFKA_PORT:-39192}"
export KAFKA_BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
broker_started=0

finish() {
  local rc=$?
  set +e
  if [[ $need_broker -eq 1 ]]; then
    if bash scripts/kafka.sh status 2>/dev/null | grep -q '^paused'; then
      bash scripts/kafka.sh resume >/dev/null 2>&1
    fi
    if [[ $broker_started -eq 1 && "${SHEDSINK_DEMO_KEEP_BROKER:-0}" != 1 ]]; then
      say "stopping the demo broker"
      bash scripts/kafka.sh stop >/dev/null 2>&1
    fi
  fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ $need_broker -eq 1 ]]; then
  state="$(bash scripts/kafka.sh status)"
  case "$state" in
    running*) say "using the demo broker already running on $KAFKA_BOOTSTRAP" ;;
    paused*)
      bash scripts/kafka.sh resume >/dev/null
      say "resumed the demo broker on $KAFKA_BOOTSTRAP"
      ;;
    *)
      say "starting a Kafka broker for the demo on $KAFKA_BOOTSTRAP ($KAFKA_DIR)"
      broker_started=1
      bash scripts/kafka.sh start >/dev/null
      ;;
  esac
fi

if [[ ! -x "$demo_node" ]]; then
  say "Node $node_major is not installed ($demo_node): run bash scripts/setup.sh"
  exit 1
fi
use_demo_node
node --import tsx demo/main.ts "$@"
