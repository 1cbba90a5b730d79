#!/usr/bin/env python3
"""Checks the inhibitions of deploy/alertmanager/alertmanager.yml on a real Alertmanager.

    python3 .ci/ops/check-alertmanager.py [ALERTMANAGER_BINARY]

Starts Debian's prometheus-alertmanager on a free loopback port with a copy of the example
config whose receivers have no notifiers (so nothing is ever sent anywhere), posts alerts through
the v2 API and checks which ones Alertmanager reports as inhibited. Everything it starts is
stopped on exit.
"""
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alert(name, severity, **labels):
    return {"labels": {"alertname": name, "severity": severity, **labels}}


# (alert, inhibited?) with and without ChatAppExporterDown firing.
CASES = [
    (alert("ChatAppPhoneNumberFlagged", "critical", account="a", phone_number="6580000003"), False),
    (alert("ChatAppPhoneNumberQualityRed", "critical", account="a", phone_number="6580000003"), True),
    (alert("ChatAppPhoneNumberQualityRed", "critical", account="a", phone_number="6580000009"), False),
    (alert("ChatAppApiPermissionDenied", "critical", account="b", operation="QueryChatappPhoneNumbers",
           code="Forbidden.RAM"), False),
    (alert("ChatAppRefreshFailing", "warning", account="b"), True),
    (alert("ChatAppDataStale", "warning", account="b", job="chatapp", instance="x:10155"), True),
    (alert("ChatAppRefreshFailing", "warning", account="c"), False),
    (alert("ChatAppDataStale", "warning", account="c", job="chatapp", instance="x:10155"), True),
    (alert("ChatAppDataStale", "warning", account="d", job="chatapp", instance="x:10155"), False),
    # A number Meta reports BLOCKED mutes the quality, flag, status and LIMITED alerts of that
    # number only: not its display-name alert, not the same number in another account.
    (alert("ChatAppPhoneNumberCannotSend", "critical", account="a", phone_number="6580000002"), False),
    (alert("ChatAppPhoneNumberQualityRed", "critical", account="a", phone_number="6580000002"), True),
    (alert("ChatAppPhoneNumberQualityYellow", "warning", account="a", phone_number="6580000002"), True),
    (alert("ChatAppPhoneNumberSendingBlocked", "critical", account="a", phone_number="6580000002",
           status="RESTRICTED"), True),
    (alert("ChatAppPhoneNumberSendingLimited", "warning", account="a", phone_number="6580000002"), True),
    (alert("ChatAppPhoneNumberDisplayNameRejected", "warning", account="a", phone_number="6580000002"), False),
    (alert("ChatAppPhoneNumberQualityRed", "critical", account="g", phone_number="6580000002"), False),
    (alert("ChatAppPhoneNumberCannotSend", "critical", account="a", phone_number="6580000006"), False),
    (alert("ChatAppPhoneNumberFlagged", "critical", account="a", phone_number="6580000006"), True),
    # A BLOCKED WABA mutes its numbers' CannotSend and SendingLimited (and, through their
    # CannotSend, what that mutes), not other alerts of its numbers, not other accounts.
    (alert("ChatAppWabaCannotSend", "critical", account="e", waba_id="20393988393993002"), False),
    (alert("ChatAppPhoneNumberCannotSend", "critical", account="e", phone_number="6590000001"), True),
    (alert("ChatAppPhoneNumberQualityRed", "critical", account="e", phone_number="6590000001"), True),
    (alert("ChatAppPhoneNumberSendingLimited", "warning", account="e", phone_number="6590000002"), True),
    (alert("ChatAppPhoneNumberFlagged", "critical", account="e", phone_number="6590000002"), False),
    (alert("ChatAppPhoneNumberCannotSend", "critical", account="f", phone_number="6590000001"), False),
    # Failing collectors: muted by a permission error of the account (b), and the phone_numbers
    # and waba collectors by the failing refresh of the account (c), not the health collector.
    (alert("ChatAppCollectorFailing", "warning", account="b", collector="health"), True),
    (alert("ChatAppCollectorFailing", "warning", account="c", collector="phone_numbers"), True),
    (alert("ChatAppCollectorFailing", "warning", account="c", collector="waba"), True),
    (alert("ChatAppCollectorFailing", "warning", account="c", collector="health"), False),
    (alert("ChatAppCollectorFailing", "warning", account="d", collector="phone_numbers"), False),
    # The template alerts (one per account) are muted by nothing but ChatAppExporterDown: not by
    # a BLOCKED WABA (e), a BLOCKED number (a) or a permission error (b) of the same account, not
    # by a failing refresh (c); and the failing templates collector of c is not muted by it.
    (alert("ChatAppTemplateQualityRed", "warning", account="e"), False),
    (alert("ChatAppTemplateQualityRed", "warning", account="a"), False),
    (alert("ChatAppTemplateRejected", "info", account="b"), False),
    (alert("ChatAppTemplateRejected", "info", account="c"), False),
    (alert("ChatAppCollectorFailing", "warning", account="c", collector="templates"), False),
]
DOWN = alert("ChatAppExporterDown", "warning", job="chatapp", instance="x:10155")


