#!/usr/bin/env bash
# The cluster torture of issue 14 (figures in bench/CLUSTER-TORTURE.md): builds `courier` and
# `courier-torture` in release, then runs three `courier run` instances on a PostgreSQL store
# of the torture's own (a throwaway cluster under --dir), twelve connections, a receiver
# failing 5% at random; 30 SIGKILLs and SIGSTOP pauses past the lease, and one PostgreSQL
# restart mid-run.
#
#   bench/cluster-torture.sh                  # the full run: 120,000 changes, 30 events
#   bench/cluster-torture.sh --quick          # 12,000 changes, 10 events, under a minute
#   bench/cluster-torture.sh --seed 42 --dir /tmp/cluster-torture
#   bench/cluster-torture.sh --help           # every option
#
# Needs the PostgreSQL server binaries (initdb, pg_ctl; Debian's postgresql package) and
# psql. Honours CARGO_TARGET_DIR. Exit status: 0 pass, 1 a guarantee broken (loss, gap, id
# inconsistency, a store that shows a fenced write, panic), 2 the torture could not run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p courier -p courier-torture --bin courier --bin courier-torture
# Absolute: the torture starts courier from its own working directory.
target="$(realpath "${CARGO_TARGET_DIR:-target}")/release"
exec "$target/courier-torture" --cluster --courier "$target/courier" "$@"
