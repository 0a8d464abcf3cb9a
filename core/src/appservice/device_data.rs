//! The end-to-bridge encryption fields of a transaction (MSC2409 to-device events, MSC3202
//! device lists, one-time key counts and unused fallback key types), kept raw: the crypto
//! layer reads them. Malformed fields are dropped with a log line, never a reason to refuse
//! the transaction (its timeline events must still be recorded).

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

/// The encryption fields as they sit in the transaction body, borrowed from it (the
/// transaction is parsed once, in `transactions`). Any JSON: shapes are checked in
/// [`DeviceData::from_fields`].
#[derive(Default)]
pub(crate) struct Fields<'a> {
    /// `to_device`, or MSC2409's `de.sorunome.msc2409.to_device`.
    pub to_device: Option<&'a RawValue>,
    pub device_lists: Option<&'a RawValue>,
    pub otk_counts: Option<&'a RawValue>,
    pub fallback: Option<&'a RawValue>,
}

impl DeviceData {
    /// Keeps the well-shaped fields; the others are logged and dropped.
    pub(crate) fn from_fields(fields: Fields<'_>) -> Self {
        let to_device = match fields.to_device {
            Some(raw) => match serde_json::from_str::<Vec<&RawValue>>(raw.get()) {
                Ok(list) => list
                    .into_iter()
                    .filter(|e| e.get().starts_with('{'))
                    .map(|e| e.to_owned())
                    .collect(),
                Err(e) => {
                    tracing::warn!(error = %e, "ignoring a to-device list that is not an array");
                    Vec::new()
                }
            },
            None => Vec::new(),
        };
        let object = |raw: Option<&RawValue>, name: &str| {
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
            .map(|r| r.to_owned())
        };
        DeviceData {
            to_device,
            device_lists: object(fields.device_lists, "device_lists"),
            one_time_key_counts: object(fields.otk_counts, "otk counts"),
            unused_fallback_key_types: object(fields.fallback, "fallback key types"),
        }
    }
}
