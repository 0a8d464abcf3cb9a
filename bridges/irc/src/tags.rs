//! IRCv3 message tags, read and written: `time` (server-time), `msgid`, and the client tags
//! `+draft/reply`, `+draft/react` and `+typing`. Tags are untrusted input: a malformed value
//! is logged and ignored, the line itself is still handled.

use ferrybridge_core::ids::RemoteMessageId;
use irc::proto::Message;
use ruma::MilliSecondsSinceUnixEpoch;
use ruma::UInt;

/// The message a reply or reaction refers to, by its `msgid`.
pub const REPLY: &str = "+draft/reply";
/// A reaction (usually an emoji) to the message in [`REPLY`].
pub const REACT: &str = "+draft/react";
/// Typing notifications: `active`, `paused` or `done`.
pub const TYPING: &str = "+typing";

/// Prefix of the remote message IDs that are server `msgid`s (others are made up by the
/// bridge, `<network>/<ms>-<n>`, or `untracked:<event id>`), so a reply or reaction from
/// Matrix knows whether it can name its target on IRC.
const MSGID_PREFIX: &str = "msgid:";

/// The value of tag `name` (`Some("")` for a tag without a value).
pub fn get<'a>(msg: &'a Message, name: &str) -> Option<&'a str> {
    msg.tags
        .as_ref()?
        .iter()
        .find(|t| t.0 == name)
        .map(|t| t.1.as_deref().unwrap_or(""))
}

/// The server's ID of the message, when it gave a usable one.
pub fn msgid(msg: &Message) -> Option<&str> {
    get(msg, "msgid").filter(|id| usable_id(id))
}

/// An ID we can store and send back: not empty, bounded, no spaces or control characters.
fn usable_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 256 && !id.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The remote message ID of a server `msgid`.
pub fn remote_id(msgid: &str) -> RemoteMessageId {
    RemoteMessageId::new(format!("{MSGID_PREFIX}{msgid}"))
}

/// The server `msgid` behind a remote message ID, if it is one.
pub fn msgid_of(id: &RemoteMessageId) -> Option<&str> {
    id.as_str()
        .strip_prefix(MSGID_PREFIX)
        .filter(|m| usable_id(m))
}

/// The message this one replies to (`+draft/reply`), as a remote message ID.
pub fn reply_to(msg: &Message) -> Option<RemoteMessageId> {
    get(msg, REPLY).filter(|id| usable_id(id)).map(remote_id)
}

/// When the server says the line was sent (`time`); a malformed stamp is logged and ignored.
pub fn server_time(msg: &Message) -> Option<MilliSecondsSinceUnixEpoch> {
    let raw = get(msg, "time")?;
    match parse_time(raw).and_then(UInt::new) {
        Some(ms) => Some(MilliSecondsSinceUnixEpoch(ms)),
        None => {
            tracing::debug!(time = raw, "ignoring a malformed server-time tag");
            None
        }
    }
}

/// Milliseconds since the Unix epoch of an IRCv3 `time` value
/// (`YYYY-MM-DDThh:mm:ss[.sss]Z`, UTC); `None` if it is anything else or before 1970.
pub fn parse_time(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || !s.is_ascii() || !s.ends_with('Z') {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u64> {
        let part = s.get(from..to)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let seps = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, min, sec) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let frac = &s[19..s.len() - 1];
    let millis = match frac.strip_prefix('.') {
        None if frac.is_empty() => 0,
        Some(digits)
            if !digits.is_empty()
                && digits.len() <= 9
                && digits.bytes().all(|c| c.is_ascii_digit()) =>
        {
            // The first three digits are the milliseconds.
            let padded = format!("{digits:0<3}");
            padded[..3].parse().ok()?
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day)?;
    Some(((days * 24 + hour) * 60 + min) * 60_000 + sec * 1000 + millis)
}

/// The IRCv3 `time` value of milliseconds since the Unix epoch (`YYYY-MM-DDThh:mm:ss.sssZ`),
/// as `CHATHISTORY … timestamp=` wants it.
pub fn format_time(ms: u64) -> String {
    ferrybridge_core::utc::timestamp(ms, true)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm);
/// `None` before 1970.
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    let y = if month <= 2 {
        year.checked_sub(1)?
    } else {
        year
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

/// Escapes a tag value (IRCv3 message-tags: `;`, space, `\`, CR, LF).
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            ';' => out.push_str("\\:"),
            ' ' => out.push_str("\\s"),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\0' => {}
            c => out.push(c),
        }
    }
    out
}

/// `line` with `tags` in front (`@a=b;c=d line`); values are escaped.
pub fn tagged(tags: &[(&str, &str)], line: &str) -> String {
    if tags.is_empty() {
        return line.to_owned();
    }
    let tags: Vec<String> = tags
        .iter()
        .map(|(k, v)| format!("{k}={}", escape(v)))
        .collect();
    format!("@{} {line}", tags.join(";"))
}

