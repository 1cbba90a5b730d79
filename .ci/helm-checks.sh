#!/usr/bin/env bash
# Checks the Helm chart in deploy/helm/chatapp-exporter with Helm's own code and the tools of the
# other manifest checks:
#   1. files/alerts.yml and files/chatapp-overview.json equal deploy/prometheus/alerts.yml and
#      dashboards/chatapp-overview.json byte for byte (.ci/ops/sync-helm-files.py --check);
#   2. helm lint (Helm's Go SDK through helm-python-sdk, offline) with the default values and
#      every shape: warnings and errors fail, info ("icon is recommended") does not;
#   3. helm template of every shape (the defaults, every ci/*-values.yaml, render-only overlays),
#      with the checks no schema sees (.ci/ops/helm-chart.py: the PrometheusRule's groups are
#      exactly alerts.yml's, restricted pods, no literal environment values, --total-shards =
#      replicas, values the chart must refuse);
#   4. kubernetes-validate --strict on every rendered Kubernetes object (its default Kubernetes
#      version, as the other manifest checks);
#   5. the ServiceMonitors and PrometheusRules with the Prometheus Operator models
#      (.ci/ops/check-crds.mjs, as for deploy/kubernetes/);
#   6. promtool check rules on the rules inside each rendered PrometheusRule;
#   7. the rendered container args and config with the exporter's --config.check (needs the
#      binary: CHATAPP_EXPORTER_BIN or target/release/chatapp_exporter; skipped without it).
#
#   bash .ci/helm-checks.sh      # run by .ci/ops-checks.sh, which installs kubernetes-validate,
#                                # promtool and .ci/ops/node_modules first
#
# helm-python-sdk (pinned; it embeds Helm's Go SDK, v4) lives in a venv in .ci/ops/helm-venv,
# ignored by git and reused while the pins match. Writes nothing else but temp files.
set -euo pipefail
cd "$(dirname "$0")/.."
export ROOT=$PWD
export OPS=$ROOT/.ci/ops
export BIN=${CHATAPP_EXPORTER_BIN:-$ROOT/target/release/chatapp_exporter}
VENV=$OPS/helm-venv
PINS="helm-python-sdk==0.2.2 PyYAML==6.0.3"

header() { printf '\n==> helm: %s\n' "$*"; }

missing=()
command -v kubernetes-validate >/dev/null 2>&1 || missing+=(kubernetes-validate)
command -v promtool >/dev/null 2>&1 || missing+=(promtool)
[ -x "$OPS/node_modules/.bin/tsc" ] || missing+=(".ci/ops/node_modules")
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "missing: ${missing[*]} (bash .ci/ops-checks.sh installs them and runs this script)" >&2
  exit 1
fi

header "helm-python-sdk venv ($PINS)"
if [ "$(cat "$VENV/.pins" 2>/dev/null)" != "$PINS" ]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  # shellcheck disable=SC2086 # PINS is a list of requirements
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $PINS
  echo "$PINS" >"$VENV/.pins"
fi
export PY=$VENV/bin/python
"$PY" -c 'import helm_python as h; print("helm-python-sdk %s, Helm SDK %s" % (h.__version__, h.helm_sdk_version()))'

export tmp
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check_copies() {
  python3 "$OPS/sync-helm-files.py" --check
}
check_lint() {
  "$PY" "$OPS/helm-chart.py" lint
}
check_render() {
  "$PY" "$OPS/helm-chart.py" render "$tmp"
}
check_kubernetes() {
  kubernetes-validate --strict "$tmp"/*.core.yaml
}
check_crds() {
  node "$OPS/check-crds.mjs" "$tmp"/*.crds.yaml
}
check_rules() {
  local f
  for f in "$tmp"/*.rules.yml; do
    promtool check rules "$f"
  done
}
check_config() {
  if [ ! -x "$BIN" ]; then
    echo "SKIP: no exporter binary at $BIN (build it or set CHATAPP_EXPORTER_BIN)"
    return 0
  fi
  "$PY" "$OPS/helm-chart.py" config-check "$tmp" "$BIN"
}

# In this order: the checks after check_render read what it writes.
CHECKS=(
  "alerts and dashboard copies equal their sources:check_copies"
  "helm lint (every shape):check_lint"
  "helm template (every shape) and what no schema sees:check_render"
  "kubernetes-validate --strict (rendered objects):check_kubernetes"
  "prometheus-operator CRDs (rendered ServiceMonitor, PrometheusRule):check_crds"
  "promtool check rules (rendered PrometheusRule):check_rules"
  "--config.check on the rendered args and config:check_config"
)

# shellcheck source=.ci/ops/run-checks.sh
. "$OPS/run-checks.sh"
run_checks helm-checks
