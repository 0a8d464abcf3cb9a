//! A channel's recent lines for the core's backfill, through IRCv3 `draft/chathistory` on the
//! bot's connection: `CHATHISTORY LATEST <channel> * <n>` for a new portal, or
//! `CHATHISTORY LATEST <channel> msgid=<id>|timestamp=<t> <n>` for what came after the newest
//! line the portal holds. The server answers with one `chathistory` batch; its lines are
//! taken by the request's matcher, so they never reach the live relay. Servers that do not
//! offer the capability (InspIRCd 3, for one) give no history, and nothing else changes.
//!
//! The same history answers the one question a crash leaves open: a Matrix message replayed
//! from the inbox may have gone out just before the bridge died (IRC has no ID to dedupe by).
//! [`already_said`] looks for the puppet's own line after the message's time and, found, the
//! message is not said twice. Without the capability it is said again (at least once).

use irc::proto::{BatchSubCommand, Command, Message};

use ferrybridge_core::bridge::{BackfillAnchor, BackfillRequest};
use ferrybridge_core::events::RemoteEventKind;

use crate::conn::{Matcher, Step};
use crate::ids::fold;
use crate::net::{CONNECT_WAIT, IrcNetwork, REQUEST_WAIT};
use crate::numerics::IrcFailure;

/// The capability; `batch` comes with it (the answer is a batch).
pub const CAP: &str = "draft/chathistory";

/// The `CHATHISTORY` line for `channel`: the newest `limit` lines, after `after` if given.
pub fn request_line(channel: &str, after: Option<&BackfillAnchor>, limit: usize) -> String {
    let bound = match after {
        Some(anchor) => match crate::tags::msgid_of(&anchor.id) {
            Some(msgid) => format!("msgid={msgid}"),
            None => format!(
                "timestamp={}",
                crate::tags::format_time(anchor.at.get().into())
            ),
        },
        None => "*".to_owned(),
    };
    format!("CHATHISTORY LATEST {channel} {bound} {limit}")
}

/// How far before a Matrix message's time its IRC line is looked for: the homeserver's and the
/// IRC server's clocks may differ a little.
const CLOCK_SLACK_MS: u64 = 10_000;

/// `CHATHISTORY AFTER <channel> timestamp=<since> <limit>`: the oldest lines after `since`,
/// where a line sent for a message of that time is.
pub fn after_line(channel: &str, since_ms: u64, limit: usize) -> String {
    format!(
        "CHATHISTORY AFTER {channel} timestamp={} {limit}",
        crate::tags::format_time(since_ms)
    )
}

/// Whether `answer` holds `first` (a line we would send: PRIVMSG or NOTICE, maybe tagged) as
/// said by `nick` in its channel. `Some` with the line's `msgid` when the server gave one.
pub fn said_in(answer: &[Message], nick: &str, first: &str) -> Option<Option<String>> {
    let ours: Message = first.parse().ok()?;
    let (target, text) = line_text(&ours)?;
    let (nick, target) = (fold(nick), fold(target));
    answer.iter().find_map(|msg| {
        let (t, said) = line_text(msg)?;
        let by_us = msg.source_nickname().is_some_and(|n| fold(n) == nick);
        (by_us && fold(t) == target && said == text)
            .then(|| crate::tags::msgid(msg).map(str::to_owned))
    })
}

/// The target and text of a PRIVMSG or NOTICE, with the kind kept apart (an ACTION is a
/// PRIVMSG whose text says so).
fn line_text(msg: &Message) -> Option<(&str, (bool, &str))> {
    match &msg.command {
        Command::PRIVMSG(t, text) => Some((t, (false, text))),
        Command::NOTICE(t, text) => Some((t, (true, text))),
        _ => None,
    }
}

/// For a message replayed after a crash (`sent_at`: its Matrix time): whether `nick` already
/// said `first` in `channel`, by the channel's history, which the bot asks for (puppets do not
/// take the capability). `None` when it did not, or when the server keeps no history or does
/// not answer (the message is then sent: better twice than never).
pub async fn already_said(
    net: &IrcNetwork,
    nick: &str,
    channel: &str,
    first: &str,
    sent_at: ruma::MilliSecondsSinceUnixEpoch,
) -> Option<Option<String>> {
    let bot = net.bot.get()?;
    bot.wait_registered(CONNECT_WAIT).await.ok()?;
    if !bot.has_cap(CAP) {
        return None;
    }
    net.bot_join(channel).await;
    let since = u64::from(sent_at.get()).saturating_sub(CLOCK_SLACK_MS);
    let limit = match net.chathistory_max() {
        0 => 100,
        max => max.min(100),
    };
    let line = after_line(channel, since, limit);
    match bot
        .request(vec![line], matcher(channel), REQUEST_WAIT)
        .await
    {
        Ok(answer) => said_in(&answer, nick, first),
        Err(e) => {
            tracing::warn!(network = %net.name, %channel, error = %e, "history check of a replayed message failed; sending it");
            None
        }
    }
}

