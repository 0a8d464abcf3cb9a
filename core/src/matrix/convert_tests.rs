//! Tests for `convert.rs`, both directions.

use ruma::{event_id, owned_user_id};
use serde_json::json;

use super::*;
use crate::events::{Media, MessageContent, MessageKind};

fn media(mxc: Option<&str>) -> Media {
    Media {
        mxc: mxc.map(OwnedMxcUri::from),
        url: Some("https://example.org/cat.png".into()),
        filename: "cat.png".into(),
        mimetype: Some("image/png".into()),
        size: Some(1234),
        data: None,
    }
}

fn with_media(kind: MessageKind, body: &str, m: Media) -> MessageContent {
    MessageContent {
        kind,
        media: Some(m),
        ..MessageContent::text(body)
    }
}

#[test]
fn text_notice_emote_msgtypes() {
    for (c, t) in [
        (MessageContent::text("hi"), "m.text"),
        (MessageContent::notice("hi"), "m.notice"),
        (MessageContent::emote("waves"), "m.emote"),
    ] {
        let v = to_matrix_content(&c);
        assert_eq!(v["msgtype"], t);
        assert_eq!(v["body"], c.body.as_str());
        assert_eq!(v["m.mentions"], json!({"user_ids": []}));
        assert!(v.get("format").is_none());
        let back = from_matrix_content(&v).unwrap();
        assert_eq!(back.content, c);
        assert_eq!((back.reply_to, back.replaces), (None, None));
    }
}

#[test]
fn html_and_mentions_roundtrip() {
    let mut c = MessageContent::text("alice: hi")
        .with_html("<a href=\"https://matrix.to/#/@alice:hs\">alice</a>: hi");
    c.mentions = vec![owned_user_id!("@alice:hs")];
    let v = to_matrix_content(&c);
    assert_eq!(v["format"], HTML_FORMAT);
    assert_eq!(v["formatted_body"], c.html.as_deref().unwrap());
    assert_eq!(v["m.mentions"]["user_ids"], json!(["@alice:hs"]));
    assert_eq!(from_matrix_content(&v).unwrap().content, c);
}

#[test]
fn media_msgtypes() {
    for (kind, t) in [
        (MessageKind::Image, "m.image"),
        (MessageKind::Sticker, "m.image"),
        (MessageKind::Video, "m.video"),
        (MessageKind::Audio, "m.audio"),
        (MessageKind::Voice, "m.audio"),
        (MessageKind::File, "m.file"),
    ] {
        let c = with_media(kind, "", media(Some("mxc://hs/abc")));
        let v = to_matrix_content(&c);
        assert_eq!(v["msgtype"], t);
        assert_eq!(v["url"], "mxc://hs/abc");
        assert_eq!(v["body"], "cat.png");
        assert_eq!(v["filename"], "cat.png");
        assert_eq!(v["info"], json!({"mimetype": "image/png", "size": 1234}));
        let back = from_matrix_content(&v).unwrap().content;
        let expected_kind = if kind == MessageKind::Sticker {
            MessageKind::Image
        } else {
            kind
        };
        assert_eq!(back.kind, expected_kind);
        let m = back.media.unwrap();
        assert_eq!(m.mxc.as_ref().map(|m| m.as_str()), Some("mxc://hs/abc"));
        assert_eq!(m.filename, "cat.png");
        assert_eq!(m.mimetype.as_deref(), Some("image/png"));
        assert_eq!(m.size, Some(1234));
    }
}

#[test]
fn voice_notes_are_marked_both_ways() {
    let voice = to_matrix_content(&with_media(
        MessageKind::Voice,
        "",
        media(Some("mxc://hs/v")),
    ));
    assert_eq!(voice["org.matrix.msc3245.voice"], json!({}));
    assert!(voice.get("org.matrix.msc1767.audio").is_some());
    let audio = to_matrix_content(&with_media(
        MessageKind::Audio,
        "",
        media(Some("mxc://hs/a")),
    ));
    assert!(audio.get("org.matrix.msc3245.voice").is_none(), "{audio}");
    let degraded = to_matrix_content(&with_media(MessageKind::Voice, "", media(None)));
    assert!(
        degraded.get("org.matrix.msc3245.voice").is_none(),
        "a link is no voice note"
    );
}

#[test]
fn media_caption_kept_in_body() {
    let c = with_media(
        MessageKind::Image,
        "look at this",
        media(Some("mxc://hs/abc")),
    );
    let v = to_matrix_content(&c);
    assert_eq!(v["body"], "look at this");
    assert_eq!(v["filename"], "cat.png");
    let back = from_matrix_content(&v).unwrap().content;
    assert_eq!(back.body, "look at this");
    assert_eq!(back.media.unwrap().filename, "cat.png");
}

