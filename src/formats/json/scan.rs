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
    quotes: Option<&[u64]>,
    cap: &mut Capture<'_>,
) -> Option<()> {
    let mut s = Scan {
        b: body,
        i: 0,
        hints,
        quotes,
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

/// What one pass over a line found (see [`Line::of`]).
#[derive(Default)]
pub(super) struct Line {
    /// A byte with its high bit set somewhere: not an ASCII line.
    pub high: bool,
    /// A backslash or a control byte somewhere. Without one, every quote
    /// in valid JSON opens or closes a string, so the next quote after an
    /// opening one closes it.
    pub special: bool,
}

impl Line {
    /// One pass over `b`: whether it holds a byte above ASCII, whether it
    /// holds a backslash or a control byte, and (into `quotes`, bit `i % 64` of word `i / 64`)
    /// where its quotes are. With the mask, each string's end is one bit
    /// scan away; searching string by string (the fallback, [`special`])
    /// cost about a tenth of an API Gateway line's instructions.
    pub fn of(b: &[u8], quotes: &mut Vec<u64>) -> Line {
        // Do not keep the room a huge line took (a 10 MB line: 1.25 MB).
        if quotes.capacity() > 1024 {
            *quotes = Vec::new();
        }
        quotes.clear();
        quotes.reserve_exact(b.len() / 64 + 1);
        let mut l = Line::default();
        let mut chunks = b.chunks_exact(64);
        for c in chunks.by_ref() {
            quotes.push(l.add(c.try_into().expect("64 bytes")));
        }
        // The tail, padded with spaces: neither quote nor special, and
        // no high bit.
        let mut tail = [b' '; 64];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        quotes.push(l.add(&tail));
        l
    }

    /// Sixty-four bytes into the flags; their quote mask.
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    fn add(&mut self, c: &[u8; 64]) -> u64 {
        use std::arch::x86_64::*;
        let (mut q, mut sp, mut hi) = (0u64, 0, 0);
        for (k, p) in c.chunks_exact(16).enumerate() {
            // SAFETY: the cfg above guarantees SSE2 on the target; the load
            // reads the 16 bytes of `p`, unaligned.
            unsafe {
                let v = _mm_loadu_si128(p.as_ptr().cast());
                let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
                let slash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
                // Unsigned v <= 0x1f: min(v, 0x1f) == v.
                let ctrl = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
                q |= u64::from(_mm_movemask_epi8(quote) as u16) << (16 * k);
                sp |= _mm_movemask_epi8(_mm_or_si128(slash, ctrl));
                hi |= _mm_movemask_epi8(v);
            }
        }
        self.special |= sp != 0;
        self.high |= hi != 0;
        q
    }

    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    fn add(&mut self, c: &[u8; 64]) -> u64 {
        self.add_bytes(c)
    }

    /// [`Line::add`] a byte at a time: where SSE2 is missing, and in
    /// tests as the vector version's reference.
    #[cfg_attr(
        all(target_arch = "x86_64", target_feature = "sse2", not(test)),
        allow(dead_code)
    )]
    fn add_bytes(&mut self, c: &[u8; 64]) -> u64 {
        let mut q = 0u64;
        for (j, &x) in c.iter().enumerate() {
            q |= u64::from(x == b'"') << j;
            self.special |= (x == b'\\') | (x < 0x20);
            self.high |= x >= 0x80;
        }
        q
    }
}

struct Scan<'l> {
    b: &'l [u8],
    i: usize,
    /// Key positions of the top-level object (see [`Node::child_at`]).
    hints: &'l mut Hints,
    /// The line's quote mask ([`Line::of`]), when it has no backslash and
    /// no control byte.
    quotes: Option<&'l [u64]>,
}

/// The first set bit at or after `i` in `mask`.
#[inline(always)]
fn next_bit(mask: &[u64], i: usize) -> Option<usize> {
    let mut w = i / 64;
    let mut m = mask.get(w)? & (!0u64 << (i % 64));
    while m == 0 {
        w += 1;
        m = *mask.get(w)?;
    }
    Some(w * 64 + m.trailing_zeros() as usize)
}

impl Scan<'_> {
    #[inline(always)]
    fn ws(&mut self) {
        // Most calls find a byte above the space: one compare, no loop.
        while let Some(&c) = self.b.get(self.i)
            && c <= b' '
            && matches!(c, b' ' | b'\t' | b'\n' | b'\r')
        {
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
    #[inline(always)]
    fn string(&mut self) -> Option<(usize, usize)> {
        let start = self.i + 1;
        let end = match self.quotes {
            Some(q) => next_bit(q, start)?,
            None => {
                let end = special(self.b, start)?;
                // An escape, or a raw control byte (which serde_json
                // rejects).
                if self.b[end] != b'"' {
                    return None;
                }
                end
            }
        };
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
                    // A string, nearly always: taken here, without a call.
                    Some((t, prio)) if c == b'"' => {
                        let (s, e) = self.string()?;
                        cap.put_span(t, prio, s, e);
                    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    /// The vector pass finds what a byte loop finds: every quote (at
    /// every offset in its word, in full words and in the padded tail),
    /// whether there is a backslash or a control byte, and the high bit.
    #[test]
    fn line_pass_agrees_with_a_byte_loop() {
        let alphabet = [b'"', b'\\', 0x00, 0x1f, b' ', b'a', 0x7f, 0x80, 0xff, b'{'];
        let mut rng = Rng::new(7);
        let mut quotes = Vec::new();
        for n in (0..300).chain([4096, 70_000]) {
            for round in 0..20 {
                // Mostly plain letters, so that some lines have no
                // special byte at all.
                let b: Vec<u8> = (0..n)
                    .map(|_| match rng.below(8) {
                        0 => alphabet[rng.below(alphabet.len() as u64) as usize],
                        1 if round % 2 == 0 => b'"',
                        _ => b'a',
                    })
                    .collect();
                let l = Line::of(&b, &mut quotes);
                let want_special = b.iter().any(|&c| c == b'\\' || c < 0x20);
                let want_high = b.iter().any(|&c| c >= 0x80);
                assert_eq!(l.special, want_special, "length {n}");
                assert_eq!(l.high, want_high, "length {n}");
                let found: Vec<usize> = (0..n)
                    .filter(|&i| quotes[i / 64] >> (i % 64) & 1 == 1)
                    .collect();
                let want: Vec<usize> = (0..n).filter(|&i| b[i] == b'"').collect();
                assert_eq!(found, want, "length {n}");
                assert!(quotes.len() * 64 >= n && quotes.len() * 64 < n + 65);
                // The tail is padding: no quote past the end.
                assert_eq!(next_bit(&quotes, n), None);
                if let Some(&first) = want.first() {
                    assert_eq!(next_bit(&quotes, 0), Some(first));
                }
            }
        }
    }

    /// The vector and the byte version of one chunk agree for every byte
    /// value at every position.
    #[test]
    fn vector_chunk_agrees_with_bytes() {
        for byte in 0..=255u8 {
            for at in 0..64 {
                let mut c = [b'a'; 64];
                c[at] = byte;
                let (mut v, mut b) = (Line::default(), Line::default());
                assert_eq!(v.add(&c), b.add_bytes(&c), "{byte:#x} at {at}");
                assert_eq!(
                    (v.special, v.high),
                    (b.special, b.high),
                    "{byte:#x} at {at}"
                );
            }
        }
    }
}
