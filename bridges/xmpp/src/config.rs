//! The `network:` section of the XMPP bridge's config: how to reach the XMPP server as an
//! external component (XEP-0114) and how Matrix users are named on the XMPP side.

use std::time::Duration;

use ferrybridge_core::config::{ConfigError, NetworkConfig};
use serde::{Deserialize, Serialize};
use xmpp_parsers::jid::BareJid;

use crate::naming::PuppetShape;

/// The XMPP network section.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XmppConfig {
    /// The external component connection.
    pub component: ComponentConfig,
    /// JID localpart of Matrix users' puppets on the component; variables `{localpart}` and
    /// `{homeserver}` (escaped like Matrix localparts, so the mapping reverses).
    #[serde(default = "default_user_template")]
    pub user_template: String,
    /// Seconds between keepalive pings on the component stream (an idle stream is dropped).
    #[serde(default = "default_keepalive")]
    pub keepalive_secs: u64,
    /// Resource of puppet JIDs (`alice_example.com@component/<resource>`).
    #[serde(default = "default_resource")]
    pub resource: String,
    /// MUC service through which XMPP users reach public Matrix rooms (the gateway). The
    /// component can only serve its own domain, so this is empty or the component JID.
    #[serde(default)]
    pub gateway_muc: String,
    /// Seconds an attachment download may take before the message is bridged as a link (the
    /// portal's later messages wait behind it, to keep their order).
    #[serde(default = "default_attachment_timeout")]
    pub attachment_timeout_secs: u64,
}

/// XEP-0114 connection settings; they must match the XMPP server's `Component` entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentConfig {
    /// The component's domain, e.g. `matrix.xmpp.example.com`.
    pub jid: String,
    /// The shared secret (`component_secret` in Prosody).
    pub secret: String,
    /// `host:port` of the server's component port (Prosody: 5347).
    pub server: String,
}

impl Default for XmppConfig {
    fn default() -> Self {
        Self {
            component: ComponentConfig {
                jid: "matrix.localhost".into(),
                secret: String::new(),
                server: "127.0.0.1:5347".into(),
            },
            user_template: default_user_template(),
            keepalive_secs: default_keepalive(),
            resource: default_resource(),
            gateway_muc: String::new(),
            attachment_timeout_secs: default_attachment_timeout(),
        }
    }
}

fn default_user_template() -> String {
    "{localpart}_{homeserver}".into()
}
fn default_keepalive() -> u64 {
    30
}
fn default_attachment_timeout() -> u64 {
    30
}
fn default_resource() -> String {
    "bridge".into()
}

impl XmppConfig {
    /// The component domain as a JID (validated by [`NetworkConfig::validate`]).
    pub fn component_jid(&self) -> Result<BareJid, ConfigError> {
        let jid = BareJid::new(&self.component.jid)
            .map_err(|e| ConfigError::new("component.jid", e.to_string()))?;
        if jid.node().is_some() {
            return Err(ConfigError::new(
                "component.jid",
                "must be a bare domain such as matrix.xmpp.example.com, without `user@`",
            ));
        }
        Ok(jid)
    }

    /// The parsed user template.
    pub fn user_template(&self) -> Result<PuppetShape, ConfigError> {
        PuppetShape::parse(&self.user_template).map_err(|e| ConfigError::new("user_template", e))
    }

    /// The gateway's MUC domain: the component's own.
    pub fn gateway_domain(&self) -> String {
        self.component.jid.clone()
    }

    /// How long an attachment download may take.
    pub fn attachment_timeout(&self) -> Duration {
        Duration::from_secs(self.attachment_timeout_secs.max(1))
    }

    /// How often to ping.
    pub fn keepalive(&self) -> Duration {
        Duration::from_secs(self.keepalive_secs.max(1))
    }
}

