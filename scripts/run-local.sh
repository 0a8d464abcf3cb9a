#!/usr/bin/env bash
# THE "run the bridges against a local homeserver" command. For every bridge crate under bridges/*/
# that has a binary: build it, generate .run/<name>/config.yaml (pointed at the local Synapse, an
# SQLite database in .run/<name>/, appservice port 29300+i) and registration.yaml, check the config,
# start the network's local peer (InspIRCd+Atheme for irc, Prosody for xmpp), Synapse with all the
# registrations, then the bridges; prints how to log in and waits. Ctrl-C stops everything it started.
# Configs persist in .run/ between runs (edit them freely); --fresh wipes .run/ first.
#
# Usage: scripts/run-local.sh [--fresh] [--no-peers] [NAME ...]   (NAME = bridges/NAME; default all)
# Env: SYNAPSE_PORT (18008), IRC_PORT (16667), XMPP_C2S_PORT (15222), XMPP_COMPONENT_PORT (15347),
#      FB_BRIDGE_PORT_BASE (29300), FB_ADMIN_USER / FB_ADMIN_PASSWORD (admin / admin), FERRYBRIDGE_RUN.
# Per-bridge hook: scripts/run-local.d/<name>.sh CONFIG is run after generate-config (with the port
# env vars above exported) to point the network section at the local peer.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$FB_ROOT"
FRESH=0; PEERS=1; ONLY=()
for a in "$@"; do
  case "$a" in
    --fresh) FRESH=1 ;;
    --no-peers) PEERS=0 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "unknown option $a" >&2; exit 2 ;;
    *) ONLY+=("$a") ;;
  esac
done
export SYNAPSE_PORT="${SYNAPSE_PORT:-18008}" IRC_PORT="${IRC_PORT:-16667}"
export XMPP_C2S_PORT="${XMPP_C2S_PORT:-15222}" XMPP_COMPONENT_PORT="${XMPP_COMPONENT_PORT:-15347}"
export SYNAPSE_SHARED_SECRET="${SYNAPSE_SHARED_SECRET:-ferrybridge-shared-secret}"
export FERRYBRIDGE_RUN="$FB_RUN" CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$FB_CACHE/target}"
PORT_BASE="${FB_BRIDGE_PORT_BASE:-29300}"
ADMIN="${FB_ADMIN_USER:-admin}"; ADMIN_PW="${FB_ADMIN_PASSWORD:-admin}"
HS="http://127.0.0.1:$SYNAPSE_PORT"

