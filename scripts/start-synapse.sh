#!/usr/bin/env bash
# Start a throwaway Synapse (server_name ${SYNAPSE_SERVER_NAME:-localhost}, SQLite, every rate limit
# raised) on 127.0.0.1:${SYNAPSE_PORT:-18008}, loading the given appservice registrations.
# Usage: start-synapse.sh DATA_DIR [registration.yaml ...]
# Prints the PID on stdout once /_matrix/client/versions answers; records "PID DATA_DIR" in
# ${FERRYBRIDGE_RUN:-.run}/pids/synapse.pid for stop-peers.sh. Logs: DATA_DIR/homeserver.log, stdout.log.
# Env: SYNAPSE_PORT, SYNAPSE_SERVER_NAME, SYNAPSE_SHARED_SECRET (shared-secret registration,
#      default ferrybridge-shared-secret), SYNAPSE_LOG_LEVEL, SYNAPSE_START_TIMEOUT (s, default 90),
#      FERRYBRIDGE_RUN, FERRYBRIDGE_VENV / FERRYBRIDGE_CACHE (see install-peers.sh),
#      FERRYBRIDGE_WATCH_PID: stop Synapse when that process exits (the test harness passes its own
#      PID, so a crashed or exiting test binary never leaves a Synapse behind), and with
#      FERRYBRIDGE_WATCH_CLEANUP=DIR then delete DIR too (a temp dir holding DATA_DIR, say) once
#      that process is gone (not when only Synapse stopped: a restart keeps its data).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PORT="${SYNAPSE_PORT:-18008}"
NAME="${SYNAPSE_SERVER_NAME:-localhost}"
SECRET="${SYNAPSE_SHARED_SECRET:-ferrybridge-shared-secret}"
DATA="${1:?usage: $0 DATA_DIR [registration.yaml ...]}"; shift
VENV="$(fb_venv)"
PY="$VENV/bin/python"
[ -x "$PY" ] || { echo "no Synapse venv at $VENV: run scripts/install-peers.sh first" >&2; exit 1; }
mkdir -p "$DATA" "$FB_RUN/pids"
DATA="$(cd "$DATA" && pwd)"
fb_refuse_busy "$PORT"

REGS=""
for r in "$@"; do
  [ -f "$r" ] || { echo "registration file $r does not exist" >&2; exit 1; }
  REGS="$REGS    - \"$(cd "$(dirname "$r")" && pwd)/$(basename "$r")\"
"
done
[ -n "$REGS" ] || REGS="    []
"
RL='{per_second: 1000, burst_count: 10000}'
rand() { head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

cat > "$DATA/log.config" <<CFG
version: 1
formatters:
  precise: {format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s'}
handlers:
  file: {class: logging.FileHandler, formatter: precise, filename: $DATA/homeserver.log}
loggers:
  synapse.storage.SQL: {level: WARNING}
root: {level: ${SYNAPSE_LOG_LEVEL:-INFO}, handlers: [file]}
disable_existing_loggers: false
CFG

cat > "$DATA/homeserver.yaml" <<CFG
server_name: "$NAME"
pid_file: "$DATA/homeserver.pid"
public_baseurl: "http://127.0.0.1:$PORT/"
listeners:
  - port: $PORT
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client, openid]
        compress: false
database:
  name: sqlite3
  args:
    database: "$DATA/homeserver.db"
log_config: "$DATA/log.config"
media_store_path: "$DATA/media_store"
signing_key_path: "$DATA/signing.key"
report_stats: false
enable_metrics: false
registration_shared_secret: "$SECRET"
enable_registration: false
macaroon_secret_key: "fb-macaroon-$(rand)"
form_secret: "fb-form-$(rand)"
trusted_key_servers: []
suppress_key_server_warning: true
url_preview_enabled: false
# End-to-bridge encryption: to-device events, device lists and one-time key counts in
# appservice transactions (MSC2409, MSC3202). Bridges ask for them in their registration.
experimental_features:
  msc2409_to_device_messages_enabled: true
  msc3202_transaction_extensions: true
app_service_config_files:
$REGS
rc_message: $RL
rc_registration: $RL
rc_login: {address: $RL, account: $RL, failed_attempts: $RL}
rc_joins: {local: $RL, remote: $RL}
rc_joins_per_room: $RL
rc_invites: {per_room: $RL, per_user: $RL, per_issuer: $RL}
rc_room_creation: $RL
rc_profile: $RL
rc_presence: {per_user: $RL}
rc_admin_redaction: $RL
rc_3pid_validation: $RL
rc_media_create: $RL
rc_delayed_event_mgmt: $RL
rc_reports: $RL
rc_user_directory: $RL
# Public rooms may be listed in the directory (the XMPP gateway lists them over disco#items).
room_list_publication_rules: [{action: allow}]
rc_federation: {window_size: 1000, sleep_limit: 10000, sleep_delay: 1, reject_limit: 10000, concurrent: 100}
CFG

# Same key format as `homeserver --generate-keys`, without its ~2 s import of all of Synapse.
[ -f "$DATA/signing.key" ] || "$PY" -c 'import sys; from signedjson.key import generate_signing_key as g, write_signing_keys as w; w(open(sys.argv[1], "w"), [g("a_fb")])' "$DATA/signing.key"

nohup setsid "$PY" -m synapse.app.homeserver -c "$DATA/homeserver.yaml" >"$DATA/stdout.log" 2>&1 </dev/null &
PID=$!
echo "$PID $DATA" > "$FB_RUN/pids/synapse.pid"
if [ -n "${FERRYBRIDGE_WATCH_PID:-}" ]; then
  nohup setsid bash -c '
    source "$1"; watch="$2"; pid="$3"; data="$4"
    while fb_alive "$watch" && fb_alive "$pid"; do sleep 1; done
    if fb_alive "$pid" && tr "\0" " " < "/proc/$pid/cmdline" | grep -qF -- "$data"; then
      kill -TERM "$pid" 2>/dev/null; for _ in $(seq 1 50); do fb_alive "$pid" || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null
    fi
    [ -z "$5" ] || fb_alive "$watch" || rm -rf -- "$5"
  ' _ "$FB_SCRIPTS/lib.sh" "$FERRYBRIDGE_WATCH_PID" "$PID" "$DATA" "${FERRYBRIDGE_WATCH_CLEANUP:-}" >/dev/null 2>&1 </dev/null &
fi

for _ in $(seq 1 "$(( ${SYNAPSE_START_TIMEOUT:-90} * 10 ))"); do
  if fb_port_open "$PORT" && curl -fsS -o /dev/null "http://127.0.0.1:$PORT/_matrix/client/versions" 2>/dev/null; then
    echo "$PID"; exit 0
  fi
  fb_alive "$PID" || { echo "synapse died; see $DATA/stdout.log $DATA/homeserver.log" >&2; tail -20 "$DATA/stdout.log" >&2; exit 1; }
  sleep 0.1
done
echo "synapse did not answer within ${SYNAPSE_START_TIMEOUT:-90} s; see $DATA/homeserver.log" >&2
kill "$PID" 2>/dev/null || true
exit 1
