#!/usr/bin/env python3
"""Lints and renders the Helm chart with Helm's own Go SDK (helm-python-sdk), offline.

Run by .ci/helm-checks.sh with the Python of its venv (helm-python-sdk and PyYAML):

    helm-chart.py lint                # helm lint, with the default values and every shape
    helm-chart.py render OUT          # render every shape; write what the other tools check
    helm-chart.py config-check OUT BINARY   # the rendered args and config, --config.check

A shape is a set of values: the chart's defaults, each ci/*-values.yaml, and a few render-only
overlays below (features whose flags the exporter does not have yet). `render` writes, per
shape, OUT/<shape>.core.yaml (the Kubernetes objects, for kubernetes-validate),
OUT/<shape>.crds.yaml (ServiceMonitor, PrometheusRule, for .ci/ops/check-crds.mjs),
OUT/<shape>.rules.yml (the PrometheusRule's spec, for promtool) and OUT/<shape>.json (what
config-check needs), and checks what no schema can see:
* the PrometheusRule holds exactly the groups of deploy/prometheus/alerts.yml, and the dashboard
  ConfigMap exactly dashboards/chatapp-overview.json;
* every pod is restricted (non-root, read-only root filesystem, no privilege escalation, every
  capability dropped, RuntimeDefault seccomp) and has no environment variable with a literal
  value (secrets come from files; the only variables are references);
* a StatefulSet passes --total-shards equal to its replicas;
* NOTES.txt renders;
* the values the chart must refuse (below) fail to render.
"""
import base64
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile

import helm_python as helm
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "chatapp-exporter"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "dashboards" / "chatapp-overview.json"
# The Kubernetes version of the other manifest checks (kubernetes-validate's default).
KUBE_VERSION = "v1.37.0"
RELEASE = "chatapp-exporter"
NAMESPACE = "monitoring"

# Render-only shapes: (name, base values file or None, overlay): variants the ci/ values files
# do not cover (no --config.check: the pod-index variant's $(SHARD) is filled in by Kubernetes).
OVERLAYS = [
    (
        "sharded-storage-pvc-pod-index",
        "sharded-values.yaml",
        {
            "sharding": {"shardFrom": "podIndexLabel"},
            "storage": {"enabled": True, "persistentVolumeClaim": {"enabled": True, "storageClassName": "standard"}},
        },
    ),
]
# Shapes whose config the exporter cannot check yet (keys of later issues).
NO_CONFIG_CHECK = {"isv-discovery"}
# Values the chart must refuse, with a part of the message.
MUST_FAIL = [
    ({"replicas": 2}, "replicas > 1 needs sharding.enabled"),
    ({"sharding": {"enabled": True, "shardFrom": "hostname"}}, "sharding.shardFrom must be"),
    ({"storage": {"enabled": True, "persistentVolumeClaim": {"enabled": True}}}, "needs the sharded StatefulSet"),
]


def merge(base, overlay):
    out = dict(base)
    for key, value in overlay.items():
        nested = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = merge(out[key], value) if nested else value
    return out


def shapes():
    """(name, values or None, config-checkable) for every shape."""
    def load(name):
        return helm.values_from_yaml((CHART / "ci" / name).read_text(encoding="utf-8"))

    yield "chart-defaults", None, True
    for path in sorted((CHART / "ci").glob("*-values.yaml")):
        name = path.name[: -len("-values.yaml")]
        yield name, load(path.name), name not in NO_CONFIG_CHECK
    for name, base, overlay in OVERLAYS:
        yield name, merge(load(base) if base else {}, overlay), False


def lint():
    failed = False
    for name, values, _checkable in shapes():
        report = helm.lint(str(CHART), values, kube_version=KUBE_VERSION)
        # Severity 1 (info) is advice ("icon is recommended"); warnings and errors fail.
        bad = [m for m in report["messages"] if m["severity"] >= 2] or report["errors"]
        for m in report["messages"]:
            severity = {1: "INFO", 2: "WARNING", 3: "ERROR"}.get(m["severity"], "?")
            print("%s: [%s] %s: %s" % (name, severity, m["path"], m["error"]))
        if bad:
            failed = True
        else:
            print("%s: helm lint OK (%d chart)" % (name, report["total_charts_linted"]))
    return 1 if failed else 0


