#!/usr/bin/env python3
"""Generates dashboards/chatapp-overview.json (Grafana 10+ dashboard for chatapp_exporter).

    python3 .ci/ops/gen-dashboard.py            # rewrite dashboards/chatapp-overview.json
    python3 .ci/ops/gen-dashboard.py --check    # exit 1 if the committed file differs

The JSON is the deliverable (import it in Grafana or provision it); this script keeps the
datasource references, colour mappings and layout consistent. Edit the dashboard here, not in
the JSON: .ci/ops-checks.sh fails when the two drift apart. A dashboard changed in Grafana's UI
can be exported and its changes ported back here.

Every panel query must return data against a Prometheus scraping `chatapp_exporter --demo`
(.ci/e2e-prometheus.sh checks that).
"""
import json
import pathlib
import sys

OUT = pathlib.Path(__file__).resolve().parents[2] / "dashboards" / "chatapp-overview.json"

DS = {"type": "prometheus", "uid": "${datasource}"}
NUM = 'account=~"$account",phone_number=~"$phone_number"'
ACC = 'account=~"$account"'
# Joins a per-number result with its display name (one info series per number).
NAME_JOIN = (
    " * on (account, phone_number) group_left (verified_name) "
    "max by (account, phone_number, verified_name) (chatapp_phone_number_info{%s})" % NUM
)

# Colours of the API's enum values (Grafana named colours).
STATUS_COLOURS = {
    "CONNECTED": "green",
    "PENDING": "yellow",
    "UNVERIFIED": "yellow",
    "FLAGGED": "red",
    "RATE_LIMITED": "orange",
    "RESTRICTED": "orange",
    "PAUSED": "orange",
    "OFFLINE": "red",
    "DISCONNECTED": "red",
    "BANNED": "dark-red",
    "MIGRATED": "purple",
    "DELETED": "text",
    "UNKNOWN": "text",
}
QUALITY_COLOURS = {"GREEN": "green", "YELLOW": "yellow", "RED": "red", "UNKNOWN": "text", "NA": "text"}
CODE_VERIFICATION_COLOURS = {
    "VERIFIED": "green",
    "NOT_VERIFIED": "yellow",
    "MORE_INFORMATION_REQUESTED": "yellow",
    "EXPIRED": "orange",
    "REJECTED": "red",
    "REVOKED": "red",
}
NAME_STATUS_COLOURS = {
    "Approval": "green",
    "APPROVED": "green",
    "AVAILABLE_WITHOUT_REVIEW": "green",
    "Pending_Review": "yellow",
    "PENDING_REVIEW": "yellow",
    "NONE": "text",
    "Rejected": "red",
    "REJECTED": "red",
    "DECLINED": "red",
    "EXPIRED": "orange",
}
REVIEW_COLOURS = {"APPROVED": "green", "PENDING": "yellow", "REJECTED": "red", "DISABLED": "red"}
# GetWhatsappHealthStatus CanSendMessage (number and WABA).
CAN_SEND_COLOURS = {"AVAILABLE": "green", "LIMITED": "orange", "BLOCKED": "red"}
TIER_COLOURS = {"TIER_NOT_SET": "text"}
# ListChatappTemplate AuditStatus: (text shown, colour).
TEMPLATE_AUDIT = {
    "pass": ("pass (approved)", "green"),
    "fail": ("fail (rejected)", "red"),
    "auditing": ("auditing (in review)", "yellow"),
    "unaudit": ("unaudit (review suspended)", "orange"),
}
# GetChatappTemplateDetail QualityScore.
TEMPLATE_QUALITY_COLOURS = {"GREEN": "green", "YELLOW": "yellow", "RED": "red", "UNKNOWN": "text"}

# Numeric codes for the state timelines (Prometheus returns numbers, not strings).
QUALITY_CODES = [("GREEN", 1), ("YELLOW", 2), ("RED", 3)]  # 0 = UNKNOWN / NA / other
CAN_SEND_CODES = [("AVAILABLE", 1), ("LIMITED", 2), ("BLOCKED", 3)]  # 0 = a value the exporter does not know
STATUS_CODES = [
    ("CONNECTED", 1),
    ("PENDING", 2),
    ("UNVERIFIED", 3),
    ("FLAGGED", 4),
    ("RATE_LIMITED", 5),
    ("RESTRICTED", 6),
    ("PAUSED", 7),
    ("OFFLINE", 8),
    ("DISCONNECTED", 9),
    ("BANNED", 10),
    ("MIGRATED", 11),
    ("DELETED", 12),
]  # 0 = UNKNOWN or a value the exporter has never seen


def text_mappings(colours):
    return [
        {
            "type": "value",
            "options": {v: {"text": v, "color": c, "index": i} for i, (v, c) in enumerate(colours.items())},
        }
    ]


def code_mappings(codes, colours, other):
    opts = {"0": {"text": other, "color": "text", "index": 0}}
    for i, (name, code) in enumerate(codes, start=1):
        opts[str(code)] = {"text": name, "color": colours[name], "index": i}
    return [{"type": "value", "options": opts}]


def fixed_colours(colours):
    """Field overrides colouring each series named like a key of colours (timeseries legends)."""
    return [
        {
            "matcher": {"id": "byName", "options": name},
            "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}],
        }
        for name, colour in colours.items()
    ]


# chatapp_up / chatapp_collector_success.
UP_MAPPINGS = [{"type": "value", "options": {"1": {"text": "OK", "color": "green", "index": 0},
                                             "0": {"text": "FAILING", "color": "red", "index": 1}}}]


def prom_annotation(name, colour, expr, title, text):
    return {
        "datasource": DS,
        "enable": True,
        "hide": False,
        "iconColor": colour,
        "name": name,
        "target": {"refId": "Anno", "expr": expr, "interval": "1m"},
        "titleFormat": title,
        "textFormat": text,
    }


def target(expr, ref="A", legend="__auto", instant=False, fmt=None):
    t = {
        "datasource": DS,
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend,
        "range": not instant,
        "instant": instant,
        "refId": ref,
    }
    if fmt:
        t["format"] = fmt
    return t


