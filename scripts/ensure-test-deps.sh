#!/usr/bin/env bash
# Installs and starts what the test suite needs and a fresh machine of this kind may lack:
# Debian packages (mosquitto, kcat, socat, pymodbus, mbpoll, systemd-analyze, chromium, postgresql, qemu-user and the
# aarch64 cross toolchain), starts PostgreSQL when it is down, then checks the native modules load (and builds the
# librdkafka client when it is missing: scripts/setup-librdkafka.mjs). Idempotent and quick when everything is there. The test brokers themselves (a private Mosquitto
# and a KRaft Kafka from Maven jars) are started by the vitest global setup.
set -euo pipefail
need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || need+=(mosquitto-clients)
command -v kcat >/dev/null 2>&1 || need+=(kcat)
command -v socat >/dev/null 2>&1 || need+=(socat)
command -v mbpoll >/dev/null 2>&1 || need+=(mbpoll)
/usr/bin/python3 -c 'import pymodbus' >/dev/null 2>&1 || need+=(python3-pymodbus)
/usr/bin/python3 -c 'import serial_asyncio' >/dev/null 2>&1 || need+=(python3-serial-asyncio)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
# Node 24 + arm64 (scripts/node-runtime.mjs, test/arm64-smoke.test.ts): qemu-user runs arm64 programs, the aarch64
# cross toolchain (with its target libc and libstdc++) compiles the native modules for arm64.
command -v qemu-aarch64 >/dev/null 2>&1 || need+=(qemu-user)
command -v aarch64-linux-gnu-g++ >/dev/null 2>&1 || need+=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu)
# PostgreSQL for the Kafka Connect JDBC sink test (test/postgres-sink.test.ts), queried with psql.
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${need[*]} — install them with: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "installing: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Debian's arm64 libraries for native packages that link them when cross-compiled (scripts/node-runtime.mjs,
# TARGET_LIBRARIES) come from `apt-get download`, which needs apt's arm64 package lists; nothing arm64 is installed.
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "apt has no arm64 package lists: sudo dpkg --add-architecture arm64 && sudo apt-get update" >&2
    exit 1
  fi
  dpkg --add-architecture arm64
  if ! apt-get update -qq; then
    dpkg --remove-architecture arm64   # leave apt as it was: every later apt-get update would fail too
    echo "apt-get update failed once arm64 was added (does the mirror serve arm64?); arm64 libraries unavailable" >&2
    exit 1
  fi
fi
# The system Mosquitto on 1883 is what the demo uses; start it when the machine has one configured but stopped.
if [ -f /etc/mosquitto/mosquitto.conf ] && ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
  mosquitto -d -c /etc/mosquitto/mosquitto.conf || true
fi
# PostgreSQL on 127.0.0.1:5432 (the machines of this project run it with trust auth for local TCP): start it when down.
if command -v pg_ctlcluster >/dev/null 2>&1 && ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  for version in $(ls /etc/postgresql 2>/dev/null); do pg_ctlcluster --skip-systemctl-redirect "$version" main start || true; done
fi
# --system-only: packages and services only (CI installs npm dependencies itself right after).
[ "${1:-}" = "--system-only" ] && exit 0
[ -d node_modules ] || npm ci --no-audit --no-fund
node -e "const D=require('better-sqlite3'); new D(':memory:').close()" || { echo 'better-sqlite3 does not load: run npm rebuild better-sqlite3' >&2; exit 1; }
# The tests run every Kafka test with both clients: the native one must load (npm ci's postinstall builds it;
# this builds it when that was skipped, and fails with what to install when it cannot).
node scripts/setup-librdkafka.mjs
# Node 24 (x64) and Node 20/24 for arm64, each with its own dependency tree built for it (.cache/; quick when there).
node scripts/node-runtime.mjs prepare
