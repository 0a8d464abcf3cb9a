//! Which channels each puppet is in, kept in the store so that after a bridge restart every
//! puppet reconnects and rejoins (IRC servers forget us when we disconnect).

use std::collections::BTreeSet;
use std::sync::Arc;

use ruma::{OwnedUserId, UserId};

use crate::ids::fold;
use crate::net::{CONNECT_WAIT, IrcNetwork, REQUEST_WAIT, user_key};

/// Key-value namespace: `<network> <mxid>` → the channels the puppet is in.
pub const KV_CHANNELS: &str = "irc_channels";

/// Records that `user`'s puppet joined (`true`) or left `channel`.
pub async fn remember(net: &IrcNetwork, user: &UserId, channel: &str, joined: bool) {
    let host = net.host();
    let key = user_key(&net.name, user);
    let store = host.store();
    let mut set: BTreeSet<String> = store
        .kv_get(KV_CHANNELS, &key)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let changed = if joined {
        set.insert(channel.to_owned())
    } else {
        let before = set.len();
        set.retain(|c| fold(c) != fold(channel));
        set.len() != before
    };
    if changed && let Err(e) = store.kv_set(KV_CHANNELS, &key, &set).await {
        tracing::warn!(%user, error = %e, "could not record puppet channels");
    }
}

/// Forgets all of `user`'s channels on `net` (after `quit`).
pub async fn forget(net: &IrcNetwork, user: &UserId) {
    {
        let host = net.host();
        let _ = host
            .store()
            .kv_delete(KV_CHANNELS, &user_key(&net.name, user))
            .await;
    }
}

/// Reconnects every puppet that was in a channel before the restart, and rejoins. With a
/// connection pool, every puppet the pool still holds is taken over too (one in no channel,
/// e.g. only in private chats, would otherwise stay on IRC unowned).
pub async fn restore_all(net: Arc<IrcNetwork>) {
    take_over_pooled(&net).await;
    let host = net.host();
    let prefix = format!("{} ", net.name);
    let rows = match host.store().kv_list(KV_CHANNELS, &prefix).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(network = %net.name, error = %e, "cannot list puppets to restore");
            return;
        }
    };
    for (key, value) in rows {
        let Some(user) = key
            .strip_prefix(&prefix)
            .and_then(|u| OwnedUserId::try_from(u).ok())
        else {
            continue;
        };
        let channels: Vec<String> = serde_json::from_value(value).unwrap_or_default();
        if channels.is_empty() {
            continue;
        }
        let net = net.clone();
        let tasks = net.tasks().clone();
        tasks.spawn(async move {
            let Ok(conn) = net.ensure_puppet(&user).await else {
                return;
            };
            if conn.wait_registered(CONNECT_WAIT * 4).await.is_err() {
                return;
            }
            for chan in channels {
                if let Err(e) = conn.join(&chan, None, REQUEST_WAIT).await {
                    tracing::info!(%user, channel = %chan, error = %e, "puppet could not rejoin");
                }
            }
        });
    }
}

/// Takes over the puppets the pool holds on this network.
async fn take_over_pooled(net: &Arc<IrcNetwork>) {
    let Some(pool) = &net.pool else { return };
    let keys = match pool.pooled_keys(&net.name).await {
        Ok(keys) => keys,
        Err(e) => {
            tracing::warn!(network = %net.name, error = %e, "cannot list pooled IRC connections; channels' puppets are restored from the store");
            return;
        }
    };
    for user in keys.iter().filter_map(|k| k.puppet_user()) {
        if net.puppet(&user).is_some() {
            continue;
        }
        let net2 = net.clone();
        net.tasks().spawn(async move {
            if let Err(e) = net2.ensure_puppet(&user).await {
                tracing::info!(%user, error = %e, "could not take over a pooled puppet");
            }
        });
    }
}
