//! A loopback network for testing the core end to end: every message a Matrix user sends into
//! an echo portal comes back from the ghost `echo` as `echo: <text>`, as a reply to it; edits,
//! redactions and reactions are mirrored the same way. Messages containing `fail` are refused,
//! to exercise the "no silent drops" notice. Its login asks for a phone number, a code and a
//! secret password, like Telegram's.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use ferrybridge_core::BridgeHost;
use ferrybridge_core::bridge::{Bridge, BridgeError, Capabilities, NetworkInfo, PortalSpec};
use ferrybridge_core::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};
use ferrybridge_core::config::{ConfigError, NetworkConfig};
use ferrybridge_core::events::{
    ChatInfo, Delivered, DeliveryError, MatrixEvent, MatrixEventKind, MessageContent,
    PendingDelivery, RemoteEvent, RemoteEventKind,
};
use ferrybridge_core::ids::{PortalKey, PortalKind, RemoteChatId, RemoteMessageId, RemoteUserId};
use ferrybridge_core::login::{LoginProcess, LoginStep};
use ferrybridge_core::portal::Portal;
use ruma::{OwnedRoomId, OwnedUserId};
use serde::{Deserialize, Serialize};

/// The echo network's `network:` section.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EchoConfig {
    /// Text that makes a message undeliverable.
    #[serde(default = "default_fail_word")]
    pub fail_word: String,
    /// Whether the bot stays in group rooms it is invited to (Telegram-like bridges: no).
    #[serde(default = "yes")]
    pub bot_in_groups: bool,
    /// Whether messages are echoed back (benchmarks turn it off to measure one direction).
    #[serde(default = "yes")]
    pub echo: bool,
}

fn yes() -> bool {
    true
}

fn default_fail_word() -> String {
    "fail".into()
}

impl NetworkConfig for EchoConfig {
    fn validate(&self) -> Vec<ConfigError> {
        if self.fail_word.is_empty() {
            vec![ConfigError::new("fail_word", "must not be empty")]
        } else {
            vec![]
        }
    }
    fn example_yaml() -> String {
        "  # Messages containing this word are refused (to test failure notices).\n  fail_word: fail\n".into()
    }
}

/// What the echo network saw from Matrix (for assertions).
#[derive(Clone, Debug)]
pub struct Seen {
    pub portal: PortalKey,
    pub event: MatrixEvent,
}

/// The loopback network.
pub struct EchoBridge {
    config: EchoConfig,
    host: OnceLock<BridgeHost>,
    counter: AtomicU64,
    seen: Mutex<Vec<Seen>>,
    logins: Logins,
}

/// Accounts logged in, by Matrix user; shared with running logins.
type Logins = Arc<Mutex<HashMap<OwnedUserId, String>>>;

/// The remote user who answers everything.
pub fn echo_user() -> RemoteUserId {
    RemoteUserId::new("echo")
}

impl EchoBridge {
    /// Every Matrix event handed to the network so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// How many Matrix events the network has been handed.
    pub fn seen_count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn host(&self) -> Result<&BridgeHost, DeliveryError> {
        self.host
            .get()
            .ok_or_else(|| DeliveryError::transient("the echo network is not started"))
    }

    fn next_id(&self, prefix: &str) -> RemoteMessageId {
        // Unique across restarts, as a real network's IDs are.
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        RemoteMessageId::new(format!("{prefix}-{n}-{}", uuid::Uuid::new_v4().simple()))
    }

    fn spec(chat: &RemoteChatId, receiver: Option<OwnedUserId>) -> PortalSpec {
        let kind = if receiver.is_some() {
            PortalKind::Dm
        } else {
            PortalKind::Channel
        };
        PortalSpec {
            key: PortalKey {
                chat: chat.clone(),
                receiver,
            },
            kind,
            info: ChatInfo {
                name: Some(format!("Echo {chat}")),
                topic: Some("Everything you say comes back".into()),
                avatar: None,
            },
            alias_vars: (kind == PortalKind::Channel)
                .then(|| vec![("id".to_owned(), chat.to_string())]),
            members: vec![if kind == PortalKind::Dm {
                RemoteUserId::new(chat.as_str())
            } else {
                echo_user()
            }],
        }
    }
}

