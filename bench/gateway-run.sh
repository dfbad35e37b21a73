# Sourced (not run) by the bench scripts that measure one gateway against brokers that already run:
# bench/commit-linger.sh, bench/busy-timeline.sh, bench/latency-split.sh.
#
# bench_cleanup: for `trap bench_cleanup EXIT`: stops the gateway if it still runs and removes BENCH_DIR.
BENCH_DIR=${BENCH_DIR:-}
GATEWAY_PID=
bench_cleanup() {
  if [ -n "$GATEWAY_PID" ]; then kill -TERM "$GATEWAY_PID" 2> /dev/null || true; fi
  if [ -n "$BENCH_DIR" ]; then rm -rf "$BENCH_DIR"; fi
}

# start_gateway ID DIR PORT MQTT_URL KAFKA [BUFFER_EXTRA] [KAFKA_EXTRA]
#   Writes DIR/gateway.yaml (buffer DIR/buffer.db, topics prefixed bench-ID., one MQTT subscription ID/+ whose last
#   topic level is the device id, a temperature reading per message timed by its `t`), starts `dist/cli.js run` with
#   the systemd unit's NODE_OPTIONS (and NODE_ARGS before the script) in the background, sets GATEWAY_PID, and
#   returns once /readyz answers on PORT (fails with the log's tail after 60 s). BUFFER_EXTRA is appended inside the
#   buffer block (", commitLinger: 20"), KAFKA_EXTRA as lines of the kafka block.
start_gateway() {
  local id=$1 dir=$2 port=$3 mqtt_url=$4 kafka=$5 buffer_extra=${6:-} kafka_extra=${7:-}
  cat > "$dir/gateway.yaml" <<YAML
gateway: { id: $id }
logging: { level: warn }
buffer: { path: $dir/buffer.db$buffer_extra }
kafka:
  brokers: [$kafka]
  topics: { prefix: bench-$id. }
$kafka_extra
http: { port: $port }
inputs:
  - type: mqtt
    name: bench
    url: $mqtt_url
    clientId: $id-mqtt
    subscriptions:
      - topic: $id/+
        deviceId: "{1}"
        timestamp: { field: t, format: unix-ms }
        metrics: [{ field: temperature, metric: temperature, unit: Cel }]
YAML
  local node_options
  node_options=$(sed -n 's/^Environment=NODE_OPTIONS=//p' systemd/edge-telemetry-gateway.service)
  # shellcheck disable=SC2086 # NODE_ARGS is a list of flags
  NODE_OPTIONS="$node_options" node ${NODE_ARGS:-} dist/cli.js run --config "$dir/gateway.yaml" > "$dir/gateway.log" 2>&1 &
  GATEWAY_PID=$!
  for _ in $(seq 120); do
    curl -sf "localhost:$port/readyz" > /dev/null && return 0
    sleep 0.5
  done
  echo "the gateway did not become ready on port $port; its log ends with:" >&2
  tail -20 "$dir/gateway.log" >&2
  return 1
}

# cpu_ticks FILE: user + system clock ticks of a /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat file.
cpu_ticks() { awk '{print $14 + $15}' "$1"; }
