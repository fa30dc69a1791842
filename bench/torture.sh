#!/usr/bin/env bash
# The crash torture (issue 6; figures in bench/TORTURE.md): builds `courier` and
# `courier-torture` in release, then SIGKILLs and restarts the real `courier run` 30 times
# while a simulated EHR and a flaky receiver run in the torture process.
#
#   bench/torture.sh                 # the full run: 200,000 changes, outages of 60 s and 30 s
#   bench/torture.sh --quick         # 20,000 changes, outages of 6 s and 3 s
#   bench/torture.sh --help          # every option (changes, rate, kills, seed, ...)
#
# Honours CARGO_TARGET_DIR. Exit status: 0 pass, 1 a guarantee broken (loss, gap, id
# inconsistency, panic, dead letter), 2 the torture could not run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p courier -p courier-torture --bin courier --bin courier-torture
# Absolute: the torture starts courier from its own working directory.
target="$(realpath "${CARGO_TARGET_DIR:-target}")/release"
exec "$target/courier-torture" --courier "$target/courier" "$@"
