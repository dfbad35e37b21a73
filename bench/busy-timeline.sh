#!/usr/bin/env bash
# How busy the gateway's JavaScript thread is while it works through a backlog of MQTT messages at full speed:
# a gateway (dist/, default config otherwise) on a fresh buffer, 3,000 messages of warm-up, then COUNT messages
# published at once by bench/publisher.mjs; every ~100 ms one line with the buffer's commits and committed events,
# the events Kafka acknowledged, and the share of a core its JavaScript thread and the whole process used since the
# line before (/proc/<pid>/task/<pid>/stat, /proc/<pid>/stat); the buffer counters move in steps, as the metrics
# refresh them (about once a second). The whole run's averages hide this: they include the
# seconds before the first message and the tail after the last.
#
#   npm run build && npm run kafka:start        # a broker on 127.0.0.1:9092
#   MQTT_URL=mqtt://127.0.0.1:1884 bash bench/busy-timeline.sh
#
# The broker at MQTT_URL must queue the whole burst for the gateway's session: a stock Mosquitto keeps 1,000 queued
# messages per client and drops the rest (max_queued_messages); run one with `max_queued_messages 0`,
# `max_inflight_messages 0` (what the suite's private Mosquitto does, scripts/mosquitto.mjs).
# Env: KAFKA (127.0.0.1:9092), MQTT_URL (mqtt://127.0.0.1:1883), COUNT (30000), HTTP_PORT (9478), NODE_ARGS.
# The gateway runs with the systemd unit's NODE_OPTIONS.
set -euo pipefail
cd "$(dirname "$0")/.."
kafka=${KAFKA:-127.0.0.1:9092}
mqtt_url=${MQTT_URL:-mqtt://127.0.0.1:1883}
count=${COUNT:-30000}
port=${HTTP_PORT:-9478}
run=$(date +%s%N | tail -c 9)
# shellcheck source=bench/gateway-run.sh
. bench/gateway-run.sh
BENCH_DIR=$(mktemp -d)
dir=$BENCH_DIR
trap bench_cleanup EXIT
start_gateway "tl$run" "$dir" "$port" "$mqtt_url" "$kafka"
gw=$GATEWAY_PID
publish() { node bench/publisher.mjs --url "$mqtt_url" --base "tl$run" --count "$1" --devices 50 --prefix dev-; }
figures() { curl -s "localhost:$port/metrics" | awk '/^etg_buffer_commits_total /{c=$2} /^etg_buffer_committed_events_total /{e=$2} /^etg_kafka_sent_events_total/{s+=$2} END{print c+0, e+0, s+0}'; }
publish 3000 > /dev/null
for _ in $(seq 600); do read -r _ committed sent < <(figures); [ "$sent" -ge 3000 ] && [ "$committed" -ge 3000 ] && break; sleep 0.1; done
publish "$count" > "$dir/publisher.json" &
pub=$!
started=$(date +%s%N)
read -r c0 e0 s0 < <(figures); j0=$(cpu_ticks "/proc/$gw/task/$gw/stat"); p0=$(cpu_ticks "/proc/$gw/stat"); t0=$started
hz=$(getconf CLK_TCK)
echo "ms since the burst | commits | committed | acknowledged by Kafka | JS thread % of a core | process %"
for _ in $(seq 3000); do
  sleep 0.1
  read -r c e s < <(figures); j=$(cpu_ticks "/proc/$gw/task/$gw/stat"); p=$(cpu_ticks "/proc/$gw/stat"); t=$(date +%s%N)
  awk -v t=$(( (t - started) / 1000000 )) -v dt=$(( (t - t0) / 1000000 )) -v c=$((c - c0)) -v e=$((e - e0)) -v s=$((s - s0)) -v j=$((j - j0)) -v p=$((p - p0)) -v hz="$hz" \
    'BEGIN { printf "%6d | %4d | %6d | %6d | %4.0f | %4.0f\n", t, c, e, s, j * 100000 / hz / dt, p * 100000 / hz / dt }'
  c0=$c; e0=$e; s0=$s; j0=$j; p0=$p; t0=$t
  [ "$s" -ge $((count + 3000)) ] && break
done
wait "$pub"
echo "publisher: $(cat "$dir/publisher.json"), load $(cut -d' ' -f1 /proc/loadavg)"
