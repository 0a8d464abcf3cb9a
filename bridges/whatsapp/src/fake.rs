//! [`FakeWhatsApp`]: a scriptable stand-in for the WhatsApp servers, for tests and benchmarks.
//!
//! One `FakeWhatsApp` is "WhatsApp": it knows which numbers are registered, the groups, and the
//! linked devices (a session file per device, so `delete-session` has something to delete). Tests
//! rotate and "scan" QR codes, enter pairing codes, inject incoming events, read what the bridge
//! sent, and log devices out remotely.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::jid::{ChatJid, Phone};
use crate::network::{
    ContactPicture, GroupEdit, GroupInfo, Outgoing, PairingEvent, PollKey, WaEvent, WaMessage,
    WhatsAppFactory,
};

mod device;
pub use device::FAKE_POLL_SECRET;

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
    Poll {
        chat: ChatJid,
        question: String,
        options: Vec<String>,
        max_selections: u32,
    },
    Vote {
        chat: ChatJid,
        poll: String,
        key: PollKey,
        options: Vec<String>,
    },
    /// A subject or description change (the fake's group takes it).
    GroupEdit {
        chat: ChatJid,
        edit: GroupEdit,
    },
    RemoveParticipant {
        chat: ChatJid,
        member: Phone,
    },
    AddParticipant {
        chat: ChatJid,
        member: Phone,
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
    /// Events that came for an account while it was not connected: WhatsApp's offline
    /// messages, delivered when it connects next.
    offline: HashMap<Phone, Vec<WaEvent>>,
    sent: Vec<SentRecord>,
    counter: u64,
    media: HashMap<Vec<u8>, Bytes>,
    /// Attachments handed out by `download`.
    downloads: usize,
    unreachable: bool,
    /// Groups whose info and members only admins may change (the bridge's accounts are not).
    admins_only: BTreeSet<ChatJid>,
    /// Contacts' profile pictures.
    pictures: HashMap<Phone, ContactPicture>,
    /// Picture lookups made by devices.
    picture_lookups: usize,
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

    /// Makes `group` refuse subject, description and member changes from every account (as
    /// a group where only admins may change them).
    pub fn admins_only(&self, group: &ChatJid) {
        self.world().admins_only.insert(group.clone());
    }

    /// Sets (or with `None` removes) a contact's profile picture; the bridge hears of it on the
    /// next lookup, or at once through a [`WaEvent::PictureChanged`] a test injects.
    pub fn set_picture(&self, phone: &Phone, picture: Option<ContactPicture>) {
        let mut world = self.world();
        match picture {
            Some(p) => world.pictures.insert(phone.clone(), p),
            None => world.pictures.remove(phone),
        };
    }

    /// How many profile pictures devices looked up.
    pub fn picture_lookups(&self) -> usize {
        self.world().picture_lookups
    }

    /// A group as it is now (after the changes accounts made).
    pub fn group(&self, group: &ChatJid) -> Option<GroupInfo> {
        self.world().groups.get(group).cloned()
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

    /// A history sync, as the phone sends a linked device: every connection gets each chat's
    /// messages (oldest first) and then the chats' last activity (`last_active`, Unix
    /// seconds), which opens portals for the recent ones.
    pub fn history_sync(&self, chats: Vec<(ChatJid, i64, Vec<WaMessage>)>) {
        let mut world = self.world();
        let mut active = Vec::new();
        for (chat, last_active, messages) in chats {
            world.on_connect.push(WaEvent::History {
                chat: chat.clone(),
                messages,
            });
            active.push(WaEvent::ChatActive { chat, last_active });
        }
        world.on_connect.extend(active);
    }

    /// Delivers an event to `account`'s connection, or when it next connects (an offline
    /// message, as WhatsApp keeps them for a device that is away).
    pub async fn inject_or_keep(&self, account: &Phone, event: WaEvent) {
        if !self.is_connected(account) {
            self.world()
                .offline
                .entry(account.clone())
                .or_default()
                .push(event);
            return;
        }
        self.inject(account, event).await;
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
