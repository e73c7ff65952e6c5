//! Routes: request paths turned into templates without configuration.
//!
//! `/api/v1/customers/1234567/billing` becomes `/api/v1/customers/{int}/billing`
//! with object id 1234567; phone numbers, UUIDs, e-mail addresses and long
//! hex/base64 tokens get typed placeholders too, and an id-bearing query
//! parameter (`?account_id=42`) makes the route a lookup as well. Pagination
//! parameters give a page depth. The number of templates is capped: once the
//! table is full, unseen templates share one overflow route per method, so a
//! scanner spraying random paths cannot grow it.

use serde::Serialize;

use crate::alerts::escape::escape;
use crate::config::RouteRule;
use crate::state::{FastMap, stable_hash};

pub type RouteId = u32;

/// What kind of identifier a placeholder holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdKind {
    Int,
    Msisdn,
    Uuid,
    Email,
    Hex,
    Token,
    /// A letter prefix and a number (`ACC-001234`): the number is the value.
    Prefixed,
}

impl IdKind {
    fn placeholder(self) -> &'static [u8] {
        match self {
            IdKind::Int => b"{int}",
            IdKind::Msisdn => b"{msisdn}",
            IdKind::Uuid => b"{uuid}",
            IdKind::Email => b"{email}",
            IdKind::Hex => b"{hex}",
            IdKind::Token => b"{token}",
            IdKind::Prefixed => b"{id}",
        }
    }
    /// Numeric ids have a meaningful order (ranges, strides, density).
    pub fn numeric(self) -> bool {
        matches!(self, IdKind::Int | IdKind::Msisdn | IdKind::Prefixed)
    }
}

/// The object a lookup fetched: the number itself for numeric ids, a stable
/// hash otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ObjectId {
    pub kind: IdKind,
    pub value: u64,
}

/// Where a list request is in its result set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    /// 1-based page number (page=N, or offset/limit + 1).
    Number(u32),
    /// An opaque cursor (hash): depth is the count of distinct cursors.
    Cursor(u64),
}

#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct RouteInfo {
    pub method: String,
    pub template: String,
    pub name: Option<String>,
    /// Returns one record per request, addressed by an id.
    pub lookup: bool,
    pub list: bool,
    pub login: bool,
    /// A search endpoint: lookups right after a search are explained.
    pub search: bool,
    pub id_kind: Option<IdKind>,
}

impl RouteInfo {
    /// `GET /api/v1/customers/{int}` (or the configured name).
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => format!("{} {}", self.method, self.template),
        }
    }

    /// The label as it may be printed: templates come from log lines (a
    /// JSON log decodes `\u001b` into a real ESC byte in a path).
    pub fn shown(&self) -> String {
        escape(self.label().as_bytes(), usize::MAX)
    }
}

/// The route part of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Routed {
    pub route: RouteId,
    pub object: Option<ObjectId>,
    pub page: Option<Page>,
    /// A query by free-text criteria (`?q=smith`, `?name=…`) rather than by
    /// id: what a support agent does before opening a customer.
    pub search: bool,
}

pub struct Router {
    ids: FastMap<Vec<u8>, RouteId>,
    routes: Vec<RouteInfo>,
    rules: Vec<RouteRule>,
    strip_prefixes: Vec<Vec<u8>>,
    cap: usize,
    scratch: Vec<u8>,
    overflowed: u64,
}

/// Default template cap: real APIs have hundreds of routes.
pub const DEFAULT_MAX_ROUTES: usize = 5000;

impl Router {
    pub fn new(rules: Vec<RouteRule>, strip_prefixes: Vec<String>, cap: usize) -> Self {
        Router {
            ids: FastMap::default(),
            routes: Vec::new(),
            rules,
            strip_prefixes: strip_prefixes.into_iter().map(String::into_bytes).collect(),
            cap: cap.max(8),
            scratch: Vec::with_capacity(256),
            overflowed: 0,
        }
    }

    pub fn info(&self, id: RouteId) -> &RouteInfo {
        &self.routes[id as usize]
    }
    pub fn len(&self) -> usize {
        self.routes.len()
    }
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
    pub fn overflowed(&self) -> u64 {
        self.overflowed
    }

    /// The table, for state files: route ids are positions in it.
    pub fn save(&self) -> (Vec<RouteInfo>, u64) {
        (self.routes.clone(), self.overflowed)
    }

    /// Restore a saved table (ids keep their meaning across runs).
    pub fn load(&mut self, routes: Vec<RouteInfo>, overflowed: u64) {
        self.ids.clear();
        for (i, r) in routes.iter().enumerate() {
            let mut key = r.method.clone().into_bytes();
            key.push(b' ');
            key.extend_from_slice(r.template.as_bytes());
            self.ids.insert(key, i as RouteId);
        }
        self.routes = routes;
        self.overflowed = overflowed;
    }

