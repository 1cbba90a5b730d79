#!/usr/bin/env python3
"""The checks of .ci/e2e-prometheus.sh against a live Prometheus scraping `chatapp_exporter --demo`.

    python3 .ci/ops/e2e-check.py PROMETHEUS_URL DASHBOARD.json

1. Waits (up to E2E_ALERT_TIMEOUT seconds, default 90) until ChatAppPhoneNumberQualityRed fires
   for the demo's RED number 6580000003, with its verified name joined in.
2. Checks that the demo's other steady conditions fire (FLAGGED, RESTRICTED, PENDING, the WABA
   under review, the unknown NameStatus value), that ChatAppExporterDown and
   ChatAppPhoneNumberDisappeared do not, and that every rule evaluates without error.
3. Runs every panel query of the dashboard (template variables substituted) and fails, listing
   them, on each query that errors or returns no data; checks each query variable returns values
   and each annotation query is valid PromQL.
"""
import json
import os
import re
import sys
import time
import urllib.parse
import urllib.request

PROM, DASHBOARD = sys.argv[1].rstrip("/"), sys.argv[2]
ALERT_TIMEOUT = float(os.environ.get("E2E_ALERT_TIMEOUT", "90"))
# Values for Grafana's variables: every template variable selects all ("All" = .*).
BUILTINS = {"__rate_interval": "1m", "__interval": "30s", "__range": "5m", "__range_s": "300",
            "__interval_ms": "30000"}

# (alertname, labels that must match) the demo makes fire steadily.
EXPECTED_FIRING = [
    ("ChatAppPhoneNumberFlagged", {"phone_number": "6580000003"}),
    ("ChatAppPhoneNumberSendingBlocked", {"phone_number": "6580000004", "status": "RESTRICTED"}),
    ("ChatAppPhoneNumberNotConnected", {"phone_number": "6580000005", "status": "PENDING"}),
    ("ChatAppWabaNotApproved", {"account": "demo-travel", "status": "PENDING"}),
    ("ChatAppUnknownEnumValue", {"field": "NameStatus"}),
]
NEVER_FIRING = ["ChatAppExporterDown", "ChatAppPhoneNumberDisappeared"]


def get(path, **params):
    url = PROM + path + ("?" + urllib.parse.urlencode(params, doseq=True) if params else "")
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:  # Prometheus answers 400/422 with a JSON error body
        return json.load(e)


def alerts(state="firing"):
    return [a for a in get("/api/v1/alerts")["data"]["alerts"] if a["state"] == state]


def matching(name, labels):
    return [a for a in alerts() if a["labels"]["alertname"] == name
            and all(a["labels"].get(k) == v for k, v in labels.items())]


def wait_for_red():
    deadline = time.time() + ALERT_TIMEOUT
    start = time.time()
    while time.time() < deadline:
        found = matching("ChatAppPhoneNumberQualityRed", {"phone_number": "6580000003"})
        if found:
            a = found[0]
            print("ChatAppPhoneNumberQualityRed firing after %.0fs: %s" % (time.time() - start, a["annotations"]["summary"]))
            if a["labels"].get("verified_name") != "Acme Promo 🎉":
                print("ERROR verified_name not joined: %s" % a["labels"], file=sys.stderr)
                return False
            return True
        time.sleep(1)
    print("ERROR ChatAppPhoneNumberQualityRed did not fire for 6580000003 within %.0fs; firing: %s"
          % (ALERT_TIMEOUT, sorted({a["labels"]["alertname"] for a in alerts()})), file=sys.stderr)
    return False


