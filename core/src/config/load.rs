//! Reading and validating a config file. OWNER: integrator.
use super::{Config, ConfigLoadError, NetworkConfig};
use std::path::Path;
/// Reads, parses and validates a config file.
pub fn load_config<N: NetworkConfig + serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<Config<N>, ConfigLoadError> {
    let _ = path;
    todo!()
}
/// Parses and validates config text.
pub fn parse_config<N: NetworkConfig + serde::de::DeserializeOwned>(
    text: &str,
) -> Result<Config<N>, ConfigLoadError> {
    let _ = text;
    todo!()
}
