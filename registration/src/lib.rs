//! The appservice registration model and generator shared by every ferrybridge binary.
//!
//! A registration is the YAML file a homeserver admin installs (Synapse's
//! `app_service_config_files`) so the homeserver knows where the bridge listens, which tokens
//! authenticate each side and which user IDs and aliases belong to the bridge.

mod error;
mod model;
mod namespace;
mod token;

pub use error::RegistrationError;
pub use model::{Namespace, Namespaces, Registration};
pub use namespace::{alias_regex_for_localpart, regex_for_localpart};
pub use token::{TOKEN_LEN, generate_token};
