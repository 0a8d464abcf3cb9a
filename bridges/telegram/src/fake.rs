//! An in-memory Telegram for tests and benchmarks: accounts with login codes and 2FA passwords,
//! flood waits, contacts, groups, injected updates and a record of everything sent.
//!
//! [`FakeWorld`] is "Telegram's cloud"; [`FakeFactory`] hands each Matrix user a [`FakeClient`]
//! whose authorization is kept in the bridge's store (as the real session is), so restarts keep
//! users logged in. Updates injected while nobody listens are queued and delivered on the next
//! `updates()` call, like Telegram's catch-up. Each chat keeps its messages (injected, added
//! as history, or sent by a client) for `history`, Telegram's message history.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::network::{
    ChatEdit, ChatKind, ChatRef, MediaRef, OutMedia, OutMessage, OutPoll, TgChat, TgError,
    TgMessage, TgUpdate, TgUser,
};

mod client;

pub use client::{FakeClient, FakeFactory};

/// One account on the fake Telegram.
#[derive(Clone, Debug)]
pub struct FakeAccount {
    pub user: TgUser,
    pub code: String,
    pub password: Option<String>,
}

/// Something a fake client sent, for assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sent {
    Message {
        chat: ChatRef,
        id: i32,
        msg: OutMessage,
    },
    Media {
        chat: ChatRef,
        id: i32,
        media: OutMedia,
    },
    Edit {
        chat: ChatRef,
        id: i32,
        msg: OutMessage,
    },
    Delete {
        chat: ChatRef,
        ids: Vec<i32>,
    },
    React {
        chat: ChatRef,
        id: i32,
        emoji: Option<String>,
    },
    Typing {
        chat: ChatRef,
        typing: bool,
    },
    Read {
        chat: ChatRef,
        up_to: i32,
    },
    Poll {
        chat: ChatRef,
        id: i32,
        poll: OutPoll,
    },
    Vote {
        chat: ChatRef,
        id: i32,
        options: Vec<Vec<u8>>,
    },
    /// A title or description change (the fake's chat takes it).
    EditChat {
        chat: ChatRef,
        edit: ChatEdit,
    },
    RemoveMember {
        chat: ChatRef,
        user: i64,
        ban: bool,
    },
    AddMember {
        chat: ChatRef,
        user: i64,
    },
}

#[derive(Default)]
struct World {
    accounts: HashMap<String, FakeAccount>,
    /// Phone → flood wait for the next code request.
    flood: HashMap<String, Duration>,
    /// Phones whose next code is expired.
    expired: Vec<String>,
    users: HashMap<i64, TgUser>,
    chats: HashMap<ChatRef, TgChat>,
    files: HashMap<MediaRef, bytes::Bytes>,
    /// Files handed out by `download`.
    downloads: usize,
    /// Account ID → update sink, while a client listens.
    listeners: HashMap<i64, mpsc::Sender<TgUpdate>>,
    /// Account ID → updates that arrived while nobody listened.
    backlog: HashMap<i64, VecDeque<TgUpdate>>,
    sent: Vec<(i64, Sent)>,
    next_id: i32,
    /// Whether sends fail (to test delivery errors).
    refuse_sends: Option<TgError>,
    /// Each chat's messages in the order they were sent: injected, added as history, or sent
    /// by a client. What `history` serves. A private chat's history is its account's (two
    /// accounts' chats with Bob are two chats); `None` is shared: groups, and private chats'
    /// history added with [`FakeWorld::add_history`], which every account sees.
    logs: HashMap<(Option<i64>, ChatRef), Vec<TgMessage>>,
}

/// The fake Telegram cloud, shared by every fake client.
#[derive(Clone, Default)]
pub struct FakeWorld(Arc<Mutex<World>>);

impl FakeWorld {
    pub fn new() -> Self {
        Self::default()
    }

    fn w(&self) -> MutexGuard<'_, World> {
        // A panic while holding the lock is a test bug; keep going with the data.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an account that logs in with `code` (and `password`, if set).
    pub fn add_account(&self, phone: &str, user: TgUser, code: &str, password: Option<&str>) {
        let mut w = self.w();
        w.users.insert(user.id, user.clone());
        w.accounts.insert(
            phone.to_owned(),
            FakeAccount {
                user,
                code: code.to_owned(),
                password: password.map(str::to_owned),
            },
        );
    }

    /// Adds a user others can find (by phone or username) and chat with.
    pub fn add_user(&self, user: TgUser) {
        let mut w = self.w();
        w.chats.insert(
            ChatRef::user(user.id),
            TgChat {
                chat: ChatRef::user(user.id),
                title: user.display_name(),
                about: None,
                photo: user.photo.clone(),
                members: vec![user.clone()],
                last_message_at: None,
            },
        );
        w.users.insert(user.id, user);
    }

    /// Adds (or replaces) a chat.
    pub fn add_chat(&self, chat: TgChat) {
        self.w().chats.insert(chat.chat, chat);
    }

    /// Stores a file that [`TelegramNetwork::download`] returns.
    pub fn add_file(&self, handle: &str, data: &'static [u8]) -> MediaRef {
        let r = MediaRef(handle.to_owned());
        self.w()
            .files
            .insert(r.clone(), bytes::Bytes::from_static(data));
        r
    }

