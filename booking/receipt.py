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


def _dejavu() -> Optional[Path]:
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - matplotlib comes with rasa
        return None
    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    return path if path.exists() else None


def rupiah(amount: int) -> str:
    """``Rp 350.000``."""
    return "Rp " + f"{amount:,}".replace(",", ".")


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


def render_pdf(data: ReceiptData) -> bytes:
    """The confirmation as PDF bytes."""
    tz = ZoneInfo(data.timezone)
    pdf = FPDF(format=(148, 210))  # A5 in mm
    pdf.set_title(f"Booking {data.booking_code}")
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
    pdf.cell(0, 8, clean(f"Booking confirmation and invoice {data.booking_code}"),
             new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    start = data.start.astimezone(tz)
    paid = data.paid_at.astimezone(tz).strftime("%a %d %b %Y, %H:%M") if data.paid_at else "-"
    rows = [
        ("Customer", data.customer_name or "-"),
        ("WhatsApp", data.customer_phone or "-"),
        ("Booking code", data.booking_code),
        ("Service", f"{data.service_name} ({data.duration_minutes} min)"),
        ("With", data.staff_name),
        ("Date", start.strftime("%A %d %B %Y")),
        ("Time", f"{start.strftime('%H:%M')} ({data.timezone})"),
        ("Villa", data.villa_name or "-"),
        ("Amount paid", rupiah(data.amount) if data.currency == "IDR"
         else f"{data.currency} {data.amount}"),
        ("Payment method", data.payment_method or "-"),
        ("Paid at", paid),
        ("Xendit invoice", data.invoice_id),
    ]
    for label, value in rows:
        pdf.cell(40, 7, clean(label))
        pdf.multi_cell(0, 7, clean(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font(family, size=9)
    pdf.multi_cell(0, 5, clean("Thank you for your booking. Please show this confirmation or "
                               "your booking code when you arrive."))
    return bytes(pdf.output())
