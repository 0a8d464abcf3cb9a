//! The bridge bot: management rooms and notices to users. OWNER: integrator.
use ruma::OwnedUserId;

/// Sends bot notices to users' management rooms.
#[derive(Clone)]
pub struct Notices {}
impl Notices {
    pub(crate) async fn notify(&self, user: &OwnedUserId, text: &str, html: Option<&str>) {
        let _ = (user, text, html);
        todo!()
    }
}
