//! MSC3381 polls ↔ [`Poll`]: the poll start event a network's poll becomes, and the start and
//! response events Matrix users send. Both the unstable names (`org.matrix.msc3381.*`, what
//! Element sends today) and the stable ones (`m.poll.*`) are read; the unstable ones are
//! written, because that is what clients render.

use ruma::OwnedEventId;
use serde_json::{Value, json};

use super::convert::ConvertError;
use crate::events::{MessageContent, MessageKind, Poll, PollAnswer};
use crate::readable;

/// The event type (and content key) of a poll start, as written.
pub const POLL_START: &str = "org.matrix.msc3381.poll.start";
/// The event type (and content key) of a vote, as written.
pub const POLL_RESPONSE: &str = "org.matrix.msc3381.poll.response";
const STABLE_START: &str = "m.poll.start";
const STABLE_RESPONSE: &str = "m.poll.response";
/// MSC1767's plain-text block, which MSC3381 uses for every text.
const TEXT: &str = "org.matrix.msc1767.text";

/// Whether `event_type` starts a poll.
pub fn is_poll_start(event_type: &str) -> bool {
    event_type == POLL_START || event_type == STABLE_START
}

/// Whether `event_type` is a vote.
pub fn is_poll_response(event_type: &str) -> bool {
    event_type == POLL_RESPONSE || event_type == STABLE_RESPONSE
}

/// The poll start content for `poll`, with `fallback` (the readable text) for clients that
/// show the poll as text.
pub fn to_poll_start(poll: &Poll, fallback: &str) -> Value {
    let answers: Vec<Value> = poll
        .answers
        .iter()
        .map(|a| json!({ "id": a.id, TEXT: a.text }))
        .collect();
    json!({
        POLL_START: {
            "question": { TEXT: poll.question, "body": poll.question, "msgtype": "m.text" },
            "kind": "org.matrix.msc3381.poll.disclosed",
            "max_selections": poll.max_selections,
            "answers": answers,
        },
        TEXT: fallback,
        "body": fallback,
    })
}

/// A vote in `poll` for `answers` (by answer ID; none withdraws the vote).
pub fn to_poll_response(poll: &ruma::EventId, answers: &[String]) -> Value {
    json!({
        "m.relates_to": { "rel_type": "m.reference", "event_id": poll },
        POLL_RESPONSE: { "answers": answers },
    })
}

/// A Matrix user's poll as a message: the poll, and its question and answers as text for
/// networks without polls.
pub fn from_poll_start(content: &Value) -> Result<MessageContent, ConvertError> {
    let start = content
        .get(POLL_START)
        .or_else(|| content.get(STABLE_START))
        .ok_or(ConvertError::Missing(POLL_START))?;
    let question = start
        .get("question")
        .and_then(text_of)
        .ok_or(ConvertError::Missing("question"))?;
    let answers = start
        .get("answers")
        .and_then(Value::as_array)
        .ok_or(ConvertError::Missing("answers"))?
        .iter()
        .map(answer)
        .collect::<Result<Vec<_>, _>>()?;
    if answers.is_empty() {
        return Err(ConvertError::Invalid {
            field: "answers",
            reason: "a poll needs at least one answer".into(),
        });
    }
    let max_selections = start
        .get("max_selections")
        .and_then(Value::as_u64)
        .map_or(1, |n| u32::try_from(n).unwrap_or(u32::MAX));
    Ok(MessageContent {
        kind: MessageKind::Poll,
        ..MessageContent::text(readable::poll_text(&question, &answers))
    }
    .with_poll(Poll {
        question,
        answers,
        max_selections: max_selections.max(1),
    }))
}

/// A vote: the poll start it answers and the chosen answer IDs (none: the vote is withdrawn).
pub fn from_poll_response(content: &Value) -> Result<(OwnedEventId, Vec<String>), ConvertError> {
    let poll = content
        .get("m.relates_to")
        .and_then(|r| r.get("event_id"))
        .and_then(Value::as_str)
        .ok_or(ConvertError::Missing("m.relates_to"))?;
    let poll = OwnedEventId::try_from(poll).map_err(|e| ConvertError::Invalid {
        field: "m.relates_to",
        reason: e.to_string(),
    })?;
    let answers = content
        .get(POLL_RESPONSE)
        .or_else(|| content.get(STABLE_RESPONSE))
        .and_then(|r| r.get("answers"))
        .and_then(Value::as_array)
        .ok_or(ConvertError::Missing("answers"))?
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    Ok((poll, answers))
}

