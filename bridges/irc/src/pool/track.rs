//! What the pool knows about one of its sockets, read from the lines passing through it: our
//! nick, user and host, and the channels we are in (with their keys, from our own JOIN lines).
//! Kept in Redis, so a restarted bridge takes the connection over as it is instead of
//! registering and joining again.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use irc::proto::{Command, Message};
use redis::Value;

use super::wire::{Gen, WireError};
use crate::conn::caps::CapReply;
use crate::ids::fold;

/// One channel we are in.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TrackedChannel {
    pub name: String,
    pub key: Option<String>,
}

/// A socket's registration state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SocketState {
    pub registered: bool,
    pub nick: String,
    pub user: Option<String>,
    pub host: Option<String>,
    /// By folded name.
    pub channels: BTreeMap<String, TrackedChannel>,
    /// The IRCv3 capabilities the server acknowledged on this socket.
    pub caps: BTreeSet<String>,
    /// Keys from our JOIN lines, until the server confirms the join.
    pending_keys: HashMap<String, String>,
}

impl SocketState {
    /// Learns from a line the server sent; whether anything worth storing changed.
    pub fn on_incoming(&mut self, msg: &Message) -> bool {
        if let Some(Ok(reply)) = crate::conn::caps::parse(msg) {
            return self.on_cap(reply);
        }
        let me = fold(&self.nick);
        let from_me = self.registered && msg.source_nickname().is_some_and(|n| fold(n) == me);
        match &msg.command {
            Command::Response(irc::proto::Response::RPL_WELCOME, args) => {
                self.registered = true;
                if let Some(n) = args.first() {
                    self.nick = n.clone();
                }
                true
            }
            Command::NICK(new) if from_me => {
                self.nick = new.clone();
                true
            }
            Command::JOIN(chan, _, _) if from_me => {
                if let Some(irc::proto::Prefix::Nickname(_, user, host)) = &msg.prefix {
                    self.user = Some(user.clone());
                    self.host = Some(host.clone());
                }
                let key = self.pending_keys.remove(&fold(chan));
                self.channels.insert(
                    fold(chan),
                    TrackedChannel {
                        name: chan.clone(),
                        key,
                    },
                );
                true
            }
            Command::PART(chan, _) if from_me => self.channels.remove(&fold(chan)).is_some(),
            Command::KICK(chan, who, _) if self.registered && fold(who) == me => {
                self.channels.remove(&fold(chan)).is_some()
            }
            _ => false,
        }
    }

    /// Follows the acknowledged capabilities (the bridge negotiates them).
    fn on_cap(&mut self, reply: CapReply) -> bool {
        match reply {
            CapReply::Ack(names) => {
                for n in names {
                    match n.strip_prefix('-') {
                        Some(off) => self.caps.remove(off),
                        None => self.caps.insert(n),
                    };
                }
                true
            }
            CapReply::Del(names) => {
                for n in names {
                    self.caps.remove(&n);
                }
                true
            }
            _ => false,
        }
    }

    /// Learns channel keys from a line we send (`JOIN #chan key`).
    pub fn on_outgoing(&mut self, line: &[u8]) {
        let Some(rest) = line.strip_prefix(b"JOIN ") else {
            return;
        };
        let text = String::from_utf8_lossy(rest);
        let mut words = text.split(' ');
        let (Some(chans), Some(keys)) = (words.next(), words.next()) else {
            return;
        };
        for (c, k) in chans.split(',').zip(keys.split(',')) {
            if !k.is_empty() {
                self.pending_keys.insert(fold(c), k.to_owned());
            }
        }
    }

    /// The hash fields stored in Redis for this socket.
    pub fn to_fields(&self, generation: Gen) -> Vec<(&'static str, String)> {
        let channels: Vec<&TrackedChannel> = self.channels.values().collect();
        vec![
            ("generation", generation.to_string()),
            ("registered", u8::from(self.registered).to_string()),
            ("nick", self.nick.clone()),
            ("user", self.user.clone().unwrap_or_default()),
            ("host", self.host.clone().unwrap_or_default()),
            (
                "caps",
                self.caps.iter().cloned().collect::<Vec<_>>().join(" "),
            ),
            (
                "channels",
                serde_json::to_string(&channels).unwrap_or_else(|_| "[]".into()),
            ),
        ]
    }

