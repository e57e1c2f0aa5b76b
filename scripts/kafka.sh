#!/usr/bin/env bash
# Local single-node Apache Kafka broker (KRaft mode) for shedsink's tests, benchmarks
# and demo, run from the Apache Kafka jars on Maven Central with the machine's Java 17.
#
#   scripts/kafka.sh fetch     copy the Kafka jars into $KAFKA_LIBS (skipped when present)
#   scripts/kafka.sh start     format a fresh data dir, start the broker, wait until a
#                              produce succeeds, print the bootstrap address
#   scripts/kafka.sh stop      SIGTERM (after SIGCONT), SIGKILL after 20 s
#   scripts/kafka.sh pause     SIGSTOP: a hung broker (connections accepted, no answers)
#   scripts/kafka.sh resume    SIGCONT
#   scripts/kafka.sh kill      SIGKILL: a crash; the data dir is kept
#   scripts/kafka.sh restart   stop if running, start again on the same data dir
#   scripts/kafka.sh status    running / paused / stopped (exit 0 in every case)
#   scripts/kafka.sh logs [tail options]   tail the server log (e.g. `logs -f`)
#   scripts/kafka.sh env       print shell exports for the broker's addresses
#   scripts/kafka.sh cluster COMMAND ...   a local 3-node cluster instead (RF 3,
#                              min.insync.replicas 2, ports 39600-39629): see
#                              scripts/kafka/cluster.sh for its commands
#
# Environment (all optional):
#   KAFKA_DIR                      state dir: data/, server.log, kafka.pid (default .kafka)
#   KAFKA_LIBS                     jar dir (default .kafka/libs, shared by every KAFKA_DIR)
#   KAFKA_PORT                     PLAINTEXT listener, the bootstrap (default 39092)
#   KAFKA_CONTROLLER_PORT          KRaft controller listener (default KAFKA_PORT + 1)
#   KAFKA_PROXIED_PORT             PROXIED listener (default KAFKA_PORT + 2)
#   KAFKA_PROXIED_ADVERTISED_PORT  address advertised for PROXIED, where a test proxy
#                                  listens (default KAFKA_PORT + 3)
#   KAFKA_START_TIMEOUT            seconds to wait for readiness (default 60)
#   KAFKA_STOP_TIMEOUT             seconds between SIGTERM and SIGKILL (default 20)
#   KAFKA_HEAP_OPTS                (default "-Xmx512m -Xms256m")
#   JAVA                           java binary (default java)
#   KAFKA_MODE=secured             a SASL_SSL broker with ACLs instead (scripts/kafka/secured.sh:
#                                  start, stop, status, scram-add USER PASS, env, logs)
# Relative KAFKA_DIR / KAFKA_LIBS are taken relative to the repository root.
set -euo pipefail
if [[ "${KAFKA_MODE:-}" == secured ]]; then exec bash "$(dirname "${BASH_SOURCE[0]}")/kafka/secured.sh" "$@"; fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONF_SRC="$ROOT/scripts/kafka"

abspath() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$ROOT/$1" ;; esac; }

KAFKA_DIR="$(abspath "${KAFKA_DIR:-.kafka}")"
KAFKA_LIBS="$(abspath "${KAFKA_LIBS:-.kafka/libs}")"
HOST=127.0.0.1
PORT="${KAFKA_PORT:-39092}"
case "$PORT" in '' | *[!0-9]*) echo "kafka.sh: KAFKA_PORT must be a port number, got '$PORT'" >&2; exit 2 ;; esac
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
PROXIED_PORT="${KAFKA_PROXIED_PORT:-$((PORT + 2))}"
PROXIED_ADVERTISED_PORT="${KAFKA_PROXIED_ADVERTISED_PORT:-$((PORT + 3))}"
for p in "$CONTROLLER_PORT" "$PROXIED_PORT" "$PROXIED_ADVERTISED_PORT"; do
  case "$p" in '' | *[!0-9]*) echo "kafka.sh: ports must be numbers, got '$p'" >&2; exit 2 ;; esac
done
START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-20}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m}"
JAVA="${JAVA:-java}"

