//! Where a device's library events go: converted, then sent to the pairing stream while a
//! pairing runs and to the event stream once connected.

use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use whatsapp_rust::Client;
use whatsapp_rust::wacore::types::events::{Event, LazyHistorySync};

use super::convert::{self, Routed};
use crate::jid::{ChatJid, Phone};
use crate::network::{PairingEvent, WaEvent};

/// Where library events go right now.
#[derive(Default)]
pub(super) struct Routes {
    pub pairing: Option<mpsc::Sender<PairingEvent>>,
    pub events: Option<mpsc::Sender<WaEvent>>,
}

/// Converts one library event (fetching a changed group's details) and sends it on.
pub(super) async fn handle(
    routes: &Mutex<Routes>,
    account_path: &Path,
    event: Arc<Event>,
    client: Arc<Client>,
) {
    if let Event::HistorySync(sync) = &*event {
        return dispatch(routes, account_path, history(sync, account_path)).await;
    }
    let routed = match convert::route(&event) {
        Routed::GroupRefresh(chat) => group_refresh(&client, &chat).await,
        other => other,
    };
    dispatch(routes, account_path, routed).await
}

/// Sends a converted event where it belongs; a successful pairing records the account and
/// hands the device over to the event stream.
async fn dispatch(routes: &Mutex<Routes>, account_path: &Path, routed: Routed) {
    let lock = || routes.lock().unwrap_or_else(|p| p.into_inner());
    match routed {
        Routed::Pairing(ev) => {
            if let PairingEvent::Success { phone, .. } = &ev {
                record_account(account_path, phone);
            }
            let done = !matches!(ev, PairingEvent::Qr(_) | PairingEvent::PairCode(_));
            let tx = if done {
                lock().pairing.take()
            } else {
                lock().pairing.clone()
            };
            if let Some(tx) = tx {
                let _ = tx.send(ev).await;
            }
        }
        Routed::Events(events) => {
            for ev in events {
                if matches!(ev, WaEvent::LoggedOut { .. }) {
                    let _ = std::fs::remove_file(account_path);
                }
                let tx = lock().events.clone();
                if let Some(tx) = tx {
                    let _ = tx.send(ev).await;
                }
            }
        }
        Routed::GroupRefresh(_) | Routed::Ignore => {}
    }
}

/// A history sync's events (decoding it may take a moment for a big first sync).
fn history(sync: &LazyHistorySync, account_path: &Path) -> Routed {
    let Some(sync) = sync.get() else {
        tracing::warn!("a history sync that does not decode");
        return Routed::Ignore;
    };
    // The account this device is linked to, recorded when it paired.
    let me = std::fs::read_to_string(account_path)
        .ok()
        .and_then(|digits| Phone::parse(&digits).ok());
    Routed::Events(convert::history(sync, me.as_ref()))
}

/// A group changed: its current details, as an event.
async fn group_refresh(client: &Client, chat: &ChatJid) -> Routed {
    let Ok(jid) = convert::jid_of(chat) else {
        return Routed::Ignore;
    };
    match client.groups().get_metadata(&jid).await {
        Ok(meta) => match convert::group_info(&meta) {
            Some(group) => Routed::Events(vec![WaEvent::GroupChanged { group }]),
            None => Routed::Ignore,
        },
        Err(e) => {
            tracing::warn!(%chat, error = %e, "could not fetch a changed group");
            Routed::Ignore
        }
    }
}

/// Records the linked account beside the session store, owner-only like the store.
pub(super) fn record_account(account_path: &Path, phone: &Phone) {
    if let Err(e) = ferrybridge_core::private_fs::write_private(account_path, phone.digits()) {
        tracing::warn!(file = %account_path.display(), error = %e, "cannot record the linked account");
    }
}
