//! Group changes made on Matrix: the portal room's name and topic become the group's title and
//! description, an invite of a ghost adds that person, a kick or ban removes them. Telegram says
//! no when the account lacks the right; the sender then sees why.

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
        (ChatEdit::Photo(photo), kind) => {
            let photo = chat_photo(client, photo).await?;
            match kind {
                PeerKind::Channel => client
                    .client
                    .invoke(&tl::functions::channels::EditPhoto {
                        channel: peer.into(),
                        photo,
                    })
                    .await
                    .map(drop),
                _ => client
                    .client
                    .invoke(&tl::functions::messages::EditChatPhoto {
                        chat_id: peer.into(),
                        photo,
                    })
                    .await
                    .map(drop),
            }
        }
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

/// A group picture to set: `data` uploaded, or "no picture".
async fn chat_photo(
    client: &GrammersClient,
    data: Option<bytes::Bytes>,
) -> Result<tl::enums::InputChatPhoto, TgError> {
    let Some(data) = data else {
        return Ok(tl::enums::InputChatPhoto::Empty);
    };
    let size = data.len();
    let mut reader = std::io::Cursor::new(data.to_vec());
    let uploaded = client
        .client
        .upload_stream(&mut reader, size, "avatar.jpg".to_owned())
        .await
        .map_err(|e| TgError::Network(e.to_string()))?;
    Ok(tl::types::InputChatUploadedPhoto {
        file: Some(uploaded.raw),
        video: None,
        video_start_ts: None,
        video_emoji_markup: None,
    }
    .into())
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

/// Adds `user` to a group. Someone already in it counts as added; someone whose privacy
/// settings keep them out is an error that says so.
pub(super) async fn add_member(
    client: &GrammersClient,
    chat: ChatRef,
    user: i64,
) -> Result<(), TgError> {
    let group = client.peer(chat).await?;
    let member: PeerRef = client.peer(ChatRef::user(user)).await?;
    let invited = match group.id.kind() {
        PeerKind::User => return Err(TgError::NotAllowed),
        PeerKind::Chat => {
            client
                .client
                .invoke(&tl::functions::messages::AddChatUser {
                    chat_id: group.into(),
                    user_id: member.into(),
                    fwd_limit: 0,
                })
                .await
        }
        PeerKind::Channel => {
            client
                .client
                .invoke(&tl::functions::channels::InviteToChannel {
                    channel: group.into(),
                    users: vec![member.into()],
                })
                .await
        }
    };
    match invited {
        Ok(tl::enums::messages::InvitedUsers::Users(u)) => added(&u),
        Err(grammers_mtsender::InvocationError::Rpc(rpc))
            if rpc.name == "USER_ALREADY_PARTICIPANT" =>
        {
            Ok(())
        }
        Err(e) => Err(map_invocation(e)),
    }
}

/// Whether Telegram added everyone asked for (privacy settings may keep a person out).
fn added(invited: &tl::types::messages::InvitedUsers) -> Result<(), TgError> {
    if invited.missing_invitees.is_empty() {
        Ok(())
    } else {
        Err(TgError::Other(
            "their privacy settings do not let others add them to groups; send them an invite link"
                .into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invitees_kept_out_by_privacy_are_an_error() {
        let answer = |missing: Vec<tl::enums::MissingInvitee>| tl::types::messages::InvitedUsers {
            updates: tl::types::UpdatesTooLong {}.into(),
            missing_invitees: missing,
        };
        assert_eq!(added(&answer(vec![])), Ok(()));
        let kept_out = tl::types::MissingInvitee {
            premium_would_allow_invite: false,
            premium_required_for_pm: false,
            user_id: 2000,
        };
        assert!(matches!(
            added(&answer(vec![kept_out.into()])),
            Err(TgError::Other(why)) if why.contains("privacy")
        ));
    }
}
