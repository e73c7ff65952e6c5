//! Rotated sets: `access.log.3.gz access.log.2.gz access.log.1 access.log`
//! must be read oldest first, whatever order the shell or the user gave.
//!
//! Files are grouped by their base name (the name with a rotation suffix
//! removed); groups keep the order in which they were first named, and within
//! a group the oldest comes first: the highest `.N`, then lower ones, dated
//! suffixes (`-20260301`) in date order, and the live file last.

use std::path::PathBuf;

/// (base name, age rank): higher rank = older.
fn split(p: &std::path::Path) -> (String, i64) {
    let name = p.to_string_lossy().into_owned();
    let mut stem = name.as_str();
    for ext in [".gz", ".bz2", ".xz", ".zst"] {
        if let Some(s) = stem.strip_suffix(ext) {
            stem = s;
            break;
        }
    }
    // logrotate's numeric suffix: base.N
    if let Some(dot) = stem.rfind('.') {
        let suf = &stem[dot + 1..];
        if !suf.is_empty() && suf.len() <= 6 && suf.bytes().all(|b| b.is_ascii_digit()) {
            let n: i64 = suf.parse().unwrap_or(0);
            return (stem[..dot].to_owned(), 1_000_000_000_000 + n);
        }
    }
    // dateext: base-YYYYMMDD[HH]: older dates rank higher.
    if let Some(dash) = stem.rfind(['-', '.', '_']) {
        let suf = &stem[dash + 1..];
        if (8..=10).contains(&suf.len()) && suf.bytes().all(|b| b.is_ascii_digit()) {
            let d: i64 = suf.parse().unwrap_or(0);
            return (stem[..dash].to_owned(), 1_000_000_000_000 - d);
        }
    }
    (stem.to_owned(), 0)
}

/// The name a file's rotated set goes by (`access.log` for
/// `access.log.2.gz`).
pub fn base(p: &std::path::Path) -> String {
    split(p).0
}

pub fn order(files: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut groups: Vec<(String, Vec<(i64, PathBuf)>)> = Vec::new();
    for f in files {
        let (base, rank) = split(&f);
        match groups.iter_mut().find(|(b, _)| *b == base) {
            Some((_, v)) => v.push((rank, f)),
            None => groups.push((base, vec![(rank, f)])),
        }
    }
    let mut out = Vec::new();
    for (_, mut v) in groups {
        v.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        out.extend(v.into_iter().map(|(_, p)| p));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(names: &[&str]) -> Vec<String> {
        order(names.iter().map(PathBuf::from).collect())
            .into_iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn numeric_rotation_oldest_first() {
        assert_eq!(
            o(&[
                "access.log",
                "access.log.1",
                "access.log.10.gz",
                "access.log.2.gz",
                "access.log.3.gz"
            ]),
            vec![
                "access.log.10.gz",
                "access.log.3.gz",
                "access.log.2.gz",
                "access.log.1",
                "access.log"
            ]
        );
    }

    #[test]
    fn dated_rotation_and_separate_groups() {
        assert_eq!(
            o(&["b.log", "a.log", "a.log-20260302.gz", "a.log-20260301.gz"]),
            vec!["b.log", "a.log-20260301.gz", "a.log-20260302.gz", "a.log"]
        );
    }
}
