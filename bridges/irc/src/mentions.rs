//! IRC → Matrix mentions: a puppet's nick written in a line (`alice[m]: hi`) becomes a Matrix
//! mention of the user behind it, with a pill in the HTML body.

use ferrybridge_core::events::MessageContent;
use ruma::OwnedUserId;

use crate::format::escape_html;

/// Whether `c` can be part of a nick (so a match inside a longer word is not a mention).
pub(crate) fn nick_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "[]\\`_^{|}-".contains(c)
}

/// Byte ranges of whole-word, case-insensitive occurrences of `nick` in `text`.
pub fn find_nick(text: &str, nick: &str) -> Vec<(usize, usize)> {
    if nick.is_empty() {
        return Vec::new();
    }
    let lower = text.to_ascii_lowercase();
    let needle = nick.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = lower[from..].find(&needle) {
        let start = from + pos;
        let end = start + needle.len();
        let before_ok = lower[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !nick_char(c));
        let after_ok = lower[end..].chars().next().is_none_or(|c| !nick_char(c));
        if before_ok && after_ok {
            out.push((start, end));
        }
        from = end;
    }
    out
}

/// Adds mentions of the given `(nick, user)` pairs found in the message.
pub fn apply(content: &mut MessageContent, puppets: &[(String, OwnedUserId)]) {
    let mut html = content
        .html
        .clone()
        .unwrap_or_else(|| escape_html(&content.body));
    let mut found = false;
    for (nick, user) in puppets {
        if find_nick(&content.body, nick).is_empty() {
            continue;
        }
        found = true;
        if !content.mentions.contains(user) {
            content.mentions.push(user.clone());
        }
        let escaped = escape_html(nick);
        let mut rebuilt = String::with_capacity(html.len() + 64);
        let mut last = 0;
        for (start, end) in find_nick(&html, &escaped) {
            // Skip matches inside a tag.
            let open = html[..start].rfind('<');
            let close = html[..start].rfind('>');
            if open.is_some() && open > close {
                continue;
            }
            rebuilt.push_str(&html[last..start]);
            rebuilt.push_str(&format!(
                "<a href=\"https://matrix.to/#/{user}\">{}</a>",
                &html[start..end]
            ));
            last = end;
        }
        rebuilt.push_str(&html[last..]);
        html = rebuilt;
    }
    if found {
        content.html = Some(html);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_only_case_insensitive() {
        assert_eq!(find_nick("alice[m]: hi", "alice[m]"), vec![(0, 8)]);
        assert_eq!(find_nick("hi ALICE[m]", "alice[m]"), vec![(3, 11)]);
        assert!(find_nick("malice[m]x", "alice[m]").is_empty());
        assert!(find_nick("", "a").is_empty());
    }

    #[test]
    fn adds_mention_and_pill() {
        let user: OwnedUserId = "@alice:localhost".try_into().unwrap();
        let mut c = MessageContent::text("alice[m]: <b> hi");
        apply(&mut c, &[("alice[m]".into(), user.clone())]);
        assert_eq!(c.mentions, vec![user]);
        assert_eq!(
            c.html.as_deref(),
            Some("<a href=\"https://matrix.to/#/@alice:localhost\">alice[m]</a>: &lt;b&gt; hi")
        );
        let mut plain = MessageContent::text("nobody here");
        apply(
            &mut plain,
            &[("alice[m]".into(), "@alice:localhost".try_into().unwrap())],
        );
        assert!(plain.html.is_none() && plain.mentions.is_empty());
    }
}
