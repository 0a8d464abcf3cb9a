//! A raw IRC client in one channel whose reader task answers pings and keeps what arrives, so a
//! test can write thousands of lines and count what came back without a read loop of its own
//! (the relay benchmark and the crash tests).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;

/// How long registration and the join may take.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

/// A raw IRC client joined to one channel.
pub struct Listener {
    channel: String,
    writer: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
    count: Arc<AtomicU64>,
    /// `(arrival, text)` of every channel message.
    pub got: Arc<Mutex<Vec<(Instant, String)>>>,
    /// Every other line (joins, quits, numerics), in arrival order; pings are answered, not kept.
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl Listener {
    /// Connects as `nick` and joins `channel`; returns once the server sent the channel's names.
    pub async fn connect(port: u16, nick: &str, channel: &str) -> anyhow::Result<Listener> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.set_nodelay(true)?;
        let (r, mut w) = stream.into_split();
        let mut r = BufReader::new(r);
        w.write_all(format!("NICK {nick}\r\nUSER {nick} 0 * :listener\r\n").as_bytes())
            .await?;
        let mut joined = false;
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(JOIN_TIMEOUT, r.read_line(&mut line)).await??;
            anyhow::ensure!(n > 0, "connection closed");
            if let Some(arg) = line.trim_end().strip_prefix("PING ") {
                w.write_all(format!("PONG {arg}\r\n").as_bytes()).await?;
            } else if line.split(' ').nth(1) == Some("001") && !joined {
                w.write_all(format!("JOIN {channel}\r\n").as_bytes())
                    .await?;
                joined = true;
            } else if line.split(' ').nth(1) == Some("366") {
                break;
            }
        }
        let writer = Arc::new(tokio::sync::Mutex::new(w));
        let count = Arc::new(AtomicU64::new(0));
        let got = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (wr, c, g, ls) = (writer.clone(), count.clone(), got.clone(), lines.clone());
        let marker = format!(" PRIVMSG {channel} :");
        tokio::spawn(async move {
            let mut line = String::new();
            loop {
                line.clear();
                match r.read_line(&mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let at = Instant::now();
                let l = line.trim_end();
                if let Some(arg) = l.strip_prefix("PING ") {
                    let _ = wr
                        .lock()
                        .await
                        .write_all(format!("PONG {arg}\r\n").as_bytes())
                        .await;
                } else if let Some((_, text)) = l.split_once(&marker) {
                    g.lock().unwrap().push((at, text.to_owned()));
                    c.fetch_add(1, Ordering::Relaxed);
                } else {
                    ls.lock().unwrap().push(l.to_owned());
                }
            }
        });
        Ok(Listener {
            channel: channel.to_owned(),
            writer,
            count,
            got,
            lines,
        })
    }

    /// Channel messages received so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The texts of the channel messages received so far, in arrival order.
    pub fn texts(&self) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, t)| t.clone())
            .collect()
    }

    /// How many non-message lines arrived so far (a mark for [`Listener::saw_since`]).
    pub fn mark(&self) -> usize {
        self.lines.lock().unwrap().len()
    }

    /// Whether a non-message line after `mark` matches `pred`.
    pub fn saw_since(&self, mark: usize, pred: impl Fn(&str) -> bool) -> bool {
        self.lines.lock().unwrap()[mark..].iter().any(|l| pred(l))
    }

    /// Sends `texts` to the channel in one write.
    pub async fn say(&self, texts: impl IntoIterator<Item = String>) -> anyhow::Result<()> {
        let mut buf = String::new();
        for t in texts {
            buf.push_str(&format!("PRIVMSG {} :{t}\r\n", self.channel));
        }
        self.writer.lock().await.write_all(buf.as_bytes()).await?;
        Ok(())
    }
}
