//! Integration tests for the ingest foundation: sources (plain, gzip,
//! rotated sets, stdin), line handling, format detection on real upstream
//! logs, and the safety of everything printed from a log line.
//!
//! One test target (`cargo test --profile test-release --test cli`); each file below is a
//! module. Tests only touch temp files and the read-only `../shared/real-logs`.

mod common;
mod escape;
mod ingest;
mod real_logs;
mod sample;
