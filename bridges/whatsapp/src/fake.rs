//! [`FakeWhatsApp`]: a scriptable stand-in for the WhatsApp servers, for tests and benchmarks.
//!
//! One `FakeWhatsApp` is "WhatsApp": it knows which numbers are registered, the groups, and the
//! linked devices (a session file per device, so `delete-session` has something to delete). Tests
//! rotate and "scan" QR codes, enter pairing codes, inject incoming events, read what the bridge
//! sent, and log devices out remotely.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;
use ruma::OwnedUserId;
use tokio::sync::mpsc;

use crate::jid::{ChatJid, Phone};
use crate::network::{
    GroupInfo, Outgoing, PairingEvent, WaError, WaEvent, WaMedia, WhatsAppFactory, WhatsAppNetwork,
};

/// Something the bridge did on WhatsApp.
#[derive(Clone, Debug, PartialEq)]
pub enum Sent {
    Message {
        chat: ChatJid,
        message: Outgoing,
    },
    Edit {
        chat: ChatJid,
        target: String,
        text: String,
    },
    Revoke {
        chat: ChatJid,
        target: String,
    },
    Reaction {
        chat: ChatJid,
        target: String,
        emoji: String,
    },
    Read {
        chat: ChatJid,
        ids: Vec<String>,
    },
    Typing {
        chat: ChatJid,
        typing: bool,
    },
}

/// A [`Sent`] with the account that sent it and the ID it got.
#[derive(Clone, Debug, PartialEq)]
pub struct SentRecord {
    pub account: Phone,
    pub id: String,
    pub what: Sent,
}

#[derive(Default)]
struct World {
    /// Registered numbers and their names.
    registered: BTreeMap<Phone, String>,
    groups: BTreeMap<ChatJid, GroupInfo>,
    /// QR codes per pairing before they run out.
    qr_count: usize,
    /// Pairings waiting for a scan or code, by session file.
    pairing: HashMap<PathBuf, Pairing>,
    /// Linked devices: session file → account.
    linked: HashMap<PathBuf, Phone>,
    /// Open connections by account.
    connections: HashMap<Phone, mpsc::Sender<WaEvent>>,
    /// Events to deliver to an account as soon as it connects (history sync, contacts).
    on_connect: Vec<WaEvent>,
    sent: Vec<SentRecord>,
    counter: u64,
    media: HashMap<Vec<u8>, Bytes>,
    /// Attachments handed out by `download`.
    downloads: usize,
    unreachable: bool,
}

struct Pairing {
    tx: mpsc::Sender<PairingEvent>,
    shown: usize,
    /// The phone number of a pairing by code.
    phone: Option<Phone>,
}

/// The fake WhatsApp. Cheap to clone; all clones are the same "servers".
#[derive(Clone)]
pub struct FakeWhatsApp {
    world: Arc<Mutex<World>>,
}

