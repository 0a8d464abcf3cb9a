//! grammers' non-file media (places, contact cards, polls, dice) → [`TgContent`].

use grammers_client::media::Media;
use grammers_tl_types as tl;

use crate::network::{TgContent, TgPollOption};

/// The content of `media` that is neither text nor a file; `None` for files (see
/// `convert::media`) and link previews, which go with the text.
pub fn content(media: &Media) -> Option<TgContent> {
    match media {
        Media::Geo(g) => location(&g.raw, None),
        Media::GeoLive(l) => match &l.raw_geolive.geo {
            tl::enums::GeoPoint::Point(p) => location(p, None),
            tl::enums::GeoPoint::Empty => None,
        },
        Media::Venue(v) => match &v.raw_venue.geo {
            tl::enums::GeoPoint::Point(p) => location(p, Some(v.raw_venue.title.clone())),
            tl::enums::GeoPoint::Empty => None,
        },
        Media::Contact(c) => Some(TgContent::Contact {
            name: format!("{} {}", c.first_name(), c.last_name())
                .trim()
                .to_owned(),
            phone: c.phone_number().to_owned(),
        }),
        Media::Poll(p) => Some(TgContent::Poll {
            question: text(p.question()),
            options: p
                .iter_answers()
                .filter_map(|a| match a {
                    tl::enums::PollAnswer::Answer(a) => Some(TgPollOption {
                        id: a.option.clone(),
                        text: text(&a.text),
                    }),
                    tl::enums::PollAnswer::InputPollAnswer(_) => None,
                })
                .collect(),
            multiple_choice: p.raw.multiple_choice,
        }),
        Media::Dice(d) => Some(TgContent::Dice {
            emoji: d.emoji().to_owned(),
            value: d.value(),
        }),
        _ => None,
    }
}

/// A message's media that grammers itself does not know (games, invoices, stories,
/// giveaways…), named after its Telegram type so the user hears of it; `None` for media
/// grammers knows and for nothing at all.
pub fn unknown(raw: &tl::enums::MessageMedia) -> Option<TgContent> {
    use tl::enums::MessageMedia as R;
    if matches!(raw, R::Empty | R::WebPage(_)) || Media::from_raw(raw.clone()).is_some() {
        return None;
    }
    let debug = format!("{raw:?}");
    let kind = debug.split(['(', ' ', '{']).next().unwrap_or("unknown");
    Some(TgContent::Unsupported {
        kind: kind.to_owned(),
    })
}

fn location(p: &tl::types::GeoPoint, name: Option<String>) -> Option<TgContent> {
    Some(TgContent::Location {
        geo_uri: format!("geo:{},{}", p.lat, p.long),
        name: name.filter(|n| !n.is_empty()),
    })
}

fn text(t: &tl::enums::TextWithEntities) -> String {
    match t {
        tl::enums::TextWithEntities::Entities(e) => e.text.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grammers_client::media::{Contact, Dice, Geo, Poll, Venue};

    fn point(lat: f64, long: f64) -> tl::types::GeoPoint {
        tl::types::GeoPoint {
            long,
            lat,
            access_hash: 0,
            accuracy_radius: None,
        }
    }

    fn words(s: &str) -> tl::enums::TextWithEntities {
        tl::types::TextWithEntities {
            text: s.into(),
            entities: vec![],
        }
        .into()
    }

    #[test]
    fn media_grammers_does_not_know_is_named() {
        let game: tl::enums::MessageMedia = tl::types::MessageMediaGame {
            game: tl::types::Game {
                id: 1,
                access_hash: 0,
                short_name: "chess".into(),
                title: "Chess".into(),
                description: String::new(),
                photo: tl::enums::Photo::Empty(tl::types::PhotoEmpty { id: 0 }),
                document: None,
            }
            .into(),
        }
        .into();
        assert_eq!(
            unknown(&game),
            Some(TgContent::Unsupported {
                kind: "Game".into()
            })
        );
        let geo: tl::enums::MessageMedia = tl::types::MessageMediaGeo {
            geo: point(1.0, 2.0).into(),
        }
        .into();
        assert_eq!(unknown(&geo), None, "grammers knows places");
        assert_eq!(unknown(&tl::enums::MessageMedia::Empty), None);
    }

    #[test]
    fn places_become_geo_uris() {
        let geo = Media::Geo(Geo {
            raw: point(51.5, -0.12),
        });
        assert_eq!(
            content(&geo),
            Some(TgContent::Location {
                geo_uri: "geo:51.5,-0.12".into(),
                name: None
            })
        );
        let venue = Media::Venue(Venue::from_raw_media(tl::types::MessageMediaVenue {
            geo: point(48.85, 2.35).into(),
            title: "Louvre".into(),
            address: "Rue de Rivoli".into(),
            provider: String::new(),
            venue_id: String::new(),
            venue_type: String::new(),
        }));
        assert_eq!(
            content(&venue),
            Some(TgContent::Location {
                geo_uri: "geo:48.85,2.35".into(),
                name: Some("Louvre".into())
            })
        );
    }

    #[test]
    fn contacts_polls_and_dice_keep_their_content() {
        let contact = Media::Contact(Contact {
            raw: tl::types::MessageMediaContact {
                phone_number: "+44 7000".into(),
                first_name: "Dora".into(),
                last_name: String::new(),
                vcard: String::new(),
                user_id: 0,
            },
        });
        assert_eq!(
            content(&contact),
            Some(TgContent::Contact {
                name: "Dora".into(),
                phone: "+44 7000".into()
            })
        );
        let answer = |s: &str, o: u8| {
            tl::enums::PollAnswer::Answer(tl::types::PollAnswer {
                text: words(s),
                option: vec![o],
                media: None,
                added_by: None,
                date: None,
            })
        };
        let poll = Media::Poll(Poll::from_raw_media(tl::types::MessageMediaPoll {
            poll: tl::types::Poll {
                id: 1,
                closed: false,
                public_voters: false,
                multiple_choice: false,
                quiz: false,
                open_answers: false,
                revoting_disabled: false,
                shuffle_answers: false,
                hide_results_until_close: false,
                creator: false,
                subscribers_only: false,
                question: words("Lunch?"),
                answers: vec![answer("Pizza", 0), answer("Soup", 1)],
                close_period: None,
                close_date: None,
                countries_iso2: None,
                hash: 0,
            }
            .into(),
            results: tl::types::PollResults {
                min: false,
                has_unread_votes: false,
                can_view_stats: false,
                results: None,
                total_voters: None,
                recent_voters: None,
                solution: None,
                solution_entities: None,
                solution_media: None,
            }
            .into(),
            attached_media: None,
        }));
        assert_eq!(
            content(&poll),
            Some(TgContent::Poll {
                question: "Lunch?".into(),
                options: vec![
                    TgPollOption {
                        id: vec![0],
                        text: "Pizza".into()
                    },
                    TgPollOption {
                        id: vec![1],
                        text: "Soup".into()
                    }
                ],
                multiple_choice: false,
            })
        );
        let dice = Media::Dice(Dice::from_raw_media(tl::types::MessageMediaDice {
            value: 6,
            emoticon: "🎲".into(),
            game_outcome: None,
        }));
        assert_eq!(
            content(&dice),
            Some(TgContent::Dice {
                emoji: "🎲".into(),
                value: 6
            })
        );
    }
}
