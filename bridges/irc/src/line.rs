//! Parsing raw lines from the server without trusting them: bounded length, no panics, and a
//! fallback decoding for the Latin-1 text some old clients still send.

use irc::proto::{Command, Message};

/// Longest line accepted: IRCv3 allows 8191 bytes of tags plus the 512-byte message; we take the
/// tag limit as the whole-line bound, as the brief for this bridge sets.
pub const MAX_LINE_BYTES: usize = 8191;

/// Why a line was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LineError {
    #[error("empty line")]
    Empty,
    #[error("line of {0} bytes exceeds the {MAX_LINE_BYTES}-byte limit")]
    TooLong(usize),
    #[error("line contains a NUL, CR or LF inside it")]
    ControlChar,
    #[error("unparseable line {line:?}: {reason}")]
    Invalid { line: String, reason: String },
}

/// A parsed line and how its bytes were decoded.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedLine {
    pub message: Message,
    /// The bytes were not UTF-8 and were read as Latin-1 (every byte one character).
    pub latin1: bool,
}

/// Whether a raw line is a message, notice or TAGMSG to a channel (`[@tags] :source PRIVMSG #chan :…`).
/// A puppet connection receives one for every line said in its channels and never uses them
/// (the network's bot relays channels), so they are dropped before parsing: with many puppets
/// in a busy channel this is most of the lines the bridge reads.
pub fn is_channel_chatter(raw: &[u8]) -> bool {
    let mut words = raw.split(|&b| b == b' ').filter(|w| !w.is_empty());
    let mut first = words.next();
    if first.is_some_and(|w| w.starts_with(b"@")) {
        first = words.next();
    }
    if !first.is_some_and(|w| w.starts_with(b":")) {
        return false;
    }
    let command = words.next();
    let target = words.next();
    (command == Some(&b"PRIVMSG"[..])
        || command == Some(&b"NOTICE"[..])
        || command == Some(&b"TAGMSG"[..]))
        // InspIRCd sends TAGMSG's target as a trailing parameter (`TAGMSG :#chan`).
        && target
            .map(|t| t.strip_prefix(b":").unwrap_or(t))
            .is_some_and(|t| t.first().is_some_and(|c| b"#&+!".contains(c)))
}

/// The server's greeting after registration that nothing in the bridge reads: host and
/// version (002-004), user counts (250-255, 265, 266) and the message of the day (372, 375,
/// 376, 422). Dropped before parsing: some 30 lines per registration that would otherwise be
/// parsed and queued for the connection's owner, who ignores them (at a reconnect storm's
/// peak they were most of the heap).
pub fn is_server_banner(raw: &[u8]) -> bool {
    const BANNER: &[&[u8]] = &[
        b"002", b"003", b"004", b"250", b"251", b"252", b"253", b"254", b"255", b"265", b"266",
        b"372", b"375", b"376", b"422",
    ];
    BANNER.contains(&command_word(raw))
}

/// The command word of a raw line (after tags and source).
pub fn command_word(raw: &[u8]) -> &[u8] {
    let mut words = raw.split(|&b| b == b' ').filter(|w| !w.is_empty());
    let mut w = words.next().unwrap_or_default();
    if w.starts_with(b"@") {
        w = words.next().unwrap_or_default();
    }
    if w.starts_with(b":") {
        w = words.next().unwrap_or_default();
    }
    w
}

/// Parses one line as read from the socket (with or without its CRLF).
pub fn parse_line(raw: &[u8]) -> Result<ParsedLine, LineError> {
    if raw.len() > MAX_LINE_BYTES {
        return Err(LineError::TooLong(raw.len()));
    }
    let (text, latin1) = match std::str::from_utf8(raw) {
        Ok(s) => (s.to_owned(), false),
        Err(_) => (raw.iter().map(|&b| char::from(b)).collect(), true),
    };
    let message = parse_str(&text)?;
    Ok(ParsedLine { message, latin1 })
}

