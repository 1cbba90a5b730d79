#!/usr/bin/env python3
"""The checks of .ci/e2e-prometheus.sh against a live Prometheus scraping `chatapp_exporter --demo`.

    python3 .ci/ops/e2e-check.py PROMETHEUS_URL DASHBOARD.json [EXPORTER_METRICS_URL]

1. Waits (up to E2E_ALERT_TIMEOUT seconds, default 150, for all of them together) until
   ChatAppPhoneNumberQualityRed and ChatAppPhoneNumberCannotSend (BLOCKED, from the health
   collector, whose first round ends a few seconds after start) fire for the demo's number
   6580000003, with its verified name joined in, and ChatAppTemplateQualityRed (spring_sale, RED
   for the first two minutes of every six; its detail is read within the templates collector's
   first 1m round) and ChatAppTemplateRejected (flash_deal) fire for demo-retail, each naming its
   template in the description. ChatAppTemplateQualityRed resolves when spring_sale turns GREEN, so
   it also counts when Prometheus' ALERTS series shows it fired since the start. From the usage
   collector (1m with --demo), ChatAppPhoneNumberNearMessagingLimit fires for 6580000001 "Acme
   Support", which sends 90% of its 10K tier.
2. Checks that the demo's other steady conditions fire (FLAGGED, RESTRICTED, PENDING, the WABA
   under review, the unknown NameStatus value), that the alerts in NEVER_FIRING neither fire nor
   are pending (ChatAppExporterDown, ChatAppPhoneNumberDisappeared, no BLOCKED WABA or
   demo-travel number, no failing collector of demo-retail, which is never throttled, no template
   alert for demo-travel, whose 120 templates are all approved and GREEN, no stale usage data,
   whose horizon lags about 90 minutes, no other number near its limit, no template delivering
   below 80%, no number FLAGGED or RED for days: the demo's since times are minutes old), that
   every collector of every demo account succeeds at least once within three of its rounds (so
   the demo-travel collectors, which fail now and then on its throttled requests, cannot keep
   ChatAppCollectorFailing firing), and that every rule evaluates without error. The alerts
   silent only because the demo is young (ARMED: FLAGGED or RED for days) must find the demo's
   FLAGGED and RED number with their threshold cut to 0.
3. With EXPORTER_METRICS_URL: checks that Prometheus scraped OpenMetrics (it asks for it first;
   its metadata then names counters without `_total` and `_info` families as type info) and
   holds every series the exporter serves (per metric name, as many series as a 0.0.4 scrape).
4. Runs every panel query of the dashboard (template variables substituted) and fails, listing
   them, on each query that errors or returns no data; checks each query variable returns values
   and each annotation query is valid PromQL.
"""
import json
import os
import pathlib
import re
import sys
import time
import urllib.parse
import urllib.request

import yaml

PROM, DASHBOARD = sys.argv[1].rstrip("/"), sys.argv[2]
EXPORTER = sys.argv[3] if len(sys.argv) > 3 else None
ALERT_TIMEOUT = float(os.environ.get("E2E_ALERT_TIMEOUT", "150"))
# Values for Grafana's variables: every template variable selects all ("All" = .*).
BUILTINS = {"__rate_interval": "1m", "__interval": "30s", "__range": "5m", "__range_s": "300",
            "__interval_ms": "30000"}

