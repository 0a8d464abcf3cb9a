//! WhatsApp bridge for ferrybridge.
//!
//! The bridge logic ([`bridge`], [`incoming`] (with [`content`] for cards, polls and timers), [`outgoing`], [`login`], [`commands`]) talks to
//! WhatsApp only through the crate's own [`network::WhatsAppNetwork`] trait: [`wa`] implements it
//! over whatsapp-rust (the default), `fake` (feature `fake`) for tests.

pub mod avatars;
pub mod bridge;
pub mod commands;
pub mod config;
pub mod content;
pub mod format;
pub mod history;
pub mod incoming;
pub mod jid;
pub mod login;
pub mod network;
pub mod outgoing;
pub mod polls;
pub mod recent;
pub mod sessions;
pub mod wa;

#[cfg(any(test, feature = "fake"))]
pub mod fake;

pub use bridge::WhatsAppBridge;
pub use config::WhatsAppConfig;
