//! A device on the fake WhatsApp: the [`WhatsAppNetwork`] the bridge talks to.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use ruma::OwnedUserId;
use tokio::sync::mpsc;

use super::{FakeWhatsApp, Pairing, Sent, qr_payload};
use crate::jid::{ChatJid, Phone};
use crate::network::{
    ContactPicture, GroupEdit, GroupInfo, Outgoing, PairingEvent, PollKey, WaError, WaEvent,
    WaMedia, WhatsAppFactory, WhatsAppNetwork,
};

/// The secret of every poll the fake starts (a real one is random).
pub const FAKE_POLL_SECRET: [u8; 32] = [0x5e; 32];

#[async_trait]
impl WhatsAppFactory for FakeWhatsApp {
    async fn open(
        &self,
        _user: &OwnedUserId,
        session_path: &Path,
    ) -> Result<Arc<dyn WhatsAppNetwork>, WaError> {
        // A device that was linked before a restart is found through its session file.
        if let Ok(text) = std::fs::read_to_string(session_path)
            && let Ok(phone) = Phone::parse(&text)
        {
            self.world()
                .linked
                .entry(session_path.to_owned())
                .or_insert(phone);
        }
        Ok(Arc::new(FakeDevice {
            wa: self.clone(),
            path: session_path.to_owned(),
            connection: Default::default(),
        }))
    }
}

/// One device on the fake.
struct FakeDevice {
    wa: FakeWhatsApp,
    path: PathBuf,
    /// This device's connection, while it has one (another device of the same account keeps
    /// its own when this one disconnects).
    connection: std::sync::Mutex<Option<mpsc::Sender<WaEvent>>>,
}

impl FakeDevice {
    /// The linked account: WhatsApp must list the device and its session file must exist.
    fn account(&self) -> Result<Phone, WaError> {
        if !self.path.exists() {
            return Err(WaError::NotLinked);
        }
        self.wa
            .world()
            .linked
            .get(&self.path)
            .cloned()
            .ok_or(WaError::NotLinked)
    }

    fn check_reachable(&self) -> Result<(), WaError> {
        if self.wa.world().unreachable {
            return Err(WaError::Unreachable("no route to host (fake)".into()));
        }
        Ok(())
    }

    fn begin(&self, phone: Option<Phone>) -> Result<mpsc::Receiver<PairingEvent>, WaError> {
        self.check_reachable()?;
        let (tx, rx) = mpsc::channel(16);
        let first = match &phone {
            Some(_) => PairingEvent::PairCode("FAKE-C0DE".replace('-', "")),
            None => PairingEvent::Qr(qr_payload(1)),
        };
        let _ = tx.try_send(first);
        self.wa.world().pairing.insert(
            self.path.clone(),
            Pairing {
                tx,
                shown: 1,
                phone,
            },
        );
        Ok(rx)
    }

    fn chat_exists(&self, chat: &ChatJid) -> Result<(), WaError> {
        let world = self.wa.world();
        let known = match chat {
            ChatJid::Direct(p) => world.registered.contains_key(p),
            ChatJid::Group(_) => world.groups.contains_key(chat),
        };
        if known {
            Ok(())
        } else {
            Err(WaError::Refused(format!("{chat} is not on WhatsApp")))
        }
    }
}

#[async_trait]
impl WhatsAppNetwork for FakeDevice {
    async fn account(&self) -> Option<Phone> {
        self.account().ok()
    }

    async fn start_pairing(&self) -> Result<mpsc::Receiver<PairingEvent>, WaError> {
        self.begin(None)
    }

    async fn pair_with_code(&self, phone: &Phone) -> Result<mpsc::Receiver<PairingEvent>, WaError> {
        self.begin(Some(phone.clone()))
    }

