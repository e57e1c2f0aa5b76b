#!/usr/bin/env bash
# A secured single-node Apache Kafka broker (KRaft) for shedsink's TLS/SASL tests:
# run as `KAFKA_MODE=secured bash scripts/kafka.sh COMMAND`, or directly.
#
#   start              make a CA and a broker certificate with openssl (SAN IP:127.0.0.1,
#                      DNS:localhost), format a fresh data dir with the SCRAM users, start
#                      the broker, wait until an authenticated produce succeeds, create the
#                      ACLs; prints the SASL_SSL bootstrap address
#   stop               SIGTERM, SIGKILL after 20 s
#   status             running / stopped (exit 0 in both cases)
#   scram-add USER PASS  create (or change) a SCRAM-SHA-256 and -512 user while it runs
#   env                print shell exports: addresses, users, certificate paths
#   logs [tail options]
#
# Listeners (loopback only):
#   SASL_SSL       KAFKA_SECURED_PORT (39700): PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, and
#                  OAUTHBEARER with unsecured tokens (alg none, principal = "sub"); the
#                  tests' bootstrap
#   CONTROLLER     KAFKA_SECURED_PORT + 1 (PLAINTEXT, the KRaft controller)
#   INTERNAL       KAFKA_SECURED_PORT + 2 (SASL_PLAINTEXT, PLAIN): inter-broker and admin
#                  work as the super user `admin`
# Users: admin (super user, PLAIN and SCRAM), alice (PLAIN and SCRAM-SHA-256/512: may write,
# describe and create topics whose names start with `secured-a`, nothing else), and users
# added later with scram-add (no ACLs: give them the same rights as alice with
# `scram-add USER PASS alice-acls`). Passwords: see `env`.
# Certificates in $KAFKA_DIR/tls: ca.pem (signs broker.pem), other-ca.pem (signs nothing
# the broker presents: a wrong CA), broker.pem (key and chain).
#
# Environment: KAFKA_DIR (default .kafka/secured), KAFKA_LIBS (default .kafka/libs),
# KAFKA_SECURED_PORT (default 39700), KAFKA_START_TIMEOUT (60), KAFKA_STOP_TIMEOUT (20),
# KAFKA_HEAP_OPTS, JAVA.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CONF_SRC="$ROOT/scripts/kafka"
abspath() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$ROOT/$1" ;; esac; }

KAFKA_DIR="$(abspath "${KAFKA_DIR:-.kafka/secured}")"
KAFKA_LIBS="$(abspath "${KAFKA_LIBS:-.kafka/libs}")"
HOST=127.0.0.1
PORT="${KAFKA_SECURED_PORT:-39700}"
case "$PORT" in '' | *[!0-9]*) echo "secured.sh: KAFKA_SECURED_PORT must be a port number, got '$PORT'" >&2; exit 2 ;; esac
CONTROLLER_PORT=$((PORT + 1))
INTERNAL_PORT=$((PORT + 2))
START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-20}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx384m -Xms128m}"
JAVA="${JAVA:-java}"

TLS_DIR="$KAFKA_DIR/tls"
DATA_DIR="$KAFKA_DIR/data"
PID_FILE="$KAFKA_DIR/kafka.pid"
LOG_FILE="$KAFKA_DIR/server.log"
PROPS="$KAFKA_DIR/server.properties"
ADMIN_PROPS="$KAFKA_DIR/admin.properties"
# Test credentials of a throwaway loopback broker.
ADMIN_PASSWORD="admin-secret-4f9c"
ALICE_PASSWORD="alice-secret-7d2e"
TOPIC_PREFIX_A="secured-a"

say() { echo "secured.sh: $*" >&2; }
die() { say "$*"; exit 1; }

broker_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid cmdline
  pid="$(cat "$PID_FILE" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmdline" == *"kafka.Kafka $PROPS"* ]] || return 1
  printf '%s\n' "$pid"
}

