//! What the bridge and the connection pool say to each other over Redis: the key names, and
//! the stream entries in both directions. Entries are flat field maps (`t` type, `k` key,
//! `g` generation, `d` data) with IRC lines as raw bytes, so a line that is not UTF-8 crosses
//! unchanged.

use std::collections::HashMap;

use redis::Value;
use ruma::{OwnedUserId, UserId};

use crate::config::ServerConfig;

/// Redis names under the configured prefix.
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }
    /// Stream bridge → pool ([`Command`]).
    pub fn commands(&self) -> String {
        format!("{}:cmd", self.prefix)
    }
    /// Stream pool → bridge ([`Event`]), read by the bridge's consumer group.
    pub fn events(&self) -> String {
        format!("{}:events", self.prefix)
    }
    /// The pool's heartbeat (expires when the pool is gone).
    pub fn alive(&self) -> String {
        format!("{}:alive", self.prefix)
    }
    /// Set of the keys of open connections.
    pub fn conns(&self) -> String {
        format!("{}:conns", self.prefix)
    }
    /// Hash of one connection's state ([`crate::pool::track::SocketState`]).
    pub fn conn(&self, key: &ConnKey) -> String {
        format!("{}:conn:{}", self.prefix, key.as_str())
    }
}

/// The consumer group (and its one consumer) of the events stream.
pub const GROUP: &str = "bridge";

/// Which IRC connection: `<network>/<owner>`, the same across bridge restarts so a restarted
/// bridge finds its connections again.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnKey(String);

/// The owner part of the bot's key (not a Matrix ID, which starts with `@`).
const BOT_OWNER: &str = "~bot";

impl ConnKey {
    /// The network's listening bot.
    pub fn bot(network: &str) -> Self {
        Self(format!("{network}/{BOT_OWNER}"))
    }
    /// A Matrix user's puppet.
    pub fn puppet(network: &str, user: &UserId) -> Self {
        Self(format!("{network}/{user}"))
    }
    /// A key as stored (checked for the `<network>/<owner>` shape).
    pub fn parse(raw: &str) -> Result<Self, WireError> {
        match raw.split_once('/') {
            Some((n, o)) if !n.is_empty() && !o.is_empty() => Ok(Self(raw.to_owned())),
            _ => Err(WireError::Field(
                "k",
                format!("not <network>/<owner>: {raw:?}"),
            )),
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn network(&self) -> &str {
        self.0.split_once('/').map_or("", |(n, _)| n)
    }
    /// The Matrix user of a puppet's key.
    pub fn puppet_user(&self) -> Option<OwnedUserId> {
        let (_, owner) = self.0.split_once('/')?;
        OwnedUserId::try_from(owner).ok()
    }
}

/// Which socket of a key: a new one per open, so that lines of a replaced socket are told
/// apart from the current one's.
pub type Gen = u64;

/// What the pool needs to open a socket for a connection.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SocketSpec {
    pub server: ServerConfig,
    /// Whether the owner reads channel messages (the bot); a puppet's are dropped in the pool,
    /// as the bridge would drop them.
    pub channel_messages: bool,
    /// The user's client certificate and key (PEM) for CertFP: Redis must be private.
    #[serde(default)]
    pub client_cert_pem: Option<String>,
    /// What the pool's identd answers for the socket (the `USER` ident).
    #[serde(default)]
    pub ident: String,
}

/// Bridge → pool.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Connect a new socket for `key` (closing the key's old one, if any).
    Open {
        key: ConnKey,
        generation: Gen,
        spec: Box<SocketSpec>,
    },
    /// Write lines to the socket.
    Send {
        key: ConnKey,
        generation: Gen,
        lines: Vec<Vec<u8>>,
    },
}

/// Pool → bridge.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The socket is up (registration is the bridge's job).
    Connected { key: ConnKey, generation: Gen },
    /// Lines the server sent, in order (server PINGs are answered by the pool, not sent on).
    Lines {
        key: ConnKey,
        generation: Gen,
        lines: Vec<Vec<u8>>,
    },
    /// The socket is gone.
    Closed {
        key: ConnKey,
        generation: Gen,
        reason: String,
    },
}

impl Event {
    pub fn key(&self) -> &ConnKey {
        match self {
            Event::Connected { key, .. } | Event::Lines { key, .. } | Event::Closed { key, .. } => {
                key
            }
        }
    }
    pub fn generation(&self) -> Gen {
        match self {
            Event::Connected { generation, .. }
            | Event::Lines { generation, .. }
            | Event::Closed { generation, .. } => *generation,
        }
    }
}

