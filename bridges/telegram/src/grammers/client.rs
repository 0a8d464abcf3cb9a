//! [`GrammersClient`]: one user's grammers connection behind [`TelegramNetwork`].

use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use ferrybridge_core::tasks::Tasks;
use grammers_client::client::{LoginToken, PasswordToken};
use grammers_client::message::{InputMessage, InputReactions};
use grammers_client::peer::Peer;
use grammers_client::{Client, SignInError};
use grammers_mtsender::{ConnectionParams, SenderPool, UpdatesConfiguration};
use grammers_session::Session;
use grammers_session::types::PeerRef;
use grammers_session::updates::UpdatesLike;
use grammers_tl_types as tl;
use tokio::sync::mpsc;

use super::convert;
use super::entities::to_tl;
use super::errors::{map_invocation, map_sign_in};
use super::media_cache::MediaCache;
use super::store_session::StoreSession;
use super::stream;
use crate::network::{
    ChatEdit, ChatKind, ChatRef, MediaKind, MediaRef, OutMedia, OutMessage, OutPoll, SignIn,
    TelegramNetwork, TgChat, TgError, TgMessage, TgUpdate, TgUser,
};

#[derive(Default)]
struct State {
    login: Option<LoginToken>,
    password: Option<PasswordToken>,
    updates: Option<mpsc::Receiver<UpdatesLike>>,
    me: Option<i64>,
}

/// One user's connection.
pub struct GrammersClient {
    pub(super) client: Client,
    session: Arc<StoreSession>,
    api_hash: String,
    state: Mutex<State>,
    pub(super) media: MediaCache,
    runner: tokio::task::JoinHandle<()>,
    tasks: Tasks,
}

impl GrammersClient {
    /// Starts the sender pool (connections are made lazily by the first call).
    pub fn connect(
        session: Arc<StoreSession>,
        api_id: i32,
        api_hash: String,
        device_model: String,
        tasks: &Tasks,
    ) -> Self {
        let params = ConnectionParams {
            device_model,
            app_version: env!("CARGO_PKG_VERSION").into(),
            ..Default::default()
        };
        let SenderPool {
            runner,
            handle,
            updates,
        } = SenderPool::with_configuration(session.clone(), api_id, params);
        let client = Client::new(handle);
        let runner = tasks.spawn(runner.run());
        Self {
            client,
            session,
            api_hash,
            state: Mutex::new(State {
                updates: Some(updates),
                ..Default::default()
            }),
            media: MediaCache::default(),
            runner,
            tasks: tasks.clone(),
        }
    }

    fn st(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The access reference of a chat, from the session's peer cache.
    pub(super) async fn peer(&self, chat: ChatRef) -> Result<PeerRef, TgError> {
        let id = convert::peer_id(chat);
        match self.session.peer_ref(id).await {
            Ok(Some(r)) => Ok(r),
            Ok(None) if chat.kind == ChatKind::Group => Ok(id.to_ambient_ref()),
            Ok(None) => Err(TgError::NotFound),
            Err(e) => Err(TgError::Other(e.to_string())),
        }
    }

    fn input(msg: OutMessage) -> InputMessage {
        InputMessage::new()
            .text(msg.text)
            .fmt_entities(to_tl(&msg.entities))
            .reply_to(msg.reply_to)
    }

    fn chat_of(&self, peer: &Peer) -> TgChat {
        let chat = convert::chat_ref(peer.id());
        let has_photo = match peer {
            Peer::User(u) => u.photo().is_some(),
            Peer::Group(g) => g.photo().is_some(),
            Peer::Channel(c) => c.photo().is_some(),
            Peer::Community(c) => c.photo().is_some(),
        };
        TgChat {
            chat,
            title: peer.name().unwrap_or_default().to_owned(),
            about: None,
            photo: has_photo.then(|| convert::profile_photo(chat)),
            members: match peer {
                Peer::User(u) => vec![convert::user(u)],
                _ => vec![],
            },
            last_message_at: None,
        }
    }

    pub(super) fn first_user(users: &[tl::enums::User]) -> Result<TgUser, TgError> {
        users
            .iter()
            .find_map(|u| match u {
                tl::enums::User::User(u) => Some(TgUser {
                    id: u.id,
                    first_name: u.first_name.clone().unwrap_or_default(),
                    last_name: u.last_name.clone(),
                    username: u.username.clone(),
                    phone: u.phone.clone(),
                    photo: None,
                }),
                _ => None,
            })
            .ok_or(TgError::NotFound)
    }

    pub(super) async fn cache_users(&self, users: &[tl::enums::User]) {
        for u in users {
            if let tl::enums::User::User(u) = u {
                let info = grammers_session::types::PeerInfo::User {
                    id: u.id,
                    auth: u
                        .access_hash
                        .map(grammers_session::types::PeerAuth::from_hash),
                    bot: Some(u.bot),
                    is_self: Some(u.is_self),
                };
                let _ = self.session.cache_peer(info).await;
            }
        }
    }
}

impl Drop for GrammersClient {
    fn drop(&mut self) {
        self.client.disconnect();
        self.runner.abort();
    }
}

#[async_trait]
impl TelegramNetwork for GrammersClient {
    async fn request_login_code(&self, phone: &str) -> Result<(), TgError> {
        let token = self
            .client
            .request_login_code(phone, &self.api_hash)
            .await
            .map_err(map_invocation)?;
        self.st().login = Some(token);
        Ok(())
    }