    /// Template a request. Allocation happens only when a new template is
    /// first seen (bounded by the cap).
    pub fn route(&mut self, method: &[u8], path: &[u8], query: &[u8]) -> Routed {
        let mut path = path;
        for p in &self.strip_prefixes {
            if let Some(rest) = path.strip_prefix(p.as_slice())
                && (rest.is_empty() || rest[0] == b'/')
            {
                path = rest;
                break;
            }
        }
        let mut page = None;
        let s = &mut self.scratch;
        s.clear();
        s.extend_from_slice(method);
        s.push(b' ');
        let tmpl_start = s.len();
        if path.is_empty() {
            s.push(b'/');
        }
        let mut object = template_path(path, s);
        // Query: id parameters join the template; pagination gives depth.
        let mut offset: Option<u64> = None;
        let mut limit: Option<u64> = None;
        let mut qid = false;
        let mut criteria = false;
        for pair in query.split(|&b| b == b'&') {
            let (k, v) = match memchr::memchr(b'=', pair) {
                Some(p) => (&pair[..p], &pair[p + 1..]),
                None => continue,
            };
            if v.is_empty() {
                continue;
            }
            match param_role(k) {
                ParamRole::Id => {
                    if let Some(o) = classify(v).or_else(|| short_id(v)) {
                        s.push(if qid { b'&' } else { b'?' });
                        qid = true;
                        s.extend_from_slice(k);
                        s.push(b'=');
                        s.extend_from_slice(o.kind.placeholder());
                        object = Some(o);
                    }
                }
                ParamRole::Page => {
                    if let Some(n) = crate::formats::fields::uint(v) {
                        page = Some(Page::Number(n.min(u32::MAX as u64) as u32));
                    }
                }
                ParamRole::Offset => offset = crate::formats::fields::uint(v),
                ParamRole::Limit => limit = crate::formats::fields::uint(v),
                ParamRole::Cursor => page = Some(Page::Cursor(stable_hash(v))),
                ParamRole::Other => criteria = true,
            }
        }
        if page.is_none()
            && let Some(off) = offset
        {
            let per = limit.filter(|l| *l > 0).unwrap_or(20);
            page = Some(Page::Number((off / per + 1).min(u32::MAX as u64) as u32));
        }
        let tmpl_end = s.len();
        let route = match self.ids.get(s.as_slice()) {
            Some(&id) => id,
            None => self.insert(tmpl_start, tmpl_end, method),
        };
        if page.is_some() && !self.routes[route as usize].list {
            // A route becomes a list once it is seen paginated.
            self.routes[route as usize].list = true;
        }
        let info = &self.routes[route as usize];
        let search = info.search || (criteria && object.is_none() && page.is_none());
        Routed {
            route,
            object,
            page,
            search,
        }
    }

    fn insert(&mut self, tmpl_start: usize, tmpl_end: usize, method: &[u8]) -> RouteId {
        let key = self.scratch.clone();
        if self.routes.len() >= self.cap {
            self.overflowed += 1;
            let mut k = method.to_vec();
            k.extend_from_slice(b" {overflow}");
            if let Some(&id) = self.ids.get(&k) {
                return id;
            }
            // Overflow routes are allowed past the cap, one per method (and
            // at most a handful: methods are capped at 24 letters of junk).
            if self.routes.len() >= self.cap + 16 {
                return (self.cap - 1) as RouteId;
            }
            return self.add(
                k,
                String::from_utf8_lossy(method).into_owned(),
                "{overflow}".into(),
                None,
            );
        }
        // Kept as written (the state file's route table is keyed by it);
        // escaped where it is printed (`RouteInfo::shown`).
        let template = String::from_utf8_lossy(&self.scratch[tmpl_start..tmpl_end]).into_owned();
        let kind = id_kind_of(&template);
        self.add(
            key,
            String::from_utf8_lossy(method).into_owned(),
            template,
            kind,
        )
    }