# (alertname, labels that must match, what else to check) waited for first, all together, up to
# ALERT_TIMEOUT. Checks: "verified_name": the label joined in; "names_template": (template_code,
# language) whose "template_name (language)" (from chatapp_template_info) the description must
# contain; "history": a firing seen only in the ALERTS series (resolved since) counts too.
WAITED_FIRING = [
    ("ChatAppPhoneNumberQualityRed", {"phone_number": "6580000003"}, {"verified_name": "Acme Promo 🎉"}),
    # Health BLOCKED with error 141006 (payment method): the health collector's first round of
    # demo-retail ends some seconds after the exporter starts.
    ("ChatAppPhoneNumberCannotSend", {"account": "demo-retail", "phone_number": "6580000003"},
     {"verified_name": "Acme Promo 🎉"}),
    # Templates collector (1m with --demo): the list at start, then the detail calls spread over
    # the round. spring_sale is RED until 120 s after the start, so the alert may have resolved
    # by the time it is looked at.
    ("ChatAppTemplateQualityRed", {"account": "demo-retail"},
     {"names_template": ("spring_sale", "en"), "history": True}),
    ("ChatAppTemplateRejected", {"account": "demo-retail"}, {"names_template": ("flash_deal", "en")}),
    # Usage collector (1m with --demo): "Acme Support" sends 9,024 messages a day against its
    # 10K tier (90%).
    ("ChatAppPhoneNumberNearMessagingLimit", {"account": "demo-retail", "phone_number": "6580000001"},
     {"verified_name": "Acme Support"}),
]
# (alertname, labels that must match) the demo makes fire steadily.
EXPECTED_FIRING = [
    ("ChatAppPhoneNumberFlagged", {"phone_number": "6580000003"}),
    ("ChatAppPhoneNumberSendingBlocked", {"phone_number": "6580000004", "status": "RESTRICTED"}),
    ("ChatAppPhoneNumberNotConnected", {"phone_number": "6580000005", "status": "PENDING"}),
    ("ChatAppWabaNotApproved", {"account": "demo-travel", "status": "PENDING"}),
    ("ChatAppUnknownEnumValue", {"field": "NameStatus"}),
]
# (alertname, labels that must match) that must be neither firing nor pending in the demo.
NEVER_FIRING = [
    ("ChatAppExporterDown", {}),
    ("ChatAppPhoneNumberDisappeared", {}),
    # No WABA is BLOCKED (demo-travel's is LIMITED), no demo-travel number is BLOCKED, and
    # "Acme Sales" is at most LIMITED (while RED).
    ("ChatAppWabaCannotSend", {}),
    ("ChatAppPhoneNumberCannotSend", {"account": "demo-travel"}),
    ("ChatAppPhoneNumberCannotSend", {"phone_number": "6580000002"}),
    # demo-retail is never throttled: none of its collectors may fail, not even before their
    # first run (chatapp_collector_success must not be 0 for a collector that has not run).
    ("ChatAppCollectorFailing", {"account": "demo-retail"}),
    # demo-travel's templates are all approved and GREEN; the template alerts are per account.
    ("ChatAppTemplateQualityRed", {"account": "demo-travel"}),
    ("ChatAppTemplateRejected", {"account": "demo-travel"}),
    # The demo's usage data ends about 90 minutes before now: never 3 days old.
    ("ChatAppUsageDataStale", {}),
    # "Acme Sales" sends at most 1,488 of 2,000 (74%, while RED); demo-travel's numbers at most
    # 29% (one is unlimited). Its delivery rate drops to 55% while RED (2 minutes of every 6),
    # so ChatAppPhoneNumberDeliveryRateLow may fire for it: not checked either way.
    ("ChatAppPhoneNumberNearMessagingLimit", {"phone_number": "6580000002"}),
    ("ChatAppPhoneNumberNearMessagingLimit", {"account": "demo-travel"}),
    ("ChatAppPhoneNumberDeliveryRateLow", {"phone_number": "6580000001"}),
    ("ChatAppPhoneNumberDeliveryRateLow", {"account": "demo-travel"}),
    # spring_sale, the one marketing template with usage, delivers 95%.
    ("ChatAppTemplateDeliveryRateLow", {}),
    # --demo keeps its history in a new temporary directory: every since time is the demo's
    # start, minutes ago, never days (FLAGGED 6580000003 and RED numbers included).
    ("ChatAppPhoneNumberFlaggedDowngradeSoon", {}),
    ("ChatAppPhoneNumberRedForDays", {}),
]
# (alertname, its threshold as written in deploy/prometheus/alerts.yml, labels a result must
# have): alerts that stay silent in the demo only because it is young. Their own expression with
# the threshold cut to 0 must find the demo's number, so that they are silent for the right
# reason and not because the since series and the state series do not join.
ARMED = [
    ("ChatAppPhoneNumberFlaggedDowngradeSoon", "4 * 86400",
     {"account": "demo-retail", "phone_number": "6580000003", "verified_name": "Acme Promo 🎉"}),
    ("ChatAppPhoneNumberRedForDays", "2 * 86400",
     {"account": "demo-retail", "phone_number": "6580000003", "verified_name": "Acme Promo 🎉"}),
]
RULES = pathlib.Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"


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


def fired_in_history(name, labels):
    """True when Prometheus' ALERTS series shows the alert firing at some time in the past hour."""
    selector = ",".join(['alertname="%s"' % name, 'alertstate="firing"']
                        + ['%s="%s"' % kv for kv in sorted(labels.items())])
    r = get("/api/v1/query", query="max_over_time(ALERTS{%s}[1h])" % selector)
    return r.get("status") == "success" and bool(r["data"]["result"])