impl NetworkConfig for XmppConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if let Err(e) = self.component_jid() {
            errors.push(e);
        }
        if self.component.secret.is_empty() {
            errors.push(ConfigError::new(
                "component.secret",
                "is empty: set it to the component secret configured on the XMPP server",
            ));
        }
        if !valid_host_port(&self.component.server) {
            errors.push(ConfigError::new(
                "component.server",
                format!(
                    "`{}` is not host:port (e.g. 127.0.0.1:5347)",
                    self.component.server
                ),
            ));
        }
        if let Err(e) = self.user_template() {
            errors.push(e);
        }
        if !(5..=3600).contains(&self.keepalive_secs) {
            errors.push(ConfigError::new(
                "keepalive_secs",
                "must be between 5 and 3600 seconds",
            ));
        }
        if !(1..=600).contains(&self.attachment_timeout_secs) {
            errors.push(ConfigError::new(
                "attachment_timeout_secs",
                "must be between 1 and 600 seconds",
            ));
        }
        if self.resource.is_empty() || self.resource.contains(['/', '@', ' ']) {
            errors.push(ConfigError::new(
                "resource",
                "must be a non-empty resource without `/`, `@` or spaces",
            ));
        }
        if !self.gateway_muc.is_empty() && self.gateway_muc != self.component.jid {
            errors.push(ConfigError::new(
                "gateway_muc",
                "must be empty or the component JID: a component only receives stanzas for \
                 its own domain",
            ));
        }
        errors
    }

    fn example_yaml() -> String {
        r#"  # Ghosts of XMPP users are @_xmpp_{jid}:domain with the bare JID escaped
  # (alice@xmpp.example.com -> @_xmpp_alice=40xmpp.example.com:domain); MUC portals have the
  # alias #_xmpp_{room}_{server}:domain (#_xmpp_lobby_conference.xmpp.example.com:domain).
  # Both templates are in the appservice section above.
  component:
    # The component's domain: Matrix users appear as user@this-domain.
    jid: matrix.localhost
    # The secret of the XMPP server's Component entry (Prosody: component_secret).
    secret: change-me
    # host:port of the server's component port (Prosody: component_ports, 5347).
    server: 127.0.0.1:5347
  # JID localpart of a Matrix user's puppet: {localpart} and {homeserver} of their Matrix ID,
  # escaped, with literal text between (@alice:example.com -> alice_example.com@matrix.localhost).
  user_template: "{localpart}_{homeserver}"
  # Seconds between keepalive pings, so the server does not drop an idle stream.
  keepalive_secs: 30
  # Resource of puppet JIDs.
  resource: bridge
  # MUC service of the gateway into public Matrix rooms: the component's own domain, where
  # #alias%server@matrix.localhost is the Matrix room #alias:server (disco#items lists the
  # public ones; the homeserver must allow room directory publication). Leave empty (or set
  # it to the component jid).
  gateway_muc: ""
  # Seconds an attachment (XEP-0066 / HTTP upload link) may take to download into the Matrix
  # media repository; a slower one is bridged as its link. Later messages of the same chat
  # wait for it, so they stay in order.
  attachment_timeout_secs: 30
"#
        .into()
    }
}

/// Whether `s` looks like `host:port`.
fn valid_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> XmppConfig {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn example_section_is_valid() {
        let cfg = parse(&XmppConfig::example_yaml().replace("\n  ", "\n"));
        assert!(cfg.validate().is_empty(), "{:?}", cfg.validate());
        assert_eq!(cfg.gateway_domain(), "matrix.localhost");
    }

    #[test]
    fn errors_name_their_keys() {
        let cfg = parse(
            "component: {jid: 'a@b', secret: '', server: nope}\nuser_template: '{homeserver}'\nkeepalive_secs: 1\nresource: 'a/b'\n",
        );
        let keys: Vec<_> = cfg.validate().into_iter().map(|e| e.key).collect();
        assert_eq!(
            keys,
            [
                "component.jid",
                "component.secret",
                "component.server",
                "user_template",
                "keepalive_secs",
                "resource"
            ]
        );
    }

    #[test]
    fn host_port() {
        assert!(valid_host_port("127.0.0.1:5347"));
        assert!(valid_host_port("xmpp.example.com:5347"));
        assert!(!valid_host_port("xmpp.example.com"));
        assert!(!valid_host_port(":5347"));
        assert!(!valid_host_port("h:0"));
    }
}
