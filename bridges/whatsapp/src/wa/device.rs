//! [`RealDevice`]: one whatsapp-rust client (a `Bot` on a `SqliteStore` file): its session's
//! lifecycle (pairing, connecting, logging out) and the [`WhatsAppNetwork`] calls over it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::mpsc;
use whatsapp_rust::bot::{Bot, BotHandle};
use whatsapp_rust::download::DownloadParams;
use whatsapp_rust::features::{
    GroupDescription, GroupSubject, PollVoteCiphertext, PreviousDescription,
};
use whatsapp_rust::pair_code::PairCodeOptions;
use whatsapp_rust::send::RevokeType;
use whatsapp_rust::store::SqliteStore;
use whatsapp_rust::upload::{UploadOptions, UploadResponse};
use whatsapp_rust::wacore::proto_helpers::MessageBuilderExt;
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::{Client, Jid};

use super::convert::{self, MediaHandle, group_info, jid_of, pn};
use super::routing::{self, Routes};
use crate::jid::{ChatJid, Phone};
use crate::network::{
    ContactPicture, GroupEdit, GroupInfo, MediaKind, Outgoing, PairingEvent, PollKey, WaError,
    WaEvent, WaMedia, WhatsAppNetwork,
};

/// One whatsapp-rust device.
pub struct RealDevice {
    path: PathBuf,
    routes: Arc<Mutex<Routes>>,
    running: tokio::sync::Mutex<Option<BotHandle>>,
}

fn refused(e: impl std::fmt::Display) -> WaError {
    WaError::Refused(e.to_string())
}

/// A group chat's JID; a direct chat has no subject, description or members to remove.
fn group_jid(chat: &ChatJid) -> Result<Jid, WaError> {
    match chat {
        ChatJid::Group(_) => jid_of(chat),
        ChatJid::Direct(_) => Err(WaError::Invalid("a private chat is not a group".into())),
    }
}

impl RealDevice {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            routes: Arc::default(),
            running: tokio::sync::Mutex::new(None),
        }
    }

    /// The side file that records the linked account (the store's own record needs a client).
    fn account_path(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".account");
        PathBuf::from(p)
    }

    fn routes(&self) -> std::sync::MutexGuard<'_, Routes> {
        self.routes.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn client(&self) -> Result<Arc<Client>, WaError> {
        self.running
            .lock()
            .await
            .as_ref()
            .map(|h| h.client())
            .ok_or(WaError::NotLinked)
    }

    /// Builds and starts the client on the session file.
    async fn launch(&self, pair_phone: Option<&Phone>) -> Result<(), WaError> {
        self.stop().await;
        let store = open_store(&self.path).await?;
        let routes = self.routes.clone();
        let account_path = self.account_path();
        let mut builder = Bot::builder()
            .with_backend(store)
            .on_event(move |event, client| {
                let routes = routes.clone();
                let account_path = account_path.clone();
                async move { routing::handle(&routes, &account_path, event, client).await }
            });
        if let Some(phone) = pair_phone {
            builder = builder.with_pair_code(PairCodeOptions {
                phone_number: phone.digits().to_owned(),
                ..Default::default()
            });
        }
        let bot = builder
            .build()
            .await
            .map_err(|e| WaError::Store(e.to_string()))?;
        *self.running.lock().await = Some(bot.spawn());
        Ok(())
    }

    async fn stop(&self) {
        if let Some(handle) = self.running.lock().await.take() {
            // A client still dialing may never flush: do not wait on it forever.
            let _ =
                tokio::time::timeout(std::time::Duration::from_secs(5), handle.shutdown()).await;
        }
    }

    async fn start_pairing_with(
        &self,
        phone: Option<&Phone>,
    ) -> Result<mpsc::Receiver<PairingEvent>, WaError> {
        let (tx, rx) = mpsc::channel(16);
        self.routes().pairing = Some(tx);
        self.launch(phone).await?;
        Ok(rx)
    }

    /// Uploads a file's bytes, encrypted, for a media message.
    async fn upload(
        client: &Client,
        kind: MediaKind,
        data: Bytes,
    ) -> Result<UploadResponse, WaError> {
        client
            .upload(
                data.to_vec(),
                convert::media_type(kind),
                UploadOptions::default(),
            )
            .await
            .map_err(|e| WaError::Media(e.to_string()))
    }
}

