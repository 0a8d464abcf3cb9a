use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::config::ServerConfig;

use super::*;

#[test]
fn refuses_only_at_the_cap() {
    assert_eq!(refuse_backed_up(0, 3), None);
    assert_eq!(refuse_backed_up(2, 3), None);
    assert_eq!(
        refuse_backed_up(3, 3),
        Some(IrcFailure::BackedUp {
            target: "IRC".into(),
            lines: 3
        })
    );
    assert!(refuse_backed_up(u64::MAX, usize::MAX).is_some());
}

/// A puppet-like connection config (`tester`, no auth, no pool) to `server`.
pub(super) fn test_config(server: ServerConfig) -> ConnConfig {
    ConnConfig {
        network: "test".into(),
        server: Arc::new(server),
        nick: "tester".into(),
        ident: "tester".into(),
        realname: "tester".into(),
        auth: None,
        channel_messages: false,
        backlog_cap: 100,
        pool: None,
        client_cert: None,
        identd: None,
    }
}

/// A connection to a local fake server that registers it at once and then answers nothing,
/// with a flood bucket that lets `burst` lines after `CAP LS` out and then (practically) no more.
async fn paced_conn(burst: u32, backlog_cap: usize) -> (Conn, tokio::net::TcpStream, Tasks) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    // One token more for the `CAP LS 302` that starts registration.
    let burst = burst + 1;
    let server: ServerConfig = serde_norway::from_str(&format!(
        "address: 127.0.0.1\nport: {port}\nflood: {{burst: {burst}, per_second: 0.001}}\n"
    ))
    .expect("server config");
    let config = ConnConfig {
        backlog_cap,
        ..test_config(server)
    };
    let tasks = Tasks::new();
    let (events, _events_rx) = mpsc::unbounded_channel();
    let conn = Conn::spawn(config, ConnectLimiter::new(1), events, &tasks);
    let (mut socket, _) = listener.accept().await.expect("accept");
    socket
        .write_all(b":irc.test 001 tester :Welcome\r\n")
        .await
        .expect("welcome");
    conn.wait_registered(Duration::from_secs(5))
        .await
        .expect("registered");
    // CAP LS, NICK and USER are out: the backlog starts empty.
    tokio::time::timeout(Duration::from_secs(5), async {
        while conn.shared.backlog() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("registration lines written");
    (conn, socket, tasks)
}

#[tokio::test]
async fn a_message_finding_the_backlog_at_the_cap_is_refused() {
    // NICK and USER take two of three tokens; each message is its line plus a PING, so the
    // third message finds three or four lines waiting, the second at most two.
    let (conn, _socket, _tasks) = paced_conn(3, 3).await;
    let first = conn.queue_confirmed("#c", vec!["PRIVMSG #c :one".into()], REQUEST_WAIT);
    let second = conn.queue_confirmed("#c", vec!["PRIVMSG #c :two".into()], REQUEST_WAIT);
    let third = conn.queue_confirmed("#c", vec!["PRIVMSG #c :three".into()], REQUEST_WAIT);
    let verdict = tokio::time::timeout(Duration::from_secs(5), third)
        .await
        .expect("refused at once, not queued");
    match verdict {
        Err(IrcFailure::BackedUp { target, lines }) => {
            assert_eq!(target, "#c");
            assert!(lines >= 3, "{lines}");
        }
        other => panic!("expected BackedUp, got {other:?}"),
    }
    // The earlier messages stay queued (their verdicts are still pending).
    for earlier in [Box::pin(first), Box::pin(second)] {
        let pending = tokio::time::timeout(Duration::from_millis(100), earlier).await;
        assert!(pending.is_err(), "an earlier message got {pending:?}");
    }
}

#[tokio::test]
async fn protocol_lines_are_queued_past_the_cap() {
    let (conn, _socket, _tasks) = paced_conn(2, 1).await;
    for i in 0..5 {
        conn.send(vec![format!("MODE #c{i}")]);
    }
    // The session handles commands in order; a confirmed send behind them sees their backlog.
    let verdict = tokio::time::timeout(
        Duration::from_secs(5),
        conn.queue_confirmed("#c", vec!["PRIVMSG #c :hi".into()], REQUEST_WAIT),
    )
    .await
    .expect("refused at once");
    assert!(matches!(verdict, Err(IrcFailure::BackedUp { lines, .. }) if lines >= 5));
    assert!(conn.shared.backlog() >= 5);
}

/// How long the tests give a request (never reached: refusals are immediate).
const REQUEST_WAIT: Duration = Duration::from_secs(30);

#[test]
fn sasl_mechanism_follows_the_auth() {
    use super::session::sasl_failure;
    let plain = Auth::Sasl {
        account: "a".into(),
        password: "p".into(),
    };
    assert_eq!(plain.sasl_mechanism(), Some("PLAIN"));
    assert_eq!(Auth::External.sasl_mechanism(), Some("EXTERNAL"));
    assert_eq!(Auth::ServerPassword("p".into()).sasl_mechanism(), None);
    // A refused certificate is explained as such; a refused password as before.
    assert_eq!(
        sasl_failure(Some(IrcFailure::SaslFailed), Some(&Auth::External)),
        Some(IrcFailure::CertFpRefused)
    );
    assert_eq!(
        sasl_failure(Some(IrcFailure::SaslFailed), Some(&plain)),
        Some(IrcFailure::SaslFailed)
    );
    assert_eq!(
        sasl_failure(Some(IrcFailure::NickLocked), Some(&Auth::External)),
        Some(IrcFailure::NickLocked)
    );
}

/// A fake server that reads what a connection sends until `until` appears.
async fn read_until(socket: &mut tokio::net::TcpStream, until: &str) -> String {
    use tokio::io::AsyncReadExt;
    let mut seen = String::new();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(Duration::from_secs(5), async {
        while !seen.contains(until) {
            let n = socket.read(&mut buf).await.expect("read");
            assert!(n > 0, "closed; saw {seen:?}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {until:?}; saw {seen:?}"));
    seen
}

#[tokio::test]
async fn sasl_external_answers_the_challenge_with_plus_and_registers_with_the_identd() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server: ServerConfig =
        serde_norway::from_str(&format!("address: 127.0.0.1\nport: {port}\n")).expect("server");
    let identd = crate::identd::IdentRegistry::default();
    let config = ConnConfig {
        ident: "tident".into(),
        auth: Some(Auth::External),
        identd: Some(identd.clone()),
        ..test_config(server)
    };
    let tasks = Tasks::new();
    let (events, _events_rx) = mpsc::unbounded_channel();
    let conn = Conn::spawn(config, ConnectLimiter::new(1), events, &tasks);
    let (mut socket, client) = listener.accept().await.expect("accept");
    // Registered for ident lookups by (its port, our port), asked from our address (as soon
    // as its task runs after the connect: the identd allows for that moment too).
    tokio::time::timeout(Duration::from_secs(5), async {
        while identd.is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("registered");
    assert_eq!(
        identd.lookup(client.port(), port, client.ip()).as_deref(),
        Some("tident")
    );
    let state = conn.state();
    assert_eq!(state.local_addr, Some(client));
    assert_eq!(state.peer_addr.map(|a| a.port()), Some(port));
    read_until(&mut socket, "CAP LS 302").await;
    socket
        .write_all(b":irc.test CAP * LS :sasl=PLAIN,EXTERNAL\r\n")
        .await
        .expect("ls");
    read_until(&mut socket, "CAP REQ :sasl").await;
    socket
        .write_all(b":irc.test CAP * ACK :sasl\r\n")
        .await
        .expect("ack");
    read_until(&mut socket, "AUTHENTICATE EXTERNAL\r\n").await;
    socket.write_all(b"AUTHENTICATE +\r\n").await.expect("+");
    let seen = read_until(&mut socket, "AUTHENTICATE +\r\n").await;
    assert!(!seen.contains("PLAIN"), "{seen}");
    socket
        .write_all(b":irc.test 903 tester :SASL authentication successful\r\n")
        .await
        .expect("903");
    read_until(&mut socket, "CAP END").await;
    conn.quit("bye");
    drop(socket);
    // The lease ends with the connection.
    tokio::time::timeout(Duration::from_secs(5), async {
        while !identd.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("unregistered after the connection ended");
    tasks.shutdown(Duration::from_secs(1)).await;
}

/// Every connection's event and command channels allocate a block of 32 items when they are
/// made: a big item makes every idle puppet bigger (an unboxed line made the block 7.5 KiB).
#[test]
fn connection_events_and_commands_stay_small() {
    assert!(std::mem::size_of::<super::ConnEvent>() <= 64);
    assert!(std::mem::size_of::<super::Cmd>() <= 32);
}
