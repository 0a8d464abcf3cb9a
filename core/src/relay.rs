//! Relay mode: which login relays for which portal, and how a relayed message reads. Set with
//! `set-relay`, cleared with `unset-relay`; the router applies it to messages from members who
//! have no login of their own (see `router::portal_events`).

use ruma::{OwnedUserId, UserId};

use crate::config::RelayConfig;
use crate::events::{MatrixEventKind, MessageContent};
use crate::ids::PortalKey;
use crate::store::{Store, StoreError};
use crate::templates::Template;

/// Store namespace: portal key → the Matrix user whose login relays.
const KV_RELAY: &str = "portal_relay";

/// Portal relays and the relayed-message format.
pub struct Relays {
    store: Store,
    enabled: bool,
    admin_only: bool,
    format: Template,
}

impl Relays {
    /// Relays as `config` says; the format was checked when the config was loaded.
    pub fn new(store: Store, config: &RelayConfig) -> Self {
        let format = config
            .template()
            .or_else(|_| RelayConfig::default().template())
            .unwrap_or_else(|_| unreachable!("the default relay format is valid"));
        Self {
            store,
            enabled: config.enabled,
            admin_only: config.admin_only,
            format,
        }
    }

    /// Whether relays may be set.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether only bridge admins may set them.
    pub fn admin_only(&self) -> bool {
        self.admin_only
    }

    /// The user whose login relays in `portal`.
    pub async fn get(&self, portal: &PortalKey) -> Result<Option<OwnedUserId>, StoreError> {
        if !self.enabled {
            return Ok(None);
        }
        let user: Option<String> = self.store.kv_get(KV_RELAY, &portal.to_string()).await?;
        Ok(user.and_then(|u| OwnedUserId::try_from(u).ok()))
    }

    /// `user`'s login relays in `portal` from now on.
    pub async fn set(&self, portal: &PortalKey, user: &UserId) -> Result<(), StoreError> {
        self.store
            .kv_set(KV_RELAY, &portal.to_string(), &user.as_str())
            .await
    }

    /// `portal` has no relay any more.
    pub async fn unset(&self, portal: &PortalKey) -> Result<(), StoreError> {
        self.store.kv_delete(KV_RELAY, &portal.to_string()).await
    }

    /// What `kind` becomes when relayed for `displayname`: messages and edits carry the name
    /// in front, deletions go as they are; `None` for what is not relayed (reactions, typing,
    /// receipts, membership, votes: a relay cannot show whose they are).
    pub fn relayed(&self, displayname: &str, kind: MatrixEventKind) -> Option<MatrixEventKind> {
        match kind {
            MatrixEventKind::Message { content, reply_to } => Some(MatrixEventKind::Message {
                content: self.content(displayname, content),
                reply_to,
            }),
            MatrixEventKind::Edit { target, content } => Some(MatrixEventKind::Edit {
                target,
                content: self.content(displayname, content),
            }),
            kind @ MatrixEventKind::Redaction { .. } => Some(kind),
            _ => None,
        }
    }

    fn content(&self, displayname: &str, mut content: MessageContent) -> MessageContent {
        let render = |message: &str, name: &str| {
            self.format
                .render(&[("displayname", name), ("message", message)])
                .unwrap_or_else(|_| format!("{name}: {message}"))
        };
        content.body = render(&content.body, displayname);
        if let Some(poll) = content.poll.as_mut() {
            poll.question = render(&poll.question, displayname);
        }
        if let Some(html) = &content.html {
            // The format's own text is escaped like the name; only the message stays HTML.
            const SLOT: &str = "\u{0}message\u{0}";
            let framed = crate::html::escape(&render(SLOT, displayname));
            content.html = Some(framed.replacen(SLOT, html, 1));
        }
        content
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::MessageContent;

    async fn relays(config: RelayConfig) -> Relays {
        let store = Store::connect("sqlite::memory:", 1, crate::store::SecretKey::generate())
            .await
            .unwrap();
        Relays::new(store, &config)
    }

    #[tokio::test]
    async fn relays_are_set_per_portal_and_only_when_enabled() {
        let on = relays(RelayConfig {
            enabled: true,
            ..Default::default()
        })
        .await;
        let portal = PortalKey::shared("group-1");
        let alice: OwnedUserId = "@alice:hs".try_into().unwrap();
        assert_eq!(on.get(&portal).await.unwrap(), None);
        on.set(&portal, &alice).await.unwrap();
        assert_eq!(on.get(&portal).await.unwrap(), Some(alice.clone()));
        on.unset(&portal).await.unwrap();
        assert_eq!(on.get(&portal).await.unwrap(), None);
        let off = relays(RelayConfig::default()).await;
        off.set(&portal, &alice).await.unwrap();
        assert_eq!(off.get(&portal).await.unwrap(), None, "disabled: no relay");
    }

    #[tokio::test]
    async fn relayed_messages_carry_the_name_and_reactions_are_not_relayed() {
        let r = relays(RelayConfig {
            enabled: true,
            message_format: "<{displayname}> {message}".into(),
            ..Default::default()
        })
        .await;
        let content = MessageContent::text("hi").with_html("<b>hi</b>");
        let Some(MatrixEventKind::Message { content, .. }) = r.relayed(
            "Bob <b>",
            MatrixEventKind::Message {
                content,
                reply_to: None,
            },
        ) else {
            panic!("a message is relayed");
        };
        assert_eq!(content.body, "<Bob <b>> hi");
        assert_eq!(
            content.html.as_deref(),
            Some("&lt;Bob &lt;b&gt;&gt; <b>hi</b>")
        );
        let reaction = MatrixEventKind::Reaction {
            target: crate::ids::RemoteMessageId::new("m1"),
            key: "👍".into(),
        };
        assert!(r.relayed("Bob", reaction).is_none());
    }
}
