//! grammers' [`Session`] over the bridge's store, so a restart keeps users logged in and resumes
//! updates where they stopped (catch-up).
//!
//! grammers reads the home DC and DC options synchronously, so the whole session is held in
//! memory and written through on every change: the DC options (they carry the auth keys) as an
//! encrypted secret of the Matrix user, the update state and the peer cache (access hashes) in
//! the key-value area.

use std::sync::{Mutex, MutexGuard};

use ferrybridge_core::ids::{LoginSlot, UserLogin};
use ferrybridge_core::store::{Store, StoreError};
use grammers_session::types::{
    ChannelState, DcOption, PeerId, PeerInfo, UpdateState, UpdatesState,
};
use grammers_session::{BoxFuture, Session, SessionData};
use ruma::OwnedUserId;
use serde::{Deserialize, Serialize};

const SECRET: &str = "telegram-session";
const UPDATES_NS: &str = "telegram-updates";
const PEERS_NS: &str = "telegram-peers";

/// Why the session could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreSessionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored Telegram session is corrupt: {0}")]
    Corrupt(String),
}

/// The secret part: where to connect and with which keys.
#[derive(Serialize, Deserialize)]
struct Keys {
    home_dc: i32,
    dc_options: Vec<DcOption>,
}

/// Where one login's session is kept: the secret's name and the key-value key. A user's first
/// login keeps the names it had before there were several (`telegram-session`, `@u:s`); later
/// ones add the slot (`telegram-session/2`, `@u:s|2`).
struct Place {
    user: OwnedUserId,
    secret: String,
    key: String,
}

impl Place {
    fn of(user: &OwnedUserId, slot: LoginSlot) -> Self {
        let secret = if slot.is_first() {
            SECRET.to_owned()
        } else {
            format!("{SECRET}/{slot}")
        };
        Self {
            user: user.clone(),
            secret,
            key: UserLogin::new(user.clone(), slot).store_key(),
        }
    }
    fn peers_prefix(&self) -> String {
        format!("{}/", self.key)
    }
}

/// One login's Telegram session.
pub struct StoreSession {
    store: Store,
    place: Place,
    data: Mutex<SessionData>,
}

impl StoreSession {
    /// Loads the session of `user`'s login `slot`, or a fresh one (Telegram's default DCs, no
    /// keys).
    pub async fn load(
        store: &Store,
        user: &OwnedUserId,
        slot: LoginSlot,
    ) -> Result<Self, StoreSessionError> {
        let place = Place::of(user, slot);
        let mut data = SessionData::default();
        if let Some(bytes) = store.get_secret(user, &place.secret).await? {
            let keys: Keys = serde_json::from_slice(&bytes)
                .map_err(|e| StoreSessionError::Corrupt(e.to_string()))?;
            data.home_dc = keys.home_dc;
            for dc in keys.dc_options {
                data.dc_options.insert(dc.id, dc);
            }
        }
        if let Some(state) = store.kv_get::<UpdatesState>(UPDATES_NS, &place.key).await? {
            data.updates_state = state;
        }
        for (_, value) in store.kv_list(PEERS_NS, &place.peers_prefix()).await? {
            let info: PeerInfo = serde_json::from_value(value)
                .map_err(|e| StoreSessionError::Corrupt(e.to_string()))?;
            data.peer_infos.insert(info.id(), info);
        }
        Ok(Self {
            store: store.clone(),
            place,
            data: Mutex::new(data),
        })
    }

    /// Deletes everything stored for `user`'s login `slot` (after logout).
    pub async fn forget(
        store: &Store,
        user: &OwnedUserId,
        slot: LoginSlot,
    ) -> Result<(), StoreSessionError> {
        let place = Place::of(user, slot);
        store.delete_secret(user, &place.secret).await?;
        store.kv_delete(UPDATES_NS, &place.key).await?;
        for (key, _) in store.kv_list(PEERS_NS, &place.peers_prefix()).await? {
            store.kv_delete(PEERS_NS, &key).await?;
        }
        Ok(())
    }

