#!/usr/bin/env bash
# Cost per account (issue 31): the same numbers in many accounts or in one, side by side.
#
# What it does, on loopback only, bounded in time:
#   1. builds (unless SIM_BIN is given) and starts the load stand-in (examples/load_sim.rs:
#      the exporter's signature-checking simulator answering any CustSpaceId with NUMBERS
#      generated numbers, and the one account's space with ACCOUNTS x NUMBERS);
#   2. writes two configuration files: ACCOUNTS accounts of NUMBERS numbers ("many": isv-0001
#      in space m0001, ...), and one account of ACCOUNTS x NUMBERS numbers ("one": isv-0000 in
#      space m0000, names as long as the others', so that both expositions spell their labels
#      alike and only the number of accounts differs);
#   3. starts every binary of BINS with both files at once (refresh every INTERVAL,
#      --api.rate-limit RATE so that every account refreshes fully, the health collector
#      off: its per-number calls would dominate both; templates and usage are off by
#      default), waits until each exports all its numbers, then one more interval;
#   4. for MEASURE seconds, while a scraper fetches each /metrics every SCRAPE_EVERY seconds
#      as Prometheus does (OpenMetrics, gzip): CPU time from /proc/<pid>/stat, VmRSS every
#      5 s (mean, max) and VmHWM;
#   5. wrk against each exporter in turn (plain and gzip, DURATION, CONNS connections);
#   6. prints one table and the many/one ratios per binary.
# Everything it starts is stopped on exit.
#
# Usage: BINS="before=/tmp/cost-before/chatapp_exporter after=target/release/chatapp_exporter" \
#          bench/accounts.sh
# Knobs (environment): BINS (label=path ...; default: after=target/release/chatapp_exporter),
#   ACCOUNTS=1000, NUMBERS=20, INTERVAL=60, RATE=100, MEASURE=300, SCRAPE_EVERY=15,
#   DURATION=10s, CONNS=4, SIM_BIN, WORK=/tmp/chatapp-accounts, SKIP_WRK=0.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/tmp/chatapp-accounts}
BINS=${BINS:-after=$ROOT/target/release/chatapp_exporter}
ACCOUNTS=${ACCOUNTS:-1000}
NUMBERS=${NUMBERS:-20}
INTERVAL=${INTERVAL:-60}
RATE=${RATE:-100}
MEASURE=${MEASURE:-300}
SCRAPE_EVERY=${SCRAPE_EVERY:-15}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-4}
SKIP_WRK=${SKIP_WRK:-0}
BASE_PORT=19170
OM_ACCEPT='application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'
TOTAL=$((ACCOUNTS * NUMBERS))
ONE_ID=$(printf "%0${#ACCOUNTS}d" 0)

rm -rf "$WORK" && mkdir -p "$WORK"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM
log() { printf '== %s\n' "$*" >&2; }

# --- the load stand-in ------------------------------------------------------------------
if [[ -z ${SIM_BIN:-} ]]; then
  log "building the load stand-in (examples/load_sim.rs)"
  (cd "$ROOT" && cargo build -q --example load_sim)
  SIM_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/examples/load_sim
