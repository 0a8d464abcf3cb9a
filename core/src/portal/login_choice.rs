//! Which of a user's logins speaks for them in a group portal (`use-login`). With several
//! accounts in the same group the user picks one; without a choice, or when the chosen login is
//! gone, the network picks (the first of the user's logins it knows to be in the group).

use ruma::UserId;

use crate::ids::{LoginSlot, PortalKey};
use crate::store::{Store, StoreError};

const KV_PORTAL_LOGIN: &str = "portal_login";

/// The store key: a group portal's key names only its chat, and a user ID has no space.
fn key(portal: &PortalKey, user: &UserId) -> String {
    format!("{portal} {user}")
}

/// `user`'s chosen login in `portal`, if they chose one.
pub async fn get(
    store: &Store,
    portal: &PortalKey,
    user: &UserId,
) -> Result<Option<LoginSlot>, StoreError> {
    let slot: Option<u16> = store.kv_get(KV_PORTAL_LOGIN, &key(portal, user)).await?;
    Ok(slot.and_then(LoginSlot::new))
}

/// `user` speaks through login `slot` in `portal` from now on.
pub async fn set(
    store: &Store,
    portal: &PortalKey,
    user: &UserId,
    slot: LoginSlot,
) -> Result<(), StoreError> {
    store
        .kv_set(KV_PORTAL_LOGIN, &key(portal, user), &slot.get())
        .await
}

/// The network chooses `user`'s login in `portal` again.
pub async fn unset(store: &Store, portal: &PortalKey, user: &UserId) -> Result<(), StoreError> {
    store.kv_delete(KV_PORTAL_LOGIN, &key(portal, user)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::RemoteChatId;

    #[tokio::test]
    async fn choices_are_per_portal_and_user_and_can_be_cleared() {
        let store = Store::connect("sqlite::memory:", 1, crate::store::SecretKey::generate())
            .await
            .expect("store");
        let group = PortalKey::shared(RemoteChatId::new("g1"));
        let other = PortalKey::shared(RemoteChatId::new("g2"));
        let alice = ruma::user_id!("@alice:example.org");
        let bob = ruma::user_id!("@bob:example.org");
        let two = LoginSlot::new(2).expect("slot");
        assert_eq!(get(&store, &group, alice).await.expect("get"), None);
        set(&store, &group, alice, two).await.expect("set");
        assert_eq!(get(&store, &group, alice).await.expect("get"), Some(two));
        assert_eq!(get(&store, &group, bob).await.expect("get"), None);
        assert_eq!(get(&store, &other, alice).await.expect("get"), None);
        unset(&store, &group, alice).await.expect("unset");
        assert_eq!(get(&store, &group, alice).await.expect("get"), None);
    }
}
