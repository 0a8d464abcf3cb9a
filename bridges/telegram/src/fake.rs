//! An in-memory Telegram for tests and benchmarks: accounts with login codes and 2FA passwords,
//! flood waits, contacts, groups, injected updates and a record of everything sent.
//!
//! [`FakeWorld`] is "Telegram's cloud"; [`FakeFactory`] hands each Matrix user a [`FakeClient`]
//! whose authorization is kept in the bridge's store (as the real session is), so restarts keep
//! users logged in. Updates injected while nobody listens are queued and delivered on the next
//! `updates()` call, like Telegram's catch-up.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use ferrybridge_core::store::Store;
use ruma::OwnedUserId;
use tokio::sync::mpsc;

use crate::network::{
    ChatKind, ChatRef, MediaRef, NetworkFactory, OutMedia, OutMessage, SignIn, TelegramNetwork,
    TgChat, TgError, TgUpdate, TgUser,
};

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

    /// Delivers `update` to `account`'s client, or queues it for catch-up.
    pub async fn inject(&self, account: i64, update: TgUpdate) {
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

/// Hands out fake clients; remembers which account each Matrix user authorized in the store.
pub struct FakeFactory {
    pub world: FakeWorld,
}

const NS: &str = "telegram-fake-session";

#[async_trait]
impl NetworkFactory for FakeFactory {
    async fn connect(
        &self,
        user: &OwnedUserId,
        store: &Store,
    ) -> Result<Arc<dyn TelegramNetwork>, TgError> {
        let authorized: Option<i64> = store
            .kv_get(NS, user.as_str())
            .await
            .map_err(|e| TgError::Other(e.to_string()))?;
        Ok(Arc::new(FakeClient {
            world: self.world.clone(),
            store: store.clone(),
            mxid: user.clone(),
            state: Mutex::new(ClientState {
                phone: None,
                code_sent: false,
                password_pending: false,
                authorized,
            }),
        }))
    }

    async fn forget(&self, user: &OwnedUserId, store: &Store) {
        let _ = store.kv_delete(NS, user.as_str()).await;
    }
}

struct ClientState {
    phone: Option<String>,
    code_sent: bool,
    password_pending: bool,
    authorized: Option<i64>,
}

/// One Matrix user's fake connection.
pub struct FakeClient {
    world: FakeWorld,
    store: Store,
    mxid: OwnedUserId,
    state: Mutex<ClientState>,
}

impl FakeClient {
    fn st(&self) -> MutexGuard<'_, ClientState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn me_id(&self) -> Result<i64, TgError> {
        self.st().authorized.ok_or(TgError::Unauthorized)
    }

    fn account(&self) -> Result<FakeAccount, TgError> {
        let phone = self.st().phone.clone().ok_or(TgError::InvalidPhone)?;
        self.world
            .w()
            .accounts
            .get(&phone)
            .cloned()
            .ok_or(TgError::InvalidPhone)
    }

    async fn authorize(&self, user: &TgUser) -> Result<(), TgError> {
        self.st().authorized = Some(user.id);
        self.store
            .kv_set(NS, self.mxid.as_str(), &user.id)
            .await
            .map_err(|e| TgError::Other(e.to_string()))
    }

    fn send(&self, sent: Sent) -> Result<(), TgError> {
        let me = self.me_id()?;
        self.world.record(me, sent)
    }
}

#[async_trait]
impl TelegramNetwork for FakeClient {
    async fn request_login_code(&self, phone: &str) -> Result<(), TgError> {
        if !phone.starts_with('+') || phone.len() < 6 {
            return Err(TgError::InvalidPhone);
        }
        if let Some(wait) = self.world.w().flood.remove(phone) {
            return Err(TgError::FloodWait(wait));
        }
        if phone.ends_with("666") {
            return Err(TgError::PhoneBanned);
        }
        if !self.world.w().accounts.contains_key(phone) {
            return Err(TgError::InvalidPhone);
        }
        let mut st = self.st();
        st.phone = Some(phone.to_owned());
        st.code_sent = true;
        Ok(())
    }

    async fn sign_in(&self, code: &str) -> Result<SignIn, TgError> {
        if !self.st().code_sent {
            return Err(TgError::Other("no code was requested".into()));
        }
        let account = self.account()?;
        let phone = self.st().phone.clone().unwrap_or_default();
        {
            let mut w = self.world.w();
            if let Some(pos) = w.expired.iter().position(|p| *p == phone) {
                w.expired.remove(pos);
                return Err(TgError::CodeExpired);
            }
        }
        if code.trim() != account.code {
            return Err(TgError::CodeInvalid);
        }
        if let Some(_pw) = &account.password {
            self.st().password_pending = true;
            return Ok(SignIn::PasswordRequired {
                hint: Some("the usual".into()),
            });
        }
        self.authorize(&account.user).await?;
        Ok(SignIn::Done(account.user))
    }

    async fn check_password(&self, password: &str) -> Result<TgUser, TgError> {
        if !self.st().password_pending {
            return Err(TgError::Other("no password was asked for".into()));
        }
        let account = self.account()?;
        if account.password.as_deref() != Some(password) {
            return Err(TgError::PasswordInvalid);
        }
        self.authorize(&account.user).await?;
        Ok(account.user)
    }

