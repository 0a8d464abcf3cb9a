//! IRCv3 capability negotiation (`CAP LS 302`): which of the capabilities the bridge uses the
//! server offers, what it acknowledged, and when registration may end (`CAP END`). A pure state
//! machine fed with parsed `CAP` lines, so every odd server reply is a unit test; a server
//! without `CAP` never answers and the connection registers as before.

use std::collections::{BTreeMap, BTreeSet};

use irc::proto::{Command, Message};

/// The capabilities the listening bot uses when offered (`sasl` is asked for separately, only
/// when the connection authenticates with it, so a refusal of one does not refuse the others:
/// a `CAP REQ` is all or nothing).
pub const WANTED: &[&str] = &[
    "message-tags",
    "server-time",
    "echo-message",
    "account-notify",
    "extended-join",
    "away-notify",
    "account-tag",
    // A channel's recent lines for backfill (the answer comes as a batch).
    "batch",
    crate::chathistory::CAP,
];

/// What a puppet asks for: what its own messages, replies, reactions and typing use.
pub const PUPPET_WANTED: &[&str] = &["message-tags", "server-time", "echo-message"];

/// A `CAP` reply from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CapReply {
    /// `LS` (or `LIST`): capabilities with their values; `more` when another line follows.
    Ls {
        more: bool,
        caps: Vec<(String, Option<String>)>,
    },
    Ack(Vec<String>),
    Nak(Vec<String>),
    New(Vec<(String, Option<String>)>),
    Del(Vec<String>),
}

/// Why a `CAP` line could not be understood.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CapError {
    #[error("CAP line without a subcommand: {0:?}")]
    NoSubcommand(String),
    #[error("CAP line with an unknown subcommand {sub:?}: {line:?}")]
    UnknownSubcommand { sub: String, line: String },
    #[error("CAP {sub} line without a capability list: {line:?}")]
    NoList { sub: String, line: String },
}

/// The parameters of a `CAP` line as sent (`<target> <subcommand> [*] :<list>`), whatever
/// irc-proto made of them: it guesses the subcommand's position and gets it wrong for a nick
/// like `ls` or `new`, but keeps the parameters in order.
fn cap_params(msg: &Message) -> Option<Vec<String>> {
    match &msg.command {
        Command::CAP(target, sub, a, b) => {
            let mut params: Vec<String> = target.iter().cloned().collect();
            params.push(sub.to_str().to_owned());
            params.extend(a.iter().cloned());
            params.extend(b.iter().cloned());
            Some(params)
        }
        Command::Raw(cmd, params) if cmd.eq_ignore_ascii_case("CAP") => Some(params.clone()),
        _ => None,
    }
}

fn split_caps(list: &str) -> Vec<(String, Option<String>)> {
    list.split(' ')
        .filter(|c| !c.is_empty())
        .map(|c| match c.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (c.to_owned(), None),
        })
        .collect()
}

fn names(list: &str) -> Vec<String> {
    split_caps(list).into_iter().map(|(n, _)| n).collect()
}

/// Parses a `CAP` reply; `None` when the line is not `CAP` at all.
pub fn parse(msg: &Message) -> Option<Result<CapReply, CapError>> {
    let params = cap_params(msg)?;
    let line = || params.join(" ");
    // The first parameter is our nick (or `*`); the second the subcommand.
    let Some(sub) = params.get(1) else {
        return Some(Err(CapError::NoSubcommand(line())));
    };
    let sub = sub.to_ascii_uppercase();
    let rest = &params[2..];
    let no_list = || CapError::NoList {
        sub: sub.clone(),
        line: line(),
    };
    Some(match sub.as_str() {
        "LS" | "LIST" => match rest {
            [list] => Ok(CapReply::Ls {
                more: false,
                caps: split_caps(list),
            }),
            [star, list] if star == "*" => Ok(CapReply::Ls {
                more: true,
                caps: split_caps(list),
            }),
            _ => Err(no_list()),
        },
        "ACK" | "NAK" | "NEW" | "DEL" => match rest.last() {
            None => Err(no_list()),
            Some(list) => Ok(match sub.as_str() {
                "ACK" => CapReply::Ack(names(list)),
                "NAK" => CapReply::Nak(names(list)),
                "NEW" => CapReply::New(split_caps(list)),
                _ => CapReply::Del(names(list)),
            }),
        },
        other => Err(CapError::UnknownSubcommand {
            sub: other.to_owned(),
            line: line(),
        }),
    })
}