#[test]
fn media_without_mxc_degrades_to_text_with_link() {
    let c = with_media(MessageKind::Image, "a cat", media(None));
    let v = to_matrix_content(&c);
    assert_eq!(v["msgtype"], "m.text");
    assert_eq!(v["body"], "a cat\nhttps://example.org/cat.png");
    assert!(v.get("url").is_none());
}

#[test]
fn location() {
    let mut c = MessageContent::text("geo:51.5,-0.12");
    c.kind = MessageKind::Location;
    let v = to_matrix_content(&c);
    assert_eq!(v["msgtype"], "m.location");
    assert_eq!(v["geo_uri"], "geo:51.5,-0.12");
    let back = from_matrix_content(&v).unwrap().content;
    assert_eq!(back.kind, MessageKind::Location);
    assert_eq!(back.body, "geo:51.5,-0.12");

    c.body = "somewhere nice".into();
    let v = to_matrix_content(&c);
    assert_eq!(v["msgtype"], "m.text");
    assert!(v.get("geo_uri").is_none());

    let incoming =
        json!({"msgtype": "m.location", "body": "Big Ben", "geo_uri": "geo:51.5,-0.12;u=35"});
    assert_eq!(
        from_matrix_content(&incoming).unwrap().content.body,
        "geo:51.5,-0.12;u=35"
    );
}

#[test]
fn reply_relation_out_and_in() {
    let target = event_id!("$orig:hs");
    let v = with_relations(
        to_matrix_content(&MessageContent::text("yes")),
        Some(target),
        None,
    );
    assert_eq!(
        v["m.relates_to"],
        json!({"m.in_reply_to": {"event_id": "$orig:hs"}})
    );
    assert_eq!(v["body"], "yes");
    let p = from_matrix_content(&v).unwrap();
    assert_eq!(p.reply_to.as_deref(), Some(target));
    assert_eq!(p.replaces, None);
}

#[test]
fn reply_fallbacks_are_stripped() {
    let v = json!({
        "msgtype": "m.text",
        "body": "> <@bob:hs> original line\n> second line\n\nmy answer\n> quoted by me",
        "format": HTML_FORMAT,
        "formatted_body": "<mx-reply><blockquote><a href=\"x\">In reply to</a> original</blockquote></mx-reply>my <b>answer</b>",
        "m.relates_to": {"m.in_reply_to": {"event_id": "$orig:hs"}}
    });
    let p = from_matrix_content(&v).unwrap();
    assert_eq!(p.content.body, "my answer\n> quoted by me");
    assert_eq!(p.content.html.as_deref(), Some("my <b>answer</b>"));
}

#[test]
fn quotes_in_non_replies_are_kept() {
    let v = json!({"msgtype": "m.text", "body": "> <@bob:hs> said this\n\nI agree"});
    assert_eq!(
        from_matrix_content(&v).unwrap().content.body,
        v["body"].as_str().unwrap()
    );
}

#[test]
fn strip_helpers_edge_cases() {
    assert_eq!(strip_plain_reply_fallback("> <@a:b> x"), "");
    assert_eq!(strip_plain_reply_fallback("plain"), "plain");
    assert_eq!(
        strip_plain_reply_fallback("> not a fallback"),
        "> not a fallback"
    );
    assert_eq!(strip_html_reply_fallback("<MX-REPLY>q</MX-REPLY>a"), "a");
    assert_eq!(
        strip_html_reply_fallback("</mx-reply>a<mx-reply>"),
        "</mx-reply>a<mx-reply>"
    );
    assert_eq!(
        strip_html_reply_fallback("ünïcode<mx-reply>é</mx-reply>ok"),
        "ünïcodeok"
    );
}

#[test]
fn thread_fallback_is_not_a_reply() {
    let v = json!({
        "msgtype": "m.text", "body": "in thread",
        "m.relates_to": {"rel_type": "m.thread", "event_id": "$root:hs",
            "is_falling_back": true, "m.in_reply_to": {"event_id": "$last:hs"}}
    });
    assert_eq!(from_matrix_content(&v).unwrap().reply_to, None);
    let mut real = v.clone();
    real["m.relates_to"]["is_falling_back"] = json!(false);
    assert_eq!(
        from_matrix_content(&real).unwrap().reply_to.as_deref(),
        Some(event_id!("$last:hs"))
    );
}

#[test]
fn edit_out_and_in() {
    let target = event_id!("$orig:hs");
    let mut c = MessageContent::text("fixed").with_html("<b>fixed</b>");
    c.mentions = vec![owned_user_id!("@alice:hs")];
    let v = with_relations(
        to_matrix_content(&c),
        Some(event_id!("$ignored:hs")),
        Some(target),
    );
    assert_eq!(v["body"], "* fixed");
    assert_eq!(v["formatted_body"], "* <b>fixed</b>");
    assert_eq!(
        v["m.relates_to"],
        json!({"rel_type": "m.replace", "event_id": "$orig:hs"})
    );
    assert_eq!(v["m.new_content"]["body"], "fixed");
    assert_eq!(v["m.new_content"]["formatted_body"], "<b>fixed</b>");
    assert_eq!(
        v["m.new_content"]["m.mentions"]["user_ids"],
        json!(["@alice:hs"])
    );
    assert!(v["m.new_content"].get("m.relates_to").is_none());
    assert_eq!(v["m.mentions"], json!({}));
    let p = from_matrix_content(&v).unwrap();
    assert_eq!(p.replaces.as_deref(), Some(target));
    assert_eq!(p.reply_to, None);
    assert_eq!(p.content, c);
}

