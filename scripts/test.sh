#!/usr/bin/env bash
# The project's test command (`npm test`, .ci/run):
#   1. scripts/setup.sh (skipped with SHEDSINK_SKIP_SETUP=1)
#   2. scripts/test-unit.sh: tests/unit on Node 22, 24 and 26, Deno and Bun; then
#      scripts/check-docs.sh: doc examples run, doc lint, JSR dry run; then
#      scripts/check-dist.sh: the npm package built, packed and run (thread and worker
#      mode, import and require); then tests/worker and tests/parity (every public-API
#      behaviour in thread and worker mode) on every runtime
#   3. if tests/e2e or tests/faults hold *.test.ts files: start the local Kafka broker
#      (scripts/kafka.sh start; KAFKA_PORT and KAFKA_DIR are honoured), run those suites,
#      and stop the broker on exit whatever happened. Without a broker these suites
#      fail, never skip.
#   4. with the same broker: tests/edge (a Worker and its Durable Object in workerd from
#      npm, Node 24 driving it), then scripts/examples.sh, every example in self-test
#      mode; then the broker is stopped
#   5. if tests/secured holds *.test.ts files: start the secured broker (KAFKA_MODE=secured
#      scripts/kafka.sh start: SASL_SSL, SCRAM users, ACLs), run tests/secured and
#      tests/edge/secured.test.ts, and stop it whatever happened. A secured broker that
#      does not start fails those suites on every runtime.
#   6. if tests/faults/cluster.test.ts exists: start the local 3-node cluster
#      (scripts/kafka.sh cluster start), run that file (scenarios spread over the
#      runtimes, see below), and stop the cluster whatever happened. A cluster that does
#      not start fails that suite on every runtime.
#
# The matrix. The supported runtimes are Node 22, 24 and 26, Deno and Bun; the machine's
# Node (20, end of life) is not among them. The unit suite is cheap (10-15 s per runtime
# on an idle 2-core machine) and runs everywhere. The broker suites are what CI pays for
# (about 1.5 min per run), so each runs where it proves something:
#   e2e      Node 22, 24, 26 (confluentTransport: the librdkafka addon is built per Node
#            ABI, so each major is its own build to prove; the demo's e2e test runs the
#            demo on that Node), Deno and Bun (@platformatic/kafka)
#   faults   Node 24 (confluent), Deno and Bun (@platformatic/kafka on two runtimes).
#            The fault tests drive the client through pauses, kills and a lossy proxy;
#            the addon's code and librdkafka are the same on every Node major, which the
#            e2e runs already load and use, so faults on Node 22 and 26 would add ~3 min
#            and prove little. tests/e2e/otel.test.ts (the OpenTelemetry exporters,
#            ~12 s per runtime) is among the e2e files.
#   secured  Node 24 (confluent), Node 22 (platformatic, SHEDSINK_SECURED_CLIENT), Deno
#            and Bun (platformatic)
#   cluster  Node 24 (confluent, every scenario), Node 22 (the killed leader with
#            confluent, the killed bootstrap with platformatic), Deno and Bun (see below)
#   parity   tests/parity (each test in thread and in worker mode, the memory transport,
#            no broker) on every runtime: 33-43 s per runtime on a busy 2-core machine while
#            some tests fail (they wait out their bounds), about 20 s once all pass
#   edge     Node 24 only: the runtime under test is workerd (a child process), which
#            the test file bundles with esbuild and drives over HTTP; ~35 s, and ~5 s
#            against the secured broker (tests/edge/secured.test.ts)
#   worker   tests/worker (worker mode with the memory transport, no broker) on every
#            runtime; and worker-kafka: tests/e2e/kafka.test.ts, tests/e2e/otel.test.ts,
#            tests/e2e/pino.test.ts and the fault files again with SHEDSINK_FLUSHER=worker
#            (@platformatic/kafka in the worker) on Node 24, Deno and Bun (the pino file:
#            about 12 s per run, so 1 min for e2e and 40 s in worker-kafka)
# Measured from a fresh clone (CI=true bash .ci/run, 2 cores, other work on the machine,
# before the secured and cluster suites): e2e 89-99 s per runtime (8 min), faults
# 83-93 s (4.3 min), examples 8 runs in ~10 s.
# Every run prints a line "LABEL: N passed, M failed"; the last line of the output is the
# total over all runs, "N passed, M failed". Exits non-zero if anything failed.
#
# Environment:
#   SHEDSINK_SKIP_SETUP=1      do not run scripts/setup.sh
#   SHEDSINK_E2E_TIMEOUT       seconds allowed per e2e/fault run, default 1800
#   SHEDSINK_SECURED_TIMEOUT   seconds allowed per secured run, default 600
#   (and those of scripts/test-unit.sh: SHEDSINK_RUNTIMES, SHEDSINK_UNIT_TIMEOUT)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"
export PATH="$NODE_BIN_DIR:$PATH"
[[ -t 1 ]] || export NO_COLOR=1

