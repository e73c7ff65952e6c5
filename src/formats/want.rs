//! What a parser test expects of a record: one description for every
//! format's tests, so that each asserts every field, and those its format
//! never logs as empty (`..NONE`).

use super::Record;

pub struct Want {
    pub ts: &'static str,
    pub xff: &'static str,
    pub client: Option<&'static str>,
    pub port: Option<u16>,
    pub method: &'static str,
    pub path: &'static str,
    pub query: &'static str,
    pub status: u16,
    pub bytes: Option<u64>,
    pub duration: Option<u64>,
    pub ua: &'static str,
    pub referer: &'static str,
    pub host: &'static str,
    pub request_id: &'static str,
}

/// Nothing logged: the rest of a [`Want`] for the fields a format lacks.
pub const NONE: Want = Want {
    ts: "",
    xff: "",
    client: None,
    port: None,
    method: "",
    path: "",
    query: "",
    status: 0,
    bytes: None,
    duration: None,
    ua: "",
    referer: "",
    host: "",
    request_id: "",
};

/// Assert that `r`, parsed from `line`, is what `w` says.
pub fn check(r: &Record, line: &str, w: &Want) {
    assert_eq!(r.ts.rfc3339(), w.ts, "{line}");
    assert_eq!(r.forwarded_for, w.xff.as_bytes(), "{line}");
    assert_eq!(r.client, w.client.map(|c| c.parse().unwrap()), "{line}");
    assert_eq!(r.client_port, w.port, "{line}");
    assert_eq!(r.method, w.method.as_bytes(), "{line}");
    assert_eq!(r.path, w.path.as_bytes(), "{line}");
    assert_eq!(r.query, w.query.as_bytes(), "{line}");
    assert_eq!(r.status, w.status, "{line}");
    assert_eq!(r.bytes, w.bytes, "{line}");
    assert_eq!(r.duration_us, w.duration, "{line}");
    assert_eq!(r.user_agent, w.ua.as_bytes(), "{line}");
    assert_eq!(r.referer, w.referer.as_bytes(), "{line}");
    assert_eq!(r.host, w.host.as_bytes(), "{line}");
    assert_eq!(r.request_id, w.request_id.as_bytes(), "{line}");
}
