#!/usr/bin/env bash
# OpenMetrics on a live --demo scrape, read by an independent parser: the official Python
# client's (`prometheus_client.openmetrics.parser.text_string_to_metric_families`, strict about
# `# EOF`, clashing names, types and units). Usage: check-openmetrics.sh BINARY
#
# 1. installs prometheus-client with pip when python3 lacks it;
# 2. starts BINARY --demo on a free loopback port;
# 3. scrapes /metrics with the Accept headers of Prometheus 3 (UTF-8 and legacy names),
#    Prometheus 2 and Prometheus 3 with protobuf first, plain and gzip, and checks each
#    Content-Type; with no Accept, `*/*` and `text/plain` it must stay 0.0.4;
# 4. parses an OpenMetrics scrape per header (plain and gzip), checks its `# EOF`, the
#    families' types (counters without `_total`, `_info` families as info, StateSets as
#    gauges) and that its series are those of the 0.0.4 scrapes before and after it
#    (prometheus_client's 0.0.4 parser reads those).
# Everything started here is stopped on exit. Only 127.0.0.1 is used.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:?usage: $0 BINARY}
[ -x "$bin" ] || { echo "not executable: $bin"; exit 1; }

pin="prometheus-client==0.26.0"
if ! python3 -c 'import prometheus_client.openmetrics.parser' 2>/dev/null; then
  if ! python3 -m pip --version >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
  fi
  echo "pip install $pin"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$pin" \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$pin"
fi
echo "prometheus_client $(python3 -c 'import importlib.metadata as m; print(m.version("prometheus-client"))')"

log=$(mktemp)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" --demo --web.listen-address="127.0.0.1:$port" 2>"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null || { cat "$log"; echo "exporter never became ready"; exit 1; }

prom3='application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2'
prom3_legacy=${prom3//allow-utf-8/underscores}
prom2='application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'
protobuf_first='application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1'
om="application/openmetrics-text; version=1.0.0; charset=utf-8"
text="text/plain; version=0.0.4; charset=utf-8"

# content_type ACCEPT|- WANT: the Content-Type of a plain and a gzip scrape must be WANT.
content_type() {
  local accept=$1 want=$2 args=() ct mode
  if [ "$accept" = - ]; then args=(-H 'Accept:'); else args=(-H "Accept: $accept"); fi
  for mode in plain gzip; do
    local extra=()
    [ "$mode" = gzip ] && extra=(--compressed)
    ct=$(curl -fsS "${args[@]}" "${extra[@]}" -o /dev/null -w '%{content_type}' "http://127.0.0.1:$port/metrics")
    if [ "$ct" != "$want" ]; then
      echo "Accept ${accept} ($mode): Content-Type '$ct', want '$want'"
      return 1
    fi
  done
  echo "Accept ${accept:0:60}...: $want (plain and gzip)"
}
content_type - "$text"
content_type '*/*' "$text"
content_type text/plain "$text"
content_type 'garbage;q=x, /' "$text"
content_type "$prom3" "$om; escaping=allow-utf-8"
content_type "$prom3_legacy" "$om; escaping=underscores"
content_type "$prom2" "$om"
content_type "$protobuf_first" "$om; escaping=allow-utf-8"

python3 - "http://127.0.0.1:$port/metrics" "$prom3" "$prom3_legacy" "$prom2" "$protobuf_first" <<'EOF'
import gzip, sys, time, urllib.request
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text

url, headers = sys.argv[1], sys.argv[2:]
WANT = {
    "chatapp_phone_number": "info", "chatapp_waba": "info", "chatapp_build": "info",
    "chatapp_account": "info", "chatapp_api_requests": "counter",
    "chatapp_unknown_enum_values": "counter", "process_cpu_seconds": "counter",
    "chatapp_phone_number_status": "gauge", "chatapp_phone_number_quality_rating": "gauge",
    "chatapp_up": "gauge",
}

def fetch(accept=None, compressed=False):
    request = urllib.request.Request(url)
    if accept:
        request.add_header("Accept", accept)
    if compressed:
        request.add_header("Accept-Encoding", "gzip")
    with urllib.request.urlopen(request, timeout=10) as r:
        body = r.read()
        if r.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
    return body.decode("utf-8")

def series(families):
    """(sample name, labels) of every sample, and family name -> type."""
    keys, types = set(), {}
    for f in families:
        types[f.name] = f.type
        for s in f.samples:
            keys.add((s.name, tuple(sorted(s.labels.items()))))
    return keys, types

failed = False
for accept in headers:
    for compressed in (False, True):
        what = "%s... (%s)" % (accept[:50], "gzip" if compressed else "plain")
        # The demo moves (refreshes, new error codes, collectors finishing their first round),
        # so compare series only, not values, and only between two identical 0.0.4 scrapes.
        for attempt in range(10):
            before = series(parse_text(fetch()))[0]
            body = fetch(accept, compressed)
            after = series(parse_text(fetch()))[0]
            try:
                keys, types = series(parse_om(body))
            except ValueError as e:
                print("ERROR %s: prometheus_client's OpenMetrics parser rejects the scrape: %s" % (what, e))
                failed = True
                break
            if before == after:
                break
            time.sleep(1)
        else:
            print("ERROR %s: the 0.0.4 series never stood still for three scrapes" % what)
            failed = True
            continue
        if not body.endswith("# EOF\n"):
            failed = True
            print("ERROR %s: no # EOF at the end" % what)
            continue
        wrong = {f: (types.get(f), t) for f, t in WANT.items() if types.get(f) != t}
        if wrong:
            print("ERROR %s: family types (got, want): %s" % (what, wrong))
            failed = True
        missing, extra = before - keys, keys - before
        if missing or extra:
            print("ERROR %s: series differ from the 0.0.4 scrape: %d missing (%s), %d extra (%s)"
                  % (what, len(missing), sorted(missing)[:3], len(extra), sorted(extra)[:3]))
            failed = True
        else:
            print("%s: parsed, %d families, the same %d series as 0.0.4" % (what, len(types), len(keys)))
sys.exit(1 if failed else 0)
EOF
echo "check-openmetrics: OK"