    /// Stores a file made at run time (e.g. one over a test's size cap).
    pub fn add_file_data(&self, handle: &str, data: bytes::Bytes) -> MediaRef {
        let r = MediaRef(handle.to_owned());
        self.w().files.insert(r.clone(), data);
        r
    }

    /// How many files `download` has handed out.
    pub fn downloads(&self) -> usize {
        self.w().downloads
    }

    /// The next code request for `phone` fails with a flood wait.
    pub fn flood_wait(&self, phone: &str, wait: Duration) {
        self.w().flood.insert(phone.to_owned(), wait);
    }

    /// The next code submitted for `phone` is expired.
    pub fn expire_code(&self, phone: &str) {
        self.w().expired.push(phone.to_owned());
    }

    /// Makes every send fail with `error` (or succeed again with `None`).
    pub fn refuse_sends(&self, error: Option<TgError>) {
        self.w().refuse_sends = error;
    }

    /// A fresh message ID.
    pub fn next_message_id(&self) -> i32 {
        let mut w = self.w();
        w.next_id += 1;
        w.next_id
    }

    /// Adds a message to its chat's history without any update: what was said before anyone
    /// logged in, for backfill.
    pub fn add_history(&self, msg: TgMessage) {
        self.w().log(None, msg);
    }

    /// Delivers `update` to `account`'s client, or queues it for catch-up. New, edited and
    /// deleted messages change their chat's history too.
    pub async fn inject(&self, account: i64, update: TgUpdate) {
        self.w().log_update(account, &update);
        let listener = self.w().listeners.get(&account).cloned();
        if let Some(tx) = listener {
            match tx.send(update).await {
                Ok(()) => {}
                Err(mpsc::error::SendError(update)) => {
                    self.w().listeners.remove(&account);
                    self.w()
                        .backlog
                        .entry(account)
                        .or_default()
                        .push_back(update);
                }
            }
        } else {
            self.w()
                .backlog
                .entry(account)
                .or_default()
                .push_back(update);
        }
    }

    /// Everything sent by `account` so far.
    pub fn sent(&self, account: i64) -> Vec<Sent> {
        self.w()
            .sent
            .iter()
            .filter(|(a, _)| *a == account)
            .map(|(_, s)| s.clone())
            .collect()
    }

    /// How many actions all clients sent.
    pub fn sent_count(&self) -> usize {
        self.w().sent.len()
    }

    fn record(&self, account: i64, sent: Sent) -> Result<(), TgError> {
        let mut w = self.w();
        if let Some(e) = &w.refuse_sends {
            return Err(e.clone());
        }
        w.sent.push((account, sent));
        Ok(())
    }
}

impl World {
    /// Appends `msg` to its chat's log (replacing an earlier copy: the same message injected
    /// for several accounts).
    fn log(&mut self, account: Option<i64>, msg: TgMessage) {
        let log = self.logs.entry(log_key(account, msg.chat)).or_default();
        match log.iter_mut().find(|m| m.id == msg.id) {
            Some(old) => *old = msg,
            None => log.push(msg),
        }
    }

    fn log_update(&mut self, account: i64, update: &TgUpdate) {
        match update {
            TgUpdate::NewMessage(msg) => self.log(Some(account), msg.clone()),
            TgUpdate::Edited(msg) => {
                if let Some(old) = self
                    .logs
                    .get_mut(&log_key(Some(account), msg.chat))
                    .and_then(|log| log.iter_mut().find(|m| m.id == msg.id))
                {
                    *old = msg.clone();
                }
            }
            TgUpdate::Deleted { chat, ids } => {
                for ((owner, c), log) in self.logs.iter_mut() {
                    let visible = owner.is_none_or(|o| o == account);
                    if visible && chat.is_none_or(|chat| chat == *c) {
                        log.retain(|m| !ids.contains(&m.id));
                    }
                }
            }
            _ => {}
        }
    }

    /// The newest `limit` messages of `chat` after message `after` (when the log has it;
    /// else those with a greater ID), oldest first.
    fn history(
        &self,
        account: i64,
        chat: ChatRef,
        after: Option<i32>,
        limit: usize,
    ) -> Vec<TgMessage> {
        let mut log: Vec<TgMessage> = self.logs.get(&(None, chat)).cloned().unwrap_or_default();
        if let Some(own) = self.logs.get(&log_key(Some(account), chat))
            && chat.kind == ChatKind::User
        {
            log.extend(own.iter().cloned());
            log.sort_by_key(|m| m.id);
        }
        let from = match after {
            None => 0,
            Some(after) => match log.iter().position(|m| m.id == after) {
                Some(i) => i + 1,
                None => {
                    return newest(
                        log.iter().filter(|m| m.id > after).cloned().collect(),
                        limit,
                    );
                }
            },
        };
        newest(log[from..].to_vec(), limit)
    }
}

/// Where a message of `account` in `chat` is logged: per account for private chats.
fn log_key(account: Option<i64>, chat: ChatRef) -> (Option<i64>, ChatRef) {
    match chat.kind {
        ChatKind::User => (account, chat),
        _ => (None, chat),
    }
}

/// The last `limit` of `messages`.
fn newest(mut messages: Vec<TgMessage>, limit: usize) -> Vec<TgMessage> {
    let cut = messages.len().saturating_sub(limit);
    messages.drain(..cut);
    messages
}

/// Now, in Unix seconds.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