#[async_trait]
impl Bridge for EchoBridge {
    type Config = EchoConfig;

    fn info() -> NetworkInfo {
        NetworkInfo {
            id: "echo",
            display_name: "Echo",
            bot_username: "echobot",
            bot_displayname: "Echo bridge bot",
            default_port: 29399,
            ghost_template: "_echo_{id}",
            displayname_template: "{name} (Echo)",
            alias_template: Some("_echo_{id}"),
            command_prefix: "!",
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    fn new(config: EchoConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            config,
            host: OnceLock::new(),
            counter: AtomicU64::new(0),
            seen: Mutex::new(vec![]),
            logins: Logins::default(),
        })
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            edits: true,
            redactions: true,
            reactions: true,
            typing: true,
            read_receipts: true,
            login: true,
        }
    }

    async fn start(self: Arc<Self>, host: BridgeHost) -> Result<(), BridgeError> {
        let _ = self.host.set(host);
        Ok(())
    }

    fn bot_joins_group_rooms(&self) -> bool {
        self.config.bot_in_groups
    }

    fn commands(self: &Arc<Self>) -> Vec<Arc<dyn Command>> {
        vec![Arc::new(Open)]
    }

    async fn handle_matrix_event(
        &self,
        portal: &Portal,
        event: MatrixEvent,
    ) -> Result<Delivered, DeliveryError> {
        self.seen.lock().unwrap().push(Seen {
            portal: portal.key().clone(),
            event: event.clone(),
        });
        let host = self.host()?;
        // In a DM the other side answers; in a group, `echo` does.
        let answerer = match &portal.key().receiver {
            Some(_) => RemoteUserId::new(portal.key().chat.as_str()),
            None => echo_user(),
        };
        let send = |kind| {
            host.send(RemoteEvent {
                portal: portal.key().clone(),
                kind,
            })
        };
        match event.kind {
            MatrixEventKind::Message { content, .. } => {
                if content.body.contains(&self.config.fail_word) {
                    let refusal = DeliveryError::permanent(format!(
                        "the echo network refuses messages containing {:?}",
                        self.config.fail_word
                    ));
                    // "... later": accepted now, refused once the (pretend) server answers,
                    // as IRC's confirmations work.
                    if content.body.contains("later") {
                        return Ok(Delivered::Pending(PendingDelivery::new(async move {
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            Err(refusal)
                        })));
                    }
                    return Err(refusal);
                }
                let id = self.next_id("m");
                if !self.config.echo {
                    return Ok(Delivered::As(id));
                }
                // Media comes back as the link a remote user would get.
                let text = match content.media.as_ref().and_then(|m| m.url.as_ref()) {
                    Some(url) => url.clone(),
                    None => content.body.clone(),
                };
                let echo = MessageContent::text(format!("echo: {text}"));
                send(RemoteEventKind::Message {
                    id: echo_id(&id),
                    sender: answerer,
                    content: echo,
                    reply_to: Some(id.clone()),
                })
                .await;
                Ok(Delivered::As(id))
            }
            MatrixEventKind::Edit { target, content } => {
                let echo = MessageContent::text(format!("echo: {}", content.body));
                send(RemoteEventKind::Edit {
                    target: echo_id(&target),
                    sender: answerer,
                    content: echo,
                })
                .await;
                Ok(Delivered::As(self.next_id("edit")))
            }
            MatrixEventKind::Redaction { target, .. } => {
                send(RemoteEventKind::Redaction {
                    target: echo_id(&target),
                    sender: answerer,
                })
                .await;
                Ok(Delivered::Untracked)
            }
            MatrixEventKind::Reaction { target, key } => {
                let id = self.next_id("r");
                send(RemoteEventKind::Reaction {
                    id: self.next_id("er"),
                    target,
                    sender: answerer,
                    key,
                })
                .await;
                Ok(Delivered::As(id))
            }
            _ => Ok(Delivered::Ignored),
        }
    }

    async fn resolve_alias(
        &self,
        vars: &[(String, String)],
    ) -> Result<Option<PortalSpec>, BridgeError> {
        Ok(vars
            .iter()
            .find(|(k, _)| k == "id")
            .map(|(_, chat)| Self::spec(&RemoteChatId::new(chat.clone()), None)))
    }

    async fn describe_chat(&self, key: &PortalKey) -> Result<PortalSpec, BridgeError> {
        Ok(Self::spec(&key.chat, key.receiver.clone()))
    }

    async fn open_dm(
        &self,
        user: &OwnedUserId,
        ghost: &RemoteUserId,
    ) -> Result<PortalKey, BridgeError> {
        if ghost.as_str() == "nobody" {
            return Err(BridgeError::Invalid(
                "nobody is not on the echo network".into(),
            ));
        }
        Ok(PortalKey::private(ghost.as_str(), user.clone()))
    }

    async fn validate_plumb(
        &self,
        _requester: &OwnedUserId,
        _room: &OwnedRoomId,
        args: &[String],
    ) -> Result<PortalKey, BridgeError> {
        match args {
            [chat] => Ok(PortalKey::shared(chat.as_str())),
            _ => Err(BridgeError::Invalid(
                "usage: plumb !room:server <chat>".into(),
            )),
        }
    }

    async fn start_login(
        &self,
        user: &OwnedUserId,
        _args: &[String],
    ) -> Result<Box<dyn LoginProcess>, BridgeError> {
        Ok(Box::new(EchoLogin {
            user: user.clone(),
            phone: None,
            code_ok: false,
            done: false,
            logins: self.logins.clone(),
        }))
    }

    async fn logout(&self, user: &OwnedUserId) -> Result<(), BridgeError> {
        self.logins.lock().unwrap().remove(user);
        Ok(())
    }

    async fn whoami(&self, user: &OwnedUserId) -> Option<String> {
        self.logins.lock().unwrap().get(user).cloned()
    }
}

