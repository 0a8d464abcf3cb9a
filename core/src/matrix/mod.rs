//! The client side: requests to the homeserver as the bot or as any ghost, with one retry
//! policy for all of them.
//!
//! CONTRACT (skeleton written by the integrator; the matrix owner fills in bodies, may add
//! methods and private modules such as `retry.rs`, `rooms.rs`, `media.rs`, `convert.rs`, but keeps
//! these signatures so other modules compile):

use bytes::Bytes;
use ruma::{OwnedEventId, OwnedMxcUri, OwnedRoomAliasId, OwnedRoomId, OwnedUserId, UserId};

use crate::events::MessageContent;

pub mod convert;
pub mod retry;

/// Client failures, after retries.
#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    /// The homeserver answered with a Matrix error.
    #[error("{status} {errcode}: {error}")]
    Api {
        status: u16,
        errcode: String,
        error: String,
    },
    /// The homeserver could not be reached (after retries).
    #[error("homeserver unreachable: {0}")]
    Transport(String),
    /// A request or response could not be (de)serialized.
    #[error("bad request or response: {0}")]
    Format(String),
}

impl MatrixError {
    /// The Matrix `errcode`, if the homeserver sent one.
    pub fn errcode(&self) -> Option<&str> {
        match self {
            MatrixError::Api { errcode, .. } => Some(errcode),
            _ => None,
        }
    }
}

/// What to put in a new room.
#[derive(Clone, Debug, Default)]
pub struct CreateRoom {
    pub name: Option<String>,
    pub topic: Option<String>,
    pub avatar: Option<OwnedMxcUri>,
    /// Localpart of a canonical alias to create with the room.
    pub alias_localpart: Option<String>,
    pub invite: Vec<OwnedUserId>,
    /// A direct chat (`is_direct`, `trusted_private_chat` preset).
    pub is_direct: bool,
    /// Public rooms get the `public_chat` preset and are joinable by anyone.
    pub public: bool,
    /// Users and power levels to set in `power_level_content_override`.
    pub power_users: Vec<(OwnedUserId, i64)>,
    /// Extra initial state events: (type, state_key, content).
    pub initial_state: Vec<(String, String, serde_json::Value)>,
}

/// A handle on the homeserver for the appservice; cheap to clone.
#[derive(Clone)]
pub struct MatrixClient {
    // owner: reqwest client, base URL, as_token, bot user ID, retry policy
}

impl MatrixClient {
    /// Builds a client for `homeserver` using `as_token`; `bot` is the bridge bot's user ID.
    pub fn new(
        homeserver: &url::Url,
        as_token: &str,
        bot: OwnedUserId,
        authenticated_media: bool,
    ) -> Result<Self, MatrixError> {
        todo!("{homeserver}{as_token}{bot}{authenticated_media}")
    }

    /// The bot's user ID.
    pub fn bot(&self) -> &UserId {
        todo!()
    }

    /// Requests made as `user` (the bot, or a ghost via `user_id` assertion).
    pub fn as_user(&self, user: &UserId) -> Intent {
        todo!("{user}")
    }

    /// Requests made as the bot.
    pub fn bot_intent(&self) -> Intent {
        self.as_user(&self.bot().to_owned())
    }

    /// Uploads media as the bot.
    pub async fn upload(
        &self,
        data: Bytes,
        content_type: &str,
        filename: Option<&str>,
    ) -> Result<OwnedMxcUri, MatrixError> {
        todo!("{}{content_type}{filename:?}", data.len())
    }

    /// Downloads media (authenticated endpoint first, legacy fallback).
    pub async fn download(
        &self,
        mxc: &OwnedMxcUri,
    ) -> Result<(Bytes, Option<String>), MatrixError> {
        todo!("{mxc}")
    }

    /// A public HTTP URL for an `mxc://` URI (what IRC/XMPP users get as a link).
    pub fn public_media_url(&self, mxc: &OwnedMxcUri) -> String {
        todo!("{mxc}")
    }

    /// Resolves an alias to a room ID.
    pub async fn resolve_alias(
        &self,
        alias: &OwnedRoomAliasId,
    ) -> Result<Option<OwnedRoomId>, MatrixError> {
        todo!("{alias}")
    }
}

/// Requests as one user. Cheap to clone.
#[derive(Clone)]
pub struct Intent {
    // owner
}

