//! Opening the database: picking the backend from the URI, preparing SQLite, running the
//! embedded migrations.

use std::str::FromStr;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Connection, Executor};

use super::StoreError;

/// The SQLite schema; each dialect has its own directory because autoincrement and boolean
/// columns are spelled differently. Both must describe the same tables.
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("src/store/migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("src/store/migrations/postgres");

/// Which database engine a [`super::Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file (`sqlite://path`), or `sqlite::memory:` for throwaway stores.
    Sqlite,
    /// A PostgreSQL server (`postgres://…` or `postgresql://…`).
    Postgres,
}

impl Backend {
    /// The backend a database URI names, by its scheme.
    pub fn from_uri(uri: &str) -> Result<Self, StoreError> {
        let scheme = uri
            .split_once(':')
            .map(|(scheme, _)| scheme.to_ascii_lowercase())
            .unwrap_or_default();
        match scheme.as_str() {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            _ => Err(StoreError::UnsupportedUri(uri.to_owned())),
        }
    }
}

/// Opens a pool on `uri` and brings the schema up to date.
pub(super) async fn open(
    uri: &str,
    max_connections: u32,
) -> Result<(AnyPool, Backend), StoreError> {
    let backend = Backend::from_uri(uri)?;
    install_default_drivers();
    let max_connections = max_connections.max(1);
    let pool = match backend {
        Backend::Sqlite => open_sqlite(uri, max_connections).await?,
        Backend::Postgres => {
            // One direct attempt first: the pool would retry until its acquire timeout and
            // then only say "pool timed out", hiding "connection refused" or a bad password.
            AnyConnection::connect(uri).await?.close().await?;
            AnyPoolOptions::new()
                .max_connections(max_connections)
                .connect(uri)
                .await?
        }
    };
    let migrator = match backend {
        Backend::Sqlite => &SQLITE_MIGRATIONS,
        Backend::Postgres => &POSTGRES_MIGRATIONS,
    };
    migrator.run(&pool).await?;
    Ok((pool, backend))
}

async fn open_sqlite(uri: &str, max_connections: u32) -> Result<AnyPool, StoreError> {
    let options = SqliteConnectOptions::from_str(uri)?;
    let in_memory = sqlite_in_memory(uri);

    let pool = AnyPoolOptions::new().after_connect(|conn, _meta| {
        Box::pin(async move {
            // How long a writer waits for another connection's write lock before failing.
            conn.execute("PRAGMA busy_timeout = 10000").await?;
            conn.execute("PRAGMA foreign_keys = ON").await?;
            // Commits survive a crash of the bridge; only the ones that acknowledge a
            // homeserver transaction also wait for the disk (see `Durability`).
            conn.execute("PRAGMA synchronous = NORMAL").await?;
            Ok(())
        })
    });

    if in_memory {
        // Every new connection would open a different empty database: keep exactly one alive.
        return Ok(pool
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect(uri)
            .await?);
    }

    // The file holds sealed secrets and message history: create it owner-only before SQLite
    // does (its `-wal` and `-shm` files take the same mode). Should that fail, SQLite's own
    // attempt below reports the real problem.
    if let Err(e) = crate::private_fs::ensure_private_file(options.get_filename()) {
        tracing::warn!(file = %options.get_filename().display(), error = %e, "cannot make the database file private");
    }

    // The Any driver only takes a URL, which cannot ask for file creation or WAL: do both
    // once over a typed connection (WAL mode is stored in the file and sticks).
    let conn = options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .connect()
        .await?;
    conn.close().await?;

    // A local file cannot drop a connection: pinging one before each use (sqlx's default)
    // only adds a round trip to the connection's worker thread to every query.
    Ok(pool
        .max_connections(max_connections)
        .test_before_acquire(false)
        .connect(uri)
        .await?)
}

/// Whether a SQLite URI names an in-memory database (`sqlite::memory:` or `?mode=memory`).
/// Parsed by hand: sqlx's own `to_url_lossy` panics on in-memory options.
fn sqlite_in_memory(uri: &str) -> bool {
    let rest = uri.split_once(':').map_or("", |(_, rest)| rest);
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    database == ":memory:"
        || url::form_urlencoded::parse(params.as_bytes()).any(|(k, v)| k == "mode" && v == "memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_from_scheme() {
        assert_eq!(Backend::from_uri("sqlite://a.db").unwrap(), Backend::Sqlite);
        assert_eq!(
            Backend::from_uri("sqlite::memory:").unwrap(),
            Backend::Sqlite
        );
        assert_eq!(Backend::from_uri("SQLite:a.db").unwrap(), Backend::Sqlite);
        assert_eq!(
            Backend::from_uri("postgres://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert_eq!(
            Backend::from_uri("postgresql://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert!(sqlite_in_memory("sqlite::memory:"));
        assert!(sqlite_in_memory("sqlite://:memory:"));
        assert!(sqlite_in_memory("sqlite://x?mode=memory&cache=shared"));
        assert!(!sqlite_in_memory("sqlite://memory.db"));
        assert!(!sqlite_in_memory("sqlite:///tmp/a.db?mode=rwc"));
        for bad in ["mysql://x", "", "ferrybridge.db", "http://x"] {
            assert!(
                matches!(Backend::from_uri(bad), Err(StoreError::UnsupportedUri(ref u)) if u == bad),
                "{bad}"
            );
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn sqlite_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("bridge.db");
        let uri = format!("sqlite://{}", db.display());
        let store = crate::store::Store::connect(&uri, 2, crate::store::SecretKey([7; 32]))
            .await
            .unwrap();
        store.kv_set("ns", "k", &"v").await.unwrap();
        for name in ["bridge.db", "bridge.db-wal", "bridge.db-shm"] {
            let mode = std::fs::metadata(tmp.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
    }
}
