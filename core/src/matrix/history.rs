//! Reading a room's recent timeline (`/messages`, newest first), for the router's catch-up
//! after a homeserver outage.

use http::Method;
use ruma::OwnedRoomId;

use super::transport::Outgoing;
use super::{Intent, MatrixError};

impl Intent {
    /// The raw JSON of the last `limit` timeline events of `room`, oldest first, as this user
    /// sees them.
    pub async fn latest_events(
        &self,
        room: &OwnedRoomId,
        limit: u32,
    ) -> Result<Vec<String>, MatrixError> {
        #[derive(serde::Deserialize)]
        struct Page<'a> {
            #[serde(borrow)]
            chunk: Vec<&'a serde_json::value::RawValue>,
        }
        let mut url = self.client.url(&[
            "_matrix",
            "client",
            "v3",
            "rooms",
            room.as_str(),
            "messages",
        ])?;
        url.query_pairs_mut()
            .append_pair("dir", "b")
            .append_pair("limit", &limit.to_string());
        let out = Outgoing::new(Method::GET, url).asserting(self.assert_user());
        let resp = self.client.send(out).await?;
        let page: Page<'_> = serde_json::from_slice(&resp.body)
            .map_err(|e| MatrixError::Format(format!("/messages answer: {e}")))?;
        Ok(page
            .chunk
            .iter()
            .rev()
            .map(|e| e.get().to_owned())
            .collect())
    }
}
