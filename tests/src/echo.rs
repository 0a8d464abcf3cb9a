//! A loopback network for testing the core end to end: every message a Matrix user sends into
//! an echo portal comes back from the ghost `echo` as `echo: <text>`, as a reply to it; edits,
//! redactions and reactions are mirrored the same way. Messages containing `fail` are refused,
//! to exercise the "no silent drops" notice. Its login asks for a phone number, a code and a
//! secret password, like Telegram's.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ferrybridge_core::bridge::{
    BackfillRequest, Bridge, BridgeError, Capabilities, NetworkInfo, PortalSpec,
};
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
use ferrybridge_core::{BridgeHost, ConnectionState};
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
    /// How long after `start` the network still answers "not connected yet" (a retryable
    /// failure), like a remote connection that needs a moment to come back after a restart.
    #[serde(default)]
    pub connect_delay_ms: u64,
    /// How long each delivery takes (a slow network, to fill queues in tests).
    #[serde(default)]
    pub delivery_ms: u64,
    /// Messages each group chat had before the bridge saw it (`story 1` … `story N` from
    /// `echo`, a minute apart, ending an hour ago), handed over as history (backfill).
    #[serde(default)]
    pub history: u64,
    /// Whether asking for history fails (a network error the core must ride out).
    #[serde(default)]
    pub history_fails: bool,
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
    /// When the network was handed it (for latency benchmarks).
    pub at: Instant,
}

/// The loopback network.
pub struct EchoBridge {
    config: EchoConfig,
    host: BridgeHost,
    /// When `start` ran; deliveries before `connect_delay_ms` after it fail retryably.
    started: Mutex<Option<Instant>>,
    counter: AtomicU64,
    seen: Mutex<Vec<Seen>>,
    logins: Logins,
    backfills: Mutex<Vec<BackfillRequest>>,
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

    /// Every history request the core made.
    pub fn backfills(&self) -> Vec<BackfillRequest> {
        self.backfills.lock().unwrap().clone()
    }

    /// How many Matrix events the network has been handed.
    pub fn seen_count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// An echo network with `config`, on `host` (the builder `start_with` takes).
    pub fn build(config: EchoConfig, host: BridgeHost) -> Arc<Self> {
        Arc::new(Self {
            config,
            host,
            started: Mutex::new(None),
            counter: AtomicU64::new(0),
            seen: Mutex::new(vec![]),
            logins: Logins::default(),
            backfills: Mutex::new(vec![]),
        })
    }

    /// "Not connected yet" until `connect_delay_ms` after `start`.
    fn connected(&self) -> Result<(), DeliveryError> {
        let started = *self.started.lock().unwrap();
        let delay = Duration::from_millis(self.config.connect_delay_ms);
        match started {
            Some(at) if at.elapsed() >= delay => Ok(()),
            _ => Err(DeliveryError::transient(
                "the echo network is not connected yet",
            )),
        }
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
                login: Default::default(),
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
            capabilities: Capabilities {
                edits: true,
                redactions: true,
                reactions: true,
                typing: true,
                read_receipts: true,
                login: true,
                backfill: true,
                // Polls arrive as their text; votes get the core's "no polls" notice.
                polls: false,
                multiple_logins: false,
            },
        }
    }

    fn init(config: EchoConfig, host: BridgeHost) -> Result<Arc<Self>, ConfigError> {
        Ok(Self::build(config, host))
    }

    async fn start(self: Arc<Self>) -> Result<(), BridgeError> {
        *self.started.lock().unwrap() = Some(Instant::now());
        let host = self.host.clone();
        host.report_state(None, "", ConnectionState::Connecting)
            .await;
        let delay = Duration::from_millis(self.config.connect_delay_ms);
        self.host.tasks().spawn(async move {
            tokio::time::sleep(delay).await;
            host.report_state(None, "", ConnectionState::Connected)
                .await;
        });
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
        self.connected()?;
        if self.config.delivery_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.config.delivery_ms)).await;
        }
        self.seen.lock().unwrap().push(Seen {
            portal: portal.key().clone(),
            event: event.clone(),
            at: Instant::now(),
        });
        let host = &self.host;
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
                    sent_at: None,
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

    async fn backfill(
        &self,
        portal: &Portal,
        request: BackfillRequest,
    ) -> Result<Vec<RemoteEventKind>, BridgeError> {
        self.backfills.lock().unwrap().push(request.clone());
        if self.config.history_fails {
            return Err(BridgeError::Remote("the echo archive is down".into()));
        }
        if portal.key().receiver.is_some() || request.after.is_some() {
            return Ok(Vec::new());
        }
        Ok(history(
            &portal.key().chat,
            self.config.history,
            request.limit,
        ))
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

    async fn logout(
        &self,
        user: &OwnedUserId,
        _login: ferrybridge_core::ids::LoginSlot,
    ) -> Result<(), BridgeError> {
        self.logins.lock().unwrap().remove(user);
        Ok(())
    }

    async fn whoami(&self, user: &OwnedUserId) -> Option<String> {
        self.logins.lock().unwrap().get(user).cloned()
    }
}

/// The newest `limit` of a chat's `total` history messages, oldest first.
fn history(chat: &RemoteChatId, total: u64, limit: usize) -> Vec<RemoteEventKind> {
    let hour_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
        .saturating_sub(3_600_000);
    let first = total.saturating_sub(limit as u64) + 1;
    (first..=total)
        .map(|i| RemoteEventKind::Message {
            id: RemoteMessageId::new(format!("story-{chat}-{i}")),
            sender: echo_user(),
            content: MessageContent::text(format!("story {i}")),
            reply_to: None,
            sent_at: ruma::UInt::new(hour_ago - (total - i) * 60_000)
                .map(ruma::MilliSecondsSinceUnixEpoch),
        })
        .collect()
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
            .get_or_create(&PortalKey::shared(chat.as_str()), &*ctx.network)
            .await
            .map_err(|e| CommandError::Failed(e.to_string()))?;
        portals
            .invite(&portal, &ctx.sender)
            .await
            .map_err(|e| CommandError::Failed(e.to_string()))?;
        Ok(Reply::text(format!("Invited you to {}.", portal.room_id())))
    }
}

/// How long the echo helpers wait for the homeserver.
const WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// `open <chat>` in the user's DM with the bot, then accept the portal's invite.
pub async fn open_portal(
    user: &crate::TestUser,
    dm: &ruma::RoomId,
    chat: &str,
) -> anyhow::Result<OwnedRoomId> {
    let reply = crate::bot_chat::command(user, dm, &format!("open {chat}")).await?;
    anyhow::ensure!(
        reply.starts_with("Invited you to"),
        "unexpected reply: {reply}"
    );
    let room = user.wait_for_invite(WAIT).await?;
    user.join(room.as_str()).await?;
    Ok(room)
}

/// Waits for the echo of `body` in `room`.
pub async fn wait_echo(
    user: &crate::TestUser,
    room: &ruma::RoomId,
    body: &str,
) -> anyhow::Result<serde_json::Value> {
    let want = format!("echo: {body}");
    user.wait_for(room, WAIT, |ev| {
        ev["type"] == "m.room.message" && crate::text_body(ev) == Some(want.as_str())
    })
    .await
}
