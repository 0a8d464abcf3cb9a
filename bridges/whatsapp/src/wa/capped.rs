//! A download sink held to `limits.media_max_bytes`: whatsapp-rust decrypts a download into a
//! writer as it arrives, so a writer that refuses to grow past the cap stops the download
//! there, whatever size the message announced.

use std::io::{Cursor, Seek, SeekFrom, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ferrybridge_core::media_cap::MediaCap;
use whatsapp_rust::wacore::download::DownloadWriter;

/// An in-memory sink that fails writes past the cap and remembers that it did (the download
/// error itself does not say why it failed).
pub(super) struct CappedWriter {
    inner: Cursor<Vec<u8>>,
    limit: u64,
    overflowed: Arc<AtomicBool>,
}

impl CappedWriter {
    /// A sink for at most `cap` bytes; the flag turns true when something went past it.
    pub(super) fn new(cap: MediaCap) -> (Self, Arc<AtomicBool>) {
        let overflowed = Arc::new(AtomicBool::new(false));
        let writer = Self {
            inner: Cursor::new(Vec::new()),
            limit: cap.limit(),
            overflowed: overflowed.clone(),
        };
        (writer, overflowed)
    }

    /// The bytes written.
    pub(super) fn into_inner(self) -> Vec<u8> {
        self.inner.into_inner()
    }
}

impl Write for CappedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let end = self.inner.position().saturating_add(buf.len() as u64);
        if end > self.limit {
            self.overflowed.store(true, Ordering::Relaxed);
            return Err(std::io::Error::other("the file is over the size limit"));
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Seek for CappedWriter {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

impl DownloadWriter for CappedWriter {
    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        DownloadWriter::truncate(&mut self.inner, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_past_the_cap_fail_and_are_flagged() {
        let (mut w, flag) = CappedWriter::new(MediaCap::new(10));
        w.write_all(b"0123456789").unwrap();
        assert!(!flag.load(Ordering::Relaxed));
        assert!(w.write_all(b"x").is_err());
        assert!(flag.load(Ordering::Relaxed));
        // Rewinding and rewriting within the cap is fine (a retry on another host).
        let (mut w, flag) = CappedWriter::new(MediaCap::new(4));
        w.write_all(b"abcd").unwrap();
        DownloadWriter::truncate(&mut w, 0).unwrap();
        w.rewind().unwrap();
        w.write_all(b"efgh").unwrap();
        assert!(!flag.load(Ordering::Relaxed));
        assert_eq!(w.into_inner(), b"efgh");
    }
}
