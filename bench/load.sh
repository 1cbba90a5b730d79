#!/usr/bin/env bash
# Load benchmark of /metrics (issue #6), on loopback only, bounded in time.
#
# What it does:
#   1. installs wrk, nginx-light and (in a venv) Python's prometheus_client when missing;
#   2. starts the release exporter with --demo --demo.extra-numbers $NUMBERS, saves its
#      /metrics body, and serves the identical bytes with nginx as a static file (plus a
#      gzip -1 copy through gzip_static, so nginx also answers gzip without compressing per
#      request) and with a Python prometheus_client exporter (bench/python_exporter.py);
#   3. measures each with wrk, plain and with "Accept-Encoding: gzip": requests/s, p50, p99;
#      the exporter also in OpenMetrics (Prometheus 2's Accept header), plain and gzip, each
#      run right after its 0.0.4 twin;
#   4. measures RSS (VmRSS/VmHWM from /proc): idle (--demo, default fleet), at
#      $BIG_NUMBERS numbers idle and under $BIG_CONNS concurrent scrapes across refreshes,
#      and across many gzip scrapes at $SOAK_NUMBERS extra numbers (up to $SOAK_REQUESTS
#      requests or $SOAK_MAX_SECONDS; --demo refreshes every 15 s meanwhile);
#   5. prints the results and the ratios against nginx and Python.
# Everything it starts is stopped on exit. Re-running is safe (idempotent).
#
# Usage: bench/load.sh            (about 10 minutes on 2 cores)
# Knobs (environment): EXPORTER_BIN, NUMBERS=2000, BIG_NUMBERS=10000, DURATION=10s,
#   CONNS=4, THREADS=1, BIG_CONNS=8, BIG_SECONDS=40, SOAK_NUMBERS=0, SOAK_REQUESTS=1000000,
#   SOAK_MAX_SECONDS=300, WORK=/tmp/chatapp-bench, SKIP_PYTHON=0, SKIP_MEMORY=0.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/tmp/chatapp-bench}
BIN=${EXPORTER_BIN:-$ROOT/target/release/chatapp_exporter}
NUMBERS=${NUMBERS:-2000}
BIG_NUMBERS=${BIG_NUMBERS:-10000}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-4}
THREADS=${THREADS:-1}
BIG_CONNS=${BIG_CONNS:-8}
BIG_SECONDS=${BIG_SECONDS:-40}
SOAK_NUMBERS=${SOAK_NUMBERS:-0}
SOAK_REQUESTS=${SOAK_REQUESTS:-1000000}
SOAK_MAX_SECONDS=${SOAK_MAX_SECONDS:-300}
SKIP_PYTHON=${SKIP_PYTHON:-0}
SKIP_MEMORY=${SKIP_MEMORY:-0}
EXPORTER_PORT=19155
NGINX_PORT=19156
PYTHON_PORT=19157
# Prometheus 2's Accept header: negotiates OpenMetrics 1.0.0.
OM_ACCEPT='application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'

mkdir -p "$WORK/www" "$WORK/nginx"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  if [[ -f $WORK/nginx/nginx.pid ]]; then
    kill "$(cat "$WORK/nginx/nginx.pid")" 2>/dev/null || true
  fi
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

log() { printf '== %s\n' "$*" >&2; }

