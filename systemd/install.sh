#!/usr/bin/env bash
# Installs edge-telemetry-gateway as a systemd service (Raspberry Pi OS / Debian bookworm; arm64, armhf, amd64).
#
#   sudo systemd/install.sh                 install or upgrade, enable and start (or restart when something changed)
#   sudo systemd/install.sh --uninstall     remove the app, the unit, its snippets and the Mosquitto drop-in; keep config, buffer, user
#   sudo systemd/install.sh --uninstall --purge-config --purge-buffer    ... and delete those too
#   systemd/install.sh --destdir /mnt/root  install into another root file system (an image being built, a test):
#                                           users, ownership and the enable symlink go into that root; nothing starts
# Options:
#   --node PATH        node binary for ExecStart= (default: `command -v node`; /usr/bin/node with --destdir)
#   --deps npm|copy    production dependencies: `npm ci --omit=dev` (default; fetches prebuilt better-sqlite3 and
#                      serialport binaries for this architecture), or copy ./node_modules of this source tree, which
#                      must have been installed on a machine of the same architecture and Node major, and prune
#                      the dev dependencies (works offline: npm_config_offline=true)
#   --check-node CMD   how to run the target's node on this machine, to check the native modules load before the
#                      switch-over (default: --node itself, inside --destdir when it runs here, else this machine's
#                      node); for an arm64 image built on x86, e.g.
#                      --check-node "qemu-aarch64 -L /mnt/root /mnt/root/usr/bin/node" (no spaces inside a word)
#   --no-start         enable but do not start or restart
#   --with-mosquitto   also set up a local Mosquitto for the gateway: installs the mosquitto package when it is
#                      missing (apt-get; not with --destdir), config/mosquitto/edge-telemetry-gateway.conf as
#                      /etc/mosquitto/conf.d/edge-telemetry-gateway.conf (a queue that does not drop; adds
#                      include_dir to mosquitto.conf when it lacks one), warns about other files that override it,
#                      and restarts mosquitto when it changed (persistence keeps its sessions and queued messages)
#
# Run from a built source tree (npm ci && npm run build) or an unpacked release. Idempotent: a second run with the
# same sources changes nothing (files are compared before they are written; dependencies are reinstalled only when
# package-lock.json, the Node version or the architecture changed). An existing gateway.yaml is never overwritten.
set -euo pipefail

NAME=edge-telemetry-gateway
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DESTDIR=
NODE_BIN=
DEPS=npm
CHECK_NODE=
START=yes
UNINSTALL=no
PURGE_CONFIG=no
PURGE_BUFFER=no
WITH_MOSQUITTO=no

usage() { sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "install.sh: $*" >&2; exit 1; }
note() { echo "==> $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --destdir) DESTDIR=${2:?--destdir needs a folder}; shift 2 ;;
    --destdir=*) DESTDIR=${1#*=}; shift ;;
    --node) NODE_BIN=${2:?--node needs a path}; shift 2 ;;
    --node=*) NODE_BIN=${1#*=}; shift ;;
    --deps) DEPS=${2:?--deps needs npm or copy}; shift 2 ;;
    --deps=*) DEPS=${1#*=}; shift ;;
    --check-node) CHECK_NODE=${2:?--check-node needs a command}; shift 2 ;;
    --check-node=*) CHECK_NODE=${1#*=}; shift ;;
    --no-start) START=no; shift ;;
    --with-mosquitto) WITH_MOSQUITTO=yes; shift ;;
    --uninstall) UNINSTALL=yes; shift ;;
    --purge-config) PURGE_CONFIG=yes; shift ;;
    --purge-buffer) PURGE_BUFFER=yes; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
  esac
done
case "$DEPS" in npm|copy) ;; *) die "--deps must be npm or copy, not $DEPS" ;; esac
if [ -n "$DESTDIR" ]; then
  mkdir -p "$DESTDIR"
  DESTDIR=$(cd "$DESTDIR" && pwd)
  [ "$DESTDIR" != / ] || DESTDIR=
fi
[ "$(id -u)" -eq 0 ] || die "run as root (sudo): users, ownership and the service need it"

