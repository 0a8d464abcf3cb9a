//! Rooms: creation, membership and power levels.
//!
//! Room version 12 (Synapse's default) makes room creators all-powerful and forbids listing them
//! in `m.room.power_levels`: creation leaves them out of `users` there, [`Intent::power_level`]
//! reports them as [`CREATOR_POWER_LEVEL`], and [`Intent::set_power_level`] leaves them alone.

use http::Method;
use ruma::{
    OwnedRoomId, OwnedUserId, UserId,
    api::client::{
        discovery::get_capabilities,
        membership::{
            ban_user,
            invite_user::{self, v3::InviteUserId},
            join_room_by_id, joined_members, kick_user, leave_room,
        },
    },
};
use serde_json::{Map, Value, json};

use super::{CreateRoom, Intent, MatrixClient, MatrixError, transport::Outgoing};

/// The power level reported for a room creator in room versions where creators outrank
/// everyone (v12+). Larger than any level an event can set.
pub const CREATOR_POWER_LEVEL: i64 = i64::MAX;

/// Whether room version `version` privileges its creators (MSC4289: v12 and later).
pub fn creators_are_privileged(version: &str) -> bool {
    !matches!(version.parse::<u32>(), Ok(1..=11))
}

/// The `/createRoom` body for `req`, created by `creator`. `privileged_creators` says whether
/// the room version keeps creators out of the power levels' `users` map.
pub(crate) fn create_room_body(
    req: &CreateRoom,
    creator: &UserId,
    privileged_creators: bool,
) -> Value {
    let mut body = Map::new();
    let preset = if req.is_direct {
        "trusted_private_chat"
    } else if req.public {
        "public_chat"
    } else {
        "private_chat"
    };
    body.insert("preset".into(), preset.into());
    body.insert("visibility".into(), "private".into());
    if let Some(name) = &req.name {
        body.insert("name".into(), name.clone().into());
    }
    if let Some(topic) = &req.topic {
        body.insert("topic".into(), topic.clone().into());
    }
    if let Some(alias) = &req.alias_localpart {
        body.insert("room_alias_name".into(), alias.clone().into());
    }
    if !req.invite.is_empty() {
        let invite: Vec<Value> = req.invite.iter().map(|u| u.as_str().into()).collect();
        body.insert("invite".into(), invite.into());
    }
    if req.is_direct {
        body.insert("is_direct".into(), true.into());
    }
    if req.space {
        body.insert("creation_content".into(), json!({ "type": "m.space" }));
    }
    let mut initial_state = Vec::new();
    if let Some(avatar) = &req.avatar {
        initial_state.push(json!({
            "type": "m.room.avatar", "state_key": "", "content": { "url": avatar.as_str() }
        }));
    }
    for (event_type, state_key, content) in &req.initial_state {
        initial_state.push(json!({
            "type": event_type, "state_key": state_key, "content": content
        }));
    }
    if !initial_state.is_empty() {
        body.insert("initial_state".into(), initial_state.into());
    }
    // `power_level_content_override.users` replaces the server's map wholesale, so the creator
    // must be listed again in old room versions; in v12 creators (and, for trusted private
    // chats, the invitees, who become additional creators) must not appear at all.
    let mut users = Map::new();
    if !privileged_creators {
        users.insert(creator.as_str().into(), 100.into());
    }
    for (user, level) in &req.power_users {
        let is_creator = user == creator || (req.is_direct && req.invite.contains(user));
        if privileged_creators && is_creator {
            continue;
        }
        if !privileged_creators && user == creator {
            continue;
        }
        users.insert(user.as_str().into(), (*level).into());
    }
    if !req.power_users.is_empty() || !privileged_creators {
        body.insert(
            "power_level_content_override".into(),
            json!({ "users": users }),
        );
    }
    Value::Object(body)
}

/// Reads a user's level from power levels content, with the spec's defaults.
pub(crate) fn level_in(power_levels: &Value, user: &UserId) -> i64 {
    let as_int = |v: &Value| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
    };
    power_levels
        .get("users")
        .and_then(|u| u.get(user.as_str()))
        .and_then(as_int)
        .or_else(|| power_levels.get("users_default").and_then(as_int))
        .unwrap_or(0)
}