# Leftovers of an earlier run (only what we recorded) go first; then stop everything on exit.
[ -d "$FB_RUN/pids" ] && bash scripts/stop-peers.sh >/dev/null
[ "$FRESH" = 0 ] || rm -rf "$FB_RUN"
mkdir -p "$FB_RUN/pids"
cleanup() { trap - EXIT INT TERM; echo; echo "stopping..."; bash scripts/stop-peers.sh || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

bash scripts/install-peers.sh $([ "$PEERS" = 1 ] || echo --no-apt)

# Bridge packages (manifest under bridges/) and their binary targets, from cargo metadata.
META="$(cargo metadata --no-deps --format-version 1)"
mapfile -t BRIDGES < <(python3 -c '
import json, os, sys
root = os.getcwd()
for p in json.load(sys.stdin)["packages"]:
    rel = os.path.relpath(p["manifest_path"], root).split(os.sep)
    if len(rel) == 3 and rel[0] == "bridges":
        for t in p["targets"]:
            if "bin" in t["kind"]:
                print(rel[1], p["name"], t["name"])
' <<<"$META")
# One workspace build for every binary: per-package builds would each recompile much of the
# graph (features unify differently per package).
echo "run-local: building the bridge binaries"
cargo build -q --workspace --bins
declare -a REGS=() STARTS=()
i=0
for d in bridges/*/; do
  name="$(basename "$d")"
  if [ "${#ONLY[@]}" -gt 0 ] && [[ ! " ${ONLY[*]} " =~ " $name " ]]; then continue; fi
  line="$(printf '%s\n' "${BRIDGES[@]}" | awk -v n="$name" '$1 == n' | head -1)"
  i=$((i + 1))
  if [ -z "$line" ]; then echo "run-local: bridges/$name has no binary target yet: skipped"; continue; fi
  read -r _ pkg bin <<<"$line"
  exe="$CARGO_TARGET_DIR/debug/$bin"
  dir="$FB_RUN/$name"; mkdir -p -m 700 "$dir"; dir="$(cd "$dir" && pwd)"  # holds secrets
  port=$((PORT_BASE + i))
  if [ ! -f "$dir/config.yaml" ]; then
    "$exe" generate-config > "$dir/config.yaml.new"
    python3 scripts/patch-yaml.py "$dir/config.yaml.new" \
      "homeserver.address=$HS" homeserver.domain=localhost \
      "appservice.address=http://127.0.0.1:$port" appservice.hostname=127.0.0.1 "appservice.port=$port" \
      "database.uri=sqlite://$dir/$name.db?mode=rwc" \
      encryption.allow=true
    if [ -x "scripts/run-local.d/$name.sh" ]; then "scripts/run-local.d/$name.sh" "$dir/config.yaml.new"; fi
    mv "$dir/config.yaml.new" "$dir/config.yaml"
    echo "run-local: wrote $dir/config.yaml"
  fi
  # A bridge whose config is not runnable yet (Telegram without API credentials) is skipped with
  # the reason, so the others still start.
  if [ ! -f "$dir/registration.yaml" ] \
    && ! "$exe" generate-registration -c "$dir/config.yaml" -o "$dir/registration.yaml"; then
    echo "run-local: $name skipped: fix $dir/config.yaml (see the errors above) and run again"; continue
  fi
  if ! "$exe" check-config -c "$dir/config.yaml"; then
    echo "run-local: $name skipped: fix $dir/config.yaml (see the errors above) and run again"; continue
  fi
  REGS+=("$dir/registration.yaml")
  STARTS+=("$name|$exe|$dir")
done

if [ "$PEERS" = 1 ]; then
  if [ -d bridges/irc ]; then echo "run-local: InspIRCd+Atheme on 127.0.0.1:$IRC_PORT: PIDs $(bash scripts/start-ircd.sh "$FB_RUN/ircd")"; fi
  if [ -d bridges/xmpp ]; then echo "run-local: Prosody c2s 127.0.0.1:$XMPP_C2S_PORT: PID $(bash scripts/start-prosody.sh "$FB_RUN/prosody")"; fi
fi
echo "run-local: Synapse on $HS: PID $(bash scripts/start-synapse.sh "$FB_RUN/synapse" "${REGS[@]}")"
VENV="$(fb_venv)"
"$VENV/bin/register_new_matrix_user" -u "$ADMIN" -p "$ADMIN_PW" -a -k "$SYNAPSE_SHARED_SECRET" "$HS" >/dev/null 2>&1 \
  || echo "run-local: user $ADMIN exists already (or registration failed)"

declare -A PIDS=()
for s in "${STARTS[@]}"; do
  IFS='|' read -r name exe dir <<<"$s"
  nohup setsid "$exe" run -c "$dir/config.yaml" >"$dir/bridge.log" 2>&1 </dev/null &
  PIDS[$name]=$!
  echo "$! $dir" > "$FB_RUN/pids/$name.pid"
  echo "run-local: started $name (PID $!), log $dir/bridge.log"
done

cat <<MSG

Local homeserver: $HS (server name "localhost").
Log in with any Matrix client (e.g. Element: homeserver $HS) as $ADMIN / $ADMIN_PW.
More users: $VENV/bin/register_new_matrix_user -k $SYNAPSE_SHARED_SECRET $HS
Synapse log: $FB_RUN/synapse/homeserver.log. Bridges started: ${#STARTS[@]}.
Press Ctrl-C to stop everything.
MSG
while true; do
  for name in "${!PIDS[@]}"; do
    if ! fb_alive "${PIDS[$name]}"; then
      echo "run-local: bridge $name exited; last lines of its log:"; tail -5 "$FB_RUN/$name/bridge.log" || true
      unset "PIDS[$name]"
    fi
  done
  sleep 2
done
