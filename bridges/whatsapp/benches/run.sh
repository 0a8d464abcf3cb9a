#!/bin/sh
# WhatsApp bridge benchmark with the fake network through a local Synapse (debug build):
# relay throughput each way and memory per linked user. Sizes: BENCH_IN, BENCH_OUT,
# BENCH_USERS, BENCH_REAL_CLIENTS.
set -e
cd "$(dirname "$0")/../../.."
exec cargo test --workspace --test whatsapp_bench -- --ignored --nocapture
