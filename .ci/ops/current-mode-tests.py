#!/usr/bin/env python3
"""Derives the `--metrics.enum=current` variant of the alert rule unit tests.

    python3 .ci/ops/current-mode-tests.py deploy/prometheus/alerts.test.yml OUT.yml

With `--metrics.enum=all` (the default) a StateSet family has one series per known state, 1
for the current state and 0 for the others. With `current` only the current state's series is
exported. The input tests are written for `all`; this rewrites every StateSet input series so
that a sample of 0 becomes an absent sample: the first absent sample after a present one is
`stale` (Prometheus writes a staleness marker when a scraped series disappears) and the later
ones are `_`. A StateSet series that is never present is dropped. Series notation (`axN`,
`a+bxN`, `a-bxN`, `_xN`, `stale`) is expanded and written back run-length encoded.

Everything else is left as it is, except `rule_files`, which is made absolute (OUT.yml is
written elsewhere) and the exp_samples of promql_expr_test, from which StateSet samples with
value 0 are removed. YAML anchors and merge keys are resolved in the output.

Prints how many series were rewritten and dropped; exits 1 when nothing was rewritten (a
renamed family would otherwise make the two modes' test runs silently identical).
"""
import os
import re
import sys

import yaml

# The families whose HELP says "1 for the current state" (StateSetDef in src/collect/*.rs).
STATE_SETS = {
    "chatapp_phone_number_status",
    "chatapp_phone_number_quality_rating",
    "chatapp_phone_number_messaging_limit_tier",
    "chatapp_phone_number_code_verification_status",
    "chatapp_phone_number_name_status",
    "chatapp_phone_number_new_name_status",
    "chatapp_waba_account_review_status",
    "chatapp_phone_number_can_send",
    "chatapp_waba_can_send",
    "chatapp_template_audit_status",
    "chatapp_template_quality_score",
}

NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?Inf|NaN"
ITEM = re.compile(r"^(?:(?P<blank>_)(?:x(?P<bn>\d+))?|(?P<stale>stale)|"
                  r"(?P<a>%s)(?:(?P<op>[-+])(?P<b>%s))?(?:x(?P<n>\d+))?)$" % (NUM, NUM))

ABSENT, STALE = "_", "stale"


def family(series):
    return re.match(r"\s*([A-Za-z_:][A-Za-z0-9_:]*)", series).group(1)


def expand(values):
    """promtool's series notation to a list of floats, ABSENT and STALE."""
    out = []
    for tok in str(values).split():
        m = ITEM.match(tok)
        if not m:
            raise ValueError("cannot parse %r in %r" % (tok, values))
        if m.group("blank"):
            out += [ABSENT] * int(m.group("bn") or 1)
        elif m.group("stale"):
            out.append(STALE)
        else:
            a = float(m.group("a"))
            b = float(m.group("b") or 0) * (-1 if m.group("op") == "-" else 1)
            if m.group("n") is None:
                if m.group("op"):
                    raise ValueError("%r: a+b needs xN" % tok)
                out.append(a)
            else:  # axN and a+bxN: N+1 samples
                out += [a + i * b for i in range(int(m.group("n")) + 1)]
    return out


def to_current(samples):
    """0 means the series is absent: stale right after a present sample, then _."""
    out, present = [], False
    for v in samples:
        if v in (ABSENT, STALE) or v == 0:
            out.append(STALE if present else ABSENT)
            present = False
        else:
            out.append(v)
            present = True
    return out


def fmt(v):
    return ("%g" % v).replace("inf", "Inf").replace("nan", "NaN") if isinstance(v, float) else v


def compress(samples):
    """Run-length encodes: vxN for N+1 equal numbers, _xN for N blanks, stale alone."""
    parts, i = [], 0
    while i < len(samples):
        j = i
        while j + 1 < len(samples) and samples[j + 1] == samples[i] and samples[i] != STALE:
            j += 1
        run, v = j - i + 1, samples[i]
        if v == STALE:
            parts.append(STALE)
        elif v == ABSENT:
            parts.append("_" if run == 1 else "_x%d" % run)
        else:
            parts.append(fmt(v) if run == 1 else "%sx%d" % (fmt(v), run - 1))
        i = j + 1
    # Trailing blanks say nothing: drop them.
    while parts and parts[-1].startswith("_"):
        parts.pop()
    return " ".join(parts)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    doc = yaml.safe_load(open(src, encoding="utf-8"))
    base = os.path.dirname(os.path.abspath(src))
    doc["rule_files"] = [f if os.path.isabs(f) else os.path.join(base, f) for f in doc["rule_files"]]
    rewritten = dropped = samples_dropped = 0
    for test in doc["tests"]:
        kept = []
        for s in test.get("input_series", []):
            if family(s["series"]) not in STATE_SETS:
                kept.append(s)
                continue
            values = compress(to_current(expand(s["values"])))
            # A series that is present nowhere (only blanks and staleness markers) is dropped.
            if not re.search(r"(^|\s)(?!_|stale)\S", values):
                dropped += 1
                continue
            if values != s["values"]:
                rewritten += 1
            kept.append(dict(s, values=values))
        test["input_series"] = kept
        for t in test.get("promql_expr_test", []):
            samples = t.get("exp_samples") or []
            left = [e for e in samples if not (family(e["labels"]) in STATE_SETS and float(e["value"]) == 0)]
            samples_dropped += len(samples) - len(left)
            if samples:
                t["exp_samples"] = left
    with open(dst, "w", encoding="utf-8") as f:
        f.write("# Generated by .ci/ops/current-mode-tests.py from %s for --metrics.enum=current.\n"
                "# Do not edit: StateSet samples of 0 are absent here.\n" % os.path.relpath(src))
        yaml.safe_dump(doc, f, allow_unicode=True, sort_keys=False, width=1000)
    print("current-mode tests: %d StateSet series rewritten, %d dropped (never current), "
          "%d expected samples dropped -> %s" % (rewritten, dropped, samples_dropped, dst))
    if rewritten + dropped == 0:
        sys.exit("no StateSet series found in %s: STATE_SETS out of date?" % src)


if __name__ == "__main__":
    main()
