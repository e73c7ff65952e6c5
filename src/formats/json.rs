//! JSON-lines access logs: AWS API Gateway, Caddy, Traefik, Envoy's
//! `json_format`, and any other JSON with a user-given field mapping.
//!
//! Lines are walked with serde_json and a seed that knows which (dotted) keys
//! to keep: other values are skipped without building a `Value` tree, strings
//! without escapes are borrowed from the line, and escaped ones are unescaped
//! into a scratch buffer the parser reuses. No allocation per line in the
//! common case. Most lines never reach serde_json: [`scan`] walks the common
//! shape (no escapes) by hand, with the same result.

mod scan;

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::fields;
use super::{FormatOptions, LineParser, Malformed, MalformedKind, ParseResult, Record, time};

/// What a JSON value is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Time,
    /// Epoch milliseconds (API Gateway `requestTimeEpoch`).
    TimeMillis,
    Client,
    /// `ip:port` (Traefik `ClientAddr`, Envoy `downstream_remote_address`).
    ClientAddr,
    ClientPort,
    Method,
    /// Path with optional query string.
    Uri,
    Query,
    /// `METHOD /path` (API Gateway HTTP API `routeKey`) or a request line.
    RequestLine,
    Status,
    Bytes,
    DurationSecs,
    DurationMillis,
    DurationNanos,
    UserAgent,
    Referer,
    ForwardedFor,
    RealIp,
    Principal,
    ApiKey,
    Host,
    RequestId,
    Stage,
    /// Caddy's `logger`: only `http.log.access*` entries are access entries.
    Logger,
}

const N: usize = Target::Logger as usize + 1;

impl Target {
    /// Names accepted in the config file's `[format.json_fields]` table.
    pub fn from_name(s: &str) -> Option<Target> {
        Some(match s {
            "time" => Target::Time,
            "time_ms" => Target::TimeMillis,
            "client" => Target::Client,
            "client_addr" => Target::ClientAddr,
            "client_port" => Target::ClientPort,
            "method" => Target::Method,
            "uri" | "path" => Target::Uri,
            "query" => Target::Query,
            "request" => Target::RequestLine,
            "status" => Target::Status,
            "bytes" => Target::Bytes,
            "duration_s" => Target::DurationSecs,
            "duration_ms" => Target::DurationMillis,
            "duration_ns" => Target::DurationNanos,
            "user_agent" => Target::UserAgent,
            "referer" => Target::Referer,
            "forwarded_for" => Target::ForwardedFor,
            "real_ip" => Target::RealIp,
            "principal" => Target::Principal,
            "api_key" => Target::ApiKey,
            "host" => Target::Host,
            "request_id" => Target::RequestId,
            "stage" => Target::Stage,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    Apigw,
    Caddy,
    Traefik,
    Envoy,
    Custom,
}

/// Preset mappings: (dotted path, target). Earlier entries win when several
/// keys feed one target.
fn preset(p: Preset) -> &'static [(&'static str, Target)] {
    use Target::*;
    match p {
        Preset::Apigw => &[
            ("requestTimeEpoch", TimeMillis),
            ("requestTime", Time),
            ("ip", Client),
            ("sourceIp", Client),
            ("httpMethod", Method),
            ("path", Uri),
            ("resourcePath", Uri),
            ("routeKey", RequestLine),
            ("status", Status),
            ("responseLength", Bytes),
            ("responseLatency", DurationMillis),
            ("integrationLatency", DurationMillis),
            ("principalId", Principal),
            ("user", Principal),
            ("caller", Principal),
            ("apiKey", ApiKey),
            ("apiKeyId", ApiKey),
            ("userAgent", UserAgent),
            ("requestId", RequestId),
            ("domainName", Host),
            ("stage", Stage),
        ],
        Preset::Caddy => &[
            ("ts", Time),
            ("logger", Logger),
            ("request.client_ip", Client),
            ("request.remote_ip", Client),
            ("request.remote_port", ClientPort),
            ("request.method", Method),
            ("request.uri", Uri),
            ("request.host", Host),
            ("request.headers.User-Agent", UserAgent),
            ("request.headers.Referer", Referer),
            ("request.headers.X-Forwarded-For", ForwardedFor),
            ("request.headers.X-Real-Ip", RealIp),
            ("request.headers.X-Api-Key", ApiKey),
            ("request.headers.X-Request-Id", RequestId),
            ("user_id", Principal),
            ("status", Status),
            ("size", Bytes),
            ("duration", DurationSecs),
        ],
        Preset::Traefik => &[
            ("StartUTC", Time),
            ("time", Time),
            ("ClientAddr", ClientAddr),
            ("ClientHost", Client),
            ("ClientPort", ClientPort),
            ("ClientUsername", Principal),
            ("RequestMethod", Method),
            ("RequestPath", Uri),
            ("RequestLine", RequestLine),
            ("RequestHost", Host),
            ("DownstreamStatus", Status),
            ("OriginStatus", Status),
            ("DownstreamContentSize", Bytes),
            ("Duration", DurationNanos),
            ("request_User-Agent", UserAgent),
            ("request_Referer", Referer),
            ("request_X-Forwarded-For", ForwardedFor),
            ("request_X-Real-Ip", RealIp),
            ("request_X-Api-Key", ApiKey),
            ("request_X-Request-Id", RequestId),
        ],
        Preset::Envoy => &[
            ("start_time", Time),
            ("downstream_remote_address", ClientAddr),
            ("method", Method),
            ("x-envoy-origin-path", Uri),
            ("path", Uri),
            ("response_code", Status),
            ("bytes_sent", Bytes),
            ("duration", DurationMillis),
            ("x-forwarded-for", ForwardedFor),
            ("user-agent", UserAgent),
            ("x-request-id", RequestId),
            (":authority", Host),
            ("x-api-key", ApiKey),
        ],
        Preset::Custom => &[],
    }
}

/// A node of the key trie.
#[derive(Debug)]
struct Node {
    children: Vec<(String, Node)>,
    /// Each child key's [`fingerprint`], index for index.
    prints: Vec<u32>,
    /// Per [`bucket`] of fingerprints, the last child put in it (index plus
    /// one; 0: none), and per child the one put in its bucket before it.
    buckets: [u16; BUCKETS],
    next: Vec<u16>,
    /// (target, priority): lower priority wins.
    leaf: Option<(Target, u8)>,
}

const BUCKETS: usize = 128;

/// `a == b` for keys without a call into `memcmp`: keys run from two bytes
/// to a few dozen, and for those the call costs more than the compare (two
/// overlapping loads cover every length from 4 to 16).
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], i: usize| u64::from_le_bytes(s[i..i + 8].try_into().expect("8 bytes"));
    let half = |s: &[u8], i: usize| u32::from_le_bytes(s[i..i + 4].try_into().expect("4 bytes"));
    match n {
        0..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => a == b,
    }
}