def pods(doc):
    """(where, pod spec) of a Pod or of a workload's pod template."""
    kind = doc["kind"]
    if kind == "Pod":
        yield "Pod/%s" % doc["metadata"]["name"], doc["spec"]
    elif kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        yield "%s/%s" % (kind, doc["metadata"]["name"]), doc["spec"]["template"]["spec"]


def check_pod(where, spec):
    problems = []
    psc = spec.get("securityContext", {})
    if psc.get("runAsNonRoot") is not True:
        problems.append("runAsNonRoot is not true")
    if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append("seccompProfile is not RuntimeDefault")
    for c in spec.get("initContainers", []) + spec["containers"]:
        csc = c.get("securityContext", {})
        if csc.get("readOnlyRootFilesystem") is not True:
            problems.append("%s: root filesystem not read-only" % c["name"])
        if csc.get("allowPrivilegeEscalation") is not False:
            problems.append("%s: allowPrivilegeEscalation is not false" % c["name"])
        if "ALL" not in csc.get("capabilities", {}).get("drop", []):
            problems.append("%s: capabilities not all dropped" % c["name"])
        for env in c.get("env", []):
            if "value" in env:
                problems.append("%s: environment variable %s has a literal value" % (c["name"], env["name"]))
        if c.get("envFrom"):
            problems.append("%s: envFrom" % c["name"])
    return ["%s: %s" % (where, p) for p in problems]


def check_shape(name, rendered):
    """The checks no schema can see; returns (docs, problems)."""
    problems = []
    notes = rendered.pop("%s/templates/NOTES.txt" % CHART.name, "")
    if not notes.strip():
        problems.append("NOTES.txt is empty")
    docs = []
    for template, text in sorted(rendered.items()):
        for doc in yaml.safe_load_all(text):
            if doc is not None:
                docs.append(doc)
    alerts = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    for doc in docs:
        kind, meta = doc["kind"], doc["metadata"]
        if kind == "PrometheusRule" and doc["spec"]["groups"] != alerts["groups"]:
            problems.append("PrometheusRule/%s: groups differ from %s" % (meta["name"], ALERTS.relative_to(ROOT)))
        if kind == "ConfigMap" and meta["name"].endswith("-dashboard"):
            if doc["data"] != {DASHBOARD.name: DASHBOARD.read_text(encoding="utf-8")}:
                problems.append("ConfigMap/%s: not exactly %s" % (meta["name"], DASHBOARD.relative_to(ROOT)))
        if kind == "StatefulSet":
            args = doc["spec"]["template"]["spec"]["containers"][0]["args"]
            if "--total-shards=%d" % doc["spec"]["replicas"] not in args:
                problems.append("StatefulSet/%s: --total-shards is not its replicas (%s)" % (meta["name"], args))
        for where, spec in pods(doc):
            problems += check_pod(where, spec)
    return docs, ["%s: %s" % (name, p) for p in problems]


def render_values(chart, values):
    return chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)


def write(path, text):
    path.write_text(text, encoding="utf-8")


def is_operator_object(doc):
    return doc["apiVersion"].startswith("monitoring.coreos.com/")


def render(out):
    out = pathlib.Path(out)
    problems = []
    with helm.Chart.load(str(CHART)) as chart:
        for name, values, checkable in shapes():
            docs, found = check_shape(name, render_values(chart, values))
            problems += found
            core = [d for d in docs if not is_operator_object(d)]
            crds = [d for d in docs if is_operator_object(d)]
            write(out / ("%s.core.yaml" % name), yaml.safe_dump_all(core, sort_keys=False))
            if crds:
                write(out / ("%s.crds.yaml" % name), yaml.safe_dump_all(crds, sort_keys=False))
            for d in crds:
                if d["kind"] == "PrometheusRule":
                    write(out / ("%s.rules.yml" % name), yaml.safe_dump(d["spec"], sort_keys=False))
            write(out / ("%s.json" % name), json.dumps({"config_check": checkable, "docs": core}))
            objects = sorted("%s/%s" % (d["kind"], d["metadata"]["name"]) for d in docs)
            print("%s: %d objects (%s)" % (name, len(docs), ", ".join(objects)))
        for values, message in MUST_FAIL:
            try:
                render_values(chart, values)
                problems.append("values %s rendered; they must fail with %r" % (values, message))
            except helm.HelmError as e:
                if message not in str(e):
                    problems.append("values %s failed without %r: %s" % (values, message, e))
                else:
                    print("refused as it must be: %s" % json.dumps(values))
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


# --- config-check ------------------------------------------------------------------------------


