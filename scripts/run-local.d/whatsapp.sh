#!/usr/bin/env bash
# run-local.sh hook: keep the WhatsApp session files beside the bridge's database in .run/whatsapp.
# Usage: whatsapp.sh CONFIG
set -euo pipefail
CONFIG="${1:?usage: $0 CONFIG}"
exec python3 "$(dirname "$0")/../patch-yaml.py" "$CONFIG" "network.session_dir=$(cd "$(dirname "$CONFIG")" && pwd)/sessions"
