use proptest::prelude::*;

use super::*;
use crate::format::strip_irc_formatting;

fn lines(text: &str, budget: usize) -> Vec<String> {
    split_lines(text, budget)
}

#[test]
fn budget_accounts_for_the_relayed_prefix() {
    // ":nick!user@host PRIVMSG #chan :" = 1+4+1+4+1+4+9+5+2 = 31; 512 - 2 - 31 = 479.
    assert_eq!(
        text_budget(
            "nick",
            Some("user"),
            Some("host"),
            "#chan",
            LineKind::Privmsg
        ),
        479
    );
    assert_eq!(
        text_budget(
            "nick",
            Some("user"),
            Some("host"),
            "#chan",
            LineKind::Notice
        ),
        480
    );
    assert_eq!(
        text_budget(
            "nick",
            Some("user"),
            Some("host"),
            "#chan",
            LineKind::Action
        ),
        479 - 9
    );
    assert_eq!(
        text_budget("nick", None, None, "#chan", LineKind::Privmsg),
        479 - (UNKNOWN_USER_LEN - 4) - (UNKNOWN_HOST_LEN - 4)
    );
    let long = "x".repeat(600);
    assert_eq!(
        text_budget(&long, None, None, "#c", LineKind::Privmsg),
        MIN_BUDGET
    );
}

#[test]
fn short_text_is_one_line() {
    assert_eq!(lines("hello", 100), vec!["hello"]);
    assert_eq!(lines("", 100), Vec::<String>::new());
}

#[test]
fn newlines_split_and_empty_lines_drop() {
    assert_eq!(lines("a\r\n\nb\n  \n\x02\nc", 100), vec!["a", "b", "c"]);
}

#[test]
fn splits_at_last_whitespace() {
    assert_eq!(
        lines("the quick brown fox jumps", 12),
        vec!["the quick", "brown fox", "jumps"]
    );
}

#[test]
fn hard_splits_long_words_at_char_boundaries() {
    let l = lines("ééééé", 8); // 2 bytes each
    assert_eq!(l, vec!["éééé", "é"]);
    let l = lines("aéééé", 8);
    assert_eq!(l, vec!["aééé", "é"]);
    assert_eq!(lines("abcdefghijkl", 8), vec!["abcdefgh", "ijkl"]);
}

#[test]
fn keeps_leading_indentation_of_a_line() {
    assert_eq!(lines("    code", 100), vec!["    code"]);
}

#[test]
fn does_not_split_inside_a_colour_code() {
    // Budget 9 would cut "\x0304,12" after "\x0304,1".
    let l = lines("abcdef\x0304,12xyz", 9);
    assert_eq!(l[0], "abcdef");
    assert!(l[1].starts_with("\x0304,12"));
}

#[test]
fn styles_carry_over_to_continuation_lines() {
    let l = lines("\x02\x0304bold red words here", 16);
    assert_eq!(l[0], "\x02\x0304bold red");
    assert_eq!(l[1], "\x02\x0304words here");
    // Reset ends the carry.
    let l = lines("\x02bold\x0F plain text here", 12);
    assert_eq!(l[1], "plain text");
}

#[test]
fn line_limit_reports_too_long() {
    let text = "one\ntwo\nthree\nfour";
    assert_eq!(
        split_message(text, 100, 0),
        SplitResult::Lines(vec![
            "one".into(),
            "two".into(),
            "three".into(),
            "four".into()
        ])
    );
    assert_eq!(
        split_message(text, 100, 4),
        SplitResult::Lines(vec![
            "one".into(),
            "two".into(),
            "three".into(),
            "four".into()
        ])
    );
    assert_eq!(
        split_message(text, 100, 3),
        SplitResult::TooLong {
            preview: vec!["one".into(), "two".into(), "three".into()],
            full: text.into(),
            total_lines: 4
        }
    );
}

fn squash(s: &str) -> String {
    strip_irc_formatting(s)
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\0')
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn never_exceeds_budget_and_loses_nothing(text in any::<String>(), budget in 0usize..120) {
        let out = lines(&text, budget);
        for l in &out {
            prop_assert!(l.len() <= budget.max(MIN_BUDGET), "{l:?} > {budget}");
            prop_assert!(!l.is_empty());
            prop_assert!(!l.contains('\n') && !l.contains('\r') && !l.contains('\0'));
        }
        prop_assert_eq!(out.iter().map(|l| squash(l)).collect::<String>(), squash(&text));
    }

    #[test]
    fn formatted_soup_keeps_budget(
        text in "[\x02\x03\x0f\x1d0-9, a-zé日]{0,300}",
        budget in 8usize..60,
    ) {
        let out = lines(&text, budget);
        for l in &out {
            prop_assert!(l.len() <= budget);
        }
        prop_assert_eq!(out.iter().map(|l| squash(l)).collect::<String>(), squash(&text));
    }

    #[test]
    fn words_round_trip(words in proptest::collection::vec("[a-z]{1,10}", 0..60), budget in 12usize..80) {
        let text = words.join(" ");
        let out = lines(&text, budget);
        prop_assert_eq!(out.join(" "), text);
    }
}
