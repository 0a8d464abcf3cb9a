//! The commented example config. OWNER: integrator.
use crate::bridge::NetworkInfo;
/// The commented example config for a network.
pub fn example_config(info: &NetworkInfo, network_section: &str) -> String {
    let _ = (info, network_section);
    todo!()
}
