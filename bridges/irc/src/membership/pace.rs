//! The pacer of member-list joins: ghosts of a channel's NAMES join at most `joins_per_second`
//! per network, so a big channel does not flood the homeserver.
//!
//! The pacer joins them itself, one at a time, beside the portal's queue rather than through
//! it. A ghost costs Synapse about 140 ms (register, display name, join; more as the room
//! grows), so a member list queued in the portal held the channel's messages behind it (a line
//! said 3 s into a 200-nick fill reached Matrix 8.3 s later; now 0.7 s), and the pace is the
//! configured rate or the homeserver's, whichever is slower. Joins at once do not help: Synapse
//! takes a room's joins one after another (two in flight: same rate, each twice as long, and
//! messages wait behind them). These joins are not journaled: after a crash the bot's rejoin
//! brings the member list, and so the joins, again.

use std::sync::Weak;
use std::time::Duration;

use ferrybridge_core::events::{MembershipChange, RemoteProfile};
use ferrybridge_core::ids::PortalKey;
use tokio::sync::mpsc;

use crate::ids::{chat_id, fold, user_id};
use crate::net::{IrcNetwork, lock};

/// A nick from a channel's member list, with its channel modes (`@`, `+`, …).
pub(super) struct Listed {
    pub channel: String,
    pub nick: String,
    pub modes: String,
}

/// Joins listed ghosts one after another, `per_second` at most.
pub(super) async fn pace(
    net: Weak<IrcNetwork>,
    mut rx: mpsc::UnboundedReceiver<Listed>,
    per_second: f64,
) {
    let period = Duration::from_secs_f64(1.0 / per_second.max(0.001));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while let Some(listed) = rx.recv().await {
        tick.tick().await;
        let Some(net) = net.upgrade() else { return };
        // Gone from the channel while it waited: nothing to mirror.
        if present(&net, &listed) {
            join(&net, listed).await;
        }
    }
}

fn present(net: &IrcNetwork, listed: &Listed) -> bool {
    lock(&net.channels)
        .get(&fold(&listed.channel))
        .is_some_and(|v| v.members.contains_key(&fold(&listed.nick)))
}

/// Joins one listed ghost to its portal's room. Without a portal yet, the join goes through
/// the portal's queue, which creates it.
async fn join(net: &IrcNetwork, listed: Listed) {
    let Listed {
        channel,
        nick,
        modes,
    } = &listed;
    let host = net.host();
    let key = PortalKey::shared(chat_id(&net.name, channel));
    let portal = match host.portals().get(&key).await {
        Ok(Some(portal)) => portal,
        Ok(None) | Err(_) => {
            crate::relay::profile(net, key, nick).await;
            crate::relay::member(net, channel, nick, MembershipChange::Join).await;
            power(net, channel, nick, modes).await;
            return;
        }
    };
    let ghost = user_id(&net.name, nick);
    if crate::relay::first_profile(net, nick) {
        let profile = RemoteProfile {
            displayname: Some(nick.clone()),
            avatar: None,
        };
        if let Err(e) = host.ghosts().set_profile(&ghost, &profile).await {
            tracing::warn!(network = %net.name, %nick, error = %e, "could not set a ghost's display name");
        }
    }
    if let Err(e) = host.ghosts().ensure_joined(&ghost, portal.room_id()).await {
        tracing::warn!(network = %net.name, %channel, %nick, error = %e, "could not join a ghost from the member list");
        return;
    }
    // A PART while it joined went through the queue, maybe before this join: leave again
    // (behind the join) so the room does not keep a nick that is gone.
    if !present(net, &listed) {
        if net.mirrors_leave(channel, nick) {
            let reason = Some("Left the channel".to_owned());
            crate::relay::member(net, channel, nick, MembershipChange::Leave { reason }).await;
        }
        return;
    }
    power(net, channel, nick, modes).await;
}

async fn power(net: &IrcNetwork, channel: &str, nick: &str, modes: &str) {
    let level = crate::relay::power_of(modes);
    if level > 0 {
        crate::relay::member(net, channel, nick, MembershipChange::Power { level }).await;
    }
}
