//! Who speaks on the network for a Matrix event. Relay mode: a portal member without a login of
//! their own talks through the login of the portal's relay, their display name in front (see
//! [`crate::relay`]). A user with several logins speaks in a group through the one they chose
//! (see [`crate::portal::login_choice`]).

use ruma::{OwnedUserId, UserId};

use super::{RawEvent, Router};
use crate::events::MatrixEventKind;
use crate::ids::LoginSlot;
use crate::portal::Portal;

impl Router {
    /// Who the network should see as the sender of `kind`, and what it then reads: the sender
    /// themselves, or the portal's relay with the message rewritten. `None`: nothing to send
    /// (a reaction or typing from a relayed member, which a relay cannot attribute).
    pub(super) async fn through_relay(
        &self,
        event: &RawEvent,
        portal: &Portal,
        kind: MatrixEventKind,
    ) -> Option<(OwnedUserId, MatrixEventKind)> {
        match self.relay_for(event, portal).await {
            Some(relay) => {
                let name = self.displayname_in(portal, &event.sender).await;
                self.host
                    .relays()
                    .relayed(&name, kind)
                    .map(|kind| (relay, kind))
            }
            None => Some((event.sender.clone(), kind)),
        }
    }

    /// The relay that speaks for `event`'s sender in `portal`: set, logged in, and the sender
    /// has no login of their own.
    async fn relay_for(&self, event: &RawEvent, portal: &Portal) -> Option<OwnedUserId> {
        let relays = self.host.relays();
        if !self.core.capabilities.login || !relays.enabled() {
            return None;
        }
        let network = &self.core.network;
        if network.whoami(&event.sender).await.is_some() {
            return None;
        }
        let relay = match relays.get(portal.key()).await {
            Ok(relay) => relay?,
            Err(e) => {
                tracing::error!(portal = %portal.key(), error = %e, "cannot read the portal's relay");
                return None;
            }
        };
        // A relay whose login is gone relays nothing: the sender hears they must log in.
        (relay != event.sender && network.whoami(&relay).await.is_some()).then_some(relay)
    }

    /// The login `user` chose to speak through in `portal` (`use-login`): only group portals of
    /// networks with several logins per user have a choice; a private portal is its login's.
    pub(super) async fn chosen_login(&self, portal: &Portal, user: &UserId) -> Option<LoginSlot> {
        if !self.core.capabilities.multiple_logins || portal.key().receiver.is_some() {
            return None;
        }
        match crate::portal::login_choice::get(self.host.store(), portal.key(), user).await {
            Ok(slot) => slot,
            Err(e) => {
                tracing::warn!(portal = %portal.key(), %user, error = %e, "cannot read the chosen login; the network picks");
                None
            }
        }
    }

    /// `user`'s display name in the portal room, else their localpart.
    async fn displayname_in(&self, portal: &Portal, user: &UserId) -> String {
        let member = self
            .host
            .matrix()
            .bot_intent()
            .get_state(portal.room_id(), "m.room.member", user.as_str())
            .await;
        match member {
            Ok(Some(m)) => m["displayname"].as_str().map(str::to_owned),
            _ => None,
        }
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| user.localpart().to_owned())
    }
}
