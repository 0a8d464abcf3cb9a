//! Ghost avatars from vCards (XEP-0054, with XEP-0153 hashes in presences). When a remote user
//! is first seen in this run, or a presence advertises a photo hash other than the one we
//! know, their vCard is fetched in the background (never on the stanza reader, so messages are
//! not held up) and a changed photo becomes a `Profile` event on the portal they were seen in.
//! The SHA-1 of the photo bridged last is kept per user in the store, so the same picture is
//! not uploaded again after a restart; an empty photo (or an empty XEP-0153 hash) removes the
//! ghost's avatar. Fetch errors and bad photos are logged and leave the avatar as it is.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrybridge_core::BridgeHost;
use ferrybridge_core::events::{Media, RemoteEvent, RemoteEventKind, RemoteProfile};
use ferrybridge_core::ids::{PortalKey, RemoteUserId};
use ferrybridge_core::lru::LruMap;
use xmpp_parsers::jid::Jid;

use crate::outbox::Outbox;
use crate::requests::Requests;
use crate::vcard::{self, Photo};

/// Store namespace: remote user → hash of the photo bridged last (`""`: none).
const KV_HASHES: &str = "xmpp_avatar_hashes";
/// How long a vCard request may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);

/// Where a user was seen and how to ask for their vCard.
#[derive(Clone, Debug)]
pub struct Sighting {
    /// The ghost's remote ID.
    pub user: RemoteUserId,
    /// The portal the profile change goes to (its queue keeps it in order).
    pub portal: PortalKey,
    /// Who asks: the component, or the puppet in the MUC when asking an occupant JID.
    pub from: Jid,
    /// Whom to ask: the bare JID, or the occupant JID (the MUC forwards it to the user's server).
    pub to: Jid,
}

/// What we know of one user in this run.
enum State {
    /// A fetch runs; the latest hash a presence advertised meanwhile.
    Fetching { advertised: Option<String> },
    /// Looked at; the hash bridged last.
    Known { hash: Option<String> },
}

/// The avatar tracker; cheap to clone.
#[derive(Clone)]
pub struct Avatars {
    /// Bounded by `limits.remote_cache_entries`: a forgotten user's vCard is looked at again
    /// on their next sighting (the stored hash keeps the picture from being uploaded twice).
    state: Arc<Mutex<LruMap<RemoteUserId, State>>>,
    requests: Arc<Requests>,
}

impl Avatars {
    /// A tracker sending its vCard requests through `requests`, remembering at most
    /// `capacity` users.
    pub fn new(requests: Arc<Requests>, capacity: usize) -> Self {
        Self {
            state: Arc::new(Mutex::new(LruMap::new(capacity))),
            requests,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruMap<RemoteUserId, State>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a sighting of `user` calls for a look at their vCard: the first in this run,
    /// or a presence advertising a hash other than the one we know. If so, the user is marked
    /// as being looked at (a sighting meanwhile only updates the advertised hash). Cheap: this
    /// runs for every message.
    pub fn should_fetch(&self, user: &RemoteUserId, advertised: Option<&str>) -> bool {
        let mut state = self.lock();
        match state.get_mut(user) {
            Some(State::Fetching { advertised: latest }) => {
                if let Some(a) = advertised {
                    *latest = Some(a.to_owned());
                }
                return false;
            }
            Some(State::Known { hash })
                if advertised.is_none() || advertised == hash.as_deref() =>
            {
                return false;
            }
            Some(State::Known { .. }) | None => {}
        }
        state.insert(
            user.clone(),
            State::Fetching {
                advertised: advertised.map(str::to_owned),
            },
        );
        true
    }

    /// Looks at the vCard in the background (after [`should_fetch`](Self::should_fetch)).
    pub fn spawn_fetch(
        &self,
        host: &BridgeHost,
        outbox: &Outbox,
        sighting: Sighting,
        advertised: Option<String>,
    ) {
        let (this, host, outbox) = (self.clone(), host.clone(), outbox.clone());
        let tasks = host.tasks().clone();
        tasks.spawn(async move { this.update(&host, &outbox, sighting, advertised).await });
    }

    /// Gives up on a user without looking (their JID is unusable).
    fn forget(&self, user: &RemoteUserId) {
        self.lock()
            .insert(user.clone(), State::Known { hash: None });
    }

    /// Fetches and bridges until what we have matches the latest advertised hash.
    async fn update(
        &self,
        host: &BridgeHost,
        outbox: &Outbox,
        sighting: Sighting,
        mut advertised: Option<String>,
    ) {
        let user = &sighting.user;
        let mut hash: Option<String> = match host.store().kv_get(KV_HASHES, user.as_str()).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(%user, error = %e, "could not read the stored avatar hash");
                None
            }
        };
        loop {
            if (advertised.is_none() || advertised != hash)
                && let Some(new) = self.fetch(outbox, &sighting, advertised.as_deref()).await
                && self.bridge(host, &sighting, &hash, &new).await
            {
                hash = Some(new.hash);
            }
            let mut state = self.lock();
            match state.peek(user) {
                Some(State::Fetching {
                    advertised: Some(latest),
                }) if Some(latest) != hash.as_ref() && Some(latest) != advertised.as_ref() => {
                    // A presence advertised another picture meanwhile: look again.
                    advertised = Some(latest.clone());
                }
                _ => {
                    state.insert(user.clone(), State::Known { hash });
                    return;
                }
            }
        }
    }

