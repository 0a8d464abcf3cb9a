//! Server error numerics and local send failures as user-facing reasons, so a message that did
//! not reach IRC is never dropped silently: the connection routes the notice to the room of
//! [`IrcFailure::target`].

use std::fmt;

use irc::proto::{Command, Message};

/// Something IRC refused or that could not be sent, with what it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IrcFailure {
    /// 404: moderated, banned, or not in a `+n` channel; `detail` is the server's text.
    CannotSendToChannel { channel: String, detail: String },
    /// 471 (+l)
    ChannelIsFull { channel: String },
    /// 473 (+i)
    InviteOnly { channel: String },
    /// 474 (+b)
    BannedFromChannel { channel: String },
    /// 475 (+k)
    BadChannelKey { channel: String },
    /// 477: the channel needs a registered (identified) nick.
    NeedRegisteredNick { channel: String },
    /// 489: the channel needs TLS.
    SecureOnly { channel: String },
    /// 401
    NoSuchNick { nick: String },
    /// 403
    NoSuchChannel { channel: String },
    /// 405
    TooManyChannels { channel: String },
    /// 442
    NotOnChannel { channel: String },
    /// 482
    ChanOpPrivsNeeded { channel: String },
    /// 433
    NickInUse { nick: String },
    /// 432
    ErroneousNick { nick: String },
    /// 436
    NickCollision { nick: String },
    /// 437: nick or channel temporarily unavailable (nick delay, juped).
    Unavailable { name: String },
    /// 902: SASL refused because the account is locked.
    NickLocked,
    /// 904: wrong SASL credentials.
    SaslFailed,
    /// 905
    SaslTooLong,
    /// 906
    SaslAborted,
    /// 904 to SASL EXTERNAL: services know no account with our client certificate.
    CertFpRefused,
    /// 464: wrong server password.
    PasswordMismatch,
    /// 465: K-lined or otherwise banned from the server.
    BannedFromServer { reason: String },
    /// We have no live connection for this target.
    NotConnected { target: String },
    /// The line could not be written (socket error, queue closed …).
    SendFailed { target: String, reason: String },
    /// The connection's flood-paced backlog is at `limits.remote_backlog`: the message was
    /// refused rather than queued behind `lines` others (retrying soon would only add to it).
    BackedUp { target: String, lines: u64 },
}

/// What a failure concerns, so its notice reaches the right room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureTarget<'a> {
    /// A channel's portal room.
    Channel(&'a str),
    /// A private chat with this nick (or, for our own nick, the management room).
    Nick(&'a str),
    /// The connection as a whole: the user's management room.
    Connection,
}

fn chan_or_nick(name: &str) -> FailureTarget<'_> {
    if name.starts_with(['#', '&', '+', '!']) {
        FailureTarget::Channel(name)
    } else {
        FailureTarget::Nick(name)
    }
}

impl IrcFailure {
    /// The channel, nick or connection this failure is about.
    pub fn target(&self) -> FailureTarget<'_> {
        use IrcFailure::*;
        match self {
            CannotSendToChannel { channel, .. }
            | ChannelIsFull { channel }
            | InviteOnly { channel }
            | BannedFromChannel { channel }
            | BadChannelKey { channel }
            | NeedRegisteredNick { channel }
            | SecureOnly { channel }
            | NoSuchChannel { channel }
            | TooManyChannels { channel }
            | NotOnChannel { channel }
            | ChanOpPrivsNeeded { channel } => FailureTarget::Channel(channel),
            NoSuchNick { nick } => chan_or_nick(nick),
            Unavailable { name } => chan_or_nick(name),
            NotConnected { target } | SendFailed { target, .. } | BackedUp { target, .. } => {
                chan_or_nick(target)
            }
            NickInUse { .. } | ErroneousNick { .. } | NickCollision { .. } => {
                FailureTarget::Connection
            }
            NickLocked
            | SaslFailed
            | SaslTooLong
            | SaslAborted
            | CertFpRefused
            | PasswordMismatch
            | BannedFromServer { .. } => FailureTarget::Connection,
        }
    }

    /// Whether registering with another nick (see `nick::alternatives`) may get past this.
    pub fn try_another_nick(&self) -> bool {
        matches!(
            self,
            IrcFailure::NickInUse { .. }
                | IrcFailure::NickCollision { .. }
                | IrcFailure::Unavailable { .. }
        )
    }

    /// The failure an incoming message reports, if it is one of the numerics we explain.
    pub fn from_message(message: &Message) -> Option<Self> {
        match &message.command {
            Command::Response(resp, args) => Self::from_numeric(*resp as u16, args),
            // Numerics irc-proto does not know arrive as raw commands.
            Command::Raw(cmd, args) if cmd.len() == 3 => {
                Self::from_numeric(cmd.parse().ok()?, args)
            }
            _ => None,
        }
    }

    /// The failure for numeric `code` with its arguments (`args[0]` is our own nick).
    pub fn from_numeric(code: u16, args: &[String]) -> Option<Self> {
        let subject = || args.get(1).cloned().unwrap_or_default();
        let text = || args.last().cloned().unwrap_or_default();
        use IrcFailure::*;
        Some(match code {
            401 => NoSuchNick { nick: subject() },
            403 => NoSuchChannel { channel: subject() },
            404 => CannotSendToChannel {
                channel: subject(),
                detail: if args.len() > 2 {
                    text()
                } else {
                    String::new()
                },
            },
            405 => TooManyChannels { channel: subject() },
            432 => ErroneousNick { nick: subject() },
            433 => NickInUse { nick: subject() },
            436 => NickCollision { nick: subject() },
            437 => Unavailable { name: subject() },
            442 => NotOnChannel { channel: subject() },
            464 => PasswordMismatch,
            465 => BannedFromServer {
                reason: if args.len() > 1 {
                    text()
                } else {
                    String::new()
                },
            },
            471 => ChannelIsFull { channel: subject() },
            473 => InviteOnly { channel: subject() },
            474 => BannedFromChannel { channel: subject() },
            475 => BadChannelKey { channel: subject() },
            477 => NeedRegisteredNick { channel: subject() },
            482 => ChanOpPrivsNeeded { channel: subject() },
            489 => SecureOnly { channel: subject() },
            902 => NickLocked,
            904 => SaslFailed,
            905 => SaslTooLong,
            906 => SaslAborted,
            _ => return None,
        })
    }
}

