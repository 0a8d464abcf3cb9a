#!/usr/bin/env bash
# run-local.sh hook: point the XMPP bridge at the local Prosody's component port (scripts/start-prosody.sh).
# Usage: xmpp.sh CONFIG
set -euo pipefail
CONFIG="${1:?usage: $0 CONFIG}"
exec python3 "$(dirname "$0")/../patch-yaml.py" "$CONFIG" \
  "network.component.jid=${XMPP_COMPONENT:-matrix.localhost}" \
  "network.component.secret=${XMPP_COMPONENT_SECRET:-ferrybridge-component-secret}" \
  "network.component.server=127.0.0.1:${XMPP_COMPONENT_PORT:-15347}"
