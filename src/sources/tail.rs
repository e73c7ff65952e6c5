//! Following a live file through rotation and truncation.
//!
//! A [`Follower`] owns one path. Each [`Follower::poll`] reads what was
//! appended since the last one and hands complete lines to a callback. It
//! notices when the path now names another file (logrotate's rename and
//! create, nginx USR1, delete and recreate) and first reads the rest of the
//! old file through the handle it still holds, then switches; it notices a
//! file shorter than what was read (`copytruncate`) and starts over from the
//! top. A line still being written is held until its newline arrives. The
//! clock is the caller's: polling is driven from outside, so tests need no
//! sleeps.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CHUNK: usize = 64 * 1024;

/// What a poll delivers.
pub enum Tailed<'a> {
    Line(&'a [u8], Pos),
    /// A line over the length cap: its first bytes and its length.
    TooLong(&'a [u8], u64, Pos),
    /// Something the operator should know (rotation, truncation).
    Note(String),
}

/// Where a line is: its number in its file (counted from where following
/// it began, and from 1 again after a truncation), and whether that file
/// has been rotated away from the path followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    pub line: u64,
    pub rotated: bool,
}

/// How long a rotated-away file is still read after the path moved on:
/// nginx keeps writing to the renamed file until logrotate's postrotate
/// signal makes it reopen its log.
pub const ROTATE_WAIT: Duration = Duration::from_secs(30);

/// An open file and where we are in it.
struct Handle {
    file: File,
    dev: u64,
    ino: u64,
    /// Bytes read.
    offset: u64,
    /// The unterminated tail of what was read.
    partial: Vec<u8>,
    /// Skipping the rest of an over-long line (its length so far).
    skipping: Option<u64>,
    /// Last time it grew (for rotated-away files).
    grew: Instant,
    /// Lines handed out (see [`Pos`]).
    lines: u64,
    rotated: bool,
}

pub struct Follower {
    pub path: PathBuf,
    cur: Option<Handle>,
    /// Files rotated away from the path, still read for ROTATE_WAIT.
    old: Vec<Handle>,
    max_line: usize,
    chunk: Vec<u8>,
    /// The path exists but could not be opened (said once).
    unopenable: bool,
    /// Bytes read from every file followed (see [`Follower::bytes_read`]).
    read: u64,
}

impl Follower {
    /// Follow `path`; `from_end` starts at the current end of an existing
    /// file (tail's default), otherwise at its start.
    pub fn new(path: PathBuf, from_end: bool, max_line: usize) -> Follower {
        let mut f = Follower {
            path,
            cur: None,
            old: Vec::new(),
            max_line,
            chunk: vec![0; CHUNK],
            unopenable: false,
            read: 0,
        };
        if let Ok(file) = File::open(&f.path)
            && let Ok(md) = file.metadata()
        {
            let offset = if from_end { md.len() } else { 0 };
            f.cur = Some(Handle::new(file, &md, offset));
        }
        f
    }

    /// Bytes read from the files followed since the start, as they are on
    /// disk: line ends (CRLF too), a byte-order mark and the unterminated
    /// start of a line still being written included.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// Read whatever is new. `emit` gets every complete line in order: the
    /// rest of rotated-away files first, then the current one.
    pub fn poll(&mut self, emit: &mut dyn FnMut(Tailed<'_>)) -> io::Result<()> {
        let (max, chunk, read) = (self.max_line, &mut self.chunk, &mut self.read);
        for h in self.old.iter_mut() {
            h.drain(max, chunk, read, emit)?;
        }
        self.old.retain_mut(|h| {
            if h.grew.elapsed() < ROTATE_WAIT {
                return true;
            }
            h.flush_partial(emit);
            false
        });
        let current = fs::metadata(&self.path).ok();
        let Some(h) = self.cur.as_mut() else {
            // Not there yet (or gone): open it when it appears. One that is
            // there but cannot be opened is said once, and tried again.
            if let Some(md) = current {
                let file = match File::open(&self.path) {
                    Ok(f) => {
                        self.unopenable = false;
                        f
                    }
                    Err(e) => {
                        if !std::mem::replace(&mut self.unopenable, true) {
                            emit(Tailed::Note(format!(
                                "cannot open {} ({e}); trying again at every poll",
                                self.path.display()
                            )));
                        }
                        return Ok(());
                    }
                };
                emit(Tailed::Note(format!(
                    "{} appeared; following it",
                    self.path.display()
                )));
                let mut h = Handle::new(file, &md, 0);
                h.drain(max, chunk, read, emit)?;
                self.cur = Some(h);
            }
            return Ok(());
        };
        let same = current
            .as_ref()
            .is_some_and(|m| m.dev() == h.dev && m.ino() == h.ino);
        if same {
            let len = current.as_ref().map_or(0, |m| m.len());
            if len < h.offset {
                emit(Tailed::Note(format!(
                    "{} was truncated; reading it from the start",
                    self.path.display()
                )));
                h.file.seek(SeekFrom::Start(0))?;
                (h.offset, h.lines) = (0, 0);
                h.partial.clear();
                h.skipping = None;
            }
            return h.drain(max, chunk, read, emit);
        }
        // Renamed or deleted: finish the old file through our handle and
        // keep reading it for a while, then take the new one from its start.
        let mut old = self.cur.take().expect("checked above");
        old.rotated = true;
        old.drain(max, chunk, read, emit)?;
        old.grew = Instant::now();
        self.old.push(old);
        if let Some(md) = current
            && let Ok(file) = File::open(&self.path)
        {
            emit(Tailed::Note(format!(
                "{} was rotated; following the new file",
                self.path.display()
            )));
            let mut h = Handle::new(file, &md, 0);
            h.drain(max, chunk, read, emit)?;
            self.cur = Some(h);
        }
        Ok(())
    }
}

impl Handle {
    fn new(file: File, md: &fs::Metadata, offset: u64) -> Handle {
        Handle {
            file,
            dev: md.dev(),
            ino: md.ino(),
            offset,
            partial: Vec::new(),
            skipping: None,
            grew: Instant::now(),
            lines: 0,
            rotated: false,
        }
    }

