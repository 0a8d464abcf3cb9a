//! Group changes made on Matrix: the portal room's name and topic become the group's title and
//! description, a kick or ban of a ghost removes that member. Telegram says no when the account
//! is not an admin with that right; the sender then sees why.

use grammers_session::types::{PeerKind, PeerRef};
use grammers_tl_types as tl;

use super::GrammersClient;
use super::errors::map_invocation;
use crate::network::{ChatEdit, ChatRef, TgError};

/// Telegram's answer when the title or description is already what was asked: nothing to do.
const UNCHANGED: &[&str] = &["CHAT_NOT_MODIFIED", "CHAT_ABOUT_NOT_MODIFIED"];

/// Sets a group's title or description.
pub(super) async fn edit_chat(
    client: &GrammersClient,
    chat: ChatRef,
    edit: ChatEdit,
) -> Result<(), TgError> {
    let peer = client.peer(chat).await?;
    let done = match (edit, peer.id.kind()) {
        (_, PeerKind::User) => return Err(TgError::NotAllowed),
        (ChatEdit::Title(title), PeerKind::Chat) => client
            .client
            .invoke(&tl::functions::messages::EditChatTitle {
                chat_id: peer.into(),
                title,
            })
            .await
            .map(drop),
        (ChatEdit::Title(title), PeerKind::Channel) => client
            .client
            .invoke(&tl::functions::channels::EditTitle {
                channel: peer.into(),
                title,
            })
            .await
            .map(drop),
        (ChatEdit::About(about), _) => client
            .client
            .invoke(&tl::functions::messages::EditChatAbout {
                peer: peer.into(),
                about,
            })
            .await
            .map(drop),
    };
    match done {
        Err(grammers_mtsender::InvocationError::Rpc(rpc))
            if UNCHANGED.contains(&rpc.name.as_str()) =>
        {
            Ok(())
        }
        other => other.map_err(map_invocation),
    }
}

/// Removes `user` from a group; with `ban` they cannot come back (supergroups and channels:
/// a basic group has no ban list, so its members are only removed).
pub(super) async fn remove_member(
    client: &GrammersClient,
    chat: ChatRef,
    user: i64,
    ban: bool,
) -> Result<(), TgError> {
    let group = client.peer(chat).await?;
    if group.id.kind() == PeerKind::User {
        return Err(TgError::NotAllowed);
    }
    let member: PeerRef = client.peer(ChatRef::user(user)).await?;
    let removed = if ban && group.id.kind() == PeerKind::Channel {
        client
            .client
            .set_banned_rights(group, member)
            .view_messages(false)
            .await
    } else {
        client.client.kick_participant(group, member).await
    };
    removed.map_err(map_invocation)
}
