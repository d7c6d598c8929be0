"""The booking Flow's data endpoint: every screen answered from the core with live data.

Pure dialogue over the core (blocking; the channel runs it in a worker thread). The route,
signature and encryption live in ``channel.py`` and ``flows_crypto.py``.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Optional

from booking.bookings import BookingService
from booking.deposits import describe
from booking.flow_tokens import FlowSession, FlowTokens
from booking.i18n import N_, texts

SUCCESS = "SUCCESS"
OPTION_TITLE_MAX = 30
DROPDOWN_MAX = 200
NO_VILLA = N_("None")  # the villa list of a business without villas


def _option(id_: str, title: str) -> dict[str, str]:
    title = title if len(title) <= OPTION_TITLE_MAX else title[:OPTION_TITLE_MAX - 1] + "…"
    return {"id": id_, "title": title}


class BookingFlow:
    """Answers ping, errors, INIT, data_exchange and BACK for ``flows/booking_flow.json``."""

    def __init__(self, core: BookingService, tokens: FlowTokens) -> None:
        self.core = core
        self.tokens = tokens

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        """The decrypted answer to a decrypted request; raises ``FlowTokenError`` (→ 427)."""
        action = request.get("action")
        if action == "ping":
            return {"data": {"status": "active"}}
        data = request.get("data") if isinstance(request.get("data"), dict) else {}
        if data.get("error"):  # the client reports a problem with an earlier answer
            return {"data": {"acknowledged": True}}
        session = self.tokens.check(request.get("flow_token"), self.core.clock())
        if action == "INIT":
            return self._service_screen(session)
        if action == "BACK":
            return self._back(session, request.get("screen"))
        if action == "data_exchange":
            return self._exchange(session, request.get("screen"), data)
        return self._service_screen(session,
                                    N_("Sorry, something went wrong. Please start again."))

    # ------------------------------------------------------------------ screens
    def _service_screen(self, session: FlowSession, error: Optional[str] = None) -> dict:
        services = self.core.catalog.services_of(session.business_id)
        tx = texts(session.language)
        data: dict[str, Any] = {"services": [
            _option(s.id, f"{s.name_in(tx.language)} {tx.money(s.price)}")
            for s in services][:DROPDOWN_MAX]}
        if error:
            data["error_message"] = texts(session.language)(error)
        return {"screen": "SERVICE", "data": data}

    def _date_screen(self, session: FlowSession, service_id: str, error: Optional[str] = None) -> dict:
        business = self.core.catalog.business(session.business_id)
        today = self.core.clock().astimezone(business.tz).date()
        last = today + timedelta(days=self.core.rules.horizon.days)
        free_days = {s.start.astimezone(business.tz).date()
                     for s in self.core.free_slots(service_id, today, last)}
        unavailable = [d.isoformat() for d in (today + timedelta(days=i)
                                               for i in range((last - today).days + 1))
                       if d not in free_days]
        data: dict[str, Any] = {"min_date": today.isoformat(), "max_date": last.isoformat(),
                                "unavailable_dates": unavailable}
        if error:
            data["error_message"] = texts(session.language)(error)
        return {"screen": "DATE", "data": data}

    def _time_screen(self, session: FlowSession, service_id: str, day: date) -> dict:
        tz = self.core.catalog.business(session.business_id).tz
        slots = self.core.free_slots(service_id, day)
        if not slots:
            return self._date_screen(session, service_id,
                                     N_("No free times that day, please pick another."))
        return {"screen": "TIME", "data": {"slots": [
            _option(s.start.isoformat(), texts(session.language).clock(s.start, tz))
            for s in slots][:DROPDOWN_MAX]}}

    def _details_screen(self, session: FlowSession, service_id: str) -> dict:
        service = self.core.catalog.service(service_id)
        villas = self.core.catalog.villas_of(session.business_id)
        return {"screen": "DETAILS", "data": {
            "needs_villa": service.in_villa and bool(villas),
            "villas": [_option(v.id, v.name) for v in villas]
            or [_option("none", texts(session.language)(NO_VILLA))]}}

    def _summary_screen(self, session: FlowSession, chosen: dict[str, Any]) -> dict:
        service = self.core.catalog.service(chosen["service"])
        tz = self.core.catalog.business(session.business_id).tz
        start = datetime.fromisoformat(chosen["slot"])
        tx = texts(session.language)
        lines = [service.name_in(tx.language), tx.moment(start, tz),
                 tx("{minutes} min", minutes=service.duration_minutes), tx.money(service.price)]
        villa = self.core.catalog.villas.get(chosen.get("villa") or "")
        if villa:
            lines.append(villa.name)
        deal = self.core.terms(service, session.customer_id)
        lines += describe(deal, deal.free_until(start), tz, tx, self.core.clock())
        return {"screen": "SUMMARY", "data": {"summary": "\n".join(lines)}}

    # ------------------------------------------------------------------ steps
    def _exchange(self, session: FlowSession, screen: Any, data: dict[str, Any]) -> dict:
        chosen = dict(session.data)
        if screen == "SERVICE":
            service = self.core.catalog.services.get(str(data.get("service")))
            if service is None or service.business_id != session.business_id:
                return self._service_screen(session, N_("Please choose a treatment."))
            self.tokens.remember(session.token, service=service.id)
            return self._date_screen(session, service.id)
        if "service" not in chosen:
            return self._service_screen(session, N_("Please choose a treatment first."))
        if screen == "DATE":
            try:
                day = date.fromisoformat(str(data.get("date"))[:10])
            except ValueError:
                day = None
            if day is None or not self._bookable(session, day):
                return self._date_screen(session, chosen["service"], N_("Please choose a day."))
            return self._time_screen(session, chosen["service"], day)
        if screen == "TIME":
            tz = self.core.catalog.business(session.business_id).tz
            try:
                start = datetime.fromisoformat(str(data.get("slot")))
                free = {slot.start for slot in self.core.free_slots(
                    chosen["service"], start.astimezone(tz).date())}
            except (ValueError, TypeError, OverflowError):  # OverflowError: year 1 at +23:00
                free, start = set(), None
            if start not in free:
                return self._date_screen(session, chosen["service"],
                                         N_("That time was just taken, please choose again."))
            self.tokens.remember(session.token, slot=start.isoformat())
            return self._details_screen(session, chosen["service"])
        if screen == "DETAILS":
            if "slot" not in chosen:
                return self._date_screen(session, chosen["service"])
            villa = data.get("villa") if isinstance(data.get("villa"), str) else None
            villa = villa if villa in self.core.catalog.villas else None
            details = {"name": str(data.get("name") or "")[:80], "villa": villa,
                       "notes": str(data.get("notes") or "")[:500]}
            self.tokens.remember(session.token, **details)
            return self._summary_screen(session, {**chosen, **details})
        if screen == "SUMMARY" and "slot" in chosen:
            params = {"flow_token": session.token, "service": chosen["service"],
                      "slot_time": chosen["slot"], "name": chosen.get("name", ""),
                      "villa": chosen.get("villa"), "notes": chosen.get("notes", "")}
            return {"screen": SUCCESS, "data": {"extension_message_response": {"params": params}}}
        return self._service_screen(session, N_("Let's start again."))

    def _bookable(self, session: FlowSession, day: date) -> bool:
        """Whether ``day`` is within the booking horizon (a typed date may be anything)."""
        today = self.core.clock().astimezone(self.core.catalog.business(session.business_id).tz).date()
        return today <= day <= today + timedelta(days=self.core.rules.horizon.days)

    def _back(self, session: FlowSession, screen: Any) -> dict:
        chosen = session.data
        if screen == "DATE" and "service" in chosen:
            return self._date_screen(session, chosen["service"])
        return self._service_screen(session)

