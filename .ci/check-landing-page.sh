#!/usr/bin/env bash
# Renders the landing page of BINARY --demo in headless Chromium, the way a person opening
# http://host:9108/ sees it: the fleet table must list the worst number first with its marker
# word, the page must carry its Content-Security-Policy, and a screenshot is kept for review.
# Usage: check-landing-page.sh BINARY   (installs Debian's chromium when missing)
set -euo pipefail
bin=${1:?usage: $0 BINARY}
out=${CI_LOG_DIR:-target/ci-logs}
mkdir -p "$out"

if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
profile=$(mktemp -d)
"$bin" --demo --web.listen-address="127.0.0.1:$port" 2>"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$log" "$profile"' EXIT

for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null || { cat "$log"; echo "exporter never became ready"; exit 1; }

url="http://127.0.0.1:$port/"
curl -fsSI "$url" | grep -qi '^content-security-policy: default-src .none.' \
  || { echo "landing page has no Content-Security-Policy"; exit 1; }

chrome() {
  timeout 60 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$profile" "$@" 2>/dev/null
}
dom=$(chrome --dump-dom "$url")
# The demo's worst number is FLAGGED (shown BLOCKED once the health collector has run).
first=$(grep -o '<tr class="sev-[a-z]*" data-severity="[a-z]*"><td class="marker">[A-Z]*' <<<"$dom" | head -1)
case "$first" in
  *'data-severity="flagged"><td class="marker">FLAGGED' | *'data-severity="blocked"><td class="marker">BLOCKED') ;;
  *) echo "first fleet row is not the flagged number: '$first'"; exit 1 ;;
esac
# 7 numbers of the two configured accounts, and 3 or 4 of the ISV customers once their
# parent's discovery has run (one customer comes and one goes over the demo's cycle).
grep -Eq '<p id="fleet-summary">(7|10|11) numbers: ' <<<"$dom" || { echo "fleet summary missing"; exit 1; }
grep -q 'Discovered customers' <<<"$dom" || { echo "no discovered customers on the landing page"; exit 1; }

filtered=$(chrome --dump-dom "${url}?account=demo-travel")
grep -q '<p id="fleet-summary">2 numbers: ' <<<"$filtered" || { echo "?account= filter did not narrow the fleet"; exit 1; }

chrome --window-size=1366,1200 --screenshot="$out/landing.png" "$url" >/dev/null
[ -s "$out/landing.png" ] || { echo "no screenshot"; exit 1; }
echo "landing page: worst number first (${first##*>}), ?account= filters, CSP set; screenshot $out/landing.png"
