//! The crypto store against both databases: what the machine stored survives a restart (the
//! same Olm account, the same Megolm sessions both ways), so messages encrypted before a
//! restart still decrypt after it and new ones continue the same session.

use matrix_sdk_crypto::{DecryptionSettings, EncryptionSettings, OlmMachine, TrustRequirement};
use ruma16::{device_id, room_id, user_id};

use super::convert;
use super::store::BridgeCryptoStore;
use crate::store::tests::for_each_backend;

async fn machine(store: crate::store::Store) -> OlmMachine {
    let crypto_store = BridgeCryptoStore::open(store)
        .await
        .expect("open crypto store");
    OlmMachine::with_store(
        user_id!("@bot:hs"),
        device_id!("FERRYBRIDGE"),
        crypto_store,
        None,
    )
    .await
    .expect("machine")
}

async fn encrypt(machine: &OlmMachine, body: &str) -> serde_json::Value {
    let room = room_id!("!room:hs");
    let me = [user_id!("@bot:hs")];
    machine
        .share_room_key(room, me.into_iter(), EncryptionSettings::default())
        .await
        .unwrap();
    let content = convert::raw(&serde_json::json!({"msgtype": "m.text", "body": body})).unwrap();
    let encrypted = machine
        .encrypt_room_event_raw(room, "m.room.message", &content)
        .await
        .unwrap();
    convert::json(&encrypted.content).unwrap()
}

async fn decrypt(machine: &OlmMachine, content: &serde_json::Value, id: &str) -> String {
    let event = serde_json::json!({
        "type": "m.room.encrypted", "content": content, "sender": "@bot:hs",
        "event_id": id, "origin_server_ts": 1, "room_id": "!room:hs",
    });
    let raw = convert::raw(&event).unwrap();
    let settings = DecryptionSettings {
        sender_device_trust_requirement: TrustRequirement::Untrusted,
    };
    let decrypted = machine
        .decrypt_room_event(&raw, room_id!("!room:hs"), &settings)
        .await
        .expect("decrypts");
    let json = convert::json(&decrypted.event).unwrap();
    json["content"]["body"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn crypto_state_survives_a_restart() {
    for_each_backend(async |db| {
        let first = machine(db.connect().await).await;
        let keys = first.identity_keys();
        let before = encrypt(&first, "before").await;
        drop(first);

        let second = machine(db.connect().await).await;
        assert_eq!(second.identity_keys().ed25519, keys.ed25519, "same account");
        assert_eq!(decrypt(&second, &before, "$before").await, "before");
        let after = encrypt(&second, "after").await;
        assert_eq!(
            after["session_id"], before["session_id"],
            "the outbound session continues across the restart"
        );
        assert_eq!(decrypt(&second, &after, "$after").await, "after");
    })
    .await;
}
