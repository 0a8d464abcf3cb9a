//! Which IRC membership becomes Matrix membership, per server and channel (`membership:` in a
//! server's config). A 2,000-nick channel mirrored in full floods the homeserver with joins, so:
//!
//! * `full`: every nick in the channel has a joined ghost: the member list (NAMES) when the
//!   bridge joins, then every JOIN, PART, QUIT, KICK and NICK;
//! * `half`: joins as in `full`, but a ghost leaves only if it spoke since the bridge started
//!   (the silent majority stays joined rather than churning);
//! * `lazy`: a ghost joins the room when it first speaks; IRC joins and parts are not mirrored.
//!
//! Ghosts from a member list join at `joins_per_second` through one pacer per network, so a big
//! channel fills gradually while its messages flow (a ghost that speaks before its turn joins
//! at once). Live JOINs are not paced: they come one at a time.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrybridge_core::events::MembershipChange;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::ids::fold;
use crate::net::IrcNetwork;

/// How much of a channel's IRC membership is mirrored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    #[default]
    Full,
    Half,
    Lazy,
}

/// A server's `membership:` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipConfig {
    /// The mode of channels not listed in `channels`.
    #[serde(default)]
    pub mode: SyncMode,
    /// Ghosts joined from member lists per second, per network.
    #[serde(default = "d_joins_per_second")]
    pub joins_per_second: f64,
    /// Per-channel modes, e.g. `"#big": lazy`.
    #[serde(default)]
    pub channels: BTreeMap<String, SyncMode>,
}

fn d_joins_per_second() -> f64 {
    20.0
}

impl Default for MembershipConfig {
    fn default() -> Self {
        Self {
            mode: SyncMode::Full,
            joins_per_second: d_joins_per_second(),
            channels: BTreeMap::new(),
        }
    }
}

impl MembershipConfig {
    /// The mode of `channel`.
    pub fn mode_for(&self, channel: &str) -> SyncMode {
        let folded = fold(channel);
        self.channels
            .iter()
            .find(|(name, _)| fold(name) == folded)
            .map_or(self.mode, |(_, mode)| *mode)
    }

    /// Problems with the section, as `(field, problem)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if !(self.joins_per_second.is_finite() && self.joins_per_second > 0.0) {
            problems.push((
                "membership.joins_per_second".to_owned(),
                "must be a number above 0".to_owned(),
            ));
        }
        for name in self.channels.keys() {
            if !crate::ids::is_channel(name) {
                problems.push((
                    format!("membership.channels.{name}"),
                    "is not a channel name (it starts with #, &, + or !)".to_owned(),
                ));
            }
        }
        problems
    }
}

/// Per network: who spoke (for `half`) and the pacer of member-list joins.
pub struct Membership {
    /// `(channel, nick)`, both folded, of nicks that spoke since the bridge started.
    spoke: Mutex<HashSet<(String, String)>>,
    pacer: Mutex<Option<mpsc::UnboundedSender<Listed>>>,
}

/// A nick from a channel's member list, with its channel modes (`@`, `+`, …).
struct Listed {
    channel: String,
    nick: String,
    modes: String,
}

impl Default for Membership {
    fn default() -> Self {
        Self {
            spoke: Mutex::new(HashSet::new()),
            pacer: Mutex::new(None),
        }
    }
}

/// Most remembered speakers per network (a forgotten one is treated as silent by `half`).
const MAX_SPOKE: usize = 100_000;

impl IrcNetwork {
    fn sync_mode(&self, channel: &str) -> SyncMode {
        self.config.membership.mode_for(channel)
    }

    /// Records that `nick` spoke in `channel`.
    pub(crate) fn spoke(&self, channel: &str, nick: &str) {
        let mut spoke = self
            .membership
            .spoke
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if spoke.len() >= MAX_SPOKE {
            spoke.clear();
        }
        spoke.insert((fold(channel), fold(nick)));
    }

    fn has_spoken(&self, channel: &str, nick: &str) -> bool {
        self.membership
            .spoke
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&(fold(channel), fold(nick)))
    }

    /// Whether a live IRC JOIN of `channel` becomes a Matrix join.
    pub(crate) fn mirrors_join(&self, channel: &str) -> bool {
        self.sync_mode(channel) != SyncMode::Lazy
    }

    /// Whether `nick` leaving `channel` (PART, QUIT, KICK, the old side of a NICK) becomes a
    /// Matrix leave.
    pub(crate) fn mirrors_leave(&self, channel: &str, nick: &str) -> bool {
        match self.sync_mode(channel) {
            SyncMode::Full => true,
            SyncMode::Half => self.has_spoken(channel, nick),
            SyncMode::Lazy => false,
        }
    }

    /// Whether a mode change of `nick` in `channel` is mirrored (it would join the ghost).
    pub(crate) fn mirrors_power(&self, channel: &str, nick: &str) -> bool {
        self.sync_mode(channel) != SyncMode::Lazy || self.has_spoken(channel, nick)
    }

    /// Queues the ghosts of a channel's member list to join at the configured pace (nothing in
    /// `lazy` channels).
    pub(crate) fn join_listed(self: &Arc<Self>, channel: &str, names: Vec<(String, String)>) {
        if self.sync_mode(channel) == SyncMode::Lazy {
            return;
        }
        let mut pacer = self
            .membership
            .pacer
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let tx = pacer.get_or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let net = Arc::downgrade(self);
            self.tasks()
                .spawn(pace(net, rx, self.config.membership.joins_per_second));
            tx
        });
        for (nick, modes) in names {
            let _ = tx.send(Listed {
                channel: channel.to_owned(),
                nick,
                modes,
            });
        }
    }
}

/// Joins listed ghosts one after another, `per_second` at most.
async fn pace(
    net: std::sync::Weak<IrcNetwork>,
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
        let present = crate::net::lock(&net.channels)
            .get(&fold(&channel))
            .is_some_and(|v| v.members.contains_key(&fold(&nick)));
        if !present {
            continue;
        }
        let portal =
            ferrybridge_core::ids::PortalKey::shared(crate::ids::chat_id(&net.name, &channel));
        crate::relay::profile(&net, portal, &nick).await;
        crate::relay::member(&net, &channel, &nick, MembershipChange::Join).await;
        let level = crate::relay::power_of(&modes);
        if level > 0 {
            crate::relay::member(&net, &channel, &nick, MembershipChange::Power { level }).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_override_the_default_case_insensitively() {
        let yaml = "mode: half\njoins_per_second: 5\nchannels:\n  \"#Big\": lazy\n";
        let config: MembershipConfig = serde_norway::from_str(yaml).unwrap();
        assert_eq!(config.mode_for("#big"), SyncMode::Lazy);
        assert_eq!(config.mode_for("#other"), SyncMode::Half);
        assert!(config.problems().is_empty());
        let bad: MembershipConfig =
            serde_norway::from_str("joins_per_second: 0\nchannels:\n  big: lazy\n").unwrap();
        assert_eq!(bad.problems().len(), 2);
        assert!(serde_norway::from_str::<MembershipConfig>("mode: some").is_err());
    }
}
