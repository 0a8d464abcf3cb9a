//! Finding people and chats for `pm` and `search`: by phone number (imported as a contact when
//! the number is not public, as Telegram apps do), by `@username`, by name.

use grammers_client::peer::Peer;
use grammers_tl_types as tl;

use super::GrammersClient;
use super::convert;
use super::errors::map_invocation;
use crate::network::{ChatRef, TgChat, TgError, TgUser};

pub(super) async fn resolve_phone(client: &GrammersClient, phone: &str) -> Result<TgUser, TgError> {
    let digits = phone.trim_start_matches('+').to_owned();
    match client
        .client
        .invoke(&tl::functions::contacts::ResolvePhone {
            phone: digits.clone(),
        })
        .await
    {
        Ok(tl::enums::contacts::ResolvedPeer::Peer(r)) => {
            client.cache_users(&r.users).await;
            return GrammersClient::first_user(&r.users);
        }
        Err(e) => {
            let e = map_invocation(e);
            if matches!(
                e,
                TgError::Network(_) | TgError::FloodWait(_) | TgError::Unauthorized
            ) {
                return Err(e);
            }
        }
    }
    // Not public by number: import as a contact (what Telegram apps do).
    let imported = client
        .client
        .invoke(&tl::functions::contacts::ImportContacts {
            contacts: vec![
                tl::types::InputPhoneContact {
                    client_id: 1,
                    phone: digits,
                    first_name: phone.to_owned(),
                    last_name: String::new(),
                    note: None,
                }
                .into(),
            ],
        })
        .await
        .map_err(map_invocation)?;
    let tl::enums::contacts::ImportedContacts::Contacts(c) = imported;
    client.cache_users(&c.users).await;
    GrammersClient::first_user(&c.users)
}

pub(super) async fn resolve_username(
    client: &GrammersClient,
    username: &str,
) -> Result<TgUser, TgError> {
    match client
        .client
        .resolve_username(username)
        .await
        .map_err(map_invocation)?
    {
        Some(Peer::User(u)) => Ok(convert::user(&u)),
        _ => Err(TgError::NotFound),
    }
}

pub(super) async fn search(client: &GrammersClient, query: &str) -> Result<Vec<TgChat>, TgError> {
    let found = client
        .client
        .invoke(&tl::functions::contacts::Search {
            broadcasts: true,
            bots: false,
            q: query.to_owned(),
            limit: 20,
        })
        .await
        .map_err(map_invocation)?;
    let tl::enums::contacts::Found::Found(f) = found;
    client.cache_users(&f.users).await;
    let mut out: Vec<TgChat> = f
        .users
        .iter()
        .filter_map(|u| match u {
            tl::enums::User::User(u) => Some(TgChat {
                chat: ChatRef::user(u.id),
                title: [u.first_name.clone(), u.last_name.clone()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" "),
                about: None,
                photo: None,
                members: vec![],
                last_message_at: None,
            }),
            _ => None,
        })
        .collect();
    for c in &f.chats {
        let (chat, title) = match c {
            tl::enums::Chat::Chat(g) => (ChatRef::group(g.id), g.title.clone()),
            tl::enums::Chat::Channel(ch) => (ChatRef::channel(ch.id), ch.title.clone()),
            _ => continue,
        };
        out.push(TgChat {
            chat,
            title,
            about: None,
            photo: None,
            members: vec![],
            last_message_at: None,
        });
    }
    Ok(out)
}