BOOTSTRAP="$HOST:$PORT"
PROXIED_BOOTSTRAP="$HOST:$PROXIED_ADVERTISED_PORT"
DATA_DIR="$KAFKA_DIR/data"
PID_FILE="$KAFKA_DIR/kafka.pid"
LOG_FILE="$KAFKA_DIR/server.log"
PROPS="$KAFKA_DIR/server.properties"
READY_TOPIC="shedsink-ready"

say() { echo "kafka.sh: $*" >&2; }
die() { say "$*"; exit 1; }

kafka_version() {
  local jar
  jar="$(ls "$KAFKA_LIBS"/kafka_2.13-*.jar 2>/dev/null | head -n 1 || true)"
  jar="${jar##*/kafka_2.13-}"
  printf '%s\n' "${jar%.jar}"
}

# ---------------------------------------------------------------- fetch

# The jars are copied once; a stamp holding the pom's checksum marks a complete copy,
# so editing the pom (a version bump) replaces the whole set instead of mixing versions.
cmd_fetch() {
  local sum stamp="$KAFKA_LIBS/.pom.sha256"
  sum="$(sha256sum "$CONF_SRC/pom.xml" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$sum" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (Maven is needed once to fetch the Kafka jars)"
  say "fetching Kafka jars into $KAFKA_LIBS"
  local tmp="$KAFKA_LIBS.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$(dirname "$KAFKA_LIBS")"
  # (Debian's mvn prints colour resets even in batch mode: strip them)
  if ! mvn -B -q -f "$CONF_SRC/pom.xml" dependency:copy-dependencies -DoutputDirectory="$tmp" 2>&1 |
    sed -E 's/\x1b\[[0-9;]*m//g; /^$/d' >&2; then
    rm -rf "$tmp"
    die "mvn dependency:copy-dependencies failed"
  fi
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  printf '%s\n' "$sum" >"$stamp"
}

# ---------------------------------------------------------------- process state

# Prints the pid of the broker this KAFKA_DIR started, if it is alive.
broker_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  local cmdline
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  # the pid must still be our broker, not a recycled pid
  [[ "$cmdline" == *"kafka.Kafka $PROPS"* ]] || return 1
  printf '%s\n' "$pid"
}

# R, S, D, T (stopped), Z...
proc_state() { awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true; }

is_paused() { [[ "$(proc_state "$1")" == T ]]; }

