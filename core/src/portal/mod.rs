//! Portals: one Matrix room per remote chat, created on demand, never twice; and the per-portal
//! ordered queues. OWNER: integrator.

use crate::events::RemoteEvent;
use crate::store::PortalRow;

pub mod queue;

/// A portal as the network sees it.
#[derive(Clone, Debug)]
pub struct Portal {
    pub row: PortalRow,
}

/// The portal manager.
#[derive(Clone)]
pub struct Portals {}

impl Portals {
    pub(crate) async fn queue_remote(&self, event: RemoteEvent) {
        let _ = event;
        todo!()
    }
}
