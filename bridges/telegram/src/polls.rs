//! Telegram polls ↔ Matrix polls. A poll's answers on Matrix are named after Telegram's own
//! option IDs (`tg:` and the bytes in hex), so a Matrix vote names the options to vote for
//! without the bridge remembering anything.

use std::collections::BTreeMap;

use ferrybridge_core::BridgeHost;
use ferrybridge_core::events::{MessageContent, Poll, PollAnswer};
use ferrybridge_core::ids::RemoteMessageId;
use ferrybridge_core::readable;

use crate::network::{ChatRef, OutPoll, TgPollOption};

/// Store namespace of the answer → option maps of polls started on Matrix.
const KV_POLL: &str = "telegram_poll";

const PREFIX: &str = "tg:";

/// A Telegram poll as a Matrix poll.
pub fn content(question: &str, options: &[TgPollOption], multiple_choice: bool) -> MessageContent {
    let answers: Vec<PollAnswer> = options
        .iter()
        .map(|o| PollAnswer {
            id: answer_id(&o.id),
            text: o.text.clone(),
        })
        .collect();
    let max = if multiple_choice { answers.len() } else { 1 };
    readable::poll(
        question,
        answers,
        u32::try_from(max).unwrap_or(u32::MAX),
        "Telegram",
    )
}

/// A Matrix poll to start on Telegram.
pub fn out_poll(poll: &Poll) -> OutPoll {
    OutPoll {
        question: poll.question.clone(),
        options: poll.answers.iter().map(|a| a.text.clone()).collect(),
        multiple_choice: poll.max_selections > 1,
    }
}

/// Keeps which Telegram option each answer of a poll started on Matrix became (Matrix named
/// those answers itself). A failure is logged: votes in that poll then get a notice.
pub async fn remember(
    host: &BridgeHost,
    chat: ChatRef,
    poll: &RemoteMessageId,
    answers: &[PollAnswer],
    options: &[Vec<u8>],
) {
    let map: BTreeMap<&str, String> = answers
        .iter()
        .zip(options)
        .map(|(a, o)| (a.id.as_str(), answer_id(o)))
        .collect();
    let key = format!("{chat}/{poll}");
    if let Err(e) = host.store().kv_set(KV_POLL, &key, &map).await {
        tracing::warn!(%key, error = %e, "cannot keep a poll's options; votes in it will not be bridged");
    }
}

/// The Telegram options a Matrix vote in `poll` names: Telegram's own IDs in a poll from
/// Telegram, else through the map kept when the poll was started from Matrix; `None` when an
/// answer is neither.
pub async fn options_for(
    host: &BridgeHost,
    chat: ChatRef,
    poll: &RemoteMessageId,
    answers: &[String],
) -> Option<Vec<Vec<u8>>> {
    if let Some(options) = options_of(answers) {
        return Some(options);
    }
    let key = format!("{chat}/{poll}");
    let map: BTreeMap<String, String> = match host.store().kv_get(KV_POLL, &key).await {
        Ok(map) => map?,
        Err(e) => {
            tracing::warn!(%key, error = %e, "cannot read a poll's options");
            return None;
        }
    };
    answers
        .iter()
        .map(|a| map.get(a).and_then(|o| option_id(o)))
        .collect()
}

/// The Telegram options answer IDs name, when they are all Telegram's own.
fn options_of(answers: &[String]) -> Option<Vec<Vec<u8>>> {
    answers.iter().map(|a| option_id(a)).collect()
}

fn answer_id(option: &[u8]) -> String {
    let hex: String = option.iter().map(|b| format!("{b:02x}")).collect();
    format!("{PREFIX}{hex}")
}

fn option_id(answer: &str) -> Option<Vec<u8>> {
    let hex = answer.strip_prefix(PREFIX)?;
    if hex.len() % 2 != 0 || !hex.is_ascii() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrybridge_core::events::MessageKind;

    #[test]
    fn telegram_options_are_the_answer_ids_and_votes_find_them() {
        let options = [
            TgPollOption {
                id: vec![0],
                text: "Pizza".into(),
            },
            TgPollOption {
                id: vec![0xab, 1],
                text: "Soup".into(),
            },
        ];
        let c = content("Lunch?", &options, true);
        assert_eq!(c.kind, MessageKind::Poll);
        let poll = c.poll.unwrap();
        assert_eq!(poll.max_selections, 2);
        let ids: Vec<String> = poll.answers.iter().map(|a| a.id.clone()).collect();
        assert_eq!(ids, ["tg:00", "tg:ab01"]);
        assert_eq!(options_of(&ids), Some(vec![vec![0], vec![0xab, 1]]));
        assert_eq!(options_of(&[]), Some(vec![]));
        for foreign in ["pizza", "tg:a", "tg:zz", "tg:é1"] {
            assert_eq!(options_of(&[foreign.to_owned()]), None, "{foreign}");
        }
    }
}
