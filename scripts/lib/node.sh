#!/usr/bin/env bash
# Runs a supported Node (installed by scripts/setup.sh in .cache/node<MAJOR>/) on
# TypeScript or JavaScript alike (Node >= 22.18 strips the types itself):
#
#   bash scripts/lib/node.sh benchmarks/throughput.ts [args...]
#   SHEDSINK_NODE=22 bash scripts/lib/node.sh examples/node-http.ts
#
# SHEDSINK_NODE: the major, 22, 24 (default) or 26. That Node's bin dir goes first on
# PATH and NODE_OPTIONS preloads the addon hook (scripts/lib/node-addon.mjs), so the
# Node processes it starts (process.execPath) load the addon build for it too. The npm
# scripts (npm run bench:...) go through here, so that they never run on the machine's
# own Node.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
major="${SHEDSINK_NODE:-$NODE_DEFAULT_MAJOR}"
case " ${NODE_MAJORS[*]} " in
  *" $major "*) ;;
  *) echo "node.sh: SHEDSINK_NODE must be one of ${NODE_MAJORS[*]}, got '$major'" >&2; exit 2 ;;
esac
bin="$(node_bin "$major")"
if [[ ! -x "$bin" ]]; then
  echo "node.sh: Node $major is not installed ($bin): run bash scripts/setup.sh" >&2
  exit 1
fi
export PATH="$(dirname "$bin"):$NODE_BIN_DIR:$PATH"
export NODE_OPTIONS="--import=$NODE_HOOK${NODE_OPTIONS:+ $NODE_OPTIONS}"
exec "$bin" "$@"
