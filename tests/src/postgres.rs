//! A fresh PostgreSQL database per test, so tests never share tables and can run in parallel.
//! Server: `FERRYBRIDGE_PG_URL` (default `postgres://postgres@127.0.0.1:5432`, trust auth).

use anyhow::{Context, Result};
use sqlx::Connection;
use sqlx::postgres::PgConnection;

fn server_url() -> String {
    std::env::var("FERRYBRIDGE_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// Drops the database when dropped (terminating leftover connections).
#[derive(Debug)]
pub struct PgDbGuard {
    name: String,
}

impl PgDbGuard {
    /// The database name (`fbtest_<random>`).
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Creates `fbtest_<random>` and returns its URL plus the guard that drops it.
pub async fn fresh_postgres_db() -> Result<(String, PgDbGuard)> {
    let server = server_url();
    let name = format!("fbtest_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&format!("{server}/postgres"))
        .await
        .with_context(|| {
            format!("connecting to {server} (is PostgreSQL running? scripts/test.sh starts it)")
        })?;
    // The name is ours (fbtest_ + hex uuid), never user input.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await
        .with_context(|| format!("CREATE DATABASE {name}"))?;
    conn.close().await.ok();
    Ok((format!("{server}/{name}"), PgDbGuard { name }))
}

async fn drop_db(name: &str) -> Result<()> {
    let mut conn = PgConnection::connect(&format!("{}/postgres", server_url())).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    conn.close().await.ok();
    Ok(())
}

impl Drop for PgDbGuard {
    fn drop(&mut self) {
        // Drop can't await and may run inside a runtime: use a private one on its own thread.
        let name = std::mem::take(&mut self.name);
        let res = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(drop_db(&name))
        })
        .join();
        if let Ok(Err(e)) = res {
            eprintln!("warning: dropping test database failed: {e:#}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn creates_and_drops_a_database() {
        let (url, guard) = fresh_postgres_db().await.unwrap();
        let name = guard.name().to_owned();
        let mut conn = PgConnection::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE t (x int)")
            .execute(&mut conn)
            .await
            .unwrap();
        drop(guard); // WITH (FORCE) ends our open connection
        let mut admin = PgConnection::connect(&format!("{}/postgres", server_url()))
            .await
            .unwrap();
        let left: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM pg_database WHERE datname = $1")
            .bind(&name)
            .fetch_optional(&mut admin)
            .await
            .unwrap();
        assert!(left.is_none());
    }
}
