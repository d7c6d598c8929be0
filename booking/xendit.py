"""A thin Xendit client over ``requests``: invoices, Payouts v2 and refunds.

Blocking by design (the core runs in worker threads, never on an event loop). Every call has
a timeout; answers map to typed errors; retries back off exponentially and only where a repeat
cannot charge or pay twice:
- invoice creation has no idempotency header, so before each repeated create the invoice is
  looked up by ``external_id`` (``ensure_invoice``);
- payouts and refunds carry an ``Idempotency-key``, so repeating the same request is safe
  (same key and body: Xendit answers with the payout or refund it made the first time).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, TypeVar

import requests

from booking import metrics
from booking.retry import Backoff, retry

logger = logging.getLogger(__name__)

T = TypeVar("T")
_MAX_DELAY_SECONDS = 30.0
LIVE_INVOICE_STATUSES = ("PENDING", "PAID", "SETTLED")


class XenditError(Exception):
    """A Xendit call failed. ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status, self.code = status, code


class XenditConfigError(XenditError):
    """No secret key configured: nothing can be called."""


class XenditRetryableError(XenditError):
    """Refused for now (429, 5xx): nothing was done, or a repeat is safe after a check."""


class XenditUncertainError(XenditRetryableError):
    """No answer (timeout, dropped connection): the request may or may not have been applied."""


class XenditNotFoundError(XenditError):
    """404: no such invoice, payout or refund."""


@dataclass(frozen=True)
class XenditConfig:
    """Settings from the environment (``XENDIT_*``)."""

    secret_key: str = ""
    api_url: str = "https://api.xendit.co"
    timeout_seconds: float = 10.0
    max_attempts: int = 4
    retry_base_seconds: float = 0.5

    @classmethod
    def from_env(cls) -> "XenditConfig":
        env = os.environ
        return cls(secret_key=env.get("XENDIT_SECRET_KEY", ""),
                   api_url=(env.get("XENDIT_API_URL") or cls.api_url).rstrip("/"),
                   timeout_seconds=float(env.get("XENDIT_TIMEOUT_SECONDS") or cls.timeout_seconds),
                   max_attempts=int(env.get("XENDIT_MAX_ATTEMPTS") or cls.max_attempts),
                   retry_base_seconds=float(env.get("XENDIT_RETRY_BASE_SECONDS")
                                            or cls.retry_base_seconds))


def operation_of(method: str, path: str) -> str:
    """A call's metrics label: the method and the path's words, without ids
    (``POST /invoices/<id>/expire!`` is ``post_invoices_expire``)."""
    words = [w.rstrip("!") for w in path.split("/") if w.rstrip("!").isalpha() and w != "v2"]
    return "_".join([method.lower(), *words])


