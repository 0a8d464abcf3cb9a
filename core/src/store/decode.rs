//! Turning database strings back into typed values, with [`StoreError::Corrupt`] instead of
//! panics when a row holds something that no longer parses.

use ruma::{IdParseError, OwnedUserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::StoreError;
use crate::ids::{LoginSlot, PortalKey, UserLogin};

/// Parses a ruma ID read from `column`.
pub(super) fn id<T>(column: &str, value: String) -> Result<T, StoreError>
where
    T: TryFrom<String, Error = IdParseError>,
{
    T::try_from(value.clone())
        .map_err(|e| StoreError::Corrupt(format!("{column} {value:?} is not a valid ID: {e}")))
}

/// Parses an optional ruma ID read from `column`.
pub(super) fn opt_id<T>(column: &str, value: Option<String>) -> Result<Option<T>, StoreError>
where
    T: TryFrom<String, Error = IdParseError>,
{
    value.map(|v| id(column, v)).transpose()
}

/// The stored spelling of a portal's receiver: `''` for shared portals, since NULL columns
/// would not make the (chat, receiver) key unique; `@user:server` for a private chat of the
/// user's first login and `@user:server|2` for one of a later login (a server name has no `|`,
/// so rows written before there were several logins read back unchanged).
pub(super) fn receiver_to_db(key: &PortalKey) -> String {
    key.receiver.as_ref().map_or(String::new(), |r| {
        UserLogin::new(r.clone(), key.login).store_key()
    })
}

/// Inverse of [`receiver_to_db`].
pub(super) fn receiver_from_db(
    value: String,
) -> Result<(Option<OwnedUserId>, LoginSlot), StoreError> {
    if value.is_empty() {
        return Ok((None, LoginSlot::FIRST));
    }
    let login = UserLogin::parse_store_key(&value).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "receiver {value:?} is not a user ID with a login number"
        ))
    })?;
    Ok((Some(login.user), login.slot))
}

/// Reads a flag: PostgreSQL returns BOOLEAN, SQLite an INTEGER 0/1.
pub(super) fn flag(row: &AnyRow, column: &str) -> Result<bool, StoreError> {
    match row.try_get::<bool, _>(column) {
        Ok(b) => Ok(b),
        Err(_) => Ok(row.try_get::<i64, _>(column)? != 0),
    }
}

/// Parses stored JSON text from `what`.
pub(super) fn json<T: serde::de::DeserializeOwned>(
    what: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("{what} is not the expected JSON: {e}")))
}

/// Serialises a value to JSON text for storing.
pub(super) fn to_json<T: serde::Serialize + ?Sized>(
    what: &str,
    value: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Encode(format!("{what} cannot be stored as JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruma::OwnedRoomId;

    #[test]
    fn bad_ids_are_corrupt_not_panics() {
        let err = id::<OwnedUserId>("mxid", "not a user".into()).unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt(ref m) if m.contains("mxid")),
            "{err}"
        );
        let err = id::<OwnedRoomId>("room_id", "@user:x".into()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
        assert!(receiver_from_db("nope".into()).is_err());
        assert!(receiver_from_db("@a:x|0".into()).is_err());
        assert!(receiver_from_db("@a:x|two".into()).is_err());
        assert_eq!(
            receiver_from_db(String::new()).unwrap(),
            (None, LoginSlot::FIRST)
        );
    }

    #[test]
    fn receiver_round_trip() {
        let user: OwnedUserId = "@a:example.org".try_into().unwrap();
        for login in [LoginSlot::FIRST, LoginSlot::new(2).unwrap()] {
            let key = PortalKey::private_of("chat", user.clone(), login);
            let stored = receiver_to_db(&key);
            assert_eq!(
                receiver_from_db(stored).unwrap(),
                (Some(user.clone()), login)
            );
        }
        // Rows from before several logins read as the first login.
        assert_eq!(
            receiver_from_db("@a:example.org".into()).unwrap().1,
            LoginSlot::FIRST
        );
        assert_eq!(receiver_to_db(&PortalKey::shared("chat")), "");
    }
}