fn answer(value: &Value) -> Result<PollAnswer, ConvertError> {
    let id = value
        .get("id")
        .or_else(|| value.get("org.matrix.msc3381.poll.answer.id"))
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or(ConvertError::Missing("answers[].id"))?;
    let text = text_of(value).ok_or(ConvertError::Missing("answers[].text"))?;
    Ok(PollAnswer {
        id: id.to_owned(),
        text,
    })
}

/// The plain text of an MSC1767 block: the unstable text key, the stable `m.text` (a string
/// or a list of representations), or a plain `body`.
fn text_of(value: &Value) -> Option<String> {
    if let Some(text) = value.get(TEXT).and_then(Value::as_str) {
        return Some(text.to_owned());
    }
    match value.get("m.text") {
        Some(Value::String(text)) => return Some(text.clone()),
        Some(Value::Array(parts)) => {
            let plain = parts.iter().find(|p| {
                p.get("mimetype")
                    .and_then(Value::as_str)
                    .is_none_or(|m| m == "text/plain")
            });
            if let Some(body) = plain.and_then(|p| p.get("body")).and_then(Value::as_str) {
                return Some(body.to_owned());
            }
        }
        _ => {}
    }
    value.get("body").and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lunch() -> Poll {
        Poll {
            question: "Lunch?".into(),
            answers: vec![
                PollAnswer {
                    id: "p".into(),
                    text: "Pizza".into(),
                },
                PollAnswer {
                    id: "s".into(),
                    text: "Soup".into(),
                },
            ],
            max_selections: 1,
        }
    }

    #[test]
    fn a_poll_goes_to_matrix_and_comes_back_the_same() {
        let v = to_poll_start(&lunch(), "Poll: Lunch?");
        assert_eq!(v[POLL_START]["answers"][1]["id"], "s");
        assert_eq!(v[TEXT], "Poll: Lunch?");
        let back = from_poll_start(&v).unwrap();
        assert_eq!(back.kind, MessageKind::Poll);
        assert_eq!(back.poll, Some(lunch()));
        assert_eq!(back.body, "Poll: Lunch?\n1. Pizza\n2. Soup");
    }

    #[test]
    fn stable_polls_and_votes_are_read_too() {
        let v = json!({STABLE_START: {
            "question": {"m.text": [{"mimetype": "text/html", "body": "<b>Q</b>"}, {"body": "Q"}]},
            "max_selections": 2,
            "answers": [{"id": "a", "m.text": "A"}],
        }});
        let poll = from_poll_start(&v).unwrap().poll.unwrap();
        assert_eq!((poll.question.as_str(), poll.max_selections), ("Q", 2));
        let vote = json!({
            "m.relates_to": {"rel_type": "m.reference", "event_id": "$poll"},
            STABLE_RESPONSE: {"answers": ["a"]},
        });
        let (target, answers) = from_poll_response(&vote).unwrap();
        assert_eq!((target.as_str(), answers), ("$poll", vec!["a".to_owned()]));
        let ours = to_poll_response(&target, &["b".to_owned()]);
        let (target, answers) = from_poll_response(&ours).unwrap();
        assert_eq!((target.as_str(), answers), ("$poll", vec!["b".to_owned()]));
    }

    #[test]
    fn malformed_polls_and_votes_are_errors() {
        assert!(from_poll_start(&json!({})).is_err());
        assert!(
            from_poll_start(&json!({POLL_START: {"question": {TEXT: "Q"}, "answers": []}}))
                .is_err()
        );
        let no_id = json!({POLL_START: {"question": {TEXT: "Q"}, "answers": [{TEXT: "A"}]}});
        assert_eq!(
            from_poll_start(&no_id),
            Err(ConvertError::Missing("answers[].id"))
        );
        assert!(from_poll_response(&json!({POLL_RESPONSE: {"answers": ["a"]}})).is_err());
        let bad_target =
            json!({"m.relates_to": {"event_id": "nope"}, POLL_RESPONSE: {"answers": []}});
        assert!(from_poll_response(&bad_target).is_err());
    }
}
