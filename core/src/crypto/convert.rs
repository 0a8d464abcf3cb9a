//! The one seam between the core's ruma (0.17) and the crypto machine's (0.16): identifiers go
//! through their string form, events and contents through JSON. Nothing is copied field by
//! field, so the two versions can drift without this file noticing.

use ruma16::serde::Raw;

use super::CryptoError;

fn bad(what: &str, e: impl std::fmt::Display) -> CryptoError {
    CryptoError::State(format!("{what} does not convert: {e}"))
}

pub(super) fn user_id(id: &ruma::UserId) -> Result<ruma16::OwnedUserId, CryptoError> {
    ruma16::UserId::parse(id.as_str()).map_err(|e| bad("user ID", e))
}

pub(super) fn room_id(id: &ruma::RoomId) -> Result<ruma16::OwnedRoomId, CryptoError> {
    ruma16::RoomId::parse(id.as_str()).map_err(|e| bad("room ID", e))
}

/// Any JSON as a raw value of the machine's ruma.
pub(super) fn raw<T>(json: &serde_json::Value) -> Result<Raw<T>, CryptoError> {
    let text = serde_json::value::to_raw_value(json).map_err(|e| bad("JSON", e))?;
    Ok(Raw::from_json(text))
}

/// Raw JSON text as a raw value of the machine's ruma.
pub(super) fn raw_text<T>(json: &str) -> Result<Raw<T>, CryptoError> {
    let text =
        serde_json::value::RawValue::from_string(json.to_owned()).map_err(|e| bad("JSON", e))?;
    Ok(Raw::from_json(text))
}

/// A raw value of the machine's ruma back to JSON.
pub(super) fn json<T>(raw: &Raw<T>) -> Result<serde_json::Value, CryptoError> {
    serde_json::from_str(raw.json().get()).map_err(|e| bad("JSON", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_strings() {
        let user: ruma::OwnedUserId = "@bot:example.org".try_into().unwrap();
        assert_eq!(user_id(&user).unwrap().as_str(), "@bot:example.org");
        let room: ruma::OwnedRoomId = "!opaque-v12-id".try_into().unwrap();
        assert_eq!(room_id(&room).unwrap().as_str(), "!opaque-v12-id");
    }

    #[test]
    fn json_round_trips_and_garbage_is_an_error() {
        let v = serde_json::json!({"body": "hi", "msgtype": "m.text"});
        let r: Raw<serde_json::Value> = raw(&v).unwrap();
        assert_eq!(json(&r).unwrap(), v);
        assert!(raw_text::<serde_json::Value>("{not json").is_err());
    }
}