def self_signed(directory):
    """tls.crt, tls.key and ca.crt, as a cert-manager Secret holds them."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=chatapp-exporter.monitoring.svc",
         "-keyout", str(directory / "tls.key"), "-out", str(directory / "tls.crt")],
        check=True, capture_output=True)
    (directory / "ca.crt").write_bytes((directory / "tls.crt").read_bytes())


def config_check_shape(name, docs, binary, tmp):
    """Lays out every volume the exporter's container mounts in tmp (the chart's ConfigMap and
    Secrets as rendered, dummies for the files of a Secret created outside the chart, a
    self-signed certificate for a TLS Secret), rewrites the mount paths, and runs the container's
    args with --config.check."""
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    workload = next(d for d in docs if d["kind"] in ("Deployment", "StatefulSet"))
    pod = workload["spec"]["template"]["spec"]
    container = pod["containers"][0]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = container.get("volumeMounts", [])

    def local(text):
        for m in sorted(mounts, key=lambda m: -len(m["mountPath"])):
            text = text.replace(m["mountPath"], str(tmp / m["name"]))
        return text

    # What the chart puts in each mounted volume, {file: text}; None: a Secret made elsewhere.
    contents = {}
    for m in mounts:
        volume = volumes[m["name"]]
        if "configMap" in volume:
            contents[m["name"]] = dict(by_kind[("ConfigMap", volume["configMap"]["name"])]["data"])
        elif "secret" in volume:
            secret = by_kind.get(("Secret", volume["secret"]["secretName"]))
            contents[m["name"]] = None if secret is None else {
                k: base64.b64decode(v).decode("utf-8") for k, v in secret.get("data", {}).items()}
        else:
            contents[m["name"]] = {}
    named = "\n".join(text for files in contents.values() if files for text in files.values())
    for m in mounts:
        directory = tmp / m["name"]
        directory.mkdir()
        files = contents[m["name"]]
        if files is not None:
            for key, text in files.items():
                (directory / key).write_text(local(text), encoding="utf-8")
        elif m["name"] == "tls":
            self_signed(directory)
        else:
            # A dummy for every file of this Secret that the config or the web config names.
            for path in re.findall(re.escape(m["mountPath"] + "/") + r"[\w.-]+", named):
                (directory / path.rsplit("/", 1)[1]).write_text("dummy\n", encoding="utf-8")
    args = [local(a).replace("$(SHARD)", "0") for a in container["args"]]
    token = tmp / "oidc-token"
    token.write_text("dummy\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIBABA_CLOUD_")}
    # An account without credentials uses the default chain: give it what RRSA injects.
    env.update({
        "ALIBABA_CLOUD_ROLE_ARN": "acs:ram::1234567890123456:role/chatapp-exporter-reader",
        "ALIBABA_CLOUD_OIDC_PROVIDER_ARN": "acs:ram::1234567890123456:oidc-provider/ack-rrsa-example",
        "ALIBABA_CLOUD_OIDC_TOKEN_FILE": str(token),
    })
    shown = " ".join(container["args"])
    if workload["kind"] == "StatefulSet":
        # Kubernetes sets a pod's host name to the pod's name, <StatefulSet>-<ordinal> here, and
        # --shard=auto reads the ordinal from $HOSTNAME: the first pod's, not this machine's.
        env["HOSTNAME"] = "%s-0" % workload["metadata"]["name"]
        shown = "HOSTNAME=%s %s" % (env["HOSTNAME"], shown)
    print("%s: %s --config.check" % (name, shown))
    result = subprocess.run([binary, *args, "--config.check"], env=env, capture_output=True, text=True)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.returncode == 0


def config_check(out, binary):
    failed = []
    for path in sorted(pathlib.Path(out).glob("*.json")):
        name = path.name[: -len(".json")]
        shape = json.loads(path.read_text(encoding="utf-8"))
        if not shape["config_check"]:
            print("%s: skipped (render-only shape: keys or flags the exporter does not have yet)" % name)
            continue
        with tempfile.TemporaryDirectory() as tmp:
            if not config_check_shape(name, shape["docs"], binary, pathlib.Path(tmp)):
                failed.append(name)
    if failed:
        print("--config.check failed: %s" % ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


def main(argv):
    if argv[:1] == ["lint"] and len(argv) == 1:
        return lint()
    if argv[:1] == ["render"] and len(argv) == 2:
        return render(argv[1])
    if argv[:1] == ["config-check"] and len(argv) == 3:
        return config_check(argv[1], argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