    /// The user's current photo, or `None` when it cannot be had (logged).
    async fn fetch(
        &self,
        outbox: &Outbox,
        s: &Sighting,
        advertised: Option<&str>,
    ) -> Option<Fetched> {
        if advertised == Some("") {
            // XEP-0153: an empty hash means no photo; nothing to ask.
            return Some(Fetched::none());
        }
        let answer = self
            .requests
            .get(
                outbox,
                s.from.clone(),
                s.to.clone(),
                vcard::request(),
                FETCH_TIMEOUT,
            )
            .await;
        let payload = match answer {
            Ok(p) => p,
            Err(e) => {
                tracing::info!(user = %s.user, to = %s.to, error = %e, "vCard not fetched; avatar unchanged");
                return None;
            }
        };
        match vcard::photo(payload.as_ref()) {
            Ok(Photo::None) => Some(Fetched::none()),
            Ok(Photo::Image { data, mime }) => Some(Fetched {
                hash: vcard::hash(&data),
                photo: Some((data, mime)),
            }),
            Err(e) => {
                tracing::info!(user = %s.user, error = %e, "vCard photo ignored; avatar unchanged");
                None
            }
        }
    }

    /// Sends the profile change if the photo differs from `known`, then records its hash.
    /// `false` if it could not be recorded (so it is tried again next time).
    async fn bridge(
        &self,
        host: &BridgeHost,
        s: &Sighting,
        known: &Option<String>,
        new: &Fetched,
    ) -> bool {
        if known.as_deref() == Some(new.hash.as_str()) {
            return true;
        }
        // Nothing bridged before and nothing now: only the hash needs recording.
        let had_photo = known.as_deref().is_some_and(|k| !k.is_empty());
        if new.photo.is_some() || had_photo {
            let avatar = match &new.photo {
                Some((data, mime)) => Media {
                    mxc: None,
                    url: None,
                    filename: vcard::filename(mime),
                    mimetype: Some(mime.clone()),
                    size: Some(data.len() as u64),
                    data: Some(data.clone()),
                },
                None => Media::removal(),
            };
            tracing::debug!(user = %s.user, hash = %new.hash, "ghost avatar changed");
            host.send(RemoteEvent {
                portal: s.portal.clone(),
                kind: RemoteEventKind::Profile {
                    user: s.user.clone(),
                    profile: RemoteProfile {
                        displayname: None,
                        avatar: Some(avatar),
                    },
                },
            })
            .await;
        }
        match host
            .store()
            .kv_set(KV_HASHES, s.user.as_str(), &new.hash)
            .await
        {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(user = %s.user, error = %e, "could not record the avatar hash");
                false
            }
        }
    }
}

/// A photo as fetched: its hash (`""` for none) and bytes with MIME type.
struct Fetched {
    hash: String,
    photo: Option<(bytes::Bytes, String)>,
}

impl Fetched {
    fn none() -> Self {
        Self {
            hash: String::new(),
            photo: None,
        }
    }
}

/// A user was seen by `via` (the puppet or component JID that received their stanza): checks
/// their avatar, asking the JID their ghost stands for (bare, or `room/nick` which the MUC
/// forwards). `advertised`: the XEP-0153 hash of a presence, if any.
pub(crate) fn seen(
    bridge: &crate::bridge::XmppBridge,
    user: &RemoteUserId,
    portal: &PortalKey,
    via: &Jid,
    advertised: Option<String>,
) {
    let host = &bridge.host;
    if !bridge.avatars.should_fetch(user, advertised.as_deref()) {
        return;
    }
    let Ok(to) = Jid::new(user.as_str()) else {
        bridge.avatars.forget(user);
        return;
    };
    let sighting = Sighting {
        user: user.clone(),
        portal: portal.clone(),
        from: via.clone(),
        to,
    };
    bridge
        .avatars
        .spawn_fetch(host, &bridge.outbox, sighting, advertised);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_once_per_run_and_again_on_a_new_hash() {
        let a = Avatars::new(Arc::default(), 100);
        let alice = RemoteUserId::new("alice@localhost");
        assert!(a.should_fetch(&alice, None), "first sighting");
        assert!(!a.should_fetch(&alice, None), "while fetching");
        assert!(!a.should_fetch(&alice, Some("abc")), "while fetching");
        assert!(matches!(
            a.lock().peek(&alice),
            Some(State::Fetching { advertised: Some(h) }) if h == "abc"
        ));
        a.lock().insert(
            alice.clone(),
            State::Known {
                hash: Some("abc".into()),
            },
        );
        assert!(!a.should_fetch(&alice, None), "messages do not look again");
        assert!(!a.should_fetch(&alice, Some("abc")), "same picture");
        assert!(a.should_fetch(&alice, Some("def")), "a new picture");
        a.forget(&alice);
        assert!(a.should_fetch(&alice, Some("")), "no picture any more");
    }

    #[test]
    fn the_least_recently_seen_user_is_forgotten() {
        let a = Avatars::new(Arc::default(), 2);
        let [alice, bob, carol] =
            ["alice@x", "bob@x", "carol@x"].map(|u| RemoteUserId::new(u.to_owned()));
        assert!(a.should_fetch(&alice, None));
        assert!(a.should_fetch(&bob, None));
        assert!(
            !a.should_fetch(&alice, None),
            "alice is fetching, and now recent"
        );
        assert!(a.should_fetch(&carol, None));
        assert_eq!(a.lock().len(), 2);
        assert!(
            a.should_fetch(&bob, None),
            "bob was forgotten, so he is looked at again"
        );
    }
}
