//! All four bridges on ONE Synapse, as `scripts/run-local.sh` runs them: IRC against a real
//! InspIRCd, XMPP against a real Prosody, Telegram and WhatsApp on their fakes. Their
//! registrations must claim disjoint namespaces, or the homeserver refuses a bridge's ghosts
//! with `M_EXCLUSIVE` (IRC's `{network}` used to become `.+`, claiming `@_xmpp_…` and
//! `@_telegram_…` too). One Matrix user talks through each bridge, both ways.

#[path = "irc/support.rs"]
#[allow(dead_code)]
mod irc_support;
mod telegram_common;
mod whatsapp_common;
mod xmpp_common;

use std::sync::Arc;

use anyhow::Result;
use ferrybridge_core::Bridge;
use ferrybridge_irc::IrcBridge;
use ferrybridge_tests::bot_chat::{bot_dm, command};
use ferrybridge_tests::xmpp::{Prosody, SECRET};
use ferrybridge_tests::{BridgeEnv, Synapse, TestUser, text_body};
use ferrybridge_whatsapp::fake::Sent as WaSent;
use ferrybridge_whatsapp::jid::ChatJid;
use ferrybridge_whatsapp::network::Outgoing;
use ferrybridge_xmpp::XmppBridge;
use ruma::OwnedRoomId;

const T: std::time::Duration = std::time::Duration::from_secs(30);

/// The IRC network section for a test ircd on `port`.
fn irc_yaml(port: u16) -> String {
    format!(
        "  servers:\n    localhost:\n      address: 127.0.0.1\n      port: {port}\n      \
         flood:\n        burst: 100\n        per_second: 100.0\n"
    )
}

