"""The one place that speaks to Google Sheets: the service-account key from the environment, the
three ``spreadsheets.values`` calls the sync needs, and Google's errors mapped to types.

Client path: google-api-python-client's ``build("sheets", "v4", static_discovery=True)``. The
Sheets discovery document ships inside the package, so ``build()`` works offline, and
``client_options={"api_endpoint": GOOGLE_SHEETS_API_URL}`` sends every request to that root
(``{root}/v4/spreadsheets/...``), which is how the tests reach their local stand-in. Credentials
are google-auth's ``service_account.Credentials`` (an RS256 JWT exchanged at the key's
``token_uri`` for a bearer token), scoped to ``spreadsheets`` only: handed to ``build()`` as
``credentials=`` they would be scoped to every scope of the discovery document (Drive
included), so we wrap them in ``google_auth_httplib2.AuthorizedHttp`` ourselves, with a socket
timeout and one token refresh on a 401. The library's own retries are off (``num_retries=0``):
``booking.retry`` applies the policy given here, so tests can make it instant.

Errors (``error_for``): 429 → ``SheetsRateLimited`` and 5xx / network → ``SheetsUnavailable``
(both retried with backoff); 401 after the refresh → ``SheetsAuthFailed``; 403 →
``SheetsNotShared``; 404, or 400 "Unable to parse range" (how Google answers for a missing
tab) → ``SheetsNotFound``; any other 4xx → ``SheetsRejected``. An append is retried only after
a 429 (refused before it is applied): after a 5xx it may have been applied, so the sync fails
instead, and the next one reads the codes again and updates those rows (no duplicates).
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from typing import Any, Callable, Mapping, Optional

import google_auth_httplib2
import httplib2
from google.auth import exceptions as auth_errors
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from booking.retry import Backoff, retry

logger = logging.getLogger(__name__)
SCOPE = "https://www.googleapis.com/auth/spreadsheets"
DEFAULT_API_URL = "https://sheets.googleapis.com"
DEFAULT_RETRY = Backoff(base=1.0, factor=2.0, cap=16.0, attempts=4)
VALUE_INPUT = "RAW"  # cells are stored as given: a note "=HYPERLINK(..)" stays text


class SheetsError(Exception):
    """Base of the sync's Google errors; ``state`` is what the business's link then shows."""

    state = "failing"
    retryable = False

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.status = status


class SheetsNotConfigured(SheetsError):
    """No usable service-account key in the environment."""

    state = "not_configured"


class SheetsUnavailable(SheetsError):
    """A 5xx, a timeout or a network error: worth retrying."""

    retryable = True


class SheetsRateLimited(SheetsUnavailable):
    """429: over the per-minute quota (the request was not applied)."""


class SheetsAuthFailed(SheetsError):
    """Google refused the service account (a revoked key, or 401 after a fresh token)."""

    state = "auth_failed"


class SheetsNotShared(SheetsError):
    """403: the spreadsheet is not shared with the service account."""

    state = "not_shared"


class SheetsNotFound(SheetsError):
    """404 (no such spreadsheet) or a missing tab."""

    state = "not_found"


class SheetsRejected(SheetsError):
    """Another 4xx: the request itself was refused."""

    state = "rejected"


def error_for(exc: BaseException) -> Optional[SheetsError]:
    """The typed error for what a Google call raised; None when it is not a Google/network one."""
    if isinstance(exc, SheetsError):
        return exc
    if isinstance(exc, HttpError):
        status, reason = exc.resp.status, (exc.reason or "")[:160]
        text = f"HTTP {status}: {reason}" if reason else f"HTTP {status}"
        if status == 429:
            return SheetsRateLimited(text, status)
        if status >= 500:
            return SheetsUnavailable(text, status)
        if status == 401:
            return SheetsAuthFailed(text, status)
        if status == 403:
            return SheetsNotShared(text, status)
        if status == 404 or (status == 400 and "Unable to parse range" in reason):
            return SheetsNotFound(text, status)
        return SheetsRejected(text, status)
    if isinstance(exc, auth_errors.RefreshError):  # the token endpoint said no
        if getattr(exc, "retryable", False):
            return SheetsUnavailable("the token endpoint is unavailable")
        return SheetsAuthFailed("Google refused the service-account key")
    if isinstance(exc, (auth_errors.TransportError, httplib2.HttpLib2Error, OSError,
                        socket.timeout)):
        return SheetsUnavailable(f"network: {type(exc).__name__}")
    return None


def a1_sheet(sheet: str) -> str:
    """A tab name quoted for A1 notation (``'It''s'``)."""
    return "'" + sheet.replace("'", "''") + "'"


def _first_row(a1_range: str) -> int:
    """The first row of an answered range such as ``Bookings!A1:A1000`` (1 when absent)."""
    cells = a1_range.rsplit("!", 1)[-1].split(":", 1)[0]
    digits = "".join(ch for ch in cells if ch.isdigit())
    return int(digits) if digits else 1


class SheetsClient:
    """Sheets API v4 values calls for one service account; calls are serialised (httplib2 is
    not thread-safe)."""

    def __init__(self, key_info: Mapping[str, Any], api_url: str = DEFAULT_API_URL,
                 policy: Backoff = DEFAULT_RETRY, sleep: Callable[[float], None] = time.sleep,
                 timeout: float = 20.0) -> None:
        """Raises SheetsNotConfigured when ``key_info`` is not a service-account key."""
        try:
            credentials = service_account.Credentials.from_service_account_info(
                dict(key_info), scopes=[SCOPE])
        except (ValueError, KeyError, TypeError) as exc:
            raise SheetsNotConfigured("the service-account key is not usable") from exc
        http = google_auth_httplib2.AuthorizedHttp(
            credentials, http=httplib2.Http(timeout=timeout), max_refresh_attempts=1)
        service = build("sheets", "v4", http=http, static_discovery=True, cache_discovery=False,
                        client_options={"api_endpoint": api_url.rstrip("/")})
        self._values = service.spreadsheets().values()
        self.client_email: str = credentials.service_account_email
        self.policy, self.sleep = policy, sleep
        self._lock = threading.Lock()

    def _run(self, what: str, request: Any, append: bool = False) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            try:
                with self._lock:
                    return request.execute(num_retries=0)
            except Exception as exc:
                typed = error_for(exc)
                if typed is None:
                    raise
                raise typed from exc

        def retryable(exc: BaseException) -> bool:
            return isinstance(exc, SheetsRateLimited if append else SheetsUnavailable)
        return retry(attempt, retryable, self.policy, sleep=self.sleep, what=f"sheets {what}")

    def key_column(self, spreadsheet_id: str, sheet: str) -> list[str]:
        """Column A of a tab: item i is row i+1 ("" for a blank cell)."""
        answer = self._run("read", self._values.get(
            spreadsheetId=spreadsheet_id, range=f"{a1_sheet(sheet)}!A:A", majorDimension="ROWS"))
        column = [""] * (_first_row(answer.get("range", "")) - 1)
        return column + [str(row[0]) if row else "" for row in answer.get("values", [])]

    def write_ranges(self, spreadsheet_id: str, data: list[tuple[str, list[list[Any]]]]) -> None:
        """Several ranges in one ``values:batchUpdate`` (all or nothing)."""
        body = {"valueInputOption": VALUE_INPUT,
                "data": [{"range": r, "majorDimension": "ROWS", "values": v} for r, v in data]}
        self._run("batchUpdate", self._values.batchUpdate(spreadsheetId=spreadsheet_id, body=body))

    def append_rows(self, spreadsheet_id: str, sheet: str, rows: list[list[Any]]) -> None:
        """Rows after the tab's table (``:append``, INSERT_ROWS)."""
        self._run("append", self._values.append(
            spreadsheetId=spreadsheet_id, range=f"{a1_sheet(sheet)}!A1",
            valueInputOption=VALUE_INPUT, insertDataOption="INSERT_ROWS",
            body={"majorDimension": "ROWS", "values": rows}), append=True)