impl Intent {
    /// The user this intent acts as.
    pub fn user_id(&self) -> &UserId {
        todo!()
    }
    /// Registers the user (`m.login.application_service`); `M_USER_IN_USE` counts as success.
    pub async fn ensure_registered(&self) -> Result<(), MatrixError> {
        todo!()
    }
    pub async fn set_displayname(&self, name: &str) -> Result<(), MatrixError> {
        todo!("{name}")
    }
    pub async fn set_avatar(&self, url: Option<&OwnedMxcUri>) -> Result<(), MatrixError> {
        todo!("{url:?}")
    }
    pub async fn create_room(&self, req: &CreateRoom) -> Result<OwnedRoomId, MatrixError> {
        todo!("{req:?}")
    }
    pub async fn invite(&self, room: &OwnedRoomId, user: &UserId) -> Result<(), MatrixError> {
        todo!("{room}{user}")
    }
    /// Joins a room by ID (idempotent).
    pub async fn join(&self, room: &OwnedRoomId) -> Result<(), MatrixError> {
        todo!("{room}")
    }
    pub async fn leave(&self, room: &OwnedRoomId, reason: Option<&str>) -> Result<(), MatrixError> {
        todo!("{room}{reason:?}")
    }
    pub async fn kick(
        &self,
        room: &OwnedRoomId,
        user: &UserId,
        reason: Option<&str>,
    ) -> Result<(), MatrixError> {
        todo!("{room}{user}{reason:?}")
    }
    pub async fn ban(
        &self,
        room: &OwnedRoomId,
        user: &UserId,
        reason: Option<&str>,
    ) -> Result<(), MatrixError> {
        todo!("{room}{user}{reason:?}")
    }
    /// Sends a message; `reply_to` and `replaces` add the relations (edits get `m.new_content`).
    pub async fn send_message(
        &self,
        room: &OwnedRoomId,
        content: &MessageContent,
        reply_to: Option<&OwnedEventId>,
        replaces: Option<&OwnedEventId>,
    ) -> Result<OwnedEventId, MatrixError> {
        todo!("{room}{content:?}{reply_to:?}{replaces:?}")
    }
    /// Sends any room event with a JSON body.
    pub async fn send_event(
        &self,
        room: &OwnedRoomId,
        event_type: &str,
        content: &serde_json::Value,
    ) -> Result<OwnedEventId, MatrixError> {
        todo!("{room}{event_type}{content}")
    }
    pub async fn send_state(
        &self,
        room: &OwnedRoomId,
        event_type: &str,
        state_key: &str,
        content: &serde_json::Value,
    ) -> Result<OwnedEventId, MatrixError> {
        todo!("{room}{event_type}{state_key}{content}")
    }
    /// A state event's content, or `None` if it is not set.
    pub async fn get_state(
        &self,
        room: &OwnedRoomId,
        event_type: &str,
        state_key: &str,
    ) -> Result<Option<serde_json::Value>, MatrixError> {
        todo!("{room}{event_type}{state_key}")
    }
    pub async fn redact(
        &self,
        room: &OwnedRoomId,
        event: &OwnedEventId,
        reason: Option<&str>,
    ) -> Result<OwnedEventId, MatrixError> {
        todo!("{room}{event}{reason:?}")
    }
    pub async fn react(
        &self,
        room: &OwnedRoomId,
        event: &OwnedEventId,
        key: &str,
    ) -> Result<OwnedEventId, MatrixError> {
        todo!("{room}{event}{key}")
    }
    pub async fn typing(&self, room: &OwnedRoomId, typing: bool) -> Result<(), MatrixError> {
        todo!("{room}{typing}")
    }
    pub async fn read_receipt(
        &self,
        room: &OwnedRoomId,
        event: &OwnedEventId,
    ) -> Result<(), MatrixError> {
        todo!("{room}{event}")
    }
    /// Members currently joined.
    pub async fn joined_members(
        &self,
        room: &OwnedRoomId,
    ) -> Result<Vec<OwnedUserId>, MatrixError> {
        todo!("{room}")
    }
    /// The power level of `user` in `room` (from `m.room.power_levels`, with spec defaults).
    pub async fn power_level(&self, room: &OwnedRoomId, user: &UserId) -> Result<i64, MatrixError> {
        todo!("{room}{user}")
    }
    /// Sets one user's power level, keeping the rest of the power levels event.
    pub async fn set_power_level(
        &self,
        room: &OwnedRoomId,
        user: &UserId,
        level: i64,
    ) -> Result<(), MatrixError> {
        todo!("{room}{user}{level}")
    }
}
