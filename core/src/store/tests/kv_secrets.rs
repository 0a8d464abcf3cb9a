//! The key-value area and encrypted secrets.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{for_each_backend, user};
use crate::store::{SecretKey, StoreError};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Cursor {
    token: String,
    seq: u64,
    seen: Vec<String>,
}

#[tokio::test]
async fn kv_typed_round_trip() {
    for_each_backend(async |db| {
        let store = db.connect().await;
        let cursor = Cursor {
            token: "abc".into(),
            seq: 7,
            seen: vec!["x".into(), "ü".into()],
        };
        assert_eq!(store.kv_get::<Cursor>("irc", "cursor").await.unwrap(), None);
        store.kv_set("irc", "cursor", &cursor).await.unwrap();
        assert_eq!(
            store.kv_get::<Cursor>("irc", "cursor").await.unwrap(),
            Some(cursor)
        );
        // Overwrite with another type; namespaces are separate.
        store.kv_set("irc", "cursor", &42u32).await.unwrap();
        assert_eq!(
            store.kv_get::<u32>("irc", "cursor").await.unwrap(),
            Some(42)
        );
        assert_eq!(store.kv_get::<u32>("xmpp", "cursor").await.unwrap(), None);
        // Reading as the wrong type is a clear error.
        let err = store.kv_get::<Cursor>("irc", "cursor").await.unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt(ref m) if m.contains("irc/cursor")),
            "{err}"
        );

        store.kv_delete("irc", "cursor").await.unwrap();
        store.kv_delete("irc", "cursor").await.unwrap();
        assert_eq!(store.kv_get::<u32>("irc", "cursor").await.unwrap(), None);

        // A map with non-string keys cannot be JSON: an error, not a panic.
        let weird: std::collections::HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        assert!(matches!(
            store.kv_set("irc", "weird", &weird).await,
            Err(StoreError::Encode(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn kv_list_by_prefix() {
    for_each_backend(async |db| {
        let store = db.connect().await;
        for (key, value) in [
            ("chan:#b", json!(2)),
            ("chan:#a", json!({"x": 1})),
            ("chan:#C", json!(null)),
            ("CHAN:#upper", json!(0)),
            ("chan%", json!("percent")),
            ("chanx", json!("underscore-match")),
            ("nick:bob", json!("bob")),
        ] {
            store.kv_set("irc", key, &value).await.unwrap();
        }
        store.kv_set("other", "chan:#a", &1).await.unwrap();

        let listed = store.kv_list("irc", "chan:").await.unwrap();
        assert_eq!(
            listed,
            vec![
                ("chan:#C".to_owned(), json!(null)),
                ("chan:#a".to_owned(), json!({"x": 1})),
                ("chan:#b".to_owned(), json!(2)),
            ]
        );
        // LIKE wildcards in the prefix are literal.
        let listed = store.kv_list("irc", "chan%").await.unwrap();
        assert_eq!(listed, vec![("chan%".to_owned(), json!("percent"))]);
        let listed = store.kv_list("irc", "chan_").await.unwrap();
        assert_eq!(listed, vec![]);
        assert_eq!(store.kv_list("irc", "").await.unwrap().len(), 7);
        assert_eq!(store.kv_list("none", "").await.unwrap(), vec![]);
    })
    .await;
}

#[tokio::test]
async fn secrets_are_encrypted_and_bound_to_their_row() {
    for_each_backend(async |db| {
        let store = db.connect().await;
        let alice = user("@alice:example.org");
        let bob = user("@bob:example.org");
        let password = b"correct horse battery staple";

        assert_eq!(
            store.get_secret(&alice, "irc_password").await.unwrap(),
            None
        );
        store
            .set_secret(&alice, "irc_password", password)
            .await
            .unwrap();
        assert_eq!(
            store
                .get_secret(&alice, "irc_password")
                .await
                .unwrap()
                .as_deref(),
            Some(&password[..])
        );
        assert_eq!(store.get_secret(&bob, "irc_password").await.unwrap(), None);

        // Not stored in the clear.
        let stored: String = sqlx::query_scalar("SELECT ciphertext FROM secrets")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert!(!stored.contains("horse"), "{stored}");
        assert!(!stored.contains(&base64_of(password)), "{stored}");

        // Overwrite.
        store
            .set_secret(&alice, "irc_password", b"new")
            .await
            .unwrap();
        assert_eq!(
            store
                .get_secret(&alice, "irc_password")
                .await
                .unwrap()
                .as_deref(),
            Some(&b"new"[..])
        );

        // A ciphertext copied into another user's row does not decrypt.
        store
            .set_secret(&bob, "irc_password", b"bobs")
            .await
            .unwrap();
        sqlx::query(
            "UPDATE secrets SET ciphertext = \
             (SELECT ciphertext FROM secrets WHERE mxid = $1) WHERE mxid = $2",
        )
        .bind(alice.as_str())
        .bind(bob.as_str())
        .execute(store.pool())
        .await
        .unwrap();
        assert!(matches!(
            store.get_secret(&bob, "irc_password").await,
            Err(StoreError::Decrypt)
        ));

        // The same database opened with another key cannot read it.
        let other = db.connect_with(SecretKey::generate()).await;
        assert!(matches!(
            other.get_secret(&alice, "irc_password").await,
            Err(StoreError::Decrypt)
        ));
        // ...but the right key still can, after a restart.
        store.close().await;
        let again = db.connect().await;
        assert_eq!(
            again
                .get_secret(&alice, "irc_password")
                .await
                .unwrap()
                .as_deref(),
            Some(&b"new"[..])
        );

        again.delete_secret(&alice, "irc_password").await.unwrap();
        assert_eq!(
            again.get_secret(&alice, "irc_password").await.unwrap(),
            None
        );
        // Empty secrets round-trip too.
        again.set_secret(&alice, "empty", b"").await.unwrap();
        assert_eq!(
            again.get_secret(&alice, "empty").await.unwrap(),
            Some(Vec::new())
        );
    })
    .await;
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