/// What the session does after a negotiation step.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Steps {
    /// Lines to send, in order.
    pub lines: Vec<String>,
    /// Start SASL with this mechanism (`AUTHENTICATE <mechanism>`).
    pub authenticate: Option<&'static str>,
    /// The server will not do SASL (not offered, or refused): tell the user, as before.
    pub sasl_refused: bool,
    /// The acknowledged set changed: publish it.
    pub changed: bool,
}

/// One connection's negotiation, from `CAP LS 302` to `CAP END` and on (`CAP NEW`/`DEL`).
#[derive(Debug)]
pub struct Negotiation {
    /// The SASL mechanism, when the connection authenticates with SASL.
    sasl: Option<&'static str>,
    /// What to ask for when offered.
    wanted: &'static [&'static str],
    offered: BTreeMap<String, Option<String>>,
    ls_done: bool,
    /// `CAP REQ`s not answered yet.
    awaiting: usize,
    /// The `AUTHENTICATE` exchange is running.
    sasl_busy: bool,
    /// `CAP END` was sent (or is not needed any more).
    ended: bool,
    acked: BTreeSet<String>,
}

impl Negotiation {
    pub fn new(sasl: Option<&'static str>, wanted: &'static [&'static str]) -> Self {
        Self {
            sasl,
            wanted,
            offered: BTreeMap::new(),
            ls_done: false,
            awaiting: 0,
            sasl_busy: false,
            ended: false,
            acked: BTreeSet::new(),
        }
    }

    /// The first line of registration.
    pub fn start() -> &'static str {
        "CAP LS 302"
    }

    /// The capabilities the server acknowledged.
    pub fn acked(&self) -> &BTreeSet<String> {
        &self.acked
    }

    /// Applies a reply from the server.
    pub fn on_reply(&mut self, reply: CapReply) -> Steps {
        let mut steps = Steps::default();
        match reply {
            CapReply::Ls { more, caps } => {
                self.keep_offered(caps);
                if !more && !self.ls_done {
                    self.ls_done = true;
                    if let Some(mech) = self.sasl {
                        if self.offered.contains_key("sasl") {
                            steps.lines.push("CAP REQ :sasl".into());
                            self.awaiting += 1;
                        } else {
                            tracing::info!(
                                mechanism = mech,
                                "the IRC server offers no SASL; registering without it"
                            );
                            steps.sasl_refused = true;
                        }
                    }
                    self.request_wanted(&mut steps);
                }
            }
            CapReply::Ack(caps) => {
                self.awaiting = self.awaiting.saturating_sub(1);
                for cap in caps {
                    if let Some(off) = cap.strip_prefix('-') {
                        self.acked.remove(off);
                    } else {
                        if cap == "sasl"
                            && !self.ended
                            && !self.sasl_busy
                            && let Some(mech) = self.sasl
                        {
                            self.sasl_busy = true;
                            steps.authenticate = Some(mech);
                        }
                        self.acked.insert(cap);
                    }
                }
                steps.changed = true;
            }
            CapReply::Nak(caps) => {
                self.awaiting = self.awaiting.saturating_sub(1);
                if caps.iter().any(|c| c == "sasl") && self.sasl.is_some() {
                    steps.sasl_refused = true;
                }
                tracing::info!(?caps, "the IRC server refused capabilities");
            }
            CapReply::New(caps) => {
                self.keep_offered(caps);
                self.request_wanted(&mut steps);
            }
            CapReply::Del(caps) => {
                for cap in caps {
                    self.offered.remove(&cap);
                    steps.changed |= self.acked.remove(&cap);
                }
            }
        }
        self.maybe_end(&mut steps);
        steps
    }

    /// A `CAP` line that could not be understood: during registration, end the negotiation
    /// with what is acknowledged so far (a broken reply must not stall registration until
    /// its timeout); afterwards there is nothing to do.
    pub fn on_malformed(&mut self) -> Steps {
        let mut steps = Steps::default();
        self.ls_done = true;
        self.awaiting = 0;
        self.maybe_end(&mut steps);
        steps
    }

    /// The server does not know `CAP` (421) or refused a subcommand (410): registration goes
    /// on without capabilities. `CAP END` is still sent for 410 (the server knows `CAP` and
    /// waits for it), not for 421.
    pub fn on_unsupported(&mut self, unknown_command: bool) -> Steps {
        if unknown_command {
            self.ended = true;
            return Steps::default();
        }
        self.on_malformed()
    }

    /// The SASL exchange ended (903 success, 902/904/905/906/907 failure).
    pub fn on_sasl_done(&mut self) -> Steps {
        let mut steps = Steps::default();
        self.sasl_busy = false;
        self.maybe_end(&mut steps);
        steps
    }

