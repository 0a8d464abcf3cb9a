//! Values a template variable is limited to when the config fixes them, so the namespace the
//! bridge claims names them literally: IRC's `{network}` is one of the configured servers, and
//! `_irc_{network}_{nick}` claims `_irc_(?:libera|oftc)_.+`, not every `_irc_…_…`. Bridges
//! sharing a homeserver then claim disjoint namespaces.

use std::collections::{BTreeMap, BTreeSet};

/// Per variable, the only values it may take; variables not named here are free.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KnownValues(BTreeMap<String, BTreeSet<String>>);

impl KnownValues {
    /// No variable limited.
    pub fn new() -> Self {
        Self::default()
    }

    /// Limits `var` to `values` (on top of any given before). A variable limited to no value
    /// at all matches nothing.
    pub fn with<V: Into<String>>(
        mut self,
        var: impl Into<String>,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        self.0
            .entry(var.into())
            .or_default()
            .extend(values.into_iter().map(Into::into));
        self
    }

    /// The values `var` is limited to; `None` if it is free.
    pub fn get(&self, var: &str) -> Option<&BTreeSet<String>> {
        self.0.get(var)
    }

    /// Whether `var` may be `value`.
    pub fn allows(&self, var: &str, value: &str) -> bool {
        self.get(var).is_none_or(|values| values.contains(value))
    }

    /// Whether no variable is limited.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_only_named_variables() {
        let known = KnownValues::new()
            .with("network", ["libera", "oftc"])
            .with("network", ["efnet"]);
        assert!(known.allows("network", "oftc"));
        assert!(known.allows("network", "efnet"));
        assert!(!known.allows("network", "xmpp"));
        assert!(known.allows("nick", "anything"));
        assert!(KnownValues::new().is_empty());
    }
}
