#!/usr/bin/env bash
# Install the real peers the tests and scripts/run-local.sh talk to. Idempotent and quick when done:
#  - Debian packages inspircd, atheme-services (IRC), prosody (XMPP), curl, python3-venv;
#    `apt-get update` runs only when one is missing, and a policy-rc.d guard keeps their postinst
#    from starting system daemons.
#  - a Python venv with Synapse pinned by scripts/requirements.txt, cached OUTSIDE the repo at
#    ${FERRYBRIDGE_CACHE:-~/.cache/ferrybridge}/venv-<hash of requirements.txt>; pip is skipped when
#    that venv is complete.
# Usage: install-peers.sh [--no-apt] [--no-synapse]
# Env: FERRYBRIDGE_CACHE, FERRYBRIDGE_VENV (use this venv path instead of the hashed one).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
APT=1; SYNAPSE=1
for a in "$@"; do
  case "$a" in
    --no-apt) APT=0 ;;
    --no-synapse) SYNAPSE=0 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown option $a" >&2; exit 2 ;;
  esac
done
T0="$(fb_now)"

if [ "$APT" = 1 ]; then
  PKGS=(inspircd atheme-services prosody curl python3-venv)
  missing=()
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-peers: apt: all present ($(dpkg-query -W -f='${Package} ${Version}, ' "${PKGS[@]}" | sed 's/, $//'))"
  else
    SUDO=""
    if [ "$(id -u)" != 0 ]; then
      command -v sudo >/dev/null || { echo "install-peers: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
      SUDO="sudo"
    fi
    t="$(fb_now)"
    export DEBIAN_FRONTEND=noninteractive
    guard=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then  # exit 101 = "don't start services from maintainer scripts"
      printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
      $SUDO chmod +x /usr/sbin/policy-rc.d; guard=1
    fi
    trap '[ -z "$guard" ] || $SUDO rm -f /usr/sbin/policy-rc.d' EXIT
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    echo "install-peers: apt: installed ${missing[*]} in $(fb_since "$t") s"
  fi
fi

if [ "$SYNAPSE" = 1 ]; then
  VENV="$(fb_venv)"
  if [ -f "$VENV/.ferrybridge-complete" ]; then
    echo "install-peers: venv: up to date at $VENV"
  else
    mkdir -p "$(dirname "$VENV")"
    t="$(fb_now)"
    # Concurrent runs (two clones, two CI jobs) serialise on a lock; the second finds it complete.
    exec 9>"$VENV.lock"
    flock 9
    if [ ! -f "$VENV/.ferrybridge-complete" ]; then
      rm -rf "$VENV"
      python3 -m venv "$VENV"
      "$VENV/bin/pip" install -q --disable-pip-version-check -r "$FB_SCRIPTS/requirements.txt"
      cp "$FB_SCRIPTS/requirements.txt" "$VENV/.ferrybridge-complete"
      echo "install-peers: venv: built $VENV in $(fb_since "$t") s"
    else
      echo "install-peers: venv: built meanwhile by another run at $VENV"
    fi
    flock -u 9
  fi
fi
echo "install-peers: done in $(fb_since "$T0") s"
