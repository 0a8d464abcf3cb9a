//! `cmd [network] COMMAND args…`: a raw IRC command through the user's puppet. Uppercase
//! only; commands that would break the connection or impersonate the bridge are refused.

use std::sync::Arc;

use async_trait::async_trait;
use ferrybridge_core::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

use super::{failed, network};
use crate::bridge::IrcBridge;
use crate::net::CONNECT_WAIT;

pub struct Cmd(pub Arc<IrcBridge>);

/// Commands the bridge manages itself (connection, identity) or that are unsafe to relay.
const REFUSED: &[&str] = &[
    "QUIT",
    "PASS",
    "USER",
    "SERVICE",
    "SQUIT",
    "CAP",
    "AUTHENTICATE",
    "NICK",
    "SERVER",
    "PONG",
    "PING",
    "ERROR",
    "WEBIRC",
];

const SPEC: CommandSpec = CommandSpec {
    name: "cmd",
    aliases: &[],
    section: Section::Actions,
    usage: "[network] COMMAND [args…]",
    summary: "Send a raw IRC command (e.g. cmd PRIVMSG NickServ :INFO).",
    level: PermissionLevel::User,
    management_only: false,
};

/// Checks a raw command; the line to send.
pub fn raw_line(words: &[String]) -> Result<String, String> {
    let Some(command) = words.first() else {
        return Err("Which command? e.g. cmd PRIVMSG NickServ :INFO".into());
    };
    if !command
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return Err(format!(
            "{command:?} is not an IRC command: commands are uppercase, e.g. {}",
            command.to_ascii_uppercase()
        ));
    }
    if REFUSED.contains(&command.as_str()) {
        return Err(format!(
            "{command} cannot be sent through the bridge; it manages that itself."
        ));
    }
    let line = words.join(" ");
    if line.contains(['\r', '\n', '\0']) {
        return Err("the command may not contain line breaks".into());
    }
    Ok(line)
}

#[async_trait]
impl Command for Cmd {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(&self, ctx: &CommandContext, args: Vec<String>) -> Result<Reply, CommandError> {
        let (net, rest) = network(&self.0, &args)?;
        let line = raw_line(rest).map_err(CommandError::Usage)?;
        let conn = net.ensure_puppet(&ctx.sender).await.map_err(failed)?;
        conn.wait_registered(CONNECT_WAIT).await.map_err(failed)?;
        conn.send(vec![line]);
        Ok(Reply::Silent)
    }
}

#[cfg(test)]
mod tests {
    use super::raw_line;

    fn w(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn uppercase_only_and_dangerous_refused() {
        assert_eq!(raw_line(&w("MODE #a +i")).unwrap(), "MODE #a +i");
        assert!(raw_line(&w("mode #a +i")).is_err());
        assert!(raw_line(&w("QUIT :bye")).is_err());
        assert!(raw_line(&w("PASS x")).is_err());
        assert!(raw_line(&[]).is_err());
    }
}
