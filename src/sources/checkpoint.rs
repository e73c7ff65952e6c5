//! Where `check` stopped in each file, and the state file that carries it
//! (and the engine's state) from one run to the next.
//!
//! A file is identified by device + inode and by a fingerprint: a hash of its
//! first bytes (decompressed for gzip), with the number of bytes hashed. A
//! file still shorter than the fingerprint length is fingerprinted over what
//! it has and re-fingerprinted as it grows. So a rotated file is recognised
//! under its new name (and even once compressed), a truncated file reads from
//! the start, and a new file that reuses an inode is not mistaken for the old.
//!
//! The state file is gzip-compressed, versioned JSON, written atomically:
//! temporary file, fsync, rename, fsync of the directory. A run killed at
//! any point leaves the previous state intact.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::state::stable_hash;

/// Bytes hashed to recognise a file.
pub const FINGERPRINT_BYTES: usize = 1024;
pub const STATE_VERSION: u32 = 2;
const MAGIC: &str = "apiwatch-state";

/// How far one file was read.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Checkpoint {
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
    pub fp_len: u32,
    pub fp: u64,
    /// Bytes consumed (decompressed bytes for gzip).
    pub offset: u64,
    pub gzip: bool,
    /// Wall-clock time (Unix seconds) of the last run that saw the file.
    /// A file missing from a run (moved away for a while, or left out of
    /// the arguments once) keeps its checkpoint for [`KEEP_UNSEEN_SECS`],
    /// so that it is not read again from the start when it is back. Absent
    /// from older state files: taken as the time of the run that reads it.
    #[serde(default)]
    pub seen: Option<i64>,
}

/// How long a checkpoint outlives its file (see [`Checkpoint::seen`]).
pub const KEEP_UNSEEN_SECS: i64 = 7 * 86_400;
/// At most this many checkpoints of files not seen are kept (the most
/// recently seen): a state file stays small whatever comes and goes.
pub const MAX_UNSEEN: usize = 256;

/// Identity of a file on disk now.
#[derive(Clone, Debug)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub gzip: bool,
    /// The first bytes (decompressed), up to FINGERPRINT_BYTES.
    pub head: Vec<u8>,
}

impl FileId {
    pub fn of(path: &Path) -> io::Result<FileId> {
        use std::os::unix::fs::MetadataExt;
        let md = fs::metadata(path)?;
        let gzip = super::is_gzip(path)?;
        let mut head = Vec::with_capacity(FINGERPRINT_BYTES);
        let f = File::open(path)?;
        let mut r: Box<dyn Read> = if gzip {
            Box::new(super::gz::Members::new(io::BufReader::new(f)))
        } else {
            Box::new(f)
        };
        // A damaged gzip just gives a shorter head.
        let _ = r
            .by_ref()
            .take(FINGERPRINT_BYTES as u64)
            .read_to_end(&mut head);
        Ok(FileId {
            dev: md.dev(),
            ino: md.ino(),
            size: md.len(),
            gzip,
            head,
        })
    }

    /// Does this file start like the checkpointed one?
    pub fn matches(&self, c: &Checkpoint) -> bool {
        let n = c.fp_len as usize;
        n > 0 && self.head.len() >= n && stable_hash(&self.head[..n]) == c.fp
    }

    /// The file `c` was taken of: same device and inode, and the same first
    /// bytes, or none then (an empty file, read from its start whatever it
    /// holds now).
    pub fn same_file(&self, c: &Checkpoint) -> bool {
        c.dev == self.dev && c.ino == self.ino && (c.fp_len == 0 || self.matches(c))
    }

    pub fn checkpoint(&self, path: &Path, offset: u64) -> Checkpoint {
        let n = self
            .head
            .len()
            .min(offset.max(1) as usize)
            .min(FINGERPRINT_BYTES);
        let n = if offset == 0 { 0 } else { n };
        Checkpoint {
            path: path.to_owned(),
            dev: self.dev,
            ino: self.ino,
            fp_len: n as u32,
            fp: stable_hash(&self.head[..n]),
            offset,
            gzip: self.gzip,
            seen: None,
        }
    }
}

/// The head of the state file; the engine's state follows it.
#[derive(Debug, Serialize)]
struct HeadOut<'a> {
    format: &'a str,
    version: u32,
    files: &'a [Checkpoint],
}

