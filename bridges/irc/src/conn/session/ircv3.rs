//! The session's IRCv3 side: drives the capability [`Negotiation`] from the lines the server
//! sends, publishes what it acknowledged, and keeps the echoes of our own lines
//! (`echo-message`) away from the connection's owner.

use irc::proto::{Command, Message, Response};

use super::super::caps::{self, Negotiation, Steps};
use super::super::{ConnEvent, Shared};
use super::Session;
use crate::ids::fold;
use crate::numerics::IrcFailure;

/// The capabilities a connection asks for: the listening bot wants what tells it who is who
/// (`account-notify`, `extended-join`, `away-notify`); a puppet only what its own messages
/// use, so a thousand puppets are not sent every AWAY and ACCOUNT change.
pub(super) fn negotiation(listener: bool, sasl: Option<&'static str>) -> Negotiation {
    if listener {
        Negotiation::new(sasl, caps::WANTED)
    } else {
        Negotiation::new(sasl, caps::PUPPET_WANTED)
    }
}

/// A new socket starts without capabilities.
pub(super) fn reset(shared: &Shared) {
    shared.lock().caps.clear();
}

impl Session<'_> {
    /// Handles a `CAP` line or a refusal of `CAP` (410, 421); whether the line was one.
    pub(super) fn on_cap_line(&mut self, msg: &Message) -> bool {
        let steps = match &msg.command {
            Command::Response(Response::ERR_UNKNOWNCOMMAND, args)
                if args.get(1).is_some_and(|c| c.eq_ignore_ascii_case("CAP")) =>
            {
                tracing::info!(network = %self.config.network, "the IRC server does not know CAP: no IRCv3");
                self.caps.on_unsupported(true)
            }
            // ERR_INVALIDCAPCMD, which irc-proto does not name.
            Command::Raw(code, _) if code == "410" => {
                tracing::warn!(network = %self.config.network, line = %msg.to_string().trim_end(), "the IRC server refused a CAP command");
                self.caps.on_unsupported(false)
            }
            _ => match caps::parse(msg) {
                None => return false,
                Some(Ok(reply)) => self.caps.on_reply(reply),
                Some(Err(e)) => {
                    tracing::warn!(network = %self.config.network, error = %e, "malformed CAP reply; going on with the capabilities acknowledged so far");
                    self.caps.on_malformed()
                }
            },
        };
        self.apply_caps(steps);
        true
    }

    /// Sends what a negotiation step asks for and publishes the acknowledged set.
    pub(super) fn apply_caps(&mut self, steps: Steps) {
        if let Some(mechanism) = steps.authenticate {
            self.send(format!("AUTHENTICATE {mechanism}"));
        }
        for line in steps.lines {
            self.send(line);
        }
        if steps.sasl_refused {
            self.event(ConnEvent::Failure(IrcFailure::SaslAborted));
        }
        if steps.changed {
            self.shared.lock().caps = self.caps.acked().clone();
        }
    }

    /// Whether `msg` is the server's copy of a line we sent (`echo-message`): a message or
    /// TAGMSG whose source is our own nick. A waiter may take it as a confirmation; nobody
    /// else gets it, so our own lines never come back to Matrix.
    pub(super) fn is_own_echo(&self, msg: &Message, nick: &str) -> bool {
        let is_message = match &msg.command {
            Command::PRIVMSG(..) | Command::NOTICE(..) => true,
            Command::Raw(cmd, _) => cmd.eq_ignore_ascii_case("TAGMSG"),
            _ => false,
        };
        is_message
            && self.caps.acked().contains("echo-message")
            && msg.source_nickname().is_some_and(|n| fold(n) == fold(nick))
    }

    /// Whether a raw channel line (which a puppet drops unparsed) may be the echo of our own
    /// line, which a confirmation waits for: its source is our nick.
    pub(super) fn may_be_own_echo(&self, raw: &[u8]) -> bool {
        if !self.caps.acked().contains("echo-message") {
            return false;
        }
        let mut words = raw.split(|&b| b == b' ').filter(|w| !w.is_empty());
        let mut first = words.next();
        if first.is_some_and(|w| w.starts_with(b"@")) {
            first = words.next();
        }
        let Some(source) = first.and_then(|w| w.strip_prefix(b":")) else {
            return false;
        };
        let nick = source.split(|&b| b == b'!').next().unwrap_or(source);
        same_nick(nick, self.nick.as_bytes())
    }
}

/// Whether two nicks are one under RFC 1459 casemapping (as [`fold`]), without allocating:
/// a puppet asks this for every line said in its channels.
fn same_nick(a: &[u8], b: &[u8]) -> bool {
    fn folded(c: u8) -> u8 {
        match c {
            b'[' => b'{',
            b']' => b'}',
            b'\\' => b'|',
            b'~' => b'^',
            c => c.to_ascii_lowercase(),
        }
    }
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| folded(*x) == folded(*y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_nick_folds_like_fold() {
        assert!(same_nick(b"Dan[1]~", b"dan{1}^"));
        assert!(same_nick(b"ALICE\\", b"alice|"));
        assert!(!same_nick(b"alice", b"alice_"));
        assert!(!same_nick(b"bob", b"rob"));
        for (a, b) in [("Dan[1]", "dan{1}"), ("x", "y"), ("Ünï", "ünï")] {
            assert_eq!(
                same_nick(a.as_bytes(), b.as_bytes()),
                fold(a) == fold(b),
                "{a} {b}"
            );
        }
    }
}
