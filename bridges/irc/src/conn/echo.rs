//! Confirming a Matrix message by its echo (IRCv3 `echo-message`): the server sends every
//! PRIVMSG/NOTICE/TAGMSG we send back to us, with its `msgid`, once it accepted it, so no PING
//! round trip is needed and the message gets the ID the IRC side will reply and react to.
//! Without the capability, [`Conn::queue_message`] falls back to [`Conn::queue_confirmed`].

use std::time::Duration;

use irc::proto::{Command, Message};

use super::{Conn, Matcher, Step, failure_about};
use crate::ids::fold;
use crate::numerics::IrcFailure;

/// The target of a line we may see echoed.
fn echo_target(msg: &Message) -> Option<&str> {
    match &msg.command {
        Command::PRIVMSG(t, _) | Command::NOTICE(t, _) => Some(t),
        Command::Raw(cmd, params) if cmd.eq_ignore_ascii_case("TAGMSG") => {
            params.first().map(String::as_str)
        }
        _ => None,
    }
}

/// Waits for `expected` answers about `folded_target`: echoes of our lines or error numerics
/// (each line gets one or the other); the first error is the verdict.
pub(super) fn echo_matcher(folded_target: String, expected: usize) -> Matcher {
    let mut answered = 0usize;
    let mut failed: Option<IrcFailure> = None;
    Box::new(move |msg, me| {
        let from_me = msg.source_nickname().is_some_and(|n| fold(n) == fold(me));
        let echo = from_me && echo_target(msg).is_some_and(|t| fold(t) == folded_target);
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
            let matcher = echo_matcher(fold(target), lines.len().max(1));
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

    fn step(m: &mut Matcher, line: &str) -> Step {
        m(&parse_str(line).unwrap(), "Me")
    }

    #[test]
    fn every_line_is_answered_by_its_echo() {
        let mut m = echo_matcher("#chan".into(), 2);
        assert_eq!(
            step(&mut m, ":bob!b@h PRIVMSG #chan :not ours"),
            Step::Ignore
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
        let mut m = echo_matcher("#chan".into(), 2);
        assert_eq!(
            step(&mut m, ":irc.test 404 Me #chan :Cannot send to channel"),
            Step::Collect
        );
        assert!(matches!(
            step(&mut m, ":irc.test 404 Me #chan :Cannot send to channel"),
            Step::Fail(IrcFailure::CannotSendToChannel { .. })
        ));
        let mut m = echo_matcher("bob".into(), 1);
        assert!(matches!(
            step(&mut m, ":irc.test 401 Me bob :No such nick"),
            Step::Fail(IrcFailure::NoSuchNick { .. })
        ));
    }

    #[test]
    fn tagmsg_echoes_count() {
        let mut m = echo_matcher("#chan".into(), 1);
        assert_eq!(
            step(&mut m, "@+draft/react=x;msgid=9 :me!u@h TAGMSG #chan"),
            Step::Done
        );
    }
}