def check_other_alerts():
    ok = True
    deadline = time.time() + 30
    missing = EXPECTED_FIRING
    while time.time() < deadline:
        missing = [(n, l) for n, l in EXPECTED_FIRING if not matching(n, l)]
        if not missing:
            break
        time.sleep(1)
    for name, labels in missing:
        print("ERROR %s %s is not firing" % (name, labels), file=sys.stderr)
        ok = False
    firing = alerts()
    for name in NEVER_FIRING:
        bad = [a["labels"] for a in firing if a["labels"]["alertname"] == name]
        bad += [a["labels"] for a in alerts("pending") if a["labels"]["alertname"] == name]
        if bad:
            print("ERROR %s must not fire in the demo: %s" % (name, bad), file=sys.stderr)
            ok = False
    for group in get("/api/v1/rules")["data"]["groups"]:
        for rule in group["rules"]:
            if rule.get("health") != "ok":
                print("ERROR rule %s: health %s: %s" % (rule.get("name"), rule.get("health"), rule.get("lastError")),
                      file=sys.stderr)
                ok = False
    names = sorted({"%s%s" % (a["labels"]["alertname"],
                              "{%s}" % a["labels"].get("phone_number", a["labels"].get("account", a["labels"].get("field", ""))))
                    for a in firing})
    print("firing alerts: %s" % ", ".join(names))
    if ok:
        print("expected demo alerts fire, %s stay silent, all rules healthy" % " and ".join(NEVER_FIRING))
    return ok


def substitute(expr, variables):
    def repl(m):
        name = m.group(1) or m.group(2)
        if name in BUILTINS:
            return BUILTINS[name]
        if name in variables:
            return ".*"
        raise KeyError(name)

    # Like Grafana, leave $1 (a label_replace reference) alone: variable names start with a letter.
    return re.sub(r"\$\{([A-Za-z_]\w*)(?::\w+)?\}|\$([A-Za-z_]\w*)", repl, expr)


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def check_dashboard():
    dash = json.load(open(DASHBOARD, encoding="utf-8"))
    variables = {v["name"] for v in dash.get("templating", {}).get("list", [])}
    failures = []
    count = 0

    # Panel queries: each must return data.
    for panel in walk_panels(dash.get("panels", [])):
        for t in panel.get("targets", []):
            if t.get("hide") or "expr" not in t:
                continue
            count += 1
            where = "panel %r query %s" % (panel.get("title"), t.get("refId"))
            try:
                expr = substitute(t["expr"], variables)
            except KeyError as e:
                failures.append("%s: unknown variable $%s" % (where, e.args[0]))
                continue
            # Counters need two samples in a window: retry for a while before failing.
            deadline = time.time() + 20
            while True:
                r = get("/api/v1/query", query=expr)
                if r.get("status") == "success" and r["data"]["result"]:
                    break
                if r.get("status") != "success" or time.time() > deadline:
                    failures.append("%s: %s\n      %s" % (where, r.get("error") or "no data", expr.replace("\n", " ")))
                    break
                time.sleep(2)

    # Query variables: label_values(selector, label) must return values.
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\)\s*", q)
        if not m:
            failures.append("variable %s: unsupported query %s" % (v["name"], q))
            continue
        count += 1
        selector = substitute(m.group(1), variables)
        r = get("/api/v1/label/%s/values" % m.group(2), **{"match[]": selector})
        if r.get("status") != "success" or not r["data"]:
            failures.append("variable %s: %s returned %s" % (v["name"], q, r.get("error") or "no values"))
        else:
            print("variable %s: %s" % (v["name"], ", ".join(r["data"])))

    # Annotation queries: valid PromQL (they legitimately return nothing when nothing happened).
    for a in dash.get("annotations", {}).get("list", []):
        expr = (a.get("target") or {}).get("expr")
        if not expr:
            continue
        count += 1
        r = get("/api/v1/query", query=substitute(expr, variables))
        if r.get("status") != "success":
            failures.append("annotation %r: %s" % (a.get("name"), r.get("error")))
        else:
            print("annotation %r: valid (%d series now)" % (a.get("name"), len(r["data"]["result"])))

    for f in failures:
        print("ERROR " + f, file=sys.stderr)
    print("dashboard queries: %d checked, %d failed" % (count, len(failures)))
    return not failures


def main():
    ok = wait_for_red()
    ok = check_other_alerts() and ok
    ok = check_dashboard() and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
