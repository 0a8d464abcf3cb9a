//! Who the IRC server thinks our users are, end to end against a real InspIRCd + Atheme and
//! Synapse: the built-in identd answering InspIRCd's ident lookups (users show as
//! `nick!ident@host`, not `~ident`), and CertFP: `!certfp` makes a client certificate, the user
//! adds its fingerprint with NickServ, and the puppet logs in with SASL EXTERNAL.
//!
//! InspIRCd 3 asks port 113 of the client's address and has no setting for another port, so the
//! identd test binds 127.0.0.1:113: it needs root (these machines and CI run as root) and is the
//! only test in the suite that binds it.

#[path = "irc/support.rs"]
#[allow(dead_code)] // each test file uses a different part
mod support;

use std::time::Duration;

use ferrybridge_irc::config::IdentdConfig;
use ferrybridge_tests::text_body;
use support::{IrcdPorts, RawIrc, Setup, T, command, join_channel, notice_containing};

/// WHOIS `nick` from `raw`: (the 311 line's ident, the account of 330 if logged in, the
/// fingerprint of 276 if any).
async fn whois(raw: &mut RawIrc, nick: &str) -> (String, Option<String>, Option<String>) {
    raw.send(&format!("WHOIS {nick}")).await.unwrap();
    let (mut ident, mut account, mut fp) = (String::new(), None, None);
    loop {
        let line = raw
            .expect(|l| {
                [" 311 ", " 330 ", " 276 ", " 318 "]
                    .iter()
                    .any(|n| l.contains(n))
            })
            .await
            .unwrap();
        let words: Vec<&str> = line.split(' ').collect();
        match words.get(1).copied() {
            Some("311") => ident = words.get(4).unwrap_or(&"").to_string(),
            Some("330") => account = words.get(4).map(|s| s.to_string()),
            Some("276") => fp = words.last().map(|s| s.to_string()),
            _ => return (ident, account, fp),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identd_answers_inspircd_ident_lookups() {
    let ports = IrcdPorts {
        ident: true,
        ..IrcdPorts::default()
    };
    let mut setup = Setup::start_configured(ports, |config, _| {
        config.network.identd = IdentdConfig {
            enabled: true,
            address: "127.0.0.1".into(),
            port: 113,
        };
    })
    .await
    .expect("bridge with its identd on 127.0.0.1:113 (needs root)");
    // A client that is not the bridge's: the identd says NO-USER, so InspIRCd marks it `~`.
    let mut nate = RawIrc::connect(setup.ircd.port, "nate").await.unwrap();
    assert!(
        nate.seen.iter().any(|l| l.contains("nate!~nate@")),
        "{:#?}",
        nate.seen
    );
    nate.join("#ident").await.unwrap();
    let (alice, dm) = setup.user("alice").await.unwrap();
    let room = join_channel(&alice, &dm, "#ident").await.unwrap();
    // The puppet's ident (ident_template: the localpart) is the one the identd answered.
    nate.expect(|l| l.starts_with(":alice[m]!alice@") && l.contains(" JOIN "))
        .await
        .unwrap();
    let (ident, _, _) = whois(&mut nate, "alice[m]").await;
    assert_eq!(ident, "alice");
    // The bridge's own listening connection too.
    let (ident, _, _) = whois(&mut nate, "ferrybridge").await;
    assert_eq!(ident, "bridge");

    // A restart releases port 113 and binds it again; the reconnected puppet is answered.
    let before = nate.seen.len();
    setup.restart_bridge().await.unwrap();
    nate.expect(|l| l.starts_with(":alice[m]!alice@") && l.contains(" JOIN "))
        .await
        .unwrap();
    // The line below is for the bridge's listening connection: wait until it is back in the
    // channel too (it may rejoin after the puppet; IRC keeps no history for late joiners).
    let bot_join = |l: &str| l.starts_with(":ferrybridge!") && l.contains(" JOIN ");
    if !nate.seen[before..].iter().any(|l| bot_join(l)) {
        nate.expect(bot_join).await.unwrap();
    }
    nate.send("PRIVMSG #ident :identified?").await.unwrap();
    alice
        .wait_for(&room, T, |e| text_body(e) == Some("identified?"))
        .await
        .unwrap();
    setup.stop().await;
}

/// The fingerprint line of a `!certfp` reply.
fn fingerprint_in(reply: &str) -> String {
    reply
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 64 && l.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no fingerprint in {reply:?}"))
        .to_owned()
}

/// Waits until Atheme's log has a line containing every needle.
async fn atheme_logged(setup: &Setup, needles: &[&str]) {
    let log = setup.ircd.dir.path().join("data/atheme/atheme.log");
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.lines().any(|l| needles.iter().all(|n| l.contains(n))) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Atheme never logged {needles:?}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certfp_logs_in_with_sasl_external_through_atheme() {
    let setup = Setup::start_tls().await.unwrap();
    let mut bob = RawIrc::connect(setup.ircd.port, "bob").await.unwrap();
    bob.join("#cert").await.unwrap();
    let (alice, dm) = setup.user("alice").await.unwrap();

    // First use makes the certificate; asking again shows the same one (it is stored).
    let made = command(&alice, &dm, "!certfp").await.unwrap();
    assert!(made.contains("Made a client certificate"), "{made}");
    let fp = fingerprint_in(&made);
    assert!(made.contains(&format!("CERT ADD {fp}")), "{made}");
    let again = command(&alice, &dm, "!certfp").await.unwrap();
    assert!(again.contains("Your client certificate"), "{again}");
    assert_eq!(fingerprint_in(&again), fp);

    // The puppet presents it: InspIRCd sees the very fingerprint the bridge showed. No account
    // knows it yet, so SASL EXTERNAL fails and the user is told what to do.
    join_channel(&alice, &dm, "#cert").await.unwrap();
    bob.expect(|l| l.starts_with(":alice[m]!") && l.contains(" JOIN "))
        .await
        .unwrap();
    let refused = notice_containing(&alice, &dm, "SASL EXTERNAL login failed").await;
    assert!(refused.contains("certfp"), "{refused}");
    let (_, account, seen_fp) = whois(&mut bob, "alice[m]").await;
    assert_eq!(seen_fp.as_deref(), Some(fp.as_str()));
    assert_eq!(account, None);

    // Register the nick with NickServ and add the fingerprint, through the puppet.
    alice
        .send_text(
            &dm,
            "!cmd PRIVMSG NickServ :REGISTER correct-horse alice@example.com",
        )
        .await
        .unwrap();
    atheme_logged(&setup, &["REGISTER: alice[m]"]).await;
    alice
        .send_text(&dm, &format!("!cmd PRIVMSG NickServ :CERT ADD {fp}"))
        .await
        .unwrap();
    atheme_logged(&setup, &["CERT:ADD", &fp]).await;

    // Reconnect: no password is stored, so the certificate is the login (SASL EXTERNAL).
    let r = command(&alice, &dm, "!reconnect").await.unwrap();
    assert!(r.contains("Reconnecting"), "{r}");
    bob.expect(|l| l.starts_with(":alice[m]!") && l.contains(" QUIT "))
        .await
        .unwrap();
    bob.expect(|l| l.starts_with(":alice[m]!") && l.contains(" JOIN "))
        .await
        .unwrap();
    atheme_logged(&setup, &["SaslServ", "alice[m]", "LOGIN (EXTERNAL)"]).await;
    let (_, account, _) = whois(&mut bob, "alice[m]").await;
    assert_eq!(account.as_deref(), Some("alice[m]"));

    // `certfp remove` forgets it; the next `certfp` makes a different one.
    let removed = command(&alice, &dm, "!certfp remove").await.unwrap();
    assert!(
        removed.contains("Removed your client certificate"),
        "{removed}"
    );
    let fresh = command(&alice, &dm, "!certfp").await.unwrap();
    assert_ne!(fingerprint_in(&fresh), fp);
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certfp_needs_a_tls_network() {
    let setup = Setup::start().await.unwrap();
    let (erin, dm) = setup.user("erin").await.unwrap();
    let r = command(&erin, &dm, "!certfp").await.unwrap();
    assert!(r.contains("not connected with TLS"), "{r}");
    setup.stop().await;
}