SHEDSINK_RESULTS_FILE="$(mktemp "${TMPDIR:-/tmp}/shedsink-results.XXXXXX")"
export SHEDSINK_RESULTS_FILE
status=0
broker_started=0
secured_started=0
cluster_started=0
notes=()
# The secured broker's state dir is KAFKA_SECURED_DIR, where tests/support/secured.ts
# reads its CA from, whatever KAFKA_DIR (the plain broker's) is; its tests run with
# KAFKA_DIR set to it too (their scripts/kafka/secured.sh scram-add reads KAFKA_DIR).
secured_dir="${KAFKA_SECURED_DIR:-.kafka/secured}"
secured_broker=(env KAFKA_MODE=secured KAFKA_DIR="$secured_dir")

finish() {
  local rc=$? label passed failed ok why total_p=0 total_f=0
  set +e
  if [[ $broker_started -eq 1 ]]; then
    header "stopping the Kafka broker"
    bash scripts/kafka.sh stop || echo "test: scripts/kafka.sh stop failed" >&2
  fi
  if [[ $secured_started -eq 1 ]]; then
    header "stopping the secured Kafka broker"
    "${secured_broker[@]}" bash scripts/kafka.sh stop || echo "test: KAFKA_MODE=secured scripts/kafka.sh stop failed" >&2
  fi
  if [[ $cluster_started -eq 1 ]]; then
    header "stopping the Kafka cluster"
    bash scripts/kafka.sh cluster stop || echo "test: scripts/kafka.sh cluster stop failed" >&2
  fi
  header "summary"
  while read -r label passed failed ok why; do
    echo "$label: $passed passed, $failed failed"
    [[ $ok == ok ]] || notes+=("$label: $why")
    total_p=$((total_p + passed))
    total_f=$((total_f + failed))
  done <"$SHEDSINK_RESULTS_FILE"
  rm -f "$SHEDSINK_RESULTS_FILE"
  if [[ $rc -ne 0 && ${#notes[@]} -eq 0 ]]; then notes+=("exit code $rc"); fi
  for n in "${notes[@]}"; do echo "test: FAILED: $n"; done
  echo "$total_p passed, $total_f failed"
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------------- setup
if [[ "${SHEDSINK_SKIP_SETUP:-0}" != 1 ]]; then
  header "setup"
  if ! bash scripts/setup.sh; then
    notes+=("scripts/setup.sh failed")
    exit 1
  fi
fi

# ------------------------------------------------------------------------- unit
if ! bash scripts/test-unit.sh; then
  status=1
  notes+=("unit suite (see the unit summary above)")
fi

# ------------------------------------------------------------------------- docs
if ! bash scripts/check-docs.sh; then
  status=1
  notes+=("docs (doc examples, doc lint or the JSR dry run)")
fi

# ------------------------------------------------------------------ the npm package
# Builds dist/, packs it, and runs thread and worker mode from the packed package through
# import and require on Node 24.
if ! bash scripts/check-dist.sh; then
  status=1
  notes+=("the npm package (scripts/check-dist.sh)")
fi

# ------------------------------------------------------------------ worker suite
# Worker mode (flusher: "worker") with the memory transport in a real worker: real time,
# a few seconds per runtime, no broker. Worker mode needs Node 22 or later.
shopt -s nullglob
worker_files=(tests/worker/*.test.ts)
shopt -u nullglob
if [[ ${#worker_files[@]} -gt 0 ]]; then
  worker_bun=()
  for f in "${worker_files[@]}"; do worker_bun+=("./$f"); done
  for rt in node22 node24 node26 deno bun; do
    case $rt in
      node*) run_suite "worker-$rt" node 600 "$(node_bin "${rt#node}")" --import "$NODE_HOOK" --test --test-reporter=spec "${worker_files[@]}" ;;
      deno) run_suite "worker-$rt" deno 600 deno test -A --no-check --no-lock "${worker_files[@]}" ;;
      bun) run_suite "worker-$rt" bun 600 bun test --timeout 60000 "${worker_bun[@]}" ;;
    esac
    [[ "${RESULT_OK[-1]}" == ok ]] || status=1
  done
fi

# ------------------------------------------------------------------ parity suite
# tests/parity: every public-API behaviour test once per flusher mode ("[thread] …" and
# "[worker] …", the memory transport; worker mode in a real worker), on real time, no
# broker. A difference between the modes is a failure.
shopt -s nullglob
parity_files=(tests/parity/*.test.ts)
shopt -u nullglob
if [[ ${#parity_files[@]} -gt 0 ]]; then
  parity_bun=()
  for f in "${parity_files[@]}"; do parity_bun+=("./$f"); done
  for rt in node22 node24 node26 deno bun; do
    case $rt in
      node*) run_suite "parity-$rt" node 600 "$(node_bin "${rt#node}")" --import "$NODE_HOOK" --test --test-reporter=spec "${parity_files[@]}" ;;
      deno) run_suite "parity-$rt" deno 600 deno test -A --no-check --no-lock "${parity_files[@]}" ;;
      bun) run_suite "parity-$rt" bun 600 bun test --timeout 20000 "${parity_bun[@]}" ;;
    esac
    [[ "${RESULT_OK[-1]}" == ok ]] || status=1
  done
fi

# ------------------------------------------------------------- e2e and fault suites
# They need the real broker: one file at a time, since they share it. The runtimes of
# each suite: see the matrix above.
shopt -s nullglob
e2e_files=(tests/e2e/*.test.ts)
fault_files=()
for f in tests/faults/*.test.ts; do
  # the cluster suite runs against its own cluster (below)
  [[ $f == tests/faults/cluster.test.ts ]] || fault_files+=("$f")
done
edge_files=()
for f in tests/edge/*.test.ts; do
  # the secured edge file runs against the secured broker (below)
  [[ $f == tests/edge/secured.test.ts ]] || edge_files+=("$f")
done
shopt -u nullglob
e2e_limit="${SHEDSINK_E2E_TIMEOUT:-1800}"

if [[ ${#e2e_files[@]} -gt 0 || ${#fault_files[@]} -gt 0 || ${#edge_files[@]} -gt 0 ]]; then
  suites=()
  [[ ${#e2e_files[@]} -gt 0 ]] && suites+=(e2e)
  [[ ${#fault_files[@]} -gt 0 ]] && suites+=(faults)
  # The Kafka e2e and fault files, and the OpenTelemetry exporters' e2e file (whose sinks
  # run in a worker by default with kafkaTransport), again in worker mode
  # (SHEDSINK_FLUSHER=worker: the sink's flusher and @platformatic/kafka in a worker), on
  # Node 24, Deno and Bun. The demo's e2e test is not among them: it runs the demo in
  # both modes itself (the default, a worker, and --flusher thread).
  worker_kafka_files=()
  for f in tests/e2e/kafka.test.ts tests/e2e/otel.test.ts tests/e2e/pino.test.ts "${fault_files[@]}"; do [[ -f $f ]] && worker_kafka_files+=("$f"); done
  [[ ${#worker_kafka_files[@]} -gt 0 ]] && suites+=(worker-kafka)

  header "starting the Kafka broker"
  broker_started=1 # stop it on exit even if `start` fails half-way
  broker_ok=1
  if [[ ! -f scripts/kafka.sh ]]; then
    echo "test: scripts/kafka.sh is missing" >&2
    broker_ok=0
  elif ! bash scripts/kafka.sh start; then
    echo "test: scripts/kafka.sh start failed" >&2
    broker_ok=0
  fi

  for suite in "${suites[@]}"; do
    case $suite in
      e2e) files=("${e2e_files[@]}") ;;
      faults) files=("${fault_files[@]}") ;;
      *) files=("${worker_kafka_files[@]}") ;;
    esac
    bun_files=()
    for f in "${files[@]}"; do bun_files+=("./$f"); done
    if [[ $suite == e2e ]]; then rts=(node22 node24 node26 deno bun); else rts=(node24 deno bun); fi
    if [[ $suite == worker-kafka ]]; then export SHEDSINK_FLUSHER=worker; else unset SHEDSINK_FLUSHER; fi
    for rt in "${rts[@]}"; do
      if [[ $broker_ok -ne 1 ]]; then
        record_result "$suite-$rt" 0 0 bad "no Kafka broker"
        status=1
        continue
      fi
      # One file and one test at a time everywhere: the fault tests pause and kill the
      # broker the others use. Bun's default per-test limit (5 s) is too short for them.
      case $rt in
        # (SHEDSINK_NODE: the demo's e2e test runs scripts/demo.sh on the same Node)
        node*) run_suite "$suite-$rt" node "$e2e_limit" env SHEDSINK_NODE="${rt#node}" "$(node_bin "${rt#node}")" --import "$NODE_HOOK" \
          --test --test-reporter=spec --test-concurrency=1 "${files[@]}" ;;
        deno) run_suite "$suite-$rt" deno "$e2e_limit" deno test -A --no-check --no-lock "${files[@]}" ;;
        bun) run_suite "$suite-$rt" bun "$e2e_limit" bun test --timeout 300000 "${bun_files[@]}" ;;
      esac
      [[ "${RESULT_OK[-1]}" == ok ]] || status=1
    done
  done
  unset SHEDSINK_FLUSHER
  # The edge suite: workerd is the runtime under test, Node 24 only drives it.
  if [[ ${#edge_files[@]} -gt 0 ]]; then
    if [[ $broker_ok -ne 1 ]]; then
      record_result "edge-node24" 0 0 bad "no Kafka broker"
      status=1
    else
      run_suite "edge-node24" node 600 "${NODE24_TEST[@]}" --test-concurrency=1 "${edge_files[@]}"
      [[ "${RESULT_OK[-1]}" == ok ]] || status=1
    fi
  fi
  # examples.sh records its counts (record_result) for the summary; without a broker
  # every example fails.
  bash scripts/examples.sh || status=1
  [[ $broker_ok -eq 1 ]] || notes+=("the Kafka broker did not start")
  # The secured suite has a broker of its own: two JVMs at once are too much for 2 cores.
  header "stopping the Kafka broker"
  bash scripts/kafka.sh stop || echo "test: scripts/kafka.sh stop failed" >&2
  broker_started=0
fi

# ------------------------------------------------------------------ secured suite
# TLS and SASL against the secured broker; the same files on each runtime, one test at a
# time (the tests share the broker and a counting proxy's port).
shopt -s nullglob
secured_files=(tests/secured/*.test.ts)
shopt -u nullglob
secured_limit="${SHEDSINK_SECURED_TIMEOUT:-600}"

if [[ ${#secured_files[@]} -gt 0 ]]; then
  header "starting the secured Kafka broker"
  secured_started=1 # stop it on exit even if `start` fails half-way
  secured_ok=1
  if ! "${secured_broker[@]}" bash scripts/kafka.sh start; then
    echo "test: KAFKA_MODE=secured scripts/kafka.sh start failed" >&2
    secured_ok=0
  fi
  bun_files=()
  for f in "${secured_files[@]}"; do bun_files+=("./$f"); done
  in_secured=(env KAFKA_DIR="$secured_dir" KAFKA_SECURED_DIR="$secured_dir")
  for rt in node24 node22 deno bun; do
    if [[ $secured_ok -ne 1 ]]; then
      record_result "secured-$rt" 0 0 bad "no secured Kafka broker"
      status=1
      continue
    fi
    case $rt in
      # Node 24: confluent (the file's default on Node); Node 22: platformatic
      node24) run_suite "secured-$rt" node "$secured_limit" "${in_secured[@]}" "${NODE24_TEST[@]}" --test-concurrency=1 "${secured_files[@]}" ;;
      node22) run_suite "secured-$rt" node "$secured_limit" "${in_secured[@]}" SHEDSINK_SECURED_CLIENT=platformatic \
        "${NODE22_TEST[@]}" --test-concurrency=1 "${secured_files[@]}" ;;
      deno) run_suite "secured-$rt" deno "$secured_limit" "${in_secured[@]}" deno test -A --no-check --no-lock "${secured_files[@]}" ;;
      bun) run_suite "secured-$rt" bun "$secured_limit" "${in_secured[@]}" bun test --timeout 300000 "${bun_files[@]}" ;;
    esac
    [[ "${RESULT_OK[-1]}" == ok ]] || status=1
  done
  # TLS and SASL from a Durable Object in workerd (Node 24 drives it).
  if [[ -f tests/edge/secured.test.ts ]]; then
    if [[ $secured_ok -ne 1 ]]; then
      record_result "edge-secured-node24" 0 0 bad "no secured Kafka broker"
      status=1
    else
      run_suite "edge-secured-node24" node "$secured_limit" "${in_secured[@]}" "${NODE24_TEST[@]}" --test-concurrency=1 tests/edge/secured.test.ts
      [[ "${RESULT_OK[-1]}" == ok ]] || status=1
    fi
  fi
  header "stopping the secured Kafka broker"
  "${secured_broker[@]}" bash scripts/kafka.sh stop || echo "test: KAFKA_MODE=secured scripts/kafka.sh stop failed" >&2
  secured_started=0
  [[ $secured_ok -eq 1 ]] || notes+=("the secured Kafka broker did not start")
fi

# ------------------------------------------------------------------ cluster suite
# tests/faults/cluster.test.ts against the local 3-node cluster, started once for it. The
# single broker is stopped first (the cluster is three more JVMs on a small machine). Each
# scenario restarts nodes, so they are spread over the runtimes to stay within the time
# budget: all four on Node 24 (librdkafka) and Deno (@platformatic/kafka); on Bun
# (@platformatic/kafka again) all but the rolling restart, the longest; on Node 22 the
# killed leader with librdkafka and the killed bootstrap with @platformatic/kafka.
if [[ -f tests/faults/cluster.test.ts ]]; then
  if [[ $broker_started -eq 1 ]]; then
    header "stopping the Kafka broker"
    bash scripts/kafka.sh stop || echo "test: scripts/kafka.sh stop failed" >&2
    broker_started=0
  fi
  header "starting the Kafka cluster"
  cluster_started=1 # stop it on exit even if `start` fails half-way
  cluster_ok=1
  if ! bash scripts/kafka.sh cluster start; then
    echo "test: scripts/kafka.sh cluster start failed" >&2
    cluster_ok=0
  fi
  cluster_file=tests/faults/cluster.test.ts
  for rt in node24 node22 deno bun; do
    if [[ $cluster_ok -ne 1 ]]; then
      record_result "cluster-$rt" 0 0 bad "no Kafka cluster"
      status=1
      continue
    fi
    scenarios=a,b,c,d
    [[ $rt == node22 ]] && scenarios=a,c-platformatic
    [[ $rt == bun ]] && scenarios=a,c,d
    with=(env SHEDSINK_CLUSTER_SCENARIOS="$scenarios")
    case $rt in
      node24) run_suite "cluster-$rt" node "$e2e_limit" "${with[@]}" "${NODE24_TEST[@]}" --test-concurrency=1 "$cluster_file" ;;
      node22) run_suite "cluster-$rt" node "$e2e_limit" "${with[@]}" "${NODE22_TEST[@]}" --test-concurrency=1 "$cluster_file" ;;
      deno) run_suite "cluster-$rt" deno "$e2e_limit" "${with[@]}" deno test -A --no-check --no-lock "$cluster_file" ;;
      bun) run_suite "cluster-$rt" bun "$e2e_limit" "${with[@]}" bun test --timeout 300000 "./$cluster_file" ;;
    esac
    [[ "${RESULT_OK[-1]}" == ok ]] || status=1
  done
  [[ $cluster_ok -eq 1 ]] || notes+=("the Kafka cluster did not start")
fi

exit $status
