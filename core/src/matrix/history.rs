//! Reading a room's recent timeline (`/messages`, newest first, page by page), for the
//! router's catch-up after a homeserver outage.

use http::Method;
use ruma::OwnedRoomId;

use super::transport::Outgoing;
use super::{Intent, MatrixError};

/// Events asked for per `/messages` page.
const PAGE: u32 = 100;

impl Intent {
    /// The raw JSON of `room`'s timeline events sent at or after `since_ms` (milliseconds
    /// since the epoch), at most `max` of them (the newest), oldest first, as this user sees
    /// them. Pages back until an older event, the room's start, or `max`.
    pub async fn events_since(
        &self,
        room: &OwnedRoomId,
        since_ms: u64,
        max: usize,
    ) -> Result<Vec<String>, MatrixError> {
        #[derive(serde::Deserialize)]
        struct Page<'a> {
            #[serde(borrow)]
            chunk: Vec<&'a serde_json::value::RawValue>,
            #[serde(default)]
            end: Option<String>,
        }
        #[derive(serde::Deserialize)]
        struct Stamp {
            #[serde(default)]
            origin_server_ts: u64,
        }
        let mut newest_first = Vec::new();
        let mut from: Option<String> = None;
        loop {
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
                .append_pair("limit", &PAGE.to_string());
            if let Some(token) = &from {
                url.query_pairs_mut().append_pair("from", token);
            }
            let out = Outgoing::new(Method::GET, url).asserting(self.assert_user());
            let resp = self.client.send(out).await?;
            let page: Page<'_> = serde_json::from_slice(&resp.body)
                .map_err(|e| MatrixError::Format(format!("/messages answer: {e}")))?;
            let mut reached_older = false;
            for event in &page.chunk {
                let ts =
                    serde_json::from_str::<Stamp>(event.get()).map_or(0, |s| s.origin_server_ts);
                if ts < since_ms {
                    reached_older = true;
                    break;
                }
                newest_first.push(event.get().to_owned());
                if newest_first.len() >= max {
                    reached_older = true;
                    break;
                }
            }
            match page.end {
                Some(end) if !reached_older && !page.chunk.is_empty() => from = Some(end),
                _ => break,
            }
        }
        newest_first.reverse();
        Ok(newest_first)
    }
}

#[cfg(test)]
mod tests {
    use http::Method;
    use ruma::owned_room_id;
    use serde_json::json;

    use super::super::test_fake::start;

    fn ev(id: &str, ts: u64) -> serde_json::Value {
        json!({"event_id": id, "origin_server_ts": ts, "type": "m.room.message"})
    }

    #[tokio::test]
    async fn pages_back_to_the_outage_and_no_further() {
        let (fake, client) = start().await;
        fake.on(
            Method::GET,
            "/_matrix/client/v3/rooms/!r:x/messages",
            vec![
                (
                    200,
                    json!({"chunk": [ev("$5", 500), ev("$4", 400)], "end": "t1"}),
                ),
                (
                    200,
                    json!({"chunk": [ev("$3", 300), ev("$2", 200)], "end": "t2"}),
                ),
                (200, json!({"chunk": [ev("$1", 100)], "end": "t3"})),
            ],
        );
        let room = owned_room_id!("!r:x");
        let got = client
            .bot_intent()
            .events_since(&room, 250, 100)
            .await
            .unwrap();
        let ids: Vec<String> = got
            .iter()
            .map(|j| serde_json::from_str::<serde_json::Value>(j).unwrap()["event_id"].to_string())
            .collect();
        assert_eq!(
            ids,
            [r#""$3""#, r#""$4""#, r#""$5""#],
            "oldest first, none older"
        );
        let pages = fake.seen_at("/_matrix/client/v3/rooms/!r:x/messages");
        assert_eq!(pages.len(), 2, "stops at the first older event");
        assert!(pages[1].query.contains("from=t1"), "{}", pages[1].query);
    }

    #[tokio::test]
    async fn stops_at_the_cap_and_at_the_room_start() {
        let (fake, client) = start().await;
        fake.on(
            Method::GET,
            "/_matrix/client/v3/rooms/!r:x/messages",
            vec![(200, json!({"chunk": [ev("$2", 200), ev("$1", 100)]}))],
        );
        let room = owned_room_id!("!r:x");
        let intent = client.bot_intent();
        assert_eq!(intent.events_since(&room, 0, 1).await.unwrap().len(), 1);
        assert_eq!(intent.events_since(&room, 0, 100).await.unwrap().len(), 2);
    }
}
