//! IRC → Matrix: the bot connection's view of its channels becomes remote events. Lines from
//! our own puppets are skipped (their Matrix originals are already in the room).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ferrybridge_core::ConnectionState;
use ferrybridge_core::events::{
    ChatInfo, MembershipChange, MessageKind, RemoteEvent, RemoteEventKind, RemoteProfile,
};
use ferrybridge_core::ids::{PortalKey, RemoteMessageId};
use irc::proto::{Command, Message, Mode, Response};
use tokio::sync::mpsc;

use crate::conn::{Conn, ConnEvent};
use crate::format::irc_to_content;
use crate::ids::{chat_id, fold, is_channel, user_id};
use crate::net::{ChannelView, IrcNetwork, lock};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique ID for a message from IRC (IRC has none).
pub fn new_message_id(network: &str) -> RemoteMessageId {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    RemoteMessageId::new(format!("{network}/{ms}-{n}"))
}

/// Power level for IRC channel modes.
pub fn power_of(prefixes: &str) -> i64 {
    if prefixes.contains(['~', '&', '@']) {
        50
    } else if prefixes.contains('%') {
        25
    } else if prefixes.contains('+') {
        10
    } else {
        0
    }
}

/// A text line (PRIVMSG/NOTICE/CTCP ACTION) as Matrix content; `None` for other CTCPs.
pub fn text_content(text: &str, notice: bool) -> Option<ferrybridge_core::events::MessageContent> {
    if let Some(inner) = text.strip_prefix('\x01') {
        let inner = inner.strip_suffix('\x01').unwrap_or(inner);
        let action = inner.strip_prefix("ACTION ")?;
        return Some(irc_to_content(action, true));
    }
    let mut content = irc_to_content(text, false);
    if notice {
        content.kind = MessageKind::Notice;
    }
    Some(content)
}

/// A message from `nick` as a remote event: under its server `msgid` when it has one (so
/// replies and reactions from IRC can name it), as a reply when `+draft/reply` says so, and
/// at the server's `time`.
pub fn message_event(
    network: &str,
    nick: &str,
    content: ferrybridge_core::events::MessageContent,
    msg: &Message,
) -> RemoteEventKind {
    RemoteEventKind::Message {
        id: match crate::tags::msgid(msg) {
            Some(m) => crate::tags::remote_id(m),
            None => new_message_id(network),
        },
        sender: user_id(network, nick),
        content,
        reply_to: crate::tags::reply_to(msg),
        sent_at: crate::tags::server_time(msg),
    }
}

/// Runs the bot's event loop until its connection ends.
/// The bot's connection is the bridge's own: its state goes to `/ready` and the metrics.
pub async fn run(net: Arc<IrcNetwork>, bot: Conn, mut rx: mpsc::UnboundedReceiver<ConnEvent>) {
    let host = net.host().clone();
    host.report_state(None, &net.name, ConnectionState::Connecting)
        .await;
    while let Some(event) = rx.recv().await {
        match event {
            ConnEvent::Message(msg) => handle(&net, &bot, *msg).await,
            ConnEvent::Registered { nick } => {
                tracing::info!(network = %net.name, %nick, "bridge bot connected to IRC");
                host.report_state(None, &net.name, ConnectionState::Connected)
                    .await;
            }
            ConnEvent::Disconnected { reason } => {
                lock(&net.channels).clear();
                crate::status::clear(&net);
                host.report_state(
                    None,
                    &net.name,
                    ConnectionState::TransientDisconnect { reason },
                )
                .await;
            }
            _ => {}
        }
    }
}

async fn send(net: &IrcNetwork, portal: PortalKey, kind: RemoteEventKind) {
    {
        let host = net.host();
        host.send(RemoteEvent { portal, kind }).await;
    }
}

pub(crate) async fn member(net: &IrcNetwork, channel: &str, nick: &str, change: MembershipChange) {
    send(
        net,
        PortalKey::shared(chat_id(&net.name, channel)),
        RemoteEventKind::Membership {
            user: user_id(&net.name, nick),
            change,
        },
    )
    .await;
}

/// Whether this spelling of a nick still needs its ghost's display name set in this process
/// (and from now on counts as set).
pub(crate) fn first_profile(net: &IrcNetwork, nick: &str) -> bool {
    let mut profiled = lock(&net.profiled);
    if profiled.touch(nick) {
        return false;
    }
    profiled.insert(nick.to_owned());
    true
}

/// Sets the ghost's display name to the nick as spelled (once per spelling and process).
pub async fn profile(net: &IrcNetwork, portal: PortalKey, nick: &str) {
    if !first_profile(net, nick) {
        return;
    }
    send(
        net,
        portal,
        RemoteEventKind::Profile {
            user: user_id(&net.name, nick),
            profile: RemoteProfile {
                displayname: Some(nick.to_owned()),
                avatar: None,
            },
        },
    )
    .await;
}