    /// A socket taken over registered (from the connection pool), with what its server
    /// acknowledged then: nothing to negotiate.
    pub fn resumed(&mut self, acked: BTreeSet<String>) {
        self.acked = acked;
        self.ended = true;
        self.ls_done = true;
        self.sasl_busy = false;
    }

    /// Registration completed (001): nothing is pending any more.
    pub fn on_registered(&mut self) {
        self.ended = true;
        self.sasl_busy = false;
    }

    /// Remembers the offered capabilities we might ask for (only those: a connection lives
    /// long, and a thousand puppets need not each keep the server's whole list).
    fn keep_offered(&mut self, caps: Vec<(String, Option<String>)>) {
        let wanted = self.wanted;
        self.offered.extend(
            caps.into_iter()
                .filter(|(name, _)| name == "sasl" || wanted.contains(&name.as_str())),
        );
    }

    /// Asks for the wanted capabilities that are offered and not yet acknowledged.
    fn request_wanted(&mut self, steps: &mut Steps) {
        let ask: Vec<&str> = self
            .wanted
            .iter()
            .copied()
            .filter(|c| self.offered.contains_key(*c) && !self.acked.contains(*c))
            .collect();
        if !ask.is_empty() {
            steps.lines.push(format!("CAP REQ :{}", ask.join(" ")));
            self.awaiting += 1;
        }
    }

