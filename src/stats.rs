//! Run statistics: what was read, parsed and skipped (by reason, with a few
//! escaped samples), throughput, and what the engine kept or evicted. Printed
//! by `--stats` on stderr, or as a `"type":"summary"` JSON line.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use crate::alerts::escape::{escape, escape_with_len};
use crate::formats::{Malformed, MalformedKind};
use crate::sources::merge::Origin;

const SAMPLES_PER_KIND: usize = 3;
const SAMPLE_BYTES: usize = 200;

#[derive(Debug, Default, Serialize, Clone)]
pub struct MalformedStat {
    pub count: u64,
    /// `input:line: reason: escaped line`
    pub samples: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Stats {
    pub lines: u64,
    pub blank: u64,
    pub parsed: u64,
    pub malformed: u64,
    pub malformed_by_reason: BTreeMap<&'static str, MalformedStat>,
    pub bytes: u64,
    /// Format chosen per input.
    pub formats: Vec<(String, String)>,
    /// Inputs that could not be read in full (damaged gzip, unreadable).
    pub input_errors: Vec<String>,
    pub allowlisted: u64,
    #[serde(skip)]
    started: Instant,
    /// Samples of lines of a merged stream, by reason and position, to be
    /// named after their file once the stream is read.
    #[serde(skip)]
    unnamed: Vec<(&'static str, usize, Origin)>,
}

/// Where a line is, for a malformed-line sample.
#[derive(Clone, Copy, Debug)]
pub enum At<'a> {
    /// Line `n` of the input called so.
    Line(&'a str, u64),
    /// A line of a merged stream, named by [`Stats::name_merged`].
    Merged(Origin),
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            lines: 0,
            blank: 0,
            parsed: 0,
            malformed: 0,
            malformed_by_reason: BTreeMap::new(),
            bytes: 0,
            formats: Vec::new(),
            input_errors: Vec::new(),
            allowlisted: 0,
            started: Instant::now(),
            unnamed: Vec::new(),
        }
    }
}

impl Stats {
    pub fn malformed(&mut self, m: Malformed, at: At<'_>, line: &[u8]) {
        self.count(m.kind, at, || {
            format!("{}: {}", m.why, escape(line, SAMPLE_BYTES))
        });
    }

    pub fn too_long(&mut self, at: At<'_>, head: &[u8], len: u64) {
        self.count(MalformedKind::TooLong, at, || {
            format!(
                "line longer than the limit: {}",
                escape_with_len(head, 80, len)
            )
        });
    }

    /// One more malformed line of `kind`, kept as a sample (`input:line:
    /// text`) while there are few of that kind.
    fn count(&mut self, kind: MalformedKind, at: At<'_>, text: impl FnOnce() -> String) {
        self.malformed += 1;
        let e = self.malformed_by_reason.entry(kind.as_str()).or_default();
        e.count += 1;
        if e.samples.len() >= SAMPLES_PER_KIND {
            return;
        }
        match at {
            At::Line(input, n) => e.samples.push(format!("{input}:{n}: {}", text())),
            At::Merged(o) => {
                self.unnamed.push((kind.as_str(), e.samples.len(), o));
                e.samples.push(text());
            }
        }
    }

    /// Malformed lines but for over-long ones and those the format knows
    /// are not requests (a proxy's notices): lines in no format this run
    /// reads.
    pub fn unreadable(&self) -> u64 {
        (MalformedKind::ALL.iter())
            .filter(|k| k.unreadable())
            .filter_map(|k| self.malformed_by_reason.get(k.as_str()))
            .map(|e| e.count)
            .sum()
    }

    /// Name the samples of a merged stream's lines after their files
    /// (`file_of`), now that it is read.
    pub fn name_merged(&mut self, file_of: impl Fn(Origin) -> String) {
        for (kind, i, o) in self.unnamed.drain(..) {
            if let Some(s) =
                (self.malformed_by_reason.get_mut(kind)).and_then(|e| e.samples.get_mut(i))
            {
                *s = format!("{}:{}: {s}", file_of(o), o.line);
            }
        }
    }

    pub fn elapsed_secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The human `--stats` block (stderr).
    pub fn render_text(&self) -> String {
        let secs = self.elapsed_secs().max(1e-9);
        let mut s = String::new();
        s.push_str(&format!(
            "lines read: {}\nparsed: {}\nblank: {}\nmalformed: {}\n",
            self.lines, self.parsed, self.blank, self.malformed
        ));
        for (k, v) in &self.malformed_by_reason {
            s.push_str(&format!("  {k}: {}\n", v.count));
            for sample in &v.samples {
                s.push_str(&format!("    {sample}\n"));
            }
        }
        for (input, fmt) in &self.formats {
            s.push_str(&format!("format of {input}: {fmt}\n"));
        }
        for e in &self.input_errors {
            s.push_str(&format!("input error: {e}\n"));
        }
        if self.allowlisted > 0 {
            s.push_str(&format!("allowlisted requests: {}\n", self.allowlisted));
        }
        s.push_str(&format!(
            "bytes: {}\nwall time: {:.3} s\nthroughput: {:.0} lines/s, {:.1} MB/s\n",
            self.bytes,
            secs,
            self.lines as f64 / secs,
            self.bytes as f64 / secs / 1e6
        ));
        s
    }

    /// The JSON summary record.
    pub fn to_json(&self) -> serde_json::Value {
        let secs = self.elapsed_secs().max(1e-9);
        let mut v = serde_json::to_value(self).expect("stats serialise");
        v["type"] = "summary".into();
        v["wall_secs"] = secs.into();
        v["lines_per_sec"] = (self.lines as f64 / secs).round().into();
        v["mb_per_sec"] = ((self.bytes as f64 / secs / 1e6 * 10.0).round() / 10.0).into();
        v
    }
}
