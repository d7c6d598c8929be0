"""Prometheus metrics of the running stack (Rasa with the WhatsApp channel, the action server)
after real traffic: signed webhooks of a customer booking, one refused webhook; each server's
/metrics counts them, with no personal data in any label, and only the scraper may read it."""
from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.whatsapp.test_typed_conversations_e2e import Typist, booked, card_of, typed, weekday_ahead

pytestmark = pytest.mark.e2e


def scrape(port: int, headers: dict | None = None) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample, by name and labels."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_each_server_counts_the_traffic_and_only_the_scraper_reads_it(wa, graph):
    """(The stack serves other tests too: what this test's traffic added is compared.)"""
    stack, db = wa
    actions_port = int(stack.env["ACTION_SERVER_PORT"])
    rasa_before, actions_before = samples(scrape(stack.port)[1]), samples(scrape(actions_port)[1])
    t = Typist(stack, db, graph)
    day = weekday_ahead()
    card_of(t.says(f"balinese massage on {typed(day)} at 11:00"))
    booking = booked(t)
    status, _ = stack.request("POST", "/webhook", b"{}", {  # a forged webhook: refused
        "Content-Type": "application/json", "X-Hub-Signature-256": "sha256=00"})
    assert status == 401

    status, text = scrape(stack.port)
    assert status == 200
    rasa = samples(text)

    def added(found: dict, before: dict, name: str, **labels: str) -> float:
        return value(found, name, **labels) - value(before, name, **labels)

    assert added(rasa, rasa_before, "whatsapp_webhook_ack_seconds_count") >= 3
    assert added(rasa, rasa_before, "whatsapp_turn_seconds_count") >= 2
    assert added(rasa, rasa_before, "webhook_refusals_total", webhook="whatsapp",
                 status="401") == 1
    assert added(rasa, rasa_before, "graph_api_call_seconds_count", operation="messages",
                 outcome="ok") >= 2
    assert value(rasa, "whatsapp_inbox_readable") == 1
    assert ("whatsapp_inbox_backlog_messages", ()) in rasa

    status, text = scrape(actions_port)
    assert status == 200
    actions = samples(text)
    assert added(actions, actions_before, "action_run_seconds_count", action="action_yes") >= 1
    assert added(actions, actions_before, "bookings_total", outcome="created") == 1
    assert added(actions, actions_before, "booking_create_seconds_count") == 1
    assert added(actions, actions_before, "database_operations_total") > 0
    assert added(actions, actions_before, "xendit_call_seconds_count", operation="post_invoices",
                 outcome="ok") == 1  # the payment link

    for text in (scrape(stack.port)[1], scrape(actions_port)[1]):
        assert t.who not in text and booking["code"] not in text  # no personal data
    # through a proxy (nginx adds X-Forwarded-For) nobody outside reads it
    assert scrape(stack.port, {"X-Forwarded-For": "203.0.113.9"})[0] == 403
