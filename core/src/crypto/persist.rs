//! What of the OlmMachine's state is kept in the bridge's database, and in which rows: each
//! object kind has its own `kind` in `crypto_objects`, keyed so that a newer version of an
//! object replaces the older one. Values are JSON of the library's own pickles and serde types.
//!
//! Kept: the Olm account, the cross-signing identity, Olm sessions, Megolm sessions both ways,
//! devices and user identities, tracked users, Olm message hashes (replay protection), room
//! settings, withheld-key notices, outgoing key requests and the library's custom values.
//! Not kept: key backup, dehydrated devices, the secret inbox and room-key history bundles,
//! which a bridge does not use; the machine runs without them.

use std::collections::BTreeMap;
use std::sync::Arc;

use matrix_sdk_crypto::olm::{
    InboundGroupSession, OlmMessageHash, OutboundGroupSession, PickledAccount,
    PickledCrossSigningIdentity, PickledInboundGroupSession, PickledOutboundGroupSession,
    PickledSession, PrivateCrossSigningIdentity, Session,
};
use matrix_sdk_crypto::store::types::{Changes, RoomKeyWithheldEntry, RoomSettings, TrackedUser};
use matrix_sdk_crypto::{Account, DeviceData, GossipRequest, UserIdentityData};
use ruma16::OwnedRoomId;

use crate::store::{CryptoRow, CryptoWrite, Store};

use super::CryptoError;

pub(super) const ACCOUNT: &str = "account";
pub(super) const IDENTITY: &str = "identity";
pub(super) const SESSION: &str = "session";
pub(super) const INBOUND: &str = "inbound_group_session";
pub(super) const OUTBOUND: &str = "outbound_group_session";
pub(super) const DEVICE: &str = "device";
pub(super) const USER_IDENTITY: &str = "user_identity";
pub(super) const TRACKED: &str = "tracked_user";
pub(super) const OLM_HASH: &str = "olm_hash";
pub(super) const ROOM_SETTINGS: &str = "room_settings";
pub(super) const WITHHELD: &str = "withheld";
pub(super) const KEY_REQUEST: &str = "key_request";
pub(super) const CUSTOM: &str = "custom";

fn json<T: serde::Serialize>(kind: &'static str, value: &T) -> Result<Vec<u8>, CryptoError> {
    serde_json::to_vec(value).map_err(|e| CryptoError::State(format!("cannot encode {kind}: {e}")))
}

fn put(kind: &'static str, key: String, value: Vec<u8>) -> CryptoWrite {
    CryptoWrite {
        kind,
        key,
        value: Some(value),
    }
}

fn delete(kind: &'static str, key: String) -> CryptoWrite {
    CryptoWrite {
        kind,
        key,
        value: None,
    }
}

/// The single row of the account.
pub(super) fn account_write(account: &Account) -> Result<CryptoWrite, CryptoError> {
    Ok(put(
        ACCOUNT,
        String::new(),
        json(ACCOUNT, &account.pickle())?,
    ))
}

pub(super) fn tracked_write(user: &str, dirty: bool) -> Result<CryptoWrite, CryptoError> {
    Ok(put(TRACKED, user.to_owned(), json(TRACKED, &dirty)?))
}

pub(super) fn key_request_delete(request_id: &str) -> CryptoWrite {
    delete(KEY_REQUEST, request_id.to_owned())
}

pub(super) fn custom_write(key: &str, value: Option<Vec<u8>>) -> CryptoWrite {
    CryptoWrite {
        kind: CUSTOM,
        key: key.to_owned(),
        value,
    }
}

pub(super) async fn inbound_writes(
    sessions: &[InboundGroupSession],
) -> Result<Vec<CryptoWrite>, CryptoError> {
    let mut writes = Vec::with_capacity(sessions.len());
    for s in sessions {
        let key = format!("{}|{}", s.room_id(), s.session_id());
        writes.push(put(INBOUND, key, json(INBOUND, &s.pickle().await)?));
    }
    Ok(writes)
}

/// The rows `changes` writes or deletes.
pub(super) async fn change_writes(changes: &Changes) -> Result<Vec<CryptoWrite>, CryptoError> {
    let mut w = Vec::new();
    if let Some(identity) = &changes.private_identity {
        w.push(put(
            IDENTITY,
            String::new(),
            json(IDENTITY, &identity.pickle().await)?,
        ));
    }
    for s in &changes.sessions {
        let key = format!("{}|{}", s.sender_key().to_base64(), s.session_id());
        w.push(put(SESSION, key, json(SESSION, &s.pickle().await)?));
    }
    w.extend(inbound_writes(&changes.inbound_group_sessions).await?);
    for s in &changes.outbound_group_sessions {
        w.push(put(
            OUTBOUND,
            s.room_id().to_string(),
            json(OUTBOUND, &s.pickle().await)?,
        ));
    }
    for h in &changes.message_hashes {
        w.push(put(
            OLM_HASH,
            format!("{}|{}", h.sender_key, h.hash),
            json(OLM_HASH, h)?,
        ));
    }
    for r in &changes.key_requests {
        w.push(put(
            KEY_REQUEST,
            r.request_id.to_string(),
            json(KEY_REQUEST, r)?,
        ));
    }
    let devices = &changes.devices;
    for d in devices.new.iter().chain(&devices.changed) {
        let key = format!("{}|{}", d.user_id(), d.device_id());
        w.push(put(DEVICE, key, json(DEVICE, d)?));
    }
    for d in &devices.deleted {
        w.push(delete(DEVICE, format!("{}|{}", d.user_id(), d.device_id())));
    }
    let ids = &changes.identities;
    for i in ids.new.iter().chain(&ids.changed) {
        w.push(put(
            USER_IDENTITY,
            i.user_id().to_string(),
            json(USER_IDENTITY, i)?,
        ));
    }
    for (room, settings) in &changes.room_settings {
        w.push(put(
            ROOM_SETTINGS,
            room.to_string(),
            json(ROOM_SETTINGS, settings)?,
        ));
    }
    for (room, sessions) in &changes.withheld_session_info {
        for (session, entry) in sessions {
            let key = format!("{room}|{session}");
            w.push(put(WITHHELD, key, json(WITHHELD, entry)?));
        }
    }
    Ok(w)
}