/// Why a 404 happened, from the server's wording (which differs between IRCds).
fn cannot_send_reason(detail: &str) -> &'static str {
    let d = detail.to_ascii_lowercase();
    if d.contains("+m") || d.contains("moderated") {
        "the channel is moderated (+m) and you have no voice"
    } else if d.contains("+n") || d.contains("external") || d.contains("no external") {
        "you are not in the channel and it refuses outside messages (+n)"
    } else if d.contains("ban") || d.contains("+b") {
        "you are banned or quieted in the channel"
    } else if d.contains("+r") || d.contains("regist") || d.contains("identif") {
        "the channel only accepts messages from registered nicks"
    } else if d.contains("+c") || d.contains("colo") {
        "the channel does not allow colours or formatting (+c)"
    } else {
        "the channel refused the message"
    }
}

impl fmt::Display for IrcFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use IrcFailure::*;
        match self {
            CannotSendToChannel { channel, detail } if detail.is_empty() => {
                write!(
                    f,
                    "Could not send to {channel}: {}",
                    cannot_send_reason(detail)
                )
            }
            CannotSendToChannel { channel, detail } => write!(
                f,
                "Could not send to {channel}: {} (server said: {detail})",
                cannot_send_reason(detail)
            ),
            ChannelIsFull { channel } => {
                write!(f, "Cannot join {channel}: the channel is full (+l)")
            }
            InviteOnly { channel } => {
                write!(
                    f,
                    "Cannot join {channel}: it is invite-only (+i); ask for an invite"
                )
            }
            BannedFromChannel { channel } => {
                write!(f, "Cannot join {channel}: you are banned from it (+b)")
            }
            BadChannelKey { channel } => write!(
                f,
                "Cannot join {channel}: it needs a key (+k); use !join {channel} <key>"
            ),
            NeedRegisteredNick { channel } => write!(
                f,
                "Cannot join {channel}: it needs a registered nick; store a password with !storepass and !reconnect"
            ),
            SecureOnly { channel } => {
                write!(
                    f,
                    "Cannot join {channel}: it only admits TLS connections (+z)"
                )
            }
            NoSuchNick { nick } => write!(
                f,
                "{nick} is not on IRC right now (no such nick); the message was not delivered"
            ),
            NoSuchChannel { channel } => write!(f, "{channel} does not exist on the network"),
            TooManyChannels { channel } => {
                write!(
                    f,
                    "Cannot join {channel}: you are in the maximum number of channels"
                )
            }
            NotOnChannel { channel } => write!(f, "You are not in {channel} on IRC"),
            ChanOpPrivsNeeded { channel } => {
                write!(
                    f,
                    "You need to be a channel operator in {channel} to do that"
                )
            }
            NickInUse { nick } => write!(f, "The nick {nick} is already in use"),
            ErroneousNick { nick } => write!(f, "The network does not accept {nick} as a nick"),
            NickCollision { nick } => write!(f, "The nick {nick} collided with another user's"),
            Unavailable { name } => write!(f, "{name} is temporarily unavailable; try again later"),
            NickLocked => write!(f, "Your IRC account is locked; SASL login was refused"),
            SaslFailed => write!(
                f,
                "SASL login failed: check the password stored with !storepass (and !username)"
            ),
            SaslTooLong => write!(f, "SASL login failed: the credentials are too long"),
            SaslAborted => write!(f, "SASL login was aborted"),
            CertFpRefused => write!(
                f,
                "SASL EXTERNAL login failed: no account knows your client certificate; add its \
                 fingerprint (see !certfp) with NickServ CERT ADD, or store a password"
            ),
            PasswordMismatch => write!(f, "The server password is wrong (check !storepass)"),
            BannedFromServer { reason } if reason.is_empty() => {
                write!(f, "You are banned from this IRC network")
            }
            BannedFromServer { reason } => {
                write!(f, "You are banned from this IRC network: {reason}")
            }
            NotConnected { target } => write!(
                f,
                "Not connected to IRC; the message to {target} was not sent (try !reconnect)"
            ),
            SendFailed { target, reason } => {
                write!(f, "The message to {target} could not be sent: {reason}")
            }
            BackedUp { lines, .. } => write!(
                f,
                "IRC is {lines} lines behind; this message was not sent (try again once it has caught up)"
            ),
        }
    }
}

#[cfg(test)]
mod tests;
