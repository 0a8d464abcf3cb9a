//! ferrybridge-telegram: the Telegram bridge. Users log in with their phone number, the code
//! Telegram sends and their two-step password; their chats and groups become Matrix portals.
//!
//! The bridge logic ([`bridge`], [`relay_in`], [`relay_out`], [`login`], [`commands`]) talks to
//! Telegram only through the crate's own [`network::TelegramNetwork`] trait; [`grammers`] is the
//! real implementation and [`fake`] an in-memory one for tests and benchmarks.

pub mod bridge;
pub mod commands;
pub mod config;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod format;
pub mod grammers;
mod history;
pub mod login;
mod logins;
pub mod network;
pub mod polls;
pub mod relay_in;
pub mod relay_out;
pub mod session;

pub use bridge::TelegramBridge;
pub use config::TelegramConfig;