fn channels_of(net: &IrcNetwork, folded_nick: &str) -> Vec<String> {
    lock(&net.channels)
        .iter()
        .filter(|(_, v)| v.members.contains_key(folded_nick))
        .map(|(k, _)| k.clone())
        .collect()
}

async fn handle(net: &Arc<IrcNetwork>, bot: &Conn, msg: Message) {
    let source = msg.source_nickname().map(str::to_owned);
    let me = fold(&bot.nick());
    match &msg.command {
        Command::PRIVMSG(target, text) | Command::NOTICE(target, text) => {
            let Some(nick) = source else { return };
            if !is_channel(target) || net.is_ours(&nick) || nick.contains('.') {
                return;
            }
            let notice = matches!(msg.command, Command::NOTICE(..));
            let Some(mut content) = text_content(text, notice) else {
                return;
            };
            let puppets: Vec<(String, ruma::OwnedUserId)> = net
                .puppets
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .filter(|(u, c)| {
                    c.in_channel(target) && net.features.enabled(u, crate::features::MENTIONS)
                })
                .map(|(u, c)| (c.nick(), u.clone()))
                .collect();
            crate::mentions::apply(&mut content, &puppets);
            net.join_mentioned(target, Some(&nick), &content.body).await;
            net.spoke(target, &nick).await;
            crate::status::on_message(net, &nick, &msg);
            let portal = PortalKey::shared(chat_id(&net.name, target));
            profile(net, portal.clone(), &nick).await;
            crate::tagmsg::spoke(net, &portal, target, &nick).await;
            send(net, portal, message_event(&net.name, &nick, content, &msg)).await;
        }
        _ if crate::tagmsg::tagmsg_target(&msg).is_some_and(is_channel) => {
            let (Some(nick), Some(target)) = (source, crate::tagmsg::tagmsg_target(&msg)) else {
                return;
            };
            if net.is_ours(&nick) || nick.contains('.') {
                return;
            }
            let portal = PortalKey::shared(chat_id(&net.name, target));
            crate::tagmsg::relay(net, portal, target, &nick, &msg).await;
        }
        Command::JOIN(chan, _, _) => {
            let Some(nick) = source else { return };
            if fold(&nick) == me {
                lock(&net.channels).insert(
                    fold(chan),
                    ChannelView {
                        name: chan.clone(),
                        ..ChannelView::default()
                    },
                );
                return;
            }
            if let Some(view) = lock(&net.channels).get_mut(&fold(chan)) {
                view.members
                    .insert(fold(&nick), (nick.clone(), String::new()));
            }
            crate::status::on_line(net, &msg);
            if net.is_ours(&nick) || crate::netsplit::returned(net, &nick, chan) {
                return;
            }
            if !net.mirrors_join(chan) {
                return;
            }
            let portal = PortalKey::shared(chat_id(&net.name, chan));
            profile(net, portal, &nick).await;
            member(net, chan, &nick, MembershipChange::Join).await;
        }
        Command::PART(chan, reason) => {
            let Some(nick) = source else { return };
            if fold(&nick) == me {
                lock(&net.channels).remove(&fold(chan));
                return;
            }
            if let Some(view) = lock(&net.channels).get_mut(&fold(chan)) {
                view.members.remove(&fold(&nick));
            }
            if !net.is_ours(&nick) && net.mirrors_leave(chan, &nick) {
                let reason = reason.clone().filter(|r| !r.is_empty());
                member(net, chan, &nick, MembershipChange::Leave { reason }).await;
            }
            net.forget_active(chan, &nick).await;
            crate::status::left(net, &nick);
        }
        Command::QUIT(reason) => {
            let Some(nick) = source else { return };
            let chans = channels_of(net, &fold(&nick));
            for chan in &chans {
                if let Some(view) = lock(&net.channels).get_mut(chan) {
                    view.members.remove(&fold(&nick));
                }
            }
            crate::status::quit(net, &nick);
            if net.is_ours(&nick) {
                return;
            }
            if let Some(r) = reason
                .as_deref()
                .filter(|r| crate::netsplit::is_netsplit(r))
            {
                crate::netsplit::hold(net, &nick, chans, r);
                return;
            }
            let reason = Some(match reason {
                Some(r) if !r.is_empty() => format!("Quit: {r}"),
                _ => "Quit".to_owned(),
            });
            for chan in chans.iter().filter(|c| net.mirrors_leave(c, &nick)) {
                member(
                    net,
                    chan,
                    &nick,
                    MembershipChange::Leave {
                        reason: reason.clone(),
                    },
                )
                .await;
            }
            for chan in &chans {
                net.forget_active(chan, &nick).await;
            }
        }
        Command::KICK(chan, who, reason) => {
            if let Some(view) = lock(&net.channels).get_mut(&fold(chan)) {
                view.members.remove(&fold(who));
            }
            if fold(who) == me {
                // Kicked bot: the portal would go quiet; rejoin after a pause.
                tracing::warn!(network = %net.name, channel = %chan, "bridge bot was kicked; rejoining");
                let tasks = net.tasks().clone();
                let (net, chan) = (net.clone(), chan.clone());
                tasks.spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    net.bot_join(&chan).await;
                });
                return;
            }
            let mirrored = !net.is_ours(who) && net.mirrors_leave(chan, who);
            net.forget_active(chan, who).await;
            crate::status::left(net, who);
            if !mirrored {
                return;
            }
            let by = source
                .filter(|n| !net.is_ours(n))
                .map(|n| user_id(&net.name, &n));
            member(
                net,
                chan,
                who,
                MembershipChange::Kick {
                    by,
                    reason: reason.clone(),
                },
            )
            .await;
        }
        Command::NICK(new) => {
            let Some(old) = source else { return };
            let chans = channels_of(net, &fold(&old));
            for chan in &chans {
                if let Some(view) = lock(&net.channels).get_mut(chan)
                    && let Some((_, modes)) = view.members.remove(&fold(&old))
                {
                    view.members.insert(fold(new), (new.clone(), modes));
                }
            }
            crate::status::renamed(net, &old, new);
            if net.is_ours(&old) || net.is_ours(new) || fold(&old) == me {
                return;
            }
            for chan in &chans {
                if net.mirrors_leave(chan, &old) {
                    let reason = Some(format!("Nick changed to {new}"));
                    member(net, chan, &old, MembershipChange::Leave { reason }).await;
                }
                if net.mirrors_join(chan) {
                    profile(net, PortalKey::shared(chat_id(&net.name, chan)), new).await;
                    member(net, chan, new, MembershipChange::Join).await;
                }
            }
            net.rename_active(&chans, &old, new).await;
        }
        Command::TOPIC(chan, Some(topic)) => {
            if source.as_deref().is_some_and(|n| net.is_ours(n)) {
                return;
            }
            topic_changed(net, chan, topic).await;
        }
        Command::Response(Response::RPL_ISUPPORT, args) => {
            let mapping = args.iter().find_map(|a| a.strip_prefix("CASEMAPPING="));
            if let Some(mapping) = mapping.filter(|m| !m.eq_ignore_ascii_case("rfc1459")) {
                tracing::warn!(network = %net.name, casemapping = mapping, "the server folds names by another casemapping than the bridge (rfc1459): names differing only in []\\~ vs {{}}|^ are one user to the bridge");
            }
            if let Some(max) = args.iter().find_map(|a| a.strip_prefix("CHATHISTORY=")) {
                net.set_chathistory_max(max);
            }
        }
        Command::Response(Response::RPL_TOPIC, args) if args.len() >= 3 => {
            topic_changed(net, &args[1], &args[2]).await;
        }
        Command::Response(Response::RPL_NAMREPLY, args) if args.len() >= 4 => {
            let chan = &args[2];
            let mut channels = lock(&net.channels);
            let view = channels.entry(fold(chan)).or_insert_with(|| ChannelView {
                name: chan.clone(),
                ..ChannelView::default()
            });
            for entry in args[3].split_whitespace() {
                let split = entry
                    .find(|c: char| !matches!(c, '~' | '&' | '@' | '%' | '+'))
                    .unwrap_or(entry.len());
                let (modes, nick) = entry.split_at(split);
                let nick = nick.split('!').next().unwrap_or(nick);
                if !nick.is_empty() {
                    view.names_pending
                        .insert(fold(nick), (nick.to_owned(), modes.to_owned()));
                }
            }
        }
        Command::Response(Response::RPL_ENDOFNAMES, args) if args.len() >= 2 => {
            let chan = args[1].clone();
            let names = {
                let mut channels = lock(&net.channels);
                let Some(view) = channels.get_mut(&fold(&chan)) else {
                    return;
                };
                view.members = std::mem::take(&mut view.names_pending);
                view.members.clone()
            };
            // Speakers who left while the bridge was away (only from a list that has the bot
            // in it: anything else is not the channel's member list).
            let gone = if names.contains_key(&me) {
                net.prune_active(&chan, &names).await
            } else {
                Vec::new()
            };
            for gone in gone {
                let reason = Some("Left while the bridge was away".to_owned());
                member(net, &chan, &gone, MembershipChange::Leave { reason }).await;
            }
            // Joined at the configured pace, so a big channel does not flood the homeserver.
            let listed = names
                .into_iter()
                .filter(|(folded, (nick, _))| *folded != me && !net.is_ours(nick))
                .map(|(_, listed)| listed)
                .collect();
            net.join_listed(&chan, listed);
        }
        Command::ChannelMODE(chan, modes) => {
            for mode in modes {
                let (plus, m, arg) = match mode {
                    Mode::Plus(m, a) => (true, m, a),
                    Mode::Minus(m, a) => (false, m, a),
                    Mode::NoPrefix(_) => continue,
                };
                let letter = match m {
                    irc::proto::ChannelMode::Oper => '@',
                    irc::proto::ChannelMode::Voice => '+',
                    irc::proto::ChannelMode::Halfop => '%',
                    _ => continue,
                };
                let Some(nick) = arg else { continue };
                let modes_now = {
                    let mut channels = lock(&net.channels);
                    let Some(view) = channels.get_mut(&fold(chan)) else {
                        continue;
                    };
                    let Some((_, modes)) = view.members.get_mut(&fold(nick)) else {
                        continue;
                    };
                    if plus {
                        if !modes.contains(letter) {
                            modes.push(letter);
                        }
                    } else {
                        modes.retain(|c| c != letter);
                    }
                    modes.clone()
                };
                if net.is_ours(nick) || !net.mirrors_power(chan, nick) {
                    continue;
                }
                let level = power_of(&modes_now);
                member(net, chan, nick, MembershipChange::Power { level }).await;
            }
        }
        _ => {
            crate::status::on_line(net, &msg);
        }
    }
}