/// Opens (creating) a session store. It holds the device's keys in the clear (see the
/// README), so its file is made owner-only before SQLite creates it; SQLite gives the
/// `-wal`/`-shm` files the same mode.
async fn open_store(path: &Path) -> Result<SqliteStore, WaError> {
    ferrybridge_core::private_fs::ensure_private_file(path)
        .map_err(|e| WaError::Store(format!("{}: {e}", path.display())))?;
    SqliteStore::new(&path.to_string_lossy())
        .await
        .map_err(|e| WaError::Store(e.to_string()))
}

#[async_trait]
impl WhatsAppNetwork for RealDevice {
    async fn account(&self) -> Option<Phone> {
        let text = std::fs::read_to_string(self.account_path()).ok()?;
        if !self.path.exists() {
            return None;
        }
        Phone::parse(&text).ok()
    }

    async fn start_pairing(&self) -> Result<mpsc::Receiver<PairingEvent>, WaError> {
        self.start_pairing_with(None).await
    }

    async fn pair_with_code(&self, phone: &Phone) -> Result<mpsc::Receiver<PairingEvent>, WaError> {
        self.start_pairing_with(Some(phone)).await
    }

    async fn connect(&self) -> Result<mpsc::Receiver<WaEvent>, WaError> {
        if self.account().await.is_none() {
            return Err(WaError::NotLinked);
        }
        let (tx, rx) = mpsc::channel(1024);
        self.routes().events = Some(tx);
        // After a pairing the client is already running on the linked session.
        if self.running.lock().await.is_none() {
            self.launch(None).await?;
        }
        Ok(rx)
    }

    async fn disconnect(&self) {
        self.stop().await;
        let mut routes = self.routes();
        routes.events = None;
        routes.pairing = None;
    }

    async fn logout(&self) -> Result<(), WaError> {
        if let Ok(client) = self.client().await {
            client.logout().await;
        }
        self.delete_session().await
    }