# --- tools -------------------------------------------------------------------------------
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v nginx >/dev/null || need_apt+=(nginx-light)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
if ((${#need_apt[@]})); then
  log "installing ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
if [[ $SKIP_PYTHON != 1 && ! -x $WORK/venv/bin/python ]]; then
  log "creating a venv with prometheus_client"
  python3 -m venv "$WORK/venv"
  "$WORK/venv/bin/pip" install -q prometheus_client
fi
if [[ ! -x $BIN ]]; then
  log "building the release binary"
  (cd "$ROOT" && cargo build --release)
fi

# --- helpers -----------------------------------------------------------------------------
wait_http() { # url [seconds]
  local url=$1 deadline=$((SECONDS + ${2:-60}))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    ((SECONDS < deadline)) || { log "timed out waiting for $url"; return 1; }
    sleep 0.2
  done
}

start_exporter() { # extra-numbers -> sets EXPORTER_PID; waits for the fleet to be exported
  local n=$1
  "$BIN" --demo --demo.extra-numbers "$n" --web.listen-address "127.0.0.1:$EXPORTER_PORT" \
    --log.level warn >"$WORK/exporter.log" 2>&1 &
  EXPORTER_PID=$!
  PIDS+=("$EXPORTER_PID")
  wait_http "http://127.0.0.1:$EXPORTER_PORT/-/healthy"
  local deadline=$((SECONDS + 120)) want=$((n + 5))
  until [[ $(curl -fsS "http://127.0.0.1:$EXPORTER_PORT/metrics" | grep -c '^chatapp_phone_number_info{account="demo-retail"') -ge $want ]]; do
    ((SECONDS < deadline)) || { log "exporter did not export $want numbers"; return 1; }
    sleep 0.5
  done
}

stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

rss_kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# wrk with --latency; prints "req/s p50_ms p99_ms requests"
run_wrk() { # url [mode: plain (default), gzip, om, om-gzip]
  local url=$1 mode=${2:-plain} out
  local args=(-t"$THREADS" -c"$CONNS" -d"$DURATION" --timeout 30s --latency)
  [[ $mode == gzip || $mode == om-gzip ]] && args+=(-H 'Accept-Encoding: gzip')
  [[ $mode == om || $mode == om-gzip ]] && args+=(-H "Accept: $OM_ACCEPT")
  out=$(wrk "${args[@]}" "$url")
  echo "$out" >>"$WORK/wrk.log"
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
                     if (v ~ /m$/) return v * 60000; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /requests in/ { n = $1 }
    END { printf "%s %.2f %.2f %s\n", rps, p50, p99, n }' <<<"$out"
}

# --- 1. throughput at $NUMBERS numbers ---------------------------------------------------
: >"$WORK/wrk.log"
log "exporter with $NUMBERS extra numbers"
start_exporter "$NUMBERS"
# The identical bytes: one plain and one gzip response of the exporter, saved as they came
# (nginx's gzip_static serves metrics.gz to clients that accept gzip). For reference, nginx
# also serves the plain body recompressed as a whole with `gzip -1` (/whole), which is
# smaller than the exporter's per-block compression.
curl -fsS "http://127.0.0.1:$EXPORTER_PORT/metrics" -o "$WORK/www/metrics"
curl -fsS -H 'Accept-Encoding: gzip' "http://127.0.0.1:$EXPORTER_PORT/metrics" -o "$WORK/www/metrics.gz"
cp "$WORK/www/metrics" "$WORK/www/whole"
gzip -1 -c "$WORK/www/metrics" >"$WORK/www/whole.gz"
OM_BYTES=$(curl -fsS -H "Accept: $OM_ACCEPT" "http://127.0.0.1:$EXPORTER_PORT/metrics" | wc -c)
OM_GZ_BYTES=$(curl -fsS -H "Accept: $OM_ACCEPT" -H 'Accept-Encoding: gzip' "http://127.0.0.1:$EXPORTER_PORT/metrics" | wc -c)
BODY_BYTES=$(wc -c <"$WORK/www/metrics")
SERIES=$(grep -vc '^#' "$WORK/www/metrics")
GZ_BYTES=$(wc -c <"$WORK/www/metrics.gz")
WHOLE_GZ_BYTES=$(wc -c <"$WORK/www/whole.gz")
log "body: $BODY_BYTES bytes, $SERIES series; exporter gzip: $GZ_BYTES bytes; gzip -1 of the whole body: $WHOLE_GZ_BYTES bytes"

cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path $WORK/nginx;
  proxy_temp_path $WORK/nginx;
  fastcgi_temp_path $WORK/nginx;
  uwsgi_temp_path $WORK/nginx;
  scgi_temp_path $WORK/nginx;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $WORK/www;
    location = /metrics {
      default_type "text/plain; version=0.0.4; charset=utf-8";
      gzip_static on;
    }
    location = /whole {
      default_type "text/plain; version=0.0.4; charset=utf-8";
      gzip_static on;
    }
  }
}
EOF
# Workers run as nobody: the files must be world-readable.
chmod -R a+rX "$WORK/www"
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" -g 'user nobody nogroup;'
wait_http "http://127.0.0.1:$NGINX_PORT/metrics"
cmp -s <(curl -fsS "http://127.0.0.1:$NGINX_PORT/metrics") "$WORK/www/metrics" || {
  log "nginx does not serve the saved body"; exit 1; }
cmp -s <(curl -fsS -H 'Accept-Encoding: gzip' "http://127.0.0.1:$NGINX_PORT/metrics") "$WORK/www/metrics.gz" || {
  log "nginx does not serve the saved gzip body"; exit 1; }

if [[ $SKIP_PYTHON != 1 ]]; then
  "$WORK/venv/bin/python" "$ROOT/bench/python_exporter.py" --file "$WORK/www/metrics" \
    --port "$PYTHON_PORT" >"$WORK/python.log" 2>&1 &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$PYTHON_PORT/metrics" 120
fi

declare -A R
for target in exporter nginx python; do
  [[ $target == python && $SKIP_PYTHON == 1 ]] && continue
  case $target in
    exporter) port=$EXPORTER_PORT ;;
    nginx) port=$NGINX_PORT ;;
    python) port=$PYTHON_PORT ;;
  esac
  modes=(plain gzip)
  [[ $target == exporter ]] && modes=(plain om gzip om-gzip)
  for mode in "${modes[@]}"; do
    log "wrk $target $mode ($DURATION, $CONNS connections)"
    R[$target.$mode]=$(run_wrk "http://127.0.0.1:$port/metrics" "$mode")
  done