def template_label(code, language):
    """'template_name (language)' of a demo-retail template, as the alert descriptions name it."""
    r = get("/api/v1/query", query='max by (template_name) (chatapp_template_info{account="demo-retail",'
                                   'template_code="%s",language="%s"})' % (code, language))
    result = r.get("data", {}).get("result", [])
    return "%s (%s)" % (result[0]["metric"]["template_name"], language) if result else None


def check_found(name, alert, checks):
    """The extra checks of a WAITED_FIRING alert found firing; prints and returns whether they pass."""
    ok = True
    if "verified_name" in checks and alert["labels"].get("verified_name") != checks["verified_name"]:
        print("ERROR %s: verified_name not joined: %s" % (name, alert["labels"]), file=sys.stderr)
        ok = False
    if "names_template" in checks:
        label = template_label(*checks["names_template"])
        description = alert["annotations"].get("description", "")
        if not label or label not in description:
            print("ERROR %s: description does not name %s (%s): %s"
                  % (name, checks["names_template"], label, description), file=sys.stderr)
            ok = False
    return ok


def wait_for_firing():
    """Waits for every WAITED_FIRING alert, polling them all together, within one ALERT_TIMEOUT."""
    deadline = time.time() + ALERT_TIMEOUT
    start = time.time()
    ok = True
    waiting = list(WAITED_FIRING)
    while waiting:
        for entry in list(waiting):
            name, labels, checks = entry
            found = matching(name, labels)
            if found:
                a = found[0]
                print("%s firing after %.0fs: %s" % (name, time.time() - start, a["annotations"]["summary"]))
                ok = check_found(name, a, checks) and ok
                waiting.remove(entry)
            elif checks.get("history") and fired_in_history(name, labels):
                print("%s fired and resolved before %.0fs (ALERTS series); its annotations are not checked"
                      % (name, time.time() - start))
                waiting.remove(entry)
        if not waiting:
            break
        if time.time() > deadline:
            for name, labels, _ in waiting:
                print("ERROR %s %s did not fire within %.0fs; firing: %s"
                      % (name, labels, ALERT_TIMEOUT, sorted({a["labels"]["alertname"] for a in alerts()})),
                      file=sys.stderr)
            return False
        time.sleep(1)
    return ok


def check_collectors_succeed():
    """Every collector of every account has succeeded at least once.

    Waits up to three rounds of the longest collector round (chatapp_collector_round_seconds,
    at least its interval), and at least ALERT_TIMEOUT: a demo-travel collector whose first
    rounds are throttled succeeds in a later one; a templates round (1m with --demo) publishes
    its result only when its paced detail calls are done."""
    start = time.time()
    rounds = get("/api/v1/query", query="max(max by (account, collector) (chatapp_collector_round_seconds) "
                                        "or max by (account, collector) (chatapp_collector_interval_seconds))")
    longest = float(rounds["data"]["result"][0]["value"][1]) if rounds.get("data", {}).get("result") else 0
    timeout = max(ALERT_TIMEOUT, 3 * longest)
    deadline = start + timeout
    never = "max by (account, collector) (chatapp_collector_interval_seconds) " \
            "unless on (account, collector) chatapp_collector_last_success_timestamp_seconds"
    while True:
        registered = get("/api/v1/query", query="max by (account, collector) (chatapp_collector_interval_seconds)")
        missing = get("/api/v1/query", query=never)
        if registered.get("status") != "success" or missing.get("status") != "success":
            print("ERROR collector queries failed: %s %s" % (registered.get("error"), missing.get("error")),
                  file=sys.stderr)
            return False
        names = sorted("%s/%s" % (r["metric"]["account"], r["metric"]["collector"])
                       for r in missing["data"]["result"])
        if registered["data"]["result"] and not names:
            print("every collector succeeded at least once (after %.0fs more): %s" % (time.time() - start, ", ".join(sorted(
                "%s/%s" % (r["metric"]["account"], r["metric"]["collector"]) for r in registered["data"]["result"]))))
            return True
        if time.time() > deadline:
            print("ERROR collectors that never succeeded within %.0fs more: %s"
                  % (timeout, ", ".join(names) or "(no chatapp_collector_interval_seconds at all)"),
                  file=sys.stderr)
            return False
        time.sleep(2)


# Metadata Prometheus keeps only when it scraped OpenMetrics: under 0.0.4 these families are
# chatapp_api_requests_total (counter) and chatapp_phone_number_info / chatapp_build_info (gauge).
OPENMETRICS_METADATA = {"chatapp_api_requests": "counter", "chatapp_phone_number": "info",
                        "chatapp_build": "info", "chatapp_phone_number_status": "gauge"}
# Series Prometheus adds to every target itself.
SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped",
             "scrape_samples_post_metric_relabeling", "scrape_series_added"}


