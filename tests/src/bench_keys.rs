//! The key server of the stand-in homeserver, for ENCRYPTED BENCHMARKS only: device keys,
//! one-time keys and to-device messages kept in memory, so a benchmark can measure the bridge's
//! encryption without Synapse. Rooms are reported encrypted and joined by the bench user and
//! the bot. Nothing is checked: it trusts every request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::Request;
use serde_json::{Map, Value, json};

/// Keys and to-device inboxes by (user, device).
#[derive(Default)]
pub struct KeyServer {
    on: AtomicBool,
    state: Mutex<Keys>,
}

#[derive(Default)]
struct Keys {
    device_keys: HashMap<String, Map<String, Value>>,
    one_time: HashMap<(String, String), Vec<(String, Value)>>,
    inbox: HashMap<(String, String), Vec<Value>>,
    members: Vec<String>,
}

fn query_param(req: &Request, name: &str) -> Option<String> {
    req.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    })
}

impl KeyServer {
    /// Turns the key server on; `members` are every room's joined members.
    pub fn enable(&self, members: Vec<String>) {
        self.set_members(members);
        self.on.store(true, Ordering::Relaxed);
    }

    /// Changes the joined members reported for rooms asked about from now on.
    pub fn set_members(&self, members: Vec<String>) {
        self.lock().members = members;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the to-device messages waiting for (`user`, `device`).
    pub fn take_inbox(&self, user: &str, device: &str) -> Vec<Value> {
        self.lock()
            .inbox
            .remove(&(user.to_owned(), device.to_owned()))
            .unwrap_or_default()
    }

    /// The answer to `req` if it is a key, to-device or membership request; the request back
    /// otherwise.
    pub async fn answer(&self, req: Request) -> Result<Value, Request> {
        if !self.on.load(Ordering::Relaxed) {
            return Err(req);
        }
        let path = req.uri().path().to_owned();
        let handled = path.ends_with("/keys/upload")
            || path.ends_with("/keys/query")
            || path.ends_with("/keys/claim")
            || path.contains("/sendToDevice/")
            || path.ends_with("/joined_members")
            || path.contains("/state/m.room.encryption");
        if !handled {
            return Err(req);
        }
        if path.ends_with("/joined_members") {
            let joined: Map<String, Value> = self
                .lock()
                .members
                .iter()
                .map(|m| (m.clone(), json!({})))
                .collect();
            return Ok(json!({ "joined": joined }));
        }
        if path.contains("/state/m.room.encryption") {
            return Ok(json!({ "algorithm": "m.megolm.v1.aes-sha2" }));
        }
        let user = query_param(&req, "user_id").unwrap_or_default();
        let device = query_param(&req, "device_id").unwrap_or_default();
        let body: Value = axum::body::to_bytes(req.into_body(), usize::MAX)
            .await
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let mut keys = self.lock();
        if path.ends_with("/keys/upload") {
            if let Some(dk) = body["device_keys"].as_object() {
                keys.device_keys
                    .insert(format!("{user}|{device}"), dk.clone());
            }
            let slot = keys.one_time.entry((user, device)).or_default();
            for (id, key) in body["one_time_keys"].as_object().into_iter().flatten() {
                slot.push((id.clone(), key.clone()));
            }
            let count = slot.len();
            return Ok(json!({ "one_time_key_counts": { "signed_curve25519": count } }));
        }
        if path.ends_with("/keys/query") {
            let mut out = Map::new();
            for wanted in body["device_keys"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(u, _)| u)
            {
                let mut devices = Map::new();
                for (id, dk) in &keys.device_keys {
                    if let Some((u, d)) = id.split_once('|')
                        && u == wanted
                    {
                        devices.insert(d.to_owned(), Value::Object(dk.clone()));
                    }
                }
                out.insert(wanted.clone(), Value::Object(devices));
            }
            return Ok(json!({ "device_keys": out }));
        }
        if path.ends_with("/keys/claim") {
            let mut out = Map::new();
            for (u, devices) in body["one_time_keys"].as_object().into_iter().flatten() {
                let mut claimed = Map::new();
                for (d, _) in devices.as_object().into_iter().flatten() {
                    if let Some((id, key)) = keys
                        .one_time
                        .get_mut(&(u.clone(), d.clone()))
                        .and_then(|slot| slot.pop())
                    {
                        claimed.insert(d.clone(), json!({ id: key }));
                    }
                }
                out.insert(u.clone(), Value::Object(claimed));
            }
            return Ok(json!({ "one_time_keys": out }));
        }
        // PUT /sendToDevice/{type}/{txn}
        let kind = path
            .split("/sendToDevice/")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default()
            .to_owned();
        for (u, devices) in body["messages"].as_object().into_iter().flatten() {
            for (d, content) in devices.as_object().into_iter().flatten() {
                let event = json!({"type": kind, "sender": user, "content": content,
                                   "to_user_id": u, "to_device_id": d});
                keys.inbox
                    .entry((u.clone(), d.clone()))
                    .or_default()
                    .push(event);
            }
        }
        Ok(json!({}))
    }
}
