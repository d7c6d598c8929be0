"""The PDF confirmation (invoice) of a paid booking, made with fpdf2.

Text is set in DejaVu Sans (shipped with matplotlib, which Rasa installs), so customer names in
any script print; without that font it falls back to Helvetica with non-Latin-1 characters
replaced.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Optional
from zoneinfo import ZoneInfo

from fpdf import FPDF

from booking.i18n import texts


def _dejavu() -> Optional[Path]:
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - matplotlib comes with rasa
        return None
    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    return path if path.exists() else None


def rupiah(amount: int) -> str:
    """``Rp350.000``: whole Rupiah as Indonesia writes them (Babel), in chat, PDF and console."""
    return texts(None).money(amount)


@dataclass(frozen=True)
class ReceiptData:
    """Everything printed on the confirmation."""

    business_name: str
    customer_name: str
    customer_phone: str
    booking_code: str
    service_name: str
    staff_name: str
    start: datetime
    duration_minutes: int
    timezone: str
    villa_name: Optional[str]
    amount: int
    currency: str
    payment_method: str
    paid_at: Optional[datetime]
    invoice_id: str
    language: str = "en"
    price: int = 0  # the treatment's price, when more than the amount paid (a deposit)
    terms: tuple[str, ...] = ()  # the payment terms, printed (``booking.deposits.describe``)


def render_pdf(data: ReceiptData) -> bytes:
    """The confirmation as PDF bytes."""
    tz = ZoneInfo(data.timezone)
    tx = texts(data.language)
    pdf = FPDF(format=(148, 210))  # A5 in mm
    pdf.set_title(tx("Booking {code}", code=data.booking_code))
    pdf.set_author(data.business_name)
    font = _dejavu()
    if font is not None:
        pdf.add_font("DejaVu", "", str(font))
        family = "DejaVu"
        clean = str
    else:
        family = "Helvetica"
        clean = lambda text: str(text).encode("latin-1", "replace").decode("latin-1")  # noqa: E731
    pdf.add_page()
    pdf.set_font(family, size=16)
    pdf.cell(0, 10, clean(data.business_name), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, size=11)
    pdf.cell(0, 8, clean(tx("Booking confirmation and invoice {code}", code=data.booking_code)),
             new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    paid = (tx.full_moment(data.paid_at, tz) if data.paid_at else "-")
    rows = [
        (tx("Customer"), data.customer_name or "-"),
        ("WhatsApp", data.customer_phone or "-"),
        (tx("Booking code"), data.booking_code),
        (tx("Service"), tx("{service} ({minutes} min)", service=data.service_name,
                           minutes=data.duration_minutes)),
        (tx("With"), data.staff_name),
        (tx("Date"), tx.full_day(data.start.astimezone(tz).date())),
        (tx("Time"), f"{tx.clock(data.start, tz)} ({data.timezone})"),
        (tx("Villa"), data.villa_name or "-"),
        (tx("Amount paid"), tx.money(data.amount, data.currency)),
        *([(tx("To pay at your visit"), tx.money(data.price - data.amount, data.currency))]
          if data.price > data.amount else []),
        (tx("Payment method"), data.payment_method or "-"),
        (tx("Paid at"), paid),
        (tx("Xendit invoice"), data.invoice_id),
    ]
    for label, value in rows:
        pdf.cell(40, 7, clean(label))
        pdf.multi_cell(0, 7, clean(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font(family, size=9)
    for line in data.terms:
        pdf.multi_cell(0, 5, clean(line), new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 5, clean(tx("Thank you for your booking. Please show this confirmation "
                                  "or your booking code when you arrive.")))
    return bytes(pdf.output())
