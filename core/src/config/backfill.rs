//! `bridge.backfill`: a portal's history on Matrix. A new portal gets the chat's recent
//! messages; a portal the bridge was away from gets what it missed (after a restart, or on
//! networks where nothing else replays it). Networks without history ignore the section.

use serde::{Deserialize, Serialize};

use crate::seam::ConfigError;

/// Backfill settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackfillConfig {
    /// Whether portals get history at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Messages a new portal gets from before it existed (0: none).
    #[serde(default = "default_initial")]
    pub initial_messages: usize,
    /// Messages at most that a portal gets of what it missed while the bridge was away
    /// (0: no catch-up).
    #[serde(default = "default_catch_up")]
    pub catch_up_messages: usize,
    /// Portals caught up at the same time after a start (each on its own queue; a portal
    /// that gets an event first is caught up before that event, whatever this says).
    #[serde(default = "default_parallel")]
    pub parallel_catch_ups: usize,
}

fn yes() -> bool {
    true
}
fn default_initial() -> usize {
    50
}
fn default_catch_up() -> usize {
    500
}
fn default_parallel() -> usize {
    2
}

impl Default for BackfillConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            initial_messages: default_initial(),
            catch_up_messages: default_catch_up(),
            parallel_catch_ups: default_parallel(),
        }
    }
}

/// Above this a single portal's backfill would post for minutes and hold its queue.
const MAX_MESSAGES: usize = 10_000;

impl BackfillConfig {
    /// Checks the limits.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("initial_messages", self.initial_messages),
            ("catch_up_messages", self.catch_up_messages),
        ] {
            if value > MAX_MESSAGES {
                return Err(ConfigError::new(
                    format!("bridge.backfill.{key}"),
                    format!("must be at most {MAX_MESSAGES}"),
                ));
            }
        }
        if self.parallel_catch_ups == 0 {
            return Err(ConfigError::new(
                "bridge.backfill.parallel_catch_ups",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_on_and_limits_are_checked() {
        let config: BackfillConfig = serde_norway::from_str("{}").unwrap();
        assert_eq!(config, BackfillConfig::default());
        assert!(config.validate().is_ok());
        let too_many: BackfillConfig = serde_norway::from_str("initial_messages: 20000").unwrap();
        assert_eq!(
            too_many.validate().unwrap_err().key,
            "bridge.backfill.initial_messages"
        );
        let none: BackfillConfig = serde_norway::from_str("parallel_catch_ups: 0").unwrap();
        assert!(none.validate().is_err());
        assert!(serde_norway::from_str::<BackfillConfig>("initial: 5").is_err());
    }
}
