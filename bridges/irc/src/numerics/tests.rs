use super::*;

fn from_line(line: &str) -> Option<IrcFailure> {
    IrcFailure::from_message(&line.parse::<Message>().unwrap())
}

#[test]
fn cannot_send_reasons() {
    let f = from_line(":srv 404 me #chan :Cannot send to channel (+m)\r\n").unwrap();
    assert_eq!(f.target(), FailureTarget::Channel("#chan"));
    assert!(f.to_string().contains("moderated"), "{f}");
    assert!(f.to_string().contains("server said"), "{f}");
    let f = from_line(":srv 404 me #c :You cannot send external messages to this channel whilst the +n (noextmsg) mode is set.").unwrap();
    assert!(f.to_string().contains("(+n)"), "{f}");
    let f = from_line(":srv 404 me #c :Cannot send to channel (you're banned)").unwrap();
    assert!(f.to_string().contains("banned"), "{f}");
    let f = IrcFailure::from_numeric(404, &["me".into(), "#c".into()]).unwrap();
    assert_eq!(
        f.to_string(),
        "Could not send to #c: the channel refused the message"
    );
}

#[test]
fn join_failures_target_the_channel() {
    for (code, word) in [
        (471, "full"),
        (473, "invite-only"),
        (474, "banned"),
        (475, "key"),
        (477, "registered"),
        (405, "maximum"),
        (403, "does not exist"),
        (442, "not in"),
        (482, "operator"),
        (489, "TLS"),
    ] {
        let f = from_line(&format!(":srv {code} me #chan :whatever")).unwrap();
        assert_eq!(f.target(), FailureTarget::Channel("#chan"), "{code}");
        assert!(f.to_string().contains(word), "{code}: {f}");
        assert!(!f.try_another_nick());
    }
}

#[test]
fn nick_failures() {
    let f = from_line(":srv 401 me bob :No such nick/channel").unwrap();
    assert_eq!(f, IrcFailure::NoSuchNick { nick: "bob".into() });
    assert_eq!(f.target(), FailureTarget::Nick("bob"));
    let f = from_line(":srv 401 me #gone :No such nick/channel").unwrap();
    assert_eq!(f.target(), FailureTarget::Channel("#gone"));
    for code in [433, 436, 437] {
        let f = from_line(&format!(":srv {code} * alice :Nickname is already in use")).unwrap();
        assert!(f.try_another_nick(), "{code}");
    }
    let f = from_line(":srv 432 * 1bad :Erroneous nickname").unwrap();
    assert_eq!(f.target(), FailureTarget::Connection);
    assert!(!f.try_another_nick());
}

#[test]
fn auth_failures_target_the_connection() {
    for code in [902, 904, 905, 906, 464, 465] {
        let f = from_line(&format!(":srv {code} me :nope")).unwrap();
        assert_eq!(f.target(), FailureTarget::Connection, "{code}");
    }
    assert_eq!(
        from_line(":srv 465 me :K-lined: spam").unwrap().to_string(),
        "You are banned from this IRC network: K-lined: spam"
    );
    assert!(
        from_line(":srv 904 me :SASL authentication failed")
            .unwrap()
            .to_string()
            .contains("!storepass")
    );
}

#[test]
fn other_messages_are_not_failures() {
    assert_eq!(from_line(":srv 001 me :Welcome"), None);
    assert_eq!(from_line(":a!b@c PRIVMSG #x :hi"), None);
    assert_eq!(from_line("PING :x"), None);
    assert_eq!(from_line(":srv 999 me :unknown"), None);
    // Missing arguments do not panic.
    assert_eq!(
        IrcFailure::from_numeric(471, &[]),
        Some(IrcFailure::ChannelIsFull {
            channel: String::new()
        })
    );
}

#[test]
fn local_failures() {
    let f = IrcFailure::NotConnected {
        target: "#c".into(),
    };
    assert_eq!(f.target(), FailureTarget::Channel("#c"));
    assert!(f.to_string().contains("!reconnect"));
    let f = IrcFailure::SendFailed {
        target: "bob".into(),
        reason: "connection reset".into(),
    };
    assert_eq!(f.target(), FailureTarget::Nick("bob"));
    assert_eq!(
        f.to_string(),
        "The message to bob could not be sent: connection reset"
    );
}

#[test]
fn backed_up_targets_the_chat_and_names_the_backlog() {
    let f = IrcFailure::BackedUp {
        target: "#c".into(),
        lines: 2000,
    };
    assert_eq!(f.target(), FailureTarget::Channel("#c"));
    assert!(
        f.to_string()
            .starts_with("IRC is 2000 lines behind; this message was not sent"),
        "{f}"
    );
}
