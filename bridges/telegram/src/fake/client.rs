//! [`FakeClient`]: one Matrix user's connection to the fake Telegram, and the factory that
//! hands them out.

use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use ferrybridge_core::ids::LoginSlot;
use ferrybridge_core::store::Store;
use ruma::OwnedUserId;
use tokio::sync::mpsc;

use super::{FakeAccount, FakeWorld, Sent};
use crate::network::{
    ChatEdit, ChatKind, ChatRef, MediaRef, NetworkFactory, OutMedia, OutMessage, OutPoll, SignIn,
    TelegramNetwork, TgChat, TgError, TgMessage, TgUpdate, TgUser,
};

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
        slot: LoginSlot,
        store: &Store,
    ) -> Result<Arc<dyn TelegramNetwork>, TgError> {
        let key = session_key(user, slot);
        let authorized: Option<i64> = store
            .kv_get(NS, &key)
            .await
            .map_err(|e| TgError::Other(e.to_string()))?;
        Ok(Arc::new(FakeClient {
            world: self.world.clone(),
            store: store.clone(),
            key,
            state: Mutex::new(ClientState {
                listening: None,
                phone: None,
                code_sent: false,
                password_pending: false,
                authorized,
            }),
        }))
    }

    async fn forget(&self, user: &OwnedUserId, slot: LoginSlot, store: &Store) {
        let _ = store.kv_delete(NS, &session_key(user, slot)).await;
    }
}

/// The store key of one login's fake session.
fn session_key(user: &OwnedUserId, slot: LoginSlot) -> String {
    ferrybridge_core::ids::UserLogin::new(user.clone(), slot).store_key()
}

struct ClientState {
    /// This client's update sink, while it listens (logging it out stops only its own).
    listening: Option<mpsc::Sender<TgUpdate>>,
    phone: Option<String>,
    code_sent: bool,
    password_pending: bool,
    authorized: Option<i64>,
}

/// One Matrix user's fake connection.
pub struct FakeClient {
    world: FakeWorld,
    store: Store,
    /// Where this login's authorization is kept ([`session_key`]).
    key: String,
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
            .kv_set(NS, &self.key, &user.id)
            .await
            .map_err(|e| TgError::Other(e.to_string()))
    }

    fn send(&self, sent: Sent) -> Result<(), TgError> {
        let me = self.me_id()?;
        self.world.record(me, sent)
    }

    /// Adds a message this client sent to its chat's history (as Telegram keeps it).
    fn log_sent(&self, chat: ChatRef, id: i32, msg: &OutMessage) {
        let Ok(me) = self.me_id() else { return };
        let mut w = self.world.w();
        let sender = w.users.get(&me).cloned().unwrap_or_default();
        w.log(
            Some(me),
            TgMessage {
                id,
                chat,
                sender,
                outgoing: true,
                text: msg.text.clone(),
                entities: msg.entities.clone(),
                reply_to: msg.reply_to,
                media: None,
                content: None,
                date: super::now(),
            },
        );
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
        let own = {
            let mut st = self.st();
            st.authorized = None;
            st.listening.take()
        };
        // Only this authorization ends: another client of the same account keeps listening.
        if let Some(own) = own {
            let mut w = self.world.w();
            if w.listeners.get(&me).is_some_and(|tx| tx.same_channel(&own)) {
                w.listeners.remove(&me);
            }
        }
        let _ = self.store.kv_delete(NS, &self.key).await;
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
        self.st().listening = Some(tx.clone());
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
        let me = self.me_id()?;
        let found = self.world.w().chats.get(&chat).cloned();
        // Like Telegram, a group or channel is visible to its members only.
        found
            .filter(|c| c.chat.kind == ChatKind::User || c.members.iter().any(|m| m.id == me))
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
        self.send(Sent::Message {
            chat,
            id,
            msg: msg.clone(),
        })?;
        self.log_sent(chat, id, &msg);
        Ok(id)
    }

    async fn send_poll(
        &self,
        chat: ChatRef,
        poll: OutPoll,
    ) -> Result<(i32, Vec<Vec<u8>>), TgError> {
        let id = self.world.next_message_id();
        // Telegram numbers the options itself; the fake from 0x10, so tests tell them apart
        // from the answers' positions.
        let options = (0..poll.options.len())
            .map(|i| vec![0x10 + u8::try_from(i).unwrap_or(u8::MAX)])
            .collect();
        self.send(Sent::Poll { chat, id, poll })?;
        Ok((id, options))
    }

    async fn vote(&self, chat: ChatRef, id: i32, options: Vec<Vec<u8>>) -> Result<(), TgError> {
        self.send(Sent::Vote { chat, id, options })
    }

    async fn send_media(&self, chat: ChatRef, media: OutMedia) -> Result<i32, TgError> {
        let id = self.world.next_message_id();
        let caption = media.caption.clone();
        self.send(Sent::Media { chat, id, media })?;
        self.log_sent(chat, id, &caption);
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

    async fn edit_chat(&self, chat: ChatRef, edit: ChatEdit) -> Result<(), TgError> {
        if chat.kind == ChatKind::User {
            return Err(TgError::NotAllowed);
        }
        self.send(Sent::EditChat {
            chat,
            edit: edit.clone(),
        })?;
        if let Some(c) = self.world.w().chats.get_mut(&chat) {
            match edit {
                ChatEdit::Title(t) => c.title = t,
                ChatEdit::About(a) => c.about = Some(a),
                // The recorded edit is all the tests look at.
                ChatEdit::Photo(_) => {}
            }
        }
        Ok(())
    }

    async fn remove_member(&self, chat: ChatRef, user: i64, ban: bool) -> Result<(), TgError> {
        if chat.kind == ChatKind::User {
            return Err(TgError::NotAllowed);
        }
        self.send(Sent::RemoveMember { chat, user, ban })?;
        if let Some(c) = self.world.w().chats.get_mut(&chat) {
            c.members.retain(|m| m.id != user);
        }
        Ok(())
    }

    async fn add_member(&self, chat: ChatRef, user: i64) -> Result<(), TgError> {
        if chat.kind == ChatKind::User {
            return Err(TgError::NotAllowed);
        }
        let who = self
            .world
            .w()
            .users
            .get(&user)
            .cloned()
            .ok_or(TgError::NotFound)?;
        self.send(Sent::AddMember { chat, user })?;
        if let Some(c) = self.world.w().chats.get_mut(&chat)
            && !c.members.iter().any(|m| m.id == user)
        {
            c.members.push(who);
        }
        Ok(())
    }

    async fn history(
        &self,
        chat: ChatRef,
        after: Option<i32>,
        limit: usize,
    ) -> Result<Vec<TgMessage>, TgError> {
        let me = self.me_id()?;
        Ok(self.world.w().history(me, chat, after, limit))
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
