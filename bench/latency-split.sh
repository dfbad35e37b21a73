#!/usr/bin/env bash
# Where an event's latency goes at a fixed MQTT rate, read back with a third-party client (kcat): a gateway (dist/,
# default config otherwise) on a fresh buffer, COUNT QoS 1 messages at RATE from bench/publisher.mjs; each record's
# publish time (the message's own `t`), the gateway's `receivedAt` (when its input handled the message) and the
# record's Kafka timestamp (CreateTime: librdkafka's produce() call) give three spans, printed as p50 / p90 / p99 / max
# over the messages after the first second:
#   publish → handled     the broker and the TCP connection (Nagle on the broker's socket shows here)
#   handled → produce()   the gateway: the wait for the group commit, the commit, the wait for the send
#   publish → produce()   both
#
#   npm run build && npm run kafka:start       # a broker on 127.0.0.1:9092
#   bash bench/latency-split.sh                # against the Mosquitto on 127.0.0.1:1883
#   MQTT_URL=mqtt://127.0.0.1:1885 bash bench/latency-split.sh    # e.g. a Mosquitto with set_tcp_nodelay true
#
# Env: KAFKA (127.0.0.1:9092), MQTT_URL (mqtt://127.0.0.1:1883), RATE (1000), COUNT (12000), HTTP_PORT (9481),
# NODE_ARGS. The gateway runs with the systemd unit's NODE_OPTIONS. A stock Mosquitto keeps at most 20 QoS 1
# messages in flight per subscriber (max_inflight_messages), which at 1,000 msg/s and a 20 ms commit linger is the
# whole window: use a broker with the shipped settings (config/mosquitto/edge-telemetry-gateway.conf) or the
# suite's (`max_inflight_messages 0`).
set -euo pipefail
cd "$(dirname "$0")/.."
kafka=${KAFKA:-127.0.0.1:9092}
mqtt_url=${MQTT_URL:-mqtt://127.0.0.1:1883}
rate=${RATE:-1000}
count=${COUNT:-12000}
port=${HTTP_PORT:-9481}
run=$(date +%s%N | tail -c 9)
# shellcheck source=bench/gateway-run.sh
. bench/gateway-run.sh
BENCH_DIR=$(mktemp -d)
dir=$BENCH_DIR
trap bench_cleanup EXIT
topic=bench-ls$run.readings
start_gateway "ls$run" "$dir" "$port" "$mqtt_url" "$kafka"
node bench/publisher.mjs --url "$mqtt_url" --base "ls$run" --count "$count" --devices 50 --rate "$rate" > /dev/null
sent=0
for _ in $(seq 300); do
  sent=$(curl -s "localhost:$port/metrics" | awk '/^etg_kafka_sent_events_total/{s+=$2} END{print s+0}')
  [ "$sent" -ge "$count" ] && break
  sleep 0.1
done
if [ "$sent" -lt "$count" ]; then
  echo "only $sent of $count events reached Kafka within 30 s of the last publish; the gateway's log ends with:" >&2
  tail -20 "$dir/gateway.log" >&2
  exit 1
fi
kcat -C -b "$kafka" -t "$topic" -o beginning -e -q -f '%T %s\n' > "$dir/records.txt"
python3 - "$dir/records.txt" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import json, sys
from datetime import datetime

def ms(iso):
    return datetime.fromisoformat(iso.replace('Z', '+00:00')).timestamp() * 1000

rows = []
for line in open(sys.argv[1]):
    created, payload = line.split(' ', 1)
    event = json.loads(payload)
    published, handled = ms(event['sourceTime']), ms(event['receivedAt'])
    rows.append((published, handled - published, int(created) - handled, int(created) - published))
rows.sort()
steady = [r for r in rows if r[0] - rows[0][0] >= 1000]  # the first second: JIT, connections, topic metadata
if not steady:
    sys.exit(f'{len(rows)} records span less than a second: raise COUNT (at least RATE x 2)')
print(f'{len(rows)} records read back with kcat, {len(steady)} after the first second; load {sys.argv[2]}')
for i, span in ((1, 'publish -> handled'), (2, 'handled -> produce()'), (3, 'publish -> produce()')):
    v = sorted(r[i] for r in steady)
    at = lambda p: v[min(len(v) - 1, int(p * len(v)))]
    print(f'{span:22} p50 {at(0.5):5.0f}  p90 {at(0.9):5.0f}  p99 {at(0.99):5.0f}  max {v[-1]:5.0f} ms')
PY
