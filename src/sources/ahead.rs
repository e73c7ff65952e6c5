//! How gzip is inflated: in requests of a fixed size, on the reading thread
//! or (`scan` on several threads) on a thread of its own.
//!
//! Inflating costs about as much as parsing and routing the lines it
//! yields, and both ran on the reading thread, which on two cores bounds the
//! run. [`spawn`] moves the decoder to a thread of its own: it fills chunks
//! and hands them over a bounded channel, and the reading thread copies them
//! out as a plain reader would.
//!
//! Either way the decoder is asked for exactly [`ASK`] bytes per call
//! ([`Fixed`] inline). The amount of text before damage depends on that:
//! flate2 drops what a call had inflated when that call meets a corrupt
//! block, so with requests sized by whoever reads, a file damaged mid-way
//! would yield more or fewer lines on one thread than on two. With fixed
//! requests the bytes, their order, the error and where it falls (after
//! the bytes before it) are the same in every mode and on any number of
//! threads.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Bytes asked of the decoder per call.
const ASK: usize = 32 << 10;
/// Bytes per chunk handed over from the decoder thread, at least.
const CHUNK: usize = 256 << 10;
/// Chunks decoded ahead of the reader, at most (about 1.3 MB).
const AHEAD: usize = 4;

/// One call asking `inner` for exactly `buf.len()` bytes (retried when
/// interrupted).
fn ask<R: Read + ?Sized>(inner: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match inner.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

/// A reader that asks its source for exactly [`ASK`] bytes per call,
/// whatever its own callers ask for.
pub struct Fixed<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    /// The source ended or failed: it is not asked again.
    done: bool,
}

impl<R: Read> Fixed<R> {
    pub fn new(inner: R) -> Fixed<R> {
        Fixed {
            inner,
            buf: vec![0; ASK],
            pos: 0,
            len: 0,
            done: false,
        }
    }
}

