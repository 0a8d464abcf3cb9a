//! The pacer of member-list joins: ghosts of a channel's NAMES join one after another, at most
//! `joins_per_second` per network, so a big channel does not flood the homeserver.

use std::sync::Weak;
use std::time::Duration;

use ferrybridge_core::events::MembershipChange;
use ferrybridge_core::ids::PortalKey;
use tokio::sync::mpsc;

use crate::ids::{chat_id, fold};
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
    while let Some(Listed {
        channel,
        nick,
        modes,
    }) = rx.recv().await
    {
        tick.tick().await;
        let Some(net) = net.upgrade() else { return };
        // Gone from the channel while it waited: nothing to mirror.
        let present = lock(&net.channels)
            .get(&fold(&channel))
            .is_some_and(|v| v.members.contains_key(&fold(&nick)));
        if !present {
            continue;
        }
        let portal = PortalKey::shared(chat_id(&net.name, &channel));
        crate::relay::profile(&net, portal, &nick).await;
        crate::relay::member(&net, &channel, &nick, MembershipChange::Join).await;
        let level = crate::relay::power_of(&modes);
        if level > 0 {
            crate::relay::member(&net, &channel, &nick, MembershipChange::Power { level }).await;
        }
    }
}
