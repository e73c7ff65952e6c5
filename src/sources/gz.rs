//! Gzip members read as one stream.

use std::io::{self, BufRead, Read};

use flate2::bufread::GzDecoder;

/// Concatenated gzip members as one stream (`cat a.gz b.gz`), as
/// `flate2`'s `MultiGzDecoder` reads them, except that zero bytes after a
/// member, to the end (the padding that tape and block tools write), end
/// the stream, as `gzip -d` takes them, instead of failing as a damaged
/// header. Anything else after a member is read as a member, and fails as
/// one if it is not.
pub struct Members<R: BufRead> {
    member: Option<GzDecoder<R>>,
}

impl<R: BufRead> Members<R> {
    pub fn new(r: R) -> Self {
        Members {
            member: Some(GzDecoder::new(r)),
        }
    }
}

impl<R: BufRead> Read for Members<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(m) = &mut self.member else {
                return Ok(0);
            };
            let n = m.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // The member ended: a bufread decoder has read none of what
            // follows it.
            let mut rest = self.member.take().expect("a member").into_inner();
            if !padding_to_end(&mut rest)? {
                self.member = Some(GzDecoder::new(rest));
            }
        }
    }
}

/// True at the end of the input, or when only zero bytes are left (read
/// past); false when another member (or damage) follows. Zeros and then
/// anything else is damage.
fn padding_to_end(r: &mut impl BufRead) -> io::Result<bool> {
    let mut zeros = false;
    loop {
        // Retried here: an error would lose the member's reader.
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(true);
        }
        match buf.iter().position(|&b| b != 0) {
            None => {
                let n = buf.len();
                r.consume(n);
                zeros = true;
            }
            // Another member, or (without gzip's magic bytes) something
            // else: named as such, where the decoder would say only
            // "unexpected end of file" or "invalid gzip header".
            Some(0) if !zeros && (buf == [0x1f] || buf.starts_with(&[0x1f, 0x8b])) => {
                return Ok(false);
            }
            Some(0) if !zeros => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "data after the last gzip member that is not gzip (trailing garbage)",
                ));
            }
            Some(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "data after zero padding at the end of a gzip member",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    fn read(data: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Members::new(io::BufReader::with_capacity(16, data)).read_to_end(&mut out)?;
        Ok(out)
    }

    /// Members one after another, with or without zero padding after the
    /// last, read as their concatenation; zeros followed by data, or
    /// garbage after a member, are errors.
    #[test]
    fn members_padding_and_damage() {
        let (a, b) = (gz(b"one\n"), gz(b"two\n"));
        let both = [a.clone(), b.clone()].concat();
        assert_eq!(read(&both).unwrap(), b"one\ntwo\n");
        let padded = [both.clone(), vec![0; 1000]].concat();
        assert_eq!(read(&padded).unwrap(), b"one\ntwo\n");
        assert_eq!(read(&[a.clone(), vec![0; 3]].concat()).unwrap(), b"one\n");
        assert!(read(&[padded.clone(), b"x".to_vec()].concat()).is_err());
        let e = read(&[a.clone(), b"garbage".to_vec()].concat()).unwrap_err();
        assert!(e.to_string().contains("trailing garbage"), "{e}");
        assert!(read(&a[..a.len() - 3]).is_err(), "truncated");
    }

    /// Input that is interrupted once, where the first member ends.
    struct Hiccup<'a> {
        data: &'a [u8],
        pos: usize,
        at: usize,
        interrupted: bool,
    }

    impl Read for Hiccup<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let b = self.fill_buf()?;
            let n = b.len().min(buf.len());
            buf[..n].copy_from_slice(&b[..n]);
            self.consume(n);
            Ok(n)
        }
    }

    impl BufRead for Hiccup<'_> {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            if self.pos == self.at && !self.interrupted {
                self.interrupted = true;
                return Err(io::ErrorKind::Interrupted.into());
            }
            let end = if self.pos < self.at {
                self.at
            } else {
                self.data.len()
            };
            Ok(&self.data[self.pos..end])
        }
        fn consume(&mut self, n: usize) {
            self.pos += n;
        }
    }

    /// An interrupted read where a member ends loses nothing: the next
    /// member is still read (without the retry, all after it was lost).
    #[test]
    fn an_interrupted_read_between_members_loses_nothing() {
        let (a, b) = (gz(b"one\n"), gz(b"two\n"));
        let both = [a.clone(), b].concat();
        let input = Hiccup {
            data: &both,
            pos: 0,
            at: a.len(),
            interrupted: false,
        };
        let mut out = Vec::new();
        Members::new(input).read_to_end(&mut out).unwrap();
        assert_eq!(out, b"one\ntwo\n");
    }
}
