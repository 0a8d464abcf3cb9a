//! What one user does: registration, profile, and sending, reading and redacting events.

use ruma::{
    EventId, MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedMxcUri, OwnedRoomId, TransactionId,
    api::client::{
        account::register::{self, LoginType, RegistrationKind},
        message::send_message_event,
        profile::set_profile_field,
        receipt::create_receipt::{self, v3::ReceiptType},
        redact::redact_event,
        state::{get_state_event_for_key, send_state_event},
        typing::create_typing_event::{self, v3::Typing},
    },
    events::{MessageLikeEventType, StateEventType},
    profile::ProfileFieldValue,
    serde::Raw,
};
use serde_json::{Value, json};

use super::{Intent, MatrixError, convert, transport::Outgoing};
use crate::events::MessageContent;

/// How long a typing notification lasts unless refreshed.
const TYPING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

fn raw<T>(content: &Value) -> Result<Raw<T>, MatrixError> {
    let json = serde_json::value::to_raw_value(content)
        .map_err(|e| MatrixError::Format(format!("event content: {e}")))?;
    Ok(Raw::from_json(json))
}

impl Intent {
    /// Registers the user (`m.login.application_service`); `M_USER_IN_USE` counts as success.
    /// Successes are remembered per client, so calling this before every action is cheap.
    pub async fn ensure_registered(&self) -> Result<(), MatrixError> {
        if self.is_known_registered() {
            return Ok(());
        }
        let mut req = register::v3::Request::new();
        req.username = Some(self.user.localpart().to_owned());
        req.login_type = Some(LoginType::ApplicationService);
        req.kind = RegistrationKind::User;
        req.inhibit_login = true;
        match self.client.send_ruma(req, None).await {
            Ok(_) => {}
            Err(e) if e.errcode() == Some("M_USER_IN_USE") => {}
            // The bot (sender_localpart) is created by the homeserver itself and some servers
            // refuse to register it again with M_EXCLUSIVE.
            Err(e) if e.errcode() == Some("M_EXCLUSIVE") && self.user == self.client.bot => {}
            Err(e) => return Err(e),
        }
        if let Ok(mut known) = self.client.registered.lock() {
            known.insert(self.user.clone());
        }
        Ok(())
    }

    fn is_known_registered(&self) -> bool {
        self.client
            .registered
            .lock()
            .map(|known| known.contains(&self.user))
            .unwrap_or(false)
    }

    /// Sets the user's global display name.
    pub async fn set_displayname(&self, name: &str) -> Result<(), MatrixError> {
        self.set_profile(ProfileFieldValue::DisplayName(name.to_owned()))
            .await
    }

    /// Sets the user's global avatar; `None` clears it (an empty `avatar_url`, which every
    /// homeserver accepts, unlike the v1.16 `DELETE`).
    pub async fn set_avatar(&self, url: Option<&OwnedMxcUri>) -> Result<(), MatrixError> {
        let mxc = url.cloned().unwrap_or_else(|| OwnedMxcUri::from(""));
        self.set_profile(ProfileFieldValue::AvatarUrl(mxc)).await
    }

    async fn set_profile(&self, value: ProfileFieldValue) -> Result<(), MatrixError> {
        let req = set_profile_field::v3::Request::new(self.user.clone(), value);
        self.client.send_ruma(req, self.assert_user()).await?;
        Ok(())
    }

    /// Sends a message; `reply_to` and `replaces` add the relations (edits get `m.new_content`).
    pub async fn send_message(
        &self,
        room: &OwnedRoomId,
        content: &MessageContent,
        reply_to: Option<&OwnedEventId>,
        replaces: Option<&OwnedEventId>,
    ) -> Result<OwnedEventId, MatrixError> {
        self.send_message_txn(
            room,
            content,
            reply_to,
            replaces,
            &TransactionId::new(),
            None,
        )
        .await
    }