fn parse<T: serde::de::DeserializeOwned>(row: &CryptoRow) -> Result<T, CryptoError> {
    serde_json::from_slice(&row.value).map_err(|e| {
        CryptoError::State(format!(
            "stored {} {:?} does not decode: {e}",
            row.kind, row.key
        ))
    })
}

/// Everything stored, rebuilt into objects: the account (if any) and the rest as one
/// [`Changes`] to load into the in-memory store, plus tracked users and custom values.
pub(super) struct Loaded {
    pub account: Option<Account>,
    pub changes: Changes,
    pub tracked: Vec<TrackedUser>,
    pub custom: Vec<(String, Vec<u8>)>,
}

/// Reads every row back. An object that no longer decodes fails the load: running on with
/// part of the crypto state would answer with broken sessions, which is worse than a clear
/// error at start-up.
pub(super) async fn load(store: &Store) -> Result<Loaded, CryptoError> {
    let rows = |kind: &'static str| store.crypto_rows(kind);
    let account = match rows(ACCOUNT).await?.first() {
        Some(row) => Some(
            Account::from_pickle(parse::<PickledAccount>(row)?)
                .map_err(|e| CryptoError::State(format!("stored account: {e}")))?,
        ),
        None => None,
    };
    let mut changes = Changes::default();
    let mut tracked = Vec::new();
    let mut custom = Vec::new();
    let Some(account_ref) = &account else {
        return Ok(Loaded {
            account,
            changes,
            tracked,
            custom,
        });
    };
    if let Some(row) = rows(IDENTITY).await?.first() {
        let pickle: PickledCrossSigningIdentity = parse(row)?;
        changes.private_identity = Some(
            PrivateCrossSigningIdentity::from_pickle(pickle)
                .map_err(|e| CryptoError::State(format!("stored cross-signing identity: {e}")))?,
        );
    }
    for row in rows(SESSION).await? {
        let pickle: PickledSession = parse(&row)?;
        let session = Session::from_pickle(account_ref.device_keys(), pickle)
            .map_err(|e| CryptoError::State(format!("stored Olm session: {e}")))?;
        changes.sessions.push(session);
    }
    for row in rows(INBOUND).await? {
        let pickle: PickledInboundGroupSession = parse(&row)?;
        changes.inbound_group_sessions.push(
            InboundGroupSession::from_pickle(pickle)
                .map_err(|e| CryptoError::State(format!("stored Megolm session: {e}")))?,
        );
    }
    let identity_keys = Arc::new(account_ref.identity_keys());
    for row in rows(OUTBOUND).await? {
        let pickle: PickledOutboundGroupSession = parse(&row)?;
        changes.outbound_group_sessions.push(
            OutboundGroupSession::from_pickle(
                account_ref.device_id().to_owned(),
                identity_keys.clone(),
                pickle,
            )
            .map_err(|e| CryptoError::State(format!("stored outbound Megolm session: {e}")))?,
        );
    }
    for row in rows(OLM_HASH).await? {
        changes.message_hashes.push(parse::<OlmMessageHash>(&row)?);
    }
    for row in rows(KEY_REQUEST).await? {
        changes.key_requests.push(parse::<GossipRequest>(&row)?);
    }
    for row in rows(DEVICE).await? {
        changes.devices.new.push(parse::<DeviceData>(&row)?);
    }
    for row in rows(USER_IDENTITY).await? {
        changes
            .identities
            .new
            .push(parse::<UserIdentityData>(&row)?);
    }
    for row in rows(ROOM_SETTINGS).await? {
        let room = OwnedRoomId::try_from(row.key.as_str())
            .map_err(|e| CryptoError::State(format!("stored room settings key: {e}")))?;
        changes
            .room_settings
            .insert(room, parse::<RoomSettings>(&row)?);
    }
    let mut withheld: BTreeMap<OwnedRoomId, BTreeMap<String, RoomKeyWithheldEntry>> =
        BTreeMap::new();
    for row in rows(WITHHELD).await? {
        let Some((room, session)) = row.key.split_once('|') else {
            continue;
        };
        let room = OwnedRoomId::try_from(room)
            .map_err(|e| CryptoError::State(format!("stored withheld key: {e}")))?;
        withheld
            .entry(room)
            .or_default()
            .insert(session.to_owned(), parse(&row)?);
    }
    changes.withheld_session_info = withheld;
    for row in rows(TRACKED).await? {
        let user_id = ruma16::OwnedUserId::try_from(row.key.as_str())
            .map_err(|e| CryptoError::State(format!("stored tracked user: {e}")))?;
        tracked.push(TrackedUser {
            user_id,
            dirty: parse(&row)?,
        });
    }
    for row in rows(CUSTOM).await? {
        custom.push((row.key, row.value));
    }
    Ok(Loaded {
        account,
        changes,
        tracked,
        custom,
    })
}