impl Default for Node {
    fn default() -> Self {
        Node {
            children: Vec::new(),
            prints: Vec::new(),
            buckets: [0; BUCKETS],
            next: Vec::new(),
            leaf: None,
        }
    }
}

fn bucket(fp: u32) -> usize {
    (fp.wrapping_mul(0x9e37_79b1) >> 25) as usize
}

/// Length, first and last byte of a key: keys of a preset often share a
/// prefix, seldom all three, so one compare of small integers rules out
/// nearly every candidate before the bytes are compared.
fn fingerprint(key: &[u8]) -> u32 {
    match key {
        [] => 0,
        [first, .., last] | [first @ last] => {
            (key.len().min(0xffff) as u32) << 16 | u32::from(*first) << 8 | u32::from(*last)
        }
    }
}

impl Node {
    fn insert(&mut self, path: &str, target: Target, prio: u8) {
        let mut node = self;
        for part in path.split('.') {
            let idx = match node.children.iter().position(|(k, _)| k == part) {
                Some(i) => i,
                None => {
                    let fp = fingerprint(part.as_bytes());
                    let i = node.children.len();
                    node.children.push((part.to_owned(), Node::default()));
                    node.prints.push(fp);
                    // Chained in front of its bucket's list.
                    let b = bucket(fp);
                    node.next.push(node.buckets[b]);
                    node.buckets[b] = u16::try_from(i + 1).expect("a preset's keys per object");
                    i
                }
            };
            node = &mut node.children[idx].1;
        }
        node.leaf = Some((target, prio));
    }

    fn child(&self, key: &str) -> Option<&Node> {
        self.child_bytes(key.as_bytes())
    }

    /// Asked for every key of every line (a dozen per line), and most
    /// presets know dozens of keys: a small hash table of fingerprints,
    /// then the bytes of the one or two that share a bucket.
    #[inline]
    fn child_bytes(&self, key: &[u8]) -> Option<&Node> {
        self.child_index(key).map(|i| &self.children[i].1)
    }

    #[inline]
    fn child_index(&self, key: &[u8]) -> Option<usize> {
        let fp = fingerprint(key);
        let mut j = self.buckets[bucket(fp)];
        while j != 0 {
            let i = usize::from(j - 1);
            if self.prints[i] == fp && same(self.children[i].0.as_bytes(), key) {
                return Some(i);
            }
            j = self.next[i];
        }
        None
    }

    /// [`Node::child_bytes`] for the `k`th key of an object. A gateway
    /// writes its keys in the same order on every line, so the child found
    /// at this position on the line before is tried first: one compare of
    /// the bytes instead of the fingerprint, bucket and chain.
    #[inline]
    fn child_at(&self, key: &[u8], k: usize, hints: &mut Hints) -> Option<&Node> {
        if let Some(&h) = hints.get(k)
            && h != 0
        {
            let (name, child) = &self.children[usize::from(h - 1)];
            if same(name.as_bytes(), key) {
                return Some(child);
            }
        }
        let i = self.child_index(key);
        if let Some(h) = hints.get_mut(k) {
            // Index plus one (0: not a key of this node); children are few.
            *h = i.map_or(0, |i| u16::try_from(i + 1).unwrap_or(0));
        }
        i.map(|i| &self.children[i].1)
    }
}

/// Per position of a key in the top-level object, the root's child found
/// there on the line before (see [`Node::child_at`]).
type Hints = [u16; HINTS];
const HINTS: usize = 32;

