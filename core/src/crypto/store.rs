//! The OlmMachine's store over the bridge's database: a write-through layer on the library's
//! in-memory store. Reads are served from memory; every change is written to `crypto_objects`
//! (see `persist`) before memory takes it, so what the machine was told is stored survives a
//! crash. At start-up the rows are read back into memory once.
//!
//! Why not `matrix-sdk-sqlite`: it links a second SQLite binding that clashes with the one sqlx
//! and whatsapp-rust share, and it would not give PostgreSQL. Why memory for reads: the state
//! a bridge needs (one account, its sessions, the devices of the rooms' members) is small, and
//! this keeps the library's own, tested lookup logic instead of re-implementing it in SQL.

use std::collections::HashMap;

use async_trait::async_trait;
use matrix_sdk_common::cross_process_lock::CrossProcessLockGeneration;
use matrix_sdk_crypto::olm::{
    InboundGroupSession, OlmMessageHash, OutboundGroupSession, PrivateCrossSigningIdentity,
    SenderDataType, Session,
};
use matrix_sdk_crypto::store::types::{
    BackupKeys, Changes, DehydratedDeviceKey, PendingChanges, RoomKeyCounts, RoomKeyWithheldEntry,
    RoomPendingKeyBundleDetails, RoomSettings, StoredRoomKeyBundleData, TrackedUser,
};
use matrix_sdk_crypto::store::{CryptoStore, CryptoStoreError, MemoryStore};
use matrix_sdk_crypto::vodozemac::Curve25519PublicKey;
use matrix_sdk_crypto::{Account, DeviceData, GossipRequest, SecretInfo, UserIdentityData};
use ruma16::events::secret::request::SecretName;
use ruma16::{DeviceId, OwnedDeviceId, RoomId, TransactionId, UserId};
use zeroize::Zeroizing;

use super::{CryptoError, persist};
use crate::store::{CryptoWrite, Store};

type StoreResult<T> = Result<T, CryptoStoreError>;

/// The crypto store of a running bridge.
#[derive(Debug)]
pub(crate) struct BridgeCryptoStore {
    mem: MemoryStore,
    db: Store,
}

impl BridgeCryptoStore {
    /// Opens the store: reads every stored object back into memory.
    pub(crate) async fn open(db: Store) -> Result<Self, CryptoError> {
        let loaded = persist::load(&db).await?;
        let mem = MemoryStore::new();
        // The in-memory store cannot fail.
        let load_err = |never: std::convert::Infallible| -> CryptoError { match never {} };
        if let Some(account) = loaded.account {
            mem.save_pending_changes(PendingChanges {
                account: Some(account),
            })
            .await
            .map_err(load_err)?;
            mem.save_changes(loaded.changes).await.map_err(load_err)?;
        }
        let tracked: Vec<(&UserId, bool)> = loaded
            .tracked
            .iter()
            .map(|t| (&*t.user_id, t.dirty))
            .collect();
        mem.save_tracked_users(&tracked).await.map_err(load_err)?;
        for (key, value) in loaded.custom {
            mem.set_custom_value(&key, value).await.map_err(load_err)?;
        }
        Ok(Self { mem, db })
    }

    async fn write(&self, writes: &[CryptoWrite]) -> StoreResult<()> {
        self.db
            .crypto_write(writes)
            .await
            .map_err(|e| CryptoStoreError::Backend(Box::new(e)))
    }
}

fn backend(e: CryptoError) -> CryptoStoreError {
    CryptoStoreError::Backend(Box::new(e))
}

#[async_trait]
impl CryptoStore for BridgeCryptoStore {
    type Error = CryptoStoreError;

    async fn save_changes(&self, changes: Changes) -> StoreResult<()> {
        let writes = persist::change_writes(&changes).await.map_err(backend)?;
        self.write(&writes).await?;
        Ok(self.mem.save_changes(changes).await?)
    }

    async fn save_pending_changes(&self, changes: PendingChanges) -> StoreResult<()> {
        if let Some(account) = &changes.account {
            self.write(&[persist::account_write(account).map_err(backend)?])
                .await?;
        }
        Ok(self.mem.save_pending_changes(changes).await?)
    }

    async fn save_inbound_group_sessions(
        &self,
        sessions: Vec<InboundGroupSession>,
        backed_up_to_version: Option<&str>,
    ) -> StoreResult<()> {
        let writes = persist::inbound_writes(&sessions).await.map_err(backend)?;
        self.write(&writes).await?;
        Ok(self
            .mem
            .save_inbound_group_sessions(sessions, backed_up_to_version)
            .await?)
    }

    async fn save_tracked_users(&self, users: &[(&UserId, bool)]) -> StoreResult<()> {
        let writes = users
            .iter()
            .map(|(user, dirty)| persist::tracked_write(user.as_str(), *dirty))
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
        self.write(&writes).await?;
        Ok(self.mem.save_tracked_users(users).await?)
    }

