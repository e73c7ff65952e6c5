//! Where lines come from: files (plain or gzip, told apart by magic bytes),
//! globs, rotated sets read oldest first, and stdin; plus the live follower
//! (`tail`) and the checkpoints `check` keeps between runs.

pub mod ahead;
pub mod checkpoint;
pub mod gz;
pub mod merge;
pub mod reader;
pub mod rotated;
pub mod tail;

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;

pub use self::merge::LineSource;
pub use self::reader::{Line, LineReader};

/// One input as the user named it (after glob expansion).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    pub fn display(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".into(),
            Input::File(p) => crate::alerts::escape::path(p),
        }
    }
}

/// Expand the command-line arguments: `-` is stdin, arguments with glob
/// characters are expanded, and files that belong to one rotated set are put
/// oldest first. Globs that match nothing are returned as problems (the run
/// goes on with the rest and exits 3).
pub fn expand(args: &[String]) -> anyhow::Result<(Vec<Input>, Vec<String>)> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut problems = Vec::new();
    let mut out = Vec::new();
    // A file named twice (or by a glob and by name) is read once.
    let mut add = |p: PathBuf, files: &mut Vec<PathBuf>| {
        let id = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
        if seen.insert(id) {
            files.push(p);
        }
    };
    for a in args {
        if a == "-" {
            if !out.contains(&Input::Stdin) {
                out.push(Input::Stdin);
            }
            continue;
        }
        // An existing file is taken as named, even with glob characters
        // in its name (`access[1].log`).
        // Not a pattern (`old[2024.log`): a name, reported as missing like
        // any other, while the other inputs are read.
        let pattern = a.contains(['*', '?', '[']) && !Path::new(a).exists();
        if let Some(paths) = pattern.then(|| glob::glob(a).ok()).flatten() {
            let mut n = 0;
            for p in paths {
                match p {
                    Ok(p) if p.is_file() => {
                        add(p, &mut files);
                        n += 1;
                    }
                    Ok(_) => {}
                    Err(e) => problems.push(format!("reading glob {a:?}: {e}")),
                }
            }
            if n == 0 {
                problems.push(format!("no file matches {a:?}"));
            }
        } else {
            add(PathBuf::from(a), &mut files);
        }
    }
    out.extend(rotated::order(files).into_iter().map(Input::File));
    Ok((out, problems))
}

/// Shared count of compressed bytes read, to locate gzip damage.
#[derive(Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

