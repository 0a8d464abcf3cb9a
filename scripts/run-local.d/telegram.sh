#!/usr/bin/env bash
# run-local.sh hook: Telegram needs your own API credentials (https://my.telegram.org/apps).
# Set TELEGRAM_API_ID and TELEGRAM_API_HASH before running run-local.sh, or edit .run/telegram/config.yaml;
# without them the Telegram bridge is skipped.
# Usage: telegram.sh CONFIG
set -euo pipefail
CONFIG="${1:?usage: $0 CONFIG}"
if [ -n "${TELEGRAM_API_ID:-}" ] && [ -n "${TELEGRAM_API_HASH:-}" ]; then
  exec python3 "$(dirname "$0")/../patch-yaml.py" "$CONFIG" "network.api_id=$TELEGRAM_API_ID" "network.api_hash=$TELEGRAM_API_HASH"
fi
