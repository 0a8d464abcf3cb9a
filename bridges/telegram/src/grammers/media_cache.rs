//! Downloadable media of recent messages: grammers needs its own media object to download a
//! file, while the bridge hands around only our [`MediaRef`] handles.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::network::MediaRef;

/// How many downloadable media handles a client keeps.
const MEDIA_CACHE: usize = 2_000;

/// Downloadable media of recent messages, by our handle (shared with the update task).
#[derive(Clone, Default)]
pub(super) struct MediaCache(Arc<Mutex<HashMap<MediaRef, grammers_client::media::Media>>>);

impl MediaCache {
    fn map(&self) -> MutexGuard<'_, HashMap<MediaRef, grammers_client::media::Media>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
    pub(super) fn remember(&self, handle: MediaRef, media: grammers_client::media::Media) {
        let mut map = self.map();
        if map.len() >= MEDIA_CACHE {
            map.clear();
        }
        map.insert(handle, media);
    }
    pub(super) fn get(&self, handle: &MediaRef) -> Option<grammers_client::media::Media> {
        self.map().get(handle).cloned()
    }
}