    /// The position of the next line handed out.
    fn next_pos(&mut self) -> Pos {
        self.lines += 1;
        Pos {
            line: self.lines,
            rotated: self.rotated,
        }
    }

    /// A rotated-away file's last line may lack its newline: deliver it.
    fn flush_partial(&mut self, emit: &mut dyn FnMut(Tailed<'_>)) {
        if let Some(n) = self.skipping.take() {
            let pos = self.next_pos();
            emit(Tailed::TooLong(&self.partial, n, pos));
        } else if !self.partial.is_empty() {
            let pos = self.next_pos();
            emit(Tailed::Line(&self.partial, pos));
        }
        self.partial.clear();
    }

    /// Read to the end of the file, handing out its complete lines; the
    /// bytes read are added to `read`.
    fn drain(
        &mut self,
        max_line: usize,
        chunk: &mut [u8],
        read: &mut u64,
        emit: &mut dyn FnMut(Tailed<'_>),
    ) -> io::Result<()> {
        if self.file.stream_position()? != self.offset {
            self.file.seek(SeekFrom::Start(self.offset))?;
        }
        loop {
            let n = match self.file.read(chunk) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let at = self.offset;
            self.offset += n as u64;
            *read += n as u64;
            self.grew = Instant::now();
            let mut data = &chunk[..n];
            if at == 0 {
                // A byte-order mark opening the file is not part of its
                // first line (as `LineReader` has it for scan and check).
                data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
            }
            while let Some(nl) = memchr::memchr(b'\n', data) {
                let piece = &data[..nl];
                data = &data[nl + 1..];
                let pos = self.next_pos();
                if let Some(skipped) = self.skipping.take() {
                    emit(Tailed::TooLong(
                        &self.partial,
                        skipped + piece.len() as u64,
                        pos,
                    ));
                    self.partial.clear();
                    continue;
                }
                let l: &[u8] = if self.partial.is_empty() {
                    piece
                } else {
                    self.partial.extend_from_slice(piece);
                    &self.partial
                };
                let l = l.strip_suffix(b"\r").unwrap_or(l);
                if l.len() > max_line {
                    emit(Tailed::TooLong(&l[..160.min(l.len())], l.len() as u64, pos));
                } else {
                    emit(Tailed::Line(l, pos));
                }
                self.partial.clear();
            }
            // Keep the unterminated rest, but never more than the cap.
            match self.skipping.as_mut() {
                Some(s) => *s += data.len() as u64,
                None => {
                    self.partial.extend_from_slice(data);
                    if self.partial.len() > max_line {
                        self.skipping = Some(self.partial.len() as u64);
                        self.partial.truncate(160);
                    }
                }
            }
        }
    }
}

/// Paths that exist for a pattern now (a plain path is kept even if absent:
/// it may appear later).
pub fn expand_pattern(p: &str) -> Vec<PathBuf> {
    // An existing file is followed as named, glob characters or not.
    if p.contains(['*', '?', '[']) && !Path::new(p).exists() {
        let mut v: Vec<PathBuf> = glob::glob(p)
            .map(|g| g.filter_map(Result::ok).filter(|p| p.is_file()).collect())
            .unwrap_or_default();
        v.sort();
        v
    } else {
        vec![Path::new(p).to_owned()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines(f: &mut Follower) -> Vec<String> {
        let mut v = Vec::new();
        f.poll(&mut |t| match t {
            Tailed::Line(l, _) => v.push(String::from_utf8_lossy(l).into_owned()),
            Tailed::TooLong(_, n, _) => v.push(format!("LONG{n}")),
            Tailed::Note(_) => {}
        })
        .unwrap();
        v
    }

    fn append(p: &Path, s: &str) {
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .unwrap()
            .write_all(s.as_bytes())
            .unwrap();
    }

    /// Lines as they are completed, from the end when told so. The bytes
    /// read (what `--stats` counts for `tail`) are those on disk since the
    /// start: CRLF ends, a long line skipped and a line still being written
    /// included.
    #[test]
    fn follows_appends_partials_and_starts_at_end() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.log");
        append(&p, "old\n");
        let mut f = Follower::new(p.clone(), true, 10);
        assert!(lines(&mut f).is_empty());
        assert_eq!(f.bytes_read(), 0);
        let more = "one\r\nx\n\n0123456789abc\r\ntw";
        append(&p, more);
        assert_eq!(lines(&mut f), vec!["one", "x", "", "LONG13"]);
        assert_eq!(f.bytes_read(), more.len() as u64);
        append(&p, "o\n");
        assert_eq!(lines(&mut f), vec!["two"]);
        assert_eq!(f.bytes_read(), more.len() as u64 + 2);
    }

    /// As `scan` and `check` read it: a byte-order mark opening the file
    /// is dropped, one further on is the line's.
    #[test]
    fn a_byte_order_mark_opening_the_file_is_dropped() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.log");
        let all = "\u{feff}one\n\u{feff}two\n";
        append(&p, all);
        let mut f = Follower::new(p.clone(), false, 1000);
        assert_eq!(lines(&mut f), vec!["one", "\u{feff}two"]);
        // Read, so counted.
        assert_eq!(f.bytes_read(), all.len() as u64);
    }

    #[test]
    fn rename_rotation_reads_the_rest_of_the_old_file_first() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.log");
        append(&p, "1\n");
        let mut f = Follower::new(p.clone(), false, 1000);
        assert_eq!(lines(&mut f), vec!["1"]);
        append(&p, "2\n");
        fs::rename(&p, d.path().join("a.log.1")).unwrap();
        append(&d.path().join("a.log.1"), "3\n"); // late write to the old file
        append(&p, "4\n");
        assert_eq!(lines(&mut f), vec!["2", "3", "4"]);
        append(&p, "5\n");
        assert_eq!(lines(&mut f), vec!["5"]);
    }

    /// Lines with their numbers, `r` marking a rotated-away file's.
    fn numbered(f: &mut Follower) -> Vec<String> {
        let mut v = Vec::new();
        let mut put = |l: &[u8], p: Pos| {
            let r = if p.rotated { "r" } else { "" };
            v.push(format!("{}@{}{r}", String::from_utf8_lossy(l), p.line))
        };
        f.poll(&mut |t| match t {
            Tailed::Line(l, p) => put(l, p),
            Tailed::TooLong(_, n, p) => put(format!("LONG{n}").as_bytes(), p),
            Tailed::Note(_) => {}
        })
        .unwrap();
        v
    }

    /// Each file's lines are numbered on their own: a rotated-away file
    /// goes on from where it was (and says it was rotated), the new file
    /// starts from 1, and so does a file truncated in place.
    #[test]
    fn lines_are_numbered_per_file_through_rotation_and_truncation() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.log");
        append(&p, "1\n2\n");
        let mut f = Follower::new(p.clone(), false, 10);
        assert_eq!(numbered(&mut f), vec!["1@1", "2@2"]);
        fs::rename(&p, d.path().join("a.log.1")).unwrap();
        append(&d.path().join("a.log.1"), "3\n");
        append(&p, "new\n");
        assert_eq!(numbered(&mut f), vec!["3@3r", "new@1"]);
        append(&d.path().join("a.log.1"), &format!("{}\n", "x".repeat(20)));
        append(&p, "new2\n");
        assert_eq!(numbered(&mut f), vec!["LONG20@4r", "new2@2"]);
        fs::write(&p, b"").unwrap();
        append(&p, "again\n");
        assert_eq!(numbered(&mut f), vec!["again@1"]);
    }

