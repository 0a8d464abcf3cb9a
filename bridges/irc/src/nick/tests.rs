use std::collections::HashSet;

use proptest::prelude::*;

use super::*;

#[test]
fn clean_nick_keeps_valid_nicks() {
    for n in ["alice", "Bob[m]", "x-y_z", "[away]", "a1", "`^{|}\\"] {
        assert_eq!(clean_nick(n, 30).as_deref(), Ok(n));
    }
}

#[test]
fn clean_nick_fixes_invalid_ones() {
    assert_eq!(clean_nick("Alice Smith", 30).as_deref(), Ok("Alice_Smith"));
    assert_eq!(clean_nick("  a   b  ", 30).as_deref(), Ok("a_b"));
    assert_eq!(clean_nick("Zoë Ærø", 30).as_deref(), Ok("Zoe_AEro"));
    assert_eq!(clean_nick("Straße", 30).as_deref(), Ok("Strasse"));
    assert_eq!(clean_nick("1337", 30).as_deref(), Ok("_1337"));
    assert_eq!(clean_nick("-dash", 30).as_deref(), Ok("_-dash"));
    assert_eq!(clean_nick("a@b.c:d!e", 30).as_deref(), Ok("abcde"));
    assert_eq!(clean_nick("😀bob😀", 30).as_deref(), Ok("bob"));
    assert_eq!(clean_nick("abcdefghij", 4).as_deref(), Ok("abcd"));
}

#[test]
fn clean_nick_errors_when_nothing_is_left() {
    assert_eq!(
        clean_nick("日本語", 30),
        Err(NickError::Empty("日本語".into()))
    );
    assert_eq!(clean_nick("", 30), Err(NickError::Empty(String::new())));
    assert_eq!(clean_nick("   ", 30), Err(NickError::Empty("   ".into())));
    assert_eq!(clean_nick("a", 0), Err(NickError::ZeroLength));
}

#[test]
fn alternatives_stay_within_max_len() {
    let alts: Vec<String> = alternatives("alice", 30).take(3).collect();
    assert_eq!(alts, vec!["alice_", "alice1", "alice2"]);
    let alts: Vec<String> = alternatives("abcdef", 6).take(3).collect();
    assert_eq!(alts, vec!["abcde_", "abcde1", "abcde2"]);
    assert!(alternatives("abcdef", 6).all(|a| a.len() <= 6));
    assert_eq!(alternatives("abcdef", 6).nth(10).as_deref(), Some("abcd10"));
    let unique: HashSet<String> = alternatives("n", 9).collect();
    assert_eq!(unique.len(), 1000);
    assert_eq!(alternatives("a", 1).count(), 0);
}

#[test]
fn nick_template_rendering() {
    let vars = NickTemplateVars {
        displayname: "Alice Smith",
        localpart: "alice",
        mxid: "@alice:example.org",
    };
    assert_eq!(
        render_nick("{displayname}[m]", &vars, 30).as_deref(),
        Ok("Alice_Smith[m]")
    );
    assert_eq!(
        render_nick("{displayname}[m]", &vars, 8).as_deref(),
        Ok("Alice[m]")
    );
    assert_eq!(
        render_nick("M-{localpart}", &vars, 30).as_deref(),
        Ok("M-alice")
    );
    assert_eq!(
        render_nick("{mxid}", &vars, 30).as_deref(),
        Ok("aliceexampleorg")
    );
    let no_dn = NickTemplateVars {
        displayname: "日本",
        ..vars.clone()
    };
    assert_eq!(
        render_nick("{displayname}[m]", &no_dn, 30).as_deref(),
        Ok("alice[m]")
    );
    let nothing = NickTemplateVars {
        displayname: "",
        localpart: "",
        mxid: "",
    };
    assert!(render_nick("{displayname}", &nothing, 30).is_err());
}

#[test]
fn placeholders_render_once() {
    let vals = [("displayname", "{mxid}"), ("mxid", "@a:b")];
    assert_eq!(
        render_placeholders("{displayname}|{mxid}|{x}|{", &vals),
        "{mxid}|@a:b|{x}|{"
    );
    let vars = NickTemplateVars {
        displayname: "{mxid}",
        localpart: "a",
        mxid: "@a:b",
    };
    assert_eq!(
        render_nick("{displayname}[m]", &vars, 30).as_deref(),
        Ok("{mxid}[m]")
    );
    assert_eq!(render_placeholders("é{mxid}ü", &vals), "é@a:bü");
}