def key_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """The service-account key from ``GOOGLE_SERVICE_ACCOUNT_JSON`` or ``..._FILE``; raises
    SheetsNotConfigured (never with the key's content in the message)."""
    text, source = env.get("GOOGLE_SERVICE_ACCOUNT_JSON") or "", "GOOGLE_SERVICE_ACCOUNT_JSON"
    if not text.strip() and env.get("GOOGLE_SERVICE_ACCOUNT_FILE"):
        source = "GOOGLE_SERVICE_ACCOUNT_FILE"
        try:
            with open(env["GOOGLE_SERVICE_ACCOUNT_FILE"], encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise SheetsNotConfigured(f"{source} cannot be read") from exc
    if not text.strip():
        raise SheetsNotConfigured("no service account: set GOOGLE_SERVICE_ACCOUNT_FILE or "
                                  "GOOGLE_SERVICE_ACCOUNT_JSON")
    try:
        info = json.loads(text)
    except ValueError:
        raise SheetsNotConfigured(f"{source} is not JSON") from None
    if not isinstance(info, dict) or info.get("type") != "service_account" or not all(
            info.get(k) for k in ("client_email", "private_key", "token_uri")):
        raise SheetsNotConfigured(f"{source} is not a service-account key")
    return info


def client_factory_from_env(env: Optional[Mapping[str, str]] = None,
                            policy: Backoff = DEFAULT_RETRY,
                            sleep: Callable[[float], None] = time.sleep
                            ) -> Callable[[], SheetsClient]:
    """A factory building the client once (lazily); it raises SheetsNotConfigured while the
    environment has no usable key."""
    env = dict(os.environ if env is None else env)
    lock, built = threading.Lock(), []  # type: tuple[threading.Lock, list[SheetsClient]]

    def factory() -> SheetsClient:
        with lock:
            if not built:
                info = key_from_env(env)
                try:
                    built.append(SheetsClient(info, env.get("GOOGLE_SHEETS_API_URL")
                                              or DEFAULT_API_URL, policy, sleep))
                except SheetsNotConfigured:
                    source = ("GOOGLE_SERVICE_ACCOUNT_JSON" if env.get(
                        "GOOGLE_SERVICE_ACCOUNT_JSON", "").strip() else
                        "GOOGLE_SERVICE_ACCOUNT_FILE")
                    raise SheetsNotConfigured(f"the key in {source} is not usable") from None
            return built[0]
    return factory
