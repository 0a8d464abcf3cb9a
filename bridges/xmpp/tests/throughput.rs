//! Rough throughput of the bridge's own work per message (stanza parsing and conversion, and
//! building and serialising outgoing stanzas), and the memory of 1,000 MUC puppets. Run with
//! `cargo test --release --workspace --test throughput -- --ignored --nocapture`; the numbers
//! exclude the homeserver and the XMPP server.

use std::time::Instant;

use ferrybridge_core::events::MessageContent;
use ferrybridge_xmpp::convert::{self, Inbound};
use ferrybridge_xmpp::muc::{JoinStart, Mucs};
use ruma::UserId;
use tokio_xmpp::minidom::Element;
use xmpp_parsers::jid::{BareJid, FullJid, Jid};
use xmpp_parsers::message::{Message, MessageType};

const N: usize = 20_000;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4)
        .unwrap_or(0)
}

#[test]
#[ignore = "benchmark: run explicitly with --ignored --nocapture"]
fn conversion_throughput_and_puppet_memory() {
    // MUC → Matrix: parse the wire XML into a stanza, then into the core's content.
    let xml = "<message xmlns='jabber:component:accept' from='lobby@conference.localhost/alice' \
               to='bob_localhost@matrix.localhost/bridge' type='groupchat' id='m1'>\
               <body>hello there, this is a typical chat line</body>\
               <origin-id xmlns='urn:xmpp:sid:0' id='m1'/></message>";
    let start = Instant::now();
    for _ in 0..N {
        let el: Element = xml.parse().unwrap();
        let msg = Message::try_from(el).unwrap();
        let content = Inbound::parse(&msg).content().unwrap();
        std::hint::black_box(content);
    }
    let inbound = N as f64 / start.elapsed().as_secs_f64();

    // Matrix → MUC: build the stanza and serialise it.
    let from = Jid::new("bob_localhost@matrix.localhost/bridge").unwrap();
    let to = Jid::new("lobby@conference.localhost").unwrap();
    let content = MessageContent::text("hello there, this is a typical chat line");
    let start = Instant::now();
    for i in 0..N {
        let mut m = convert::message(
            MessageType::Groupchat,
            from.clone(),
            to.clone(),
            &i.to_string(),
        );
        convert::add_content(&mut m, &content, None);
        let el: Element = m.into();
        std::hint::black_box(String::from(&el));
    }
    let outbound = N as f64 / start.elapsed().as_secs_f64();

    // 1,000 Matrix users joined to 10 MUCs as puppets.
    let mucs = Mucs::default();
    let before = rss_kib();
    for i in 0..1000 {
        let room = BareJid::new(&format!("room{}@conference.localhost", i % 10)).unwrap();
        let user = UserId::parse(format!("@user{i}:localhost")).unwrap();
        let jid = FullJid::new(&format!("user{i}_localhost@matrix.localhost/bridge")).unwrap();
        let nick = format!("User number {i}");
        if let JoinStart::Wait(_, p) = mucs.begin_join(&room, &user, &jid, &nick) {
            std::hint::black_box(p);
        }
        mucs.self_presence(&room, &Jid::from(jid), &nick);
    }
    let after = rss_kib();
    println!(
        "MUC→Matrix conversion: {inbound:.0} msg/s; Matrix→MUC conversion: {outbound:.0} msg/s; \
         1,000 puppets: ~{} KiB RSS",
        after.saturating_sub(before)
    );
    assert!(inbound > 2000.0 && outbound > 2000.0);
}
