"""The Xendit stand-in's books: invoices, payouts and refunds as Xendit's API shows them, and the
rules that move them. Pure: no I/O and no aiohttp; ``sandbox.xendit`` drives it (routes, the
background task, callbacks) and saves it as plain JSON.

Every method that refuses raises ``ApiError`` carrying Xendit's documented status and
``error_code``. Amounts in IDR are truncated to whole rupiah, as Xendit does.
"""
from __future__ import annotations

import json
import math
import secrets
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Optional

MERCHANT_NAME = "Bali Booking"
USER_ID = "64b7f0c2a1d3e40012ab34cd"  # the stand-in Xendit account (business) id
EWALLETS = ("OVO", "DANA", "SHOPEEPAY", "LINKAJA")
PAYMENT_METHODS = EWALLETS + ("BCA", "BNI", "BRI", "MANDIRI", "PERMATA", "BSI", "QRIS",
                              "CREDIT_CARD", "ALFAMART", "INDOMARET")
MIN_INVOICE_AMOUNT = 1_000  # sandbox limits, IDR
MAX_INVOICE_AMOUNT = 1_000_000_000
DEFAULT_INVOICE_DURATION = 86_400
MAX_INVOICE_DURATION = 31_536_000  # one year
MAX_METADATA_KEYS = 50
SETTLE_SECONDS = 2.0  # ACCEPTED payouts / PENDING refunds become final after this (or on a read)
TEST_PAYOUT_FAILURES = {"123456": "TEMPORARY_TRANSFER_ERROR", "999999": "REJECTED_BY_CHANNEL",
                        "121212": "INVALID_DESTINATION"}
REFUND_REASONS = ("FRAUDULENT", "DUPLICATE", "REQUESTED_BY_CUSTOMER", "CANCELLATION", "OTHERS")
_CALLBACK_FIELDS = ("id", "external_id", "user_id", "status", "merchant_name", "amount",
                    "currency", "description", "created", "updated")
_PAID_FIELDS = ("paid_amount", "paid_at", "payment_id", "payment_method", "payment_channel",
                "ewallet_type")