    async fn sign_in(&self, code: &str) -> Result<SignIn, TgError> {
        let token = self
            .st()
            .login
            .take()
            .ok_or_else(|| TgError::Other("no login code was requested".into()))?;
        let result = self.client.sign_in(&token, code).await;
        match result {
            Ok(user) => {
                self.st().me = Some(user.id().bare_id_unchecked());
                Ok(SignIn::Done(convert::user(&user)))
            }
            Err(SignInError::PasswordRequired(pt)) => {
                let hint = pt.hint().map(str::to_owned);
                self.st().password = Some(pt);
                Ok(SignIn::PasswordRequired { hint })
            }
            Err(SignInError::InvalidCode) => {
                // The same token accepts another try.
                self.st().login = Some(token);
                Err(TgError::CodeInvalid)
            }
            Err(e) => Err(map_sign_in(e)),
        }
    }

    async fn check_password(&self, password: &str) -> Result<TgUser, TgError> {
        let pt = self
            .st()
            .password
            .take()
            .ok_or_else(|| TgError::Other("no password was asked for".into()))?;
        match self.client.check_password(pt, password.as_bytes()).await {
            Ok(user) => {
                self.st().me = Some(user.id().bare_id_unchecked());
                Ok(convert::user(&user))
            }
            Err(SignInError::InvalidPassword(pt)) => {
                self.st().password = Some(pt);
                Err(TgError::PasswordInvalid)
            }
            Err(e) => Err(map_sign_in(e)),
        }
    }

    async fn logout(&self) -> Result<(), TgError> {
        self.client.sign_out().await.map_err(map_invocation)?;
        Ok(())
    }

    async fn me(&self) -> Result<TgUser, TgError> {
        let me = self.client.get_me().await.map_err(map_invocation)?;
        self.st().me = Some(me.id().bare_id_unchecked());
        Ok(convert::user(&me))
    }

