//! Who the IRC server thinks our users are, end to end against a real InspIRCd + Atheme and
//! Synapse: the built-in identd answering InspIRCd's ident lookups (users show as
//! `nick!ident@host`, not `~ident`).
//!
//! InspIRCd 3 asks port 113 of the client's address and has no setting for another port, so the
//! identd test binds 127.0.0.1:113: it needs root (these machines and CI run as root) and is the
//! only test in the suite that binds it.

#[path = "irc/support.rs"]
#[allow(dead_code)] // each test file uses a different part
mod support;

use ferrybridge_irc::config::IdentdConfig;
use ferrybridge_tests::text_body;
use support::{IrcdPorts, RawIrc, Setup, T, join_channel};

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
    setup.restart_bridge().await.unwrap();
    nate.expect(|l| l.starts_with(":alice[m]!alice@") && l.contains(" JOIN "))
        .await
        .unwrap();
    nate.send("PRIVMSG #ident :identified?").await.unwrap();
    alice
        .wait_for(&room, T, |e| text_body(e) == Some("identified?"))
        .await
        .unwrap();
    setup.stop().await;
}
