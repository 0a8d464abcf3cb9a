//! Message text both ways: Telegram text with entities ↔ Matrix HTML, through grammers' own
//! HTML parser and generator; mentions become pills of ghosts and back.

use grammers_client::parsers::{generate_html_message, parse_html_message};
use ruma::OwnedUserId;

use crate::grammers::entities::{from_tl, to_tl};
use crate::network::{EntityKind, OutMessage, TgEntity};

const TG_MENTION: &str = "tg://user?id=";
const MATRIX_TO: &str = "https://matrix.to/#/";

/// Telegram text → Matrix `(body, html, mentioned users)`. `ghost` maps a Telegram user ID to
/// its ghost's MXID. `html` is `None` for plain text.
pub fn tg_to_matrix(
    text: &str,
    entities: &[TgEntity],
    ghost: &dyn Fn(i64) -> Option<OwnedUserId>,
) -> (String, Option<String>, Vec<OwnedUserId>) {
    if entities.is_empty() {
        return (text.to_owned(), None, vec![]);
    }
    let mut mentions = vec![];
    for e in entities {
        if let EntityKind::MentionName { user_id } = e.kind
            && let Some(mxid) = ghost(user_id)
        {
            mentions.push(mxid);
        }
    }
    let mut html = generate_html_message(text, &to_tl(entities));
    for e in entities {
        if let EntityKind::MentionName { user_id } = e.kind {
            let from = format!("{TG_MENTION}{user_id}\"");
            let to = match ghost(user_id) {
                Some(mxid) => format!("{MATRIX_TO}{mxid}\""),
                None => "#\"".to_owned(),
            };
            html = html.replace(&from, &to);
        }
    }
    let has_pre = entities
        .iter()
        .any(|e| matches!(e.kind, EntityKind::Pre { .. }));
    if !has_pre {
        html = html.replace('\n', "<br/>");
    }
    (text.to_owned(), Some(html), mentions)
}

/// A Matrix message body → Telegram text with entities. `ghost_id` maps an MXID to the Telegram
/// user its ghost stands for, so that pills of ghosts become Telegram mentions.
pub fn matrix_to_tg(
    body: &str,
    html: Option<&str>,
    ghost_id: &dyn Fn(&str) -> Option<i64>,
) -> OutMessage {
    let Some(html) = html else {
        return OutMessage {
            text: strip_plain_reply_fallback(body).to_owned(),
            ..Default::default()
        };
    };
    let html = strip_html_reply_fallback(html);
    // grammers' parser panics on a non-numeric `tg://user?id=`: only we may produce those.
    let mut html = html.replace(TG_MENTION, "#");
    html = rewrite_pills(&html, ghost_id);
    for br in ["<br>", "<br/>", "<br />"] {
        html = html.replace(br, "\n");
    }
    let (text, entities) = parse_html_message(&html);
    OutMessage {
        text,
        entities: from_tl(&entities),
        reply_to: None,
    }
}

/// `href="https://matrix.to/#/@ghost:server"` → `href="tg://user?id=N"` for ghosts.
fn rewrite_pills(html: &str, ghost_id: &dyn Fn(&str) -> Option<i64>) -> String {
    let needle = format!("href=\"{MATRIX_TO}");
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(pos) = rest.find(&needle) {
        let start = pos + needle.len();
        out.push_str(&rest[..pos]);
        let tail = &rest[start..];
        let end = tail.find('"').unwrap_or(tail.len());
        let target = &tail[..end];
        match ghost_id(target) {
            Some(id) => out.push_str(&format!("href=\"{TG_MENTION}{id}")),
            None => {
                out.push_str(&needle);
                out.push_str(target);
            }
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn strip_html_reply_fallback(html: &str) -> String {
    match (html.find("<mx-reply>"), html.find("</mx-reply>")) {
        (Some(a), Some(b)) if a < b => {
            format!("{}{}", &html[..a], &html[b + "</mx-reply>".len()..])
        }
        _ => html.to_owned(),
    }
}

fn strip_plain_reply_fallback(body: &str) -> &str {
    if !body.starts_with("> ") {
        return body;
    }
    match body.find("\n\n") {
        Some(i) => &body[i + 2..],
        None => body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ghost(id: i64) -> Option<OwnedUserId> {
        OwnedUserId::try_from(format!("@_telegram_{id}:hs")).ok()
    }
    fn ghost_id(mxid: &str) -> Option<i64> {
        mxid.strip_prefix("@_telegram_")?
            .strip_suffix(":hs")?
            .parse()
            .ok()
    }

    #[test]
    fn plain_text_has_no_html() {
        assert_eq!(tg_to_matrix("hi", &[], &ghost), ("hi".into(), None, vec![]));
        let out = matrix_to_tg("hi", None, &ghost_id);
        assert_eq!(out.text, "hi");
        assert!(out.entities.is_empty());
    }

    #[test]
    fn bold_link_and_mention_to_html() {
        let entities = vec![
            TgEntity {
                offset: 0,
                length: 4,
                kind: EntityKind::Bold,
            },
            TgEntity {
                offset: 5,
                length: 4,
                kind: EntityKind::TextUrl {
                    url: "https://example.org".into(),
                },
            },
            TgEntity {
                offset: 10,
                length: 3,
                kind: EntityKind::MentionName { user_id: 7 },
            },
        ];
        let (body, html, mentions) = tg_to_matrix("bold link Bob", &entities, &ghost);
        assert_eq!(body, "bold link Bob");
        let html = html.unwrap();
        assert!(
            html.contains("<strong>bold</strong>") || html.contains("<b>bold</b>"),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"https://example.org\">link</a>"),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"https://matrix.to/#/@_telegram_7:hs\">Bob</a>"),
            "{html}"
        );
        assert_eq!(mentions, vec![ghost(7).unwrap()]);
    }

    #[test]
    fn html_to_entities_with_pills_and_reply_fallback() {
        let html = "<mx-reply><blockquote>old</blockquote></mx-reply><b>hey</b> <a href=\"https://matrix.to/#/@_telegram_9:hs\">Ann</a> <i>x</i><br>y <a href=\"tg://user?id=abc\">evil</a>";
        let out = matrix_to_tg("ignored", Some(html), &ghost_id);
        assert_eq!(out.text, "hey Ann x\ny evil");
        assert!(out.entities.contains(&TgEntity {
            offset: 0,
            length: 3,
            kind: EntityKind::Bold
        }));
        assert!(out.entities.contains(&TgEntity {
            offset: 4,
            length: 3,
            kind: EntityKind::MentionName { user_id: 9 }
        }));
        assert!(out.entities.contains(&TgEntity {
            offset: 8,
            length: 1,
            kind: EntityKind::Italic
        }));
    }

    #[test]
    fn non_ghost_pills_stay_links_and_utf16_offsets_hold() {
        let html = "😀 <a href=\"https://matrix.to/#/@alice:hs\">alice</a>";
        let out = matrix_to_tg("", Some(html), &ghost_id);
        assert_eq!(out.text, "😀 alice");
        assert_eq!(
            out.entities,
            vec![TgEntity {
                offset: 3,
                length: 5,
                kind: EntityKind::TextUrl {
                    url: "https://matrix.to/#/@alice:hs".into()
                }
            }]
        );
    }

    #[test]
    fn plain_reply_fallback_is_stripped() {
        let out = matrix_to_tg("> <@a:hs> old\n\nnew", None, &ghost_id);
        assert_eq!(out.text, "new");
    }
}
