//! `PUT /transactions/{txnId}`: record the pushed events durably, acknowledge, dispatch.
//!
//! Nothing is recorded unless the whole body is valid; nothing is dispatched unless the store
//! committed; a replayed transaction is acknowledged without dispatching anything again.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State, rejection::BytesRejection, rejection::PathRejection},
};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::device_data::{DeviceData, Fields as DeviceFields};
use super::sequence::Check;
use super::{ApiState, errors::MatrixError};
use crate::metrics::{self, TransactionOutcome};
use crate::store::{InboxEvent, TxnOutcome};

/// The transaction body; events stay raw so the inbox keeps them byte for byte.
#[derive(Deserialize)]
struct TransactionBody<'a> {
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
    /// Ephemeral events (MSC2409, stable name), sent when the registration asks for them.
    #[serde(borrow, default)]
    ephemeral: Option<Vec<&'a RawValue>>,
    /// The same under MSC2409's unstable name.
    #[serde(borrow, default, rename = "de.sorunome.msc2409.ephemeral")]
    ephemeral_unstable: Option<Vec<&'a RawValue>>,
    // End-to-bridge encryption (see `device_data`): MSC2409 to-device events, MSC3202 device
    // lists, one-time key counts (under two spellings) and unused fallback key types.
    #[serde(borrow, default, rename = "to_device")]
    to_device: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "de.sorunome.msc2409.to_device")]
    to_device_unstable: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "org.matrix.msc3202.device_lists")]
    device_lists: Option<&'a RawValue>,
    #[serde(
        borrow,
        default,
        rename = "org.matrix.msc3202.device_one_time_keys_count"
    )]
    otk_counts: Option<&'a RawValue>,
    #[serde(
        borrow,
        default,
        rename = "org.matrix.msc3202.device_one_time_key_counts"
    )]
    otk_counts_alt: Option<&'a RawValue>,
    #[serde(
        borrow,
        default,
        rename = "org.matrix.msc3202.device_unused_fallback_key_types"
    )]
    fallback: Option<&'a RawValue>,
}

pub(crate) async fn put_transaction(
    State(state): State<ApiState>,
    txn_id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, MatrixError> {
    let txn_id = txn_id
        .map_err(|err| MatrixError::invalid_param(format!("invalid transaction ID: {err}")))?
        .0;
    tracing::Span::current().record("txn_id", txn_id.as_str());
    let result = accept(&state, &txn_id, body).await;
    if let Err(err) = &result {
        metrics::transaction(TransactionOutcome::Rejected);
        tracing::warn!(
            errcode = err.errcode,
            "transaction rejected: {}",
            err.message
        );
    }
    result
}

async fn accept(
    state: &ApiState,
    txn_id: &str,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, MatrixError> {
    let body = body.map_err(super::errors::body_error)?;
    state.handler.heard_from_homeserver();
    let (events, device_data) = parse_events(&body, state.record_ephemeral)?;
    if let Check::Refuse { missing } = state.sequence.check(txn_id) {
        return Err(MatrixError::busy(format!(
            "transactions {}..={} never arrived; send them first (refused once, so the homeserver's recoverer resends what it left behind)",
            missing.0, missing.1
        )));
    }
    if let Err(busy) = state.handler.admit(&events) {
        return Err(MatrixError::busy(format!(
            "the bridge is busy ({busy}); send this transaction again later"
        )));
    }
    if !device_data.is_empty() {
        state
            .handler
            .device_data(device_data)
            .await
            .map_err(|err| {
                tracing::error!("cannot take the transaction's encryption data: {err}");
                MatrixError::unknown("could not store the encryption data; retry later")
            })?;
    }
    let outcome = state
        .store
        .record_transaction(txn_id, &events)
        .await
        .map_err(|err| {
            tracing::error!("cannot record transaction: {err}");
            MatrixError::unknown("could not record the transaction; retry later")
        })?;
    state.sequence.acknowledged(txn_id);
    match outcome {
        TxnOutcome::Duplicate => {
            metrics::transaction(TransactionOutcome::Duplicate);
            tracing::info!(
                events = events.len(),
                "duplicate transaction acknowledged, not dispatched"
            );
        }
        TxnOutcome::New(ids) => {
            metrics::transaction(TransactionOutcome::Accepted);
            tracing::info!(events = events.len(), "transaction accepted");
            if ids.len() != events.len() {
                // A store bug; what was recorded but not dispatched is replayed from the inbox.
                tracing::error!(
                    recorded = ids.len(),
                    events = events.len(),
                    "store returned a different number of inbox IDs than events"
                );
            }
            for (id, json) in ids.into_iter().zip(events) {
                let event = InboxEvent {
                    id,
                    txn_id: txn_id.to_owned(),
                    json,
                };
                state.handler.dispatch(event).await;
            }
        }
    }
    Ok(Json(serde_json::json!({})))
}

/// Validates the body and returns each event's raw JSON (timeline events first, then the
/// ephemeral ones when `with_ephemeral` is set) and its encryption fields.
fn parse_events(
    body: &[u8],
    with_ephemeral: bool,
) -> Result<(Vec<String>, DeviceData), MatrixError> {
    serde_json::from_slice::<&RawValue>(body)
        .map_err(|err| MatrixError::not_json(format!("request body is not JSON: {err}")))?;
    let parsed: TransactionBody<'_> = serde_json::from_slice(body).map_err(|err| {
        MatrixError::bad_json(format!(
            "transaction body must be an object with an `events` array: {err}"
        ))
    })?;
    let mut events = objects(&parsed.events, "events")?;
    let ephemeral = match (&parsed.ephemeral, &parsed.ephemeral_unstable) {
        (Some(list), _) => Some((list, "ephemeral")),
        (None, Some(list)) => Some((list, "de.sorunome.msc2409.ephemeral")),
        (None, None) => None,
    };
    if let Some((list, field)) = ephemeral {
        if with_ephemeral {
            events.extend(objects(list, field)?);
        } else if !list.is_empty() {
            tracing::debug!(count = list.len(), "ignoring ephemeral events");
        }
    }
    let device = DeviceData::from_fields(DeviceFields {
        to_device: parsed.to_device.or(parsed.to_device_unstable),
        device_lists: parsed.device_lists,
        otk_counts: parsed.otk_counts.or(parsed.otk_counts_alt),
        fallback: parsed.fallback,
    });
    Ok((events, device))
}

