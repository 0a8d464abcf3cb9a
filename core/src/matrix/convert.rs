//! Conversions between the core's [`MessageContent`] and Matrix `m.room.message` content.
//!
//! Outgoing: [`to_matrix_content`] builds the content, [`with_relations`] adds a reply or turns
//! it into an edit. Incoming: [`from_matrix_content`] reads any `m.room.message` content (edits
//! included) into a [`ParsedMessage`], stripping legacy reply fallbacks so networks get only what
//! the user typed. Both directions are total: bad input is an error, never a panic.

use ruma::{EventId, OwnedEventId, OwnedMxcUri, OwnedUserId};
use serde_json::{Map, Value, json};

use crate::events::{Media, MessageContent, MessageKind};

/// The `format` value for HTML bodies.
pub const HTML_FORMAT: &str = "org.matrix.custom.html";

/// Why Matrix content could not be read as a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// The content (or `m.new_content`) is not a JSON object.
    #[error("message content is not a JSON object")]
    NotAnObject,
    /// A required field is absent.
    #[error("message content has no `{0}`")]
    Missing(&'static str),
    /// A field has the wrong type or an unusable value.
    #[error("message content field `{field}` is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// An incoming message with its relations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedMessage {
    /// What the message says (for an edit: the new content, from `m.new_content`).
    pub content: MessageContent,
    /// The event this message replies to (`m.in_reply_to`, not thread fallbacks).
    pub reply_to: Option<OwnedEventId>,
    /// The event this message edits (`rel_type: m.replace`).
    pub replaces: Option<OwnedEventId>,
}

/// MSC3245's mark of a voice message on `m.audio`.
const VOICE: &str = "org.matrix.msc3245.voice";
/// MSC1767's audio block, which clients expect beside [`VOICE`].
const AUDIO_1767: &str = "org.matrix.msc1767.audio";

/// The `m.room.message` content for `content`, without relations.
///
/// Media kinds need `media.mxc` (upload first); without it the message degrades to `m.text`
/// carrying the body and the public URL, so nothing is silently lost.
pub fn to_matrix_content(content: &MessageContent) -> Value {
    let mut out = Map::new();
    let media = content
        .media
        .as_ref()
        .filter(|_| content.kind.has_media())
        .and_then(|m| m.mxc.as_ref().map(|mxc| (m, mxc)));
    let msgtype = match content.kind {
        MessageKind::Text => "m.text",
        MessageKind::Notice => "m.notice",
        MessageKind::Emote => "m.emote",
        MessageKind::Location if is_geo_uri(&content.body) => "m.location",
        // A poll as an `m.room.message` (an edit of one): its text.
        MessageKind::Location | MessageKind::Poll => "m.text",
        _ if media.is_none() => "m.text",
        MessageKind::Image | MessageKind::Sticker => "m.image",
        MessageKind::Video => "m.video",
        MessageKind::Audio | MessageKind::Voice => "m.audio",
        MessageKind::File => "m.file",
    };
    out.insert("msgtype".into(), msgtype.into());
    let mut body = content.body.clone();
    if content.kind.has_media() && media.is_none() {
        // Degraded media: keep the link in the text.
        if let Some(url) = content.media.as_ref().and_then(|m| m.url.as_deref())
            && !body.contains(url)
        {
            body = if body.is_empty() {
                url.to_owned()
            } else {
                format!("{body}\n{url}")
            };
        }
    }
    match media {
        Some((m, mxc)) => {
            // Spec v1.10: `filename` names the file; `body` is a caption when it differs.
            let body = if body.is_empty() {
                m.filename.clone()
            } else {
                body
            };
            out.insert("body".into(), body.into());
            out.insert("filename".into(), m.filename.clone().into());
            out.insert("url".into(), mxc.to_string().into());
            let mut info = Map::new();
            if let Some(mime) = &m.mimetype {
                info.insert("mimetype".into(), mime.clone().into());
            }
            if let Some(size) = m.size {
                info.insert("size".into(), size.into());
            }
            out.insert("info".into(), info.into());
        }
        None => {
            out.insert("body".into(), body.into());
        }
    }
    if msgtype == "m.location" {
        out.insert("geo_uri".into(), content.body.trim().into());
    }
    if content.kind == MessageKind::Voice && media.is_some() {
        out.insert(VOICE.into(), json!({}));
        out.insert(AUDIO_1767.into(), json!({}));
    }
    if let Some(html) = &content.html {
        out.insert("format".into(), HTML_FORMAT.into());
        out.insert("formatted_body".into(), html.clone().into());
    }
    let ids: Vec<Value> = content
        .mentions
        .iter()
        .map(|u| Value::from(u.as_str()))
        .collect();
    out.insert("m.mentions".into(), json!({ "user_ids": ids }));
    Value::Object(out)
}

