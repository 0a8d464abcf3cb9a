//! Crypto rows: written sealed, read back opened, replaced and deleted in one transaction.

use super::for_each_backend;
use crate::store::{CryptoRow, CryptoWrite, StoreError};

fn put(kind: &'static str, key: &str, value: &[u8]) -> CryptoWrite {
    CryptoWrite {
        kind,
        key: key.into(),
        value: Some(value.to_vec()),
    }
}

#[tokio::test]
async fn crypto_rows_round_trip_sealed() {
    for_each_backend(async |db| {
        let store = db.connect().await;
        store
            .crypto_write(&[
                put("session", "b", b"two"),
                put("session", "a", b"one"),
                put("account", "", b"acct"),
            ])
            .await
            .unwrap();
        store
            .crypto_write(&[
                put("session", "a", b"one again"),
                CryptoWrite {
                    kind: "session",
                    key: "b".into(),
                    value: None,
                },
            ])
            .await
            .unwrap();
        // A restart reads the same.
        let store = db.connect().await;
        assert_eq!(
            store.crypto_rows("session").await.unwrap(),
            [CryptoRow {
                kind: "session".into(),
                key: "a".into(),
                value: b"one again".to_vec()
            }]
        );
        assert_eq!(store.crypto_rows("account").await.unwrap().len(), 1);
        // Sealed: another key cannot open the rows.
        let other = db.connect_with(crate::store::SecretKey::generate()).await;
        assert!(matches!(
            other.crypto_rows("session").await,
            Err(StoreError::Decrypt)
        ));
        store.crypto_reset().await.unwrap();
        assert!(store.crypto_rows("account").await.unwrap().is_empty());
    })
    .await;
}
