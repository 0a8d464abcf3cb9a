//! `use-login N !room:server`: which of the sender's logins speaks for them in a bridged group
//! (both their accounts are in it, and they want to be seen as one of them). `use-login
//! default !room:server` gives the choice back to the network; without a number the command
//! says which login is used.

use async_trait::async_trait;

use super::list_logins::{NOT_LOGGED_IN, numbered};
use super::room_arg;
use crate::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};
use crate::ids::LoginSlot;
use crate::portal::login_choice;

pub struct UseLogin;

const SPEC: CommandSpec = CommandSpec {
    name: "use-login",
    aliases: &[],
    section: Section::Auth,
    usage: "[N|default] !room:server",
    summary: "Choose which of your logins speaks for you in a bridged group.",
    level: PermissionLevel::User,
    management_only: false,
};

/// What the command was asked to do.
enum Choice {
    Show,
    Default,
    Login(LoginSlot),
}

/// `[N|default] !room:server`.
fn parse(args: &[String]) -> Result<(Choice, &String), CommandError> {
    let usage = || CommandError::Usage("use-login [N|default] !room:server".into());
    match args {
        [room] => Ok((Choice::Show, room)),
        [choice, room] if choice.eq_ignore_ascii_case("default") => Ok((Choice::Default, room)),
        [choice, room] => match choice.parse::<LoginSlot>() {
            Ok(slot) => Ok((Choice::Login(slot), room)),
            Err(e) => Err(CommandError::Usage(format!("{e}; or say `default`."))),
        },
        _ => Err(usage()),
    }
}

#[async_trait]
impl Command for UseLogin {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(&self, ctx: &CommandContext, args: Vec<String>) -> Result<Reply, CommandError> {
        // Registered only for networks with several logins per user.
        let network = ctx.host.network_name();
        let (choice, room) = parse(&args)?;
        let room = room_arg(Some(room))?;
        fn failed(e: impl std::fmt::Display) -> CommandError {
            CommandError::Failed(e.to_string())
        }
        let portal = ctx
            .host
            .portals()
            .by_room(&room)
            .await
            .map_err(failed)?
            .ok_or_else(|| CommandError::Failed(format!("{room} is not bridged.")))?;
        if portal.key().receiver.is_some() {
            return Err(CommandError::Failed(format!(
                "{room} is a private chat: it always speaks through the login it belongs to."
            )));
        }
        let logins = ctx.network.logins(&ctx.sender).await;
        let store = ctx.host.store();
        let key = portal.key();
        match choice {
            Choice::Show => {
                let chosen = login_choice::get(store, key, &ctx.sender)
                    .await
                    .map_err(failed)?;
                Ok(Reply::text(
                    match chosen.and_then(|s| logins.iter().find(|l| l.slot == s)) {
                        Some(l) => format!(
                            "You speak in {room} through login {} ({}).",
                            l.slot, l.account
                        ),
                        None => format!(
                            "{network} picks which of your logins speaks in {room}: the first \
                             one in the group."
                        ),
                    },
                ))
            }
            Choice::Default => {
                login_choice::unset(store, key, &ctx.sender)
                    .await
                    .map_err(failed)?;
                Ok(Reply::text(format!(
                    "{network} picks which of your logins speaks in {room} again."
                )))
            }
            Choice::Login(slot) => {
                let Some(login) = logins.iter().find(|l| l.slot == slot) else {
                    return Err(CommandError::Failed(if logins.is_empty() {
                        NOT_LOGGED_IN.into()
                    } else {
                        format!(
                            "You have no login {slot}. Your logins:\n{}",
                            numbered(&logins)
                        )
                    }));
                };
                login_choice::set(store, key, &ctx.sender, slot)
                    .await
                    .map_err(failed)?;
                Ok(Reply::text(format!(
                    "You speak in {room} through login {slot} ({}) from now on.",
                    login.account
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn parses_show_default_and_a_number_and_refuses_the_rest() {
        assert!(matches!(parse(&args(&["!r:s"])), Ok((Choice::Show, _))));
        assert!(matches!(
            parse(&args(&["DEFAULT", "!r:s"])),
            Ok((Choice::Default, _))
        ));
        assert!(matches!(
            parse(&args(&["2", "!r:s"])),
            Ok((Choice::Login(s), _)) if s.get() == 2
        ));
        for bad in [
            &[][..],
            &["two", "!r:s"],
            &["0", "!r:s"],
            &["1", "2", "!r:s"],
        ] {
            assert!(
                matches!(parse(&args(bad)), Err(CommandError::Usage(_))),
                "{bad:?}"
            );
        }
    }
}