    async fn delete_outgoing_secret_requests(&self, request_id: &TransactionId) -> StoreResult<()> {
        self.write(&[persist::key_request_delete(request_id.as_str())])
            .await?;
        Ok(self.mem.delete_outgoing_secret_requests(request_id).await?)
    }

    async fn set_custom_value(&self, key: &str, value: Vec<u8>) -> StoreResult<()> {
        self.write(&[persist::custom_write(key, Some(value.clone()))])
            .await?;
        Ok(self.mem.set_custom_value(key, value).await?)
    }

    async fn remove_custom_value(&self, key: &str) -> StoreResult<()> {
        self.write(&[persist::custom_write(key, None)]).await?;
        Ok(self.mem.remove_custom_value(key).await?)
    }

    // Everything below reads from memory, or changes what is not kept (see `persist`).

    async fn load_account(&self) -> StoreResult<Option<Account>> {
        self.mem.load_account().await.map_err(Into::into)
    }

    async fn load_identity(&self) -> StoreResult<Option<PrivateCrossSigningIdentity>> {
        self.mem.load_identity().await.map_err(Into::into)
    }

    async fn get_sessions(&self, sender_key: &str) -> StoreResult<Option<Vec<Session>>> {
        self.mem.get_sessions(sender_key).await.map_err(Into::into)
    }

    async fn get_inbound_group_session(
        &self,
        room_id: &RoomId,
        session_id: &str,
    ) -> StoreResult<Option<InboundGroupSession>> {
        self.mem
            .get_inbound_group_session(room_id, session_id)
            .await
            .map_err(Into::into)
    }

    async fn get_inbound_group_sessions(&self) -> StoreResult<Vec<InboundGroupSession>> {
        self.mem
            .get_inbound_group_sessions()
            .await
            .map_err(Into::into)
    }

    async fn get_inbound_group_sessions_by_room_id(
        &self,
        room_id: &RoomId,
    ) -> StoreResult<Vec<InboundGroupSession>> {
        self.mem
            .get_inbound_group_sessions_by_room_id(room_id)
            .await
            .map_err(Into::into)
    }

    async fn get_inbound_group_sessions_for_device_batch(
        &self,
        curve_key: Curve25519PublicKey,
        sender_data_type: SenderDataType,
        after_session_id: Option<String>,
        limit: usize,
    ) -> StoreResult<Vec<InboundGroupSession>> {
        self.mem
            .get_inbound_group_sessions_for_device_batch(
                curve_key,
                sender_data_type,
                after_session_id,
                limit,
            )
            .await
            .map_err(Into::into)
    }

    async fn inbound_group_session_counts(
        &self,
        backup_version: Option<&str>,
    ) -> StoreResult<RoomKeyCounts> {
        self.mem
            .inbound_group_session_counts(backup_version)
            .await
            .map_err(Into::into)
    }

    async fn inbound_group_sessions_for_backup(
        &self,
        backup_version: &str,
        limit: usize,
    ) -> StoreResult<Vec<InboundGroupSession>> {
        self.mem
            .inbound_group_sessions_for_backup(backup_version, limit)
            .await
            .map_err(Into::into)
    }

    async fn mark_inbound_group_sessions_as_backed_up(
        &self,
        backup_version: &str,
        room_and_session_ids: &[(&RoomId, &str)],
    ) -> StoreResult<()> {
        self.mem
            .mark_inbound_group_sessions_as_backed_up(backup_version, room_and_session_ids)
            .await
            .map_err(Into::into)
    }

    async fn reset_backup_state(&self) -> StoreResult<()> {
        self.mem.reset_backup_state().await.map_err(Into::into)
    }

    async fn load_backup_keys(&self) -> StoreResult<BackupKeys> {
        self.mem.load_backup_keys().await.map_err(Into::into)
    }

    async fn load_dehydrated_device_pickle_key(&self) -> StoreResult<Option<DehydratedDeviceKey>> {
        self.mem
            .load_dehydrated_device_pickle_key()
            .await
            .map_err(Into::into)
    }

    async fn delete_dehydrated_device_pickle_key(&self) -> StoreResult<()> {
        self.mem
            .delete_dehydrated_device_pickle_key()
            .await
            .map_err(Into::into)
    }

    async fn get_outbound_group_session(
        &self,
        room_id: &RoomId,
    ) -> StoreResult<Option<OutboundGroupSession>> {
        self.mem
            .get_outbound_group_session(room_id)
            .await
            .map_err(Into::into)
    }

    async fn load_tracked_users(&self) -> StoreResult<Vec<TrackedUser>> {
        self.mem.load_tracked_users().await.map_err(Into::into)
    }

    async fn get_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> StoreResult<Option<DeviceData>> {
        self.mem
            .get_device(user_id, device_id)
            .await
            .map_err(Into::into)
    }

