//! The owner of one Matrix user's puppet connection (see [`PuppetOwner`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::conn::{Conn, ConnEvent, EventSink};
use crate::ids::{chat_id, fold, is_channel};
use crate::net::{IrcNetwork, lock};
use crate::numerics::IrcFailure;
use crate::relay::{message_event, profile, text_content};
use ferrybridge_core::ConnectionState;
use ferrybridge_core::events::RemoteEvent;
use ferrybridge_core::ids::PortalKey;
use irc::proto::Command;
use ruma::OwnedUserId;

/// A puppet connection's owner: tells the user about connection state and failures, keeps
/// the puppet-nick registry current, and turns private messages to the puppet into DM portals.
/// It takes the connection's events in order and handles them in a task that exists only while
/// there are events to handle: most puppets are idle most of the time, and a task waiting on a
/// channel for each was half of a puppet's memory (5.5 KiB of future, 2.3 KiB of channel).
pub struct PuppetOwner {
    net: Arc<IrcNetwork>,
    user: OwnedUserId,
    conn: Conn,
    inbox: Mutex<Inbox>,
}

#[derive(Default)]
struct Inbox {
    work: VecDeque<Work>,
    /// Whether a worker task is handling the inbox (it takes what arrives meanwhile).
    working: bool,
    /// The nick the user was told they have, so a reconnection under the same nick is only
    /// announced once (by the core's connection state).
    announced: Option<String>,
}

enum Work {
    /// The connection has just been made: the user's state is "connecting".
    Started,
    Event(ConnEvent),
}

/// Hands the connection's events to the owner; never blocks the connection's task.
#[derive(Clone)]
pub struct OwnerSink(Arc<PuppetOwner>);

impl EventSink for OwnerSink {
    fn deliver(&self, event: ConnEvent) {
        self.0.push(Work::Event(event));
    }
}

impl PuppetOwner {
    /// The owner of `user`'s new connection `conn`, as the sink for its events (see
    /// [`Conn::spawn_with`]).
    pub fn sink(net: Arc<IrcNetwork>, user: OwnedUserId, conn: &Conn) -> OwnerSink {
        let owner = Arc::new(Self {
            net,
            user,
            conn: conn.clone(),
            inbox: Mutex::default(),
        });
        owner.push(Work::Started);
        OwnerSink(owner)
    }

    fn inbox(&self) -> std::sync::MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(self: &Arc<Self>, work: Work) {
        let start = {
            let mut inbox = self.inbox();
            inbox.work.push_back(work);
            !std::mem::replace(&mut inbox.working, true)
        };
        if start {
            let me = self.clone();
            self.net.tasks().spawn(async move { me.drain().await });
        }
    }

    /// Handles the inbox in order until it is empty, then ends.
    async fn drain(self: Arc<Self>) {
        loop {
            let next = {
                let mut inbox = self.inbox();
                let next = inbox.work.pop_front();
                if next.is_none() {
                    inbox.working = false;
                    // An idle puppet keeps no queue.
                    inbox.work = VecDeque::new();
                }
                next
            };
            match next {
                Some(Work::Started) => {
                    let host = self.net.host();
                    host.report_state(
                        Some(&self.user),
                        &self.net.name,
                        ConnectionState::Connecting,
                    )
                    .await;
                }
                Some(Work::Event(event)) => self.handle(event).await,
                None => return,
            }
        }
    }

