//! The core's own context: the network's [`BridgeHost`] plus what only the core uses (the
//! network itself, the command registry, logins waiting for input). The router and the
//! command dispatcher run on it; networks never see it.

use std::sync::Arc;

use crate::commands::Registry;
use crate::commands::login_driver::PendingInputs;
use crate::host::BridgeHost;
use crate::network::Network;
use crate::seam::Capabilities;

/// Crate-private core services. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Core {
    pub host: BridgeHost,
    pub network: Network,
    pub registry: Arc<Registry>,
    pub logins: PendingInputs,
    pub capabilities: Capabilities,
    /// End-to-bridge encryption, when `encryption.allow` is on.
    pub crypto: Option<crate::crypto::Crypto>,
}
