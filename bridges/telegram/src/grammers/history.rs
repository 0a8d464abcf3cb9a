//! A chat's history through grammers' message iterator (`messages.getHistory`), for backfill.
//!
//! The iterator goes from the newest message back; the read stops at the message the portal
//! already holds, so a catch-up over more than its limit keeps the messages next to the live
//! ones and leaves the gap at the old end (as the core expects).

use super::GrammersClient;
use super::convert::{self, HistoryStep};
use super::errors::map_invocation;
use crate::network::{ChatRef, TgError, TgMessage};

/// Service messages read past on top of `limit` before giving up (joins and title changes
/// count against Telegram's page size but are not history).
const SERVICE_SLACK: usize = 100;

/// The newest `limit` messages of `chat` (those with an ID above `after`, if given), oldest
/// first. Their media is remembered so the bridge can download it like a live message's.
pub(super) async fn read(
    client: &GrammersClient,
    chat: ChatRef,
    after: Option<i32>,
    limit: usize,
) -> Result<Vec<TgMessage>, TgError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let peer = client.peer(chat).await?;
    let mut it = client
        .client
        .iter_messages(peer)
        .limit(limit.saturating_add(SERVICE_SLACK));
    let mut newest_first = Vec::new();
    while newest_first.len() < limit {
        let Some(msg) = it.next().await.map_err(map_invocation)? else {
            break;
        };
        match convert::history_step(&msg.raw, after) {
            HistoryStep::Stop => break,
            HistoryStep::Skip => continue,
            HistoryStep::Take => {}
        }
        if let Some((ours, theirs)) = convert::media(&msg) {
            client.media.remember(ours.handle, theirs);
        }
        newest_first.push(convert::message(&msg));
    }
    newest_first.reverse();
    Ok(newest_first)
}