/// Adds relations to content from [`to_matrix_content`]: a reply (`m.in_reply_to`), or an edit
/// (`m.replace`, with the content moved to `m.new_content` and a `* ` fallback). An edit cannot
/// change what a message replies to, so `reply_to` is ignored when `replaces` is given.
pub fn with_relations(
    content: Value,
    reply_to: Option<&EventId>,
    replaces: Option<&EventId>,
) -> Value {
    let Value::Object(mut map) = content else {
        return content;
    };
    if let Some(target) = replaces {
        let new_content = Value::Object(map.clone());
        for key in ["body", "formatted_body"] {
            if let Some(Value::String(s)) = map.get_mut(key) {
                *s = format!("* {s}");
            }
        }
        // Mentions live in `m.new_content`; the outer ones would ping again (spec: only users
        // newly mentioned belong there, which we cannot know here).
        map.insert("m.mentions".into(), json!({}));
        map.insert("m.new_content".into(), new_content);
        map.insert(
            "m.relates_to".into(),
            json!({ "rel_type": "m.replace", "event_id": target.as_str() }),
        );
    } else if let Some(target) = reply_to {
        map.insert(
            "m.relates_to".into(),
            json!({ "m.in_reply_to": { "event_id": target.as_str() } }),
        );
    }
    Value::Object(map)
}

/// Reads `m.room.message` content. Unknown msgtypes fall back to text (the spec asks clients to
/// show `body`); reply fallbacks are stripped; edits yield the new content.
pub fn from_matrix_content(value: &Value) -> Result<ParsedMessage, ConvertError> {
    let map = value.as_object().ok_or(ConvertError::NotAnObject)?;
    let relates = map.get("m.relates_to").and_then(Value::as_object);
    let replaces = match relates {
        Some(r) if r.get("rel_type").and_then(Value::as_str) == Some("m.replace") => {
            Some(event_id_field(r, "m.relates_to.event_id")?)
        }
        _ => None,
    };
    let reply_to = match relates {
        Some(r) if replaces.is_none() => {
            let thread_fallback = r.get("rel_type").and_then(Value::as_str) == Some("m.thread")
                && r.get("is_falling_back").and_then(Value::as_bool) == Some(true);
            match r.get("m.in_reply_to").and_then(Value::as_object) {
                Some(irt) if !thread_fallback => {
                    Some(event_id_field(irt, "m.relates_to.m.in_reply_to.event_id")?)
                }
                _ => None,
            }
        }
        _ => None,
    };
    let content = match (&replaces, map.get("m.new_content")) {
        (Some(_), Some(new)) => {
            let new = new.as_object().ok_or(ConvertError::Invalid {
                field: "m.new_content",
                reason: "not an object".into(),
            })?;
            parse_content(new, false)?
        }
        (Some(_), None) => {
            // An edit without `m.new_content`: use the fallback minus its `* `.
            let mut c = parse_content(map, false)?;
            if let Some(rest) = c.body.strip_prefix("* ") {
                c.body = rest.to_owned();
            }
            if let Some(rest) = c.html.as_deref().and_then(|h| h.strip_prefix("* ")) {
                c.html = Some(rest.to_owned());
            }
            c
        }
        (None, _) => parse_content(map, reply_to.is_some())?,
    };
    Ok(ParsedMessage {
        content,
        reply_to,
        replaces,
    })
}

/// One message body (top level or `m.new_content`).
fn parse_content(map: &Map<String, Value>, is_reply: bool) -> Result<MessageContent, ConvertError> {
    let msgtype = string_field(map, "msgtype")?.ok_or(ConvertError::Missing("msgtype"))?;
    let mut body = string_field(map, "body")?
        .ok_or(ConvertError::Missing("body"))?
        .to_owned();
    let mut html = match (string_field(map, "format")?, map.get("formatted_body")) {
        (Some(HTML_FORMAT), Some(Value::String(h))) => Some(h.clone()),
        _ => None,
    };
    if is_reply {
        body = strip_plain_reply_fallback(&body);
        html = html.map(|h| strip_html_reply_fallback(&h));
    }
    let kind = match msgtype {
        "m.notice" => MessageKind::Notice,
        "m.emote" => MessageKind::Emote,
        "m.image" => MessageKind::Image,
        "m.video" => MessageKind::Video,
        "m.audio" if map.contains_key(VOICE) => MessageKind::Voice,
        "m.audio" => MessageKind::Audio,
        "m.file" => MessageKind::File,
        "m.location" => MessageKind::Location,
        _ => MessageKind::Text,
    };
    let media = if kind.has_media() {
        Some(parse_media(map, &body)?)
    } else {
        None
    };
    if kind == MessageKind::Location {
        // Networks get the link; the description goes unless there is no link.
        if let Some(geo) = string_field(map, "geo_uri")?.filter(|g| is_geo_uri(g)) {
            body = geo.to_owned();
        }
    }
    Ok(MessageContent {
        kind,
        body,
        html,
        media,
        mentions: parse_mentions(map),
        poll: None,
    })
}

