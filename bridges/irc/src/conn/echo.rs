//! Confirming a Matrix message by its echo (IRCv3 `echo-message`): the server sends every
//! PRIVMSG/NOTICE/TAGMSG we send back to us, with its `msgid`, once it accepted it, so no PING
//! round trip is needed and the message gets the ID the IRC side will reply and react to.
//! Without the capability, [`Conn::queue_message`] falls back to [`Conn::queue_confirmed`].

use std::time::Duration;

use irc::proto::{Command, Message};

use super::{Conn, Matcher, Step, failure_about};
use crate::ids::fold;
use crate::numerics::IrcFailure;

/// The command and target of a line we may see echoed.
fn echoed(msg: &Message) -> Option<(&str, &str)> {
    match &msg.command {
        Command::PRIVMSG(t, _) => Some(("PRIVMSG", t)),
        Command::NOTICE(t, _) => Some(("NOTICE", t)),
        Command::Raw(cmd, params) if cmd.eq_ignore_ascii_case("TAGMSG") => {
            Some(("TAGMSG", params.first()?))
        }
        _ => None,
    }
}

/// The command of a line we send (after its tags), upper-cased.
fn command_of(line: &str) -> String {
    let bare = match line.strip_prefix('@') {
        Some(tagged) => tagged.split_once(' ').map_or("", |(_, rest)| rest),
        None => line,
    };
    bare.split(' ')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase()
}

/// Waits for an answer about `folded_target` to each of our lines (their `commands`, in
/// order): its echo, or an error numeric; the first error is the verdict. An echo of another
/// command (the TAGMSG of a typing notification sent just before) is not one of ours.
pub(super) fn echo_matcher(folded_target: String, commands: Vec<String>) -> Matcher {
    let expected = commands.len().max(1);
    let mut answered = 0usize;
    let mut failed: Option<IrcFailure> = None;
    Box::new(move |msg, me| {
        let from_me = msg.source_nickname().is_some_and(|n| fold(n) == fold(me));
        let wanted = commands.get(answered).map(String::as_str);
        let echo = from_me
            && echoed(msg).is_some_and(|(cmd, t)| Some(cmd) == wanted && fold(t) == folded_target);
        if !echo {
            match IrcFailure::from_message(msg) {
                Some(f) if failure_about(&f, &folded_target) => {
                    failed.get_or_insert(f);
                }
                _ => return Step::Ignore,
            }
        }
        answered += 1;
        if answered < expected {
            return Step::Collect;
        }
        match failed.take() {
            Some(f) => Step::Fail(f),
            None => Step::Done,
        }
    })
}

impl Conn {
    /// Queues a Matrix message's lines (PRIVMSG/NOTICE/TAGMSG to `target`) and returns the
    /// wait for the server's verdict, with the `msgid` of the first line when the server gave
    /// one. With `echo-message` the echoes are the confirmation; without, a PING is (see
    /// [`Conn::queue_confirmed`]).
    pub fn queue_message(
        &self,
        target: &str,
        lines: Vec<String>,
        timeout: Duration,
    ) -> impl std::future::Future<Output = Result<Option<String>, IrcFailure>> + Send + 'static
    {
        let echoed = self.has_cap("echo-message");
        let wait: std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>> = if echoed {
            let commands = lines.iter().map(|l| command_of(l)).collect();
            let matcher = echo_matcher(fold(target), commands);
            Box::pin(self.enqueue(lines, matcher, timeout, true))
        } else {
            let confirmed = self.queue_confirmed(target, lines, timeout);
            Box::pin(async move { confirmed.await.map(|()| Vec::new()) })
        };
        let target = target.to_owned();
        async move {
            let answers = wait.await.map_err(|e| match e {
                IrcFailure::NotConnected { .. } => IrcFailure::NotConnected { target },
                IrcFailure::BackedUp { lines, .. } => IrcFailure::BackedUp { target, lines },
                other => other,
            })?;
            Ok(answers
                .iter()
                .find_map(|m| crate::tags::msgid(m).map(str::to_owned)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::parse_str;

    fn commands(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|l| command_of(l)).collect()
    }

    fn step(m: &mut Matcher, line: &str) -> Step {
        m(&parse_str(line).unwrap(), "Me")
    }

    #[test]
    fn every_line_is_answered_by_its_echo() {
        let mut m = echo_matcher(
            "#chan".into(),
            commands(&["PRIVMSG #chan :one", "@+draft/reply=x PRIVMSG #chan :two"]),
        );
        assert_eq!(
            step(&mut m, ":bob!b@h PRIVMSG #chan :not ours"),
            Step::Ignore
        );
        assert_eq!(
            step(&mut m, "@+typing=active :me!u@h TAGMSG #chan"),
            Step::Ignore,
            "the echo of a typing notification sent before"
        );
        assert_eq!(
            step(&mut m, ":me!u@h PRIVMSG #other :elsewhere"),
            Step::Ignore
        );
        assert_eq!(
            step(&mut m, "@msgid=1 :me!u@h PRIVMSG #Chan :one"),
            Step::Collect
        );
        assert_eq!(
            step(&mut m, "@msgid=2 :Me!u@h PRIVMSG #chan :two"),
            Step::Done
        );
    }

    #[test]
    fn an_error_numeric_answers_a_line_and_is_the_verdict() {
        let mut m = echo_matcher(
            "#chan".into(),
            commands(&["NOTICE #chan :a", "NOTICE #chan :b"]),
        );
        assert_eq!(
            step(&mut m, ":irc.test 404 Me #chan :Cannot send to channel"),
            Step::Collect
        );
        assert!(matches!(
            step(&mut m, ":irc.test 404 Me #chan :Cannot send to channel"),
            Step::Fail(IrcFailure::CannotSendToChannel { .. })
        ));
        let mut m = echo_matcher("bob".into(), commands(&["PRIVMSG bob :hi"]));
        assert!(matches!(
            step(&mut m, ":irc.test 401 Me bob :No such nick"),
            Step::Fail(IrcFailure::NoSuchNick { .. })
        ));
    }

    #[test]
    fn tagmsg_echoes_count() {
        let mut m = echo_matcher("#chan".into(), commands(&["@+draft/react=x TAGMSG #chan"]));
        assert_eq!(step(&mut m, ":me!u@h PRIVMSG #chan :x"), Step::Ignore);
        assert_eq!(
            step(&mut m, "@+draft/react=x;msgid=9 :me!u@h TAGMSG #chan"),
            Step::Done
        );
    }
}
