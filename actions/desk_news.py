"""The business's changes to a booking, told in the customer's conversation (triggered by the
server as the external intent ``EXTERNAL_booking_update`` from ``booking_notices``, which the
console writes: see ``channels/notices.py``)."""
from __future__ import annotations

from typing import Any, List, Optional, Text, Union

from rasa_sdk.events import EventType, SlotSet

from actions import present
from actions.base import BookingAction, Turn, show_menu
from booking.errors import UnknownEntityError
from booking.models import Booking
from booking.notices import (BOOKED_BY_DESK, CANCELLED_BY_BUSINESS, MOVED, SENDING,
                             BookingNotices, NoticeQueue)


def server_news(turn: Turn, queue: NoticeQueue
                ) -> Union[List[EventType], tuple[dict[str, Any], Booking]]:
    """The notice the server triggered this turn with (entities ``notice`` and
    ``booking_code``) and its booking, when it is real news for this very conversation;
    otherwise the events to end the turn with (the menu for a typed imitation, else nothing).
    The payload is text anyone can type: the notice must exist, name this booking, be the one
    the server is sending now (claimed), be meant for this conversation, and the booking must
    be this customer's at this business."""
    code = turn.entity("booking_code") or ""
    notice_id = turn.entity("notice") or ""
    notice: Optional[dict[str, Any]] = queue.get(notice_id) if notice_id else None
    if notice is None or notice.get("code") != code or notice.get("state") != SENDING:
        return show_menu(turn)  # not news the server is sending now: someone typed the intent
    if (notice.get("conversation") or {}).get("sender_id") != turn.tracker.sender_id:
        return []  # news goes only to the booking's own conversation
    try:
        booking = turn.core.get(code)
    except UnknownEntityError:
        return []
    if booking.customer_id != turn.customer_id or booking.business_id != turn.business.id:
        return []
    return notice, booking


class ActionBookingUpdate(BookingAction):
    """Tells the customer that the business moved, cancelled or made their booking."""

    reads_open_question = False  # not an answer to the open question

    def name(self) -> Text:
        return "action_booking_update"

    def act(self, turn: Turn) -> List[EventType]:
        queue = BookingNotices(turn.core.db, turn.core.clock)
        found = server_news(turn, queue)
        if isinstance(found, list):
            return found
        notice, booking = found
        code = booking.code
        if not queue.mark_told(notice["_id"]) or queue.superseded(notice):
            return []  # told already (a retry), or a later change has its own news
        service = present.service_name(turn.catalog.service(booking.service_id), turn.tx)
        service_id = booking.service_id
        staff = turn.catalog.staff_member(booking.staff_id).name
        when = turn.tx.moment(booking.start, turn.tz)
        business = turn.business.name
        kind, details = notice.get("kind"), notice.get("details") or {}
        if kind == MOVED:
            turn.say(turn.t("{business} has moved your booking {code}: {service} is now on "
                            "{when} with {staff}. Reply here if that time does not suit you.",
                            business=business, code=code, service=service, when=when,
                            staff=staff), present.menu_buttons(turn.tx))
        elif kind == CANCELLED_BY_BUSINESS:
            refund = int(details.get("refund") or 0)
            was = turn.tx.moment(details["start"], turn.tz) if details.get("start") else when
            text = turn.t("Sorry: {business} has cancelled your booking {code} ({service}, "
                          "{when}).", business=business, code=code, service=service, when=was)
            if refund:
                text += " " + turn.t("The full {amount} you paid will be refunded.",
                                     amount=turn.tx.money(refund))
            turn.say(text, [present.button(turn.t("Book again"), "book_service",
                                           service=service_id),
                            present.button(turn.t("Talk to a person"), "human_handoff")])
        elif kind == BOOKED_BY_DESK:
            turn.say(turn.t("You're booked at {business} ✅ {service} on {when} with {staff}. "
                            "Your booking code is {code}.", business=business, service=service,
                            when=when, staff=staff, code=code), present.menu_buttons(turn.tx))
        return [SlotSet("booking_code", None)]