impl Default for FakeWhatsApp {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeWhatsApp {
    pub fn new() -> Self {
        Self {
            world: Arc::new(Mutex::new(World {
                qr_count: 3,
                ..Default::default()
            })),
        }
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a number on WhatsApp with a name.
    pub fn add_contact(&self, phone: &str, name: &str) -> Phone {
        let phone = Phone::parse(phone).expect("test phone number");
        self.world().registered.insert(phone.clone(), name.into());
        phone
    }

    /// Adds a group.
    pub fn add_group(&self, group: GroupInfo) {
        self.world().groups.insert(group.jid.clone(), group);
    }

    /// How many QR codes a pairing shows before running out (default 3).
    pub fn set_qr_count(&self, n: usize) {
        self.world().qr_count = n;
    }

    /// Makes every new connection or pairing fail as if there were no route to WhatsApp.
    pub fn set_unreachable(&self, unreachable: bool) {
        self.world().unreachable = unreachable;
    }

    /// Events every new connection receives first (what a history sync would bring).
    pub fn on_connect(&self, event: WaEvent) {
        self.world().on_connect.push(event);
    }

    /// Whether any pairing is waiting.
    pub fn pairing_pending(&self) -> bool {
        !self.world().pairing.is_empty()
    }

    /// Shows the next QR code of every waiting QR pairing, or ends them when the codes ran out.
    pub async fn rotate_qr(&self) {
        let sends: Vec<_> = {
            let mut world = self.world();
            let max = world.qr_count;
            let mut out = vec![];
            world.pairing.retain(|_, p| {
                if p.phone.is_some() {
                    return true;
                }
                p.shown += 1;
                if p.shown > max {
                    out.push((p.tx.clone(), PairingEvent::QrExhausted));
                    false
                } else {
                    out.push((p.tx.clone(), PairingEvent::Qr(qr_payload(p.shown))));
                    true
                }
            });
            out
        };
        for (tx, ev) in sends {
            let _ = tx.send(ev).await;
        }
    }

    /// The phone of `account` scans the QR code (or enters the code) of the waiting pairing.
    pub async fn scan(&self, account: &str) -> bool {
        let account = Phone::parse(account).expect("test phone number");
        let done = {
            let mut world = self.world();
            let Some(path) = world.pairing.keys().next().cloned() else {
                return false;
            };
            let pairing = world.pairing.remove(&path).expect("present");
            if let Some(phone) = &pairing.phone
                && phone != &account
            {
                return false;
            }
            let name = world.registered.get(&account).cloned();
            world.registered.entry(account.clone()).or_default();
            world.linked.insert(path.clone(), account.clone());
            let _ = ferrybridge_core::private_fs::write_private(&path, account.digits());
            (pairing.tx, name)
        };
        let _ = done
            .0
            .send(PairingEvent::Success {
                phone: account,
                name: done.1,
            })
            .await;
        true
    }

    /// Delivers an event to `account`'s connection. False when it is not connected.
    pub async fn inject(&self, account: &Phone, event: WaEvent) -> bool {
        let tx = self.world().connections.get(account).cloned();
        match tx {
            Some(tx) => tx.send(event).await.is_ok(),
            None => false,
        }
    }

    /// Whether `account` has a live connection.
    pub fn is_connected(&self, account: &Phone) -> bool {
        self.world()
            .connections
            .get(account)
            .is_some_and(|tx| !tx.is_closed())
    }

    /// WhatsApp unlinks `account`'s device (the phone removed it).
    pub async fn remote_logout(&self, account: &Phone) {
        let tx = {
            let mut world = self.world();
            world.linked.retain(|_, a| a != account);
            world.connections.remove(account)
        };
        if let Some(tx) = tx {
            let _ = tx
                .send(WaEvent::LoggedOut {
                    reason: "the device was removed from the phone".into(),
                })
                .await;
        }
    }

    /// Everything sent so far.
    pub fn sent(&self) -> Vec<SentRecord> {
        self.world().sent.clone()
    }

    /// Linked accounts.
    pub fn linked(&self) -> Vec<Phone> {
        self.world().linked.values().cloned().collect()
    }

    /// Stores media that a [`WaMedia`] with this handle downloads to.
    pub fn put_media(&self, handle: &[u8], data: Bytes) {
        self.world().media.insert(handle.to_vec(), data);
    }

    /// How many attachments `download` has handed out.
    pub fn downloads(&self) -> usize {
        self.world().downloads
    }

    /// The factory the bridge uses to open devices on this fake.
    pub fn factory(&self) -> Arc<dyn WhatsAppFactory> {
        Arc::new(self.clone())
    }

    fn record(&self, account: Phone, what: Sent) -> String {
        let mut world = self.world();
        world.counter += 1;
        let id = format!("FAKE{:08}", world.counter);
        world.sent.push(SentRecord {
            account,
            id: id.clone(),
            what,
        });
        id
    }
}

fn qr_payload(n: usize) -> String {
    format!("2@fake-qr-{n},fake-key,fake-identity,fake-adv")
}

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
        }))
    }
}

/// One device on the fake.
struct FakeDevice {
    wa: FakeWhatsApp,
    path: PathBuf,
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
            world.connections.insert(account, tx.clone());
            let mut initial = vec![WaEvent::Connected];
            initial.extend(world.registered.iter().filter(|(_, n)| !n.is_empty()).map(
                |(phone, name)| WaEvent::ContactName {
                    phone: phone.clone(),
                    name: name.clone(),
                },
            ));
            initial.extend(world.on_connect.iter().cloned());
            initial
        };
        for ev in initial {
            let _ = tx.send(ev).await;
        }
        Ok(rx)
    }

    async fn disconnect(&self) {
        if let Ok(account) = self.account() {
            self.wa.world().connections.remove(&account);
        }
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
