//! `Router::route` on realistic request targets: numeric ids, MSISDNs,
//! UUIDs, id-bearing queries, pagination, prefixed ids, static assets, and a
//! realistic mix. The router is warmed first (every template already known),
//! so the timed loop is the steady state: no template allocation.
//!
//! cargo bench --bench routes [-- FILTER]

mod common;

use std::hint::black_box;

use apiwatch::routes::{DEFAULT_MAX_ROUTES, Router};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use common::{Gen, Rng};

const N: usize = 4_000;

/// (method, path, query) owned; split like a parser would.
type Target = (Vec<u8>, Vec<u8>, Vec<u8>);

fn split(method: &str, target: &str) -> Target {
    let (p, q) = target.split_once('?').unwrap_or((target, ""));
    (
        method.as_bytes().to_vec(),
        p.as_bytes().to_vec(),
        q.as_bytes().to_vec(),
    )
}

fn kind(name: &str, seed: u64) -> Vec<Target> {
    let mut r = Rng::new(seed);
    (0..N)
        .map(|_| match name {
            "int-id" => split(
                "GET",
                &format!("/api/v1/customers/{}", r.range(1_000_000, 9_999_999)),
            ),
            "int-id-subresource" => split(
                "GET",
                &format!(
                    "/api/v1/customers/{}/{}",
                    r.range(1_000_000, 9_999_999),
                    r.pick(&["billing", "invoices", "usage", "addresses"])
                ),
            ),
            "msisdn" => split(
                "GET",
                &format!("/api/v2/subscribers/{}/balance", common::msisdn(&mut r)),
            ),
            "uuid" => split("GET", &format!("/api/v1/devices/{}", common::uuid(&mut r))),
            "query-id" => split(
                "GET",
                &format!(
                    "/api/v1/accounts?account_id={}&fields=status,plan",
                    r.range(10_000_000, 99_999_999)
                ),
            ),
            "pagination" => split(
                "GET",
                &format!(
                    "/api/v1/orders?page={}&limit={}&sort=-created",
                    r.range(1, 400),
                    r.pick(&[20, 50, 100])
                ),
            ),
            "prefixed-id" => split(
                "GET",
                &format!("/api/v1/invoices/INV-{:08}", r.range(1, 40_000_000)),
            ),
            "static" => split(
                "GET",
                r.pick(&[
                    "/static/js/app.3f9a1c7e.js",
                    "/static/js/vendor.8b2d4e61.js",
                    "/static/css/main.a1b2c3d4.css",
                    "/static/img/logo.svg",
                    "/favicon.ico",
                    "/robots.txt",
                ]),
            ),
            _ => unreachable!(),
        })
        .collect()
}

fn routes(c: &mut Criterion) {
    let mut g = c.benchmark_group("route");
    g.throughput(Throughput::Elements(N as u64));
    let mut sets: Vec<(&str, Vec<Target>)> = [
        "int-id",
        "int-id-subresource",
        "msisdn",
        "uuid",
        "query-id",
        "pagination",
        "prefixed-id",
        "static",
    ]
    .iter()
    .enumerate()
    .map(|(i, k)| (*k, kind(k, 0xa11_0000 + i as u64)))
    .collect();
    // The generator's traffic mix, as the engine sees it.
    let mut gen_ = Gen::new(0x00c0_ffee, 2_000, 100_000);
    let mixed = (0..N)
        .map(|_| {
            let q = gen_.next_req();
            split(q.method, &q.target)
        })
        .collect();
    sets.push(("mixed", mixed));

    for (name, set) in &sets {
        let mut router = Router::new(Vec::new(), Vec::new(), DEFAULT_MAX_ROUTES);
        for (m, p, q) in set {
            router.route(m, p, q);
        }
        g.bench_function(*name, |b| {
            b.iter(|| {
                let mut acc = 0u64;
                for (m, p, q) in set {
                    let r = router.route(black_box(m), black_box(p), black_box(q));
                    acc = acc
                        .wrapping_add(r.route as u64)
                        .wrapping_add(r.object.map_or(0, |o| o.value));
                }
                black_box(acc)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, routes);
criterion_main!(benches);