fn parse_media(map: &Map<String, Value>, body: &str) -> Result<Media, ConvertError> {
    let url = match map.get("url") {
        Some(Value::String(s)) => s,
        Some(_) => {
            return Err(ConvertError::Invalid {
                field: "url",
                reason: "not a string".into(),
            });
        }
        // Encrypted media (`file`) is not something an unencrypted bridge can fetch.
        None => return Err(ConvertError::Missing("url")),
    };
    let mxc = OwnedMxcUri::from(url.as_str());
    if mxc.validate().is_err() {
        return Err(ConvertError::Invalid {
            field: "url",
            reason: format!("not an mxc:// URI: {url}"),
        });
    }
    let (mimetype, size) = media_info(map);
    let filename = string_field(map, "filename")?
        .filter(|f| !f.is_empty())
        .unwrap_or(body)
        .to_owned();
    Ok(Media {
        mxc: Some(mxc),
        url: None,
        filename,
        mimetype,
        size,
        data: None,
    })
}

/// The `info.mimetype` and `info.size` of media content, where given.
fn media_info(map: &Map<String, Value>) -> (Option<String>, Option<u64>) {
    let info = map.get("info").and_then(Value::as_object);
    let mimetype = info
        .and_then(|i| i.get("mimetype"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    (
        mimetype,
        info.and_then(|i| i.get("size")).and_then(Value::as_u64),
    )
}

/// The picture an `m.room.avatar` content names, or [`Media::removal`] when it names none
/// (no `url`, or one that is not an `mxc://` URI).
pub fn room_avatar(content: &Value) -> Media {
    let mxc = content
        .get("url")
        .and_then(Value::as_str)
        .map(OwnedMxcUri::from)
        .filter(|mxc| mxc.is_valid());
    let (Some(mxc), Some(map)) = (mxc, content.as_object()) else {
        return Media::removal();
    };
    let (mimetype, size) = media_info(map);
    Media {
        mxc: Some(mxc),
        url: None,
        filename: "avatar".to_owned(),
        mimetype,
        size,
        data: None,
    }
}

/// `m.mentions.user_ids`; invalid IDs are skipped (a mention is not worth failing a message).
fn parse_mentions(map: &Map<String, Value>) -> Vec<OwnedUserId> {
    map.get("m.mentions")
        .and_then(|m| m.get("user_ids"))
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(Value::as_str)
                .filter_map(|s| OwnedUserId::try_from(s).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn string_field<'a>(
    map: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, ConvertError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ConvertError::Invalid {
            field,
            reason: "not a string".into(),
        }),
    }
}

fn event_id_field(
    map: &Map<String, Value>,
    field: &'static str,
) -> Result<OwnedEventId, ConvertError> {
    let raw = map
        .get("event_id")
        .ok_or(ConvertError::Missing(field))?
        .as_str()
        .ok_or(ConvertError::Invalid {
            field,
            reason: "not a string".into(),
        })?;
    OwnedEventId::try_from(raw).map_err(|e| ConvertError::Invalid {
        field,
        reason: e.to_string(),
    })
}

fn is_geo_uri(s: &str) -> bool {
    s.trim()
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("geo:"))
}

/// Drops the legacy plain-text reply fallback: leading `> ` quote lines starting with
/// `> <@sender>`, and the blank line after them.
pub fn strip_plain_reply_fallback(body: &str) -> String {
    if !body.starts_with("> <") {
        return body.to_owned();
    }
    let mut lines = body.split('\n').peekable();
    while lines.peek().is_some_and(|l| l.starts_with('>')) {
        lines.next();
    }
    if lines.peek().is_some_and(|l| l.trim().is_empty()) {
        lines.next();
    }
    lines.collect::<Vec<_>>().join("\n")
}

/// Drops the legacy `<mx-reply>…</mx-reply>` block from an HTML body.
pub fn strip_html_reply_fallback(html: &str) -> String {
    const OPEN: &str = "<mx-reply>";
    const CLOSE: &str = "</mx-reply>";
    let lower = html.to_ascii_lowercase();
    match (lower.find(OPEN), lower.find(CLOSE)) {
        (Some(start), Some(end)) if end >= start => {
            let mut out = String::with_capacity(html.len());
            out.push_str(&html[..start]);
            out.push_str(&html[end + CLOSE.len()..]);
            out
        }
        _ => html.to_owned(),
    }
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
