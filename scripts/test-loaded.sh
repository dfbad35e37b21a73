#!/usr/bin/env bash
# The whole test suite several times in a row on a fresh clone while the machine is loaded: what "the suite does
# not flake" is checked with. Clones this checkout's committed state (or REV) into a new directory, installs it as
# CI does (scripts/ensure-test-deps.sh --system-only, npm ci), starts `stress-ng --cpu <cores>` and runs `npm test`
# RUNS times, each only if the one before passed; stress-ng stops at the end. One summary line per run (exit code,
# seconds, load, the vitest and fault-suite totals) goes to stdout and to <dir>/summary.log; each run's output to
# <dir>/run-<n>.log.
#
#   bash scripts/test-loaded.sh [--runs 5] [--rev HEAD] [--dir /tmp/etg-loaded-<time>] [--stress-cpus 2]
#
# Needs root for the apt packages the suite installs and for stress-ng (installed with apt-get when missing);
# about 40 minutes a run on 2 cores.
set -euo pipefail
source_repo=$(cd "$(dirname "$0")/.." && pwd)
runs=5
rev=HEAD
dir=
cpus=$(nproc)
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=${2:?--runs needs a value}; shift 2 ;;
    --rev) rev=${2:?--rev needs a value}; shift 2 ;;
    --dir) dir=${2:?--dir needs a value}; shift 2 ;;
    --stress-cpus) cpus=${2:?--stress-cpus needs a value}; shift 2 ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test-loaded: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "test-loaded: --runs must be a positive number, not '$runs'" >&2; exit 2; }
commit=$(git -C "$source_repo" rev-parse --verify --quiet "$rev^{commit}") || { echo "test-loaded: no commit '$rev' in $source_repo" >&2; exit 2; }
dir=${dir:-${TMPDIR:-/tmp}/etg-loaded-$(date -u +%Y%m%dT%H%M%SZ)}
[ -e "$dir" ] && { echo "test-loaded: $dir exists; give a new --dir" >&2; exit 2; }
git clone --quiet "$source_repo" "$dir/repo"
git -C "$dir/repo" checkout --quiet "$commit"
summary=$dir/summary.log
say() { echo "$*" | tee -a "$summary"; }
say "fresh clone of $source_repo at $(git -C "$dir/repo" log -1 --format='%h %s' | cut -c1-100) in $dir/repo"
cd "$dir/repo"
bash scripts/ensure-test-deps.sh --system-only > "$dir/setup.log" 2>&1 || { say "set-up failed (scripts/ensure-test-deps.sh): $dir/setup.log"; exit 1; }
if ! command -v stress-ng > /dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y -q stress-ng >> "$dir/setup.log" 2>&1; else echo "test-loaded: stress-ng is missing: sudo apt-get install stress-ng" >&2; exit 1; fi
fi
npm ci >> "$dir/setup.log" 2>&1 || { say "npm ci failed: $dir/setup.log"; exit 1; }
stress-ng --cpu "$cpus" --timeout 0 > /dev/null 2>&1 &
stress=$!
trap 'kill "$stress" 2> /dev/null || true' EXIT
say "stress-ng --cpu $cpus running (pid $stress); $runs runs of npm test"
passed=0
for n in $(seq 1 "$runs"); do
  started=$(date +%s)
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  code=0
  npm test > "$dir/run-$n.log" 2>&1 || code=$?
  plain=$(sed 's/\x1b\[[0-9;]*m//g' "$dir/run-$n.log")
  vitest=$(grep -E '^ +(Test Files|Tests) ' <<< "$plain" | sed 's/^ *//; s/ \{2,\}/ /g' | paste -sd ';' - | sed 's/;/; /g' || true)
  faults=$(grep -E 'acknowledged messages, [0-9]+ lost' <<< "$plain" | tail -1 || true)
  say "run $n: exit $code after $(( $(date +%s) - started )) s, load $load_before -> $(cut -d' ' -f1-3 /proc/loadavg); vitest: ${vitest:-none}; faults: ${faults:-none}"
  [ "$code" = 0 ] || { say "run $n failed: $dir/run-$n.log"; exit 1; }
  passed=$n
done
say "$passed of $runs runs passed in a row under stress-ng --cpu $cpus"
