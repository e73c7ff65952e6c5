//! The fast path of the JSON walk, for the lines gateways actually write:
//! strings without escapes, plain numbers, and nesting only where the key
//! trie leads. It captures exactly what the serde walk ([`super::MapSeed`])
//! captures, and gives up (`None`) on anything else: an escape or a
//! control byte in a string, nesting deeper than [`MAX_DEPTH`], or any
//! syntax it does not expect. The caller then walks the line with
//! serde_json, which also decides whether it is valid JSON at all, so the
//! fast path never accepts a line serde_json would reject.
//!
//! serde_json's generic visitor machinery cost about a quarter of the time
//! of an API Gateway JSON line end to end; this walk is a few byte loops.

use super::{Capture, Hints, Node, Slot, Target};

/// Deeper than this, serde_json decides (its own limit is 128).
const MAX_DEPTH: u32 = 64;

/// Walk `body` (UTF-8, starting with `{`) into `cap`. `None`: not the
/// common case; `cap` may hold partial captures and must be reset.
pub(super) fn walk(
    body: &[u8],
    root: &Node,
    hints: &mut Hints,
    cap: &mut Capture<'_>,
) -> Option<()> {
    let mut s = Scan {
        b: body,
        i: 0,
        hints,
    };
    s.object(Some(root), cap, 0)?;
    s.ws();
    (s.i == s.b.len()).then_some(())
}

/// The first byte at or after `i` that ends the plain part of a string: a
/// quote, a backslash or a control byte. Eight bytes at a time: strings in
/// access logs are mostly short, too short for a call into `memchr`.
fn special(b: &[u8], i: usize) -> Option<usize> {
    use crate::formats::fields::{bytes_below, equal_bytes, find_by_word};
    find_by_word(
        b,
        i,
        |w| equal_bytes(w, b'"') | equal_bytes(w, b'\\') | bytes_below(w, 0x20),
        |c| c == b'"' || c == b'\\' || c < 0x20,
    )
}

struct Scan<'l> {
    b: &'l [u8],
    i: usize,
    /// Key positions of the top-level object (see [`Node::child_at`]).
    hints: &'l mut Hints,
}

impl Scan<'_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// The next byte after whitespace.
    fn next(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    /// A string without escapes at `i` (on its opening quote): its span
    /// without the quotes.
    fn string(&mut self) -> Option<(usize, usize)> {
        let start = self.i + 1;
        let end = special(self.b, start)?;
        // An escape, or a raw control byte (which serde_json rejects).
        if self.b[end] != b'"' {
            return None;
        }
        self.i = end + 1;
        Some((start, end))
    }

    /// A number at `i`, as serde_json reads it: plain integers here, the
    /// rest by serde_json itself (so rounding is the same as on the slow
    /// path).
    fn number(&mut self) -> Option<f64> {
        let b = self.b;
        let start = self.i;
        let mut i = start;
        while let Some(b'0'..=b'9') = b.get(i) {
            i += 1;
        }
        let digits = i - start;
        let plain = !matches!(b.get(i), Some(b'.' | b'e' | b'E' | b'+' | b'-'));
        if plain && (1..=18).contains(&digits) && (digits == 1 || b[start] != b'0') {
            self.i = i;
            return Some(super::decimal(&b[start..i]) as f64);
        }
        while let Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') = b.get(i) {
            i += 1;
        }
        let text = std::str::from_utf8(&b[start..i]).ok()?;
        let v: f64 = serde_json::from_str(text).ok()?;
        self.i = i;
        Some(v)
    }

    fn literal(&mut self) -> Option<()> {
        let rest = &self.b[self.i..];
        for lit in [&b"true"[..], b"false", b"null"] {
            if rest.starts_with(lit) {
                self.i += lit.len();
                return Some(());
            }
        }
        None
    }

    /// An object at `i` whose keys are looked up under `node` (none: an
    /// object skipped whole).
    fn object(&mut self, node: Option<&Node>, cap: &mut Capture<'_>, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.i += 1;
        if self.next()? == b'}' {
            self.i += 1;
            return Some(());
        }
        let mut k = 0;
        loop {
            if self.next()? != b'"' {
                return None;
            }
            let (s, e) = self.string()?;
            if self.next()? != b':' {
                return None;
            }
            self.i += 1;
            let c = self.next()?;
            let key = &self.b[s..e];
            let child = match node {
                Some(n) if depth == 0 => n.child_at(key, k, self.hints),
                Some(n) => n.child_bytes(key),
                None => None,
            };
            k += 1;
            match child {
                Some(child) => match child.leaf {
                    Some((t, prio)) => self.leaf_value(t, prio, cap, depth + 1)?,
                    None if c == b'{' => self.object(Some(child), cap, depth + 1)?,
                    None => self.skip(cap, depth + 1)?,
                },
                None => self.skip(cap, depth + 1)?,
            }
            match self.next()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// The value of a wanted key, as [`super::ValueSeed`] takes it: a
    /// string or number is captured, an array gives its first element,
    /// anything else is skipped.
    fn leaf_value(&mut self, t: Target, prio: u8, cap: &mut Capture<'_>, depth: u32) -> Option<()> {
        match self.next()? {
            b'"' => {
                let (s, e) = self.string()?;
                cap.put_span(t, prio, s, e);
            }
            b'[' => {
                if depth > MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                if self.next()? == b']' {
                    self.i += 1;
                    return Some(());
                }
                self.leaf_value(t, prio, cap, depth + 1)?;
                self.rest_of_array(cap, depth)?;
            }
            b'{' => self.skip(cap, depth)?,
            b't' | b'f' | b'n' => self.literal()?,
            _ => {
                let v = self.number()?;
                cap.put(t, prio, Slot::Num(v));
            }
        }
        Some(())
    }

    /// After an array's first element: skip the others and the `]`.
    fn rest_of_array(&mut self, cap: &mut Capture<'_>, depth: u32) -> Option<()> {
        loop {
            match self.next()? {
                b',' => {
                    self.i += 1;
                    self.skip(cap, depth + 1)?;
                }
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Any value, checked and skipped.
    fn skip(&mut self, cap: &mut Capture<'_>, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.next()? {
            b'"' => {
                self.string()?;
            }
            b'{' => self.object(None, cap, depth)?,
            b'[' => {
                self.i += 1;
                if self.next()? == b']' {
                    self.i += 1;
                    return Some(());
                }
                self.skip(cap, depth + 1)?;
                self.rest_of_array(cap, depth)?;
            }
            b't' | b'f' | b'n' => self.literal()?,
            _ => {
                self.number()?;
            }
        }
        Some(())
    }
}
