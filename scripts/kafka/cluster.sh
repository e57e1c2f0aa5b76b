#!/usr/bin/env bash
# Local 3-node Apache Kafka cluster (KRaft, each node a combined broker + controller) for
# shedsink's cluster fault tests: replication factor 3, min.insync.replicas 2, loopback
# only. Run it as `scripts/kafka.sh cluster COMMAND` (or this file directly). It shares
# the jars, the properties template (server.properties.in, with the cluster's settings
# appended) and the log4j config of scripts/kafka.sh.
#
#   cluster start        format fresh data dirs (one cluster id, one voter set), start the
#                        3 nodes at once, wait until a produce with acks=all to an RF-3
#                        topic succeeds, print the bootstrap list
#   cluster stop         every node: SIGCONT, SIGTERM, SIGKILL after KAFKA_STOP_TIMEOUT
#   cluster status       one line per node: running / paused / stopped (exit 0)
#   cluster kill N       SIGKILL node N (1-3): a crash; its data dir is kept
#   cluster stop N       graceful stop of node N (SIGTERM: it hands its leaderships and
#                        leaves the ISRs first); its data dir is kept
#   cluster pause N      SIGSTOP node N: hung (connections accepted, no answers)
#   cluster resume N     SIGCONT node N
#   cluster restart N    graceful stop of node N if running, start on the same data dir,
#                        wait until it is back in the ISR of every partition it holds
#                        (the step of a rolling restart)
#   cluster leader TOPIC one line per partition: "PARTITION LEADER ISR" (leader -1: none)
#   cluster topic NAME [PARTITIONS]   create a topic with replication factor 3 (default
#                        6 partitions) and wait until every partition has a leader
#   cluster logs N [tail options]     tail node N's server log
#   cluster env          shell exports: KAFKA_CLUSTER_BOOTSTRAP, KAFKA_CLUSTER_NODE1..3
#
# Node N listens on 127.0.0.1:3960N (PLAINTEXT, the bootstrap) and 127.0.0.1:3961N
# (CONTROLLER); its state is in $KAFKA_CLUSTER_DIR/nodeN (data/, server.log, kafka.pid).
#
# Environment (all optional):
#   KAFKA_CLUSTER_DIR     state dir (default .kafka/cluster)
#   KAFKA_CLUSTER_HEAP    heap of each node (default "-Xmx384m -Xms192m")
#   KAFKA_START_TIMEOUT   seconds to wait for readiness (default 90)
#   KAFKA_STOP_TIMEOUT    seconds between SIGTERM and SIGKILL (default 20)
#   KAFKA_LIBS, JAVA      as for scripts/kafka.sh
set -euo pipefail

# The functions of scripts/kafka.sh (fetch, kcat, process state, java options, ...), of its
# single-broker mode (KAFKA_MODE would send it to another script).
unset KAFKA_MODE
KAFKA_SH_LIBRARY=1 source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/kafka.sh"
set -euo pipefail

say() { echo "kafka.sh cluster: $*" >&2; }
die() { say "$*"; exit 1; }

CLUSTER_DIR="$(abspath "${KAFKA_CLUSTER_DIR:-.kafka/cluster}")"
NODES=(1 2 3)
CLUSTER_HEAP="${KAFKA_CLUSTER_HEAP:--Xmx384m -Xms192m}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
READY_TOPIC="shedsink-cluster-ready"

node_port() { echo $((39600 + $1)); }
controller_port() { echo $((39610 + $1)); }
node_dir() { echo "$CLUSTER_DIR/node$1"; }
node_props() { echo "$CLUSTER_DIR/node$1/server.properties"; }
node_log() { echo "$CLUSTER_DIR/node$1/server.log"; }
node_pid_file() { echo "$CLUSTER_DIR/node$1/kafka.pid"; }

CLUSTER_BOOTSTRAP="$HOST:$(node_port 1),$HOST:$(node_port 2),$HOST:$(node_port 3)"
VOTERS="1@$HOST:$(controller_port 1),2@$HOST:$(controller_port 2),3@$HOST:$(controller_port 3)"

check_node() {
  case "${1:-}" in 1 | 2 | 3) ;; *) die "a node number (1, 2 or 3) is needed, got '${1:-}'" ;; esac
}

# The pid of node N, if it is alive and still our broker.
node_pid() {
  local file pid cmdline
  file="$(node_pid_file "$1")"
  [[ -f "$file" ]] || return 1
  pid="$(cat "$file" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmdline" == *"kafka.Kafka $(node_props "$1")"* ]] || return 1
  printf '%s\n' "$pid"
}

