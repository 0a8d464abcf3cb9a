//! The real WhatsApp: [`WhatsAppNetwork`](crate::network::WhatsAppNetwork) over whatsapp-rust,
//! with one SQLite session file per Matrix user.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use ruma::OwnedUserId;

use crate::network::{WaError, WhatsAppFactory, WhatsAppNetwork};

mod capped;
pub mod convert;
mod device;
mod routing;

pub use device::RealDevice;

/// Opens whatsapp-rust devices with a SQLite session file each.
pub struct RealFactory;

#[async_trait]
impl WhatsAppFactory for RealFactory {
    async fn open(
        &self,
        _user: &OwnedUserId,
        session_path: &Path,
    ) -> Result<Arc<dyn WhatsAppNetwork>, WaError> {
        Ok(Arc::new(RealDevice::new(session_path)))
    }
}
