//! WhatsApp content Matrix has no event for, as readable messages: contact cards (name and
//! phone numbers from the vCard), polls and disappearing-message timers (the wording shared
//! with other bridges is `ferrybridge_core::readable`).

use ferrybridge_core::events::{MessageContent, PollAnswer};

use crate::network::ContactCard;

/// Contact cards as text: each name, then its phone numbers from the vCard's `TEL` lines.
pub fn contacts(cards: &[ContactCard]) -> MessageContent {
    ferrybridge_core::readable::contacts(
        cards
            .iter()
            .map(|c| (c.name.as_str(), phones(&c.vcard).collect())),
    )
}

/// The phone numbers of a vCard (`TEL;…:number` lines; folded lines are not joined, numbers
/// never span them in practice).
fn phones(vcard: &str) -> impl Iterator<Item = &str> {
    vcard.lines().filter_map(|line| {
        let (name, value) = line.split_once(':')?;
        let property = name.rsplit('.').next()?.split(';').next()?;
        property
            .eq_ignore_ascii_case("TEL")
            .then(|| value.trim())
            .filter(|v| !v.is_empty())
    })
}

/// A poll; its answers are named by their text, as WhatsApp's votes name them.
pub fn poll(question: &str, options: &[String], max_selections: u32) -> MessageContent {
    let answers = options
        .iter()
        .map(|o| PollAnswer {
            id: o.clone(),
            text: o.clone(),
        })
        .collect();
    ferrybridge_core::readable::poll(question, answers, max_selections, "WhatsApp")
}

/// A disappearing-messages timer change, as a notice.
pub fn timer(seconds: u32) -> MessageContent {
    if seconds == 0 {
        return MessageContent::notice("Disappearing messages were turned off.");
    }
    let (n, unit) = match seconds {
        s if s % 86_400 == 0 => (s / 86_400, "day"),
        s if s % 3_600 == 0 => (s / 3_600, "hour"),
        s if s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    let plural = if n == 1 { "" } else { "s" };
    MessageContent::notice(format!(
        "Disappearing messages were turned on: new messages disappear after {n} {unit}{plural}."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_cards_show_names_and_numbers() {
        let card = ContactCard {
            name: "Dora".into(),
            vcard: "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Dora\r\nitem1.TEL;waid=447000:+44 7000\r\nTEL;TYPE=HOME:+1 555\r\nEND:VCARD".into(),
        };
        let c = contacts(&[card]);
        assert_eq!(c.body, "Contact: Dora\n  phone: +44 7000\n  phone: +1 555");
        assert_eq!(
            contacts(&[ContactCard {
                name: String::new(),
                vcard: "garbage".into()
            }])
            .body,
            "Contact: (no name)"
        );
    }

    #[test]
    fn polls_and_timers_read_well() {
        let p = poll("Lunch?", &["Pizza".into(), "Soup".into()], 1);
        assert_eq!(
            p.body,
            "Poll: Lunch?\n1. Pizza\n2. Soup\n(vote here or on WhatsApp)"
        );
        let answers = p.poll.map(|p| p.answers).unwrap_or_default();
        assert_eq!(
            (answers[1].id.as_str(), answers[1].text.as_str()),
            ("Soup", "Soup")
        );
        assert!(timer(0).body.contains("turned off"));
        assert!(timer(86_400).body.ends_with("after 1 day."));
        assert!(timer(7 * 86_400).body.ends_with("after 7 days."));
        assert!(timer(90).body.ends_with("after 90 seconds."));
    }
}
