# Shared helpers for the scripts in this directory; `source` it, don't run it.
# Every path a script uses comes from here, so the scripts, the Rust harness (tests/src) and CI agree.

FB_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FB_ROOT="$(cd "$FB_SCRIPTS/.." && pwd)"
# Caches live outside the clone so a fresh clone (CI) starts warm.
FB_CACHE="${FERRYBRIDGE_CACHE:-$HOME/.cache/ferrybridge}"
# Where start-*.sh record "PID DATA_DIR" pidfiles for stop-peers.sh.
FB_RUN="${FERRYBRIDGE_RUN:-$FB_ROOT/.run}"

# The Synapse venv, keyed by the content of requirements.txt (FERRYBRIDGE_VENV overrides).
fb_venv() {
  if [ -n "${FERRYBRIDGE_VENV:-}" ]; then echo "$FERRYBRIDGE_VENV"; return; fi
  echo "$FB_CACHE/venv-$(sha256sum "$FB_SCRIPTS/requirements.txt" | cut -c1-16)"
}

# True when something accepts TCP connections on 127.0.0.1:$1.
fb_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Alive = exists and is not a zombie (PID 1 on some machines reaps orphans only every ~2 s).
fb_alive() { local s; s="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1; s="${s##*) }"; [ "${s%% *}" != Z ]; }

# fb_wait_port PORT SECONDS PID: wait until PORT listens; fail early if PID dies.
fb_wait_port() {
  local i
  for i in $(seq 1 "$(( $2 * 10 ))"); do
    fb_port_open "$1" && return 0
    fb_alive "$3" || return 1
    sleep 0.1
  done
  return 1
}

# fb_refuse_busy PORT...: exit with a clear message if a port is already taken.
fb_refuse_busy() {
  local p
  for p in "$@"; do
    if fb_port_open "$p"; then echo "port 127.0.0.1:$p is already in use (set the port env var to another one)" >&2; exit 1; fi
  done
}

fb_now() { date +%s.%N; }
fb_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
