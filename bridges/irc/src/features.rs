//! Per-user feature switches (`!feature name [true|false|default]`): kept in the store and
//! mirrored in memory, because the relay asks for every IRC line (mentions) and must not wait
//! on the database for it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use ferrybridge_core::store::{Store, StoreError};
use ruma::{OwnedUserId, UserId};

/// Store namespace: Matrix user ID → `{feature: bool}` of the switches the user changed.
pub const KV_FEATURES: &str = "irc_features";

/// A feature the user can switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeatureSpec {
    pub name: &'static str,
    pub default: bool,
    pub what: &'static str,
}

/// IRC nick mentions of a Matrix user's puppet become Matrix mentions (pings) of that user.
pub const MENTIONS: FeatureSpec = FeatureSpec {
    name: "mentions",
    default: true,
    what: "turn IRC nick mentions of you into Matrix mentions (notifications)",
};

/// Every known feature.
pub const FEATURES: &[FeatureSpec] = &[MENTIONS];

/// Looks a feature up by name, ignoring case.
pub fn find(name: &str) -> Option<FeatureSpec> {
    FEATURES
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(name))
        .copied()
}

/// The users' switches; only the ones that differ from "default" are held.
#[derive(Default)]
pub struct Features {
    users: Mutex<HashMap<OwnedUserId, BTreeMap<String, bool>>>,
}

impl Features {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<OwnedUserId, BTreeMap<String, bool>>> {
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Loads every user's switches (at start-up). Unreadable rows are logged and skipped.
    pub async fn load(&self, store: &Store) -> Result<(), StoreError> {
        let rows = store.kv_list(KV_FEATURES, "").await?;
        let mut users = self.lock();
        for (key, json) in rows {
            let (Ok(user), Ok(map)) = (
                UserId::parse(key.as_str()),
                serde_json::from_value::<BTreeMap<String, bool>>(json),
            ) else {
                tracing::warn!(key, "ignoring an unreadable feature row");
                continue;
            };
            users.insert(user, map);
        }
        Ok(())
    }

    /// Whether `feature` is on for `user`.
    pub fn enabled(&self, user: &UserId, feature: FeatureSpec) -> bool {
        self.explicit(user, feature).unwrap_or(feature.default)
    }

    /// The user's own setting, if they made one.
    pub fn explicit(&self, user: &UserId, feature: FeatureSpec) -> Option<bool> {
        self.lock()
            .get(user)
            .and_then(|m| m.get(feature.name))
            .copied()
    }

    /// Sets (`Some`) or resets (`None`) a switch, in the store first so memory never claims
    /// what a restart would forget.
    pub async fn set(
        &self,
        store: &Store,
        user: &UserId,
        feature: FeatureSpec,
        value: Option<bool>,
    ) -> Result<(), StoreError> {
        let mut map = self.lock().get(user).cloned().unwrap_or_default();
        match value {
            Some(v) => map.insert(feature.name.to_owned(), v),
            None => map.remove(feature.name),
        };
        if map.is_empty() {
            store.kv_delete(KV_FEATURES, user.as_str()).await?;
        } else {
            store.kv_set(KV_FEATURES, user.as_str(), &map).await?;
        }
        let mut users = self.lock();
        if map.is_empty() {
            users.remove(user);
        } else {
            users.insert(user.to_owned(), map);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_users_get_defaults_and_names_match_any_case() {
        let f = Features::default();
        let user = UserId::parse("@a:hs").unwrap();
        assert!(f.enabled(&user, MENTIONS));
        assert_eq!(f.explicit(&user, MENTIONS), None);
        assert_eq!(find("MENTIONS"), Some(MENTIONS));
        assert_eq!(find("nope"), None);
    }

    #[tokio::test]
    async fn switches_survive_a_reload_and_default_removes_them() {
        use ferrybridge_core::store::SecretKey;
        let store = Store::connect("sqlite::memory:", 1, SecretKey::generate())
            .await
            .unwrap();
        let user = UserId::parse("@a:hs").unwrap();
        let f = Features::default();
        f.set(&store, &user, MENTIONS, Some(false)).await.unwrap();
        assert!(!f.enabled(&user, MENTIONS));
        let reloaded = Features::default();
        reloaded.load(&store).await.unwrap();
        assert_eq!(reloaded.explicit(&user, MENTIONS), Some(false));
        f.set(&store, &user, MENTIONS, None).await.unwrap();
        let again = Features::default();
        again.load(&store).await.unwrap();
        assert!(again.enabled(&user, MENTIONS));
    }
}
