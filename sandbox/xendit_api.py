"""The Xendit stand-in's API routes (``/xendit/...``), as the product's client calls them: HTTP
Basic with the secret key as user name (any password), JSON in and out, Xendit's error
bodies. The rules live in ``sandbox.xendit_state``; what happens next (callbacks, saving) in
``sandbox.xendit``.
"""
from __future__ import annotations

import base64
import binascii
import functools
import hmac
import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from aiohttp import web

from sandbox.bodies import parse_json
from sandbox.xendit_state import ApiError

if TYPE_CHECKING:
    from sandbox.xendit import XenditSandbox

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_MAX_LIMIT = 100


def authorized(request: web.Request, secret_key: str) -> bool:
    """Whether the request carries HTTP Basic with ``secret_key`` as the user name (compared
    in constant time); no key configured authorizes nothing."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if not secret_key or scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    user = decoded.partition(b":")[0]
    return hmac.compare_digest(user, secret_key.encode("utf-8"))


async def json_body(request: web.Request) -> Any:
    """The decoded JSON body (400 ``API_VALIDATION_ERROR`` when it is not JSON)."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return parse_json(raw)
    except ValueError:
        raise ApiError(400, "API_VALIDATION_ERROR", "request body is not valid JSON") from None


def _limit(request: web.Request, default: int = 10) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= _MAX_LIMIT:
        raise ApiError(400, "API_VALIDATION_ERROR", f"limit must be 1 to {_MAX_LIMIT}")
    return int(raw)


class XenditApi:
    """Route handlers; each answers JSON (a document, a list, or an error body)."""

    def __init__(self, service: "XenditSandbox") -> None:
        self.service = service
        self.state = service.state

    def guarded(self, handler: Callable[[web.Request], Awaitable[Any]]) -> Handler:
        """Check the API key, run ``handler``, answer its result or its ``ApiError``."""

        @functools.wraps(handler)
        async def answer(request: web.Request) -> web.StreamResponse:
            if not authorized(request, self.service.config.xendit_secret_key):
                return web.json_response({"error_code": "INVALID_API_KEY",
                                          "message": "API key is invalid"}, status=401)
            try:
                result = await handler(request)
            except ApiError as refused:
                return web.json_response(refused.body(), status=refused.status)
            self.service.changed()  # reads settle payouts and refunds, writes write
            return web.json_response(result)

        return answer

    # ------------------------------------------------------------------ invoices
    async def create_invoice(self, request: web.Request) -> Any:
        """``POST /v2/invoices``."""
        invoice = self.state.create_invoice(await json_body(request))
        logger.info("invoice created for %s: %d %s", invoice["external_id"],
                    invoice["amount"], invoice["currency"])  # its id is the checkout link
        return invoice

    async def get_invoice(self, request: web.Request) -> Any:
        """``GET /v2/invoices/{id}``."""
        invoice_id = request.match_info["invoice_id"]
        self.state.invoice(invoice_id)
        self.service.expire_if_lapsed(invoice_id)
        return self.state.invoice(invoice_id)

    async def find_invoices(self, request: web.Request) -> Any:
        """``GET /v2/invoices?external_id=`` (a list, newest first)."""
        found = self.state.find_invoices(request.query.get("external_id"), _limit(request))
        for invoice in found:
            self.service.expire_if_lapsed(invoice["id"])
        return found

    async def expire_invoice(self, request: web.Request) -> Any:
        """``POST /invoices/{id}/expire!`` (404 unless PENDING)."""
        invoice_id = request.match_info["invoice_id"]
        self.state.invoice(invoice_id)
        self.service.expire_if_lapsed(invoice_id)
        return self.service.close(invoice_id, "EXPIRED")

    # ------------------------------------------------------------------ payouts
    async def create_payout(self, request: web.Request) -> Any:
        """``POST /v2/payouts`` with ``Idempotency-key``."""
        body = await json_body(request)
        known = len(self.state.payouts)
        payout = self.state.create_payout(body, request.headers.get("Idempotency-key"))
        if len(self.state.payouts) > known:
            logger.info("payout %s accepted: %s, %d %s to %s", payout["id"],
                        payout["reference_id"], payout["amount"], payout["currency"],
                        payout["channel_code"])
        return payout

    async def get_payout(self, request: web.Request) -> Any:
        """``GET /v2/payouts/{id}``."""
        return self.state.payout(request.match_info["payout_id"])

    async def find_payouts(self, request: web.Request) -> Any:
        """``GET /v2/payouts?reference_id=`` (a list)."""
        reference_id = request.query.get("reference_id")
        if not reference_id:
            raise ApiError(400, "API_VALIDATION_ERROR", "reference_id is required")
        return self.state.find_payouts(reference_id)

    # ------------------------------------------------------------------ refunds
    async def create_refund(self, request: web.Request) -> Any:
        """``POST /refunds`` with ``invoice_id``, ``amount``, ``reason``."""
        body = await json_body(request)
        refund = self.state.create_refund(body, request.headers.get("Idempotency-key"))
        logger.info("refund %s of invoice %s: %d %s", refund["id"], refund["invoice_id"],
                    refund["amount"], refund["currency"])
        return refund

    async def get_refund(self, request: web.Request) -> Any:
        """``GET /refunds/{id}``."""
        return self.state.refund(request.match_info["refund_id"])

    async def list_refunds(self, request: web.Request) -> Any:
        """``GET /refunds[?invoice_id=]``: ``{"data": [...], "has_more": false}``."""
        found = self.state.list_refunds(request.query.get("invoice_id"))
        limit = _limit(request, _MAX_LIMIT)
        return {"data": found[:limit], "has_more": len(found) > limit}


def add_api_routes(router: web.UrlDispatcher, service: "XenditSandbox") -> None:
    """Register the API under ``/xendit``."""
    api = XenditApi(service)
    for method, path, handler in (
            ("POST", "/xendit/v2/invoices", api.create_invoice),
            ("GET", "/xendit/v2/invoices", api.find_invoices),
            ("GET", "/xendit/v2/invoices/{invoice_id}", api.get_invoice),
            ("POST", "/xendit/invoices/{invoice_id}/expire!", api.expire_invoice),
            ("POST", "/xendit/v2/payouts", api.create_payout),
            ("GET", "/xendit/v2/payouts", api.find_payouts),
            ("GET", "/xendit/v2/payouts/{payout_id}", api.get_payout),
            ("POST", "/xendit/refunds", api.create_refund),
            ("GET", "/xendit/refunds", api.list_refunds),
            ("GET", "/xendit/refunds/{refund_id}", api.get_refund)):
        router.add_route(method, path, api.guarded(handler))
