//! Shared pieces of the WhatsApp bridge's end-to-end tests: a bridge on the fake WhatsApp
//! against a real Synapse, the QR login, invites, and messages injected or sent.
#![allow(dead_code)]

use std::time::Duration;

use anyhow::Result;
use ferrybridge_tests::bot_chat::{self, is_notice_containing};
use ferrybridge_tests::{BridgeEnv, Builder, TestUser};
use ferrybridge_whatsapp::fake::{FakeWhatsApp, Sent};
use ferrybridge_whatsapp::jid::{ChatJid, Phone};
use ferrybridge_whatsapp::network::{GroupInfo, WaEvent, WaMessage, WaMessageBody};
use ferrybridge_whatsapp::{WhatsAppBridge, WhatsAppConfig};
use ruma::{OwnedRoomId, RoomId};

pub const T: Duration = Duration::from_secs(30);
pub const ME: &str = "+447000000001";
pub const BOB: &str = "+441111111";
pub const CAROL: &str = "+442222222";

/// The bridge's config section: sessions in `sessions`, recent chats of a week, lists paged by 2.
pub fn yaml(sessions: &std::path::Path) -> String {
    format!(
        "  session_dir: {}\n  recent_chat_days: 7\n  connect_timeout_secs: 5\n  page_size: 2\n",
        sessions.display()
    )
}

/// Builds a bridge on the fake WhatsApp with its sessions in `sessions`.
pub fn bridge(sessions: &std::path::Path, wa: &FakeWhatsApp) -> impl Builder<WhatsAppBridge> {
    let config = WhatsAppConfig {
        session_dir: sessions.to_owned(),
        connect_timeout_secs: 5,
        page_size: 2,
        ..Default::default()
    };
    let factory = wa.factory();
    move |_, host| Ok(WhatsAppBridge::with_factory(config, factory, host))
}

/// A phone number known to be valid.
pub fn phone(p: &str) -> Phone {
    Phone::parse(p).unwrap()
}

/// A fake WhatsApp with me, Bob, Carol and three groups that Bob and I are in.
pub fn world() -> FakeWhatsApp {
    let wa = FakeWhatsApp::new();
    wa.add_contact(ME, "Me");
    wa.add_contact(BOB, "Bob");
    wa.add_contact(CAROL, "Carol");
    for (id, subject) in [
        ("1203-1", "Office party"),
        ("1203-2", "Book club"),
        ("1203-3", "Climbing"),
    ] {
        wa.add_group(GroupInfo {
            jid: ChatJid::Group(id.into()),
            subject: subject.into(),
            description: Some(format!("All about {subject}")),
            participants: vec![phone(ME), phone(BOB)],
            picture: None,
        });
    }
    wa
}

/// A bridge on `wa` (sessions in `sessions`) with Alice logged in by QR code: the running
/// environment, Alice, and her DM with the bot.
pub async fn logged_in(
    wa: &FakeWhatsApp,
    sessions: &std::path::Path,
) -> Result<(BridgeEnv<WhatsAppBridge>, TestUser, OwnedRoomId)> {
    let env = BridgeEnv::start(&yaml(sessions), None, bridge(sessions, wa)).await?;
    let alice = env.user("alice").await?;
    let dm = bot_chat::bot_dm(&env, &alice).await?;
    qr_login(wa, &alice, &dm).await?;
    Ok((env, alice, dm))
}

/// The whole QR login dialogue: the code, its rotation, the scan, and the image's removal.
pub async fn qr_login(wa: &FakeWhatsApp, user: &TestUser, dm: &RoomId) -> Result<()> {
    user.send_text(dm, "login").await?;
    let qr = user
        .wait_for(dm, T, |ev| ev["content"]["msgtype"] == "m.image")
        .await?;
    let qr_id = qr["event_id"].as_str().unwrap_or_default().to_owned();
    // The rotated code replaces the image in place.
    wa.rotate_qr().await;
    user.wait_for(dm, T, |ev| {
        ev["content"]["m.relates_to"]["rel_type"] == "m.replace"
            && ev["content"]["m.relates_to"]["event_id"] == qr_id.as_str()
            && ev["content"]["m.new_content"]["msgtype"] == "m.image"
    })
    .await?;
    assert!(wa.scan(ME).await, "a pairing was waiting");
    user.wait_for(dm, T, |ev| {
        is_notice_containing(ev, "Successfully logged in as +447000000001")
    })
    .await?;
    // The QR image is removed once linked.
    user.wait_for(dm, T, |ev| {
        ev["type"] == "m.room.redaction"
            && (ev["redacts"] == qr_id.as_str() || ev["content"]["redacts"] == qr_id.as_str())
    })
    .await?;
    Ok(())
}

/// Waits for the next invite and joins the room.
pub async fn accept_invite(user: &TestUser) -> Result<OwnedRoomId> {
    let room = user.wait_for_invite(T).await?;
    user.join(room.as_str()).await?;
    Ok(room)
}

/// Waits until the fake WhatsApp has been sent something matching `pred`.
pub async fn wait_sent(wa: &FakeWhatsApp, pred: impl Fn(&Sent) -> bool) -> Result<Sent> {
    let deadline = std::time::Instant::now() + T;
    loop {
        if let Some(s) = wa.sent().into_iter().find(|s| pred(&s.what)) {
            return Ok(s.what);
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "not sent: {:?}",
            wa.sent()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A message from `from` in `chat`, as the fake WhatsApp delivers it.
pub fn incoming(id: &str, chat: ChatJid, from: &str, body: WaMessageBody) -> WaEvent {
    WaEvent::Message(WaMessage {
        id: id.into(),
        chat,
        sender: phone(from),
        from_me: false,
        push_name: None,
        timestamp: 0,
        body,
        expires_in: None,
    })
}

/// A message the user sent from their phone, as WhatsApp delivers it to the linked device.
pub fn from_phone(id: &str, chat: ChatJid, body: WaMessageBody) -> WaEvent {
    WaEvent::Message(WaMessage {
        id: id.into(),
        chat,
        sender: phone(ME),
        from_me: true,
        push_name: None,
        timestamp: 0,
        body,
        expires_in: None,
    })
}

/// A plain text body.
pub fn text(t: &str) -> WaMessageBody {
    WaMessageBody::Text {
        text: t.into(),
        reply_to: None,
    }
}
