//! Where alerts go: JSON lines or readable text blocks, on any writer
//! (stdout in the binary). Library code never prints directly.

use std::io::{self, Write};

use super::{Alert, Transition};

pub trait AlertSink {
    fn emit(&mut self, a: &Alert) -> io::Result<()>;
    fn flush(&mut self) -> io::Result<()>;
}

/// One JSON object per line. serde_json escapes every control character,
/// and every string in an alert is valid UTF-8 by construction.
pub struct JsonSink<W: Write> {
    w: W,
    /// Flush after every alert (tail mode, terminals).
    eager: bool,
}

impl<W: Write> JsonSink<W> {
    pub fn new(w: W, eager: bool) -> Self {
        JsonSink { w, eager }
    }
}

impl<W: Write> AlertSink for JsonSink<W> {
    fn emit(&mut self, a: &Alert) -> io::Result<()> {
        serde_json::to_writer(&mut self.w, a)?;
        self.w.write_all(b"\n")?;
        if self.eager {
            self.w.flush()?;
        }
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

/// A readable block per alert. Every string from a log line was escaped
/// before it got into the alert, so one field is always one line.
pub struct TextSink<W: Write> {
    w: W,
    eager: bool,
}

impl<W: Write> TextSink<W> {
    pub fn new(w: W, eager: bool) -> Self {
        TextSink { w, eager }
    }
}

impl<W: Write> AlertSink for TextSink<W> {
    fn emit(&mut self, a: &Alert) -> io::Result<()> {
        let w = &mut self.w;
        let verb = match a.event {
            Transition::Opened => "OPENED",
            Transition::Escalated => "ESCALATED",
            Transition::Closed => "CLOSED",
        };
        writeln!(
            w,
            "[{}] {} {:?} {} ({})",
            a.detected_at,
            verb,
            a.severity,
            a.detector.as_str(),
            a.id
        )?;
        writeln!(w, "  {}", a.summary)?;
        let shown: Vec<&str> = a.actor.iter().take(20).map(String::as_str).collect();
        let more = a.actor.len().saturating_sub(shown.len());
        write!(w, "  actor ({}): {}", a.actor_kind, shown.join(", "))?;
        if more > 0 {
            write!(w, " … and {more} more")?;
        }
        writeln!(w)?;
        writeln!(w, "  route: {}", a.route)?;
        writeln!(
            w,
            "  seen: {} .. {} (window {} s)",
            a.first_seen, a.last_seen, a.window_secs
        )?;
        writeln!(
            w,
            "  requests: {}  distinct objects: {}  not found: {:.0}%",
            a.requests,
            a.distinct_objects,
            a.not_found_ratio * 100.0
        )?;
        if let Some(t) = &a.since_flagged {
            writeln!(
                w,
                "  since flagged: {} requests, about {} distinct objects",
                t.requests, t.distinct_objects
            )?;
        }
        if let Some(ids) = &a.ids {
            writeln!(
                w,
                "  ids: {}..{}  coverage {:.0}%  sequential {:.0}%  longest run {}  median stride {}",
                ids.min,
                ids.max,
                ids.coverage * 100.0,
                ids.sequential_share * 100.0,
                ids.longest_run,
                ids.median_stride
            )?;
        }
        if let Some(p) = a.max_page {
            writeln!(w, "  deepest page: {p}")?;
        }
        if let Some(i) = &a.identities_behind {
            let n =
                |k: u64, one: &str, many: &str| format!("{k} {}", if k == 1 { one } else { many });
            writeln!(
                w,
                "  behind it: {}, {}",
                n(i.principals, "principal", "principals"),
                n(i.user_agents, "user agent", "user agents")
            )?;
        }
        if !a.sample_ids.is_empty() {
            writeln!(w, "  sample ids: {}", a.sample_ids.join(", "))?;
        }
        for l in &a.sample_lines {
            writeln!(w, "  | {l}")?;
        }
        writeln!(w)?;
        if self.eager {
            w.flush()?;
        }
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

/// Collects alerts in memory (tests, and `check`, which prints a summary).
#[derive(Default)]
pub struct VecSink(pub Vec<Alert>);

impl AlertSink for VecSink {
    fn emit(&mut self, a: &Alert) -> io::Result<()> {
        self.0.push(a.clone());
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
