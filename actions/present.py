"""How things look in chat: local times, Rupiah, and buttons whose payloads carry the intent
and entities (``/intent{"key": "value"}``) so a tap never depends on NLU."""
from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, Iterable, Optional
from zoneinfo import ZoneInfo

from booking.models import Booking, Service
from booking.payments import Payment
from booking.receipt import rupiah  # noqa: F401  (one formatting of money for chat and PDF)

SLOTS_PER_PAGE = 9  # + a "later times" row = 10, WhatsApp's list limit


def local_time(moment: datetime, tz: ZoneInfo) -> str:
    """``Fri 25 Oct, 15:00`` in the business time zone."""
    return moment.astimezone(tz).strftime("%a %d %b, %H:%M").replace(" 0", " ", 1)


def local_day(day: date) -> str:
    """``Fri 25 Oct``."""
    return day.strftime("%a %d %b").replace(" 0", " ", 1)


def clock(moment: datetime, tz: ZoneInfo) -> str:
    """``15:00`` in the business time zone."""
    return moment.astimezone(tz).strftime("%H:%M")


def payload(intent: str, **entities: Any) -> str:
    """A button payload that Rasa parses as this intent with these entities."""
    entities = {k: v for k, v in entities.items() if v is not None}
    return f"/{intent}{json.dumps(entities, separators=(',', ':'))}" if entities else f"/{intent}"


def button(title: str, intent: str, **entities: Any) -> dict[str, str]:
    """A Rasa button."""
    return {"title": title, "payload": payload(intent, **entities)}


def service_line(service: Service) -> str:
    """``Balinese Massage — 60 min, Rp 350.000``."""
    return f"{service.name} — {service.duration_minutes} min, {rupiah(service.price)}"


def service_buttons(services: Iterable[Service]) -> list[dict[str, str]]:
    """One button per service, booking it when tapped."""
    return [button(s.name, "book_service", service=s.id) for s in services]


def day_buttons(today: date, tomorrow: date) -> list[dict[str, str]]:
    """Quick day options: today, tomorrow, another day."""
    return [button("Today", "choose_day", date=today.isoformat()),
            button("Tomorrow", "choose_day", date=tomorrow.isoformat()),
            button("Another day", "choose_day", date="other")]


def slot_buttons(starts: list[datetime], tz: ZoneInfo, page: int,
                 with_day: bool = False) -> list[dict[str, str]]:
    """One page of start times, plus "Later times" when more follow."""
    first = page * SLOTS_PER_PAGE
    shown = starts[first:first + SLOTS_PER_PAGE]
    fmt = (lambda s: local_time(s, tz)) if with_day else (lambda s: clock(s, tz))
    buttons = [button(fmt(s), "choose_slot", slot_time=s.isoformat()) for s in shown]
    if len(starts) > first + SLOTS_PER_PAGE:
        buttons.append(button("Later times ▸", "more_slots", page=page + 1))
    return buttons


def booking_summary(booking: Booking, service: Service, staff_name: str, tz: ZoneInfo,
                    villa_name: Optional[str] = None) -> str:
    """The details customers see for one booking."""
    lines = [f"{booking.code}: {service.name}", f"{local_time(booking.start, tz)} with {staff_name}",
             rupiah(booking.price)]
    if villa_name:
        lines.append(f"at {villa_name}")
    return "\n".join(lines)


def menu_buttons() -> list[dict[str, str]]:
    """The main menu."""
    return [button("Book a treatment", "book_service"),
            button("My bookings", "my_bookings"),
            button("Talk to a person", "human_handoff")]


def pay_messages(payment: Payment, tz: ZoneInfo, duration_minutes: int,
                 whatsapp: bool) -> list[dict[str, Any]]:
    """The payment request: amount, until when the time is held, and a "Pay now" link (a CTA
    URL button on WhatsApp, the plain link elsewhere). Each item is utter_message kwargs."""
    if not payment.invoice_url:
        return [{"text": "Your time is held. The payment link follows in a few minutes."}]
    until = clock(payment.expires_at, tz) if payment.expires_at else None
    text = (f"To confirm {payment.code}, please pay {rupiah(payment.amount)}"
            + (f" by {until}" if until else "")
            + f" (the link is valid for {duration_minutes} minutes).")
    if whatsapp:
        return [{"json_message": {"whatsapp": {"type": "cta_url", "text": text,
                                               "display_text": "Pay now",
                                               "url": payment.invoice_url}}}]
    return [{"text": f"{text}\nPay now: {payment.invoice_url}"}]
