//! Bot commands: one registry for the core's and the network's commands.
//!
//! A message in the management room (a DM with the bot) is a command with or without the
//! prefix (`help`, `!help`); elsewhere the configured prefix is required. The first line is
//! parsed ([`parser`]), the name looked up case-insensitively ([`registry`]), the sender's
//! [`PermissionLevel`] checked ([`permissions`]), and the command's [`Command::run`] called.
//! Each core command lives in its own file under `cmd/`, parsing its own arguments.
//! Replies go out as `m.notice` in reply to the command.

pub mod cmd;
pub mod help;
pub mod login_choice;
pub mod login_driver;
pub mod parser;
pub mod registry;

use async_trait::async_trait;
use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};

use crate::host::BridgeHost;

pub use crate::permissions::Permissions;
pub use crate::seam::PermissionLevel;
pub use parser::{ParseError, ParsedCommand, parse_command};
pub use registry::Registry;

/// The `help` section a command is listed under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Section {
    General,
    Auth,
    Chats,
    Actions,
    Info,
    Admin,
}

impl Section {
    /// Heading shown in `help`.
    pub fn title(self) -> &'static str {
        match self {
            Section::General => "General",
            Section::Auth => "Authentication",
            Section::Chats => "Chats",
            Section::Actions => "Actions",
            Section::Info => "Info",
            Section::Admin => "Administration",
        }
    }
}

/// How a command presents itself in the registry and in `help`.
#[derive(Clone, Debug)]
pub struct CommandSpec {
    /// Lowercase name, e.g. `join`.
    pub name: &'static str,
    /// Other lowercase names.
    pub aliases: &'static [&'static str],
    pub section: Section,
    /// Argument synopsis, e.g. `[network] #channel [key]`.
    pub usage: &'static str,
    /// One line for `help`.
    pub summary: &'static str,
    /// Minimum permission to run it (and to see it in `help`).
    pub level: PermissionLevel,
    /// Whether it may only be run in the management room (e.g. `login`).
    pub management_only: bool,
}

impl CommandSpec {
    /// Why a user at `level` may not run this command (from their management room or not), or
    /// `None` if they may: the one check the bot's dispatcher and the provisioning API share.
    pub fn refusal(&self, level: PermissionLevel, is_management: bool) -> Option<String> {
        if level < self.level {
            return Some(format!(
                "You do not have permission to use `{}`.",
                self.name
            ));
        }
        if self.management_only && !is_management {
            return Some(format!(
                "`{}` only works in your direct chat with me.",
                self.name
            ));
        }
        None
    }
}

/// Everything a command handler may use.
#[derive(Clone)]
pub struct CommandContext {
    pub host: BridgeHost,
    /// The network, for commands that act on it (login, plumb, whoami).
    pub network: crate::network::Network,
    /// Logins waiting for input (for `login` and `cancel`).
    pub logins: login_driver::PendingInputs,
    pub sender: OwnedUserId,
    pub room_id: OwnedRoomId,
    pub event_id: OwnedEventId,
    /// Whether the room is the sender's management room with the bot.
    pub is_management: bool,
    /// The sender's level, resolved from the config.
    pub level: PermissionLevel,
    /// The registry, for `help`.
    pub registry: std::sync::Arc<Registry>,
}

/// What a command answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A notice; `html` when it has links or formatting.
    Notice { text: String, html: Option<String> },
    /// Nothing (e.g. `!cmd` on success, or a login that posts its own steps).
    Silent,
}

impl Reply {
    /// A plain-text notice.
    pub fn text(text: impl Into<String>) -> Self {
        Reply::Notice {
            text: text.into(),
            html: None,
        }
    }
    /// A notice with an HTML body.
    pub fn html(text: impl Into<String>, html: impl Into<String>) -> Self {
        Reply::Notice {
            text: text.into(),
            html: Some(html.into()),
        }
    }
}

/// Why a command failed; the bot shows it as a notice.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Wrong arguments: the message and the usage line are shown.
    #[error("{0}")]
    Usage(String),
    /// The command ran and failed, with a reason for the user.
    #[error("{0}")]
    Failed(String),
    /// The sender may not do this.
    #[error("you do not have permission to {0}")]
    Forbidden(String),
}

/// One bot command. Implementations live one per file (`cmd/*.rs`, or in a network crate).
#[async_trait]
pub trait Command: Send + Sync {
    /// Name, section, usage, permission.
    fn spec(&self) -> &CommandSpec;
    /// Runs with the arguments after the command name (already split, quotes removed).
    async fn run(&self, ctx: &CommandContext, args: Vec<String>) -> Result<Reply, CommandError>;
}
