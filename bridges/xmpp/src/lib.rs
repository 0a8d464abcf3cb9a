//! The XMPP bridge for ferrybridge: an external component (XEP-0114) that puts Matrix users
//! into XMPP MUCs as puppet occupants, XMPP users into Matrix as ghosts, and bridges direct
//! chats both ways.
//!
//! Layout: [`config`] (the `network:` section), [`conn`] (component stream, keepalive,
//! reconnects), [`inbound`] (XMPP → Matrix), [`presence`] (MUC presences), [`outbound`] (Matrix → XMPP), [`outbox`] (the bounded stanza queue), [`convert`]
//! (message stanzas ↔ message content), [`muc`] (MUC occupancy), [`naming`] (JIDs ↔ IDs), [`gateway`] (XMPP users in public Matrix rooms),
//! [`iq`] (IQ answers), [`requests`] (IQs we send and wait for), [`archive`] (does a MUC already hold a replayed message), [`vcard`] and [`avatars`] (ghost avatars from vCards), [`media`] (attachments fetched from XMPP, in order), [`moderation`] (kicks, bans, subjects), [`pending`] (bounced messages), [`reactions`] (XEP-0444), [`styling`] (XEP-0393 ↔ HTML), [`commands`] (bot commands).

pub mod archive;
pub mod avatars;
pub mod bridge;
pub mod commands;
pub mod config;
pub mod conn;
pub mod convert;
pub mod gateway;
pub mod history;
pub mod inbound;
pub mod iq;
pub mod media;
pub mod moderation;
pub mod muc;
pub mod naming;
pub mod outbound;
pub mod outbox;
pub mod pending;
pub mod presence;
pub mod reactions;
pub mod requests;
pub mod styling;
pub mod vcard;
pub mod xml;

pub use bridge::XmppBridge;
pub use config::XmppConfig;
