#!/usr/bin/env bash
# The documentation as code: every doc example runs, the API docs are complete, and the
# JSR package would publish.
#
#   1. docs-examples: `deno test --doc` over mod.ts and src/: every ```ts example in a doc
#      comment is type-checked and run (they assert with node:assert, so a wrong one
#      fails); examples marked ```ts ignore (they need a Kafka broker) are skipped.
#   2. doc-lint: `deno doc --lint` on every entry point of deno.json (each export
#      documented, no private type in a public signature).
#   3. jsr-dry-run: `deno publish --dry-run` (no slow types, the files JSR would take).
# Each prints "LABEL: N passed, M failed" and is recorded for scripts/test.sh's summary.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"
export PATH="$NODE_BIN_DIR:$PATH"
export NO_COLOR=1

mapfile -t sources < <(find src -name '*.ts' | sort)
run_suite docs-examples deno 600 deno test --doc --no-lock -A mod.ts "${sources[@]}"

mapfile -t entries < <(node -p 'Object.values(require("./deno.json").exports).join("\n")')
check() { # LABEL COMMAND...
  local label="$1"
  shift
  header "$label"
  echo "+ $*"
  if timeout 300 "$@" 2>&1; then
    echo "--- $label: 1 passed, 0 failed"
    record_result "$label" 1 0 ok ""
  else
    echo "--- $label: 0 passed, 1 failed"
    record_result "$label" 0 1 bad "$label failed"
  fi
}
check doc-lint deno doc --lint "${entries[@]}"
check jsr-dry-run deno publish --dry-run --allow-dirty

status=0
for ok in "${RESULT_OK[@]}"; do [[ $ok == ok ]] || status=1; done
exit $status