/// Parses one line of text (with or without its CRLF).
pub fn parse_str(line: &str) -> Result<Message, LineError> {
    if line.len() > MAX_LINE_BYTES {
        return Err(LineError::TooLong(line.len()));
    }
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.contains(['\0', '\r', '\n']) {
        return Err(LineError::ControlChar);
    }
    if line.trim().is_empty() {
        return Err(LineError::Empty);
    }
    // irc-proto has held up to the fuzzing below; the unwind guard keeps a future parser bug
    // from taking the connection task down with it.
    match std::panic::catch_unwind(|| line.parse::<Message>()) {
        // irc-proto reads a lone prefix as an empty raw command.
        Ok(Ok(Message {
            command: Command::Raw(cmd, _),
            ..
        })) if cmd.trim().is_empty() => Err(LineError::Invalid {
            line: line.to_owned(),
            reason: "no command".into(),
        }),
        Ok(Ok(message)) => Ok(message),
        Ok(Err(e)) => Err(LineError::Invalid {
            line: line.to_owned(),
            reason: e.to_string(),
        }),
        Err(_) => Err(LineError::Invalid {
            line: line.to_owned(),
            reason: "the parser failed on this line".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    #[test]
    fn command_word_skips_tags_and_source() {
        assert_eq!(command_word(b"PING :x"), b"PING");
        assert_eq!(command_word(b":srv 001 me :hi"), b"001");
        assert_eq!(command_word(b"@time=1 :a!b@c JOIN #x"), b"JOIN");
        assert_eq!(command_word(b""), b"");
        assert_eq!(command_word(b"@only-tags"), b"");
    }

    #[test]
    fn channel_chatter_is_recognised_without_parsing() {
        assert!(is_channel_chatter(b":bob!b@h PRIVMSG #chan :hi"));
        assert!(is_server_banner(b":irc.test 372 me :- welcome"));
        assert!(is_server_banner(b"@time=x :irc.test 376 me :End of /MOTD"));
        assert!(!is_server_banner(b":irc.test 001 me :Welcome"));
        assert!(!is_server_banner(
            b":irc.test 005 me CHANMODES=b :are supported"
        ));
        assert!(!is_server_banner(b":bob!b@h PRIVMSG me :372"));
        assert!(is_channel_chatter(b"@time=x :bob!b@h NOTICE &local :hi"));
        assert!(is_channel_chatter(b"@+typing=active :bob!b@h TAGMSG #chan"));
        assert!(!is_channel_chatter(b"@+typing=active :bob!b@h TAGMSG me"));
        assert!(is_channel_chatter(b"@+typing=done :bob!b@h TAGMSG :#chan"));
        assert!(!is_channel_chatter(
            b":bob!b@h PRIVMSG me :a private message"
        ));
        assert!(!is_channel_chatter(
            b":irc.localhost 404 me #chan :Cannot send"
        ));
        assert!(!is_channel_chatter(b"PING :x"));
        assert!(!is_channel_chatter(b":bob!b@h PRIVMSG"));
        assert!(!is_channel_chatter(b""));
    }

    #[test]
    fn parses_ordinary_lines() {
        let m = parse_str(":nick!user@host PRIVMSG #chan :hello world\r\n").unwrap();
        assert_eq!(m.source_nickname(), Some("nick"));
        assert_eq!(
            m.command,
            Command::PRIVMSG("#chan".into(), "hello world".into())
        );
        let m = parse_str("@time=2024-01-01T00:00:00Z;msgid=abc :n!u@h PRIVMSG #c :x").unwrap();
        assert!(m.tags.is_some());
        assert!(matches!(
            parse_str("PING :tok").unwrap().command,
            Command::PING(..)
        ));
    }

    #[test]
    fn rejects_bad_lines() {
        assert_eq!(parse_str(""), Err(LineError::Empty));
        assert_eq!(parse_str("\r\n"), Err(LineError::Empty));
        assert_eq!(parse_str("   "), Err(LineError::Empty));
        assert_eq!(parse_str("PRIVMSG #a :x\0y"), Err(LineError::ControlChar));
        assert_eq!(parse_str("PRIVMSG #a :x\ny"), Err(LineError::ControlChar));
        let r = parse_str(":onlyprefix");
        assert!(matches!(r, Err(LineError::Invalid { .. })), "{r:?}");
        let long = format!("PRIVMSG #a :{}", "x".repeat(MAX_LINE_BYTES));
        assert_eq!(parse_str(&long), Err(LineError::TooLong(long.len())));
        assert_eq!(
            parse_line(long.as_bytes()),
            Err(LineError::TooLong(long.len()))
        );
    }

    #[test]
    fn latin1_fallback() {
        let p = parse_line(b":a!b@c PRIVMSG #c :caf\xe9\r\n").unwrap();
        assert!(p.latin1);
        assert_eq!(
            p.message.command,
            Command::PRIVMSG("#c".into(), "café".into())
        );
        let p = parse_line(":a!b@c PRIVMSG #c :café".as_bytes()).unwrap();
        assert!(!p.latin1);
    }

    /// Fixed-seed fuzzing with bytes weighted towards IRC syntax.
    #[test]
    fn random_lines_never_panic() {
        const ALPHABET: &[u8] =
            b" :@!;=#&,\\\r\n\x01\x02\x03abcPRIVMSGNOTICEMODEJOINKICK0123456789+-*";
        let mut rng = StdRng::seed_from_u64(0x1ec);
        for _ in 0..20_000 {
            let len = rng.random_range(0..120);
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.random_bool(0.9) {
                        ALPHABET[rng.random_range(0..ALPHABET.len())]
                    } else {
                        rng.random()
                    }
                })
                .collect();
            if let Ok(p) = parse_line(&bytes) {
                let _ = p.message.to_string();
            }
        }
    }

    #[test]
    fn structured_random_lines_never_panic() {
        let commands = [
            "PRIVMSG",
            "NOTICE",
            "MODE",
            "JOIN",
            "PART",
            "KICK",
            "NICK",
            "QUIT",
            "TOPIC",
            "CAP",
            "AUTHENTICATE",
            "BATCH",
            "CHGHOST",
            "ACCOUNT",
            "AWAY",
            "INVITE",
            "WHO",
            "001",
            "005",
            "353",
            "366",
            "433",
            "904",
            "999",
            "METADATA",
            "TAGMSG",
            "SETNAME",
        ];
        let mut rng = StdRng::seed_from_u64(42);
        for _ in 0..20_000 {
            let mut line = String::new();
            if rng.random_bool(0.3) {
                line.push_str("@a=b\\s;c;=d ");
            }
            if rng.random_bool(0.7) {
                line.push_str(":n!u@h ");
            }
            line.push_str(commands[rng.random_range(0..commands.len())]);
            for _ in 0..rng.random_range(0..6) {
                let args = [
                    "#c",
                    "+o",
                    "-v+b",
                    "x",
                    "*",
                    "",
                    "+",
                    "-",
                    ":trail ing",
                    "LS",
                    "ACK",
                    "+k",
                ];
                line.push(' ');
                line.push_str(args[rng.random_range(0..args.len())]);
            }
            if let Ok(m) = parse_str(&line) {
                let _ = m.to_string();
            }
        }
    }

    proptest! {
        #[test]
        fn any_string_never_panics(s in any::<String>()) {
            if let Ok(m) = parse_str(&s) {
                let _ = m.to_string();
            }
        }

        #[test]
        fn any_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_line(&b);
        }
    }
}
