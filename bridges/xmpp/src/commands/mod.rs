//! The XMPP bridge's own bot commands, one per file.

pub mod join;
