//! Telegram content beyond text and files, end to end through Synapse on the fake network:
//! places, contact cards and dice keep their content (polls: `telegram_polls.rs`), a kind the bridge does not know
//! becomes a notice naming it, and what the user sent from
//! another Telegram device appears in the portal (from their own number's ghost, without
//! double puppeting) and is not sent back.

mod telegram_common;

use anyhow::Result;
use ferrybridge_telegram::network::{ChatRef, TgContent, TgUpdate};
use telegram_common::*;

#[tokio::test]
async fn places_cards_dice_and_own_messages_reach_matrix() -> Result<()> {
    let world = world();
    let env = env(&world).await?;
    let (alice, _dm, room) = alice_with_bob(&env).await?;
    let chat = ChatRef::user(BOB);
    let with = |id: i32, content: TgContent| {
        let mut m = incoming(id, chat, bob(), "");
        m.content = Some(content);
        TgUpdate::NewMessage(m)
    };

    world
        .inject(
            ME,
            with(
                1,
                TgContent::Location {
                    geo_uri: "geo:48.85,2.35".into(),
                    name: Some("Louvre".into()),
                },
            ),
        )
        .await;
    let place = alice
        .wait_for(&room, T, |ev| ev["content"]["msgtype"] == "m.location")
        .await?;
    assert_eq!(place["content"]["geo_uri"], "geo:48.85,2.35");
    assert_eq!(sender(&place), ghost(&env, BOB));
    world
        .inject(
            ME,
            with(
                2,
                TgContent::Contact {
                    name: "Dora".into(),
                    phone: "+44 7000".into(),
                },
            ),
        )
        .await;
    wait_text(&alice, &room, "Contact: Dora\n  phone: +44 7000").await?;
    world
        .inject(
            ME,
            with(
                4,
                TgContent::Dice {
                    emoji: "🎲".into(),
                    value: 6,
                },
            ),
        )
        .await;
    wait_text(&alice, &room, "🎲 rolled 6").await?;
    world
        .inject(
            ME,
            with(
                6,
                TgContent::Unsupported {
                    kind: "Game".into(),
                },
            ),
        )
        .await;
    wait_notice(&alice, &room, "a kind the bridge does not know (Game)").await?;

    // Sent by Alice from her phone: in the portal from her own number, not sent back.
    let me = user(ME, "Alice", PHONE, "alice_tg");
    let mut own = incoming(5, chat, me, "from my phone");
    own.outgoing = true;
    world.inject(ME, TgUpdate::NewMessage(own)).await;
    let ev = wait_text(&alice, &room, "from my phone").await?;
    assert_eq!(sender(&ev), ghost(&env, ME));
    alice.send_text(&room, "after").await?;
    wait_sent(&world, |s| format!("{s:?}").contains("after")).await?;
    assert!(
        !world
            .sent(ME)
            .iter()
            .any(|s| format!("{s:?}").contains("from my phone")),
        "{:?}",
        world.sent(ME)
    );
    Ok(())
}
