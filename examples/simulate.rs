//! Dev tool: render a simulated, labelled day of telecom-API traffic.
//!
//! cargo run --release --example simulate -- FORMAT [SEED] [USERS] [NAT_MULT] [TRUTH_FILE]
//!
//! Lines go to stdout; the ground truth (attack families, their actors and
//! time windows) to TRUTH_FILE if given. SIM_DAY_OFFSET=N in the environment
//! moves the day N days later (for multi-day benchmark logs). Formats: combined, nginx_custom,
//! alb, apigw_json, caddy_json, traefik_json, envoy, haproxy, traefik_clf,
//! nginx_ingress, elb_classic. Not part of the shipped CLI.

#[path = "../tests/support/sim.rs"]
mod sim;

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fmt = args
        .first()
        .and_then(|f| sim::Format::from_name(f))
        .unwrap_or_else(|| {
            eprintln!("usage: simulate FORMAT [SEED] [USERS] [NAT_MULT] [TRUTH_FILE]");
            std::process::exit(2)
        });
    let num = |i: usize, d: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let offset: i64 = std::env::var("SIM_DAY_OFFSET")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut cfg = sim::SimConfig {
        seed: num(1, 1),
        users: num(2, 20_000) as u32,
        nat_multiplier: num(3, 1) as u32,
        ..Default::default()
    };
    cfg.day_start += offset * 86_400;
    let (events, truth) = sim::generate(&cfg);
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    for e in &events {
        writeln!(out, "{}", sim::render(e, fmt)).expect("stdout");
    }
    if let Some(path) = args.get(4) {
        let families: Vec<serde_json::Value> = truth
            .families
            .iter()
            .map(|f| {
                serde_json::json!({
                    "family": f.family, "start": f.start_micros / 1_000_000,
                    "end": f.end_micros / 1_000_000, "actors": f.actors,
                })
            })
            .collect();
        let benign: Vec<&String> = truth.benign_identities.iter().map(|(_, id)| id).collect();
        let t = serde_json::json!({ "families": families, "benign": benign });
        std::fs::write(path, t.to_string()).expect("truth file");
    }
}