    /// Reads the stored hash back; `None` for an empty (missing) hash.
    pub fn from_fields(map: &HashMap<String, Value>) -> Result<Option<(Gen, Self)>, WireError> {
        if map.is_empty() {
            return Ok(None);
        }
        let get = |name: &'static str| -> Result<String, WireError> {
            let v = map.get(name).ok_or(WireError::Missing(name))?;
            redis::from_redis_value_ref::<String>(v)
                .map_err(|e| WireError::Field(name, e.to_string()))
        };
        let generation = get("generation")?
            .parse()
            .map_err(|_| WireError::Field("generation", "not a number".into()))?;
        let channels: Vec<TrackedChannel> = serde_json::from_str(&get("channels")?)
            .map_err(|e| WireError::Field("channels", e.to_string()))?;
        let non_empty = |s: String| (!s.is_empty()).then_some(s);
        Ok(Some((
            generation,
            Self {
                registered: get("registered")? == "1",
                nick: get("nick")?,
                user: non_empty(get("user")?),
                host: non_empty(get("host")?),
                caps: get("caps")
                    .unwrap_or_default()
                    .split(' ')
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect(),
                channels: channels.into_iter().map(|c| (fold(&c.name), c)).collect(),
                pending_keys: HashMap::new(),
            },
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(raw: &str) -> Message {
        crate::line::parse_line(raw.as_bytes()).unwrap().message
    }

    #[test]
    fn follows_registration_nick_joins_parts_and_kicks() {
        let mut s = SocketState::default();
        assert!(!s.on_incoming(&line(":srv NOTICE * :hello")));
        assert!(s.on_incoming(&line(":srv CAP * ACK :echo-message server-time")));
        assert!(s.on_incoming(&line(":srv CAP * DEL :server-time")));
        assert_eq!(s.caps.iter().collect::<Vec<_>>(), ["echo-message"]);
        assert!(s.on_incoming(&line(":srv 001 Alice :Welcome")));
        assert_eq!(s.nick, "Alice");
        s.on_outgoing(b"JOIN #Secret hunter2");
        assert!(s.on_incoming(&line(":Alice!al@host JOIN #secret")));
        assert!(s.on_incoming(&line(":alice!al@host JOIN #other")));
        assert_eq!(s.user.as_deref(), Some("al"));
        assert_eq!(s.channels["#secret"].key.as_deref(), Some("hunter2"));
        assert_eq!(s.channels["#other"].key, None);
        assert!(!s.on_incoming(&line(":bob!b@h JOIN #third")));
        assert!(s.on_incoming(&line(":Alice!al@host NICK Alice2")));
        assert!(s.on_incoming(&line(":Alice2!al@host PART #other")));
        assert!(s.on_incoming(&line(":op!o@h KICK #secret alice2 :out")));
        assert!(s.channels.is_empty());
    }

    #[test]
    fn stored_fields_round_trip_and_garbage_is_an_error() {
        let mut s = SocketState::default();
        s.on_incoming(&line(":srv 001 Al :Welcome"));
        s.on_incoming(&line(":Al!u@h JOIN #a"));
        s.on_incoming(&line(":srv CAP Al ACK :message-tags echo-message"));
        let map: HashMap<String, Value> = s
            .to_fields(9)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::BulkString(v.into_bytes())))
            .collect();
        assert_eq!(SocketState::from_fields(&map), Ok(Some((9, s))));
        assert_eq!(SocketState::from_fields(&HashMap::new()), Ok(None));
        let mut bad = map.clone();
        bad.insert("channels".into(), Value::BulkString(b"{".to_vec()));
        assert!(SocketState::from_fields(&bad).is_err());
        bad.remove("generation");
        assert_eq!(
            SocketState::from_fields(&bad),
            Err(WireError::Missing("generation"))
        );
    }
}
