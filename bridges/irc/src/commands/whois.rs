//! `whois [network] nick|@mxid`: who is behind a nick (or which nick a Matrix user has).

use std::sync::Arc;

use async_trait::async_trait;
use ferrybridge_core::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};
use irc::proto::{Command as IrcCommand, Message};
use ruma::UserId;

use super::{failed, network};
use crate::bridge::IrcBridge;
use crate::conn::{Matcher, Step};
use crate::ids::{fold, split_user};
use crate::net::{CONNECT_WAIT, REQUEST_WAIT};
use crate::numerics::IrcFailure;
use crate::status::NickStatus;

pub struct Whois(pub Arc<IrcBridge>);

const SPEC: CommandSpec = CommandSpec {
    name: "whois",
    aliases: &[],
    section: Section::Info,
    usage: "[network] nick|@user:server",
    summary: "Show who an IRC nick is, or which nick a Matrix user has.",
    level: PermissionLevel::User,
    management_only: false,
};

/// A readable summary of WHOIS replies.
pub fn summarise(nick: &str, replies: &[Message]) -> String {
    let mut lines = Vec::new();
    for m in replies {
        let (code, args): (u16, &[String]) = match &m.command {
            IrcCommand::Response(r, a) => (*r as u16, a),
            IrcCommand::Raw(c, a) => (c.parse().unwrap_or(0), a),
            _ => continue,
        };
        let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
        match code {
            311 => lines.push(format!(
                "{} is {}@{} ({})",
                arg(1),
                arg(2),
                arg(3),
                args.last().map(String::as_str).unwrap_or("")
            )),
            312 => lines.push(format!("connected to {}", arg(2))),
            319 => lines.push(format!(
                "in channels: {}",
                args.last().map(String::as_str).unwrap_or("")
            )),
            330 => lines.push(format!("logged in as {}", arg(2))),
            317 => lines.push(format!("idle for {}s", arg(2))),
            301 => lines.push(format!(
                "away: {}",
                args.last().map(String::as_str).unwrap_or("")
            )),
            _ => {}
        }
    }
    if lines.is_empty() {
        format!("No information about {nick}.")
    } else {
        lines.join("\n")
    }
}

/// What the bridge knows of `nick` (see [`crate::status`]) that the WHOIS replies did not say:
/// an account without a 330, an away message without a 301.
pub fn bridge_knows(status: Option<&NickStatus>, replies: &[Message]) -> Vec<String> {
    let Some(status) = status else {
        return Vec::new();
    };
    let said = |numeric: u16| {
        replies.iter().any(|m| match &m.command {
            IrcCommand::Response(r, _) => *r as u16 == numeric,
            IrcCommand::Raw(c, _) => c.parse() == Ok(numeric),
            _ => false,
        })
    };
    let mut lines = Vec::new();
    if let Some(account) = status.account.as_deref().filter(|_| !said(330)) {
        lines.push(format!(
            "logged in as {account} (as the bridge saw it join or log in)"
        ));
    }
    if let Some(away) = status.away.as_deref().filter(|_| !said(301)) {
        lines.push(format!("away: {away} (as the bridge heard it)"));
    }
    lines
}

#[async_trait]
impl Command for Whois {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(&self, ctx: &CommandContext, args: Vec<String>) -> Result<Reply, CommandError> {
        let (net, rest) = network(&self.0, &args)?;
        let Some(who) = rest.first() else {
            return Err(CommandError::Usage("Whose information?".into()));
        };
        let nick = if who.starts_with('@') {
            let user = UserId::parse(who.as_str()).map_err(|e| failed(format!("{who}: {e}")))?;
            if let Some(remote) = ctx.host.ghosts().remote_of(&user) {
                let (_, n) = split_user(&remote).unwrap_or(("", remote.as_str()));
                net.spelled_nick(n)
            } else {
                return Ok(Reply::text(match net.puppet(&user) {
                    Some(c) if c.is_registered() => {
                        format!("{who} is {} on {}.", c.nick(), net.name)
                    }
                    _ => format!("{who} is not connected to {}.", net.name),
                }));
            }
        } else {
            who.clone()
        };
        let conn = match net.puppet(&ctx.sender) {
            Some(c) => c,
            None => net
                .bot
                .get()
                .cloned()
                .ok_or_else(|| failed("not connected to IRC"))?,
        };
        conn.wait_registered(CONNECT_WAIT).await.map_err(failed)?;
        let target = fold(&nick);
        let matcher: Matcher = Box::new(move |m, _| {
            let (code, args): (u16, &[String]) = match &m.command {
                IrcCommand::Response(r, a) => (*r as u16, a),
                IrcCommand::Raw(c, a) if c.len() == 3 => (c.parse().unwrap_or(0), a),
                _ => return Step::Ignore,
            };
            if args.get(1).map(|a| fold(a)) != Some(target.clone()) {
                return Step::Ignore;
            }
            match code {
                318 => Step::Done,
                401 => Step::Fail(IrcFailure::NoSuchNick {
                    nick: args[1].clone(),
                }),
                301 | 307 | 311 | 312 | 313 | 317 | 319 | 320 | 330 | 338 | 378 | 379 | 671 => {
                    Step::Collect
                }
                _ => Step::Ignore,
            }
        });
        let replies = conn
            .request(vec![format!("WHOIS {nick}")], matcher, REQUEST_WAIT)
            .await
            .map_err(|e| match e {
                IrcFailure::NoSuchNick { nick } => {
                    failed(format!("{nick} is not on {} right now.", net.name))
                }
                other => failed(other),
            })?;
        let mut text = summarise(&nick, &replies);
        for line in bridge_knows(crate::status::of(&net, &nick).as_ref(), &replies) {
            text.push('\n');
            text.push_str(&line);
        }
        if let Some(owner) = net.puppet_owner(&nick) {
            text.push_str(&format!("\n{nick} is the Matrix user {owner}."));
        }
        Ok(Reply::text(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::parse_str;

    #[test]
    fn the_bridge_adds_only_what_the_server_did_not_say() {
        let status = NickStatus {
            account: Some("bobacct".into()),
            away: Some("lunch".into()),
        };
        let bare = [parse_str(":irc.test 311 me bob b h * :Bob").unwrap()];
        assert_eq!(
            bridge_knows(Some(&status), &bare),
            vec![
                "logged in as bobacct (as the bridge saw it join or log in)".to_owned(),
                "away: lunch (as the bridge heard it)".to_owned()
            ]
        );
        let full = [
            parse_str(":irc.test 330 me bob bobacct :is logged in as").unwrap(),
            parse_str(":irc.test 301 me bob :lunch").unwrap(),
        ];
        assert!(bridge_knows(Some(&status), &full).is_empty());
        assert!(bridge_knows(None, &bare).is_empty());
    }
}