class ApiError(Exception):
    """A refusal as Xendit answers it: HTTP ``status`` and ``{"error_code", "message"}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict[str, str]:
        """The JSON error body."""
        return {"error_code": self.code, "message": self.message}


def iso(moment: float) -> str:
    """Xendit's timestamp format (UTC, milliseconds, ``Z``)."""
    stamp = datetime.fromtimestamp(moment, timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> float:
    """The epoch seconds of an ``iso()`` timestamp."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _invalid(message: str) -> ApiError:
    return ApiError(400, "API_VALIDATION_ERROR", message)


def _number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _canonical(body: Any) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def _text(body: dict[str, Any], name: str, required: bool = False, limit: int = 255) -> None:
    value = body.get(name)
    if value is None and not required:
        return
    if not isinstance(value, str) or not value.strip():
        raise _invalid(f'"{name}" is required and must be a non-empty string')
    if len(value) > limit:
        raise _invalid(f'"{name}" must be at most {limit} characters')


class XenditState:
    """Invoices, payouts and refunds by id, plus what the dashboard shows about callbacks."""

    def __init__(self, public_url: str, clock: Callable[[], float] = time.time) -> None:
        self.public_url = public_url.rstrip("/")
        self.clock = clock
        self.invoices: dict[str, dict[str, Any]] = {}
        self.callbacks: dict[str, list[dict[str, Any]]] = {}  # invoice id -> events sent
        self.payouts: dict[str, dict[str, Any]] = {}
        self.payout_keys: dict[str, dict[str, str]] = {}  # Idempotency-key -> {id, body}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.refund_keys: dict[str, dict[str, str]] = {}
        self.settle_seconds = SETTLE_SECONDS
        self._expiring: dict[str, float] = {}  # PENDING invoice id -> expiry (epoch)
        self._settling: dict[str, float] = {}  # unsettled payout / refund id -> due (epoch)

    # ------------------------------------------------------------------ invoices
    def create_invoice(self, body: Any) -> dict[str, Any]:
        """``POST /v2/invoices``: validate like Xendit, then a PENDING invoice."""
        if not isinstance(body, dict):
            raise _invalid("request body must be a JSON object")
        _text(body, "external_id", required=True)
        amount = body.get("amount")
        if not _number(amount):
            raise _invalid('"amount" is required and must be a number')
        amount = int(amount)  # IDR: decimals are truncated
        if amount < MIN_INVOICE_AMOUNT:
            raise ApiError(400, "MINIMAL_TRANSFER_AMOUNT_ERROR",
                           f"amount must be at least {MIN_INVOICE_AMOUNT} IDR")
        if amount > MAX_INVOICE_AMOUNT:
            raise ApiError(400, "MAXIMUM_TRANSFER_AMOUNT_ERROR",
                           f"amount must be at most {MAX_INVOICE_AMOUNT} IDR")
        currency = body.get("currency", "IDR")
        if currency != "IDR":
            raise ApiError(400, "UNSUPPORTED_CURRENCY", "the sandbox bills in IDR only")
        duration = body.get("invoice_duration", DEFAULT_INVOICE_DURATION)
        if not _number(duration) or not 1 <= duration <= MAX_INVOICE_DURATION:
            raise _invalid(f'"invoice_duration" must be 1 to {MAX_INVOICE_DURATION} seconds')
        _text(body, "description", limit=1000)
        for name in ("success_redirect_url", "failure_redirect_url", "payer_email"):
            _text(body, name, limit=2048)
        for name, kind in (("customer", dict), ("metadata", dict), ("items", list),
                           ("payment_methods", list)):
            if body.get(name) is not None and not isinstance(body[name], kind):
                raise _invalid(f'"{name}" must be a JSON {"object" if kind is dict else "array"}')
        if len(body.get("metadata") or {}) > MAX_METADATA_KEYS:
            raise _invalid(f'"metadata" holds at most {MAX_METADATA_KEYS} keys')
        for item in body.get("items") or []:
            if (not isinstance(item, dict) or not isinstance(item.get("name"), str)
                    or not _number(item.get("price")) or not _number(item.get("quantity"))):
                raise _invalid('every item needs "name", "price" and "quantity"')
        methods = body.get("payment_methods")
        ewallets = list(EWALLETS)
        if methods is not None:
            known = [m for m in methods if m in PAYMENT_METHODS]
            if not known:
                raise ApiError(400, "UNAVAILABLE_PAYMENT_METHOD_ERROR",
                               "none of the payment_methods is available")
            ewallets = [m for m in EWALLETS if m in known] or ewallets
        now = self.clock()
        invoice_id = secrets.token_hex(12)
        invoice: dict[str, Any] = {
            "id": invoice_id, "external_id": body["external_id"], "user_id": USER_ID,
            "status": "PENDING", "merchant_name": MERCHANT_NAME, "amount": amount,
            "description": body.get("description", ""),
            "expiry_date": iso(now + float(duration)),
            "invoice_url": f"{self.public_url}/xendit/checkout/{invoice_id}",
            "available_ewallets": [{"ewallet_type": name} for name in ewallets],
            "should_exclude_credit_card": False, "should_send_email": False,
            "created": iso(now), "updated": iso(now), "currency": currency}
        for name in ("customer", "items", "metadata", "payer_email", "success_redirect_url",
                     "failure_redirect_url"):
            if body.get(name) is not None:
                invoice[name] = body[name]
        self.invoices[invoice_id] = invoice
        self._expiring[invoice_id] = now + float(duration)
        return invoice

    def invoice(self, invoice_id: str) -> dict[str, Any]:
        """The invoice, or 404 ``INVOICE_NOT_FOUND_ERROR``."""
        invoice = self.invoices.get(invoice_id)
        if invoice is None:
            raise ApiError(404, "INVOICE_NOT_FOUND_ERROR", "Invoice not found")
        return invoice

    def find_invoices(self, external_id: Optional[str], limit: int = 10) -> list[dict[str, Any]]:
        """``GET /v2/invoices``: newest first, optionally of one ``external_id``."""
        found = [i for i in self.invoices.values()
                 if external_id is None or i["external_id"] == external_id]
        found.sort(key=lambda i: i["created"], reverse=True)
        return found[:limit]

    def close_invoice(self, invoice_id: str, status: str, channel: str = "OVO") -> dict[str, Any]:
        """PENDING → ``PAID`` (paid with e-wallet ``channel``) or ``EXPIRED``; anything else
        is 404 ``INVOICE_NOT_FOUND_ERROR``, as Xendit answers for an invoice no longer
        pending."""
        invoice = self.invoice(invoice_id)
        if invoice["status"] != "PENDING":
            raise ApiError(404, "INVOICE_NOT_FOUND_ERROR",
                           f"Invoice is {invoice['status']}, not PENDING")
        now = iso(self.clock())
        invoice.update(status=status, updated=now)
        if status == "PAID":
            invoice.update(paid_amount=invoice["amount"], paid_at=now, payment_method="EWALLET",
                           payment_channel=channel, ewallet_type=channel,
                           payment_id=f"ewc_{uuid.uuid4()}")
        self._expiring.pop(invoice_id, None)
        return invoice

    def due_invoices(self, now: float) -> list[str]:
        """PENDING invoices past their ``expiry_date``."""
        return [i for i, expiry in self._expiring.items() if expiry <= now]

    def callback_body(self, invoice: dict[str, Any]) -> dict[str, Any]:
        """The invoice callback Xendit POSTs for the invoice's current status."""
        body = {name: invoice[name] for name in _CALLBACK_FIELDS if name in invoice}
        for name in _PAID_FIELDS + ("metadata",):
            if name in invoice:
                body[name] = invoice[name]
        return body

    def add_callback(self, invoice_id: str, event: str) -> dict[str, Any]:
        """Record a callback about to be sent (its attempts are appended as they happen)."""
        record = {"event": event, "webhook_id": f"wh-{uuid.uuid4()}", "queued": iso(self.clock()),
                  "attempts": [], "state": "SENDING"}
        self.callbacks.setdefault(invoice_id, []).append(record)
        return record

    # ------------------------------------------------------------------ payouts
    def create_payout(self, body: Any, key: Optional[str]) -> dict[str, Any]:
        """``POST /v2/payouts``: same key + same body → the same payout; another body under
        the key → 400 ``DUPLICATE_ERROR``."""
        if not key or not key.strip():
            raise _invalid('the "Idempotency-key" header is required')
        if key in self.payout_keys:
            earlier = self.payout_keys[key]
            if earlier["body"] != _canonical(body):
                raise ApiError(400, "DUPLICATE_ERROR",
                               "Idempotency-key already used with a different request")
            return self.payouts[earlier["id"]]
        if not isinstance(body, dict):
            raise _invalid("request body must be a JSON object")
        _text(body, "reference_id", required=True)
        _text(body, "channel_code", required=True, limit=64)
        code = body["channel_code"]
        if not (code[:3] == "ID_" and code[3:].replace("_", "").isalnum() and code.isupper()):
            raise ApiError(400, "CHANNEL_CODE_NOT_SUPPORTED_ERROR", f"{code!r} is not supported")
        props = body.get("channel_properties")
        if not isinstance(props, dict):
            raise _invalid('"channel_properties" is required')
        _text(props, "account_number", required=True, limit=64)
        _text(props, "account_holder_name", required=True)
        if not props["account_number"].isdigit():
            raise ApiError(400, "RECIPIENT_ACCOUNT_NUMBER_ERROR", "account_number: digits only")
        amount = body.get("amount")
        if not _number(amount) or amount <= 0:
            raise _invalid('"amount" is required and must be a positive number')
        if body.get("currency") != "IDR":
            raise _invalid('"currency" is required (the sandbox pays out in IDR)')
        now = self.clock()
        payout_id = f"disb-{uuid.uuid4()}"
        payout = {"id": payout_id, "amount": int(amount), "channel_code": code,
                  "currency": "IDR", "description": body.get("description", ""),
                  "reference_id": body["reference_id"], "status": "ACCEPTED",
                  "created": iso(now), "updated": iso(now),
                  "estimated_arrival_time": iso(now + 3600), "business_id": USER_ID,
                  "channel_properties": {"account_number": props["account_number"],
                                         "account_holder_name": props["account_holder_name"]}}
        if isinstance(body.get("metadata"), dict):
            payout["metadata"] = body["metadata"]
        self.payouts[payout_id] = payout
        self.payout_keys[key] = {"id": payout_id, "body": _canonical(body)}
        self._settling[payout_id] = now + self.settle_seconds
        return payout

    def payout(self, payout_id: str) -> dict[str, Any]:
        """The payout, settled first if still ACCEPTED (test mode settles on the first
        read); 404 ``DATA_NOT_FOUND`` otherwise."""
        if payout_id not in self.payouts:
            raise ApiError(404, "DATA_NOT_FOUND", "Payout not found")
        self._settle(payout_id)
        return self.payouts[payout_id]

    def find_payouts(self, reference_id: str) -> list[dict[str, Any]]:
        """``GET /v2/payouts?reference_id=``, each settled as on a read."""
        found = [p["id"] for p in self.payouts.values() if p["reference_id"] == reference_id]
        return [self.payout(i) for i in found]

    # ------------------------------------------------------------------ refunds
    def refundable(self, invoice_id: str) -> int:
        """What is left to refund of a paid invoice."""
        invoice = self.invoice(invoice_id)
        taken = sum(r["amount"] for r in self.refunds.values()
                    if r["invoice_id"] == invoice_id and r["status"] != "FAILED")
        return int(invoice.get("paid_amount", 0)) - taken

    def create_refund(self, body: Any, key: Optional[str]) -> dict[str, Any]:
        """``POST /refunds`` of a paid invoice (whole or part); ``Idempotency-key`` optional,
        with the payouts' semantics."""
        if key and key in self.refund_keys:
            earlier = self.refund_keys[key]
            if earlier["body"] != _canonical(body):
                raise ApiError(400, "DUPLICATE_ERROR",
                               "Idempotency-key already used with a different request")
            return self.refunds[earlier["id"]]
        if not isinstance(body, dict):
            raise _invalid("request body must be a JSON object")
        invoice_id = body.get("invoice_id")
        if not isinstance(invoice_id, str) or not invoice_id:
            if isinstance(body.get("payment_request_id"), str):
                raise ApiError(404, "DATA_NOT_FOUND", "Payment request not found "
                               "(the sandbox refunds invoices: pass invoice_id)")
            raise _invalid('"invoice_id" or "payment_request_id" is required')
        if body.get("reason") not in REFUND_REASONS:
            raise _invalid(f'"reason" must be one of {", ".join(REFUND_REASONS)}')
        _text(body, "reference_id")
        if invoice_id not in self.invoices:
            raise ApiError(404, "DATA_NOT_FOUND", "Invoice not found")
        invoice = self.invoices[invoice_id]
        if invoice["status"] not in ("PAID", "SETTLED"):
            raise ApiError(403, "INELIGIBLE_TRANSACTION",
                           f"Invoice is {invoice['status']}: only paid invoices are refunded")
        if body.get("currency", invoice["currency"]) != invoice["currency"]:
            raise _invalid('"currency" differs from the invoice\'s')
        left = self.refundable(invoice_id)
        amount = body.get("amount", max(left, 1))
        if not _number(amount) or amount <= 0:
            raise _invalid('"amount" must be a positive number')
        if int(amount) > left:
            raise ApiError(400, "MAXIMUM_REFUND_AMOUNT_REACHED",
                           f"at most {max(left, 0)} {invoice['currency']} is left to refund")
        now = self.clock()
        refund_id = f"rfd-{uuid.uuid4()}"
        refund = {"id": refund_id, "payment_request_id": None,
                  "payment_id": invoice.get("payment_id"), "invoice_id": invoice_id,
                  "amount": int(amount), "payment_method_type": invoice.get("payment_method"),
                  "channel_code": invoice.get("payment_channel"),
                  "currency": invoice["currency"], "status": "PENDING",
                  "reason": body["reason"], "reference_id": body.get("reference_id"),
                  "failure_code": None, "refund_fee_amount": 0,
                  "created": iso(now), "updated": iso(now),
                  "metadata": body.get("metadata") if isinstance(body.get("metadata"), dict)
                  else None}
        self.refunds[refund_id] = refund
        if key:
            self.refund_keys[key] = {"id": refund_id, "body": _canonical(body)}
        self._settling[refund_id] = now + self.settle_seconds
        return refund

    def refund(self, refund_id: str) -> dict[str, Any]:
        """The refund, settled first if still PENDING; 404 ``DATA_NOT_FOUND`` otherwise."""
        if refund_id not in self.refunds:
            raise ApiError(404, "DATA_NOT_FOUND", "Refund not found")
        self._settle(refund_id)
        return self.refunds[refund_id]

    def list_refunds(self, invoice_id: Optional[str]) -> list[dict[str, Any]]:
        """``GET /refunds``, newest first, optionally of one invoice."""
        found = [self.refund(r) for r, doc in list(self.refunds.items())
                 if invoice_id is None or doc["invoice_id"] == invoice_id]
        return sorted(found, key=lambda r: r["created"], reverse=True)

    # ------------------------------------------------------------------ settling
    def _settle(self, doc_id: str) -> bool:
        """An unsettled payout or refund becomes final; True if it moved."""
        if self._settling.pop(doc_id, None) is None:
            return False
        now = iso(self.clock())
        if doc_id in self.payouts:
            payout = self.payouts[doc_id]
            failure = TEST_PAYOUT_FAILURES.get(payout["channel_properties"]["account_number"])
            payout.update(status="FAILED" if failure else "SUCCEEDED", updated=now)
            if failure:
                payout["failure_code"] = failure
        else:
            self.refunds[doc_id].update(status="SUCCEEDED", updated=now)
        return True

    def settle_due(self, now: float) -> int:
        """Settle the payouts and refunds whose time has come; how many moved."""
        return sum(self._settle(i) for i, due in list(self._settling.items()) if due <= now)

    # ------------------------------------------------------------------ saving
    def to_json(self) -> dict[str, Any]:
        """Everything, as JSON-ready data."""
        return {"invoices": self.invoices, "callbacks": self.callbacks, "payouts": self.payouts,
                "payout_keys": self.payout_keys, "refunds": self.refunds,
                "refund_keys": self.refund_keys}

    def load(self, data: dict[str, Any]) -> None:
        """Take over what ``to_json`` saved; deliveries a stop cut short are not resumed."""
        for name in ("invoices", "callbacks", "payouts", "payout_keys", "refunds",
                     "refund_keys"):
            getattr(self, name).update(data.get(name) or {})
        for record in (r for records in self.callbacks.values() for r in records):
            if record.get("state") == "SENDING":
                record["state"] = "STOPPED"
        self._expiring = {i: parse_iso(doc["expiry_date"]) for i, doc in self.invoices.items()
                          if doc["status"] == "PENDING"}
        self._settling = {i: parse_iso(doc["created"]) + self.settle_seconds
                          for i, doc in [*self.payouts.items(), *self.refunds.items()]
                          if doc["status"] in ("ACCEPTED", "PENDING")}