#[derive(Clone, Copy, Debug, Default)]
enum Slot {
    #[default]
    Empty,
    Line(usize, usize),
    Scratch(usize, usize),
    Num(f64),
}

struct Capture<'l> {
    line: &'l [u8],
    scratch: Vec<u8>,
    slots: [(Slot, u8); N],
}

impl Capture<'_> {
    fn put(&mut self, t: Target, prio: u8, s: Slot) {
        let cur = &mut self.slots[t as usize];
        if matches!(cur.0, Slot::Empty) || prio < cur.1 {
            *cur = (s, prio);
        }
    }
    /// A string that is `line[s..e]`, as [`Capture::put_str`] takes it.
    fn put_span(&mut self, t: Target, prio: u8, s: usize, e: usize) {
        if s == e || &self.line[s..e] == b"-" {
            return;
        }
        self.put(t, prio, Slot::Line(s, e));
    }
    fn put_str(&mut self, t: Target, prio: u8, v: &str, borrowed: bool) {
        if v.is_empty() || v == "-" {
            return;
        }
        let lp = self.line.as_ptr() as usize;
        let vp = v.as_ptr() as usize;
        let slot = if borrowed && vp >= lp && vp + v.len() <= lp + self.line.len() {
            Slot::Line(vp - lp, vp - lp + v.len())
        } else {
            let s = self.scratch.len();
            self.scratch.extend_from_slice(v.as_bytes());
            Slot::Scratch(s, self.scratch.len())
        };
        self.put(t, prio, slot);
    }
}

pub struct JsonParser {
    root: Node,
    strip_stage: bool,
    needs_logger: bool,
    scratch: Vec<u8>,
    /// Try [`scan`] first (off only in tests comparing the two walks).
    fast: bool,
    memo: super::time::TimeMemo,
    hints: Hints,
    /// The line's quote mask (see [`scan::Line`]), kept between lines.
    quotes: Vec<u64>,
}

const BAD_JSON: Malformed = Malformed::new(MalformedKind::Json, "invalid JSON");
/// A line that is not JSON at all is JSON that does not parse, not an entry
/// the format knows is no request: a log none of whose lines is JSON is the
/// wrong format (see `scan`'s "is --format right?").
const NOT_JSON: Malformed = Malformed::new(MalformedKind::Json, "not a JSON object line");
const NOT_ACCESS: Malformed = Malformed::new(
    MalformedKind::NotAccess,
    "JSON entry without a request (not an access entry)",
);
const NO_TIME: Malformed = Malformed::new(MalformedKind::Timestamp, "no parseable time field");
/// An entry without a request and without the format's time field:
/// another gateway's JSON, or the wrong preset. Not a record the format
/// knows to be no request (a Caddy start-up notice has Caddy's `ts`; an API
/// Gateway WebSocket record its `requestTime`), so a log of nothing else is
/// the wrong format (see `scan`'s "is --format right?").
const FOREIGN: Malformed = Malformed::new(
    MalformedKind::Json,
    "JSON entry without this format's time field or a request",
);

impl JsonParser {
    pub fn new(p: Preset, opts: &FormatOptions) -> Self {
        let mut root = Node::default();
        // User mappings first, so they win over the preset.
        let mut prio = 0u8;
        for (field, path) in &opts.json_fields {
            if let Some(t) = Target::from_name(field) {
                root.insert(path, t, prio);
                prio = prio.saturating_add(1);
            }
        }
        for (path, t) in preset(p) {
            if root_has(&root, path) {
                continue;
            }
            root.insert(path, *t, prio);
            prio = prio.saturating_add(1);
        }
        JsonParser {
            root,
            strip_stage: opts.strip_stage,
            needs_logger: p == Preset::Caddy,
            scratch: Vec::new(),
            fast: true,
            memo: super::time::TimeMemo::new(super::time::parse_any),
            hints: [0; HINTS],
            quotes: Vec::new(),
        }
    }
}

fn root_has(root: &Node, path: &str) -> bool {
    let mut n = root;
    for part in path.split('.') {
        match n.child(part) {
            Some(c) => n = c,
            None => return false,
        }
    }
    n.leaf.is_some()
}