/// Each entry must be a JSON object; returns their raw text.
fn objects(list: &[&RawValue], field: &str) -> Result<Vec<String>, MatrixError> {
    list.iter()
        .enumerate()
        .map(|(i, raw)| {
            if raw.get().starts_with('{') {
                Ok(raw.get().to_owned())
            } else {
                Err(MatrixError::bad_json(format!(
                    "`{field}[{i}]` is not a JSON object"
                )))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_raw_events_in_order() {
        let body = br#"{"events": [ {"type":"m.room.message", "b":1,"a":2}, {"type":"x"} ]}"#;
        let (events, _) = parse_events(body, false).unwrap();
        assert_eq!(
            events,
            [
                r#"{"type":"m.room.message", "b":1,"a":2}"#,
                r#"{"type":"x"}"#
            ]
        );
    }

    #[test]
    fn ephemeral_events_only_when_asked() {
        let body = br#"{"events": [{"type":"a"}], "de.sorunome.msc2409.ephemeral": [{"type":"m.typing"}]}"#;
        assert_eq!(parse_events(body, false).unwrap().0.len(), 1);
        assert_eq!(
            parse_events(body, true).unwrap().0,
            [r#"{"type":"a"}"#, r#"{"type":"m.typing"}"#]
        );
        let bad = br#"{"events": [], "ephemeral": [1]}"#;
        assert!(parse_events(bad, false).is_ok());
        assert_eq!(parse_events(bad, true).unwrap_err().errcode, "M_BAD_JSON");
    }

    #[test]
    fn encryption_fields_come_from_the_same_parse() {
        let body = br#"{"events": [{"type":"a"}],
            "de.sorunome.msc2409.to_device": [{"type":"m.room.encrypted"}],
            "org.matrix.msc3202.device_lists": {"changed": ["@a:hs"]}}"#;
        let (events, device) = parse_events(body, false).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(device.to_device.len(), 1);
        assert!(device.device_lists.is_some());
        let odd = br#"{"events": [], "org.matrix.msc3202.device_lists": 7}"#;
        assert!(
            parse_events(odd, false).unwrap().1.is_empty(),
            "dropped, not refused"
        );
    }

    #[test]
    fn every_encryption_field_is_read_and_malformed_ones_are_dropped() {
        let body = br#"{"events":[],
            "de.sorunome.msc2409.to_device":[{"type":"m.room.encrypted"}, 5],
            "org.matrix.msc3202.device_lists":{"changed":["@a:hs"],"left":[]},
            "org.matrix.msc3202.device_one_time_keys_count":{"@b:hs":{"D":{"signed_curve25519":3}}},
            "org.matrix.msc3202.device_unused_fallback_key_types":{"@b:hs":{"D":[]}}}"#;
        let data = parse_events(body, false).unwrap().1;
        assert_eq!(data.to_device.len(), 1, "non-objects are dropped");
        assert!(data.device_lists.is_some());
        assert!(data.one_time_key_counts.is_some());
        assert!(data.unused_fallback_key_types.is_some());
        let bad = br#"{"events":[],"de.sorunome.msc2409.to_device":{},"org.matrix.msc3202.device_lists":[1]}"#;
        assert!(parse_events(bad, false).unwrap().1.is_empty());
        assert!(
            parse_events(br#"{"events":[]}"#, false)
                .unwrap()
                .1
                .is_empty()
        );
    }

    #[test]
    fn rejects_malformed_bodies() {
        let code = |body: &[u8]| parse_events(body, true).unwrap_err().errcode;
        assert_eq!(code(b"{not json"), "M_NOT_JSON");
        assert_eq!(code(b""), "M_NOT_JSON");
        assert_eq!(code(b"{}"), "M_BAD_JSON");
        assert_eq!(code(b"[]"), "M_BAD_JSON");
        assert_eq!(code(br#"{"events": {}}"#), "M_BAD_JSON");
        assert_eq!(code(br#"{"events": [{}, "x"]}"#), "M_BAD_JSON");
        assert_eq!(code(br#"{"events": [[]]}"#), "M_BAD_JSON");
    }
}