    fn add(
        &mut self,
        key: Vec<u8>,
        method: String,
        template: String,
        id_kind: Option<IdKind>,
    ) -> RouteId {
        let id = self.routes.len() as RouteId;
        let path_only = template.split('?').next().unwrap_or("");
        let lower = path_only.to_ascii_lowercase();
        let login = method == "POST"
            && [
                "login",
                "signin",
                "sign-in",
                "sign_in",
                "authenticate",
                "/auth",
                "/token",
                "/session",
                "oauth",
            ]
            .iter()
            .any(|w| lower.contains(w));
        let static_asset = is_static(&lower);
        let mut info = RouteInfo {
            lookup: id_kind.is_some() && (method == "GET" || method == "HEAD") && !static_asset,
            list: false,
            login,
            search: ["search", "find", "query"]
                .iter()
                .any(|w| lower.contains(w)),
            id_kind,
            name: None,
            method,
            template,
        };
        for r in &self.rules {
            if rule_matches(r, &info) {
                if let Some(n) = &r.name {
                    info.name = Some(n.clone());
                }
                if let Some(l) = r.lookup {
                    info.lookup = l;
                }
                if let Some(l) = r.list {
                    info.list = l;
                }
                if let Some(l) = r.login {
                    info.login = l;
                }
            }
        }
        self.routes.push(info);
        self.ids.insert(key, id);
        id
    }

    /// The paths of the rules that no route seen matched (a typo in the
    /// configuration, most likely): for a warning at the end of a run.
    pub fn unmatched_rules(&self) -> Vec<&str> {
        (self.rules.iter())
            .filter(|r| !self.routes.iter().any(|info| rule_matches(r, info)))
            .map(|r| r.path.as_str())
            .collect()
    }
}

fn rule_matches(r: &RouteRule, info: &RouteInfo) -> bool {
    if let Some(m) = &r.method
        && !m.eq_ignore_ascii_case(&info.method)
    {
        return false;
    }
    match r.path.strip_suffix('*') {
        Some(prefix) => info.template.starts_with(prefix),
        None => info.template == r.path,
    }
}

fn id_kind_of(template: &str) -> Option<IdKind> {
    // The last placeholder is the object.
    let kinds = [
        ("{int}", IdKind::Int),
        ("{msisdn}", IdKind::Msisdn),
        ("{uuid}", IdKind::Uuid),
        ("{email}", IdKind::Email),
        ("{hex}", IdKind::Hex),
        ("{token}", IdKind::Token),
        ("{id}", IdKind::Prefixed),
    ];
    kinds
        .iter()
        .filter_map(|(p, k)| template.rfind(p).map(|i| (i, *k)))
        .max_by_key(|(i, _)| *i)
        .map(|(_, k)| k)
}

fn is_static(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or("");
    [
        ".js", ".css", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".woff", ".woff2", ".map",
        ".webp", ".html", ".txt",
    ]
    .iter()
    .any(|e| last.ends_with(e))
}

enum ParamRole {
    Id,
    Page,
    Offset,
    Limit,
    Cursor,
    Other,
}

fn param_role(k: &[u8]) -> ParamRole {
    let mut buf = [0u8; 32];
    if k.len() > buf.len() {
        return ParamRole::Other;
    }
    for (d, c) in buf.iter_mut().zip(k) {
        *d = c.to_ascii_lowercase();
    }
    let k = &buf[..k.len()];
    match k {
        b"page" | b"page_number" | b"pagenumber" | b"pageno" | b"p" => ParamRole::Page,
        b"offset" | b"skip" | b"start" | b"from" => ParamRole::Offset,
        b"limit" | b"per_page" | b"perpage" | b"page_size" | b"pagesize" | b"size" | b"count" => {
            ParamRole::Limit
        }
        b"cursor" | b"after" | b"page_token" | b"pagetoken" | b"next" | b"continuation"
        | b"starting_after" => ParamRole::Cursor,
        b"id" | b"msisdn" | b"phone" | b"phone_number" | b"number" | b"email" | b"account"
        | b"customer" | b"imsi" | b"iccid" | b"imei" | b"uuid" | b"user" | b"subscriber"
        | b"mdn" => ParamRole::Id,
        _ if k.ends_with(b"_id") || k.ends_with(b"id") && k.len() > 2 => ParamRole::Id,
        _ => ParamRole::Other,
    }
}

/// A short numeric value in an id parameter (`?id=7`).
fn short_id(v: &[u8]) -> Option<ObjectId> {
    crate::formats::fields::uint(v).map(|n| ObjectId {
        kind: IdKind::Int,
        value: n,
    })
}