async fn topic_changed(net: &IrcNetwork, chan: &str, topic: &str) {
    let changed = {
        let mut channels = lock(&net.channels);
        let view = channels.entry(fold(chan)).or_default();
        let changed = view.topic.as_deref() != Some(topic);
        view.topic = Some(topic.to_owned());
        changed
    };
    if changed {
        send(
            net,
            PortalKey::shared(chat_id(&net.name, chan)),
            RemoteEventKind::ChatInfo(ChatInfo {
                topic: Some(topic.to_owned()),
                ..ChatInfo::default()
            }),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::parse_str;
    use ferrybridge_core::events::MessageContent;

    #[test]
    fn extended_join_account_and_away_lines_are_understood_and_not_failures() {
        let join = parse_str("@account=bob :bob!b@h JOIN #c bob :Bob Realname").unwrap();
        assert!(matches!(&join.command, Command::JOIN(c, _, _) if c == "#c"));
        let anon = parse_str(":bob!b@h JOIN #c * :Bob Realname").unwrap();
        assert!(matches!(&anon.command, Command::JOIN(c, _, _) if c == "#c"));
        for line in [
            ":bob!b@h ACCOUNT bob",
            ":bob!b@h ACCOUNT *",
            ":bob!b@h AWAY :gone fishing",
            ":bob!b@h AWAY",
        ] {
            let m = parse_str(line).unwrap();
            assert_eq!(
                crate::numerics::IrcFailure::from_message(&m),
                None,
                "{line}"
            );
        }
    }

    #[test]
    fn a_tagged_line_keeps_its_msgid_reply_and_time() {
        let m = parse_str(
            "@time=2024-01-02T03:04:05.678Z;msgid=abc;+draft/reply=xyz :Bob!b@h PRIVMSG #c :hi",
        )
        .unwrap();
        match message_event("net", "Bob", MessageContent::text("hi"), &m) {
            RemoteEventKind::Message {
                id,
                reply_to,
                sent_at,
                ..
            } => {
                assert_eq!(id, crate::tags::remote_id("abc"));
                assert_eq!(reply_to, Some(crate::tags::remote_id("xyz")));
                assert_eq!(sent_at.map(|t| u64::from(t.0)), Some(1_704_164_645_678));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_untagged_or_badly_tagged_line_gets_a_made_up_id_and_no_time() {
        for line in [
            ":Bob!b@h PRIVMSG #c :hi",
            "@time=soon;msgid=;+draft/reply= :Bob!b@h PRIVMSG #c :hi",
        ] {
            let m = parse_str(line).unwrap();
            match message_event("net", "Bob", MessageContent::text("hi"), &m) {
                RemoteEventKind::Message {
                    id,
                    reply_to,
                    sent_at,
                    ..
                } => {
                    assert!(id.as_str().starts_with("net/"), "{id}");
                    assert_eq!((reply_to, sent_at), (None, None));
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