class Layout:
    def __init__(self):
        self.panels = []
        self.y = 0
        self.x = 0
        self.row_h = 0

    def _id(self):
        return len(self.panels) + 1

    def row(self, title):
        self.newline()
        self.panels.append(
            {
                "type": "row",
                "id": self._id(),
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
                "panels": [],
            }
        )
        self.y += 1

    def newline(self):
        if self.x:
            self.y += self.row_h
        self.x, self.row_h = 0, 0

    def add(self, panel, w, h):
        if self.x + w > 24:
            self.newline()
        panel["id"] = self._id()
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        panel["datasource"] = DS
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)


def stat(title, expr, description, colour="text", thresholds=None, text_mode="value", legend="__auto", unit="none"):
    steps = thresholds or [{"color": colour, "value": None}]
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "targets": [target(expr, instant=True, legend=legend)],
        "fieldConfig": {
            "defaults": {
                "color": {"mode": "thresholds"},
                "thresholds": {"mode": "absolute", "steps": steps},
                "mappings": [],
                "unit": unit,
                "decimals": 0,
            },
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"values": False, "calcs": ["lastNotNull"], "fields": ""},
            "orientation": "auto",
            "textMode": text_mode,
            "colorMode": "background",
            "graphMode": "none",
            "justifyMode": "auto",
            "wideLayout": True,
            "showPercentChange": False,
        },
    }


def count_stat(title, selector, description, colour_when_nonzero, zero_colour="green"):
    expr = "count(%s == 1) or vector(0)" % selector
    return stat(
        title,
        expr,
        description,
        thresholds=[{"color": zero_colour, "value": None}, {"color": colour_when_nonzero, "value": 1}],
    )


def colour_column(name, mappings):
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [
            {"id": "custom.cellOptions", "value": {"type": "color-background", "mode": "basic"}},
            {"id": "mappings", "value": mappings},
        ],
    }


def table(title, description, targets, organize, overrides, sort_by):
    return {
        "type": "table",
        "title": title,
        "description": description,
        "targets": targets,
        "transformations": [
            {"id": "merge", "options": {}},
            {"id": "organize", "options": organize},
        ],
        "fieldConfig": {
            "defaults": {
                "custom": {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False, "filterable": True},
                "color": {"mode": "thresholds"},
                "thresholds": {"mode": "absolute", "steps": [{"color": "text", "value": None}]},
                "mappings": [],
            },
            "overrides": overrides,
        },
        "options": {
            "showHeader": True,
            "cellHeight": "sm",
            "frameIndex": 0,
            "sortBy": [{"displayName": sort_by, "desc": False}],
        },
    }


def timeline(title, description, expr, legend, mappings):
    return {
        "type": "state-timeline",
        "title": title,
        "description": description,
        "targets": [target(expr, legend=legend)],
        "fieldConfig": {
            "defaults": {
                "custom": {"lineWidth": 0, "fillOpacity": 80, "hideFrom": {"legend": False, "tooltip": False, "viz": False}},
                "color": {"mode": "thresholds"},
                "thresholds": {"mode": "absolute", "steps": [{"color": "text", "value": None}]},
                "mappings": mappings,
            },
            "overrides": [],
        },
        "options": {
            "mergeValues": True,
            "showValue": "auto",
            "alignValue": "left",
            "rowHeight": 0.9,
            "legend": {"showLegend": False, "displayMode": "list", "placement": "bottom", "calcs": []},
            "tooltip": {"mode": "single", "sort": "none"},
        },
    }