    async fn logout(&self) -> Result<(), TgError> {
        let me = self.me_id()?;
        self.st().authorized = None;
        self.world.w().listeners.remove(&me);
        let _ = self.store.kv_delete(NS, self.mxid.as_str()).await;
        Ok(())
    }

    async fn me(&self) -> Result<TgUser, TgError> {
        let me = self.me_id()?;
        self.world
            .w()
            .users
            .get(&me)
            .cloned()
            .ok_or(TgError::Unauthorized)
    }

    async fn updates(&self) -> Result<mpsc::Receiver<TgUpdate>, TgError> {
        let me = self.me_id()?;
        let (tx, rx) = mpsc::channel(1024);
        let backlog: Vec<TgUpdate> = {
            let mut w = self.world.w();
            w.listeners.insert(me, tx.clone());
            w.backlog.remove(&me).unwrap_or_default().into()
        };
        for u in backlog {
            let _ = tx.send(u).await;
        }
        Ok(rx)
    }

    async fn dialogs(&self, limit: usize) -> Result<Vec<TgChat>, TgError> {
        let me = self.me_id()?;
        let w = self.world.w();
        let mut chats: Vec<TgChat> = w
            .chats
            .values()
            .filter(|c| c.last_message_at.is_some())
            .filter(|c| c.chat.kind == ChatKind::User || c.members.iter().any(|m| m.id == me))
            .cloned()
            .collect();
        chats.sort_by_key(|c| std::cmp::Reverse(c.last_message_at));
        chats.truncate(limit);
        Ok(chats)
    }

    async fn chat(&self, chat: ChatRef) -> Result<TgChat, TgError> {
        self.me_id()?;
        self.world
            .w()
            .chats
            .get(&chat)
            .cloned()
            .ok_or(TgError::NotFound)
    }

    async fn resolve_phone(&self, phone: &str) -> Result<TgUser, TgError> {
        self.me_id()?;
        let w = self.world.w();
        w.users
            .values()
            .find(|u| u.phone.as_deref() == Some(phone))
            .cloned()
            .ok_or(TgError::NotFound)
    }

    async fn resolve_username(&self, username: &str) -> Result<TgUser, TgError> {
        self.me_id()?;
        let w = self.world.w();
        w.users
            .values()
            .find(|u| {
                u.username
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(username))
            })
            .cloned()
            .ok_or(TgError::NotFound)
    }

    async fn search(&self, query: &str) -> Result<Vec<TgChat>, TgError> {
        self.me_id()?;
        let q = query.to_lowercase();
        let w = self.world.w();
        let mut found: Vec<TgChat> = w
            .chats
            .values()
            .filter(|c| c.title.to_lowercase().contains(&q))
            .cloned()
            .collect();
        found.sort_by(|a, b| a.title.cmp(&b.title));
        Ok(found)
    }

    async fn send_message(&self, chat: ChatRef, msg: OutMessage) -> Result<i32, TgError> {
        let id = self.world.next_message_id();
        self.send(Sent::Message { chat, id, msg })?;
        Ok(id)
    }

    async fn send_media(&self, chat: ChatRef, media: OutMedia) -> Result<i32, TgError> {
        let id = self.world.next_message_id();
        self.send(Sent::Media { chat, id, media })?;
        Ok(id)
    }

    async fn edit_message(&self, chat: ChatRef, id: i32, msg: OutMessage) -> Result<(), TgError> {
        self.send(Sent::Edit { chat, id, msg })
    }

    async fn delete_messages(&self, chat: ChatRef, ids: &[i32]) -> Result<(), TgError> {
        self.send(Sent::Delete {
            chat,
            ids: ids.to_vec(),
        })
    }

    async fn react(&self, chat: ChatRef, id: i32, emoji: Option<&str>) -> Result<(), TgError> {
        self.send(Sent::React {
            chat,
            id,
            emoji: emoji.map(str::to_owned),
        })
    }

    async fn set_typing(&self, chat: ChatRef, typing: bool) -> Result<(), TgError> {
        self.send(Sent::Typing { chat, typing })
    }

    async fn mark_read(&self, chat: ChatRef, up_to: i32) -> Result<(), TgError> {
        self.send(Sent::Read { chat, up_to })
    }

    async fn disconnect(&self) {
        // Like Telegram: what arrives while nobody is connected waits for catch-up.
        if let Some(me) = self.st().authorized {
            self.world.w().listeners.remove(&me);
        }
    }

    async fn download(
        &self,
        media: &MediaRef,
        cap: ferrybridge_core::media_cap::MediaCap,
    ) -> Result<bytes::Bytes, TgError> {
        let data = self
            .world
            .w()
            .files
            .get(media)
            .cloned()
            .ok_or(TgError::NotFound)?;
        // Like a real download: the bytes are counted as they come, whatever was announced.
        cap.counter().add(data.len())?;
        self.world.w().downloads += 1;
        Ok(data)
    }
}
