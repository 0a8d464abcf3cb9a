//! Where a session's socket comes from: our own TCP/TLS connection, or the connection pool's
//! (see [`crate::pool`]), which a restarted bridge takes over registered.

use super::super::{ConnConfig, ConnEvent, Shared};
use super::Session;
use super::io::{self, Reader};
use crate::config::ServerConfig;
use crate::pool::track::SocketState;

/// A socket to the server: our own, or the pool's (maybe taken over registered; the pool
/// presents the client certificate, and the built-in identd cannot answer for its sockets).
pub(super) async fn open(
    config: &ConnConfig,
    shared: &Shared,
    ident_lease: &mut Option<crate::identd::IdentLease>,
) -> std::io::Result<(Reader, io::Writer, Option<SocketState>)> {
    match &config.pool {
        Some(p) => {
            let spec = crate::pool::wire::SocketSpec {
                server: ServerConfig::clone(&config.server),
                channel_messages: config.channel_messages,
                client_cert_pem: config.client_cert.as_ref().map(|c| c.to_pem()),
                ident: config.ident.clone(),
            };
            let a = p.client.attach(&p.key, spec).await?;
            Ok((a.reader, a.writer, a.resumed))
        }
        None => {
            let cert = config.client_cert.as_deref();
            let (r, w) = io::connect(&config.server, cert, |local, peer| {
                *ident_lease = super::super::on_connected(config, shared, local, peer);
            })
            .await?;
            Ok((r, w, None))
        }
    }
}

impl Session<'_> {
    /// Takes over a pooled socket that is registered already: our state is the pool's, and
    /// the owner hears `Registered` as after a registration (nothing is sent to IRC, except
    /// NAMES for the bot so its member lists are filled again).
    pub(super) fn resume(&mut self, state: SocketState) {
        self.registered = true;
        self.nick = state.nick.clone();
        self.caps.resumed(state.caps.clone());
        {
            let mut st = self.shared.lock();
            st.nick = state.nick.clone();
            st.registered = true;
            st.last_error = None;
            st.user = state.user.clone();
            st.host = state.host.clone();
            st.caps = state.caps.clone();
            if st.desired_nick.is_empty() {
                st.desired_nick = state.nick.clone();
            }
            for (folded, c) in &state.channels {
                let entry = st.channels.entry(folded.clone()).or_default();
                entry.name = c.name.clone();
                entry.key = c.key.clone().or(entry.key.take());
                entry.joined = true;
            }
        }
        if self.config.channel_messages {
            for c in state.channels.values() {
                self.send(format!("NAMES {}", c.name));
            }
        }
        tracing::info!(network = %self.config.network, nick = %state.nick, "IRC connection taken over from the pool");
        let _ = self.shared.registered.send(true);
        self.event(ConnEvent::Registered { nick: state.nick });
    }
}
