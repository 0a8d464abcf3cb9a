//! Idle handling: puppets of users who have not used IRC from Matrix for `idle_timeout_secs`
//! are disconnected (they reconnect when they next talk or join).

use std::sync::Arc;
use std::time::Duration;

use ruma::UserId;
use tokio::time::Instant;

use crate::net::{IrcNetwork, lock};

/// Notes that `user` used the bridge now.
pub fn touch(net: &IrcNetwork, user: &UserId) {
    lock(&net.last_active).insert(user.to_owned(), Instant::now());
}

/// Disconnects idle puppets periodically; returns at once when the timeout is 0 (never).
pub async fn reaper(net: Arc<IrcNetwork>) {
    let timeout = Duration::from_secs(net.config.idle_timeout_secs);
    if timeout.is_zero() {
        return;
    }
    let period = (timeout / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        tokio::time::sleep(period).await;
        let idle: Vec<_> = {
            let active = lock(&net.last_active);
            lock(&net.puppets)
                .keys()
                .filter(|u| active.get(*u).is_none_or(|t| t.elapsed() >= timeout))
                .cloned()
                .collect()
        };
        for user in idle {
            let conn = lock(&net.puppets).remove(&user);
            lock(&net.last_active).remove(&user);
            if let Some(conn) = conn {
                conn.quit("Idle for too long");
                {
                    let host = net.host();
                    host.notify(
                        &user,
                        &format!(
                            "You were disconnected from {} after {}s without activity; you reconnect when you next talk there.",
                            net.name,
                            timeout.as_secs()
                        ),
                    )
                    .await;
                }
            }
        }
    }
}