class XenditClient:
    """Invoices (``/v2/invoices``), payouts (``/v2/payouts``) and refunds (``/refunds``)."""

    def __init__(self, config: XenditConfig, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.sleep = sleep
        self._local = threading.local()  # one requests.Session per thread

    # ------------------------------------------------------------------ plumbing
    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.auth = (self.config.secret_key, "")
        return session

    def request(self, method: str, path: str, body: Optional[dict] = None,
                params: Optional[dict] = None, headers: Optional[dict] = None) -> Any:
        """One call; the decoded JSON answer or a typed ``XenditError`` (timed, by operation
        and outcome: ``xendit_call_seconds``)."""
        started, outcome = time.perf_counter(), "error"
        try:
            answer = self._request(method, path, body, params, headers)
            outcome = "ok"
            return answer
        except XenditUncertainError:
            outcome = "uncertain"
            raise
        finally:
            metrics.XENDIT_CALL.labels(operation_of(method, path), outcome).observe(
                time.perf_counter() - started)

    def _request(self, method: str, path: str, body: Optional[dict],
                 params: Optional[dict], headers: Optional[dict]) -> Any:
        if not self.config.secret_key:
            raise XenditConfigError("XENDIT_SECRET_KEY is not set")
        try:
            answer = self._session().request(method, self.config.api_url + path, json=body,
                                             params=params, headers=headers,
                                             timeout=self.config.timeout_seconds)
        except requests.ConnectionError as exc:
            if "Connection refused" in str(exc) or "NewConnectionError" in repr(exc):
                raise XenditRetryableError(f"{method} {path}: cannot connect") from exc
            raise XenditUncertainError(f"{method} {path}: connection lost ({exc})") from exc
        except requests.Timeout as exc:
            raise XenditUncertainError(f"{method} {path}: no answer in time") from exc
        except requests.RequestException as exc:
            raise XenditUncertainError(f"{method} {path}: {exc}") from exc
        try:
            data = answer.json() if answer.content else {}
        except ValueError:
            data = {}
        if answer.status_code < 300:
            return data
        code = data.get("error_code", "") if isinstance(data, dict) else ""
        message = f"{method} {path}: {answer.status_code} {code} {data.get('message', '') if isinstance(data, dict) else ''}"
        if answer.status_code == 429 or answer.status_code >= 500:
            raise XenditRetryableError(message, answer.status_code, code)
        if answer.status_code == 404:
            raise XenditNotFoundError(message, 404, code)
        raise XenditError(message, answer.status_code, code)

    def retrying(self, call: Callable[[], T], before_repeat: Optional[Callable[[], Optional[T]]] = None) -> T:
        """``call()`` with exponential backoff on retryable errors (``booking.retry``).
        ``before_repeat`` runs before each repeat; a non-None result ends the retries with it."""
        policy = Backoff(base=self.config.retry_base_seconds, factor=2.0, cap=_MAX_DELAY_SECONDS,
                         attempts=self.config.max_attempts)
        last: list[XenditRetryableError] = []

        def attempt() -> T:
            if last and before_repeat is not None:
                try:
                    found = before_repeat()
                except XenditRetryableError as exc:  # this repeat is spent on the check
                    logger.warning("Xendit check before repeating failed: %s", exc)
                    raise last[-1]
                if found is not None:
                    return found
            try:
                return call()
            except XenditRetryableError as exc:
                last.append(exc)
                raise

        return retry(attempt, lambda exc: isinstance(exc, XenditRetryableError), policy,
                     sleep=self.sleep, what="Xendit call")

    # ------------------------------------------------------------------ invoices
    def get_invoice(self, invoice_id: str) -> dict[str, Any]:
        """``GET /v2/invoices/{id}`` (retried)."""
        return self.retrying(lambda: self.request("GET", f"/v2/invoices/{invoice_id}"))

    def find_invoices(self, external_id: str) -> list[dict[str, Any]]:
        """``GET /v2/invoices?external_id=`` (one attempt)."""
        try:
            found = self.request("GET", "/v2/invoices", params={"external_id": external_id})
        except XenditNotFoundError:
            return []
        return found if isinstance(found, list) else []

    def live_invoice(self, external_id: str) -> Optional[dict[str, Any]]:
        """An invoice for ``external_id`` that is pending or paid, if one exists."""
        return next((i for i in self.find_invoices(external_id)
                     if i.get("status") in LIVE_INVOICE_STATUSES), None)

    def ensure_invoice(self, payload: dict[str, Any], look_first: bool = False) -> dict[str, Any]:
        """Create the invoice for ``payload['external_id']`` unless one is already live.

        Args:
            look_first: an earlier attempt may have created it (its answer was lost).
        """
        external_id = payload["external_id"]
        if look_first:
            found = self.retrying(lambda: self.live_invoice(external_id))
            if found is not None:
                return found
        return self.retrying(lambda: self.request("POST", "/v2/invoices", payload),
                             before_repeat=lambda: self.live_invoice(external_id))

    # ------------------------------------------------------------------ payouts
    def create_payout(self, payload: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """``POST /v2/payouts``; repeats carry the same key, so Xendit pays at most once."""
        headers = {"Idempotency-key": idempotency_key}
        return self.retrying(lambda: self.request("POST", "/v2/payouts", payload,
                                                  headers=headers))

    def get_payout(self, payout_id: str) -> dict[str, Any]:
        """``GET /v2/payouts/{id}`` (retried)."""
        return self.retrying(lambda: self.request("GET", f"/v2/payouts/{payout_id}"))

    # ------------------------------------------------------------------ refunds
    def create_refund(self, payload: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """``POST /refunds``; repeats carry the same key, so Xendit refunds at most once."""
        headers = {"Idempotency-key": idempotency_key}
        return self.retrying(lambda: self.request("POST", "/refunds", payload, headers=headers))

    def get_refund(self, refund_id: str) -> dict[str, Any]:
        """``GET /refunds/{id}`` (retried)."""
        return self.retrying(lambda: self.request("GET", f"/refunds/{refund_id}"))