    async fn delete_session(&self) -> Result<(), WaError> {
        self.disconnect().await;
        let mut files = vec![self.account_path(), self.path.clone()];
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            files.push(PathBuf::from(p));
        }
        for f in files {
            match std::fs::remove_file(&f) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(WaError::Store(format!("{}: {e}", f.display()))),
            }
        }
        Ok(())
    }

    async fn is_on_whatsapp(&self, phones: &[Phone]) -> Result<Vec<(Phone, bool)>, WaError> {
        let client = self.client().await?;
        let jids: Vec<Jid> = phones.iter().map(pn).collect();
        let found = client
            .contacts()
            .is_on_whatsapp(&jids)
            .await
            .map_err(refused)?;
        Ok(phones
            .iter()
            .map(|p| {
                let on = found.iter().any(|r| {
                    r.is_registered
                        && (r.jid.user == p.digits()
                            || r.pn_jid.as_ref().is_some_and(|j| j.user == p.digits()))
                });
                (p.clone(), on)
            })
            .collect())
    }

    async fn send(&self, chat: &ChatJid, message: Outgoing) -> Result<String, WaError> {
        let client = self.client().await?;
        let to = jid_of(chat)?;
        let msg = match message {
            Outgoing::Text { text, reply_to } => convert::text(text, &reply_to),
            Outgoing::Location {
                latitude,
                longitude,
            } => convert::location(latitude, longitude),
            Outgoing::Media {
                kind,
                data,
                mimetype,
                filename,
                caption,
                reply_to,
            } => {
                let up = Self::upload(&client, kind, data).await?;
                convert::media_message(kind, up, &mimetype, &filename, caption, &reply_to)
            }
        };
        let sent = client.send_message(to, msg).await.map_err(refused)?;
        Ok(sent.message_id)
    }

    async fn send_poll(
        &self,
        chat: &ChatJid,
        question: &str,
        options: &[String],
        max_selections: u32,
    ) -> Result<(String, Vec<u8>), WaError> {
        let client = self.client().await?;
        // WhatsApp counts "any number" as all of them.
        let all = u32::try_from(options.len()).unwrap_or(u32::MAX).max(1);
        let (sent, secret) = client
            .polls()
            .create(
                jid_of(chat)?,
                question,
                options,
                max_selections.clamp(1, all),
            )
            .await
            .map_err(refused)?;
        Ok((sent.message_id, secret))
    }

    async fn vote(
        &self,
        chat: &ChatJid,
        poll: &str,
        key: &PollKey,
        options: &[String],
    ) -> Result<String, WaError> {
        let client = self.client().await?;
        let sent = client
            .polls()
            .vote(jid_of(chat)?, poll, &pn(&key.creator), &key.secret, options)
            .await
            .map_err(refused)?;
        Ok(sent.message_id)
    }

    async fn open_vote(
        &self,
        poll: &str,
        key: &PollKey,
        voter: &Phone,
        payload: &[u8],
        iv: &[u8],
    ) -> Result<Vec<String>, WaError> {
        let client = self.client().await?;
        let ciphertext = PollVoteCiphertext {
            enc_payload: payload,
            enc_iv: iv,
        };
        let hashes = client
            .polls()
            .decrypt_vote(ciphertext, &key.secret, poll, &pn(&key.creator), &pn(voter))
            .await
            .map_err(refused)?;
        Ok(convert::chosen_options(&hashes, &key.options))
    }

    async fn edit(&self, chat: &ChatJid, target: &str, text: &str) -> Result<String, WaError> {
        let client = self.client().await?;
        client
            .edit_message(jid_of(chat)?, target, wa::Message::text(text))
            .await
            .map_err(refused)
    }

    async fn revoke(&self, chat: &ChatJid, target: &str) -> Result<(), WaError> {
        let client = self.client().await?;
        client
            .revoke_message(jid_of(chat)?, target, RevokeType::Sender)
            .await
            .map_err(refused)
    }

    async fn react(
        &self,
        chat: &ChatJid,
        target: &str,
        target_sender: Option<&Phone>,
        emoji: &str,
    ) -> Result<String, WaError> {
        let client = self.client().await?;
        let from_me = target_sender.is_some() && self.account().await.as_ref() == target_sender;
        let msg = convert::reaction(chat, target, target_sender, from_me, emoji);
        let sent = client
            .send_message(jid_of(chat)?, msg)
            .await
            .map_err(refused)?;
        Ok(sent.message_id)
    }

    async fn mark_read(
        &self,
        chat: &ChatJid,
        sender: &Phone,
        ids: &[String],
    ) -> Result<(), WaError> {
        let client = self.client().await?;
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let sender = chat.is_group().then(|| pn(sender));
        client
            .mark_as_read(&jid_of(chat)?, sender.as_ref(), &ids)
            .await
            .map_err(refused)
    }

    async fn set_typing(&self, chat: &ChatJid, typing: bool) -> Result<(), WaError> {
        let client = self.client().await?;
        let to = jid_of(chat)?;
        let result = if typing {
            client.chatstate().send_composing(&to).await
        } else {
            client.chatstate().send_paused(&to).await
        };
        result.map_err(refused)
    }

    async fn groups(&self) -> Result<Vec<GroupInfo>, WaError> {
        let client = self.client().await?;
        let groups = client.groups().get_participating().await.map_err(refused)?;
        Ok(groups
            .into_values()
            .filter_map(|g| group_info(&g))
            .collect())
    }

    async fn group_info(&self, group: &ChatJid) -> Result<GroupInfo, WaError> {
        let client = self.client().await?;
        let meta = client
            .groups()
            .get_metadata(&jid_of(group)?)
            .await
            .map_err(refused)?;
        let mut info =
            group_info(&meta).ok_or_else(|| WaError::Refused(format!("{group} is not a group")))?;
        info.picture = picture(&client, &meta.id).await;
        Ok(info)
    }

    async fn contact_picture(&self, phone: &Phone) -> Result<Option<ContactPicture>, WaError> {
        let client = self.client().await?;
        let Some(pic) = client
            .contacts()
            .get_profile_picture(&pn(phone), false)
            .await
            .map_err(refused)?
        else {
            return Ok(None);
        };
        let data = fetch(&pic.url)
            .await
            .ok_or_else(|| WaError::Media("the picture did not download".into()))?;
        Ok(Some(ContactPicture { id: pic.id, data }))
    }

    async fn edit_group(&self, group: &ChatJid, edit: GroupEdit) -> Result<(), WaError> {
        let client = self.client().await?;
        let jid = group_jid(group)?;
        let groups = client.groups();
        match edit {
            GroupEdit::Subject(subject) => {
                let subject =
                    GroupSubject::new(subject).map_err(|e| WaError::Invalid(e.to_string()))?;
                groups.set_subject(jid, subject).await
            }
            GroupEdit::Description(text) => {
                let description = Some(text)
                    .filter(|t| !t.is_empty())
                    .map(GroupDescription::new)
                    .transpose()
                    .map_err(|e| WaError::Invalid(e.to_string()))?;
                groups
                    .set_description(jid, description, PreviousDescription::Resolve)
                    .await
            }
            GroupEdit::Picture(Some(jpeg)) => groups
                .set_profile_picture(jid, jpeg.to_vec())
                .await
                .map(drop),
            GroupEdit::Picture(None) => groups.remove_profile_picture(jid).await.map(drop),
        }
        .map_err(refused)
    }

    async fn remove_participant(&self, group: &ChatJid, member: &Phone) -> Result<(), WaError> {
        let client = self.client().await?;
        let answers = client
            .groups()
            .remove_participants(group_jid(group)?, &[pn(member)])
            .await
            .map_err(refused)?;
        convert::participant_refusal(&answers).map_or(Ok(()), Err)
    }

    async fn add_participant(&self, group: &ChatJid, member: &Phone) -> Result<(), WaError> {
        let client = self.client().await?;
        let answers = client
            .groups()
            .add_participants(group_jid(group)?, &[pn(member)])
            .await
            .map_err(refused)?;
        convert::addition_refusal(&answers).map_or(Ok(()), Err)
    }

    async fn download(
        &self,
        media: &WaMedia,
        cap: ferrybridge_core::media_cap::MediaCap,
    ) -> Result<Bytes, WaError> {
        let client = self.client().await?;
        let handle = MediaHandle::decode(&media.handle)
            .ok_or_else(|| WaError::Media("unreadable media reference".into()))?;
        let params = DownloadParams::encrypted(
            handle.direct_path,
            &handle.media_key,
            &handle.file_sha256,
            &handle.file_enc_sha256,
            handle.file_length,
            convert::media_type(media.kind),
        );
        let (sink, overflowed) = super::capped::CappedWriter::new(cap);
        match client.download_from_params_to_writer(&params, sink).await {
            Ok(sink) => Ok(Bytes::from(sink.into_inner())),
            Err(_) if overflowed.load(std::sync::atomic::Ordering::Relaxed) => {
                Err(WaError::TooLarge(ferrybridge_core::media_cap::TooLarge {
                    size: None,
                    limit: cap.limit(),
                }))
            }
            Err(e) => Err(WaError::Media(e.to_string())),
        }
    }
}