def request(base, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read() or b"null")


def inhibited_names(base, expected_count):
    """Returns {labels-json: inhibited?} once Alertmanager lists expected_count alerts."""
    deadline = time.time() + 20
    last = None
    while time.time() < deadline:
        got = request(base, "/api/v2/alerts")
        last = {json.dumps(a["labels"], sort_keys=True): bool(a["status"]["inhibitedBy"]) for a in got}
        if len(last) == expected_count:
            return last
        time.sleep(0.3)
    return last or {}


def check(base, cases, phase):
    deadline = time.time() + 20
    while True:
        got = inhibited_names(base, len(cases))
        errors = []
        for a, want in cases:
            key = json.dumps(a["labels"], sort_keys=True)
            if key not in got:
                errors.append("%s: missing from /api/v2/alerts" % a["labels"])
            elif got[key] != want:
                errors.append("%s: inhibited=%s, want %s" % (a["labels"], got[key], want))
        if not errors or time.time() > deadline:
            break
        time.sleep(0.5)  # the inhibitor sees new source alerts asynchronously
    for e in errors:
        print("ERROR [%s] %s" % (phase, e), file=sys.stderr)
    if not errors:
        print("[%s] %d alerts, inhibitions as expected" % (phase, len(cases)))
    return not errors


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else shutil.which("prometheus-alertmanager") or shutil.which(
        "alertmanager")
    if not binary:
        print("prometheus-alertmanager not found", file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp(prefix="chatapp-am-")
    cfg = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    cfg["receivers"] = [{"name": r["name"]} for r in cfg["receivers"]]  # no notifiers at all
    cfg_file = os.path.join(tmp, "alertmanager.yml")
    with open(cfg_file, "w", encoding="utf-8") as f:
        yaml.safe_dump(cfg, f)
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    log = open(os.path.join(tmp, "alertmanager.log"), "w+", encoding="utf-8")
    proc = subprocess.Popen(
        [binary, "--config.file=" + cfg_file, "--storage.path=" + os.path.join(tmp, "data"),
         "--web.listen-address=127.0.0.1:%d" % port, "--cluster.listen-address="],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    ok = False
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/-/ready", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("alertmanager did not become ready")
        request(base, "/api/v2/alerts", [a for a, _ in CASES])
        ok = check(base, CASES, "per-number and per-account inhibitions")
        request(base, "/api/v2/alerts", [DOWN] + [a for a, _ in CASES])
        ok = check(base, [(DOWN, False)] + [(a, True) for a, _ in CASES],
                   "ChatAppExporterDown mutes the rest") and ok
    except Exception as e:  # noqa: BLE001 - report and fail
        print("ERROR %s" % e, file=sys.stderr)
        ok = False
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        if not ok:
            log.seek(0)
            print(log.read()[-3000:], file=sys.stderr)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
