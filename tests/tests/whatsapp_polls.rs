//! Polls between WhatsApp and Matrix, end to end through a real Synapse with the fake WhatsApp:
//! a WhatsApp poll becomes an MSC3381 poll and a Matrix vote in it reaches WhatsApp with the
//! poll's key, a Matrix poll is started on WhatsApp and votes in it name its options' text,
//! WhatsApp votes become Matrix votes, and a vote in a poll whose key the bridge never saw
//! gets a notice (either way).

mod whatsapp_common;

use anyhow::Result;
use ferrybridge_tests::BridgeEnv;
use ferrybridge_tests::bot_chat::{bot_dm, command, is_notice_containing, sender};
use ferrybridge_whatsapp::fake::{FAKE_POLL_SECRET, Sent};
use ferrybridge_whatsapp::jid::ChatJid;
use ferrybridge_whatsapp::network::WaMessageBody;
use serde_json::{Value, json};
use whatsapp_common::*;

const START: &str = "org.matrix.msc3381.poll.start";
const RESPONSE: &str = "org.matrix.msc3381.poll.response";

fn vote(poll: &Value, answers: &[&str]) -> Value {
    json!({
        "m.relates_to": {"rel_type": "m.reference", "event_id": poll},
        RESPONSE: {"answers": answers},
    })
}

fn lunch(secret: Option<Vec<u8>>) -> WaMessageBody {
    WaMessageBody::Poll {
        question: "Lunch?".into(),
        options: vec!["Pizza".into(), "Soup".into()],
        max_selections: 2,
        secret,
    }
}

#[tokio::test]
async fn polls_and_votes_go_both_ways() -> Result<()> {
    let sessions = tempfile::tempdir()?;
    let wa = world();
    let env = BridgeEnv::start(&yaml(sessions.path()), None, bridge(sessions.path(), &wa)).await?;
    let server = env.synapse.server_name().to_owned();
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    qr_login(&wa, &alice, &dm).await?;
    let me = phone(ME);
    let chat = ChatJid::Direct(phone(BOB));
    command(&alice, &dm, "pm +441111111").await?;
    let room = accept_invite(&alice).await?;

    // Bob's poll: a Matrix poll whose answers are named by their text.
    wa.inject(
        &me,
        incoming("P1", chat.clone(), BOB, lunch(Some(vec![7; 32]))),
    )
    .await;
    let poll = alice.wait_for(&room, T, |ev| ev["type"] == START).await?;
    assert_eq!(sender(&poll), format!("@whatsapp_441111111:{server}"));
    let start = &poll["content"][START];
    assert_eq!(start["question"]["org.matrix.msc1767.text"], "Lunch?");
    assert_eq!(start["max_selections"], 2);
    assert_eq!(start["answers"][1]["id"], "Soup");
    assert!(
        poll["content"]["body"]
            .as_str()
            .is_some_and(|b| b.starts_with("Poll: Lunch?\n1. Pizza\n2. Soup")),
        "{poll}"
    );
    // Alice's vote reaches WhatsApp under the poll's creator and secret.
    alice
        .send_json(&room, RESPONSE, vote(&poll["event_id"], &["Soup"]))
        .await?;
    let sent = wait_sent(
        &wa,
        |s| matches!(s, Sent::Vote { poll, .. } if poll == "P1"),
    )
    .await?;
    let Sent::Vote { key, options, .. } = sent else {
        unreachable!()
    };
    assert_eq!(
        (&key.creator, &key.secret, &options[..]),
        (&phone(BOB), &vec![7; 32], &["Soup".to_owned()][..])
    );

    // A poll whose creation message carried no secret: the voter hears why not.
    wa.inject(&me, incoming("P2", chat.clone(), BOB, lunch(None)))
        .await;
    let second = alice
        .wait_for(&room, T, |ev| {
            ev["type"] == START && ev["event_id"] != poll["event_id"]
        })
        .await?;
    alice
        .send_json(&room, RESPONSE, vote(&second["event_id"], &["Pizza"]))
        .await?;
    alice
        .wait_for(&room, T, |ev| {
            is_notice_containing(ev, "does not have this poll's key")
        })
        .await?;

    // Alice's poll from Matrix: started on WhatsApp; a vote in it names the options' text.
    let mine = json!({
        START: {
            "question": {"org.matrix.msc1767.text": "Where?"},
            "max_selections": 1,
            "answers": [
                {"id": "h", "org.matrix.msc1767.text": "Here"},
                {"id": "t", "org.matrix.msc1767.text": "There"},
            ],
        },
    });
    let mine = alice.send_json(&room, START, mine).await?;
    let started = wait_sent(&wa, |s| matches!(s, Sent::Poll { .. })).await?;
    assert_eq!(
        started,
        Sent::Poll {
            chat: chat.clone(),
            question: "Where?".into(),
            options: vec!["Here".into(), "There".into()],
            max_selections: 1,
        }
    );
    alice
        .send_json(&room, RESPONSE, vote(&json!(mine), &["t"]))
        .await?;
    let sent = wait_sent(
        &wa,
        |s| matches!(s, Sent::Vote { key, .. } if key.creator == me),
    )
    .await?;
    let Sent::Vote { key, options, .. } = sent else {
        unreachable!()
    };
    assert_eq!(key.secret, FAKE_POLL_SECRET.to_vec());
    assert_eq!(options, ["There"]);

    // Bob's votes on WhatsApp (the fake's are plain text): Matrix votes by his ghost, naming
    // the answers as each poll does; one in a poll without a key is a notice.
    let bobs_vote = |id: &str, poll: &str, choice: &str| {
        incoming(
            id,
            chat.clone(),
            BOB,
            WaMessageBody::PollVote {
                poll: poll.into(),
                payload: choice.as_bytes().to_vec(),
                iv: vec![],
            },
        )
    };
    let mine_tg = match wa
        .sent()
        .into_iter()
        .find(|s| matches!(s.what, Sent::Poll { .. }))
    {
        Some(s) => s.id,
        None => anyhow::bail!("no poll sent"),
    };
    wa.inject(&me, bobs_vote("V1", "P1", "Pizza")).await;
    wa.inject(&me, bobs_vote("V2", &mine_tg, "There")).await;
    wa.inject(&me, bobs_vote("V3", "P2", "Soup")).await;
    let bob_ghost = format!("@whatsapp_441111111:{server}");
    let voted = |ev: &Value, poll: &Value, answer: &str| {
        ev["type"] == RESPONSE
            && sender(ev) == bob_ghost
            && ev["content"]["m.relates_to"]["event_id"] == *poll
            && ev["content"][RESPONSE]["answers"] == json!([answer])
    };
    alice
        .wait_for(&room, T, |ev| voted(ev, &poll["event_id"], "Pizza"))
        .await?;
    alice
        .wait_for(&room, T, |ev| voted(ev, &json!(mine), "t"))
        .await?;
    alice
        .wait_for(&room, T, |ev| {
            is_notice_containing(ev, "a poll vote the bridge could not read")
        })
        .await?;
    Ok(())
}
