#!/usr/bin/env bash
# Courier's CPU cost per notification in scenario 1's setup (endless backlog, 2 enrichment
# GETs, signed POSTs, durable store), read from Courier's process alone while the load EHR and
# the counting receiver run as processes of their own. See BENCHMARKS.md, "Cost per
# notification".
#
# Usage: benches/cost.sh [connections=1] [measure seconds=20] [perf record: 0|1]
#   COURIER=path      the courier binary (default target/release/courier), for A/B runs
#   PERF_RECORD_OPTS  extra `perf record` options, e.g. "--call-graph dwarf,32768 -F 800"
#   COST_REPORT       where the profile summary goes (default /tmp/courier-cost-report.txt)
#   DESTINATION_EXTRA a line added to the destination's table, e.g. "retain_hours = 0"
#   SOURCE            changes (default: the feed, two enrichment GETs) or fhir (the search)
# Needs: the bench binary (benches/run.sh builds it with courier; or cargo build --release
# -p courier -p courier-bench --bin courier --bin courier-bench), perf, curl.
set -euo pipefail
connections=${1:-1}
secs=${2:-20}
record=${3:-0}
cd "$(dirname "$0")/.."
courier=${COURIER:-target/release/courier}
harness=target/release/courier-bench
work=$(mktemp -d /tmp/courier-cost.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

export BENCH_SECRET="whsec_$(head -c 32 /dev/urandom | base64)"
ready() { # $1 = log file: waits for its READY line and prints the URL
    for _ in $(seq 600); do
        if line=$(grep -m1 '^READY ' "$1" 2>/dev/null); then echo "${line#READY }"; return; fi
        sleep 0.1
    done
    echo "no READY in $1" >&2; exit 1
}
"$harness" ehr --feed backlog --payload 256 >"$work/ehr.out" & pids+=($!)
ehr_pid=$!
"$harness" receiver >"$work/receiver.out" & pids+=($!)
receiver_pid=$!
ehr=$(ready "$work/ehr.out")
receiver=$(ready "$work/receiver.out")

"$harness" config --ehr "$ehr" --receiver "$receiver" --store "$work/store" \
    --connections "$connections" --source "${SOURCE:-changes}" >"$work/courier.toml"
if [ -n "${DESTINATION_EXTRA:-}" ]; then
    sed -i "/^\[destinations\.hooks\]/a $DESTINATION_EXTRA" "$work/courier.toml"
fi

RUST_LOG=warn "$courier" run --config "$work/courier.toml" 2>"$work/courier.log" & pids+=($!)
courier_pid=$!
sleep 5
unique() { curl -s "${receiver%/hooks}/stats" | sed 's/.*"unique":\([0-9]*\).*/\1/'; }
stat_ticks() { awk '{print $14 + $15, $14}' "/proc/$courier_pid/stat"; }
harness_ticks() { cat "/proc/$ehr_pid/stat" "/proc/$receiver_pid/stat" | awk '{t += $14 + $15} END {print t}'; }
before=$(unique); read -r ticks_before user_before <<<"$(stat_ticks)"; harness_before=$(harness_ticks)
if [ "$record" = 1 ]; then
    perf record -F 999 ${PERF_RECORD_OPTS:-} -o "$work/perf.data" -p "$courier_pid" -- sleep "$secs" 2>"$work/perf.err"
else
    perf stat -e "task-clock,context-switches,cpu-migrations,page-faults,raw_syscalls:sys_enter$(
        printf ',syscalls:sys_enter_%s' sendto recvfrom write writev read epoll_wait futex)" -p "$courier_pid" \
        -o "$work/perf.txt" -- sleep "$secs"
fi
after=$(unique); read -r ticks_after user_after <<<"$(stat_ticks)"; harness_after=$(harness_ticks)
delivered=$((after - before))
hz=$(getconf CLK_TCK)
cpu_ms=$(( (ticks_after - ticks_before) * 1000 / hz ))
user_ms=$(( (user_after - user_before) * 1000 / hz ))
echo "connections=$connections window=${secs}s delivered=$delivered ($((delivered / secs))/s)"
echo "courier cpu (utime+stime) ${cpu_ms} ms => $(awk -v c="$cpu_ms" -v d="$delivered" 'BEGIN{printf "%.1f", c*1000/d}') us/notification" \
    "(user $(awk -v c="$user_ms" -v d="$delivered" 'BEGIN{printf "%.1f", c*1000/d}'), system $(
        awk -v c="$((cpu_ms - user_ms))" -v d="$delivered" 'BEGIN{printf "%.1f", c*1000/d}'))"
harness_ms=$(( (harness_after - harness_before) * 1000 / hz ))
echo "courier peak RSS (VmHWM) $(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$courier_pid/status") MB"
echo "harness cpu (load EHR + receiver) ${harness_ms} ms => $(awk -v c="$harness_ms" -v d="$delivered" 'BEGIN{printf "%.1f", c*1000/d}') us/notification"
if [ -f "$work/perf.txt" ]; then
    awk -v d="$delivered" '
        /task-clock/ { gsub(",", "", $1); printf "  task-clock %.0f ms => %.1f us/notification\n", $1, $1*1000/d }
        /context-switches|cpu-migrations|page-faults|sys_enter/ {
            gsub(",", "", $1); printf "  %s %s => %.2f per notification\n", $2, $1, $1/d }' "$work/perf.txt"
fi
if [ "$record" = 1 ]; then
    perf report -i "$work/perf.data" --no-children --sort symbol --percent-limit 0.5 --stdio -g none 2>/dev/null \
        | grep '%' | sed 's/\(\S\) \{3,\}.*/\1/' | head -60 >"${COST_REPORT:-/tmp/courier-cost-report.txt}"
    perf report -i "$work/perf.data" --no-children --sort comm,dso --stdio -g none 2>/dev/null | grep '%' | sed 's/ \{3,\}$//' | head -15 \
        >>"${COST_REPORT:-/tmp/courier-cost-report.txt}"
    cp "$work/perf.data" "${COST_REPORT:-/tmp/courier-cost-report.txt}.data"
    echo "profile: ${COST_REPORT:-/tmp/courier-cost-report.txt}"
fi
top -bn1 | sed -n '8,14p'
