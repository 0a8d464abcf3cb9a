//! Ghosts: Matrix puppets of remote users; registration on demand and profile sync.
//! OWNER: integrator.

/// The ghost manager.
#[derive(Clone)]
pub struct Ghosts {}
