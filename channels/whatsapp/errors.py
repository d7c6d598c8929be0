"""Graph API errors mapped to types in one place; callers decide retry vs give up by type."""
from __future__ import annotations

from typing import Any, Optional

RETRYABLE_CODES = frozenset({130429, 131056, 131000, 131016, 131057, 1, 2})
OUTSIDE_WINDOW = 131047


class GraphError(Exception):
    """A failed Graph API call."""

    def __init__(self, code: Optional[int], message: str, http_status: int = 0) -> None:
        super().__init__(f"Graph error {code} (HTTP {http_status}): {message}")
        self.code = code
        self.http_status = http_status


class RetryableGraphError(GraphError):
    """Not accepted, try again later: throughput, pair rate limit, temporary, maintenance."""


class PermanentGraphError(GraphError):
    """Never going to work as sent (bad parameters, undeliverable, opted out...)."""


class OutsideWindowError(PermanentGraphError):
    """More than 24 hours since the customer wrote: only a template may be sent."""


class UncertainDeliveryError(GraphError):
    """The request may have reached Meta (timeout after sending): not retried, to never send
    a message twice."""


def classify(http_status: int, body: Any) -> GraphError:
    """The typed error for a non-2xx Graph answer."""
    error = body.get("error", {}) if isinstance(body, dict) else {}
    code = error.get("code") if isinstance(error.get("code"), int) else None
    message = str(error.get("message") or error.get("error_user_msg") or "")[:300]
    if code == OUTSIDE_WINDOW:
        return OutsideWindowError(code, message, http_status)
    if code in RETRYABLE_CODES or http_status == 429 or http_status >= 500 and code is None:
        return RetryableGraphError(code, message, http_status)
    return PermanentGraphError(code, message, http_status)
