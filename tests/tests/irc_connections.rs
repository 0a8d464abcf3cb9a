//! How the IRC bridge connects, end to end against a real InspIRCd and Synapse: TLS with a
//! private CA (and a clear notice when the certificate is not trusted), the server-password
//! mode (`PASS`) for the bot and for users' stored passwords (`!storepass`, `!removepass`), and
//! the informational commands (`!help`, `!bridgeversion`), and puppets restored after a bridge
//! restart.

#[path = "irc/support.rs"]
#[allow(dead_code)] // each test file uses a different part
mod support;

use ferrybridge_irc::config::PasswordMode;
use ferrybridge_tests::text_body;
use support::{IrcdPorts, RawIrc, Setup, T, command, join_channel, notice_containing};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_private_ca() {
    let setup = Setup::start_tls().await.unwrap();
    let mut bob = RawIrc::connect(setup.ircd.port, "bob").await.unwrap();
    bob.join("#tls").await.unwrap();
    let (alice, dm) = setup.user("alice").await.unwrap();
    let room = join_channel(&alice, &dm, "#tls").await.unwrap();

    alice.send_text(&room, "over tls").await.unwrap();
    bob.expect(|l| l.contains("PRIVMSG #tls :over tls"))
        .await
        .unwrap();
    // The server says the puppet's connection is secure (671 RPL_WHOISSECURE).
    bob.send("WHOIS alice[m]").await.unwrap();
    bob.expect(|l| l.contains(" 671 ")).await.unwrap();
    // The bot relays over TLS too.
    bob.send("PRIVMSG #tls :back over tls").await.unwrap();
    alice
        .wait_for(&room, T, |e| text_body(e) == Some("back over tls"))
        .await
        .unwrap();
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_certificate_is_reported() {
    let tls = IrcdPorts {
        tls: true,
        ..IrcdPorts::default()
    };
    // The test CA is not in the web roots and no CA file is given.
    let setup = Setup::start_on(tls, |s, ircd| {
        s.tls = true;
        s.port = ircd.tls_port;
    })
    .await
    .unwrap();
    let (carol, dm) = setup.user("carol").await.unwrap();
    carol.send_text(&dm, "!join #nope").await.unwrap();
    let text = notice_containing(&carol, &dm, "Disconnected from localhost").await;
    assert!(text.contains("certificate"), "{text}");
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_password_mode_sends_pass() {
    let ports = IrcdPorts {
        password: Some("letmein".into()),
        ..IrcdPorts::default()
    };
    let setup = Setup::start_on(ports, |s, ircd| {
        s.port = ircd.pass_port.as_ref().map(|(p, _)| *p);
        s.password_mode = PasswordMode::ServerPassword;
        s.bot_password = Some("letmein".into());
    })
    .await
    .unwrap();
    let mut bob = RawIrc::connect(setup.ircd.port, "bob").await.unwrap();
    bob.join("#pw").await.unwrap();
    let (dan, dm) = setup.user("dan").await.unwrap();
    let r = command(&dan, &dm, "!storepass letmein").await.unwrap();
    assert!(r.contains("Stored"), "{r}");
    // The stored password opens the door: the puppet joins and talks.
    let room = join_channel(&dan, &dm, "#pw").await.unwrap();
    dan.send_text(&room, "through the door").await.unwrap();
    bob.expect(|l| l.starts_with(":dan[m]!") && l.contains("PRIVMSG #pw :through the door"))
        .await
        .unwrap();
    // ... and the bot's password let it in to relay the other way.
    bob.send("PRIVMSG #pw :welcome").await.unwrap();
    dan.wait_for(&room, T, |e| text_body(e) == Some("welcome"))
        .await
        .unwrap();

    // A wrong password is refused by the server, and the user is told why.
    command(&dan, &dm, "!storepass wrong").await.unwrap();
    command(&dan, &dm, "!reconnect").await.unwrap();
    let text = notice_containing(&dan, &dm, "Disconnected from localhost").await;
    assert!(text.contains("Access denied"), "{text}");
    // The right one again: back in, and told so.
    command(&dan, &dm, "!storepass letmein").await.unwrap();
    command(&dan, &dm, "!reconnect").await.unwrap();
    notice_containing(&dan, &dm, "Reconnected to localhost").await;
    // Without a password (removepass) the server refuses us again.
    let r = command(&dan, &dm, "!removepass").await.unwrap();
    assert!(r.contains("Removed your password"), "{r}");
    command(&dan, &dm, "!reconnect").await.unwrap();
    let text = notice_containing(&dan, &dm, "Disconnected from localhost").await;
    assert!(text.contains("Access denied"), "{text}");
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_and_bridgeversion() {
    let setup = Setup::start().await.unwrap();
    let (erin, dm) = setup.user("erin").await.unwrap();
    let help = command(&erin, &dm, "!help").await.unwrap();
    for cmd in [
        "join",
        "nick",
        "cmd",
        "feature",
        "quit",
        "active",
        "storepass",
        "removepass",
        "certfp",
        "username",
        "reconnect",
        "listrooms",
        "whois",
    ] {
        assert!(help.contains(cmd), "{cmd} missing from help: {help}");
    }
    // Admin-only commands are not offered to a plain user.
    assert!(!help.contains("plumb"), "{help}");
    let v = command(&erin, &dm, "!bridgeversion").await.unwrap();
    assert!(v.contains(env!("CARGO_PKG_VERSION")), "{v}");
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_restart_restores_puppets() {
    let mut setup = Setup::start().await.unwrap();
    let mut nate = RawIrc::connect(setup.ircd.port, "nate").await.unwrap();
    nate.join("#persist").await.unwrap();
    let (mia, dm) = setup.user("mia").await.unwrap();
    let room = join_channel(&mia, &dm, "#persist").await.unwrap();
    nate.expect(|l| l.starts_with(":mia[m]!") && l.contains("JOIN"))
        .await
        .unwrap();
    setup.restart_bridge().await.unwrap();
    nate.expect(|l| l.starts_with(":mia[m]!") && l.contains("QUIT"))
        .await
        .unwrap();
    // Both back (in either order): mia's puppet, and the bot, which relays the channel.
    let (mut puppet, mut bot) = (false, false);
    while !(puppet && bot) {
        let line = nate.expect(|l| l.contains(" JOIN ")).await.unwrap();
        puppet |= line.starts_with(":mia[m]!");
        bot |= line.starts_with(":ferrybridge");
    }
    nate.send("PRIVMSG #persist :still there?").await.unwrap();
    mia.wait_for(&room, T, |e| text_body(e) == Some("still there?"))
        .await
        .unwrap();
    setup.stop().await;
}
