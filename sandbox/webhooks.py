"""What Meta sends to the product: signed webhook POSTs (a customer's messages, the delivery
and read statuses of the bot's) and signed, encrypted Flows requests. Retries like Meta does,
compressed from days to seconds."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import logging
import secrets
import time
from typing import Any, Optional

import aiohttp

from sandbox.bodies import dump_json
from sandbox.config import Business, SandboxConfig

logger = logging.getLogger(__name__)
RETRY_DELAYS = (1.0, 4.0, 15.0)  # Meta: exponential back-off for up to 7 days
_serial = itertools.count(1)


def new_wamid() -> str:
    """A message id shaped like Meta's (``wamid.`` and an opaque base64-ish string)."""
    return f"wamid.SBX{next(_serial):06d}{secrets.token_hex(10).upper()}"


def signature(secret: str, raw: bytes) -> str:
    """``X-Hub-Signature-256``: HMAC-SHA256 of the raw body with the app secret."""
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def envelope(business: Business, value: dict[str, Any]) -> dict[str, Any]:
    """The ``whatsapp_business_account`` envelope around one ``messages`` change."""
    return {"object": "whatsapp_business_account", "entry": [{
        "id": "100000000000000", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": business.display_phone_number,
                         "phone_number_id": business.phone_number_id},
            **value}}]}]}


class Webhooks:
    """Posts to the product's ``/webhooks/whatsapp/webhook`` (one aiohttp session)."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self._session: Optional[aiohttp.ClientSession] = None
        self._tasks: set[asyncio.Task] = set()

    def http(self) -> aiohttp.ClientSession:
        """The shared client session (made on first use, inside the event loop)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        return self._session

    async def close(self) -> None:
        """Stop pending retries and close the session."""
        for task in list(self._tasks):
            task.cancel()
        if self._session is not None:
            await self._session.close()

    def later(self, coroutine: Any) -> None:
        """Run ``coroutine`` in the background, keeping a reference until it ends."""
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def post_signed(self, url: str, raw: bytes, timeout: float = 15.0
                          ) -> tuple[int, bytes]:
        """One signed JSON POST; (HTTP status, body), or (0, error text) when unreachable or
        not answered within ``timeout`` seconds."""
        headers = {"content-type": "application/json",
                   "x-hub-signature-256": signature(self.config.app_secret, raw)}
        try:
            async with self.http().post(url, data=raw, headers=headers,
                                        timeout=aiohttp.ClientTimeout(total=timeout)) as answer:
                return answer.status, await answer.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            return 0, f"unreachable: {exc.__class__.__name__}".encode()

    async def deliver(self, payload: dict[str, Any], what: str) -> tuple[int, str]:
        """POST a webhook until the product answers 200 or the retries run out."""
        raw = dump_json(payload)
        status, body = 0, b""
        for delay in (0.0, *RETRY_DELAYS):
            if delay:
                await asyncio.sleep(delay)  # back-off between deliveries, not synchronisation
            status, body = await self.post_signed(self.config.webhook_url, raw)
            if status == 200:
                return status, ""
            logger.info("the product answered %s to %s; retrying", status or "nothing", what)
        return status, body.decode(errors="replace")[:300]

    async def customer_message(self, business: Business, customer: str, name: str,
                               message: dict[str, Any]) -> tuple[int, str]:
        """A customer's message (``from``/``id``/``timestamp`` already set) as Meta posts it."""
        value = {"contacts": [{"profile": {"name": name}, "wa_id": customer}],
                 "messages": [message]}
        return await self.deliver(envelope(business, value), f"message {message['id']}")

    async def status(self, business: Business, customer: str, message_id: str,
                     status: str, errors: Optional[list[dict[str, Any]]] = None) -> None:
        """A delivery status (sent, delivered, read, failed with ``errors``) of one of the
        bot's messages."""
        record: dict[str, Any] = {"id": message_id, "status": status,
                                  "timestamp": str(int(time.time())), "recipient_id": customer}
        if errors:
            record["errors"] = errors
        elif status == "sent":
            record["pricing"] = {"pricing_model": "PMP", "type": "free_customer_service",
                                 "category": "service"}
        await self.deliver(envelope(business, {"statuses": [record]}), f"status {status}")
