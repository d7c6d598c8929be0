"""A typed message while the bot waits for an answer is first read as that answer, whatever
intent the NLU gave it: "5pm" or "the first one" at the time list, "the second one" at the
treatment list, "no, make it 1pm" or "actually friday" at the confirmation card, "never mind"
anywhere in a booking. Only what it cannot read as an answer goes to the intent's own action.

The question is the ``awaiting`` slot; the choices are the buttons of the bot's last message (what
the customer actually saw); the reading is ``booking.replies`` and ``booking.timeparse``.
"""
from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, List, Optional

from rasa_sdk.events import EventType, SlotSet

from actions import present
from actions.base import Turn, day_of, moment, reset_booking
from booking import replies
from booking.i18n import language_or_default
from booking.timeparse import parse_when

BOOKING_QUESTIONS = {"service", "day", "slot", "villa", "confirm_booking"}
WHICH_BOOKING = {"which_cancel": "cancel_booking", "which_reschedule": "reschedule_booking"}
ANYONE = ("anyone", "anybody", "any therapist", "whoever", "no preference", "siapa saja")


def offered(turn: Turn, intent: str, entity: str, last_only: bool = False) -> list[str]:
    """The values of ``entity`` in the buttons of the bot's last message with buttons
    (``/intent{...}``); with ``last_only``, of the bot's very last message."""
    for event in reversed(turn.tracker.events):
        if event.get("event") != "bot":
            continue
        buttons = (event.get("data") or {}).get("buttons") or []
        values = []
        for button in buttons:
            payload = str(button.get("payload") or "")
            if payload.startswith(f"/{intent}{{"):
                try:
                    value = json.loads(payload[len(intent) + 1:]).get(entity)
                except (ValueError, AttributeError):
                    continue
                if isinstance(value, str):
                    values.append(value)
        if buttons or last_only:
            return values
    return []


def staff_named(turn: Turn) -> Optional[str]:
    """A staff member of the business the message names ("with Made"); "" for "anyone";
    None when it names nobody."""
    words = f" {' '.join(turn.text.lower().split())} "
    if any(f" {phrase} " in words or words.strip() == phrase for phrase in ANYONE):
        return ""
    for member in turn.catalog.staff.values():
        if member.business_id == turn.business.id and f" {member.name.lower()} " in words:
            return member.id
    entity = turn.entity("staff")
    member = turn.catalog.staff.get(entity or "")
    return member.id if member and member.business_id == turn.business.id else None


def in_question(turn: Turn) -> bool:
    """Whether the bot waits for an answer to a booking question ("which time?")."""
    return (turn.slot("awaiting") or "") in BOOKING_QUESTIONS | set(WHICH_BOOKING)


def before(turn: Turn, name: str) -> Any:
    """A slot as it was before this message (Rasa fills slots from the NLU's entities first:
    a typed time like "17.00" is no number of people, whatever the NLU extracted)."""
    latest_user = False
    for event in reversed(turn.tracker.events):
        if event.get("event") == "user":
            latest_user = True
        elif latest_user and event.get("event") == "slot" and event.get("name") == name:
            return event.get("value")
    return None