#[test]
fn idents_from_localparts() {
    assert_eq!(ident_from_localpart("alice"), "alice");
    assert_eq!(ident_from_localpart("Very.Long_Name123"), "verylongna");
    assert_eq!(ident_from_localpart("_-="), "matrix");
}

#[test]
fn case_mappings() {
    assert_eq!(irc_lowercase("Nick[]\\~", CaseMapping::Rfc1459), "nick{}|^");
    assert_eq!(
        irc_lowercase("Nick[]\\~", CaseMapping::StrictRfc1459),
        "nick{}|~"
    );
    assert_eq!(irc_lowercase("Nick[]\\~", CaseMapping::Ascii), "nick[]\\~");
    assert_eq!(irc_lowercase("ÉTÉ", CaseMapping::Ascii), "ÉtÉ");
    assert_eq!(CaseMapping::from_isupport("ascii"), CaseMapping::Ascii);
    assert_eq!(
        CaseMapping::from_isupport("strict-rfc1459"),
        CaseMapping::StrictRfc1459
    );
    assert_eq!(CaseMapping::from_isupport("rfc7613"), CaseMapping::Rfc1459);
}

#[test]
fn irc_names_compare_case_insensitively() {
    let a = IrcName::new("#Foo[1]", CaseMapping::Rfc1459);
    let b = IrcName::new("#foo{1}", CaseMapping::Rfc1459);
    assert_eq!(a, b);
    assert_eq!(a.as_str(), "#Foo[1]");
    assert_eq!(a.to_string(), "#Foo[1]");
    assert_eq!(a.folded(), "#foo{1}");
    let set: HashSet<IrcName> = [a, b].into_iter().collect();
    assert_eq!(set.len(), 1);
    assert_ne!(
        IrcName::new("[x]", CaseMapping::Ascii),
        IrcName::new("{x}", CaseMapping::Ascii)
    );
}

#[test]
fn channel_validation() {
    assert_eq!(
        validate_channel("#rust").map(|c| c.to_string()),
        Ok("#rust".into())
    );
    assert!(validate_channel("&local").is_ok());
    assert!(validate_channel("#ünïcode").is_ok());
    assert!(matches!(
        validate_channel("rust"),
        Err(ChannelError::BadPrefix(_))
    ));
    assert!(matches!(
        validate_channel(""),
        Err(ChannelError::BadPrefix(_))
    ));
    assert_eq!(validate_channel("#"), Err(ChannelError::Empty));
    assert_eq!(validate_channel("#a b"), Err(ChannelError::ForbiddenChar));
    assert_eq!(validate_channel("#a,b"), Err(ChannelError::ForbiddenChar));
    assert_eq!(validate_channel("#a\x07"), Err(ChannelError::ForbiddenChar));
    assert_eq!(validate_channel("#a:b"), Err(ChannelError::ForbiddenChar));
    assert_eq!(
        validate_channel(&format!("#{}", "x".repeat(200))),
        Err(ChannelError::TooLong)
    );
    assert!(validate_channel_with("+modeless", "#&+!").is_ok());
    assert!(validate_channel("+modeless").is_err());
    let c = validate_channel("#Chan").unwrap();
    assert_eq!(
        c.to_irc_name(CaseMapping::Ascii),
        IrcName::new("#chan", CaseMapping::Ascii)
    );
}

proptest! {
    #[test]
    fn cleaned_nicks_are_valid(s in any::<String>(), max in 1usize..40) {
        if let Ok(n) = clean_nick(&s, max) {
            prop_assert!(!n.is_empty() && n.len() <= max);
            let mut chars = n.chars();
            prop_assert!(nick_char(chars.next().unwrap(), true));
            prop_assert!(chars.all(|c| nick_char(c, false)));
            // Cleaning is idempotent.
            prop_assert_eq!(clean_nick(&n, max), Ok(n.clone()));
        }
    }

    #[test]
    fn rendered_nicks_fit(dn in any::<String>(), lp in "[a-z0-9._=-]{1,20}", max in 4usize..40) {
        let vars = NickTemplateVars { displayname: &dn, localpart: &lp, mxid: "" };
        if let Ok(n) = render_nick("{displayname}[m]", &vars, max) {
            prop_assert!(n.len() <= max);
        }
    }
}
