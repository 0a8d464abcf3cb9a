//! Property tests (the fuzz suite for the formatter): totality and round trips.

use proptest::prelude::*;

use super::*;

fn no_pills(_: &ruma::UserId) -> Option<String> {
    None
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn irc_to_matrix_is_total(s in any::<String>()) {
        let f = irc_to_matrix(&s);
        prop_assert!(!f.body.contains('\x02'));
        prop_assert!(!f.body.contains('\x03'));
    }

    #[test]
    fn irc_codes_soup_is_total(s in "[\x02\x03\x04\x0f\x11\x16\x1d\x1e\x1f0-9a-fA-F,<>&é ]{0,64}") {
        let f = irc_to_matrix(&s);
        if let Some(html) = f.html {
            // The HTML text content equals the body.
            let back = strip_irc_formatting(&matrix_to_irc(&html, &no_pills));
            prop_assert_eq!(back.split_whitespace().collect::<Vec<_>>(), f.body.split_whitespace().collect::<Vec<_>>());
        }
    }

    #[test]
    fn matrix_to_irc_is_total(s in any::<String>()) {
        let _ = matrix_to_irc(&s, &no_pills);
    }

    #[test]
    fn html_soup_is_total(s in "(<(/?)(b|i|a href=\"x\"|ul|ol|li|blockquote|pre|code|font color=\"#123456\"|br|p|mx-reply)>|[a-z0-9 &;#\n])*") {
        let _ = matrix_to_irc(&s, &no_pills);
    }

    #[test]
    fn plain_text_round_trips(s in "[a-zA-Z0-9.,!?:'\"&<>/ -]{0,80}") {
        // plain IRC text → Matrix (html None, body = text) → IRC gives the text back
        // (whitespace normalised), via the escaped HTML form too.
        let f = irc_to_matrix(&s);
        prop_assert_eq!(&f.body, &s);
        prop_assert!(f.html.is_none());
        let via_html = matrix_to_irc(&escape_html(&s), &no_pills);
        prop_assert_eq!(via_html, s.split_whitespace().collect::<Vec<_>>().join(" "));
    }

    #[test]
    fn styled_text_round_trips(words in proptest::collection::vec("[a-z]{1,8}", 1..6)) {
        let text = words.join(" ");
        let irc = format!("\x02{text}\x02 \x1d{text}");
        let f = irc_to_matrix(&irc);
        let back = matrix_to_irc(f.html.as_deref().unwrap_or_default(), &no_pills);
        prop_assert_eq!(irc_to_matrix(&back), f);
    }
}
