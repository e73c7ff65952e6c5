//! One benchmark per format parser: `LineParser::parse` over a few thousand
//! generated, realistic lines of that format (throughput in bytes of log).
//!
//! cargo bench --bench parse [-- FILTER]

mod common;

use std::hint::black_box;

use apiwatch::formats::{FormatOptions, FormatSpec};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use common::Fmt;

/// Lines per format: enough to defeat the branch predictor memorising them.
const LINES: usize = 4_000;

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    for fmt in Fmt::ALL {
        // Setup, outside timing: lines, the parser, a sanity check.
        let lines = common::lines(fmt, LINES, 0x5eed_0000 + fmt as u64);
        let bytes: u64 = lines.iter().map(|l| l.len() as u64 + 1).sum();
        let spec = FormatSpec::from_name(&fmt.spec_name())
            .unwrap_or_else(|| panic!("unknown format {}", fmt.spec_name()));
        let mut parser = spec
            .build(&FormatOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e:#}", fmt.label()));
        let mut bad = 0usize;
        for l in &lines {
            let r = parser.parse(l);
            if let Ok(r) = &r {
                // A parse that drops the essentials counts as a failure too.
                if r.status == 0 || r.path.is_empty() || r.method.is_empty() || r.ts.0 == 0 {
                    if bad < 3 {
                        eprintln!("{}: incomplete record {r:?}", fmt.label());
                    }
                    bad += 1;
                }
            }
            if let Err(m) = r {
                if bad < 3 {
                    eprintln!(
                        "{}: generated line not parsed ({:?}: {}): {}",
                        fmt.label(),
                        m.kind,
                        m.why,
                        String::from_utf8_lossy(l)
                    );
                }
                bad += 1;
            }
        }
        assert!(
            bad * 100 <= lines.len(),
            "{}: {bad} of {} generated lines did not parse",
            fmt.label(),
            lines.len()
        );

        g.throughput(Throughput::Bytes(bytes));
        g.bench_function(fmt.label(), |b| {
            b.iter(|| {
                let mut acc = 0u64;
                for l in &lines {
                    if let Ok(r) = parser.parse(black_box(l)) {
                        acc = acc.wrapping_add(r.status as u64 + r.path.len() as u64);
                    }
                }
                black_box(acc)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