    async fn connect(&self) -> Result<mpsc::Receiver<WaEvent>, WaError> {
        self.check_reachable()?;
        let account = self.account()?;
        let (tx, rx) = mpsc::channel(1024);
        let initial = {
            let mut world = self.wa.world();
            world.connections.insert(account.clone(), tx.clone());
            *self.connection.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx.clone());
            let mut initial = vec![WaEvent::Connected];
            initial.extend(world.registered.iter().filter(|(_, n)| !n.is_empty()).map(
                |(phone, name)| WaEvent::ContactName {
                    phone: phone.clone(),
                    name: name.clone(),
                },
            ));
            initial.extend(world.on_connect.iter().cloned());
            initial.extend(world.offline.remove(&account).unwrap_or_default());
            initial
        };
        for ev in initial {
            let _ = tx.send(ev).await;
        }
        Ok(rx)
    }

    async fn disconnect(&self) {
        let own = self
            .connection
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let (Ok(account), Some(own)) = (self.account(), own) {
            let mut world = self.wa.world();
            if world
                .connections
                .get(&account)
                .is_some_and(|tx| tx.same_channel(&own))
            {
                world.connections.remove(&account);
            }
        }
        // A client that went away no longer shows a code to scan.
        self.wa.world().pairing.remove(&self.path);
    }

    async fn logout(&self) -> Result<(), WaError> {
        self.disconnect().await;
        self.wa.world().linked.remove(&self.path);
        self.delete_session().await
    }

    async fn delete_session(&self) -> Result<(), WaError> {
        if let Ok(account) = self.account() {
            self.wa.world().connections.remove(&account);
        }
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(WaError::Store(e.to_string())),
        }
    }

    async fn is_on_whatsapp(&self, phones: &[Phone]) -> Result<Vec<(Phone, bool)>, WaError> {
        self.account()?;
        let world = self.wa.world();
        Ok(phones
            .iter()
            .map(|p| (p.clone(), world.registered.contains_key(p)))
            .collect())
    }

    async fn send(&self, chat: &ChatJid, message: Outgoing) -> Result<String, WaError> {
        let account = self.account()?;
        self.chat_exists(chat)?;
        Ok(self.wa.record(
            account,
            Sent::Message {
                chat: chat.clone(),
                message,
            },
        ))
    }

    async fn send_poll(
        &self,
        chat: &ChatJid,
        question: &str,
        options: &[String],
        max_selections: u32,
    ) -> Result<(String, Vec<u8>), WaError> {
        let account = self.account()?;
        self.chat_exists(chat)?;
        let poll = Sent::Poll {
            chat: chat.clone(),
            question: question.into(),
            options: options.to_vec(),
            max_selections,
        };
        Ok((self.wa.record(account, poll), FAKE_POLL_SECRET.to_vec()))
    }

    async fn vote(
        &self,
        chat: &ChatJid,
        poll: &str,
        key: &PollKey,
        options: &[String],
    ) -> Result<String, WaError> {
        let account = self.account()?;
        let vote = Sent::Vote {
            chat: chat.clone(),
            poll: poll.into(),
            key: key.clone(),
            options: options.to_vec(),
        };
        Ok(self.wa.record(account, vote))
    }

    /// The fake's votes are not encrypted: the payload is the chosen options' text, one per
    /// line, and a key whose secret is empty refuses to open them.
    async fn open_vote(
        &self,
        _poll: &str,
        key: &PollKey,
        _voter: &Phone,
        payload: &[u8],
        _iv: &[u8],
    ) -> Result<Vec<String>, WaError> {
        if key.secret.is_empty() {
            return Err(WaError::Refused(
                "the vote does not open with this key".into(),
            ));
        }
        let text = String::from_utf8_lossy(payload);
        Ok(text
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect())
    }

    async fn edit(&self, chat: &ChatJid, target: &str, text: &str) -> Result<String, WaError> {
        let account = self.account()?;
        Ok(self.wa.record(
            account,
            Sent::Edit {
                chat: chat.clone(),
                target: target.into(),
                text: text.into(),
            },
        ))
    }

    async fn revoke(&self, chat: &ChatJid, target: &str) -> Result<(), WaError> {
        let account = self.account()?;
        self.wa.record(
            account,
            Sent::Revoke {
                chat: chat.clone(),
                target: target.into(),
            },
        );
        Ok(())
    }

    async fn react(
        &self,
        chat: &ChatJid,
        target: &str,
        _target_sender: Option<&Phone>,
        emoji: &str,
    ) -> Result<String, WaError> {
        let account = self.account()?;
        Ok(self.wa.record(
            account,
            Sent::Reaction {
                chat: chat.clone(),
                target: target.into(),
                emoji: emoji.into(),
            },
        ))
    }

    async fn mark_read(
        &self,
        chat: &ChatJid,
        _sender: &Phone,
        ids: &[String],
    ) -> Result<(), WaError> {
        let account = self.account()?;
        self.wa.record(
            account,
            Sent::Read {
                chat: chat.clone(),
                ids: ids.to_vec(),
            },
        );
        Ok(())
    }

    async fn set_typing(&self, chat: &ChatJid, typing: bool) -> Result<(), WaError> {
        let account = self.account()?;
        self.wa.record(
            account,
            Sent::Typing {
                chat: chat.clone(),
                typing,
            },
        );
        Ok(())
    }

    async fn groups(&self) -> Result<Vec<GroupInfo>, WaError> {
        let account = self.account()?;
        Ok(self
            .wa
            .world()
            .groups
            .values()
            .filter(|g| g.participants.contains(&account))
            .cloned()
            .collect())
    }

    async fn group_info(&self, group: &ChatJid) -> Result<GroupInfo, WaError> {
        self.account()?;
        self.wa
            .world()
            .groups
            .get(group)
            .cloned()
            .ok_or_else(|| WaError::Refused(format!("no group {group}")))
    }

    async fn contact_picture(&self, phone: &Phone) -> Result<Option<ContactPicture>, WaError> {
        self.account()?;
        let mut world = self.wa.world();
        world.picture_lookups += 1;
        Ok(world.pictures.get(phone).cloned())
    }

    async fn edit_group(&self, group: &ChatJid, edit: GroupEdit) -> Result<(), WaError> {
        let account = self.account()?;
        {
            let mut world = self.wa.world();
            let info = as_admin(&mut world, group, "change the group info")?;
            match &edit {
                GroupEdit::Subject(s) => info.subject = s.clone(),
                GroupEdit::Description(d) => {
                    info.description = Some(d.clone()).filter(|d| !d.is_empty())
                }
                // The recorded edit is all the tests look at.
                GroupEdit::Picture(_) => {}
            }
        }
        let chat = group.clone();
        self.wa.record(account, Sent::GroupEdit { chat, edit });
        Ok(())
    }

    async fn remove_participant(&self, group: &ChatJid, member: &Phone) -> Result<(), WaError> {
        let account = self.account()?;
        {
            let mut world = self.wa.world();
            let info = as_admin(&mut world, group, "remove members")?;
            if !info.participants.contains(member) {
                return Err(WaError::Refused("they are not in this group".into()));
            }
            info.participants.retain(|p| p != member);
        }
        let (chat, member) = (group.clone(), member.clone());
        self.wa
            .record(account, Sent::RemoveParticipant { chat, member });
        Ok(())
    }

    async fn add_participant(&self, group: &ChatJid, member: &Phone) -> Result<(), WaError> {
        let account = self.account()?;
        {
            let mut world = self.wa.world();
            if !world.registered.contains_key(member) {
                return Err(WaError::Refused(format!("{member} is not on WhatsApp")));
            }
            let info = as_admin(&mut world, group, "add members")?;
            if !info.participants.contains(member) {
                info.participants.push(member.clone());
            }
        }
        let (chat, member) = (group.clone(), member.clone());
        self.wa
            .record(account, Sent::AddParticipant { chat, member });
        Ok(())
    }

    async fn download(
        &self,
        media: &WaMedia,
        cap: ferrybridge_core::media_cap::MediaCap,
    ) -> Result<Bytes, WaError> {
        let mut world = self.wa.world();
        let data = world
            .media
            .get(&media.handle)
            .cloned()
            .ok_or_else(|| WaError::Media("the media expired on the fake server".into()))?;
        // Like a real download: the bytes are counted as they come, whatever was announced.
        cap.counter().add(data.len())?;
        world.downloads += 1;
        Ok(data)
    }
}

/// `group`, to change as an admin would: refused in groups where only admins may `what`.
fn as_admin<'w>(
    world: &'w mut super::World,
    group: &ChatJid,
    what: &str,
) -> Result<&'w mut GroupInfo, WaError> {
    if world.admins_only.contains(group) {
        return Err(WaError::Refused(format!("only group admins can {what}")));
    }
    world
        .groups
        .get_mut(group)
        .ok_or_else(|| WaError::Refused(format!("no group {group}")))
}
