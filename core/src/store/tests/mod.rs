//! The store's test suite: every test in `txns`, `rows` and `kv_secrets` runs once on a fresh
//! SQLite file and once on a fresh PostgreSQL database (see [`for_each_backend`]).
//!
//! PostgreSQL is required: the default server is `postgres://postgres@127.0.0.1:5432/test`,
//! overridable with `FERRYBRIDGE_TEST_POSTGRES_URL`. If it is unreachable the tests fail; they
//! never skip silently.

use std::panic::{AssertUnwindSafe, resume_unwind};

use futures::FutureExt as _;
use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

use super::{Backend, SecretKey, Store, StoreError};

mod bookkeeping;
mod crypto;
mod expiry;
mod journal;
mod kv_secrets;
mod rows;
mod txns;

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// One fresh database; [`TestDb::connect`] may be called again to simulate a restart.
pub(crate) struct TestDb {
    pub uri: String,
    pub backend: Backend,
    pub key: SecretKey,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// Opens (and migrates) a store on this database, as the bridge does at start-up.
    pub async fn connect(&self) -> Store {
        self.connect_with(self.key.clone()).await
    }

    pub async fn connect_with(&self, key: SecretKey) -> Store {
        Store::connect(&self.uri, 5, key)
            .await
            .unwrap_or_else(|e| panic!("connecting to {} failed: {e}", self.uri))
    }
}

fn postgres_admin_url() -> String {
    std::env::var("FERRYBRIDGE_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.into())
}

async fn postgres_admin(admin: &str) -> PgConnection {
    PgConnection::connect(admin).await.unwrap_or_else(|e| {
        panic!(
            "the store tests need PostgreSQL and cannot reach {admin}: {e}\n\
             Start PostgreSQL or set FERRYBRIDGE_TEST_POSTGRES_URL to a server where this user \
             may CREATE DATABASE. (These tests never skip a backend.)"
        )
    })
}

/// Runs `test` on a fresh SQLite file, then on a fresh PostgreSQL database that is dropped
/// afterwards (also when the test panics).
pub(crate) async fn for_each_backend(test: impl AsyncFn(&TestDb)) {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = TestDb {
        uri: format!("sqlite://{}", dir.path().join("store.db").display()),
        backend: Backend::Sqlite,
        key: SecretKey::generate(),
        _dir: Some(dir),
    };
    test(&sqlite).await;
    drop(sqlite);

    let admin = postgres_admin_url();
    let name = format!("fb_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = postgres_admin(&admin).await;
    conn.execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name} on {admin} failed: {e}"));
    let mut uri = url::Url::parse(&admin).expect("FERRYBRIDGE_TEST_POSTGRES_URL is not a URL");
    uri.set_path(&format!("/{name}"));
    let postgres = TestDb {
        uri: uri.to_string(),
        backend: Backend::Postgres,
        key: SecretKey::generate(),
        _dir: None,
    };
    let outcome = AssertUnwindSafe(test(&postgres)).catch_unwind().await;
    // FORCE ends connections of pools the test left open.
    let dropped = conn
        .execute(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .await;
    if let Err(panic) = outcome {
        resume_unwind(panic);
    }
    dropped.unwrap_or_else(|e| panic!("DROP DATABASE {name} failed: {e}"));
}

pub(super) fn user(s: &str) -> OwnedUserId {
    s.try_into().unwrap()
}

pub(super) fn room(s: &str) -> OwnedRoomId {
    s.try_into().unwrap()
}

pub(super) fn event(s: &str) -> OwnedEventId {
    s.try_into().unwrap()
}

#[tokio::test]
async fn unsupported_uri_is_refused() {
    for uri in [
        "mysql://root@localhost/db",
        "ferrybridge.db",
        "",
        "redis://127.0.0.1",
    ] {
        let err = Store::connect(uri, 1, SecretKey::generate())
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::UnsupportedUri(ref u) if u == uri),
            "{uri}: {err}"
        );
    }
}

#[tokio::test]
async fn sqlite_creates_missing_file_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    // A space in the path survives the URL round trip through the Any driver.
    let path = dir.path().join("new store.db");
    let store = Store::connect(
        &format!("sqlite://{}", path.display()),
        2,
        SecretKey::generate(),
    )
    .await
    .unwrap();
    assert!(path.exists());
    assert_eq!(store.backend(), Backend::Sqlite);
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(fk, 1);
}

#[tokio::test]
async fn sqlite_in_memory_keeps_its_data() {
    let store = Store::connect("sqlite::memory:", 4, SecretKey::generate())
        .await
        .unwrap();
    store.kv_set("ns", "a", &1).await.unwrap();
    // Several concurrent users must all see the same (single) in-memory database.
    let reads = futures::future::join_all((0..4).map(|_| store.kv_get::<i32>("ns", "a"))).await;
    for read in reads {
        assert_eq!(read.unwrap(), Some(1));
    }
    // A second in-memory store is a different database.
    let other = Store::connect("sqlite::memory:", 1, SecretKey::generate())
        .await
        .unwrap();
    assert_eq!(other.kv_get::<i32>("ns", "a").await.unwrap(), None);
}

#[tokio::test]
async fn unreachable_postgres_is_an_error() {
    let err = Store::connect(
        "postgres://nobody@127.0.0.1:1/none",
        1,
        SecretKey::generate(),
    )
    .await
    .unwrap_err();
    // The real cause, not the pool's "timed out".
    assert!(matches!(err, StoreError::Database(_)), "{err}");
    assert!(err.to_string().to_lowercase().contains("refused"), "{err}");
}

#[tokio::test]
async fn migrations_are_idempotent() {
    for_each_backend(async |db| {
        let first = db.connect().await;
        first.kv_set("ns", "k", &"v").await.unwrap();
        first.close().await;
        for _ in 0..2 {
            let again = db.connect().await;
            assert_eq!(
                again.kv_get::<String>("ns", "k").await.unwrap().as_deref(),
                Some("v")
            );
            let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
                .fetch_one(again.pool())
                .await
                .unwrap();
            let files = std::fs::read_dir(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/src/store/migrations/sqlite"
            ))
            .unwrap()
            .count() as i64;
            assert_eq!(applied, files, "each migration once: {:?}", db.backend);
            again.close().await;
        }
    })
    .await;
}
