//! OWNER: commands helper.
/// The one command registry.
#[derive(Default)]
pub struct Registry {}
