//! Matrix → IRC: a Matrix user's message, membership or topic change, sent through their
//! puppet. Anything that cannot be delivered comes back as a [`DeliveryError`] the core shows
//! to the sender.

use std::sync::Arc;

use bytes::Bytes;
use ferrybridge_core::BridgeHost;
use ferrybridge_core::events::{
    ChatInfo, Delivered, DeliveryError, MatrixEvent, MatrixEventKind, MembershipChange,
    MessageContent, MessageKind, PendingDelivery, ReplyTarget,
};
use ruma::{MilliSecondsSinceUnixEpoch, OwnedUserId, UserId};

use crate::conn::Conn;
use crate::format::content_to_irc;
use crate::ids::{is_channel, split_user};
use crate::membership::MatrixToIrc;
use crate::net::{CONNECT_WAIT, IrcNetwork, REQUEST_WAIT};
use crate::numerics::IrcFailure;
use crate::split::{LineKind, SplitResult, split_message, text_budget};

/// The delivery verdict for an IRC failure: only a missing or broken connection is worth
/// retrying. A refused backlog is permanent on purpose: retrying would pile onto the very queue
/// that is full, so the sender gets the notice at once.
fn fail(f: IrcFailure) -> DeliveryError {
    match f {
        IrcFailure::NotConnected { .. } | IrcFailure::SendFailed { .. } => {
            DeliveryError::transient(f.to_string())
        }
        f @ IrcFailure::BackedUp { .. } => DeliveryError::permanent(f.to_string()),
        other => DeliveryError::permanent(other.to_string()),
    }
}

/// The sender's puppet, connected and (for channels) in `target`.
pub async fn ready_puppet(
    net: &Arc<IrcNetwork>,
    user: &OwnedUserId,
    target: &str,
) -> Result<Conn, DeliveryError> {
    let conn = net
        .ensure_puppet(user)
        .await
        .map_err(DeliveryError::transient)?;
    conn.wait_registered(CONNECT_WAIT).await.map_err(fail)?;
    if is_channel(target) && !conn.in_channel(target) {
        conn.join(target, None, REQUEST_WAIT).await.map_err(fail)?;
        crate::restore::remember(net, user, target, true).await;
    }
    Ok(conn)
}

