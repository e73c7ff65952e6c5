//! Decompression on its own thread (`scan` on several threads).
//!
//! Inflating gzip costs about as much as parsing and routing the lines it
//! yields, and both ran on the reading thread, which on two cores bounds the
//! run. [`ReadAhead`] moves the decoder to a thread of its own: it fills
//! chunks and hands them over a bounded channel, and the reading thread
//! copies them out as a plain reader would. Bytes, their order and where a
//! read error falls are unchanged: the decoder stops at its first error and
//! hands it over after the bytes before it, so the lines before it are still
//! read, and the compressed-byte count shows where the damage is, as without
//! it.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Bytes per chunk handed over.
const CHUNK: usize = 256 << 10;
/// Chunks decoded ahead of the reader, at most (1 MB).
const AHEAD: usize = 4;

/// A reader whose source is read on another thread.
pub struct ReadAhead {
    full: Receiver<io::Result<Vec<u8>>>,
    /// Emptied chunks go back for reuse.
    empty: SyncSender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl ReadAhead {
    pub fn new<R: Read + Send + 'static>(mut inner: R) -> ReadAhead {
        let (full_tx, full) = sync_channel(AHEAD);
        let (empty, empty_rx) = sync_channel::<Vec<u8>>(AHEAD + 1);
        std::thread::Builder::new()
            .name("decompress".into())
            .spawn(move || {
                loop {
                    let mut buf = empty_rx.try_recv().unwrap_or_default();
                    buf.resize(CHUNK, 0);
                    let (n, err) = fill(&mut inner, &mut buf);
                    buf.truncate(n);
                    // A send fails only when the reader is gone: stop.
                    if n > 0 && full_tx.send(Ok(buf)).is_err() {
                        return;
                    }
                    match err {
                        Some(e) => {
                            let _ = full_tx.send(Err(e));
                            return;
                        }
                        // End of stream: dropping the sender says so.
                        None if n < CHUNK => return,
                        None => {}
                    }
                }
            })
            .expect("spawning the decompression thread");
        ReadAhead {
            full,
            empty,
            cur: Vec::new(),
            pos: 0,
        }
    }
}

/// Read into `buf` until it is full, the stream ends or a read fails:
/// the bytes read, and the error if one ended it.
fn fill<R: Read>(inner: &mut R, buf: &mut [u8]) -> (usize, Option<io::Error>) {
    let mut n = 0;
    while n < buf.len() {
        match inner.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (n, Some(e)),
        }
    }
    (n, None)
}

impl Read for ReadAhead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.cur.len() {
            let next = match self.full.recv() {
                Ok(Ok(chunk)) => chunk,
                Ok(Err(e)) => return Err(e),
                // The decoder finished (or stopped after an error).
                Err(_) => return Ok(0),
            };
            let done = std::mem::replace(&mut self.cur, next);
            // Full only if the decoder stopped; then the chunk is dropped.
            let _ = self.empty.try_send(done);
            self.pos = 0;
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its bytes a few at a time, then fails (if told to).
    struct Dribble {
        data: Vec<u8>,
        at: usize,
        fail: bool,
    }

    impl Read for Dribble {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            if self.at == self.data.len() {
                return if self.fail {
                    Err(io::Error::new(io::ErrorKind::InvalidData, "cut short"))
                } else {
                    Ok(0)
                };
            }
            let n = b.len().min(7).min(self.data.len() - self.at);
            b[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    fn read_all(r: &mut ReadAhead) -> (Vec<u8>, Option<io::Error>) {
        let mut got = Vec::new();
        let mut buf = [0u8; 1000];
        loop {
            match r.read(&mut buf) {
                Ok(0) => return (got, None),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => return (got, Some(e)),
            }
        }
    }

    #[test]
    fn every_byte_comes_through_in_order() {
        // Lengths around chunk boundaries, and more chunks than the channel
        // holds.
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, CHUNK * (AHEAD + 3) + 17] {
            let want = data(len);
            let inner = Dribble {
                data: want.clone(),
                at: 0,
                fail: false,
            };
            let (got, err) = read_all(&mut ReadAhead::new(inner));
            assert!(err.is_none(), "len {len}");
            assert_eq!(got, want, "len {len}");
        }
    }

    #[test]
    fn a_read_error_comes_after_the_bytes_before_it() {
        for len in [0, 5, CHUNK, CHUNK * 2 + 3] {
            let want = data(len);
            let inner = Dribble {
                data: want.clone(),
                at: 0,
                fail: true,
            };
            let mut r = ReadAhead::new(inner);
            let (got, err) = read_all(&mut r);
            assert_eq!(got, want, "len {len}");
            assert_eq!(err.expect("the error").kind(), io::ErrorKind::InvalidData);
            // And then the stream has ended.
            assert_eq!(r.read(&mut [0u8; 10]).unwrap(), 0);
        }
    }

    /// Sets its flag when dropped (with the decoder thread that owns it).
    struct Watched(Dribble, std::sync::Arc<std::sync::atomic::AtomicBool>);

    impl Read for Watched {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            self.0.read(b)
        }
    }

    impl Drop for Watched {
        fn drop(&mut self) {
            self.1.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn dropping_the_reader_early_stops_the_decoder() {
        let gone = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let inner = Dribble {
            data: data(CHUNK * 50),
            at: 0,
            fail: false,
        };
        let mut r = ReadAhead::new(Watched(inner, gone.clone()));
        let mut buf = [0u8; 10];
        assert_eq!(r.read(&mut buf).unwrap(), 10);
        // The decoder is blocked on a full channel, or soon will be.
        drop(r);
        let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !gone.load(std::sync::atomic::Ordering::SeqCst) {
            assert!(
                std::time::Instant::now() < until,
                "the decoder thread still runs"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}