    /// As [`Intent::send_message`], under a transaction ID the caller derives from what it is
    /// sending (a remote message's ID): the homeserver answers a repeat of it (the replay of
    /// a message posted just before a crash) with the first event instead of posting twice.
    /// `ts` is the time the remote network says the message was sent: appservices may set an
    /// event's timestamp (the `ts` query parameter, "timestamp massaging").
    pub async fn send_message_txn(
        &self,
        room: &OwnedRoomId,
        content: &MessageContent,
        reply_to: Option<&OwnedEventId>,
        replaces: Option<&OwnedEventId>,
        txn: &TransactionId,
        ts: Option<MilliSecondsSinceUnixEpoch>,
    ) -> Result<OwnedEventId, MatrixError> {
        // A new poll is its own event type; anything else (an edit of a poll too) a message.
        let (event_type, body) = match &content.poll {
            Some(poll) if replaces.is_none() => (
                super::polls::POLL_START,
                super::polls::to_poll_start(poll, &content.body),
            ),
            _ => ("m.room.message", convert::to_matrix_content(content)),
        };
        let body = convert::with_relations(body, reply_to.map(|e| &**e), replaces.map(|e| &**e));
        self.send_event_at(room, event_type, &body, txn, ts).await
    }

    /// Sends any room event with a JSON body.
    pub async fn send_event(
        &self,
        room: &OwnedRoomId,
        event_type: &str,
        content: &serde_json::Value,
    ) -> Result<OwnedEventId, MatrixError> {
        self.send_event_txn(room, event_type, content, &TransactionId::new())
            .await
    }

    /// Sends any room event with a JSON body under the transaction ID `txn`.
    pub async fn send_event_txn(
        &self,
        room: &OwnedRoomId,
        event_type: &str,
        content: &serde_json::Value,
        txn: &TransactionId,
    ) -> Result<OwnedEventId, MatrixError> {
        self.send_event_at(room, event_type, content, txn, None)
            .await
    }

    /// [`Intent::send_event_txn`] with the event's timestamp set to `ts`, when given.
    async fn send_event_at(
        &self,
        room: &OwnedRoomId,
        event_type: &str,
        content: &serde_json::Value,
        txn: &TransactionId,
        ts: Option<MilliSecondsSinceUnixEpoch>,
    ) -> Result<OwnedEventId, MatrixError> {
        let marked;
        let content = match (self.source, content) {
            (Some(source), Value::Object(fields)) => {
                let mut fields = fields.clone();
                fields.insert(super::DOUBLE_PUPPET_SOURCE.into(), source.into());
                marked = Value::Object(fields);
                &marked
            }
            _ => content,
        };
        // In an encrypted room the event goes out as `m.room.encrypted` (see `encryption`).
        let encrypted = match self.client.encryption.get() {
            Some(layer) => layer.encrypt(room, event_type, content).await?,
            None => None,
        };
        let (event_type, content) = match &encrypted {
            Some(e) => ("m.room.encrypted", e),
            None => (event_type, content),
        };
        let request = || -> Result<_, MatrixError> {
            let mut req = send_message_event::v3::Request::new_raw(
                room.clone(),
                txn.to_owned(),
                MessageLikeEventType::from(event_type),
                raw(content)?,
            );
            req.timestamp = ts;
            Ok(req)
        };
        // As the user's bridge device, so the homeserver keeps `txn` across its own restarts.
        let device = self.client.device_for(&self.user).await;
        // With a device the user is always named, the bot too: Synapse 1.163 fails (500) on a
        // device without `user_id`.
        let user = match device {
            Some(_) => Some(&*self.user),
            None => self.assert_user(),
        };
        match self.client.send_ruma_device(request()?, user, device).await {
            Ok(resp) => Ok(resp.event_id),
            // The device was deleted behind our back: make it again next time, send without.
            Err(e) if device.is_some() && e.errcode() == Some("M_UNKNOWN_DEVICE") => {
                self.client.devices().forget(&self.user);
                Ok(self
                    .client
                    .send_ruma(request()?, self.assert_user())
                    .await?
                    .event_id)
            }
            Err(e) => Err(e),
        }
    }