/// Read loosely first, so that another version is named as such rather
/// than reported as corrupt.
#[derive(Deserialize)]
struct HeadIn {
    format: Option<String>,
    version: Option<u64>,
    files: Option<Box<serde_json::value::RawValue>>,
}

/// The engine state, still to be read from the file (see `Engine::load`).
pub type EngineStream = serde_json::Deserializer<serde_json::de::IoRead<Box<dyn Read>>>;

/// A state file being read: the checkpoints, and the engine state after
/// them. Call [`StateFile::finish`] once the engine has read its part.
pub struct StateFile {
    pub files: Vec<Checkpoint>,
    pub engine: EngineStream,
    path: PathBuf,
}

impl StateFile {
    /// Check that nothing follows the engine state and that the gzip stream
    /// ends cleanly (its checksum is only verified at the end).
    pub fn finish(mut self) -> anyhow::Result<()> {
        let path = self.path.clone();
        self.engine.end().map_err(|e| corrupt(&path, e))
    }
}

fn corrupt(path: &Path, e: serde_json::Error) -> anyhow::Error {
    if e.is_io() {
        anyhow::anyhow!(
            "state file {} is corrupt (not a complete gzip stream: {e})",
            crate::alerts::escape::path(path)
        )
    } else {
        anyhow::anyhow!(
            "state file {} is corrupt (invalid JSON: {e})",
            crate::alerts::escape::path(path)
        )
    }
}

/// Open a state file and read its head. `Ok(None)` when there is none
/// (first run). The engine state is read from the stream afterwards, so a
/// large state is never held whole in memory.
pub fn read_state(path: &Path) -> anyhow::Result<Option<StateFile>> {
    let file = match File::open(path) {
        // An empty file (created beforehand, say by configuration
        // management) holds no state yet: a first run. (Not a device such
        // as /dev/null, which reads empty too.)
        Ok(f) if f.metadata().is_ok_and(|m| m.is_file() && m.len() == 0) => return Ok(None),
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "cannot read state file {}",
                    crate::alerts::escape::path(path)
                )
            });
        }
    };
    let reader: Box<dyn Read> = Box::new(io::BufReader::new(flate2::read::GzDecoder::new(
        io::BufReader::new(file),
    )));
    let mut de = serde_json::Deserializer::from_reader(reader);
    let head = HeadIn::deserialize(&mut de).map_err(|e| corrupt(path, e))?;
    if head.format.as_deref() != Some(MAGIC) {
        bail!(
            "{} is not an apiwatch state file",
            crate::alerts::escape::path(path)
        );
    }
    let version = head.version.unwrap_or(0);
    if version != STATE_VERSION as u64 {
        bail!(
            "state file {} has version {version}, this apiwatch reads version {STATE_VERSION}",
            crate::alerts::escape::path(path)
        );
    }
    let files = match head.files {
        Some(raw) => serde_json::from_str(raw.get()).map_err(|e| corrupt(path, e))?,
        None => Vec::new(),
    };
    Ok(Some(StateFile {
        files,
        engine: de,
        path: path.to_owned(),
    }))
}

/// Write a state file atomically: the head with the checkpoints, then
/// whatever `engine` writes, gzip-compressed as it goes.
pub fn write_state(
    path: &Path,
    files: &[Checkpoint],
    engine: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp.{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state"),
        std::process::id()
    ));
    let result = (|| -> anyhow::Result<()> {
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        // Level 2: zlib-rs's level 1 is a faster, coarser deflate that made
        // the busiest state files 40% larger (29.7 vs 20.8 MB, measured on
        // 110 MB of state JSON); level 2 costs 0.3 s more there.
        let gz = flate2::write::GzEncoder::new(io::BufWriter::new(f), flate2::Compression::new(2));
        // serde_json writes in small pieces: buffer them before deflate.
        let mut w = io::BufWriter::with_capacity(1 << 16, gz);
        let head = HeadOut {
            format: MAGIC,
            version: STATE_VERSION,
            files,
        };
        serde_json::to_writer(&mut w, &head)?;
        w.write_all(b"\n")?;
        engine(&mut w)?;
        let gz = w.into_inner().map_err(|e| e.into_error())?;
        let f = gz.finish()?.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| {
        format!(
            "cannot write state file {}",
            crate::alerts::escape::path(path)
        )
    })
}

