//! Polls started and voted in from Matrix. Telegram names a poll's options itself when it is
//! created; a vote names them by those IDs (see `relay_in::poll_answer_id`).

use grammers_client::media::Media;
use grammers_client::message::InputMessage;
use grammers_tl_types as tl;

use super::GrammersClient;
use super::errors::map_invocation;
use crate::network::{ChatRef, OutPoll, TgError};

/// Starts `poll` in `chat`: the message's ID and the IDs Telegram gave the options.
pub(super) async fn send_poll(
    client: &GrammersClient,
    chat: ChatRef,
    poll: OutPoll,
) -> Result<(i32, Vec<Vec<u8>>), TgError> {
    let peer = client.peer(chat).await?;
    let sent = client
        .client
        .send_message(peer, InputMessage::new().media(input_poll(poll)))
        .await
        .map_err(map_invocation)?;
    let options = match sent.media() {
        Some(Media::Poll(p)) => option_ids(&p.raw),
        _ => vec![],
    };
    Ok((sent.id(), options))
}

/// The IDs of a poll's options, in order.
fn option_ids(poll: &tl::types::Poll) -> Vec<Vec<u8>> {
    poll.answers
        .iter()
        .filter_map(|a| match a {
            tl::enums::PollAnswer::Answer(a) => Some(a.option.clone()),
            tl::enums::PollAnswer::InputPollAnswer(_) => None,
        })
        .collect()
}

/// Votes in poll message `id` for `options` (empty: takes the vote back).
pub(super) async fn vote(
    client: &GrammersClient,
    chat: ChatRef,
    id: i32,
    options: Vec<Vec<u8>>,
) -> Result<(), TgError> {
    let peer = client.peer(chat).await?;
    client
        .client
        .invoke(&tl::functions::messages::SendVote {
            peer: peer.into(),
            msg_id: id,
            options,
        })
        .await
        .map(drop)
        .map_err(map_invocation)
}

/// The `inputMediaPoll` for `poll`: an ordinary anonymous poll, as Telegram apps start one
/// by default.
fn input_poll(poll: OutPoll) -> tl::types::InputMediaPoll {
    let text = |text: String| {
        tl::enums::TextWithEntities::Entities(tl::types::TextWithEntities {
            text,
            entities: vec![],
        })
    };
    let answers = poll
        .options
        .into_iter()
        .map(|option| {
            tl::types::InputPollAnswer {
                text: text(option),
                media: None,
            }
            .into()
        })
        .collect();
    tl::types::InputMediaPoll {
        poll: tl::types::Poll {
            id: 0,
            closed: false,
            public_voters: false,
            multiple_choice: poll.multiple_choice,
            quiz: false,
            open_answers: false,
            revoting_disabled: false,
            shuffle_answers: false,
            hide_results_until_close: false,
            creator: false,
            subscribers_only: false,
            question: text(poll.question),
            answers,
            close_period: None,
            close_date: None,
            countries_iso2: None,
            hash: 0,
        }
        .into(),
        correct_answers: None,
        attached_media: None,
        solution: None,
        solution_entities: None,
        solution_media: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_matrix_poll_becomes_an_ordinary_telegram_poll() {
        let poll = input_poll(OutPoll {
            question: "Lunch?".into(),
            options: vec!["Pizza".into(), "Soup".into()],
            multiple_choice: true,
        });
        let tl::enums::Poll::Poll(p) = &poll.poll;
        let question = match &p.question {
            tl::enums::TextWithEntities::Entities(t) => t.text.as_str(),
        };
        assert_eq!(question, "Lunch?");
        assert!(p.multiple_choice && !p.quiz && !p.public_voters);
        let texts: Vec<_> = p
            .answers
            .iter()
            .filter_map(|a| match a {
                tl::enums::PollAnswer::InputPollAnswer(a) => match &a.text {
                    tl::enums::TextWithEntities::Entities(t) => Some(t.text.as_str()),
                },
                tl::enums::PollAnswer::Answer(_) => None,
            })
            .collect();
        assert_eq!(texts, ["Pizza", "Soup"]);
        // Until Telegram numbers them, the options have no IDs.
        assert!(option_ids(p).is_empty());
    }

    #[test]
    fn the_sent_polls_options_give_their_ids_in_order() {
        let tl::enums::Poll::Poll(mut p) = input_poll(OutPoll {
            question: "Q".into(),
            options: vec![],
            multiple_choice: false,
        })
        .poll;
        p.answers = [b"0", b"1"]
            .into_iter()
            .map(|o| {
                tl::types::PollAnswer {
                    text: tl::types::TextWithEntities {
                        text: "A".into(),
                        entities: vec![],
                    }
                    .into(),
                    option: o.to_vec(),
                    media: None,
                    added_by: None,
                    date: None,
                }
                .into()
            })
            .collect();
        assert_eq!(option_ids(&p), [b"0".to_vec(), b"1".to_vec()]);
    }
}
