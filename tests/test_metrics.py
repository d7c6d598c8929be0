"""The metrics' rules (pure): who may scrape, labels without ids, outcomes by error type."""
from __future__ import annotations

from booking import errors, metrics
from booking.xendit import operation_of
from channels.metrics_http import scrape_allowed


class FakeHeaders:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = {k.lower(): v for k, v in headers.items()}

    def getall(self, name: str, default=None):
        return [self.headers[name]] if name in self.headers else (default or [])


class FakeRequest:
    def __init__(self, ip: str, **headers: str) -> None:
        self.ip = ip
        self.headers = FakeHeaders({k.replace("_", "-"): v for k, v in headers.items()})


def test_without_a_token_only_a_direct_local_client_may_scrape(monkeypatch):
    monkeypatch.delenv("METRICS_TOKEN", raising=False)
    assert scrape_allowed(FakeRequest("127.0.0.1"))
    assert scrape_allowed(FakeRequest("::1"))
    assert not scrape_allowed(FakeRequest("10.0.0.7"))
    assert not scrape_allowed(FakeRequest("127.0.0.1", x_forwarded_for="203.0.113.9"))


def test_any_proxy_header_or_production_without_a_token_refuses(monkeypatch):
    monkeypatch.delenv("METRICS_TOKEN", raising=False)
    for header in ("forwarded", "x_real_ip"):
        assert not scrape_allowed(FakeRequest("127.0.0.1", **{header: "203.0.113.9"}))
    monkeypatch.setenv("PRODUCTION", "1")
    assert not scrape_allowed(FakeRequest("127.0.0.1"))


def test_series_the_alerts_watch_exist_from_the_start_and_repeats_are_no_database_errors(db):
    from pymongo.errors import DuplicateKeyError
    from prometheus_client import REGISTRY

    from booking.db import with_retries

    assert REGISTRY.get_sample_value("payouts_total", {"outcome": "failed"}) is not None
    assert REGISTRY.get_sample_value("bookings_total", {"outcome": "created"}) is not None
    before = REGISTRY.get_sample_value("database_errors_total")
    db.things.insert_one({"_id": 1})
    try:
        with_retries(lambda: db.things.insert_one({"_id": 1}))  # a replay refused on purpose
    except DuplicateKeyError:
        pass
    assert REGISTRY.get_sample_value("database_errors_total") == before


def test_with_a_token_only_its_bearer_may_scrape_from_anywhere(monkeypatch):
    monkeypatch.setenv("METRICS_TOKEN", "s3cret-scraper")
    assert scrape_allowed(FakeRequest("10.0.0.7", authorization="Bearer s3cret-scraper"))
    assert not scrape_allowed(FakeRequest("127.0.0.1"))  # the token is then required
    assert not scrape_allowed(FakeRequest("10.0.0.7", authorization="Bearer s3cret"))
    assert not scrape_allowed(FakeRequest("10.0.0.7", authorization="Basic s3cret-scraper"))
    assert not scrape_allowed(FakeRequest("10.0.0.7", authorization="Bearer sécret"))


def test_xendit_labels_carry_no_ids():
    assert operation_of("GET", "/v2/invoices/579c8d61f23fa4ca35e52da4") == "get_invoices"
    assert operation_of("POST", "/invoices/inv000001/expire!") == "post_invoices_expire"
    assert operation_of("POST", "/v2/payouts") == "post_payouts"
    assert operation_of("GET", "/refunds/rfd-123") == "get_refunds"


def test_a_booking_attempt_is_counted_by_what_became_of_it():
    assert metrics.outcome_of(None) == "created"
    assert metrics.outcome_of(errors.SlotConflictError("taken", [])) == "conflict"
    assert metrics.outcome_of(errors.CustomerLimitError("upcoming", 3)) == "limit"
    assert metrics.outcome_of(errors.PlanLimitReachedError("spa", 10, "2026-12")) == "plan_limit"
    assert metrics.outcome_of(errors.DatabaseUnavailableError("down")) == "unavailable"
    assert metrics.outcome_of(errors.TooSoonError("soon")) == "invalid"
    assert metrics.outcome_of(RuntimeError("a bug")) == "error"  # not counted as created


def test_the_exposition_has_every_metric_and_a_failing_backlog_leaves_the_rest():
    metrics.register_collector("test_backlog", metrics.Backlog(lambda: (3, 12.5)))
    text = metrics.exposition()[0].decode()
    for name in ("whatsapp_webhook_ack_seconds", "whatsapp_turn_seconds", "action_run_seconds",
                 "booking_create_seconds", "graph_api_call_seconds", "xendit_call_seconds",
                 "flows_request_seconds", "slot_conflicts_total", "session_expirations_total",
                 "fallbacks_total", "database_errors_total"):
        assert f"# TYPE {name}" in text, name
    assert "whatsapp_inbox_backlog_messages 3.0" in text
    assert "whatsapp_inbox_oldest_age_seconds 12.5" in text

    def down() -> tuple[int, float]:
        raise ConnectionError("database away")

    metrics.register_collector("test_backlog", metrics.Backlog(down))
    text = metrics.exposition()[0].decode()
    assert "whatsapp_inbox_backlog_messages" not in text and "action_run_seconds" in text
    assert "whatsapp_inbox_readable 0.0" in text  # (the unreadable inbox alerts)
    metrics._extra.pop("test_backlog")
