//! Our [`TgEntity`] ↔ grammers' `tl::enums::MessageEntity` (the wire form).

use grammers_tl_types as tl;

use crate::network::{EntityKind, TgEntity};

/// Wire entities → ours; kinds the bridge does not carry (hashtags, custom emoji...) are dropped
/// and their text stays.
pub fn from_tl(entities: &[tl::enums::MessageEntity]) -> Vec<TgEntity> {
    use tl::enums::MessageEntity as ME;
    entities
        .iter()
        .filter_map(|e| {
            let (offset, length, kind) = match e {
                ME::Bold(e) => (e.offset, e.length, EntityKind::Bold),
                ME::Italic(e) => (e.offset, e.length, EntityKind::Italic),
                ME::Underline(e) => (e.offset, e.length, EntityKind::Underline),
                ME::Strike(e) => (e.offset, e.length, EntityKind::Strike),
                ME::Spoiler(e) => (e.offset, e.length, EntityKind::Spoiler),
                ME::Code(e) => (e.offset, e.length, EntityKind::Code),
                ME::Pre(e) => (
                    e.offset,
                    e.length,
                    EntityKind::Pre {
                        language: e.language.clone(),
                    },
                ),
                ME::Url(e) => (e.offset, e.length, EntityKind::Url),
                ME::TextUrl(e) => (
                    e.offset,
                    e.length,
                    EntityKind::TextUrl { url: e.url.clone() },
                ),
                ME::Email(e) => (e.offset, e.length, EntityKind::Email),
                ME::Mention(e) => (e.offset, e.length, EntityKind::Mention),
                ME::MentionName(e) => (
                    e.offset,
                    e.length,
                    EntityKind::MentionName { user_id: e.user_id },
                ),
                ME::Blockquote(e) => (e.offset, e.length, EntityKind::Blockquote),
                _ => return None,
            };
            Some(TgEntity {
                offset,
                length,
                kind,
            })
        })
        .collect()
}

/// Ours → wire entities.
pub fn to_tl(entities: &[TgEntity]) -> Vec<tl::enums::MessageEntity> {
    use tl::types as t;
    entities
        .iter()
        .map(|e| {
            let (offset, length) = (e.offset, e.length);
            match &e.kind {
                EntityKind::Bold => t::MessageEntityBold { offset, length }.into(),
                EntityKind::Italic => t::MessageEntityItalic { offset, length }.into(),
                EntityKind::Underline => t::MessageEntityUnderline { offset, length }.into(),
                EntityKind::Strike => t::MessageEntityStrike { offset, length }.into(),
                EntityKind::Spoiler => t::MessageEntitySpoiler { offset, length }.into(),
                EntityKind::Code => t::MessageEntityCode { offset, length }.into(),
                EntityKind::Pre { language } => t::MessageEntityPre {
                    offset,
                    length,
                    language: language.clone(),
                }
                .into(),
                EntityKind::Url => t::MessageEntityUrl { offset, length }.into(),
                EntityKind::TextUrl { url } => t::MessageEntityTextUrl {
                    offset,
                    length,
                    url: url.clone(),
                }
                .into(),
                EntityKind::Email => t::MessageEntityEmail { offset, length }.into(),
                EntityKind::Mention => t::MessageEntityMention { offset, length }.into(),
                EntityKind::MentionName { user_id } => t::MessageEntityMentionName {
                    offset,
                    length,
                    user_id: *user_id,
                }
                .into(),
                EntityKind::Blockquote => t::MessageEntityBlockquote {
                    collapsed: false,
                    offset,
                    length,
                }
                .into(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_survives_the_round_trip() {
        let kinds = [
            EntityKind::Bold,
            EntityKind::Italic,
            EntityKind::Underline,
            EntityKind::Strike,
            EntityKind::Spoiler,
            EntityKind::Code,
            EntityKind::Pre {
                language: "rust".into(),
            },
            EntityKind::Url,
            EntityKind::TextUrl {
                url: "https://example.org".into(),
            },
            EntityKind::Email,
            EntityKind::Mention,
            EntityKind::MentionName { user_id: 42 },
            EntityKind::Blockquote,
        ];
        let ours: Vec<TgEntity> = kinds
            .into_iter()
            .enumerate()
            .map(|(i, kind)| TgEntity {
                offset: i as i32,
                length: 3,
                kind,
            })
            .collect();
        assert_eq!(from_tl(&to_tl(&ours)), ours);
    }

    #[test]
    fn unsupported_wire_entities_are_dropped() {
        let wire: Vec<tl::enums::MessageEntity> = vec![
            tl::types::MessageEntityHashtag {
                offset: 0,
                length: 4,
            }
            .into(),
            tl::types::MessageEntityBold {
                offset: 5,
                length: 2,
            }
            .into(),
        ];
        assert_eq!(
            from_tl(&wire),
            vec![TgEntity {
                offset: 5,
                length: 2,
                kind: EntityKind::Bold
            }]
        );
    }
}
