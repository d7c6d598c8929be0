"""The alert rules and the Grafana dashboard name only metrics that exist (a typo would make an
alert silently never fire, or a panel stay empty), each alert has a summary, and the thresholds
are the design's."""
from __future__ import annotations

import json
import re

import yaml
from prometheus_client import REGISTRY

import booking.metrics  # noqa: F401 (registers the metrics)
from tests.conftest import ROOT

RULES = ROOT / "monitoring" / "alerts.yml"
SUFFIXES = ("_sum", "_count", "_bucket", "_total", "_created")
PROMQL_WORDS = {"sum", "rate", "increase", "max", "min", "and", "or", "by", "on",
                "humanizePercentage", "humanizeDuration", "histogram_quantile", "topk", "le", "outcome", "operation",
                "action", "reason", "webhook", "status"}
DASHBOARD = ROOT / "monitoring" / "grafana-dashboard.json"


def metrics_in(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (label matchers and ranges left out)."""
    bare = re.sub(r'\{[^}]*\}|\[[^\]]*\]|"[^"]*"', "", expr)
    return {w for w in re.findall(r"[a-z_][a-z0-9_]*", bare) if w not in PROMQL_WORDS}


def known_names() -> set[str]:
    names = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES)
    names.update({"whatsapp_inbox_backlog_messages", "whatsapp_inbox_oldest_age_seconds",
                  "whatsapp_inbox_readable", "up"})  # (read at scrape time; up: Prometheus')
    return names


def test_every_alert_names_metrics_that_exist_and_says_what_is_wrong():
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    names = known_names()
    for rule in rules:
        used = metrics_in(rule["expr"])
        assert used <= names, (rule["alert"], used - names)
        assert rule["annotations"]["summary"]
    thresholds = {r["alert"]: r["expr"] for r in rules}
    assert "< 0.95" in thresholds["BookingSuccessRateLow"]
    assert "> 0.01" in thresholds["DatabaseErrorRateHigh"]
    assert "> 2" in thresholds["ReplyLatencyHigh"]
    assert "> 0.10" in thresholds["SessionExpirationRateHigh"]
    assert "> 60" in thresholds["WhatsAppInboxBacklogOld"]
    assert set(thresholds) >= {"PayoutFailed", "ServerDown", "WhatsAppInboxUnreadable"}


def test_every_dashboard_panel_reads_metrics_that_exist():
    dashboard = json.loads(DASHBOARD.read_text())
    names = known_names()
    assert dashboard["panels"]
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used = metrics_in(target["expr"])
            assert used and used <= names, (panel["title"], used - names)
