#!/usr/bin/env bash
# Peak RSS, rate and CPU of a gateway draining a backlog, for A/B runs of node flags or environment:
# a buffer of N pending readings is filled once (bench/fill-buffer.mjs, cached in $TMPDIR/etg-drain-rss), copied
# for each run, and drained by a gateway (dist/, the systemd unit's NODE_OPTIONS) into a local broker until
# etg_buffer_pending_events is 0 on /metrics. Rate counts from the gateway's start.
#
#   npm run build && npm run kafka:start        # a broker on 127.0.0.1:9092; Mosquitto on 127.0.0.1:1883
#   N=1000000 bash bench/drain-rss.sh && N=1000000 NODE_ARGS=--heap-growing-percent=0 bash bench/drain-rss.sh
#
# Env: N (200000), NODE_ARGS (flags before dist/cli.js, e.g. --heap-growing-percent=0 for V8's own factor),
# KAFKA (127.0.0.1:9092), MQTT_URL (mqtt://127.0.0.1:1883), HTTP_PORT (9478). Extra arguments are VAR=value pairs
# for the gateway's environment (e.g. MALLOC_ARENA_MAX=2).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-200000}
port=${HTTP_PORT:-9478}
cache=${TMPDIR:-/tmp}/etg-drain-rss
node_options=$(sed -n 's/^Environment=NODE_OPTIONS=//p' systemd/edge-telemetry-gateway.service)
mkdir -p "$cache"
[ -f "$cache/backlog-$n.db" ] || node bench/fill-buffer.mjs --path "$cache/backlog-$n.db" --events "$n" --gateway-id bench-drain > /dev/null
run=$(date +%s%N | tail -c 9)
dir=$(mktemp -d "$cache/run-XXXX")
trap 'rm -rf "$dir"' EXIT
cp "$cache/backlog-$n.db" "$dir/buffer.db"
cat > "$dir/gateway.yaml" <<YAML
gateway: { id: bench-drain }
logging: { level: warn }
buffer: { path: $dir/buffer.db }
kafka:
  brokers: [${KAFKA:-127.0.0.1:9092}]
  topics: { prefix: dr$run. }
http: { port: $port }
inputs:
  - type: mqtt
    name: bench
    url: ${MQTT_URL:-mqtt://127.0.0.1:1883}
    clientId: dr$run-mqtt
    subscriptions:
      - topic: dr$run/+
        deviceId: "{1}"
        metrics: [{ field: temperature, metric: temperature, unit: Cel }]
YAML
started=$(date +%s.%N)
# shellcheck disable=SC2086 # NODE_ARGS is a list of flags
env NODE_OPTIONS="$node_options" "$@" node ${NODE_ARGS:-} dist/cli.js run --config "$dir/gateway.yaml" > "$dir/gateway.log" 2>&1 &
gw=$!
pending() { { curl -s "localhost:$port/metrics" 2>/dev/null || true; } | awk '/^etg_buffer_pending_events/ { s += $2; n++ } END { print n ? s : -1 }'; }
drained=
for _ in $(seq 36000); do
  [ "$(pending)" = 0 ] && { drained=yes; break; }
  kill -0 "$gw" 2> /dev/null || { echo "the gateway exited:" >&2; cat "$dir/gateway.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$drained" ] || { kill -TERM "$gw"; echo "drain-rss: $n events not drained within an hour (is Kafka at ${KAFKA:-127.0.0.1:9092}?): $dir/gateway.log" >&2; cat "$dir/gateway.log" >&2; exit 1; }
ended=$(date +%s.%N)
peak=$(awk '/^VmHWM/ { print $2 }' "/proc/$gw/status")
ticks=$(awk '{ print $14 + $15 }' "/proc/$gw/stat")
kill -TERM "$gw"; wait "$gw" || true
awk -v n="$n" -v s="$started" -v e="$ended" -v peak="$peak" -v ticks="$ticks" -v hz="$(getconf CLK_TCK)" -v what="${NODE_ARGS:-(no node flags)} $*" -v ld="$(cut -d' ' -f1 /proc/loadavg)" \
  'BEGIN { printf "%s: drained %d events at %.0f ev/s (from start), peak RSS %.0f MB, CPU %.0f ms / 1k events, load %s\n", what, n, n / (e - s), peak / 1024, ticks * 1000 / hz / (n / 1000), ld }'