def timeseries(title, description, targets, unit="short", step=False, draw="line", stack=False, min_zero=True):
    custom = {
        "drawStyle": draw,
        "lineInterpolation": "stepAfter" if step else "linear",
        "lineWidth": 2,
        "fillOpacity": 80 if draw == "bars" else 10,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        "axisPlacement": "auto",
        "hideFrom": {"legend": False, "tooltip": False, "viz": False},
    }
    if min_zero:
        custom["axisSoftMin"] = 0
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "targets": targets,
        "fieldConfig": {
            "defaults": {
                "custom": custom,
                "color": {"mode": "palette-classic"},
                "unit": unit,
                "mappings": [],
                "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}]},
            },
            "overrides": [],
        },
        "options": {
            "legend": {"showLegend": True, "displayMode": "list", "placement": "bottom", "calcs": []},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def state_code_expr(metric, label, codes):
    terms = ["\n  or ".join("%s{%s,%s=\"%s\"} * %d" % (metric, NUM, label, name, code) for name, code in codes)]
    # Every known and unseen state series is 0 except the current one, so max() is the current code,
    # or 0 for a state without a code (UNKNOWN, NA, unseen values).
    zero = "%s{%s} * 0" % (metric, NUM)
    return "max by (account, phone_number) (\n  %s\n  or %s\n)%s" % (terms[0], zero, NAME_JOIN)


def build():
    L = Layout()

    # --- Fleet ------------------------------------------------------------------------------
    L.row("Fleet")
    L.add(stat("Numbers", "count(chatapp_phone_number_info{%s}) or vector(0)" % NUM,
               "WhatsApp sending numbers listed by QueryChatappPhoneNumbers.", colour="blue"), 3, 4)
    L.add(count_stat("Connected", 'chatapp_phone_number_status{%s,status="CONNECTED"}' % NUM,
                     "Numbers whose status is CONNECTED (can send).", "green", zero_colour="text"), 3, 4)
    L.add(count_stat("Not connected", 'chatapp_phone_number_status{%s,status!~"CONNECTED|DELETED"}' % NUM,
                     "Numbers in any status other than CONNECTED (DELETED excluded): FLAGGED, RESTRICTED, "
                     "PENDING, ...", "orange"), 3, 4)
    L.add(count_stat("Quality GREEN", 'chatapp_phone_number_quality_rating{%s,rating="GREEN"}' % NUM,
                     "Numbers with quality rating GREEN (last 7 days of recipient feedback).", "green",
                     zero_colour="text"), 3, 4)
    L.add(count_stat("Quality YELLOW", 'chatapp_phone_number_quality_rating{%s,rating="YELLOW"}' % NUM,
                     "Numbers with quality rating YELLOW.", "yellow"), 3, 4)
    L.add(count_stat("Quality RED", 'chatapp_phone_number_quality_rating{%s,rating="RED"}' % NUM,
                     "Numbers with quality rating RED: pause their marketing traffic.", "red"), 3, 4)
    waba = stat("WABA review", 'max by (account, status) (chatapp_waba_account_review_status{%s} == 1)' % ACC,
                "AccountReviewStatus of each account's WhatsApp Business Account.",
                text_mode="name", legend="{{account}}: {{status}}")
    waba["fieldConfig"]["overrides"] = [
        {
            "matcher": {"id": "byRegexp", "options": ".*: %s" % status},
            "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}],
        }
        for status, colour in [("APPROVED", "green"), ("PENDING", "yellow"), ("(REJECTED|DISABLED)", "red")]
    ]
    L.add(waba, 6, 4)

    # --- Sending health ---------------------------------------------------------------------
    L.row("Sending health")
    L.add(count_stat("Can send", 'chatapp_phone_number_can_send{%s,state="AVAILABLE"}' % NUM,
                     "Numbers Meta reports AVAILABLE (GetWhatsappHealthStatus): the number, its WABA, business "
                     "and app meet every messaging requirement.", "green", zero_colour="text"), 3, 4)
    L.add(count_stat("Sending limited", 'chatapp_phone_number_can_send{%s,state="LIMITED"}' % NUM,
                     "Numbers Meta reports LIMITED: they can send, with limitations on the number or what it "
                     "depends on (see the health errors).", "orange"), 3, 4)
    L.add(count_stat("Cannot send", 'chatapp_phone_number_can_send{%s,state="BLOCKED"}' % NUM,
                     "Numbers Meta reports BLOCKED: every message from them fails now (ChatAppPhoneNumberCannotSend).",
                     "red"), 3, 4)
    L.add(stat("Meta errors",
               "count(max by (account, entity_type, entity_id, error_code, description) "
               "(chatapp_health_error_info{%s})) or vector(0)" % ACC,
               "Errors Meta reports on the accounts' numbers, WABAs, businesses and apps (table below).",
               thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}]), 3, 4)
    waba_send = stat("WABA can send", "max by (account, state) (chatapp_waba_can_send{%s} == 1)" % ACC,
                     "Whether each account's WhatsApp Business Account can send messages, as Meta reports it "
                     "(GetWhatsappHealthStatus NodeType=waba). BLOCKED stops every number of the WABA.",
                     text_mode="name", legend="{{account}}: {{state}}")
    waba_send["fieldConfig"]["overrides"] = [
        {
            "matcher": {"id": "byRegexp", "options": ".*: %s" % state},
            "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}],
        }
        for state, colour in CAN_SEND_COLOURS.items()
    ]
    L.add(waba_send, 8, 4)
    L.add(stat("Collectors failing",
               "count(max by (account, collector) (chatapp_collector_success{%s}) == 0) or vector(0)" % ACC,
               "Collectors (phone_numbers, waba, health, templates, usage) whose last run failed, over all accounts "
               "(see the Collectors table and ChatAppCollectorFailing).",
               thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}]), 4, 4)
    error_columns = [
        ("account", "Account"),
        ("entity_type", "Entity"),
        ("entity_id", "Entity ID"),
        ("error_code", "Code"),
        ("description", "Description"),
    ]
    L.add(table("Health errors",
                "chatapp_health_error_info: each error Meta reports on a number (PHONE_NUMBER, the number as "
                "entity ID), WABA, business or app, with Meta's code and description, e.g. 141006 (payment "
                "method) or 141010 (business verification). The exporter's landing page shows Meta's suggested "
                "fix; the runbook explains the common codes. Empty when Meta reports no error.",
                [target("max by (account, entity_type, entity_id, error_code, description) "
                        "(chatapp_health_error_info{%s})" % ACC, "A", instant=True, fmt="table")],
                {
                    "excludeByName": {"Time": True, "Value": True, "Value #A": True},
                    "indexByName": {name: i for i, (name, _) in enumerate(error_columns)},
                    "renameByName": dict(error_columns),
                },
                [{"matcher": {"id": "byName", "options": "Code"},
                  "properties": [{"id": "custom.width", "value": 90}]},
                 {"matcher": {"id": "byName", "options": "Entity"},
                  "properties": [{"id": "custom.width", "value": 130}]}],
                "Account"), 24, 6)

    # --- Numbers table ----------------------------------------------------------------------
    L.row("Numbers")

    def by_number(metric, label, column):
        sel = "%s{%s} == 1" % (metric, NUM)
        if label != column:
            sel = 'label_replace(%s, "%s", "$1", "%s", "(.*)")' % (sel, column, label)
        return "max by (account, phone_number, %s) (%s)" % (column, sel)

    targets = [
        target("max by (account, phone_number, verified_name, is_official) (chatapp_phone_number_info{%s})" % NUM,
               "A", instant=True, fmt="table"),
        target(by_number("chatapp_phone_number_status", "status", "status"), "B", instant=True, fmt="table"),
        target(by_number("chatapp_phone_number_quality_rating", "rating", "rating"), "C", instant=True, fmt="table"),
        target(by_number("chatapp_phone_number_messaging_limit_tier", "tier", "tier"), "D", instant=True, fmt="table"),
        target("max by (account, phone_number) (chatapp_phone_number_messaging_limit{%s})" % NUM,
               "E", instant=True, fmt="table"),
        target(by_number("chatapp_phone_number_code_verification_status", "status", "code_verification"), "F",
               instant=True, fmt="table"),
        target(by_number("chatapp_phone_number_name_status", "status", "name_status"), "G", instant=True, fmt="table"),
        target(by_number("chatapp_phone_number_new_name_status", "status", "new_name_status"), "H",
               instant=True, fmt="table"),
        target(by_number("chatapp_phone_number_can_send", "state", "can_send"), "I", instant=True, fmt="table"),
    ]
    columns = [
        ("verified_name", "Verified name"),
        ("phone_number", "Number"),
        ("account", "Account"),
        ("can_send", "Can send"),
        ("status", "Status"),
        ("rating", "Quality"),
        ("tier", "Tier"),
        ("Value #E", "Limit / 24 h"),
        ("code_verification", "Code verification"),
        ("name_status", "Name status"),
        ("new_name_status", "New name status"),
        ("is_official", "Official"),
    ]
    organize = {
        "excludeByName": {"Time": True, **{"Value #%s" % r: True for r in "ABCDFGHI"}},
        "indexByName": {name: i for i, (name, _) in enumerate(columns)},
        "renameByName": dict(columns),
    }
    overrides = [
        colour_column("Can send", text_mappings(CAN_SEND_COLOURS)),
        colour_column("Status", text_mappings(STATUS_COLOURS)),
        colour_column("Quality", text_mappings(QUALITY_COLOURS)),
        colour_column("Code verification", text_mappings(CODE_VERIFICATION_COLOURS)),
        colour_column("Name status", text_mappings(NAME_STATUS_COLOURS)),
        colour_column("New name status", text_mappings(NAME_STATUS_COLOURS)),
        {
            "matcher": {"id": "byName", "options": "Limit / 24 h"},
            "properties": [
                {"id": "unit", "value": "short"},
                {"id": "decimals", "value": 0},
                {"id": "mappings", "value": [
                    {"type": "range", "options": {"from": 1e15, "to": None,
                                                  "result": {"text": "Unlimited", "index": 0}}}
                ]},
            ],
        },
        {
            "matcher": {"id": "byName", "options": "Number"},
            "properties": [{"id": "custom.width", "value": 130}],
        },
    ]
    L.add(table("Numbers",
                "One row per number: display name, whether Meta lets it send (Can send: AVAILABLE, LIMITED, "
                "BLOCKED, from the health collector), status, quality, messaging limit tier and limit (unique "
                "recipients of business-initiated conversations per 24 h), code verification and display name "
                "review. Data is refreshed in the background every chatapp_refresh_interval_seconds (Can send: "
                "every health interval).",
                targets, organize, overrides, "Verified name"), 24, 10)

    # How long each number has had its current status, quality rating, tier and can-send state:
    # the exporter's since series (kept in its history store, --storage.path), each paired with
    # the state series of the same target so that the state is a column beside its age.
    def time_in_state(field, metric, label):
        since = "chatapp_phone_number_%s_since_timestamp_seconds{%s}" % (field, NUM)
        return ("max by (account, phone_number, %s) (\n  (time() - %s)\n  * ignoring (%s) group_left (%s)\n"
                "  (%s{%s} == 1)\n)" % (label, since, label, label, metric, NUM))

    since_targets = [
        target("max by (account, phone_number, verified_name) (chatapp_phone_number_info{%s})" % NUM,
               "A", instant=True, fmt="table"),
        target(time_in_state("status", "chatapp_phone_number_status", "status"), "B",
               instant=True, fmt="table"),
        target(time_in_state("quality_rating", "chatapp_phone_number_quality_rating", "rating"), "C",
               instant=True, fmt="table"),
        target(time_in_state("messaging_limit_tier", "chatapp_phone_number_messaging_limit_tier", "tier"),
               "D", instant=True, fmt="table"),
        target(time_in_state("can_send", "chatapp_phone_number_can_send", "state"), "E",
               instant=True, fmt="table"),
    ]
    since_columns = [
        ("verified_name", "Verified name"),
        ("phone_number", "Number"),
        ("account", "Account"),
        ("status", "Status"),
        ("Value #B", "Status for"),
        ("rating", "Quality"),
        ("Value #C", "Quality for"),
        ("tier", "Tier"),
        ("Value #D", "Tier for"),
        ("state", "Can send"),
        ("Value #E", "Can send for"),
    ]
    durations = [
        {"matcher": {"id": "byName", "options": name},
         "properties": [{"id": "unit", "value": "s"}, {"id": "decimals", "value": 1}]}
        for name in ("Status for", "Quality for", "Tier for", "Can send for")
    ]
    L.add(table("Time in current state",
                "How long each number has had its current status, quality rating, messaging limit tier and "
                "can-send state (health collector), as observed by the exporter: "
                "time() - chatapp_phone_number_*_since_timestamp_seconds. The exporter keeps these times across "
                "restarts in its history store (--storage.path); a number it first saw already in its state "
                "counts from that first sighting, so the time is a lower bound. Meta lowers a FLAGGED number's "
                "tier when its quality has not recovered within 7 days of being flagged: "
                "ChatAppPhoneNumberFlaggedDowngradeSoon fires after 4 days FLAGGED, "
                "ChatAppPhoneNumberRedForDays after 2 days RED. The exporter's landing page (\"Since when\") "
                "gives the date the tier drops and each number's recent changes.",
                since_targets,
                {
                    "excludeByName": {"Time": True, "Value #A": True},
                    "indexByName": {name: i for i, (name, _) in enumerate(since_columns)},
                    "renameByName": dict(since_columns),
                },
                [colour_column("Status", text_mappings(STATUS_COLOURS)),
                 colour_column("Quality", text_mappings(QUALITY_COLOURS)),
                 colour_column("Can send", text_mappings(CAN_SEND_COLOURS)),
                 *durations,
                 {"matcher": {"id": "byName", "options": "Number"},
                  "properties": [{"id": "custom.width", "value": 130}]}],
                "Verified name"), 24, 8)

    # --- History ----------------------------------------------------------------------------
    L.row("History")
    legend = "{{verified_name}} +{{phone_number}}"
    L.add(timeline("Quality rating per number",
                   "QualityRating over time. Gaps mean the exporter had no data for the account.",
                   state_code_expr("chatapp_phone_number_quality_rating", "rating", QUALITY_CODES), legend,
                   code_mappings(QUALITY_CODES, QUALITY_COLOURS, "UNKNOWN")), 24, 8)
    L.add(timeline("Status per number",
                   "Status over time (CONNECTED, FLAGGED, RESTRICTED, ...). OTHER is UNKNOWN or a value the "
                   "exporter does not know.",
                   state_code_expr("chatapp_phone_number_status", "status", STATUS_CODES), legend,
                   code_mappings(STATUS_CODES, STATUS_COLOURS, "OTHER")), 24, 8)
    L.add(timeline("Can send per number",
                   "Meta's sending health of each number over time (GetWhatsappHealthStatus CanSendMessage). "
                   "OTHER is a value the exporter does not know.",
                   state_code_expr("chatapp_phone_number_can_send", "state", CAN_SEND_CODES), legend,
                   code_mappings(CAN_SEND_CODES, CAN_SEND_COLOURS, "OTHER")), 24, 8)
    L.add(timeseries("Messaging limit per account (lowest number)",
                     "Lowest chatapp_phone_number_messaging_limit among the account's numbers: unique recipients "
                     "of business-initiated conversations per 24 h. Limits belong to the business portfolio, so "
                     "a step down affects every number. Numbers with an unmapped tier are not counted.",
                     [target("min by (account) (chatapp_phone_number_messaging_limit{%s})" % NUM,
                             legend="{{account}}")],
                     unit="short", step=True), 12, 8)
    L.add(timeseries("Numbers by status",
                     "How many numbers are in each status.",
                     [target("count by (status) (chatapp_phone_number_status{%s} == 1)" % NUM,
                             legend="{{status}}")],
                     unit="short", step=True, draw="bars", stack=True), 12, 8)

    # --- WABA -------------------------------------------------------------------------------
    L.row("WhatsApp Business Accounts")
    waba_targets = [
        target("max by (account, waba_id, waba_name, business_id, business_name, currency, "
               "message_template_namespace) (chatapp_waba_info{%s})" % ACC, "A", instant=True, fmt="table"),
        target("max by (account, waba_id, status) (chatapp_waba_account_review_status{%s} == 1)" % ACC, "B",
               instant=True, fmt="table"),
        target("max by (account, cust_space_id, region_id) (chatapp_account_info{%s})" % ACC, "C",
               instant=True, fmt="table"),
        target('max by (account, waba_id, can_send) (label_replace(chatapp_waba_can_send{%s} == 1, '
               '"can_send", "$1", "state", "(.*)"))' % ACC, "D", instant=True, fmt="table"),
    ]
    waba_columns = [
        ("account", "Account"),
        ("waba_id", "WABA ID"),
        ("waba_name", "WABA name"),
        ("status", "Review status"),
        ("can_send", "Can send"),
        ("business_name", "Business"),
        ("business_id", "Business ID"),
        ("currency", "Currency"),
        ("message_template_namespace", "Template namespace"),
        ("cust_space_id", "Customer space"),
        ("region_id", "Region"),
    ]
    L.add(table("WhatsApp Business Accounts",
                "QueryChatappBindWaba: the WABA of each account and its review status; Can send is Meta's "
                "sending health of the WABA (GetWhatsappHealthStatus NodeType=waba).",
                waba_targets,
                {
                    "excludeByName": {"Time": True, **{"Value #%s" % r: True for r in "ABCD"}},
                    "indexByName": {name: i for i, (name, _) in enumerate(waba_columns)},
                    "renameByName": dict(waba_columns),
                },
                [colour_column("Review status", text_mappings(REVIEW_COLOURS)),
                 colour_column("Can send", text_mappings(CAN_SEND_COLOURS))],
                "Account"), 24, 6)

    # --- Message templates ------------------------------------------------------------------
    # The templates collector (ListChatappTemplate, GetChatappTemplateDetail) is off by default:
    # without --collector.templates these panels show "collector off" or 0.
    L.row("Templates")
    total = stat("Templates", "sum(max by (account) (chatapp_templates{%s}))" % ACC,
                 "WhatsApp message templates listed by ListChatappTemplate (chatapp_templates). Needs the "
                 "templates collector, which is off by default (--collector.templates, or collectors: "
                 "{templates: {enabled: true}} per account).", colour="blue")
    total["fieldConfig"]["defaults"]["noValue"] = "collector off"
    L.add(total, 3, 4)
    L.add(count_stat("Approved", 'chatapp_template_audit_status{%s,status="pass"}' % ACC,
                     "Templates whose review passed (AuditStatus pass): they can be sent.", "green",
                     zero_colour="text"), 3, 4)
    L.add(count_stat("Rejected", 'chatapp_template_audit_status{%s,status="fail"}' % ACC,
                     "Templates Meta rejected (AuditStatus fail; ChatAppTemplateRejected). The reason is on the "
                     "exporter's landing page and in the CAMS console.", "red"), 3, 4)
    L.add(count_stat("In review", 'chatapp_template_audit_status{%s,status="auditing"}' % ACC,
                     "Templates under review (AuditStatus auditing).", "yellow"), 3, 4)
    L.add(count_stat("Review suspended", 'chatapp_template_audit_status{%s,status="unaudit"}' % ACC,
                     "Templates whose review is suspended (AuditStatus unaudit).", "orange"), 3, 4)
    L.add(count_stat("Quality GREEN", 'chatapp_template_quality_score{%s,score="GREEN"}' % ACC,
                     "Templates with quality score GREEN (GetChatappTemplateDetail QualityScore).", "green",
                     zero_colour="text"), 3, 4)
    L.add(count_stat("Quality YELLOW", 'chatapp_template_quality_score{%s,score="YELLOW"}' % ACC,
                     "Templates with quality score YELLOW: recipients have started to block or report them.",
                     "yellow"), 3, 4)
    L.add(count_stat("Quality RED", 'chatapp_template_quality_score{%s,score="RED"}' % ACC,
                     "Templates with quality score RED (ChatAppTemplateQualityRed): Meta pauses them and "
                     "campaigns using them fail. Pause those campaigns.", "red"), 3, 4)
    L.add(timeseries("Templates by quality score",
                     "How many templates have each quality score. UNKNOWN: not rated yet (too few messages "
                     "sent) or not approved.",
                     [target("count by (score) (chatapp_template_quality_score{%s} == 1)" % ACC, legend="{{score}}")],
                     unit="short", step=True, draw="bars", stack=True), 12, 7)
    L.panels[-1]["fieldConfig"]["overrides"] = fixed_colours(TEMPLATE_QUALITY_COLOURS)
    L.add(timeseries("Templates by review status",
                     "How many templates are in each review state (AuditStatus): pass (approved), fail "
                     "(rejected), auditing (in review), unaudit (review suspended).",
                     [target("count by (status) (chatapp_template_audit_status{%s} == 1)" % ACC, legend="{{status}}")],
                     unit="short", step=True, draw="bars", stack=True), 12, 7)
    L.panels[-1]["fieldConfig"]["overrides"] = fixed_colours({k: c for k, (_, c) in TEMPLATE_AUDIT.items()})
    # Templates needing attention: quality YELLOW, RED (or a value the exporter does not know), or
    # not approved. Approved templates not rated yet (UNKNOWN) are not listed: a large catalogue
    # has many. Every query keeps only those templates, so the merged table has no other rows.
    key = "account, template_code, language"
    attention = ('(chatapp_template_quality_score{%s,score!~"GREEN|UNKNOWN"} == 1 '
                 'or chatapp_template_audit_status{%s,status!="pass"} == 1)' % (ACC, ACC))
    template_columns = [
        ("account", "Account"),
        ("template_name", "Template"),
        ("template_code", "Code"),
        ("language", "Language"),
        ("category", "Category"),
        ("status", "Review status"),
        ("score", "Quality"),
        ("Value #D", "Last update"),
    ]
    L.add(table("Templates needing attention",
                "Every template whose quality is YELLOW or RED, or whose review did not pass (rejected, in "
                "review, review suspended); approved templates not rated yet (UNKNOWN) are left out. Last "
                "update is the template's LastUpdateTime. A rejected template's reason is on the exporter's "
                "landing page (it is free text, not a label). Refreshed every --collector.templates.interval "
                "(30m; quality may be older for unchanged templates).",
                [target("max by (%s, template_name, category) (chatapp_template_info{%s} and on (%s) %s)"
                        % (key, ACC, key, attention), "A", instant=True, fmt="table"),
                 target("max by (%s, status) (chatapp_template_audit_status{%s} == 1 and on (%s) %s)"
                        % (key, ACC, key, attention), "B", instant=True, fmt="table"),
                 target("max by (%s, score) (chatapp_template_quality_score{%s} == 1 and on (%s) %s)"
                        % (key, ACC, key, attention), "C", instant=True, fmt="table"),
                 target("1000 * max by (%s) (chatapp_template_last_update_timestamp_seconds{%s} and on (%s) %s)"
                        % (key, ACC, key, attention), "D", instant=True, fmt="table")],
                {
                    "excludeByName": {"Time": True, **{"Value #%s" % r: True for r in "ABC"}},
                    "indexByName": {name: i for i, (name, _) in enumerate(template_columns)},
                    "renameByName": dict(template_columns),
                },
                [colour_column("Review status", [{"type": "value", "options": {
                    v: {"text": text, "color": c, "index": i}
                    for i, (v, (text, c)) in enumerate(TEMPLATE_AUDIT.items())}}]),
                 colour_column("Quality", text_mappings(TEMPLATE_QUALITY_COLOURS)),
                 {"matcher": {"id": "byName", "options": "Last update"},
                  "properties": [{"id": "unit", "value": "dateTimeAsIso"}]},
                 {"matcher": {"id": "byName", "options": "Language"},
                  "properties": [{"id": "custom.width", "value": 90}]}],
                "Account"), 24, 10)

    # --- Usage ------------------------------------------------------------------------------
    # The usage collector (GetChatappPhoneNumberMetric, GetChatappTemplateMetric) is off by
    # default: without --collector.usage (and the account's EnableWhatsappROIMetric) these panels
    # are empty. Its *_24h families count the 24 hours before the account's usage data horizon,
    # which lags real time by a day or more.
    L.row("Usage")
    window = ("in the 24 hours before the account's usage data horizon, which lags real time by a day or "
              "more (usage collector, off by default: --collector.usage and the account's "
              "EnableWhatsappROIMetric)")

    number = "account, phone_number"

    def per(by, expr):
        """One series per `by` (two exporters scraping the same account export the same values)."""
        return "max by (%s) (%s)" % (by, expr)

    def share(numerator, denominator, by):
        """numerator / denominator, both already one series per `by`; a denominator of 0 leaves it out."""
        return "%s\n  / on (%s)\n(%s > 0)" % (numerator, by, denominator)

    # (title, description, numerator, denominator, whether a low share is the bad side)
    for title, description, numerator, denominator, low_is_bad in [
        ("Sent 24 h / messaging limit per number",
         "Messages each number sent %s, as a share of its messaging limit. Meta's limit counts unique "
         "recipients of business-initiated conversations, not messages: this is an upper bound of the share "
         "the limit counts. Above the dashed line (80%%) ChatAppPhoneNumberNearMessagingLimit fires after "
         "30m. Unlimited numbers and tiers without a mapped limit are left out." % window,
         "chatapp_phone_number_messages_sent_24h{%s}" % NUM,
         "chatapp_phone_number_messaging_limit{%s} < +Inf" % NUM, False),
        ("Delivered / sent per number",
         "Share of the messages each number sent that reached the recipients' phones, %s. Below the dashed "
         "line (80%%), with at least 100 sent, ChatAppPhoneNumberDeliveryRateLow fires after 1h." % window,
         "chatapp_phone_number_messages_delivered_24h{%s}" % NUM,
         "chatapp_phone_number_messages_sent_24h{%s}" % NUM, True),
    ]:
        panel = timeseries(title, description,
                           [target(share(per(number, numerator), per(number, denominator), number) + NAME_JOIN,
                                   legend="{{verified_name}} +{{phone_number}}")],
                           unit="percentunit", step=True)
        steps = ([{"color": "red", "value": None}, {"color": "green", "value": 0.8}] if low_is_bad
                 else [{"color": "green", "value": None}, {"color": "orange", "value": 0.8}])
        panel["fieldConfig"]["defaults"]["thresholds"] = {"mode": "absolute", "steps": steps}
        panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"] = {"mode": "dashed"}
        L.add(panel, 9, 8)
    age = stat("Usage data age",
               "time() - max by (account) (chatapp_usage_window_end_timestamp_seconds{%s})" % ACC,
               "How old each account's usage data horizon is: the end of the newest half-hour bucket CAMS "
               "returned (chatapp_usage_window_end_timestamp_seconds). A day or more is usual; above 3 days "
               "ChatAppUsageDataStale fires.",
               thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 3 * 86400}],
               legend="{{account}}", text_mode="value_and_name", unit="s")
    age["fieldConfig"]["defaults"]["decimals"] = 1
    age["fieldConfig"]["defaults"]["noValue"] = "no usage data"
    L.add(age, 6, 8)
    # One row per marketing template and language: counts, then each step's share of the one before.
    key = "account, template_code, language"
    sent, delivered, read = (per(key, "chatapp_template_messages_%s_24h{%s}" % (step, ACC))
                             for step in ("sent", "delivered", "read"))
    # Clicks on all the template's buttons (one series per button type).
    clicked = "sum by (%s) (%s)" % (key, per(key + ", button_type", "chatapp_template_button_clicks_24h{%s}" % ACC))
    funnel_columns = [
        ("account", "Account"),
        ("template_name", "Template"),
        ("template_code", "Code"),
        ("language", "Language"),
        ("Value #B", "Sent"),
        ("Value #C", "Delivered"),
        ("Value #D", "Read"),
        ("Value #E", "Clicked"),
        ("Value #F", "Delivered / sent"),
        ("Value #G", "Read / delivered"),
        ("Value #H", "Clicked / read"),
    ]
    funnel = table(
        "Marketing template funnel",
        "Each marketing template (and language) %s: messages sent, delivered, read, and button clicks (all "
        "buttons), then each step's share of the one before. Delivered / sent below 80%%, with at least 100 "
        "sent, fires ChatAppTemplateDeliveryRateLow. Needs the templates collector too (it lists the "
        "marketing templates); the buttons' texts are on the exporter's landing page." % window,
        [target("max by (%s, template_name) (chatapp_template_info{%s} and on (%s) %s)" % (key, ACC, key, sent),
                "A", instant=True, fmt="table")]
        + [target(expr, ref, instant=True, fmt="table") for ref, expr in zip("BCDE", [sent, delivered, read, clicked])]
        + [target(share(numerator, denominator, key), ref, instant=True, fmt="table")
           for ref, numerator, denominator in [("F", delivered, sent), ("G", read, delivered), ("H", clicked, read)]],
        {
            "excludeByName": {"Time": True, "Value #A": True},
            "indexByName": {name: i for i, (name, _) in enumerate(funnel_columns)},
            "renameByName": dict(funnel_columns),
        },
        [{"matcher": {"id": "byRegexp", "options": "^(Sent|Delivered|Read|Clicked)$"},
          "properties": [{"id": "unit", "value": "short"}, {"id": "decimals", "value": 0}]},
         {"matcher": {"id": "byRegexp", "options": "^.+ / .+$"},
          "properties": [{"id": "unit", "value": "percentunit"}, {"id": "decimals", "value": 0}]},
         {"matcher": {"id": "byName", "options": "Delivered / sent"},
          "properties": [
              {"id": "custom.cellOptions", "value": {"type": "color-text"}},
              {"id": "thresholds", "value": {"mode": "absolute", "steps": [
                  {"color": "red", "value": None}, {"color": "green", "value": 0.8}]}},
          ]},
         {"matcher": {"id": "byName", "options": "Language"},
          "properties": [{"id": "custom.width", "value": 90}]}],
        "Sent")
    funnel["options"]["sortBy"] = [{"displayName": "Sent", "desc": True}]
    L.add(funnel, 24, 8)

    # --- Exporter health --------------------------------------------------------------------
    L.row("Exporter")
    L.add(timeline("Refresh status per account",
                   "chatapp_up: 1 when the account's last refresh succeeded. After failures the last data is "
                   "kept for --refresh.max-staleness.",
                   "max by (account) (chatapp_up{%s})" % ACC, "{{account}}", UP_MAPPINGS), 12, 6)
    L.add(timeseries("Data age",
                     "Seconds since the account's last successful refresh, and the ChatAppDataStale threshold "
                     "(three refresh intervals).",
                     [target("time() - max by (account) (chatapp_last_refresh_success_timestamp_seconds{%s})" % ACC,
                             "A", legend="{{account}}"),
                      target("3 * max(chatapp_refresh_interval_seconds)", "B", legend="stale threshold")],
                     unit="s"), 12, 6)
    L.add(timeline("Collector status",
                   "chatapp_collector_success: 1 when the collector's last run for the account succeeded. "
                   "phone_numbers and waba make up the refresh behind chatapp_up; health "
                   "(GetWhatsappHealthStatus), templates (ListChatappTemplate, GetChatappTemplateDetail; "
                   "off by default) and usage (GetChatappPhoneNumberMetric, GetChatappTemplateMetric; off by "
                   "default) run on their own intervals.",
                   "max by (account, collector) (chatapp_collector_success{%s})" % ACC, "{{account}} {{collector}}",
                   UP_MAPPINGS), 12, 6)
    collector_columns = [("account", "Account"), ("collector", "Collector"), ("Value #A", "Last run"),
                         ("Value #B", "Last success"), ("Value #C", "Duration"), ("Value #D", "Interval"),
                         ("Value #E", "Round")]
    L.add(table("Collectors",
                "Each account's collectors: result of the last run, time of the last success, duration of the "
                "last run, configured interval, and the round (longer than the interval when its calls cannot "
                "fit at the API rate limit). ChatAppCollectorFailing fires after three rounds without success.",
                [target("max by (account, collector) (chatapp_collector_success{%s})" % ACC, "A",
                        instant=True, fmt="table"),
                 target("1000 * max by (account, collector) (chatapp_collector_last_success_timestamp_seconds{%s})"
                        % ACC, "B", instant=True, fmt="table"),
                 target("max by (account, collector) (chatapp_collector_duration_seconds{%s})" % ACC, "C",
                        instant=True, fmt="table"),
                 target("max by (account, collector) (chatapp_collector_interval_seconds{%s})" % ACC, "D",
                        instant=True, fmt="table"),
                 target("max by (account, collector) (chatapp_collector_round_seconds{%s})" % ACC, "E",
                        instant=True, fmt="table")],
                {
                    "excludeByName": {"Time": True},
                    "indexByName": {name: i for i, (name, _) in enumerate(collector_columns)},
                    "renameByName": dict(collector_columns),
                },
                [colour_column("Last run", [{"type": "value", "options": {
                    "1": {"text": "OK", "color": "green", "index": 0},
                    "0": {"text": "FAILED", "color": "red", "index": 1}}}]),
                 {"matcher": {"id": "byName", "options": "Last success"},
                  "properties": [{"id": "unit", "value": "dateTimeFromNow"}]},
                 {"matcher": {"id": "byRegexp", "options": "Duration|Interval|Round"},
                  "properties": [{"id": "unit", "value": "s"}]}],
                "Account"), 12, 6)
    L.add(timeseries("Refresh duration and back-off",
                     "Duration of the last refresh of each account (both API calls), and the extra delay "
                     "before its next refresh after failures (throttling, errors).",
                     [target("max by (account) (chatapp_refresh_duration_seconds{%s})" % ACC, "A",
                             legend="{{account}} duration"),
                      target("max by (account) (chatapp_refresh_backoff_seconds{%s})" % ACC, "B",
                             legend="{{account}} back-off")],
                     unit="s"), 8, 7)
    L.add(timeseries("API requests",
                     "CAMS API requests per second by account and operation. The quota (about 10/s per API) is "
                     "shared by everything on the Alibaba Cloud parent account.",
                     [target("sum by (account, operation) (rate(chatapp_api_requests_total{%s}[$__rate_interval]))"
                             % ACC, legend="{{account}} {{operation}}")],
                     unit="reqps"), 8, 7)
    L.add(timeseries("API errors by code",
                     "Failed CAMS API requests per second by Alibaba error code (Throttling.User, Forbidden.RAM, "
                     "...) or transport failure (timeout, connect, decode, http_5xx). 0 when there were none.",
                     [target("sum by (account, code) (rate(chatapp_api_request_errors_total{%s}[$__rate_interval]))"
                             " or vector(0)" % ACC, legend="{{account}} {{code}}")],
                     unit="reqps", draw="bars", stack=True), 8, 7)
    L.add(timeseries("Memory",
                     "Resident memory of the exporter process.",
                     [target("process_resident_memory_bytes and on (job, instance) chatapp_build_info",
                             legend="{{instance}}")],
                     unit="bytes"), 8, 6)
    L.add(stat("Unknown enum values",
               "sum by (field) (chatapp_unknown_enum_values_total) or vector(0)",
               "API values the exporter does not know, counted per field since the exporter started (see "
               "the ChatAppUnknownEnumValue alert and the exporter log). 0 when there were none.",
               thresholds=[{"color": "green", "value": None}, {"color": "blue", "value": 1}],
               legend="{{field}}", text_mode="value_and_name"), 8, 6)
    version_columns = [("instance", "Instance"), ("version", "Version"), ("revision", "Revision"),
                       ("rustc_version", "rustc"), ("Value #B", "Up since"), ("Value #C", "Config")]
    L.add(table("Exporter version",
                "chatapp_build_info, start time and whether the last configuration (re)load succeeded.",
                [target("max by (instance, version, revision, rustc_version) (chatapp_build_info)", "A",
                        instant=True, fmt="table"),
                 target("1000 * max by (instance) (process_start_time_seconds and on (job, instance) "
                        "chatapp_build_info)", "B", instant=True, fmt="table"),
                 target("max by (instance) (chatapp_config_last_reload_successful)", "C", instant=True,
                        fmt="table")],
                {
                    "excludeByName": {"Time": True, "Value #A": True},
                    "indexByName": {name: i for i, (name, _) in enumerate(version_columns)},
                    "renameByName": dict(version_columns),
                },
                [{"matcher": {"id": "byName", "options": "Up since"},
                  "properties": [{"id": "unit", "value": "dateTimeFromNow"}]},
                 colour_column("Config", [{"type": "value", "options": {
                     "1": {"text": "loaded", "color": "green", "index": 0},
                     "0": {"text": "reload failed", "color": "red", "index": 1}}}])],
                "Instance"), 8, 6)

    def query_var(name, label, query, description):
        return {
            "name": name,
            "label": label,
            "description": description,
            "type": "query",
            "datasource": DS,
            "query": {"qryType": 1, "query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "refresh": 2,
            "regex": "",
            "sort": 1,
            "multi": True,
            "includeAll": True,
            "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "options": [],
            "hide": 0,
        }

    return {
        "title": "ChatApp / WhatsApp numbers",
        "uid": "chatapp-overview",
        "description": "WhatsApp sending numbers of Alibaba Cloud Chat App Message Service, from chatapp_exporter. "
                       "Generated by .ci/ops/gen-dashboard.py.",
        "tags": ["chatapp", "whatsapp", "alibaba-cloud"],
        "editable": True,
        "graphTooltip": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "refresh": "1m",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-24h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "weekStart": "",
        "links": [
            {
                "title": "Runbook",
                "type": "link",
                "icon": "doc",
                "tooltip": "What each alert means and what to do",
                "url": "https://github.com/chatapp-exporter/chatapp_exporter/blob/main/docs/runbook.md",
                "targetBlank": True,
                "asDropdown": False,
                "includeVars": False,
                "keepTime": False,
                "tags": [],
            }
        ],
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                },
                prom_annotation(
                    "Messaging limit changes", "orange",
                    "changes(chatapp_phone_number_messaging_limit{%s}[5m]) > 0" % NUM,
                    "Messaging limit changed", "+{{phone_number}} ({{account}})",
                ),
                prom_annotation(
                    "ChatApp alerts", "red",
                    'ALERTS{alertname=~"ChatApp.*",alertstate="firing"}',
                    "{{alertname}}", "{{account}} {{phone_number}} {{verified_name}}",
                ),
            ]
        },
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "regex": "",
                    "refresh": 1,
                    "hide": 0,
                    "includeAll": False,
                    "multi": False,
                    "options": [],
                },
                query_var("account", "Account", "label_values(chatapp_phone_number_info, account)",
                          "Account alias from the exporter's configuration."),
                query_var("phone_number", "Number",
                          'label_values(chatapp_phone_number_info{account=~"$account"}, phone_number)',
                          "Phone number (digits with country code)."),
            ]
        },
        "panels": L.panels,
    }


def main():
    text = json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
    if sys.argv[1:] == ["--check"]:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            print("%s is out of date: run python3 .ci/ops/gen-dashboard.py" % OUT, file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