/// Recognises the answer to one `CHATHISTORY` request: the `chathistory` batch for `channel`
/// (its opening, its lines, its end), or a `FAIL CHATHISTORY`.
pub fn matcher(channel: &str) -> Matcher {
    let channel = fold(channel);
    let mut batch: Option<String> = None;
    Box::new(move |msg: &Message, _nick: &str| {
        if let Command::BATCH(reference, kind, args) = &msg.command {
            if let Some(open) = reference.strip_prefix('+') {
                let is_ours = batch.is_none()
                    && kind
                        .as_ref()
                        .is_some_and(|k| batch_kind(k).eq_ignore_ascii_case("chathistory"))
                    && args
                        .as_ref()
                        .and_then(|a| a.first())
                        .is_some_and(|target| fold(target) == channel);
                if is_ours {
                    batch = Some(open.to_owned());
                    return Step::Collect;
                }
            } else if batch.as_deref() == reference.strip_prefix('-') {
                return Step::Done;
            }
            return Step::Ignore;
        }
        if let Some(open) = &batch
            && crate::tags::get(msg, "batch") == Some(open.as_str())
        {
            return Step::Collect;
        }
        if batch.is_none() && is_refusal(msg) {
            let reason = match &msg.command {
                Command::Raw(_, args) => args.last().cloned().unwrap_or_default(),
                _ => String::new(),
            };
            return Step::Fail(IrcFailure::SendFailed {
                target: channel.clone(),
                reason: format!("the server refused the history request: {reason}"),
            });
        }
        Step::Ignore
    })
}

fn batch_kind(kind: &BatchSubCommand) -> &str {
    match kind {
        BatchSubCommand::CUSTOM(name) => name,
        other => other.to_str(),
    }
}

/// `FAIL CHATHISTORY …` (standard replies).
fn is_refusal(msg: &Message) -> bool {
    matches!(&msg.command, Command::Raw(cmd, args)
        if cmd.eq_ignore_ascii_case("FAIL")
            && args.first().is_some_and(|c| c.eq_ignore_ascii_case("CHATHISTORY")))
}

/// The lines of an answer as remote events, oldest first: channel messages and notices from
/// people (not servers, not our own puppets, whose lines the message map holds already).
pub fn events(net: &IrcNetwork, channel: &str, answer: &[Message]) -> Vec<RemoteEventKind> {
    let channel = fold(channel);
    answer
        .iter()
        .filter_map(|msg| {
            let (target, text, notice) = match &msg.command {
                Command::PRIVMSG(t, text) => (t, text, false),
                Command::NOTICE(t, text) => (t, text, true),
                _ => return None,
            };
            let nick = msg.source_nickname()?;
            if fold(target) != channel || nick.contains('.') || net.is_ours(nick) {
                return None;
            }
            let content = crate::relay::text_content(text, notice)?;
            Some(crate::relay::message_event(&net.name, nick, content, msg))
        })
        .collect()
}

