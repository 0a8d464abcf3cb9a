//! Names across the seam: XMPP JIDs ↔ ghost template variables, Matrix users ↔ puppet JIDs,
//! MUC JIDs ↔ alias variables and portal keys.

use ferrybridge_core::ghost::GhostNaming;
use ferrybridge_core::ids::RemoteUserId;
use ferrybridge_core::templates::{escape_localpart, unescape_localpart};
use ruma::{OwnedUserId, UserId};
use xmpp_parsers::jid::{BareJid, FullJid, Jid};

/// Ghost template variable: the ghost's JID (`{jid}`).
pub const JID_VAR: &str = "jid";

/// Ghost naming for XMPP: a remote user is a bare JID (`alice@xmpp.example.com`), or an
/// occupant JID (`room@conference.example.com/nick`) when the MUC hides the real one.
pub struct JidNaming;

impl GhostNaming for JidNaming {
    fn vars(&self, id: &RemoteUserId) -> Vec<(String, String)> {
        vec![(JID_VAR.to_owned(), id.as_str().to_owned())]
    }
    fn from_vars(&self, vars: &[(String, String)]) -> Option<RemoteUserId> {
        let (_, v) = vars.iter().find(|(k, _)| k == JID_VAR)?;
        // Only well-formed JIDs are ours; anything else is not a ghost.
        Jid::new(v).ok().map(|j| RemoteUserId::new(j.to_string()))
    }
}

/// The shape of a puppet localpart: `prefix{localpart}sep{homeserver}suffix` (or with the
/// two variables the other way round). Values are escaped like Matrix localparts, so a server
/// name (lowercase, no `_`) never contains the separator's `_` and splitting at the last
/// separator is exact, whatever `_`s the Matrix localpart has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PuppetShape {
    prefix: String,
    sep: String,
    suffix: String,
    localpart_first: bool,
}

impl PuppetShape {
    /// Reads a template such as `{localpart}_{homeserver}`.
    pub fn parse(template: &str) -> Result<Self, String> {
        let (l, h) = match (template.find("{localpart}"), template.find("{homeserver}")) {
            (Some(l), Some(h)) => (l, h),
            _ => return Err("must contain {localpart} and {homeserver}".into()),
        };
        let (first, first_len, second, second_len) = if l < h {
            (l, "{localpart}".len(), h, "{homeserver}".len())
        } else {
            (h, "{homeserver}".len(), l, "{localpart}".len())
        };
        let prefix = &template[..first];
        let sep = &template[first + first_len..second];
        let suffix = &template[second + second_len..];
        if sep.is_empty() {
            return Err("needs literal text between {localpart} and {homeserver}".into());
        }
        let literal = format!("{prefix}{sep}{suffix}");
        if literal.contains(['{', '}']) {
            return Err("may only use {localpart} and {homeserver}, once each".into());
        }
        if let Some(c) = literal
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "._=-".contains(*c)))
        {
            return Err(format!(
                "`{c}` is not allowed in a JID localpart here (use a-z 0-9 . _ = -)"
            ));
        }
        Ok(Self {
            prefix: prefix.into(),
            sep: sep.into(),
            suffix: suffix.into(),
            localpart_first: l < h,
        })
    }

    fn render(&self, localpart: &str, homeserver: &str) -> String {
        let (a, b) = if self.localpart_first {
            (escape_localpart(localpart), escape_localpart(homeserver))
        } else {
            (escape_localpart(homeserver), escape_localpart(localpart))
        };
        format!("{}{a}{}{b}{}", self.prefix, self.sep, self.suffix)
    }

    fn parse_node(&self, node: &str) -> Option<(String, String)> {
        let inner = node
            .strip_prefix(&self.prefix)?
            .strip_suffix(&self.suffix)?;
        // The server name is the side without `_`: split so that it gets no separator.
        let (a, b) = if self.localpart_first {
            inner.rsplit_once(&self.sep)?
        } else {
            inner.split_once(&self.sep)?
        };
        let (local, server) = if self.localpart_first { (a, b) } else { (b, a) };
        Some((unescape_localpart(local)?, unescape_localpart(server)?))
    }
}

/// Maps Matrix users to their puppet JIDs on the component and back.
#[derive(Clone, Debug)]
pub struct Puppets {
    shape: PuppetShape,
    component: BareJid,
    resource: String,
}

impl Puppets {
    /// A mapping for `component` with a validated user template.
    pub fn new(shape: PuppetShape, component: BareJid, resource: String) -> Self {
        Self {
            shape,
            component,
            resource,
        }
    }

    /// The component's own JID.
    pub fn component(&self) -> &BareJid {
        &self.component
    }