# Gone: no such process, or a zombie whose threads have all exited (its sockets are
# closed then; the broker's parent may be slow to reap it).
gone() {
  kill -0 "$1" 2>/dev/null || return 0
  [[ "$(proc_state "$1")" == Z ]] || return 1
  local tasks=("/proc/$1/task/"*)
  ((${#tasks[@]} <= 1))
}

wait_gone() { # pid seconds
  local pid=$1 deadline=$((SECONDS + $2))
  until gone "$pid"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# ---------------------------------------------------------------- readiness

ensure_kcat() {
  command -v kcat >/dev/null && return 0
  say "kcat not found, installing it (apt package kcat)"
  command -v apt-get >/dev/null || die "kcat is required and apt-get is not available to install it"
  local sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo"
  $sudo apt-get update -qq >&2 && $sudo apt-get install -y -qq kcat >&2 || die "could not install kcat"
}

# A real produce, acknowledged by the broker (acks=all), within the given timeout.
produce_ok() { # timeout_ms
  printf 'ready %s\n' "$(date +%s)" | kcat -P -b "$BOOTSTRAP" -t "$READY_TOPIC" \
    -X message.timeout.ms="$1" -X socket.connection.setup.timeout.ms="$1" \
    -X request.required.acks=-1 -X log_level=0 >/dev/null 2>&1
}

print_failure() {
  say "broker not ready; last lines of $LOG_FILE:"
  tail -n 40 "$LOG_FILE" >&2 2>/dev/null || true
}

# Waits until a produce succeeds and the PROXIED listener accepts connections.
wait_ready() { # pid started_at_ns
  local pid=$1 t0=$2 deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      print_failure
      die "broker process $pid exited during startup"
    fi
    if port_open "$PORT" && produce_ok 2000 && port_open "$PROXIED_PORT"; then
      break
    fi
    if ((SECONDS >= deadline)); then
      print_failure
      die "broker (pid $pid) not ready after ${START_TIMEOUT}s"
    fi
    sleep 0.25
  done
  local ms=$((($(date +%s%N) - t0) / 1000000))
  say "Kafka $(kafka_version) ready in $((ms / 1000)).$(printf '%03d' $((ms % 1000)))s (pid $pid, log $LOG_FILE)"
  say "PROXIED listener 127.0.0.1:$PROXIED_PORT, advertised as $PROXIED_BOOTSTRAP"
  printf '%s\n' "$BOOTSTRAP"
}

# ---------------------------------------------------------------- start / stop

write_props() {
  sed -e "s|@PORT@|$PORT|g" \
    -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" \
    -e "s|@PROXIED_PORT@|$PROXIED_PORT|g" \
    -e "s|@PROXIED_ADVERTISED_PORT@|$PROXIED_ADVERTISED_PORT|g" \
    -e "s|@DATA_DIR@|$DATA_DIR|g" \
    "$CONF_SRC/server.properties.in" >"$PROPS"
}

java_opts() {
  printf '%s\n' -Djava.awt.headless=true -XX:+ExitOnOutOfMemoryError \
    "-Dlog4j2.configurationFile=$CONF_SRC/log4j2.properties" -cp "$KAFKA_LIBS/*"
}

check_java() {
  command -v "$JAVA" >/dev/null || die "java not found (Java 17+ is needed)"
}

check_ports_free() {
  local p
  for p in "$PORT" "$CONTROLLER_PORT" "$PROXIED_PORT"; do
    if port_open "$p"; then
      die "port $HOST:$p is already in use by another process (not a broker started from $KAFKA_DIR)"
    fi
  done
}

# A random cluster id in Kafka's format: 16 random bytes, URL-safe base64, no padding.
# (Kafka never hands out ids starting with '-'.)
random_cluster_id() {
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ "$id" == -* ]] || break
  done
  printf '%s\n' "$id"
}

format_storage() {
  rm -rf "$DATA_DIR"
  mkdir -p "$DATA_DIR"
  local opts
  mapfile -t opts < <(java_opts)
  if ! "$JAVA" "${opts[@]}" -Dshedsink.kafka.log.level=WARN kafka.tools.StorageTool \
    format -t "$(random_cluster_id)" -c "$PROPS" >"$KAFKA_DIR/format.log" 2>&1; then
    cat "$KAFKA_DIR/format.log" >&2
    die "kafka.tools.StorageTool format failed"
  fi
}

launch() {
  local opts heap t0 pid
  mapfile -t opts < <(java_opts)
  read -r -a heap <<<"$HEAP_OPTS"
  t0=$1
  # setsid: the broker outlives this script and is not hit by the caller's Ctrl-C;
  # all of its output goes to the log, and it holds none of our fds (lock, pipes).
  setsid "$JAVA" "${heap[@]}" "${opts[@]}" kafka.Kafka "$PROPS" \
    </dev/null >>"$LOG_FILE" 2>&1 9>&- &
  pid=$!
  printf '%s\n' "$pid" >"$PID_FILE"
  wait_ready "$pid" "$t0"
}

lock() {
  mkdir -p "$KAFKA_DIR"
  exec 9>"$KAFKA_DIR/.lock"
  flock 9
}

# Returns 0 (after printing the bootstrap) when a broker from this KAFKA_DIR is
# already up; fails when it is paused; waits when it is still starting.
already_running() {
  local pid
  pid="$(broker_pid)" || return 1
  if is_paused "$pid"; then
    die "broker (pid $pid) is paused; run '$0 resume' or '$0 stop'"
  fi
  if produce_ok 3000; then
    say "already running and healthy (pid $pid)"
    printf '%s\n' "$BOOTSTRAP"
    return 0
  fi
  say "broker (pid $pid) is running but not answering yet; waiting"
  wait_ready "$pid" "$(date +%s%N)"
}

cmd_start() {
  local t0
  t0="$(date +%s%N)"
  lock
  check_java
  cmd_fetch
  ensure_kcat
  already_running && return 0
  rm -f "$PID_FILE"
  check_ports_free
  write_props
  format_storage
  : >"$LOG_FILE"
  launch "$t0"
}

cmd_restart() {
  local t0 pid
  t0="$(date +%s%N)"
  lock
  check_java
  cmd_fetch
  ensure_kcat
  if pid="$(broker_pid)"; then
    stop_pid "$pid"
  fi
  rm -f "$PID_FILE"
  [[ -f "$DATA_DIR/meta.properties" ]] || die "no formatted data dir at $DATA_DIR; use '$0 start'"
  check_ports_free
  write_props
  echo "----- restart $(date '+%F %T') -----" >>"$LOG_FILE"
  launch "$t0"
}

stop_pid() {
  local pid=$1
  kill -CONT "$pid" 2>/dev/null || true
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_gone "$pid" "$STOP_TIMEOUT"; then
    say "broker (pid $pid) still running after ${STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 10 || die "broker (pid $pid) did not exit after SIGKILL"
  fi
  say "stopped (pid $pid)"
}

cmd_stop() {
  local pid
  [[ -d "$KAFKA_DIR" ]] || { say "not running"; return 0; }
  lock
  if pid="$(broker_pid)"; then
    stop_pid "$pid"
  else
    say "not running"
  fi
  rm -f "$PID_FILE"
}

cmd_kill() {
  local pid
  [[ -d "$KAFKA_DIR" ]] || { say "not running"; return 0; }
  lock
  if pid="$(broker_pid)"; then
    kill -KILL "$pid"
    wait_gone "$pid" 10 || die "broker (pid $pid) did not exit after SIGKILL"
    say "killed (pid $pid); data kept in $DATA_DIR, use '$0 restart'"
  else
    say "not running"
  fi
  rm -f "$PID_FILE"
}

cmd_signal() { # signal verb
  local pid
  pid="$(broker_pid)" || die "not running"
  kill -"$1" "$pid"
  say "$2 (pid $pid)"
}

cmd_status() {
  local pid
  if pid="$(broker_pid)"; then
    if is_paused "$pid"; then
      echo "paused pid=$pid bootstrap=$BOOTSTRAP dir=$KAFKA_DIR"
    elif command -v kcat >/dev/null && produce_ok 3000; then
      echo "running pid=$pid bootstrap=$BOOTSTRAP dir=$KAFKA_DIR"
    else
      echo "unhealthy pid=$pid bootstrap=$BOOTSTRAP dir=$KAFKA_DIR (process up, produce failed)"
    fi
  else
    echo "stopped dir=$KAFKA_DIR"
  fi
}

cmd_logs() {
  [[ -f "$LOG_FILE" ]] || die "no log at $LOG_FILE"
  if (($# == 0)); then set -- -n 100; fi
  exec tail "$@" "$LOG_FILE"
}

cmd_env() {
  cat <<EOF
export KAFKA_DIR='$KAFKA_DIR'
export KAFKA_PORT=$PORT
export KAFKA_CONTROLLER_PORT=$CONTROLLER_PORT
export KAFKA_PROXIED_PORT=$PROXIED_PORT
export KAFKA_PROXIED_ADVERTISED_PORT=$PROXIED_ADVERTISED_PORT
export KAFKA_BOOTSTRAP=$BOOTSTRAP
export KAFKA_PROXIED_BOOTSTRAP=$PROXIED_BOOTSTRAP
EOF
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

# scripts/kafka/cluster.sh sources this file for its functions, without a command.
[[ "${KAFKA_SH_LIBRARY:-0}" == 1 ]] && return 0

cmd="${1:-}"
shift || true
case "$cmd" in
  cluster) exec bash "$CONF_SRC/cluster.sh" "$@" ;;
  fetch) cmd_fetch ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  pause) cmd_signal STOP paused ;;
  resume) cmd_signal CONT resumed ;;
  kill) cmd_kill ;;
  restart) cmd_restart ;;
  status) cmd_status ;;
  logs) cmd_logs "$@" ;;
  env) cmd_env ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