# Where things go (inside DESTDIR). /usr/local/lib/* are the search paths systemd keeps for software the
# administrator installs; /etc keeps what the administrator edits.
APP=$DESTDIR/opt/$NAME
UNIT_DIR=$DESTDIR/usr/local/lib/systemd/system
SYSUSERS=$DESTDIR/usr/local/lib/sysusers.d/$NAME.conf
TMPFILES=$DESTDIR/usr/local/lib/tmpfiles.d/$NAME.conf
BIN_LINK=$DESTDIR/usr/local/bin/telemetry-gateway
CONF_DIR=$DESTDIR/etc/$NAME
STATE_DIR=$DESTDIR/var/lib/$NAME
MOSQ_DIR=$DESTDIR/etc/mosquitto
MOSQ_DROPIN=$MOSQ_DIR/conf.d/$NAME.conf
CHANGED=no
MOSQ_CHANGED=no

systemctl_() { if [ -n "$DESTDIR" ]; then systemctl --root="$DESTDIR" "$@"; else systemctl "$@"; fi; }
root_opt() { if [ -n "$DESTDIR" ]; then echo "--root=$DESTDIR"; fi; }

# ---------------------------------------------------------------------------------------------------- uninstall
if [ "$UNINSTALL" = yes ]; then
  if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
    systemctl disable --now "$NAME.service" 2>/dev/null || true
  elif [ -e "$UNIT_DIR/$NAME.service" ]; then
    systemctl_ disable "$NAME.service" >/dev/null 2>&1 || true
  fi
  rm -f "$UNIT_DIR/$NAME.service" "$SYSUSERS" "$TMPFILES" "$BIN_LINK"
  rm -rf "$APP"
  [ -z "$DESTDIR" ] && [ -d /run/systemd/system ] && systemctl daemon-reload
  if [ -e "$MOSQ_DROPIN" ]; then
    rm -f "$MOSQ_DROPIN"
    note "removed $MOSQ_DROPIN (Mosquitto is back to its own limits: 1,000 queued messages per client)"
    if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ] && systemctl is-active --quiet mosquitto.service; then systemctl restart mosquitto.service; fi
  fi
  if [ "$PURGE_CONFIG" = yes ]; then rm -rf "$CONF_DIR"; note "removed $CONF_DIR"; else note "kept the config in $CONF_DIR (--purge-config deletes it)"; fi
  if [ "$PURGE_BUFFER" = yes ]; then
    rm -rf "$STATE_DIR" "$DESTDIR/var/lib/private/$NAME"
    note "removed $STATE_DIR (events that were still buffered are gone)"
  else
    note "kept the buffer in $STATE_DIR (--purge-buffer deletes it, with any events not yet delivered)"
  fi
  note "the system user $NAME stays (removing users can leave files owned by a reused id)"
  exit 0
fi

# ------------------------------------------------------------------------------------------------------ install
[ -f "$SRC/dist/cli.js" ] || die "$SRC/dist/cli.js is missing: build first (npm ci && npm run build)"
if [ -z "$NODE_BIN" ]; then
  if [ -n "$DESTDIR" ]; then NODE_BIN=/usr/bin/node; else NODE_BIN=$(command -v node || true); fi