/// What a `+typing` value means for Matrix: typing or not; `None` for an unknown value.
pub fn typing(msg: &Message) -> Option<bool> {
    match get(msg, TYPING)? {
        "active" => Some(true),
        "paused" | "done" => Some(false),
        other => {
            tracing::debug!(value = other, "ignoring an unknown +typing value");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::parse_str;

    #[test]
    fn reads_tags_from_a_line() {
        let m = parse_str(
            "@time=2024-01-02T03:04:05.678Z;msgid=abc123;+draft/reply=x\\sy;flag :n!u@h PRIVMSG #c :hi",
        )
        .unwrap();
        assert_eq!(get(&m, "flag"), Some(""));
        assert_eq!(msgid(&m), Some("abc123"));
        // "x y" has a space: not an ID we can send back.
        assert_eq!(reply_to(&m), None);
        assert_eq!(
            server_time(&m),
            Some(MilliSecondsSinceUnixEpoch(
                UInt::new(1_704_164_645_678).unwrap()
            ))
        );
        let plain = parse_str(":n!u@h PRIVMSG #c :hi").unwrap();
        assert_eq!((msgid(&plain), server_time(&plain)), (None, None));
    }

    #[test]
    fn parses_server_time_exactly() {
        assert_eq!(parse_time("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_time("2000-02-29T12:00:00.5Z"), Some(951_825_600_500));
        assert_eq!(
            parse_time("2026-12-06T22:30:00.123456Z"),
            Some(1_796_596_200_123)
        );
    }

    #[test]
    fn formatted_times_parse_back() {
        for ms in [
            0,
            1000,
            951_825_600_500,
            1_796_000_000_123,
            4_102_444_799_999,
        ] {
            let text = format_time(ms);
            assert_eq!(parse_time(&text), Some(ms), "{text}");
        }
        assert_eq!(format_time(951_825_600_500), "2000-02-29T12:00:00.500Z");
    }

    #[test]
    fn malformed_times_are_refused() {
        for bad in [
            "",
            "yesterday",
            "2024-01-02T03:04:05.678",
            "2024-13-02T03:04:05.678Z",
            "2024-01-02T24:04:05Z",
            "2024-01-02 03:04:05.678Z",
            "2024-01-02T03:04:05.Z",
            "2024-01-02T03:04:05.67aZ",
            "1969-12-31T23:59:59.999Z",
            "2024-01-02T03:04:05.1234567890Z",
            "+024-01-02T03:04:05.678Z",
            "2024-01-02T03:04:05,678Z",
            "２０２４-01-02T03:04:05Z",
        ] {
            assert_eq!(parse_time(bad), None, "{bad:?}");
        }
        let m = parse_str("@time=garbage :n!u@h PRIVMSG #c :hi").unwrap();
        assert_eq!(server_time(&m), None);
    }

    #[test]
    fn msgid_remote_ids_round_trip_and_others_are_not_msgids() {
        let id = remote_id("Ab-12_x");
        assert_eq!(msgid_of(&id), Some("Ab-12_x"));
        assert_eq!(msgid_of(&RemoteMessageId::new("libera/1700-1")), None);
        assert_eq!(msgid_of(&RemoteMessageId::new("untracked:$e")), None);
        assert_eq!(msgid_of(&RemoteMessageId::new("msgid:")), None);
    }

    #[test]
    fn writes_escaped_tags() {
        assert_eq!(tagged(&[], "TAGMSG #c"), "TAGMSG #c");
        assert_eq!(
            tagged(&[(REACT, "👍"), (REPLY, "id1")], "TAGMSG #c"),
            "@+draft/react=👍;+draft/reply=id1 TAGMSG #c"
        );
        assert_eq!(escape("a;b c\\d\r\n\0"), "a\\:b\\sc\\\\d\\r\\n");
        // What we write, irc-proto reads back.
        let line = tagged(&[(REACT, "a;b c")], ":n!u@h TAGMSG #c");
        let m = parse_str(&line).unwrap();
        assert_eq!(get(&m, REACT), Some("a;b c"));
    }

    #[test]
    fn typing_values() {
        let t = |v: &str| typing(&parse_str(&format!("@+typing={v} :n!u@h TAGMSG #c")).unwrap());
        assert_eq!(t("active"), Some(true));
        assert_eq!(t("paused"), Some(false));
        assert_eq!(t("done"), Some(false));
        assert_eq!(t("dancing"), None);
    }

    #[test]
    fn odd_tag_sections_never_panic() {
        for line in [
            "@ :n!u@h PRIVMSG #c :x",
            "@;;; :n!u@h PRIVMSG #c :x",
            "@=x;time= :n!u@h PRIVMSG #c :x",
            "@time=\\ :n!u@h PRIVMSG #c :x",
            "@msgid=a\\sb;+draft/reply= :n!u@h TAGMSG #c",
        ] {
            if let Ok(m) = parse_str(line) {
                let _ = (server_time(&m), msgid(&m), reply_to(&m), typing(&m));
            }
        }
    }
}