/// A group picture, when it has one and it downloads.
async fn picture(client: &Client, jid: &Jid) -> Option<Bytes> {
    let pic = client
        .contacts()
        .get_profile_picture(jid, false)
        .await
        .ok()??;
    fetch(&pic.url).await
}

/// A picture from WhatsApp's media servers.
async fn fetch(url: &str) -> Option<Bytes> {
    use whatsapp_rust::wacore::net::{HttpClient, HttpRequest};
    let resp = whatsapp_rust::http::UreqHttpClient::new()
        .execute(HttpRequest::get(url.to_owned()))
        .await
        .ok()?;
    (resp.status_code == 200).then(|| Bytes::from(resp.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn delete_session_removes_the_real_store_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice.db");
        // whatsapp-rust's own SQLite store creates its file and schema.
        let store = SqliteStore::new(&path.to_string_lossy()).await.unwrap();
        drop(store);
        assert!(path.exists(), "the store made its file");
        let device = RealDevice::new(&path);
        assert_eq!(device.account().await, None, "never paired");
        std::fs::write(device.account_path(), "4412345678").unwrap();
        assert_eq!(
            device.account().await,
            Some(Phone::parse("4412345678").unwrap())
        );
        device.delete_session().await.unwrap();
        assert!(!path.exists(), "delete-session removes the device");
        assert_eq!(device.account().await, None);
        // Deleting twice is fine.
        device.delete_session().await.unwrap();
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn session_store_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice.db");
        let store = open_store(&path).await.unwrap();
        assert_eq!(mode(&path), 0o600);
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let p = entry.unwrap().path();
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
        drop(store);
        let device = RealDevice::new(&path);
        routing::record_account(&device.account_path(), &Phone::parse("4412345678").unwrap());
        assert_eq!(mode(&device.account_path()), 0o600);
    }

    #[tokio::test]
    async fn connect_without_a_session_is_not_linked() {
        let dir = tempfile::tempdir().unwrap();
        let device = RealDevice::new(&dir.path().join("bob.db"));
        assert_eq!(device.connect().await.err(), Some(WaError::NotLinked));
        assert_eq!(device.client().await.err(), Some(WaError::NotLinked));
    }
}