/// Handles one event for the chat `target` on `net`.
pub async fn handle(
    host: &BridgeHost,
    net: &Arc<IrcNetwork>,
    target: &str,
    dm_receiver: Option<&OwnedUserId>,
    event: MatrixEvent,
) -> Result<Delivered, DeliveryError> {
    if let Some(receiver) = dm_receiver
        && receiver != &event.sender
    {
        return Err(DeliveryError::permanent(
            "only the owner of this private chat can talk in it",
        ));
    }
    let target = match dm_receiver {
        Some(_) => net.spelled_nick(target),
        None => target.to_owned(),
    };
    // Replayed after a crash that may have come after the send: looked for before resending.
    let replayed = event.sent_at.filter(|_| event.maybe_delivered);
    match event.kind {
        MatrixEventKind::Message { content, reply_to } => {
            let conn = ready_puppet(net, &event.sender, &target).await?;
            let lines =
                message_lines(host, net, &conn, &target, &content, reply_to.as_ref(), None).await?;
            send_lines(net, &conn, &target, lines, replayed).await
        }
        MatrixEventKind::Edit { content, .. } => {
            let conn = ready_puppet(net, &event.sender, &target).await?;
            let lines =
                message_lines(host, net, &conn, &target, &content, None, Some("* ")).await?;
            send_lines(net, &conn, &target, lines, replayed).await
        }
        MatrixEventKind::Reaction {
            target: message,
            key,
        } => {
            let conn = ready_puppet(net, &event.sender, &target).await?;
            Ok(crate::tagmsg::send_reaction(&conn, &target, &message, &key))
        }
        MatrixEventKind::Typing { typing } => Ok(crate::tagmsg::send_typing(
            net,
            &event.sender,
            &target,
            typing,
        )),
        MatrixEventKind::Membership { change } if is_channel(&target) => match change {
            MembershipChange::Join => {
                // A join while already in the channel is a profile change.
                if let Some(conn) = net.puppet(&event.sender)
                    && conn.in_channel(&target)
                {
                    crate::restore::remember(net, &event.sender, &target, true).await;
                    follow_displayname(host, net, &conn, &event.sender).await;
                    return Ok(Delivered::Untracked);
                }
                // `matrix_to_irc: lazy`: onto IRC with the first message, not the join.
                if net.config.membership.matrix_to_irc == MatrixToIrc::Lazy {
                    return Ok(Delivered::Ignored);
                }
                // Connecting takes a second or more: the portal's queue moves on meanwhile,
                // so users joining together connect together (`concurrent_connects` is the
                // limit). The user's own later messages still wait for it in `ready_puppet`.
                let (net, user) = (net.clone(), event.sender.clone());
                Ok(Delivered::Pending(PendingDelivery::new(async move {
                    ready_puppet(&net, &user, &target).await.map(|_| ())
                })))
            }
            MembershipChange::Leave { reason } => {
                if let Some(conn) = net.puppet(&event.sender) {
                    conn.part(&target, reason.as_deref());
                }
                crate::restore::remember(net, &event.sender, &target, false).await;
                Ok(Delivered::Untracked)
            }
            _ => Ok(Delivered::Ignored),
        },
        MatrixEventKind::GhostMembership { ghost, change } if is_channel(&target) => {
            let Some((_, nick)) = split_user(&ghost) else {
                return Ok(Delivered::Ignored);
            };
            let nick = net.spelled_nick(nick);
            let conn = ready_puppet(net, &event.sender, &target).await?;
            let (reason, ban) = match change {
                MembershipChange::Kick { reason, .. } => (reason, false),
                MembershipChange::Ban { reason, .. } => (reason, true),
                _ => return Ok(Delivered::Ignored),
            };
            let mut lines = Vec::new();
            if ban {
                lines.push(format!("MODE {target} +b {nick}!*@*"));
            }
            lines.push(format!(
                "KICK {target} {nick} :{}",
                reason.unwrap_or_default()
            ));
            conn.send_confirmed(&target, lines, REQUEST_WAIT)
                .await
                .map_err(fail)?;
            Ok(Delivered::Untracked)
        }
        MatrixEventKind::ChatInfo(ChatInfo {
            topic: Some(topic), ..
        }) if is_channel(&target) => {
            let conn = ready_puppet(net, &event.sender, &target).await?;
            let topic: String = topic.replace(['\r', '\n'], " ");
            conn.send_confirmed(
                &target,
                vec![format!("TOPIC {target} :{topic}")],
                REQUEST_WAIT,
            )
            .await
            .map_err(fail)?;
            Ok(Delivered::Untracked)
        }
        _ => Ok(Delivered::Ignored),
    }
}

/// A display name change becomes a NICK, unless the user chose a nick with `!nick`.
async fn follow_displayname(host: &BridgeHost, net: &IrcNetwork, conn: &Conn, user: &OwnedUserId) {
    let key = crate::net::user_key(&net.name, user);
    let custom: Option<String> = host
        .store()
        .kv_get(crate::net::KV_NICK, &key)
        .await
        .ok()
        .flatten();
    if custom.is_some() {
        return;
    }
    let Ok(config) = net.puppet_config(host, user).await else {
        return;
    };
    let desired = conn.state().desired_nick;
    if config.nick == desired {
        return;
    }
    match conn.change_nick(&config.nick, REQUEST_WAIT).await {
        Ok(nick) => {
            host.notify(user, &format!("Your nick on {} is now {nick}.", net.name))
                .await
        }
        Err(e) => {
            conn.set_desired_nick(&desired);
            host.notify(
                user,
                &format!("Could not follow your display name on {}: {e}", net.name),
            )
            .await
        }
    }
}