/// A stream entry that cannot be understood (logged and skipped, never fatal).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("field {0} missing")]
    Missing(&'static str),
    #[error("field {0}: {1}")]
    Field(&'static str, String),
    #[error("unknown entry type {0:?}")]
    Type(String),
}

/// The fields of an entry, ready for `XADD`.
pub type Fields = Vec<(&'static str, Vec<u8>)>;

fn head(t: &str, key: &ConnKey, generation: Gen) -> Fields {
    vec![
        ("t", t.as_bytes().to_vec()),
        ("k", key.as_str().as_bytes().to_vec()),
        ("g", generation.to_string().into_bytes()),
    ]
}

fn join_lines(lines: &[Vec<u8>]) -> Vec<u8> {
    lines.join(&b'\n')
}

fn split_lines(data: &[u8]) -> Vec<Vec<u8>> {
    data.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

impl Command {
    pub fn fields(&self) -> Fields {
        match self {
            Command::Open {
                key,
                generation,
                spec,
            } => {
                let mut f = head("open", key, *generation);
                let body = serde_json::to_vec(spec).unwrap_or_default();
                f.push(("d", body));
                f
            }
            Command::Send {
                key,
                generation,
                lines,
            } => {
                let mut f = head("send", key, *generation);
                f.push(("d", join_lines(lines)));
                f
            }
        }
    }

    pub fn decode(map: &HashMap<String, Value>) -> Result<Self, WireError> {
        let (t, key, generation, data) = decode_head(map)?;
        match t.as_str() {
            "open" => {
                let spec: SocketSpec = serde_json::from_slice(&data)
                    .map_err(|e| WireError::Field("d", e.to_string()))?;
                Ok(Command::Open {
                    key,
                    generation,
                    spec: Box::new(spec),
                })
            }
            "send" => Ok(Command::Send {
                key,
                generation,
                lines: split_lines(&data),
            }),
            _ => Err(WireError::Type(t)),
        }
    }
}

impl Event {
    pub fn fields(&self) -> Fields {
        match self {
            Event::Connected { key, generation } => {
                let mut f = head("connected", key, *generation);
                f.push(("d", Vec::new()));
                f
            }
            Event::Lines {
                key,
                generation,
                lines,
            } => {
                let mut f = head("lines", key, *generation);
                f.push(("d", join_lines(lines)));
                f
            }
            Event::Closed {
                key,
                generation,
                reason,
            } => {
                let mut f = head("closed", key, *generation);
                f.push(("d", reason.as_bytes().to_vec()));
                f
            }
        }
    }

    pub fn decode(map: &HashMap<String, Value>) -> Result<Self, WireError> {
        let (t, key, generation, data) = decode_head(map)?;
        match t.as_str() {
            "connected" => Ok(Event::Connected { key, generation }),
            "lines" => Ok(Event::Lines {
                key,
                generation,
                lines: split_lines(&data),
            }),
            "closed" => Ok(Event::Closed {
                key,
                generation,
                reason: String::from_utf8_lossy(&data).into_owned(),
            }),
            _ => Err(WireError::Type(t)),
        }
    }
}

fn field(map: &HashMap<String, Value>, name: &'static str) -> Result<Vec<u8>, WireError> {
    let v = map.get(name).ok_or(WireError::Missing(name))?;
    redis::from_redis_value_ref::<Vec<u8>>(v).map_err(|e| WireError::Field(name, e.to_string()))
}

fn text(map: &HashMap<String, Value>, name: &'static str) -> Result<String, WireError> {
    String::from_utf8(field(map, name)?).map_err(|_| WireError::Field(name, "not UTF-8".into()))
}

fn decode_head(map: &HashMap<String, Value>) -> Result<(String, ConnKey, Gen, Vec<u8>), WireError> {
    let t = text(map, "t")?;
    let key = ConnKey::parse(&text(map, "k")?)?;
    let generation = text(map, "g")?
        .parse()
        .map_err(|_| WireError::Field("g", "not a number".into()))?;
    let data = field(map, "d").unwrap_or_default();
    Ok((t, key, generation, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_map(fields: Fields) -> HashMap<String, Value> {
        fields
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::BulkString(v)))
            .collect()
    }

    #[test]
    fn commands_and_events_round_trip_with_raw_bytes() {
        let key = ConnKey::puppet("net", ruma::user_id!("@alice:example.org"));
        let send = Command::Send {
            key: key.clone(),
            generation: 7,
            lines: vec![b"PRIVMSG #a :caf\xe9".to_vec(), b"PING :x".to_vec()],
        };
        assert_eq!(Command::decode(&as_map(send.fields())), Ok(send));
        let open = Command::Open {
            key: key.clone(),
            generation: 1,
            spec: Box::new(SocketSpec {
                server: ServerConfig::new("irc.example.org"),
                channel_messages: false,
                client_cert_pem: Some("-----BEGIN CERTIFICATE-----".into()),
                ident: "alice".into(),
            }),
        };
        assert_eq!(Command::decode(&as_map(open.fields())), Ok(open));
        for ev in [
            Event::Connected {
                key: key.clone(),
                generation: 3,
            },
            Event::Lines {
                key: key.clone(),
                generation: 3,
                lines: vec![b":a PRIVMSG b :hi".to_vec()],
            },
            Event::Closed {
                key: key.clone(),
                generation: 3,
                reason: "bye".into(),
            },
        ] {
            assert_eq!(Event::decode(&as_map(ev.fields())), Ok(ev));
        }
        assert_eq!(key.network(), "net");
        assert_eq!(key.puppet_user().unwrap(), "@alice:example.org");
        assert_eq!(ConnKey::bot("net").puppet_user(), None);
    }

    #[test]
    fn garbage_entries_are_errors_not_panics() {
        let mut map = HashMap::new();
        assert_eq!(Event::decode(&map), Err(WireError::Missing("t")));
        map.insert("t".into(), Value::BulkString(b"lines".to_vec()));
        map.insert("k".into(), Value::BulkString(b"nokey".to_vec()));
        map.insert("g".into(), Value::BulkString(b"1".to_vec()));
        assert!(matches!(Event::decode(&map), Err(WireError::Field("k", _))));
        map.insert("k".into(), Value::BulkString(b"n/o".to_vec()));
        map.insert("g".into(), Value::BulkString(b"x".to_vec()));
        assert!(matches!(Event::decode(&map), Err(WireError::Field("g", _))));
        map.insert("g".into(), Value::BulkString(b"1".to_vec()));
        map.insert("t".into(), Value::BulkString(b"explode".to_vec()));
        assert_eq!(Event::decode(&map), Err(WireError::Type("explode".into())));
        map.insert("t".into(), Value::BulkString(b"open".to_vec()));
        map.insert("d".into(), Value::BulkString(b"{not json".to_vec()));
        assert!(matches!(
            Command::decode(&map),
            Err(WireError::Field("d", _))
        ));
    }
}