/// Whether `user` is a creator of the room described by the full `m.room.create` event, in a
/// room version where that makes them all-powerful.
pub(crate) fn is_privileged_creator(create_event: &Value, user: &UserId) -> bool {
    let content = create_event.get("content").unwrap_or(&Value::Null);
    let version = content
        .get("room_version")
        .and_then(Value::as_str)
        .unwrap_or("1");
    if !creators_are_privileged(version) {
        return false;
    }
    create_event.get("sender").and_then(Value::as_str) == Some(user.as_str())
        || content
            .get("additional_creators")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|u| u.as_str() == Some(user.as_str())))
}

impl MatrixClient {
    /// The homeserver's default room version (from `/capabilities`), asked once.
    async fn default_room_version(&self) -> Result<String, MatrixError> {
        if let Ok(guard) = self.default_room_version.lock()
            && let Some(v) = guard.as_ref()
        {
            return Ok(v.clone());
        }
        let resp = self
            .send_ruma(get_capabilities::v3::Request::new(), None)
            .await?;
        let version = resp.capabilities.room_versions.default.to_string();
        if let Ok(mut guard) = self.default_room_version.lock() {
            *guard = Some(version.clone());
        }
        Ok(version)
    }
}

impl Intent {
    /// Creates a room as this user; see [`CreateRoom`] for what goes in.
    pub async fn create_room(&self, req: &CreateRoom) -> Result<OwnedRoomId, MatrixError> {
        let privileged = match self.client.default_room_version().await {
            Ok(v) => creators_are_privileged(&v),
            Err(e) => {
                tracing::warn!(error = %e, "no room capabilities; assuming room version 12 rules");
                true
            }
        };
        let body = create_room_body(req, &self.user, privileged);
        let resp = self
            .request_json(
                Method::POST,
                &["_matrix", "client", "v3", "createRoom"],
                Some(&body),
            )
            .await?;
        let room_id = resp
            .get("room_id")
            .and_then(Value::as_str)
            .ok_or_else(|| MatrixError::Format("createRoom answered without room_id".into()))?;
        OwnedRoomId::try_from(room_id)
            .map_err(|e| MatrixError::Format(format!("createRoom room_id: {e}")))
    }

