//! Rows of end-to-bridge encryption state: one row per object (`kind`, `item_key`), the value
//! sealed with the store's secret key, since it holds private keys. The crypto module decides
//! what the kinds and values are; this file only keeps them, so the same code serves SQLite and
//! PostgreSQL.
//!
//! Commits are relaxed (see `durability`): they survive a crash of the process. A power loss
//! may undo the last ones; the Olm and Megolm protocols recover from a rewound session by
//! starting a new one, which costs a few undecryptable messages at worst, as on any client.

use sqlx::Row;

use super::{Durability, Store, StoreError};

/// One stored object, opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CryptoRow {
    pub kind: String,
    pub key: String,
    pub value: Vec<u8>,
}

/// A change to one object: `Some` writes the value, `None` deletes the row.
#[derive(Clone, Debug)]
pub struct CryptoWrite {
    pub kind: &'static str,
    pub key: String,
    pub value: Option<Vec<u8>>,
}

/// The sealing context of a row: rows cannot be swapped with each other or with user secrets.
fn seal_context(kind: &str) -> String {
    format!("crypto:{kind}")
}

impl Store {
    /// Applies `writes` in one database transaction, in order.
    pub async fn crypto_write(&self, writes: &[CryptoWrite]) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let _timer = crate::metrics::db_timer("crypto_write");
        let mut conn = self.pool().acquire().await?;
        let mut tx = self.begin_on(&mut conn, Durability::Relaxed).await?;
        for write in writes {
            match &write.value {
                Some(value) => {
                    let sealed = self
                        .key()
                        .seal(&seal_context(write.kind), &write.key, value)?;
                    sqlx::query(
                        "INSERT INTO crypto_objects (kind, item_key, sealed) VALUES ($1, $2, $3) \
                         ON CONFLICT (kind, item_key) DO UPDATE SET sealed = excluded.sealed",
                    )
                    .bind(write.kind)
                    .bind(&write.key)
                    .bind(sealed)
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    sqlx::query("DELETE FROM crypto_objects WHERE kind = $1 AND item_key = $2")
                        .bind(write.kind)
                        .bind(&write.key)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every stored object of `kind`, opened, ordered by key.
    pub async fn crypto_rows(&self, kind: &str) -> Result<Vec<CryptoRow>, StoreError> {
        let _timer = crate::metrics::db_timer("crypto_rows");
        let rows = sqlx::query(
            "SELECT item_key, sealed FROM crypto_objects WHERE kind = $1 ORDER BY item_key",
        )
        .bind(kind)
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let key: String = row.try_get("item_key")?;
            let sealed: String = row.try_get("sealed")?;
            let value = self.key().open(&seal_context(kind), &key, &sealed)?;
            out.push(CryptoRow {
                kind: kind.to_owned(),
                key,
                value,
            });
        }
        Ok(out)
    }

    /// Deletes every crypto object (a reset after the homeserver forgot our device).
    pub async fn crypto_reset(&self) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM crypto_objects")
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