impl LineParser for JsonParser {
    fn parse<'a>(&'a mut self, line: &'a [u8]) -> ParseResult<'a> {
        let body = super::envoy::strip_wrappers(line);
        let body = trim_ascii(body);
        if body.first() != Some(&b'{') {
            return Err(NOT_JSON);
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let mut cap = Capture {
            line: body,
            scratch,
            slots: [(Slot::Empty, 0); N],
        };
        // JSON text is UTF-8: checked for the whole line once, not string
        // by string inside the deserializer. A line of ASCII only (nearly
        // every one) needs no more than a look at its bytes' high bits,
        // taken in the same vectorised pass that maps its quotes; any other
        // line gets the full check.
        let l = scan::Line::of(body, &mut self.quotes);
        if l.high && std::str::from_utf8(body).is_err() {
            self.scratch = cap.scratch;
            return Err(BAD_JSON);
        }
        let quotes = (!l.special).then_some(&self.quotes[..]);
        let ok = (self.fast
            && scan::walk(body, &self.root, &mut self.hints, quotes, &mut cap).is_some())
            || std::str::from_utf8(body).is_ok_and(|text| {
                // Not the common shape: serde_json walks it afresh.
                cap.slots = [(Slot::Empty, 0); N];
                let mut de = serde_json::Deserializer::from_str(text);
                MapSeed {
                    node: &self.root,
                    cap: &mut cap,
                }
                .deserialize(&mut de)
                .is_ok()
                    && de.end().is_ok()
            });
        // The scratch goes back to the parser (the record may borrow it);
        // the slots are read where they are, not moved out.
        self.scratch = std::mem::take(&mut cap.scratch);
        if !ok {
            return Err(BAD_JSON);
        }
        build(
            &cap.slots,
            body,
            &self.scratch,
            self.strip_stage,
            self.needs_logger,
            &mut self.memo,
        )
    }
}

/// The value of up to 18 ASCII digits (no overflow, exact as `f64`
/// conversion rounds it the way serde_json and `str::parse` do).
fn decimal(digits: &[u8]) -> u64 {
    digits
        .iter()
        .fold(0u64, |a, d| a * 10 + u64::from(d - b'0'))
}

fn trim_ascii(mut b: &[u8]) -> &[u8] {
    while let [c, tail @ ..] = b {
        if c.is_ascii_whitespace() {
            b = tail
        } else {
            break;
        }
    }
    while let [head @ .., c] = b {
        if c.is_ascii_whitespace() {
            b = head
        } else {
            break;
        }
    }
    b
}

fn build<'a>(
    slots: &[(Slot, u8); N],
    line: &'a [u8],
    scratch: &'a [u8],
    strip_stage: bool,
    needs_logger: bool,
    memo: &mut time::TimeMemo,
) -> ParseResult<'a> {
    let bytes = |t: Target| -> &'a [u8] {
        match slots[t as usize].0 {
            Slot::Line(s, e) => &line[s..e],
            Slot::Scratch(s, e) => &scratch[s..e],
            _ => b"",
        }
    };
    let num = |t: Target| -> Option<f64> {
        match slots[t as usize].0 {
            Slot::Num(n) => Some(n),
            Slot::Line(..) | Slot::Scratch(..) => {
                let b = bytes(t);
                // Most numbers in strings are plain integers (API
                // Gateway's status, lengths): the same value, cheaper.
                if (1..=18).contains(&b.len()) && b.iter().all(u8::is_ascii_digit) {
                    return Some(decimal(b) as f64);
                }
                std::str::from_utf8(b).ok()?.trim().parse().ok()
            }
            Slot::Empty => None,
        }
    };
    // Every format's entries carry its time field (`ts`, `requestTime`,
    // `start_time`, ...), its own name for it: without it, an entry that
    // is no request is not one of the format's.
    let not_access = || {
        let timeless = [Target::Time, Target::TimeMillis]
            .iter()
            .all(|&t| matches!(slots[t as usize].0, Slot::Empty));
        if timeless { FOREIGN } else { NOT_ACCESS }
    };
    if needs_logger && !bytes(Target::Logger).starts_with(b"http.log.access") {
        return Err(not_access());
    }
    let mut rec = Record::default();
    let uri = bytes(Target::Uri);
    let reqline = bytes(Target::RequestLine);
    if !uri.is_empty() {
        rec.set_target(uri);
    } else if !reqline.is_empty() {
        rec.set_request_line(reqline);
    } else if bytes(Target::Method).is_empty() {
        return Err(not_access());
    }
    if !bytes(Target::Method).is_empty() {
        rec.method = bytes(Target::Method);
    }
    let q = bytes(Target::Query);
    if !q.is_empty() {
        rec.query = q.strip_prefix(b"?").unwrap_or(q);
    }
    if strip_stage {
        let stage = bytes(Target::Stage);
        if !stage.is_empty()
            && let Some(rest) = rec
                .path
                .strip_prefix(b"/")
                .and_then(|p| p.strip_prefix(stage))
            && (rest.is_empty() || rest[0] == b'/')
        {
            rec.path = if rest.is_empty() { b"/" } else { rest };
        }
    }
    rec.ts = match slots[Target::TimeMillis as usize].0 {
        Slot::Empty => match slots[Target::Time as usize].0 {
            Slot::Num(n) => time::Timestamp((n * 1e6) as i64),
            Slot::Empty => return Err(NO_TIME),
            _ => memo.parse(bytes(Target::Time)).ok_or(NO_TIME)?,
        },
        _ => time::Timestamp((num(Target::TimeMillis).ok_or(NO_TIME)? * 1000.0) as i64),
    };
    // Client: a bare address, or the last entry of a list (Traefik's
    // ClientHost with trusted forwarded headers), or ip:port.
    let client = bytes(Target::Client);
    if !client.is_empty() {
        let last = client.rsplit(|&b| b == b',').next().unwrap_or(client);
        rec.client = fields::ip(trim_ascii(last));
        if memchr::memchr(b',', client).is_some() {
            rec.forwarded_for = client;
        }
    }
    if rec.client.is_none()
        && let Some((ip, port)) = fields::ip_port(bytes(Target::ClientAddr))
    {
        rec.client = Some(ip);
        rec.client_port = port;
    }
    if let Some(p) = num(Target::ClientPort) {
        rec.client_port = Some(p as u16);
    }
    rec.status = match num(Target::Status) {
        Some(s) if (0.0..1000.0).contains(&s) => s as u16,
        Some(_) => return Err(Malformed::new(MalformedKind::Status, "status out of range")),
        None => 0,
    };
    rec.bytes = num(Target::Bytes).filter(|b| *b >= 0.0).map(|b| b as u64);
    rec.duration_us = num(Target::DurationNanos)
        .map(|n| n / 1000.0)
        .or(num(Target::DurationMillis).map(|m| m * 1000.0))
        .or(num(Target::DurationSecs).map(|s| s * 1e6))
        .filter(|d| *d >= 0.0)
        .map(|d| d as u64);
    let fwd = bytes(Target::ForwardedFor);
    if !fwd.is_empty() {
        rec.forwarded_for = fwd;
    }
    rec.real_ip = bytes(Target::RealIp);
    rec.user_agent = bytes(Target::UserAgent);
    rec.referer = bytes(Target::Referer);
    rec.principal = bytes(Target::Principal);
    rec.api_key = bytes(Target::ApiKey);
    rec.host = bytes(Target::Host);
    rec.request_id = bytes(Target::RequestId);
    Ok(rec)
}

