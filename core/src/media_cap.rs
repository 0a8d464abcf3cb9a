//! The one media size cap (`limits.media_max_bytes`): how a transfer is held to it (the size
//! announced up front, then the bytes counted while reading) and how a refusal reads in a chat.
//!
//! Every path that moves a file through the bridge's memory (network downloads, uploads to
//! Matrix, Matrix downloads for a network, the media-link proxy) checks the same cap, so no
//! single message can make the bridge hold more than `media_max_bytes` of it.

use crate::events::MessageContent;

/// A file over the cap: its size when known (announced or counted), and the cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct TooLarge {
    /// The file's size, when it was announced; `None` when reading was cut at the cap.
    pub size: Option<u64>,
    /// The cap in force.
    pub limit: u64,
}

impl TooLarge {
    fn describe(&self) -> String {
        match self.size {
            Some(size) => format!(
                "the file is too large to bridge ({}, limit {})",
                human_bytes(size),
                human_bytes(self.limit)
            ),
            None => format!(
                "the file is too large to bridge (over the {} limit)",
                human_bytes(self.limit)
            ),
        }
    }
}

/// The cap for one transfer; cheap to copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaCap {
    limit: u64,
}

impl MediaCap {
    /// A cap of `limit` bytes (`limits.media_max_bytes`).
    pub fn new(limit: u64) -> Self {
        Self { limit }
    }

    /// The cap in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Checks a size announced before the transfer (Content-Length, a network's file size).
    pub fn check(&self, announced: Option<u64>) -> Result<(), TooLarge> {
        match announced {
            Some(size) if size > self.limit => Err(TooLarge {
                size: Some(size),
                limit: self.limit,
            }),
            _ => Ok(()),
        }
    }

    /// A counter for the bytes of one transfer.
    pub fn counter(&self) -> ByteCounter {
        ByteCounter {
            limit: self.limit,
            seen: 0,
        }
    }
}

/// Counts the bytes of one transfer as they arrive; refuses the chunk that goes past the cap,
/// so a reader stops there whatever size was announced.
#[derive(Clone, Debug)]
pub struct ByteCounter {
    limit: u64,
    seen: u64,
}

impl ByteCounter {
    /// Adds `n` bytes just read.
    pub fn add(&mut self, n: usize) -> Result<(), TooLarge> {
        self.seen = self.seen.saturating_add(n as u64);
        if self.seen > self.limit {
            return Err(TooLarge {
                size: None,
                limit: self.limit,
            });
        }
        Ok(())
    }

    /// Bytes counted so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }
}

/// `n` bytes for people: `512 B`, `1.5 KiB`, `100 MiB`, `2.3 GiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let text = format!("{value:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text} {}", UNITS[unit])
}

/// What a chat shows instead of a file over the cap: `📎 file.mp4 (2.3 GiB) was too large to
/// bridge (limit 100 MiB)`, then the caption, as an `m.notice` from the sender, so the
/// message is still there and nothing is dropped silently.
pub fn refused_content(filename: &str, caption: &str, err: &TooLarge) -> MessageContent {
    let name = if filename.is_empty() {
        "a file"
    } else {
        filename
    };
    let size = match err.size {
        Some(size) => format!(" ({})", human_bytes(size)),
        None => String::new(),
    };
    let limit = human_bytes(err.limit);
    let line = match err.size {
        Some(_) => format!("📎 {name}{size} was too large to bridge (limit {limit})"),
        None => format!("📎 {name} was too large to bridge (over the {limit} limit)"),
    };
    let caption = caption.trim();
    let body = if caption.is_empty() || caption == filename {
        line
    } else {
        format!("{line}\n{caption}")
    };
    MessageContent::notice(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::MessageKind;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1000), "1000 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(100 * 1024 * 1024), "100 MiB");
        assert_eq!(human_bytes(2_469_606_195), "2.3 GiB");
        assert_eq!(human_bytes(u64::MAX), "16384 PiB");
    }

    #[test]
    fn announced_sizes_are_checked() {
        let cap = MediaCap::new(1000);
        assert!(cap.check(None).is_ok());
        assert!(cap.check(Some(1000)).is_ok());
        assert_eq!(
            cap.check(Some(1001)),
            Err(TooLarge {
                size: Some(1001),
                limit: 1000
            })
        );
    }

    #[test]
    fn the_counter_stops_at_the_chunk_past_the_cap() {
        let mut counter = MediaCap::new(10).counter();
        assert!(counter.add(6).is_ok());
        assert!(counter.add(4).is_ok());
        assert_eq!(counter.seen(), 10);
        assert_eq!(
            counter.add(1),
            Err(TooLarge {
                size: None,
                limit: 10
            })
        );
        let mut huge = MediaCap::new(u64::MAX).counter();
        assert!(huge.add(usize::MAX).is_ok());
        assert!(huge.add(usize::MAX).is_ok(), "saturates, never wraps");
    }

    #[test]
    fn refusals_name_the_file_the_size_and_the_cap() {
        let err = TooLarge {
            size: Some(2_469_606_195),
            limit: 100 * 1024 * 1024,
        };
        let c = refused_content("film.mp4", "look at this", &err);
        assert_eq!(c.kind, MessageKind::Notice);
        assert_eq!(
            c.body,
            "📎 film.mp4 (2.3 GiB) was too large to bridge (limit 100 MiB)\nlook at this"
        );
        let cut = TooLarge {
            size: None,
            limit: 1000,
        };
        assert_eq!(
            refused_content("a.bin", "a.bin", &cut).body,
            "📎 a.bin was too large to bridge (over the 1000 B limit)"
        );
        assert_eq!(
            err.to_string(),
            "the file is too large to bridge (2.3 GiB, limit 100 MiB)"
        );
    }
}