impl<R: Read> Read for Fixed<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.pos == self.len {
            if self.done {
                return Ok(0);
            }
            match ask(&mut self.inner, &mut self.buf) {
                Ok(0) => {
                    self.done = true;
                    return Ok(0);
                }
                Ok(n) => (self.pos, self.len) = (0, n),
                Err(e) => {
                    self.done = true;
                    return Err(e);
                }
            }
        }
        let n = out.len().min(self.len - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// `inner` read on a thread of its own, or, if no thread can be started,
/// inline ([`Fixed`]); the bytes are the same either way.
pub fn spawn(inner: Box<dyn Read + Send>) -> Box<dyn Read + Send> {
    let (give, take) = sync_channel::<Box<dyn Read + Send>>(1);
    let (full_tx, full) = sync_channel(AHEAD);
    let (empty, empty_rx) = sync_channel::<Vec<u8>>(AHEAD + 1);
    let started = std::thread::Builder::new()
        .name("decompress".into())
        .spawn(move || {
            let Ok(mut inner) = take.recv() else { return };
            loop {
                let mut buf = empty_rx.try_recv().unwrap_or_default();
                buf.resize(CHUNK + ASK, 0);
                let (n, end) = fill(inner.as_mut(), &mut buf);
                buf.truncate(n);
                // A send fails only when the reader is gone: stop.
                if n > 0 && full_tx.send(Ok(buf)).is_err() {
                    return;
                }
                match end {
                    None => {}
                    // End of stream: dropping the sender says so.
                    Some(Ok(())) => return,
                    Some(Err(e)) => {
                        let _ = full_tx.send(Err(e));
                        return;
                    }
                }
            }
        });
    let thread = match started {
        Ok(t) => t,
        Err(e) => {
            tracing::debug!(error = %e, "No decompression thread; inflating inline.");
            return Box::new(Fixed::new(inner));
        }
    };
    if let Err(std::sync::mpsc::SendError(inner)) = give.send(inner) {
        return Box::new(Fixed::new(inner));
    }
    Box::new(ReadAhead {
        full,
        empty,
        cur: Vec::new(),
        pos: 0,
        thread: Some(thread),
    })
}

/// Fill `buf` (room for [`CHUNK`] + [`ASK`]) with calls of [`ASK`] bytes
/// until it holds at least [`CHUNK`]: the bytes read, and whether the
/// stream ended (and how) before that.
fn fill(inner: &mut dyn Read, buf: &mut [u8]) -> (usize, Option<io::Result<()>>) {
    let mut n = 0;
    while n < CHUNK {
        match ask(inner, &mut buf[n..n + ASK]) {
            Ok(0) => return (n, Some(Ok(()))),
            Ok(k) => n += k,
            Err(e) => return (n, Some(Err(e))),
        }
    }
    (n, None)
}

/// The reading thread's end of [`spawn`].
struct ReadAhead {
    full: Receiver<io::Result<Vec<u8>>>,
    /// Emptied chunks go back for reuse.
    empty: SyncSender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    /// Until the stream has ended: then whether the decoder panicked.
    thread: Option<JoinHandle<()>>,
}

impl Read for ReadAhead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.pos == self.cur.len() {
            let next = match self.full.recv() {
                Ok(Ok(chunk)) => chunk,
                Ok(Err(e)) => return Err(e),
                // The decoder is done; a panic is not the end of the file.
                Err(_) => {
                    return match self.thread.take().map(|t| t.join()) {
                        Some(Err(_)) => Err(io::Error::other("the decompression thread failed")),
                        _ => Ok(0),
                    };
                }
            };
            let done = std::mem::replace(&mut self.cur, next);
            // Dropped if the decoder has enough spare chunks already.
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

    /// A decoder-like source: a call fails if its request reaches past
    /// `bad`, losing what it would have returned (as flate2 does on a
    /// corrupt block); otherwise it returns up to 7 bytes or `request / 3`,
    /// whichever is more. With `bad` past the end, it just ends.
    struct Lossy {
        data: Vec<u8>,
        at: usize,
        bad: usize,
        interrupt: bool,
    }

    impl Read for Lossy {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            // Every other call is interrupted, to be retried.
            self.interrupt = !self.interrupt;
            if self.interrupt {
                return Err(io::ErrorKind::Interrupted.into());
            }
            if self.at + b.len() > self.bad {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "corrupt"));
            }
            let n = (b.len() / 3)
                .max(7)
                .min(b.len())
                .min(self.data.len() - self.at);
            b[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    fn lossy(len: usize, bad: usize) -> Box<dyn Read + Send> {
        Box::new(Lossy {
            data: data(len),
            at: 0,
            bad,
            interrupt: false,
        })
    }

    /// Everything `r` gives, read `step` bytes at a time, and its error.
    fn read_all(r: &mut dyn Read, step: usize) -> (Vec<u8>, Option<io::ErrorKind>) {
        let mut got = Vec::new();
        let mut buf = vec![0u8; step];
        loop {
            match r.read(&mut buf) {
                Ok(0) => {
                    // And it stays ended.
                    assert_eq!(r.read(&mut buf).unwrap(), 0);
                    return (got, None);
                }
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => {
                    assert_eq!(r.read(&mut buf).unwrap(), 0, "ended after the error");
                    return (got, Some(e.kind()));
                }
            }
        }
    }

    #[test]
    fn every_byte_comes_through_in_order_inline_and_on_a_thread() {
        // Lengths around chunk boundaries, and more chunks than the channel
        // holds.
        for len in [
            0,
            1,
            ASK,
            CHUNK - 1,
            CHUNK,
            CHUNK + ASK,
            CHUNK * (AHEAD + 3) + 17,
        ] {
            let want = data(len);
            for step in [1000, 70_000] {
                let inline = read_all(&mut Fixed::new(lossy(len, usize::MAX)), step);
                assert_eq!((inline.0 == want, inline.1), (true, None), "len {len}");
                let ahead = read_all(spawn(lossy(len, usize::MAX)).as_mut(), step);
                assert_eq!((ahead.0 == want, ahead.1), (true, None), "len {len}");
            }
        }
    }

    #[test]
    fn damage_cuts_the_stream_at_the_same_byte_whoever_reads() {
        let len = CHUNK * 3;
        for bad in [10, ASK + 5, CHUNK - 3, CHUNK * 2 + ASK / 2] {
            let (want, err) = read_all(&mut Fixed::new(lossy(len, bad)), 1000);
            assert_eq!(err, Some(io::ErrorKind::InvalidData), "bad {bad}");
            assert!(
                want.len() < bad && data(len).starts_with(&want),
                "bad {bad}"
            );
            for step in [1, 4096, 100_000] {
                assert_eq!(
                    read_all(&mut Fixed::new(lossy(len, bad)), step),
                    (want.clone(), err),
                    "inline, bad {bad}, step {step}"
                );
                assert_eq!(
                    read_all(spawn(lossy(len, bad)).as_mut(), step),
                    (want.clone(), err),
                    "on a thread, bad {bad}, step {step}"
                );
            }
        }
    }

    /// Sets its flag when dropped (with the decoder thread that owns it).
    struct Watched(std::sync::Arc<std::sync::atomic::AtomicBool>);

    impl Read for Watched {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            b.fill(b'x');
            Ok(b.len())
        }
    }

    impl Drop for Watched {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn dropping_the_reader_early_stops_the_decoder() {
        let gone = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // An endless source: only the reader going away stops the decoder.
        let mut r = spawn(Box::new(Watched(gone.clone())));
        let mut buf = [0u8; 10];
        assert_eq!(r.read(&mut buf).unwrap(), 10);
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

    #[test]
    fn a_decoder_that_panics_is_an_error_not_an_end() {
        struct Panics;
        impl Read for Panics {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                panic!("decoder bug");
            }
        }
        let (got, err) = read_all(spawn(Box::new(Panics)).as_mut(), 100);
        assert!(got.is_empty());
        assert_eq!(err, Some(io::ErrorKind::Other));
    }
}
