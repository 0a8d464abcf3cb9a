#!/usr/bin/env bash
# THE test command (CI runs it through .ci/run): installs the peers, makes sure PostgreSQL and
# Redis are up, builds and runs `cargo test --workspace` (integration tests start their own Synapse through the
# ferrybridge-tests harness), then the config-equality check if present
# (scripts/check-config-equality.sh). Exits non-zero on any failure.
# Usage: scripts/test.sh [extra `cargo test` args, e.g. a test name filter]
# Env: CARGO_TARGET_DIR (default ~/.cache/ferrybridge/target: warm across clones),
#      FERRYBRIDGE_CACHE, FERRYBRIDGE_PG_URL (default postgres://postgres@127.0.0.1:5432).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$FB_ROOT"
T0="$(fb_now)"
step() { echo; echo "==> $* [$(fb_since "$T0") s]"; }

step "core module graph (no cycles)"
python3 scripts/module-graph.py | tail -1

step "peers"
bash scripts/install-peers.sh

step "postgres"
if pg_isready -q -h 127.0.0.1 -t 2 2>/dev/null; then
  echo "postgres: accepting connections on 127.0.0.1:5432"
else
  command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ] \
    || { echo "PostgreSQL is not running on 127.0.0.1:5432 and no local cluster to start" >&2; exit 1; }
  ver="$(ls /etc/postgresql | sort -V | tail -1)"
  echo "postgres: not ready; starting cluster $ver/main"
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start
  for _ in $(seq 1 100); do pg_isready -q -h 127.0.0.1 && break; sleep 0.1; done
  pg_isready -h 127.0.0.1
fi

step "redis"
if redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
  echo "redis: answering on 127.0.0.1:6379"
else
  command -v redis-server >/dev/null \
    || { echo "Redis is not running on 127.0.0.1:6379 and redis-server is not installed" >&2; exit 1; }
  echo "redis: not answering; starting redis-server on 127.0.0.1:6379 (no persistence)"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  redis-cli -h 127.0.0.1 ping
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$FB_CACHE/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
step "build (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
t="$(fb_now)"
cargo build --workspace --all-targets --locked
echo "build: $(fb_since "$t") s"

step "cargo test --workspace"
t="$(fb_now)"
cargo test --workspace --locked "$@"
echo "tests: $(fb_since "$t") s"

if [ -f scripts/check-config-equality.sh ]; then
  step "config-equality check"
  bash scripts/check-config-equality.sh
fi

echo; echo "==> all passed in $(fb_since "$T0") s"
