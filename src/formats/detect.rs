//! `--format auto`: pick the format from the first lines of an input.
//!
//! Every known format is tried on a sample of lines; the one that parses the
//! most wins (ties go to the more specific format, listed first). Real files
//! sometimes mix layouts (Nginx Proxy Manager writes three into one file), so
//! formats that parse sample lines the winner cannot are kept as fallbacks.

use super::{FormatOptions, FormatSpec, LineParser, Malformed, ParseResult};

/// Candidates, most specific first.
fn candidates() -> Vec<FormatSpec> {
    vec![
        FormatSpec::Alb,
        FormatSpec::ElbClassic,
        FormatSpec::Haproxy,
        FormatSpec::Envoy,
        FormatSpec::NginxIngress,
        FormatSpec::TraefikClf,
        FormatSpec::NpmProxy,
        FormatSpec::NpmStandard,
        FormatSpec::ApacheSsl,
        FormatSpec::Combined,
        FormatSpec::ApigwJson,
        FormatSpec::CaddyJson,
        FormatSpec::TraefikJson,
        FormatSpec::EnvoyJson,
    ]
}

/// The outcome of detection: the chosen format and any fallbacks.
pub struct Detected {
    pub primary: FormatSpec,
    pub fallbacks: Vec<FormatSpec>,
    /// Sample lines the primary parsed, out of those tried.
    pub parsed: usize,
    pub tried: usize,
}

impl Detected {
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} ({}/{} sample lines)",
            self.primary.name(),
            self.parsed,
            self.tried
        );
        if !self.fallbacks.is_empty() {
            let names: Vec<&str> = self.fallbacks.iter().map(|f| f.name()).collect();
            s.push_str(&format!(", with fallback {}", names.join(", ")));
        }
        s
    }

    pub fn build(&self, opts: &FormatOptions) -> anyhow::Result<Box<dyn LineParser>> {
        let primary = self.primary.build(opts)?;
        if self.fallbacks.is_empty() {
            return Ok(primary);
        }
        let mut parsers = vec![primary];
        for f in &self.fallbacks {
            parsers.push(f.build(opts)?);
        }
        Ok(Box::new(Chain { parsers }))
    }
}

/// Detect from sample lines (blank lines ignored). `None` when no format
/// parses any of them.
pub fn detect(samples: &[&[u8]], opts: &FormatOptions) -> Option<Detected> {
    let samples: Vec<&[u8]> = samples
        .iter()
        .copied()
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .collect();
    if samples.is_empty() {
        return None;
    }
    let mut results: Vec<(FormatSpec, Vec<bool>)> = Vec::new();
    for spec in candidates() {
        let Ok(mut p) = spec.build(opts) else {
            continue;
        };
        let ok: Vec<bool> = samples.iter().map(|l| p.parse(l).is_ok()).collect();
        results.push((spec, ok));
    }
    let best = results
        .iter()
        .enumerate()
        .max_by_key(|(i, (_, ok))| (ok.iter().filter(|b| **b).count(), usize::MAX - i))
        .map(|(i, _)| i)?;
    let mut parsed = results[best].1.iter().filter(|b| **b).count();
    if parsed == 0 {
        return None;
    }
    // A more specific format that parses nearly as much wins, with the
    // general one as fallback (a Traefik file with one plain CLF line is
    // still Traefik, and keeps its durations).
    let mut best = best;
    if let Some(i) = (0..best).find(|&i| {
        let n = results[i].1.iter().filter(|b| **b).count();
        n * 5 >= parsed * 4 && n > 0
    }) {
        best = i;
        parsed = results[i].1.iter().filter(|b| **b).count();
    }
    let mut covered = results[best].1.clone();
    let mut fallbacks = Vec::new();
    for (i, (spec, ok)) in results.iter().enumerate() {
        if i == best || fallbacks.len() == 3 {
            continue;
        }
        let adds = ok.iter().zip(&covered).filter(|(o, c)| **o && !**c).count();
        if adds > 0 {
            for (c, o) in covered.iter_mut().zip(ok) {
                *c |= *o;
            }
            fallbacks.push(spec.clone());
        }
    }
    Some(Detected {
        primary: results[best].0.clone(),
        fallbacks,
        parsed,
        tried: samples.len(),
    })
}

/// Try parsers in order; report the primary's reason when all fail.
struct Chain {
    parsers: Vec<Box<dyn LineParser>>,
}

impl LineParser for Chain {
    fn parse<'a>(&'a mut self, line: &'a [u8]) -> ParseResult<'a> {
        let mut first: Option<Malformed> = None;
        for p in self.parsers.iter_mut() {
            match p.parse(line) {
                Ok(r) => return Ok(r),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        Err(first.unwrap_or(super::fields::LAYOUT))
    }

    fn costly(&self) -> bool {
        self.parsers.iter().any(|p| p.costly())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(lines: &[&str]) -> Option<String> {
        let l: Vec<&[u8]> = lines.iter().map(|s| s.as_bytes()).collect();
        detect(&l, &FormatOptions::default()).map(|d| d.primary.name().to_owned())
    }

    #[test]
    fn picks_specific_formats() {
        assert_eq!(name(&[r#"1.2.3.4 - - [08/Dec/2021:09:16:05 +0000] "GET / HTTP/1.1" 200 414 "-" "-" 500 "t@docker" "http://x" 0ms"#]).as_deref(), Some("traefik-clf"));
        assert_eq!(
            name(&[r#"1.2.3.4 - - [08/Dec/2021:09:16:05 +0000] "GET / HTTP/1.1" 200 414 "-" "-""#])
                .as_deref(),
            Some("combined")
        );
        assert_eq!(name(&[r#"{"ts":1.5,"logger":"http.log.access","request":{"uri":"/","method":"GET"},"status":200}"#]).as_deref(), Some("caddy-json"));
        assert_eq!(name(&["hello world", ""]), None);
    }
}
