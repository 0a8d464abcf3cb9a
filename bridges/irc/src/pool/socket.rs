//! One pooled socket's task (see [`super::server`]).

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::server::{Out, Pool};
use super::track::SocketState;
use super::wire::{ConnKey, Event, Gen, SocketSpec};
use crate::client_cert::ClientCert;
use crate::conn::io;
use crate::line::{command_word, is_channel_chatter, parse_line};
use crate::net::lock;

/// Silence after which the pool pings the server itself (the bridge may be away), and closes
/// the socket if the silence goes on as long again.
const QUIET: Duration = Duration::from_secs(120);
const POOL_PING: &str = "PING :ferrybridge-pool";

/// The answer to a server's `PING` line: `PONG` and the ping's arguments.
fn pong_for(ping: &[u8]) -> Vec<u8> {
    let args = ping
        .windows(5)
        .position(|w| w == b"PING ")
        .map_or(&b""[..], |i| &ping[i + 5..]);
    [b"PONG ".as_slice(), args, b"\r\n"].concat()
}

/// One pooled socket: connects, answers the server's PINGs, hands every other line to the
/// event writer and writes what the bridge sends, until the socket closes or the pool stops.
pub(super) async fn run(
    key: ConnKey,
    generation: Gen,
    spec: Box<SocketSpec>,
    mut lines: mpsc::UnboundedReceiver<Vec<Vec<u8>>>,
    pool: Pool,
) {
    let Pool {
        out,
        sockets,
        tasks,
        identd,
    } = pool;
    let SocketSpec {
        server,
        channel_messages,
        client_cert_pem,
        ident,
    } = *spec;
    let cert = match client_cert_pem.map(|pem| ClientCert::from_pem(pem.as_bytes())) {
        Some(Err(e)) => {
            tracing::warn!(key = %key.as_str(), error = %e, "unusable client certificate; connecting without");
            None
        }
        Some(Ok(c)) => Some(c),
        None => None,
    };
    // Lives as long as the socket: the identd answers for it meanwhile.
    let mut ident_lease = None;
    let connect = io::connect(&server, cert.as_ref(), |local, peer| {
        ident_lease = identd.as_ref().map(|r| r.register(local, peer, &ident));
    });
    let reason = match tokio::time::timeout(Duration::from_secs(30), connect).await {
        Err(_) => "cannot connect: timed out".to_owned(),
        Ok(Err(e)) => format!("cannot connect: {e}"),
        Ok(Ok((mut reader, mut writer))) => {
            let _ = out.send(Out::Event(Event::Connected {
                key: key.clone(),
                generation,
            }));
            let mut state = SocketState::default();
            let mut last_seen = Instant::now();
            let mut pinged = false;
            loop {
                let deadline = last_seen + QUIET;
                tokio::select! {
                    read = reader.next_line() => match read {
                        Ok(true) => {
                            let buf = reader.line();
                            last_seen = Instant::now();
                            pinged = false;
                            let word = command_word(buf);
                            if word == b"PING" {
                                if writer.write_all(&pong_for(buf)).await.is_err() {
                                    break "write error".to_owned();
                                }
                                continue;
                            }
                            if word == b"PONG" && buf.ends_with(b"ferrybridge-pool") {
                                continue;
                            }
                            if matches!(
                                word,
                                b"001" | b"NICK" | b"JOIN" | b"PART" | b"KICK" | b"CAP"
                            )
                                && let Ok(parsed) = parse_line(buf)
                                && state.on_incoming(&parsed.message)
                            {
                                let _ = out.send(Out::State(key.clone(), generation, state.clone()));
                            }
                            if !channel_messages && is_channel_chatter(buf) {
                                continue;
                            }
                            let _ = out.send(Out::Event(Event::Lines { key: key.clone(), generation, lines: vec![buf.to_vec()] }));
                        }
                        Ok(false) => break "connection closed by the server".to_owned(),
                        Err(e) => break format!("read error: {e}"),
                    },
                    batch = lines.recv() => {
                        let Some(batch) = batch else { break "dropped by the pool".to_owned() };
                        let mut bytes = Vec::new();
                        for l in batch {
                            state.on_outgoing(&l);
                            bytes.extend(l.iter().filter(|b| !matches!(b, b'\r' | b'\n' | b'\0')));
                            bytes.extend_from_slice(b"\r\n");
                        }
                        if let Err(e) = writer.write_all(&bytes).await {
                            break format!("write error: {e}");
                        }
                    }
                    _ = tokio::time::sleep_until(deadline) => {
                        if pinged {
                            break format!("ping timeout ({}s without data)", (QUIET * 2).as_secs());
                        }
                        pinged = true;
                        last_seen = Instant::now();
                        let _ = writer.write_all(format!("{POOL_PING}\r\n").as_bytes()).await;
                    }
                    _ = tasks.stopping() => {
                        let _ = writer.write_all(b"QUIT :IRC connection pool stopping\r\n").await;
                        let _ = writer.shutdown().await;
                        break "the IRC connection pool stopped".to_owned();
                    }
                }
            }
        }
    };
    tracing::info!(key = %key.as_str(), generation, %reason, "pooled IRC socket closed");
    let _ = out.send(Out::Event(Event::Closed {
        key: key.clone(),
        generation,
        reason,
    }));
    let mut map = lock(&sockets);
    if map.get(&key).is_some_and(|s| s.generation == generation) {
        map.remove(&key);
        let _ = out.send(Out::Forget(key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_are_answered_with_their_arguments() {
        assert_eq!(pong_for(b"PING :abc def"), b"PONG :abc def\r\n");
        assert_eq!(pong_for(b":srv PING srv"), b"PONG srv\r\n");
        assert_eq!(pong_for(b"PING"), b"PONG \r\n");
    }
}
