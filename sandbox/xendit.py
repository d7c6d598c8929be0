"""The Xendit stand-in: the API the product's real client calls, a hosted checkout page, a
dashboard, and the invoice callbacks, all under ``/xendit`` (the product's ``XENDIT_API_URL`` is
``{public_url}/xendit``). Talks to the product over HTTP only.

Routes (``setup`` adds them; API routes want HTTP Basic with ``XENDIT_SECRET_KEY`` as user name,
else 401 ``INVALID_API_KEY``):

- ``POST /xendit/v2/invoices``, ``GET /xendit/v2/invoices[?external_id=&limit=]``,
  ``GET /xendit/v2/invoices/{id}``, ``POST /xendit/invoices/{id}/expire!``;
- ``POST /xendit/v2/payouts`` (``Idempotency-key`` required), ``GET /xendit/v2/payouts/{id}``,
  ``GET /xendit/v2/payouts?reference_id=``;
- ``POST /xendit/refunds`` (optional ``Idempotency-key``), ``GET /xendit/refunds[?invoice_id=]``,
  ``GET /xendit/refunds/{id}``;
- pages, no auth: ``GET /xendit`` and ``/xendit/`` (dashboard), ``GET /xendit/dashboard.json``,
  ``GET /xendit/checkout/{id}``, ``GET /xendit/checkout/{id}/state``,
  ``POST /xendit/checkout/{id}/pay`` (form field ``channel``: OVO, DANA, SHOPEEPAY, LINKAJA),
  ``POST /xendit/checkout/{id}/expire``, ``POST /xendit/dashboard/resend/{id}``.

Lifecycles:

- invoices: PENDING → PAID (checkout "Pay with e-wallet") | EXPIRED ("Let it expire",
  ``expire!``, or ``expiry_date`` passed: the background task checks every second, and any
  read of a lapsed invoice expires it first). Each move sends the invoice callback.
- payouts: ACCEPTED on create; final about 2 s later (background task) or at the first read,
  whichever comes first: SUCCEEDED, or FAILED with the test-mode ``failure_code`` of account
  numbers 123456 (TEMPORARY_TRANSFER_ERROR), 999999 (REJECTED_BY_CHANNEL) and 121212
  (INVALID_DESTINATION). No payout webhooks are sent (the product has no endpoint for them).
- refunds: PENDING on create, SUCCEEDED like payouts settle; no refund webhooks are sent (the
  product's one Xendit URL takes invoice callbacks only).

Callbacks: ``POST config.xendit_callback_url`` with the documented JSON and
``x-callback-token``; a non-2xx answer or an unreachable product is retried after 1 s, 5 s and
30 s (Xendit's own schedule, compressed); a delivery that times out (30 s) is not retried,
as with Xendit. Every attempt's status is recorded for the dashboard.

State lives in memory and is saved (at most once a second, off the event loop) to
``config.data_dir / "xendit.json"``, so a restart keeps it.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any, AsyncIterator, Optional

import aiohttp
from aiohttp import web

from sandbox.config import SandboxConfig
from sandbox.xendit_api import add_api_routes
from sandbox.xendit_pages import XenditPages
from sandbox.xendit_state import XenditState, iso

logger = logging.getLogger(__name__)

RETRY_DELAYS = (0.0, 1.0, 5.0, 30.0)  # before each delivery attempt
CALLBACK_TIMEOUT_SECONDS = 30.0
TICK_SECONDS = 1.0


class XenditSandbox:
    """The stand-in's running part: state, callback deliveries, the background task."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.state = XenditState(config.public_url)
        self.retry_delays: tuple[float, ...] = RETRY_DELAYS
        self.callback_timeout = CALLBACK_TIMEOUT_SECONDS
        self.path: Path = Path(config.data_dir) / "xendit.json"
        self._session: Optional[aiohttp.ClientSession] = None
        self._tasks: set[asyncio.Task] = set()
        self._dirty = False

    # ------------------------------------------------------------------ lifetime
    async def start(self) -> None:
        """Load the saved state, open the HTTP session, start the background task."""
        if not self.config.xendit_secret_key:
            logger.warning("XENDIT_SECRET_KEY is not set: the Xendit stand-in refuses every "
                           "API call")
        if not self.config.xendit_callback_token:
            logger.warning("XENDIT_CALLBACK_TOKEN is not set: the product will refuse the "
                           "invoice callbacks")
        saved = await asyncio.to_thread(_read_json, self.path)
        if saved:
            self.state.load(saved)
            logger.info("Xendit stand-in: %d invoices, %d payouts, %d refunds from %s",
                        len(self.state.invoices), len(self.state.payouts),
                        len(self.state.refunds), self.path)
        self._session = aiohttp.ClientSession()
        self._spawn(self._tick_forever())

    async def stop(self) -> None:
        """Stop deliveries and the background task, save, close the session."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.save()
        if self._session is not None:
            await self._session.close()

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ saving
    def changed(self) -> None:
        """Something moved: save on the next tick."""
        self._dirty = True

    async def save(self) -> None:
        """Write the state now if it changed (serialised here, written in a thread)."""
        if not self._dirty:
            return
        self._dirty = False
        text = json.dumps(self.state.to_json(), separators=(",", ":"))
        try:
            await asyncio.to_thread(_write_json, self.path, text)
        except OSError as exc:
            logger.warning("cannot save the Xendit stand-in's state to %s: %s", self.path, exc)

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                self.tick()
                await self.save()
            except Exception:  # keep ticking
                logger.exception("Xendit stand-in background tick failed")

    def tick(self) -> None:
        """Expire lapsed invoices (with their callbacks), settle payouts and refunds."""
        now = self.state.clock()
        for invoice_id in self.state.due_invoices(now):
            self.close(invoice_id, "EXPIRED")
        if self.state.settle_due(now):
            self.changed()

    # ------------------------------------------------------------------ invoices
    def expire_if_lapsed(self, invoice_id: str) -> None:
        """A read of an invoice past its expiry sees it EXPIRED (and the callback goes)."""
        if invoice_id in self.state.due_invoices(self.state.clock()):
            self.close(invoice_id, "EXPIRED")

    def close(self, invoice_id: str, status: str, channel: str = "OVO") -> dict[str, Any]:
        """PENDING → PAID | EXPIRED, then the callback (``ApiError`` if not pending)."""
        invoice = self.state.close_invoice(invoice_id, status, channel)
        logger.info("invoice for %s is %s", invoice["external_id"], status)
        self.changed()
        self.send_callback(invoice_id)
        return invoice

    def send_callback(self, invoice_id: str) -> None:
        """Deliver the invoice's callback for its current status, in the background."""
        invoice = self.state.invoice(invoice_id)
        record = self.state.add_callback(invoice_id, invoice["status"])
        self.changed()
        self._spawn(self._deliver(invoice["external_id"], record,
                                  self.state.callback_body(invoice)))

    async def _deliver(self, external_id: str, record: dict[str, Any],
                       body: dict[str, Any]) -> None:
        for number, delay in enumerate(self.retry_delays, start=1):
            if delay:
                await asyncio.sleep(delay)
            status, error = await self._post(body, record["webhook_id"])
            record["attempts"].append({"at": iso(self.state.clock()), "status": status,
                                       "error": error})
            self.changed()
            logger.info("callback %s %s (attempt %d): %s", body["status"], external_id,
                        number, status or error)
            if status is not None and 200 <= status < 300:
                record["state"] = "DELIVERED"
                return
            if error == "timeout":  # Xendit does not retry a delivery that timed out
                break
        record["state"] = "FAILED"
        self.changed()
        logger.warning("callback %s %s not delivered", body["status"], external_id)

    async def _post(self, body: dict[str, Any], webhook_id: str) -> tuple[Optional[int], str]:
        """One delivery attempt: (HTTP status, "") or (None, "timeout" | "unreachable")."""
        assert self._session is not None, "the Xendit stand-in is not started"
        headers = {"x-callback-token": self.config.xendit_callback_token,
                   "webhook-id": webhook_id}
        try:
            async with self._session.post(
                    self.config.xendit_callback_url, json=body, headers=headers,
                    timeout=aiohttp.ClientTimeout(total=self.callback_timeout)) as answer:
                await answer.read()
                return answer.status, ""
        except asyncio.TimeoutError:
            return None, "timeout"
        except (aiohttp.ClientError, OSError) as exc:
            logger.debug("callback to the product failed: %s", exc.__class__.__name__)
            return None, "unreachable"


def _read_json(path: Path) -> Optional[dict[str, Any]]:
    """The saved state, or None (no file, or unreadable: started empty)."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        logger.warning("ignoring the unreadable Xendit stand-in state %s: %s", path, exc)
        return None
    return data if isinstance(data, dict) else None


def _write_json(path: Path, text: str) -> None:
    """Write atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, "utf-8")
    os.replace(temporary, path)


XENDIT_SANDBOX = web.AppKey("xendit_sandbox", XenditSandbox)


def setup(app: web.Application, config: SandboxConfig) -> None:
    """Add the Xendit stand-in's routes under ``/xendit`` and its lifetime (``cleanup_ctx``)."""
    service = XenditSandbox(config)
    pages = XenditPages(service)
    app[XENDIT_SANDBOX] = service
    add_api_routes(app.router, service)
    pages.add_routes(app.router)

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        await pages.load()
        await service.start()
        yield
        await service.stop()

    app.cleanup_ctx.append(lifetime)
