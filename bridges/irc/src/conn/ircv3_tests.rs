//! The IRCv3 side of a connection against a scripted local server: negotiation across several
//! LS lines, servers without CAP, malformed replies, CAP NEW/DEL, and echo confirmations.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;

use crate::config::ServerConfig;

use super::*;

const WAIT: Duration = Duration::from_secs(5);

struct Server {
    lines: tokio::io::Lines<BufReader<OwnedReadHalf>>,
    out: OwnedWriteHalf,
}

impl Server {
    /// The next line the connection wrote.
    async fn next(&mut self) -> String {
        tokio::time::timeout(WAIT, self.lines.next_line())
            .await
            .expect("a line in time")
            .expect("readable")
            .expect("not closed")
    }

    /// Reads until a line starting with `prefix`; returns it.
    async fn until(&mut self, prefix: &str) -> String {
        loop {
            let line = self.next().await;
            if line.starts_with(prefix) {
                return line;
            }
        }
    }

    async fn say(&mut self, line: &str) {
        self.out
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("write");
    }
}

/// A connection to a local scripted server, and the owner's event stream.
async fn connect() -> (Conn, Server, mpsc::UnboundedReceiver<ConnEvent>, Tasks) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server: ServerConfig = serde_norway::from_str(&format!(
        "address: 127.0.0.1\nport: {port}\nflood: {{burst: 100, per_second: 100}}\n"
    ))
    .expect("server config");
    let config = super::tests::test_config(server);
    let tasks = Tasks::new();
    let (events, rx) = mpsc::unbounded_channel();
    let conn = Conn::spawn(config, ConnectLimiter::new(1), events, &tasks);
    let (socket, _) = listener.accept().await.expect("accept");
    let (r, w) = socket.into_split();
    let server = Server {
        lines: BufReader::new(r).lines(),
        out: w,
    };
    (conn, server, rx, tasks)
}

async fn eventually(what: &str, cond: impl Fn() -> bool) {
    tokio::time::timeout(WAIT, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}"));
}

#[tokio::test]
async fn negotiates_over_several_ls_lines_then_follows_new_and_del() {
    let (conn, mut s, _rx, _tasks) = connect().await;
    assert_eq!(s.next().await, "CAP LS 302");
    s.say(":irc.test CAP * LS * :multi-prefix message-tags")
        .await;
    s.say(":irc.test CAP * LS :echo-message server-time").await;
    assert_eq!(
        s.until("CAP REQ").await,
        "CAP REQ :message-tags server-time echo-message"
    );
    s.say(":irc.test CAP * ACK :message-tags server-time echo-message")
        .await;
    s.until("CAP END").await;
    s.say(":irc.test 001 tester :Welcome").await;
    conn.wait_registered(WAIT).await.expect("registered");
    assert!(conn.has_cap("echo-message") && conn.has_cap("server-time"));
    assert!(!conn.has_cap("multi-prefix"), "not asked for");

    s.say(":irc.test CAP tester DEL :echo-message").await;
    eventually("DEL applied", || !conn.has_cap("echo-message")).await;
    // Garbage after registration is logged; the connection goes on.
    s.say(":irc.test CAP tester").await;
    s.say(":irc.test CAP tester WHAT :x").await;
    s.say(":irc.test CAP tester NEW :echo-message").await;
    assert_eq!(s.until("CAP REQ").await, "CAP REQ :echo-message");
    s.say(":irc.test CAP tester ACK :echo-message").await;
    eventually("ACK applied", || conn.has_cap("echo-message")).await;
    assert!(conn.is_registered());
}

#[tokio::test]
async fn a_server_without_cap_registers_as_before() {
    let (conn, mut s, _rx, _tasks) = connect().await;
    assert_eq!(s.next().await, "CAP LS 302");
    s.say(":irc.test 421 * CAP :Unknown command").await;
    s.say(":irc.test 001 tester :Welcome").await;
    conn.wait_registered(WAIT).await.expect("registered");
    assert!(conn.state().caps.is_empty());
}

#[tokio::test]
async fn a_malformed_ls_ends_the_negotiation_and_registration_goes_on() {
    let (conn, mut s, _rx, _tasks) = connect().await;
    assert_eq!(s.next().await, "CAP LS 302");
    s.say(":irc.test CAP * LS * :message-tags").await;
    s.say(":irc.test CAP * LS a b c d").await;
    s.until("CAP END").await;
    s.say(":irc.test 001 tester :Welcome").await;
    conn.wait_registered(WAIT).await.expect("registered");
    assert!(conn.state().caps.is_empty());
}

#[tokio::test]
async fn with_echo_message_a_message_is_confirmed_by_its_echo_which_nobody_else_gets() {
    let (conn, mut s, mut rx, _tasks) = connect().await;
    s.until("CAP LS").await;
    s.say(":irc.test CAP * LS :message-tags echo-message").await;
    s.until("CAP REQ").await;
    s.say(":irc.test CAP * ACK :message-tags echo-message")
        .await;
    s.until("CAP END").await;
    s.say(":irc.test 001 tester :Welcome").await;
    conn.wait_registered(WAIT).await.expect("registered");

    let verdict = conn.queue_message(
        "#c",
        vec!["PRIVMSG #c :one".into(), "PRIVMSG #c :two".into()],
        WAIT,
    );
    assert_eq!(s.until("PRIVMSG").await, "PRIVMSG #c :one");
    assert_eq!(s.next().await, "PRIVMSG #c :two", "no PING after it");
    s.say("@msgid=m1;time=2024-01-01T00:00:00.000Z :tester!t@h PRIVMSG #c :one")
        .await;
    s.say("@msgid=m2 :tester!t@h PRIVMSG #c :two").await;
    let got = tokio::time::timeout(WAIT, verdict).await.expect("in time");
    assert_eq!(got, Ok(Some("m1".to_owned())));

    // An echo nobody waits for (a plain send) is not handed to the owner either.
    conn.send(vec!["PRIVMSG NickServ :hello".into()]);
    s.until("PRIVMSG NickServ").await;
    s.say(":tester!t@h PRIVMSG NickServ :hello").await;
    s.say(":bob!b@h PRIVMSG tester :a real PM").await;
    let owner_got = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(ConnEvent::Message(m)) = rx.recv().await {
                return m;
            }
        }
    })
    .await
    .expect("the PM");
    assert_eq!(owner_got.source_nickname(), Some("bob"));
}

#[tokio::test]
async fn without_echo_message_the_ping_confirms_and_there_is_no_msgid() {
    let (conn, mut s, _rx, _tasks) = connect().await;
    s.until("CAP LS").await;
    s.say(":irc.test CAP * LS :message-tags").await;
    s.until("CAP REQ").await;
    s.say(":irc.test CAP * ACK :message-tags").await;
    s.until("CAP END").await;
    s.say(":irc.test 001 tester :Welcome").await;
    conn.wait_registered(WAIT).await.expect("registered");
    let verdict = conn.queue_message("#c", vec!["PRIVMSG #c :one".into()], WAIT);
    s.until("PRIVMSG").await;
    let ping = s.until("PING").await;
    let token = ping.trim_start_matches("PING :");
    s.say(&format!(":irc.test PONG irc.test :{token}")).await;
    let got = tokio::time::timeout(WAIT, verdict).await.expect("in time");
    assert_eq!(got, Ok(None));
}