def answer_first(turn: Turn) -> Optional[List[EventType]]:
    """The answer to the open question, when the message reads as one; else None."""
    awaiting, text = turn.slot("awaiting") or "", turn.text
    if not text or text.startswith("/"):
        return None
    if awaiting in WHICH_BOOKING:
        return _which_booking(turn, awaiting)
    if awaiting not in BOOKING_QUESTIONS:
        return None
    if replies.never_mind(text):
        if turn.slot("flow") == "reschedule":
            turn.say(turn.t("OK, booking {code} stays as it is.", code=turn.slot("booking_code")),
                     present.menu_buttons(turn.tx))
        else:
            turn.say(turn.t("OK, I've dropped that booking: nothing is booked."),
                     present.menu_buttons(turn.tx))
        return reset_booking()
    from actions.booking_flow import ActionBookStep  # (it imports this module's users)

    fix: dict[str, Any] = {"people": before(turn, "people")}
    count = replies.people(text)
    if count is not None:
        fix["people"] = str(count)
    member = staff_named(turn)
    if member is not None:
        fix["staff"] = member or None
    wanted: Optional[datetime] = None
    if awaiting == "slot":
        reading = _time_answer(turn)
        if reading is None and member is None:
            return None
        if reading is not None and reading.start is not None:
            fix["slot_time"] = reading.start.isoformat()
            fix["date"] = reading.start.astimezone(turn.tz).date().isoformat()
        elif reading is not None:
            wanted = _on_day(turn, reading.at)
    elif awaiting == "service":
        choices = offered(turn, "book_service", "service")
        index = replies.position(text, len(choices))
        mentioned, _ = turn.catalog.mentioned_service(turn.business.id, text)
        if index is None and mentioned is None:
            return _services_like(turn)
        fix["service"] = choices[index] if index is not None else mentioned.id
    elif awaiting == "day":
        when = parse_when(text, turn.tz, turn.now)
        if when is None:
            return None
        fix.update(date=when.day.isoformat(), part_of_day=when.part_of_day)
        wanted = when.start(turn.tz)
    elif awaiting == "confirm_booking":
        correction = _correction(turn, fix)
        if correction is None:
            return None
        wanted = correction
    else:
        return None
    return ActionBookStep().step(turn, fix, wanted)


def details_first(turn: Turn) -> Optional[List[EventType]]:
    """ "What's included?" / "tell me more about the hot stone": the treatment's description
    (the one named, else the one being booked); in a booking, the open question comes again with
    nothing changed. None when the message asks no such thing."""
    text = turn.text
    kind = replies.asks_details(text) if text and not text.startswith("/") else ""
    mentioned, _ = turn.catalog.mentioned_service(turn.business.id, text) if kind else (None, 0)
    if not kind or (kind == "named" and mentioned is None):
        return None
    in_flow = in_question(turn)
    services = turn.catalog.services_of(turn.business.id)
    service = mentioned or turn.catalog.find_service(
        turn.business.id, before(turn, "service") or turn.slot("service") or "")
    if service is None:
        ask = turn.t("Which treatment would you like to know about?")
        if services:
            ask += " " + turn.t("Ask me, for example, \"what's included in the {service}?\"",
                                service=present.service_name(services[0], turn.tx))
        turn.say(ask, None if in_flow else present.service_buttons(services[:10], turn.tx))
    else:
        description = service.description_in(turn.language).rstrip(".")
        line = present.service_line(service, turn.tx)
        turn.say(f"{line}. {description}." if description else f"{line}.", None if in_flow else
                 [present.button(turn.t("Book it"), "book_service", service=service.id)])
    if in_flow:
        return ask_again(turn)
    return []


def _time_answer(turn: Turn) -> Optional[replies.TimeReading]:
    shown = [m for m in (moment(v) for v in offered(turn, "choose_slot", "slot_time")) if m]
    return replies.pick_time(turn.text, shown, turn.tz)


def _on_day(turn: Turn, at: Any) -> Optional[datetime]:
    """``at`` on the day being booked (today when none is chosen yet)."""
    day = day_of(turn.slot("date")) or turn.now.astimezone(turn.tz).date()
    return datetime.combine(day, at, tzinfo=turn.tz) if at is not None else None


def _correction(turn: Turn, fix: dict[str, Any]) -> Optional[datetime]:
    """A change of mind at the confirmation card: the time it now wants (what still holds is
    kept: the time on a new day, the same time with another person or treatment); None when
    the message changes nothing (a plain "no" stays a no)."""
    text = turn.text
    chosen = moment(turn.slot("slot_time"))
    at = replies.clock(text)
    day_when = parse_when(replies.without_clock(text), turn.tz, turn.now)
    mentioned, _ = turn.catalog.mentioned_service(turn.business.id, text)
    was = before(turn, "service") or turn.slot("service")
    other_service = mentioned is not None and mentioned.id != was
    changed = (at is not None or day_when is not None or other_service
               or "staff" in fix or replies.people(text) is not None)
    if not changed or not (replies.corrects(text) or turn.intent not in ("affirm", "deny")):
        return None
    day = day_when.day if day_when else (chosen.astimezone(turn.tz).date() if chosen
                                         else turn.now.astimezone(turn.tz).date())
    local_at = at or (chosen.astimezone(turn.tz).time() if chosen else None)
    fix["service"] = mentioned.id if other_service else was
    fix.update(date=day.isoformat(), slot_time=None)
    return datetime.combine(day, local_at, tzinfo=turn.tz) if local_at else None


