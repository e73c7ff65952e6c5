//! Which inputs `scan` and `check` read as one stream merged in time order
//! (see [`crate::sources::merge`]): the rotated sets that share the most
//! common format. The others are read one by one after them.

use std::path::PathBuf;

use crate::config::FormatChoice;
use crate::formats::detect::detect;
use crate::sources::merge::{Merged, Set};
use crate::sources::{Input, rotated};

use super::{DETECT_LINES, MAX_HEAD_LINES, Pump};

/// Sets merged into one stream.
pub struct Merge {
    /// What messages call the stream.
    pub name: String,
    pub stream: Merged,
    /// Files left to read one by one after it (another format, or not
    /// recognised), with their start offsets.
    pub rest: Vec<(Input, u64)>,
}

/// Files as rotated sets (consecutive files of one base name, as inputs and
/// plans are ordered), each file with the offset to start from.
pub fn rotated_sets(files: impl IntoIterator<Item = (PathBuf, u64)>) -> Vec<Vec<(Input, u64)>> {
    let mut groups: Vec<(String, Vec<(Input, u64)>)> = Vec::new();
    for (p, start) in files {
        let base = rotated::base(&p);
        let file = (Input::File(p), start);
        match groups.last_mut() {
            Some((b, v)) if *b == base => v.push(file),
            _ => groups.push((base, vec![file])),
        }
    }
    groups.into_iter().map(|(_, v)| v).collect()
}

/// Merge `groups` (rotated sets, each its files oldest first with the
/// offset to start from) when at least two share a format. `resuming`
/// (`check`) leaves each file's unterminated last line for the next run.
/// `None` reads everything one after the other: fewer than two sets of any
/// one format.
pub fn merged(pump: &Pump, groups: Vec<Vec<(Input, u64)>>, resuming: bool) -> Option<Merge> {
    if groups.len() < 2 {
        return None;
    }
    let cfg = &pump.cfg;
    /// What a set read ahead turned out to be.
    enum Layout {
        /// Nothing to tell it by (empty files): it joins any merge.
        Blank,
        Unrecognised,
        /// A format (with its fallbacks) and the parser to read its times.
        Known(String, Box<dyn crate::formats::LineParser>),
    }
    let mut candidates = Vec::new();
    for files in groups {
        let mut set = if resuming {
            Set::resuming(files.clone())
        } else {
            Set::new(files.iter().map(|(i, _)| i.clone()).collect())
        };
        let mut errors = Vec::new();
        let mut want = DETECT_LINES;
        let mut sample = set.head(want, MAX_HEAD_LINES, cfg.max_line, &mut errors);
        loop {
            let refs: Vec<&[u8]> = sample.iter().map(|v| v.as_slice()).collect();
            let blank = refs.iter().all(|l| l.iter().all(u8::is_ascii_whitespace));
            if blank || !super::look_further(cfg, want, &refs) {
                break;
            }
            // Read again from the lines held, and as far again.
            want *= 2;
            let more = set.head(want, MAX_HEAD_LINES, cfg.max_line, &mut errors);
            if more.len() == sample.len() {
                break;
            }
            sample = more;
        }
        let refs: Vec<&[u8]> = sample.iter().map(|v| v.as_slice()).collect();
        let found = match &cfg.format {
            FormatChoice::Fixed(spec) => {
                Some((spec.name().to_owned(), spec.build(&cfg.format_opts)))
            }
            FormatChoice::Auto if refs.iter().all(|l| l.iter().all(u8::is_ascii_whitespace)) => {
                candidates.push((files, set, Layout::Blank, errors));
                continue;
            }
            FormatChoice::Auto => detect(&refs, &cfg.format_opts).map(|d| {
                let mut names = vec![d.primary.name()];
                names.extend(d.fallbacks.iter().map(|f| f.name()));
                (names.join("+"), d.build(&cfg.format_opts))
            }),
        };
        let layout = match found {
            Some((name, Ok(parser))) => Layout::Known(name, parser),
            _ => Layout::Unrecognised,
        };
        candidates.push((files, set, layout, errors));
    }
    // The format most sets share (the first named of equals).
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for (_, _, layout, _) in &candidates {
        if let Layout::Known(l, _) = layout {
            match counts.iter_mut().find(|(x, _)| x == l) {
                Some((_, n)) => *n += 1,
                None => counts.push((l, 1)),
            }
        }
    }
    // What each set is, for the messages: `a.log: combined, b.log: not
    // recognised`.
    let described = |which: &dyn Fn(&Layout) -> bool| {
        let mut v = Vec::new();
        for (files, _, layout, _) in &candidates {
            if which(layout) {
                let what = match layout {
                    Layout::Blank => "no lines",
                    Layout::Unrecognised => "not recognised",
                    Layout::Known(l, _) => l,
                };
                v.push(format!("{}: {what}", files[0].0.display()));
            }
        }
        v.join(", ")
    };
    // `check` runs every few minutes: a fallback it reports every run is
    // noise at warning level, and the reading itself is still complete.
    let say = |msg: String| {
        if resuming {
            tracing::info!("{msg}");
        } else {
            tracing::warn!("{msg}");
        }
    };
    let best = counts.iter().rev().max_by_key(|c| c.1).copied();
    let Some((best, 2..)) = best else {
        let mixed = counts.len() > 1
            || candidates
                .iter()
                .any(|c| matches!(c.2, Layout::Unrecognised));
        if mixed {
            say(format!(
                "Inputs are not all in one recognised format ({}): reading them one after the other, not merged in time order.",
                described(&|l| !matches!(l, Layout::Blank))
            ));
        }
        return None;
    };
    let set_apart = described(&|l| match l {
        Layout::Known(f, _) => *f != best,
        Layout::Unrecognised => true,
        Layout::Blank => false,
    });
    let best = best.to_owned();
    let (mut sets, mut errors, mut names, mut rest) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (files, mut set, layout, errs) in candidates {
        match layout {
            Layout::Known(l, parser) if l == best => set.set_parser(parser),
            Layout::Blank => {}
            _ => {
                rest.extend(files);
                continue;
            }
        }
        names.extend(files.iter().map(|(i, _)| i.display()));
        sets.push(set);
        errors.extend(errs);
    }
    if !rest.is_empty() {
        say(format!(
            "{set_apart}: read after the others, not merged in time order (another format, or not recognised)."
        ));
    }
    // What messages call the stream (malformed-line samples name each
    // line's own file and line: see `Stats::name_merged`).
    let name = if names.len() <= 4 {
        format!("{} (merged by time)", names.join(" + "))
    } else {
        format!(
            "{} + {} more files (merged by time)",
            names[..3].join(" + "),
            names.len() - 3
        )
    };
    tracing::info!(
        sets = sets.len(),
        "Reading {} as one stream, merged in time order.",
        names.join(", ")
    );
    Some(Merge {
        name,
        stream: Merged::new(sets, cfg.max_line, errors),
        rest,
    })
}
