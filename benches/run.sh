#!/usr/bin/env bash
# The benchmark suite (BENCHMARKS.md): builds `courier` and `courier-bench` in release (both,
# so the suite never measures a stale courier), then runs the suite with these arguments.
#
#   benches/run.sh                                  # every scenario, ~6 minutes
#   benches/run.sh run --only latency               # one scenario (repeatable flag)
#   benches/run.sh run --only postgres --only failover
#                                                   # issue 14: on PostgreSQL (needs initdb, psql)
#   benches/run.sh run --only snapshot              # issue 15: a 100,000-record window
#   benches/run.sh run --only console               # issue 16: the console, 10,000 connections
#   benches/run.sh run --help                       # durations, sizes, output file
#
# Honours CARGO_TARGET_DIR. The results table goes to target/courier-bench/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p courier -p courier-bench --bin courier --bin courier-bench
target="$(realpath "${CARGO_TARGET_DIR:-target}")/release"
exec "$target/courier-bench" "$@"