done
log "wrk nginx gzip, whole body gzip -1 ($DURATION, $CONNS connections)"
R[nginx-whole.gzip]=$(run_wrk "http://127.0.0.1:$NGINX_PORT/whole" gzip)
stop_pid "$EXPORTER_PID"
kill "$(cat "$WORK/nginx/nginx.pid")" && rm -f "$WORK/nginx/nginx.pid"

# --- 2. memory ---------------------------------------------------------------------------
if [[ $SKIP_MEMORY != 1 ]]; then
  log "idle RSS (--demo, default fleet)"
  start_exporter 0
  sleep 2
  IDLE_RSS=$(rss_kib "$EXPORTER_PID" VmRSS)

  if ((SOAK_NUMBERS != 0)); then
    stop_pid "$EXPORTER_PID"
    start_exporter "$SOAK_NUMBERS"
    sleep 2
  fi
  log "soak at $SOAK_NUMBERS extra numbers: up to $SOAK_REQUESTS gzip scrapes or ${SOAK_MAX_SECONDS}s"
  SOAK_BEFORE=$(rss_kib "$EXPORTER_PID" VmRSS)
  soak_done=0 soak_start=$SECONDS SOAK_SAMPLES=""
  while ((soak_done < SOAK_REQUESTS && SECONDS - soak_start < SOAK_MAX_SECONDS)); do
    out=$(wrk -t1 -c4 -d10s -H 'Accept-Encoding: gzip' "http://127.0.0.1:$EXPORTER_PORT/metrics")
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    soak_done=$((soak_done + n))
    SOAK_SAMPLES+="$soak_done:$(rss_kib "$EXPORTER_PID" VmRSS) "
  done
  SOAK_AFTER=$(rss_kib "$EXPORTER_PID" VmRSS)
  SOAK_HWM=$(rss_kib "$EXPORTER_PID" VmHWM)
  stop_pid "$EXPORTER_PID"

  log "exporter with $BIG_NUMBERS extra numbers: idle, then $BIG_CONNS concurrent scrapes for ${BIG_SECONDS}s"
  start_exporter "$BIG_NUMBERS"
  sleep 2
  BIG_IDLE=$(rss_kib "$EXPORTER_PID" VmRSS)
  BIG_BYTES=$(curl -fsS "http://127.0.0.1:$EXPORTER_PORT/metrics" | wc -c)
  # Half the connections plain, half gzip, across several refreshes (--demo refreshes
  # every 15s), sampling RSS every 0.2 s.
  wrk -t1 -c$((BIG_CONNS / 2)) -d"${BIG_SECONDS}s" --timeout 30s \
    "http://127.0.0.1:$EXPORTER_PORT/metrics" >"$WORK/big-plain.log" &
  w1=$!
  wrk -t1 -c$((BIG_CONNS - BIG_CONNS / 2)) -d"${BIG_SECONDS}s" --timeout 30s \
    -H 'Accept-Encoding: gzip' "http://127.0.0.1:$EXPORTER_PORT/metrics" >"$WORK/big-gzip.log" &
  w2=$!
  BIG_MAX=0
  while kill -0 "$w1" 2>/dev/null || kill -0 "$w2" 2>/dev/null; do
    r=$(rss_kib "$EXPORTER_PID" VmRSS)
    ((r > BIG_MAX)) && BIG_MAX=$r
    sleep 0.2
  done
  wait "$w1" "$w2" || true
  BIG_HWM=$(rss_kib "$EXPORTER_PID" VmHWM)
  BIG_REQS="$(awk '/requests in/ {print $1}' "$WORK/big-plain.log") plain + $(awk '/requests in/ {print $1}' "$WORK/big-gzip.log") gzip"
  stop_pid "$EXPORTER_PID"
