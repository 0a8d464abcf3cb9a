//! The ghost and alias templates of a config, parsed and limited to the values the network's
//! config fixes: the one place the registration and the running bridge get them from, so both
//! claim and mint the same namespace.

use super::{Config, ConfigError, NetworkConfig};
use crate::templates::Template;

impl<N: NetworkConfig> Config<N> {
    /// `appservice.username_template`, restricted by [`NetworkConfig::namespace_vars`].
    pub fn username_template(&self) -> Result<Template, ConfigError> {
        self.restricted(
            "appservice.username_template",
            &self.appservice.username_template,
        )
    }

    /// `appservice.alias_template` likewise; `None` when it is empty (no aliases).
    pub fn alias_template(&self) -> Result<Option<Template>, ConfigError> {
        match self.appservice.alias_template.as_str() {
            "" => Ok(None),
            text => self.restricted("appservice.alias_template", text).map(Some),
        }
    }

    fn restricted(&self, key: &str, text: &str) -> Result<Template, ConfigError> {
        Template::parse(text)
            .map(|t| t.restricted(self.network.namespace_vars()))
            .map_err(|e| ConfigError::new(key, e.to_string()))
    }
}