/// Append `path` to `s` as a template: each segment that is an id
/// replaced by its placeholder, the bytes between ids copied in one piece.
/// Returns the last id. Segments are cut and their bytes classed from the
/// path's [`PathBits`] when it has them; a longer path is cut at its
/// slashes and each segment classified on its own.
#[inline]
fn template_path(path: &[u8], s: &mut Vec<u8>) -> Option<ObjectId> {
    let mut object = None;
    let mut copied = 0;
    let mut take = |seg: usize, end: usize, o: Option<ObjectId>, s: &mut Vec<u8>| {
        if let Some(o) = o {
            s.extend_from_slice(&path[copied..seg]);
            s.extend_from_slice(o.kind.placeholder());
            copied = end;
            object = Some(o);
        }
    };
    match PathBits::of(path) {
        Some(bits) => {
            let mut slashes = bits.slash;
            let mut seg = 0;
            loop {
                let end = match slashes {
                    0 => path.len(),
                    m => m.trailing_zeros() as usize,
                };
                slashes &= slashes.wrapping_sub(1);
                let (digits, seen) = bits.classes(seg, end);
                take(seg, end, decide(&path[seg..end], digits, seen), s);
                if end == path.len() {
                    break;
                }
                seg = end + 1;
            }
        }
        None => {
            let mut seg = 0;
            for end in memchr::memchr_iter(b'/', path).chain([path.len()]) {
                take(seg, end, classify(&path[seg..end]), s);
                seg = end + 1;
            }
        }
    }
    s.extend_from_slice(&path[copied..]);
    object
}

/// Where the bytes of a path of up to [`PathBits::MAX`] bytes are slashes,
/// digits, `@` and `%`: bit `i` for byte `i`. Found sixteen bytes at a
/// time; a segment's digit count and classes are then a mask and a count of
/// bits. A loop over every byte of every path, through [`BYTE_CLASS`], was
/// about a twentieth of a combined line's instructions (callgrind).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct PathBits {
    slash: u64,
    digit: u64,
    at: u64,
    pct: u64,
}

impl PathBits {
    const MAX: usize = 64;

    fn of(path: &[u8]) -> Option<PathBits> {
        if path.len() > Self::MAX {
            return None;
        }
        // Padded with NULs: none of the bytes looked for.
        let mut buf = [0u8; Self::MAX];
        buf[..path.len()].copy_from_slice(path);
        Some(Self::of_blocks(&buf, path.len().div_ceil(16)))
    }

    /// The first `blocks` sixteen-byte blocks of `buf`.
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    fn of_blocks(buf: &[u8; Self::MAX], blocks: usize) -> PathBits {
        use std::arch::x86_64::*;
        let mut b = PathBits::default();
        for k in 0..blocks {
            let p = &buf[16 * k..16 * k + 16];
            // SAFETY: the cfg above guarantees SSE2 on the target; the load
            // reads the 16 bytes of `p`, unaligned.
            let [slash, digit, at, pct] = unsafe {
                let v = _mm_loadu_si128(p.as_ptr().cast());
                let is = |c: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8));
                // A digit is at most 9 above `0`, unsigned:
                // min(v - '0', 9) == v - '0'.
                let d = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
                let digit = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d);
                [is(b'/'), digit, is(b'@'), is(b'%')]
                    .map(|m| u64::from(_mm_movemask_epi8(m) as u16) << (16 * k))
            };
            b.slash |= slash;
            b.digit |= digit;
            b.at |= at;
            b.pct |= pct;
        }
        b
    }

    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    fn of_blocks(buf: &[u8; Self::MAX], blocks: usize) -> PathBits {
        Self::of_bytes(&buf[..16 * blocks])
    }

    /// [`PathBits::of_blocks`] a byte at a time: where SSE2 is missing, and
    /// in tests as the vector version's reference.
    #[cfg_attr(
        all(target_arch = "x86_64", target_feature = "sse2", not(test)),
        allow(dead_code)
    )]
    fn of_bytes(bytes: &[u8]) -> PathBits {
        let mut b = PathBits::default();
        for (i, &c) in bytes.iter().enumerate() {
            b.slash |= u64::from(c == b'/') << i;
            b.digit |= u64::from(c.is_ascii_digit()) << i;
            b.at |= u64::from(c == b'@') << i;
            b.pct |= u64::from(c == b'%') << i;
        }
        b
    }

    /// The digits of bytes `seg..end` and the union of their
    /// [`BYTE_CLASS`]es, as [`classify`] counts them.
    #[inline(always)]
    fn classes(&self, seg: usize, end: usize) -> (usize, u8) {
        let below = |n: usize| if n >= 64 { !0 } else { (1u64 << n) - 1 };
        let range = below(end) & !below(seg);
        // Most segments are words: no digit to count (a count of bits is
        // a dozen instructions without POPCNT, which x86-64 may lack).
        let digits = match self.digit & range {
            0 => 0,
            m => m.count_ones() as usize,
        };
        let has = |m: u64, class: u8| if m & range != 0 { class } else { 0 };
        let seen = has(self.digit, DIGIT) | has(self.at, AT) | has(self.pct, PCT);
        (digits, seen)
    }
}

/// What [`classify`] notes of each byte: a digit (the low bit, so that
/// it adds up to a count), `@`, `%`.
const DIGIT: u8 = 1;
const AT: u8 = 2;
const PCT: u8 = 4;
const BYTE_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut d = b'0';
    while d <= b'9' {
        t[d as usize] = DIGIT;
        d += 1;
    }
    t[b'@' as usize] = AT;
    t[b'%' as usize] = PCT;
    t
};

