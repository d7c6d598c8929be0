"""A local stand-in for Xendit: invoices (create, read, search, expire), Payouts v2, refunds of
paid invoices and invoice callbacks, following the documented payloads
(../shared/reference/xendit.md, Xendit's refund API reference). Written from the documentation,
independently of booking/xendit.py. Fails on demand: queued HTTP errors per route, and "lost
answers" (the request is applied, then the connection is dropped)."""
from __future__ import annotations

import base64
import itertools
import json
import threading
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qs, urlparse

SECRET_KEY = "xnd_development_test_secret"
CALLBACK_TOKEN = "test-callback-token"
REFUND_REASONS = ("FRAUDULENT", "DUPLICATE", "REQUESTED_BY_CUSTOMER", "CANCELLATION", "OTHERS")
_PAYOUT_OUTCOMES = {"123456": "TEMPORARY_TRANSFER_ERROR", "999999": "REJECTED_BY_CHANNEL",
                    "121212": "INVALID_DESTINATION"}


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class Gate:
    """Holds one request at the stand-in before it is applied: ``arrived`` is set when it
    comes in, and it goes on once ``release()`` is called (ordering without sleeps)."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.released = threading.Event()

    def wait_arrived(self, timeout: float = 10.0) -> None:
        """Block until the held request has arrived (fails the test after ``timeout``)."""
        assert self.arrived.wait(timeout), "the request never reached the stand-in"

    def release(self) -> None:
        """Let the held request be applied and answered."""
        self.released.set()


class XenditStub:
    last_server_timing = ""  # of the last callback answered (the server's own account)
    """``invoices`` / ``payouts`` / ``refunds`` by id; ``calls``: (method, path) of every
    request; ``fail[route]``: queued failures (a status such as 429 or 500, a (status,
    error_code) pair, or "lose" = apply, then drop the connection), where route is
    "create_invoice", "get_invoice", "find_invoices", "create_payout", "get_payout",
    "create_refund" or "get_refund"; ``refund_failures``: failure codes the next refunds settle
    with (FAILED) instead of SUCCEEDED."""

    def __init__(self) -> None:
        self.invoices: dict[str, dict[str, Any]] = {}
        self.payouts: dict[str, dict[str, Any]] = {}
        self.payout_keys: dict[str, tuple[str, dict]] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail: dict[str, list[Any]] = {}
        self.payout_failures: dict[str, list[str]] = {}  # account number -> failure codes
        self.refunds: dict[str, dict[str, Any]] = {}
        self.refund_keys: dict[str, tuple[str, dict]] = {}  # Idempotency-key -> (id, body)
        self.refund_failures: list[str] = []
        self.clock = lambda: datetime.now(timezone.utc)  # settable, like the core's
        self.gates: dict[str, list[Gate]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go in two writes

            def do_GET(self) -> None:  # noqa: N802
                stub._handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                stub._handle(self, "POST")

            def log_message(self, *args: Any) -> None:
                pass

        self._handler = Handler
        self._serve(0)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _serve(self, port: int) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler,
                                          bind_and_activate=False)
        self.server.request_queue_size = 256  # a burst of payments is not refused
        self.server.server_bind()
        self.server.server_activate()
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def go_down(self) -> None:
        """Xendit unreachable: the port stops listening (connections are refused)."""
        self.close()

    def come_back(self) -> None:
        """Reachable again on the same address, with everything it knew."""
        self._serve(int(self.url.rsplit(":", 1)[1]))

    # ------------------------------------------------------------------ HTTP
    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        parsed = urlparse(handler.path)
        with self._lock:
            self.calls.append((method, parsed.path))
        auth = handler.headers.get("authorization") or ""
        expected = "Basic " + base64.b64encode(f"{SECRET_KEY}:".encode()).decode()
        if auth != expected:
            return self._answer(handler, 401, {"error_code": "INVALID_API_KEY",
                                               "message": "API key is invalid"})
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return self._answer(handler, 400, {"error_code": "API_VALIDATION_ERROR",
                                               "message": "invalid JSON"})
        route, args = self._route(method, parsed.path)
        if route is None:
            return self._answer(handler, 404, {"error_code": "NOT_FOUND", "message": "no route"})
        with self._lock:
            queued = self.fail.get(route) or []
            failure = queued.pop(0) if queued else None
            gates = self.gates.get(route) or []
            gate = gates.pop(0) if gates else None
        if gate is not None:  # held here, not yet applied, until the test releases it
            gate.arrived.set()
            gate.released.wait(timeout=30)
        if isinstance(failure, tuple):
            status, code = failure
            return self._answer(handler, status, {"error_code": code, "message": "stub failure"})
        if isinstance(failure, int):
            code = ("RATE_LIMIT_EXCEEDED" if failure == 429 else "API_VALIDATION_ERROR"
                    if failure == 400 else "SERVER_ERROR")
            return self._answer(handler, failure, {"error_code": code, "message": "stub failure"})
        status, payload = getattr(self, "_" + route)(body, handler.headers, parse_qs(parsed.query), *args)
        if failure == "lose":  # applied, but the answer never arrives
            handler.close_connection = True
            handler.connection.shutdown(2)
            return
        self._answer(handler, status, payload)

    @staticmethod
    def _route(method: str, path: str) -> tuple[Optional[str], tuple]:
        parts = [p for p in path.split("/") if p]
        if method == "POST" and parts == ["v2", "invoices"]:
            return "create_invoice", ()
        if method == "GET" and parts == ["v2", "invoices"]:
            return "find_invoices", ()
        if method == "GET" and len(parts) == 3 and parts[:2] == ["v2", "invoices"]:
            return "get_invoice", (parts[2],)
        if method == "POST" and len(parts) == 3 and parts[0] == "invoices" and parts[2] == "expire!":
            return "expire_invoice", (parts[1],)
        if method == "POST" and parts == ["v2", "payouts"]:
            return "create_payout", ()
        if method == "GET" and len(parts) == 3 and parts[:2] == ["v2", "payouts"]:
            return "get_payout", (parts[2],)
        if method == "POST" and parts == ["refunds"]:
            return "create_refund", ()
        if method == "GET" and len(parts) == 2 and parts[0] == "refunds":
            return "get_refund", (parts[1],)
        return None, ()

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    # ------------------------------------------------------------------ invoices
    def _create_invoice(self, body: dict, headers: Any, query: dict) -> tuple[int, Any]:
        amount = body.get("amount")
        if not isinstance(body.get("external_id"), str) or not isinstance(amount, (int, float)):
            return 400, {"error_code": "API_VALIDATION_ERROR",
                         "message": "external_id and amount are required"}
        if amount < 1000:
            return 400, {"error_code": "MINIMAL_TRANSFER_AMOUNT_ERROR", "message": "too small"}
        now = self.clock()
        invoice_id = f"inv{next(self._ids):06d}"
        invoice = {
            "id": invoice_id, "external_id": body["external_id"], "user_id": "stub-user",
            "status": "PENDING", "merchant_name": "Stub", "amount": int(amount),
            "currency": body.get("currency", "IDR"), "description": body.get("description", ""),
            "invoice_url": f"{self.url}/web/{invoice_id}",
            "expiry_date": _iso(now + timedelta(seconds=int(body.get("invoice_duration", 86400)))),
            "customer": body.get("customer"), "items": body.get("items"),
            "success_redirect_url": body.get("success_redirect_url"),
            "failure_redirect_url": body.get("failure_redirect_url"),
            "created": _iso(now), "updated": _iso(now)}
        with self._lock:
            self.invoices[invoice_id] = invoice
        return 200, invoice

    def _get_invoice(self, body: dict, headers: Any, query: dict, invoice_id: str) -> tuple[int, Any]:
        invoice = self.invoices.get(invoice_id)
        if invoice is None:
            return 404, {"error_code": "INVOICE_NOT_FOUND_ERROR", "message": "not found"}
        return 200, invoice

    def _find_invoices(self, body: dict, headers: Any, query: dict) -> tuple[int, Any]:
        external_id = (query.get("external_id") or [""])[0]
        return 200, [i for i in self.invoices.values() if i["external_id"] == external_id]

    def _expire_invoice(self, body: dict, headers: Any, query: dict, invoice_id: str) -> tuple[int, Any]:
        invoice = self.invoices.get(invoice_id)
        if invoice is None or invoice["status"] != "PENDING":
            return 404, {"error_code": "INVOICE_NOT_FOUND_ERROR", "message": "not pending"}
        invoice["status"] = "EXPIRED"
        return 200, invoice

    # ------------------------------------------------------------------ payouts
    def _create_payout(self, body: dict, headers: Any, query: dict) -> tuple[int, Any]:
        key = headers.get("Idempotency-key")
        if not key:
            return 400, {"error_code": "API_VALIDATION_ERROR", "message": "Idempotency-key required"}
        with self._lock:
            if key in self.payout_keys:
                payout_id, earlier = self.payout_keys[key]
                if earlier != body:
                    return 400, {"error_code": "DUPLICATE_ERROR", "message": "key reused"}
                return 200, self.payouts[payout_id]
            payout_id = f"disb-{next(self._ids):06d}"
            payout = {"id": payout_id, "reference_id": body.get("reference_id"),
                      "channel_code": body.get("channel_code"),
                      "channel_properties": body.get("channel_properties"),
                      "amount": body.get("amount"), "currency": body.get("currency"),
                      "description": body.get("description"), "status": "ACCEPTED",
                      "idempotency_key": key, "created": _iso(datetime.now(timezone.utc))}
            self.payouts[payout_id] = payout
            self.payout_keys[key] = (payout_id, body)
        return 200, payout

    def _get_payout(self, body: dict, headers: Any, query: dict, payout_id: str) -> tuple[int, Any]:
        with self._lock:
            payout = self.payouts.get(payout_id)
            if payout is None:
                return 404, {"error_code": "DATA_NOT_FOUND", "message": "not found"}
            if payout["status"] == "ACCEPTED":  # test mode settles on the first read
                account = (payout.get("channel_properties") or {}).get("account_number", "")
                queued = self.payout_failures.get(account)
                failure = queued.pop(0) if queued else _PAYOUT_OUTCOMES.get(account)
                payout["status"] = "FAILED" if failure else "SUCCEEDED"
                if failure:
                    payout["failure_code"] = failure
            return 200, payout

    # ------------------------------------------------------------------ refunds
    def _refundable(self, invoice: dict[str, Any]) -> int:
        taken = sum(r["amount"] for r in self.refunds.values()
                    if r["invoice_id"] == invoice["id"] and r["status"] != "FAILED")
        return int(invoice.get("paid_amount", 0)) - taken

    def _create_refund(self, body: dict, headers: Any, query: dict) -> tuple[int, Any]:
        key = headers.get("Idempotency-key")
        with self._lock:
            if key and key in self.refund_keys:
                refund_id, earlier = self.refund_keys[key]
                if earlier != body:
                    return 400, {"error_code": "DUPLICATE_ERROR",
                                 "message": "Idempotency-key already used with another request"}
                return 200, self.refunds[refund_id]
            invoice = self.invoices.get(body.get("invoice_id") or "")
            amount = body.get("amount")
            valid = isinstance(body.get("invoice_id"), str) and body.get("reason") in REFUND_REASONS
            if not valid:
                return 400, {"error_code": "API_VALIDATION_ERROR",
                             "message": "invoice_id and a documented reason are required"}
            if invoice is None:
                return 404, {"error_code": "DATA_NOT_FOUND", "message": "invoice not found"}
            if invoice["status"] not in ("PAID", "SETTLED"):
                return 403, {"error_code": "INELIGIBLE_TRANSACTION", "message": "not paid"}
            if body.get("currency", invoice["currency"]) != invoice["currency"]:
                return 400, {"error_code": "API_VALIDATION_ERROR", "message": "currency differs"}
            left = self._refundable(invoice)
            amount = left if amount is None else amount
            if not isinstance(amount, (int, float)) or amount <= 0:
                return 400, {"error_code": "API_VALIDATION_ERROR", "message": "bad amount"}
            if amount > left:
                return 400, {"error_code": "MAXIMUM_REFUND_AMOUNT_REACHED",
                             "message": f"at most {left} is left to refund"}
            now = _iso(self.clock())
            refund_id = f"rfd-{next(self._ids):06d}"
            refund = {"id": refund_id, "payment_request_id": None,
                      "payment_id": invoice.get("payment_id"), "invoice_id": invoice["id"],
                      "amount": int(amount), "payment_method_type": invoice.get("payment_method"),
                      "channel_code": invoice.get("payment_channel"),
                      "currency": invoice["currency"], "status": "PENDING",
                      "reason": body["reason"], "reference_id": body.get("reference_id"),
                      "failure_code": None, "refund_fee_amount": 0, "created": now,
                      "updated": now, "metadata": body.get("metadata")}
            self.refunds[refund_id] = refund
            if key:
                self.refund_keys[key] = (refund_id, body)
        return 200, refund

    def _get_refund(self, body: dict, headers: Any, query: dict, refund_id: str) -> tuple[int, Any]:
        with self._lock:
            refund = self.refunds.get(refund_id)
            if refund is None:
                return 404, {"error_code": "DATA_NOT_FOUND", "message": "not found"}
            if refund["status"] == "PENDING":  # settles on the first read
                failure = self.refund_failures.pop(0) if self.refund_failures else None
                refund["status"] = "FAILED" if failure else "SUCCEEDED"
                refund["failure_code"] = failure
                refund["updated"] = _iso(self.clock())
            return 200, refund

    def refund_keys_with_prefix(self, prefix: str) -> list[str]:
        """Idempotency-keys of the refunds made, in creation order, that start with ``prefix``."""
        with self._lock:
            return [k for k in self.refund_keys if k.startswith(prefix)]

    # ------------------------------------------------------------------ test controls
    def gate(self, route: str) -> Gate:
        """Hold the next request on ``route`` (after any already gated) until released."""
        gate = Gate()
        with self._lock:
            self.gates.setdefault(route, []).append(gate)
        return gate

    def payouts_with_key_prefix(self, prefix: str) -> list[dict[str, Any]]:
        """Payouts whose idempotency key starts with ``prefix``, in creation order."""
        with self._lock:
            return [p for p in self.payouts.values() if p["idempotency_key"].startswith(prefix)]

    def invoices_for(self, external_prefix: str) -> list[dict[str, Any]]:
        with self._lock:
            return [i for i in self.invoices.values()
                    if i["external_id"].startswith(external_prefix)]

    def set_status(self, invoice_id: str, status: str, method: str = "QRIS") -> dict[str, Any]:
        """The customer paid (PAID) or the link lapsed (EXPIRED)."""
        with self._lock:
            invoice = self.invoices[invoice_id]
            invoice["status"] = status
            invoice["updated"] = _iso(self.clock())
            if status == "PAID":
                invoice.update(paid_amount=invoice["amount"], paid_at=invoice["updated"],
                               payment_method=method, payment_channel="QRIS",
                               payment_id=f"pay-{invoice_id}")
            return dict(invoice)

    def callback_body(self, invoice_id: str, status: Optional[str] = None) -> dict[str, Any]:
        """The invoice callback Xendit would send (``status`` overrides, e.g. a stale one)."""
        invoice = self.invoices[invoice_id]
        body = {k: invoice[k] for k in ("id", "external_id", "user_id", "status", "amount",
                                        "currency", "created", "updated")}
        body["merchant_name"] = "Stub"
        for key in ("paid_amount", "paid_at", "payment_method", "payment_channel", "payment_id"):
            if key in invoice:
                body[key] = invoice[key]
        if status:
            body["status"] = status
        return body

    @staticmethod
    def send_callback(url: str, body: dict[str, Any], token: Optional[str] = CALLBACK_TOKEN,
                      raw: Optional[bytes] = None, content_type: str = "application/json") -> int:
        """POST a callback like Xendit does; the HTTP status answered."""
        headers = {"content-type": content_type}
        if token is not None:
            headers["x-callback-token"] = token
        request = urllib.request.Request(url, data=raw if raw is not None else json.dumps(body).encode(),
                                         headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                XenditStub.last_server_timing = answer.headers.get("server-timing", "")
                return answer.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def count(self, method: str, prefix: str) -> int:
        with self._lock:
            return sum(1 for m, p in self.calls if m == method and p.startswith(prefix))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