    async fn get_user_devices(
        &self,
        user_id: &UserId,
    ) -> StoreResult<HashMap<OwnedDeviceId, DeviceData>> {
        self.mem.get_user_devices(user_id).await.map_err(Into::into)
    }

    async fn get_own_device(&self) -> StoreResult<DeviceData> {
        self.mem.get_own_device().await.map_err(Into::into)
    }

    async fn get_user_identity(&self, user_id: &UserId) -> StoreResult<Option<UserIdentityData>> {
        self.mem
            .get_user_identity(user_id)
            .await
            .map_err(Into::into)
    }

    async fn is_message_known(&self, message_hash: &OlmMessageHash) -> StoreResult<bool> {
        self.mem
            .is_message_known(message_hash)
            .await
            .map_err(Into::into)
    }

    async fn get_outgoing_secret_requests(
        &self,
        request_id: &TransactionId,
    ) -> StoreResult<Option<GossipRequest>> {
        self.mem
            .get_outgoing_secret_requests(request_id)
            .await
            .map_err(Into::into)
    }

    async fn get_secret_request_by_info(
        &self,
        secret_info: &SecretInfo,
    ) -> StoreResult<Option<GossipRequest>> {
        self.mem
            .get_secret_request_by_info(secret_info)
            .await
            .map_err(Into::into)
    }

    async fn get_unsent_secret_requests(&self) -> StoreResult<Vec<GossipRequest>> {
        self.mem
            .get_unsent_secret_requests()
            .await
            .map_err(Into::into)
    }

    async fn get_secrets_from_inbox(
        &self,
        secret_name: &SecretName,
    ) -> StoreResult<Vec<Zeroizing<String>>> {
        self.mem
            .get_secrets_from_inbox(secret_name)
            .await
            .map_err(Into::into)
    }

    async fn delete_secrets_from_inbox(&self, secret_name: &SecretName) -> StoreResult<()> {
        self.mem
            .delete_secrets_from_inbox(secret_name)
            .await
            .map_err(Into::into)
    }

    async fn get_withheld_info(
        &self,
        room_id: &RoomId,
        session_id: &str,
    ) -> StoreResult<Option<RoomKeyWithheldEntry>> {
        self.mem
            .get_withheld_info(room_id, session_id)
            .await
            .map_err(Into::into)
    }

    async fn get_withheld_sessions_by_room_id(
        &self,
        room_id: &RoomId,
    ) -> StoreResult<Vec<RoomKeyWithheldEntry>> {
        self.mem
            .get_withheld_sessions_by_room_id(room_id)
            .await
            .map_err(Into::into)
    }

    async fn get_room_settings(&self, room_id: &RoomId) -> StoreResult<Option<RoomSettings>> {
        self.mem
            .get_room_settings(room_id)
            .await
            .map_err(Into::into)
    }

    async fn get_received_room_key_bundle_data(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> StoreResult<Option<StoredRoomKeyBundleData>> {
        self.mem
            .get_received_room_key_bundle_data(room_id, user_id)
            .await
            .map_err(Into::into)
    }

    async fn has_downloaded_all_room_keys(&self, room_id: &RoomId) -> StoreResult<bool> {
        self.mem
            .has_downloaded_all_room_keys(room_id)
            .await
            .map_err(Into::into)
    }

    async fn get_pending_key_bundle_details_for_room(
        &self,
        room_id: &RoomId,
    ) -> StoreResult<Option<RoomPendingKeyBundleDetails>> {
        self.mem
            .get_pending_key_bundle_details_for_room(room_id)
            .await
            .map_err(Into::into)
    }

    async fn get_all_rooms_pending_key_bundles(
        &self,
    ) -> StoreResult<Vec<RoomPendingKeyBundleDetails>> {
        self.mem
            .get_all_rooms_pending_key_bundles()
            .await
            .map_err(Into::into)
    }

    async fn get_custom_value(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.mem.get_custom_value(key).await.map_err(Into::into)
    }

    async fn try_take_leased_lock(
        &self,
        lease_duration_ms: u32,
        key: &str,
        holder: &str,
    ) -> StoreResult<Option<CrossProcessLockGeneration>> {
        self.mem
            .try_take_leased_lock(lease_duration_ms, key, holder)
            .await
            .map_err(Into::into)
    }

    async fn next_batch_token(&self) -> StoreResult<Option<String>> {
        self.mem.next_batch_token().await.map_err(Into::into)
    }

    async fn close(&self) -> StoreResult<()> {
        self.mem.close().await.map_err(Into::into)
    }

    async fn reopen(&self) -> StoreResult<()> {
        self.mem.reopen().await.map_err(Into::into)
    }

    async fn get_size(&self) -> StoreResult<Option<usize>> {
        self.mem.get_size().await.map_err(Into::into)
    }
}
