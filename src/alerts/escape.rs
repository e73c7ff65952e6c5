//! Text that came from a log line is untrusted: it may carry terminal escape
//! sequences (OSC 52 clipboard writes, cursor moves), CR/LF that would forge
//! extra output lines, bidi overrides that reorder what an operator reads, or
//! invalid UTF-8. Everything printed from a log line goes through [`escape`].
//!
//! The result is printable, single-line, valid UTF-8, and the same in text
//! and JSON output (invalid bytes become `\xNN` text), capped in length with
//! the original length noted.

use std::fmt::Write;

/// Escape `b` for display, keeping at most `max` input bytes.
pub fn escape(b: &[u8], max: usize) -> String {
    let total = b.len();
    let b = &b[..total.min(max)];
    let mut out = String::with_capacity(b.len() + 8);
    for chunk in b.utf8_chunks() {
        let mut text = chunk.valid();
        while !text.is_empty() {
            // Printable ASCII but the backslash stands for itself: copied a
            // run at a time (most of a log line), not a char at a time.
            let plain = text
                .bytes()
                .position(|c| !(b' '..=b'~').contains(&c) || c == b'\\')
                .unwrap_or(text.len());
            out.push_str(&text[..plain]);
            let mut rest = text[plain..].chars();
            if let Some(c) = rest.next() {
                push_char(&mut out, c);
            }
            text = rest.as_str();
        }
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02X}");
        }
    }
    if total > max {
        let _ = write!(out, "…[{} more bytes]", total - max);
    }
    out
}

/// A file name as it may be printed: names come from the command line or a
/// glob over a directory anyone may write to, so they are escaped too.
pub fn path(p: impl AsRef<std::path::Path>) -> String {
    escape(p.as_ref().as_os_str().as_encoded_bytes(), 1000)
}

/// Escape with an explicit total length for the "more bytes" note.
pub fn escape_with_len(b: &[u8], max: usize, total: u64) -> String {
    let shown = b.len().min(max);
    let mut s = escape(&b[..shown], max);
    if total > shown as u64 {
        let _ = write!(s, "…[{} bytes in all]", total);
    }
    s
}

fn push_char(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x20 || c == '\u{7f}' => {
            let _ = write!(out, "\\x{:02X}", c as u32);
        }
        // C1 controls, bidi controls, zero-width and BOM, line/paragraph
        // separators, tag characters, interlinear annotation.
        '\u{80}'..='\u{9f}'
        | '\u{200b}'..='\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{2069}'
        | '\u{feff}'
        | '\u{fff9}'..='\u{fffb}'
        | '\u{e0000}'..='\u{e007f}' => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Copying runs of plain ASCII gives what escaping char by char gives,
    /// on random bytes: ASCII, backslashes, controls, DEL, multi-byte
    /// characters (a bidi override among them) and invalid UTF-8.
    #[test]
    fn runs_escape_as_chars_do() {
        let by_char = |b: &[u8]| {
            let mut out = String::new();
            for chunk in b.utf8_chunks() {
                for c in chunk.valid().chars() {
                    push_char(&mut out, c);
                }
                for byte in chunk.invalid() {
                    let _ = write!(out, "\\x{byte:02X}");
                }
            }
            out
        };
        let pieces: [&[u8]; 12] = [
            b"a",
            b"GET /x",
            b"\\",
            b" ",
            b"~",
            b"\x7f",
            b"\x1b",
            b"\n",
            "é".as_bytes(),
            "\u{202e}".as_bytes(),
            b"\xff",
            b"\xe2\x80",
        ];
        let mut rng = crate::test_rng::Rng::new(0xa54f_f53a_5f1d_36f1);
        for _ in 0..20_000 {
            let n = rng.below(12) as usize;
            let b: Vec<u8> = (0..n)
                .flat_map(|_| {
                    pieces[rng.below(pieces.len() as u64) as usize]
                        .iter()
                        .copied()
                })
                .collect();
            assert_eq!(escape(&b, 10_000), by_char(&b), "{b:?}");
        }
    }

    #[test]
    fn strips_osc52_clipboard_payload() {
        let s = escape(b"\x1b]52;c;ZXZpbA==\x07GET /", 1000);
        assert!(!s.contains('\x1b') && !s.contains('\x07'));
        assert_eq!(s, "\\x1B]52;c;ZXZpbA==\\x07GET /");
    }

    #[test]
    fn strips_cr_output_forgery() {
        let s = escape(b"a\r\nAPIWATCH OK\n", 1000);
        assert_eq!(s.lines().count(), 1);
        assert_eq!(s, "a\\r\\nAPIWATCH OK\\n");
    }

    #[test]
    fn invalid_utf8_nul_and_bidi() {
        assert_eq!(escape(b"\xff\x00ok", 100), "\\xFF\\x00ok");
        assert_eq!(
            escape("a\u{202e}b\u{200b}".as_bytes(), 100),
            "a\\u{202e}b\\u{200b}"
        );
        assert_eq!(escape("café €".as_bytes(), 100), "café €");
        assert_eq!(escape(b"\\x22", 100), "\\\\x22");
    }

    #[test]
    fn caps_length() {
        let s = escape(&[b'a'; 50], 10);
        assert!(s.starts_with("aaaaaaaaaa…"));
    }
}