    async fn handle(&self, event: ConnEvent) {
        let net = &self.net;
        let user: &OwnedUserId = &self.user;
        let conn = &self.conn;
        let host = net.host();
        match event {
            ConnEvent::Closed => {
                host.forget_state(Some(user), &net.name);
                lock(&net.puppet_nicks).retain(|_, u| u != user);
            }
            ConnEvent::Registered { nick } => {
                lock(&net.puppet_nicks).insert(fold(&nick), user.clone());
                host.report_state(Some(user), &net.name, ConnectionState::Connected)
                    .await;
                let announced = self.inbox().announced.clone();
                if announced.as_deref() != Some(nick.as_str()) {
                    greet(
                        host,
                        user,
                        &format!("You are connected to {} as {nick}.", net.name),
                    )
                    .await;
                    self.inbox().announced = Some(nick);
                }
            }
            ConnEvent::NickChanged { old, new } => {
                {
                    let mut nicks = lock(&net.puppet_nicks);
                    nicks.remove(&fold(&old));
                    nicks.insert(fold(&new), user.clone());
                }
                self.inbox().announced = Some(new);
            }
            ConnEvent::Failure(f) => {
                host.notify(user, &format!("{}: {f}", net.name)).await;
            }
            ConnEvent::Disconnected { reason } => {
                if conn.is_closed() {
                    // Quit: `Closed` follows.
                    return;
                }
                tracing::info!(network = %net.name, %user, %reason, "puppet disconnected; reconnecting");
                let reason = format!(
                    "{reason}; if the server refuses your password, fix it with !storepass and then !reconnect"
                );
                host.report_state(
                    Some(user),
                    &net.name,
                    ConnectionState::TransientDisconnect { reason },
                )
                .await;
            }
            ConnEvent::Message(msg) => {
                let me = conn.nick();
                match &msg.command {
                    Command::PRIVMSG(target, text) | Command::NOTICE(target, text)
                        if !is_channel(target) && fold(target) == fold(&me) =>
                    {
                        let Some(nick) = msg.source_nickname().map(str::to_owned) else {
                            return;
                        };
                        if net.is_ours(&nick) || nick.contains('.') {
                            return;
                        }
                        if !net.config.private_messages {
                            conn.send(vec![format!(
                                "NOTICE {nick} :Private messages to Matrix users are disabled on this bridge."
                            )]);
                            return;
                        }
                        let notice = matches!(msg.command, Command::NOTICE(..));
                        // Services talk in notices; those go to the user, not to a DM room.
                        if notice && nick.to_ascii_lowercase().ends_with("serv") {
                            host.notify(user, &format!("{nick}: {text}")).await;
                            return;
                        }
                        let Some(content) = text_content(text, notice) else {
                            return;
                        };
                        let portal = PortalKey::private(chat_id(&net.name, &nick), user.clone());
                        profile(&net, portal.clone(), &nick).await;
                        crate::tagmsg::spoke(&net, &portal, &nick, &nick).await;
                        host.send(RemoteEvent {
                            portal,
                            kind: message_event(&net.name, &nick, content, &msg),
                        })
                        .await;
                    }
                    _ if crate::tagmsg::tagmsg_target(&msg)
                        .is_some_and(|t| fold(t) == fold(&me)) =>
                    {
                        let Some(nick) = msg.source_nickname().map(str::to_owned) else {
                            return;
                        };
                        if net.is_ours(&nick) || !net.config.private_messages {
                            return;
                        }
                        let portal = PortalKey::private(chat_id(&net.name, &nick), user.clone());
                        crate::tagmsg::relay(&net, portal, &nick, &nick, &msg).await;
                    }
                    Command::KICK(chan, who, reason) if fold(who) == fold(&me) => {
                        let by = msg.source_nickname().unwrap_or("someone");
                        let why = reason.as_deref().unwrap_or("no reason given");
                        host.notify(
                            user,
                            &format!("You were kicked from {chan} on {} by {by}: {why}", net.name),
                        )
                        .await;
                    }
                    _ => {
                        if let Some(f) = IrcFailure::from_message(&msg) {
                            host.notify(user, &format!("{}: {f}", net.name)).await;
                        }
                    }
                }
            }
        }
    }
}

/// The connection greeting goes only to a user who already has a management room: creating
/// one costs the homeserver half a second (`createRoom` with an invite), and 300 users
/// joining a portal together got 300 new rooms competing with their joins. (Failures and
/// disconnections still create the room: those the user must hear of.)
async fn greet(host: &ferrybridge_core::BridgeHost, user: &OwnedUserId, text: &str) {
    match host.store().get_user(user).await {
        Ok(Some(known)) if known.management_room.is_some() => host.notify(user, text).await,
        Ok(_) => tracing::debug!(%user, "no management room; connection greeting not sent"),
        Err(e) => tracing::warn!(%user, error = %e, "cannot look up the management room"),
    }
}
