#!/usr/bin/env bash
# Start or stop a real Apache Kafka broker (KRaft combined mode) and a real
# Redis server on loopback, with no Docker: Kafka from its Maven Central jars,
# Redis from Debian's redis-server. Used by .ci/run and by developers who want
# the integration tests to run against the real thing.
#
#   scripts/services.sh start   # prints the SPM_* exports to use
#   scripts/services.sh stop
#   scripts/services.sh env     # prints the exports again
#
# Downloads are cached in $SPM_CACHE_DIR (default ~/.cache/spm-stream), outside
# the repository, so reruns are fast. Runtime state lives in $SPM_SERVICES_DIR.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${SPM_CACHE_DIR:-$HOME/.cache/spm-stream}"
run="${SPM_SERVICES_DIR:-/tmp/spm-services}"
kafka_port="${SPM_KAFKA_PORT:-19092}"
controller_port="${SPM_KAFKA_CONTROLLER_PORT:-19093}"
redis_port="${SPM_REDIS_PORT:-16379}"
kafka_version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/.ci/kafka/pom.xml")"
libs="$cache/kafka-$kafka_version/libs"

log() { printf '[services] %s\n' "$*" >&2; }

wait_port() {  # host port seconds what
  local deadline=$((SECONDS + $3))
  until (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; do
    if ((SECONDS > deadline)); then log "$4 did not open $1:$2 in $3 s"; return 1; fi
    sleep 0.5
  done
}

fetch_kafka() {
  if [[ -f "$libs/.complete" ]]; then return; fi
  log "resolving Apache Kafka $kafka_version jars from Maven Central into $libs"
  mkdir -p "$libs"
  mvn -q -B -f "$here/.ci/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$libs" >&2
  touch "$libs/.complete"
}

start_redis() {
  mkdir -p "$run/redis"
  if redis-cli -p "$redis_port" ping >/dev/null 2>&1; then log "redis already up on $redis_port"; return; fi
  # AOF with fsync on every write: a batch Redis acknowledged must survive a crash,
  # because the worker then lets Kafka commit past it (see README, exactly-once).
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$run/redis" \
    --appendonly yes --appendfsync always --save "" \
    --daemonize yes --pidfile "$run/redis/redis.pid" --logfile "$run/redis/redis.log"
  wait_port 127.0.0.1 "$redis_port" 20 redis
  log "redis $(redis-server --version | awk '{print $3}') up on 127.0.0.1:$redis_port"
}

start_kafka() {
  fetch_kafka
  mkdir -p "$run/kafka"
  if (exec 3<>"/dev/tcp/127.0.0.1/$kafka_port") 2>/dev/null; then log "kafka already up on $kafka_port"; return; fi
  local cfg="$run/kafka/server.properties"
  cat >"$cfg" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$kafka_port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$kafka_port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$run/kafka/data
num.partitions=4
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
PROPS
  cat >"$run/kafka/log4j.properties" <<PROPS
log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$run/kafka/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.KafkaRaftServer=INFO
PROPS
  local java=(java -Xms256m -Xmx1g -cp "$libs/*" "-Dlog4j.configuration=file:$run/kafka/log4j.properties")
  if [[ ! -f "$run/kafka/data/meta.properties" ]]; then
    "${java[@]}" kafka.tools.StorageTool format -t "$("${java[@]}" kafka.tools.StorageTool random-uuid)" \
      -c "$cfg" --ignore-formatted >/dev/null
  fi
  nohup "${java[@]}" kafka.Kafka "$cfg" >"$run/kafka/stdout.log" 2>&1 &
  echo $! >"$run/kafka/kafka.pid"
  wait_port 127.0.0.1 "$kafka_port" 90 kafka || { tail -50 "$run/kafka/stdout.log" "$run/kafka/server.log" >&2; return 1; }
  log "apache kafka $kafka_version (KRaft) up on 127.0.0.1:$kafka_port"
}

stop_pidfile() {
  local f="$1"
  [[ -f "$f" ]] || return 0
  local pid; pid="$(cat "$f")"
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

print_env() {
  echo "export SPM_KAFKA_URL=kafka://127.0.0.1:$kafka_port"
  echo "export SPM_REDIS_URL=redis://127.0.0.1:$redis_port/0"
}

case "${1:-}" in
  start) start_redis; start_kafka; print_env ;;
  stop) stop_pidfile "$run/kafka/kafka.pid"; redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true; log "stopped" ;;
  # Kafka alone (the fault tests stop and restart a broker of their own).
  kafka-start) start_kafka ;;
  kafka-stop) stop_pidfile "$run/kafka/kafka.pid"; log "kafka stopped" ;;
  env) print_env ;;
  fetch) fetch_kafka ;;
  *) echo "usage: $0 start|stop|kafka-start|kafka-stop|env|fetch" >&2; exit 2 ;;
esac