/// The IRC text of a Matrix message: formatting converted, pills as nicks, media as links.
pub fn irc_text(host: &BridgeHost, net: &IrcNetwork, content: &MessageContent) -> String {
    let resolve = |user: &UserId| -> Option<String> {
        if let Some(remote) = host.ghosts().remote_of(user) {
            return split_user(&remote).map(|(_, n)| net.spelled_nick(n));
        }
        net.puppet(user).map(|c| c.nick()).filter(|n| !n.is_empty())
    };
    let mut text = content_to_irc(content, &resolve);
    if content.kind.has_media()
        && let Some(media) = &content.media
    {
        let url = media.url.clone().unwrap_or_default();
        let name = if content.body.is_empty() {
            media.filename.clone()
        } else {
            content.body.clone()
        };
        text = match media.size {
            Some(size) => format!("{name} ({}) {url}", human_size(size)),
            None => format!("{name} {url}"),
        };
    }
    text
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.0} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// The raw lines of one message: split at the real line budget, past the line limit as a
/// preview plus a link to the full text (uploaded here); empty when there is nothing to say.
pub async fn message_lines(
    host: &BridgeHost,
    net: &Arc<IrcNetwork>,
    conn: &Conn,
    target: &str,
    content: &MessageContent,
    reply_to: Option<&ReplyTarget>,
    prefix: Option<&str>,
) -> Result<Vec<String>, DeliveryError> {
    let mut text = irc_text(host, net, content);
    if let Some(sender) = reply_to.and_then(|r| r.sender.as_ref())
        && let Some((_, nick)) = split_user(sender)
    {
        text = format!("{}: {text}", net.spelled_nick(nick));
    }
    if let Some(p) = prefix {
        text = format!("{p}{text}");
    }
    if is_channel(target) {
        net.join_mentioned_later(target, &text);
    }
    let kind = match content.kind {
        MessageKind::Emote => LineKind::Action,
        MessageKind::Notice => LineKind::Notice,
        _ => LineKind::Privmsg,
    };
    let state = conn.state();
    let budget = text_budget(
        &state.nick,
        state.user.as_deref(),
        state.host.as_deref(),
        target,
        kind,
    );
    let lines = match split_message(&text, budget, net.config.line_limit) {
        SplitResult::Lines(lines) => lines,
        SplitResult::TooLong {
            mut preview,
            full,
            total_lines,
        } => {
            let mxc = host
                .matrix()
                .upload(
                    Bytes::from(full.into_bytes()),
                    "text/plain; charset=utf-8",
                    Some("message.txt"),
                )
                .await
                .map_err(|e| {
                    DeliveryError::transient(format!(
                        "the message is too long for IRC ({total_lines} lines) and could not be uploaded: {e}"
                    ))
                })?;
            let url = host.matrix().public_media_url(&mxc);
            preview.push(format!("(full message: {url})"));
            preview
        }
    };
    let mut raw: Vec<String> = lines
        .into_iter()
        .map(|l| match kind {
            LineKind::Action => format!("PRIVMSG {target} :\x01ACTION {l}\x01"),
            LineKind::Notice => format!("NOTICE {target} :{l}"),
            LineKind::Privmsg => format!("PRIVMSG {target} :{l}"),
        })
        .collect();
    // The reply's target by its msgid, for clients that show threads (the `nick: ` prefix
    // stays for those that do not).
    if let Some(first) = raw.first_mut() {
        *first = crate::tagmsg::reply_tagged(conn, reply_to, first);
    }
    Ok(raw)
}

/// Sends a message's lines. They are queued on the puppet's connection before this returns (so
/// a chat keeps its order); the server's confirmation is left pending, so the next message
/// does not wait for this one's round trip. A message `replayed` after a crash (with its
/// Matrix time) is first looked for in the channel's history, where the server keeps one.
async fn send_lines(
    net: &IrcNetwork,
    conn: &Conn,
    target: &str,
    raw: Vec<String>,
    replayed: Option<MilliSecondsSinceUnixEpoch>,
) -> Result<Delivered, DeliveryError> {
    let Some(first) = raw.first() else {
        return Ok(Delivered::Ignored);
    };
    if let Some(sent_at) = replayed
        && is_channel(target)
        && let Some(msgid) =
            crate::chathistory::already_said(net, &conn.nick(), target, first, sent_at).await
    {
        tracing::info!(%target, "replayed message is in the channel's history already; not sent again");
        return Ok(match msgid {
            Some(id) => Delivered::As(crate::tags::remote_id(&id)),
            None => Delivered::Untracked,
        });
    }
    let verdict = conn.queue_message(target, raw, REQUEST_WAIT);
    Ok(Delivered::Pending(PendingDelivery::identified(
        async move {
            let msgid = verdict.await.map_err(fail)?;
            Ok(msgid.as_deref().map(crate::tags::remote_id))
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_backlog_is_permanent_and_says_why() {
        let e = fail(IrcFailure::BackedUp {
            target: "#c".into(),
            lines: 2000,
        });
        assert!(!e.retryable);
        assert!(e.reason.contains("2000 lines behind"), "{}", e.reason);
    }

    #[test]
    fn a_missing_connection_is_retried() {
        assert!(
            fail(IrcFailure::NotConnected {
                target: "#c".into()
            })
            .retryable
        );
    }
}