def _which_booking(turn: Turn, awaiting: str) -> Optional[List[EventType]]:
    """"Which booking?" answered by place ("the second one"), or by what and when ("the
    massage on friday"), among the customer's upcoming bookings; "never mind" keeps them."""
    from actions.manage import ActionCancelStep, ActionRescheduleStep

    if replies.never_mind(turn.text):
        turn.say(turn.t("OK, nothing changed."), present.menu_buttons(turn.tx))
        return [*reset_booking()]
    codes = offered(turn, WHICH_BOOKING[awaiting], "booking_code")
    index = replies.position(turn.text, len(codes))
    code = codes[index] if index is not None else _described(turn)
    if code is None:
        return None
    turn.overrides["booking_code"] = code
    turn.answered = index is None  # a description ("the massage on friday") is read: no new day
    step = ActionCancelStep() if awaiting == "which_cancel" else ActionRescheduleStep()
    return [SlotSet("booking_code", code), *step.act(turn)]


def _described(turn: Turn) -> Optional[str]:
    """The one upcoming booking a description fits ("the massage on friday", "the 3pm one")."""
    upcoming = turn.core.upcoming(turn.customer_id, turn.business.id)
    mentioned, _ = turn.catalog.mentioned_service(turn.business.id, turn.text)
    when = parse_when(replies.without_clock(turn.text), turn.tz, turn.now)
    at = replies.clock(turn.text)
    fits = [b for b in upcoming
            if (mentioned is None or b.service_id == mentioned.id)
            and (when is None or b.start.astimezone(turn.tz).date() == when.day)
            and (at is None or b.start.astimezone(turn.tz).time() == at)]
    if mentioned is None and when is None and at is None:
        return None
    return fits[0].code if len(fits) == 1 else None


def ask_again(turn: Turn) -> List[EventType]:
    """After a digression (a price, the list of treatments) in the middle of a booking: the
    question that was open, again, with its choices; asked anew when this message changed the
    customer's language (the one shown before is in the other language)."""
    if not in_question(turn):
        return []
    before = language_or_default(turn.tracker.get_slot("language") or turn.business.language)
    if turn.language != before and turn.slot("awaiting") in BOOKING_QUESTIONS:
        from actions.booking_flow import ActionBookStep  # (it uses this module)

        return ActionBookStep().step(turn, fix={})
    for event in reversed(turn.tracker.events):
        if event.get("event") == "bot" and (event.get("data") or {}).get("buttons"):
            turn.say(turn.t("Back to your booking: {question}",
                            question=event.get("text") or "").strip(), event["data"]["buttons"])
            return []
    return []


_COMMON = {"the", "one", "that", "with", "please", "want", "would", "like", "book", "treatment",
           "some", "have", "can", "get"}


def _services_like(turn: Turn) -> Optional[List[EventType]]:
    """A word of the message in some treatments' names ("the scrub"): those to choose from
    (or the one); None when no name has it."""
    words = [w for w in re.findall(r"[a-z]+", turn.text.lower()) if len(w) >= 4
             and w not in _COMMON]
    matches = [s for s in turn.catalog.services_of(turn.business.id)
               if any(w in s.name.lower() or any(w in a.lower() for a in s.aliases)
                      for w in words)]
    if not matches:
        return None
    if len(matches) == 1:
        from actions.booking_flow import ActionBookStep

        return ActionBookStep().step(turn, {"service": matches[0].id}, None)
    turn.say(turn.t("Which one would you like?"), present.service_buttons(matches[:10], turn.tx))
    return [SlotSet("awaiting", "service")]