def exporter_series():
    """Series per metric name in a 0.0.4 scrape of the exporter (no Accept header)."""
    with urllib.request.urlopen(EXPORTER, timeout=10) as r:
        text = r.read().decode("utf-8")
    counts = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
            counts[name] = counts.get(name, 0) + 1
    return counts


def check_openmetrics_and_series():
    """Prometheus negotiated OpenMetrics, and it has every series of the exporter.

    Series are compared per metric name between two 0.0.4 scrapes of the exporter that agree and
    Prometheus in between (it scrapes every 2s), retried for up to 60s while the demo moves."""
    ok = True
    for family, kind in OPENMETRICS_METADATA.items():
        r = get("/api/v1/metadata", metric=family)
        got = [m.get("type") for m in r.get("data", {}).get(family, [])]
        if kind not in got:
            print("ERROR metadata of %s: %s, want type %s (was the scrape OpenMetrics?)" % (family, got or "none", kind),
                  file=sys.stderr)
            ok = False
    if ok:
        print("metadata: Prometheus scraped OpenMetrics (%s)"
              % ", ".join("%s %s" % kv for kv in sorted(OPENMETRICS_METADATA.items())))
    deadline = time.time() + 60
    while True:
        before = exporter_series()
        time.sleep(4)  # two scrape intervals
        r = get("/api/v1/query", query='count by (__name__) ({job="chatapp"})')
        after = exporter_series()
        stored = {x["metric"]["__name__"]: int(float(x["value"][1])) for x in r.get("data", {}).get("result", [])
                  if x["metric"]["__name__"] not in SYNTHETIC}
        if before == after == stored:
            print("every series in Prometheus: %d names, %d series" % (len(stored), sum(stored.values())))
            return ok
        if time.time() > deadline:
            names = sorted(set(after) | set(stored))
            diff = ["%s: exporter %s, Prometheus %s" % (n, after.get(n), stored.get(n))
                    for n in names if after.get(n) != stored.get(n)]
            print("ERROR series per name differ (exporter vs Prometheus): %s" % "; ".join(diff[:10]), file=sys.stderr)
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
    pending = alerts("pending")
    for name, labels in NEVER_FIRING:
        bad = [a["labels"] for a in firing + pending if a["labels"]["alertname"] == name
               and all(a["labels"].get(k) == v for k, v in labels.items())]
        if bad:
            print("ERROR %s %s must not fire in the demo: %s" % (name, labels, bad), file=sys.stderr)
            ok = False
    # demo-travel's collectors fail now and then (every fifth request is throttled), and with
    # every `for:` cut to 10s ChatAppCollectorFailing may fire briefly: report it, do not fail.
    for a in firing + pending:
        if a["labels"]["alertname"] == "ChatAppCollectorFailing" and a["labels"].get("account") != "demo-retail":
            print("note: ChatAppCollectorFailing %s %s (demo-travel is throttled now and then)"
                  % (a["state"], {k: a["labels"].get(k) for k in ("account", "collector")}))
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
        print("expected demo alerts fire, %s stay silent, all rules healthy"
              % ", ".join("%s%s" % (n, l or "") for n, l in NEVER_FIRING))
    return ok


def check_armed():
    """Each ARMED alert's expression, its threshold cut to 0, finds the demo's number."""
    exprs = {r["alert"]: r["expr"] for g in yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
             for r in g["rules"] if "alert" in r}
    ok = True
    for name, threshold, labels in ARMED:
        expr = exprs.get(name, "")
        if threshold not in expr:
            print("ERROR %s: no threshold %r in its expression" % (name, threshold), file=sys.stderr)
            ok = False
            continue
        deadline = time.time() + 30
        while True:
            r = get("/api/v1/query", query=expr.replace(threshold, "0"))
            found = [x["metric"] for x in r.get("data", {}).get("result", [])
                     if all(x["metric"].get(k) == v for k, v in labels.items())]
            if found or r.get("status") != "success" or time.time() > deadline:
                break
            time.sleep(2)
        if found:
            print("%s with its threshold cut to 0 finds %s" % (name, labels))
        else:
            print("ERROR %s with its threshold cut to 0 does not find %s: %s"
                  % (name, labels, r.get("error") or r.get("data", {}).get("result")), file=sys.stderr)
            ok = False
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
    ok = wait_for_firing()
    ok = check_other_alerts() and ok
    ok = check_armed() and ok
    ok = check_collectors_succeed() and ok
    if EXPORTER:
        ok = check_openmetrics_and_series() and ok
    ok = check_dashboard() and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
