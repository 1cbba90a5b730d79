#!/usr/bin/env python3
"""Generates deploy/kubernetes/prometheusrule.yaml from deploy/prometheus/alerts.yml.

    python3 .ci/ops/gen-prometheusrule.py            # rewrite the PrometheusRule
    python3 .ci/ops/gen-prometheusrule.py --check    # exit 1 if the committed file differs

alerts.yml is the single source of the rules (it has the promtool unit tests); the
PrometheusRule wraps the same groups for the Prometheus Operator. .ci/ops-checks.sh runs
--check so that the two never drift apart.
"""
import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCE = ROOT / "deploy" / "prometheus" / "alerts.yml"
OUT = ROOT / "deploy" / "kubernetes" / "prometheusrule.yaml"

HEADER = """\
# GENERATED from deploy/prometheus/alerts.yml by .ci/ops/gen-prometheusrule.py: do not edit.
# Needs the Prometheus Operator. The labels must match your Prometheus' ruleSelector
# (kube-prometheus-stack: release: <helm release name>).
"""


class Dumper(yaml.SafeDumper):
    """Block style for multi-line strings (the PromQL expressions), plain otherwise."""

    def increase_indent(self, flow=False, indentless=False):  # noqa: D102 - PyYAML hook
        return super().increase_indent(flow, False)


def _str(dumper, value):
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


Dumper.add_representer(str, _str)


def render():
    source = yaml.safe_load(SOURCE.read_text(encoding="utf-8"))
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "chatapp-exporter",
            "namespace": "monitoring",
            "labels": {
                "app.kubernetes.io/name": "chatapp-exporter",
                "app.kubernetes.io/component": "exporter",
                "release": "kube-prometheus-stack",
            },
        },
        "spec": {"groups": source["groups"]},
    }
    body = yaml.dump(rule, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100)
    return HEADER + body


def main():
    text = render()
    if sys.argv[1:] == ["--check"]:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(
                "%s is out of date with %s: run python3 .ci/ops/gen-prometheusrule.py"
                % (OUT.relative_to(ROOT), SOURCE.relative_to(ROOT)),
                file=sys.stderr,
            )
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
