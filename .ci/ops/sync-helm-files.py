#!/usr/bin/env python3
"""Copies the alert rules and the dashboard into the Helm chart, or checks the copies.

    python3 .ci/ops/sync-helm-files.py            # copy them
    python3 .ci/ops/sync-helm-files.py --check    # exit 1 if a copy differs (byte for byte)

A chart can only read files inside its own directory (.Files.Get), so the chart carries copies
of deploy/prometheus/alerts.yml (its PrometheusRule) and dashboards/chatapp-overview.json (its
dashboard ConfigMap). The originals stay the single source; .ci/helm-checks.sh runs --check.
"""
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
FILES = ROOT / "deploy" / "helm" / "chatapp-exporter" / "files"
COPIES = {
    ROOT / "deploy" / "prometheus" / "alerts.yml": FILES / "alerts.yml",
    ROOT / "dashboards" / "chatapp-overview.json": FILES / "chatapp-overview.json",
}


def main():
    check = sys.argv[1:] == ["--check"]
    stale = []
    for source, copy in COPIES.items():
        data = source.read_bytes()
        if copy.exists() and copy.read_bytes() == data:
            print("%s is equal to %s" % (copy.relative_to(ROOT), source.relative_to(ROOT)))
        elif check:
            stale.append(copy)
        else:
            copy.write_bytes(data)
            print("copied %s to %s" % (source.relative_to(ROOT), copy.relative_to(ROOT)))
    for copy in stale:
        print("%s differs from its source: run python3 .ci/ops/sync-helm-files.py"
              % copy.relative_to(ROOT), file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