/// The history `request` asks for, of `channel` on `net`: empty when the server does not
/// offer chathistory. The bot joins the channel first if it is not in it yet (servers answer
/// only members).
pub async fn fetch(
    net: &IrcNetwork,
    channel: &str,
    request: &BackfillRequest,
) -> Result<Vec<RemoteEventKind>, IrcFailure> {
    let Some(bot) = net.bot.get() else {
        return Ok(Vec::new());
    };
    bot.wait_registered(CONNECT_WAIT).await?;
    if !bot.has_cap(CAP) || request.limit == 0 {
        return Ok(Vec::new());
    }
    net.bot_join(channel).await;
    let limit = request.limit.min(net.chathistory_max());
    let line = request_line(channel, request.after.as_ref(), limit);
    let answer = bot
        .request(vec![line], matcher(channel), REQUEST_WAIT)
        .await?;
    Ok(events(net, channel, &answer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrybridge_core::ids::RemoteMessageId;
    use ruma::{MilliSecondsSinceUnixEpoch, UInt};

    fn parse(line: &str) -> Message {
        line.parse().unwrap()
    }

    #[test]
    fn requests_name_the_newest_or_what_came_after() {
        assert_eq!(
            request_line("#chan", None, 50),
            "CHATHISTORY LATEST #chan * 50"
        );
        let by_msgid = BackfillAnchor {
            id: crate::tags::remote_id("abc"),
            at: MilliSecondsSinceUnixEpoch(UInt::from(0u32)),
        };
        assert_eq!(
            request_line("#chan", Some(&by_msgid), 10),
            "CHATHISTORY LATEST #chan msgid=abc 10"
        );
        let by_time = BackfillAnchor {
            id: RemoteMessageId::new("made-up-id"),
            at: MilliSecondsSinceUnixEpoch(UInt::new(951_825_600_500).unwrap()),
        };
        assert_eq!(
            request_line("#chan", Some(&by_time), 10),
            "CHATHISTORY LATEST #chan timestamp=2000-02-29T12:00:00.500Z 10"
        );
    }

    #[test]
    fn a_replay_check_asks_for_what_came_after_the_message() {
        assert_eq!(
            after_line("#chan", 951_825_600_500, 100),
            "CHATHISTORY AFTER #chan timestamp=2000-02-29T12:00:00.500Z 100"
        );
    }

    #[test]
    fn our_own_line_is_found_by_nick_target_kind_and_text() {
        let answer = [
            parse("@batch=r;msgid=a :Alice!u@h PRIVMSG #chan :hello"),
            parse("@batch=r;msgid=b :me[m]!u@h NOTICE #chan :hello"),
            parse("@batch=r;msgid=c :Me[M]!u@h PRIVMSG #Chan :hello"),
        ];
        assert_eq!(
            said_in(&answer, "me[m]", "PRIVMSG #chan :hello"),
            Some(Some("c".into())),
            "by our nick (case-folded), as a PRIVMSG, not someone else's or a notice"
        );
        assert_eq!(
            said_in(&answer, "me[m]", "@+draft/reply=x PRIVMSG #chan :hello"),
            Some(Some("c".into())),
            "our tags do not matter"
        );
        assert_eq!(said_in(&answer, "me[m]", "PRIVMSG #chan :hello!"), None);
        assert_eq!(said_in(&answer, "other", "PRIVMSG #chan :hello"), None);
        assert_eq!(
            said_in(&answer[1..2], "me[m]", "NOTICE #chan :hello"),
            Some(Some("b".into()))
        );
        let untagged = [parse(":me!u@h PRIVMSG #chan :hi")];
        assert_eq!(
            said_in(&untagged, "me", "PRIVMSG #chan :hi"),
            Some(None),
            "found, without an ID"
        );
        assert_eq!(said_in(&untagged, "me", "not a line \r"), None);
    }

    #[test]
    fn the_batch_is_collected_and_nothing_else() {
        let mut m = matcher("#Chan");
        assert_eq!(m(&parse(":n!u@h PRIVMSG #chan :live"), "bot"), Step::Ignore);
        assert_eq!(
            m(&parse(":s BATCH +x netsplit a.b c.d"), "bot"),
            Step::Ignore,
            "another batch type"
        );
        assert_eq!(
            m(&parse(":s BATCH +r1 chathistory #chan"), "bot"),
            Step::Collect
        );
        assert_eq!(
            m(&parse("@batch=r1;msgid=a :n!u@h PRIVMSG #chan :old"), "bot"),
            Step::Collect
        );
        assert_eq!(
            m(
                &parse("@msgid=b :n!u@h PRIVMSG #chan :live meanwhile"),
                "bot"
            ),
            Step::Ignore,
            "a live line during the batch stays live"
        );
        assert_eq!(m(&parse(":s BATCH -r1"), "bot"), Step::Done);
    }

    #[test]
    fn a_refusal_fails_the_request() {
        let mut m = matcher("#chan");
        let step = m(
            &parse(
                ":s FAIL CHATHISTORY INVALID_TARGET LATEST #chan :Messages could not be retrieved",
            ),
            "bot",
        );
        assert!(matches!(step, Step::Fail(_)), "{step:?}");
    }
}
