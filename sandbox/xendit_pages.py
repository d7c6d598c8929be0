"""The Xendit stand-in's pages: the hosted checkout a customer opens from the invoice link, and
the dashboard. Server-rendered from ``sandbox/templates/checkout.html`` and ``xendit.html`` (read
once at start-up); their CSS and JS are served by the app at ``/static/``. Everything that came
from the product (external ids, descriptions, items, URLs) is escaped.

The pay / expire buttons are plain form POSTs (answered with a 303 back to the page, which then
shows the final state); with ``Accept: application/json`` (the page's script) they answer the
invoice's new public state instead (409 with the state when it was no longer pending).
"""
from __future__ import annotations

import asyncio
import html
import logging
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any, Optional

from aiohttp import web

from sandbox.xendit_state import ApiError, parse_iso

if TYPE_CHECKING:
    from sandbox.xendit import XenditSandbox

logger = logging.getLogger(__name__)

PAGES = Path(__file__).resolve().parent / "templates"  # filled in here, never served raw
MAX_ROWS = 200  # per dashboard table, newest first
_WALLETS = {"OVO": ("OVO", "OVO"), "DANA": ("DANA", "DANA"),
            "SHOPEEPAY": ("ShopeePay", "SPay"), "LINKAJA": ("LinkAja", "LA")}  # name, logo
_PUBLIC_FIELDS = ("id", "external_id", "status", "amount", "currency", "expiry_date",
                  "paid_amount", "paid_at", "payment_method", "payment_channel", "updated")


