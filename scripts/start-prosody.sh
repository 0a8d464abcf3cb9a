#!/usr/bin/env bash
# Start a throwaway Prosody (Debian package) with its own config in DATA_DIR, on 127.0.0.1 only:
#   c2s ${XMPP_C2S_PORT:-15222} (plaintext auth allowed, no TLS), VirtualHost localhost,
#   MUC conference.localhost (no room locking), external component (XEP-0114)
#   ${XMPP_COMPONENT:-matrix.localhost} on ${XMPP_COMPONENT_PORT:-15347} with ${XMPP_COMPONENT_SECRET}.
# Creates accounts from XMPP_ACCOUNTS ("user:pass ...", default alice:alicepass bob:bobpass).
# Prosody runs as user prosody: every parent of DATA_DIR must be world-traversable (not mktemp -d's 0700).
# Usage: start-prosody.sh DATA_DIR  -> prints the PID; records "PID DATA_DIR" in ${FERRYBRIDGE_RUN:-.run}/pids/prosody.pid.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
RUN="$FB_RUN"
C2S="${XMPP_C2S_PORT:-15222}"
CPORT="${XMPP_COMPONENT_PORT:-15347}"
COMP="${XMPP_COMPONENT:-matrix.localhost}"
CSECRET="${XMPP_COMPONENT_SECRET:-ferrybridge-component-secret}"
ACCOUNTS="${XMPP_ACCOUNTS:-alice:alicepass bob:bobpass}"
DATA="${1:?usage: $0 DATA_DIR}"
mkdir -p "$DATA/data" "$DATA/certs" "$RUN/pids"
DATA="$(cd "$DATA" && pwd)"
CFG="$DATA/prosody.cfg.lua"
fb_refuse_busy "$C2S" "$CPORT"

cat > "$CFG" <<EOF
-- throwaway ferrybridge test config; never the system /etc/prosody one
data_path = "$DATA/data"
pidfile = "$DATA/prosody.pid"
prosody_user = "prosody"; prosody_group = "prosody"
plugin_paths = { }
admins = { }
interfaces = { "127.0.0.1" }
c2s_ports = { $C2S }; c2s_interfaces = { "127.0.0.1" }
component_ports = { $CPORT }; component_interfaces = { "127.0.0.1" }
s2s_ports = { }; http_ports = { }; https_ports = { }; c2s_direct_tls_ports = { }; legacy_ssl_ports = { }
modules_enabled = { "disco"; "roster"; "saslauth"; "ping"; "time"; "version"; "private"; "carbons";
  "blocklist"; "pep"; "vcard_legacy"; "smacks"; "register"; "posix" }
modules_disabled = { "s2s"; "tls" }
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
allow_registration = false
authentication = "internal_hashed"
storage = "internal"
certificates = "$DATA/certs"  -- empty: no TLS offered at all
log = { { levels = { min = "${XMPP_LOG_LEVEL:-info}" }, to = "file", filename = "$DATA/prosody.log" } }

VirtualHost "localhost"

Component "conference.localhost" "muc"
  restrict_room_creation = false
  muc_room_locking = false
  muc_room_default_public = true
  muc_room_default_persistent = false
  -- Room archives (XEP-0313), which the bridge asks before sending a message again after a
  -- crash. Kept in memory: fast enough for the relay benchmarks, and a test Prosody is new.
  -- Prosody 0.12's memory store holds 1,000 items by default; over it, every message went
  -- through muc_mam's clean-up path and a benchmark room collapsed to ~30 msg/s (Prosody at
  -- 34 ms CPU per message). XMPP_MUC_MAM=0 leaves the archive out (to measure without it).
  modules_enabled = { $([ "${XMPP_MUC_MAM:-1}" = 1 ] && echo '"muc_mam"') }
  storage = { archive = "memory" }
  storage_archive_item_limit = 1000000

Component "$COMP"
  component_secret = "$CSECRET"
EOF
chown -R prosody:prosody "$DATA"
setpriv --reuid=prosody --regid=prosody --clear-groups test -r "$CFG" -a -w "$DATA/data" \
  || { echo "user prosody cannot read $CFG (a parent dir is not world-traversable, e.g. mktemp -d's 0700?)" >&2; exit 1; }

for a in $ACCOUNTS; do  # prosodyctl (run as root) drops to prosody_user itself
  prosodyctl --config "$CFG" register "${a%%:*}" localhost "${a#*:}" >>"$DATA/prosodyctl.log" 2>&1 \
    || { echo "prosodyctl register ${a%%:*} failed; see $DATA/prosodyctl.log" >&2; exit 1; }
done

# -F: stay in the foreground (we background it); setpriv execs, so $! is prosody (lua5.4) itself.
nohup setsid setpriv --reuid=prosody --regid=prosody --clear-groups prosody --config "$CFG" -F >"$DATA/stdout.log" 2>&1 </dev/null &
PID=$!
echo "$PID $DATA" > "$RUN/pids/prosody.pid"
for _ in $(seq 1 300); do
  if fb_port_open "$C2S" && fb_port_open "$CPORT"; then
    echo "$PID"; exit 0
  fi
  fb_alive "$PID" || { echo "prosody died; see $DATA/stdout.log $DATA/prosody.log" >&2; tail -5 "$DATA/prosody.log" >&2; exit 1; }
  sleep 0.1
done
echo "prosody did not listen within 30 s; see $DATA/prosody.log" >&2; exit 1
