"""Async client for the Graph API's messages endpoint (aiohttp; nothing blocks the loop)."""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Optional

import aiohttp

from booking import metrics
from booking.retry import Backoff, retry_async
from channels.whatsapp.errors import (
    GraphError,
    PermanentGraphError,
    RetryableGraphError,
    UncertainDeliveryError,
    classify,
)

logger = logging.getLogger(__name__)
PAIR_RATE_LIMIT = 131056


@dataclass(frozen=True)
class GraphConfig:
    """Where and how to call Graph (from the environment)."""

    api_url: str = "https://graph.facebook.com/v25.0"
    access_token: str = ""
    attempts: int = 4
    retry_base_seconds: float = 1.0
    timeout_seconds: float = 10.0

    @classmethod
    def from_env(cls) -> "GraphConfig":
        """``WHATSAPP_API_URL``, ``WHATSAPP_ACCESS_TOKEN``, ``WHATSAPP_RETRY_BASE_SECONDS``."""
        return cls(api_url=(os.environ.get("WHATSAPP_API_URL") or cls.api_url).rstrip("/"),
                   access_token=os.environ.get("WHATSAPP_ACCESS_TOKEN", ""),
                   retry_base_seconds=float(os.environ.get("WHATSAPP_RETRY_BASE_SECONDS")
                                            or cls.retry_base_seconds))


class GraphClient:
    """Sends messages; retries only what Meta says was not accepted."""

    def __init__(self, config: GraphConfig) -> None:
        self.config = config
        self._session: Optional[aiohttp.ClientSession] = None

    async def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.config.timeout_seconds),
                headers={"Authorization": f"Bearer {self.config.access_token}"})
        return self._session

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()

    async def send(self, phone_number_id: str, to: str, message: dict[str, Any]) -> str:
        """Send one message; returns its wamid. Raises a ``GraphError`` subtype."""
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
                **message}
        answer = await self._post(f"/{phone_number_id}/messages", body)
        try:
            return answer["messages"][0]["id"]
        except (KeyError, IndexError, TypeError):
            raise PermanentGraphError(None, f"unexpected answer {answer!r:.200}") from None

    async def mark_read(self, phone_number_id: str, message_id: str, typing: bool = True) -> None:
        """Mark a customer's message as read and show the typing indicator."""
        body: dict[str, Any] = {"messaging_product": "whatsapp", "status": "read",
                                "message_id": message_id}
        if typing:
            body["typing_indicator"] = {"type": "text"}
        await self._post(f"/{phone_number_id}/messages", body, attempts=1)

    async def _post(self, path: str, body: dict[str, Any], attempts: Optional[int] = None) -> Any:
        """POST ``body``; what Meta did not accept is retried (``booking.retry``: the base
        doubling, 131056 at 4^n as Meta asks), what may have reached it never is."""
        url = self.config.api_url + path
        retries = itertools.count(1)

        def wait_for(error: BaseException, planned: float) -> float:
            attempt = next(retries)
            if getattr(error, "code", None) == PAIR_RATE_LIMIT:  # back off 4^n for one user
                return self.config.retry_base_seconds * 4 ** attempt
            return planned

        policy = Backoff(base=self.config.retry_base_seconds, factor=2.0, cap=float("inf"),
                         attempts=attempts or self.config.attempts)
        return await retry_async(lambda: self._post_once(url, body),
                                 lambda exc: isinstance(exc, RetryableGraphError), policy,
                                 what=f"Graph POST {path.rsplit('/', 1)[-1]}", wait_for=wait_for)

    async def _post_once(self, url: str, body: dict[str, Any]) -> Any:
        """One POST; a typed ``GraphError`` for anything but success (timed:
        ``graph_api_call_seconds``, by the path's last word and the error's class)."""
        started, outcome = time.perf_counter(), "error"
        try:
            answer = await self._post_timed(url, body)
            outcome = "ok"
            return answer
        except GraphError as exc:
            outcome = type(exc).__name__
            raise
        finally:
            metrics.GRAPH_CALL.labels(url.rsplit("/", 1)[-1][:20], outcome).observe(
                time.perf_counter() - started)

    async def _post_timed(self, url: str, body: dict[str, Any]) -> Any:
        try:
            http = await self._http()
            async with http.post(url, json=body) as response:
                payload = await response.json(content_type=None)
                if response.status < 300:
                    return payload
                raise classify(response.status, payload)
        except (aiohttp.ClientConnectorError, ConnectionRefusedError) as exc:
            raise RetryableGraphError(None, f"cannot connect: {exc}") from exc  # never sent
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:  # (a reset, a hang-up…)
            raise UncertainDeliveryError(None, f"no answer: {exc!r}") from exc
        except ValueError as exc:  # not JSON
            raise PermanentGraphError(None, f"unreadable answer: {exc}") from exc
