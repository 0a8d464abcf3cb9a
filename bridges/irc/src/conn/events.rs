//! What a connection reports to its owner, and where it reports it.

use irc::proto::Message;
use tokio::sync::mpsc;

use crate::numerics::IrcFailure;

/// What a connection reports to its owner.
#[derive(Clone, Debug)]
pub enum ConnEvent {
    /// Registered (001) under this nick.
    Registered { nick: String },
    /// A line no pending request claimed. Boxed: a channel of events allocates its first block
    /// of 32 up front, and an unboxed line made that 7.5 KiB.
    Message(Box<Message>),
    /// A connection-level failure (SASL refused, nick refused, banned, …).
    Failure(IrcFailure),
    /// Our nick changed.
    NickChanged { old: String, new: String },
    /// The connection dropped; it reconnects by itself unless quit.
    Disconnected { reason: String },
    /// The connection's task has ended (quit, or the bridge stopping): the last event.
    Closed,
}

/// Where a connection's events go, in order. The network's bot reads them from a channel in
/// its relay task; a puppet hands them to a worker that runs only while it has events (see
/// [`crate::puppet`]), so an idle puppet keeps no task or channel waiting for them.
pub trait EventSink: Send + Sync + 'static {
    /// Takes one event; must not block (the connection's task calls it).
    fn deliver(&self, event: ConnEvent);
}

impl EventSink for mpsc::UnboundedSender<ConnEvent> {
    fn deliver(&self, event: ConnEvent) {
        // The owner has gone: nobody is left to tell.
        let _ = self.send(event);
    }
}