struct Counting<R> {
    inner: R,
    n: Counter,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(b)?;
        self.n.0.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// An opened input: its lines, whether it is gzip, and a counter of raw
/// bytes read (compressed bytes for gzip).
pub struct Opened {
    pub lines: LineReader<Box<dyn Read + Send>>,
    pub gzip: bool,
    pub raw: Counter,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A compression that apiwatch does not read, by its magic bytes: its name
/// and the command that decompresses it to stdout.
fn other_compression(head: &[u8]) -> Option<(&'static str, &'static str)> {
    match head {
        [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => Some(("xz", "xz -dc")),
        // "BZh", the block size (1 to 9) and a block's or the end's magic:
        // text may well start "BZh1".
        [b'B', b'Z', b'h', b'1'..=b'9', rest @ ..]
            if rest.starts_with(b"1AY&SY") || rest.starts_with(b"\x17\x72\x45\x38\x50\x90") =>
        {
            Some(("bzip2", "bzip2 -dc"))
        }
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Some(("zstd", "zstd -dc")),
        [b'P', b'K', 3, 4, ..] => Some(("zip", "unzip -p")),
        _ => None,
    }
}

/// The first bytes of a file (fewer if it is shorter).
fn head(path: &Path) -> io::Result<([u8; 10], usize)> {
    let mut f = File::open(path)?;
    let mut m = [0u8; 10];
    let mut got = 0;
    while got < m.len() {
        match f.read(&mut m[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok((m, got))
}

/// Is this file gzip? Decided by magic bytes, never by name.
pub fn is_gzip(path: &Path) -> io::Result<bool> {
    let (m, n) = head(path)?;
    Ok(m[..n].starts_with(&GZIP_MAGIC))
}

/// Is this file compressed (gzip, or a compression apiwatch does not read)?
pub fn is_compressed(path: &Path) -> io::Result<bool> {
    let (m, n) = head(path)?;
    Ok(m[..n].starts_with(&GZIP_MAGIC) || other_compression(&m[..n]).is_some())
}

/// Refuse data compressed in a way apiwatch does not read, saying how to
/// feed it instead (its bytes would otherwise be reported as an unknown
/// log format).
fn refuse_other_compression(head: &[u8], name: &str, stdin: bool) -> anyhow::Result<()> {
    match other_compression(head) {
        Some((what, cmd)) if stdin => anyhow::bail!(
            "{name} is {what}-compressed, which apiwatch does not read (only gzip); \
             decompress it on the way in, e.g. `{cmd} FILE | apiwatch scan -`"
        ),
        Some((what, cmd)) => anyhow::bail!(
            "{name} is {what}-compressed, which apiwatch does not read (only gzip); \
             decompress it first, e.g. `{cmd} FILE > FILE.log`"
        ),
        None => Ok(()),
    }
}

/// Open a file to go on from where an earlier run stopped: `start` is the
/// offset reached then (of the decompressed stream, for gzip, which is read
/// up to it again). In a `live` file (still being written) an unterminated
/// last line is left for the next run; a gzip file is never live.
pub fn resume(input: &Input, start: u64, max_line: usize, live: bool) -> anyhow::Result<Opened> {
    let mut o = open(input, start, max_line)?;
    if live && !o.gzip {
        o.lines = o.lines.hold_partial();
    }
    if o.gzip {
        while o.lines.consumed() < start {
            if o.lines.next_line()?.is_none() {
                break;
            }
        }
        // Lines read again only to skip them are not this run's.
        let at = o.lines.consumed();
        o.lines.set_consumed(at);
    }
    Ok(o)
}

/// Open an input from `offset` (plain files only; gzip always from 0).
pub fn open(input: &Input, offset: u64, max_line: usize) -> anyhow::Result<Opened> {
    open_with(input, offset, max_line, false)
}

/// [`open`], and with `inflate_ahead` gzip is inflated on a thread of its
/// own ([`ahead`]): for `scan` on several threads, reading one file at a
/// time (merged sets keep one reader open per set).
pub fn open_with(
    input: &Input,
    offset: u64,
    max_line: usize,
    inflate_ahead: bool,
) -> anyhow::Result<Opened> {
    let raw = Counter::default();
    let inflate = |r: Box<dyn Read + Send>| -> Box<dyn Read + Send> {
        if inflate_ahead {
            ahead::spawn(r)
        } else {
            Box::new(ahead::Fixed::new(r))
        }
    };
    match input {
        Input::Stdin => {
            // Stdin may be compressed too: peek at its first bytes.
            let mut stdin = BufReader::with_capacity(1 << 16, io::stdin());
            let head = io::BufRead::fill_buf(&mut stdin).context("reading stdin")?;
            refuse_other_compression(head, "stdin", true)?;
            let gzip = head.starts_with(&GZIP_MAGIC);
            let counted = Counting {
                inner: stdin,
                n: raw.clone(),
            };
            let r: Box<dyn Read + Send> = if gzip {
                inflate(Box::new(gz::Members::new(BufReader::new(counted))))
            } else {
                Box::new(counted)
            };
            Ok(Opened {
                lines: LineReader::new(r, max_line),
                gzip,
                raw,
            })
        }
        Input::File(p) => {
            let name = crate::alerts::escape::path(p);
            let (m, n) = head(p).with_context(|| format!("cannot open {name}"))?;
            refuse_other_compression(&m[..n], &name, false)?;
            let gzip = m[..n].starts_with(&GZIP_MAGIC);
            let mut f = File::open(p).with_context(|| format!("cannot open {name}"))?;
            let start = if gzip { 0 } else { offset };
            if start > 0 {
                f.seek(SeekFrom::Start(start))?;
            }
            let counted = Counting {
                inner: f,
                n: raw.clone(),
            };
            let r: Box<dyn Read + Send> = if gzip {
                // Concatenated members are one stream (`cat a.gz b.gz`).
                inflate(Box::new(gz::Members::new(BufReader::with_capacity(
                    1 << 16,
                    counted,
                ))))
            } else {
                Box::new(counted)
            };
            let mut lines = LineReader::new(r, max_line);
            lines.set_consumed(start);
            Ok(Opened { lines, gzip, raw })
        }
    }
}
