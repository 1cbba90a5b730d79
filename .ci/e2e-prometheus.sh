#!/usr/bin/env bash
# End to end: the exporter's --demo scraped by a real Prometheus (Debian's `prometheus`) with
# the shipped alert rules, then the dashboard's queries against it.
#
#   bash .ci/e2e-prometheus.sh target/release/chatapp_exporter [EXPORTER_ARGS...]
#   bash .ci/e2e-prometheus.sh target/release/chatapp_exporter --metrics.enum=current
#
# Arguments after BINARY are passed to the exporter after --demo and its listen address.
# 1. starts BINARY --demo on a free loopback port;
# 2. starts Prometheus on loopback with a temp TSDB, scraping it every 2s (job "chatapp") and
#    evaluating a test copy of deploy/prometheus/alerts.yml every 2s with every `for:` cut to 10s;
# 3. .ci/ops/e2e-check.py: waits until ChatAppPhoneNumberQualityRed and (from the health
#    collector) ChatAppPhoneNumberCannotSend fire for the demo's number 6580000003 and (from the
#    templates collector) ChatAppTemplateQualityRed and ChatAppTemplateRejected for demo-retail,
#    and (from the usage collector) ChatAppPhoneNumberNearMessagingLimit for 6580000001,
#    checks the other steady demo alerts, the alerts that must stay silent, that every collector
#    succeeds and rule health, that Prometheus scraped OpenMetrics (it asks for it first) and
#    holds every series the exporter serves, then runs every query of
#    dashboards/chatapp-overview.json and lists each one that returns no data.
# Everything started here is stopped on exit. Only 127.0.0.1 is used.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:?usage: $0 BINARY [EXPORTER_ARGS...]}
shift
exporter_args=("$@")
[ -x "$bin" ] || { echo "not executable: $bin"; exit 1; }
command -v prometheus >/dev/null || { echo "prometheus not installed (apt-get install prometheus)"; exit 1; }
python3 -c 'import yaml' 2>/dev/null || { echo "PyYAML missing (pip install PyYAML)"; exit 1; }

tmp=$(mktemp -d)
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$status" -ne 0 ]; then
    echo "--- exporter log (tail)"; tail -n 20 "$tmp/exporter.log" 2>/dev/null || true
    echo "--- prometheus log (tail)"; tail -n 20 "$tmp/prometheus.log" 2>/dev/null || true
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { # wait_http URL SECONDS
  local i
  for i in $(seq 1 $(($2 * 10))); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "no answer from $1 within $2s"
  return 1
}

exporter_port=$(free_port)
"$bin" --demo --web.listen-address="127.0.0.1:$exporter_port" "${exporter_args[@]}" >"$tmp/exporter.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$exporter_port/-/ready" 20
echo "exporter --demo ${exporter_args[*]} ready on 127.0.0.1:$exporter_port"

# Test copy of the rules: identical except that every `for:` is 10s.
python3 - deploy/prometheus/alerts.yml "$tmp/alerts.yml" <<'EOF'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
n = 0
for group in doc["groups"]:
    group["interval"] = "2s"
    for rule in group["rules"]:
        if "for" in rule:
            rule["for"] = "10s"
            n += 1
yaml.safe_dump(doc, open(sys.argv[2], "w", encoding="utf-8"), allow_unicode=True, sort_keys=False)
print("test rules: %d alerts with for: cut to 10s" % n)
EOF
cat >"$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 2s
  scrape_timeout: 1s
  evaluation_interval: 2s
rule_files:
  - $tmp/alerts.yml
scrape_configs:
  - job_name: chatapp
    static_configs:
      - targets: ["127.0.0.1:$exporter_port"]
EOF
promtool check config "$tmp/prometheus.yml" >/dev/null

prom_port=$(free_port)
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
  --web.listen-address="127.0.0.1:$prom_port" >"$tmp/prometheus.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$prom_port/-/ready" 30
echo "prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}') ready on 127.0.0.1:$prom_port"

python3 .ci/ops/e2e-check.py "http://127.0.0.1:$prom_port" dashboards/chatapp-overview.json \
  "http://127.0.0.1:$exporter_port/metrics"
echo "e2e-prometheus: OK (exporter arguments: ${exporter_args[*]:-none})"