#[test]
fn edit_without_new_content_uses_fallback() {
    let v = json!({"msgtype": "m.text", "body": "* fixed",
        "m.relates_to": {"rel_type": "m.replace", "event_id": "$orig:hs"}});
    let p = from_matrix_content(&v).unwrap();
    assert_eq!(p.content.body, "fixed");
    assert!(p.replaces.is_some());
}

#[test]
fn unknown_msgtype_is_text() {
    let v = json!({"msgtype": "org.example.custom", "body": "shown"});
    let c = from_matrix_content(&v).unwrap().content;
    assert_eq!((c.kind, c.body.as_str()), (MessageKind::Text, "shown"));
}

#[test]
fn invalid_mentions_are_skipped() {
    let v = json!({"msgtype": "m.text", "body": "x",
        "m.mentions": {"user_ids": ["@ok:hs", "not a user", 5]}});
    assert_eq!(
        from_matrix_content(&v).unwrap().content.mentions,
        vec![owned_user_id!("@ok:hs")]
    );
}

#[test]
fn malformed_input_is_an_error() {
    let cases = [
        (json!("string"), ConvertError::NotAnObject),
        (json!([1, 2]), ConvertError::NotAnObject),
        (json!({"body": "x"}), ConvertError::Missing("msgtype")),
        (json!({"msgtype": "m.text"}), ConvertError::Missing("body")),
        (
            json!({"msgtype": "m.image", "body": "x"}),
            ConvertError::Missing("url"),
        ),
    ];
    for (v, e) in cases {
        assert_eq!(from_matrix_content(&v).unwrap_err(), e, "{v}");
    }
    for v in [
        json!({"msgtype": 5, "body": "x"}),
        json!({"msgtype": "m.text", "body": 5}),
        json!({"msgtype": "m.image", "body": "x", "url": 5}),
        json!({"msgtype": "m.image", "body": "x", "url": "https://not-mxc"}),
        json!({"msgtype": "m.text", "body": "x", "m.relates_to": {"m.in_reply_to": {"event_id": "bad"}}}),
        json!({"msgtype": "m.text", "body": "x", "m.relates_to": {"m.in_reply_to": {"event_id": 1}}}),
        json!({"msgtype": "m.text", "body": "x", "m.relates_to": {"rel_type": "m.replace"}}),
        json!({"msgtype": "m.text", "body": "x", "m.new_content": 3,
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$e:hs"}}),
        json!({"msgtype": "m.text", "body": "x", "m.new_content": {"body": "y"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$e:hs"}}),
    ] {
        assert!(
            matches!(
                from_matrix_content(&v),
                Err(ConvertError::Invalid { .. } | ConvertError::Missing(_))
            ),
            "{v}"
        );
    }
}

#[test]
fn odd_but_valid_input_does_not_panic() {
    for v in [
        json!({}),
        json!(null),
        json!({"msgtype": "m.text", "body": "", "format": 7, "formatted_body": ["x"]}),
        json!({"msgtype": "m.text", "body": "x", "m.relates_to": "nope"}),
        json!({"msgtype": "m.text", "body": "x", "m.mentions": "nope"}),
        json!({"msgtype": "m.file", "body": "x", "url": "mxc://hs/id", "info": "nope"}),
        json!({"msgtype": "m.location", "body": "x", "geo_uri": 1}),
        json!({"msgtype": "m.text", "body": "> <", "m.relates_to": {"m.in_reply_to": {"event_id": "$a:b"}}}),
    ] {
        let _ = from_matrix_content(&v);
    }
}

#[test]
fn a_room_avatar_names_its_picture_or_removes_it() {
    let set = room_avatar(&json!({
        "url": "mxc://hs/abc",
        "info": {"mimetype": "image/png", "size": 1234},
    }));
    assert_eq!(set.mxc.as_ref().map(|m| m.as_str()), Some("mxc://hs/abc"));
    assert_eq!(set.mimetype.as_deref(), Some("image/png"));
    assert_eq!(set.size, Some(1234));
    assert_eq!(room_avatar(&json!({})), Media::removal());
    assert_eq!(
        room_avatar(&json!({"url": "https://x/y.png"})),
        Media::removal()
    );
    assert_eq!(room_avatar(&json!({"url": 5})), Media::removal());
}