gone() { ! kill -0 "$1" 2>/dev/null || [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" == Z ]]; }
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

java_cp() { # log level: INFO for the broker (its log counts failed handshakes), WARN for tools
  printf '%s\n' -Djava.awt.headless=true "-Dlog4j2.configurationFile=$CONF_SRC/log4j2.properties" "-Dshedsink.kafka.log.level=${1:-WARN}" -cp "$KAFKA_LIBS/*"
}

# ---------------------------------------------------------------- certificates

make_certs() {
  command -v openssl >/dev/null || die "openssl not found"
  rm -rf "$TLS_DIR"
  mkdir -p "$TLS_DIR"
  (
    cd "$TLS_DIR"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=shedsink test CA" -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=shedsink other CA" -keyout other-ca.key -out other-ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout broker.key -out broker.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >broker.ext
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile broker.ext -out broker.crt 2>/dev/null
    # Kafka's PEM keystore: an unencrypted PKCS#8 key, then the chain.
    openssl pkcs8 -topk8 -nocrypt -in broker.key -out broker.pk8
    cat broker.pk8 broker.crt ca.pem >broker.pem
    rm -f broker.csr broker.ext ca.srl
  ) || die "openssl failed"
}

# ---------------------------------------------------------------- configuration

write_props() {
  local plain_users="user_admin=\"$ADMIN_PASSWORD\" user_alice=\"$ALICE_PASSWORD\""
  cat >"$PROPS" <<EOF
# Written by scripts/kafka/secured.sh: a SASL_SSL broker with ACLs, loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CONTROLLER_PORT
controller.listener.names=CONTROLLER
listeners=SASL_SSL://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT,INTERNAL://$HOST:$INTERNAL_PORT
advertised.listeners=SASL_SSL://$HOST:$PORT,INTERNAL://$HOST:$INTERNAL_PORT
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT,INTERNAL:SASL_PLAINTEXT
inter.broker.listener.name=INTERNAL
sasl.mechanism.inter.broker.protocol=PLAIN
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER
listener.name.internal.sasl.enabled.mechanisms=PLAIN
listener.name.internal.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$ADMIN_PASSWORD" $plain_users;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required $plain_users;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
# OAUTHBEARER with Kafka's default validator of unsecured tokens (header {"alg":"none"},
# no signature; the principal is the "sub" claim): a test of the client side only.
listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=$TLS_DIR/broker.pem
ssl.client.auth=none

authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
# admin: the broker itself and admin work; ANONYMOUS: the controller listener (PLAINTEXT).
super.users=User:admin;User:ANONYMOUS

log.dirs=$DATA_DIR
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
auto.create.topics.enable=true
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
log.segment.bytes=16777216
num.network.threads=2
num.io.threads=2
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=3000
EOF
  cat >"$ADMIN_PROPS" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$ADMIN_PASSWORD";
EOF
}

format_storage() {
  rm -rf "$DATA_DIR"
  mkdir -p "$DATA_DIR"
  local opts id
  mapfile -t opts < <(java_cp)
  id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  [[ "$id" != -* ]] || id="A${id:1}"
  if ! "$JAVA" "${opts[@]}" kafka.tools.StorageTool format -t "$id" -c "$PROPS" \
    --add-scram "SCRAM-SHA-256=[name=admin,password=$ADMIN_PASSWORD]" \
    --add-scram "SCRAM-SHA-512=[name=admin,password=$ADMIN_PASSWORD]" \
    --add-scram "SCRAM-SHA-256=[name=alice,password=$ALICE_PASSWORD]" \
    --add-scram "SCRAM-SHA-512=[name=alice,password=$ALICE_PASSWORD]" \
    >"$KAFKA_DIR/format.log" 2>&1; then
    cat "$KAFKA_DIR/format.log" >&2
    die "kafka.tools.StorageTool format failed"
  fi
}

# ---------------------------------------------------------------- admin work

tool() { # class args...
  local opts
  mapfile -t opts < <(java_cp)
  "$JAVA" -Xmx128m "${opts[@]}" "$@"
}

# alice's rights: write, describe and create topics named secured-a*; nothing else.
grant_alice_acls() { # user
  tool org.apache.kafka.tools.AclCommand --bootstrap-server "$HOST:$INTERNAL_PORT" --command-config "$ADMIN_PROPS" \
    --add --allow-principal "User:$1" --operation Write --operation Describe --operation Create \
    --resource-pattern-type prefixed --topic "$TOPIC_PREFIX_A" >"$KAFKA_DIR/acl.log" 2>&1 ||
    { cat "$KAFKA_DIR/acl.log" >&2; die "AclCommand failed"; }
}

cmd_scram_add() { # user password [alice-acls]
  (($# >= 2)) || die "usage: scram-add USER PASSWORD [alice-acls]"
  broker_pid >/dev/null || die "not running"
  local mechanism
  # ACLs first: a user that can authenticate before it may write would see its records rejected.
  if [[ "${3:-}" == alice-acls ]]; then grant_alice_acls "$1"; fi
  # One mechanism per request: the broker refuses two changes of one user in a request.
  for mechanism in SCRAM-SHA-256 SCRAM-SHA-512; do
    tool org.apache.kafka.tools.ConfigCommand --bootstrap-server "$HOST:$INTERNAL_PORT" --command-config "$ADMIN_PROPS" \
      --alter --entity-type users --entity-name "$1" --add-config "$mechanism=[password=$2]" >"$KAFKA_DIR/scram.log" 2>&1 ||
      { cat "$KAFKA_DIR/scram.log" >&2; die "ConfigCommand failed"; }
  done
  say "SCRAM user $1 created"
}

# ---------------------------------------------------------------- start / stop

# An authenticated produce (PLAIN on the INTERNAL listener; Debian's kcat cannot do
# SCRAM-SHA-512 against this broker, PLAIN works), and the SASL_SSL port open.
produce_ok() {
  command -v kcat >/dev/null || return 1
  printf 'ready\n' | kcat -P -b "$HOST:$INTERNAL_PORT" -t shedsink-ready -X security.protocol=SASL_PLAINTEXT \
    -X sasl.mechanisms=PLAIN -X sasl.username=admin -X sasl.password="$ADMIN_PASSWORD" \
    -X message.timeout.ms=2000 -X request.required.acks=-1 -X log_level=0 >/dev/null 2>&1 && port_open "$PORT"
}

cmd_start() {
  local t0 pid opts heap deadline
  t0="$(date +%s%N)"
  mkdir -p "$KAFKA_DIR"
  exec 9>"$KAFKA_DIR/.lock"
  flock 9
  command -v "$JAVA" >/dev/null || die "java not found (Java 17+ is needed)"
  [[ -d "$KAFKA_LIBS" ]] || die "no Kafka jars at $KAFKA_LIBS (run: bash scripts/kafka.sh fetch)"
  command -v kcat >/dev/null || die "kcat not found (bash scripts/kafka.sh start installs it)"
  if pid="$(broker_pid)"; then
    if produce_ok; then say "already running (pid $pid)"; printf '%s\n' "$HOST:$PORT"; return 0; fi
    die "broker (pid $pid) runs but does not answer; run '$0 stop'"
  fi
  local p
  for p in "$PORT" "$CONTROLLER_PORT" "$INTERNAL_PORT"; do
    port_open "$p" && die "port $HOST:$p is already in use by another process"
  done
  make_certs
  write_props
  format_storage
  : >"$LOG_FILE"
  mapfile -t opts < <(java_cp INFO)
  read -r -a heap <<<"$HEAP_OPTS"
  setsid "$JAVA" "${heap[@]}" -XX:+ExitOnOutOfMemoryError "${opts[@]}" kafka.Kafka "$PROPS" </dev/null >>"$LOG_FILE" 2>&1 9>&- &
  pid=$!
  printf '%s\n' "$pid" >"$PID_FILE"
  deadline=$((SECONDS + START_TIMEOUT))
  until produce_ok; do
    if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
      tail -n 40 "$LOG_FILE" >&2 || true
      die "secured broker (pid $pid) not ready"
    fi
    sleep 0.25
  done
  grant_alice_acls alice
  local ms=$((($(date +%s%N) - t0) / 1000000))
  say "secured Kafka ready in $((ms / 1000)).$(printf '%03d' $((ms % 1000)))s (pid $pid, SASL_SSL $HOST:$PORT, log $LOG_FILE)"
  printf '%s\n' "$HOST:$PORT"
}

cmd_stop() {
  local pid deadline
  [[ -d "$KAFKA_DIR" ]] || { say "not running"; return 0; }
  if pid="$(broker_pid)"; then
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT))
    until gone "$pid"; do
      if ((SECONDS >= deadline)); then kill -KILL "$pid" 2>/dev/null || true; fi
      sleep 0.1
    done
    say "stopped (pid $pid)"
  else
    say "not running"
  fi
  rm -f "$PID_FILE"
}

cmd_status() {
  local pid
  if pid="$(broker_pid)"; then echo "running pid=$pid bootstrap=$HOST:$PORT dir=$KAFKA_DIR"; else echo "stopped dir=$KAFKA_DIR"; fi
}

cmd_env() {
  cat <<EOF
export KAFKA_SECURED_BOOTSTRAP=$HOST:$PORT
export KAFKA_SECURED_ADMIN_BOOTSTRAP=$HOST:$INTERNAL_PORT
export KAFKA_SECURED_DIR='$KAFKA_DIR'
export KAFKA_SECURED_CA='$TLS_DIR/ca.pem'
export KAFKA_SECURED_OTHER_CA='$TLS_DIR/other-ca.pem'
export KAFKA_SECURED_USER=alice
export KAFKA_SECURED_PASSWORD='$ALICE_PASSWORD'
export KAFKA_SECURED_ADMIN_PASSWORD='$ADMIN_PASSWORD'
export KAFKA_SECURED_TOPIC_PREFIX=$TOPIC_PREFIX_A
EOF
}

cmd="${1:-}"
shift || true
case "$cmd" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  scram-add) cmd_scram_add "$@" ;;
  env) cmd_env ;;
  logs) [[ -f "$LOG_FILE" ]] || die "no log"; if (($# == 0)); then set -- -n 100; fi; exec tail "$@" "$LOG_FILE" ;;
  *) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