    /// Whether the session holds an auth key for its home DC (i.e. it has logged in once).
    pub fn has_auth_key(&self) -> bool {
        let d = self.data();
        d.dc_options
            .get(&d.home_dc)
            .is_some_and(|o| o.auth_key.is_some())
    }

    /// Points every DC at `addr` (tests and Telegram's test servers).
    pub async fn override_address(&self, addr: std::net::SocketAddrV4) {
        let mut d = self.data();
        for o in d.dc_options.values_mut() {
            o.ipv4 = addr;
        }
    }

    fn data(&self) -> MutexGuard<'_, SessionData> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn save_keys(&self) -> Result<(), StoreSessionError> {
        let keys = {
            let d = self.data();
            let mut dc_options: Vec<DcOption> = d.dc_options.values().cloned().collect();
            dc_options.sort_by_key(|o| o.id);
            Keys {
                home_dc: d.home_dc,
                dc_options,
            }
        };
        let json =
            serde_json::to_vec(&keys).map_err(|e| StoreSessionError::Corrupt(e.to_string()))?;
        self.store
            .set_secret(&self.place.user, &self.place.secret, &json)
            .await?;
        Ok(())
    }
}

impl Session for StoreSession {
    type Error = StoreSessionError;

    fn home_dc_id(&self) -> Result<i32, StoreSessionError> {
        Ok(self.data().home_dc)
    }

    fn set_home_dc_id(&self, dc_id: i32) -> BoxFuture<'_, Result<(), StoreSessionError>> {
        Box::pin(async move {
            self.data().home_dc = dc_id;
            self.save_keys().await
        })
    }

    fn dc_option(&self, dc_id: i32) -> Result<Option<DcOption>, StoreSessionError> {
        Ok(self.data().dc_options.get(&dc_id).cloned())
    }

    fn set_dc_option(&self, dc_option: &DcOption) -> BoxFuture<'_, Result<(), StoreSessionError>> {
        let dc_option = dc_option.clone();
        Box::pin(async move {
            self.data().dc_options.insert(dc_option.id, dc_option);
            self.save_keys().await
        })
    }

    fn peer(&self, peer: PeerId) -> BoxFuture<'_, Result<Option<PeerInfo>, StoreSessionError>> {
        Box::pin(async move { Ok(self.data().peer_infos.get(&peer).cloned()) })
    }

    fn cache_peer(&self, peer: PeerInfo) -> BoxFuture<'_, Result<(), StoreSessionError>> {
        Box::pin(async move {
            let changed = {
                let mut d = self.data();
                let entry = d
                    .peer_infos
                    .entry(peer.id())
                    .or_insert_with(|| peer.clone());
                let before = entry.clone();
                entry.extend_info(&peer);
                (*entry != before || before == peer).then(|| entry.clone())
            };
            if let Some(info) = changed {
                let key = format!(
                    "{}{}",
                    self.place.peers_prefix(),
                    info.id().bot_api_dialog_id_unchecked()
                );
                self.store.kv_set(PEERS_NS, &key, &info).await?;
            }
            Ok(())
        })
    }

    fn updates_state(&self) -> BoxFuture<'_, Result<UpdatesState, StoreSessionError>> {
        Box::pin(async move { Ok(self.data().updates_state.clone()) })
    }

    fn set_update_state(
        &self,
        update: UpdateState,
    ) -> BoxFuture<'_, Result<(), StoreSessionError>> {
        Box::pin(async move {
            let state = {
                let mut d = self.data();
                let s = &mut d.updates_state;
                match update {
                    UpdateState::All(all) => *s = all,
                    UpdateState::Primary { pts, date, seq } => {
                        s.pts = pts;
                        s.date = date;
                        s.seq = seq;
                    }
                    UpdateState::Secondary { qts } => s.qts = qts,
                    UpdateState::Channel { id, pts } => {
                        s.channels.retain(|c| c.id != id);
                        s.channels.push(ChannelState { id, pts });
                    }
                }
                s.clone()
            };
            self.store
                .kv_set(UPDATES_NS, &self.place.key, &state)
                .await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests;
