#!/usr/bin/env bash
# run-local.sh hook: point the IRC bridge's config at the local InspIRCd (scripts/start-ircd.sh).
# Usage: irc.sh CONFIG
set -euo pipefail
CONFIG="${1:?usage: $0 CONFIG}"
exec python3 "$(dirname "$0")/../patch-yaml.py" "$CONFIG" \
  network.servers.localhost.address=127.0.0.1 \
  "network.servers.localhost.port=${IRC_PORT:-16667}"