lock() {
  mkdir -p "$CLUSTER_DIR"
  exec 9>"$CLUSTER_DIR/.lock"
  flock 9
}

# The single-node template with the cluster's settings appended (a later key wins).
write_node_props() {
  local n=$1 dir
  dir="$(node_dir "$n")"
  mkdir -p "$dir"
  sed -e "s|@PORT@|$(node_port "$n")|g" \
    -e "s|@CONTROLLER_PORT@|$(controller_port "$n")|g" \
    -e "s|@PROXIED_PORT@|0|g" \
    -e "s|@PROXIED_ADVERTISED_PORT@|0|g" \
    -e "s|@DATA_DIR@|$dir/data|g" \
    "$CONF_SRC/server.properties.in" >"$(node_props "$n")"
  cat >>"$(node_props "$n")" <<EOF

# ---- 3-node cluster (scripts/kafka/cluster.sh): these override the settings above
node.id=$n
controller.quorum.voters=$VOTERS
listeners=PLAINTEXT://$HOST:$(node_port "$n"),CONTROLLER://$HOST:$(controller_port "$n")
advertised.listeners=PLAINTEXT://$HOST:$(node_port "$n")
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
# a replica that stops fetching leaves the ISR after this long (default 30 s)
replica.lag.time.max.ms=10000
# three JVMs on a small machine
num.io.threads=2
EOF
}

format_node() { # n cluster_id
  local n=$1 dir opts
  dir="$(node_dir "$n")"
  rm -rf "$dir/data"
  mkdir -p "$dir/data"
  mapfile -t opts < <(java_opts)
  "$JAVA" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC "${opts[@]}" -Dshedsink.kafka.log.level=WARN \
    kafka.tools.StorageTool format -t "$2" -c "$(node_props "$n")" >"$dir/format.log" 2>&1
}

launch_node() {
  local n=$1 opts heap pid
  mapfile -t opts < <(java_opts)
  read -r -a heap <<<"$CLUSTER_HEAP"
  setsid "$JAVA" "${heap[@]}" "${opts[@]}" kafka.Kafka "$(node_props "$n")" \
    </dev/null >>"$(node_log "$n")" 2>&1 9>&- &
  pid=$!
  printf '%s\n' "$pid" >"$(node_pid_file "$n")"
}

check_node_ports_free() {
  local p
  for p in "$(node_port "$1")" "$(controller_port "$1")"; do
    port_open "$p" && die "port $HOST:$p is already in use by another process (not node $1 of $CLUSTER_DIR)"
  done
  return 0
}

cluster_produce_ok() { # timeout_ms
  printf 'ready %s\n' "$(date +%s)" | kcat -P -b "$CLUSTER_BOOTSTRAP" -t "$READY_TOPIC" \
    -X message.timeout.ms="$1" -X socket.connection.setup.timeout.ms="$1" \
    -X request.required.acks=-1 -X log_level=0 >/dev/null 2>&1
}

print_node_failure() {
  say "node $1 not ready; last lines of $(node_log "$1"):"
  tail -n 30 "$(node_log "$1")" >&2 2>/dev/null || true
}

elapsed() { # t0_ns
  local ms=$((($(date +%s%N) - $1) / 1000000))
  printf '%d.%03ds' $((ms / 1000)) $((ms % 1000))
}

cmd_start() {
  local t0 n id pids=() running=0 deadline
  t0="$(date +%s%N)"
  lock
  check_java
  cmd_fetch
  ensure_kcat
  for n in "${NODES[@]}"; do node_pid "$n" >/dev/null && running=$((running + 1)); done
  if ((running == 3)) && cluster_produce_ok 5000; then
    say "already running and healthy"
    printf '%s\n' "$CLUSTER_BOOTSTRAP"
    return 0
  fi
  ((running == 0)) || die "$running of 3 nodes run but the cluster takes no writes; run 'scripts/kafka.sh cluster stop' first"
  for n in "${NODES[@]}"; do
    rm -f "$(node_pid_file "$n")"
    check_node_ports_free "$n"
    write_node_props "$n"
    : >"$(node_log "$n")"
  done
  id="$(random_cluster_id)"
  for n in "${NODES[@]}"; do
    format_node "$n" "$id" &
    pids+=($!)
  done
  for n in "${NODES[@]}"; do
    if ! wait "${pids[$((n - 1))]}"; then
      cat "$(node_dir "$n")/format.log" >&2
      die "kafka.tools.StorageTool format failed for node $n"
    fi
  done
  for n in "${NODES[@]}"; do launch_node "$n"; done
  deadline=$((SECONDS + START_TIMEOUT))
  while ! cluster_produce_ok 2000; do
    for n in "${NODES[@]}"; do
      if ! kill -0 "$(cat "$(node_pid_file "$n")")" 2>/dev/null; then
        print_node_failure "$n"
        die "node $n exited during startup"
      fi
    done
    if ((SECONDS >= deadline)); then
      for n in "${NODES[@]}"; do print_node_failure "$n"; done
      die "cluster not ready after ${START_TIMEOUT}s"
    fi
    sleep 0.25
  done
  say "Kafka $(kafka_version) cluster of 3 ready in $(elapsed "$t0") (dir $CLUSTER_DIR)"
  printf '%s\n' "$CLUSTER_BOOTSTRAP"
}