/// Waits for a message with body `body` in `room` and returns its sender.
async fn sender_of(user: &TestUser, room: &OwnedRoomId, body: &str) -> Result<String> {
    let ev = user
        .wait_for(room, T, |ev| {
            ev["type"] == "m.room.message" && text_body(ev) == Some(body)
        })
        .await?;
    Ok(ev["sender"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_bridges_share_one_synapse() -> Result<()> {
    // The remote networks.
    let ircd = irc_support::Ircd::start()?;
    let prosody = Prosody::start().await?;
    let tg_world = telegram_common::world();
    let wa = whatsapp_common::world();
    let wa_sessions = tempfile::tempdir()?;

    // The four bridges' configs and registrations, then one Synapse loading all four.
    let irc_net = irc_yaml(ircd.port);
    let xmpp_net = prosody.network_yaml(SECRET);
    let tg = telegram_common::bridge(&tg_world);
    let whatsapp = whatsapp_common::bridge(wa_sessions.path(), &wa);

    let irc_prep = BridgeEnv::<IrcBridge>::prepare(&irc_net, None, |_| {})?;
    let xmpp_prep = BridgeEnv::<XmppBridge>::prepare(&xmpp_net, None, |_| {})?;
    let tg_prep = BridgeEnv::prepare(telegram_common::YAML, None, |_| {})?;
    let wa_prep = BridgeEnv::prepare(&whatsapp_common::yaml(wa_sessions.path()), None, |_| {})?;
    let registrations = [
        irc_prep.registration(),
        xmpp_prep.registration(),
        tg_prep.registration(),
        wa_prep.registration(),
    ]
    .map(|p| p.to_owned());
    let synapse = Arc::new(Synapse::start(&registrations).await?);
    let irc_env = BridgeEnv::start_on(synapse.clone(), irc_prep, IrcBridge::init).await?;
    let xmpp_env = BridgeEnv::start_on(synapse.clone(), xmpp_prep, XmppBridge::init).await?;
    let tg_env = BridgeEnv::start_on(synapse.clone(), tg_prep, tg).await?;
    let wa_env = BridgeEnv::start_on(synapse.clone(), wa_prep, whatsapp).await?;
    let alice = irc_env.user("alice").await?;

    // IRC: a channel both ways.
    let mut bob = irc_support::RawIrc::connect(ircd.port, "bob").await?;
    bob.join("#four").await?;
    let irc_dm = bot_dm(&irc_env, &alice).await?;
    let channel = irc_support::join_channel(&alice, &irc_dm, "#four").await?;
    alice.send_text(&channel, "hello irc").await?;
    bob.expect(|l| l.contains("PRIVMSG #four :hello irc"))
        .await?;
    bob.send("PRIVMSG #four :hi from irc").await?;
    assert_eq!(
        sender_of(&alice, &channel, "hi from irc").await?,
        "@_irc_localhost_bob:localhost"
    );

    // XMPP: a MUC both ways; the occupant's ghost is `@_xmpp_…`, which IRC used to claim.
    let mut xmpp_alice = xmpp_common::alice_in_lobby(&prosody).await?;
    let muc = alice
        .join("#_xmpp_lobby_conference.localhost:localhost")
        .await?;
    xmpp_alice
        // Alice's puppet (XMPP's alice already took the nick `alice`).
        .wait_for("jid='alice_localhost@matrix.localhost/bridge'")
        .await?;
    alice.send_text(&muc, "hello xmpp").await?;
    xmpp_alice.wait_for("hello xmpp").await?;
    xmpp_alice
        .send("<message to='lobby@conference.localhost' type='groupchat' id='f1'><body>hi from xmpp</body></message>")
        .await?;
    assert_eq!(
        sender_of(&alice, &muc, "hi from xmpp").await?,
        "@_xmpp_lobby=40conference.localhost/alice:localhost"
    );

    // Telegram: a private chat both ways; `@_telegram_…` was in IRC's old namespace too.
    let tg_dm = bot_dm(&tg_env, &alice).await?;
    telegram_common::login(&alice, &tg_dm).await?;
    command(&alice, &tg_dm, "pm @bob_tg").await?;
    let tg_room = telegram_common::accept(&alice).await?;
    alice.send_text(&tg_room, "hello telegram").await?;
    telegram_common::wait_sent(&tg_world, |s| {
        matches!(s, ferrybridge_telegram::fake::Sent::Message { msg, .. } if msg.text == "hello telegram")
    })
    .await?;
    let chat = ferrybridge_telegram::network::ChatRef::user(telegram_common::BOB);
    tg_world
        .inject(
            telegram_common::ME,
            ferrybridge_telegram::network::TgUpdate::NewMessage(telegram_common::incoming(
                900,
                chat,
                telegram_common::bob(),
                "hi from telegram",
            )),
        )
        .await;
    assert_eq!(
        sender_of(&alice, &tg_room, "hi from telegram").await?,
        telegram_common::ghost(&tg_env, telegram_common::BOB)
    );

    // WhatsApp: a private chat both ways.
    let wa_dm = bot_dm(&wa_env, &alice).await?;
    whatsapp_common::qr_login(&wa, &alice, &wa_dm).await?;
    command(&alice, &wa_dm, "pm +441111111").await?;
    let wa_room = whatsapp_common::accept_invite(&alice).await?;
    alice.send_text(&wa_room, "hello whatsapp").await?;
    whatsapp_common::wait_sent(&wa, |s| {
        matches!(s, WaSent::Message { message: Outgoing::Text { text, .. }, .. } if text == "hello whatsapp")
    })
    .await?;
    wa.inject(
        &whatsapp_common::phone(whatsapp_common::ME),
        whatsapp_common::incoming(
            "F1",
            ChatJid::Direct(whatsapp_common::phone(whatsapp_common::BOB)),
            whatsapp_common::BOB,
            whatsapp_common::text("hi from whatsapp"),
        ),
    )
    .await;
    assert_eq!(
        sender_of(&alice, &wa_room, "hi from whatsapp").await?,
        "@whatsapp_441111111:localhost"
    );

    // Nothing was refused along the way.
    let log = std::fs::read_to_string(synapse.data_dir().join("homeserver.log"))?;
    assert!(!log.contains("M_EXCLUSIVE"), "{}", synapse.log_tail(40));

    let (mut irc_env, mut xmpp_env, mut tg_env, mut wa_env) = (irc_env, xmpp_env, tg_env, wa_env);
    irc_env.stop().await;
    xmpp_env.stop().await;
    tg_env.stop().await;
    wa_env.stop().await;
    Ok(())
}
