//! A scripted local homeserver fake (axum on 127.0.0.1:0) that records what it receives.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use ruma::user_id;
use serde_json::{Value, json};

use super::{MatrixClient, RetryPolicy};

/// One request the fake saw.
#[derive(Clone, Debug)]
pub(super) struct Seen {
    pub method: Method,
    /// Percent-decoded path.
    pub path: String,
    pub query: String,
    pub auth: Option<String>,
    pub content_type: Option<String>,
    pub body: Bytes,
}

impl Seen {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

type Script = Vec<(Method, String, VecDeque<(u16, Value)>)>;

#[derive(Clone, Default)]
pub(super) struct Fake {
    script: Arc<Mutex<Script>>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    /// Answers `method path` (a trailing `*` matches any rest) with `responses` in order; the
    /// last one repeats.
    pub fn on(&self, method: Method, path: &str, responses: Vec<(u16, Value)>) -> &Self {
        self.script
            .lock()
            .unwrap()
            .push((method, path.to_owned(), responses.into()));
        self
    }

    /// What the fake saw, without the bridge-device requests (`devices`'s own tests look at
    /// those with [`Fake::seen_all`]).
    pub fn seen(&self) -> Vec<Seen> {
        self.seen_all()
            .into_iter()
            .filter(|s| !s.path.contains("/devices/"))
            .collect()
    }

    pub fn seen_all(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn seen_at(&self, path: &str) -> Vec<Seen> {
        self.seen_all()
            .into_iter()
            .filter(|s| s.path == path)
            .collect()
    }
}

fn decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&path[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

async fn handle(
    State(fake): State<Fake>,
    method: Method,
    uri: Uri,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let path = decode(uri.path());
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    fake.seen.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        query: uri.query().map(decode).unwrap_or_default(),
        auth: header("authorization"),
        content_type: header("content-type"),
        body,
    });
    let mut script = fake.script.lock().unwrap();
    let found = script
        .iter_mut()
        .find(|(m, p, _)| {
            *m == method
                && (*p == path || p.strip_suffix('*').is_some_and(|pre| path.starts_with(pre)))
        })
        .map(|(_, _, responses)| {
            if responses.len() > 1 {
                responses.pop_front().unwrap()
            } else {
                responses.front().cloned().unwrap()
            }
        });
    let (status, body) = found.unwrap_or((
        404,
        json!({"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"}),
    ));
    let status = StatusCode::from_u16(status).unwrap();
    match body {
        Value::String(raw) => (status, raw).into_response(),
        v => (status, axum::Json(v)).into_response(),
    }
}

pub(super) async fn start() -> (Fake, MatrixClient) {
    let fake = Fake::default();
    let app = Router::new().fallback(handle).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let url = url::Url::parse(&format!("http://{addr}")).unwrap();
    let client = MatrixClient::new(&url, "as_secret", user_id!("@bot:hs").to_owned(), true)
        .unwrap()
        .with_retry_policy(fast_policy());
    (fake, client)
}

pub(super) fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        max_total: Duration::from_secs(5),
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    }
}