    /// `alice_example.com@component` for `@alice:example.com`.
    pub fn bare(&self, user: &UserId) -> Option<BareJid> {
        let node = self
            .shape
            .render(user.localpart(), user.server_name().as_str());
        let jid = BareJid::new(&format!("{node}@{}", self.component)).ok()?;
        // Only addresses that map back to the same user are handed out.
        (self.user_of(&Jid::from(jid.clone())).as_deref() == Some(user)).then_some(jid)
    }

    /// The puppet's full JID (with the configured resource), the one that joins MUCs.
    pub fn full(&self, user: &UserId) -> Option<FullJid> {
        let bare = self.bare(user)?;
        FullJid::new(&format!("{bare}/{}", self.resource)).ok()
    }

    /// The Matrix user a puppet JID (bare or full) stands for, if it is one of ours.
    pub fn user_of(&self, jid: &Jid) -> Option<OwnedUserId> {
        if jid.domain().as_str() != self.component.domain().as_str() {
            return None;
        }
        let (local, server) = self.shape.parse_node(jid.node()?.as_str())?;
        UserId::parse(format!("@{local}:{server}")).ok()
    }
}

/// A MUC's bare JID from a user's text (`room@conference.example.com`), normalised.
pub fn parse_room(text: &str) -> Result<BareJid, String> {
    let jid = BareJid::new(text.trim()).map_err(|e| format!("`{text}` is not a valid JID: {e}"))?;
    if jid.node().is_none() {
        return Err(format!(
            "`{text}` is a server, not a room: write room@conference.example.com"
        ));
    }
    Ok(jid)
}

/// Alias variables (`{room}`, `{server}`) of a MUC.
pub fn room_alias_vars(room: &BareJid) -> Vec<(String, String)> {
    vec![
        (
            "room".to_owned(),
            room.node().map(|n| n.to_string()).unwrap_or_default(),
        ),
        ("server".to_owned(), room.domain().to_string()),
    ]
}

/// The MUC an alias names, from the alias template's variables.
pub fn room_from_alias_vars(vars: &[(String, String)]) -> Option<BareJid> {
    let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    BareJid::new(&format!("{}@{}", get("room")?, get("server")?)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn puppets() -> Puppets {
        Puppets::new(
            PuppetShape::parse("{localpart}_{homeserver}").unwrap(),
            BareJid::new("matrix.localhost").unwrap(),
            "bridge".into(),
        )
    }

    #[test]
    fn puppet_jids_round_trip() {
        let p = puppets();
        for id in [
            "@alice:localhost",
            "@bob_x:example.com",
            "@_x_:example.com",
            "@carol=1:hs.org:8448",
        ] {
            let Ok(user) = UserId::parse(id) else {
                continue;
            };
            let bare = p.bare(&user).unwrap();
            assert_eq!(p.user_of(&Jid::from(bare.clone())).as_ref(), Some(&user));
            let full = p.full(&user).unwrap();
            assert_eq!(p.user_of(&Jid::from(full)).as_ref(), Some(&user));
        }
        let alice = UserId::parse("@alice:localhost").unwrap();
        assert_eq!(
            p.bare(&alice).unwrap().as_str(),
            "alice_localhost@matrix.localhost"
        );
    }

    #[test]
    fn shapes() {
        assert!(PuppetShape::parse("{localpart}{homeserver}").is_err());
        assert!(PuppetShape::parse("{localpart}").is_err());
        assert!(PuppetShape::parse("m_{homeserver}.{localpart}").is_ok());
        assert!(PuppetShape::parse("{localpart}@{homeserver}").is_err());
    }

    #[test]
    fn foreign_jids_are_not_puppets() {
        let p = puppets();
        for jid in [
            "alice@localhost",
            "matrix.localhost",
            "nounderscore@matrix.localhost",
        ] {
            assert_eq!(p.user_of(&Jid::new(jid).unwrap()), None, "{jid}");
        }
    }

    #[test]
    fn ghost_naming_accepts_only_jids() {
        let n = JidNaming;
        let id = RemoteUserId::new("room@conference.localhost/Bob");
        assert_eq!(n.from_vars(&n.vars(&id)), Some(id));
        assert_eq!(n.from_vars(&[("jid".into(), "not a jid@@".into())]), None);
    }

    #[test]
    fn rooms() {
        let room = parse_room(" Lobby@conference.localhost ").unwrap();
        assert_eq!(room_from_alias_vars(&room_alias_vars(&room)), Some(room));
        assert!(parse_room("conference.localhost").is_err());
        assert!(parse_room("a@@b").is_err());
    }
}