/// The ID of the echo of a user's message.
fn echo_id(id: &RemoteMessageId) -> RemoteMessageId {
    RemoteMessageId::new(format!("echo-of-{id}"))
}

/// Phone → code (`12345`; anything else is wrong) → secret password (`hunter2`) → done.
struct EchoLogin {
    user: OwnedUserId,
    phone: Option<String>,
    code_ok: bool,
    done: bool,
    logins: Logins,
}

#[async_trait]
impl LoginProcess for EchoLogin {
    async fn next(&mut self) -> LoginStep {
        match (&self.phone, self.code_ok, self.done) {
            (None, _, _) => LoginStep::Input {
                prompt: "Send your phone number in international format.".into(),
                secret: false,
            },
            (Some(_), false, _) => LoginStep::Input {
                prompt: "Send the code you received.".into(),
                secret: false,
            },
            (Some(_), true, false) => LoginStep::Input {
                prompt: "Send your two-step verification password.".into(),
                secret: true,
            },
            (Some(phone), true, true) => {
                self.logins
                    .lock()
                    .unwrap()
                    .insert(self.user.clone(), phone.clone());
                LoginStep::Done {
                    account: phone.clone(),
                }
            }
        }
    }

    async fn submit(&mut self, input: String) {
        if self.phone.is_none() {
            self.phone = Some(input);
        } else if !self.code_ok {
            self.code_ok = input == "12345";
        } else {
            self.done = input == "hunter2";
        }
    }
}

/// `open <chat>`: creates (or finds) the echo portal for a chat and invites you.
struct Open;

const OPEN: CommandSpec = CommandSpec {
    name: "open",
    aliases: &[],
    section: Section::Chats,
    usage: "<chat>",
    summary: "Open a portal to an echo chat.",
    level: PermissionLevel::User,
    management_only: false,
};

#[async_trait]
impl Command for Open {
    fn spec(&self) -> &CommandSpec {
        &OPEN
    }
    async fn run(&self, ctx: &CommandContext, args: Vec<String>) -> Result<Reply, CommandError> {
        let [chat] = args.as_slice() else {
            return Err(CommandError::Usage("Name one chat.".into()));
        };
        let portals = ctx.host.portals();
        let portal = portals
            .get_or_create(&PortalKey::shared(chat.as_str()))
            .await
            .map_err(|e| CommandError::Failed(e.to_string()))?;
        portals
            .invite(&portal, &ctx.sender)
            .await
            .map_err(|e| CommandError::Failed(e.to_string()))?;
        Ok(Reply::text(format!("Invited you to {}.", portal.room_id())))
    }
}
