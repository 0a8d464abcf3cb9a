//! OWNER: commands helper.
use super::PermissionLevel;
/// Permission resolution from config entries (`*`, a domain, or an MXID).
#[derive(Clone, Debug, Default)]
pub struct Permissions {}
impl Permissions {
    /// The level of `user`.
    pub fn level_of(&self, user: &ruma::UserId) -> PermissionLevel {
        todo!("{user}")
    }
}