# SIGCONT, SIGTERM, SIGKILL after STOP_TIMEOUT; for several pids at once.
stop_pids() {
  local pid deadline=$((SECONDS + STOP_TIMEOUT)) left
  for pid in "$@"; do kill -CONT "$pid" 2>/dev/null || true; done
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  while :; do
    left=()
    for pid in "$@"; do gone "$pid" || left+=("$pid"); done
    ((${#left[@]} == 0)) && return 0
    ((SECONDS < deadline)) || break
    sleep 0.1
  done
  say "still running after ${STOP_TIMEOUT}s, sending SIGKILL: ${left[*]}"
  for pid in "${left[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${left[@]}"; do wait_gone "$pid" 10 || die "pid $pid did not exit after SIGKILL"; done
}

cmd_stop() {
  local n pid pids=()
  [[ -d "$CLUSTER_DIR" ]] || { say "not running"; return 0; }
  lock
  for n in "${NODES[@]}"; do
    if pid="$(node_pid "$n")"; then pids+=("$pid"); fi
  done
  if ((${#pids[@]} == 0)); then
    say "not running"
  else
    stop_pids "${pids[@]}"
    say "stopped (pids ${pids[*]})"
  fi
  for n in "${NODES[@]}"; do rm -f "$(node_pid_file "$n")"; done
}

cmd_kill() {
  local n=$1 pid
  lock
  if pid="$(node_pid "$n")"; then
    kill -KILL "$pid"
    wait_gone "$pid" 10 || die "node $n (pid $pid) did not exit after SIGKILL"
    say "node $n killed (pid $pid); data kept, use 'restart $n'"
  else
    say "node $n not running"
  fi
  rm -f "$(node_pid_file "$n")"
}

cmd_stop_node() {
  local n=$1 pid
  lock
  if pid="$(node_pid "$n")"; then
    stop_pids "$pid"
    say "node $n stopped (pid $pid); data kept, use 'restart $n'"
  else
    say "node $n not running"
  fi
  rm -f "$(node_pid_file "$n")"
}

cmd_signal() { # signal verb n
  local pid
  pid="$(node_pid "$3")" || die "node $3 not running"
  kill -"$1" "$pid"
  say "node $3 $2 (pid $pid)"
}

# kcat's metadata as text: "broker N at ..." and "partition P, leader L, replicas: ..., isrs: ...".
metadata() { # [kcat options]
  kcat -L -b "$CLUSTER_BOOTSTRAP" -m 5 -X log_level=0 "$@" 2>/dev/null
}

# Node N is registered, every partition has a leader, and N is in the ISR of every
# partition it is a replica of.
node_in_sync() {
  local text
  text="$(metadata)" || return 1
  awk -v n="$1" '
    $1 == "broker" && $2 == n { registered = 1 }
    $1 == "partition" {
      leader = $4; sub(",", "", leader)
      if (leader + 0 < 0) bad = 1
      replicas = $6; sub(",$", "", replicas); isrs = $8
      if (("," replicas ",") ~ ("," n ",") && ("," isrs ",") !~ ("," n ",")) bad = 1
    }
    END { exit !(registered && !bad) }' <<<"$text"
}

cmd_restart() {
  local n=$1 t0 pid deadline
  t0="$(date +%s%N)"
  lock
  check_java
  ensure_kcat
  if pid="$(node_pid "$n")"; then stop_pids "$pid"; fi
  rm -f "$(node_pid_file "$n")"
  [[ -f "$(node_dir "$n")/data/meta.properties" ]] || die "no formatted data dir for node $n; use 'start'"
  check_node_ports_free "$n"
  echo "----- restart $(date '+%F %T') -----" >>"$(node_log "$n")"
  launch_node "$n"
  pid="$(cat "$(node_pid_file "$n")")"
  deadline=$((SECONDS + START_TIMEOUT))
  until port_open "$(node_port "$n")" && node_in_sync "$n"; do
    # (kill -0: until the child has exec'd java, its command line is not the broker's)
    if ! kill -0 "$pid" 2>/dev/null; then
      print_node_failure "$n"
      die "node $n exited during startup"
    fi
    if ((SECONDS >= deadline)); then
      print_node_failure "$n"
      die "node $n not back in sync after ${START_TIMEOUT}s"
    fi
    sleep 0.25
  done
  say "node $n restarted and in sync in $(elapsed "$t0")"
}

cmd_status() {
  local n pid
  for n in "${NODES[@]}"; do
    if pid="$(node_pid "$n")"; then
      if is_paused "$pid"; then
        echo "node $n paused pid=$pid address=$HOST:$(node_port "$n")"
      else
        echo "node $n running pid=$pid address=$HOST:$(node_port "$n")"
      fi
    else
      echo "node $n stopped address=$HOST:$(node_port "$n")"
    fi
  done
}

cmd_leader() {
  local topic=${1:-} text
  [[ -n "$topic" ]] || die "usage: leader TOPIC"
  text="$(metadata -t "$topic" -X allow.auto.create.topics=false)" || die "no metadata from $CLUSTER_BOOTSTRAP"
  grep -q "topic \"$topic\" with [1-9]" <<<"$text" || die "no topic $topic"
  awk '$1 == "partition" {
    p = $2; sub(",", "", p); leader = $4; sub(",", "", leader); isrs = $8
    print p, leader, (isrs == "" ? "-" : isrs)
  }' <<<"$text" | sort -n
}

cmd_topic() {
  local name=${1:-} partitions=${2:-6} opts deadline
  [[ -n "$name" ]] || die "usage: topic NAME [PARTITIONS]"
  mapfile -t opts < <(java_opts)
  "$JAVA" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx256m "${opts[@]}" -Dshedsink.kafka.log.level=WARN \
    org.apache.kafka.tools.TopicCommand --bootstrap-server "$CLUSTER_BOOTSTRAP" --create --topic "$name" \
    --partitions "$partitions" --replication-factor 3 >&2 || die "creating topic $name failed"
  deadline=$((SECONDS + 30))
  until [[ "$(cmd_leader "$name" 2>/dev/null | awk '$2 >= 0' | wc -l)" -ge "$partitions" ]]; do
    ((SECONDS < deadline)) || die "topic $name created but not every partition has a leader after 30 s"
    sleep 0.2
  done
}

cmd_logs() {
  local n=$1
  shift
  [[ -f "$(node_log "$n")" ]] || die "no log at $(node_log "$n")"
  if (($# == 0)); then set -- -n 100; fi
  exec tail "$@" "$(node_log "$n")"
}

cmd_env() {
  cat <<EOF
export KAFKA_CLUSTER_DIR='$CLUSTER_DIR'
export KAFKA_CLUSTER_BOOTSTRAP=$CLUSTER_BOOTSTRAP
export KAFKA_CLUSTER_NODE1=$HOST:$(node_port 1)
export KAFKA_CLUSTER_NODE2=$HOST:$(node_port 2)
export KAFKA_CLUSTER_NODE3=$HOST:$(node_port 3)
EOF
}

cluster_usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

cmd="${1:-}"
shift || true
case "$cmd" in
  start) cmd_start ;;
  stop) if (($# > 0)); then check_node "$1"; cmd_stop_node "$1"; else cmd_stop; fi ;;
  status) cmd_status ;;
  kill) check_node "${1:-}"; cmd_kill "$1" ;;
  pause) check_node "${1:-}"; cmd_signal STOP paused "$1" ;;
  resume) check_node "${1:-}"; cmd_signal CONT resumed "$1" ;;
  restart) check_node "${1:-}"; cmd_restart "$1" ;;
  leader) cmd_leader "$@" ;;
  topic) cmd_topic "$@" ;;
  logs) check_node "${1:-}"; cmd_logs "$@" ;;
  env) cmd_env ;;
  -h | --help | help) cluster_usage ;;
  *) cluster_usage >&2; exit 2 ;;
esac
