"""Every Prometheus metric of the product, in one place: names, units, help and labels.

Each server (the Rasa server, the action server, the console) is scraped on its own port and
exposes what it measured at ``/metrics`` (``exposition``); ``make run-cluster`` has Prometheus
scrape each of them. A server run as several worker processes (``make run``'s Rasa server,
``RASA_WORKERS``) has its own ``PROMETHEUS_MULTIPROC_DIR``, emptied before it starts (it is
read when ``prometheus_client`` is imported): a scrape, whichever process answers it, then adds
up that server's processes (``prometheus_client``'s multiprocess mode). One directory shared by
several servers would count every sample once per server.

Names follow Prometheus' conventions: snake_case, the unit as suffix, counters end in
``_total``. Labels take a small fixed set of values (an outcome, an operation, a status
code); never a phone number, a name or a booking code.
"""
from __future__ import annotations

import os
from typing import Callable, Optional

from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter,
                               Histogram, generate_latest, multiprocess)
from prometheus_client.core import GaugeMetricFamily

FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SLOW = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)

# --- WhatsApp
WEBHOOK_ACK = Histogram("whatsapp_webhook_ack_seconds",
                        "From a WhatsApp webhook arriving to its 200 (verified and recorded)",
                        buckets=FAST)
TURN = Histogram("whatsapp_turn_seconds",
                 "From a customer's message arriving to the last reply sent", buckets=SLOW)
WEBHOOK_REFUSALS = Counter("webhook_refusals_total", "Webhooks refused, by webhook and status",
                           ["webhook", "status"])
GRAPH_CALL = Histogram("graph_api_call_seconds", "Graph API calls, by operation and outcome",
                       ["operation", "outcome"], buckets=FAST)
FLOWS_REQUEST = Histogram("flows_request_seconds", "WhatsApp Flows data-exchange requests",
                          ["outcome"], buckets=FAST)
# --- dialogue
ACTION_RUN = Histogram("action_run_seconds", "Custom action runs, by action", ["action"],
                       buckets=FAST)
FALLBACKS = Counter("fallbacks_total", "Messages the bot did not understand")
HANDOFFS = Counter("handoffs_total", "Conversations put in the team's inbox, by reason",
                   ["reason"])
SESSION_EXPIRATIONS = Counter("session_expirations_total",
                              "Confirmations refused because the chosen time was too old")
# --- bookings and payments
BOOKING_CREATE = Histogram("booking_create_seconds", "Creating a booking in the core",
                           buckets=FAST)
BOOKINGS = Counter("bookings_total", "Booking attempts, by outcome", ["outcome"])
SLOT_CONFLICTS = Counter("slot_conflicts_total", "Bookings refused: the time was just taken")
XENDIT_CALL = Histogram("xendit_call_seconds", "Xendit API calls, by operation and outcome",
                        ["operation", "outcome"], buckets=FAST)
PAYMENTS = Counter("payments_total", "Invoice outcomes, by outcome", ["outcome"])
PAYOUTS = Counter("payouts_total", "Payout outcomes, by outcome", ["outcome"])
# --- infrastructure
RETRIES = Counter("retries_total", "Retries of a failing call, by what and attempt number",
                  ["operation", "attempt"])
DB_OPERATIONS = Counter("database_operations_total", "MongoDB operations run by the core")
DB_ERRORS = Counter("database_errors_total", "MongoDB operations that failed for good")

BOOKING_OUTCOMES = ("created", "conflict", "limit", "invalid", "plan_limit", "unavailable",
                    "error")
# Every series an alert divides by or watches exists from the start at 0: a labelled counter
# appears only at its first increment, and increase() cannot see that first one.
for _outcome in BOOKING_OUTCOMES:
    BOOKINGS.labels(_outcome)
for _outcome in ("succeeded", "failed"):
    PAYOUTS.labels(_outcome)
for _outcome in ("confirmed", "refund", "withdrawn", "expired"):
    PAYMENTS.labels(_outcome)


def outcome_of(exc: Optional[BaseException]) -> str:
    """The ``bookings_total`` outcome of a create that raised ``exc`` (``None``: created)."""
    from booking import errors

    if exc is None:
        return "created"
    if not isinstance(exc, errors.BookingError):
        return "error"
    if isinstance(exc, errors.SlotConflictError):
        return "conflict"
    if isinstance(exc, errors.CustomerLimitError):
        return "limit"
    if isinstance(exc, errors.PlanLimitReachedError):
        return "plan_limit"
    if isinstance(exc, errors.DatabaseUnavailableError):
        return "unavailable"
    return "invalid"


class Backlog:
    """The WhatsApp inbox's waiting messages and the oldest one's age, read at each scrape
    (``read``: blocking, returns (count, oldest age in seconds); the scrape runs in a worker
    thread)."""

    def __init__(self, read: Callable[[], tuple[int, float]]) -> None:
        self.read = read

    def collect(self):  # the prometheus_client collector protocol
        readable = GaugeMetricFamily("whatsapp_inbox_readable",
                                     "1 when this scrape could read the WhatsApp inbox")
        try:
            count, age = self.read()
        except Exception:  # the database is away: the scrape still shows the rest, and says so
            readable.add_metric([], 0)
            return [readable]
        readable.add_metric([], 1)
        size = GaugeMetricFamily("whatsapp_inbox_backlog_messages",
                                 "WhatsApp messages received and not yet processed")
        size.add_metric([], count)
        oldest = GaugeMetricFamily("whatsapp_inbox_oldest_age_seconds",
                                   "How long the oldest unprocessed WhatsApp message has waited")
        oldest.add_metric([], age)
        return [readable, size, oldest]


_extra: dict[str, object] = {}


def register_collector(name: str, collector: object) -> None:
    """A collector read at each scrape of this process (e.g. ``Backlog``); one per name (a
    second channel object of the same kind replaces the first)."""
    _extra[name] = collector


def exposition() -> tuple[bytes, str]:
    """Blocking: this server's metrics in Prometheus' text format, and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY as registry  # type: ignore[no-redef]
    body = generate_latest(registry)
    if _extra:
        extra = CollectorRegistry()
        for collector in list(_extra.values()):
            extra.register(collector)  # type: ignore[arg-type]
        body += generate_latest(extra)
    return body, CONTENT_TYPE_LATEST