def esc(value: Any) -> str:
    """HTML-escaped text (quotes too: safe in attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def rupiah(amount: Any) -> str:
    """``350000`` → ``Rp 350.000``."""
    try:
        return "Rp " + f"{int(amount):,}".replace(",", ".")
    except (TypeError, ValueError):
        return "Rp ?"


def when(stamp: Optional[str]) -> str:
    """``2024-05-01T10:00:05.123Z`` → ``2024-05-01 10:00:05`` (UTC)."""
    return (stamp or "")[:19].replace("T", " ")


def short(stamp: Optional[str]) -> str:
    """``2024-05-01T10:00:05.123Z`` → ``05-01 10:00:05`` (dashboard cells, UTC)."""
    return when(stamp)[5:]


def web_url(url: Any) -> str:
    """The URL if it is http(s), else "" (never a ``javascript:`` link)."""
    return url if isinstance(url, str) and url.lower().startswith(("http://", "https://")) else ""


def left(seconds: float) -> str:
    """A countdown: ``HH:MM:SS``, with days in front when needed."""
    whole = max(0, int(seconds))
    text = f"{whole // 3600 % 24:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"
    return f"{whole // 86400} d {text}" if whole >= 86400 else text


def public_state(invoice: dict[str, Any]) -> dict[str, Any]:
    """What the checkout page may know of an invoice (nothing about the customer)."""
    return {name: invoice[name] for name in _PUBLIC_FIELDS if name in invoice}


def _wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _status(value: Any) -> str:
    return f'<span class="status status-{esc(value)}">{esc(value)}</span>'


class XenditPages:
    """Checkout and dashboard route handlers."""

    def __init__(self, service: "XenditSandbox") -> None:
        self.service = service
        self.state = service.state
        self.checkout_page = Template("")
        self.dashboard_page = Template("")

    async def load(self) -> None:
        """Read the page templates (once, off the event loop)."""
        checkout, dashboard = await asyncio.gather(
            asyncio.to_thread((PAGES / "checkout.html").read_text, "utf-8"),
            asyncio.to_thread((PAGES / "xendit.html").read_text, "utf-8"))
        self.checkout_page, self.dashboard_page = Template(checkout), Template(dashboard)

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Register the pages under ``/xendit``."""
        router.add_get("/xendit", self.dashboard)
        router.add_get("/xendit/", self.dashboard)
        router.add_get("/xendit/dashboard.json", self.dashboard_json)
        router.add_post("/xendit/dashboard/resend/{invoice_id}", self.resend)
        router.add_get("/xendit/checkout/{invoice_id}", self.checkout)
        router.add_get("/xendit/checkout/{invoice_id}/state", self.checkout_state)
        router.add_post("/xendit/checkout/{invoice_id}/pay", self.pay)
        router.add_post("/xendit/checkout/{invoice_id}/expire", self.let_expire)

    # ------------------------------------------------------------------ checkout
    def _invoice(self, invoice_id: str) -> Optional[dict[str, Any]]:
        """The invoice as of now (expired first if it lapsed), or None."""
        if invoice_id not in self.state.invoices:
            return None
        self.service.expire_if_lapsed(invoice_id)
        return self.state.invoices[invoice_id]

    async def checkout(self, request: web.Request) -> web.Response:
        """``GET /xendit/checkout/{id}``: the hosted payment page."""
        invoice = self._invoice(request.match_info["invoice_id"])
        if invoice is None:
            return web.Response(status=404, content_type="text/html", text=(
                "<!doctype html><meta charset=utf-8><title>Invoice not found</title>"
                "<link rel=stylesheet href=/static/checkout.css><main class=card>"
                "<section class=result><h1>Invoice not found</h1><p class=muted>This payment "
                "link is not valid.</p></section></main>"))
        return web.Response(text=self.render_checkout(invoice), content_type="text/html",
                            headers={"Cache-Control": "no-store"})

    def render_checkout(self, invoice: dict[str, Any]) -> str:
        """The checkout page of ``invoice`` in its current state."""
        status = invoice["status"]
        paid = status in ("PAID", "SETTLED")
        kind = "paid" if paid else "pending" if status == "PENDING" else "expired"
        expiry = parse_iso(invoice["expiry_date"])
        wallets = [w.get("ewallet_type") for w in invoice.get("available_ewallets") or []]
        choices = "".join(
            f'<label class="wallet"><input type="radio" name="channel" value="{esc(w)}"'
            f'{" checked" if n == 0 else ""}><span class="logo logo-{esc(w)}">'
            f'{esc(_WALLETS[w][1])}</span>{esc(_WALLETS[w][0])}</label>'
            for n, w in enumerate(w for w in wallets if w in _WALLETS))
        items = "".join(
            f'<li><span>{esc(i.get("name"))} × {esc(i.get("quantity"))}</span>'
            f'<span>{esc(rupiah((i.get("price") or 0) * (i.get("quantity") or 0)))}</span></li>'
            for i in invoice.get("items") or [] if isinstance(i, dict))
        success = web_url(invoice.get("success_redirect_url"))
        failure = web_url(invoice.get("failure_redirect_url"))
        back = success if paid else failure
        if paid:
            title, icon = "Payment successful", "✓"
            detail = (f"{rupiah(invoice.get('paid_amount'))} paid with "
                      f"{invoice.get('payment_channel')} on {when(invoice.get('paid_at'))} UTC")
        else:
            title, icon = "This invoice has expired", "✕"
            detail = "It can no longer be paid. Ask the merchant for a new payment link."
        merchant = invoice.get("merchant_name") or "Merchant"
        return self.checkout_page.safe_substitute(
            merchant=esc(merchant), initial=esc(merchant[:1].upper()),
            invoice_id=esc(invoice["id"]), status=esc(status), status_class=kind,
            status_label=esc("PAID" if paid else status), amount=esc(rupiah(invoice["amount"])),
            description=esc(invoice.get("description")),
            items=f'<ul class="items">{items}</ul>' if items else "",
            expiry_iso=esc(invoice["expiry_date"]),
            countdown=left(expiry - self.state.clock()),
            expiry_text=esc(f"until {when(invoice['expiry_date'])[:16]} UTC"),
            wallets=f'<div class="wallet-grid">{choices}</div>',
            success_url=esc(success), failure_url=esc(failure), return_url=esc(back),
            return_hidden="" if back else " hidden",
            pay_hidden="" if kind == "pending" else " hidden",
            result_hidden=" hidden" if kind == "pending" else "",
            result_icon=icon, result_title=esc(title), result_detail=esc(detail))

    async def checkout_state(self, request: web.Request) -> web.Response:
        """``GET /xendit/checkout/{id}/state``: the invoice's public state (the page polls)."""
        invoice = self._invoice(request.match_info["invoice_id"])
        if invoice is None:
            return web.json_response({"error_code": "INVOICE_NOT_FOUND_ERROR",
                                      "message": "Invoice not found"}, status=404)
        return web.json_response(public_state(invoice), headers={"Cache-Control": "no-store"})

    async def pay(self, request: web.Request) -> web.Response:
        """``POST /xendit/checkout/{id}/pay`` (form field ``channel``): the customer pays."""
        form = await request.post()
        return self._close(request, "PAID", str(form.get("channel") or ""))

    async def let_expire(self, request: web.Request) -> web.Response:
        """``POST /xendit/checkout/{id}/expire``: the customer lets the invoice lapse."""
        await request.post()
        return self._close(request, "EXPIRED")

    def _close(self, request: web.Request, status: str, channel: str = "") -> web.Response:
        invoice_id = request.match_info["invoice_id"]
        invoice = self._invoice(invoice_id)
        if invoice is None:
            if _wants_json(request):
                return web.json_response({"error_code": "INVOICE_NOT_FOUND_ERROR",
                                          "message": "Invoice not found"}, status=404)
            raise web.HTTPNotFound(text="Invoice not found")
        offered = [w.get("ewallet_type") for w in invoice.get("available_ewallets") or []]
        channel = channel or (offered[0] if offered else "OVO")
        answer: dict[str, Any] = {}
        code = 200
        if status == "PAID" and channel not in offered:
            answer = {"error_code": "UNAVAILABLE_PAYMENT_METHOD_ERROR",
                      "message": f"{channel} is not offered for this invoice"}
            code = 400
        else:
            try:
                invoice = self.service.close(invoice_id, status, channel)
            except ApiError as refused:
                answer = {"error_code": "INVOICE_NOT_PENDING", "message": refused.message}
                code = 409
        if _wants_json(request):
            return web.json_response({**public_state(invoice), **answer}, status=code)
        raise web.HTTPSeeOther(f"/xendit/checkout/{invoice_id}")

    # ------------------------------------------------------------------ dashboard
    async def resend(self, request: web.Request) -> web.Response:
        """``POST /xendit/dashboard/resend/{id}``: send the invoice's callback again."""
        invoice = self._invoice(request.match_info["invoice_id"])
        if invoice is not None and invoice["status"] != "PENDING":
            self.service.send_callback(invoice["id"])
        raise web.HTTPSeeOther("/xendit/")

    async def dashboard_json(self, request: web.Request) -> web.Response:
        """``GET /xendit/dashboard.json``: the dashboard's data (no phone numbers)."""
        invoices = []
        for invoice in self._newest(self.state.invoices):
            shown = dict(invoice, callbacks=self.state.callbacks.get(invoice["id"], []))
            if isinstance(shown.get("customer"), dict):
                shown["customer"] = {k: v for k, v in shown["customer"].items()
                                     if k != "mobile_number"}
            invoices.append(shown)
        return web.json_response({"invoices": invoices,
                                  "payouts": self._newest(self.state.payouts),
                                  "refunds": self._newest(self.state.refunds)})

    @staticmethod
    def _newest(docs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(docs.values(), key=lambda d: d["created"], reverse=True)

    async def dashboard(self, request: web.Request) -> web.Response:
        """``GET /xendit/``: invoices, payouts, refunds and callbacks at a glance."""
        for invoice_id in self.state.due_invoices(self.state.clock()):
            self.service.expire_if_lapsed(invoice_id)
        invoices = self._newest(self.state.invoices)
        payouts = self._newest(self.state.payouts)
        refunds = self._newest(self.state.refunds)
        failed = sum(1 for records in self.state.callbacks.values()
                     for r in records if r["state"] in ("FAILED", "STOPPED"))
        stats = [(sum(i["status"] == "PENDING" for i in invoices), "invoices pending"),
                 (sum(i["status"] in ("PAID", "SETTLED") for i in invoices), "invoices paid"),
                 (sum(i["status"] == "EXPIRED" for i in invoices), "invoices expired"),
                 (failed, "callbacks undelivered"),
                 (sum(p["status"] == "SUCCEEDED" for p in payouts), "payouts succeeded"),
                 (sum(p["status"] == "FAILED" for p in payouts), "payouts failed"),
                 (len(refunds), "refunds")]
        page = self.dashboard_page.safe_substitute(
            callback_url=esc(self.service.config.xendit_callback_url),
            api_url=esc(f"{self.service.config.public_url}/xendit"),
            stats="".join(f'<div class="stat"><b>{n}</b><span>{esc(label)}</span></div>'
                          for n, label in stats),
            invoice_count=len(invoices), payout_count=len(payouts), refund_count=len(refunds),
            invoice_rows=self._rows(invoices, self._invoice_row, 8, "No invoices yet."),
            payout_rows=self._rows(payouts, self._payout_row, 9, "No payouts yet."),
            refund_rows=self._rows(refunds, self._refund_row, 7, "No refunds yet."))
        return web.Response(text=page, content_type="text/html",
                            headers={"Cache-Control": "no-store"})

    @staticmethod
    def _rows(docs: list[dict[str, Any]], row: Any, columns: int, empty: str) -> str:
        if not docs:
            return f'<tr><td class="empty" colspan="{columns}">{esc(empty)}</td></tr>'
        shown = "\n".join(row(doc) for doc in docs[:MAX_ROWS])
        if len(docs) > MAX_ROWS:
            shown += (f'\n<tr><td class="empty" colspan="{columns}">… and '
                      f'{len(docs) - MAX_ROWS} older</td></tr>')
        return shown

    def _callbacks(self, invoice: dict[str, Any]) -> str:
        cells = []
        for record in self.state.callbacks.get(invoice["id"], []):
            answers = [a["status"] or a["error"] for a in record["attempts"]]
            marks = "".join(
                f'<span class="answer{" ok" if isinstance(a, int) and 200 <= a < 300 else ""}">'
                f"{esc(a)}</span>" for a in answers)
            waiting = ' <span class="muted">retrying…</span>' if record["state"] == "SENDING" \
                and answers else ""
            cells.append(f'<div class="callback" data-event="{esc(record["event"])}" '
                         f'data-answers="{esc(",".join(map(str, answers)))}" '
                         f'data-state="{esc(record["state"])}">{_status(record["event"])} →'
                         f"{marks or ' <span class=muted>sending…</span>'}{waiting}</div>")
        if invoice["status"] != "PENDING":
            cells.append(f'<form class="inline" method="post" action="/xendit/dashboard/resend/'
                         f'{esc(invoice["id"])}"><button type="submit">resend</button></form>')
        return "".join(cells) or '<span class="muted">none yet</span>'

    def _invoice_row(self, invoice: dict[str, Any]) -> str:
        if invoice["status"] in ("PAID", "SETTLED"):
            outcome = f"paid {short(invoice.get('paid_at'))} · {invoice.get('payment_channel')}"
        elif invoice["status"] == "EXPIRED":
            outcome = f"expired {short(invoice['updated'])}"
        else:
            outcome = f"expires {short(invoice['expiry_date'])}"
        return (f'<tr data-invoice="{esc(invoice["id"])}">'
                f'<td class="mono"><a href="/xendit/checkout/{esc(invoice["id"])}">'
                f'{esc(invoice["id"])}</a></td>'
                f'<td class="mono wrap">{esc(invoice["external_id"])}</td>'
                f'<td class="wrap desc">{esc(invoice.get("description"))}</td>'
                f'<td class="num">{esc(rupiah(invoice["amount"]))}</td>'
                f'<td>{_status(invoice["status"])}</td>'
                f'<td class="nowrap">{esc(short(invoice["created"]))}</td>'
                f'<td class="nowrap">{esc(outcome)}</td><td>{self._callbacks(invoice)}</td></tr>')

    @staticmethod
    def _payout_row(payout: dict[str, Any]) -> str:
        account = payout.get("channel_properties") or {}
        return (f'<tr data-payout="{esc(payout["id"])}"><td class="mono">{esc(payout["id"])}</td>'
                f'<td class="mono nowrap">{esc(payout["reference_id"])}</td>'
                f'<td class="wrap">{esc(payout.get("description"))}</td>'
                f'<td>{esc(payout["channel_code"])}</td>'
                f'<td class="wrap"><span class="mono">{esc(account.get("account_number"))}</span>'
                f' <span class="muted">{esc(account.get("account_holder_name"))}</span></td>'
                f'<td class="num">{esc(rupiah(payout["amount"]))}</td>'
                f'<td>{_status(payout["status"])}</td>'
                f'<td class="mono">{esc(payout.get("failure_code") or "")}</td>'
                f'<td class="nowrap">{esc(short(payout["created"]))}</td></tr>')

    @staticmethod
    def _refund_row(refund: dict[str, Any]) -> str:
        return (f'<tr data-refund="{esc(refund["id"])}"><td class="mono">{esc(refund["id"])}</td>'
                f'<td class="mono"><a href="/xendit/checkout/{esc(refund["invoice_id"])}">'
                f'{esc(refund["invoice_id"])}</a></td>'
                f'<td class="mono wrap">{esc(refund.get("reference_id") or "")}</td>'
                f'<td class="num">{esc(rupiah(refund["amount"]))}</td>'
                f'<td>{esc(refund["reason"])}</td><td>{_status(refund["status"])}</td>'
                f'<td class="nowrap">{esc(short(refund["created"]))}</td></tr>')
