//! Remote content Matrix has no event type for, as readable messages every bridge writes the
//! same way: contact cards, polls, places.

use crate::events::{MessageContent, MessageKind, Poll, PollAnswer};

/// One or more shared contacts: each name, then its phone numbers.
pub fn contacts<'a>(cards: impl IntoIterator<Item = (&'a str, Vec<&'a str>)>) -> MessageContent {
    let mut lines = Vec::new();
    for (name, phones) in cards {
        let name = if name.trim().is_empty() {
            "(no name)"
        } else {
            name
        };
        lines.push(format!("Contact: {name}"));
        lines.extend(phones.into_iter().map(|p| format!("  phone: {p}")));
    }
    MessageContent::text(lines.join("\n"))
}

/// A poll: MSC3381 on Matrix, its question and numbered answers as the text for clients and
/// networks without polls, which also says where else one can vote.
pub fn poll(
    question: &str,
    answers: Vec<PollAnswer>,
    max_selections: u32,
    network: &str,
) -> MessageContent {
    let mut text = poll_text(question, &answers);
    text.push_str(&format!("\n(vote here or on {network})"));
    MessageContent {
        kind: MessageKind::Poll,
        ..MessageContent::text(text)
    }
    .with_poll(Poll {
        question: question.to_owned(),
        answers,
        max_selections: max_selections.max(1),
    })
}

/// A poll as text: "Poll: question" and the answers numbered.
pub fn poll_text(question: &str, answers: &[PollAnswer]) -> String {
    let mut text = format!("Poll: {question}");
    for (i, answer) in answers.iter().enumerate() {
        text.push_str(&format!("\n{}. {}", i + 1, answer.text));
    }
    text
}

/// A place as `m.location` (a `geo:` URI).
pub fn location(geo_uri: impl Into<String>) -> MessageContent {
    MessageContent {
        kind: MessageKind::Location,
        ..MessageContent::text(geo_uri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_polls_and_places_read_well() {
        let c = contacts([("Dora", vec!["+44 7000", "+1 555"]), ("", vec![])]);
        assert_eq!(
            c.body,
            "Contact: Dora\n  phone: +44 7000\n  phone: +1 555\nContact: (no name)"
        );
        let answer = |id: &str, text: &str| PollAnswer {
            id: id.into(),
            text: text.into(),
        };
        let p = poll(
            "Lunch?",
            vec![answer("a", "Pizza"), answer("b", "Soup")],
            0,
            "WhatsApp",
        );
        assert_eq!(
            p.body,
            "Poll: Lunch?\n1. Pizza\n2. Soup\n(vote here or on WhatsApp)"
        );
        assert_eq!(p.kind, MessageKind::Poll);
        assert_eq!(p.poll.map(|p| p.max_selections), Some(1));
        let l = location("geo:1,2");
        assert_eq!(
            (l.kind, l.body.as_str()),
            (MessageKind::Location, "geo:1,2")
        );
    }
}