    /// Invites `user`; inviting someone already invited or joined is not an error.
    pub async fn invite(&self, room: &OwnedRoomId, user: &UserId) -> Result<(), MatrixError> {
        let req =
            invite_user::v3::Request::new(room.clone(), InviteUserId::new(user.to_owned()).into());
        match self.client.send_ruma(req, self.assert_user()).await {
            Ok(_) => Ok(()),
            Err(e) if is_already_member(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Points `alias` at `room` (for a second spelling of the same remote chat). An alias that
    /// already exists is left alone.
    pub async fn create_alias(
        &self,
        alias: &ruma::RoomAliasId,
        room: &OwnedRoomId,
    ) -> Result<(), MatrixError> {
        let body = serde_json::json!({ "room_id": room });
        match self
            .request_json(
                http::Method::PUT,
                &[
                    "_matrix",
                    "client",
                    "v3",
                    "directory",
                    "room",
                    alias.as_str(),
                ],
                Some(&body),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.errcode() == Some("M_UNKNOWN") || e.errcode() == Some("M_ROOM_IN_USE") => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Joins a room by ID (idempotent).
    pub async fn join(&self, room: &OwnedRoomId) -> Result<(), MatrixError> {
        let req = join_room_by_id::v3::Request::new(room.clone());
        self.client.send_ruma(req, self.assert_user()).await?;
        Ok(())
    }

    /// Leaves a room.
    pub async fn leave(&self, room: &OwnedRoomId, reason: Option<&str>) -> Result<(), MatrixError> {
        let mut req = leave_room::v3::Request::new(room.clone());
        req.reason = reason.map(str::to_owned);
        self.client.send_ruma(req, self.assert_user()).await?;
        Ok(())
    }

    /// Kicks `user` out of a room.
    pub async fn kick(
        &self,
        room: &OwnedRoomId,
        user: &UserId,
        reason: Option<&str>,
    ) -> Result<(), MatrixError> {
        let mut req = kick_user::v3::Request::new(room.clone(), user.to_owned());
        req.reason = reason.map(str::to_owned);
        self.client.send_ruma(req, self.assert_user()).await?;
        Ok(())
    }

    /// Bans `user` from a room.
    pub async fn ban(
        &self,
        room: &OwnedRoomId,
        user: &UserId,
        reason: Option<&str>,
    ) -> Result<(), MatrixError> {
        let mut req = ban_user::v3::Request::new(room.clone(), user.to_owned());
        req.reason = reason.map(str::to_owned);
        self.client.send_ruma(req, self.assert_user()).await?;
        Ok(())
    }

    /// Members currently joined.
    pub async fn joined_members(
        &self,
        room: &OwnedRoomId,
    ) -> Result<Vec<OwnedUserId>, MatrixError> {
        let req = joined_members::v3::Request::new(room.clone());
        let resp = self.client.send_ruma(req, self.assert_user()).await?;
        Ok(resp.joined.into_keys().collect())
    }

    /// The power level of `user` in `room` (from `m.room.power_levels`, with spec defaults;
    /// room creators in v12+ rooms get [`CREATOR_POWER_LEVEL`]).
    pub async fn power_level(&self, room: &OwnedRoomId, user: &UserId) -> Result<i64, MatrixError> {
        let pl = self.get_state(room, "m.room.power_levels", "").await?;
        let listed = pl
            .as_ref()
            .and_then(|p| p.get("users"))
            .and_then(|u| u.get(user.as_str()))
            .is_some();
        if !listed && self.is_privileged_creator(room, user).await? {
            return Ok(CREATOR_POWER_LEVEL);
        }
        Ok(pl.map_or(0, |p| level_in(&p, user)))
    }

    /// Sets one user's power level, keeping the rest of the power levels event. Creators of v12+
    /// rooms cannot be given a level (they already outrank everyone): that is a no-op.
    pub async fn set_power_level(
        &self,
        room: &OwnedRoomId,
        user: &UserId,
        level: i64,
    ) -> Result<(), MatrixError> {
        if self.is_privileged_creator(room, user).await? {
            tracing::debug!(%room, %user, "not setting the power level of a room creator");
            return Ok(());
        }
        let mut pl = self
            .get_state(room, "m.room.power_levels", "")
            .await?
            .unwrap_or_else(|| json!({}));
        let Some(map) = pl.as_object_mut() else {
            return Err(MatrixError::Format(
                "power levels content is not an object".into(),
            ));
        };
        let default = map
            .get("users_default")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let users = map
            .entry("users")
            .or_insert_with(|| Value::Object(Map::new()));
        if !users.is_object() {
            *users = Value::Object(Map::new());
        }
        let Some(users) = users.as_object_mut() else {
            return Err(MatrixError::Format(
                "power levels users is not an object".into(),
            ));
        };
        let current = users.get(user.as_str()).and_then(Value::as_i64);
        if current == Some(level) || (current.is_none() && level == default) {
            return Ok(());
        }
        if level == default {
            users.remove(user.as_str());
        } else {
            users.insert(user.as_str().into(), level.into());
        }
        self.send_state(room, "m.room.power_levels", "", &pl)
            .await?;
        Ok(())
    }

    /// Whether `user` created `room` (or is an additional creator) in a v12+ room.
    async fn is_privileged_creator(
        &self,
        room: &OwnedRoomId,
        user: &UserId,
    ) -> Result<bool, MatrixError> {
        let url = self.client.url(&[
            "_matrix",
            "client",
            "v3",
            "rooms",
            room.as_str(),
            "state",
            "m.room.create",
            "",
        ])?;
        let mut url = url;
        url.query_pairs_mut().append_pair("format", "event");
        let out = Outgoing::new(Method::GET, url).asserting(self.assert_user());
        match self.client.send(out).await {
            Ok(resp) => Ok(is_privileged_creator(&resp.json()?, user)),
            Err(e) if e.errcode() == Some("M_NOT_FOUND") => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// A 403 for inviting someone who is already in (or invited to) the room.
fn is_already_member(e: &MatrixError) -> bool {
    matches!(e, MatrixError::Api { status: 403, errcode, error }
        if errcode == "M_FORBIDDEN" && (error.contains("already in the room") || error.contains("is already")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruma::user_id;

    #[test]
    fn privileged_versions() {
        assert!(!creators_are_privileged("1"));
        assert!(!creators_are_privileged("11"));
        assert!(creators_are_privileged("12"));
        assert!(creators_are_privileged("org.matrix.hydra.11"));
    }

    #[test]
    fn create_body_v12_leaves_creators_out() {
        let bot = user_id!("@bot:hs");
        let alice = user_id!("@alice:hs");
        let req = CreateRoom {
            name: Some("Room".into()),
            topic: Some("Topic".into()),
            avatar: Some("mxc://hs/abc".into()),
            alias_localpart: Some("_irc_#x".into()),
            invite: vec![alice.to_owned()],
            is_direct: true,
            public: false,
            power_users: vec![(bot.to_owned(), 100), (alice.to_owned(), 100)],
            initial_state: vec![("m.bridge".into(), "k".into(), json!({"a": 1}))],
            space: false,
        };
        let body = create_room_body(&req, bot, true);
        assert_eq!(body["preset"], "trusted_private_chat");
        assert_eq!(body["is_direct"], true);
        assert_eq!(body["name"], "Room");
        assert_eq!(body["topic"], "Topic");
        assert_eq!(body["room_alias_name"], "_irc_#x");
        assert_eq!(body["invite"], json!(["@alice:hs"]));
        assert_eq!(body["initial_state"][0]["type"], "m.room.avatar");
        assert_eq!(body["initial_state"][0]["content"]["url"], "mxc://hs/abc");
        assert_eq!(body["initial_state"][1]["type"], "m.bridge");
        assert_eq!(body["initial_state"][1]["state_key"], "k");
        assert!(
            body.get("power_level_content_override").unwrap()["users"]
                .as_object()
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn create_body_legacy_lists_creator_at_100() {
        let bot = user_id!("@bot:hs");
        let req = CreateRoom {
            public: true,
            power_users: vec![(user_id!("@op:hs").to_owned(), 50)],
            ..CreateRoom::default()
        };
        let body = create_room_body(&req, bot, false);
        assert_eq!(body["preset"], "public_chat");
        assert!(body.get("is_direct").is_none());
        assert_eq!(
            body["power_level_content_override"]["users"],
            json!({"@bot:hs": 100, "@op:hs": 50})
        );
        let private = create_room_body(&CreateRoom::default(), bot, true);
        assert_eq!(private["preset"], "private_chat");
        assert!(private.get("power_level_content_override").is_none());
    }

    #[test]
    fn levels_with_defaults() {
        let u = user_id!("@u:hs");
        assert_eq!(level_in(&json!({}), u), 0);
        assert_eq!(level_in(&json!({"users_default": 5}), u), 5);
        assert_eq!(
            level_in(&json!({"users": {"@u:hs": 50}, "users_default": 5}), u),
            50
        );
        assert_eq!(level_in(&json!({"users": {"@u:hs": "75"}}), u), 75);
    }

    #[test]
    fn creator_detection() {
        let u = user_id!("@u:hs");
        let v12 = json!({"sender": "@u:hs", "content": {"room_version": "12"}});
        let v11 = json!({"sender": "@u:hs", "content": {"room_version": "11"}});
        let extra = json!({"sender": "@x:hs",
            "content": {"room_version": "12", "additional_creators": ["@u:hs"]}});
        assert!(is_privileged_creator(&v12, u));
        assert!(!is_privileged_creator(&v11, u));
        assert!(is_privileged_creator(&extra, u));
        assert!(!is_privileged_creator(&json!({}), u));
    }
}
