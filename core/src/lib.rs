//! ferrybridge-core: the appservice core every ferrybridge bridge runs on.
//!
//! A network crate implements [`bridge::Bridge`] and calls [`cli::main`]; everything
//! Matrix-facing lives here. See `ARCHITECTURE.md` at the repository root for the data flow.

pub mod appservice;
pub mod bot;
pub mod bridge;
pub mod cli;
pub mod commands;
pub mod config;
pub mod connections;
mod context;
pub mod crypto;
pub mod events;
pub mod ghost;
pub mod host;
pub mod html;
pub mod ids;
pub mod logging;
pub mod login;
pub mod lru;
pub mod matrix;
pub mod media_cap;
pub mod media_links;
pub mod metrics;
pub mod net_guard;
pub mod network;
pub mod operations;
pub mod permissions;
pub mod portal;
pub mod private_fs;
pub mod provisioning;
pub mod readable;
pub mod relay;
mod router;
pub mod runtime;
pub mod seam;
pub mod store;
pub mod tasks;
pub mod templates;
pub mod url_fetch;
pub mod utc;

pub use bridge::Bridge;
pub use host::BridgeHost;
pub use runtime::{RunningBridge, start, start_with};
pub use seam::{BridgeError, Capabilities, ConnectionState, NetworkInfo, PortalSpec};
