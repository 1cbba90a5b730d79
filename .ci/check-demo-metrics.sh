#!/usr/bin/env bash
# Starts BINARY --demo on a free loopback port, scrapes /metrics (plain and gzip) and lints
# both with `promtool check metrics`. Usage: check-demo-metrics.sh BINARY
set -euo pipefail
bin=${1:?usage: $0 BINARY}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
"$bin" --demo --web.listen-address="127.0.0.1:$port" 2>"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$log"' EXIT

for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null || { cat "$log"; echo "exporter never became ready"; exit 1; }

body=$(curl -fsS "http://127.0.0.1:$port/metrics")
gz=$(curl -fsS --compressed "http://127.0.0.1:$port/metrics")
for family in chatapp_up chatapp_phone_number_info chatapp_phone_number_status \
  chatapp_phone_number_quality_rating chatapp_phone_number_messaging_limit chatapp_waba_info; do
  grep -q "^$family" <<<"$body" || { echo "missing family $family"; exit 1; }
done
promtool check metrics <<<"$body"
promtool check metrics <<<"$gz"
echo "promtool check metrics: OK ($(wc -l <<<"$body") lines)"

# Graceful shutdown: SIGTERM must end the process with status 0 within a few seconds.
kill -TERM "$pid"
for _ in $(seq 1 50); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then echo "exporter did not stop within 5s of SIGTERM"; exit 1; fi
wait "$pid" || { echo "exporter exited non-zero after SIGTERM"; exit 1; }
echo "SIGTERM: exited 0"
