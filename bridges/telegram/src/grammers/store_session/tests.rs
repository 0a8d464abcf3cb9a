//! The session over the store, on SQLite and on a fresh PostgreSQL database.

use std::net::{Ipv4Addr, SocketAddrV4, SocketAddrV6};

use ferrybridge_core::ids::LoginSlot;
use ferrybridge_core::store::{SecretKey, Store};
use grammers_session::Session;
use grammers_session::types::{DcOption, PeerAuth, PeerId, PeerInfo, UpdateState};
use ruma::OwnedUserId;
use sqlx::{Connection, PgConnection};

use super::StoreSession;

fn alice() -> OwnedUserId {
    OwnedUserId::try_from("@alice:hs").unwrap()
}

async fn exercise(uri: &str) {
    let key = SecretKey::generate();
    let store = Store::connect(uri, 2, key.clone()).await.unwrap();
    let s = StoreSession::load(&store, &alice(), LoginSlot::FIRST)
        .await
        .unwrap();
    assert!(!s.has_auth_key(), "a fresh session has no keys");
    let dc = DcOption {
        id: 4,
        ipv4: SocketAddrV4::new(Ipv4Addr::new(149, 154, 167, 91), 443),
        ipv6: SocketAddrV6::new(std::net::Ipv6Addr::LOCALHOST, 443, 0, 0),
        auth_key: Some([7u8; 256]),
    };
    s.set_dc_option(&dc).await.unwrap();
    s.set_home_dc_id(4).await.unwrap();
    s.cache_peer(PeerInfo::User {
        id: 99,
        auth: Some(PeerAuth::from_hash(1234)),
        bot: Some(false),
        is_self: None,
    })
    .await
    .unwrap();
    s.set_update_state(UpdateState::Primary {
        pts: 10,
        date: 20,
        seq: 30,
    })
    .await
    .unwrap();
    s.set_update_state(UpdateState::Channel { id: 5, pts: 6 })
        .await
        .unwrap();
    drop(s);
    store.close().await;

    // A restart: everything is back.
    let store = Store::connect(uri, 2, key.clone()).await.unwrap();
    let s = StoreSession::load(&store, &alice(), LoginSlot::FIRST)
        .await
        .unwrap();
    assert!(s.has_auth_key());
    assert_eq!(s.home_dc_id().unwrap(), 4);
    assert_eq!(s.dc_option(4).unwrap(), Some(dc));
    let peer = s
        .peer_ref(PeerId::user_unchecked(99))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(peer.auth.hash(), 1234);
    let state = s.updates_state().await.unwrap();
    assert_eq!((state.pts, state.date, state.seq), (10, 20, 30));
    assert_eq!(state.channels.len(), 1);

    // Another user sees nothing of it.
    let bob = OwnedUserId::try_from("@bob:hs").unwrap();
    let other = StoreSession::load(&store, &bob, LoginSlot::FIRST)
        .await
        .unwrap();
    assert!(!other.has_auth_key());
    assert!(
        other
            .peer_ref(PeerId::user_unchecked(99))
            .await
            .unwrap()
            .is_none()
    );

    // Nor does Alice's second login, and forgetting it leaves the first alone.
    let two = LoginSlot::new(2).unwrap();
    let second = StoreSession::load(&store, &alice(), two).await.unwrap();
    assert!(!second.has_auth_key());
    assert!(
        second
            .peer_ref(PeerId::user_unchecked(99))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(second.updates_state().await.unwrap().pts, 0);
    StoreSession::forget(&store, &alice(), two).await.unwrap();
    let first = StoreSession::load(&store, &alice(), LoginSlot::FIRST)
        .await
        .unwrap();
    assert!(first.has_auth_key());

    // A wrong key cannot open the auth keys.
    store.close().await;
    let wrong = Store::connect(uri, 2, SecretKey::generate()).await.unwrap();
    assert!(
        StoreSession::load(&wrong, &alice(), LoginSlot::FIRST)
            .await
            .is_err()
    );
    wrong.close().await;

    // Logout forgets everything.
    let store = Store::connect(uri, 2, key).await.unwrap();
    StoreSession::forget(&store, &alice(), LoginSlot::FIRST)
        .await
        .unwrap();
    let s = StoreSession::load(&store, &alice(), LoginSlot::FIRST)
        .await
        .unwrap();
    assert!(!s.has_auth_key());
    assert!(
        s.peer_ref(PeerId::user_unchecked(99))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(s.updates_state().await.unwrap().pts, 0);
    store.close().await;
}

#[tokio::test]
async fn session_survives_restarts_on_sqlite_and_auth_keys_are_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let uri = format!("sqlite://{}", path.display());
    exercise(&uri).await;

    // At rest the auth key bytes (0x07 repeated) appear nowhere in plain or hex form.
    let store = Store::connect(&uri, 1, SecretKey::generate())
        .await
        .unwrap();
    let s = StoreSession::load(&store, &alice(), LoginSlot::FIRST)
        .await
        .unwrap();
    s.set_dc_option(&DcOption {
        id: 2,
        ipv4: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1),
        ipv6: SocketAddrV6::new(std::net::Ipv6Addr::LOCALHOST, 1, 0, 0),
        auth_key: Some([7u8; 256]),
    })
    .await
    .unwrap();
    store.close().await;
    let raw = std::fs::read(&path).unwrap();
    let wal = std::fs::read(dir.path().join("s.db-wal")).unwrap_or_default();
    for bytes in [raw, wal] {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&"07".repeat(32)), "auth key in hex at rest");
        assert!(
            !bytes.windows(64).any(|w| w.iter().all(|b| *b == 7)),
            "auth key raw at rest"
        );
    }
}

#[tokio::test]
async fn session_survives_restarts_on_postgres() {
    let server = std::env::var("FERRYBRIDGE_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let name = format!("fbtest_tg_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&format!("{server}/postgres"))
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await
        .unwrap();
    let result = tokio::spawn({
        let uri = format!("{server}/{name}");
        async move { exercise(&uri).await }
    })
    .await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}
