//! IRC bridge for ferrybridge: the protocol building blocks the `Bridge` impl is wired from.
//!
//! Each module has one job: [`format`] converts styles, [`split`] fits text into IRC lines,
//! [`nick`] makes valid nicks and compares names, [`config`] is the `network:` section,
//! [`flood`] paces outgoing lines, [`tags`] reads and writes IRCv3 message tags, [`backoff`]
//! paces reconnects, [`numerics`] turns server errors into user-facing notices, [`line`] parses
//! raw lines safely, [`identd`] answers ident lookups, [`client_cert`] holds the users' CertFP
//! certificates and [`pool`] keeps the sockets in a separate process across restarts.

pub mod backoff;
pub mod bridge;
pub mod chathistory;
pub mod client_cert;
pub mod commands;
pub mod config;
pub mod conn;
pub mod features;
pub mod flood;
pub mod format;
pub mod identd;
pub mod idle;
pub mod ids;
pub mod line;
pub mod membership;
pub mod mentions;
pub mod net;
pub mod netsplit;
pub mod nick;
pub mod numerics;
pub mod outbound;
pub mod pool;
pub mod puppet;
pub mod relay;
pub mod restore;
pub mod split;
pub mod status;
pub mod tagmsg;
pub mod tags;

pub use bridge::IrcBridge;
pub use config::IrcConfig;