/// An exclusive lock beside the state file, held for the whole run.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

pub fn lock(state: &Path) -> anyhow::Result<Lock> {
    // Said before the lock beside it is made (`dir/.lock`, or a lock in a
    // directory the check may not write): no state could be written there,
    // and a device such as /dev/null must not be renamed over.
    if let Ok(m) = fs::metadata(state)
        && !m.is_file()
    {
        let what = match m.is_dir() {
            true => "a directory",
            false => "not a regular file",
        };
        bail!(
            "state file {} is {what}; name a file (it need not exist yet)",
            crate::alerts::escape::path(state)
        );
    }
    // The directory is not made here: a path mistyped in a crontab would
    // otherwise leave state somewhere no later run looks.
    if let Some(dir) = state.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        bail!(
            "the state file's directory {} does not exist; create it (or name a state file in an existing directory)",
            crate::alerts::escape::path(dir)
        );
    }
    let mut p = state.as_os_str().to_owned();
    p.push(".lock");
    let path = PathBuf::from(p);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| {
            format!(
                "cannot open lock file {}",
                crate::alerts::escape::path(&path)
            )
        })?;
    match file.try_lock() {
        Ok(()) => {
            let _ = file.set_len(0);
            let _ = writeln!(file, "{}", std::process::id());
            Ok(Lock { _file: file })
        }
        Err(fs::TryLockError::WouldBlock) => {
            bail!(
                "another apiwatch check is running with state {} (lock {} is held)",
                crate::alerts::escape::path(state),
                crate::alerts::escape::path(&path)
            )
        }
        Err(fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", crate::alerts::escape::path(&path)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.state");
        assert!(read_state(&p).unwrap().is_none());
        write_state(&p, &[], |w| {
            w.write_all(br#"{"x":1}"#)?;
            Ok(())
        })
        .unwrap();
        let mut back = read_state(&p).unwrap().unwrap();
        assert!(back.files.is_empty());
        let v = serde_json::Value::deserialize(&mut back.engine).unwrap();
        assert_eq!(v, serde_json::json!({"x": 1}));
        back.finish().unwrap();
        fs::write(&p, b"garbage").unwrap();
        let e = read_state(&p).err().unwrap().to_string();
        assert!(e.contains("corrupt"), "{e}");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(br#"{"format":"apiwatch-state","version":99,"files":[],"engine":{}}"#)
            .unwrap();
        fs::write(&p, gz.finish().unwrap()).unwrap();
        assert!(
            read_state(&p)
                .err()
                .unwrap()
                .to_string()
                .contains("version 99")
        );
        // A state cut short is found out when the engine's part is read.
        write_state(&p, &[], |w| {
            w.write_all(&[b' '; 100_000])?;
            w.write_all(br#"{"x":1}"#)?;
            Ok(())
        })
        .unwrap();
        let bytes = fs::read(&p).unwrap();
        fs::write(&p, &bytes[..bytes.len() - 12]).unwrap();
        let mut back = read_state(&p).unwrap().unwrap();
        let r = serde_json::Value::deserialize(&mut back.engine)
            .map_err(|e| corrupt(&p, e))
            .and_then(|_| back.finish());
        assert!(r.unwrap_err().to_string().contains("corrupt"));
    }

    #[test]
    fn second_lock_fails() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.state");
        let _l = lock(&p).unwrap();
        assert!(
            lock(&p)
                .unwrap_err()
                .to_string()
                .contains("another apiwatch check")
        );
    }

    #[test]
    fn fingerprints_follow_growth_not_names() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a.log");
        fs::write(&a, b"line one\n").unwrap();
        let id = FileId::of(&a).unwrap();
        let c = id.checkpoint(&a, 9);
        fs::write(&a, b"line one\nline two\n").unwrap();
        assert!(
            FileId::of(&a).unwrap().matches(&c),
            "a grown file is the same file"
        );
        let b = d.path().join("a.log.1");
        fs::rename(&a, &b).unwrap();
        assert!(
            FileId::of(&b).unwrap().matches(&c),
            "a renamed file is the same file"
        );
        fs::write(&a, b"other content\n").unwrap();
        assert!(!FileId::of(&a).unwrap().matches(&c), "a new file is not");
    }
}