    fn maybe_end(&mut self, steps: &mut Steps) {
        if !self.ended && self.ls_done && self.awaiting == 0 && !self.sasl_busy {
            self.ended = true;
            steps.lines.push("CAP END".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::parse_str;

    fn reply(line: &str) -> Result<CapReply, CapError> {
        parse(&parse_str(line).expect("parses")).expect("a CAP line")
    }

    fn feed(n: &mut Negotiation, line: &str) -> Steps {
        match reply(line) {
            Ok(r) => n.on_reply(r),
            Err(_) => n.on_malformed(),
        }
    }

    #[test]
    fn parses_ls_lines_with_values_and_continuations() {
        assert_eq!(
            reply(":irc.test CAP * LS * :sasl=PLAIN,EXTERNAL message-tags"),
            Ok(CapReply::Ls {
                more: true,
                caps: vec![
                    ("sasl".into(), Some("PLAIN,EXTERNAL".into())),
                    ("message-tags".into(), None)
                ]
            })
        );
        assert_eq!(
            reply(":irc.test CAP nick LS :server-time"),
            Ok(CapReply::Ls {
                more: false,
                caps: vec![("server-time".into(), None)]
            })
        );
        assert_eq!(
            reply(":irc.test CAP * LS :"),
            Ok(CapReply::Ls {
                more: false,
                caps: vec![]
            })
        );
    }

    #[test]
    fn parses_ack_nak_new_del_even_for_nicks_that_look_like_subcommands() {
        assert_eq!(
            reply(":irc.test CAP me ACK :sasl -away-notify"),
            Ok(CapReply::Ack(vec!["sasl".into(), "-away-notify".into()]))
        );
        // irc-proto takes "new" for the subcommand here; the parameters tell the truth.
        assert_eq!(
            reply(":irc.test CAP new ACK :echo-message"),
            Ok(CapReply::Ack(vec!["echo-message".into()]))
        );
        assert_eq!(
            reply(":irc.test CAP ls NAK :sasl"),
            Ok(CapReply::Nak(vec!["sasl".into()]))
        );
        assert_eq!(
            reply(":irc.test CAP me NEW :away-notify=x"),
            Ok(CapReply::New(vec![(
                "away-notify".into(),
                Some("x".into())
            )]))
        );
        assert_eq!(
            reply(":irc.test CAP me DEL :echo-message"),
            Ok(CapReply::Del(vec!["echo-message".into()]))
        );
    }

    #[test]
    fn malformed_cap_lines_are_errors_not_panics() {
        assert!(matches!(
            reply(":irc.test CAP"),
            Err(CapError::NoSubcommand(_))
        ));
        assert!(matches!(
            reply(":irc.test CAP me"),
            Err(CapError::NoSubcommand(_))
        ));
        assert!(matches!(
            reply(":irc.test CAP me FOO :x"),
            Err(CapError::UnknownSubcommand { .. })
        ));
        assert!(matches!(
            reply(":irc.test CAP me LS"),
            Err(CapError::NoList { .. })
        ));
        assert!(matches!(
            reply(":irc.test CAP me LS a b c"),
            Err(CapError::NoList { .. })
        ));
        assert!(matches!(
            reply(":irc.test CAP me ACK"),
            Err(CapError::NoList { .. })
        ));
        assert_eq!(parse(&parse_str("PING :x").unwrap()), None);
    }

    #[test]
    fn requests_what_is_offered_across_lines_then_ends() {
        let mut n = Negotiation::new(None, WANTED);
        let s = feed(
            &mut n,
            ":s CAP * LS * :multi-prefix message-tags server-time",
        );
        assert!(s.lines.is_empty(), "waits for the last LS line");
        let s = feed(&mut n, ":s CAP * LS :echo-message invite-notify");
        assert_eq!(
            s.lines,
            vec!["CAP REQ :message-tags server-time echo-message"]
        );
        let s = feed(
            &mut n,
            ":s CAP me ACK :message-tags server-time echo-message",
        );
        assert_eq!(s.lines, vec!["CAP END"]);
        assert!(s.changed);
        assert!(n.acked().contains("echo-message"));
        // A repeated ACK does not end twice.
        let s = feed(&mut n, ":s CAP me ACK :server-time");
        assert!(s.lines.is_empty());
    }

    #[test]
    fn nothing_wanted_ends_at_once_and_nak_ends_too() {
        let mut n = Negotiation::new(None, WANTED);
        assert_eq!(
            feed(&mut n, ":s CAP * LS :invite-notify").lines,
            vec!["CAP END"]
        );
        let mut n = Negotiation::new(None, WANTED);
        feed(&mut n, ":s CAP * LS :message-tags");
        let s = feed(&mut n, ":s CAP * NAK :message-tags");
        assert_eq!(s.lines, vec!["CAP END"]);
        assert!(n.acked().is_empty());
    }

    #[test]
    fn sasl_is_its_own_request_and_holds_the_end_until_done() {
        let mut n = Negotiation::new(Some("PLAIN"), WANTED);
        let s = feed(&mut n, ":s CAP * LS :sasl=PLAIN message-tags");
        assert_eq!(s.lines, vec!["CAP REQ :sasl", "CAP REQ :message-tags"]);
        let s = feed(&mut n, ":s CAP * ACK :sasl");
        assert_eq!(s.authenticate, Some("PLAIN"));
        assert!(s.lines.is_empty());
        let s = feed(&mut n, ":s CAP * ACK :message-tags");
        assert!(s.lines.is_empty(), "SASL still running");
        assert_eq!(n.on_sasl_done().lines, vec!["CAP END"]);
    }

    #[test]
    fn sasl_not_offered_or_refused_is_reported_and_registration_goes_on() {
        let mut n = Negotiation::new(Some("PLAIN"), WANTED);
        let s = feed(&mut n, ":s CAP * LS :message-tags");
        assert!(s.sasl_refused);
        assert_eq!(s.lines, vec!["CAP REQ :message-tags"]);
        let mut n = Negotiation::new(Some("PLAIN"), WANTED);
        feed(&mut n, ":s CAP * LS :sasl");
        let s = feed(&mut n, ":s CAP * NAK :sasl");
        assert!(s.sasl_refused);
        assert_eq!(s.lines, vec!["CAP END"]);
    }

    #[test]
    fn new_and_del_after_registration() {
        let mut n = Negotiation::new(None, WANTED);
        feed(&mut n, ":s CAP * LS :message-tags");
        feed(&mut n, ":s CAP * ACK :message-tags");
        n.on_registered();
        let s = feed(&mut n, ":s CAP me NEW :echo-message foo");
        assert_eq!(s.lines, vec!["CAP REQ :echo-message"]);
        let s = feed(&mut n, ":s CAP me ACK :echo-message");
        assert!(s.changed);
        assert!(!s.lines.contains(&"CAP END".to_owned()));
        let s = feed(&mut n, ":s CAP me DEL :echo-message");
        assert!(s.changed);
        assert!(!n.acked().contains("echo-message"));
        let s = feed(&mut n, ":s CAP me ACK :-message-tags");
        assert!(n.acked().is_empty() && s.changed);
    }

    #[test]
    fn a_malformed_reply_ends_the_negotiation_instead_of_stalling() {
        let mut n = Negotiation::new(None, WANTED);
        feed(&mut n, ":s CAP * LS * :message-tags");
        let s = feed(&mut n, ":s CAP * LS x y z");
        assert_eq!(s.lines, vec!["CAP END"]);
        // A 421 for CAP: the server does not hold registration; nothing to send.
        let mut n = Negotiation::new(None, WANTED);
        assert_eq!(n.on_unsupported(true), Steps::default());
        let mut n = Negotiation::new(None, WANTED);
        assert_eq!(n.on_unsupported(false).lines, vec!["CAP END"]);
    }
}
