//! Netsplit debouncing: users lost in a netsplit usually come back within seconds, so their
//! quits are held for a grace period and dropped if they rejoin, instead of flooding rooms with
//! leaves and joins.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ferrybridge_core::events::MembershipChange;

use crate::ids::fold;
use crate::net::{IrcNetwork, lock};

/// How long a netsplit quit waits for the user to come back.
pub const GRACE: Duration = Duration::from_secs(10);

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Quits held back: folded nick → (nick, channels, generation).
pub type Pending = HashMap<String, (String, Vec<String>, u64)>;

/// Whether a QUIT reason is a netsplit's (`server.one server.two`, as servers write it).
pub fn is_netsplit(reason: &str) -> bool {
    let parts: Vec<&str> = reason.split(' ').collect();
    parts.len() == 2
        && parts
            .iter()
            .all(|p| p.contains('.') && !p.starts_with('.') && !p.contains(['/', ':', '*']))
}

/// Holds a netsplit quit; emits the leaves after [`GRACE`] unless the user rejoined.
pub fn hold(net: &Arc<IrcNetwork>, nick: &str, channels: Vec<String>, reason: &str) {
    let generation = GENERATION.fetch_add(1, Ordering::Relaxed);
    lock(&net.netsplit).insert(fold(nick), (nick.to_owned(), channels, generation));
    let tasks = net.tasks().clone();
    let (net, folded, reason) = (net.clone(), fold(nick), format!("Netsplit: {reason}"));
    tasks.spawn(async move {
        tokio::time::sleep(GRACE).await;
        let expired = {
            let mut pending = lock(&net.netsplit);
            match pending.get(&folded) {
                Some((_, _, g)) if *g == generation => pending.remove(&folded),
                _ => None,
            }
        };
        if let Some((nick, channels, _)) = expired {
            for chan in channels {
                if net.mirrors_leave(&chan, &nick) {
                    let reason = Some(reason.clone());
                    crate::relay::member(&net, &chan, &nick, MembershipChange::Leave { reason })
                        .await;
                }
                net.forget_active(&chan, &nick).await;
            }
        }
    });
}

/// A user joined `channel`: `true` if they are back from a netsplit there (no join to bridge,
/// as their ghost never left).
pub fn returned(net: &IrcNetwork, nick: &str, channel: &str) -> bool {
    let mut pending = lock(&net.netsplit);
    let Some((_, channels, _)) = pending.get_mut(&fold(nick)) else {
        return false;
    };
    let before = channels.len();
    channels.retain(|c| fold(c) != fold(channel));
    let back = channels.len() != before;
    if channels.is_empty() {
        pending.remove(&fold(nick));
    }
    back
}

#[cfg(test)]
mod tests {
    use super::is_netsplit;

    #[test]
    fn recognises_netsplit_reasons() {
        assert!(is_netsplit("irc.example.net hub.example.net"));
        assert!(!is_netsplit("Quit: bye now"));
        assert!(!is_netsplit("Ping timeout: 120 seconds"));
        assert!(!is_netsplit("see https://x.org y.org"));
        assert!(!is_netsplit("*.net *.split"));
    }
}
