#!/usr/bin/env python3
"""Checks the conventions of deploy/prometheus/alerts.yml that promtool cannot see.

    python3 .ci/ops/check_rules.py

* every alert has a severity (critical, warning or info), a summary, a description and a
  runbook_url equal to RUNBOOK_BASE + "#" + the alert name in lower case;
* docs/runbook.md has a "## <AlertName>" section for each alert (that heading is the anchor);
* an alert joined with the number's name (group_left (verified_name)) names the number and its
  verified name in its summary;
* ChatAppDataStale derives its threshold from chatapp_refresh_interval_seconds;
* deploy/prometheus/alerts.test.yml only names alerts that exist, and has for every alert at
  least one case where it fires and one where it must stay silent. (promtool passes a case
  with no expected alerts for a misspelt alert name, so this matters.)
"""
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
TESTS = ROOT / "deploy" / "prometheus" / "alerts.test.yml"
RUNBOOK = ROOT / "docs" / "runbook.md"
# The one place (besides the URLs in alerts.yml themselves) that names where the runbook lives.
RUNBOOK_BASE = "https://github.com/chatapp-exporter/chatapp_exporter/blob/main/docs/runbook.md"
SEVERITIES = {"critical", "warning", "info"}


def main():
    errors = []
    rules = [r for g in yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"] for r in g["rules"]]
    alerts = [r for r in rules if "alert" in r]
    names = {a["alert"] for a in alerts}
    headings = set(re.findall(r"^## (\S+)\s*$", RUNBOOK.read_text(encoding="utf-8"), re.M))

    for a in alerts:
        name = a["alert"]
        labels = a.get("labels", {})
        ann = a.get("annotations", {})
        if labels.get("severity") not in SEVERITIES:
            errors.append("%s: severity must be one of %s" % (name, sorted(SEVERITIES)))
        for key in ("summary", "description", "runbook_url"):
            if not str(ann.get(key, "")).strip():
                errors.append("%s: missing annotation %s" % (name, key))
        expected = "%s#%s" % (RUNBOOK_BASE, name.lower())
        if ann.get("runbook_url") != expected:
            errors.append("%s: runbook_url must be %s" % (name, expected))
        if name not in headings:
            errors.append("%s: docs/runbook.md has no '## %s' section" % (name, name))
        if "group_left (verified_name)" in a["expr"]:
            for needle in ("$labels.phone_number", "$labels.verified_name"):
                if needle not in ann.get("summary", ""):
                    errors.append("%s: summary must mention %s" % (name, needle))
    stale = [a for a in alerts if a["alert"] == "ChatAppDataStale"]
    if not stale or "chatapp_refresh_interval_seconds" not in stale[0]["expr"]:
        errors.append("ChatAppDataStale must use chatapp_refresh_interval_seconds")

    fires, silent = set(), set()
    for test in yaml.safe_load(TESTS.read_text(encoding="utf-8"))["tests"]:
        for case in test.get("alert_rule_test", []):
            name = case["alertname"]
            if name not in names:
                errors.append("alerts.test.yml (%s): unknown alert %s" % (test.get("name"), name))
            (fires if case.get("exp_alerts") else silent).add(name)
    for name in sorted(names):
        if name not in fires:
            errors.append("alerts.test.yml: no case where %s fires" % name)
        if name not in silent:
            errors.append("alerts.test.yml: no case where %s stays silent" % name)

    for e in errors:
        print("ERROR " + e, file=sys.stderr)
    if errors:
        return 1
    print("rule conventions OK: %d alerts, each with severity, summary, description, runbook section, "
          "and firing and silent test cases" % len(names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
