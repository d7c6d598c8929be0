"""How things look in chat, in the customer's language: local times, Rupiah, and buttons whose
payloads carry the intent and entities (``/intent{"key": "value"}``) so a tap never depends on
NLU. Every text goes through ``booking.i18n`` (``tx``: the customer's ``Texts``)."""
from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, Iterable, Optional
from zoneinfo import ZoneInfo

from booking.i18n import NAMES as LANGUAGE_NAMES, Texts
from booking.models import Booking, Service
from booking.payments import Payment

SLOTS_PER_PAGE = 9  # + a "later times" row = 10, WhatsApp's list limit


def payload(intent: str, **entities: Any) -> str:
    """A button payload that Rasa parses as this intent with these entities."""
    entities = {k: v for k, v in entities.items() if v is not None}
    return f"/{intent}{json.dumps(entities, separators=(',', ':'))}" if entities else f"/{intent}"


def button(title: str, intent: str, **entities: Any) -> dict[str, str]:
    """A Rasa button."""
    return {"title": title, "payload": payload(intent, **entities)}


def service_name(service: Service, tx: Texts) -> str:
    """The service's name in the customer's language (the business's own, else the catalog's)."""
    return service.name_in(tx.language)


def service_line(service: Service, tx: Texts) -> str:
    """``Balinese Massage — 60 min, Rp350.000``."""
    return tx("{service} — {minutes} min, {price}", service=service_name(service, tx),
              minutes=service.duration_minutes, price=tx.money(service.price))


def service_buttons(services: Iterable[Service], tx: Texts) -> list[dict[str, str]]:
    """One button per service, booking it when tapped."""
    return [button(service_name(s, tx), "book_service", service=s.id) for s in services]


def day_buttons(today: date, tomorrow: date, tx: Texts) -> list[dict[str, str]]:
    """Quick day options: today, tomorrow, another day."""
    return [button(tx("Today"), "choose_day", date=today.isoformat()),
            button(tx("Tomorrow"), "choose_day", date=tomorrow.isoformat()),
            button(tx("Another day"), "choose_day", date="other")]


def slot_buttons(starts: list[datetime], tz: ZoneInfo, page: int, tx: Texts,
                 with_day: bool = False) -> list[dict[str, str]]:
    """One page of start times, plus "Later times" when more follow."""
    first = page * SLOTS_PER_PAGE
    shown = starts[first:first + SLOTS_PER_PAGE]
    fmt = (lambda s: tx.moment(s, tz)) if with_day else (lambda s: tx.clock(s, tz))
    buttons = [button(fmt(s), "choose_slot", slot_time=s.isoformat()) for s in shown]
    if len(starts) > first + SLOTS_PER_PAGE:
        buttons.append(button(tx("Later times ▸"), "more_slots", page=page + 1))
    return buttons


def booking_summary(booking: Booking, service: Service, staff_name: str, tz: ZoneInfo,
                    tx: Texts, villa_name: Optional[str] = None) -> str:
    """The details customers see for one booking."""
    lines = [f"{booking.code}: {service_name(service, tx)}",
             tx("{when} with {staff}", when=tx.moment(booking.start, tz), staff=staff_name),
             tx.money(booking.price)]
    if villa_name:
        lines.append(tx("at {villa}", villa=villa_name))
    return "\n".join(lines)


def waitlist_button(service: Service, day: date, tx: Texts) -> dict[str, str]:
    """[Tell me if one opens]: the waiting list for ``service`` on ``day`` (actions.waitlist)."""
    return button(tx("Tell me if one opens"), "join_waitlist", service=service.id,
                  date=day.isoformat())


def menu_buttons(tx: Texts) -> list[dict[str, str]]:
    """The three things a customer mostly does next."""
    return [button(tx("Book a treatment"), "book_service"),
            button(tx("My bookings"), "my_bookings"),
            button(tx("Talk to a person"), "human_handoff")]


def main_menu(tx: Texts) -> list[dict[str, str]]:
    """The menu (greeting, "menu"): the three, and the other language, named in itself."""
    other = "id" if tx.language == "en" else "en"
    return menu_buttons(tx) + [button(LANGUAGE_NAMES[other], "switch_language", language=other)]


def pay_messages(payment: Payment, tz: ZoneInfo, duration_minutes: int, tx: Texts,
                 whatsapp: bool) -> list[dict[str, Any]]:
    """The payment request: amount, until when the time is held, and a "Pay now" link (a CTA
    URL button on WhatsApp, the plain link elsewhere). Each item is utter_message kwargs."""
    if not payment.invoice_url:
        return [{"text": tx("Your time is held. The payment link follows in a few minutes.")}]
    amount = tx.money(payment.amount)
    if payment.expires_at:
        text = tx("To confirm {code}, please pay {amount} by {until} (the link is valid for "
                  "{minutes} minutes).", code=payment.code, amount=amount,
                  until=tx.clock(payment.expires_at, tz), minutes=duration_minutes)
    else:
        text = tx("To confirm {code}, please pay {amount} (the link is valid for {minutes} "
                  "minutes).", code=payment.code, amount=amount, minutes=duration_minutes)
    pay_now = tx("Pay now")
    if whatsapp:
        return [{"json_message": {"whatsapp": {"type": "cta_url", "text": text,
                                               "display_text": pay_now,
                                               "url": payment.invoice_url}}}]
    return [{"text": f"{text}\n{pay_now}: {payment.invoice_url}"}]
