//! The outbox: every stanza the bridge sends queues here, and the component connection drains
//! it (see [`crate::conn`]). While the stream is slow or down, stanzas wait; Matrix messages
//! first [`reserve`](Outbox::reserve) their place and are refused once
//! `limits.remote_backlog` stanzas are waiting, so the sender hears about it instead of the
//! queue growing without end. Protocol stanzas (IQ answers, presences, pings) are never refused:
//! the connection needs them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::mpsc;
use tokio_xmpp::Stanza;

/// A Matrix message found the outbox at its cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "XMPP is {queued} stanzas behind; this message was not sent (try again once it has caught up)"
)]
pub struct BackedUp {
    /// Stanzas waiting when the message was refused.
    pub queued: usize,
}

/// The sending half every part of the bridge uses; cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::UnboundedSender<Stanza>,
    connected: Arc<AtomicBool>,
    /// Stanzas queued or reserved and not yet taken by the connection.
    queued: Arc<AtomicUsize>,
    /// `limits.remote_backlog`.
    cap: usize,
}

/// The receiving half the connection drains.
pub struct OutboxReceiver {
    rx: mpsc::UnboundedReceiver<Stanza>,
    queued: Arc<AtomicUsize>,
}

/// Places reserved for one Matrix message's stanzas; places not used are given back on drop.
pub struct Reservation {
    outbox: Outbox,
    left: usize,
}

impl Outbox {
    /// A new outbox refusing Matrix messages once `cap` stanzas wait, and its receiver.
    pub fn new(cap: usize) -> (Self, OutboxReceiver) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        (
            Self {
                tx,
                connected: Arc::new(AtomicBool::new(false)),
                queued: queued.clone(),
                cap: cap.max(1),
            },
            OutboxReceiver { rx, queued },
        )
    }

    /// Queues a protocol stanza; never refused.
    pub fn send(&self, stanza: impl Into<Stanza>) {
        self.queued.fetch_add(1, Ordering::Relaxed);
        self.push(stanza.into());
    }

    /// Reserves places for the `stanzas` of one Matrix message, or refuses it if the outbox is
    /// at its cap already. Only the backlog at arrival counts, so a message is never refused
    /// for its own size (a gateway message goes to every occupant).
    pub fn reserve(&self, stanzas: usize) -> Result<Reservation, BackedUp> {
        self.queued
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |q| {
                (q < self.cap).then(|| q.saturating_add(stanzas))
            })
            .map(|_| Reservation {
                outbox: self.clone(),
                left: stanzas,
            })
            .map_err(|queued| BackedUp { queued })
    }

    /// Stanzas waiting (queued or reserved).
    pub fn backlog(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Whether the component stream is up.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    pub(crate) fn set_connected(&self, up: bool) {
        self.connected.store(up, Ordering::Relaxed);
    }

    /// Hands a counted stanza to the connection.
    fn push(&self, stanza: Stanza) {
        if self.tx.send(stanza).is_err() {
            // The receiver only goes away at shutdown; the stanza is dropped with it.
            self.queued.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Reservation {
    /// Queues one of the message's stanzas in a reserved place (or, past the reservation, as
    /// an extra one).
    pub fn send(&mut self, stanza: impl Into<Stanza>) {
        if self.left == 0 {
            self.outbox.send(stanza);
            return;
        }
        self.left -= 1;
        self.outbox.push(stanza.into());
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.left > 0 {
            self.outbox.queued.fetch_sub(self.left, Ordering::Relaxed);
        }
    }
}

impl OutboxReceiver {
    /// The next stanza; `None` once every sender is gone.
    pub async fn recv(&mut self) -> Option<Stanza> {
        let stanza = self.rx.recv().await;
        self.taken(stanza)
    }

    /// The next stanza if one is queued.
    pub fn try_recv(&mut self) -> Option<Stanza> {
        let stanza = self.rx.try_recv().ok();
        self.taken(stanza)
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    fn taken(&self, stanza: Option<Stanza>) -> Option<Stanza> {
        if stanza.is_some() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
        }
        stanza
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_parsers::message::Message;

    fn msg() -> Stanza {
        Stanza::Message(Message::new(None))
    }

    #[test]
    fn messages_are_refused_at_the_cap_protocol_stanzas_are_not() {
        let (outbox, mut rx) = Outbox::new(2);
        outbox.reserve(1).expect("room").send(msg());
        outbox.reserve(1).expect("room").send(msg());
        assert_eq!(outbox.reserve(1).err(), Some(BackedUp { queued: 2 }));
        outbox.send(msg());
        assert_eq!(outbox.backlog(), 3);
        assert!(rx.try_recv().is_some());
        assert!(rx.try_recv().is_some());
        assert_eq!(outbox.backlog(), 1);
        assert!(outbox.reserve(1).is_ok(), "room again once drained");
    }

    #[test]
    fn unused_places_are_given_back() {
        let (outbox, mut rx) = Outbox::new(10);
        {
            let mut r = outbox.reserve(3).expect("room");
            r.send(msg());
            assert_eq!(outbox.backlog(), 3);
        }
        assert_eq!(outbox.backlog(), 1);
        assert!(rx.try_recv().is_some());
        assert_eq!(outbox.backlog(), 0);
        assert!(rx.try_recv().is_none());
        assert_eq!(outbox.backlog(), 0);
    }

    #[test]
    fn a_message_larger_than_the_cap_passes_an_empty_outbox() {
        let (outbox, _rx) = Outbox::new(2);
        let mut r = outbox
            .reserve(5)
            .expect("only the backlog at arrival counts");
        for _ in 0..6 {
            r.send(msg());
        }
        drop(r);
        assert_eq!(outbox.backlog(), 6);
        assert!(outbox.reserve(1).is_err());
    }

    #[test]
    fn stanzas_for_a_closed_connection_are_not_counted() {
        let (outbox, rx) = Outbox::new(2);
        drop(rx);
        outbox.send(msg());
        outbox.reserve(1).expect("room").send(msg());
        assert_eq!(outbox.backlog(), 0);
    }
}
