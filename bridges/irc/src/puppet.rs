//! The owner task of one Matrix user's puppet connection: tells the user about connection
//! state and failures, keeps the puppet-nick registry current, and turns private messages to
//! the puppet into DM portals.

use std::sync::Arc;

use ferrybridge_core::ConnectionState;
use ferrybridge_core::events::RemoteEvent;
use ferrybridge_core::ids::PortalKey;
use irc::proto::Command;
use ruma::OwnedUserId;
use tokio::sync::mpsc;

use crate::conn::{Conn, ConnEvent};
use crate::ids::{chat_id, fold, is_channel};
use crate::net::{IrcNetwork, lock};
use crate::numerics::IrcFailure;
use crate::relay::{message_event, profile, text_content};

pub async fn run_owner(
    net: Arc<IrcNetwork>,
    user: OwnedUserId,
    conn: Conn,
    mut rx: mpsc::UnboundedReceiver<ConnEvent>,
) {
    // The nick the user was told they have, so a reconnection under the same nick is only
    // announced once (by the core's connection state).
    let mut announced: Option<String> = None;
    let host = net.host();
    host.report_state(Some(&user), &net.name, ConnectionState::Connecting)
        .await;
    while let Some(event) = rx.recv().await {
        match event {
            ConnEvent::Registered { nick } => {
                lock(&net.puppet_nicks).insert(fold(&nick), user.clone());
                host.report_state(Some(&user), &net.name, ConnectionState::Connected)
                    .await;
                if announced.as_deref() != Some(nick.as_str()) {
                    greet(
                        host,
                        &user,
                        &format!("You are connected to {} as {nick}.", net.name),
                    )
                    .await;
                    announced = Some(nick);
                }
            }
            ConnEvent::NickChanged { old, new } => {
                {
                    let mut nicks = lock(&net.puppet_nicks);
                    nicks.remove(&fold(&old));
                    nicks.insert(fold(&new), user.clone());
                }
                announced = Some(new);
            }
            ConnEvent::Failure(f) => {
                host.notify(&user, &format!("{}: {f}", net.name)).await;
            }
            ConnEvent::Disconnected { reason } => {
                if conn.is_closed() {
                    break;
                }
                tracing::info!(network = %net.name, %user, %reason, "puppet disconnected; reconnecting");
                let reason = format!(
                    "{reason}; if the server refuses your password, fix it with !storepass and then !reconnect"
                );
                host.report_state(
                    Some(&user),
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
                            continue;
                        };
                        if net.is_ours(&nick) || nick.contains('.') {
                            continue;
                        }
                        if !net.config.private_messages {
                            conn.send(vec![format!(
                                "NOTICE {nick} :Private messages to Matrix users are disabled on this bridge."
                            )]);
                            continue;
                        }
                        let notice = matches!(msg.command, Command::NOTICE(..));
                        // Services talk in notices; those go to the user, not to a DM room.
                        if notice && nick.to_ascii_lowercase().ends_with("serv") {
                            host.notify(&user, &format!("{nick}: {text}")).await;
                            continue;
                        }
                        let Some(content) = text_content(text, notice) else {
                            continue;
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
                            continue;
                        };
                        if net.is_ours(&nick) || !net.config.private_messages {
                            continue;
                        }
                        let portal = PortalKey::private(chat_id(&net.name, &nick), user.clone());
                        crate::tagmsg::relay(&net, portal, &nick, &nick, &msg).await;
                    }
                    Command::KICK(chan, who, reason) if fold(who) == fold(&me) => {
                        let by = msg.source_nickname().unwrap_or("someone");
                        let why = reason.as_deref().unwrap_or("no reason given");
                        host.notify(
                            &user,
                            &format!("You were kicked from {chan} on {} by {by}: {why}", net.name),
                        )
                        .await;
                    }
                    _ => {
                        if let Some(f) = IrcFailure::from_message(&msg) {
                            host.notify(&user, &format!("{}: {f}", net.name)).await;
                        }
                    }
                }
            }
        }
    }
    host.forget_state(Some(&user), &net.name);
    let mut nicks = lock(&net.puppet_nicks);
    nicks.retain(|_, u| u != &user);
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
