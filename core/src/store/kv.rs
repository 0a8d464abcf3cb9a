//! A typed key-value area, one namespace per network or feature, for state that does not
//! deserve its own table (sync tokens, cursors, small caches). Values are JSON text.

use serde::{Serialize, de::DeserializeOwned};
use sqlx::Row;

use super::decode;
use super::{Store, StoreError};

impl Store {
    /// The value under (`namespace`, `key`), decoded as `T`; [`StoreError::Corrupt`] if the
    /// stored JSON does not fit `T`.
    pub async fn kv_get<T: DeserializeOwned>(
        &self,
        namespace: &str,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let _timer = crate::metrics::db_timer("kv_get");
        let json: Option<String> =
            sqlx::query_scalar("SELECT json FROM kv WHERE namespace = $1 AND item_key = $2")
                .bind(namespace)
                .bind(key)
                .fetch_optional(self.pool())
                .await?;
        json.map(|j| decode::json(&format!("kv {namespace}/{key}"), &j))
            .transpose()
    }

    /// Stores `value` as JSON, replacing any previous value.
    pub async fn kv_set<T: Serialize + Sync>(
        &self,
        namespace: &str,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        let _timer = crate::metrics::db_timer("kv_set");
        let json = decode::to_json(&format!("kv {namespace}/{key}"), value)?;
        sqlx::query(
            "INSERT INTO kv (namespace, item_key, json) VALUES ($1, $2, $3) \
             ON CONFLICT (namespace, item_key) DO UPDATE SET json = excluded.json",
        )
        .bind(namespace)
        .bind(key)
        .bind(json)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn kv_delete(&self, namespace: &str, key: &str) -> Result<(), StoreError> {
        let _timer = crate::metrics::db_timer("kv_delete");
        sqlx::query("DELETE FROM kv WHERE namespace = $1 AND item_key = $2")
            .bind(namespace)
            .bind(key)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Keys and JSON values in a namespace whose key starts with `prefix` (case-sensitive),
    /// sorted by key (byte order on both backends).
    pub async fn kv_list(
        &self,
        namespace: &str,
        prefix: &str,
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        let _timer = crate::metrics::db_timer("kv_list");
        // substr/length rather than LIKE: SQLite's LIKE ignores ASCII case and `%`/`_` in the
        // prefix would need escaping.
        let rows = sqlx::query(
            "SELECT item_key, json FROM kv WHERE namespace = $1 \
             AND substr(item_key, 1, length($2)) = $2 ORDER BY item_key",
        )
        .bind(namespace)
        .bind(prefix)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let key: String = row.try_get("item_key")?;
                let json: String = row.try_get("json")?;
                let value = decode::json(&format!("kv {namespace}/{key}"), &json)?;
                Ok((key, value))
            })
            .collect()
    }
}
