//! The end-to-bridge encryption fields of a transaction (MSC2409 to-device events, MSC3202
//! device lists, one-time key counts and unused fallback key types), kept raw: the crypto
//! layer reads them. Malformed fields are dropped with a log line, never a reason to refuse
//! the transaction (its timeline events must still be recorded).

use serde::Deserialize;
use serde_json::value::RawValue;

/// The encryption fields of one transaction; `None` where the homeserver sent nothing.
#[derive(Debug, Default)]
pub struct DeviceData {
    /// To-device events, each with the `to_user_id` and `to_device_id` it was sent to.
    pub to_device: Vec<Box<RawValue>>,
    /// `{"changed": [user IDs], "left": [user IDs]}`.
    pub device_lists: Option<Box<RawValue>>,
    /// `{user: {device: {algorithm: count}}}`.
    pub one_time_key_counts: Option<Box<RawValue>>,
    /// `{user: {device: [algorithm]}}`.
    pub unused_fallback_key_types: Option<Box<RawValue>>,
}

impl DeviceData {
    /// Whether the transaction carried none of the fields.
    pub fn is_empty(&self) -> bool {
        self.to_device.is_empty()
            && self.device_lists.is_none()
            && self.one_time_key_counts.is_none()
            && self.unused_fallback_key_types.is_none()
    }
}

#[derive(Deserialize)]
struct Fields {
    #[serde(default, rename = "de.sorunome.msc2409.to_device")]
    to_device_unstable: Option<Box<RawValue>>,
    #[serde(default, rename = "to_device")]
    to_device: Option<Box<RawValue>>,
    #[serde(default, rename = "org.matrix.msc3202.device_lists")]
    device_lists: Option<Box<RawValue>>,
    #[serde(default, rename = "org.matrix.msc3202.device_one_time_keys_count")]
    otk_counts: Option<Box<RawValue>>,
    #[serde(default, rename = "org.matrix.msc3202.device_one_time_key_counts")]
    otk_counts_alt: Option<Box<RawValue>>,
    #[serde(
        default,
        rename = "org.matrix.msc3202.device_unused_fallback_key_types"
    )]
    fallback: Option<Box<RawValue>>,
}

/// Reads the encryption fields of a transaction body that already parsed as JSON.
pub(crate) fn parse(body: &[u8]) -> DeviceData {
    let fields: Fields = match serde_json::from_slice(body) {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(error = %e, "ignoring malformed encryption fields of a transaction");
            return DeviceData::default();
        }
    };
    let to_device = match fields.to_device.or(fields.to_device_unstable) {
        Some(raw) => match serde_json::from_str::<Vec<Box<RawValue>>>(raw.get()) {
            Ok(list) => list
                .into_iter()
                .filter(|e| e.get().starts_with('{'))
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "ignoring a to-device list that is not an array");
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    let object = |raw: Option<Box<RawValue>>, name: &str| {
        raw.filter(|r| {
            let ok = r.get().starts_with('{');
            if !ok {
                tracing::warn!(
                    field = name,
                    "ignoring a transaction field that is not an object"
                );
            }
            ok
        })
    };
    DeviceData {
        to_device,
        device_lists: object(fields.device_lists, "device_lists"),
        one_time_key_counts: object(fields.otk_counts.or(fields.otk_counts_alt), "otk counts"),
        unused_fallback_key_types: object(fields.fallback, "fallback key types"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_unstable_fields() {
        let body = br#"{"events":[],
            "de.sorunome.msc2409.to_device":[{"type":"m.room.encrypted"}, 5],
            "org.matrix.msc3202.device_lists":{"changed":["@a:hs"],"left":[]},
            "org.matrix.msc3202.device_one_time_keys_count":{"@b:hs":{"D":{"signed_curve25519":3}}},
            "org.matrix.msc3202.device_unused_fallback_key_types":{"@b:hs":{"D":[]}}}"#;
        let data = parse(body);
        assert_eq!(data.to_device.len(), 1, "non-objects are dropped");
        assert!(data.device_lists.is_some());
        assert!(data.one_time_key_counts.is_some());
        assert!(data.unused_fallback_key_types.is_some());
    }

    #[test]
    fn malformed_fields_are_dropped_not_fatal() {
        let data = parse(br#"{"events":[],"de.sorunome.msc2409.to_device":{},"org.matrix.msc3202.device_lists":[1]}"#);
        assert!(data.is_empty());
        assert!(parse(br#"{"events":[]}"#).is_empty());
    }
}