    #[test]
    fn late_writes_to_a_rotated_file_are_still_read() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.log");
        append(&p, "1\n");
        let mut f = Follower::new(p.clone(), false, 1000);
        assert_eq!(lines(&mut f), vec!["1"]);
        fs::rename(&p, d.path().join("a.log.1")).unwrap();
        append(&p, "new\n");
        assert_eq!(lines(&mut f), vec!["new"]);
        // nginx has not reopened yet: it still writes to the renamed file.
        append(&d.path().join("a.log.1"), "late\n");
        append(&p, "new2\n");
        assert_eq!(lines(&mut f), vec!["late", "new2"]);
    }

    #[test]
    fn copytruncate_and_delete_recreate() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.log");
        append(&p, "1\n2\n");
        let mut f = Follower::new(p.clone(), false, 1000);
        assert_eq!(lines(&mut f), vec!["1", "2"]);
        fs::write(&p, b"").unwrap();
        append(&p, "3\n");
        assert_eq!(lines(&mut f), vec!["3"]);
        fs::remove_file(&p).unwrap();
        assert!(lines(&mut f).is_empty());
        append(&p, "4\n");
        assert_eq!(lines(&mut f), vec!["4"]);
    }

    #[test]
    fn missing_file_is_picked_up_and_long_lines_are_bounded() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("later.log");
        let mut f = Follower::new(p.clone(), true, 100);
        assert!(lines(&mut f).is_empty());
        append(&p, &format!("a\n{}\nb\n", "x".repeat(300_000)));
        assert_eq!(lines(&mut f), vec!["a", "LONG300000", "b"]);
        assert!(f.cur.as_ref().unwrap().partial.capacity() < 300_000);
    }
}