/// Classify one path segment (or query value) as an identifier.
#[inline]
pub fn classify(seg: &[u8]) -> Option<ObjectId> {
    // Not worth reading (decide refuses it too).
    if seg.len() > 256 {
        return None;
    }
    // One pass for what the common case needs: most segments are words
    // ("v1", "customers") and, with no digit, can only be a UUID or an email.
    // A table lookup per byte: three compares each cost twice as much, on
    // every segment of every path.
    let (mut digits, mut seen) = (0usize, 0u8);
    for &c in seg {
        let class = BYTE_CLASS[c as usize];
        digits += (class & DIGIT) as usize;
        seen |= class;
    }
    decide(seg, digits, seen)
}

/// [`classify`] of a segment whose bytes' classes were read already
/// (`digits` counted, `seen` the union of their [`BYTE_CLASS`]es).
#[inline(always)]
fn decide(seg: &[u8], digits: usize, seen: u8) -> Option<ObjectId> {
    let n = seg.len();
    if n == 0 || n > 256 {
        return None;
    }
    let (at, pct) = (seen & AT != 0, seen & PCT != 0);
    // Decided where the caller is, without a call: the words, and short
    // segments with a digit or three among letters ("v1", "oauth2"). An id
    // that is not all digits has four or more (prefixed, E.164), or is
    // longer (hex, token, UUID), or has an `@` or `%40` (email).
    if !at && !pct && (digits == 0 && n != 36 || digits < 4 && digits < n && n < 16) {
        return None;
    }
    candidate(seg, digits, at, pct)
}

/// [`classify`] of a segment that [`decide`] could not rule out: one with
/// an `@` or `%`, of a UUID's length, or with a digit and either four or
/// more of them, nothing but digits, or 16 bytes or more. Its digits
/// counted.
#[inline(never)]
fn candidate(seg: &[u8], digits: usize, at: bool, pct: bool) -> Option<ObjectId> {
    let n = seg.len();
    if digits == n {
        return Some(match n {
            1..=10 => ObjectId {
                kind: IdKind::Int,
                value: parse_u64(seg),
            },
            11..=15 => ObjectId {
                kind: IdKind::Msisdn,
                value: parse_u64(seg),
            },
            _ => ObjectId {
                kind: IdKind::Token,
                value: stable_hash(seg),
            },
        });
    }
    // E.164 with its plus sign, raw or percent-encoded.
    let plus = seg
        .strip_prefix(b"+")
        .or_else(|| seg.strip_prefix(b"%2B"))
        .or_else(|| seg.strip_prefix(b"%2b"));
    if let Some(num) = plus
        && (7..=15).contains(&num.len())
        && num.iter().all(u8::is_ascii_digit)
    {
        return Some(ObjectId {
            kind: IdKind::Msisdn,
            value: parse_u64(num),
        });
    }
    if n == 36 && is_uuid(seg) {
        return Some(ObjectId {
            kind: IdKind::Uuid,
            value: stable_hash(&lower36(seg)),
        });
    }
    let at = if at {
        memchr::memchr(b'@', seg)
    } else if pct {
        memchr::memmem::find(seg, b"%40")
    } else {
        None
    };
    if let Some(at) = at
        && at > 0
        && memchr::memchr(b'.', &seg[at..]).is_some()
    {
        return Some(ObjectId {
            kind: IdKind::Email,
            value: stable_hash(seg),
        });
    }
    if n >= 16 && seg.iter().all(u8::is_ascii_hexdigit) && digits > 0 {
        return Some(ObjectId {
            kind: IdKind::Hex,
            value: stable_hash(seg),
        });
    }
    // Letter prefix + number: ACC-00123456, C1234567.
    let alpha = seg.iter().take_while(|c| c.is_ascii_alphabetic()).count();
    if (1..=5).contains(&alpha) {
        let mut rest = &seg[alpha..];
        if let [b'-' | b'_', tail @ ..] = rest {
            rest = tail;
        }
        if (4..=15).contains(&rest.len()) && rest.iter().all(u8::is_ascii_digit) {
            return Some(ObjectId {
                kind: IdKind::Prefixed,
                value: parse_u64(rest),
            });
        }
    }
    if n >= 20
        && digits >= 2
        && seg
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_=.%".contains(c))
    {
        let letters = seg.iter().filter(|c| c.is_ascii_alphabetic()).count();
        if letters >= 2 && !seg.contains(&b'.') {
            return Some(ObjectId {
                kind: IdKind::Token,
                value: stable_hash(seg),
            });
        }
    }
    None
}