struct MapSeed<'n, 'c, 'l> {
    node: &'n Node,
    cap: &'c mut Capture<'l>,
}

impl<'de, 'n, 'c, 'l> DeserializeSeed<'de> for MapSeed<'n, 'c, 'l> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, 'n, 'c, 'l> Visitor<'de> for MapSeed<'n, 'c, 'l> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed { node: self.node })? {
            match key {
                Some(child) if child.leaf.is_some() => {
                    let (t, prio) = child.leaf.expect("checked");
                    map.next_value_seed(ValueSeed {
                        t,
                        prio,
                        cap: self.cap,
                    })?;
                }
                Some(child) => map.next_value_seed(MapSeed {
                    node: child,
                    cap: self.cap,
                })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
    // A nested key that holds a scalar where an object was expected is
    // simply not what we look for.
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

struct KeySeed<'n> {
    node: &'n Node,
}

impl<'de, 'n> DeserializeSeed<'de> for KeySeed<'n> {
    type Value = Option<&'n Node>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, 'n> Visitor<'de> for KeySeed<'n> {
    type Value = Option<&'n Node>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.node.child(v))
    }
}

struct ValueSeed<'c, 'l> {
    t: Target,
    prio: u8,
    cap: &'c mut Capture<'l>,
}

impl<'de, 'c, 'l> DeserializeSeed<'de> for ValueSeed<'c, 'l> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, 'c, 'l> Visitor<'de> for ValueSeed<'c, 'l> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a scalar")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        self.cap.put_str(self.t, self.prio, v, true);
        Ok(())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.cap.put_str(self.t, self.prio, v, false);
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.cap.put(self.t, self.prio, Slot::Num(v));
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.visit_f64(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.visit_f64(v as f64)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    /// Header values come as arrays (Caddy): keep the first string.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let ValueSeed { t, prio, cap } = self;
        if let Some(()) = seq.next_element_seed(ValueSeed { t, prio, cap })? {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key compare against `==`: equal strings of every length up to
    /// 40, and each with one byte changed at every position.
    #[test]
    fn key_compare_agrees_with_eq() {
        for n in 0..40usize {
            let a: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(same(&a, &a.clone()));
            assert!(!same(&a, &a[..n.saturating_sub(1)]) || n == 0);
            for i in 0..n {
                for c in [0u8, b'A', 0xff, a[i] ^ 1] {
                    let mut b = a.clone();
                    b[i] = c;
                    assert_eq!(same(&a, &b), a == b, "{n} {i} {c}");
                }
            }
        }
    }

    /// Every key put in a node is found, in a node with more keys than
    /// buckets (so buckets chain, and fingerprints collide: same length,
    /// first and last byte); keys not put, including near misses, are not.
    #[test]
    fn trie_lookup_finds_every_key_and_only_those() {
        let mut root = Node::default();
        let keys: Vec<String> = (0..300).map(|i| format!("k{i:03}x")).collect();
        for (i, k) in keys.iter().enumerate() {
            root.insert(&format!("{k}.leaf"), Target::Time, i as u8);
        }
        for (i, k) in keys.iter().enumerate() {
            let child = root.child(k).unwrap_or_else(|| panic!("{k}"));
            let leaf = child.child("leaf").expect("leaf");
            assert_eq!(leaf.leaf, Some((Target::Time, i as u8)));
            assert!(child.child("lea").is_none());
        }
        for miss in ["k300x", "k00x", "k000", "", "k0000x", "K000x"] {
            assert!(root.child(miss).is_none(), "{miss}");
        }
    }

    fn parse(
        p: Preset,
        opts: &FormatOptions,
        l: &str,
    ) -> Result<(String, String, String, u16, String, String), Malformed> {
        let mut j = JsonParser::new(p, opts);
        let r = j.parse(l.as_bytes())?;
        Ok((
            r.ts.rfc3339(),
            r.client.map(|c| c.to_string()).unwrap_or_default(),
            String::from_utf8_lossy(r.path).into_owned(),
            r.status,
            String::from_utf8_lossy(r.principal).into_owned(),
            String::from_utf8_lossy(r.user_agent).into_owned(),
        ))
    }

    #[test]
    fn apigw_rest_with_stage_strip() {
        let opts = FormatOptions {
            strip_stage: true,
            ..Default::default()
        };
        let l = r#"{"requestId":"a1","ip":"198.51.100.1","user":"u-7","requestTime":"10/Jun/2023:15:36:28 +0000","httpMethod":"GET","path":"/prod/customers/42","stage":"prod","status":"404","protocol":"HTTP/1.1","responseLength":"12"}"#;
        let r = parse(Preset::Apigw, &opts, l).unwrap();
        assert_eq!(
            r,
            (
                "2023-06-10T15:36:28Z".into(),
                "198.51.100.1".into(),
                "/customers/42".into(),
                404,
                "u-7".into(),
                "".into()
            )
        );
        let r = parse(Preset::Apigw, &FormatOptions::default(), l).unwrap();
        assert_eq!(r.2, "/prod/customers/42");
    }

    #[test]
    fn apigw_http_route_key() {
        let l = r#"{"requestId":"x","ip": "1.2.3.4","requestTime":"10/Jun/2023:15:36:28 +0000","httpMethod":"GET","routeKey":"GET /pets/{id}","status":"200"}"#;
        assert_eq!(
            parse(Preset::Apigw, &FormatOptions::default(), l)
                .unwrap()
                .2,
            "/pets/{id}"
        );
    }

    #[test]
    fn caddy_nested_headers_and_filter() {
        let l = r#"{"level":"info","ts":1646861401.5241024,"logger":"http.log.access.log0","msg":"handled request","request":{"remote_ip":"127.0.0.1","remote_port":"41342","client_ip":"203.0.113.5","proto":"HTTP/2.0","method":"GET","host":"h","uri":"/a?b=1","headers":{"User-Agent":["Mo\"zilla"],"Accept":["*/*"]}},"user_id":"","duration":0.0001,"size":10,"status":200}"#;
        let r = parse(Preset::Caddy, &FormatOptions::default(), l).unwrap();
        assert_eq!(r.1, "203.0.113.5");
        assert_eq!(r.5, "Mo\"zilla");
        assert_eq!(r.0, "2022-03-09T21:30:01.524102Z");
        let other = r#"{"level":"info","ts":1,"logger":"tls","msg":"x"}"#;
        assert_eq!(
            parse(Preset::Caddy, &FormatOptions::default(), other).unwrap_err(),
            NOT_ACCESS
        );
        // Another gateway's entry: not Caddy's (no `ts`), nor Traefik's
        // (no `time`), and said to be neither; Envoy finds its `path` and
        // no `start_time`. Never a known non-request.
        let apigw = r#"{"ip":"1.2.3.4","requestTime":"08/Mar/2026:02:49:08 +0000","httpMethod":"GET","path":"/p","status":"200"}"#;
        for (p, want) in [
            (Preset::Caddy, FOREIGN),
            (Preset::Traefik, FOREIGN),
            (Preset::Envoy, NO_TIME),
        ] {
            let e = parse(p, &FormatOptions::default(), apigw).unwrap_err();
            assert_eq!(e, want, "{p:?}");
            assert_ne!(e.kind, MalformedKind::NotAccess, "{p:?}");
        }
    }

    #[test]
    fn traefik_and_custom_mapping() {
        let l = r#"{"ClientHost":"10.0.0.1, 203.0.113.9","ClientUsername":"-","DownstreamStatus":"502","Duration":2000000,"RequestMethod":"GET","RequestPath":"/x?y","StartUTC":"2021-01-01T00:00:00.5Z","request_User-Agent":"ua"}"#;
        let r = parse(Preset::Traefik, &FormatOptions::default(), l).unwrap();
        assert_eq!((r.1.as_str(), r.3, r.4.as_str()), ("203.0.113.9", 502, ""));
        let opts = FormatOptions {
            json_fields: vec![
                ("time".into(), "@t".into()),
                ("uri".into(), "req.url".into()),
                ("client".into(), "addr".into()),
            ],
            ..Default::default()
        };
        let r = parse(
            Preset::Custom,
            &opts,
            r#"{"@t":"2024-01-01T00:00:00Z","addr":"::1","req":{"url":"/q"}}"#,
        )
        .unwrap();
        assert_eq!((r.1.as_str(), r.2.as_str()), ("::1", "/q"));
    }

    /// Parse `line` with the fast walk and with serde_json alone.
    fn both_walks(p: Preset, line: &[u8]) -> (String, String) {
        let opts = FormatOptions::default();
        let mut fast = JsonParser::new(p, &opts);
        let mut slow = JsonParser::new(p, &opts);
        slow.fast = false;
        (
            format!("{:?}", fast.parse(line)),
            format!("{:?}", slow.parse(line)),
        )
    }

    const PRESETS: [Preset; 5] = [
        Preset::Apigw,
        Preset::Caddy,
        Preset::Traefik,
        Preset::Envoy,
        Preset::Custom,
    ];

    /// The hand walk captures what serde_json captures, and rejects what it
    /// rejects, on odd JSON and on every cut of it.
    #[test]
    fn fast_walk_agrees_with_serde_on_edge_cases() {
        let lines = [
            r#"{"ts":1646861401.5241024,"logger":"http.log.access","request":{"client_ip":"203.0.113.5","method":"GET","uri":"/a?b=1","headers":{"User-Agent":["Mo\"zilla"],"X-Api-Key":[["k1"],"k2"]}},"status":200,"size":-0,"duration":1e-3}"#,
            r#"{"ts":1.5e9,"logger":"http.log.access","request":{"uri":"/x","headers":{"User-Agent":[{"a":1},"b"],"Referer":[]}},"status":"404"}"#,
            r#" { "requestTime" : "10/Jun/2023:15:36:28 +0000" , "ip" : "1.2.3.4" , "httpMethod" : "GET" , "path" : "/p" , "status" : 200 } "#,
            r#"{"requestTimeEpoch":1686411388123,"ip":"1.2.3.4","httpMethod":"GET","path":"/p","status":"200","responseLength":123456789012345678901234,"responseLatency":012}"#,
            r#"{"requestTimeEpoch":1686411388123,"ip":"1.2.3.4","httpMethod":"GET","path":"/p","status":99999999999999999999,"responseLength":-5,"user":"-","apiKey":""}"#,
            r#"{"requestTimeEpoch":1686411388123,"ip":"1.2.3.4","httpMethod":"GET","path":"/p","status":200,"responseLength":1-2}"#,
            r#"{"requestTimeEpoch":1686411388123,"ip":"1.2.3.4","httpMethod":"GET","path":"/p","status":200,}"#,
            r#"{"requestTimeEpoch":1686411388123,"ip":"1.2.3.4","httpMethod":"GET","path":"/p","status":200} x"#,
            r#"{"requestTimeEpoch":1686411388123,"ip":"1.2.3.4","httpMethod":"GET","path":"/p","path":"/q","status":true,"user":null,"":{"":[]}}"#,
            concat!(
                r#"{"requestTime":"10/Jun/2023:15:36:28 +0000","ip":"1.2.3.4","httpMethod":"GET","path":"/a"#,
                "\t",
                r#"b","status":200}"#
            ),
            r#"{"StartUTC":"2021-01-01T00:00:00.5Z","ClientAddr":"[2001:db8::1]:443","RequestMethod":"GET","RequestPath":"/A","DownstreamStatus":200,"Duration":2E+6}"#,
            r#"{"start_time":"2024-01-01T00:00:00.000Z","downstream_remote_address":"10.0.0.1:5","method":"GET","path":"/a","response_code":200,"duration":12.75,"x-forwarded-for":"1.1.1.1, 2.2.2.2"}"#,
            r#"{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],"ts":1,"logger":"http.log.access","request":{"uri":"/"}}"#,
            r#"{"ts":1,"logger":"http.log.access","request":"flat","request":{"uri":"/é"},"status":2.5e2}"#,
            r#"{"ts":tru,"request":{"uri":"/"}}"#,
            r#"{"ts":1 "request":{"uri":"/"}}"#,
            r#"{"ts":1,"request":{"uri":"/"}"#,
            r#"{"ts":1,"request":{"uri":"/"}}}"#,
        ];
        for line in lines {
            let b = line.as_bytes();
            for cut in (0..=b.len()).rev() {
                for p in PRESETS {
                    let (fast, slow) = both_walks(p, &b[..cut]);
                    assert_eq!(
                        fast,
                        slow,
                        "{p:?} on {:?}",
                        String::from_utf8_lossy(&b[..cut])
                    );
                }
            }
        }
    }

    /// The same on every JSON line of the real logs, and on each of them
    /// with one byte changed at every position.
    #[test]
    fn fast_walk_agrees_with_serde_on_real_logs() {
        let Some(files) = super::super::real_logs(|_| true) else {
            return;
        };
        let mut lines = 0;
        for data in files {
            for line in data
                .split(|&c| c == b'\n')
                .filter(|l| l.trim_ascii_start().starts_with(b"{"))
            {
                lines += 1;
                for p in PRESETS {
                    let (fast, slow) = both_walks(p, line);
                    assert_eq!(fast, slow, "{p:?} on {:?}", String::from_utf8_lossy(line));
                }
                let mut l = line.to_vec();
                for i in 0..l.len() {
                    for c in [b'"', b'\\', b'\t', b'}', b'1'] {
                        let old = std::mem::replace(&mut l[i], c);
                        for p in [Preset::Caddy, Preset::Apigw] {
                            let (fast, slow) = both_walks(p, &l);
                            assert_eq!(fast, slow, "{p:?} on {:?}", String::from_utf8_lossy(&l));
                        }
                        l[i] = old;
                    }
                }
            }
        }
        assert!(lines >= 40, "only {lines} JSON lines in the real logs");
    }

    /// One parser reading line after line (its key-position hints carried
    /// from each line to the next) captures what a fresh serde_json walk
    /// captures: keys in a changing order, unknown keys slipped in, the
    /// same key twice, and the real logs' JSON lines one after another.
    #[test]
    fn hinted_walk_agrees_line_after_line() {
        let pairs = [
            r#""requestTime":"10/Jun/2023:15:36:28 +0000""#,
            r#""ip":"1.2.3.4""#,
            r#""httpMethod":"GET""#,
            r#""path":"/p/1""#,
            r#""status":"200""#,
            r#""user":"u1""#,
            r#""apiKey":"k1""#,
            r#""userAgent":"ua""#,
            r#""responseLength":"15""#,
        ];
        let mut lines: Vec<Vec<u8>> = Vec::new();
        for r in 0..pairs.len() {
            let mut v: Vec<&str> = pairs.to_vec();
            v.rotate_left(r);
            lines.push(format!("{{{}}}", v.join(",")).into_bytes());
            v.insert(r % 4, r#""unknownKey":"x""#);
            lines.push(format!("{{{}}}", v.join(",")).into_bytes());
            v.swap(0, pairs.len() - 1);
            v.push(r#""ip":"5.6.7.8""#);
            lines.push(format!("{{{}}}", v.join(",")).into_bytes());
        }
        if let Some(files) = super::super::real_logs(|_| true) {
            for data in files {
                lines.extend(
                    data.split(|&c| c == b'\n')
                        .filter(|l| l.trim_ascii_start().starts_with(b"{"))
                        .map(<[u8]>::to_vec),
                );
            }
        }
        let opts = FormatOptions::default();
        for p in PRESETS {
            let mut fast = JsonParser::new(p, &opts);
            for line in lines.iter().chain(lines.iter().rev()) {
                let mut slow = JsonParser::new(p, &opts);
                slow.fast = false;
                assert_eq!(
                    format!("{:?}", fast.parse(line)),
                    format!("{:?}", slow.parse(line)),
                    "{p:?} on {:?}",
                    String::from_utf8_lossy(line)
                );
            }
        }
    }

    /// Bytes above ASCII anywhere in a line: valid UTF-8 (two, three and
    /// four bytes) is read on both walks as serde_json reads it, and
    /// anything serde_json rejects as UTF-8 (a stray continuation byte,
    /// 0xff, a sequence cut short, an overlong form, a surrogate) is
    /// rejected, wherever it stands.
    #[test]
    fn non_ascii_bytes_are_checked_as_serde_json_checks_them() {
        let line = br#"{"requestTime":"10/Jun/2023:15:36:28 +0000","ip":"1.2.3.4","httpMethod":"GET","path":"/p","status":"200","userAgent":"ua"}"#;
        let inserts: [&[u8]; 9] = [
            "é".as_bytes(),
            "中".as_bytes(),
            "🦀".as_bytes(),
            b"\x80",
            b"\xff",
            b"\xc3",
            b"\xe4\xb8",
            b"\xc0\xaf",
            b"\xed\xa0\x80",
        ];
        let opts = FormatOptions::default();
        let mut fast = JsonParser::new(Preset::Apigw, &opts);
        for ins in inserts {
            // From 1: before the brace, it is no JSON object line at all.
            for at in 1..=line.len() {
                let mut l = line[..at].to_vec();
                l.extend_from_slice(ins);
                l.extend_from_slice(&line[at..]);
                let valid = serde_json::from_slice::<serde_json::Value>(&l).is_ok();
                let got = fast.parse(&l);
                if std::str::from_utf8(&l).is_err() {
                    assert!(!valid);
                    assert_eq!(got.err(), Some(BAD_JSON), "{l:?}");
                    continue;
                }
                let got = format!("{got:?}");
                let (f, slow) = both_walks(Preset::Apigw, &l);
                assert_eq!(got, f);
                assert_eq!(got, slow, "{:?}", String::from_utf8_lossy(&l));
            }
        }
    }

    #[test]
    fn rejects_and_never_panics() {
        let o = FormatOptions::default();
        // An empty time is no time (an empty string is not even captured,
        // so the time memo never sees it).
        assert_eq!(
            parse(
                Preset::Apigw,
                &o,
                r#"{"requestTime":"","ip":"1.2.3.4","httpMethod":"GET","path":"/p","status":"200"}"#
            )
            .unwrap_err(),
            NO_TIME
        );
        assert_eq!(
            parse(Preset::Traefik, &o, "time=x level=debug").unwrap_err(),
            NOT_JSON
        );
        assert_eq!(
            parse(Preset::Traefik, &o, r#"{"a":"#).unwrap_err(),
            BAD_JSON
        );
        assert_eq!(
            parse(Preset::Traefik, &o, r#"{"RequestPath":"/"}"#).unwrap_err(),
            NO_TIME
        );
        let l = r#"{"ts":1.5,"logger":"http.log.access","request":{"uri":"/\u0041","headers":{"User-Agent":["a","b"]}},"status":200}"#;
        for i in 0..l.len() {
            let _ = parse(Preset::Caddy, &o, &l[..i]);
        }
        assert_eq!(parse(Preset::Caddy, &o, l).unwrap().2, "/A");
    }
}