fi
[ -n "$NODE_BIN" ] || die "node not found: install Node.js 20 or newer (docs/raspberry-pi.md), or pass --node PATH"
case "$NODE_BIN" in /*) ;; *) die "--node must be an absolute path" ;; esac
if [ -z "$DESTDIR" ]; then
  [ -x "$NODE_BIN" ] || die "$NODE_BIN is not executable"
  major=$("$NODE_BIN" -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 20 ] || die "Node.js $("$NODE_BIN" --version) is too old: 20 or newer is needed (docs/raspberry-pi.md)"
  case "$major" in 20|22|24) ;; *) echo "install.sh: warning: Node.js $("$NODE_BIN" --version) is not a supported version (20, 22, 24 LTS; README: supported platforms)" >&2 ;; esac
fi

# Copies $1 to $2 with mode $3 unless $2 already has that content and mode (so mtimes stay put on a rerun).
put() {
  if [ -f "$2" ] && cmp -s "$1" "$2" && [ "$(stat -c %a "$2")" = "${3#0}" ]; then return 0; fi
  install -D -m "$3" "$1" "$2"
  CHANGED=yes
}

# Makes folder $2 hold exactly the files of folder $1 (modes 0755 for executables, 0644 otherwise).
sync_dir() {
  local src=$1 dst=$2 f
  [ -d "$src" ] || return 0
  install -d -m 0755 "$dst"
  while IFS= read -r -d '' f; do
    if [ -x "$src/$f" ]; then put "$src/$f" "$dst/$f" 0755; else put "$src/$f" "$dst/$f" 0644; fi
  done < <(cd "$src" && find . -type f -print0)
  while IFS= read -r -d '' f; do
    [ -e "$src/$f" ] || { rm -f "$dst/$f"; CHANGED=yes; }
  done < <(cd "$dst" && find . -type f -print0)
  while IFS= read -r -d '' f; do
    [ -d "$src/$f" ] || { rmdir "$dst/$f" 2>/dev/null || true; }
  done < <(cd "$dst" && find . -mindepth 1 -depth -type d -print0)
}

note "app -> $APP"
install -d -m 0755 "$APP"
for d in dist devices config schemas systemd; do sync_dir "$SRC/$d" "$APP/$d"; done
for f in package.json package-lock.json README.md LICENSE CHANGELOG.md docs/raspberry-pi.md docs/errors.md scripts/setup-librdkafka.mjs; do
  if [ -f "$SRC/$f" ]; then put "$SRC/$f" "$APP/$f" 0644; fi
done

# Production dependencies, reinstalled only when what they were built for changed (lockfile, Node version, CPU of
# the node that checks them). With --destdir the target's node may not run here: --check-node says how (qemu for
# another CPU); without it the build host's node stands in (same architecture and Node major assumed).
if [ -n "$CHECK_NODE" ]; then
  read -r -a RUN_NODE <<< "$CHECK_NODE"
elif [ -n "$DESTDIR" ] && "$DESTDIR$NODE_BIN" -v >/dev/null 2>&1; then
  RUN_NODE=("$DESTDIR$NODE_BIN")
elif [ -z "$DESTDIR" ]; then
  RUN_NODE=("$NODE_BIN")
else
  RUN_NODE=("$(command -v node || true)")
fi
[ -n "${RUN_NODE[0]}" ] || die "no node on this machine to check the native modules with (--check-node CMD)"
run_node_id=$("${RUN_NODE[@]}" -p 'process.version + " arch=" + process.arch') \
  || die "cannot run ${RUN_NODE[*]} to check the native modules (--check-node CMD)"
stamp="lock=$(sha256sum "$APP/package-lock.json" 2>/dev/null | cut -d' ' -f1) node=$run_node_id"
if [ -f "$APP/node_modules/.install-stamp" ] && [ "$(cat "$APP/node_modules/.install-stamp")" = "$stamp" ]; then
  note "dependencies unchanged"
else
  stage=$(mktemp -d "${TMPDIR:-/tmp}/$NAME-deps.XXXXXX")
  trap 'rm -rf "$stage"' EXIT
  cp "$APP/package.json" "$stage/"
  # npm ci's postinstall builds the optional native Kafka client with this script.
  [ -f "$APP/scripts/setup-librdkafka.mjs" ] || die "$SRC/scripts/setup-librdkafka.mjs is missing (run from a source tree or an unpacked release)"
  install -D -m 0644 "$APP/scripts/setup-librdkafka.mjs" "$stage/scripts/setup-librdkafka.mjs"
  [ -f "$APP/package-lock.json" ] && cp "$APP/package-lock.json" "$stage/"
  if [ "$DEPS" = copy ]; then
    [ -d "$SRC/node_modules" ] || die "--deps copy: $SRC/node_modules does not exist (npm ci in the source tree first)"
    note "dependencies: copying $SRC/node_modules and pruning dev dependencies"
    mkdir "$stage/node_modules"
    cp -a "$SRC/node_modules/." "$stage/node_modules/"
    (cd "$stage" && npm prune --omit=dev --no-audit --no-fund >/dev/null)
  else
    note "dependencies: npm ci --omit=dev (downloads prebuilt native modules for $(uname -m))"
    if [ -f "$stage/package-lock.json" ]; then
      (cd "$stage" && npm ci --omit=dev --no-audit --no-fund)
    else
      (cd "$stage" && npm install --omit=dev --no-audit --no-fund)
    fi
  fi
  # The native modules must load with the node that will run the service.
  (cd "$stage" && "${RUN_NODE[@]}" -e "new (require('better-sqlite3'))(':memory:').close()") \
    || die "better-sqlite3 does not load with ${RUN_NODE[*]} (docs/raspberry-pi.md: native modules)"
  # The native Kafka client is optional (kafka.client: kafkajs needs nothing): say so, do not stop.
  (cd "$stage" && "${RUN_NODE[@]}" scripts/setup-librdkafka.mjs --check) \
    || note "the librdkafka Kafka client does not load: set kafka.client: kafkajs, or see docs/raspberry-pi.md (native Kafka client)"
  rm -rf "$stage/scripts"
  find "$stage/node_modules" -mindepth 1 -type d -empty -delete
  echo "$stamp" > "$stage/node_modules/.install-stamp"
  chmod -R u=rwX,go=rX "$stage/node_modules"
  rm -rf "$APP/node_modules.old"
  [ -d "$APP/node_modules" ] && mv "$APP/node_modules" "$APP/node_modules.old"
  mv "$stage/node_modules" "$APP/node_modules"
  rm -rf "$APP/node_modules.old"
  CHANGED=yes
fi

# The CLI on PATH for operators (check-config, buffer stats, replay, tail).
install -d -m 0755 "$(dirname "$BIN_LINK")"
if [ "$(readlink "$BIN_LINK" 2>/dev/null)" != "/opt/$NAME/dist/cli.js" ]; then
  ln -sfn "/opt/$NAME/dist/cli.js" "$BIN_LINK"
  CHANGED=yes
fi

# The unit, with ExecStart= pointing at this node.
unit_tmp=$(mktemp)
sed "s#^ExecStart=/usr/bin/node #ExecStart=$NODE_BIN #" "$SRC/systemd/$NAME.service" > "$unit_tmp"
put "$unit_tmp" "$UNIT_DIR/$NAME.service" 0644
rm -f "$unit_tmp"
put "$SRC/systemd/sysusers.conf" "$SYSUSERS" 0644
put "$SRC/systemd/tmpfiles.conf" "$TMPFILES" 0644

# User, group (member of dialout), folders and their ownership: the same declarative files systemd applies at boot.
# systemd-sysusers only when something is missing: it rewrites the lock in /etc even when it has nothing to do.
install -d -m 0755 "$DESTDIR/etc"
if ! grep -q "^$NAME:" "$DESTDIR/etc/passwd" 2>/dev/null || ! grep -q "^$NAME:" "$DESTDIR/etc/group" \
  || ! grep -Eq "^dialout:[^:]*:[^:]*:(.*,)?$NAME(,.*)?$" "$DESTDIR/etc/group"; then
  # shellcheck disable=SC2046
  systemd-sysusers $(root_opt) "$SYSUSERS"
  CHANGED=yes
fi
# shellcheck disable=SC2046
systemd-tmpfiles --create $(root_opt) "$TMPFILES"

# The config: created once from the example (buffer in the state folder), never overwritten.
if [ -e "$CONF_DIR/gateway.yaml" ]; then
  note "kept the existing $CONF_DIR/gateway.yaml"
else
  conf_tmp=$(mktemp)
  sed "s#^  path: ./data/buffer.db#  path: /var/lib/$NAME/buffer.db#" "$SRC/config/gateway.example.yaml" > "$conf_tmp"
  grep -q "^  path: /var/lib/$NAME/buffer.db" "$conf_tmp" || die "config/gateway.example.yaml has no buffer.path line to adapt"
  install -m 0640 "$conf_tmp" "$CONF_DIR/gateway.yaml"
  rm -f "$conf_tmp"
  # shellcheck disable=SC2046
  systemd-tmpfiles --create $(root_opt) "$TMPFILES"
  note "created $CONF_DIR/gateway.yaml from the example: set gateway.id, kafka.brokers and your inputs"
  CHANGED=yes
fi

# --with-mosquitto: the local broker's drop-in (a queue for the gateway that does not overflow, persistence).
if [ "$WITH_MOSQUITTO" = yes ]; then
  if [ -z "$DESTDIR" ] && ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
    command -v apt-get >/dev/null 2>&1 || die "--with-mosquitto: mosquitto is not installed and there is no apt-get: install Mosquitto 2.0 first"
    note "installing the mosquitto package"
    apt-get install -y mosquitto
    MOSQ_CHANGED=yes
  fi
  changed_before=$CHANGED
  CHANGED=no
  put "$SRC/config/mosquitto/$NAME.conf" "$MOSQ_DROPIN" 0644
  [ "$CHANGED" = yes ] && MOSQ_CHANGED=yes && note "mosquitto drop-in -> $MOSQ_DROPIN"
  CHANGED=$changed_before
  main=$MOSQ_DIR/mosquitto.conf
  if [ -f "$main" ]; then
    # Debian's mosquitto.conf reads conf.d; an edited one may not.
    if ! grep -Eq '^[[:space:]]*include_dir[[:space:]]+/etc/mosquitto/conf\.d/?[[:space:]]*$' "$main"; then
      printf '\n# Added by edge-telemetry-gateway (install.sh --with-mosquitto): read the drop-ins in conf.d.\ninclude_dir /etc/mosquitto/conf.d\n' >> "$main"
      MOSQ_CHANGED=yes
      note "added include_dir /etc/mosquitto/conf.d to $main"
    fi
    grep -Eqs '^[[:space:]]*persistence_location[[:space:]]' "$main" "$MOSQ_DIR"/conf.d/*.conf \
      || note "warning: no persistence_location in $main: Mosquitto writes mosquitto.db into its working folder (Debian's file sets /var/lib/mosquitto/)"
  else
    note "warning: $main does not exist: install the mosquitto package (Debian's mosquitto.conf includes /etc/mosquitto/conf.d)"
  fi
  # Another file that sets one of our keys to another value wins or loses depending on the order Mosquitto reads them.
  while read -r key value; do
    for f in "$main" "$MOSQ_DIR"/conf.d/*.conf; do
      { [ -f "$f" ] && [ "$f" != "$MOSQ_DROPIN" ]; } || continue
      other=$(grep -E "^[[:space:]]*$key[[:space:]]+" "$f" | grep -Ev "^[[:space:]]*$key[[:space:]]+$value[[:space:]]*$" | head -n 1 || true)
      [ -z "$other" ] || note "warning: ${f#"$DESTDIR"} sets '$other' (the gateway's drop-in: '$key $value'); Mosquitto keeps the value it reads last: remove it"
    done
  done < <(grep -Ev '^[[:space:]]*(#|$)' "$SRC/config/mosquitto/$NAME.conf")
  if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
    systemctl enable --quiet mosquitto.service 2>/dev/null || true
    if [ "$MOSQ_CHANGED" = yes ] || ! systemctl is-active --quiet mosquitto.service; then
      note "restarting mosquitto (it saves its sessions and queued messages on the way down)"
      systemctl restart mosquitto.service
    fi
  fi
fi

# Enable (a symlink; works offline with --root) and, on a live system, start or restart.
if ! systemctl_ is-enabled --quiet "$NAME.service" 2>/dev/null; then
  systemctl_ enable "$NAME.service"
fi
if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  if [ "$START" = yes ]; then
    if ! systemctl is-active --quiet "$NAME.service"; then
      systemctl start "$NAME.service"
    elif [ "$CHANGED" = yes ]; then
      systemctl restart "$NAME.service"
    fi
    systemctl --no-pager --lines=5 status "$NAME.service" || true
  fi
fi
[ "$MOSQ_CHANGED" = yes ] && CHANGED=yes
note "done$([ "$CHANGED" = yes ] || echo ' (nothing changed)')"
