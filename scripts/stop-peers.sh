#!/usr/bin/env bash
# Stop the servers the start-*.sh scripts recorded in ${FERRYBRIDGE_RUN:-.run}/pids/*.pid, or only the
# named ones (stop-peers.sh synapse inspircd atheme prosody, or a bridge name run-local.sh started).
# Each pidfile holds "PID DATA_DIR"; a PID is signalled only if its command line still mentions
# DATA_DIR (guards against PID reuse): TERM, wait up to 15 s, then KILL. Never touches anything else.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
shopt -s nullglob
if [ $# -gt 0 ]; then files=(); for n in "$@"; do files+=("$FB_RUN/pids/$n.pid"); done; else files=("$FB_RUN"/pids/*.pid); fi
[ "${#files[@]}" -gt 0 ] || { echo "stop-peers: nothing recorded in $FB_RUN/pids"; exit 0; }
for f in "${files[@]}"; do
  name="$(basename "$f" .pid)"
  [ -f "$f" ] || { echo "$name: no pidfile"; continue; }
  pid=""; dir=""
  read -r pid dir < "$f" || true
  if [ -n "$pid" ] && fb_alive "$pid" && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$dir"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do fb_alive "$pid" || break; sleep 0.1; done
    if fb_alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; echo "$name ($pid): killed"; else echo "$name ($pid): stopped"; fi
  else
    echo "$name (${pid:-?}): not running"
  fi
  rm -f "$f"
done
