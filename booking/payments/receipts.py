"""The PDF confirmation of a paid booking, behind an unguessable token."""
from __future__ import annotations

from typing import Any, Optional

from booking.db import with_retries
from booking.i18n import SOURCE, language_or_default, texts
from booking.payments.common import OUTCOME_CONFIRMED, Context
from booking.deposits import describe, terms_of
from booking.receipt import ReceiptData, render_pdf


class Receipts:
    """Finds a payment by its receipt token and renders its confirmation."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def url(self, token: str, language: str = SOURCE) -> str:
        """The public address of a receipt, printed in ``language``."""
        lang = "" if language_or_default(language) == SOURCE else f"?lang={language}"
        return f"{self.ctx.settings.public_base_url}/webhooks/xendit/receipts/{token}.pdf{lang}"

    def pdf(self, token: str, language: str = SOURCE) -> Optional[bytes]:
        """The PDF confirmation behind an unguessable token (None if there is none), in
        ``language`` (the source language for an unknown one)."""
        if not token or len(token) > 64:
            return None
        doc = with_retries(lambda: self.ctx.db.payments.find_one({"receipt_token": token}))
        if doc is None or doc.get("outcome") != OUTCOME_CONFIRMED:
            return None
        return render_pdf(self.data(doc, language_or_default(language)))

    def data(self, doc: dict[str, Any], language: str = SOURCE) -> ReceiptData:
        """What the receipt of payment ``doc`` shows, in ``language``."""
        booking = self.ctx.core.get(doc["code"])
        catalog = self.ctx.core.catalog
        business = catalog.business(booking.business_id)
        service = catalog.service(booking.service_id)
        villa = catalog.villa(booking.villa_id).name if booking.villa_id else None
        method = " ".join(x for x in (doc.get("payment_method", ""),
                                      doc.get("payment_channel", "")) if x)
        return ReceiptData(
            business_name=business.name, customer_name=booking.customer_name,
            customer_phone=("+" + booking.customer_id) if booking.customer_id.isdigit() else "",
            booking_code=booking.code, service_name=service.name_in(language),
            staff_name=catalog.staff_member(booking.staff_id).name, start=booking.start,
            duration_minutes=service.duration_minutes, timezone=business.timezone,
            villa_name=villa, amount=doc["amount"], currency=doc["currency"],
            payment_method=method, paid_at=doc.get("paid_at"), invoice_id=doc.get("invoice_id", ""),
            language=language, price=booking.price,
            terms=tuple(describe(terms_of(booking), booking.cancel_free_until, business.tz,
                                 texts(language))))