fi

# --- report ------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo
echo "machine: $(nproc) cores, $(uname -sr); wrk -t$THREADS -c$CONNS -d$DURATION"
echo "body at $NUMBERS extra numbers: $BODY_BYTES bytes, $SERIES series (exporter gzip $GZ_BYTES bytes, gzip -1 of the whole body $WHOLE_GZ_BYTES bytes)"
echo "OpenMetrics body: $OM_BYTES bytes (gzip $OM_GZ_BYTES bytes)"
printf '%-12s %-7s %12s %9s %9s %10s\n' target mode req/s p50_ms p99_ms requests
for target in exporter nginx nginx-whole python; do
  for mode in plain om gzip om-gzip; do
    [[ -n ${R[$target.$mode]:-} ]] || continue
    read -r rps p50 p99 n <<<"${R[$target.$mode]}"
    printf '%-12s %-7s %12s %9s %9s %10s\n' "$target" "$mode" "$rps" "$p50" "$p99" "$n"
  done
done
for mode in plain gzip; do
  read -r e _ <<<"${R[exporter.$mode]}"
  read -r ng _ <<<"${R[nginx.$mode]}"
  line="ratio $mode: exporter/nginx $(ratio "$e" "$ng")"
  if [[ $mode == gzip ]]; then
    read -r nw _ <<<"${R[nginx-whole.gzip]}"
    line+="  exporter/nginx-whole $(ratio "$e" "$nw")"
  fi
  if [[ -n ${R[python.$mode]:-} ]]; then
    read -r py _ <<<"${R[python.$mode]}"
    line+="  exporter/python $(ratio "$e" "$py")"
  fi
  echo "$line"
done
read -r p _ <<<"${R[exporter.plain]}"
read -r o _ <<<"${R[exporter.om]}"
read -r g _ <<<"${R[exporter.gzip]}"
read -r og _ <<<"${R[exporter.om-gzip]}"
echo "ratio OpenMetrics/0.0.4: plain $(ratio "$o" "$p")  gzip $(ratio "$og" "$g")"
if [[ $SKIP_MEMORY != 1 ]]; then
  echo "RSS idle (--demo): $(mib "$IDLE_RSS") MiB"
  echo "RSS soak at $SOAK_NUMBERS extra numbers: before $(mib "$SOAK_BEFORE") MiB, after $soak_done gzip scrapes $(mib "$SOAK_AFTER") MiB (VmHWM $(mib "$SOAK_HWM") MiB)"
  echo "  samples (requests:KiB): $SOAK_SAMPLES"
  echo "RSS at $BIG_NUMBERS extra numbers ($BIG_BYTES bytes): idle $(mib "$BIG_IDLE") MiB; max under $BIG_CONNS concurrent scrapes for ${BIG_SECONDS}s $(mib "$BIG_MAX") MiB (VmHWM $(mib "$BIG_HWM") MiB; $BIG_REQS requests)"
fi
