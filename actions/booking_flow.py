"""Booking, one step per message: service → day → time → confirmation card → booking.

Information given up front ("balinese massage tomorrow at 3pm") skips the questions it
answers. Business rules stay in the core; this module only asks, shows and calls.
"""
from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta
from typing import List, Optional, Text

from rasa_sdk.events import EventType, SlotSet

from actions import present
from actions.outcomes import (cannot_book, limit_reached, plan_limit_reached,  # noqa: F401
                              send_payment_request, tell_booked)
from actions.base import (BookingAction, Turn, day_of, moment, reset_booking,
                          session_expiration_minutes, small_int)
from booking import deposits, flow_form, metrics, orders
from booking.bookings import BookingRequest
from booking.flow_tokens import FlowTokens
from booking.errors import (CustomerLimitError, InvalidTransitionError, PlanLimitReachedError,
                            SlotConflictError, UnknownEntityError, ValidationError)
from booking.i18n import N_
from booking.models import CANCELLED, COMPLETED, EXPIRED, NO_SHOW, Service
from booking.timeparse import When, in_part_of_day, parse_when

_STARTING_INTENTS = {"book_service", "check_availability"}


class ActionBookStep(BookingAction):
    """Takes what the customer just said or tapped and asks for the next missing piece."""

    def name(self) -> Text:
        return "action_book_step"

    def act(self, turn: Turn) -> List[EventType]:
        return self.step(turn)

    def step(self, turn: Turn, fix: Optional[dict] = None,
             wanted: Optional[datetime] = None) -> List[EventType]:
        """The next step of the order. ``fix``: what a typed answer to the open question
        changes (``actions.open_question``), applied instead of reading the message, with
        ``wanted`` the exact time it asks for."""
        events: list[EventType] = []
        if fix is not None:
            turn.overrides.update(fix)
            if "people" in fix:
                events.append(SlotSet("people", fix["people"]))
        slot_time = moment(turn.slot("slot_time"))
        day = turn.slot("date")
        state = dict(service=turn.slot("service"), staff=turn.slot("staff"),
                     date=day if day == "other" or day_of(day) else None,
                     part_of_day=turn.slot("part_of_day"),
                     slot_time=slot_time.isoformat() if slot_time else None,
                     page=small_int(turn.slot("slots_page")),
                     flow=turn.slot("flow") or "book", order_id=turn.slot("order_id"),
                     villa=turn.slot("villa"))
        if fix is None and not turn.answered and (turn.intent in _STARTING_INTENTS
                            or state["order_id"] is None and state["flow"] == "book"):
            # A new order: only what this very message says carries into it.
            state.update(date=None, part_of_day=None, slot_time=None, page=0, flow="book",
                         order_id=uuid.uuid4().hex)
            if turn.entity("service") is None:
                state["service"] = None
            if turn.entity("staff") is None:
                state["staff"] = None
            if turn.entity("villa") is None:
                state["villa"] = None
            turn.core.order_log.record(state["order_id"], turn.business.id,
                                       orders.ORDER_RECEIVED, turn.now,
                                       customer_id=turn.customer_id)
        wanted_at = self._read_message(turn, state) if fix is None else wanted
        service = self._service(turn, state)
        if service is None:
            return events + self._ask_service(turn, state)
        if state["date"] is None:
            return events + self._ask_day(turn, state)
        if state["slot_time"] is None:
            return events + self._offer_times(turn, state, service, wanted_at)
        return events + self._villa_then_card(turn, state, service)

    # ---------------------------------------------------------------- understanding
    def _read_message(self, turn: Turn, state: dict) -> Optional[datetime]:
        """Update the state from entities and taps; return an exact time asked for."""
        if turn.intent == "change_time":
            state.update(slot_time=None, page=0)
        if turn.intent == "more_slots":
            state["page"] = small_int(turn.entity("page"), state["page"] + 1)
        tapped_day = turn.entity("date")
        if tapped_day == "other":
            state.update(date="other", slot_time=None)
        elif day_of(tapped_day):
            state.update(date=day_of(tapped_day).isoformat(), slot_time=None,
                         part_of_day=None, page=0)
        start = moment(turn.entity("slot_time"))
        if start is not None:
            state.update(slot_time=start.isoformat(),
                         date=start.astimezone(turn.tz).date().isoformat())
        when = self._when(turn)
        if when is None:
            return None
        state.update(date=when.day.isoformat(), part_of_day=when.part_of_day, slot_time=None,
                     page=0)
        start = when.start(turn.tz)
        return start

    def _when(self, turn: Turn) -> Optional[When]:
        """The whole sentence first (NLU may split "next" from "friday at 3pm"), then the
        extracted ``time`` entities."""
        if turn.answered:  # (it named a booking: "the massage on friday" is no new day)
            return None
        if not turn.text.startswith("/") and turn.intent in {
                "inform", "book_service", "check_availability", "choose_day", "reschedule_booking"}:
            when = parse_when(turn.text, turn.tz, turn.now)
            if when:
                return when
        for text in turn.tracker.get_latest_entity_values("time"):
            when = parse_when(str(text), turn.tz, turn.now)
            if when:
                return when
        return None

    def _villa_then_card(self, turn: Turn, state: dict, service: Service) -> list[EventType]:
        """An in-villa treatment needs the villa before the confirmation card."""
        villas = self._villas(turn, state, service)
        if villas:
            return self._ask_villa(turn, state, villas)
        return self._show_card(turn, state, service)

    @staticmethod
    def _villas(turn: Turn, state: dict, service: Service) -> list:
        """The partner villas to choose from, when an in-villa treatment has none yet."""
        villas = turn.catalog.villas_of(turn.business.id) if service.in_villa else []
        typed = turn.text.lower().strip() if not turn.text.startswith("/") else ""
        by_name = next((v.id for v in villas if typed and (typed in v.name.lower()
                                                            or v.name.lower() in typed)), None)
        chosen = turn.entity("villa") or by_name or state["villa"]
        if chosen in {v.id for v in villas}:
            state["villa"] = chosen
            return []
        state["villa"] = None
        return villas

    def _ask_villa(self, turn: Turn, state: dict, villas: list) -> list[EventType]:
        turn.say(turn.t("Which villa shall we come to?"),
                 [present.button(v.name, "inform", villa=v.id) for v in villas[:10]])
        return self._slots(state, awaiting="villa")

    def _service(self, turn: Turn, state: dict) -> Optional[Service]:
        value = state["service"]
        service = turn.catalog.find_service(turn.business.id, value) if value else None
        if not turn.text.startswith("/"):  # typed: a name the NLU never saw counts too
            mentioned, words = turn.catalog.mentioned_service(turn.business.id, turn.text)
            if mentioned and (service is None or words > len(str(value).split())):
                service = mentioned
        state["service"] = service.id if service else None
        if service and state["staff"]:
            member = turn.catalog.staff.get(state["staff"])
            if member is None or service.id not in member.service_ids:
                state["staff"] = None
        return service

    # ---------------------------------------------------------------- asking
    def _ask_service(self, turn: Turn, state: dict) -> list[EventType]:
        services = turn.catalog.services_of(turn.business.id)
        asked = re.sub(r"^(?:the|a|an|some|my)\s+", "", (turn.slot("service") or "").lower())
        if asked:
            categories = turn.catalog.categories
            within = [s for s in services if asked in categories[s.category_id].name.lower()
                      or asked in s.name.lower() or asked in s.name_in(turn.language).lower()]
            services = within or services
        turn.say(turn.t("Which treatment would you like?"),
                 present.service_buttons(services[:10], turn.tx))
        flow_id = flow_form.flow_id(turn.language)
        if flow_id and turn.tracker.get_latest_input_channel() == "whatsapp":
            token = FlowTokens(turn.core.db).issue(turn.customer_id, turn.business.id, turn.now,
                                                   language=turn.language)
            turn.dispatcher.utter_message(json_message={"whatsapp": {
                "type": "flow", "flow_id": flow_id, "flow_token": token,
                "cta": turn.t("Booking form"),
                "text": turn.t("Or pick the treatment, day and time in our booking form:")}})
        return self._slots(state, awaiting="service")

    def _ask_day(self, turn: Turn, state: dict) -> list[EventType]:
        if state["date"] == "other":
            turn.say(turn.t("Which day? You can type it, e.g. \"Fri 25 Oct\", \"25/10\" or "
                            "\"next monday\"."))
        else:
            today = turn.now.astimezone(turn.tz).date()
            turn.say(turn.t("Which day would you like?"),
                     present.day_buttons(today, today + timedelta(days=1), turn.tx))
        return self._slots(state, awaiting="day")

    def _offer_times(self, turn: Turn, state: dict, service: Service,
                     wanted_at: Optional[datetime]) -> list[EventType]:
        if state["date"] == "other":
            return self._ask_day(turn, state)
        day = date.fromisoformat(state["date"])
        name = present.service_name(service, turn.tx)
        slots = turn.core.free_slots(service.id, day, staff_id=state["staff"])
        if wanted_at is not None:
            match = next((s for s in slots if s.start == wanted_at), None)
            if match is not None:
                state["slot_time"] = match.start.isoformat()
                return self._villa_then_card(turn, state, service)
            nearest = turn.core.nearest(service.id, wanted_at, 3, state["staff"])
            turn.say(turn.t("{service} at {when} isn't available. The nearest free times are:",
                            service=name, when=turn.tx.moment(wanted_at, turn.tz)),
                     present.slot_buttons([s.start for s in nearest], turn.tz, 0, turn.tx,
                                          with_day=True))
            return self._slots(state, awaiting="slot")
        slots = in_part_of_day(slots, state["part_of_day"], turn.tz)
        if not slots:
            after = datetime.combine(day, datetime.min.time(), tzinfo=turn.tz)
            nearest = turn.core.next_free(service.id, after, 3, state["staff"])
            wait = present.waitlist_button(service, day, turn.tx)
            if not nearest:
                turn.say(turn.t("Sorry, {service} is fully booked for the coming weeks.",
                                service=name), [wait])
                return self._slots(state, awaiting=None)
            turn.say(turn.t("Sorry, there are no free times for {service} on {day}. The next "
                            "free times are:", service=name, day=turn.tx.day(day)),
                     present.slot_buttons([s.start for s in nearest], turn.tz, 0, turn.tx,
                                          with_day=True) + [wait])
            return self._slots(state, awaiting="slot")
        starts = [s.start for s in slots]
        page = min(state["page"], max(0, (len(starts) - 1) // present.SLOTS_PER_PAGE))
        state["page"] = page
        text = turn.t("Free times for {service} on {day}:", service=name, day=turn.tx.day(day))
        if page:
            text = turn.t("Later times for {service} on {day}:", service=name,
                          day=turn.tx.day(day))
        turn.say(text, present.slot_buttons(starts, turn.tz, page, turn.tx))
        return self._slots(state, awaiting="slot")

    def _show_card(self, turn: Turn, state: dict, service: Service) -> list[EventType]:
        start = datetime.fromisoformat(state["slot_time"])
        turn.core.order_log.record(state["order_id"], turn.business.id, orders.SLOT_SELECTED,
                                   turn.now, start=start, service_id=service.id)
        staff = turn.catalog.staff.get(state["staff"] or "")  # a move: only if one was named
        name, tx = present.service_name(service, turn.tx), turn.tx
        lines = [tx("{service} with {staff}", service=name, staff=staff.name) if staff else name,
                 tx("{when} ({minutes} min)", when=tx.moment(start, turn.tz),
                    minutes=service.duration_minutes),
                 tx.money(service.price)]
        if state["villa"]:
            lines.append(tx("at {villa}", villa=turn.catalog.villa(state["villa"]).name))
        if state["flow"] != "reschedule":  # (a move keeps the terms it was booked under)
            deal = turn.core.terms(service, turn.customer_id)
            lines += deposits.describe(deal, deal.free_until(start), turn.tz, tx, turn.now)
        people = turn.slot("people")
        if people and str(people) not in {"1", "one"}:
            lines.append(tx("For {people} people: we book one treatment; our team will arrange "
                            "the rest with you.", people=people))
        heading = tx("Please confirm your booking:")
        if state["flow"] == "reschedule":
            heading = tx("Move booking {code} to:", code=turn.slot("booking_code"))
        turn.say(heading + "\n" + "\n".join(lines), [
            present.button(tx("Confirm"), "confirm_booking", service=service.id,
                           slot_time=start.isoformat(), villa=state["villa"]),
            present.button(tx("Change time"), "change_time")])
        return self._slots(state, awaiting="confirm_booking",
                           slot_chosen_at=turn.now.timestamp())

    @staticmethod
    def _slots(state: dict, awaiting: Optional[str], **extra: object) -> list[EventType]:
        events = [SlotSet("service", state["service"]), SlotSet("staff", state["staff"]),
                  SlotSet("date", state["date"]), SlotSet("part_of_day", state["part_of_day"]),
                  SlotSet("slot_time", state["slot_time"]),
                  SlotSet("slots_page", float(state["page"])), SlotSet("flow", state["flow"]),
                  SlotSet("order_id", state["order_id"]), SlotSet("villa", state["villa"]),
                  SlotSet("awaiting", awaiting)]
        return events + [SlotSet(k, v) for k, v in extra.items()]


def offer_alternatives(turn: Turn, text: str, alternatives: list[datetime]) -> list[EventType]:
    """Tell the customer why (``text``, whole sentences), and offer up to three other times."""
    if not alternatives:
        turn.say(text + " " + turn.t("I couldn't find another free time soon; type \"talk to a "
                                     "human\" and our team will help."))
        return [SlotSet("slot_time", None), SlotSet("awaiting", None)]
    turn.say(text + " " + turn.t("Here are the next free times:"),
             present.slot_buttons(alternatives[:3], turn.tz, 0, turn.tx, with_day=True))
    return [SlotSet("slot_time", None), SlotSet("slot_chosen_at", None),
            SlotSet("awaiting", "slot")]


class ActionConfirmBooking(BookingAction):
    """Books the chosen time (or moves the booking), unless the choice is stale or taken."""

    def name(self) -> Text:
        return "action_confirm_booking"

    def act(self, turn: Turn) -> List[EventType]:
        start = moment(turn.entity("slot_time") or turn.slot("slot_time"))
        service = turn.catalog.find_service(turn.business.id,
                                            turn.entity("service") or turn.slot("service") or "")
        if start is None or service is None:
            turn.say(turn.t("Let's choose a treatment and a time first."),
                     present.menu_buttons(turn.tx))
            return [SlotSet("awaiting", None)]
        order_id = turn.slot("order_id")
        chosen_at = turn.slot("slot_chosen_at")
        limit = session_expiration_minutes()
        if chosen_at is None or turn.now.timestamp() - float(chosen_at) > limit * 60:
            metrics.SESSION_EXPIRATIONS.inc()
            turn.core.order_log.record(order_id, turn.business.id, orders.SESSION_EXPIRED,
                                       turn.now, start=start)
            alternatives = [s.start for s in turn.core.next_free(service.id, turn.now, 3)]
            return offer_alternatives(
                turn, turn.t("That confirmation is more than {minutes} minutes old, so I "
                             "haven't booked it.", minutes=limit),
                alternatives) + [SlotSet("service", service.id)]
        try:
            if turn.slot("flow") == "reschedule":
                code = (turn.slot("booking_code") or "").upper()
                try:  # only this customer's booking with the business they wrote to
                    booking = turn.core.reschedule(code, start, staff_id=turn.slot("staff"),
                                                   customer_id=turn.customer_id,
                                                   business_id=turn.business.id)
                except (UnknownEntityError, InvalidTransitionError) as exc:
                    return cannot_move(turn, code, exc)
                heading = turn.t("Done, your booking is moved ✅")
            else:
                booking = turn.core.create(BookingRequest(
                    service_id=service.id, start=start, customer_id=turn.customer_id,
                    customer_name=turn.customer_name, staff_id=turn.slot("staff"),
                    notes=f"people: {turn.slot('people')}" if turn.slot("people") else "",
                    villa_id=(turn.entity("villa") or turn.slot("villa")) if service.in_villa
                    else None,
                    order_id=order_id, idempotency_key=f"{order_id}:{start.isoformat()}"))
                heading = turn.t("Booked ✅")
        except SlotConflictError as exc:
            return offer_alternatives(turn, turn.t("Sorry, {when} was just taken.",
                                                   when=turn.tx.moment(start, turn.tz)),
                                      exc.alternatives)
        except PlanLimitReachedError:
            plan_limit_reached(turn)
            return reset_booking()
        except CustomerLimitError as exc:
            turn.say(limit_reached(turn, exc),
                     [present.button(turn.t("My bookings"), "my_bookings")])
            return reset_booking()
        except ValidationError as exc:
            alternatives = [s.start for s in turn.core.next_free(service.id, turn.now, 3)]
            return offer_alternatives(turn, cannot_book(turn, exc), alternatives)
        tell_booked(turn, booking, heading)
        return reset_booking()


_NOT_MOVABLE = {
    CANCELLED: N_("Booking {code} is cancelled, so it can't be moved. Would you like to book a "
                  "new time?"),
    EXPIRED: N_("Booking {code} is no longer held for you, so it can't be moved. Would you like "
                "to book a new time?"),
    COMPLETED: N_("Booking {code} is already over, so it can't be moved. Would you like to book "
                  "a new time?")}
_NOT_MOVABLE[NO_SHOW] = _NOT_MOVABLE[COMPLETED]
_CANNOT_MOVE = N_("Booking {code} can no longer be changed, so it can't be moved. Would you like "
                  "to book a new time?")


def cannot_move(turn: Turn, code: str, exc: Exception) -> List[EventType]:
    """The booking being moved is not (or no longer) one that can move: say why, show the
    menu and forget the move."""
    if isinstance(exc, UnknownEntityError):
        text = turn.t("I couldn't find an upcoming booking {code} for you.", code=code)
    else:
        message = _NOT_MOVABLE.get(getattr(exc, "current", None) or "", _CANNOT_MOVE)
        text = turn.t(message, code=code)
    turn.say(text, present.menu_buttons(turn.tx))
    return reset_booking()


def decline_booking(turn: Turn) -> List[EventType]:
    """"No" at the confirmation card: nothing is booked; offer other times."""
    turn.say(turn.t("No problem, nothing is booked."), [
        present.button(turn.t("Pick another time"), "change_time"),
        present.button(turn.t("Another treatment"), "book_service")])
    return [SlotSet("slot_time", None), SlotSet("slot_chosen_at", None),
            SlotSet("awaiting", "slot")]
