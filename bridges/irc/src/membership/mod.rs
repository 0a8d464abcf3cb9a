//! Which IRC membership becomes Matrix membership, per server and channel (`membership:` in a
//! server's config). A 2,000-nick channel mirrored in full floods the homeserver with joins, so:
//!
//! * `full`: every nick in the channel has a joined ghost: the member list (NAMES) when the
//!   bridge joins, then every JOIN, PART, QUIT, KICK and NICK;
//! * `half`: joins as in `full`, but a ghost leaves only if it spoke while in the channel (the
//!   silent majority stays joined rather than churning; who spoke survives restarts, see
//!   [`active`]);
//! * `lazy`: a ghost joins the room when it first speaks or is mentioned; IRC joins and parts
//!   are not mirrored.
//!
//! Ghosts from a member list join at `joins_per_second` through one pacer per network, so a big
//! channel fills gradually while its messages flow (a ghost that speaks before its turn joins
//! at once). Live JOINs are not paced: they come one at a time.
//!
//! The other direction, `matrix_to_irc`: Matrix members get onto IRC when they join the portal
//! (`full`), or only when they first talk there (`lazy`), so a big room's idle readers cost no
//! IRC connection.

mod active;
mod mentioned;
mod pace;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::ids::fold;
use crate::net::{IrcNetwork, lock};

pub use active::KV_SPOKE;
pub use mentioned::mentioned_members;

/// How much of a channel's IRC membership is mirrored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    #[default]
    Full,
    Half,
    Lazy,
}

/// When a Matrix member of a channel portal gets an IRC connection and JOIN.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatrixToIrc {
    /// On joining the room (and again after a restart).
    #[default]
    Full,
    /// On first talking in it (a message, edit, reaction or topic change).
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
    /// When Matrix members of channel portals get onto IRC.
    #[serde(default)]
    pub matrix_to_irc: MatrixToIrc,
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
            matrix_to_irc: MatrixToIrc::Full,
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

/// Per network: who was active (see [`active`]) and the pacer of member-list joins.
#[derive(Default)]
pub struct Membership {
    pub(crate) active: active::Active,
    pacer: Mutex<Option<mpsc::UnboundedSender<pace::Listed>>>,
}

impl IrcNetwork {
    pub(crate) fn sync_mode(&self, channel: &str) -> SyncMode {
        self.config.membership.mode_for(channel)
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
            SyncMode::Half => self.is_active(channel, nick),
            SyncMode::Lazy => false,
        }
    }

    /// Whether a mode change of `nick` in `channel` is mirrored (it would join the ghost).
    pub(crate) fn mirrors_power(&self, channel: &str, nick: &str) -> bool {
        self.sync_mode(channel) != SyncMode::Lazy || self.is_active(channel, nick)
    }

    /// Whether `nick` (folded) has a ghost in some portal of the bot's channels: a member of
    /// a `full` or `half` channel, or active in a `lazy` one.
    pub(crate) fn has_ghost(&self, folded_nick: &str) -> bool {
        let channels: Vec<String> = lock(&self.channels)
            .iter()
            .filter(|(_, view)| view.members.contains_key(folded_nick))
            .map(|(chan, _)| chan.clone())
            .collect();
        channels
            .iter()
            .any(|chan| self.mirrors_join(chan) || self.is_active(chan, folded_nick))
    }

    /// Queues the ghosts of a channel's member list to join at the configured pace (nothing in
    /// `lazy` channels).
    pub(crate) fn join_listed(self: &Arc<Self>, channel: &str, names: Vec<(String, String)>) {
        if self.sync_mode(channel) == SyncMode::Lazy {
            return;
        }
        let mut pacer = lock(&self.membership.pacer);
        let tx = pacer.get_or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let net = Arc::downgrade(self);
            self.tasks()
                .spawn(pace::pace(net, rx, self.config.membership.joins_per_second));
            tx
        });
        for (nick, modes) in names {
            let _ = tx.send(pace::Listed {
                channel: channel.to_owned(),
                nick,
                modes,
            });
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
        assert_eq!(config.matrix_to_irc, MatrixToIrc::Full, "today's behaviour");
        let lazy: MembershipConfig = serde_norway::from_str("matrix_to_irc: lazy").unwrap();
        assert_eq!(lazy.matrix_to_irc, MatrixToIrc::Lazy);
    }
}
