//! The whole pipeline on a generated 1,000,000-line nginx `combined` log,
//! written once to a temp file before anything is timed:
//!
//! * `pipeline/read`: `sources::open` + `LineReader`, counting lines;
//! * `pipeline/read+parse`: the same plus the combined parser;
//! * `pipeline/engine`: `modes::Pump` end to end (detectors, incidents,
//!   alerts serialised to `io::sink()`), as `apiwatch scan -f combined -o json`
//!   does it;
//! * `pipeline/engine-2-threads`: the same with detection on two worker
//!   threads (`scan --threads 2`);
//! * `detectors/engine.feed`: `Engine::feed` alone on pre-built records
//!   (no reading, no parsing), fresh engine per iteration;
//! * `detectors/front-only`: the same with every detector disabled (client,
//!   route, identities, shards), and `detectors/only-NAME`: with one
//!   detector enabled. A detector's per-record cost is the difference
//!   between its `only-` figure and `front-only`.
//!
//! Throughput is in lines (elements), so criterion reports lines/s.
//! The file is in the page cache after the first pass: this measures CPU,
//! not the disk.
//!
//! cargo bench --bench pipeline [-- FILTER]

mod common;

use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::time::Duration;

use apiwatch::cli::{CommonArgs, OutputKind};
use apiwatch::config::Config;
use apiwatch::engine::Engine;
use apiwatch::formats::{FormatOptions, FormatSpec, Record, Timestamp};
use apiwatch::modes::{Pump, sink};
use apiwatch::sources::{self, Input, Line};
use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

use common::{Fmt, Gen};

const PIPELINE_LINES: u64 = 1_000_000;
const FEED_RECORDS: usize = 200_000;

fn config() -> Config {
    Config::from_args(&CommonArgs {
        format: Some("combined".into()),
        output: Some(OutputKind::Json),
        ..Default::default()
    })
    .expect("bench config")
}

/// Write the log once; the directory lives as long as the benchmark.
fn write_log(dir: &tempfile::TempDir) -> (Input, u64) {
    let path = dir.path().join("access.log");
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).expect("temp log"));
    let mut g = Gen::new(0x0b1e_55ed, 20_000, 100_000);
    let mut bytes = 0u64;
    for _ in 0..PIPELINE_LINES {
        let line = common::render(&g.next_req(), Fmt::Combined);
        bytes += line.len() as u64 + 1;
        w.write_all(line.as_bytes()).expect("write");
        w.write_all(b"\n").expect("write");
    }
    w.flush().expect("flush");
    (Input::File(path), bytes)
}

fn pipeline(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (input, bytes) = write_log(&dir);
    eprintln!(
        "pipeline: {PIPELINE_LINES} lines, {:.1} MB at {}",
        bytes as f64 / 1e6,
        input.display()
    );
    let cfg = config();

    let mut g = c.benchmark_group("pipeline");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(PIPELINE_LINES));

    g.bench_function("read", |b| {
        b.iter(|| {
            let mut opened = sources::open(&input, 0, cfg.max_line).expect("open");
            let mut n = 0u64;
            while let Some(l) = opened.lines.next_line().expect("read") {
                if let Line::Data(d) | Line::Binary(d) = l {
                    black_box(d);
                }
                n += 1;
            }
            assert_eq!(n, PIPELINE_LINES);
            n
        })
    });

    g.bench_function("read+parse", |b| {
        let mut parser = FormatSpec::Combined
            .build(&FormatOptions::default())
            .expect("parser");
        b.iter(|| {
            let mut opened = sources::open(&input, 0, cfg.max_line).expect("open");
            let (mut n, mut ok) = (0u64, 0u64);
            while let Some(l) = opened.lines.next_line().expect("read") {
                n += 1;
                if let Line::Data(d) | Line::Binary(d) = l
                    && let Ok(r) = parser.parse(d)
                {
                    ok += 1;
                    black_box(&r);
                }
            }
            assert_eq!(n, PIPELINE_LINES);
            assert_eq!(ok, PIPELINE_LINES);
            n
        })
    });

    for (name, threads) in [("engine", 1), ("engine-2-threads", 2)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut pump = Pump::new(cfg.clone());
                pump.start_threads(threads);
                let mut out = sink(&pump.cfg, Box::new(std::io::sink()), false);
                let mut opened = sources::open(&input, 0, pump.cfg.max_line).expect("open");
                let (parser, err) = pump
                    .pump(&input.display(), &mut opened.lines, None, out.as_mut())
                    .expect("pump");
                assert!(err.is_none(), "read error: {err:?}");
                pump.drain(parser.expect("parser").as_mut(), out.as_mut())
                    .expect("drain");
                pump.finish(out.as_mut()).expect("finish");
                assert_eq!(pump.stats.lines, PIPELINE_LINES);
                assert_eq!(pump.stats.parsed, PIPELINE_LINES);
                black_box(pump.engine.incidents.opened)
            })
        });
    }
    g.finish();
}

