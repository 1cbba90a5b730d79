#!/usr/bin/env bash
# What each --metrics.enum mode costs Prometheus: a real Prometheus (Debian's `prometheus`)
# scrapes BINARY --demo --demo.extra-numbers N every 2s for WAIT seconds, once per mode, and
# prints its head series and memory. Loopback only; nothing is kept.
#
#   bash bench/head-memory.sh target/release/chatapp_exporter [N=2000] [WAIT=60]
#
# Prometheus' own figures: `prometheus_tsdb_head_series`, `process_resident_memory_bytes` and
# `go_memstats_heap_inuse_bytes`, from its /metrics, minus the same with no target (the
# baseline row), so the delta is what the exporter's series cost.
set -euo pipefail
bin=${1:?usage: $0 BINARY [N] [WAIT]}
n=${2:-2000}
wait_s=${3:-60}
command -v prometheus >/dev/null || { echo "prometheus not installed (apt-get install prometheus)"; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() {
  for _ in $(seq 1 300); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "no answer from $1"; return 1
}
metric() { # metric PORT NAME
  curl -fsS "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m { printf "%.0f", $2 }'
}

run() { # run MODE (or "none" for Prometheus alone)
  local mode=$1 tmp eport pport pids=()
  tmp=$(mktemp -d)
  pport=$(free_port)
  {
    echo "global: {scrape_interval: 2s, scrape_timeout: 1900ms}"
    echo "scrape_configs:"
    if [ "$mode" != none ]; then
      eport=$(free_port)
      "$bin" --demo --demo.extra-numbers "$n" --metrics.enum="$mode" \
        --web.listen-address="127.0.0.1:$eport" >"$tmp/exporter.log" 2>&1 &
      pids+=($!)
      wait_http "http://127.0.0.1:$eport/-/ready"
      echo "  - {job_name: chatapp, static_configs: [{targets: ['127.0.0.1:$eport']}]}"
    fi
  } >"$tmp/prometheus.yml"
  prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
    --web.listen-address="127.0.0.1:$pport" >"$tmp/prometheus.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$pport/-/ready"
  sleep "$wait_s"
  printf '%-8s  %12s  %12s  %12s\n' "$mode" "$(metric "$pport" prometheus_tsdb_head_series)" \
    "$(( $(metric "$pport" process_resident_memory_bytes) / 1048576 ))" \
    "$(( $(metric "$pport" go_memstats_heap_inuse_bytes) / 1048576 ))"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}

echo "$((n + 7)) numbers, scraped every 2s for ${wait_s}s; prometheus $(prometheus --version 2>&1 | awk 'NR==1{print $3}')"
printf '%-8s  %12s  %12s  %12s\n' mode head_series rss_MiB heap_MiB
run none
run all
run current
