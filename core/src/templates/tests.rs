use super::*;
use rand::{Rng, SeedableRng, rngs::StdRng};

fn t(s: &str) -> Template {
    Template::parse(s).unwrap()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn guide_defaults() {
    assert_eq!(
        t("_irc_{nick}")
            .render_localpart(&[("nick", "bob")])
            .unwrap(),
        "_irc_bob"
    );
    assert_eq!(
        t("_xmpp_{jid}")
            .render_localpart(&[("jid", "alice@xmpp.example.com")])
            .unwrap(),
        "_xmpp_alice=40xmpp.example.com"
    );
    assert_eq!(
        t("{name} (WA)").render_plain(&[("name", "Alice")]).unwrap(),
        "Alice (WA)"
    );
    assert_eq!(
        t("_xmpp_{jid}").parse_localpart("_xmpp_alice=40xmpp.example.com"),
        Some(pairs(&[("jid", "alice@xmpp.example.com")]))
    );
}

#[test]
fn parse_and_variables() {
    let tpl = t("_irc_{server}_{nick}_{server2}");
    assert_eq!(tpl.variables(), vec!["server", "nick", "server2"]);
    assert_eq!(t("{a}{a}").variables(), vec!["a"]);
    assert_eq!(
        t("{{literal}} {x}").render(&[("x", "1")]).unwrap(),
        "{literal} 1"
    );
    assert_eq!(t("}}{{").render(&[]).unwrap(), "}{");
    assert_eq!(t("").render(&[]).unwrap(), "");
    assert_eq!(t("{_x9}").variables(), vec!["_x9"]);
    assert_eq!(tpl.as_str(), "_irc_{server}_{nick}_{server2}");
    assert_eq!("{a}".parse::<Template>().unwrap().to_string(), "{a}");
}

#[test]
fn bad_templates() {
    use TemplateError::*;
    let cases: &[(&str, TemplateError)] = &[
        ("abc{", UnclosedBrace { column: 4 }),
        ("{nick", UnclosedBrace { column: 1 }),
        ("a}b", UnmatchedClose { column: 2 }),
        ("{}", EmptyPlaceholder { column: 1 }),
        (
            "x{Nick}",
            InvalidVariable {
                name: "Nick".into(),
                column: 2,
            },
        ),
        (
            "{9a}",
            InvalidVariable {
                name: "9a".into(),
                column: 1,
            },
        ),
        (
            "{a b}",
            InvalidVariable {
                name: "a b".into(),
                column: 1,
            },
        ),
        (
            "{a{b}",
            InvalidVariable {
                name: "a{b".into(),
                column: 1,
            },
        ),
        (
            "é{é}",
            InvalidVariable {
                name: "é".into(),
                column: 2,
            },
        ),
        ("{{{", UnclosedBrace { column: 3 }),
    ];
    for (src, err) in cases {
        assert_eq!(Template::parse(src).as_ref(), Err(err), "{src:?}");
        assert!(!err.to_string().is_empty());
    }
    assert_eq!(
        UnclosedBrace { column: 4 }.to_string(),
        "`{` at character 4 is never closed (write `{{` for a literal brace)"
    );
}

#[test]
fn render_errors_and_extras() {
    let tpl = t("_irc_{nick}");
    assert_eq!(
        tpl.render(&[]),
        Err(TemplateError::MissingVariable("nick".into()))
    );
    assert_eq!(
        tpl.render(&[("nick", "a"), ("other", "b")]).unwrap(),
        "_irc_a"
    );
    assert_eq!(
        tpl.render_localpart(&[("nick", "")]),
        Err(TemplateError::EmptyValue("nick".into()))
    );
    assert_eq!(
        t("{a}{b}").render_localpart(&[("a", "x"), ("b", "y")]),
        Err(TemplateError::AdjacentVariables {
            first: "a".into(),
            second: "b".into()
        })
    );
    // Display names and nicks don't need reversibility.
    assert_eq!(t("{a}{b}").render(&[("a", "x"), ("b", "y")]).unwrap(), "xy");
    assert_eq!(t("{a}{b}").parse_localpart("xy"), None);
}

#[test]
fn render_plain_collapses_controls() {
    let tpl = t("{name} (IRC)");
    assert_eq!(
        tpl.render_plain(&[("name", "a\n\r\tb\u{7}c\u{0}")])
            .unwrap(),
        "a b c  (IRC)"
    );
    assert_eq!(tpl.render(&[("name", "a\nb")]).unwrap(), "a\nb (IRC)");
}

#[test]
fn checks() {
    assert_eq!(t("_irc_{nick}").check_localpart(), Ok(()));
    assert_eq!(t("_irc_{server}_{nick}").check_localpart(), Ok(()));
    assert_eq!(t("irc").check_localpart(), Err(TemplateError::NoVariables));
    assert_eq!(
        t("{n}_{n}").check_localpart(),
        Err(TemplateError::RepeatedVariable("n".into()))
    );
    assert_eq!(
        t("_IRC_{nick}").check_localpart(),
        Err(TemplateError::InvalidLiteral('I'))
    );
    assert_eq!(
        t("irc {nick}").check_localpart(),
        Err(TemplateError::InvalidLiteral(' '))
    );
    assert_eq!(t("a+{x}").check_localpart(), Ok(()));
    assert_eq!(t("_irc_{nick}").check_variables(&["nick", "id"]), Ok(()));
    assert_eq!(
        t("_irc_{nik}").check_variables(&["nick"]),
        Err(TemplateError::UnknownVariable("nik".into()))
    );
}

#[test]
fn namespace_regexes() {
    assert_eq!(t("_irc_{nick}").namespace_regex(), "_irc_.+");
    assert_eq!(t("a.b+{x}|{y}").namespace_regex(), r"a\.b\+.+\|.+");
    assert_eq!(
        t("_irc_{nick}").user_namespace_regex("example.com"),
        r"@_irc_.+:example\.com"
    );
    assert_eq!(t("_x_{id}").alias_namespace_regex("a.b"), r"#_x_.+:a\.b");
    let re = regex::Regex::new(&format!("^{}$", t("_irc_{nick}").namespace_regex())).unwrap();
    assert!(re.is_match("_irc_bob"));
    assert!(!re.is_match("_irc_"));
}

#[test]
fn restricted_variables_are_named_literally() {
    let tpl = t("_irc_{network}_{nick}")
        .restricted(KnownValues::new().with("network", ["oftc", "libera.chat", "my_net", "Up"]));
    assert_eq!(
        tpl.namespace_regex(),
        r"_irc_(?:_up|libera\.chat|my__net|oftc)_.+"
    );
    let re = regex::Regex::new(&format!("^{}$", tpl.namespace_regex())).unwrap();
    for (net, nick) in [
        ("oftc", "bob"),
        ("my_net", "_x_"),
        ("Up", "A"),
        ("libera.chat", "c"),
    ] {
        let lp = tpl
            .render_localpart(&[("network", net), ("nick", nick)])
            .unwrap();
        assert!(re.is_match(&lp), "{lp}");
        assert_eq!(
            tpl.parse_localpart(&lp),
            Some(pairs(&[("network", net), ("nick", nick)]))
        );
    }
    assert!(!re.is_match("_irc_efnet_bob"));
    assert!(!re.is_match("_irc_libera_chat_bob"), "escaped `.`");
    assert!(tpl.parse_localpart("_irc_efnet_bob").is_none());
    assert_eq!(
        tpl.render_localpart(&[("network", "efnet"), ("nick", "bob")]),
        Err(TemplateError::UnknownValue {
            var: "network".into(),
            value: "efnet".into()
        })
    );
}

#[test]
fn restriction_guides_the_parse_past_shorter_values() {
    // `a` is not a known network, so `_irc_a__b_x` is network `a_b`, not `a` + nick `_b_x`.
    let tpl = t("_irc_{network}_{nick}").restricted(KnownValues::new().with("network", ["a_b"]));
    assert_eq!(
        tpl.parse_localpart("_irc_a__b_x"),
        Some(pairs(&[("network", "a_b"), ("nick", "x")]))
    );
}

#[test]
fn a_variable_with_no_allowed_value_matches_nothing() {
    let empty: [&str; 0] = [];
    let tpl = t("_irc_{network}_{nick}").restricted(KnownValues::new().with("network", empty));
    let re = regex::Regex::new(&format!("^{}$", tpl.namespace_regex())).unwrap();
    assert!(!re.is_match("_irc_x_y"));
    assert!(!re.is_match("_irc__y"));
}

#[test]
fn parse_localpart_rules() {
    let tpl = t("_irc_{server}_{nick}");
    let lp = tpl
        .render_localpart(&[("server", "irc.libera.chat"), ("nick", "Bob_")])
        .unwrap();
    assert_eq!(lp, "_irc_irc.libera.chat__bob__");
    assert_eq!(
        tpl.parse_localpart(&lp),
        Some(pairs(&[("server", "irc.libera.chat"), ("nick", "Bob_")]))
    );
    // Nick starting with `_` or uppercase: the shortest server wins.
    for nick in ["_x", "__", "X", "_X_", "a_b"] {
        let lp = tpl
            .render_localpart(&[("server", "srv"), ("nick", nick)])
            .unwrap();
        assert_eq!(
            tpl.parse_localpart(&lp),
            Some(pairs(&[("server", "srv"), ("nick", nick)])),
            "{lp}"
        );
    }
    // The documented ambiguity: ("x_", "y") renders like ("x", "_y"); refused on render.
    let amb = t("{a}_{b}");
    assert_eq!(
        amb.render_localpart(&[("a", "x_"), ("b", "y")]),
        Err(TemplateError::Ambiguous {
            localpart: "x___y".into()
        })
    );
    assert_eq!(
        amb.parse_localpart("x___y"),
        Some(pairs(&[("a", "x"), ("b", "_y")]))
    );
    // Not matching / invalid escapes.
    assert_eq!(tpl.parse_localpart("_irc_srv"), None);
    assert_eq!(tpl.parse_localpart("_irc__nick"), None);
    assert_eq!(tpl.parse_localpart("_xmpp_srv_nick"), None);
    assert_eq!(tpl.parse_localpart("_irc_srv_=zz"), None);
    assert_eq!(tpl.parse_localpart("_irc_srv_=61"), None);
    assert_eq!(tpl.parse_localpart("_irc_srv_NICK"), None);
    assert_eq!(t("_irc_{nick}").parse_localpart("_irc_"), None);
    assert_eq!(
        t("{nick}_x").parse_localpart("bob___x"),
        Some(pairs(&[("nick", "bob_")]))
    );
    // A split inside a multi-byte character is skipped, not accepted.
    assert_eq!(
        t("{a}=a9{b}").parse_localpart("=c3=a9=a9x"),
        Some(pairs(&[("a", "é"), ("b", "x")]))
    );
}

/// Random values through several templates: render_localpart either refuses as ambiguous
/// or round-trips, never panics; values never containing `_` at their ends always round-trip.
#[test]
fn random_round_trips() {
    let alphabet: Vec<char> = "abzAZ09_-./=@ +é日😀\n'\"\\{}".chars().collect();
    let templates = [
        "_irc_{nick}",
        "_irc_{server}_{nick}",
        "{a}.{b}",
        "p{a}=40{b}s",
        "{a}__{b}_",
        "x/{a}/{b}/{c}",
    ];
    let mut rng = StdRng::seed_from_u64(42);
    let random = |rng: &mut StdRng| -> String {
        let len = rng.random_range(1..10);
        (0..len)
            .map(|_| alphabet[rng.random_range(0..alphabet.len())])
            .collect()
    };
    let mut ambiguous = 0;
    for src in templates {
        let tpl = t(src);
        for _ in 0..500 {
            let values: Vec<(String, String)> = tpl
                .variables()
                .iter()
                .map(|v| (v.to_string(), random(&mut rng)))
                .collect();
            let vars: Vec<(&str, &str)> = values
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            match tpl.render_localpart(&vars) {
                Ok(lp) => assert_eq!(tpl.parse_localpart(&lp), Some(values.clone()), "{src} {lp}"),
                Err(TemplateError::Ambiguous { localpart }) => {
                    ambiguous += 1;
                    assert!(tpl.parse_localpart(&localpart).is_some());
                }
                Err(e) => panic!("{src}: {e}"),
            }
            // Separator-free values are never ambiguous with these templates.
            let plain: Vec<(String, String)> = values
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.replace(['_', '=', '.', '/', '@', 'A', 'Z'], "q"),
                    )
                })
                .collect();
            let vars: Vec<(&str, &str)> = plain
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let lp = tpl.render_localpart(&vars).unwrap();
            assert_eq!(tpl.parse_localpart(&lp), Some(plain.clone()), "{src} {lp}");
        }
    }
    assert!(ambiguous < 1500, "{ambiguous}");
}

/// Arbitrary localparts against templates never panic.
#[test]
fn random_localparts_never_panic() {
    let alphabet: Vec<char> = "_=a0f.-/+Zé".chars().collect();
    let mut rng = StdRng::seed_from_u64(3);
    let tpl = t("_irc_{server}_{nick}");
    for _ in 0..3000 {
        let len = rng.random_range(0..20);
        let s: String = (0..len)
            .map(|_| alphabet[rng.random_range(0..alphabet.len())])
            .collect();
        if let Some(values) = tpl.parse_localpart(&s) {
            let vars: Vec<(&str, &str)> = values
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            assert_eq!(tpl.render_with(&vars, escape_localpart).unwrap(), s);
        }
    }
}