    async fn updates(&self) -> Result<mpsc::Receiver<TgUpdate>, TgError> {
        let raw = self
            .st()
            .updates
            .take()
            .ok_or_else(|| TgError::Other("updates are already being received".into()))?;
        let mut stream = self
            .client
            .stream_updates(raw, UpdatesConfiguration { catch_up: true })
            .await
            .map_err(|e| TgError::Network(e.to_string()))?;
        let me = self.st().me.unwrap_or(0);
        let (tx, rx) = mpsc::channel(256);
        let media = self.media.clone();
        self.tasks.spawn(async move {
            let mut health = stream::Resilience::default();
            loop {
                match stream.next().await {
                    Ok(update) => {
                        if let Some(resumed) = health.succeeded()
                            && tx.send(resumed).await.is_err()
                        {
                            return;
                        }
                        if let grammers_client::update::Update::NewMessage(m)
                        | grammers_client::update::Update::MessageEdited(m) = &update
                            && let Some((ours, theirs)) = convert::media(m)
                        {
                            media.remember(ours.handle, theirs);
                        }
                        for u in convert::update(&update, me) {
                            if tx.send(u).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let e = map_invocation(e);
                        if e == TgError::Unauthorized {
                            tracing::warn!("Telegram revoked the session");
                            let _ = tx.send(TgUpdate::LoggedOut).await;
                            return;
                        }
                        // The stream keeps its update state: the next success catches up.
                        let (told, wait) = health.failed(&e.to_string(), jitter());
                        tracing::warn!(error = %e, ?wait, "Telegram update stream failed; retrying");
                        if let Some(told) = told
                            && tx.send(told).await.is_err()
                        {
                            return;
                        }
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        });
        Ok(rx)
    }

    async fn dialogs(&self, limit: usize) -> Result<Vec<TgChat>, TgError> {
        let mut it = self.client.iter_dialogs();
        let mut out = vec![];
        while out.len() < limit {
            let Some(d) = it.next().await.map_err(map_invocation)? else {
                break;
            };
            let mut chat = self.chat_of(d.peer());
            chat.last_message_at = d.last_message.as_ref().map(|m| m.date().as_second());
            out.push(chat);
        }
        Ok(out)
    }

    async fn chat(&self, chat: ChatRef) -> Result<TgChat, TgError> {
        let peer = self.peer(chat).await?;
        let resolved = self
            .client
            .resolve_peer(peer)
            .await
            .map_err(map_invocation)?;
        let mut info = self.chat_of(&resolved);
        if chat.kind != ChatKind::User {
            let mut it = self.client.iter_participants(peer);
            while info.members.len() < 200 {
                match it.next().await {
                    Ok(Some(p)) => {
                        info.members.push(convert::user(&p.user));
                    }
                    _ => break,
                }
            }
        }
        Ok(info)
    }

    async fn resolve_phone(&self, phone: &str) -> Result<TgUser, TgError> {
        super::lookup::resolve_phone(self, phone).await
    }

    async fn resolve_username(&self, username: &str) -> Result<TgUser, TgError> {
        super::lookup::resolve_username(self, username).await
    }

    async fn search(&self, query: &str) -> Result<Vec<TgChat>, TgError> {
        super::lookup::search(self, query).await
    }

    async fn send_message(&self, chat: ChatRef, msg: OutMessage) -> Result<i32, TgError> {
        let peer = self.peer(chat).await?;
        let sent = self
            .client
            .send_message(peer, Self::input(msg))
            .await
            .map_err(map_invocation)?;
        Ok(sent.id())
    }

    async fn send_media(&self, chat: ChatRef, media: OutMedia) -> Result<i32, TgError> {
        let peer = self.peer(chat).await?;
        let size = media.data.len();
        let mut reader = std::io::Cursor::new(media.data.to_vec());
        let uploaded = self
            .client
            .upload_stream(&mut reader, size, media.file_name.clone())
            .await
            .map_err(|e| TgError::Network(e.to_string()))?;
        let input = Self::input(media.caption);
        let input = match media.kind {
            MediaKind::Photo => input.photo(uploaded),
            // A voice note plays as one only with the voice attribute.
            MediaKind::Voice => input.document(uploaded).mime_type(&media.mime).attribute(
                grammers_client::media::Attribute::Voice {
                    duration: std::time::Duration::ZERO,
                    waveform: None,
                },
            ),
            _ => input.document(uploaded).mime_type(&media.mime),
        };
        let sent = self
            .client
            .send_message(peer, input)
            .await
            .map_err(map_invocation)?;
        Ok(sent.id())
    }

    async fn send_poll(
        &self,
        chat: ChatRef,
        poll: OutPoll,
    ) -> Result<(i32, Vec<Vec<u8>>), TgError> {
        super::polls::send_poll(self, chat, poll).await
    }

    async fn vote(&self, chat: ChatRef, id: i32, options: Vec<Vec<u8>>) -> Result<(), TgError> {
        super::polls::vote(self, chat, id, options).await
    }

    async fn edit_message(&self, chat: ChatRef, id: i32, msg: OutMessage) -> Result<(), TgError> {
        let peer = self.peer(chat).await?;
        self.client
            .edit_message(peer, id, Self::input(msg))
            .await
            .map_err(map_invocation)
    }

    async fn delete_messages(&self, chat: ChatRef, ids: &[i32]) -> Result<(), TgError> {
        let peer = self.peer(chat).await?;
        self.client
            .delete_messages(peer, ids)
            .await
            .map_err(map_invocation)?;
        Ok(())
    }

    async fn react(&self, chat: ChatRef, id: i32, emoji: Option<&str>) -> Result<(), TgError> {
        let peer = self.peer(chat).await?;
        let reactions = match emoji {
            Some(e) => InputReactions::emoticon(e),
            None => InputReactions::default(),
        };
        self.client
            .send_reactions(peer, id, reactions)
            .await
            .map_err(map_invocation)
    }

    async fn set_typing(&self, chat: ChatRef, typing: bool) -> Result<(), TgError> {
        let peer = self.peer(chat).await?;
        let action = self.client.action(peer);
        if typing {
            action
                .oneshot(tl::types::SendMessageTypingAction {})
                .await
                .map_err(map_invocation)
        } else {
            action.cancel().await.map_err(map_invocation)
        }
    }

    async fn mark_read(&self, chat: ChatRef, _up_to: i32) -> Result<(), TgError> {
        let peer = self.peer(chat).await?;
        self.client.mark_as_read(peer).await.map_err(map_invocation)
    }

    async fn edit_chat(&self, chat: ChatRef, edit: ChatEdit) -> Result<(), TgError> {
        super::admin::edit_chat(self, chat, edit).await
    }

    async fn remove_member(&self, chat: ChatRef, user: i64, ban: bool) -> Result<(), TgError> {
        super::admin::remove_member(self, chat, user, ban).await
    }

    async fn add_member(&self, chat: ChatRef, user: i64) -> Result<(), TgError> {
        super::admin::add_member(self, chat, user).await
    }

    async fn history(
        &self,
        chat: ChatRef,
        after: Option<i32>,
        limit: usize,
    ) -> Result<Vec<TgMessage>, TgError> {
        super::history::read(self, chat, after, limit).await
    }

    async fn download(
        &self,
        media: &MediaRef,
        cap: ferrybridge_core::media_cap::MediaCap,
    ) -> Result<bytes::Bytes, TgError> {
        let mut it = match media.0.strip_prefix(convert::PHOTO_PREFIX) {
            Some(chat) => {
                let chat: ChatRef = chat.parse().map_err(|_| TgError::NotFound)?;
                let peer = self.peer(chat).await?;
                let resolved = self
                    .client
                    .resolve_peer(peer)
                    .await
                    .map_err(map_invocation)?;
                let photo = resolved
                    .photo(false)
                    .await
                    .map_err(map_invocation)?
                    .ok_or(TgError::NotFound)?;
                self.client.iter_download(&photo)
            }
            None => {
                let m = self.media.get(media).ok_or(TgError::NotFound)?;
                self.client.iter_download(&m)
            }
        };
        let mut out = Vec::new();
        let mut counter = cap.counter();
        while let Some(chunk) = it.next().await.map_err(map_invocation)? {
            counter.add(chunk.len())?;
            out.extend_from_slice(&chunk);
        }
        Ok(out.into())
    }

    async fn disconnect(&self) {
        self.client.disconnect();
    }
}

/// A jitter sample in `0.0..1.0` (the clock's nanoseconds: good enough to spread retries).
fn jitter() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.5, |d| f64::from(d.subsec_nanos()) / 1e9)
}