fn parse_u64(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |a, c| {
        a.wrapping_mul(10).wrapping_add((c - b'0') as u64)
    })
}

fn is_uuid(s: &[u8]) -> bool {
    s.iter().enumerate().all(|(i, c)| match i {
        8 | 13 | 18 | 23 => *c == b'-',
        _ => c.is_ascii_hexdigit(),
    })
}

fn lower36(s: &[u8]) -> [u8; 36] {
    let mut o = [0u8; 36];
    for (d, c) in o.iter_mut().zip(s) {
        *d = c.to_ascii_lowercase();
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The router templates a path as cutting it at its slashes first and
    /// classifying each segment does, whether it reads the path through
    /// [`PathBits`] (up to 64 bytes) or cuts and classifies (longer): on
    /// random paths of words, ids, empty segments and odd bytes, and on the
    /// edges (64 and 65 bytes, a slash last, segments over 256 bytes).
    #[test]
    fn path_templating_agrees_with_split_and_classify() {
        let mut rng = crate::test_rng::Rng::new(0x7a3c_55e1_0d2b_9f47);
        let parts: [&[u8]; 12] = [
            b"api",
            b"v1",
            b"customers",
            b"1144058",
            b"447700900123",
            b"ACC-00123456",
            b"8f14e45f-ceea-467a-9a0e-6ad1f2b3c4d5",
            b"jane%40example.com",
            b"",
            b"x@y.io",
            b"deadbeefcafeba5e0",
            b"a.b",
        ];
        let mut router = Router::new(Vec::new(), Vec::new(), 1_000_000);
        let mut check = |path: &[u8]| {
            let (mut want, mut object) = (b"GET ".to_vec(), None);
            if path.is_empty() {
                want.push(b'/');
            }
            for (i, seg) in path.split(|&b| b == b'/').enumerate() {
                if i > 0 {
                    want.push(b'/');
                }
                match classify(seg) {
                    Some(o) => {
                        want.extend_from_slice(o.kind.placeholder());
                        object = Some(o);
                    }
                    None => want.extend_from_slice(seg),
                }
            }
            let got = router.route(b"GET", path, b"");
            let info = router.info(got.route);
            let shown = format!("{} {}", info.method, info.template);
            assert_eq!(shown.as_bytes(), String::from_utf8_lossy(&want).as_bytes());
            assert_eq!(got.object, object, "{}", String::from_utf8_lossy(path));
        };
        let digits = |n: usize| "7".repeat(n);
        let edges = [
            format!("/api/v1/customers/{}", digits(46)),
            format!("/api/v1/customers/{}", digits(47)),
            format!("/api/v1/customers/{}/", digits(45)),
            format!("/api/v1/customers/{}/", digits(46)),
            format!("/a/{}/b", digits(256)),
            format!("/a/{}/b", digits(257)),
            format!("/a/{}/1234567", "x".repeat(300)),
            format!("{}/", digits(63)),
            digits(64),
            digits(65),
        ];
        for path in &edges {
            check(path.as_bytes());
        }
        assert_eq!(edges[0].len(), PathBits::MAX);
        assert_eq!(edges[1].len(), PathBits::MAX + 1);
        // Paths short enough for PathBits, and longer ones.
        let mut short = 0;
        for _ in 0..20_000 {
            let mut path = Vec::new();
            for _ in 0..1 + rng.below(6) {
                path.extend_from_slice(b"/");
                let p = parts[rng.below(parts.len() as u64) as usize];
                if rng.below(4) == 0 {
                    path.extend(crate::test_rng::mutated(&mut rng, p, b"/0a%@-9:\xb0"));
                } else {
                    path.extend_from_slice(p);
                }
            }
            if rng.below(8) == 0 {
                path.remove(0); // no leading slash
            }
            short += usize::from(path.len() <= PathBits::MAX);
            check(&path);
        }
        assert!((1_000..19_000).contains(&short), "{short} short paths");
    }

    /// The vector reading of a path's bytes finds what the byte loop finds,
    /// at every length up to the most it reads, and the classes of any
    /// stretch of them are those `classify` counts.
    #[test]
    fn path_bits_agree_with_the_byte_loop() {
        let mut rng = crate::test_rng::Rng::new(0x3b9a_ca07_5eed_0f11);
        let alphabet = b"/0123456789:@%a.\x00\x2f\x3a\xb0\xff";
        for _ in 0..20_000 {
            let n = rng.below(PathBits::MAX as u64 + 1) as usize;
            let path: Vec<u8> = (0..n)
                .map(|_| match rng.below(4) {
                    0 => rng.below(256) as u8,
                    _ => alphabet[rng.below(alphabet.len() as u64) as usize],
                })
                .collect();
            let bits = PathBits::of(&path).expect("short enough");
            assert_eq!(bits, PathBits::of_bytes(&path), "{path:?}");
            let (a, b) = (
                rng.below(n as u64 + 1) as usize,
                rng.below(n as u64 + 1) as usize,
            );
            let (seg, end) = (a.min(b), a.max(b));
            let (mut digits, mut seen) = (0, 0);
            for &c in &path[seg..end] {
                digits += usize::from(BYTE_CLASS[c as usize] & DIGIT);
                seen |= BYTE_CLASS[c as usize];
            }
            assert_eq!(
                bits.classes(seg, end),
                (digits, seen),
                "{path:?} {seg}..{end}"
            );
        }
        assert_eq!(PathBits::of(&[b'/'; PathBits::MAX + 1]), None);
    }

    /// What `classify` decides inline (no id) is what the full reading
    /// decides: on random short mixes of letters, digits and the bytes ids
    /// are made of, and on every id shape with a byte changed.
    #[test]
    fn inline_rejection_agrees_with_the_full_reading() {
        let full = |seg: &[u8]| {
            let digits = seg.iter().filter(|c| c.is_ascii_digit()).count();
            candidate(seg, digits, seg.contains(&b'@'), seg.contains(&b'%'))
        };
        let mut rng = crate::test_rng::Rng::new(0x51ed_2701_9e3c_4b11);
        let alphabet = b"av0123456789-_+%@.Bf";
        let shapes: [&[u8]; 10] = [
            b"deadbeefcafeba5e",
            b"ACC-00123456",
            b"C1234567",
            b"+447700900123",
            b"%2B447700900123",
            b"jane.doe@example.com",
            b"0123456789abcdef0123",
            b"8f14e45f-ceea-467a-9a0e-6ad1f2b3c4d5",
            b"tok_9aZ3kQ7xP2mL5nR8vW1y",
            b"v1",
        ];
        let mut rejected = 0;
        for i in 0..200_000 {
            let seg: Vec<u8> = if i % 2 == 0 {
                let n = 1 + rng.below(24) as usize;
                (0..n)
                    .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
                    .collect()
            } else {
                let base = shapes[rng.below(shapes.len() as u64) as usize];
                crate::test_rng::mutated(&mut rng, base, alphabet)
            };
            if seg.is_empty() {
                continue; // classify's own early exit
            }
            let got = classify(&seg);
            assert_eq!(got, full(&seg), "{:?}", String::from_utf8_lossy(&seg));
            rejected += got.is_none() as u32;
        }
        // Both outcomes are exercised.
        assert!(rejected > 10_000 && rejected < 190_000, "{rejected}");
    }

    fn t(r: &mut Router, m: &str, p: &str, q: &str) -> (String, Option<ObjectId>, Option<Page>) {
        let x = r.route(m.as_bytes(), p.as_bytes(), q.as_bytes());
        (r.info(x.route).template.clone(), x.object, x.page)
    }

    #[test]
    fn templates_are_escaped_for_printing() {
        let mut r = Router::new(vec![], vec![], 100);
        let x = r.route(b"G\x1bT", "/api/\x1b[31m\u{202e}red\r/7000".as_bytes(), b"");
        let info = r.info(x.route);
        assert_eq!(info.shown(), "G\\x1BT /api/\\x1B[31m\\u{202e}red\\r/{int}");
        assert!(x.object.is_some());
        // The table keeps the template as written: reloaded from a state
        // file, the same line finds the same route.
        let (saved, overflowed) = r.save();
        let mut again = Router::new(vec![], vec![], 100);
        again.load(saved, overflowed);
        let y = again.route(b"G\x1bT", "/api/\x1b[31m\u{202e}red\r/7001".as_bytes(), b"");
        assert_eq!(y.route, x.route);
        assert_eq!(again.len(), 1);
        let z = again.route(b"GET", br"/api/\x22a\x5C/7001", b"");
        assert_eq!(
            again.route(b"GET", br"/api/\x22a\x5C/7002", b"").route,
            z.route
        );
    }

    /// The template keeps every byte of the path but its id segments:
    /// empty segments, a trailing slash, ids first, last and side by side.
    #[test]
    fn templates_keep_the_path_around_ids() {
        let mut r = Router::new(vec![], vec![], 100);
        for (path, want) in [
            ("", "/"),
            ("/", "/"),
            ("7", "{int}"),
            ("//a//", "//a//"),
            ("/a/1/2/b", "/a/{int}/{int}/b"),
            ("/1/", "/{int}/"),
            ("x/447700900123", "x/{msisdn}"),
            ("/a//12345//c/", "/a//{int}//c/"),
        ] {
            assert_eq!(t(&mut r, "GET", path, "").0, want, "{path:?}");
        }
    }

    #[test]
    fn typed_placeholders() {
        let mut r = Router::new(vec![], vec![], 100);
        let (tpl, o, _) = t(&mut r, "GET", "/api/v1/customers/1234567/billing", "");
        assert_eq!(tpl, "/api/v1/customers/{int}/billing");
        assert_eq!(
            o,
            Some(ObjectId {
                kind: IdKind::Int,
                value: 1234567
            })
        );
        assert_eq!(
            t(&mut r, "GET", "/api/v1/lines/447700900123/usage", "").0,
            "/api/v1/lines/{msisdn}/usage"
        );
        assert_eq!(
            t(&mut r, "GET", "/api/v1/lines/%2B447700900123/usage", "")
                .1
                .unwrap()
                .value,
            447700900123
        );
        assert_eq!(
            t(
                &mut r,
                "GET",
                "/api/v1/devices/3F2504E0-4F89-11D3-9A0C-0305E82C3301",
                ""
            )
            .0,
            "/api/v1/devices/{uuid}"
        );
        assert_eq!(t(&mut r, "GET", "/u/a.b%40example.com", "").0, "/u/{email}");
        assert_eq!(
            t(&mut r, "GET", "/u/jane.doe@example.com", "").0,
            "/u/{email}"
        );
        assert_eq!(
            t(&mut r, "GET", "/t/9f86d081884c7d659a2feaa0c55ad015", "").0,
            "/t/{hex}"
        );
        assert_eq!(
            t(&mut r, "GET", "/a/ACC-00123456", "").1.unwrap().value,
            123456
        );
        assert_eq!(t(&mut r, "GET", "/api/v1/me", "").0, "/api/v1/me");
    }

    #[test]
    fn same_template_same_route_and_lookup_flag() {
        let mut r = Router::new(vec![], vec![], 100);
        let a = r.route(b"GET", b"/customers/1", b"");
        let b = r.route(b"GET", b"/customers/999", b"");
        assert_eq!(a.route, b.route);
        assert!(r.info(a.route).lookup);
        let p = r.route(b"POST", b"/api/v1/auth/login", b"");
        assert!(r.info(p.route).login && !r.info(p.route).lookup);
        let s = r.route(b"GET", b"/static/app.123456.js", b"");
        assert!(!r.info(s.route).lookup);
    }

    #[test]
    fn query_ids_and_pagination() {
        let mut r = Router::new(vec![], vec![], 100);
        let (tpl, o, _) = t(&mut r, "GET", "/api/v1/accounts", "account_id=1200345&x=1");
        assert_eq!(tpl, "/api/v1/accounts?account_id={int}");
        assert_eq!(o.unwrap().value, 1200345);
        assert_eq!(
            t(&mut r, "GET", "/e", "msisdn=%2B447700900123").0,
            "/e?msisdn={msisdn}"
        );
        let (tpl, o, p) = t(&mut r, "GET", "/orders", "page=37&per_page=20");
        assert_eq!(
            (tpl.as_str(), o, p),
            ("/orders", None, Some(Page::Number(37)))
        );
        assert_eq!(
            t(&mut r, "GET", "/orders", "offset=200&limit=50").2,
            Some(Page::Number(5))
        );
        assert!(matches!(
            t(&mut r, "GET", "/orders", "cursor=abc").2,
            Some(Page::Cursor(_))
        ));
        let id = r.route(b"GET", b"/orders", b"").route;
        assert!(r.info(id).list);
        assert_eq!(t(&mut r, "GET", "/search", "q=john").0, "/search");
    }

    #[test]
    fn stage_prefix_and_rules() {
        let rules = vec![RouteRule {
            path: "/internal/*".into(),
            method: None,
            name: Some("internal".into()),
            lookup: Some(false),
            list: None,
            login: None,
        }];
        let mut r = Router::new(rules, vec!["/prod".into()], 100);
        assert_eq!(
            t(&mut r, "GET", "/prod/customers/5", "").0,
            "/customers/{int}"
        );
        assert_eq!(t(&mut r, "GET", "/production/x", "").0, "/production/x");
        let x = r.route(b"GET", b"/internal/users/5", b"");
        assert!(!r.info(x.route).lookup);
        assert_eq!(r.info(x.route).label(), "internal");
    }

    #[test]
    fn template_table_is_bounded() {
        let mut r = Router::new(vec![], vec![], 50);
        for i in 0..10_000 {
            r.route(b"GET", format!("/random-{i}-x/page").as_bytes(), b"");
        }
        assert!(r.len() <= 50 + 16);
        assert!(r.overflowed() > 9000);
    }
}