    /// Sets a state event.
    pub async fn send_state(
        &self,
        room: &OwnedRoomId,
        event_type: &str,
        state_key: &str,
        content: &serde_json::Value,
    ) -> Result<OwnedEventId, MatrixError> {
        let req = send_state_event::v3::Request::new_raw(
            room.clone(),
            StateEventType::from(event_type),
            state_key.to_owned(),
            raw(content)?,
        );
        Ok(self
            .client
            .send_ruma(req, self.assert_user())
            .await?
            .event_id)
    }

    /// A state event's content, or `None` if it is not set.
    pub async fn get_state(
        &self,
        room: &OwnedRoomId,
        event_type: &str,
        state_key: &str,
    ) -> Result<Option<serde_json::Value>, MatrixError> {
        let req = get_state_event_for_key::v3::Request::new(
            room.clone(),
            StateEventType::from(event_type),
            state_key.to_owned(),
        );
        match self.client.send_ruma(req, self.assert_user()).await {
            Ok(resp) => serde_json::from_str(resp.event_or_content.get())
                .map(Some)
                .map_err(|e| MatrixError::Format(format!("state content: {e}"))),
            Err(MatrixError::Api {
                status: 404,
                errcode,
                ..
            }) if errcode == "M_NOT_FOUND" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Redacts an event.
    pub async fn redact(
        &self,
        room: &OwnedRoomId,
        event: &OwnedEventId,
        reason: Option<&str>,
    ) -> Result<OwnedEventId, MatrixError> {
        let mut req =
            redact_event::v3::Request::new(room.clone(), event.clone(), TransactionId::new());
        req.reason = reason.map(str::to_owned);
        Ok(self
            .client
            .send_ruma(req, self.assert_user())
            .await?
            .event_id)
    }

    /// Reacts to an event with `key` (an `m.annotation`).
    pub async fn react(
        &self,
        room: &OwnedRoomId,
        event: &OwnedEventId,
        key: &str,
    ) -> Result<OwnedEventId, MatrixError> {
        self.react_txn(room, event, key, &TransactionId::new())
            .await
    }

    /// As [`Intent::react`], under a transaction ID derived from the remote reaction (see
    /// [`Intent::send_message_txn`]).
    pub async fn react_txn(
        &self,
        room: &OwnedRoomId,
        event: &OwnedEventId,
        key: &str,
        txn: &TransactionId,
    ) -> Result<OwnedEventId, MatrixError> {
        let content = reaction_content(event, key);
        self.send_event_txn(room, "m.reaction", &content, txn).await
    }

    /// Starts (for 30 s) or stops typing.
    pub async fn typing(&self, room: &OwnedRoomId, typing: bool) -> Result<(), MatrixError> {
        let state = if typing {
            Typing::Yes(create_typing_event::v3::TypingInfo::new(TYPING_TIMEOUT))
        } else {
            Typing::No
        };
        let req = create_typing_event::v3::Request::new(self.user.clone(), room.clone(), state);
        self.client.send_ruma(req, self.assert_user()).await?;
        Ok(())
    }

    /// Marks the room read up to `event` (public `m.read` receipt).
    pub async fn read_receipt(
        &self,
        room: &OwnedRoomId,
        event: &OwnedEventId,
    ) -> Result<(), MatrixError> {
        let req = create_receipt::v3::Request::new(room.clone(), ReceiptType::Read, event.clone());
        self.client.send_ruma(req, self.assert_user()).await?;
        Ok(())
    }

    /// A plain JSON request as this user, through the same send path (escape hatch for
    /// endpoints without a helper).
    pub async fn request_json(
        &self,
        method: http::Method,
        path_segments: &[&str],
        body: Option<&Value>,
    ) -> Result<Value, MatrixError> {
        let url = self.client.url(path_segments)?;
        let out = match body {
            Some(b) => Outgoing::json(method, url, b),
            None => Outgoing::new(method, url),
        };
        let resp = self.client.send(out.asserting(self.assert_user())).await?;
        if resp.body.is_empty() {
            return Ok(json!({}));
        }
        resp.json()
    }
}

/// `m.reaction` content.
pub(crate) fn reaction_content(event: &EventId, key: &str) -> Value {
    json!({
        "m.relates_to": {
            "rel_type": "m.annotation",
            "event_id": event.as_str(),
            "key": key,
        }
    })
}
