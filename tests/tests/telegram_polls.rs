//! Polls between Telegram and Matrix, end to end through Synapse on the fake network: a
//! Telegram poll becomes an MSC3381 poll a Matrix user votes in (the vote reaches Telegram
//! naming Telegram's options), a Matrix poll is started on Telegram and votes in it reach the
//! options Telegram numbered, and a vote the bridge cannot place gets a notice.

mod telegram_common;

use anyhow::Result;
use ferrybridge_telegram::fake::Sent;
use ferrybridge_telegram::network::{ChatRef, OutPoll, TgContent, TgPollOption, TgUpdate};
use serde_json::{Value, json};
use telegram_common::*;

const START: &str = "org.matrix.msc3381.poll.start";
const RESPONSE: &str = "org.matrix.msc3381.poll.response";

fn vote(poll: &str, answers: &[&str]) -> Value {
    json!({
        "m.relates_to": {"rel_type": "m.reference", "event_id": poll},
        RESPONSE: {"answers": answers},
    })
}

#[tokio::test]
async fn polls_go_both_ways_and_votes_reach_telegram() -> Result<()> {
    let world = world();
    let env = env(&world).await?;
    let (alice, _dm, room) = alice_with_bob(&env).await?;
    let chat = ChatRef::user(BOB);

    // Bob's poll on Telegram: a poll on Matrix, its answers named after Telegram's options.
    let mut m = incoming(3, chat, bob(), "");
    m.content = Some(TgContent::Poll {
        question: "Lunch?".into(),
        options: vec![
            TgPollOption {
                id: vec![0],
                text: "Pizza".into(),
            },
            TgPollOption {
                id: vec![1],
                text: "Soup".into(),
            },
        ],
        multiple_choice: false,
    });
    world.inject(ME, TgUpdate::NewMessage(m)).await;
    let poll = alice.wait_for(&room, T, |ev| ev["type"] == START).await?;
    assert_eq!(sender(&poll), ghost(&env, BOB));
    let start = &poll["content"][START];
    assert_eq!(start["question"]["org.matrix.msc1767.text"], "Lunch?");
    assert_eq!(start["max_selections"], 1);
    assert_eq!(start["answers"][1]["id"], "tg:01");
    assert_eq!(start["answers"][1]["org.matrix.msc1767.text"], "Soup");
    assert!(
        poll["content"]["body"]
            .as_str()
            .is_some_and(|b| b.starts_with("Poll: Lunch?\n1. Pizza\n2. Soup")),
        "{poll}"
    );

    // Alice votes on Matrix: Telegram gets the vote for option 1.
    let poll_id = poll["event_id"].as_str().unwrap_or_default();
    alice
        .send_json(&room, RESPONSE, vote(poll_id, &["tg:01"]))
        .await?;
    wait_sent(&world, |s| {
        matches!(s, Sent::Vote { chat: c, id: 3, options } if *c == chat && options == &[vec![1]])
    })
    .await?;

    // Alice's own poll: started on Telegram with its question and options.
    let mine = alice
        .send_json(
            &room,
            START,
            json!({
                START: {
                    "question": {"org.matrix.msc1767.text": "Where?"},
                    "kind": "org.matrix.msc3381.poll.disclosed",
                    "max_selections": 2,
                    "answers": [
                        {"id": "x1", "org.matrix.msc1767.text": "Here"},
                        {"id": "x2", "org.matrix.msc1767.text": "There"},
                    ],
                },
                "org.matrix.msc1767.text": "Where?\n1. Here\n2. There",
            }),
        )
        .await?;
    let expected = OutPoll {
        question: "Where?".into(),
        options: vec!["Here".into(), "There".into()],
        multiple_choice: true,
    };
    wait_sent(
        &world,
        |s| matches!(s, Sent::Poll { poll, .. } if *poll == expected),
    )
    .await?;

    let Some(Sent::Poll { id: mine_tg, .. }) = world
        .sent(ME)
        .into_iter()
        .find(|s| matches!(s, Sent::Poll { .. }))
    else {
        anyhow::bail!("no poll sent")
    };

    // A vote in it names Matrix's answers: the bridge kept which Telegram option each became
    // (the fake numbers them from 0x10).
    alice
        .send_json(&room, RESPONSE, vote(mine.as_str(), &["x2"]))
        .await?;
    wait_sent(&world, |s| {
        matches!(s, Sent::Vote { id, options, .. } if *id == mine_tg && options == &[vec![0x11]])
    })
    .await?;
    // An answer the poll does not have: the voter hears so, nothing is sent.
    alice
        .send_json(&room, RESPONSE, vote(mine.as_str(), &["nope"]))
        .await?;
    wait_notice(&alice, &room, "does not know that poll's options").await?;
    let votes = world
        .sent(ME)
        .iter()
        .filter(|s| matches!(s, Sent::Vote { .. }))
        .count();
    assert_eq!(votes, 2, "{:?}", world.sent(ME));
    Ok(())
}
