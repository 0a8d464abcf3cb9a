//! Remote content Matrix has no event type for, as readable messages every bridge writes the
//! same way: contact cards, polls, places.

use crate::events::{MessageContent, MessageKind};

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

/// A poll, its options numbered; votes are made on `network`.
pub fn poll(question: &str, options: &[String], network: &str) -> MessageContent {
    let mut text = format!("Poll: {question}");
    for (i, option) in options.iter().enumerate() {
        text.push_str(&format!("\n{}. {option}", i + 1));
    }
    text.push_str(&format!("\n(vote on {network})"));
    MessageContent::text(text)
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
        let p = poll("Lunch?", &["Pizza".into(), "Soup".into()], "WhatsApp");
        assert_eq!(
            p.body,
            "Poll: Lunch?\n1. Pizza\n2. Soup\n(vote on WhatsApp)"
        );
        let l = location("geo:1,2");
        assert_eq!(
            (l.kind, l.body.as_str()),
            (MessageKind::Location, "geo:1,2")
        );
    }
}