/// Owned parts of one request, from which a `Record` is borrowed.
struct Owned {
    line: Vec<u8>,
    ip: IpAddr,
    q: common::Req,
}

fn detectors(c: &mut Criterion) {
    let mut g = Gen::new(0xfeed, 20_000, 100_000);
    let owned: Vec<Owned> = (0..FEED_RECORDS)
        .map(|_| {
            let q = g.next_req();
            Owned {
                line: common::render(&q, Fmt::Combined).into_bytes(),
                ip: q.ip.parse().expect("generated address"),
                q,
            }
        })
        .collect();
    let records: Vec<Record<'_>> = owned
        .iter()
        .map(|o| {
            let q = &o.q;
            let mut r = Record {
                ts: Timestamp(q.ts_us),
                client: Some(o.ip),
                client_port: None,
                method: q.method.as_bytes(),
                status: q.status,
                bytes: Some(q.bytes),
                user_agent: q.ua.as_bytes(),
                referer: if q.referer == "-" {
                    b""
                } else {
                    q.referer.as_bytes()
                },
                principal: q.user.as_deref().unwrap_or("").as_bytes(),
                ..Default::default()
            };
            r.set_target(q.target.as_bytes());
            r
        })
        .collect();
    let cfg = config();

    let mut grp = c.benchmark_group("detectors");
    grp.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(FEED_RECORDS as u64));
    let mut variants = vec![("engine.feed".to_owned(), cfg.clone())];
    variants.push(("front-only".to_owned(), only(&cfg, None)));
    for name in DETECTORS {
        variants.push((format!("only-{name}"), only(&cfg, Some(name))));
    }
    for (name, cfg) in &variants {
        grp.bench_function(name.as_str(), |b| {
            b.iter_batched(
                || Engine::new(cfg),
                |mut engine| {
                    let mut out = apiwatch::alerts::JsonSink::new(std::io::sink(), false);
                    for (r, o) in records.iter().zip(&owned) {
                        engine.feed(r, &o.line, &mut out).expect("feed");
                    }
                    engine
                },
                BatchSize::PerIteration,
            )
        });
    }
    grp.finish();
}

const DETECTORS: [&str; 6] = [
    "enumeration",
    "slow_sweep",
    "distributed_sweep",
    "bola",
    "pagination_harvest",
    "credential_stuffing",
];

/// `cfg` with only detector `keep` enabled (none for `None`).
fn only(cfg: &Config, keep: Option<&str>) -> Config {
    let mut c = cfg.clone();
    let d = &mut c.detect;
    let on = |n: &str| keep == Some(n);
    d.enumeration.enabled = on("enumeration");
    d.slow_sweep.enabled = on("slow_sweep");
    d.distributed_sweep.enabled = on("distributed_sweep");
    d.bola.enabled = on("bola");
    d.pagination_harvest.enabled = on("pagination_harvest");
    d.credential_stuffing.enabled = on("credential_stuffing");
    c
}

criterion_group!(benches, pipeline, detectors);
criterion_main!(benches);
