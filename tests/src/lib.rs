//! Test harness for ferrybridge: starts REAL peers (Synapse via `scripts/start-synapse.sh`, a fresh
//! PostgreSQL database) and drives them with a small real Matrix client, so integration tests in
//! `tests/tests/*.rs` exercise the bridges end to end instead of against mocks.
//!
//! Peers must be installed first (`scripts/install-peers.sh`; `scripts/test.sh` does it).

pub mod bench_hs;
pub mod bench_keys;
pub mod bot_chat;
pub mod bridge_env;
pub mod client;
pub mod crash;
pub mod echo;
pub mod olm_http;
pub mod postgres;
pub mod process_bridge;
pub mod relay_bench;
pub mod synapse;
pub mod timeline;
pub mod wait;
pub mod xmpp;

use std::path::PathBuf;

pub use bridge_env::{BridgeEnv, Builder, PreparedBridge};
pub use client::{TestUser, register_user, text_body};
pub use postgres::{PgDbGuard, fresh_postgres_db};
pub use process_bridge::{ProcessBridge, bridge_binary, work_dir};
pub use synapse::Synapse;
pub use wait::{free_port, wait_until};

/// The repository root (the `scripts/` the harness runs live there).
pub fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}
