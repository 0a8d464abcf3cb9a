//! Creating a portal room for a remote chat.

use serde_json::json;

use super::{Inner, Portal, PortalError, Portals};
use crate::ids::{PortalKey, PortalKind};
use crate::matrix::CreateRoom;
use crate::seam::PortalSpec;
use crate::store::PortalRow;

/// Power level of the bot in portals it creates; ghosts of remote operators get less.
const BOT_POWER: i64 = 100;

impl Portals {
    /// Creates the room for `spec`; the caller holds the key's creation lock and checked that no
    /// portal exists. `alias_localpart` overrides the alias rendered from the spec.
    pub(super) async fn create_locked(
        &self,
        spec: PortalSpec,
        alias_localpart: Option<String>,
    ) -> Result<Portal, PortalError> {
        let inner = &self.inner;
        let bot = inner.matrix.bot_intent();
        let alias_localpart = alias_localpart.or_else(|| {
            let vars = spec.alias_vars.as_ref()?;
            let alias = self.alias_for(vars)?;
            Some(alias.alias().to_owned())
        });
        let (state_key, bridge) = bridge_state(inner, &spec.key);
        let mut req = CreateRoom {
            name: spec.info.name.clone(),
            topic: spec.info.topic.clone(),
            avatar: spec.info.avatar.as_ref().and_then(|m| m.mxc.clone()),
            alias_localpart,
            invite: Vec::new(),
            is_direct: spec.kind == PortalKind::Dm,
            public: spec.kind == PortalKind::Channel,
            power_users: vec![(bot.user_id().to_owned(), BOT_POWER)],
            initial_state: vec![
                ("m.bridge".into(), state_key.clone(), bridge.clone()),
                ("uk.half-shot.bridge".into(), state_key, bridge),
            ],
            space: false,
        };
        // Encrypted from the start (`encryption.default`), DMs opened by a ghost too.
        if inner.encrypted {
            req.initial_state.push((
                "m.room.encryption".into(),
                String::new(),
                json!({ "algorithm": "m.megolm.v1.aes-sha2" }),
            ));
        }
        // A private chat belongs to its receiver: invite them, with the DM flag.
        if let Some(receiver) = &spec.key.receiver {
            req.invite.push(receiver.clone());
        }
        // A DM is created by the other party's ghost, so clients show it as a chat with them
        // (the invitee's `m.direct` records the inviter); the bot joins too, to post notices.
        let dm_ghost = match (spec.kind, spec.members.first()) {
            (PortalKind::Dm, Some(other)) => Some(inner.ghosts.ensure(other).await?),
            _ => None,
        };
        let room_id = match &dm_ghost {
            Some(ghost) => {
                req.invite.push(bot.user_id().to_owned());
                req.power_users
                    .push((ghost.user_id().to_owned(), BOT_POWER));
                let room_id = ghost.create_room(&req).await?;
                bot.join(&room_id).await?;
                room_id
            }
            None => bot.create_room(&req).await?,
        };
        let row = PortalRow {
            key: spec.key.clone(),
            room_id: room_id.clone(),
            kind: spec.kind,
            plumbed: false,
            name: spec.info.name.clone(),
            topic: spec.info.topic.clone(),
            avatar: req.avatar.clone(),
        };
        if !inner.store.insert_portal(&row).await? {
            // Lost a race with another process: abandon our room.
            let _ = bot.leave(&room_id, Some("duplicate portal")).await;
            return match inner.store.portal_by_key(&spec.key).await? {
                Some(row) => Ok(self.cached(row)),
                None => Err(PortalError::AlreadyBridged(spec.key.to_string())),
            };
        }
        inner.cache.put(&row);
        tracing::info!(portal = %spec.key, room = %room_id, "created portal");
        if let Some(receiver) = &spec.key.receiver {
            inner.spaces.add(receiver, &room_id).await;
        }
        for member in &spec.members {
            if let Err(e) = inner.ghosts.ensure_joined(member, &room_id).await {
                tracing::warn!(portal = %spec.key, ghost = %member, error = %e, "ghost could not join new portal");
            }
        }
        Ok(Portal { row })
    }
}

/// The `m.bridge` state key and content (MSC2346) describing a portal.
pub(super) fn bridge_state(inner: &Inner, key: &PortalKey) -> (String, serde_json::Value) {
    let state_key = format!("fi.ferrybridge://{}/{}", inner.info.id, key.chat);
    let content = json!({
        "bridgebot": inner.matrix.bot().as_str(),
        "creator": inner.matrix.bot().as_str(),
        "protocol": { "id": inner.info.id, "displayname": inner.info.display_name },
        "channel": { "id": key.chat.as_str() },
    });
    (state_key, content)
}
