#!/bin/sh
# Relay throughput each way and memory per logged-in user, on the fake Telegram network against
# a real Synapse (see tests/tests/telegram_bench.rs). Pass --release for optimised numbers.
set -eu
cd "$(dirname "$0")/../../.."
exec cargo test --workspace --features ferrybridge-telegram/fake "$@" \
    --test telegram_bench -- --ignored --nocapture relay_throughput_and_memory_per_user