fi
"$SIM_BIN" "$NUMBERS" "m$ONE_ID=$TOTAL" >"$WORK/sim.out" 2>"$WORK/sim.log" &
PIDS+=($!)
for _ in $(seq 1 100); do [[ -s $WORK/sim.out ]] && break; sleep 0.1; done
ENDPOINT=$(head -1 "$WORK/sim.out")
[[ $ENDPOINT == http://127.0.0.1:* ]] || { log "the stand-in did not start"; exit 1; }
log "stand-in at $ENDPOINT"

# --- configuration files ----------------------------------------------------------------
printf 'load-bench-secret' >"$WORK/secret"
account() { # name space
  printf '  - name: %s\n    endpoint: %s\n    cust_space_id: "%s"\n    credentials:\n      access_key_id: LTAI5tLoadBenchKey0001\n      access_key_secret_file: %s\n' \
    "$1" "$ENDPOINT" "$2" "$WORK/secret"
}
{ echo "accounts:"; for i in $(seq -w 1 "$ACCOUNTS"); do account "isv-$i" "m$i"; done; } >"$WORK/many.yaml"
{ echo "accounts:"; account "isv-$ONE_ID" "m$ONE_ID"; } >"$WORK/one.yaml"

# --- exporters --------------------------------------------------------------------------
declare -A PID PORT
RUNS=()
port=$BASE_PORT
for spec in $BINS; do
  label=${spec%%=*} bin=${spec#*=}
  [[ -x $bin ]] || { log "$bin: not an executable"; exit 1; }
  for cfg in one many; do
    run=$label.$cfg
    extra=()
    # An older binary (a "before" of the side by side) may predate the history store.
    if "$bin" --help 2>&1 | grep -q -- --storage.path; then
      mkdir -p "$WORK/storage-$run"
      extra+=(--storage.path "$WORK/storage-$run")
    fi
    "$bin" --config.file "$WORK/$cfg.yaml" --refresh.interval "${INTERVAL}s" \
      --api.rate-limit "$RATE" --no-collector.health "${extra[@]}" \
      --web.listen-address "127.0.0.1:$port" --log.level warn >"$WORK/$run.log" 2>&1 &
    PID[$run]=$! PORT[$run]=$port
    PIDS+=($!)
    RUNS+=("$run")
    port=$((port + 1))
  done
done

exported() { # run -> numbers in its /metrics
  curl -fsS --compressed "http://127.0.0.1:${PORT[$1]}/metrics" 2>/dev/null |
    grep -c '^chatapp_phone_number_info{' || true
}
log "waiting for every exporter to export $TOTAL numbers"
deadline=$((SECONDS + 10 * INTERVAL))
for run in "${RUNS[@]}"; do
  until [[ $(exported "$run") -ge $TOTAL ]]; do
    ((SECONDS < deadline)) || { log "$run did not export $TOTAL numbers"; exit 1; }
    sleep 2
  done
  log "$run: all $TOTAL numbers exported after ${SECONDS}s"
done
log "settling for one interval (${INTERVAL}s)"
sleep "$INTERVAL"

# --- steady state -----------------------------------------------------------------------
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
declare -A T0 T1 RSS_SUM RSS_MAX RSS_N BYTES
for run in "${RUNS[@]}"; do
  T0[$run]=$(ticks "${PID[$run]}") RSS_SUM[$run]=0 RSS_MAX[$run]=0 RSS_N[$run]=0
done
(
  while :; do
    for run in "${RUNS[@]}"; do
      curl -fsS -o /dev/null -H "Accept: $OM_ACCEPT" -H 'Accept-Encoding: gzip' \
        "http://127.0.0.1:${PORT[$run]}/metrics" || true
    done
    sleep "$SCRAPE_EVERY"
  done
) &
SCRAPER=$!
PIDS+=($SCRAPER)
log "measuring for ${MEASURE}s (scrapes every ${SCRAPE_EVERY}s)"
start=$SECONDS
while ((SECONDS - start < MEASURE)); do
  for run in "${RUNS[@]}"; do
    r=$(rss_kib "${PID[$run]}" VmRSS)
    RSS_SUM[$run]=$((RSS_SUM[$run] + r)) RSS_N[$run]=$((RSS_N[$run] + 1))
    ((r > RSS_MAX[$run])) && RSS_MAX[$run]=$r
  done
  sleep 5
done
elapsed=$((SECONDS - start))
for run in "${RUNS[@]}"; do T1[$run]=$(ticks "${PID[$run]}"); done
kill "$SCRAPER" 2>/dev/null || true
HZ=$(getconf CLK_TCK)

# --- scrape throughput ------------------------------------------------------------------
declare -A WRK
run_wrk() { # port mode
  local args=(-t1 -c"$CONNS" -d"$DURATION" --timeout 60s)
  [[ $2 == gzip ]] && args+=(-H 'Accept-Encoding: gzip')
  wrk "${args[@]}" "http://127.0.0.1:$1/metrics" | awk '/Requests\/sec/ {print $2}'
}
for run in "${RUNS[@]}"; do
  BYTES[$run]="$(curl -fsS "http://127.0.0.1:${PORT[$run]}/metrics" | wc -c) / $(curl -fsS -H 'Accept-Encoding: gzip' "http://127.0.0.1:${PORT[$run]}/metrics" | wc -c)"
  if [[ $SKIP_WRK != 1 ]]; then
    for mode in plain gzip; do
      log "wrk $run $mode ($DURATION, $CONNS connections)"
      WRK[$run.$mode]=$(run_wrk "${PORT[$run]}" "$mode")
    done
  fi
done

# --- report -----------------------------------------------------------------------------
echo
echo "machine: $(nproc) cores, $(uname -sr); $ACCOUNTS accounts x $NUMBERS numbers vs 1 account x $TOTAL;"
echo "refresh every ${INTERVAL}s, --api.rate-limit $RATE, health off; steady state measured over ${elapsed}s, scraped every ${SCRAPE_EVERY}s"
printf '%-14s %10s %10s %10s %10s %24s %10s %10s\n' run cpu_% rss_mean rss_max hwm "bytes plain / gzip" plain/s gzip/s
declare -A CPU MEAN
for run in "${RUNS[@]}"; do
  CPU[$run]=$(awk -v a="${T0[$run]}" -v b="${T1[$run]}" -v hz="$HZ" -v s="$elapsed" 'BEGIN {printf "%.2f", (b - a) / hz / s * 100}')
  MEAN[$run]=$(awk -v s="${RSS_SUM[$run]}" -v n="${RSS_N[$run]}" 'BEGIN {printf "%.1f", s / n / 1024}')
  printf '%-14s %10s %10s %10s %10s %24s %10s %10s\n' "$run" "${CPU[$run]}" "${MEAN[$run]}" \
    "$(awk -v k="${RSS_MAX[$run]}" 'BEGIN {printf "%.1f", k / 1024}')" \
    "$(awk -v k="$(rss_kib "${PID[$run]}" VmHWM)" 'BEGIN {printf "%.1f", k / 1024}')" \
    "${BYTES[$run]}" "${WRK[$run.plain]:-}" "${WRK[$run.gzip]:-}"
done
for spec in $BINS; do
  label=${spec%%=*}
  echo "$label: many/one CPU $(awk -v a="${CPU[$label.many]}" -v b="${CPU[$label.one]}" 'BEGIN {if (b > 0) printf "%.2f", a / b; else printf "n/a"}')x, RSS (mean) $(awk -v a="${MEAN[$label.many]}" -v b="${MEAN[$label.one]}" 'BEGIN {printf "%.2f", a / b}')x"
done
