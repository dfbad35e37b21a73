#!/usr/bin/env bash
# CPU per 1,000 events at a fixed MQTT rate for one buffer.commitLinger / kafka.batch.linger pair, in steady state:
# a gateway (dist/, default config otherwise) on a fresh buffer, 3,000 messages of warm-up, then --count messages
# at --rate from bench/publisher.mjs; CPU of the whole process and of its JavaScript thread from /proc, and the
# buffer's own commit counters (etg_buffer_commits_total, etg_buffer_committed_events_total) and the produce requests
# (etg_kafka_sent_batches_total) from /metrics, and the peak RSS (VmHWM).
#
#   npm run build && npm run kafka:start            # a broker on 127.0.0.1:9092; Mosquitto on 127.0.0.1:1883
#   bash bench/commit-linger.sh 2 5 && bash bench/commit-linger.sh 5 20    # alternate pairs, run each several times
#
# Env: KAFKA (127.0.0.1:9092), MQTT_URL (mqtt://127.0.0.1:1883), RATE (1000), COUNT (20000), HTTP_PORT (9477),
# NODE_ARGS (node flags before dist/cli.js, e.g. --heap-growing-percent=0). The gateway runs with the systemd unit's
# NODE_OPTIONS.
set -euo pipefail
cd "$(dirname "$0")/.."
commit_linger=${1:?commit linger in ms}
batch_linger=${2:?batch linger in ms}
kafka=${KAFKA:-127.0.0.1:9092}
mqtt_url=${MQTT_URL:-mqtt://127.0.0.1:1883}
rate=${RATE:-1000}
count=${COUNT:-20000}
port=${HTTP_PORT:-9477}
run=$(date +%s%N | tail -c 9)
# shellcheck source=bench/gateway-run.sh
. bench/gateway-run.sh
BENCH_DIR=$(mktemp -d)
dir=$BENCH_DIR
trap bench_cleanup EXIT
start_gateway "cl$run" "$dir" "$port" "$mqtt_url" "$kafka" ", commitLinger: $commit_linger" "  batch: { maxEvents: 5000, maxBytes: 900000, linger: $batch_linger }"
gw=$GATEWAY_PID
publish() { node bench/publisher.mjs --url "$mqtt_url" --base "cl$run" --count "$1" --devices 50 --rate "$rate" --prefix dev- > /dev/null; }
commits() { curl -s "localhost:$port/metrics" | awk '/^etg_buffer_commits_total /{c=$2} /^etg_buffer_committed_events_total /{e=$2} /^etg_kafka_sent_batches_total /{b=$2} END{print c, e, b}'; }
publish 3000
read -r c0 e0 b0 < <(commits)
p0=$(cpu_ticks /proc/$gw/stat); j0=$(cpu_ticks /proc/$gw/task/$gw/stat)
publish "$count"
p1=$(cpu_ticks /proc/$gw/stat); j1=$(cpu_ticks /proc/$gw/task/$gw/stat)
read -r c1 e1 b1 < <(commits)
peak=$(awk '/^VmHWM/ { print $2 }' "/proc/$gw/status")
kill -TERM "$gw"; wait "$gw" || true
hz=$(getconf CLK_TCK)
awk -v p=$((p1 - p0)) -v j=$((j1 - j0)) -v hz="$hz" -v n="$count" -v c=$((c1 - c0)) -v e=$((e1 - e0)) -v b=$((b1 - b0)) -v peak="$peak" -v flags="${NODE_ARGS:-}" -v cl="$commit_linger" -v bl="$batch_linger" -v ld="$(cut -d' ' -f1 /proc/loadavg)" \
  'BEGIN { printf "commitLinger %s ms, batch.linger %s ms%s: CPU %.0f ms / 1k events (JS thread %.0f), %d commits, %.1f events per commit, %d sends, peak RSS %.0f MB, load %s\n", cl, bl, flags == "" ? "" : " (" flags ")", p * 1000 / hz / (n / 1000), j * 1000 / hz / (n / 1000), c, e / c, b, peak / 1024, ld }'
